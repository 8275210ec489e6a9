"""Loading and validating input images: the one place bytes become an RGB array.

Every stage and every adapter (CLI, OSCAR handler, embedded runtime, DEEPaaS, batch) loads images
through :func:`load_image`, so the same file is accepted or refused the same way everywhere, with
the same ``kind`` in the ``herbmorph/error/1`` document.

Guarantees of :func:`load_image`
-------------------------------
* The bytes are read once (a path is ``stat``-ed first, so an over-size file is refused before it
  is read) and hashed; ``info.sha256`` is the SHA-256 of those original bytes.
* The content decides the format, never the file name. Only a fixed allow-list of Pillow formats is
  tried (:data:`SUPPORTED_FORMATS`), so e.g. EPS (which would start Ghostscript) is never opened.
* The pixel count is checked from the header, before any pixel is decoded.
  ``PIL.Image.MAX_IMAGE_PIXELS`` is raised to at least ``max_pixels`` (never lowered), so Pillow's
  own decompression-bomb guard stays on but only ever fires above our limit; when it does fire
  (more than twice the limit) it is reported as our ``decompression-bomb``.
* Truncated data is an error, never grey fill: ``ImageFile.LOAD_TRUNCATED_IMAGES`` is forced back
  to ``False`` if anything in the process turned it on.
* The array is H x W x 3 ``uint8`` RGB in the *displayed* orientation (EXIF/TIFF orientation
  applied), and ``info.width`` / ``info.height`` are the displayed ones.

Conversions (each non-trivial one adds a line to ``LoadedImage.warnings``)
--------------------------------------------------------------------------
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
* Multi-page TIFF: the largest page (by pixel count, first one on ties) is used. Other multi-frame
  formats (animated GIF/WebP/PNG, MPO) use their first frame.
* TIFFs that Pillow cannot decode (float RGB, unusual sample layouts, ...) are read with
  ``tifffile`` when it is installed; otherwise they are refused as ``unsupported-mode``.

Error kinds (``InputError.kind``)
---------------------------------
``empty``, ``too-large``, ``not-an-image``, ``truncated``, ``too-small``, ``decompression-bomb``,
``unsupported-mode``; and for paths only, ``not-found`` (no such file) and ``unreadable`` (e.g.
permission denied). An :class:`InputError` raised here carries ``image_info`` (an
:class:`ImageInfo` with whatever was known: uri, size, sha256, declared dimensions) for the error
document; :func:`describe` gives the same best-effort information without raising.

Only Pillow and numpy are imported here (``tifffile`` lazily), so the area stage stays light.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import stat
from dataclasses import dataclass, field
from typing import IO, Optional, Union

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from .config import Settings
from .errors import InputError
from .results import ImageInfo

log = logging.getLogger(__name__)

Source = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", IO[bytes]]

#: Pillow formats we are willing to decode. Everything else is ``not-an-image``.
SUPPORTED_FORMATS: tuple[str, ...] = (
    "JPEG", "MPO", "PNG", "TIFF", "WEBP", "BMP", "GIF", "JPEG2000", "PPM",
)

BYTES_URI = "<bytes>"
#: :func:`describe` hashes regular files up to this size (streamed); bigger ones get no sha256.
DESCRIBE_HASH_LIMIT = 2 << 30

_OPEN_FORMATS: Optional[tuple[str, ...]] = None


def _open_formats() -> tuple[str, ...]:
    """SUPPORTED_FORMATS that this Pillow registers (e.g. MPO is opened by the JPEG plugin in
    Pillow >= 11; naming an unregistered format makes ``Image.open`` raise KeyError)."""
    global _OPEN_FORMATS
    if _OPEN_FORMATS is None:
        Image.init()
        _OPEN_FORMATS = tuple(f for f in SUPPORTED_FORMATS if f in Image.OPEN)
    return _OPEN_FORMATS

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

_STRETCH_ROWS = 1024  # rows per block when stretching 32-bit data, to bound temporary memory


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


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------
# public entry points


def load_image(
    source: Source,
    uri: Optional[str] = None,
    *,
    max_pixels: Optional[int] = None,
    max_bytes: Optional[int] = None,
    min_side: int = 32,
) -> LoadedImage:
    """Read, validate and decode one image; raises :class:`InputError` with a ``kind`` (module doc).

    ``source`` is the encoded bytes, a path, or a binary file object. ``uri`` is what goes into
    ``info.uri`` (default: the path as given, or ``"<bytes>"``). ``max_pixels`` / ``max_bytes``
    default to :class:`herbmorph.config.Settings` (env ``HERBMORPH_MAX_PIXELS`` / ``_MAX_BYTES``).
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
    info.sha256 = sha256_bytes(data)

    warnings: list[str] = []
    img = _decode(data, uri, int(max_pixels), int(min_side), warnings, info)
    try:
        rgb = _to_rgb_array(img, uri, warnings, info)
    finally:
        img.close()
    info.height, info.width = int(rgb.shape[0]), int(rgb.shape[1])
    return LoadedImage(rgb=rgb, info=info, warnings=warnings)


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


# --------------------------------------------------------------------------------------------
# reading


def _default_uri(source: Source) -> str:
    if isinstance(source, (str, os.PathLike)):
        p = os.fspath(source)
        return p.decode(errors="replace") if isinstance(p, bytes) else p
    name = getattr(source, "name", None)
    if isinstance(name, str):
        return name
    return BYTES_URI


def _fail(kind: str, message: str, info: Optional[ImageInfo] = None,
          cause: Optional[BaseException] = None):
    err = InputError(message, kind=kind)
    err.image_info = info.model_copy() if info is not None else None  # type: ignore[attr-defined]
    if cause is not None:
        raise err from cause
    raise err


def _too_large(uri: str, size: int, max_bytes: int, info: ImageInfo, at_least: bool = False):
    info.size_bytes = size if not at_least else None
    more = "more than " if at_least else ""
    _fail(
        "too-large",
        f"{uri} is {more}{size:,} bytes, over the limit of {max_bytes:,} bytes "
        f"(max_bytes / HERBMORPH_MAX_BYTES)",
        info,
    )


def _read_source(source: Source, uri: str, max_bytes: int, info: ImageInfo) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > max_bytes:
            _too_large(uri, len(data), max_bytes, info)
        return data
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        try:
            st = os.stat(path)
        except FileNotFoundError as e:
            _fail("not-found", f"{uri}: no such file", info, e)
        except OSError as e:
            _fail("unreadable", f"{uri}: cannot be read ({e.strerror or e})", info, e)
        if stat.S_ISDIR(st.st_mode):
            _fail("not-an-image", f"{uri} is a directory, not an image file", info)
        if stat.S_ISREG(st.st_mode) and st.st_size > max_bytes:
            # refuse before reading a single byte
            _too_large(uri, st.st_size, max_bytes, info)
        try:
            with open(path, "rb") as f:
                data = f.read(max_bytes + 1)  # bounded even if the file grows or is not regular
        except OSError as e:
            _fail("unreadable", f"{uri}: cannot be read ({e.strerror or e})", info, e)
        if len(data) > max_bytes:
            _too_large(uri, max_bytes, max_bytes, info, at_least=True)
        return data
    if hasattr(source, "read"):
        data = source.read(max_bytes + 1)
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("load_image: file objects must be opened in binary mode")
        if len(data) > max_bytes:
            _too_large(uri, max_bytes, max_bytes, info, at_least=True)
        return bytes(data)
    raise TypeError(f"load_image: unsupported source type {type(source).__name__}")


# --------------------------------------------------------------------------------------------
# decoding


def _sync_pillow_limits(max_pixels: int) -> None:
    """Keep Pillow's guards on, but never stricter than ours, and never allow grey fill."""
    current = Image.MAX_IMAGE_PIXELS
    if current is not None and current < max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        log.warning("PIL.ImageFile.LOAD_TRUNCATED_IMAGES was True; herbmorph resets it to False")
        ImageFile.LOAD_TRUNCATED_IMAGES = False


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


def _apply_orientation(img: Image.Image, warnings: list[str]) -> None:
    try:
        ImageOps.exif_transpose(img, in_place=True)
    except Exception as e:  # noqa: BLE001 - a broken EXIF block must not lose the sheet
        warnings.append(f"EXIF orientation ignored (unreadable EXIF: {e})")


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


# --------------------------------------------------------------------------------------------
# tifffile fallback


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


# --------------------------------------------------------------------------------------------
# mode conversion


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
