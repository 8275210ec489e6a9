"""herbmorph.imageio: every bad input is refused with the right kind, every awkward one loads right.

Fixtures are generated at test time by tests/badinputs.py (nothing binary is committed).
"""
from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

import badinputs as bi
from herbmorph import imageio
from herbmorph.config import Settings
from herbmorph.errors import InputError
from herbmorph.imageio import LoadedImage, describe, load_image, sha256_bytes
from herbmorph.imageio import decode, formats, read  # internals some tests reach into
from herbmorph.results import ErrorDocument, ErrorInfo, ImageInfo

KINDS = {"empty", "too-large", "not-an-image", "truncated", "too-small", "decompression-bomb",
         "unsupported-mode"}


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> dict[str, tuple[Path, str | None]]:
    return bi.build_bad_inputs(tmp_path_factory.mktemp("badinputs"))


def path_of(cases, name: str) -> Path:
    return cases[name][0]


def load(cases, name: str, **kw) -> LoadedImage:
    return load_image(path_of(cases, name), **kw)


def refuse(source, kind: str, **kw) -> InputError:
    with pytest.raises(InputError) as ei:
        load_image(source, **kw)
    assert ei.value.kind == kind, f"{ei.value.kind}: {ei.value}"
    return ei.value


class DecodeSpy:
    """Counts pixel decodes (ImageFile.load) so tests can prove something was refused first."""

    def __init__(self, monkeypatch):
        self.calls = 0
        real = ImageFile.ImageFile.load

        def spy(img_self, *a, **k):
            self.calls += 1
            return real(img_self, *a, **k)

        monkeypatch.setattr(ImageFile.ImageFile, "load", spy)


# --------------------------------------------------------------------------------------------
# the shared case table


def test_case_table_shape(cases):
    kinds = {k for _, k in cases.values() if k is not None}
    assert kinds == KINDS  # every kind has at least one fixture
    for name in ("empty", "truncated_jpeg", "text_as_jpg", "one_pixel_png", "bomb_png",
                 "too_large", "cmyk_jpeg", "png16", "tiff16", "multipage_tiff", "grey_jpeg",
                 "exif6_jpeg", "rgba_png"):
        assert name in cases
    for path, _ in cases.values():
        assert path.exists()


def test_every_case_behaves_as_declared(cases):
    for name, (path, kind) in cases.items():
        if kind is None:
            li = load_image(path)
            assert li.rgb.dtype == np.uint8 and li.rgb.ndim == 3 and li.rgb.shape[2] == 3, name
            assert li.rgb.flags.writeable and li.rgb.flags.c_contiguous, name
            assert (li.info.height, li.info.width) == li.rgb.shape[:2], name
            data = path.read_bytes()
            assert li.info.sha256 == hashlib.sha256(data).hexdigest(), name
            assert li.info.size_bytes == len(data), name
            assert li.info.uri == str(path), name
        else:
            with pytest.raises(InputError) as ei:
                load_image(path)
            assert ei.value.kind == kind, f"{name}: {ei.value.kind}: {ei.value}"
            assert str(ei.value).startswith(str(path)), name  # names the input
            info = ei.value.image_info
            assert isinstance(info, ImageInfo) and info.uri == str(path)
            # the error document the adapters build from it validates
            ErrorDocument(image=info, stage="load", error=ErrorInfo(kind=ei.value.kind,
                                                                   message=str(ei.value)))


# --------------------------------------------------------------------------------------------
# refusals


def test_empty(cases):
    err = refuse(path_of(cases, "empty"), "empty")
    assert "0 bytes" in str(err)
    refuse(b"", "empty")


def test_truncated_jpeg_raises(cases):
    err = refuse(path_of(cases, "truncated_jpeg"), "truncated")
    assert "truncated" in str(err)


def test_truncated_jpeg_raises_even_if_someone_enabled_grey_fill(cases, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    refuse(path_of(cases, "truncated_jpeg"), "truncated")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize("cut", [0.25, 0.5, 0.9])
def test_truncated_jpeg_any_cut(cut):
    buf = io.BytesIO()
    Image.fromarray(bi.noise_rgb()).save(buf, "JPEG", quality=90, progressive=cut == 0.9)
    data = buf.getvalue()
    refuse(data[: int(len(data) * cut)], "truncated")


def test_truncated_png_and_tiff(cases):
    refuse(path_of(cases, "truncated_png"), "truncated")
    refuse(path_of(cases, "truncated_tiff"), "truncated")


def test_text_named_jpg_is_not_an_image(cases):
    err = refuse(path_of(cases, "text_as_jpg"), "not-an-image")
    msg = str(err)
    assert "not an image" in msg and "text" in msg and ".jpg" in msg
    err = refuse(path_of(cases, "xml_error_as_png"), "not-an-image")
    assert "HTML/XML" in str(err)


def test_unsupported_format_is_not_an_image():
    buf = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buf, "EPS")  # Pillow can read EPS (via Ghostscript): not us
    refuse(buf.getvalue(), "not-an-image")
    refuse(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "not-an-image")


def test_extension_is_never_trusted(cases):
    li = load(cases, "png_named_jpg")  # PNG content, .jpg name
    assert li.rgb.shape == (150, 200, 3)


def test_one_pixel_is_too_small(cases):
    err = refuse(path_of(cases, "one_pixel_png"), "too-small")
    assert "1x1" in str(err)
    assert load(cases, "one_pixel_png", min_side=1).rgb.shape == (1, 1, 3)


def test_min_side_checks_each_side(cases):
    refuse(path_of(cases, "rgb_png"), "too-small", min_side=151)  # 200 x 150
    assert load(cases, "rgb_png", min_side=150).rgb.shape == (150, 200, 3)


def test_decompression_bomb_refused_from_header(cases, monkeypatch):
    path = path_of(cases, "bomb_png")
    assert path.stat().st_size < 200_000  # a few hundred kB declaring 30000 x 30000
    spy = DecodeSpy(monkeypatch)
    t0 = time.perf_counter()
    err = refuse(path, "decompression-bomb")
    assert time.perf_counter() - t0 < 1.0
    assert spy.calls == 0  # no pixel was decoded
    assert "30000x30000" in str(err) and "120,000,000" in str(err)
    assert (err.image_info.width, err.image_info.height) == (30000, 30000)


def test_bomb_refused_by_our_check_when_pillow_would_accept(cases, monkeypatch):
    # 900 M px is also over Pillow's own hard limit; check a size only our limit catches.
    spy = DecodeSpy(monkeypatch)
    err = refuse(path_of(cases, "rgb_png"), "decompression-bomb", max_pixels=10_000)
    assert spy.calls == 0
    assert "200x150" in str(err) and "10,000" in str(err)
    assert load(cases, "rgb_png", max_pixels=200 * 150).rgb.shape == (150, 200, 3)


def test_multipage_bomb_checks_the_page_it_uses(cases):
    # largest page is 300 x 200 = 60000 px
    refuse(path_of(cases, "multipage_tiff"), "decompression-bomb", max_pixels=59_999)


def test_max_pixels_from_settings_env(cases, monkeypatch):
    monkeypatch.setenv("HERBMORPH_MAX_PIXELS", "1000")
    refuse(path_of(cases, "rgb_png"), "decompression-bomb")


def test_our_limit_speaks_not_pillows(cases, monkeypatch):
    # A Pillow limit below ours must not refuse what we accept ...
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert load(cases, "rgb_png").rgb.shape == (150, 200, 3)
    assert Image.MAX_IMAGE_PIXELS >= Settings().max_pixels
    # ... and it is never lowered: other Pillow users keep at least our guard.
    load(cases, "rgb_png", max_pixels=50_000)
    assert Image.MAX_IMAGE_PIXELS >= Settings().max_pixels


def test_pillow_bomb_error_maps_to_our_kind(cases, monkeypatch):
    monkeypatch.setattr(decode, "_sync_pillow_limits", lambda max_pixels: None)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 200 x 150 > 2 x 1000: Pillow raises
    err = refuse(path_of(cases, "rgb_png"), "decompression-bomb")
    assert "200x150" in str(err)


def test_pillow_bomb_warning_as_error_maps_to_our_kind(cases, monkeypatch):
    import warnings

    monkeypatch.setattr(decode, "_sync_pillow_limits", lambda max_pixels: None)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 20_000)  # 30000 px: warning zone
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        refuse(path_of(cases, "rgb_png"), "decompression-bomb")


def test_too_large_checked_before_reading(cases, monkeypatch):
    path = path_of(cases, "too_large")  # sparse, Settings().max_bytes + 1
    opened = []
    monkeypatch.setattr(read, "open", lambda *a, **k: opened.append(a) or open(*a, **k),
                        raising=False)
    t0 = time.perf_counter()
    err = refuse(path, "too-large")
    assert time.perf_counter() - t0 < 0.5
    assert opened == []  # refused from stat(), not a byte read
    assert f"{Settings().max_bytes:,}" in str(err)
    assert err.image_info.size_bytes == Settings().max_bytes + 1


def test_too_large_configurable(cases, monkeypatch):
    path = path_of(cases, "rgb_png")
    size = path.stat().st_size
    refuse(path, "too-large", max_bytes=size - 1)
    refuse(path.read_bytes(), "too-large", max_bytes=size - 1)
    with open(path, "rb") as f:
        refuse(f, "too-large", max_bytes=size - 1)
    assert load_image(path, max_bytes=size).info.size_bytes == size
    monkeypatch.setenv("HERBMORPH_MAX_BYTES", str(size - 1))
    refuse(path, "too-large")


def test_missing_and_directory(tmp_path):
    assert refuse(tmp_path / "nope.jpg", "not-found")
    refuse(tmp_path, "not-an-image")


def test_unsupported_mode_complex_tiff(cases):
    err = refuse(path_of(cases, "complex_tiff"), "unsupported-mode")
    assert "complex" in str(err)


def test_float_rgb_tiff_without_tifffile_is_unsupported_mode(cases, monkeypatch):
    monkeypatch.setitem(sys.modules, "tifffile", None)  # import tifffile -> ImportError
    err = refuse(path_of(cases, "float_rgb_tiff"), "unsupported-mode")
    assert "tifffile" in str(err)


# --------------------------------------------------------------------------------------------
# awkward inputs that must load


def test_plain_rgb_exact(cases):
    li = load(cases, "rgb_png")
    assert li.warnings == []
    with Image.open(path_of(cases, "rgb_png")) as im:
        assert np.array_equal(li.rgb, np.asarray(im.convert("RGB")))


def test_cmyk_jpeg(cases):
    li = load(cases, "cmyk_jpeg")
    assert li.rgb.shape == (64, 64, 3)
    assert np.abs(li.rgb[8, 32].astype(int) - bi.CMYK_TOP_RGB).max() <= 8
    assert np.abs(li.rgb[56, 32].astype(int) - bi.CMYK_BOTTOM_RGB).max() <= 8


@pytest.mark.parametrize("name", ["grey_jpeg", "grey_png", "la_png", "bilevel_png"])
def test_greyscale_modes(cases, name):
    li = load(cases, name)
    assert li.rgb.shape == (150, 200, 3)
    assert np.array_equal(li.rgb[..., 0], li.rgb[..., 1])
    assert np.array_equal(li.rgb[..., 0], li.rgb[..., 2])
    if name == "bilevel_png":
        assert set(np.unique(li.rgb)) <= {0, 255}


def test_palette_png(cases):
    li = load(cases, "palette_png")
    with Image.open(path_of(cases, "palette_png")) as im:
        assert np.array_equal(li.rgb, np.asarray(im.convert("RGB")))


@pytest.mark.parametrize("name", ["png16", "tiff16", "tiff16_big_endian"])
def test_16bit_grey_is_high_byte(cases, name):
    li = load(cases, name)
    expected = (bi.ramp16() >> 8).astype(np.uint8)
    assert li.rgb.shape == expected.shape + (3,)
    for c in range(3):
        assert np.array_equal(li.rgb[..., c], expected)
    assert any("16-bit" in w and "8-bit" in w for w in li.warnings)


@pytest.mark.parametrize("name", ["rgb48_png", "rgb48_tiff"])
def test_48bit_rgb(cases, name):
    li = load(cases, name)
    r = bi.ramp16()
    assert np.array_equal(li.rgb[..., 0], (r >> 8).astype(np.uint8))
    assert np.array_equal(li.rgb[..., 1], ((65535 - r) >> 8).astype(np.uint8))
    assert np.all(li.rgb[..., 2] == 0x12)
    assert any("16-bit" in w for w in li.warnings)


@pytest.mark.parametrize("name", ["tiff_int32", "tiff_float"])
def test_32bit_grey_is_stretched(cases, name):
    li = load(cases, name)
    g = li.rgb[0, :, 0].astype(int)
    assert g[0] == 0 and g[-1] == 255
    assert np.all(np.diff(g) >= 0)
    assert li.warnings


def test_float_rgb_tiff_via_tifffile(cases):
    pytest.importorskip("tifffile")
    li = load(cases, "float_rgb_tiff")
    assert li.rgb.shape == (bi.SIZE16[1], bi.SIZE16[0], 3)
    assert li.rgb[0, 0].tolist() == [0, 255, 18]
    assert li.rgb[0, -1].tolist() == [255, 0, 18]


def test_lab_tiff(cases):
    li = load(cases, "lab_tiff")
    r, g, b = li.rgb[10, 10].astype(int)
    assert r > 200 and g < 60 and b < 60  # L=53 a=80 b=67 is a strong red


@pytest.mark.parametrize("name", ["rgba_png", "rgba_tiff", "palette_trns_png"])
def test_alpha_flattened_on_white(cases, name):
    li = load(cases, name)
    h, w, _ = li.rgb.shape
    assert (h, w) == (60, 80)
    assert np.all(li.rgb[:, : w // 2] == 255)  # transparent (black) pixels -> white
    assert np.abs(li.rgb[:, w // 2 + 1:].astype(int) - bi.ALPHA_COLOUR).max() <= 4
    assert "alpha flattened on white" in li.warnings


def test_opaque_alpha_is_dropped_silently(cases):
    li = load(cases, "la_png")  # LA with alpha 255 everywhere
    assert li.warnings == []


def test_multipage_tiff_uses_largest_page(cases):
    li = load(cases, "multipage_tiff")
    w, h, colour = bi.MULTIPAGE_PAGES[bi.MULTIPAGE_LARGEST]
    assert li.rgb.shape == (h, w, 3)
    assert (li.info.width, li.info.height) == (w, h)
    assert np.all(li.rgb == np.array(colour, dtype=np.uint8))
    assert f"multi-page TIFF: used page {bi.MULTIPAGE_LARGEST + 1} of 3 (largest)" in li.warnings


def test_exif_orientation_6(cases):
    li = load(cases, "exif6_jpeg")
    sw, sh = bi.EXIF_STORED_SIZE
    assert li.rgb.shape == (sw, sh, 3)  # displayed: height = stored width
    assert (li.info.width, li.info.height) == (sh, sw)
    m = bi.EXIF_MARK
    top_right = li.rgb[2 : m - 2, sh - m + 2 : sh - 2].reshape(-1, 3).mean(axis=0)
    top_left = li.rgb[2 : m - 2, 2 : m - 2].reshape(-1, 3).mean(axis=0)
    assert top_right[0] > 200 and top_right[1] < 60 and top_right[2] < 60  # red mark
    assert top_left.min() > 200  # white


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "WEBP"])
def test_orientation_in_other_formats(fmt):
    if fmt == "WEBP" and "WEBP" not in formats._open_formats():
        pytest.skip("no WebP in this Pillow build")
    w, h = bi.EXIF_STORED_SIZE
    a = np.full((h, w, 3), 255, dtype=np.uint8)
    a[: bi.EXIF_MARK, : bi.EXIF_MARK] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, fmt, exif=exif.tobytes(), **({"lossless": True} if fmt == "WEBP" else {}))
    li = load_image(buf.getvalue())
    assert li.rgb.shape == (w, h, 3)
    assert li.rgb[2, h - 3].tolist() == [255, 0, 0]
    assert li.rgb[2, 2].tolist() == [255, 255, 255]
    info = describe(buf.getvalue())
    assert (info.width, info.height) == (h, w)


@pytest.mark.parametrize("name", ["bmp", "gif", "webp", "rgb_jpeg"])
def test_other_formats(cases, name):
    if name not in cases:
        pytest.skip(f"{name} not supported by this Pillow build")
    li = load(cases, name)
    assert li.rgb.shape == (150, 200, 3)


def test_animated_gif_uses_first_frame():
    frames = [Image.new("RGB", (40, 40), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    li = load_image(buf.getvalue())
    assert li.rgb[0, 0].tolist() == [255, 0, 0]
    assert any("frames" in w for w in li.warnings)


# --------------------------------------------------------------------------------------------
# sources, hashing, describe


def test_sha256_of_original_bytes(cases):
    for name in ("rgb_jpeg", "exif6_jpeg", "png16", "cmyk_jpeg"):
        data = path_of(cases, name).read_bytes()
        li = load_image(data)
        assert li.info.sha256 == hashlib.sha256(data).hexdigest() == sha256_bytes(data)
        assert li.info.uri == imageio.BYTES_URI
        assert li.info.size_bytes == len(data)


def test_sources_agree(cases):
    path = path_of(cases, "exif6_jpeg")
    data = path.read_bytes()
    a = load_image(path)
    b = load_image(str(path), uri="s3://herbarium/sheets/exif6.jpg")
    c = load_image(data, uri="s3://herbarium/sheets/exif6.jpg")
    with open(path, "rb") as f:
        d = load_image(f)
    assert b.info.uri == c.info.uri == "s3://herbarium/sheets/exif6.jpg"
    assert d.info.uri == str(path)
    for other in (b, c, d):
        assert np.array_equal(a.rgb, other.rgb)
        assert other.info.sha256 == a.info.sha256
        assert (other.info.width, other.info.height) == (a.info.width, a.info.height)


def test_describe_never_decodes(cases, monkeypatch):
    spy = DecodeSpy(monkeypatch)
    for path, _ in cases.values():
        describe(path)
    assert spy.calls == 0


def test_describe_never_raises(cases, tmp_path):
    for name, (path, kind) in cases.items():
        info = describe(path)
        assert isinstance(info, ImageInfo) and info.uri == str(path)
        assert info.size_bytes == path.stat().st_size
        if kind is None:
            li = load_image(path)
            assert info.sha256 == li.info.sha256
            assert (info.width, info.height) == (li.info.width, li.info.height), name
    assert describe(path_of(cases, "bomb_png")).width == bi.BOMB_SIDE
    assert describe(path_of(cases, "text_as_jpg")).width is None
    assert describe(tmp_path / "missing.jpg").sha256 is None
    assert describe(tmp_path).uri == str(tmp_path)
    assert describe(b"xyz", uri="s3://b/k").sha256 == hashlib.sha256(b"xyz").hexdigest()
    assert describe(12345).uri  # type: ignore[arg-type]


def test_module_stays_light():
    code = ("import sys, herbmorph.imageio; "
            "bad = [m for m in ('torch', 'cv2', 'ultralytics', 'tifffile') if m in sys.modules]; "
            "assert not bad, bad")
    env = dict(os.environ)
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)
