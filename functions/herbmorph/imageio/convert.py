"""Any decoded image to H x W x 3 ``uint8`` RGB; each non-trivial step adds a line to ``warnings``.

* ``1``, ``L``, ``P``, ``CMYK`` (incl. Adobe-inverted CMYK JPEG), ``YCbCr``, ``HSV``, ``RGBX``
  -> RGB via Pillow.
  ``LAB`` -> sRGB (Pillow, or ``ImageCms``). Embedded ICC profiles are not applied.
* Alpha (``RGBA``, ``LA``, ``PA``, palette with ``tRNS``, premultiplied variants) is composited onto
  white, because herbarium paper is light. A fully opaque alpha channel is dropped silently.
* 16-bit integer samples (``I;16``, ``I;16L``, ``I;16B``, 48/64-bit RGB(A)) keep their high byte
  (``value >> 8``); this is also what Pillow itself does for 48-bit RGB, and it keeps the tones of a
  sheet independent of its content (no per-image stretching).
* ``I`` (32-bit int): values already within 0..255 are kept, within 0..65535 are treated as 16-bit
  (``>> 8``), anything else is stretched linearly from the image's real min/max to 0..255.
* ``F`` (float): 0..1 is scaled by 255, 0..255 is rounded, anything else is stretched from the real
  min/max; NaN becomes the minimum.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from ..errors import InputError
from ..results import ImageInfo
from .diagnose import _fail

_STRETCH_ROWS = 1024  # rows per block when stretching 32-bit data, to bound temporary memory


def _to_uint8(a: np.ndarray, uri: str, warnings: list[str], info: ImageInfo) -> np.ndarray:
    """Scale any real-valued sample array to uint8 (rules in the module docstring)."""
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if a.dtype.kind == "u" and a.dtype.itemsize == 2:
        warnings.append("16-bit image scaled to 8-bit (high byte, value >> 8)")
        return (a >> 8).astype(np.uint8)
    if a.dtype.kind == "i" and a.dtype.itemsize == 1:
        return (a.astype(np.int16) + 128).astype(np.uint8)
    if a.dtype.kind in "ui":
        lo, hi = int(a.min()), int(a.max())
        if lo >= 0 and hi <= 255:
            return a.astype(np.uint8)
        if lo >= 0 and hi <= 65535:
            warnings.append(f"{a.dtype.itemsize * 8}-bit integer image with values in 0..65535 "
                            f"scaled to 8-bit as 16-bit (value >> 8)")
            return (a >> 8).astype(np.uint8)
        warnings.append(f"{a.dtype.itemsize * 8}-bit integer image scaled to 8-bit by its "
                        f"min/max ({lo}..{hi})")
        return _stretch(a, lo, hi)
    if a.dtype.kind == "f":
        finite = np.isfinite(a)
        if not finite.any():
            _fail("unsupported-mode", f"{uri}: floating-point image has no finite values", info)
        lo, hi = float(a[finite].min()), float(a[finite].max())
        if not finite.all():
            a = np.where(finite, a, lo)
        if lo >= 0.0 and hi <= 1.0:
            warnings.append("floating-point image in 0..1 scaled to 8-bit (x 255)")
            return _stretch(a, 0.0, 1.0)
        if lo >= 0.0 and hi <= 255.0:
            warnings.append("floating-point image in 0..255 rounded to 8-bit")
            return _stretch(a, 0.0, 255.0)
        warnings.append(f"floating-point image scaled to 8-bit by its min/max ({lo:g}..{hi:g})")
        return _stretch(a, lo, hi)
    _fail("unsupported-mode", f"{uri}: samples of type {a.dtype} cannot be turned into RGB", info)
    raise AssertionError  # unreachable


def _stretch(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Linear map lo..hi -> 0..255 in row blocks (bounded float32 temporaries)."""
    out = np.empty(a.shape, dtype=np.uint8)
    if hi <= lo:
        out[...] = 0 if lo <= 0 else (255 if lo >= 255 else int(round(lo)))
        return out
    k = 255.0 / (hi - lo)
    for r in range(0, a.shape[0], _STRETCH_ROWS):
        blk = a[r:r + _STRETCH_ROWS].astype(np.float32)
        blk -= lo
        blk *= k
        np.clip(blk, 0, 255, out=blk)
        np.rint(blk, out=blk)
        out[r:r + _STRETCH_ROWS] = blk
    return out


def _flatten_on_white(rgba: Image.Image, warnings: list[str]) -> Image.Image:
    if rgba.mode != "RGBA":
        rgba = rgba.convert("RGBA")
    alpha = rgba.getchannel("A")
    rgb = rgba.convert("RGB")
    lo, _ = alpha.getextrema()
    if lo < 255:
        bg = Image.new("RGB", rgba.size, (255, 255, 255))
        bg.paste(rgb, (0, 0), alpha)
        warnings.append("alpha flattened on white")
        return bg
    return rgb


def _lab_to_rgb(img: Image.Image) -> Image.Image:
    try:
        return img.convert("RGB")  # Pillow >= 11 converts LAB (D50) to sRGB natively
    except (ValueError, OSError):
        pass
    from PIL import ImageCms  # lazy: only for the rare LAB TIFF on older Pillow

    t = ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"),
                                "LAB", "RGB")
    return ImageCms.applyTransform(img, t)


def _to_rgb_array(img: Image.Image, uri: str, warnings: list[str], info: ImageInfo) -> np.ndarray:
    mode = img.mode
    try:
        if mode == "RGB":
            out = img
        elif mode in ("RGBA", "RGBa", "LA", "La", "PA"):
            out = _flatten_on_white(img, warnings)
        elif mode == "P":
            if "transparency" in img.info or img.palette is not None and img.palette.mode == "RGBA":
                out = _flatten_on_white(img.convert("RGBA"), warnings)
            else:
                out = img.convert("RGB")
        elif mode in ("1", "L", "CMYK", "YCbCr", "HSV", "RGBX"):
            out = img.convert("RGB")
        elif mode == "LAB":
            out = _lab_to_rgb(img)
            warnings.append("CIELAB image converted to sRGB")
        elif mode.startswith("I;16") or mode in ("I", "F"):
            grey = _to_uint8(np.asarray(img), uri, warnings, info)
            return _grey_to_rgb(grey)
        else:
            _fail("unsupported-mode", f"{uri}: image mode {mode!r} cannot be turned into RGB",
                  info)
    except InputError:
        raise
    except MemoryError as e:
        _fail("too-large", f"{uri}: not enough memory to convert this {img.size[0]}x"
                           f"{img.size[1]} image to RGB", info, e)
    except Exception as e:  # noqa: BLE001
        _fail("unsupported-mode", f"{uri}: image mode {mode!r} cannot be turned into RGB ({e})",
              info, e)
    try:
        return _pil_rgb_to_array(out)
    finally:
        if out is not img:
            out.close()


def _pil_rgb_to_array(img: Image.Image) -> np.ndarray:
    """Writable H x W x 3 copy of an RGB image, filled in row strips: ``np.asarray`` would go
    through a read-only ``tobytes()`` copy and need a second full copy to become writable."""
    w, h = img.size
    out = np.empty((h, w, 3), dtype=np.uint8)
    rows = max(1, (16 << 20) // max(1, 3 * w))
    for r in range(0, h, rows):
        r2 = min(h, r + rows)
        strip = img if (r == 0 and r2 == h) else img.crop((0, r, w, r2))
        out[r:r2] = np.frombuffer(strip.tobytes(), dtype=np.uint8).reshape(r2 - r, w, 3)
    return out


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    out = np.empty(grey.shape + (3,), dtype=np.uint8)
    out[..., 0] = grey
    out[..., 1] = grey
    out[..., 2] = grey
    return out
