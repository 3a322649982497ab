"""Training the real-time networks: Johnson et al.'s transformation network for one painting
(:mod:`~stylelab.realtime.transformer`, the loss of :mod:`~stylelab.realtime.perceptual`) and
Huang & Belongie's AdaIN decoder for any painting (:mod:`~stylelab.realtime.adain`).

Both are trained with Adam on random crops of photographs (:class:`stylelab.realtime.photos.Crops`,
flipped at random), seeded: the same recipe on the same machine gives the same network. A
:class:`Recipe` holds every setting a network depends on, with the names and a hash of the images
it was trained on; :func:`johnson` and :func:`adain_decoder` look for a network trained with the
same recipe in the cache (``realtime/`` under the stylelab cache) before training one, and cache
what they train. The profiles (:data:`PROFILES`):

* ``quick``: a tiny network for tests and a first look (seconds);
* ``student``: the slim networks at 128 px crops, a few minutes each on a 2-core CPU (lessons 16-17);
* ``paper``: Johnson et al.'s network and schedule (40,000 steps of 4 crops of 256 px, Adam 1e-3) and
  Huang & Belongie's decoder (160,000 steps of 8, Adam 1e-4): a GPU's work.

Ctrl-C during training stops it after the current step; the network so far is returned with
``report["status"] = "interrupted"`` (and is not cached).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Mapping

import torch

from .. import config
from ..errors import SettingsError
from ..networks.vgg import PAPER_CONTENT_LAYER, PAPER_STYLE_LAYERS
from . import adain, saved, transformer
from .perceptual import PerceptualLoss
from .photos import Crops

NETWORKS = ("johnson", "adain")


@dataclass(frozen=True)
class Recipe:
    """Everything a trained network depends on; :meth:`key` names its cached file."""

    network: str  # "johnson" or "adain"
    widths: tuple[int, int, int]
    depth: int  # johnson: residual blocks; adain: convolutions in the decoder's block 3
    steps: int
    batch: int
    crop: int  # side of the square training crops, px
    size: int  # longest side of the photographs (and paintings) the crops are cut from, px
    lr: float
    norm: str = "instance"  # johnson only
    ratio: float = 1e-3  # johnson: alpha/beta
    tv_weight: float = 1e-3  # johnson
    style_weight: float = 10.0  # adain: lambda
    content_layer: str = PAPER_CONTENT_LAYER  # johnson
    style_layers: tuple[str, ...] = tuple(PAPER_STYLE_LAYERS)  # johnson
    seed: int = 0
    photos: tuple[str, ...] = ()
    styles: tuple[str, ...] = ()
    images: str = ""  # sha256 of the photographs' and paintings' pixels (filled in by _recipe)
    loss_network: str = ""  # the VGG's weights and normalisation

    def check(self) -> "Recipe":
        if self.network not in NETWORKS:
            raise SettingsError(f"unknown network {self.network!r}; choose one of {NETWORKS}")
        for name, v, lo in (("steps", self.steps, 1), ("batch", self.batch, 1), ("crop", self.crop, 32),
                            ("size", self.size, 32)):
            if not isinstance(v, int) or v < lo:
                raise SettingsError(f"{name} must be a whole number >= {lo}, got {v!r}")
        if self.crop > self.size:
            raise SettingsError(f"the crops ({self.crop} px) cannot be larger than the images ({self.size} px)")
        if not (0 < self.lr < 1):
            raise SettingsError(f"the learning rate must be between 0 and 1, got {self.lr}")
        self.architecture().check()
        return self

    def architecture(self):
        if self.network == "johnson":
            return transformer.Architecture(tuple(self.widths), self.depth, self.norm)
        return adain.Architecture(tuple(self.widths), self.depth)

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


#: The training profiles: (network, profile) -> the recipe's settings.
PROFILES: dict[tuple[str, str], dict] = {
    ("johnson", "quick"): dict(widths=(8, 16, 32), depth=2, steps=150, batch=2, crop=64, size=96, lr=2e-3),
    ("johnson", "student"): dict(widths=transformer.SLIM.widths, depth=transformer.SLIM.blocks, steps=600, batch=2,
                                 crop=128, size=256, lr=1e-3),
    ("johnson", "paper"): dict(widths=transformer.PAPER.widths, depth=transformer.PAPER.blocks, steps=40000, batch=4,
                               crop=256, size=512, lr=1e-3),
    ("adain", "quick"): dict(widths=(32, 16, 8), depth=1, steps=150, batch=2, crop=64, size=96, lr=2e-3),
    ("adain", "student"): dict(widths=adain.SLIM.widths, depth=adain.SLIM.repeats, steps=1200, batch=2, crop=128,
                               size=256, lr=5e-4),
    ("adain", "paper"): dict(widths=adain.PAPER.widths, depth=adain.PAPER.repeats, steps=160000, batch=8, crop=256,
                             size=512, lr=1e-4),
}


def profile(network: str, name: str, **overrides) -> dict:
    """The settings of training profile ``name`` for ``network``, with ``overrides``."""
    if (network, name) not in PROFILES:
        raise SettingsError(f"unknown training profile {name!r} for {network}; choose one of "
                            f"{sorted({p for n, p in PROFILES if n == network})}")
    unknown = set(overrides) - {f.name for f in Recipe.__dataclass_fields__.values()} - {"norm"}
    if unknown:
        raise SettingsError(f"unknown training setting(s) {', '.join(sorted(unknown))}")
    return {**PROFILES[(network, name)], **overrides}


#: The painting lesson 17 keeps from the AdaIN decoder's training, to judge it on a painting it never saw.
HELD_OUT_PAINTING = "great_wave"


def training_images(network: str, profile_name: str = "student", style: str | None = None,
                    size: int | None = None) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The standard training set of ``network`` as ``(photos, styles)``, at the profile's ``size``
    (so that the lessons, the CLI and the explorer share one cached network): the registry's
    training photographs (:mod:`stylelab.realtime.photos`) and, for ``"johnson"``, the sample
    image ``style``; for ``"adain"``, the sample paintings but :data:`HELD_OUT_PAINTING`, and the
    registry's textures."""
    from .. import data
    from . import photos

    size = int(size or profile(network, profile_name)["size"])
    train = photos.load_all("train", size=size)
    if network == "johnson":
        if style is None:
            raise SettingsError("a Johnson network needs the name of its painting (style=)")
        return train, {style: data.load(style, size=size)}
    if style is not None:
        raise SettingsError("the AdaIN decoder is trained on the standard paintings; style= is for a Johnson network")
    paintings = [n for n in data.names() if n not in photos.PHOTOS and n != HELD_OUT_PAINTING]
    styles = {n: data.load(n, size=size) for n in paintings}
    styles.update({f"texture: {n}": t for n, t in photos.load_all("texture", size=size).items()})
    return train, styles


def _hash_images(*groups: Mapping[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for g in groups:
        for name, t in g.items():
            h.update(name.encode())
            h.update(str(tuple(t.shape)).encode())
            h.update(t.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _loss_network(model) -> str:
    info = getattr(model, "info", {})
    return json.dumps({k: info.get(k) for k in ("arch", "weights", "pooling", "convention", "normalized")},
                      sort_keys=True, default=str)


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, dynamic_ncols=True)


@dataclass
class _Log:
    every: int
    history: list = field(default_factory=list)
    sums: dict = field(default_factory=dict)
    n: int = 0

    def add(self, step: int, terms: dict, started: float) -> None:
        for k, v in terms.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v)
        self.n += 1
        if self.n == self.every:
            self.history.append({"step": step, "seconds": time.perf_counter() - started,
                                 **{k: v / self.n for k, v in self.sums.items()}})
            self.sums, self.n = {}, 0


def _loop(net, recipe: Recipe, batch_loss: Callable[[torch.Generator], dict], progress: bool, callback, desc: str):
    """Adam over ``recipe.steps`` steps of ``batch_loss``; returns the report's training part."""
    opt = torch.optim.Adam(net.parameters(), lr=recipe.lr)
    log = _Log(every=max(1, min(50, recipe.steps // 20)))
    bar = _progress(recipe.steps, desc, progress)
    started = time.perf_counter()
    status, step = "done", 0
    try:
        for step in range(1, recipe.steps + 1):
            opt.zero_grad(set_to_none=True)
            terms = batch_loss(step)
            total = terms["total"]
            if not torch.isfinite(total):
                raise SettingsError(f"the training loss became {float(total)} at step {step}; lower the learning "
                                    f"rate (now {recipe.lr:g})")
            total.backward()
            opt.step()
            log.add(step, {k: v.detach() for k, v in terms.items()}, started)
            bar.update(1)
            if step % 10 == 0:
                bar.set_postfix(loss=f"{float(total.detach()):.3g}")
            if callback is not None:
                callback(step, net, terms)
    except KeyboardInterrupt:
        status, step = "interrupted", step - 1
    finally:
        bar.close()
    net.eval()
    wall = time.perf_counter() - started
    return {"status": status, "steps_done": step, "wall_time": wall,
            "seconds_per_step": wall / max(step, 1), "history": log.history,
            "threads": torch.get_num_threads()}


def _recipe(network: str, profile_name: str, model, photos: Mapping[str, torch.Tensor],
            styles: Mapping[str, torch.Tensor], seed: int, overrides: dict) -> Recipe:
    settings = profile(network, profile_name, **overrides)
    settings["widths"] = tuple(settings["widths"])
    settings["style_layers"] = tuple(settings.get("style_layers", PAPER_STYLE_LAYERS))
    return Recipe(network=network, seed=int(seed), photos=tuple(photos), styles=tuple(styles),
                  images=_hash_images(photos, styles), loss_network=_loss_network(model), **settings).check()


def cache_path(recipe: Recipe):
    return config.cache_dir("realtime") / f"{recipe.network}-{recipe.key()}.pt"


def _cached(recipe: Recipe, train: Callable[[], tuple], cache: bool):
    path = cache_path(recipe) if cache else None
    if path is not None and path.is_file():
        net, report = saved.read(path, recipe.network)
        report["cached"] = str(path)
        return net, report
    net, report = train()
    if path is not None and report["status"] == "done":
        saved.save(net, report, path)
    return net, report


def _check_images(what: str, images: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if not images:
        raise SettingsError(f"give at least one {what}")
    out = {}
    for name, t in images.items():
        if not (isinstance(t, torch.Tensor) and t.dim() == 4 and t.shape[:2] == (1, 3)):
            raise SettingsError(f"the {what} {name!r} must be an image tensor (1, 3, H, W)")
        out[name] = t
    return out


def johnson(model, style: Mapping[str, torch.Tensor], photos: Mapping[str, torch.Tensor], *, profile: str = "student",
            seed: int = 0, cache: bool = True, progress: bool = True, callback=None, precision=None,
            device=None, **overrides) -> tuple[torch.nn.Module, dict]:
    """A transformation network for the painting ``style`` (``{name: image}``), trained on crops
    of ``photos`` (``{name: image}``, each resized to the recipe's ``size``) with the perceptual
    loss on the loss network ``model`` (the lessons' VGG); cached. ``overrides``: any
    :class:`Recipe` field (``steps``, ``norm``, ``ratio``, ...). Returns ``(net, report)``."""
    from ..image import resize

    if len(style) != 1:
        raise SettingsError(f"a Johnson network learns one painting; got {len(style)}")
    recipe = _recipe("johnson", profile, model, _check_images("photograph", photos),
                     _check_images("painting", style), seed, overrides)
    dev = next(model.parameters()).device if device is None else config.resolve_device(device)

    def train():
        torch.manual_seed(recipe.seed)
        net = transformer.TransformNet(recipe.architecture()).to(dev).train()
        ((style_name, style_image),) = style.items()
        loss = PerceptualLoss(model, resize(style_image, recipe.size).to(dev), ratio=recipe.ratio,
                              content_layer=recipe.content_layer, style_layers=recipe.style_layers,
                              tv_weight=recipe.tv_weight, precision=precision)
        crops = Crops([resize(p, recipe.size) for p in photos.values()], recipe.crop, seed=recipe.seed)

        def batch_loss(step):
            x = crops.batch(recipe.batch).to(dev)
            return loss(net(x), x)

        report = _loop(net, recipe, batch_loss, progress, callback, f"training a Johnson network ({style_name})")
        return net.cpu(), {"recipe": asdict(recipe), **report, **net.describe()}

    return _cached(recipe, train, cache)


def adain_decoder(model, photos: Mapping[str, torch.Tensor], styles: Mapping[str, torch.Tensor], *,
                  profile: str = "student", seed: int = 0, cache: bool = True, progress: bool = True, callback=None,
                  precision=None, device=None, **overrides) -> tuple[torch.nn.Module, dict]:
    """An AdaIN decoder for the encoder ``model`` (the lessons' VGG, to relu4_1), trained on crops
    of ``photos`` paired at random with crops of the paintings (and textures) ``styles``; cached."""
    from ..image import resize

    recipe = _recipe("adain", profile, model, _check_images("photograph", photos),
                     _check_images("painting", styles), seed, overrides)
    dev = next(model.parameters()).device if device is None else config.resolve_device(device)

    def train():
        torch.manual_seed(recipe.seed)
        # the decoder reads the encoder's relu4_1 responses: as many channels as that layer has
        in_channels = model.layers[model._pos[adain.ENCODER_LAYER]].channels
        net = adain.Decoder(recipe.architecture(), in_channels).to(dev).train()
        content = Crops([resize(p, recipe.size) for p in photos.values()], recipe.crop, seed=recipe.seed)
        style = Crops([resize(s, recipe.size) for s in styles.values()], recipe.crop, seed=recipe.seed + 1)

        def batch_loss(step):
            return adain.loss(model, net, content.batch(recipe.batch).to(dev), style.batch(recipe.batch).to(dev),
                              recipe.style_weight, precision)

        report = _loop(net, recipe, batch_loss, progress, callback, "training an AdaIN decoder")
        return net.cpu(), {"recipe": asdict(recipe), **report, **net.describe()}

    return _cached(recipe, train, cache)


def recipe_of(report: dict) -> Recipe:
    """The :class:`Recipe` recorded in a saved network's report."""
    r = dict(report["recipe"])
    r["widths"] = tuple(r["widths"])
    r["style_layers"] = tuple(r["style_layers"])
    r["photos"], r["styles"] = tuple(r["photos"]), tuple(r["styles"])
    return Recipe(**r)


def minutes(report: dict) -> float:
    """The training's wall time in minutes (from a report)."""
    return report["wall_time"] / 60.0


__all__ = ["Recipe", "PROFILES", "profile", "johnson", "adain_decoder", "cache_path", "recipe_of", "minutes"]
