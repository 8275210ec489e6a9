"""Write synthetic sheet datasets and export them as Ultralytics (YOLO) datasets.

Layout written by :func:`generate_dataset`::

    out_dir/images/sheet-<seed>-<i:05d>.jpg   (JPEG quality 90)
    out_dir/gt/sheet-<seed>-<i:05d>.json      (GT dict, see herbmorph.synth.sheet.GT_FORMAT)

Sheet ``i`` is drawn from ``np.random.default_rng([seed, i])``, so any subset can be regenerated
on its own and the result does not depend on ``workers``.

:func:`export_yolo` turns one or more such directories into two Ultralytics datasets:
``segment/`` (organ polygons, classes in ORGAN_CLASSES order) and ``scale/`` (one box per ruler,
class ``scale``; colour charts carry no label and act as negatives).
"""
from __future__ import annotations

import json
import os
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np
import yaml

from ..results import ORGAN_CLASSES, SCALE_CLASSES
from .scanlook import organ_mask, organ_parts, scan_look
from .sheet import generate_sheet

JPEG_QUALITY = 90


def sheet_name(seed: int, i: int) -> str:
    return f"sheet-{seed}-{i:05d}"


def _write_one(args: tuple) -> str:
    out_dir, seed, i, ppc_range, overwrite = args
    out_dir = Path(out_dir)
    name = sheet_name(seed, i)
    img_path = out_dir / "images" / f"{name}.jpg"
    gt_path = out_dir / "gt" / f"{name}.json"
    if not overwrite and img_path.exists() and gt_path.exists():
        return str(img_path)
    image, gt = generate_sheet(np.random.default_rng([seed, i]), tuple(ppc_range), seed=[seed, i])
    gt["image"] = img_path.name
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError(f"JPEG encoding failed for {name}")
    tmp = img_path.with_suffix(".jpg.tmp")
    tmp.write_bytes(buf.tobytes())
    os.replace(tmp, img_path)
    tmp = gt_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(gt, separators=(",", ":")))
    os.replace(tmp, gt_path)
    return str(img_path)


def _init_worker() -> None:
    cv2.setNumThreads(1)


def _each(fn, jobs: list, workers: int, advance):
    """``fn`` over ``jobs``, in order, in ``workers`` processes where more than one is asked for
    (each job stands alone: the results do not depend on ``workers``); ``advance`` after each.

    The processes are spawned, not forked: a child forked after OpenCV's thread pool has run in
    the parent (a sheet drawn or exported in process first, as the tests do) hangs in its
    first parallel OpenCV call."""
    if workers and workers > 1 and len(jobs) > 1:
        import multiprocessing as mp
        with mp.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
            for result in pool.imap(fn, jobs, chunksize=1):
                advance()
                yield result
    else:
        for job in jobs:
            result = fn(job)
            advance()
            yield result


@contextmanager
def _progress(progress: bool, total: int, desc: str):
    """Yield an ``advance()`` callable; a rich bar when asked for, a no-op otherwise."""
    if not progress:
        yield lambda: None
        return
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    with Progress(TextColumn(desc), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn()) as bar:
        task = bar.add_task(desc, total=total)
        yield lambda: bar.advance(task)


def generate_dataset(out_dir: Path, n: int, seed: int, px_per_cm_range=(15, 250),
                     workers: int = 1, progress: bool = True, overwrite: bool = True,
                     start: int = 0) -> list[Path]:
    """Generate sheets ``start .. start+n-1`` into ``out_dir``; returns the image paths in order.

    Deterministic given ``seed`` (sheet i uses ``np.random.default_rng([seed, i])``), whatever
    ``workers`` is. With ``overwrite=False`` sheets already on disk are kept (resumable).
    """
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "gt").mkdir(parents=True, exist_ok=True)
    jobs = [(str(out_dir), int(seed), i, tuple(float(v) for v in px_per_cm_range), overwrite)
            for i in range(start, start + n)]
    with _progress(progress, len(jobs), f"synth sheets → {out_dir}") as advance:
        return [Path(p) for p in _each(_write_one, jobs, workers, advance)]


# --------------------------------------------------------------------------- YOLO export
def merge_polygons(polys: list[np.ndarray]) -> np.ndarray:
    """Join several polygons into one with zero-width bridges (YOLO-seg takes one per instance).

    Each further polygon is spliced into the result at the closest pair of vertices:
    A[:i+1] + B[j:] + B[:j+1] + A[i:].
    """
    polys = [np.asarray(p, np.float64).reshape(-1, 2) for p in polys if len(p)]
    if not polys:
        return np.zeros((0, 2))
    out = polys[0]
    rest = polys[1:]
    while rest:
        best = None
        for k, b in enumerate(rest):
            d = ((out[:, None, :] - b[None, :, :]) ** 2).sum(-1)
            i, j = np.unravel_index(int(np.argmin(d)), d.shape)
            if best is None or d[i, j] < best[0]:
                best = (d[i, j], k, i, j)
        _, k, i, j = best
        b = rest.pop(k)
        out = np.concatenate([out[:i + 1], b[j:], b[:j + 1], out[i:]])
    return out


def _simplify(poly: np.ndarray, eps: float) -> np.ndarray:
    if len(poly) <= 3 or eps <= 0:
        return poly
    s = cv2.approxPolyDP(poly.astype(np.float32).reshape(-1, 1, 2), eps, True).reshape(-1, 2)
    return s if len(s) >= 3 else poly


def _dedupe(poly: np.ndarray) -> np.ndarray:
    if len(poly) < 2:
        return poly
    keep = np.ones(len(poly), bool)
    keep[1:] = np.any(np.abs(np.diff(poly, axis=0)) > 1e-9, axis=1)
    return poly[keep]


def _seg_lines(gt: dict, sx: float, sy: float, w: int, h: int) -> list[str]:
    lines = []
    for o in gt.get("organs", []):
        scaled = []
        for q in organ_parts(o, sx, sy):
            q = _dedupe(np.round(q, 2))
            q = _simplify(q, 0.35)
            if len(q) >= 3 and cv2.contourArea(q.astype(np.float32)) > 0.5:
                scaled.append(q)
        if not scaled:
            continue
        poly = merge_polygons(scaled) if len(scaled) > 1 else scaled[0]
        poly = _dedupe(poly)
        if len(poly) < 3:
            continue
        poly = np.clip(poly / [w, h], 0.0, 1.0)
        cid = int(o["class_id"])
        if not 0 <= cid < len(ORGAN_CLASSES):
            continue
        lines.append(f"{cid} " + " ".join(f"{v:.6f}" for v in poly.reshape(-1)))
    return lines


def _scale_lines(gt: dict, W: int, H: int) -> list[str]:
    sc = gt.get("scale")
    if not sc:
        return []
    x1, y1, x2, y2 = sc["bbox"]
    x1, x2 = max(0.0, x1), min(float(W), x2)
    y1, y2 = max(0.0, y1), min(float(H), y2)
    if x2 <= x1 or y2 <= y1:
        return []
    cx, cy, bw, bh = (x1 + x2) / 2 / W, (y1 + y2) / 2 / H, (x2 - x1) / W, (y2 - y1) / H
    return [f"0 {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}"]


def _iter_sheets(d: Path) -> Iterable[tuple[Path, Path]]:
    for gt_path in sorted((Path(d) / "gt").glob("*.json")):
        img = Path(d) / "images" / f"{gt_path.stem}.jpg"
        if img.exists():
            yield img, gt_path


def export_yolo(splits: dict[str, Path], out_dir: Path, max_side: int = 1024,
                progress: bool = False, scan_texture: bool = False, workers: int = 1) -> dict[str, Path]:
    """Export generated dataset dirs as Ultralytics datasets; returns the two data yaml paths.

    ``splits`` maps a split name ("train", "val", "test") to a directory written by
    :func:`generate_dataset`. Images are downscaled (INTER_AREA) so the long side is at most
    ``max_side``; the same image file serves both datasets. ``scan_texture``: the training
    split's images get a scanned specimen's fine texture (:mod:`.scanlook`), each its own,
    drawn from the sheet's name; the other splits stay as drawn. ``workers`` > 1 exports in as
    many processes (the same files: each sheet's export depends on that sheet alone).
    """
    out_dir = Path(out_dir)
    seg_root, sc_root = out_dir / "segment", out_dir / "scale"
    items = [(str(out_dir), split, str(img), str(gtp), max_side, scan_texture)
             for split, d in splits.items() for img, gtp in _iter_sheets(d)]
    for split in splits:
        for root in (seg_root, sc_root):
            (root / "images" / split).mkdir(parents=True, exist_ok=True)
            (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    with _progress(progress, len(items), f"export YOLO → {out_dir}") as advance:
        for _ in _each(_export_one, items, workers, advance):
            pass
    out = {}
    for key, root, names in (("segment", seg_root, ORGAN_CLASSES), ("scale", sc_root, SCALE_CLASSES)):
        data = {"path": str(root.resolve())}
        for split in splits:
            data[split] = f"images/{split}"
        if "val" not in data and "train" in data:
            data["val"] = data["train"]
        data["names"] = {i: n for i, n in enumerate(names)}
        y = root / "data.yaml"
        y.write_text(yaml.safe_dump(data, sort_keys=False))
        out[key] = y
    return out


def _export_one(item: tuple) -> None:
    """One sheet of :func:`export_yolo`: its image (downscaled, textured for training) and both
    label files."""
    out_dir, split, img_path, gt_path, max_side, scan_texture = item
    seg_root, sc_root = Path(out_dir) / "segment", Path(out_dir) / "scale"
    gt = json.loads(Path(gt_path).read_text())
    img = cv2.imread(img_path, cv2.IMREAD_COLOR)
    if img is None:
        return
    H, W = img.shape[:2]
    f = min(1.0, max_side / max(H, W))
    if f < 1.0:
        img = cv2.resize(img, (max(1, round(W * f)), max(1, round(H * f))), interpolation=cv2.INTER_AREA)
    h, w = img.shape[:2]
    sx, sy = w / W, h / H
    name = Path(img_path).stem
    quality = 95
    if scan_texture and split == "train":
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        img, quality = scan_look(img, organ_mask(gt, sx, sy, (h, w)), rng)
    seg_img = seg_root / "images" / split / f"{name}.jpg"
    cv2.imwrite(str(seg_img), img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    sc_img = sc_root / "images" / split / f"{name}.jpg"
    if sc_img.exists() or sc_img.is_symlink():
        sc_img.unlink()
    try:
        os.link(seg_img, sc_img)
    except OSError:
        cv2.imwrite(str(sc_img), img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    seg_lines = _seg_lines(gt, sx, sy, w, h)
    (seg_root / "labels" / split / f"{name}.txt").write_text("\n".join(seg_lines) + "\n" if seg_lines else "")
    sc_lines = _scale_lines(gt, W, H)
    (sc_root / "labels" / split / f"{name}.txt").write_text("\n".join(sc_lines) + "\n" if sc_lines else "")
