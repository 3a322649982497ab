"""Optical flow, warping, Ruder et al.'s reliability masks and temporal loss (stylelab.video.flow),
on synthetic motion whose true flow is known."""

from __future__ import annotations

import math

import pytest
import torch

from stylelab import clip as C
from stylelab import flow
from stylelab.errors import SettingsError

pytest.importorskip("cv2")


def smooth_image(h=48, w=64, seed=0, freq=0.5) -> torch.Tensor:
    """A smooth, textured RGB image (sums of random sinusoids), values in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    out = torch.zeros(3, h, w, dtype=torch.float64)
    for c in range(3):
        for _ in range(6):
            fx, fy, ph = (torch.rand(3, generator=g, dtype=torch.float64) * torch.tensor([freq, freq, 6.3])).tolist()
            out[c] += torch.sin(fx * xs + fy * ys + ph)
    out = (out - out.min()) / (out.max() - out.min())
    return out.unsqueeze(0).float()


def constant_flow(h, w, u, v) -> torch.Tensor:
    f = torch.zeros(1, 2, h, w)
    f[0, 0], f[0, 1] = u, v
    return f


def test_warp_by_a_whole_pixel_shift_is_exact_and_by_zero_is_the_identity():
    img = smooth_image()
    assert torch.allclose(flow.warp(img, constant_flow(48, 64, 0, 0)), img, atol=1e-6)
    out = flow.warp(img, constant_flow(48, 64, 3, -2))  # out(p) = img(p + (3, -2))
    assert torch.allclose(out[..., 2:, :-3], img[..., :-2, 3:], atol=1e-5)
    assert not torch.allclose(out, img, atol=1e-2)


def test_warp_by_a_subpixel_shift_interpolates():
    img = smooth_image()
    half = flow.warp(img, constant_flow(48, 64, 0.5, 0))
    mean = (img[..., :, :-1] + img[..., :, 1:]) / 2
    assert torch.allclose(half[..., :, :-1], mean, atol=1e-5)


def test_inside_marks_positions_that_leave_the_frame():
    m = flow.inside(constant_flow(10, 20, 3, 0))
    assert m.shape == (1, 1, 10, 20)
    assert m[..., :17].min() == 1 and m[..., 17:].max() == 0


@pytest.mark.parametrize("method", flow.METHODS)
def test_estimated_flow_recovers_a_known_translation(method):
    img = smooth_image(96, 128, seed=3)
    true = constant_flow(96, 128, 2.5, -1.5)


    a, b = flow.warp(img, true), img  # a(p) = b(p + true(p)): the flow a -> b is `true`
    w = flow.estimate(a, b, method)
    assert w.shape == (1, 2, 96, 128)
    interior = (slice(None), slice(None), slice(12, -12), slice(12, -12))
    epe = (w - true).pow(2).sum(1).sqrt()[interior[0], interior[2], interior[3]].mean()
    assert epe < 0.3, f"{method}: end-point error {epe:.3f} px"



def test_estimated_flow_on_the_synthetic_pan_is_close_to_the_true_flow():
    src = smooth_image(200, 260, seed=5)
    clip = C.synthetic(src, frames=3, size=96)
    for i in (1, 2):
        w = flow.estimate(clip.frames[i], clip.frames[i - 1])
        m = clip.masks[i][0, 0] > 0
        epe = (w - clip.flows[i]).pow(2).sum(1).sqrt()[0][m].mean()
        assert epe < 0.5, f"frame {i}: end-point error {epe:.3f} px over the unoccluded pixels"


def test_the_true_flow_of_the_synthetic_clip_warps_each_frame_onto_the_next():
    clip = C.synthetic(smooth_image(200, 260, seed=6, freq=0.1), frames=4, size=96)
    assert clip.flows[0] is None and len(clip.flows) == 4
    for i in range(1, 4):
        m = clip.masks[i]
        assert 0.8 < float(m.mean()) < 1.0  # the ball and the entering edge are masked out
        err = ((flow.warp(clip.frames[i - 1], clip.flows[i]) - clip.frames[i]).pow(2) * m).sum() / (3 * m.sum())
        moved = ((clip.frames[i - 1] - clip.frames[i]).pow(2) * m).sum() / (3 * m.sum())
        assert err.sqrt() < 0.01 < moved.sqrt(), (float(err.sqrt()), float(moved.sqrt()))


def test_consistent_flows_pass_ruders_check_and_inconsistent_ones_fail():
    h, w = 32, 40
    forward, backward = constant_flow(h, w, 2, 1), constant_flow(h, w, -2, -1)
    assert flow.disocclusions(forward, backward).sum() == 0
    assert flow.motion_boundaries(backward).sum() == 0
    c = flow.consistency(forward, backward)
    assert c[..., 1:, 2:].min() == 1  # only where p + w^(p) leaves the frame: the first 2 columns, first row
    assert c[..., :, :2].max() == 0 and c[..., 0, :].max() == 0
    # a patch where the backward flow does not undo the forward flow: disoccluded
    bad = backward.clone()
    bad[:, :, 10:20, 10:20] = torch.tensor([3.0, 0.0]).view(1, 2, 1, 1)
    d = flow.disocclusions(forward, bad)
    assert d[..., 12:18, 12:18].min() == 1 and d[..., 25:, 25:].max() == 0
    # thresholds: |w~ + w^|^2 = 0.25 is below 0.01 (|w~|^2 + |w^|^2) + 0.5, 1.0 is above
    assert flow.disocclusions(forward, constant_flow(h, w, -2.5, -1)).sum() == 0
    assert flow.disocclusions(forward, constant_flow(h, w, -3, -1))[..., 5:-5, 5:-5].min() == 1


def test_motion_boundaries_are_where_the_flow_jumps():
    b = constant_flow(20, 30, -1, 0)
    b[:, 0, :, 15:] = 2.0  # the right half moves the other way
    mb = flow.motion_boundaries(b)
    assert mb[..., 14:16].min() == 1  # central differences: the two columns at the jump
    assert mb[..., :13].max() == 0 and mb[..., 17:].max() == 0
    # a gentle gradient stays below 0.01 |w^|^2 + 0.002
    ramp = constant_flow(20, 30, 0, 0)
    ramp[0, 0] = torch.linspace(0, 0.5, 30)
    assert flow.motion_boundaries(ramp).sum() == 0


def test_temporal_loss_is_ruders_masked_mean_and_its_gradient_is_right():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 6, 7, dtype=torch.float64, requires_grad=True)
    omega = torch.rand(1, 3, 6, 7, dtype=torch.float64)
    c = (torch.rand(1, 1, 6, 7) > 0.3).double()
    value = flow.temporal_loss(x, omega, c)
    xd = x.detach()
    expected = sum(float(c[0, 0, i, j]) * float((xd[0, k, i, j] - omega[0, k, i, j]) ** 2)
                   for k in range(3) for i in range(6) for j in range(7)) / (3 * 6 * 7)
    assert math.isclose(float(value), expected, rel_tol=1e-12)
    assert torch.autograd.gradcheck(lambda t: flow.temporal_loss(t, omega, c), (x,))
    value.backward()
    assert torch.allclose(x.grad, 2 * c * (x - omega) / x.numel())  # zero where c = 0
    assert float(flow.temporal_loss(omega, omega, c)) == 0


def test_warp_is_differentiable_in_the_image():
    img = smooth_image(8, 9).double().requires_grad_(True)
    f = constant_flow(8, 9, 0.3, -0.7).double()
    assert torch.autograd.gradcheck(lambda t: flow.warp(t, f), (img,))


def test_bad_input_is_a_clear_error():
    img = smooth_image(16, 16)
    with pytest.raises(SettingsError, match="unknown optical flow"):
        flow.estimate(img, img, "lucas")
    with pytest.raises(SettingsError, match="differ in size"):
        flow.estimate(img, smooth_image(16, 20))
    with pytest.raises(SettingsError, match=r"\(1, 2, H, W\)"):
        flow.warp(img, torch.zeros(1, 3, 16, 16))
    with pytest.raises(SettingsError, match="flow is"):
        flow.warp(img, torch.zeros(1, 2, 8, 8))
    with pytest.raises(SettingsError, match=r"\(1, 3, H, W\)"):
        flow.estimate(img[0], img[0])
