"""End to end in-process: real YOLO inference with the shipped weights and real Tesseract."""
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import REAL_SHEETS, REPO, SAMPLES
from herbmorph.area import validate_event
from herbmorph.results import ErrorDocument, ResultDocument, from_json
from herbmorph.scale.core import plausibility_reason
from herbmorph.segment.masks import Letterbox, ProtoGrid, mask_extent, organ_mask

OPENDS = REPO.parent / "shared" / "reference" / "opends-0.4"


def test_letterbox_round_trip():
    """A square in original pixels lands on the same square after the mask resampling."""
    lb = Letterbox.fit((600, 300), (640, 320))  # gain 1/… with no padding
    assert lb.pad_x == 0 and lb.pad_y == 0
    lb = Letterbox.fit((300, 600), (640, 640))
    assert lb.gain == pytest.approx(640 / 600) and lb.pad_y == pytest.approx((640 - 320) / 2)
    # one prototype (logits at 1/4 of the model input) positive on the square x 100..200, y 50..150
    grid = ProtoGrid(lb, 4.0)
    cells = np.arange(160) + 0.5
    xs, ys = grid.to_orig(cells, lb.pad_x), grid.to_orig(cells, lb.pad_y)
    inside = ((ys >= 50) & (ys < 150))[:, None] & ((xs >= 100) & (xs < 200))[None, :]
    protos = np.where(inside, 5.0, -5.0).astype(np.float32)[None]
    local, x0, y0 = organ_mask(np.ones(1, np.float32), protos, np.array([100.0, 50, 200, 150]), grid, (300, 600))
    assert abs(x0 - 100) <= 4 and abs(y0 - 50) <= 4
    assert abs(int(local.sum()) - 100 * 100) < 0.05 * 100 * 100
    assert mask_extent(local, x0, y0) == pytest.approx([100, 50, 200, 150], abs=3)


def test_measure_sample_sheet(pipeline):
    m = pipeline.measure(SAMPLES[0], str(SAMPLES[0]))
    assert m.ok, m.doc
    doc = m.doc
    assert doc.image.width == m.rgb.shape[1] and doc.image.height == m.rgb.shape[0]
    assert doc.models["segment"].sha256 and doc.models["scale"].sha256
    for o in doc.organs:
        assert o.class_ in ("leaf", "stem", "flower", "fruit", "root", "seed")
        x1, y1, x2, y2 = o.bbox
        assert 0 <= x1 < x2 <= doc.image.width + 1 and 0 <= y1 < y2 <= doc.image.height + 1
        assert o.area_px > 0 and len(o.polygon) >= 3
        if doc.scale.status == "ok":
            assert o.area_cm2 == pytest.approx(o.area_px / doc.scale.px_per_cm ** 2, rel=1e-3)
        else:
            assert o.area_cm2 is None
    if doc.scale.status == "null":
        assert doc.scale.reason and doc.scale.px_per_cm is None


def test_cli_writes_all_outputs_and_error_documents(tmp_path):
    from badinputs import build_bad_inputs

    bad = build_bad_inputs(tmp_path / "bad", include_too_large=False)
    refused = [p for p, kind in bad.values() if kind is not None][:4]
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "herbmorph.cli", "measure", str(SAMPLES[1]), *map(str, refused),
                           "--out", str(out)], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 1, proc.stderr  # some inputs failed, the rest still went through
    stem = SAMPLES[1].name
    doc = from_json((out / f"{stem}.json").read_text())
    assert isinstance(doc, ResultDocument)
    assert (out / f"{stem}.overlay.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    event = json.loads((out / f"{stem}.opends.json").read_text())
    if OPENDS.is_dir():
        validate_event(event, OPENDS)
    for p in refused:
        err = from_json((out / f"{p.name}.error.json").read_text())  # truncated.jpg/.png/.tif: one each
        assert isinstance(err, ErrorDocument) and err.error.kind and err.error.message
        assert err.image.uri == str(p), (p, err.image.uri)
        assert "Traceback" not in err.error.message
    produced = {p.name for p in out.iterdir()}
    assert not any(n.endswith(".tmp") for n in produced)


def test_measure_a_name_clash_is_an_error_document_never_an_overwrite(tmp_path):
    """``measure`` names outputs by file name: ``a/x.jpg`` takes ``x.jpg.*``; a later ``b/x.jpg``
    is not measured and gets a ``name-clash`` error document under a name of its own (issue 17)."""
    import hashlib
    import re

    for folder, sample in (("a", SAMPLES[0]), ("b", SAMPLES[1])):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.jpg").write_bytes(sample.read_bytes())
    sha = {f: hashlib.sha256((tmp_path / f / "x.jpg").read_bytes()).hexdigest() for f in "ab"}
    assert sha["a"] != sha["b"]
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "herbmorph.cli", "measure", "a/x.jpg", "b/x.jpg", "--out", str(out)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the clash is a failure
    produced = sorted(p.name for p in out.iterdir())
    assert produced[:3] == ["x.jpg.json", "x.jpg.opends.json", "x.jpg.overlay.png"] and len(produced) == 4, produced
    assert re.fullmatch(r"x\.jpg~[0-9a-f]{16}\.error\.json", produced[3]), produced
    first = from_json((out / "x.jpg.json").read_text())
    assert isinstance(first, ResultDocument) and (first.image.uri, first.image.sha256) == ("a/x.jpg", sha["a"])
    clash = from_json((out / produced[3]).read_text())
    assert isinstance(clash, ErrorDocument) and clash.error.kind == "name-clash"
    assert (clash.image.uri, clash.image.sha256) == ("b/x.jpg", sha["b"]) and "a/x.jpg" in clash.error.message
    assert {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()} == {"x.jpg": SAMPLES[1].read_bytes()}


@pytest.mark.parametrize("case", ["cmyk_jpeg", "png16", "exif6_jpeg", "rgba_png", "grey_jpeg",
                                  "multipage_tiff", "tiff16"])
def test_odd_but_valid_images_are_measured(pipeline, tmp_path, case):
    from badinputs import build_bad_inputs

    cases = build_bad_inputs(tmp_path, include_too_large=False)
    if case not in cases:
        pytest.fail(f"fixture {case} missing from badinputs: {sorted(cases)}")
    path, kind = cases[case]
    m = pipeline.measure(path, str(path))
    assert kind is None and m.ok, m.doc


def test_bad_images_give_error_documents(pipeline, tmp_path):
    from badinputs import build_bad_inputs

    for name, (path, kind) in build_bad_inputs(tmp_path, include_too_large=True).items():
        m = pipeline.measure(path, str(path))
        if kind is None:
            continue
        assert not m.ok, name
        assert m.doc.error.kind == kind, (name, m.doc.error)


def test_pixel_limit_is_configurable(tmp_path):
    from herbmorph.config import Settings
    from herbmorph.pipeline import Pipeline

    p = Pipeline(Settings().with_overrides(max_pixels=1000))
    m = p.measure(SAMPLES[0], str(SAMPLES[0]))
    assert not m.ok and m.doc.error.kind == "decompression-bomb"


def test_plausibility_guard():
    assert plausibility_reason(20.0, (1024, 700)) is None          # 51 cm sheet
    assert "implausible" in plausibility_reason(200.0, (1024, 700))  # a 5 cm "sheet"
    assert "implausible" in plausibility_reason(2.0, (1024, 700))    # a 5 m sheet


@pytest.mark.skipif(not REAL_SHEETS.is_dir(), reason="../shared/samples/real-sheets is not beside this checkout")
def test_real_sheets_never_crash_and_never_print_implausible_scales(pipeline):
    sheets = sorted(REAL_SHEETS.glob("*.jpg"))
    assert len(sheets) >= 10
    for path in sheets:
        m = pipeline.measure(path, str(path))
        assert m.ok or m.doc.error.kind, path
        if m.ok and m.doc.scale.status == "ok":
            assert plausibility_reason(m.doc.scale.px_per_cm, (m.doc.image.height, m.doc.image.width)) is None
            assert 8 <= m.doc.scale.px_per_cm <= 400, (path.name, m.doc.scale)
        elif m.ok:
            assert m.doc.scale.reason
