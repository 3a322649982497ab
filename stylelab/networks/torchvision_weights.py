"""VGG weights taken from torchvision (the optional extra ``stylelab[torchvision]``).

``load_vgg("torchvision:vgg19")`` (or ``"torchvision:vgg16"``, or a full enum name
such as ``"torchvision:VGG16_Weights.IMAGENET1K_V1"``) asks torchvision's weight
enum for its state dict: ``VGG19_Weights.IMAGENET1K_V1.get_state_dict(...)``, i.e.
torchvision's own URL, its download and its cache (``$TORCH_HOME/hub/checkpoints``,
the folder stylelab's registry uses too). stylelab asks for it with
``check_hash=True`` (a download is checked against the hash prefix in the file's
name; torch hub does not re-hash a file already in the cache) and
``weights_only=True`` (the file cannot run code), then maps torchvision's
``features.N.weight`` keys onto the paper's names
(:func:`stylelab.networks.weights.to_paper_names`). The input convention is read from the
enum's own transforms: only ImageNet mean/std on RGB in [0, 1] (stylelab's
``torch`` convention) is accepted, so ``VGG16_Weights.IMAGENET1K_FEATURES`` (RGB in
0..255) is refused rather than fed the wrong input.

:func:`stylelab.networks.weights.from_torchvision` builds stylelab's VGG from a torchvision
``vgg16()`` / ``vgg19()`` model (or its state dict) that is already in memory. This module
builds on nothing but :mod:`stylelab.networks.vgg`: :mod:`stylelab.networks.weights` turns
its answers into weight sets (:func:`weight_set_fields`).

torchvision is imported only here, only when asked for; without it these
functions raise :class:`~stylelab.errors.WeightsError` naming the install command.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from ..errors import WeightsError
from .vgg import BLOCKS, TORCH_MEAN, TORCH_STD


PREFIX = "torchvision:"
INSTALL = 'pip install "stylelab[torchvision]"'
#: Short names and the enum member they stand for (torchvision's ImageNet classifiers).
ALIASES = {"vgg16": "VGG16_Weights.IMAGENET1K_V1", "vgg19": "VGG19_Weights.IMAGENET1K_V1"}
_ENUM_NAME = re.compile(r"^VGG(\d+)(_BN)?_Weights\.([A-Za-z0-9_]+)$")


def is_torchvision_name(name: object) -> bool:
    """True for ``"torchvision:..."`` names (no torchvision needed to tell)."""
    return isinstance(name, str) and name.strip().startswith(PREFIX)


def parse(name: str) -> str:
    """``"torchvision:vgg19"`` -> ``"VGG19_Weights.IMAGENET1K_V1"``: the enum member a
    name stands for, checked for form only (torchvision is not imported)."""
    rest = name.strip()[len(PREFIX):] if is_torchvision_name(name) else str(name).strip()
    enum_name = ALIASES.get(rest.lower(), rest)
    m = _ENUM_NAME.match(enum_name)
    if not m:
        raise WeightsError(
            f"unknown torchvision weights {name!r}; use torchvision:vgg16, torchvision:vgg19 or "
            f"torchvision:<VGG16|VGG19>_Weights.<MEMBER> (e.g. torchvision:VGG19_Weights.IMAGENET1K_V1)"
        )
    if m.group(2) or f"vgg{m.group(1)}" not in BLOCKS:
        raise WeightsError(
            f"{name!r}: stylelab's VGG is VGG-16 or VGG-19 without batch normalisation (the paper's "
            f"network); torchvision's {enum_name.split('.')[0]} does not fit it"
        )
    return enum_name


def models() -> Any:
    """``torchvision.models``, or a :class:`WeightsError` saying how to install it."""
    try:
        import torchvision.models as tv_models
    except Exception as exc:  # missing, or built for another torch (a failing C++ operator, ...)
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        state = "is not installed" if isinstance(exc, ModuleNotFoundError) else "failed to import"
        raise WeightsError(
            f"torchvision weights need torchvision, which {state} ({type(exc).__name__}: {first}); install "
            f"it with {INSTALL} (torchvision only installs beside the torch release it was built for)"
        ) from exc
    return tv_models


def weights_enum(name: str) -> Any:
    """The torchvision weights enum member that ``name`` stands for."""
    enum_name = parse(name)
    class_name, member = enum_name.split(".")
    enum = getattr(models(), class_name, None)
    try:
        return enum[member]
    except (KeyError, TypeError) as exc:
        known = ", ".join(enum.__members__) if enum is not None else "none"
        raise WeightsError(f"torchvision has no weights {enum_name} (its {class_name} members: {known})") from exc


def convention_of(member: Any) -> str:
    """stylelab's input convention for a torchvision weights member, from its transforms."""
    preset = member.transforms()
    mean, std = tuple(getattr(preset, "mean", ())), tuple(getattr(preset, "std", ()))
    if len(mean) == 3 and len(std) == 3 and torch.allclose(
            torch.tensor(mean + std, dtype=torch.float64), torch.tensor(TORCH_MEAN + TORCH_STD, dtype=torch.float64)):
        return "torch"
    raise WeightsError(
        f"torchvision's {member} expects input normalised with mean {mean} and std {std}, not stylelab's "
        f"'torch' convention (ImageNet mean/std on RGB in [0, 1]), and stylelab's 'caffe' convention is BGR: "
        f"stylelab has no input convention to feed these weights correctly"
    )


def weight_set_fields(name: str) -> dict:
    """The fields of a :class:`~stylelab.networks.weights.WeightSet` for a ``torchvision:`` name
    (imports torchvision); :func:`stylelab.networks.weights.resolve` builds the set."""
    member = weights_enum(name)
    enum_name = f"{type(member).__name__}.{member.name}"
    arch = parse(enum_name).split("_")[0].lower()
    url = member.url
    found = re.search(r"-([a-f0-9]{8,})\.", url.rsplit("/", 1)[-1])  # torch hub's hash prefix in the file name
    return dict(name=f"{PREFIX}{enum_name}", arch=arch, convention=convention_of(member), url=url,
                sha256=found.group(1) if found else None, torchvision=enum_name,
                description=f"torchvision's {enum_name} (fetched and cached by torchvision)",
                licence="BSD-3-Clause (torchvision)")


def state_dict(ws, progress: bool = True) -> dict[str, torch.Tensor]:
    """torchvision's ``<enum>.get_state_dict(...)`` for the weight set ``ws``: its download
    (hash-checked) into its cache, or the cached file; read with ``weights_only=True``."""
    member = weights_enum(ws.torchvision)
    try:
        return member.get_state_dict(progress=progress, check_hash=True, weights_only=True, map_location="cpu")
    except OSError as exc:  # urllib's URLError is an OSError
        raise WeightsError(
            f"torchvision could not download {ws.torchvision} from {ws.url} ({exc}); on an offline machine "
            f"copy the file into $TORCH_HOME/hub/checkpoints or use a local file"
        ) from exc
    except Exception as exc:  # a hash mismatch (RuntimeError), a file the safe loader refuses, ...
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise WeightsError(f"torchvision weights {ws.torchvision}: {first}") from exc
