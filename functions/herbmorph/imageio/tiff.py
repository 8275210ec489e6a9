"""The ``tifffile`` fallback for TIFFs Pillow cannot decode (float RGB, unusual sample layouts, ...).

``tifffile`` is optional and imported lazily, so the area stage stays light; without it such a
TIFF is refused as ``unsupported-mode``. Like Pillow's path, the largest page is used and the
pixel count is checked from the page header before any pixel is decoded.
"""
from __future__ import annotations

import io
from typing import IO, Optional

import numpy as np
from PIL import Image

from ..errors import InputError
from ..results import ImageInfo
from .convert import _to_uint8
from .diagnose import _fail, _looks_truncated
from .formats import _is_tiff

# EXIF orientation -> the transpose that displays it (same table as ImageOps.exif_transpose).
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _tifffile_size(fp: IO[bytes]) -> Optional[tuple[int, int]]:
    """(width, height) of the largest page of a TIFF only tifffile can parse; None otherwise."""
    if not _is_tiff(fp.read(4)):
        return None
    fp.seek(0)
    try:
        import tifffile
    except ImportError:
        return None
    with tifffile.TiffFile(fp) as tf:
        page = max(tf.pages, key=lambda p: int(p.imagewidth) * int(p.imagelength))
        w, h = int(page.imagewidth), int(page.imagelength)
        tag = page.tags.get(274)
        if tag is not None and int(tag.value) in (5, 6, 7, 8):
            w, h = h, w
        return w, h


def _decode_tifffile(data: bytes, uri: str, max_pixels: int, min_side: int, warnings: list[str],
                     info: ImageInfo, pillow_error: str) -> Image.Image:
    """Decode a TIFF Pillow can't, with tifffile; returns a loaded Pillow image in an 8-bit mode."""
    try:
        import tifffile  # lazy: optional dependency
    except ImportError:
        _fail("unsupported-mode",
              f"{uri}: Pillow cannot decode this TIFF's pixel layout ({pillow_error}); "
              f"install 'tifffile' to read it, or convert the file to 8/16-bit RGB", info)
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tf:
            pages = list(tf.pages)
            if not pages:
                raise ValueError("no pages")
            sizes = [int(p.imagewidth) * int(p.imagelength) for p in pages]
            best = int(np.argmax(sizes))
            page = pages[best]
            w, h = int(page.imagewidth), int(page.imagelength)
            info.width, info.height = w, h
            if w * h > max_pixels:
                _fail("decompression-bomb",
                      f"{uri} declares {w}x{h} = {w * h:,} pixels, over the limit of "
                      f"{max_pixels:,} pixels (max_pixels / HERBMORPH_MAX_PIXELS)", info)
            if min(w, h) < min_side:
                _fail("too-small", f"{uri} is only {w}x{h} pixels; each side must be at least "
                                   f"{min_side}", info)
            arr = page.asarray()
            axes = page.axes
            photometric = int(page.photometric)
            tag = page.tags.get(274)
            orientation = int(tag.value) if tag is not None else 1
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001
        kind = "truncated" if _looks_truncated(e) else "not-an-image"
        _fail(kind, f"{uri}: could not decode this TIFF (Pillow: {pillow_error}; "
                    f"tifffile: {e})", info, e)
    if len(pages) > 1:
        warnings.append(f"multi-page TIFF: used page {best + 1} of {len(pages)} (largest)")

    # bring samples to the last axis
    if "S" in axes and axes.index("S") != len(axes) - 1:
        arr = np.moveaxis(arr, axes.index("S"), -1)
    arr = np.squeeze(arr)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (2, 3, 4)):
        _fail("unsupported-mode", f"{uri}: TIFF with sample shape {arr.shape} "
                                  f"(axes {axes}) cannot be turned into RGB", info)
    arr8 = _to_uint8(arr, uri, warnings, info)
    if photometric == 0 and arr8.ndim == 2:  # MINISWHITE
        arr8 = 255 - arr8
    if arr8.ndim == 2:
        mode = "L"
    else:
        c = arr8.shape[-1]
        if c == 4 and photometric == 5:  # SEPARATED
            mode = "CMYK"
        else:
            mode = {2: "LA", 3: "RGB", 4: "RGBA"}[c]
    img = Image.frombuffer(mode, (arr8.shape[1], arr8.shape[0]),
                           np.ascontiguousarray(arr8).tobytes(), "raw", mode, 0, 1)
    img = img.copy()  # own, writable, loaded
    if orientation in _ORIENTATION_TRANSPOSE:
        img = img.transpose(_ORIENTATION_TRANSPOSE[orientation])
    return img
