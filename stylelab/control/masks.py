"""Spatial control: each region of the image matched to its own style, with guided Gram
matrices (Gatys, Ecker, Bethge, Hertzmann & Shechtman, *Controlling Perceptual Factors
in Neural Style Transfer*, CVPR 2017, spatial control).

A region r is given by a mask on the generated image, T_r (white = inside), and on its
style image, one mask per style or a whole painting. At every style layer l the mask is
carried down to the layer's resolution, T_r^l, in one of the paper's two ways:

- ``method="downsample"``: T_r resized to the feature map (area average: a unit on the
  region's border gets the fraction of its block inside it);
- ``method="erode"``: only units whose receptive field (:func:`stylelab.networks.vgg.layer_table`)
  lies wholly inside the region are kept: the mask is eroded by the receptive field.
  Deep layers see most of a small image, so an eroded mask can become empty; that layer
  then uses the downsampled mask for that region (listed in :attr:`Guide.fallbacks`).

The guided Gram matrix of region r (the paper's, with F_r = T_r^l o F^l; here with
the mask's values as weights, F diag(T) F^T, which is the paper's for 0/1 masks), made an
average over the region's positions and scaled to the M_l positions of the layer, as the
engine's plain Grams are (:func:`stylelab.method.transfer.make_targets`):

    G_r^l = M_l / sum_k T_r^l[k] * F^l diag(T_r^l) (F^l)^T

so that a mask of ones gives the plain Gram F F^T (Eq. 3): one region is the plain run.
The style loss of a layer sums the regions' Eq. 4 (CVPR 2016) with region weights lambda_r
(E_l = sum_r lambda_r E_l,r, as in the 2017 paper); ``weights="area"`` (default) makes lambda_r
the fraction of the image region r covers (they sum to 1, so beta means what it means
without masks), ``"equal"`` 1/R, or a list.

Masks are images: a PNG per region (white = inside; grey above one half counts as
inside), a label map (one file; integer labels or distinct colours, one region per
value, in increasing order), a tensor (bool or float; (H, W), (1, H, W), (1, 1, H, W),
(R, H, W) or an RGB image) or a PIL image. A mask of another size than its image is
resized (area average, then the one-half threshold) with a :class:`MaskResizedWarning`
when the aspect ratios agree within 2 %; a different shape raises :class:`ImageError`.

    regions = masks.Regions([sky, town])                    # two styles, one per region
    sl.transfer(photo, [starry, scream], regions=regions)
    masks.Regions([sky, town], style_masks=[p_sky, p_town]) # or the parts of one painting

``variant="sums"``: the authors' code's other way (NeuralImageSynthesis, ``LossLayers.lua``: the
style loss's Gram matrix of the feature maps with the guidance channels appended), one Gram
matrix per layer of [F; T] (N + R rows): besides the plain Gram F F^T it holds, for each region,
the sum of each feature map over the region, F T_r^T, the "guided sums" (and the regions'
overlaps, T T^T). It matches the regions' mean responses, not their correlations, at the cost of
one Gram matrix; it takes one style image with a style mask per region (:func:`guided_sums`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
from pathlib import Path
from typing import Sequence
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ImageError, SettingsError
from ..method import losses


METHODS = ("downsample", "erode")
REGION_WEIGHTS = ("area", "equal")
#: ``"gram"``: one guided Gram matrix per region; ``"sums"``: the Gram matrix of the features with the
#: guidance channels appended (:func:`guided_sums`).
VARIANTS = ("gram", "sums")
#: Aspect ratios that differ by less than this are treated as the same picture (resized).
ASPECT_TOLERANCE = 0.02
#: A label map has at most this many distinct values (more: it is a photograph, not labels).
MAX_LABELS = 16


class MaskResizedWarning(UserWarning):
    """A mask had another size than its image and was resized to it."""


class MaskReadWarning(UserWarning):
    """A mask could be meant in two ways; the warning says how it was read."""


#: A mask file is shrunk as soon as it is decoded to this many times its image's size
#: (nearest pixel, so labels stay labels), then area-averaged to the image's size.
_EARLY_FACTOR = 4


# --------------------------------------------------------------------------------------
# Reading masks


def _from_pil(im) -> torch.Tensor:
    """A PIL image as (1, H, W) float in [0, 1] (colour: its luminance)."""
    from PIL import Image

    if im.mode in ("RGBA", "LA", "P", "PA"):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (0, 0, 0, 255))  # transparent = outside
        im = Image.alpha_composite(bg, im)
    arr = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr.copy()).unsqueeze(0)


def _check_aspect(mw: int, mh: int, size, name: str) -> None:
    h, w = int(size[0]), int(size[1])
    if abs(math.log((mw / mh) / (w / h))) > ASPECT_TOLERANCE:
        raise ImageError(f"{name} is {mw}x{mh} px but the image is {w}x{h} px: a different shape. "
                         f"Draw the mask on the image itself (same width and height)")


def _open(path, size: tuple[int, int] | None = None, name: str | None = None) -> "Image.Image":
    """A mask file as a PIL image, with the same safeguards as every other image
    (:func:`stylelab.image.load_pil`: at most :data:`stylelab.image.MAX_PIXELS` pixels, a
    one-line :class:`ImageError`). With ``size`` (H, W) a mask much larger than that is shrunk
    (nearest pixel) to :data:`_EARLY_FACTOR` times it right after decoding, before any copy
    or conversion; ``info["stored_size"]`` keeps the size in the file."""
    from PIL import Image, UnidentifiedImageError

    from ..image import _DECODE_ERRORS, MAX_PIXELS, _check_readable, _huge_images_allowed

    path = Path(path).expanduser()
    name = f"mask {path}" if not name else name if path.name in name else f"{name} ({path})"
    _check_readable(path)
    try:
        with _huge_images_allowed(), Image.open(path) as im:
            mw, mh = im.size
            if mw * mh > MAX_PIXELS:
                raise ImageError(f"{name} is {mw}x{mh} pixels, more than stylelab's limit of {MAX_PIXELS:,} pixels; "
                                 f"save the mask at the size of its image")
            if size is not None:
                _check_aspect(mw, mh, size, name)  # before decoding: a wrong shape is refused at once
            im.load()
            out = im
            if size is not None:
                h, w = int(size[0]), int(size[1])
                k = _EARLY_FACTOR
                if mw > k * w and mh > k * h:
                    out = im.resize((k * w, k * h), Image.Resampling.NEAREST)
            out = out.copy() if out is im else out
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{name} is larger than stylelab's limit of {MAX_PIXELS:,} pixels; save the mask at the "
                         f"size of its image") from exc
    except UnidentifiedImageError as exc:
        raise ImageError(f"{name} is not an image file (save the mask as a PNG: white = the region)") from exc
    except MemoryError as exc:
        raise ImageError(f"{name} ({mw}x{mh} px) is too large to decode here; save it at the size of its "
                         f"image") from exc
    except _DECODE_ERRORS as exc:
        raise ImageError(f"{name} is truncated or corrupt ({exc}); re-export it as a PNG") from exc
    out.info["stored_size"] = (mw, mh)
    return out


def _as_tensor(mask, size: tuple[int, int] | None = None, name: str | None = None) -> torch.Tensor:
    """Any accepted mask as a float tensor (R, H, W) in [0, 1] (not yet thresholded). A file
    is read with :func:`_open` (shrunk early towards ``size``)."""
    from PIL import Image

    if isinstance(mask, (str, Path)):
        mask = _open(mask, size, name)
    if isinstance(mask, Image.Image):
        return _from_pil(mask)
    if isinstance(mask, np.ndarray):
        mask = torch.from_numpy(np.ascontiguousarray(mask))
    if not isinstance(mask, torch.Tensor):
        raise ImageError(f"a mask must be an image file, a PIL image, an array or a tensor, got {type(mask).__name__}")
    m = mask.detach().cpu()
    if m.dtype == torch.bool:
        m = m.float()
    elif not m.is_floating_point():
        m = m.float() / (255.0 if m.max() > 1 else 1.0)
    m = m.float()
    if m.dim() == 4:
        if m.shape[0] != 1:
            raise ImageError(f"a mask tensor of 4 dimensions must be (1, C, H, W), got {tuple(m.shape)}")
        m = m[0]
    if m.dim() == 2:
        m = m.unsqueeze(0)
    if m.dim() != 3 or m.shape[-1] < 1 or m.shape[-2] < 1:
        raise ImageError(f"a mask must be (H, W), (R, H, W) or (1, C, H, W), got {tuple(mask.shape)}")
    if m.shape[0] == 3 and mask.dim() == 4:  # an RGB image tensor (1, 3, H, W): its luminance
        m = (0.299 * m[0] + 0.587 * m[1] + 0.114 * m[2]).unsqueeze(0)
    if not torch.isfinite(m).all():
        raise ImageError("the mask contains NaN or infinite values")
    return m.clamp(0, 1)


def load_mask(mask, size: tuple[int, int] | None = None, *, name: str = "mask") -> torch.Tensor:
    """One region: (H, W) float 0/1, white (> 1/2) = inside. ``size`` (H, W): resized to it
    (see the module's rules). Raises :class:`ImageError` for a file that is not an image."""
    stored = _stored_size(mask)
    m = _as_tensor(mask, size, name if isinstance(mask, (str, Path)) else None)
    if m.shape[0] != 1:
        raise ImageError(f"{name} has {m.shape[0]} channels; give one region per mask (or use label_map)")
    if isinstance(mask, (str, Path)):
        _warn_levels(m[0], name)
    return _fit(m, size, name, stored)[0]


def _stored_size(mask):
    """(w, h) as stored in a mask file (its header only), else None."""
    if not isinstance(mask, (str, Path)):
        return None
    from PIL import Image

    from ..image import _huge_images_allowed

    try:
        with _huge_images_allowed(), Image.open(Path(mask).expanduser()) as im:
            return im.size
    except Exception:  # noqa: BLE001 - _open says what is wrong with the file
        return None


def _warn_levels(m: torch.Tensor, name: str) -> None:
    """One region from a mask with three or more grey levels, each covering a real part of
    it, looks like a label map: say how it was read."""
    values, counts = torch.unique((m * 255).round(), return_counts=True)
    big = values[counts >= 0.01 * m.numel()]
    if len(big) >= 3:
        warnings.warn(f"{name} has {len(big)} grey levels; it is read as ONE region (lighter than half grey = "
                      f"inside). For a label map (one region per level) give one STYLE per level",
                      MaskReadWarning, stacklevel=3)


def label_map(source, size: tuple[int, int] | None = None, *, name: str = "label map") -> torch.Tensor:
    """Several regions from one image: (R, H, W) float 0/1, one region per distinct value
    (integer labels, grey levels or colours), in increasing order of the value (colours:
    of their (R, G, B)). At most :data:`MAX_LABELS` values."""
    from PIL import Image

    stored = None
    if isinstance(source, (str, Path)):
        source = _open(source, size, name)
        stored = source.info.get("stored_size")
    if isinstance(source, Image.Image):
        arr = np.asarray(source if source.mode in ("L", "I", "I;16") else source.convert("RGB"))
    elif isinstance(source, torch.Tensor):
        arr = source.detach().cpu().numpy()
        if arr.ndim == 4 and arr.shape[0] == 1:
            arr = arr[0]
        if arr.ndim == 3 and arr.shape[0] in (3, 4):
            arr = np.moveaxis(arr[:3], 0, -1)
    else:
        arr = np.asarray(source)
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        flat = arr[..., :3].reshape(-1, 3)
        values, inverse = np.unique(flat, axis=0, return_inverse=True)
    elif arr.ndim == 2:
        values, inverse = np.unique(arr.reshape(-1), return_inverse=True)
    else:
        raise ImageError(f"{name} must be an (H, W) array of labels or an RGB image, got shape {arr.shape}")
    if len(values) > MAX_LABELS:
        raise ImageError(f"{name} has {len(values)} distinct values; a label map has at most {MAX_LABELS} "
                         f"(one value or colour per region; save it as PNG, not JPEG, whose artefacts add colours)")
    h, w = arr.shape[:2]
    labels = torch.from_numpy(inverse.reshape(h, w).astype(np.int64))
    m = torch.stack([(labels == k).float() for k in range(len(values))])
    return _fit(m, size, name, stored)


def _fit(m: torch.Tensor, size: tuple[int, int] | None, name: str, stored=None) -> torch.Tensor:
    """Threshold (R, H, W) at 1/2; resize to ``size`` if needed (area average, warned).
    ``stored``: the (w, h) of the file, when it was shrunk as it was read."""
    if size is not None:
        h, w = int(size[0]), int(size[1])
        mh, mw = m.shape[-2:]
        if (mh, mw) != (h, w):
            _check_aspect(mw, mh, size, name)
            sw, sh = stored or (mw, mh)
            warnings.warn(f"{name} is {sw}x{sh} px, the image {w}x{h} px: resized (area average, then "
                          f"thresholded at 1/2)", MaskResizedWarning, stacklevel=3)
            m = _resize(m, (h, w))
    return (m > 0.5).float()


def _resize(m: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(R, H, W) masks resized to (h, w): area average down, bilinear up, thresholded at 1/2."""
    h, w = size
    if tuple(m.shape[-2:]) == (h, w):
        return (m > 0.5).float()
    down = m.shape[-2] >= h and m.shape[-1] >= w
    out = F.interpolate(m.unsqueeze(0).float(), size=(h, w), mode="area" if down else "bilinear",
                        **({} if down else {"align_corners": False}))[0]
    return (out > 0.5).float()


def as_masks(masks, size: tuple[int, int] | None = None, *, name: str = "mask") -> torch.Tensor:
    """Masks of every accepted form as one (R, H, W) 0/1 tensor: a list (one region each:
    files, PIL images, tensors), a label-map file, an (R, H, W) tensor."""
    if isinstance(masks, (list, tuple)):
        if not masks:
            raise SettingsError("no masks given")
        return torch.cat([load_mask(m, size, name=f"{name} {k + 1}").unsqueeze(0) for k, m in enumerate(masks)])
    if isinstance(masks, (str, Path)):
        return label_map(masks, size, name=f"{name} {masks}")
    return _fit(_as_tensor(masks), size, name)


def check_nonempty(m: torch.Tensor, name: str = "region") -> None:
    """:class:`SettingsError` if a region of (R, H, W) has no pixel."""
    for k, mk in enumerate(m):
        if float(mk.sum()) <= 0:
            raise SettingsError(f"{name} {k + 1} is empty (no white pixel): every region needs at least one pixel")


# --------------------------------------------------------------------------------------
# Masks at a layer


def downsample(m: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """(R, H, W) masks at a layer's (h, w): the area average of each unit's block (method (a))."""
    return F.adaptive_avg_pool2d(m.unsqueeze(0).float(), tuple(shape))[0]


def erode(m: torch.Tensor, shape: tuple[int, int], receptive_field: int, downsampling: int) -> torch.Tensor:
    """(R, H, W) 0/1 masks at a layer's (h, w), keeping only units whose receptive field lies
    inside the region (method (b)). A unit of a layer with stride ``downsampling`` sees a
    ``receptive_field`` window around its block; positions outside the image (zero padding)
    do not count as outside the region."""
    m = (m > 0.5).float().unsqueeze(0)
    k = max(1, receptive_field - downsampling + 1)
    k += 1 - k % 2  # odd, centred
    inside = -F.max_pool2d(-m, kernel_size=k, stride=1, padding=k // 2) if k > 1 else m  # min over the window
    block = -F.adaptive_max_pool2d(-inside, tuple(shape))  # min over the unit's block
    return (block > 0.5).float()[0]


def at_layer(m: torch.Tensor, shape: tuple[int, int], method: str = "downsample", receptive_field: int = 1,
             downsampling: int = 1) -> torch.Tensor:
    """The masks T_r^l of (R, H, W) ``m`` at a layer of (h, w) ``shape`` (see the module)."""
    if method == "downsample":
        return downsample(m, shape)
    if method == "erode":
        return erode(m, shape, receptive_field, downsampling)
    raise SettingsError(f"unknown mask method {method!r}; choose one of {METHODS}")


def guided_gram(features: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Guided Gram (2017): G_r = M / sum(T_r) * F diag(T_r) F^T for each of the R masks (R, h, w) at the
    layer of ``features`` (1, N, h, w); (R, N, N). A mask of ones gives the plain Gram."""
    _, n, h, w = features.shape
    if tuple(masks.shape[-2:]) != (h, w):
        raise SettingsError(f"masks of {tuple(masks.shape[-2:])} for features of {(h, w)}")
    f = features.reshape(1, n, h * w)
    t = masks.reshape(-1, 1, h * w).to(features)
    g = torch.matmul(f * t, f.transpose(1, 2))  # (R, N, N)
    return g * ((h * w) / t.sum(dim=(1, 2)).clamp_min(1e-12)).view(-1, 1, 1)


def guided_sums(features: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The authors' code's guided style statistic: the Gram matrix of the responses ``features``
    (1, N, h, w) with the R masks (R, h, w) appended as channels, (N + R, N + R): [[F F^T, F T^T],
    [T F^T, T T^T]]. Its block F T_r^T holds the sum of each feature map over region r (the
    "guided sums"); the block F F^T is the plain Gram (Eq. 3)."""
    _, n, h, w = features.shape
    if tuple(masks.shape[-2:]) != (h, w):
        raise SettingsError(f"masks of {tuple(masks.shape[-2:])} for features of {(h, w)}")
    x = torch.cat([features.reshape(n, h * w), masks.reshape(-1, h * w).to(features)], dim=0)
    return (x @ x.T).unsqueeze(0)


# --------------------------------------------------------------------------------------
# Regions for the engine


@dataclass
class Regions:
    """What :func:`stylelab.method.transfer.run`'s ``regions=`` takes: R masks on the generated image,
    optionally a mask per region on its style image, the method and the region weights.

    masks: anything :func:`as_masks` reads; on the generated image (any size with its aspect).
    style_masks: None (each region matched to the whole of style image r: R styles), or one
        mask per region on its style image (None: the whole image): with one style image,
        each region takes its own part of it (a label map of that image, or a list).
    method: ``"downsample"`` or ``"erode"`` (see the module). weights: lambda_r, ``"area"``,
        ``"equal"`` or a list of R numbers. variant: ``"gram"`` (a guided Gram matrix per region)
        or ``"sums"`` (:func:`guided_sums`; one style image with a style mask per region).
    """

    masks: object
    style_masks: object = None
    method: str = "downsample"
    weights: object = "area"
    names: Sequence[str] | None = None
    variant: str = "gram"

    def __post_init__(self):
        if self.method not in METHODS:
            raise SettingsError(f"unknown mask method {self.method!r}; choose one of {METHODS}")
        if self.variant not in VARIANTS:
            raise SettingsError(f"unknown guided variant {self.variant!r}; choose one of {VARIANTS}")
        self.masks = as_masks(self.masks, name="mask")
        check_nonempty(self.masks, "region")
        r = self.count
        if self.style_masks is not None:
            sm = self.style_masks
            if isinstance(sm, (str, Path)) or (isinstance(sm, torch.Tensor) and _as_tensor(sm).shape[0] > 1):
                sm = list(as_masks(sm, name="style mask"))
            if not isinstance(sm, (list, tuple)):
                sm = [sm]
            if len(sm) != r:
                raise SettingsError(f"{len(sm)} style masks for {r} regions: give one per region (None: the whole image)")
            self.style_masks = [None if s is None else load_mask(s, name=f"style mask {k + 1}") for k, s in enumerate(sm)]
            for k, s in enumerate(self.style_masks):
                if s is not None:
                    check_nonempty(s.unsqueeze(0), f"style mask of region {k + 1}:")
        if isinstance(self.weights, str):
            if self.weights not in REGION_WEIGHTS:
                raise SettingsError(f"unknown region weights {self.weights!r}; choose {REGION_WEIGHTS} or a list")
        else:
            w = [float(x) for x in self.weights]
            if len(w) != r:
                raise SettingsError(f"{len(w)} region weights for {r} regions")
            if any(not math.isfinite(x) or x < 0 for x in w) or not sum(w):
                raise SettingsError(f"region weights must be finite, >= 0 and not all zero, got {w}")
            self.weights = w
        if self.names is not None and len(self.names) != r:
            raise SettingsError(f"{len(self.names)} region names for {r} regions")
        if self.variant == "sums" and (self.style_masks is None or any(s is None for s in self.style_masks)):
            raise SettingsError("variant='sums' matches one style image's guided sums: give a style mask for every "
                                "region (style_masks=), on the one style image")

    @property
    def count(self) -> int:
        return int(self.masks.shape[0])

    def style_index(self, n_styles: int) -> list[int]:
        """Which style image each region is matched to: region r to style r (R styles), or
        all to the one style image when each region has a style mask."""
        r = self.count
        if n_styles == r:
            return list(range(r))
        if n_styles == 1 and self.style_masks is not None and all(s is not None for s in self.style_masks):
            return [0] * r
        raise SettingsError(f"{r} regions but {n_styles} style image(s): give one style image per region, or one "
                            f"style image with a style mask for each region")

    def at_size(self, size: tuple[int, int]) -> torch.Tensor:
        """The masks on a generated image of (H, W) ``size`` (nearest-area resize, 0/1)."""
        m = self.masks
        if tuple(m.shape[-2:]) == tuple(size):
            return m
        with warnings.catch_warnings():  # resizing to the stages' sizes is expected
            warnings.simplefilter("ignore", MaskResizedWarning)
            m = _fit(m, size, "mask")
        check_nonempty(m, f"at {size[1]}x{size[0]} px, region")
        return m

    def region_weights(self, size: tuple[int, int]) -> list[float]:
        """lambda_r (2017): ``"area"`` the fraction of the image each region covers."""
        if isinstance(self.weights, list):
            s = sum(self.weights)
            return [x / s for x in self.weights] if len(self.weights) > 1 else [self.weights[0]]
        if self.weights == "equal":
            return [1.0 / self.count] * self.count
        m = self.at_size(size)
        return [float(x) for x in m.flatten(1).mean(1)]

    def describe(self) -> dict:
        """JSON-able settings for :attr:`stylelab.method.transfer.Result.settings`."""
        m = self.masks
        return {"count": self.count, "method": self.method, "variant": self.variant,
                "names": list(self.names) if self.names else None,
                "weights": self.weights if isinstance(self.weights, (str, list)) else None,
                "mask_size": list(m.shape[-2:]), "coverage": [round(float(x), 4) for x in m.flatten(1).mean(1)],
                "style_masks": None if self.style_masks is None else [s is not None for s in self.style_masks],
                "paper": "Gatys et al., Controlling Perceptual Factors in Neural Style Transfer, CVPR 2017"}

    def guide(self, model, size: tuple[int, int], styles: Sequence[torch.Tensor], style_layers: Sequence[str],
              style_scale: str = "content") -> "Guide":
        """The guided style targets for a generated image of (H, W) ``size`` (without autograd)."""
        return guided_targets(model, size, self, styles, style_layers, style_scale)


def as_regions(regions) -> Regions:
    """``regions=`` of :func:`stylelab.method.transfer.run`: a :class:`Regions`, or masks for one."""
    return regions if isinstance(regions, Regions) else Regions(regions)


@dataclass
class Guide:
    """The style term of a guided run: per layer the masks T_r^l on the generated image's
    feature map (R, h, w), the target Grams A_r^l (R, N, N) and lambda_r (2017)."""

    masks: dict[str, torch.Tensor]
    grams: dict[str, torch.Tensor]
    weights: torch.Tensor  # (R,)
    fallbacks: list[dict] = field(default_factory=list)  # eroded masks that were empty
    variant: str = "gram"

    def layer_loss(self, layer: str, features: torch.Tensor, norm: str = "paper") -> torch.Tensor:
        """E_l = sum_r lambda_r E_l,r, each Eq. 4 on the guided Grams, in ``norm``'s scaling; with
        ``variant="sums"`` Eq. 4 on the one Gram matrix of :func:`guided_sums` (N the features')."""
        _, n, h, w = features.shape
        m = h * w
        if self.variant == "sums":
            g = guided_sums(features, self.masks[layer])
            factor = losses.style_factor(norm, n, m) / (4.0 * n * n * m * m)
            return (g - self.grams[layer]).pow(2).sum() * factor
        g = guided_gram(features, self.masks[layer])
        per_region = (g - self.grams[layer]).pow(2).sum(dim=(1, 2))
        factor = losses.style_factor(norm, n, m) / (4.0 * n * n * m * m)
        return (per_region * self.weights.to(per_region)).sum() * factor


def _layer_info(model, name: str):
    layer = model.layers[model._pos[name]]
    return layer.receptive_field, layer.downsampling


def _style_size(s: torch.Tensor, size: tuple[int, int], style_scale: str) -> tuple[int, int]:
    h, w = size
    if style_scale == "content":
        return h, w
    sh, sw = s.shape[-2:]
    if style_scale == "area":
        f = math.sqrt(h * w / (sh * sw))
        return max(1, round(sh * f)), max(1, round(sw * f))
    return int(sh), int(sw)


def guided_targets(model, size: tuple[int, int], regions: Regions, styles: Sequence[torch.Tensor],
                   style_layers: Sequence[str], style_scale: str = "content") -> Guide:
    """A_r^l = guided Gram (2017) of region r's style image under its style mask (a mask of
    ones if none), scaled to the generated image's M_l positions, for every style layer; and
    the generated image's masks T_r^l carried down to each layer by ``regions.method``."""
    from ..image import resize_to
    from ..method.targets import STYLE_SCALES

    if style_scale not in STYLE_SCALES:
        raise SettingsError(f"unknown style_scale {style_scale!r}; choose one of {STYLE_SCALES}")
    index = regions.style_index(len(styles))
    if regions.variant == "sums" and len(set(index)) != 1:
        raise SettingsError("variant='sums' matches one style image: give one style image with a style mask per "
                            "region")
    dev = next(model.parameters()).device
    h, w = size
    target = regions.at_size(size)
    masks: dict[str, torch.Tensor] = {}
    grams: dict[str, list] = {l: [] for l in style_layers}
    fallbacks: list[dict] = []
    for l in style_layers:
        rf, ds = _layer_info(model, l)
        shape = (h // ds, w // ds)
        mk = at_layer(target, shape, regions.method, rf, ds)
        if regions.method == "erode":
            empty = [k for k in range(len(mk)) if float(mk[k].sum()) == 0]
            if empty:
                soft = downsample(target, shape)
                for k in empty:
                    mk[k] = soft[k]
                    fallbacks.append({"layer": l, "region": k + 1})
        masks[l] = mk.to(dev)
    sums_masks: dict[int, torch.Tensor] = {}
    with torch.no_grad():
        feats_cache: dict[int, dict] = {}
        for r, si in enumerate(index):
            s = styles[si]
            ss = _style_size(s, size, style_scale)
            s = resize_to(s, ss) if tuple(s.shape[-2:]) != ss else s
            if si not in feats_cache:
                feats_cache[si] = model(s.to(dev), list(style_layers))
            feats = feats_cache[si]
            sm = regions.style_masks[r] if regions.style_masks is not None else None
            if sm is not None and tuple(sm.shape) != tuple(styles[si].shape[-2:]):
                raise ImageError(f"the style mask of region {r + 1} is {sm.shape[-1]}x{sm.shape[-2]} px but its "
                                 f"style image {styles[si].shape[-1]}x{styles[si].shape[-2]} px: draw it on the "
                                 f"style image at the size it is given")
            smask = torch.ones(1, *ss) if sm is None else _resize(sm.unsqueeze(0), ss)  # as the style image
            check_nonempty(smask, f"style mask of region {r + 1} at the style's size:")
            if regions.variant == "sums":  # all regions' style masks on the one style image, below
                sums_masks[r] = smask
                continue
            for l in style_layers:
                f_l = feats[l]
                rf, ds = _layer_info(model, l)
                t = at_layer(smask, tuple(f_l.shape[-2:]), regions.method, rf, ds)
                if float(t.sum()) == 0:
                    t = downsample(smask, tuple(f_l.shape[-2:]))
                    fallbacks.append({"layer": l, "region": r + 1, "style": True})
                m_s = f_l.shape[-1] * f_l.shape[-2]
                m_x = (h // ds) * (w // ds)
                grams[l].append(guided_gram(f_l, t.to(dev))[0] * (m_x / m_s))
    weights = torch.tensor(regions.region_weights(size), dtype=torch.float32, device=dev)
    if regions.variant == "sums":
        feats = feats_cache[index[0]]
        stacked = torch.cat([sums_masks[r] for r in range(len(index))], dim=0)  # (R, h_s, w_s)
        sums = {}
        for l in style_layers:
            f_l = feats[l]
            rf, ds = _layer_info(model, l)
            t = at_layer(stacked, tuple(f_l.shape[-2:]), regions.method, rf, ds)
            m_s = f_l.shape[-1] * f_l.shape[-2]
            m_x = (h // ds) * (w // ds)
            sums[l] = guided_sums(f_l, t.to(dev)) * (m_x / m_s)
        return Guide(masks, sums, weights, fallbacks, "sums")
    return Guide(masks, {l: torch.stack(g) for l, g in grams.items()}, weights, fallbacks)

