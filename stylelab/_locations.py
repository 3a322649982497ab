"""Where the files that ship beside the code are: the lesson notebooks and the
sample-image registry.

Their source of truth is the repository's top-level ``notebooks/`` and ``data/``
folders. A source checkout (``pip install -e .``) reads them there. A built wheel
or sdist install has no checkout, so the build (``setup.py``) copies them into the
package as ``stylelab/_bundled/notebooks/`` and ``stylelab/_bundled/data/``, and
:func:`shipped` finds them there instead.
"""

from __future__ import annotations

from pathlib import Path


#: The folder of the ``stylelab`` package.
PACKAGE = Path(__file__).resolve().parent
#: Where a built package keeps its copies of ``notebooks/`` and ``data/`` (see ``setup.py``).
BUNDLED = PACKAGE / "_bundled"


def checkout_root() -> Path | None:
    """The repository's root if stylelab runs from a source checkout, else None.

    A checkout is recognised by ``pyproject.toml`` and ``data/samples.json`` beside
    the package folder (a wheel installs neither into ``site-packages``).
    """
    root = PACKAGE.parent
    if (root / "pyproject.toml").is_file() and (root / "data" / "samples.json").is_file():
        return root
    return None


def shipped(relative: str) -> Path | None:
    """The checkout's ``relative`` (e.g. ``"notebooks"``, ``"data/samples.json"``) in a
    source checkout, else the package's bundled copy; None if neither exists."""
    root = checkout_root()
    if root is not None and (root / relative).exists():
        return root / relative
    bundled = BUNDLED / relative
    return bundled if bundled.exists() else None
