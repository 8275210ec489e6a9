""":func:`describe`: what an error document can say about a file without decoding its pixels.
"""
from __future__ import annotations

import hashlib
import io
import os
import stat
from typing import IO, Optional

from PIL import Image, UnidentifiedImageError

from ..config import Settings
from ..results import ImageInfo
from .decode import _select_frame
from .diagnose import _peek_size
from .formats import _open_formats
from .read import Source, _default_uri, sha256_bytes
from .tiff import _tifffile_size

#: :func:`describe` hashes regular files up to this size (streamed); bigger ones get no sha256.
DESCRIBE_HASH_LIMIT = 2 << 30


def describe(source: Source, uri: Optional[str] = None) -> ImageInfo:
    """Best-effort :class:`ImageInfo` for an error document. Never raises.

    Fills ``size_bytes`` and ``sha256`` when the bytes can be read (a regular file is hashed in
    1 MiB chunks, up to :data:`DESCRIBE_HASH_LIMIT` bytes), and the displayed ``width`` /
    ``height`` when a supported header can be parsed (no pixels are decoded; for a multi-page
    TIFF, the largest page; skipped for files over ``Settings().max_bytes``).
    """
    try:
        uri = uri if uri is not None else _default_uri(source)
    except Exception:  # noqa: BLE001 - never raise
        uri = "<unknown>"
    info = ImageInfo(uri=str(uri))
    try:
        fp: Optional[IO[bytes]] = None
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            info.size_bytes = len(data)
            info.sha256 = sha256_bytes(data)
            fp = io.BytesIO(data)
        elif isinstance(source, (str, os.PathLike)):
            path = os.fspath(source)
            st = os.stat(path)
            if not stat.S_ISREG(st.st_mode):
                return info
            info.size_bytes = st.st_size
            if st.st_size <= DESCRIBE_HASH_LIMIT:
                h = hashlib.sha256()
                with open(path, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                info.sha256 = h.hexdigest()
            fp = open(path, "rb")  # noqa: SIM115 - closed below
        else:
            return info
        try:
            # Skip the header of what load_image would refuse unread: parsing a crafted
            # oversized file (e.g. a JPEG marker then 200 MB of zeros) can take Pillow seconds.
            if info.size_bytes and info.size_bytes <= Settings().max_bytes:
                try:
                    with Image.open(fp, formats=_open_formats()) as img:
                        _select_frame(img, [])
                        info.width, info.height = _displayed_size(img)
                except (Image.DecompressionBombError, Image.DecompressionBombWarning):
                    fp.seek(0)
                    size = _peek_size(fp.read(1 << 20))  # headers sit at the start
                    if size:
                        info.width, info.height = size
                except UnidentifiedImageError:
                    fp.seek(0)
                    size = _tifffile_size(fp)
                    if size:
                        info.width, info.height = size
        finally:
            fp.close()
    except Exception:  # noqa: BLE001 - best effort by contract
        pass
    return info


def _displayed_size(img: Image.Image) -> tuple[int, int]:
    """(width, height) once the orientation is applied, from the header only."""
    w, h = img.size
    if img.format == "TIFF":
        # Pillow >= 11 already reports a TIFF's displayed size (and transposes on load);
        # older versions report the stored one. The tags always hold the stored size.
        try:
            w, h = int(img.tag_v2[256]), int(img.tag_v2[257])
        except Exception:  # noqa: BLE001
            pass
    if _exif_orientation(img) in (5, 6, 7, 8):
        w, h = h, w
    return int(w), int(h)


def _exif_orientation(img: Image.Image) -> int:
    """EXIF orientation from the header only (never decodes pixels)."""
    try:
        if img.format == "PNG" and "exif" not in img.info:
            return 1  # PngImageFile.getexif() would decode the image to look for a late eXIf
        return int(img.getexif().get(0x0112, 1) or 1)
    except Exception:  # noqa: BLE001
        return 1
