"""The explorer's images (a part of :class:`stylelab.explorer.app.Explorer`).

:class:`ExplorerImages` keeps the image menus: the sample images of
:mod:`stylelab.data`, in-memory images and uploads (read with Pillow, kept at
:data:`~stylelab.explorer.common.MAX_UPLOAD_SIDE` px at most), their thumbnails, and
loads an image at a run's size (samples are cached per size).
"""

from __future__ import annotations

from collections.abc import Mapping
import contextlib
import os
from pathlib import Path
import tempfile
from typing import Any
import warnings

import torch

from .. import data
from ..errors import ImageError, SettingsError, StylelabError
from ..image import ImageDownscaledWarning, load_image, resize
from .common import INPUT_THUMB, MAX_UPLOAD_SIDE, NONE, UPLOAD_PREFIX, _guarded, _placeholder, png_bytes


class ExplorerImages:
    """The image menus. Uses the explorer's ``_images``, ``_samples``, ``_sample_cache``,
    ``_lock``, the ``content`` / ``style`` widgets and its message methods."""

    @staticmethod
    def _check_tensor(img, name: str) -> torch.Tensor:
        if not isinstance(img, torch.Tensor):
            raise ImageError(f"image {name!r} must be a (1, 3, H, W) tensor, got {type(img).__name__}")
        if img.dim() == 3:
            img = img.unsqueeze(0)
        if img.dim() != 4 or img.shape[:2] != (1, 3):
            raise ImageError(f"image {name!r} must have shape (1, 3, H, W), got {tuple(img.shape)}")
        return img.detach().float().cpu().clamp(0, 1)

    def _known_shape(self, s: Mapping[str, Any]) -> tuple[int, int] | None:
        """(H, W) of the image a run takes its size from (the content, else the style),
        if known without loading it: an in-memory image or a sample loaded before."""
        name = s["content"] or s["style"]
        if name in self._images:
            return tuple(self._images[name].shape[-2:])
        with self._lock:  # the largest copy loaded: its aspect is the closest to the run's image
            sizes = [size for (n, size) in self._sample_cache if n == name]
            cached = self._sample_cache[(name, max(sizes))] if sizes else None
        return tuple(cached.shape[-2:]) if cached is not None else None

    def _image_options(self) -> list[str]:
        return [NONE, *(n for n in self._samples if n not in self._images), *self._images]

    def add_upload(self, which: str, name: str, content: bytes) -> str | None:
        """Add an uploaded image file (its bytes) to the image menus and choose it for
        ``which`` (``"content"`` or ``"style"``). Returns its menu name, or None (and a
        message in the widget) when the file cannot be read as an image."""
        try:
            return self._add_upload(which, name, bytes(content))
        except Exception as exc:  # noqa: BLE001
            self._report(exc)
            return None

    def _add_upload(self, which: str, name: str, content: bytes) -> str:
        if which not in ("content", "style"):
            raise SettingsError(f"uploads go to 'content' or 'style', not {which!r}")
        name = Path(str(name) or "upload").name
        suffix = Path(name).suffix or ".img"
        fd, tmp = tempfile.mkstemp(prefix="stylelab-upload-", suffix=suffix)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
            try:
                with warnings.catch_warnings():  # a big photo is shrunk: said in the message below
                    warnings.simplefilter("ignore", ImageDownscaledWarning)
                    img = load_image(tmp, max_size=MAX_UPLOAD_SIDE)
            except ImageError as exc:
                raise ImageError(f"cannot read the upload {name!r} as an image: "
                                 f"{str(exc).replace(tmp, name)}") from exc
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        key = UPLOAD_PREFIX + name
        self._images[key] = img
        options = self._image_options()
        for dd in (self.content, self.style, *self._image_menus()):
            current = dd.value
            dd.options = options
            if current in options:
                dd.value = current
        getattr(self, which).value = key
        self._info(f"uploaded {name} ({img.shape[-1]}×{img.shape[-2]} px) as the {which} image")
        return key

    @_guarded
    def _on_upload(self, which: str, change) -> None:
        files = change["new"]
        if not files:
            return
        f = files[-1]
        try:
            self.add_upload(which, f.get("name", "upload"), f.get("content", b""))
        finally:
            # The image now lives in the menus; clearing frees the bytes and lets the same
            # file be uploaded again.
            getattr(self, f"{which}_upload").value = ()

    @_guarded
    def _on_image_choice(self, which: str, change) -> None:
        self._refresh_thumb(which)

    def _refresh_thumb(self, which: str) -> None:
        name = getattr(self, which).value
        thumb = getattr(self, f"{which}_thumb")
        try:
            img = self._thumbnail(name)
        except StylelabError as exc:
            self._error(str(exc))
            img = None
        thumb.value = png_bytes(img) if img is not None else _placeholder(
            "none" if name == NONE else "not yet\ndownloaded", (96, 72))

    def _thumbnail(self, name: str) -> torch.Tensor | None:
        if name == NONE:
            return None
        if name in self._images:
            return resize(self._images[name], INPUT_THUMB)
        if not data.verify(name).get(data.info(name).name):
            return None  # not downloaded yet: Run fetches it; no download for a thumbnail
        return self._load(name, INPUT_THUMB)

    def _load(self, name: str, size: int, images: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        """An image of the menu at ``size`` px (longest side)."""
        source = (images or {}).get(name)
        if source is None:
            source = self._images.get(name)
        if source is not None:
            return resize(source, size)
        key = (name, size)
        with self._lock:
            cached = self._sample_cache.get(key)
        if cached is None:
            cached = data.load(name, size=size)
            with self._lock:
                self._sample_cache[key] = cached
        return cached
