"""Named VGG weight sets, safe loading, and the paper's normalised network.

A *weight set* is a state-dict file plus what is needed to use it: its
architecture (``vgg16``/``vgg19``) and its input convention (``torch``: RGB in
[0, 1] normalised by ImageNet mean/std; ``caffe``: BGR in [0, 255] minus the
per-channel mean). Registered sets are downloaded once, hash-checked, into torch
hub's cache (``$TORCH_HOME/hub/checkpoints``, the folder torchvision uses), and
loaded with ``torch.load(..., weights_only=True)``: a file is never unpickled
as code.

Any local state-dict file works too, given its architecture and convention:
``load_vgg("/data/vgg16.pth", arch="vgg16", convention="caffe")``, or for every
call that names no weights, ``STYLELAB_WEIGHTS=vgg16:caffe:/data/vgg16.pth``.

With torchvision installed (``pip install "stylelab[torchvision]"``),
``load_vgg("torchvision:vgg19")`` takes the weights from torchvision's weight
enum, its download and its cache (:mod:`stylelab.networks.torchvision_weights`).

The normalised network (Gatys et al., CVPR 2016, section 2): "We normalized the
network by scaling the weights such that the mean activation of each
convolutional filter over images and positions is equal to one." Scaling filter
``k`` of layer ``l`` by ``1/m_lk`` and compensating the next layer's input
channel by ``m_lk`` leaves every layer's responses equal to the original ones
divided by a positive factor per channel (ReLU and pooling commute with positive
scaling), so the network computes the same features up to scale.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import hashlib
import os
from pathlib import Path
import pickle
import re
from typing import Mapping, Sequence
import warnings

import torch

from . import torchvision_weights as _tv
from .. import config
from ..errors import DataError, WeightsError
from .vgg import BLOCKS, CONVENTIONS, VGG, layers


@dataclass(frozen=True)
class WeightSet:
    """A VGG state dict and how to feed it."""

    name: str
    arch: str  # "vgg16" | "vgg19"
    convention: str  # "torch" | "caffe"
    url: str | None = None
    sha256: str | None = None  # the full digest, or the 8+ character prefix torch hub file names carry
    path: str | None = None  # a local file (overrides the download)
    description: str = ""
    licence: str = ""
    torchvision: str | None = None  # a torchvision weights enum (VGG19_Weights.IMAGENET1K_V1): torchvision fetches it

    @property
    def filename(self) -> str:
        if self.path:
            return Path(self.path).name
        return self.url.rsplit("/", 1)[-1] if self.url else f"{self.name}.pth"


REGISTRY: dict[str, WeightSet] = {
    ws.name: ws
    for ws in (
        WeightSet(
            "vgg19", "vgg19", "torch",
            url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
            sha256="dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44",
            description="torchvision's ImageNet VGG-19 (the paper's architecture; the default)",
            licence="BSD-3-Clause (torchvision)",
        ),
        WeightSet(
            "vgg16", "vgg16", "torch",
            url="https://download.pytorch.org/models/vgg16-397923af.pth",
            sha256="397923af",
            description="torchvision's ImageNet VGG-16",
            licence="BSD-3-Clause (torchvision)",
        ),
        WeightSet(
            "vgg19-caffe", "vgg19", "caffe",
            url="https://web.eecs.umich.edu/~justincj/models/vgg19-d01eb7cb.pth",
            sha256="d01eb7cb",
            description="the original Caffe VGG-19 (the weights Gatys et al. used), converted by J. Johnson (pytorch-vgg)",
            licence="CC BY 4.0 (Visual Geometry Group, University of Oxford)",
        ),
        WeightSet(
            "vgg16-caffe", "vgg16", "caffe",
            url="https://web.eecs.umich.edu/~justincj/models/vgg16-00b39a1b.pth",
            sha256="00b39a1b",
            description="the original Caffe VGG-16, converted by J. Johnson (pytorch-vgg)",
            licence="CC BY 4.0 (Visual Geometry Group, University of Oxford)",
        ),
    )
}

DEFAULT = "vgg19"


def names() -> list[str]:
    return list(REGISTRY)


def from_env() -> WeightSet | None:
    """The weight set named by ``STYLELAB_WEIGHTS=ARCH:CONVENTION:PATH``, if set."""
    value = os.environ.get(config.ENV_WEIGHTS, "").strip()
    if not value:
        return None
    parts = value.split(":", 2)
    if len(parts) != 3 or not all(parts):
        raise WeightsError(
            f"{config.ENV_WEIGHTS}={value!r} is not ARCH:CONVENTION:PATH "
            f"(e.g. vgg16:caffe:/data/vgg16.pth)"
        )
    arch, convention, path = parts
    return local(path, arch, convention, name=f"local:{Path(path).name}")


def local(path: str | os.PathLike, arch: str, convention: str, name: str | None = None) -> WeightSet:
    """Declare a local state-dict file as a weight set."""
    if arch not in BLOCKS:
        raise WeightsError(f"unknown architecture {arch!r} for {path}; choose one of {sorted(BLOCKS)}")
    if convention not in CONVENTIONS:
        raise WeightsError(f"unknown input convention {convention!r} for {path}; choose one of {CONVENTIONS}")
    path = Path(path).expanduser()
    return WeightSet(name or f"local:{path.name}", arch, convention, path=str(path),
                     description=f"local file {path}")


def resolve(weights: str | os.PathLike | WeightSet | None = None, arch: str | None = None,
            convention: str | None = None) -> WeightSet:
    """Turn what a user passed into a :class:`WeightSet`.

    ``None`` or ``"default"``: ``STYLELAB_WEIGHTS`` if set, else ``vgg19``. A
    registry name. ``"torchvision:vgg19"`` / ``"torchvision:vgg16"`` (or a full
    enum name, ``"torchvision:VGG16_Weights.IMAGENET1K_V1"``): torchvision's
    weights (needs torchvision). A path to a file: then ``arch`` and
    ``convention`` are required.
    """
    if isinstance(weights, WeightSet):
        return weights
    if weights is None or weights == "default":
        return from_env() or REGISTRY[DEFAULT]
    key = str(weights)
    if key in REGISTRY:
        return REGISTRY[key]
    if _tv.is_torchvision_name(key):
        return WeightSet(**_tv.weight_set_fields(key))
    if key == "env":
        ws = from_env()
        if ws is None:
            raise WeightsError(f"weights 'env' requested but {config.ENV_WEIGHTS} is not set")
        return ws
    looks_like_path = os.sep in key or key.endswith((".pth", ".pt", ".bin")) or Path(key).exists()
    if not looks_like_path:
        raise WeightsError(f"unknown weight set {key!r}; registered: {', '.join(REGISTRY)}, "
                           f"torchvision:vgg16|vgg19, or a path to a .pth file")
    if arch is None or convention is None:
        raise WeightsError(
            f"to use the local file {key} say its architecture and input convention "
            f"(arch='vgg16'|'vgg19', convention='torch'|'caffe')"
        )
    return local(key, arch, convention)


def cache_path(ws: WeightSet) -> Path:
    """Where a registered set lives once downloaded (torch hub's checkpoint folder)."""
    if ws.path:
        return Path(ws.path)
    return Path(torch.hub.get_dir()) / "checkpoints" / ws.filename


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def verify(ws: WeightSet | str) -> bool:
    """True when the file is present and matches the registered hash (prefix)."""
    ws = resolve(ws)
    path = cache_path(ws)
    if not path.is_file():
        return False
    if not ws.sha256:
        return True
    return sha256_of(path).startswith(ws.sha256)


def download(ws: WeightSet | str, progress: bool = True) -> Path:
    """Fetch a registered set into torch hub's cache (once) and check its hash."""
    ws = resolve(ws)
    path = cache_path(ws)
    if ws.path:
        if not path.is_file():
            raise WeightsError(f"weights file not found: {path}")
        return path
    if path.is_file():
        return path
    if ws.torchvision:  # torchvision's own download, into the same folder
        _tv.state_dict(ws, progress=progress)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # torch checks the sha256 prefix while downloading and leaves nothing on a mismatch.
        torch.hub.download_url_to_file(ws.url, str(path), hash_prefix=ws.sha256, progress=progress)
    except RuntimeError as exc:
        raise WeightsError(f"{ws.name}: downloaded file failed its hash check ({exc})") from exc
    except OSError as exc:
        raise WeightsError(
            f"could not download {ws.name} from {ws.url} ({exc}); on an offline machine point "
            f"{config.ENV_WEIGHTS}=ARCH:CONVENTION:PATH at a local copy"
        ) from exc
    return path


def safe_load_refusal(exc: BaseException) -> str:
    """Why ``torch.load(..., weights_only=True)`` refused a file, in a few words, without
    torch's advice to load it with ``weights_only=False`` (which would run the file's code)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    found = re.search(r"Unsupported global: GLOBAL ([\w.<>]+)", text) or re.search(r"WeightsUnpickler error: ([^\n.]+)", text)
    if found:
        what = found.group(1)
        return f"it holds {what}, not only tensors" if "Unsupported" in found.group(0) else what
    return "it holds more than tensors and numbers"


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a state dict *safely*: ``weights_only=True``, so a pickle cannot run code."""
    path = Path(path)
    if not path.exists():
        raise WeightsError(f"weights file not found: {path}")
    if path.is_dir():
        raise WeightsError(f"weights path is a directory, not a file: {path}")
    if path.stat().st_size == 0:
        raise WeightsError(f"weights file is empty: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" not in str(exc):  # not a torch file at all, or a damaged one
            raise WeightsError(f"cannot read weights file {path}: it is not a PyTorch file "
                               f"({str(exc).splitlines()[0][:120]})") from None
        raise WeightsError(
            f"refusing to load {path}: it is not a plain tensor state dict (the safe loader "
            f"rejected it: {safe_load_refusal(exc)}); use a file of tensors only, never load it otherwise"
        ) from None
    except Exception as exc:  # a corrupt file makes the unpickler raise almost anything (IndexError, KeyError, ...)
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise WeightsError(f"cannot read weights file {path}: {first}") from exc
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        raise WeightsError(f"{path} does not hold a state dict (a mapping of names to tensors)")
    return obj


def to_paper_names(state: dict[str, torch.Tensor], arch: str, source: str = "weights") -> dict[str, torch.Tensor]:
    """Map a torchvision-style (``features.0.weight``), bare (``0.weight``), Keras
    (``block1_conv1.weight``) or paper-named (``conv1_1.weight``) state dict onto
    the paper's names, checking that every convolution is there with the right shape."""
    convs = [l for l in layers(arch) if l.kind == "conv"]
    out: dict[str, torch.Tensor] = {}
    missing: list[str] = []
    for l in convs:
        for part in ("weight", "bias"):
            candidates = (f"features.{l.index}.{part}", f"{l.index}.{part}", f"{l.name}.{part}",
                          f"convs.{l.name}.{part}", f"{l.keras}.{part}")
            key = next((k for k in candidates if k in state), None)
            if key is None:
                missing.append(f"features.{l.index}.{part} ({l.name})")
                continue
            t = state[key]
            if not isinstance(t, torch.Tensor):
                raise WeightsError(f"{source}: entry {key} is not a tensor")
            expected = (l.channels, l.in_channels, 3, 3) if part == "weight" else (l.channels,)
            if tuple(t.shape) != expected:
                raise WeightsError(
                    f"{source}: {key} ({l.name}.{part}) has shape {tuple(t.shape)}, expected "
                    f"{expected} for {arch}; is this the right architecture?"
                )
            if not torch.isfinite(t).all():
                raise WeightsError(f"{source}: {key} ({l.name}.{part}) contains NaN or infinite values")
            out[f"convs.{l.name}.{part}"] = t.float()
    if missing:
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        raise WeightsError(f"{source}: missing keys for {arch}: {shown}")
    return out


# --------------------------------------------------------------------------------------
# The normalised network


def normalisation_scales(model: VGG, images: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per-filter mean activation ``m_lk`` of every ReLU layer over ``images`` and positions.

    Computed on the network as given (run it on the un-normalised model).
    Dead filters (mean 0) get 1, so they are left unchanged.
    """
    relus = [l.name for l in model.layers if l.kind == "relu"]
    sums: dict[str, torch.Tensor] = {}
    count = 0
    with torch.no_grad():
        for img in images:
            img = img.to(next(model.parameters()).device)
            feats = model(img, relus)
            n = img.shape[-1] * img.shape[-2]
            for name, f in feats.items():
                # weight each image's mean by its area so the mean is over all positions
                s = f.mean(dim=(0, 2, 3)) * n
                sums[name] = sums.get(name, 0) + s
            count += n
    scales = {}
    for name, s in sums.items():
        m = (s / count).double().cpu()
        scales[name] = torch.where(m > 1e-12, m, torch.ones_like(m)).float()
    return scales


def apply_normalisation(model: VGG, means: dict[str, torch.Tensor]) -> VGG:
    """Rescale ``model`` in place so each filter's mean activation becomes 1.

    W'_l[k, j] = W_l[k, j] * m_{l-1, j} / m_{l, k},   b'_l[k] = b_l[k] / m_{l, k}
    """
    prev: torch.Tensor | None = None
    with torch.no_grad():
        for l in model.layers:
            if l.kind != "conv":
                continue
            conv = model.convs[l.name]
            m = means[f"relu{l.name[4:]}"].to(conv.weight)
            w = conv.weight
            if prev is not None:
                w.mul_(prev.view(1, -1, 1, 1))
            w.div_(m.view(-1, 1, 1, 1))
            conv.bias.div_(m)
            prev = m
    model.info["normalized"] = True
    return model


def _normalisation_key(ws: WeightSet, pooling: str, size: int) -> str:
    path = cache_path(ws)
    st = path.stat()
    ident = f"{ws.name}|{ws.arch}|{ws.convention}|{ws.sha256}|{path.resolve()}|{st.st_size}|{int(st.st_mtime)}|{pooling}|{size}"
    return hashlib.sha256(ident.encode()).hexdigest()[:16]


def sample_images(size: int = 128, *, switch: str = "normalized=False") -> list[torch.Tensor]:
    """The sample images at ``size`` px: what the networks are normalised on. Without them a
    :class:`WeightsError` names ``switch``, the setting that does without the normalisation."""
    from .. import data

    try:
        return [data.load(n, size=size) for n in data.names()]
    except DataError as exc:
        raise WeightsError(f"the networks are normalised on the sample images, which are not available "
                           f"({exc}); set {config.ENV_DATA_DIR}, or pass {switch}") from exc


def _sample_images(size: int) -> list[torch.Tensor]:
    """:func:`sample_images` for the VGG's normalisation (:func:`normalize`, :func:`from_torchvision`)."""
    return sample_images(size, switch="normalize=False")


def normalize_filters(model: torch.nn.Module, images: Sequence[torch.Tensor] | None = None, size: int = 128) -> torch.nn.Module:
    """Scale ``model``'s filters so each one's mean activation over ``images`` (default: the
    sample images at ``size`` px) and positions is 1 (Gatys et al. 2016, section 2; for a VGG
    :func:`stylelab.networks.weights.apply_normalisation`, for the filter bank its one layer)."""
    means = normalisation_scales(model, images if images is not None else sample_images(size))
    if isinstance(model, VGG):
        return apply_normalisation(model, means)
    return model.apply_normalisation(means)


def _valid_means(means, model: VGG) -> bool:
    """Whether ``means`` is what :func:`normalisation_scales` returns for ``model``: a dict with
    one finite, positive float tensor of shape (channels,) per conv layer's ReLU, nothing else."""
    if not isinstance(means, dict):
        return False
    want = {f"relu{l.name[4:]}": model.convs[l.name].out_channels for l in model.layers if l.kind == "conv"}
    if set(means) != set(want):
        return False
    for name, channels in want.items():
        m = means[name]
        if not (isinstance(m, torch.Tensor) and m.is_floating_point() and tuple(m.shape) == (channels,)
                and bool(torch.isfinite(m).all()) and bool((m > 0).all())):
            return False
    return True


def normalize(model: VGG, ws: WeightSet, images: Sequence[torch.Tensor] | None = None,
              size: int = 256, cache: bool = True) -> VGG:
    """Normalise ``model`` (loaded from ``ws``) as Gatys et al. did, on the sample
    images at ``size`` px, caching the per-filter means under the stylelab cache."""
    key = _normalisation_key(ws, model.pooling, size)
    file = config.cache_dir("normalisation") / f"{ws.arch}-{model.pooling}-{key}.pt"
    means = None
    if cache and images is None and file.is_file():
        try:
            means = torch.load(file, map_location="cpu", weights_only=True)
        except Exception:  # a damaged cache entry is recomputed
            means = None
        if means is not None and not _valid_means(means, model):  # never trusted: recomputed
            warnings.warn(f"the cached normalisation {file} is not what stylelab writes (wrong keys, shapes or "
                          f"non-finite values); recomputing it")
            means = None
    if means is None:
        means = normalisation_scales(model, images if images is not None else _sample_images(size))
        if cache and images is None:
            with config.atomic_file(file) as tmp:
                torch.save(means, tmp)
    return apply_normalisation(model, means)


# --------------------------------------------------------------------------------------

_MODELS: dict[tuple, VGG] = {}


def load_vgg(weights: str | os.PathLike | WeightSet | None = None, *, arch: str | None = None,
             convention: str | None = None, pooling: str = "avg", normalized: bool = True, device: str | torch.device | None = None,
             download_missing: bool = True, progress: bool = True) -> VGG:
    """A frozen :class:`~stylelab.networks.vgg.VGG` with real weights, ready for feature extraction.

    weights: a registry name (``vgg19``, ``vgg16``, ``vgg19-caffe``, ``vgg16-caffe``),
        ``torchvision:vgg19``/``torchvision:vgg16`` (torchvision's weight enums and
        cache; needs ``stylelab[torchvision]``), a path (then give ``arch`` and
        ``convention``), a :class:`WeightSet`, or None for ``STYLELAB_WEIGHTS``/``vgg19``.
    pooling: ``"avg"`` (the paper) or ``"max"`` (the network as trained).
    normalized: rescale to mean activation 1 per filter (the paper's network).
    device: cpu, cuda, mps; default: ``STYLELAB_DEVICE`` or the best available.

    Models are cached per process (they are frozen, so sharing is safe).
    """
    ws = resolve(weights, arch, convention)
    dev = config.resolve_device(device)
    path = cache_path(ws)
    stamp = path.stat().st_mtime if path.is_file() else None
    key = (ws, pooling, bool(normalized), str(dev), stamp)
    if key in _MODELS:
        return _MODELS[key]
    if not path.is_file():
        if ws.path:
            raise WeightsError(f"weights file not found: {path}")
        if not download_missing:
            raise WeightsError(f"{ws.name} is not downloaded yet; run `stylelab weights download {ws.name}`")
        if not ws.torchvision:
            path = download(ws, progress=progress)
    if ws.torchvision:  # torchvision downloads (or finds in its cache) and reads it, weights_only
        raw = _tv.state_dict(ws, progress=progress)
    else:
        raw = read_state_dict(path)
    state = to_paper_names(raw, ws.arch, source=str(path))
    model = VGG(ws.arch, pooling=pooling, convention=ws.convention)
    model.load_state_dict(state, strict=True)
    model.freeze()
    model.info.update({"weights": ws.name, "source": ws.url or str(path), "path": str(path),
                       "description": ws.description})
    if normalized:
        normalize(model, ws)
    model = model.to(dev)
    _MODELS[key] = model
    return model


def describe(ws: WeightSet | str | None = None) -> dict:
    """A JSON-able description of a weight set (for notebooks and the CLI)."""
    ws = resolve(ws)
    d = asdict(ws)
    d["cached_at"] = str(cache_path(ws))
    d["present"] = cache_path(ws).is_file()
    return d


def from_torchvision(model: torch.nn.Module | Mapping[str, torch.Tensor], *, pooling: str = "avg",
                     normalized: bool = True, convention: str = "torch", size: int = 256) -> VGG:
    """stylelab's frozen :class:`~stylelab.networks.vgg.VGG` with the weights of a torchvision
    ``vgg16()``/``vgg19()`` model, its ``features``, or either's state dict.

    The architecture is told by the number of convolutions. ``pooling="max"`` and
    ``normalized=False`` give the same network as the model's ``features``;
    the defaults give the paper's network (as :func:`load_vgg`),
    normalised on the sample images at ``size`` px (not cached: no file to key on).
    """
    state = model.state_dict() if isinstance(model, torch.nn.Module) else dict(model)
    if any(k.endswith("running_mean") for k in state):
        raise WeightsError("a batch-normalised VGG (vgg16_bn/vgg19_bn) does not fit stylelab's VGG")
    n_convs = sum(1 for k, v in state.items() if k.endswith("weight") and getattr(v, "dim", lambda: 0)() == 4)
    arch = next((a for a, blocks in BLOCKS.items() if sum(blocks) == n_convs), None)
    if arch is None:
        raise WeightsError(f"a model with {n_convs} convolutions is neither VGG-16 (13) nor VGG-19 (16)")
    net = VGG(arch, pooling=pooling, convention=convention)
    net.load_state_dict(to_paper_names(state, arch, source="torchvision model"), strict=True)
    net.freeze()
    net.info.update({"weights": f"torchvision model ({arch})", "source": "torchvision model in memory"})
    if normalized:
        apply_normalisation(net, normalisation_scales(net, _sample_images(size)))
    return net
