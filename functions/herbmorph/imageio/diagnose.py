"""Refusals that say what is wrong: every failure becomes an :class:`InputError` with a ``kind``.

Decoders raise anything on bad data; this turns it into ``truncated``, ``not-an-image``,
``decompression-bomb`` or ``too-large`` with a message a digitisation team can act on (the file
was cut short in transfer, it is a PDF or an HTML error page, it declares too many pixels), and
attaches the :class:`ImageInfo` known so far for the error document.
"""
from __future__ import annotations

import io
import os
import re
from typing import Optional

from PIL import Image

from ..errors import InputError
from ..results import ImageInfo
from .formats import _open_formats, _sniff_format


def _fail(kind: str, message: str, info: Optional[ImageInfo] = None,
          cause: Optional[BaseException] = None):
    err = InputError(message, kind=kind)
    err.image_info = info.model_copy() if info is not None else None  # type: ignore[attr-defined]
    if cause is not None:
        raise err from cause
    raise err


def _peek_size(data: bytes) -> Optional[tuple[int, int]]:
    """Declared (width, height) from the header without Pillow's bomb check, for diagnostics only
    (calls the format plugin's factory directly, which parses the header and decodes nothing)."""
    prefix = data[:16]
    for fmt in _open_formats():
        try:
            factory, accept = Image.OPEN[fmt]
            if accept is not None and not accept(prefix):
                continue
            with factory(io.BytesIO(data), "") as im:
                return int(im.size[0]), int(im.size[1])
        except Exception:  # noqa: BLE001
            continue
    return None


def _bomb_from_pillow(e: BaseException, uri: str, max_pixels: int, info: ImageInfo,
                      data: bytes = b""):
    size = _peek_size(data) if data else None
    if size:
        info.width, info.height = size
        declared = f"{size[0]}x{size[1]} = {size[0] * size[1]:,} pixels"
    else:
        m = re.search(r"\((\d+) pixels\)", str(e))
        declared = f"{int(m.group(1)):,} pixels" if m else "more pixels than allowed"
    _fail(
        "decompression-bomb",
        f"{uri} declares {declared}, over the limit of {max_pixels:,} pixels "
        f"(max_pixels / HERBMORPH_MAX_PIXELS); refused before decoding",
        info,
        e,
    )


def _raise_if_declared_truncated(data: bytes, uri: str, info: ImageInfo, cause: BaseException):
    """After a decode failure: does the container itself say the file is longer than it is?"""
    n = len(data)
    why = None
    try:
        if data[:4] in (b"II*\x00", b"MM\x00*"):
            end = "<" if data[:2] == b"II" else ">"
            off = int.from_bytes(data[4:8], "little" if end == "<" else "big")
            if off + 2 > n:
                why = f"its first TIFF directory is at byte {off:,} but the file has {n:,} bytes"
        elif data[:4] in (b"II+\x00", b"MM\x00+") and n >= 16:
            off = int.from_bytes(data[8:16], "little" if data[:2] == b"II" else "big")
            if off + 8 > n:
                why = f"its first BigTIFF directory is at byte {off:,} but the file has {n:,} bytes"
        elif data[:4] == b"RIFF" and n >= 12:
            declared = int.from_bytes(data[4:8], "little") + 8
            if declared > n:
                why = f"its RIFF header declares {declared:,} bytes but the file has {n:,}"
    except Exception:  # noqa: BLE001
        why = None
    if why:
        _fail("truncated", f"{uri}: the {_sniff_format(data)} file is truncated ({why}); the file "
                           f"was probably cut short in transfer", info, cause)


_TRUNCATION_HINTS = ("truncated", "broken data stream", "premature end", "unexpected end",
                     "not enough", "eof", "end of file", "buffer is not large enough",
                     "read error")


def _looks_truncated(e: BaseException) -> bool:
    if isinstance(e, EOFError):
        return True
    s = str(e).lower()
    return any(h in s for h in _TRUNCATION_HINTS)


def _raise_decode_error(e: BaseException, uri: str, fmt: str, info: ImageInfo):
    if isinstance(e, InputError):
        raise e
    if isinstance(e, MemoryError):
        _fail("too-large", f"{uri}: not enough memory to decode this {fmt}", info, e)
    s = str(e)
    if "decompressed data too large" in s.lower():
        _fail("decompression-bomb", f"{uri}: a compressed {fmt} chunk expands beyond Pillow's "
                                    f"safety limit ({s})", info, e)
    if _looks_truncated(e):
        _fail("truncated", f"{uri}: the {fmt} data is truncated or damaged ({s}); the file was "
                           f"probably cut short in transfer", info, e)
    _fail("not-an-image", f"{uri}: could not decode {fmt} data ({type(e).__name__}: {s})", info, e)


def _not_an_image_message(data: bytes, uri: str) -> str:
    head = data[:512]
    ext = os.path.splitext(uri)[1].lower()
    what = None
    if head.startswith(b"%PDF"):
        what = "a PDF document"
    elif head.startswith(b"%!PS") or head.startswith(b"\xc5\xd0\xd3\xc6"):
        what = "a PostScript/EPS file (not supported)"
    elif head.startswith(b"PK\x03\x04"):
        what = "a ZIP archive"
    elif head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif", b"ftyphevc"):
        what = "a HEIF/AVIF image (not supported; convert it to JPEG, PNG or TIFF)"
    elif head.startswith(b"8BPS"):
        what = "a Photoshop document (not supported)"
    else:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None and all(c.isprintable() or c in "\r\n\t" for c in text):
            stripped = text.lstrip().lower()
            if stripped.startswith(("<svg", "<?xml")) and "<svg" in stripped:
                what = "an SVG (vector) file (not supported)"
            elif stripped.startswith(("<!doctype html", "<html", "<?xml", "<error")):
                what = "HTML/XML text (an error page saved as an image?)"
            else:
                what = "text"
    looks = f"its content is {what}" if what else "its content is not a recognised image format"
    trust = f" (the {ext} name is not trusted)" if ext else ""
    supported = ", ".join(f for f in _open_formats() if f != "MPO")
    return f"{uri} is not an image: {looks}{trust}; supported formats: {supported}"
