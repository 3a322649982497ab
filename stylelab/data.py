"""The sample images: the photograph and paintings of Gatys et al.'s figures.

Each image is described by a :class:`Sample` in :data:`SAMPLES` (where it comes
from, its sha256, who made it, its licence, the figure it appears in).
:func:`path` finds a checked copy: in the folder named by ``STYLELAB_DATA_DIR``
(offline machines, CI) or else downloaded once into the stylelab cache with
pooch. Every file is checked against its sha256 before it is used.

>>> from stylelab import data
>>> data.names()                         # doctest: +SKIP
['tubingen', 'shipwreck', 'starry_night', ...]
>>> content = data.load("tubingen", size=512)   # doctest: +SKIP
"""

from __future__ import annotations

import difflib
import hashlib
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from . import config
from . import image as _image
from .errors import DataError


@dataclass(frozen=True)
class Sample:
    """One sample image and the facts needed to fetch, check and credit it."""

    name: str
    """Short name used throughout stylelab, e.g. ``"starry_night"``."""
    filename: str
    """File name as published (and as expected in ``STYLELAB_DATA_DIR``)."""
    url: str
    """Where to download it (pinned to a commit, so the bytes never change)."""
    sha256: str
    """Hex sha256 of the file's bytes."""
    title: str
    artist: str
    year: str | None
    """Year as usually given ("1889", "c. 1810"); None if unknown."""
    licence: str
    credit: str
    """One-line credit for captions, README and notebooks."""
    size: tuple[int, int]
    """(width, height) in pixels of the published file."""
    figure: str | None
    """Where it appears in Gatys et al. (2015 arXiv paper / CVPR 2016 paper)."""
    note: str = ""
    """Anything a reader should know (e.g. that it stands in for another work)."""

    @property
    def stem(self) -> str:
        """The file name without its suffix (accepted as an alias by :func:`info`)."""
        return Path(self.filename).stem


_NEURAL_STYLE = ("https://raw.githubusercontent.com/jcjohnson/neural-style/"
                 "07c4b8299f8fbdafec0c514fc820ff1d7ff62e46/examples/inputs/")
_DEPTH_STYLE = ("https://raw.githubusercontent.com/xiumingzhang/depth-preserving-neural-style-transfer/"
                "0692bf0fd089c0cf4f13eb2e75df20b168037f61/images/styles/")
_CC_BY_3 = "https://creativecommons.org/licenses/by/3.0/"
_PICASSO_NOTE = "Picasso's Femme nue assise (1910), used in the paper, is still under copyright"

#: The registry of sample images, by name, in the order of Gatys et al.'s Fig. 2.
SAMPLES: dict[str, Sample] = {
    s.name: s
    for s in [
        Sample(
            name="tubingen",
            filename="tubingen.jpg",
            url=_NEURAL_STYLE + "tubingen.jpg",
            sha256="e67d1869f01fd805385c681a80d9ebcf0f70ea4a5fe6127f0606bb1c7f4bf506",
            title="Neckarfront in Tübingen",
            artist="Andreas Praefcke",
            year=None,
            licence="CC BY 3.0",
            credit=f"Neckarfront in Tübingen, photograph by Andreas Praefcke, CC BY 3.0 ({_CC_BY_3})",
            size=(1024, 768),
            figure="content image of 2015 Fig. 2 A / CVPR 2016 Fig. 3 A",
        ),
        Sample(
            name="shipwreck",
            filename="shipwreck.jpg",
            url=_NEURAL_STYLE + "shipwreck.jpg",
            sha256="4f7cf34e3cd4a5daaf3f421f059ca9a01aaa2a3afd7243d6670c9c8bc001a213",
            title="The Shipwreck of the Minotaur",
            artist="J. M. W. Turner",
            year="c. 1810",
            licence="public domain",
            credit="J. M. W. Turner, The Shipwreck of the Minotaur, c. 1810, public domain",
            size=(960, 662),
            figure="style of 2015 Fig. 2 B / CVPR 2016 Fig. 3 B",
        ),
        Sample(
            name="starry_night",
            filename="starry_night.jpg",
            url=_NEURAL_STYLE + "starry_night.jpg",
            sha256="0592ab0f7b51b3ce72608a95e53880bd93971e5b48f93a0ce8dfd3cbccf3d098",
            title="The Starry Night",
            artist="Vincent van Gogh",
            year="1889",
            licence="public domain",
            credit="Vincent van Gogh, The Starry Night, 1889, public domain",
            size=(1024, 640),
            figure="style of 2015 Fig. 2 C / CVPR 2016 Fig. 3 C",
        ),
        Sample(
            name="the_scream",
            filename="the_scream.jpg",
            url=_NEURAL_STYLE + "the_scream.jpg",
            sha256="f3075cddeb974a9ee1d6418f7f33fd05185a7ac7dcb4288bd2805d499a9dcaee",
            title="The Scream",
            artist="Edvard Munch",
            year="1893",
            licence="public domain",
            credit="Edvard Munch, The Scream, 1893, public domain",
            size=(1200, 1528),
            figure="style of 2015 Fig. 2 D / CVPR 2016 Fig. 3 D",
        ),
        Sample(
            name="woman_with_hat",
            filename="woman-with-hat-matisse.jpg",
            url=_NEURAL_STYLE + "woman-with-hat-matisse.jpg",
            sha256="6a8b2383d9c110354a97a42c74bdcc5341be879cbb842ddb7ab5843dbdf56d53",
            title="Woman with a Hat",
            artist="Henri Matisse",
            year="1905",
            licence="public domain (US; and where the term is life + 70 years)",
            credit="Henri Matisse, Woman with a Hat, 1905, public domain (US; and where the "
                   "term is life + 70 years)",
            size=(591, 800),
            figure="style of 2015 Fig. 2 E / CVPR 2016 Fig. 3 E (substitute for Picasso)",
            note=_PICASSO_NOTE,
        ),
        Sample(
            name="composition_vii",
            filename="composition_vii.jpg",
            url=_DEPTH_STYLE + "composition_vii.jpg",
            sha256="8f992ed4aecd6dd56972d7bc8166761de7c94e670ee6effa8fd05f3daeb33409",
            title="Composition VII",
            artist="Wassily Kandinsky",
            year="1913",
            licence="public domain",
            credit="Wassily Kandinsky, Composition VII, 1913, public domain",
            size=(1071, 712),
            figure="style of 2015 Fig. 2 F / CVPR 2016 Fig. 3 F",
        ),
        Sample(
            name="great_wave",
            filename="wave.jpg",
            url=_DEPTH_STYLE + "wave.jpg",
            sha256="14bcf58a39b7095168f27756d76d0c615bb8954acc5eae9e62c66a9684c2ee2b",
            title="The Great Wave off Kanagawa",
            artist="Katsushika Hokusai",
            year="c. 1831",
            licence="public domain",
            credit="Katsushika Hokusai, The Great Wave off Kanagawa, c. 1831, public domain",
            size=(928, 514),
            figure=None,
            note="an extra style, not one of the Fig. 2 paintings",
        ),
    ]
}


# --------------------------------------------------------------------------- lookup


def _key(text: str) -> str:
    """Normalise a name or file name for lookup: lower case, ``-`` -> ``_``, no ``.jpg``."""
    key = text.strip().lower().replace("-", "_")
    return key[: -len(".jpg")] if key.endswith(".jpg") else key


def names() -> list[str]:
    """The sample names, in the order of Gatys et al.'s Fig. 2."""
    return list(SAMPLES)


def info(name: str) -> Sample:
    """The :class:`Sample` called ``name``.

    Also accepts the file name or its stem (``"wave"``,
    ``"woman-with-hat-matisse"``), in any case, with ``-`` or ``_``.
    Raises :class:`DataError` listing the valid names otherwise.
    """
    if not isinstance(name, str):
        raise DataError(f"a sample name must be a string, got {name!r}; choose one of: "
                        + ", ".join(SAMPLES))
    aliases = {}
    for sample in SAMPLES.values():
        aliases[_key(sample.stem)] = sample
        aliases[_key(sample.name)] = sample
    sample = aliases.get(_key(name))
    if sample is None:
        close = difflib.get_close_matches(_key(name), list(aliases), n=1)
        hint = f" (did you mean {aliases[close[0]].name!r}?)" if close else ""
        raise DataError(f"unknown sample image {name!r}{hint}; choose one of: " + ", ".join(SAMPLES))
    return sample


def _select(names_: str | Iterable[str] | None) -> list[Sample]:
    """Samples for a name, a list of names, or all of them (None); unknown -> DataError."""
    if names_ is None:
        return list(SAMPLES.values())
    if isinstance(names_, str):
        names_ = [names_]
    return [info(n) for n in names_]


# --------------------------------------------------------------------------- hashing

# sha256 of files already hashed in this process, by (path, mtime_ns, size).
_hash_cache: dict[tuple[str, int, int], str] = {}


def _sha256(file: Path) -> str:
    """Hex sha256 of a file, remembered per (path, mtime, size) for this process."""
    stat = file.stat()
    key = (str(file.resolve()), stat.st_mtime_ns, stat.st_size)
    digest = _hash_cache.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(file, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                h.update(chunk)
        digest = _hash_cache[key] = h.hexdigest()
    return digest


def _data_dir() -> Path | None:
    """The ``STYLELAB_DATA_DIR`` folder, or None if the variable is unset or empty."""
    value = os.environ.get(config.ENV_DATA_DIR, "").strip()
    return Path(value).expanduser() if value else None


def _local_copy(sample: Sample) -> Path:
    """Where the sample's file is (or would be) kept locally."""
    folder = _data_dir()
    if folder is not None:
        return folder / sample.filename
    return config.cache_dir("images") / sample.filename


# --------------------------------------------------------------------------- fetching


def _interactive() -> bool:
    """Whether a progress bar would be seen (a terminal or a Jupyter kernel)."""
    try:
        import tqdm  # noqa: F401  (pooch needs it for progressbar=True)
    except ImportError:
        return False
    return hasattr(sys, "ps1") or "ipykernel" in sys.modules or sys.stderr.isatty()


def _from_data_dir(sample: Sample, folder: Path) -> Path:
    """The sample's file in ``STYLELAB_DATA_DIR``, checked; DataError if missing or wrong."""
    where = f"{config.ENV_DATA_DIR}={folder}"
    if not folder.is_dir():
        raise DataError(f"{where} is not a folder; point it at the folder holding the sample "
                        f"images, or unset it to download them")
    file = folder / sample.filename
    if not file.is_file():
        raise DataError(f"{where} has no {sample.filename}; download it from {sample.url} "
                        f"into that folder, or unset {config.ENV_DATA_DIR} to download it")
    try:
        actual = _sha256(file)
    except OSError as exc:
        raise DataError(f"cannot read {file}: {exc.strerror or exc}") from exc
    if actual != sample.sha256:
        raise DataError(f"{file} does not match its sha256 (expected {sample.sha256}, got "
                        f"{actual}); it is damaged or a different image: download it again "
                        f"from {sample.url}")
    return file


def _download(sample: Sample) -> Path:
    """Download the sample into the cache with pooch (once), checked against its sha256."""
    import pooch

    cached = config.cache_dir("images") / sample.filename
    if cached.is_file() and _sha256(cached) == sample.sha256:
        return cached
    try:
        found = pooch.retrieve(
            sample.url,
            known_hash=f"sha256:{sample.sha256}",
            fname=sample.filename,
            path=config.cache_dir("images"),
            progressbar=_interactive(),
        )
    except ValueError as exc:  # pooch: the download does not match the known hash
        raise DataError(f"the download of {sample.name} from {sample.url} does not match its "
                        f"sha256 ({exc}); try again later, or put a good copy of "
                        f"{sample.filename} in a folder named by {config.ENV_DATA_DIR}") from exc
    except OSError as exc:  # network errors (requests' exceptions are OSErrors), disk full, ...
        raise DataError(f"could not download {sample.filename} from {sample.url} ({exc}); "
                        f"if this machine is offline, copy the sample images into a folder and "
                        f"set {config.ENV_DATA_DIR} to it") from exc
    found = Path(found)
    _sha256(found)  # remember it as verified (pooch has just checked it)
    return found


def path(name: str) -> Path:
    """The path of a checked local copy of the sample image ``name``.

    With ``STYLELAB_DATA_DIR`` set, the file must be in that folder under its
    published name and match its sha256 (else :class:`DataError`); nothing is
    downloaded. Otherwise it is downloaded once into ``cache_dir("images")``.
    """
    sample = info(name)
    folder = _data_dir()
    if folder is not None:
        return _from_data_dir(sample, folder)
    return _download(sample)


def load(name: str, size: int | None = None) -> torch.Tensor:
    """The sample image ``name`` as a ``(1, 3, H, W)`` tensor (see :func:`stylelab.image.load_image`)."""
    return _image.load_image(path(name), size=size)


def fetch(names: str | Iterable[str] | None = None) -> dict[str, Path]:
    """Make sure the samples (all by default) are available; ``{name: path}``."""
    return {sample.name: path(sample.name) for sample in _select(names)}


def verify(names: str | Iterable[str] | None = None) -> dict[str, bool]:
    """Check the local copies (all by default) without downloading anything.

    ``{name: True}`` when the file in ``STYLELAB_DATA_DIR`` (or, if that is unset,
    in the download cache) exists and matches its sha256, ``False`` otherwise.
    """
    result = {}
    for sample in _select(names):
        file = _local_copy(sample)
        try:
            result[sample.name] = file.is_file() and _sha256(file) == sample.sha256
        except OSError:  # unreadable: not a usable copy
            result[sample.name] = False
    return result


# --------------------------------------------------------------------------- credits


def credits() -> str:
    """A markdown table crediting every sample image (for README and notebooks)."""
    lines = [
        "| Sample | Title | Artist | Year | Licence | In Gatys et al. | Source |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in SAMPLES.values():
        licence = f"[{s.licence}]({_CC_BY_3})" if s.licence == "CC BY 3.0" else s.licence
        where = "; ".join(part for part in (s.figure, s.note) if part) or "—"
        lines.append(f"| `{s.name}` | {s.title} | {s.artist} | {s.year or '—'} | {licence} | "
                     f"{where} | [{s.filename}]({s.url}) |")
    return "\n".join(lines) + "\n"
