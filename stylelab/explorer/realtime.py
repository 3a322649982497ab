"""The explorer's real-time mode (issue 22): AdaIN behind sliders (Huang & Belongie, *Arbitrary
Style Transfer in Real-time with Adaptive Instance Normalization*, ICCV 2017).

    from stylelab.explorer import RealtimeExplorer
    RealtimeExplorer().display()        # the first call trains the student decoder (minutes), cached after

Choose a photograph (the sample images and the held-out photographs of
:mod:`stylelab.realtime.photos`, which the decoder never saw), two paintings (the sample
paintings and the textures) and move the sliders:

- **alpha**, the content-style trade-off of Eq. 14: t = alpha AdaIN(f(c), f(s)) + (1 - alpha) f(c);
  0 gives the decoded photograph, 1 the full style;
- **A ↔ B**, the interpolation between the two paintings of Eq. 15: weights (1 - m, m), so 0 is
  painting A alone and 1 painting B alone.

Why it is fast: the encoder f (the kit's VGG to relu4_1) runs once per image and size; its
responses are cached (``(name, size)`` -> relu4_1), so a slider change runs only
:func:`~stylelab.realtime.adain.mix` and the decoder g (:func:`~stylelab.realtime.adain.decode`),
never the encoder. Changing a menu encodes the new image once.

Updates run in a background thread, latest wins: while a picture is being made, further slider
changes only mark the picture as out of date, and the next picture is made from the sliders' values
at that moment; the values in between are dropped (ipywidgets has no debounce of its own, and its
front end merges queued changes only while the kernel is busy, which a background thread avoids).
The last picture stays on screen until the new one is ready; the line under it says how long the
update took ("updated in 0.12 s"). Errors (an image that cannot be loaded, a decoder made for another
encoder) are one red line in the widget.

Everything is also a method, for scripts and tests: :meth:`RealtimeExplorer.set`,
:meth:`~RealtimeExplorer.wait`, :attr:`~RealtimeExplorer.picture`, :meth:`~RealtimeExplorer.stylise`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import html
import logging
import os
import threading
import time
import traceback
from typing import Any

import ipywidgets as widgets
import torch
from torch import nn

from ..errors import SettingsError, StylelabError
from ..image import resize
from ..realtime import adain, saved
from .common import _GREEN, _GREY, _RED, INPUT_THUMB, _is_oom, _placeholder, png_bytes


__all__ = ["RealtimeExplorer", "student_decoder", "SIZES"]

W = widgets
log = logging.getLogger(__name__)
#: The sizes (longest side, px) the size menu offers; the issue's target is 256 px.
SIZES = (128, 192, 256, 384, 512)
PICTURE_WIDTH = 384  # px on screen
_DW = {"description_width": "80px"}
_TEXTURE = "texture: "  # menu labels
_HELD_OUT = "held-out photo: "


def student_decoder(model: nn.Module, profile: str = "student", *, progress: bool = False,
                    callback=None) -> tuple[nn.Module, dict]:
    """The explorer's default AdaIN decoder for the encoder ``model``:
    :func:`stylelab.realtime.training.adain_decoder` with the training profile ``profile`` on its
    standard set (:func:`stylelab.realtime.training.training_images`: the training photographs
    paired with the sample paintings but lesson 17's held-out one, and the textures; the held-out
    photographs and painting are never trained on), the same network lesson 17 and ``stylelab
    train --network adain`` train. The first call trains it
    (``student``: a few minutes on a 2-core CPU); it is cached after (``realtime/`` under the
    stylelab cache) and read back in a second. Returns ``(decoder, report)``."""
    from ..realtime import training

    train, styles = training.training_images("adain", profile)
    return training.adain_decoder(model, train, styles, profile=profile,
                                  progress=progress, callback=callback)


class RealtimeExplorer:
    """An ipywidgets explorer of AdaIN: alpha and the mix of two paintings on sliders.

    decoder: an AdaIN decoder (a module, e.g. :class:`stylelab.realtime.adain.Decoder`) or the path
        of one saved by ``stylelab train`` (read with :func:`stylelab.realtime.saved.read`; a file
        that is not one is a :class:`~stylelab.errors.WeightsError` here, in one line); None: the
        cached student decoder of :func:`student_decoder`, trained on the first use (minutes, once;
        the status line counts the steps) and cached after.
    model: the encoder, a :class:`~stylelab.networks.vgg.VGG` (tests pass a tiny random one; the
        decoder's ``in_channels`` must equal its relu4_1 channels); None: loaded on first use with
        :func:`stylelab.networks.weights.load_vgg` from ``weights`` (None: ``STYLELAB_WEIGHTS``) on
        ``device``. A decoder must be used with the encoder it was trained with.
    images: extra in-memory images ``{name: (1, 3, H, W) tensor}`` offered in all three menus;
        samples: offer the sample images, the held-out photographs and the textures (True) or only
        ``images`` (False).
    photo, paintings: the initial choices (names in the menus); size: the longest side in px;
        alpha, mix: the sliders' initial values.
    threaded: make the pictures in a background thread (latest wins; the default); False makes
        each one in the widget's callback (scripts).

    The widgets are attributes (``photo``, ``painting_a``, ``painting_b``, ``size``, ``alpha``,
    ``mix``, ``image``, ``timing``, ``message``); :attr:`widget` is the whole box.
    """

    def __init__(self, decoder: nn.Module | str | os.PathLike | None = None, model: nn.Module | None = None, *,
                 weights=None, device=None, images: Mapping[str, torch.Tensor] | None = None,
                 samples: bool = True, photo: str | None = None, paintings: Sequence[str] | None = None,
                 size: int = 256, alpha: float = 1.0, mix: float = 0.0, profile: str = "student",
                 threaded: bool = True):
        if decoder is not None and not isinstance(decoder, nn.Module):
            decoder, _report = saved.read(decoder, kind="adain")  # WeightsError, one line
        self._decoder = decoder
        self._model = model
        self._weights = weights
        self._device = device
        self._profile = profile
        self._threaded = bool(threaded)
        self.decoder_report: dict | None = None
        self.last_error: str | None = None
        self.last_traceback: str | None = None
        #: The picture on screen, (1, 3, H, W) in [0, 1] (None before the first).
        self.picture: torch.Tensor | None = None
        #: The settings it was made from (``photo``, ``painting_a``, ``painting_b``, ``size``, ``alpha``, ``mix``).
        self.picture_settings: dict | None = None
        #: Seconds the last update took (mix + decode + showing it; encoding too if a menu changed).
        self.update_seconds: float | None = None
        #: How many pictures were made (updates that were overtaken by later ones are not made).
        self.renders = 0
        self._features: dict[tuple[str, int, bool], tuple[torch.Tensor, tuple[int, int]]] = {}
        self._thumbs: dict[str, bytes] = {}
        self._images = {str(k): _check_image(v, str(k)) for k, v in (images or {}).items()}
        self._sources = self._menu_sources(bool(samples))
        self._compute = threading.RLock()  # one picture (and one network load) at a time
        self._cond = threading.Condition()
        self._requested = self._served = 0
        self._thread: threading.Thread | None = None
        self._build(photo, paintings, size, alpha, mix)
        if self._model is not None and self._decoder is not None:
            _check_pair(self._model, self._decoder)
        self._request()

    # ------------------------------------------------------------------ menus

    def _menu_sources(self, samples: bool) -> dict[str, tuple[str, str]]:
        """name -> (menu: "photo" | "painting" | "both", source: "memory" | "sample" | "photos")."""
        out: dict[str, tuple[str, str]] = {}
        if samples:
            from .. import data
            from ..realtime import photos

            pictures = {*photos.names("held_out"), *photos.names("train")}  # photographs, not textures
            for n in data.names():
                out[n] = ("both", "sample")  # a painting may be stylised too
            for n in photos.names("held_out"):
                out.setdefault(n, ("photo", "photos"))
            for n in photos.names("texture"):
                out.setdefault(n, ("painting", "photos"))
            self._photographs = pictures
        else:
            self._photographs = set()
        for n in self._images:
            out[n] = ("both", "memory")
        return out

    def _options(self, menu: str) -> list[tuple[str, str]]:
        opts = []
        for name, (where, source) in self._sources.items():
            if where not in (menu, "both"):
                continue
            label = name.replace("_", " ")
            if source == "photos":
                label = (_HELD_OUT if where == "photo" else _TEXTURE) + label
            opts.append((label, name))
        # the photographs first in the photograph menu, last in the paintings' (sorted is stable)
        return sorted(opts, key=lambda o: (o[1] in self._photographs) == (menu == "painting"))

    # ------------------------------------------------------------------ widgets

    def _build(self, photo, paintings, size, alpha, mix) -> None:
        photo_opts, painting_opts = self._options("photo"), self._options("painting")
        if not photo_opts or not painting_opts:
            raise SettingsError("no images to offer: pass images={name: tensor} or samples=True")
        photo_names = [v for _l, v in photo_opts]
        painting_names = [v for _l, v in painting_opts]
        if photo is None:
            photo = "tubingen" if "tubingen" in photo_names else photo_names[0]
        if paintings is None:
            rest = [n for n in painting_names if n != photo] or painting_names
            paintings = [n for n in ("starry_night", "the_scream") if n in rest] or rest[:2]
        paintings = list(paintings) + list(paintings)[-1:] * (2 - len(paintings))
        for which, name, names in (("photo", photo, photo_names), ("painting", paintings[0], painting_names),
                                   ("painting", paintings[1], painting_names)):
            if name not in names:
                raise SettingsError(f"unknown {which} {name!r}; choose one of {names}")
        size = int(size)
        sizes = sorted({*SIZES, size})
        for what, v in (("alpha", alpha), ("mix", mix)):
            if not 0.0 <= float(v) <= 1.0:
                raise SettingsError(f"{what} must be between 0 and 1, got {v}")

        self.photo = W.Dropdown(options=photo_opts, value=photo, description="photograph", style=_DW,
                                layout=W.Layout(width="300px"))
        self.painting_a = W.Dropdown(options=painting_opts, value=paintings[0], description="painting A",
                                     style=_DW, layout=W.Layout(width="300px"))
        self.painting_b = W.Dropdown(options=painting_opts, value=paintings[1], description="painting B",
                                     style=_DW, layout=W.Layout(width="300px"))
        self.size = W.Dropdown(options=[(f"{s} px", s) for s in sizes], value=size, description="size",
                               style=_DW, layout=W.Layout(width="180px"))
        # continuous_update: the picture follows the slider while it is dragged (an update is well
        # under half a second); the worker drops the values it has no time for.
        self.alpha = W.FloatSlider(value=float(alpha), min=0.0, max=1.0, step=0.01, description="alpha",
                                   continuous_update=True, readout_format=".2f", style=_DW,
                                   layout=W.Layout(width="400px"))
        self.mix = W.FloatSlider(value=float(mix), min=0.0, max=1.0, step=0.01, description="A ↔ B",
                                 continuous_update=True, readout_format=".2f", style=_DW,
                                 layout=W.Layout(width="400px"))
        self.thumbs = {k: W.Image(value=_placeholder("…", (96, 72)), format="png",
                                  layout=W.Layout(width=f"{INPUT_THUMB}px")) for k in ("photo", "painting_a", "painting_b")}
        self.image = W.Image(value=_placeholder("loading…", (256, 192)), format="png",
                             layout=W.Layout(width=f"{PICTURE_WIDTH}px"))
        self.timing = W.HTML(f"<span style='color:{_GREY}'>—</span>")
        self.message = W.HTML("")
        for w in (self.photo, self.painting_a, self.painting_b, self.size, self.alpha, self.mix):
            w.observe(self._on_change, names="value")
        left = W.VBox([
            W.HBox([self.photo, self.thumbs["photo"]]),
            W.HBox([self.painting_a, self.thumbs["painting_a"]]),
            W.HBox([self.painting_b, self.thumbs["painting_b"]]),
            self.size,
            W.HTML(f"<span style='color:{_GREY}'>alpha: the content-style trade-off (Eq. 14; 0 = the "
                   f"photograph); A ↔ B: the mix of the paintings (Eq. 15)</span>"),
            self.alpha, self.mix,
        ], layout=W.Layout(width="520px"))
        right = W.VBox([self.image, self.timing])
        self.widget = W.VBox([
            W.HTML("<h3 style='margin:0 0 4px 0'>stylelab real-time explorer: AdaIN (Huang &amp; Belongie "
                   "2017)</h3>"),
            W.HBox([left, right]),
            self.message,
        ])
        self.widget.add_class("stylelab-explorer-realtime")

    def display(self) -> None:
        """Show the explorer in the notebook."""
        from IPython.display import display

        display(self.widget)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    # ------------------------------------------------------------------ scripting

    def settings(self) -> dict:
        """What the widgets show now."""
        return {"photo": self.photo.value, "painting_a": self.painting_a.value, "painting_b": self.painting_b.value,
                "size": int(self.size.value), "alpha": float(self.alpha.value), "mix": float(self.mix.value)}

    def set(self, *, wait: bool = False, timeout: float | None = 60.0, **values) -> None:
        """Set widgets by name (``alpha=0.5, mix=1, photo="chelsea"``), as a student would; with
        ``wait=True`` return once the picture shows them."""
        unknown = set(values) - set(self.settings())
        if unknown:
            raise SettingsError(f"unknown setting(s) {sorted(unknown)}; choose from {sorted(self.settings())}")
        for key, value in values.items():
            getattr(self, key).value = value
        if wait:
            self.wait(timeout)

    def wait(self, timeout: float | None = 60.0) -> bool:
        """Block until the picture shows the widgets' latest values; True if it does."""
        with self._cond:
            return self._cond.wait_for(lambda: self._served == self._requested and self._thread is None, timeout)

    def features(self, name: str, size: int, photo: bool = False) -> tuple[torch.Tensor, tuple[int, int]]:
        """The relu4_1 responses of the menu's image ``name`` at ``size`` px (and its (H, W)), encoded
        on the first call and cached. A photograph is reflection-padded to a multiple of 8, as
        :func:`~stylelab.realtime.adain.stylise` does (the picture is cropped back)."""
        key = (name, int(size), bool(photo))
        with self._compute:
            if key not in self._features:
                encoder, _decoder = self._networks()
                image = self._load(name, int(size))
                dev = next(encoder.parameters()).device
                x, shape = adain.pad8(image.to(dev)) if photo else (image.to(dev), tuple(image.shape[-2:]))
                with torch.no_grad():
                    self._features[key] = (adain.encode(encoder, x), shape)
            return self._features[key]

    def stylise(self, **settings) -> torch.Tensor:
        """The picture for ``settings`` (default: the widgets' values), made now in this thread
        without touching the widgets: the cached encodings, then mix and decode."""
        s = {**self.settings(), **settings}
        with self._compute:
            _encoder, decoder = self._networks()
            fc, shape = self.features(s["photo"], s["size"], photo=True)
            fa, _ = self.features(s["painting_a"], s["size"])
            fb, _ = self.features(s["painting_b"], s["size"])
            m = float(s["mix"])
            t = adain.mix(fc, [fa, fb], [1.0 - m, m], float(s["alpha"]))
            return adain.decode(decoder, t, shape)

    # ------------------------------------------------------------------ networks, images

    def _networks(self) -> tuple[nn.Module, nn.Module]:
        with self._compute:
            if self._model is None:
                self._status("loading the network (downloaded on first use)…")
                from ..networks.weights import load_vgg

                self._model = load_vgg(self._weights, device=self._device, progress=False)
            if self._decoder is None:
                from ..realtime import training

                self._status("reading the student decoder (the first time: training it, a few minutes)…")
                total = training.profile("adain", self._profile)["steps"]

                def callback(step, net, terms):
                    if step % 10 == 0 or step == 1:
                        self._status(f"training the AdaIN decoder (once; cached after): step {step}/{total}, "
                                     f"loss {float(terms['total'].detach()):.3g}")

                decoder, self.decoder_report = student_decoder(self._model, self._profile, callback=callback)
                _check_pair(self._model, decoder)
                self._decoder = decoder
            dev = next(self._model.parameters()).device
            if next(self._decoder.parameters()).device != dev:
                self._decoder = self._decoder.to(dev)
            return self._model, self._decoder

    def _load(self, name: str, size: int) -> torch.Tensor:
        """A menu's image at ``size`` px (longest side), and its thumbnail kept."""
        if name not in self._sources:
            raise SettingsError(f"unknown image {name!r}")
        source = self._sources[name][1]
        if source == "memory":
            image = resize(self._images[name], size)
        elif source == "sample":
            from .. import data

            image = data.load(name, size=size)
        else:
            from ..realtime import photos

            image = photos.load(name, size)
        if name not in self._thumbs:
            self._thumbs[name] = png_bytes(resize(image, INPUT_THUMB))
        return image

    # ------------------------------------------------------------------ updates

    def _on_change(self, change) -> None:
        self._request()

    def _request(self) -> None:
        """The widgets changed: the picture is out of date."""
        if not self._threaded:
            with self._cond:
                self._requested += 1
                gen = self._requested
            self._update()
            with self._cond:
                self._served = max(self._served, gen)
                self._cond.notify_all()
            return
        with self._cond:
            self._requested += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._worker, name="stylelab-explorer-realtime", daemon=True)
                self._thread.start()

    def _worker(self) -> None:
        """Make pictures until one shows the latest values (latest wins: the values of changes made
        meanwhile are not drawn one by one), then end."""
        while True:
            with self._cond:
                if self._served == self._requested:
                    self._thread = None
                    self._cond.notify_all()
                    return
                gen = self._requested
            self._update()
            with self._cond:
                self._served = gen
                self._cond.notify_all()

    def _update(self) -> None:
        """Make the picture the widgets ask for now and show it; never raises (the worker must go on)."""
        started = time.perf_counter()
        s: dict = {"size": None}
        try:
            s = self.settings()
            encoded = [n for n, photo in ((s["photo"], True), (s["painting_a"], False), (s["painting_b"], False))
                       if (n, s["size"], photo) not in self._features]
            if encoded:
                self._status(f"encoding {', '.join(dict.fromkeys(encoded))} at {s['size']} px (once)…")
            picture = self.stylise(**s)
            self.image.value = png_bytes(picture)
        except Exception as exc:  # noqa: BLE001  (the UI must survive anything)
            self._report(exc, s["size"])
            if "photo" in s:
                self._show_thumbs(s)
            return
        seconds = time.perf_counter() - started
        self.picture, self.picture_settings, self.update_seconds = picture, s, seconds
        self.renders += 1
        self._show_thumbs(s)
        note = f" (encoded {', '.join(dict.fromkeys(encoded))})" if encoded else ""
        self.timing.value = (f"<span style='color:{_GREEN if seconds < 0.5 else _GREY}'>updated in {seconds:.2f} s"
                             f"{html.escape(note)}</span>")
        if self.last_error is None:
            self.message.value = ""

    def _show_thumbs(self, s: Mapping[str, Any]) -> None:
        for key in ("photo", "painting_a", "painting_b"):
            data = self._thumbs.get(s[key])
            if data is not None and self.thumbs[key].value != data:
                self.thumbs[key].value = data

    # ------------------------------------------------------------------ messages

    def _status(self, text: str) -> None:
        self.timing.value = f"<span style='color:{_GREY}'>{html.escape(text)}</span>"

    def _report(self, exc: BaseException, size: int | None = None) -> None:
        if _is_oom(exc):
            text = f"out of memory at {size} px: choose a smaller size"
        elif isinstance(exc, StylelabError):
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        else:
            self.last_traceback = "".join(traceback.format_exception(exc))
            log.debug("realtime explorer: unexpected error", exc_info=exc)
            text = f"unexpected error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        self.last_error = text
        self.message.value = f"<span style='color:{_RED}'>⚠ {html.escape(text)}</span>"
        self.timing.value = f"<span style='color:{_GREY}'>not updated</span>"


def _check_image(img, name: str) -> torch.Tensor:
    if not isinstance(img, torch.Tensor):
        raise SettingsError(f"image {name!r} must be a (1, 3, H, W) tensor, got {type(img).__name__}")
    if img.dim() == 3:
        img = img.unsqueeze(0)
    if img.dim() != 4 or img.shape[:2] != (1, 3):
        raise SettingsError(f"image {name!r} must have shape (1, 3, H, W), got {tuple(img.shape)}")
    return img.detach().float().cpu().clamp(0, 1)


def _check_pair(encoder: nn.Module, decoder: nn.Module) -> None:
    """A decoder made for another encoder cannot decode its responses: say so in one line."""
    layers = getattr(encoder, "layers", None)
    wanted = getattr(decoder, "in_channels", None)
    if layers is None or wanted is None:
        return
    channels = {l.name: l.channels for l in layers}
    if adain.ENCODER_LAYER not in channels:
        raise SettingsError(f"the encoder has no {adain.ENCODER_LAYER}; AdaIN needs a VGG")
    if channels[adain.ENCODER_LAYER] != wanted:
        raise SettingsError(f"the decoder takes {wanted} channels, but the encoder's {adain.ENCODER_LAYER} has "
                            f"{channels[adain.ENCODER_LAYER]}: use the decoder trained with this encoder")
