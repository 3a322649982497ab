"""Masks from the pictures themselves, so the spatial-control lesson runs offline (no
segmentation network): sky versus the rest of a photograph, a line drawing by edge
detection, and a drawing's foreground (where the lines are) versus its background.

Each is a score per pixel, a threshold chosen by Otsu's method (the one that best
separates the score's histogram into two classes: Otsu, *A Threshold Selection Method
from Gray-Level Histograms*, IEEE SMC 1979), then a morphological opening and closing
(max/min pooling) that removes specks and fills small holes.

    sky = segment.sky_mask(photo)                 # (H, W) 0/1: the sky
    lines = segment.line_drawing(photo)           # (1, 3, H, W): black lines on white
    fg = segment.foreground_mask(lines)           # where the drawing has lines
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import SettingsError
from ..image import _as_batch


def _box_blur(x: torch.Tensor, k: int) -> torch.Tensor:
    """(1, C, H, W) averaged over a k x k window (edges replicated)."""
    if k <= 1:
        return x
    p = k // 2
    return F.avg_pool2d(F.pad(x, (p, k - 1 - p, p, k - 1 - p), mode="replicate"), k, stride=1)


def _gauss(x: torch.Tensor, sigma: float) -> torch.Tensor:
    if sigma <= 0:
        return x
    r = max(1, int(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (r, r, r, r), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """(1, 1, H, W) Rec. 601 luma of an RGB image in [0, 1]."""
    x = _as_batch(image).float()
    return (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)


def sobel(gray: torch.Tensor, directions: bool = False):
    """Gradient magnitude (1, 1, H, W) of a (1, 1, H, W) image with the 3 x 3 Sobel filters
    (``directions``: also the components gx, gy)."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=gray.dtype) / 8.0
    g = F.pad(gray, (1, 1, 1, 1), mode="replicate")
    gx = F.conv2d(g, kx.view(1, 1, 3, 3))
    gy = F.conv2d(g, kx.t().contiguous().view(1, 1, 3, 3))
    mag = torch.sqrt(gx ** 2 + gy ** 2)
    return (mag, gx, gy) if directions else mag


def _thin(mag: torch.Tensor, gx: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
    """Canny's non-maximum suppression: keep a pixel whose magnitude is no smaller than its
    two neighbours along the gradient (direction rounded to 0, 45, 90 or 135 degrees)."""
    p = F.pad(mag, (1, 1, 1, 1), mode="replicate")[0, 0]
    h, w = mag.shape[-2:]
    at = lambda dy, dx: p[1 + dy: 1 + dy + h, 1 + dx: 1 + dx + w]
    angle = torch.rad2deg(torch.atan2(gy, gx))[0, 0] % 180
    sector = ((angle + 22.5) // 45).long() % 4  # 0: horizontal gradient, 1: 45, 2: vertical, 3: 135
    pairs = [((0, -1), (0, 1)), ((-1, -1), (1, 1)), ((-1, 0), (1, 0)), ((-1, 1), (1, -1))]
    m = mag[0, 0]
    keep = torch.zeros_like(m, dtype=torch.bool)
    for k, (a, b) in enumerate(pairs):
        keep |= (sector == k) & (m >= at(*a)) & (m >= at(*b))
    return keep.view_as(mag)


def otsu_threshold(score: torch.Tensor, bins: int = 256) -> float:
    """Otsu's threshold: the value that maximises the between-class variance of ``score``."""
    v = score.detach().flatten().float()
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        return lo
    hist = torch.histc(v, bins=bins, min=lo, max=hi).double()
    p = hist / hist.sum()
    centres = torch.linspace(lo, hi, bins + 1, dtype=torch.float64)
    centres = (centres[:-1] + centres[1:]) / 2
    w0 = p.cumsum(0)
    mu = (p * centres).cumsum(0)
    between = (mu[-1] * w0 - mu) ** 2 / (w0 * (1 - w0)).clamp_min(1e-12)
    between[w0 >= 1 - 1e-12] = 0
    k = int(between.argmax())
    return float(centres[k] + (centres[1] - centres[0]) / 2)


def dilate(mask: torch.Tensor, k: int) -> torch.Tensor:
    """(H, W) 0/1 mask grown by a k x k square."""
    if k <= 1:
        return mask
    p = k // 2
    x = F.pad(mask.float().view(1, 1, *mask.shape[-2:]), (p, k - 1 - p, p, k - 1 - p), mode="replicate")
    return F.max_pool2d(x, k, stride=1)[0, 0]


def erode(mask: torch.Tensor, k: int) -> torch.Tensor:
    """(H, W) 0/1 mask shrunk by a k x k square."""
    return 1 - dilate(1 - mask.float(), k)


def clean(mask: torch.Tensor, k: int = 5) -> torch.Tensor:
    """A morphological opening (removes specks smaller than k px) then closing (fills holes)."""
    opened = dilate(erode(mask, k), k)
    return erode(dilate(opened, k), k)


def _z(x: torch.Tensor) -> torch.Tensor:
    return (x - x.mean()) / x.std().clamp_min(1e-6)


def sky_score(image: torch.Tensor) -> torch.Tensor:
    """(H, W) "skyness": bright, blue rather than red, smooth, and high in the picture
    (each standardised, summed; the position counts double so that a blue river or a
    white wall low in the picture stays out)."""
    x = _as_batch(image).float().cpu()
    h, w = x.shape[-2:]
    gray = luminance(x)
    smooth = -_box_blur(sobel(_gauss(gray, 0.7)), max(3, round(min(h, w) / 24)))
    blue = x[:, 2:3] - x[:, 0:1]
    height = torch.linspace(1, -1, h).view(1, 1, h, 1).expand(1, 1, h, w)
    return (_z(gray) + _z(blue) + _z(smooth) + 2 * _z(height))[0, 0]


def sky_mask(image: torch.Tensor, k: int | None = None) -> torch.Tensor:
    """(H, W) 0/1: the sky of a landscape photograph, from :func:`sky_score` thresholded by
    Otsu's method, cleaned (:func:`clean`, k x k; default ~ 1/25 of the shorter side) and
    kept where it is connected to the top edge (:func:`connected_to_top`).
    Crude on purpose: check it by eye (``sl.plot`` it) and draw your own mask if it fails."""
    score = sky_score(image)
    m = (score > otsu_threshold(score)).float()
    k = k or max(3, round(min(m.shape) / 25))
    return connected_to_top(clean(m, k))


def connected_to_top(mask: torch.Tensor) -> torch.Tensor:
    """The parts of an (H, W) 0/1 mask connected (8-neighbours) to its top row: the sky is
    open to the top of a picture, a pale wall below the roofs is not (a flood fill by
    repeated 3 x 3 dilation inside the mask)."""
    m = mask.float()
    seed = torch.zeros_like(m)
    seed[0] = m[0]
    for _ in range(m.numel()):
        grown = dilate(seed, 3) * m
        if torch.equal(grown, seed):
            break
        seed = grown
    return seed


def line_drawing(image: torch.Tensor, sigma: float = 1.0, quantile: float = 0.85) -> torch.Tensor:
    """A line drawing (1, 3, H, W): black lines on white where the Gaussian-smoothed
    luminance has a strong Sobel gradient that is a local maximum across the edge (a
    simple Canny: non-maximum suppression, one threshold), among the strongest
    ``1 - quantile`` of pixels."""
    if not 0 < quantile < 1:
        raise SettingsError(f"quantile must be in (0, 1), got {quantile}")
    mag, gx, gy = sobel(_gauss(luminance(image).cpu(), sigma), directions=True)
    lines = (mag > torch.quantile(mag.flatten(), quantile)) & _thin(mag, gx, gy)
    return (1 - lines.float()).expand(1, 3, *mag.shape[-2:]).contiguous()


def foreground_mask(drawing: torch.Tensor, k: int | None = None) -> torch.Tensor:
    """(H, W) 0/1: the foreground of a line drawing, where the lines are dense (the local
    density of dark pixels over a window of 1/5 of the shorter side, Otsu, cleaned)."""
    ink = 1 - luminance(drawing).cpu()
    h, w = ink.shape[-2:]
    density = _box_blur(ink, max(3, round(min(h, w) / 5)))[0, 0]
    m = (density > otsu_threshold(density)).float()
    k = k or max(3, round(min(h, w) / 12))
    return clean(m, k)


def overlay_lines(image: torch.Tensor, drawing: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
    """The drawing's dark lines laid over ``image`` (multiplied: white paper leaves it as is)."""
    x = _as_batch(image).float().cpu()
    ink = 1 - luminance(drawing).cpu()
    if tuple(ink.shape[-2:]) != tuple(x.shape[-2:]):
        raise SettingsError(f"drawing {tuple(ink.shape[-2:])} and image {tuple(x.shape[-2:])} differ in size")
    return (x * (1 - strength * ink)).clamp(0, 1)


def highlight(image: torch.Tensor, mask: torch.Tensor, dim: float = 0.3) -> torch.Tensor:
    """The image with everything outside an (H, W) mask dimmed to ``dim`` of its brightness,
    to show a region in a figure."""
    x = _as_batch(image).float().cpu()
    m = mask.detach().float().cpu().view(1, 1, *mask.shape[-2:])
    if tuple(m.shape[-2:]) != tuple(x.shape[-2:]):
        raise SettingsError(f"mask {tuple(m.shape[-2:])} and image {tuple(x.shape[-2:])} differ in size")
    return x * (dim + (1 - dim) * m)
