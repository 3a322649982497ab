"""Small networks that stylelab trains itself: a patch classifier and an autoencoder.

One of this project's source reports replaced the ImageNet VGG by networks it trained
itself (a CNN on CIFAR-10, then on a subset of Caltech-101, and an autoencoder) and found
that small networks trained on small images transfer little style. Here the same
experiment fits in minutes on a CPU:

* ``patch-cnn`` (:class:`PatchCNN`): which of the sample images (six paintings and one
  photograph) does a 32 x 32 patch come from? A classifier, trained with cross-entropy.
* ``autoencoder`` (:class:`Autoencoder`): the same encoder, trained to reconstruct the
  patch through a decoder (mean squared error on the pixels).

Both encoders have the layout of VGG-11 (Simonyan & Zisserman's configuration "A": one,
one, two, two and two 3 x 3 convolutions per block, each block ending in a 2 x 2 pooling)
with far fewer channels (:data:`WIDTHS`, against VGG's 64 ... 512) and average pooling,
so their layers carry the paper's names (``relu1_1`` ... ``relu5_1``, ``relu4_2``) and the
engine matches the same layers as in the VGG. The classifier averages ``relu5_2`` over
positions into a linear layer; the decoder mirrors the encoder (upsampling, 3 x 3
convolution, ReLU) back to the pixels.

The data: every image is split into a training part (the left three quarters) and a test
part (the right quarter); each training step crops a batch of random patches from the
training parts (seeded), and the test patches come from the test parts only, so the test
accuracy says whether the network tells *styles* apart, not whether it remembers places.

    net, report = train("patch-cnn", steps=1500)        # the full network and its scores
    model = load("patch-cnn", steps=1500)               # the extractor: trained once, then cached
    sl.transfer(photo, painting, features="patch-cnn")  # with load()'s defaults

Training is seeded and deterministic on the CPU (with the same number of threads; the
order of float additions, and so the last bits, can change with it). A trained network is
cached under the stylelab cache (``networks/``), named after a hash of its training
settings (:class:`Recipe`), with a sha256 sidecar (``NAME.pt.sha256``, ``sha256sum``'s
format) that is checked on every load, read with ``torch.load(weights_only=True)``. A file
that fails its check is an error (:class:`~stylelab.errors.WeightsError`), never retrained
over: delete it to train again.

CIFAR-10, as in the report (needs ``pip install "stylelab[torchvision]"`` and a download):
``train("patch-cnn", dataset="cifar10", root="~/data")`` trains the same networks on
CIFAR-10's 32 x 32 images (10 classes; its test set for the test accuracy);
``save(net, report, "cifar-cnn.pt")`` then ``load("patch-cnn", path="cifar-cnn.pt")``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
import hashlib
import json
from pathlib import Path
import pickle

import torch
from torch import nn
import torch.nn.functional as F

from .. import config
from ..errors import SettingsError, WeightsError
from .vgg import VGG, register_layout


#: The encoders' layout: VGG-11's (Simonyan & Zisserman's configuration "A").
ARCH = "patchnet"
register_layout(ARCH, (1, 1, 2, 2, 2))
KINDS = ("patch-cnn", "autoencoder")
#: Channels of the five blocks (the VGGs: 64, 128, 256, 512, 512).
WIDTHS = (16, 32, 64, 64, 64)
#: Training steps when none are given (about a minute on a 2-core CPU); lesson 14's quick
#: profile trains fewer, its student profile more.
DEFAULT_STEPS = 600
DATASETS = ("samples", "cifar10")
DEEPEST = "relu5_2"  # the encoder's last layer: the classifier's and the decoder's input


@dataclass(frozen=True)
class Recipe:
    """Everything a trained network depends on; its hash names the cached file."""

    kind: str
    steps: int = DEFAULT_STEPS
    batch: int = 32
    lr: float = 2e-3
    seed: int = 0
    patch: int = 32
    widths: tuple = WIDTHS
    dataset: str = "samples"
    image_size: int = 256  # the sample images' longest side before cropping

    def check(self) -> "Recipe":
        if self.kind not in KINDS:
            raise SettingsError(f"unknown network {self.kind!r}; stylelab trains {', '.join(KINDS)}")
        if self.dataset not in DATASETS:
            raise SettingsError(f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}")
        for name in ("steps", "batch", "seed", "patch", "image_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (0 if name == "seed" else 1):
                raise SettingsError(f"{name} must be an integer >= {0 if name == 'seed' else 1}, got {v!r}")
        if self.patch < 16 or self.patch % 16:
            raise SettingsError(f"patch must be a multiple of 16 px (the encoder pools 4 times), got {self.patch}")
        if self.dataset == "cifar10" and self.patch != 32:
            raise SettingsError("CIFAR-10's images are 32 px: use patch=32")
        if self.patch > self.image_size * 3 // 4:
            raise SettingsError(f"patch {self.patch} px does not fit in the training part of {self.image_size} px images")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr < 1):
            raise SettingsError(f"lr must be a number in (0, 1), got {self.lr!r}")
        if len(self.widths) != 5 or not all(isinstance(c, int) and c > 0 for c in self.widths):
            raise SettingsError(f"widths must be 5 positive channel counts, got {self.widths!r}")
        return replace(self, widths=tuple(self.widths), lr=float(self.lr))

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------------
# The networks


class PatchCNN(nn.Module):
    """Which image is this patch from? The VGG-11 layout (narrow) + average over positions + linear."""

    def __init__(self, n_classes: int, widths=WIDTHS):
        super().__init__()
        self.features = VGG(ARCH, pooling="avg", convention="torch", widths=tuple(widths))
        self.head = nn.Linear(widths[-1], n_classes)

    def forward(self, x):
        return self.head(self.features(x, [DEEPEST])[DEEPEST].mean(dim=(2, 3)))

    def loss(self, x, y):
        return F.cross_entropy(self(x), y)


class Autoencoder(nn.Module):
    """The same encoder; the decoder mirrors it: (upsample x2, 3 x 3 conv, ReLU) per block."""

    def __init__(self, widths=WIDTHS):
        super().__init__()
        self.features = VGG(ARCH, pooling="avg", convention="torch", widths=tuple(widths))
        up = []
        for c_in, c_out in zip(widths[:0:-1], widths[-2::-1]):  # 5 -> 4, 4 -> 3, 3 -> 2, 2 -> 1
            up += [nn.Upsample(scale_factor=2), nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU()]
        self.decoder = nn.Sequential(*up, nn.Conv2d(widths[0], 3, 3, padding=1), nn.Sigmoid())

    def forward(self, x):
        return self.decoder(self.features(x, [DEEPEST])[DEEPEST])

    def loss(self, x, y=None):
        return F.mse_loss(self(x), x)


def build(recipe: Recipe, n_classes: int) -> nn.Module:
    """The untrained network of ``recipe``, its weights drawn from ``recipe.seed``."""
    with torch.random.fork_rng(devices=[]):  # PyTorch's default initialisation, seeded, leaving the global RNG alone
        torch.manual_seed(recipe.seed)
        net = PatchCNN(n_classes, recipe.widths) if recipe.kind == "patch-cnn" else Autoencoder(recipe.widths)
    for p in net.parameters():  # VGG() freezes its parameters; here they are trained
        p.requires_grad_(True)
    return net


# --------------------------------------------------------------------------------------
# The data


class Patches:
    """Random patches of a few images: image k is class k; the left 3/4 of each image for
    training, the right 1/4 for testing."""

    def __init__(self, images: list[torch.Tensor], names: list[str], patch: int):
        self.names, self.patch = names, patch
        self.parts = {"train": [], "test": []}
        for img in images:
            cut = img.shape[-1] * 3 // 4
            self.parts["train"].append(img[..., :cut])
            self.parts["test"].append(img[..., cut:])
        for part, imgs in self.parts.items():
            small = [tuple(i.shape[-2:]) for i in imgs if min(i.shape[-2:]) < patch]
            if small:
                raise SettingsError(f"patch {patch} px is larger than the {part} part of an image {small[0]}")

    def batch(self, n: int, g: torch.Generator, part: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        imgs, p = self.parts[part], self.patch
        labels = torch.randint(len(imgs), (n,), generator=g)
        crops = []
        for k in labels.tolist():
            h, w = imgs[k].shape[-2:]
            i = int(torch.randint(h - p + 1, (1,), generator=g))
            j = int(torch.randint(w - p + 1, (1,), generator=g))
            crops.append(imgs[k][0, :, i:i + p, j:j + p])
        return torch.stack(crops), labels


class Cifar10:
    """CIFAR-10 through torchvision (downloaded into ``root`` once): 32 x 32 images, 10 classes."""

    def __init__(self, root):
        try:
            from torchvision.datasets import CIFAR10
        except ImportError as exc:
            raise SettingsError('dataset="cifar10" needs torchvision: pip install "stylelab[torchvision]"') from exc
        root = Path(root if root is not None else config.cache_dir("datasets")).expanduser()
        self.names = None
        self.parts = {}
        for part, is_train in (("train", True), ("test", False)):
            ds = CIFAR10(str(root), train=is_train, download=True)
            x = torch.as_tensor(ds.data).permute(0, 3, 1, 2).float() / 255
            self.parts[part] = (x, torch.as_tensor(ds.targets))
            self.names = list(ds.classes)

    def batch(self, n: int, g: torch.Generator, part: str = "train"):
        x, y = self.parts[part]
        idx = torch.randint(len(x), (n,), generator=g)
        return x[idx], y[idx]


def sample_data(recipe: Recipe, root=None):
    """The training data of ``recipe``: the sample images' patches, or CIFAR-10."""
    if recipe.dataset == "cifar10":
        return Cifar10(root)
    from .. import data

    names = list(data.names())
    return Patches([data.load(n, size=recipe.image_size) for n in names], names, recipe.patch)


# --------------------------------------------------------------------------------------
# Training


def train(kind: str, *, steps: int = DEFAULT_STEPS, batch: int = 32, lr: float = 2e-3, seed: int = 0,
          patch: int = 32, widths=WIDTHS, dataset: str = "samples", image_size: int = 256, root=None,
          progress: bool = True, data=None) -> tuple[nn.Module, dict]:
    """Train ``kind`` (``"patch-cnn"`` or ``"autoencoder"``) with Adam for ``steps`` batches of
    ``batch`` random ``patch`` px crops; returns the network (in training form: with its head
    or decoder) and a report: the settings, the last training losses and the test score
    (accuracy on test patches for the classifier, mean squared error for the autoencoder).

    dataset: ``"samples"`` (the sample images, ``image_size`` px) or ``"cifar10"`` (``root``:
    where torchvision downloads it; needs ``stylelab[torchvision]``). ``data``: an object with
    ``batch(n, generator, part)`` and ``names`` (unit tests)."""
    recipe = Recipe(kind, steps, batch, lr, seed, patch, tuple(widths), dataset, image_size).check()
    data = data if data is not None else sample_data(recipe, root)
    net = build(recipe, len(data.names))
    opt = torch.optim.Adam(net.parameters(), lr=recipe.lr)
    g = torch.Generator().manual_seed(recipe.seed)
    from tqdm.auto import tqdm

    losses = []
    net.train()
    for _ in tqdm(range(recipe.steps), desc=f"training {kind}", disable=not progress, leave=False):
        x, y = data.batch(recipe.batch, g, "train")
        loss = net.loss(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    net.eval()
    report = {"recipe": asdict(recipe), "classes": list(data.names), "final_loss": sum(losses[-20:]) / len(losses[-20:]),
              **evaluate(net, data, recipe)}
    return net, json.loads(json.dumps(report))  # as read() gives it back


@torch.no_grad()
def evaluate(net: nn.Module, data, recipe: Recipe, n: int = 512) -> dict:
    """The test score on ``n`` test patches (a fixed, seeded sample): the classifier's
    accuracy (and chance, 1 / classes), or the autoencoder's mean squared error."""
    x, y = data.batch(n, torch.Generator().manual_seed(12345), "test")
    if isinstance(net, PatchCNN):
        return {"test_accuracy": float((net(x).argmax(1) == y).float().mean()), "chance": 1 / len(data.names)}
    return {"test_mse": float(F.mse_loss(net(x), x))}


# --------------------------------------------------------------------------------------
# Saving and the cache, checked by sha256


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sidecar(path) -> Path:
    """``NAME.pt.sha256`` beside ``NAME.pt``: its sha256 in ``sha256sum``'s format."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def save(net: nn.Module, report: dict, path) -> Path:
    """Write ``net``'s weights and ``report`` to ``path`` and its sha256 sidecar, atomically.
    The sidecar is written first: an interrupted save leaves no file that would pass for a
    trained network."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    with config.atomic_file(path) as tmp:  # the network is moved in after its checksum file
        torch.save({"report": json.dumps(report), "state_dict": net.state_dict()}, tmp)
        with config.atomic_file(sidecar(path)) as side_tmp:
            side_tmp.write_text(f"{_sha256(tmp)}  {path.name}\n")
    return path


def read(path) -> tuple[nn.Module, dict]:
    """The network and report saved at ``path``, after checking its sha256 sidecar."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(f"trained network not found: {path}")
    side = sidecar(path)
    if not side.is_file():
        raise WeightsError(f"{path} has no sha256 sidecar {side.name}; stylelab loads only networks it can "
                           f"check (write one with `sha256sum {path.name} > {side.name}` if you trust the file)")
    expected = side.read_text().split()[0] if side.read_text().split() else ""
    actual = _sha256(path)
    if actual != expected:
        raise WeightsError(f"{path} does not match its sha256 sidecar ({actual[:12]}... != {expected[:12]}...): "
                           f"the file was changed or damaged; delete both files to train it again")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # never pass on torch's "weights_only=False will likely succeed"
        from .weights import safe_load_refusal

        raise WeightsError(f"refusing to load {path}: {safe_load_refusal(exc)}, so it was not written by stylelab; "
                           f"delete it (and {side.name}) and it will be retrained") from None
    except Exception as exc:  # noqa: BLE001 - a damaged file: the unpickler raises almost anything
        raise WeightsError(f"{path} is damaged ({type(exc).__name__}); delete it (and {side.name}) and it will be "
                           f"retrained") from None
    try:
        report = json.loads(obj["report"])
        recipe = Recipe(**{**report["recipe"], "widths": tuple(report["recipe"]["widths"])}).check()
        net = build(recipe, len(report["classes"]))
        net.load_state_dict(obj["state_dict"], strict=True)
    except Exception as exc:  # not a network saved by save(): say so, in one line
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise WeightsError(f"{path} is not a network saved by stylelab.networks.patchnet.save ({first})") from exc
    return net.eval(), report


def cache_path(recipe: Recipe) -> Path:
    return config.cache_dir("networks") / f"{recipe.kind}-{recipe.key()}.pt"


_LOADED: dict[tuple, VGG] = {}


def load(kind: str, *, path=None, steps: int = DEFAULT_STEPS, seed: int = 0, normalized: bool = True, device=None,
         progress: bool = True, **recipe) -> VGG:
    """The trained encoder of ``kind`` as a feature extractor (frozen, :class:`~stylelab.networks.vgg.VGG`).

    From ``path`` (a file :func:`save` wrote), else from the cache, else trained now
    (:func:`train` with ``steps``, ``seed`` and ``recipe``'s other settings) and cached.
    normalized: mean activation 1 per filter on the sample images (as the other extractors,
    :func:`stylelab.networks.weights.normalize_filters`)."""
    dev = config.resolve_device(device)
    if path is None:
        rec = Recipe(kind, steps=steps, seed=seed, **{k: (tuple(v) if k == "widths" else v)
                                                      for k, v in recipe.items()}).check()
        path = cache_path(rec)
        if not path.is_file():
            net, report = train(kind, progress=progress, **{k: v for k, v in asdict(rec).items() if k != "kind"})
            save(net, report, path)
    key = (str(Path(path).resolve()), Path(path).stat().st_mtime_ns if Path(path).is_file() else None, bool(normalized),
           str(dev))
    if key in _LOADED:
        return _LOADED[key]
    net, report = read(path)
    if report["recipe"]["kind"] != kind:
        raise WeightsError(f"{path} holds a {report['recipe']['kind']}, not a {kind}")
    model = net.features.freeze()
    r = report["recipe"]
    score = (f"test accuracy {report['test_accuracy']:.0%}" if "test_accuracy" in report
             else f"test MSE {report['test_mse']:.4f}")
    model.info.update({"weights": f"{kind} trained by stylelab ({r['steps']} steps on {r['dataset']}, seed {r['seed']}, "
                                  f"{score})", "features": kind, "path": str(path), "training": report})
    if normalized:
        from .weights import normalize_filters

        normalize_filters(model)
    model = model.to(dev)
    _LOADED[key] = model
    return model
