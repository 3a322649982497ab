"""A folder that hands on the names of one of its modules, imported on first use (PEP 562):
``stylelab.video.stylise`` is :func:`stylelab.video.temporal.stylise`, and
``from stylelab.explorer import Explorer`` imports :mod:`stylelab.explorer.app` only then."""

from __future__ import annotations

import importlib
from typing import Callable


def forward(package: str, module: str, submodules: tuple[str, ...]) -> Callable[[str], object]:
    """The module ``__getattr__`` of ``package``: any other name is looked up in
    ``package.module``. The folder's own ``submodules`` are refused, so that ``from . import
    flow`` imports the module instead of importing ``module`` to look for a name."""

    def __getattr__(name: str):
        if name.startswith("__") or name in submodules:
            raise AttributeError(name)
        target = importlib.import_module(f"{package}.{module}")
        try:
            return getattr(target, name)
        except AttributeError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None

    return __getattr__
