"""Builds herbmorph's input fixtures (bad and awkward images) at test time, in a directory you give.

Nothing binary is committed: every file is generated with Pillow, numpy and a few hand-written
PNG/TIFF writers (for layouts Pillow cannot write: 48-bit RGB, complex samples, a bomb header).

    from badinputs import build_bad_inputs
    cases = build_bad_inputs(tmp_path)            # {name: (path, expected_kind or None)}
    for name, (path, kind) in cases.items(): ...  # kind None: must load

``expected_kind`` is the ``InputError.kind`` (``error.kind`` of a ``herbmorph/error/1`` document)
that :func:`herbmorph.imageio.load_image` must raise with its default limits, i.e.
``herbmorph.config.Settings()`` as seen when the fixtures were built.

Notes for reuse (CLI, serverless chain):
* ``too_large`` is a *sparse* file of ``Settings().max_bytes + 1`` bytes (~200 MB apparent size,
  almost no disk). A loader must refuse it from its size alone. Don't upload it anywhere; pass
  ``include_too_large=False`` to leave it out.
* ``bomb_png`` is ~110 kB but declares 30000 x 30000 pixels; it is a valid PNG, so anything that
  decodes it allocates ~900 MB.
* ``float_rgb_tiff`` loads when ``tifffile`` is installed and is ``unsupported-mode`` otherwise.

The geometry/colour constants below let tests check *where* pixels land, not just that a file loads.
"""
from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, features

# --- constants tests can check against -------------------------------------------------------

# EXIF orientation 6 ("rotate 90° clockwise to display"): stored W x H, red square at the stored
# top-left corner -> displayed H x W (W' = STORED_H), red square at the displayed top-RIGHT corner.
EXIF_STORED_SIZE = (120, 80)  # (width, height) as stored
EXIF_MARK = 24  # side of the red square
# Multi-page TIFF pages: (width, height, colour); the largest page is the second one.
MULTIPAGE_PAGES = [(64, 48, (255, 0, 0)), (300, 200, (0, 160, 0)), (120, 90, (0, 0, 255))]
MULTIPAGE_LARGEST = 1
# Alpha fixtures: left half fully transparent black, right half opaque ALPHA_COLOUR.
ALPHA_COLOUR = (20, 140, 60)
# CMYK JPEG: top half pure red in CMYK (0, 255, 255, 0), bottom half pure blue (255, 255, 0, 0).
CMYK_TOP_RGB = (255, 0, 0)
CMYK_BOTTOM_RGB = (0, 0, 255)
# 16-bit fixtures: a horizontal ramp 0..65535 (SIZE16 wide) repeated on every row.
SIZE16 = (256, 64)
BOMB_SIDE = 30000


def ramp16() -> np.ndarray:
    w, h = SIZE16
    row = np.linspace(0, 65535, w).round().astype(np.uint16)
    return np.tile(row, (h, 1))


def rgb48() -> np.ndarray:
    """48-bit RGB content: R = ramp, G = 65535 - ramp, B = 0x1234 everywhere."""
    r = ramp16()
    return np.stack([r, 65535 - r, np.full_like(r, 0x1234)], axis=-1)


def noise_rgb(width: int = 400, height: int = 300, seed: int = 0) -> np.ndarray:
    """Noisy content, so that a JPEG of it is big enough to cut in half meaningfully."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (height // 4 + 1, width // 4 + 1, 3), dtype=np.uint8)
    big = np.kron(base, np.ones((4, 4, 1), dtype=np.uint8))[:height, :width]
    jitter = rng.integers(0, 32, (height, width, 3), dtype=np.uint8)
    return (big // 2 + jitter).astype(np.uint8)


# --- hand-written encoders -------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png_raw(path: Path, width: int, height: int, bit_depth: int, colour_type: int,
                  idat: bytes) -> Path:
    """A PNG from an already-compressed IDAT stream."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
                     + _png_chunk(b"IEND", b""))
    return path


def write_png16_rgb(path: Path, arr: np.ndarray) -> Path:
    """48-bit RGB PNG (Pillow can read these but not write them)."""
    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))
    return write_png_raw(path, w, h, 16, 2, zlib.compress(raw))


def write_bomb_png(path: Path, side: int = BOMB_SIDE) -> Path:
    """A valid 1-bit greyscale PNG of side x side black pixels, ~110 kB for 30000 x 30000.

    Built row-block by row-block so that building it never allocates the image."""
    row = bytes(1 + (side + 7) // 8)  # filter byte 0 + packed bits
    comp = zlib.compressobj(9)
    parts = []
    block_rows = 1000
    for y in range(0, side, block_rows):
        parts.append(comp.compress(row * min(block_rows, side - y)))
    parts.append(comp.flush())
    return write_png_raw(path, side, side, 1, 0, b"".join(parts))


def write_tiff_raw(path: Path, arr: np.ndarray, *, photometric: int, sample_format: int) -> Path:
    """Minimal little-endian, uncompressed, single-strip baseline TIFF from an array.

    ``arr`` is H x W (one sample) or H x W x S; ``sample_format`` 1 = uint, 2 = int, 3 = float,
    6 = complex float. Used for layouts Pillow cannot write (48-bit RGB, float RGB, complex)."""
    if arr.ndim == 2:
        arr = arr[..., None]
    h, w, spp = arr.shape
    bits = arr.dtype.itemsize * 8
    pixels = np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder("<"))).tobytes()
    entries: list[tuple[int, int, int, bytes]] = []  # tag, type, count, payload

    def short(tag, values):
        entries.append((tag, 3, len(values), struct.pack(f"<{len(values)}H", *values)))

    def long(tag, value):
        entries.append((tag, 4, 1, struct.pack("<I", value)))

    long(256, w)
    long(257, h)
    short(258, [bits] * spp)
    short(259, [1])  # no compression
    short(262, [photometric])
    long(273, 0)  # strip offset, patched below
    short(277, [spp])
    long(278, h)
    long(279, len(pixels))
    short(284, [1])  # chunky
    short(339, [sample_format] * spp)
    entries.sort()
    ifd_off = 8
    extra_off = ifd_off + 2 + 12 * len(entries) + 4
    extra = b""
    packed = []
    for tag, typ, count, payload in entries:
        if len(payload) <= 4:
            packed.append((tag, typ, count, payload.ljust(4, b"\x00")))
        else:
            packed.append((tag, typ, count, struct.pack("<I", extra_off + len(extra))))
            extra += payload
            if len(extra) % 2:
                extra += b"\x00"
    data_off = extra_off + len(extra)
    ifd = struct.pack("<H", len(packed))
    for tag, typ, count, value in packed:
        if tag == 273:
            value = struct.pack("<I", data_off)
        ifd += struct.pack("<HHI", tag, typ, count) + value
    ifd += struct.pack("<I", 0)
    path.write_bytes(b"II*\x00" + struct.pack("<I", ifd_off) + ifd + extra + pixels)
    return path


# --- the fixtures ----------------------------------------------------------------------------


def _save(img: Image.Image, path: Path, fmt: str, **kw) -> Path:
    img.save(path, fmt, **kw)
    return path


def _alpha_rgba() -> Image.Image:
    w, h = 80, 60
    a = np.zeros((h, w, 4), dtype=np.uint8)
    a[:, w // 2:, :3] = ALPHA_COLOUR
    a[:, w // 2:, 3] = 255
    return Image.fromarray(a, "RGBA")


def _exif6_jpeg(path: Path) -> Path:
    w, h = EXIF_STORED_SIZE
    a = np.full((h, w, 3), 255, dtype=np.uint8)
    a[:EXIF_MARK, :EXIF_MARK] = (255, 0, 0)  # stored top-left
    img = Image.fromarray(a, "RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(path, "JPEG", quality=95, exif=exif.tobytes())
    return path


def _cmyk_jpeg(path: Path) -> Path:
    img = Image.new("CMYK", (64, 64), (0, 255, 255, 0))
    img.paste((255, 255, 0, 0), (0, 32, 64, 64))
    img.save(path, "JPEG", quality=95)
    return path


def _multipage_tiff(path: Path) -> Path:
    pages = [Image.new("RGB", (w, h), c) for w, h, c in MULTIPAGE_PAGES]
    pages[0].save(path, "TIFF", save_all=True, append_images=pages[1:])
    return path


def _sparse_too_large(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        f.write(b"\xff\xd8\xff\xe0")  # looks like a JPEG start, the rest is a hole
        f.truncate(size)
    return path


def _tifffile_available() -> bool:
    try:
        import tifffile  # noqa: F401
    except ImportError:
        return False
    return True


def build_bad_inputs(dir: os.PathLike | str, *, include_too_large: bool = True
                     ) -> dict[str, tuple[Path, str | None]]:
    """Write every fixture into ``dir``; return ``{case: (path, expected error kind or None)}``."""
    from herbmorph.config import Settings

    d = Path(dir)
    d.mkdir(parents=True, exist_ok=True)
    cases: dict[str, tuple[Path, str | None]] = {}

    def add(name: str, path: Path, kind: str | None) -> None:
        cases[name] = (path, kind)

    # --- must be refused ---
    (d / "empty.jpg").write_bytes(b"")
    add("empty", d / "empty.jpg", "empty")

    jpeg = io.BytesIO()
    Image.fromarray(noise_rgb()).save(jpeg, "JPEG", quality=90)
    data = jpeg.getvalue()
    (d / "truncated.jpg").write_bytes(data[: len(data) // 2])
    add("truncated_jpeg", d / "truncated.jpg", "truncated")

    png = io.BytesIO()
    Image.fromarray(noise_rgb(seed=1)).save(png, "PNG")
    data = png.getvalue()
    (d / "truncated.png").write_bytes(data[: len(data) // 2])
    add("truncated_png", d / "truncated.png", "truncated")

    tif = io.BytesIO()
    Image.fromarray(noise_rgb(seed=3)).save(tif, "TIFF")
    data = tif.getvalue()
    (d / "truncated.tif").write_bytes(data[: len(data) // 2])
    add("truncated_tiff", d / "truncated.tif", "truncated")

    (d / "notes.jpg").write_text("Herbarium sheet 12345\nThis is a text file, not a JPEG.\n")
    add("text_as_jpg", d / "notes.jpg", "not-an-image")

    (d / "s3_error.png").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
        "<Message>The specified key does not exist.</Message></Error>\n")
    add("xml_error_as_png", d / "s3_error.png", "not-an-image")

    add("one_pixel_png", _save(Image.new("RGB", (1, 1), (0, 0, 0)), d / "one_pixel.png", "PNG"),
        "too-small")
    add("bomb_png", write_bomb_png(d / "bomb.png"), "decompression-bomb")
    add("complex_tiff",
        write_tiff_raw(d / "complex.tif", np.ones((40, 40), dtype=np.complex64),
                       photometric=1, sample_format=6),
        "unsupported-mode")
    if include_too_large:
        add("too_large", _sparse_too_large(d / "too_large.jpg", Settings().max_bytes + 1),
            "too-large")

    # --- must load ---
    rgb = Image.fromarray(noise_rgb(200, 150, seed=2))
    add("rgb_jpeg", _save(rgb, d / "rgb.jpg", "JPEG"), None)
    add("rgb_png", _save(rgb, d / "rgb.png", "PNG"), None)
    add("cmyk_jpeg", _cmyk_jpeg(d / "cmyk.jpg"), None)
    grey = rgb.convert("L")
    add("grey_jpeg", _save(grey, d / "grey.jpg", "JPEG"), None)
    add("grey_png", _save(grey, d / "grey.png", "PNG"), None)
    add("la_png", _save(grey.convert("LA"), d / "la.png", "PNG"), None)
    add("bilevel_png", _save(grey.convert("1"), d / "bilevel.png", "PNG"), None)
    add("palette_png", _save(rgb.convert("P", palette=Image.Palette.ADAPTIVE), d / "palette.png",
                             "PNG"), None)
    add("palette_trns_png", _save(_alpha_rgba().quantize(8), d / "palette_trns.png", "PNG"), None)
    add("rgba_png", _save(_alpha_rgba(), d / "rgba.png", "PNG"), None)
    add("rgba_tiff", _save(_alpha_rgba(), d / "rgba.tif", "TIFF"), None)
    add("png16", _save(Image.fromarray(ramp16()), d / "grey16.png", "PNG"), None)
    add("tiff16", _save(Image.fromarray(ramp16()), d / "grey16.tif", "TIFF"), None)
    add("tiff16_big_endian",
        _save(Image.fromarray(ramp16().astype(">u2")), d / "grey16_be.tif", "TIFF"), None)
    add("tiff_int32", _save(Image.fromarray(ramp16().astype(np.int32) * 100 - 5),
                            d / "int32.tif", "TIFF"), None)
    add("tiff_float", _save(Image.fromarray(ramp16().astype(np.float32) / 65535.0),
                            d / "float.tif", "TIFF"), None)
    add("rgb48_png", write_png16_rgb(d / "rgb48.png", rgb48()), None)
    add("rgb48_tiff", write_tiff_raw(d / "rgb48.tif", rgb48(), photometric=2, sample_format=1),
        None)
    add("float_rgb_tiff",
        write_tiff_raw(d / "float_rgb.tif", rgb48().astype(np.float32) / 65535.0, photometric=2,
                       sample_format=3),
        None if _tifffile_available() else "unsupported-mode")
    add("lab_tiff", _save(Image.new("LAB", (64, 48), (136, 208, 195)), d / "lab.tif", "TIFF"),
        None)
    add("multipage_tiff", _multipage_tiff(d / "multipage.tif"), None)
    add("exif6_jpeg", _exif6_jpeg(d / "exif6.jpg"), None)
    add("bmp", _save(rgb, d / "sheet.bmp", "BMP"), None)
    add("gif", _save(rgb.convert("P"), d / "sheet.gif", "GIF"), None)
    if features.check("webp"):
        add("webp", _save(rgb, d / "sheet.webp", "WEBP", quality=90), None)
    # a PNG whose name says JPEG: content decides
    add("png_named_jpg", _save(rgb, d / "misnamed.jpg", "PNG"), None)
    return cases
