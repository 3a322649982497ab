"""Tests of the explorer's real-time mode (stylelab.explorer.realtime, issue 22) without a browser:
AdaIN behind sliders, on conftest's tiny random VGG-16 (relu4_1 has 16 channels) and a tiny random
decoder, with small generated images, so nothing is downloaded or trained."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from stylelab.errors import SettingsError, WeightsError
from stylelab.explorer.realtime import RealtimeExplorer
from stylelab.image import resize
from stylelab.realtime import adain, saved
from conftest import TINY_WIDTHS

pytestmark = pytest.mark.timeout(60) if hasattr(pytest.mark, "timeout") else []

SIZE = 32
TINY = adain.Architecture((8, 8, 4), 1)


class Counting:
    """The encoder, counting its calls (everything else is the VGG's)."""

    def __init__(self, model):
        self.model, self.calls = model, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.model(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.model, name)


class Slow(torch.nn.Module):
    """A decoder that takes its time: slider changes pile up while it works."""

    def __init__(self, decoder, seconds=0.05):
        super().__init__()
        self.decoder, self.seconds, self.in_channels = decoder, seconds, decoder.in_channels
        self.calls = 0

    def forward(self, t):
        self.calls += 1
        time.sleep(self.seconds)
        return self.decoder(t)


def _decoder(seed=0):
    torch.manual_seed(seed)
    return adain.Decoder(TINY, in_channels=TINY_WIDTHS[3]).eval()


def _images():
    g = torch.Generator().manual_seed(3)
    return {"photo": torch.rand(1, 3, 32, 32, generator=g), "wide": torch.rand(1, 3, 20, 30, generator=g),
            "a": torch.rand(1, 3, 32, 24, generator=g), "b": torch.rand(1, 3, 28, 32, generator=g)}


@pytest.fixture
def encoder(make_vgg):
    return Counting(make_vgg())


@pytest.fixture
def decoder():
    return _decoder()


def _explorer(encoder, decoder, **kw):
    kw = {"images": _images(), "samples": False, "photo": "photo", "paintings": ("a", "b"), "size": SIZE, **kw}
    ex = RealtimeExplorer(decoder, encoder, **kw)
    assert ex.wait(30), "the first picture was not made"
    assert ex.last_error is None, ex.last_error
    return ex


def _stylised(encoder, decoder, painting, alpha, photo="photo"):
    imgs = _images()
    return adain.stylise(encoder.model, decoder, resize(imgs[photo], SIZE), resize(imgs[painting], SIZE), alpha=alpha)


def test_the_first_picture_is_the_initial_settings(encoder, decoder):
    ex = _explorer(encoder, decoder, alpha=0.7)
    assert ex.picture.shape == (1, 3, 32, 32)
    assert ex.picture_settings == {"photo": "photo", "painting_a": "a", "painting_b": "b", "size": SIZE,
                                   "alpha": 0.7, "mix": 0.0}
    torch.testing.assert_close(ex.picture, _stylised(encoder, decoder, "a", 0.7))
    assert "updated in" in ex.timing.value and " s" in ex.timing.value
    assert ex.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert encoder.calls == 3  # the photograph and each painting, once


def test_moving_alpha_changes_the_picture(encoder, decoder):
    ex = _explorer(encoder, decoder, alpha=1.0)
    before, png = ex.picture.clone(), bytes(ex.image.value)
    ex.set(alpha=0.3, wait=True)
    assert ex.picture_settings["alpha"] == 0.3
    assert (ex.picture - before).abs().max() > 1e-3
    assert bytes(ex.image.value) != png
    torch.testing.assert_close(ex.picture, _stylised(encoder, decoder, "a", 0.3))


def test_alpha_zero_decodes_the_photograph(encoder, decoder):
    ex = _explorer(encoder, decoder)
    ex.set(alpha=0.0, wait=True)
    photo = resize(_images()["photo"], SIZE)
    expected = adain.decode(decoder, adain.encode(encoder.model, photo))
    torch.testing.assert_close(ex.picture, expected)
    ex.set(mix=0.6, wait=True)  # the paintings do not matter at alpha 0
    torch.testing.assert_close(ex.picture, expected)


def test_a_slider_change_never_calls_the_encoder(encoder, decoder):
    ex = _explorer(encoder, decoder)
    calls = encoder.calls
    for alpha, mix in ((0.2, 0.0), (0.5, 0.5), (0.9, 1.0), (0.0, 0.3)):
        ex.set(alpha=alpha, mix=mix, wait=True)
    assert encoder.calls == calls
    assert ex.renders >= 2
    ex.set(painting_b="photo", wait=True)  # a new painting is encoded once ...
    assert encoder.calls == calls + 1
    ex.set(mix=0.8, wait=True)
    ex.set(painting_b="b", wait=True)  # ... and an old one comes from the cache
    assert encoder.calls == calls + 1


@pytest.mark.parametrize("alpha", [1.0, 0.6])
def test_the_mix_at_its_ends_is_one_painting(encoder, decoder, alpha):
    ex = _explorer(encoder, decoder, alpha=alpha)
    ex.set(mix=0.0, wait=True)
    torch.testing.assert_close(ex.picture, _stylised(encoder, decoder, "a", alpha))
    ex.set(mix=1.0, wait=True)
    torch.testing.assert_close(ex.picture, _stylised(encoder, decoder, "b", alpha))
    ex.set(mix=0.5, wait=True)  # Eq. 15 in between: neither painting alone
    assert (ex.picture - _stylised(encoder, decoder, "a", alpha)).abs().max() > 1e-4
    assert (ex.picture - _stylised(encoder, decoder, "b", alpha)).abs().max() > 1e-4


def test_a_photograph_not_a_multiple_of_8_is_padded_and_cropped(encoder, decoder):
    ex = _explorer(encoder, decoder, photo="wide", alpha=0.8)
    assert ex.picture.shape[-2:] == resize(_images()["wide"], SIZE).shape[-2:]
    torch.testing.assert_close(ex.picture, _stylised(encoder, decoder, "a", 0.8, photo="wide"))


def test_fast_changes_end_on_the_last_values(encoder):
    slow = Slow(_decoder())
    ex = _explorer(encoder, slow)
    first = ex.renders
    values = [(i / 50, 1 - i / 50) for i in range(1, 41)]  # ends at (0.8, 0.2)
    for alpha, mix in values:  # faster than the decoder: most are dropped
        ex.alpha.value, ex.mix.value = alpha, mix
    shown = bytes(ex.image.value)
    assert ex.wait(30)
    assert ex.picture_settings["alpha"] == values[-1][0] and ex.picture_settings["mix"] == values[-1][1]
    torch.testing.assert_close(ex.picture, ex.stylise(alpha=values[-1][0], mix=values[-1][1]))
    assert bytes(ex.image.value) != shown
    assert ex.renders - first < len(values) // 2  # stale updates were dropped, not queued


def test_changes_from_another_thread_while_one_is_made(encoder):
    ex = _explorer(encoder, Slow(_decoder(), 0.02))
    done = threading.Event()

    def drag():
        for i in range(30):
            ex.alpha.value = (i % 10) / 10
        ex.alpha.value = 0.55
        done.set()

    threading.Thread(target=drag).start()
    assert done.wait(20) and ex.wait(30)
    assert ex.picture_settings["alpha"] == 0.55


def test_the_last_picture_stays_until_the_new_one_is_ready(encoder):
    slow = Slow(_decoder(), 0.3)
    ex = _explorer(encoder, slow)
    png, picture = bytes(ex.image.value), ex.picture
    ex.alpha.value = 0.25
    time.sleep(0.05)  # being made
    assert bytes(ex.image.value) == png and ex.picture is picture
    assert ex.wait(30) and bytes(ex.image.value) != png


def test_unthreaded_updates_at_once(encoder, decoder):
    ex = _explorer(encoder, decoder, threaded=False)
    ex.alpha.value = 0.4  # made in the widget's callback
    assert ex.picture_settings["alpha"] == 0.4
    torch.testing.assert_close(ex.picture, _stylised(encoder, decoder, "a", 0.4))


def test_a_bad_decoder_file_is_one_line(tmp_path, encoder):
    bad = tmp_path / "decoder.pt"
    bad.write_bytes(b"not a network")
    with pytest.raises(WeightsError) as info:
        RealtimeExplorer(bad, encoder, images=_images(), samples=False)
    assert "\n" not in str(info.value) and str(bad) in str(info.value)
    with pytest.raises(WeightsError, match="not found"):
        RealtimeExplorer(tmp_path / "missing.pt", encoder, images=_images(), samples=False)


def test_a_saved_decoder_file_is_read(tmp_path, encoder, decoder):
    path = saved.save(decoder, {"status": "done"}, tmp_path / "decoder.pt")
    ex = _explorer(encoder, str(path), alpha=0.5)
    torch.testing.assert_close(ex.picture, _stylised(encoder, decoder, "a", 0.5))


def test_a_decoder_for_another_encoder_is_refused(encoder):
    with pytest.raises(SettingsError, match="16"):
        RealtimeExplorer(adain.Decoder(TINY), encoder, images=_images(), samples=False)  # 512 channels


def test_an_image_that_cannot_be_loaded_is_one_red_line(encoder, decoder, monkeypatch):
    ex = _explorer(encoder, decoder)
    png = bytes(ex.image.value)

    def broken(name, size):
        raise SettingsError("cannot read it")

    monkeypatch.setattr(ex, "_load", broken)
    ex.set(size=128, wait=True)  # not cached at 128 px: it must be loaded
    assert ex.last_error == "cannot read it" and "⚠" in ex.message.value
    assert bytes(ex.image.value) == png  # the last picture stays


def test_the_menus_and_the_front_door(encoder, decoder):
    import stylelab.explorer as explorer

    assert explorer.RealtimeExplorer is RealtimeExplorer
    ex = _explorer(encoder, decoder)
    assert [v for _label, v in ex.photo.options] == ["photo", "wide", "a", "b"]
    assert ex.alpha.continuous_update and ex.mix.continuous_update
    with pytest.raises(SettingsError, match="unknown setting"):
        ex.set(beta=1)
    with pytest.raises(SettingsError, match="unknown photo"):
        RealtimeExplorer(decoder, encoder, images=_images(), samples=False, photo="nope")


def test_without_networks_the_vgg_and_the_student_decoder_are_loaded_on_first_use(make_vgg, monkeypatch):
    from stylelab.explorer import realtime
    from stylelab.networks import weights

    vgg, decoder, asked = make_vgg(), _decoder(), []
    monkeypatch.setattr(weights, "load_vgg", lambda *a, **k: asked.append("vgg") or vgg)
    monkeypatch.setattr(realtime, "student_decoder",
                        lambda model, profile, **k: asked.append(("decoder", model, profile)) or (decoder, {"r": 1}))
    ex = RealtimeExplorer(images=_images(), samples=False, photo="photo", paintings=("a", "b"), size=SIZE,
                          alpha=0.5)
    assert ex.wait(30) and ex.last_error is None, ex.last_error
    assert asked == ["vgg", ("decoder", vgg, "student")] and ex.decoder_report == {"r": 1}
    torch.testing.assert_close(ex.picture, adain.stylise(vgg, decoder, resize(_images()["photo"], SIZE),
                                                         resize(_images()["a"], SIZE), alpha=0.5))
    ex.set(alpha=0.1, wait=True)
    assert asked == ["vgg", ("decoder", vgg, "student")]  # once
