""":func:`load_image`: read, validate, decode and convert one image (contract in the package doc).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..config import Settings
from ..results import ImageInfo
from .convert import _to_rgb_array
from .decode import _decode
from .diagnose import _fail
from .read import Source, _default_uri, _read_source, sha256_bytes


@dataclass
class LoadedImage:
    rgb: np.ndarray  # H x W x 3 uint8, RGB, displayed orientation
    info: ImageInfo  # uri, sha256 of the original bytes, displayed width/height, size_bytes
    warnings: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def load_image(
    source: Source,
    uri: Optional[str] = None,
    *,
    max_pixels: Optional[int] = None,
    max_bytes: Optional[int] = None,
    min_side: int = 32,
    sha256: Optional[str] = None,
) -> LoadedImage:
    """Read, validate and decode one image; raises :class:`InputError` with a ``kind`` (package doc).

    ``source`` is the encoded bytes, a path, or a binary file object. ``uri`` is what goes into
    ``info.uri`` (default: the path as given, or ``"<bytes>"``). ``max_pixels`` / ``max_bytes``
    default to :class:`herbmorph.config.Settings` (env ``HERBMORPH_MAX_PIXELS`` / ``_MAX_BYTES``).

    ``sha256``: the caller already hashed these very bytes (a stage that checked the original
    against its stage document), so they are not hashed again.
    """
    if max_pixels is None or max_bytes is None:
        settings = Settings()
        max_pixels = settings.max_pixels if max_pixels is None else max_pixels
        max_bytes = settings.max_bytes if max_bytes is None else max_bytes
    uri = uri if uri is not None else _default_uri(source)
    info = ImageInfo(uri=uri)

    data = _read_source(source, uri, max_bytes, info)
    info.size_bytes = len(data)
    if not data:
        _fail("empty", f"{uri} is empty (0 bytes)", info)
    info.sha256 = sha256 or sha256_bytes(data)

    warnings: list[str] = []
    img = _decode(data, uri, int(max_pixels), int(min_side), warnings, info)
    try:
        rgb = _to_rgb_array(img, uri, warnings, info)
    finally:
        img.close()
    info.height, info.width = int(rgb.shape[0]), int(rgb.shape[1])
    return LoadedImage(rgb=rgb, info=info, warnings=warnings)
