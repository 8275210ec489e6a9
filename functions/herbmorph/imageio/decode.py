"""Pillow decoding: limits synced, dimensions checked from the header, then pixels decoded.

Multi-page TIFF: the largest page (by pixel count, first one on ties) is used. Other multi-frame
formats (animated GIF/WebP/PNG, MPO) use their first frame. The EXIF/TIFF orientation is applied,
so the image comes back as displayed.
"""
from __future__ import annotations

import io
import logging

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from ..results import ImageInfo
from .diagnose import (
    _bomb_from_pillow,
    _fail,
    _looks_truncated,
    _not_an_image_message,
    _raise_decode_error,
    _raise_if_declared_truncated,
)
from .formats import _is_tiff, _open_formats, _sniff_format
from .tiff import _decode_tifffile

log = logging.getLogger(__name__)


def _sync_pillow_limits(max_pixels: int) -> None:
    """Keep Pillow's guards on, but never stricter than ours, and never allow grey fill."""
    current = Image.MAX_IMAGE_PIXELS
    if current is not None and current < max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        log.warning("PIL.ImageFile.LOAD_TRUNCATED_IMAGES was True; herbmorph resets it to False")
        ImageFile.LOAD_TRUNCATED_IMAGES = False


def _decode(data: bytes, uri: str, max_pixels: int, min_side: int, warnings: list[str],
            info: ImageInfo) -> Image.Image:
    """Open, pick the frame, check dimensions from the header, then decode; returns it loaded."""
    _sync_pillow_limits(max_pixels)
    try:
        img = Image.open(io.BytesIO(data), formats=_open_formats())
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        _bomb_from_pillow(e, uri, max_pixels, info, data)
    except UnidentifiedImageError as e:
        _raise_if_declared_truncated(data, uri, info, e)
        if _is_tiff(data):
            return _decode_tifffile(data, uri, max_pixels, min_side, warnings, info,
                                    pillow_error="Pillow cannot identify it")
        _fail("not-an-image", _not_an_image_message(data, uri), info, e)
    except Exception as e:  # noqa: BLE001 - malformed headers raise anything
        _raise_if_declared_truncated(data, uri, info, e)
        _raise_decode_error(e, uri, _sniff_format(data), info)

    try:
        try:
            _select_frame(img, warnings)
        except Exception as e:  # noqa: BLE001 - a broken later IFD / frame header
            _raise_if_declared_truncated(data, uri, info, e)
            _raise_decode_error(e, uri, img.format or "image", info)
        w, h = img.size
        info.width, info.height = int(w), int(h)  # as stored, until the orientation is applied
        if w * h > max_pixels:
            _fail(
                "decompression-bomb",
                f"{uri} declares {w}x{h} = {w * h:,} pixels, over the limit of {max_pixels:,} "
                f"pixels (max_pixels / HERBMORPH_MAX_PIXELS); refused before decoding",
                info,
            )
        if min(w, h) < min_side:
            _fail("too-small", f"{uri} is only {w}x{h} pixels; each side must be at least "
                               f"{min_side}", info)
        fmt = img.format or "image"
        is_tiff = img.format == "TIFF"
        src_bits = _source_bits(img)
        try:
            img.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            _bomb_from_pillow(e, uri, max_pixels, info, data)
        except Exception as e:  # noqa: BLE001
            _raise_if_declared_truncated(data, uri, info, e)
            if is_tiff and not _looks_truncated(e):
                img.close()
                warnings[:] = [w for w in warnings if not w.startswith("multi-page TIFF")]
                return _decode_tifffile(data, uri, max_pixels, min_side, warnings, info,
                                        pillow_error=f"{type(e).__name__}: {e}")
            _raise_decode_error(e, uri, fmt, info)
        if src_bits == 16 and img.mode in ("RGB", "RGBA", "LA", "L", "CMYK"):
            warnings.append("16-bit image scaled to 8-bit (high byte, value >> 8)")
        _apply_orientation(img, warnings)
        info.width, info.height = int(img.size[0]), int(img.size[1])
        return img
    except BaseException:
        img.close()
        raise


def _select_frame(img: Image.Image, warnings: list[str]) -> None:
    n = getattr(img, "n_frames", 1) or 1
    if n <= 1:
        return
    if img.format == "TIFF":
        best, best_px = 0, -1
        for i in range(n):
            img.seek(i)
            px = img.size[0] * img.size[1]
            if px > best_px:
                best, best_px = i, px
        img.seek(best)
        warnings.append(f"multi-page TIFF: used page {best + 1} of {n} (largest)")
    else:
        img.seek(0)
        warnings.append(f"{img.format or 'image'} with {n} frames: used frame 1")


def _source_bits(img: Image.Image) -> int:
    """Bits per sample in the file, when Pillow reduces 16-bit data to 8-bit modes on its own."""
    try:
        if img.format == "TIFF":
            bps = img.tag_v2.get(258)  # BitsPerSample
            if isinstance(bps, tuple):
                bps = max(bps) if bps else None
            return int(bps) if bps else 8
        for tile in img.tile:
            raw = tile.args[0] if isinstance(tile.args, tuple) else tile.args
            if isinstance(raw, str) and ";16" in raw:
                return 16
    except Exception:  # noqa: BLE001
        pass
    return 8


def _apply_orientation(img: Image.Image, warnings: list[str]) -> None:
    try:
        ImageOps.exif_transpose(img, in_place=True)
    except Exception as e:  # noqa: BLE001 - a broken EXIF block must not lose the sheet
        warnings.append(f"EXIF orientation ignored (unreadable EXIF: {e})")
