"""Optical flow, warping and the flow's reliability: what Ruder, Dosovitskiy & Brox,
"Artistic style transfer for videos" (GCPR 2016), need to carry a stylised frame over to
the next one.

    w = flow.estimate(frame_i, frame_prev)        # backward flow: frame i -> frame i-1
    w_f = flow.estimate(frame_prev, frame_i)      # forward flow:  frame i-1 -> frame i
    c = flow.consistency(w_f, w)                  # 1 where the flow can be trusted, 0 elsewhere
    carried = flow.warp(stylised_prev, w)         # Ruder's omega(x^(i-1)): the previous frame moved

Flows are tensors (1, 2, H, W) in pixels, channel 0 the horizontal u, channel 1 the
vertical v. ``w`` is "the flow from A to B" when the pixel p of A shows what B shows at
p + w(p); so warping B by it gives A's view: ``warp(B, w)(p) = B(p + w(p))``.

Ruder et al. compute DeepFlow and EpicFlow; stylelab uses OpenCV's DIS flow (Kroeger et
al. 2016, fast, on the CPU) or Farnebäck's, from the optional ``opencv-python-headless``
(``pip install "stylelab[video]"``). Everything else here is torch.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import SettingsError


#: The optical flow methods :func:`estimate` offers (both OpenCV's).
METHODS = ("dis", "farneback")
#: Ruder et al., Sec. 3.2 (disocclusions): |w~ + w^|^2 > A (|w~|^2 + |w^|^2) + B.
DISOCCLUSION = (0.01, 0.5)
#: Ruder et al., Sec. 3.2 (motion boundaries): |grad u^|^2 + |grad v^|^2 > A |w^|^2 + B.
MOTION_BOUNDARY = (0.01, 0.002)


def _cv2():
    try:
        import cv2
    except ImportError:
        raise SettingsError('optical flow needs OpenCV: pip install "stylelab[video]" '
                            "(opencv-python-headless)") from None
    return cv2


def has_opencv() -> bool:
    """Whether optical flow can be estimated here (the optional ``opencv-python-headless``)."""
    try:
        _cv2()
    except SettingsError:
        return False
    return True


def _grey(image: torch.Tensor) -> np.ndarray:
    if not isinstance(image, torch.Tensor) or image.dim() != 4 or image.shape[:2] != (1, 3):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise SettingsError(f"a frame must be an RGB image tensor (1, 3, H, W), got {shape}")
    rgb = image[0].detach().float().cpu().clamp(0, 1)
    y = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]  # Rec. 601 luma
    return (y * 255 + 0.5).to(torch.uint8).numpy()


def estimate(a: torch.Tensor, b: torch.Tensor, method: str = "dis") -> torch.Tensor:
    """The optical flow from frame ``a`` to frame ``b``: (1, 2, H, W) in pixels, with
    ``a(p) ~ b(p + w(p))`` (see the module). ``method``: ``"dis"`` (OpenCV's DIS flow, preset
    "medium") or ``"farneback"`` (Farnebäck's polynomial expansion), on the frames' luma."""
    if method not in METHODS:
        raise SettingsError(f"unknown optical flow method {method!r}; choose one of {METHODS}")
    ga, gb = _grey(a), _grey(b)
    if ga.shape != gb.shape:
        raise SettingsError(f"the two frames differ in size: {ga.shape[::-1]} and {gb.shape[::-1]} (W x H)")
    cv2 = _cv2()
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        w = dis.calc(ga, gb, None)
    else:
        w = cv2.calcOpticalFlowFarneback(ga, gb, None, pyr_scale=0.5, levels=4, winsize=15, iterations=5,
                                         poly_n=5, poly_sigma=1.1, flags=0)
    return torch.from_numpy(np.ascontiguousarray(w)).permute(2, 0, 1).unsqueeze(0).float()


def _check_flow(flow: torch.Tensor, like: torch.Tensor | None = None) -> None:
    if not isinstance(flow, torch.Tensor) or flow.dim() != 4 or flow.shape[:2] != (1, 2):
        shape = tuple(flow.shape) if isinstance(flow, torch.Tensor) else type(flow).__name__
        raise SettingsError(f"a flow must be a tensor (1, 2, H, W) of pixel offsets, got {shape}")
    if like is not None and tuple(like.shape[-2:]) != tuple(flow.shape[-2:]):
        raise SettingsError(f"the flow is {tuple(flow.shape[-2:])} (H, W) but the image "
                            f"{tuple(like.shape[-2:])}")


def _grid(flow: torch.Tensor) -> torch.Tensor:
    """grid_sample's grid (1, H, W, 2) for the positions p + w(p), align_corners=True."""
    _, _, h, w = flow.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=flow.dtype, device=flow.device),
                            torch.arange(w, dtype=flow.dtype, device=flow.device), indexing="ij")
    x = xs + flow[0, 0]
    y = ys + flow[0, 1]
    return torch.stack((2 * x / max(w - 1, 1) - 1, 2 * y / max(h - 1, 1) - 1), dim=-1).unsqueeze(0)


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Ruder et al.'s omega: ``image`` moved along ``flow``, ``out(p) = image(p + w(p))``,
    bilinear; positions outside the frame take the nearest border pixel (they are marked
    unreliable by :func:`inside`). Differentiable in ``image`` (and in ``flow``)."""
    _check_flow(flow, image)
    flow = flow.to(image.device, image.dtype)
    return F.grid_sample(image, _grid(flow), mode="bilinear", padding_mode="border", align_corners=True)


def inside(flow: torch.Tensor) -> torch.Tensor:
    """(1, 1, H, W): 1 where p + w(p) lies inside the frame (the other frame saw it), else 0."""
    _check_flow(flow)
    _, _, h, w = flow.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=flow.dtype), torch.arange(w, dtype=flow.dtype), indexing="ij")
    x, y = xs + flow[0, 0].cpu(), ys + flow[0, 1].cpu()
    return ((x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)).to(flow.dtype).view(1, 1, h, w)


def disocclusions(forward: torch.Tensor, backward: torch.Tensor) -> torch.Tensor:
    """(1, 1, H, W): 1 where Ruder et al.'s forward-backward check fails (Sec. 3.2),

        |w~ + w^|^2 > 0.01 (|w~|^2 + |w^|^2) + 0.5,

    with w^ the ``backward`` flow (frame i -> i-1) and w~ the ``forward`` flow (i-1 -> i)
    warped to frame i, w~(p) = w(p + w^(p)): where the two do not undo each other, the pixel
    of frame i was hidden in frame i-1."""
    _check_flow(forward)
    _check_flow(backward, forward)
    w_tilde = warp(forward, backward)
    a, b = DISOCCLUSION
    lhs = (w_tilde + backward).pow(2).sum(1, keepdim=True)
    return (lhs > a * (w_tilde.pow(2).sum(1, keepdim=True) + backward.pow(2).sum(1, keepdim=True)) + b).float()


def motion_boundaries(backward: torch.Tensor) -> torch.Tensor:
    """(1, 1, H, W): 1 on Ruder et al.'s motion boundaries (Sec. 3.2),

        |grad u^|^2 + |grad v^|^2 > 0.01 |w^|^2 + 0.002,

    w^ = (u^, v^) the ``backward`` flow; the gradients are central differences (one-sided at
    the frame's edge)."""
    _check_flow(backward)
    gy, gx = torch.gradient(backward[0], dim=(1, 2))  # each (2, H, W)
    grad2 = (gx.pow(2) + gy.pow(2)).sum(0)
    a, b = MOTION_BOUNDARY
    return (grad2 > a * backward[0].pow(2).sum(0) + b).float().view(1, 1, *backward.shape[-2:])


def consistency(forward: torch.Tensor, backward: torch.Tensor) -> torch.Tensor:
    """Ruder et al.'s weights c^(i-1,i) (Sec. 3.2): (1, 1, H, W), 0 at disocclusions, on motion
    boundaries and where the backward flow leaves the frame, 1 elsewhere."""
    bad = disocclusions(forward, backward) + motion_boundaries(backward) + (1 - inside(backward))
    return (bad == 0).float()


def temporal_loss(image: torch.Tensor, warped: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Ruder et al.'s short-term temporal loss (Sec. 3.2):

        L_temporal(x, omega, c) = 1/D sum_k c_k (x_k - omega_k)^2,

    x the frame being stylised, omega the previous stylised frame warped to it, c the
    per-pixel weights (:func:`consistency`, broadcast over the colour channels), D = 3 H W.
    Pixels in [0, 1] (Ruder et al.'s are 0..255: their weights are 255^2 times smaller)."""
    if image.shape != warped.shape:
        raise SettingsError(f"the frame {tuple(image.shape)} and the warped frame {tuple(warped.shape)} differ")
    return (weights.to(image) * (image - warped).pow(2)).sum() / image.numel()
