"""Area core (cm²), the result document and the overlay PNG. Fast, CPU only, no torch."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "functions") not in sys.path:
    sys.path.insert(0, str(REPO / "functions"))

from herbmorph.area import build_document, organs_with_area  # noqa: E402
from herbmorph.area.core import area_cm2  # noqa: E402
from herbmorph.area.overlay import CLASS_COLORS, MASK_ALPHA, render_overlay  # noqa: E402
from herbmorph.results import (  # noqa: E402
    ImageInfo,
    ModelInfo,
    Organ,
    ResultDocument,
    ScaleResult,
    SegmentResult,
    from_json,
    to_json,
)

SEG_MODEL = ModelInfo(name="herbmorph-seg-test", sha256="a" * 64)
SCALE_MODEL = ModelInfo(name="herbmorph-scale-test", sha256="b" * 64)


def box_organ(i, cls, x1, y1, x2, y2, conf=0.9):
    poly = [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]
    return Organ(id=i, **{"class": cls}, confidence=conf, bbox=[x1, y1, x2, y2], polygon=poly,
                 area_px=float((x2 - x1) * (y2 - y1)))


def make_doc(organs, scale, width=600, height=400) -> ResultDocument:
    seg = SegmentResult(organs=organs, model=SEG_MODEL, imgsz=1024, conf=0.5)
    return build_document(ImageInfo(uri="s3://herbaria/sheets/x.jpg", sha256="c" * 64, width=width, height=height),
                          seg, scale, {"segment": 12.5, "scale": 3.0})


OK_SCALE = ScaleResult(px_per_cm=50.0, method="ocr-consecutive", status="ok", bbox=[20, 330, 320, 380],
                       model=SCALE_MODEL, tick_px_per_cm=50.1)
NULL_SCALE = ScaleResult.null("no ruler found", model=SCALE_MODEL)


# ----------------------------------------------------------------------------- cm²

def test_area_cm2_conversion_and_rounding():
    organs = [box_organ(0, "leaf", 0, 0, 100, 50), Organ(id=1, **{"class": "seed"}, confidence=0.5,
              bbox=[0, 0, 1, 1], polygon=[], area_px=1.0)]
    out = organs_with_area(organs, ScaleResult(px_per_cm=50.0, status="ok"))
    assert out[0].area_cm2 == 2.0  # 5000 px / 50²
    out = organs_with_area(organs, ScaleResult(px_per_cm=3.0, status="ok"))
    assert out[1].area_cm2 == 0.1111  # 1/9 rounded to 4 decimals
    assert out[0].area_cm2 == round(5000 / 9, 4)
    # the inputs are not modified
    assert organs[0].area_cm2 is None


@pytest.mark.parametrize("scale", [
    ScaleResult.null("no ruler"),
    ScaleResult(px_per_cm=50.0, status="null", reason="disagree"),  # a factor that isn't trusted
    ScaleResult(px_per_cm=None, status="ok"),
    ScaleResult(px_per_cm=0.0, status="ok"),
    ScaleResult(px_per_cm=float("nan"), status="ok"),
])
def test_area_cm2_null_scale(scale):
    out = organs_with_area([box_organ(0, "leaf", 0, 0, 100, 50)], scale)
    assert out[0].area_cm2 is None
    assert out[0].area_px == 5000


def test_area_cm2_helper():
    assert area_cm2(137.9 ** 2 * 6.49, 137.9) == 6.49
    assert area_cm2(100, None) is None


# ----------------------------------------------------------------------------- document

def test_build_document_and_round_trip():
    doc = make_doc([box_organ(0, "leaf", 10, 10, 110, 60), box_organ(1, "stem", 200, 20, 220, 300)], OK_SCALE)
    assert doc.models == {"segment": SEG_MODEL, "scale": SCALE_MODEL}
    assert [o.area_cm2 for o in doc.organs] == [2.0, 2.24]
    assert doc.timings_ms["segment"] == 12.5 and "area" in doc.timings_ms
    assert doc.errors == []
    text = to_json(doc)
    back = from_json(text)
    assert isinstance(back, ResultDocument)
    assert back == doc
    assert to_json(back) == text
    assert '"class": "leaf"' in text and '"schema": "herbmorph/result/1"' in text


def test_build_document_null_scale_errors_and_no_scale_model():
    scale = ScaleResult.null("digits and ticks disagree")
    doc = build_document(ImageInfo(uri="a.jpg"), SegmentResult(organs=[box_organ(0, "root", 0, 0, 10, 10)],
                         model=SEG_MODEL, imgsz=640, conf=0.25), scale, {"area": 1.0}, errors=["scale: ocr failed"])
    assert doc.models == {"segment": SEG_MODEL}
    assert doc.organs[0].area_cm2 is None
    assert doc.scale.status == "null" and doc.scale.reason == "digits and ticks disagree"
    assert doc.timings_ms == {"area": 1.0}
    assert doc.errors == ["scale: ocr failed"]
    assert from_json(to_json(doc)) == doc


# ----------------------------------------------------------------------------- overlay

def _png(data: bytes) -> Image.Image:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def _sheet(w, h):
    return np.full((h, w, 3), 128, np.uint8)  # mid grey: any tint shows


def _tint(px, cls):
    """The pixel is the grey sheet blended with the class colour (alpha MASK_ALPHA)."""
    expected = [MASK_ALPHA * c + (1 - MASK_ALPHA) * 128 for c in CLASS_COLORS[cls]]
    return all(abs(int(p) - e) <= 6 for p, e in zip(px, expected))


def test_overlay_png_size_and_class_colours():
    organs = [box_organ(0, "leaf", 100, 100, 500, 500), box_organ(1, "flower", 1500, 600, 1900, 1000)]
    doc = make_doc(organs, OK_SCALE, width=2400, height=1200)
    im = _png(render_overlay(_sheet(2400, 1200), doc, max_side=1200))
    assert im.size == (1200, 600) and im.mode == "RGB"
    a = np.asarray(im)
    leaf_px = a[150, 150]   # centre of the leaf (300, 300) / 2
    flower_px = a[400, 850]  # centre of the flower (1700, 800) / 2
    assert _tint(leaf_px, "leaf"), leaf_px
    assert _tint(flower_px, "flower"), flower_px
    assert leaf_px[1] > leaf_px[0] and leaf_px[1] > leaf_px[2]       # green
    assert flower_px[0] > flower_px[1] and flower_px[2] > flower_px[1]  # magenta
    # outside the masks the sheet is untouched
    assert tuple(a[560, 600]) == (128, 128, 128)


def test_overlay_never_upscales_and_accepts_grey_and_rgba():
    doc = make_doc([box_organ(0, "seed", 10, 10, 60, 60)], NULL_SCALE, width=300, height=200)
    im = _png(render_overlay(_sheet(300, 200)[:, :, 0], doc))
    assert im.size == (300, 200)
    rgba = np.dstack([_sheet(300, 200), np.full((200, 300), 255, np.uint8)])
    assert _png(render_overlay(rgba, doc)).size == (300, 200)


def test_overlay_null_scale_and_no_organs_and_tall_sheet():
    doc = make_doc([], ScaleResult.null("ruler digits unreadable"), width=1000, height=5000)
    im = _png(render_overlay(_sheet(1000, 5000), doc, max_side=2048))
    assert im.size == (410, 2048)
    # text was drawn somewhere (the legend + "scale: null" label are not grey)
    assert (np.asarray(im) != 128).any()


def test_overlay_coordinates_follow_the_document_image_size():
    # The caller passes a half-size preview of a 2000x1000 sheet: masks must still land right.
    doc = make_doc([box_organ(0, "leaf", 800, 400, 1200, 800)], OK_SCALE, width=2000, height=1000)
    a = np.asarray(_png(render_overlay(_sheet(1000, 500), doc)))
    assert _tint(a[300, 500], "leaf")
    assert tuple(a[100, 100]) == (128, 128, 128)


# ----------------------------------------------------------------------------- import hygiene

def test_area_and_outputs_do_not_import_torch():
    code = (
        "import herbmorph.area, herbmorph.outputs, herbmorph.area.overlay, sys\n"
        "bad = [m for m in ('torch', 'ultralytics', 'tesserocr') if m in sys.modules]\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "functions"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "[]"
