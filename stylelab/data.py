"""The sample images: the photograph and paintings of Gatys et al.'s figures.

Each image is described by a :class:`Sample` in :data:`SAMPLES` (where it comes
from, its sha256, who made it, its licence, the figure it appears in). The
registry is the data file ``data/samples.json`` at the repository's top level,
bundled into the package when it is built (:mod:`stylelab._locations`).
:func:`path` finds a checked copy: in the folder named by ``STYLELAB_DATA_DIR``
(offline machines, CI), or else downloaded once with pooch, into ``data/`` in a
source checkout (git ignores everything there but the registry) or into the
stylelab cache for an installed package. Every file is checked against its
sha256 before it is used.

>>> from stylelab import data
>>> data.names()                         # doctest: +SKIP
['tubingen', 'shipwreck', 'starry_night', ...]
>>> content = data.load("tubingen", size=512)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
import dataclasses
from dataclasses import dataclass
import difflib
import hashlib
import json
import os
from pathlib import Path
import re
import sys

import torch

from . import _locations, config
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


_CC_BY_3 = "https://creativecommons.org/licenses/by/3.0/"

#: The registry's file name: ``data/samples.json`` in a source checkout, bundled into the package when built.
REGISTRY = "data/samples.json"


def _registry_file() -> Path:
    """The registry file this stylelab reads (see :mod:`stylelab._locations`)."""
    found = _locations.shipped(REGISTRY)
    if found is None:
        raise DataError(f"the sample-image registry {REGISTRY} is missing: neither a source checkout nor "
                        f"the installed package ({_locations.BUNDLED}) has it; reinstall stylelab")
    return found


def _parse_registry(text: str, where: str = REGISTRY) -> dict[str, Sample]:
    """The samples of a registry file's text, by name; :class:`DataError` naming ``where``
    and the entry if it is not valid JSON, lacks a field, has an unknown one or a bad value."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise DataError(f"{where} is not valid JSON ({exc})") from exc
    entries = raw.get("samples") if isinstance(raw, dict) else None
    if not isinstance(entries, list) or not entries:
        raise DataError(f"{where} must be an object with a non-empty list \"samples\"")
    fields = {f.name: f for f in dataclasses.fields(Sample)}
    required = {name for name, f in fields.items() if f.default is dataclasses.MISSING}
    samples: dict[str, Sample] = {}
    for i, entry in enumerate(entries):
        label = f"{where}, sample {i + 1} ({entry.get('name', '?') if isinstance(entry, dict) else entry!r})"
        if not isinstance(entry, dict):
            raise DataError(f"{label}: each sample must be an object")
        if missing := sorted(required - set(entry)):
            raise DataError(f"{label}: missing {', '.join(missing)}")
        if unknown := sorted(set(entry) - set(fields)):
            raise DataError(f"{label}: unknown field(s) {', '.join(unknown)}; the fields are {', '.join(fields)}")
        size = entry["size"]
        if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
            raise DataError(f"{label}: size must be [width, height] in pixels, got {size!r}")
        if not (isinstance(entry["sha256"], str) and re.fullmatch(r"[0-9a-f]{64}", entry["sha256"])):
            raise DataError(f"{label}: sha256 must be 64 lower-case hex digits, got {entry['sha256']!r}")
        optional = {"year", "figure"}
        for name, value in entry.items():
            if name != "size" and not (isinstance(value, str) or (value is None and name in optional)):
                raise DataError(f"{label}: {name} must be a string{' or null' if name in optional else ''}, "
                                f"got {value!r}")
        if entry["name"] in samples:
            raise DataError(f"{label}: the name {entry['name']!r} is used twice")
        samples[entry["name"]] = Sample(**{**entry, "size": tuple(size)})
    return samples


def _load_registry() -> dict[str, Sample]:
    """The samples of the registry file (:data:`REGISTRY`), by name, in the file's order."""
    file = _registry_file()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read the sample-image registry {file}: {exc.strerror or exc}") from exc
    return _parse_registry(text, str(file))


#: The registry of sample images, by name, in the order of Gatys et al.'s Fig. 2
#: (read from ``data/samples.json``).
SAMPLES: dict[str, Sample] = _load_registry()


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


def _download_dir() -> Path:
    """Where downloads go (created): ``data/`` in a source checkout (ignored by git,
    beside the registry), else the stylelab cache's ``images/`` folder."""
    root = _locations.checkout_root()
    if root is not None:
        folder = root / "data"
        folder.mkdir(exist_ok=True)
        return folder
    return config.cache_dir("images")


def _local_copy(sample: Sample) -> Path:
    """Where the sample's file is (or would be) kept locally."""
    folder = _data_dir()
    if folder is not None:
        return folder / sample.filename
    return _download_dir() / sample.filename


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
    """Download the sample into :func:`_download_dir` with pooch (once), checked against its sha256."""
    import pooch

    folder = _download_dir()
    cached = folder / sample.filename
    if cached.is_file() and _sha256(cached) == sample.sha256:
        return cached
    try:
        found = pooch.retrieve(
            sample.url,
            known_hash=f"sha256:{sample.sha256}",
            fname=sample.filename,
            path=folder,
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
    downloaded. Otherwise it is downloaded once: into the repository's ``data/``
    folder in a source checkout, else into ``cache_dir("images")``.
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
    in the download folder: ``data/`` in a checkout, else the cache) exists and
    matches its sha256, ``False`` otherwise.
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
