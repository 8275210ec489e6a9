"""Full-resolution sheets end to end: real scans with measured px/cm (when ../shared is beside the
checkout), a synthetic 7000×10000 sheet (always), and a scale stage that fails inside."""
from __future__ import annotations

import json
import resource
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import REPO, SAMPLES, SHARED
from herbmorph.outputs import safe_stem

REAL_SCANS = SHARED / "samples" / "real-scans"
HERBMORPH = [sys.executable, "-m", "herbmorph.cli"]
MAX_RSS_GIB = 2.5


def _measure_cli(paths, out) -> None:
    proc = subprocess.run([*HERBMORPH, "measure", *map(str, paths), "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


@pytest.mark.skipif(not REAL_SCANS.is_dir(), reason="../shared/samples/real-scans is not beside this checkout")
def test_real_scans_never_error_never_wrong(pipeline):
    from herbmorph.evaluate_scale import evaluate_truth

    s = evaluate_truth(pipeline, REAL_SCANS)
    assert s["sheets"] == 8
    assert s["errors"] == 0, [r for r in s["rows"] if r["outcome"] == "error"]
    assert s["wrong"] == 0, [r for r in s["rows"] if r["outcome"] == "WRONG"]
    # Measured: 8 of 8 (6 of 8 until both Golden Thread targets were cut down to their strip).
    assert s["within_2pct"] >= 8, s["rows"]
    for r in s["rows"]:
        if r["outcome"] == "null":
            assert r["detail"], r


@pytest.mark.skipif(not REAL_SCANS.is_dir(), reason="../shared/samples/real-scans is not beside this checkout")
def test_full_resolution_rotated_real_scan_through_the_cli(tmp_path):
    """6416×7024, photographed ~31° askew, block ruler under tape: all three outputs, right scale."""
    name = "ETSU016015_rotated.jpg"
    truth = json.loads((REAL_SCANS / "truth.json").read_text())[name]["px_per_cm"]
    _measure_cli([REAL_SCANS / name], tmp_path)
    stem = safe_stem(name)
    doc = json.loads((tmp_path / f"{stem}.json").read_text())
    assert (tmp_path / f"{stem}.opends.json").is_file() and (tmp_path / f"{stem}.overlay.png").is_file()
    assert doc["image"]["width"] == 6416 and doc["image"]["height"] == 7024
    assert doc["scale"]["status"] == "ok", doc["scale"]
    assert abs(doc["scale"]["px_per_cm"] / truth - 1) <= 0.02
    x1, y1, x2, y2 = doc["scale"]["bbox"]  # in original pixels, around the (turned) ruler
    tx1, ty1, tx2, ty2 = json.loads((REAL_SCANS / "truth.json").read_text())[name]["ruler_bbox"]
    assert x1 < tx2 and tx1 < x2 and y1 < ty2 and ty1 < y2


def test_synthetic_7000x10000_sheet_runs_within_memory(pipeline, tmp_path):
    """A sample sheet blown up to 7000×10000: a result document (not an error), the same scale
    as the original times the blow-up, and the CLI's peak resident memory under 2.5 GiB."""
    src = SAMPLES[0]
    small = pipeline.measure(src, str(src)).doc
    img = cv2.imread(str(src))
    big = cv2.resize(img, (7000, 10000), interpolation=cv2.INTER_CUBIC)
    path = tmp_path / "big.jpg"
    cv2.imwrite(str(path), big, [cv2.IMWRITE_JPEG_QUALITY, 90])
    del big, img
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    _measure_cli([path], tmp_path / "out")
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    assert peak_gib < MAX_RSS_GIB or before / 2**20 >= MAX_RSS_GIB, f"peak RSS {peak_gib:.2f} GiB"
    doc = json.loads((tmp_path / "out" / f"{safe_stem('big.jpg')}.json").read_text())
    assert doc["image"]["width"] == 7000 and doc["organs"]
    if doc["scale"]["status"] == "ok" and small.scale.status == "ok":
        want = small.scale.px_per_cm * 7000 / small.image.width
        assert abs(doc["scale"]["px_per_cm"] / want - 1) <= 0.02, (doc["scale"], want)
    else:
        assert doc["scale"]["reason"]


def test_a_failing_scale_reader_costs_the_scale_only(pipeline, monkeypatch):
    """Any exception inside the scale stage is a null with its reason; the organs stay."""
    from herbmorph.scale import core

    def broken(crop):
        raise np.linalg.LinAlgError("singular matrix")

    monkeypatch.setattr(core, "read_ruler", broken)
    m = pipeline.measure(SAMPLES[0], str(SAMPLES[0]))
    assert m.ok and m.doc.organs
    assert m.doc.scale.status == "null" and "LinAlgError" in m.doc.scale.reason


def test_number_pages_stay_inside_tesseracts_limit():
    """However many numbers a crop holds, no page handed to Tesseract reaches 32767 px."""
    from herbmorph.scale.layout import PAGE_MAX_HEIGHT, _pages

    pages = _pages([60] * 900, gap=34)  # 900 numbers of 60 px: a 60,000+ px strip in one page
    assert sorted(i for p in pages for i in p) == list(range(900))
    for p in pages:
        assert sum(60 + 34 for _ in p) + 34 <= PAGE_MAX_HEIGHT
