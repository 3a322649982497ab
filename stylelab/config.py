"""Where stylelab keeps its files, which device it uses, and the environment
variables that point it at local copies (offline machines, CI).

Environment variables
---------------------
``STYLELAB_WEIGHTS``
    ``ARCH:CONVENTION:PATH``, e.g. ``vgg16:caffe:/data/vgg16.pth``: a local
    state-dict file used whenever no weight set is named explicitly (instead of
    downloading ``vgg19``). ARCH is ``vgg16`` or ``vgg19``, CONVENTION is
    ``caffe`` or ``torch``; PATH may itself contain colons.
``STYLELAB_DATA_DIR``
    A folder that already holds the sample images under their published file
    names (``tubingen.jpg``, ...). Files are still checked against their sha256.
``STYLELAB_CACHE``
    Where downloads and computed tables (network normalisation) are cached.
    Default: the user cache folder (``~/.cache/stylelab`` on Linux). In a source
    checkout the sample images download into its ``data/`` folder instead.
    Weight files go to torch hub's cache (``$TORCH_HOME/hub/checkpoints``),
    shared with torchvision.
``STYLELAB_DEVICE``
    ``cpu``, ``cuda``, ``cuda:1``, ``mps``: the default device. Default: the
    first of cuda, mps, cpu that is available.
``STYLELAB_PRECISION``
    ``auto``, ``fp32``, ``bf16``, ``fp16``: the network's arithmetic when none is
    given (:mod:`stylelab.networks.precision`). Default: ``auto``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING


if TYPE_CHECKING:  # torch is imported where a device is chosen: reading settings needs none
    import torch


ENV_WEIGHTS = "STYLELAB_WEIGHTS"
ENV_DATA_DIR = "STYLELAB_DATA_DIR"
ENV_CACHE = "STYLELAB_CACHE"
ENV_DEVICE = "STYLELAB_DEVICE"


def cache_dir(*parts: str) -> Path:
    """The stylelab cache folder (created), or a sub-folder of it."""
    root = os.environ.get(ENV_CACHE)
    if root:
        base = Path(root).expanduser()
    else:
        import pooch

        base = Path(pooch.os_cache("stylelab"))
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_device() -> torch.device:
    """``STYLELAB_DEVICE`` if set, else cuda, then mps, then cpu."""
    import torch

    name = os.environ.get(ENV_DEVICE)
    if name:
        return resolve_device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Turn ``None``/``"auto"``/a name into a usable :class:`torch.device`.

    Raises :class:`~stylelab.errors.SettingsError` for a device that is not
    available here, instead of failing later inside a forward pass.
    """
    import torch

    from .errors import SettingsError

    if device is None or device == "auto":
        return default_device()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise SettingsError(f"unknown device {device!r} (use cpu, cuda, cuda:N or mps)") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SettingsError(f"device {device!r} requested but CUDA is not available on this machine")
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise SettingsError(f"device {device!r} requested but MPS is not available on this machine")
    return dev


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, suffix: str = ""):
    """Write a file atomically: yields a new temporary sibling of ``path`` (created exclusively,
    its name ending in ``.tmp`` + ``suffix``, so that an encoder that reads the format from the
    name sees it), moved over ``path`` when the block ends and removed if it raises. The file
    gets the mode any new file gets (0666 less the umask: a class on a shared server can read
    it), not ``mkstemp``'s 0600.

        with config.atomic_file(path) as tmp:
            tmp.write_text(text)
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp{suffix}")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
