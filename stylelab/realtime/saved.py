"""Trained real-time networks on disk: one ``.pt`` file each, read only with
``torch.load(weights_only=True)`` (tensors, numbers and strings: a file cannot run code when it is
loaded), checked before use.

A file holds ``{"format": FORMAT, "version": VERSION, "report": <JSON text>, "state_dict": ...}``.
The report names the network (``"johnson"``: :class:`stylelab.realtime.transformer.TransformNet`,
``"adain"``: :class:`stylelab.realtime.adain.Decoder`), its architecture, and how it was trained
(the recipe, the losses, the time). :func:`read` rebuilds the network from it and loads the
weights strictly; a file that is not such a network (damaged, foreign, a pickle with code in it)
is a :class:`~stylelab.errors.WeightsError` in one line, never torch's advice to load it with
``weights_only=False``.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import torch
from torch import nn

from .. import config
from ..errors import WeightsError
from . import adain, transformer

FORMAT = "stylelab-realtime"
VERSION = 1
#: The first bytes of every file torch.save writes (a zip archive).
ZIP_MAGIC = b"PK\x03\x04"
#: The kinds of network a file may hold.
KINDS = ("johnson", "adain")


def build(kind: str, architecture: dict) -> nn.Module:
    """An untrained network of ``kind`` with ``architecture`` (the report's fields)."""
    if kind == "johnson":
        a = transformer.Architecture(tuple(architecture["widths"]), int(architecture["blocks"]), architecture["norm"])
        return transformer.TransformNet(a)
    if kind == "adain":
        a = adain.Architecture(tuple(architecture["widths"]), int(architecture["repeats"]))
        return adain.Decoder(a, int(architecture.get("in_channels", 512)))
    raise WeightsError(f"unknown network kind {kind!r}; stylelab trains {KINDS}")


def architecture_of(net: nn.Module) -> tuple[str, dict]:
    """(kind, architecture fields) of a network :func:`build` can rebuild."""
    if isinstance(net, transformer.TransformNet):
        a = net.architecture
        return "johnson", {"widths": list(a.widths), "blocks": a.blocks, "norm": a.norm}
    if isinstance(net, adain.Decoder):
        a = net.architecture
        return "adain", {"widths": list(a.widths), "repeats": a.repeats, "in_channels": net.in_channels}
    raise WeightsError(f"cannot save a {type(net).__name__}: not a stylelab real-time network")


def save(net: nn.Module, report: dict, path: str | os.PathLike) -> Path:
    """Write ``net`` and ``report`` (JSON-able) to ``path`` atomically; the file's folder is created."""
    kind, arch = architecture_of(net)
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    payload = {"format": FORMAT, "version": VERSION,
               "report": json.dumps({**report, "network": kind, "architecture": arch}), "state_dict": state}
    with config.atomic_file(path, ".pt") as tmp:
        torch.save(payload, tmp)
    return path


def read(path: str | os.PathLike, kind: str | None = None) -> tuple[nn.Module, dict]:
    """The network saved at ``path`` (eval mode, CPU) and its report. ``kind``: refuse any other kind."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(f"trained network not found: {path}" + (" (it is a folder)" if path.is_dir() else ""))
    with open(path, "rb") as f:
        head = f.read(4)
    if head != ZIP_MAGIC:  # torch.save writes a zip archive; anything else is not ours (and is never unpickled)
        raise WeightsError(f"{path} is not a network saved by stylelab train (not a PyTorch file: "
                           f"{'empty' if not head else 'it does not start like one'})")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # never pass on torch's "weights_only=False will likely succeed"
        from ..networks.weights import safe_load_refusal

        raise WeightsError(f"refusing to load {path}: {safe_load_refusal(exc)}; it is not a network saved by "
                           f"stylelab train") from None
    except Exception as exc:  # noqa: BLE001 - a damaged file: the unpickler raises almost anything
        raise WeightsError(f"{path} is damaged or not a PyTorch file ({type(exc).__name__}); train the network "
                           f"again (stylelab train)") from None
    if not (isinstance(obj, dict) and obj.get("format") == FORMAT):
        raise WeightsError(f"{path} is not a network saved by stylelab train (no {FORMAT!r} format mark; a VGG "
                           f"weights file goes to --weights, not here)")
    if obj.get("version") != VERSION:
        raise WeightsError(f"{path} was saved in format version {obj.get('version')!r}; this stylelab reads "
                           f"version {VERSION}: train it again")
    try:
        report = json.loads(obj["report"])
        net = build(report["network"], report["architecture"])
        net.load_state_dict(obj["state_dict"], strict=True)
    except WeightsError:
        raise
    except Exception as exc:  # noqa: BLE001 - say what is wrong in one line
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise WeightsError(f"{path} is not a network saved by stylelab train ({first[:200]})") from None
    if not all(torch.isfinite(p).all() for p in net.state_dict().values() if p.is_floating_point()):
        raise WeightsError(f"{path} holds non-finite weights (the training diverged or the file was changed)")
    if kind is not None and report["network"] != kind:
        raise WeightsError(f"{path} holds a {report['network']} network, not a {kind} one")
    return net.eval(), report
