"""Tests for the synthetic sheet generator (herbmorph.synth). Fast: low px/cm, few sheets."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from herbmorph.results import ORGAN_CLASSES
from herbmorph.synth import (RULER_DESIGNS, export_yolo, generate_dataset, generate_sheet,
                             generate_sheet_sample, render_colour_chart, render_ruler)
from herbmorph.synth.placement import MAX_ORGANS
from herbmorph.synth.rulers import CM_PER_INCH
from herbmorph.synth.sheet import rotate_image, rotate_points


def _period_and_phase(profile: np.ndarray, lo: int, hi: int, period_guess: float,
                      rel: float = 0.02, steps: int = 801) -> tuple[float, float]:
    """Best period near ``period_guess`` (single-frequency DFT scan) and the matching phase.

    ``profile[i]`` is the value of pixel column i, whose centre is the continuous x = i + 0.5.
    """
    p = profile[lo:hi] - np.median(profile[lo:hi])
    x = np.arange(lo, hi) + 0.5
    best = (-1.0, period_guess, 0j)
    for per in np.linspace(period_guess * (1 - rel), period_guess * (1 + rel), steps):
        z = (p * np.exp(-2j * np.pi * x / per)).sum()
        if abs(z) > best[0]:
            best = (abs(z), per, z)
    per = best[1]
    phase = (-np.angle(best[2]) / (2 * np.pi)) * per
    return per, phase % per


def _ink(img: np.ndarray) -> np.ndarray:
    g = img.astype(np.float64).mean(axis=2)
    return 255.0 - g if np.median(g) > 127 else g  # ticks are dark on light or light on dark


def _phase_err(phase: float, x0: float, per: float) -> float:
    return abs(((phase - x0 % per) + per / 2) % per - per / 2)


# --------------------------------------------------------------------------- rulers
@pytest.mark.parametrize("design", RULER_DESIGNS)
@pytest.mark.parametrize("ppc", [15.0, 47.3])
def test_ruler_digits_sit_on_their_ticks(design, ppc):
    r = render_ruler(np.random.default_rng(3), ppc, design)
    H, W = r.image.shape[:2]
    assert r.image.dtype == np.uint8 and r.image.ndim == 3 and r.image.shape[2] == 3
    assert W > H  # horizontal
    assert 1.5 * ppc - 1 <= H <= 3.6 * ppc or H < 60  # 1.5–3.5 cm wide (low res may grow)
    cm = [d for d in r.digits if d["unit"] == "cm"]
    inch = [d for d in r.digits if d["unit"] == "inch"]
    assert cm, "every ruler is numbered in cm"
    for d in r.digits:
        x1, y1, x2, y2 = d["bbox"]
        assert x1 < d["cx"] < x2 and y1 < d["cy"] < y2
        assert (x1 + x2) / 2 == pytest.approx(d["cx"], abs=1e-6)  # centred on the tick
        assert 0 <= x1 and x2 <= W and 0 <= y1 and y2 <= H
        assert d["text"] == str(d["value"])
    for d in cm:
        assert d["cx"] == pytest.approx(r.x0 + d["value"] * ppc, abs=1e-6)
    for d in inch:
        assert d["cx"] == pytest.approx(r.inch_x0 + d["value"] * ppc * CM_PER_INCH, abs=1e-6)
    values = [d["value"] for d in cm]
    assert values == sorted(values) and values == list(range(values[0], values[-1] + 1))
    if design == "cm-15":
        assert values[0] == 1 and values[-1] == 15
    elif design == "cm-30":
        assert values[0] == 0 and values[-1] == 30
    else:
        assert values[0] == 0 and 10 <= values[-1] <= 15
    if design == "dual":
        assert [d["value"] for d in inch] in ([0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 5, 6])
    else:
        assert not inch
    h = cm[0]["bbox"][3] - cm[0]["bbox"][1]
    assert 0.25 * ppc <= h <= 0.62 * ppc or (ppc < 25 and 3 <= h <= 9)


@pytest.mark.parametrize("design", RULER_DESIGNS)
@pytest.mark.parametrize("ppc", [15.0, 37.3, 83.9])
def test_ruler_tick_lattice_matches_px_per_cm(design, ppc):
    r = render_ruler(np.random.default_rng(11), ppc, design)
    y0, y1 = r.tick_band
    band = r.image[int(np.ceil(y0)):max(int(np.floor(y1)), int(np.ceil(y0)) + 1)]
    prof = _ink(band).mean(axis=0)
    n_cm = max(d["value"] for d in r.digits if d["unit"] == "cm")
    lo, hi = int(r.x0) - 2, int(r.x0 + n_cm * ppc) + 3
    per, phase = _period_and_phase(prof, lo, hi, ppc / 10)
    assert per * 10 == pytest.approx(ppc, rel=2e-3)
    assert _phase_err(phase, r.x0, per) < 0.1 * per
    if design == "dual":
        y0, y1 = r.inch_band
        band = r.image[int(np.ceil(y0)):int(np.floor(y1)) + 1]
        prof = _ink(band).mean(axis=0)
        div = r.extra["inch_div"]
        lo, hi = int(r.inch_x0) - 2, int(r.inch_x0 + ppc * CM_PER_INCH * 4) + 3
        per, _ = _period_and_phase(prof, lo, hi, ppc * CM_PER_INCH / div)
        assert per * div / CM_PER_INCH == pytest.approx(ppc, rel=3e-3)


def test_colour_chart_is_numbered_by_patch():
    for seed in range(3):
        c = render_colour_chart(np.random.default_rng(seed), 30.0)
        assert 8 <= len(c.digits) <= 15
        assert [d["value"] for d in c.digits] == list(range(1, len(c.digits) + 1))
        assert all(d["unit"] == "patch" for d in c.digits)
        pitch = np.diff([d["cx"] for d in c.digits])
        assert np.all(pitch >= 1.3 * 30.0 - 1e-6)


def test_rotation_helpers_agree():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (7, 12, 3), dtype=np.uint8)
    pts = rng.uniform(0, 1, (50, 2)) * [12, 7]
    for rot in (0, 90, 180, 270):
        r = rotate_image(img, rot)
        q = rotate_points(pts, rot, 12, 7)
        for p, qq in zip(pts, q):
            a = img[int(p[1]), int(p[0])]
            b = r[int(qq[1]), int(qq[0])]
            assert (a == b).all()


# --------------------------------------------------------------------------- sheets
LOW = (15.0, 24.0)


def test_sheet_is_deterministic():
    a_img, a_gt = generate_sheet(np.random.default_rng([5, 1]), LOW)
    b_img, b_gt = generate_sheet(np.random.default_rng([5, 1]), LOW)
    assert np.array_equal(a_img, b_img)
    assert json.dumps(a_gt, sort_keys=True) == json.dumps(b_gt, sort_keys=True)
    c_img, _ = generate_sheet(np.random.default_rng([5, 2]), LOW)
    assert a_img.shape != c_img.shape or not np.array_equal(a_img, c_img)


@pytest.mark.parametrize("i", range(6))
def test_sheet_ground_truth_is_exact(i):
    s = generate_sheet_sample(np.random.default_rng([77, i]), LOW, seed=[77, i])
    img, gt, labels = s.image, s.gt, s.labels
    json.dumps(gt)
    H, W = img.shape[:2]
    assert (gt["width"], gt["height"]) == (W, H) and labels.shape == (H, W)
    ppc = gt["px_per_cm"]
    assert LOW[0] <= ppc <= LOW[1]
    if gt["skew_deg"]:  # turned on a table: the paper's own sides, not its box
        q = np.asarray(gt["paper_corners"])
        w_cm, h_cm = sorted(np.hypot(*(q[[1, 2]] - q[[0, 1]]).T) / ppc)
    else:
        w_cm, h_cm = sorted([(gt["paper_bbox"][2] - gt["paper_bbox"][0]) / ppc,
                             (gt["paper_bbox"][3] - gt["paper_bbox"][1]) / ppc])
    assert 25.9 <= w_cm <= 30.1 and 37.9 <= h_cm <= 44.1
    assert 1 <= len(gt["organs"]) <= MAX_ORGANS
    for k, o in enumerate(gt["organs"], start=1):
        assert o["class"] in ORGAN_CLASSES and ORGAN_CLASSES.index(o["class"]) == o["class_id"]
        m = labels == k
        assert o["area_px"] == int(m.sum()) > 0
        ys, xs = np.nonzero(m)
        assert o["bbox"] == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        poly = np.asarray(o["polygon"])
        assert poly.ndim == 2 and poly.shape[1] == 2 and len(poly) >= 1
        assert m[poly[:, 1], poly[:, 0]].all()  # contour vertices are mask pixels
    sc = gt["scale"]
    if sc is not None:
        assert sc["design"] in (*RULER_DESIGNS, "target", "bar") and sc["rotation"] in (0, 90, 180, 270)
        x1, y1, x2, y2 = sc["bbox"]
        assert 0 <= x1 < x2 <= W and 0 <= y1 < y2 <= H
        assert sc["digits"]
        for d in sc["digits"]:
            assert x1 <= d["cx"] <= x2 and y1 <= d["cy"] <= y2
            b = d["bbox"]
            assert x1 - 1e-6 <= b[0] <= d["cx"] <= b[2] <= x2 + 1e-6
            assert y1 - 1e-6 <= b[1] <= d["cy"] <= b[3] <= y2 + 1e-6
        # no organ pixel inside the ruler box (on a turned sheet the box also holds corners beside the ruler)
        if not gt["skew_deg"]:
            assert not (labels[int(y1):int(np.ceil(y2)), int(x1):int(np.ceil(x2))] % 255).any()
    for d in gt["distractors"]:
        x1, y1, x2, y2 = d["bbox"]
        for g in d["digits"]:
            assert x1 <= g["cx"] <= x2 and y1 <= g["cy"] <= y2


def test_sheet_ruler_lattice_survives_placement():
    """End to end: the tick period read back from the sheet matches px_per_cm, any rotation."""
    seen = set()
    for i in range(40):
        s = generate_sheet_sample(np.random.default_rng([123, i]), (30.0, 45.0))
        sc = s.gt["scale"]
        if sc is None or sc["rotation"] in seen or s.gt["skew_deg"] or sc["design"] in ("target", "bar"):
            continue  # straight rulers here; turned sheets, targets and bars have tests of their own
        seen.add(sc["rotation"])
        ppc = s.gt["px_per_cm"]
        x1, y1, x2, y2 = [int(round(v)) for v in sc["bbox"]]
        crop = s.image[y1:y2, x1:x2]
        tx, ty = sc["tick0"][0] - x1, sc["tick0"][1] - y1
        dx, dy = sc["axis"]
        half = max(1, int(0.04 * ppc))
        if dx != 0:   # horizontal ruler: tick band is a few rows around ty
            band = crop[int(ty) - half:int(ty) + half + 1]
            prof, x0 = _ink(band).mean(axis=0), tx
            if dx < 0:
                prof, x0 = prof[::-1], crop.shape[1] - tx
        else:
            band = crop[:, int(tx) - half:int(tx) + half + 1]
            prof, x0 = _ink(band).mean(axis=1), ty
            if dy < 0:
                prof, x0 = prof[::-1], crop.shape[0] - ty
        n_cm = max(d["value"] for d in sc["digits"] if d["unit"] == "cm")
        per, phase = _period_and_phase(prof, int(x0) - 1, int(x0 + n_cm * ppc) + 1, ppc / 10)
        assert per * 10 == pytest.approx(ppc, rel=3e-3), sc
        assert _phase_err(phase, x0, per) < 0.12 * per, sc
        if len(seen) == 4:
            break
    assert len(seen) >= 3


# --------------------------------------------------------------------------- dataset + export
def test_generate_dataset_and_export_yolo(tmp_path):
    d = tmp_path / "train"
    paths = generate_dataset(d, 3, seed=9, px_per_cm_range=LOW, workers=1, progress=False)
    assert [p.name for p in paths] == [f"sheet-9-{i:05d}.jpg" for i in range(3)]
    for p in paths:
        gt = json.loads((d / "gt" / f"{p.stem}.json").read_text())
        assert gt["seed"] == [9, int(p.stem[-5:])]
    again = tmp_path / "again"
    generate_dataset(again, 1, seed=9, px_per_cm_range=LOW, progress=False, start=2)
    assert (again / "gt" / "sheet-9-00002.json").read_text() == (d / "gt" / "sheet-9-00002.json").read_text()

    ys = export_yolo({"train": d, "val": d}, tmp_path / "yolo", max_side=640)
    import yaml
    seg = yaml.safe_load(ys["segment"].read_text())
    sc = yaml.safe_load(ys["scale"].read_text())
    assert seg["names"] == dict(enumerate(ORGAN_CLASSES)) and sc["names"] == {0: "scale"}
    assert seg["train"] == "images/train" and seg["val"] == "images/val"
    n_seg = n_scale = 0
    for split in ("train", "val"):
        for p in paths:
            for root in ("segment", "scale"):
                img = tmp_path / "yolo" / root / "images" / split / p.name
                assert img.exists()
            for line in (tmp_path / "yolo" / "segment" / "labels" / split / f"{p.stem}.txt").read_text().splitlines():
                v = line.split()
                assert int(v[0]) in range(len(ORGAN_CLASSES)) and v[0] == str(int(v[0]))
                xy = np.array(v[1:], float)
                assert len(xy) % 2 == 0 and len(xy) >= 6
                assert xy.min() >= 0 and xy.max() <= 1
                n_seg += 1
            for line in (tmp_path / "yolo" / "scale" / "labels" / split / f"{p.stem}.txt").read_text().splitlines():
                v = line.split()
                assert len(v) == 5 and v[0] == "0"
                b = np.array(v[1:], float)
                assert (b > 0).all() and (b <= 1).all()
                n_scale += 1
    assert n_seg > 0


def test_export_labels_pass_ultralytics_checks(tmp_path):
    utils = pytest.importorskip("ultralytics.data.utils")
    d = tmp_path / "s"
    generate_dataset(d, 2, seed=4, px_per_cm_range=LOW, progress=False)
    export_yolo({"train": d}, tmp_path / "y", max_side=512)
    for root, ncls in (("segment", len(ORGAN_CLASSES)), ("scale", 1)):
        for img in sorted((tmp_path / "y" / root / "images" / "train").glob("*.jpg")):
            lbl = tmp_path / "y" / root / "labels" / "train" / f"{img.stem}.txt"
            out = utils.verify_image_label((str(img), str(lbl), "", False, ncls, 0, 0, False))
            assert out[0] is not None, out[-1]
            assert out[8] == 0, out[-1]  # not corrupt


# --------------------------------------------------------------------------- colour targets, turned sheets
@pytest.mark.parametrize("ppc", [30.0, 71.3])
@pytest.mark.parametrize("seed", [1, 2, 4])
def test_colour_target_scales_and_quarter_inch_patches(ppc, seed):
    from herbmorph.synth.targets import render_target

    t = render_target(np.random.default_rng(seed), ppc)
    ppi = ppc * CM_PER_INCH
    inch = sorted((d for d in t.digits if d["unit"] == "inch"), key=lambda d: d["value"])
    assert [d["value"] for d in inch] == [0, 1, 2, 3, 4]
    sign = -1 if t.extra["inch_reversed"] else 1
    for d in inch:
        assert d["cx"] == pytest.approx(t.inch_x0 + sign * d["value"] * ppi, abs=1e-6)
    cm = [d for d in t.digits if d["unit"] == "cm"]
    assert t.extra["inch_reversed"] == bool(cm)  # beside a cm scale the inches run backwards
    for d in cm:
        assert d["cx"] == pytest.approx(t.x0 + d["value"] * ppc, abs=1e-6)
    patches = t.extra["patch_digits"]
    assert [d["value"] for d in patches] == list(range(1, len(patches) + 1))
    assert np.allclose(np.diff([d["cx"] for d in patches]), ppi / 4)  # the 37%-wrong trap
    y0, y1 = t.inch_band
    prof = _ink(t.image[int(np.ceil(y0)):int(np.floor(y1)) + 1]).mean(axis=0)
    lo, hi = sorted((t.inch_x0, t.inch_x0 + sign * 4 * ppi))
    div = t.extra["inch_div"]
    per, _ = _period_and_phase(prof, int(lo) - 2, int(hi) + 3, ppi / div)
    assert per * div / CM_PER_INCH == pytest.approx(ppc, rel=3e-3)


def test_turned_sheet_ground_truth_is_exact(monkeypatch):
    """A sheet photographed askew: organs read again from the turned label map, and the ruler's
    tick lattice found along its turned axis from its turned tick 0."""
    from herbmorph.synth import skew

    monkeypatch.setattr(skew, "SKEW_P", 1.0)  # every sheet turned: the first with a ruler will do
    for i in range(200):
        s = generate_sheet_sample(np.random.default_rng([31, i]), (30.0, 45.0), seed=[31, i])
        sc = s.gt["scale"]
        if s.gt["skew_deg"] and sc and sc["design"] not in ("target", "bar"):
            break
    else:
        pytest.fail("no turned sheet with a ruler in 200 draws")
    img, gt, labels = s.image, s.gt, s.labels
    assert 3 <= abs(gt["skew_deg"]) <= 35 and labels.shape == img.shape[:2] == (gt["height"], gt["width"])
    for k, o in enumerate(gt["organs"], start=1):
        m = labels == k
        assert o["area_px"] == int(m.sum()) > 0
        ys, xs = np.nonzero(m)
        assert o["bbox"] == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        poly = np.asarray(o["polygon"])
        assert m[poly[:, 1], poly[:, 0]].all()
    ppc = gt["px_per_cm"]
    ax = np.asarray(sc["axis"], float)
    assert np.hypot(*ax) == pytest.approx(1.0, abs=1e-4)
    n_cm = max(d["value"] for d in sc["digits"] if d["unit"] == "cm")
    t = np.arange(-0.5 * ppc, (n_cm + 0.5) * ppc, 0.25)
    grey = img.astype(np.float32).mean(axis=2)
    pts = np.asarray(sc["tick0"]) + t[:, None] * ax
    prof = cv2.remap(grey, pts[:, 0].astype(np.float32)[None], pts[:, 1].astype(np.float32)[None],
                     cv2.INTER_LINEAR)[0]
    prof = 255 - prof if np.median(prof) > 127 else prof
    per, _ = _period_and_phase(np.repeat(prof, 1), 0, len(prof), ppc / 10 / 0.25)
    assert per * 0.25 * 10 == pytest.approx(ppc, rel=5e-3)


# --------------------------------------------------------------------------- pressed, dried specimens
N_LOOK = 30  # sheets for the statistics below (low px/cm: about 0.2 s each)


@pytest.fixture(scope="module")
def look_sheets():
    return [generate_sheet_sample(np.random.default_rng([2024, i]), LOW, seed=[2024, i]) for i in range(N_LOOK)]


def _zhang_suen(m: np.ndarray) -> np.ndarray:
    """Thin a binary mask to a one-pixel skeleton (Zhang & Suen 1984)."""
    s = np.pad(m.astype(np.uint8), 1)
    while True:
        changed = False
        for step in (0, 1):
            p = [np.roll(np.roll(s, -dy, 0), -dx, 1) for dy, dx in
                 ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))]  # P2..P9
            b = sum(p)
            a = sum(((p[i] == 0) & (p[(i + 1) % 8] == 1)).astype(np.uint8) for i in range(8))
            if step == 0:
                c = (p[0] * p[2] * p[4] == 0) & (p[2] * p[4] * p[6] == 0)
            else:
                c = (p[0] * p[2] * p[6] == 0) & (p[0] * p[4] * p[6] == 0)
            kill = (s == 1) & (b >= 2) & (b <= 6) & (a == 1) & c
            if kill.any():
                s[kill] = 0
                changed = True
        if not changed:
            return s[1:-1, 1:-1].astype(bool)


def _neighbours(sk: np.ndarray) -> np.ndarray:
    k = np.ones((3, 3), np.float32)
    k[1, 1] = 0
    return cv2.filter2D(sk.astype(np.float32), -1, k, borderType=cv2.BORDER_CONSTANT).astype(int) * sk


def _branch_points(mask: np.ndarray, prune_px: int) -> int:
    """Junctions of the skeleton that survive pruning every branch shorter than ``prune_px``."""
    sk = _zhang_suen(mask)
    for _ in range(prune_px):  # spurs (short side twigs of the thinning) go; real branches only shorten
        ends = (_neighbours(sk) == 1)
        if not ends.any():
            break
        sk &= ~ends
    n = cv2.connectedComponents(((_neighbours(sk) >= 3) & sk).astype(np.uint8))[0] - 1
    return n


def _crop(labels: np.ndarray, o: dict, k: int) -> np.ndarray:
    x1, y1, x2, y2 = (int(v) for v in o["bbox"])
    return labels[y1:y2, x1:x2] == k


def test_each_class_is_on_enough_sheets(look_sheets):
    """Every class is common enough to be learned: counted over 30 sheets."""
    sheets = {c: 0 for c in ORGAN_CLASSES}
    count = {c: 0 for c in ORGAN_CLASSES}
    for s in look_sheets:
        seen = {o["class"] for o in s.gt["organs"]}
        for c in seen:
            sheets[c] += 1
        for o in s.gt["organs"]:
            count[o["class"]] += 1
    share = {c: sheets[c] / N_LOOK for c in ORGAN_CLASSES}
    assert share["leaf"] >= 0.9 and share["stem"] >= 0.75, share
    assert min(share["root"], share["seed"], share["flower"], share["fruit"]) >= 0.25, share
    assert count["seed"] >= 60 and count["root"] >= 10 and count["stem"] >= 40, count
    assert np.median([len(s.gt["organs"]) for s in look_sheets]) >= 15  # specimens, not a few scraps


def test_leaf_colours_run_from_green_to_near_black(look_sheets):
    """Measured on the sheets' pixels: leaves that are green, olive or yellow-brown, brown, and
    near black are all there."""
    kinds = {"green": 0, "olive-yellow": 0, "brown": 0, "near-black": 0}
    for s in look_sheets:
        for k, o in enumerate(s.gt["organs"], start=1):
            if o["class"] != "leaf" or o["area_px"] < 100:
                continue
            r, g, b = np.median(s.image[s.labels == k].astype(float), axis=0)
            if max(r, g, b) < 80:
                kinds["near-black"] += 1
            elif g >= r + 3:
                kinds["green"] += 1
            elif r - g < 20 and g - b > 25:
                kinds["olive-yellow"] += 1
            elif r - g >= 20:
                kinds["brown"] += 1
    assert all(v >= 3 for v in kinds.values()), kinds


def test_stems_are_thin_and_branch(look_sheets):
    """Stems measured on their masks: most are under 4 mm wide, many under 1.5 mm (wiry), and
    many branch (a junction left after pruning spurs shorter than 1 cm)."""
    widths, branched, n = [], 0, 0
    for s in look_sheets:
        ppc = s.gt["px_per_cm"]
        for k, o in enumerate(s.gt["organs"], start=1):
            if o["class"] != "stem" or s.gt["skew_deg"]:
                continue
            m = _crop(s.labels, o, k)
            if m.sum() < 30:
                continue
            n += 1
            dist = cv2.distanceTransform(np.pad(m, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
            sk = _zhang_suen(m)
            widths.append(2 * np.median(dist[sk]) / ppc)
            branched += _branch_points(m, int(ppc)) > 0
    widths = np.array(widths)
    assert n >= 30
    assert np.mean(widths < 0.4) >= 0.8 and np.mean(widths < 0.15) >= 0.25, np.round(np.percentile(widths, [10, 50, 90]), 3)
    assert branched >= 0.25 * n, (branched, n)


def test_branch_points_of_known_shapes():
    """The test's own measure: a straight bar has no junction, a Y has one, whatever a small
    bump on its side."""
    bar = np.zeros((60, 200), np.uint8)
    cv2.line(bar, (10, 30), (190, 30), 1, 5)
    cv2.circle(bar, (100, 30), 5, 1, -1)
    assert _branch_points(bar.astype(bool), 15) == 0
    y = bar.copy()
    cv2.line(y, (100, 30), (160, 2), 1, 3)
    cv2.line(y, (100, 30), (100, 59), 1, 3)
    assert _branch_points(y.astype(bool), 15) >= 1


def test_no_organ_pixel_under_a_label_yet_organs_run_under_labels(look_sheets):
    """Organs may lie under labels, barcodes and envelopes, but the label's pixels are never the
    organ's: the masks hold only what shows. Checked on straight sheets, where boxes are exact."""
    under = 0
    for s in look_sheets:
        if s.gt["skew_deg"]:
            continue
        plant = (s.labels > 0) & (s.labels < 255)
        for d in s.gt["distractors"]:
            if d["kind"] not in ("label", "barcode", "envelope"):
                continue
            x1, y1, x2, y2 = (int(round(v)) for v in d["bbox"])
            assert not plant[y1:y2, x1:x2].any(), d
            ring = plant[max(0, y1 - 2):y2 + 2, max(0, x1 - 2):x2 + 2]
            under += bool(ring.any())   # plant touching the label's edge: it runs on underneath
    assert under >= 5


def test_opaque_tape_hides_the_plant_and_clear_tape_does_not():
    """A strip of gummed paper across a stem cuts the stem's mask; clear tape leaves it whole."""
    from herbmorph.synth import extras
    from herbmorph.synth.organs import make_stem
    from herbmorph.synth.placement import PlantBed

    class _Sheet:  # bare paper, 20 × 20 cm at 20 px/cm
        ppc = 20.0
        img = np.full((400, 400, 3), 235, np.uint8)
        labels = np.zeros((400, 400), np.uint8)
        distractors = []

        class layout:
            paper = (0, 0, 400, 400)

    for seed in range(30):
        sheet = _Sheet()
        sheet.img, sheet.labels = _Sheet.img.copy(), np.zeros((400, 400), np.uint8)
        bed = PlantBed(sheet, np.random.default_rng(seed))
        path = np.stack([np.full(30, 10.0), np.linspace(2, 18, 30)], 1)
        assert bed.try_place(make_stem(bed.rng, 20.0, [(path, 0.3, 0.2)], colour=np.array([90, 60, 40.0])))
        bed.axes.append((path, 0.3))
        before = (bed.labels == 1).copy()
        assert extras.tape(bed) >= 0
        hidden = before & (bed.labels == 255)
        if hidden.any():
            # the hidden pixels are tape-coloured, the stem lost them, and what is left is
            # still exactly the stem's pixels
            assert sheet.img[hidden].mean() > 180
            organs, labels = bed.ground_truth()
            assert organs[0]["area_px"] == int((labels == 1).sum()) == int(before.sum() - hidden.sum())
            assert cv2.connectedComponents((labels == 1).astype(np.uint8))[0] - 1 >= 2  # cut in two
            return
    pytest.fail("no strip across the stem in 30 tries")


def test_leaf_shapes_faces_and_folds():
    """Every leaf shape draws; both faces and folded leaves occur; a fold keeps the leaf one piece
    of about the same area or less (the flap lies on the blade or beside it)."""
    from herbmorph.synth.leafshapes import SHAPES
    from herbmorph.synth.leaves import make_leaf

    rng = np.random.default_rng(5)
    lower = folded = 0
    for i in range(len(SHAPES) * 8):
        shape = SHAPES[i % len(SHAPES)]
        od = make_leaf(rng, 20.0, np.array([400.0, 400.0]), -np.pi / 2, 8.0, shape, fold_p=0.3)
        assert od is not None and od.cls == "leaf" and od.mask.any(), shape
        assert od.rgb.shape == od.mask.shape + (3,) and od.rgb.dtype == np.uint8
        lower += od.meta["lower"]
        folded += od.meta["folded"]
        area_cm2 = od.mask.sum() / 400.0
        assert 0.1 < area_cm2 < 8.0 * 8.0 * 1.2, (shape, area_cm2)
    assert lower >= 15 and folded >= 8, (lower, folded)
