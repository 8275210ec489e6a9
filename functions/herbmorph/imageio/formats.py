"""Which formats are opened at all, and what a file's first bytes say it is.

The content decides the format, never the file name: only the allow-list below is handed to
Pillow, so e.g. EPS (which would start Ghostscript) is never opened.
"""
from __future__ import annotations

from typing import Optional

from PIL import Image

#: Pillow formats we are willing to decode. Everything else is ``not-an-image``.
SUPPORTED_FORMATS: tuple[str, ...] = (
    "JPEG", "MPO", "PNG", "TIFF", "WEBP", "BMP", "GIF", "JPEG2000", "PPM",
)

_OPEN_FORMATS: Optional[tuple[str, ...]] = None


def _open_formats() -> tuple[str, ...]:
    """SUPPORTED_FORMATS that this Pillow registers (e.g. MPO is opened by the JPEG plugin in
    Pillow >= 11; naming an unregistered format makes ``Image.open`` raise KeyError)."""
    global _OPEN_FORMATS
    if _OPEN_FORMATS is None:
        Image.init()
        _OPEN_FORMATS = tuple(f for f in SUPPORTED_FORMATS if f in Image.OPEN)
    return _OPEN_FORMATS


def _is_tiff(data: bytes) -> bool:
    return data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _sniff_format(data: bytes) -> str:
    head = data[:16]
    if head.startswith(b"\xff\xd8"):
        return "JPEG"
    if head.startswith(b"\x89PNG"):
        return "PNG"
    if _is_tiff(data):
        return "TIFF"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WebP"
    if head.startswith(b"GIF8"):
        return "GIF"
    if head.startswith(b"BM"):
        return "BMP"
    return "image"
