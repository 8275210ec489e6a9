"""Tiny labelled sheets drawn with PIL, written as a user's label export would be: a COCO
instance-segmentation JSON (as CVAT or Label Studio write it) or an Ultralytics YOLO-seg folder.

Each sheet is cream paper with green leaves, brown stems, red fruits, a black-and-white ruler
and a small dark "insect damage" spot, so a label file can carry organ classes, a non-organ
class and a class we do not know, under whatever names and in whatever order a test wants.
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw

# What each drawn thing is, in our words; tests choose the names the label file uses.
KINDS = ("leaf", "stem", "fruit", "ruler", "damage")


@dataclass
class Sheet:
    name: str
    image: Image.Image
    shapes: list[tuple[str, list[tuple[float, float]]]] = field(default_factory=list)  # (kind, polygon)


def _leaf(cx, cy, length, width, angle):
    pts = []
    for i in range(24):
        t = 2 * math.pi * i / 24
        x, y = length / 2 * math.cos(t), width / 2 * math.sin(t) * abs(math.cos(t / 2)) ** 0.3
        ca, sa = math.cos(angle), math.sin(angle)
        pts.append((cx + x * ca - y * sa, cy + x * sa + y * ca))
    return pts


def _bar(x0, y0, x1, y1, width):
    dx, dy = x1 - x0, y1 - y0
    n = math.hypot(dx, dy) or 1.0
    ox, oy = -dy / n * width / 2, dx / n * width / 2
    return [(x0 + ox, y0 + oy), (x1 + ox, y1 + oy), (x1 - ox, y1 - oy), (x0 - ox, y0 - oy)]


def _circle(cx, cy, r, n=16):
    return [(cx + r * math.cos(2 * math.pi * i / n), cy + r * math.sin(2 * math.pi * i / n)) for i in range(n)]


def draw_sheet(seed: int, size: tuple[int, int] = (256, 320)) -> Sheet:
    rng = random.Random(seed)
    w, h = size
    img = Image.new("RGB", size, (236, 228, 205))
    d = ImageDraw.Draw(img)
    sheet = Sheet(f"sheet_{seed:03d}.jpg", img)

    def add(kind, poly, fill):
        d.polygon(poly, fill=fill)
        sheet.shapes.append((kind, [(round(x, 1), round(y, 1)) for x, y in poly]))

    # a stem up the middle, leaves off it, a fruit or two, a ruler along the bottom
    x0, x1 = w * rng.uniform(0.4, 0.6), w * rng.uniform(0.4, 0.6)
    add("stem", _bar(x0, h * 0.12, x1, h * 0.78, 4), (110, 80, 45))
    for k in range(rng.randint(2, 3)):
        t = 0.25 + 0.2 * k
        cx = x0 + (x1 - x0) * t + rng.choice((-1, 1)) * w * 0.18
        add("leaf", _leaf(cx, h * (0.12 + 0.66 * t), w * 0.3, w * 0.12, rng.uniform(-0.6, 0.6)),
            (60 + rng.randint(0, 40), 110 + rng.randint(0, 30), 50))
    add("fruit", _circle(x0 + rng.uniform(-8, 8), h * 0.1, w * 0.05), (190, 40, 35))
    add("ruler", [(w * 0.1, h * 0.86), (w * 0.9, h * 0.86), (w * 0.9, h * 0.93), (w * 0.1, h * 0.93)], (250, 250, 250))
    for i in range(11):
        x = w * 0.1 + i * (w * 0.8 / 10)
        d.line([(x, h * 0.86), (x, h * (0.9 if i % 5 else 0.92))], fill=(0, 0, 0), width=1)
    add("damage", _circle(w * rng.uniform(0.15, 0.3), h * rng.uniform(0.3, 0.6), 5, n=8), (60, 40, 30))
    return sheet


def draw_sheets(n: int, seed: int = 0, size: tuple[int, int] = (256, 320)) -> list[Sheet]:
    return [draw_sheet(seed + i, size) for i in range(n)]


def write_coco(folder: Path, sheets: list[Sheet], names: dict[str, str], category_ids: dict[str, int],
               images_subdir: str = "images") -> Path:
    """A COCO export: ``folder/annotations.json`` with its images under ``folder/images_subdir``.

    ``names`` maps our kinds to the export's class names (kinds left out are not labelled);
    ``category_ids`` gives each export class name its id, in the order the export lists them."""
    (folder / images_subdir).mkdir(parents=True, exist_ok=True)
    cats = [{"id": cid, "name": name, "supercategory": ""} for name, cid in category_ids.items()]
    images, anns = [], []
    for i, s in enumerate(sheets, start=1):
        s.image.save(folder / images_subdir / s.name, quality=95)
        images.append({"id": i, "file_name": s.name, "width": s.image.width, "height": s.image.height})
        for kind, poly in s.shapes:
            if kind not in names:
                continue
            xs, ys = [p[0] for p in poly], [p[1] for p in poly]
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": category_ids[names[kind]],
                         "segmentation": [[c for p in poly for c in p]], "iscrowd": 0,
                         "bbox": [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)],
                         "area": 0.5 * abs(sum(xs[k] * ys[k - 1] - xs[k - 1] * ys[k] for k in range(len(xs))))})
    out = folder / "annotations.json"
    out.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return out


def write_yolo_seg(folder: Path, splits: dict[str, list[Sheet]], names: dict[int, str],
                   kind_of: dict[str, str]) -> Path:
    """An Ultralytics YOLO-seg folder (``data.yaml``, ``images/<split>``, ``labels/<split>``).

    ``names`` is the model's class list; ``kind_of`` maps each of those names to the kind drawn
    (names absent from it get no instances)."""
    import yaml

    index = {kind_of[name]: i for i, name in names.items() if name in kind_of}
    for split, sheets in splits.items():
        (folder / "images" / split).mkdir(parents=True, exist_ok=True)
        (folder / "labels" / split).mkdir(parents=True, exist_ok=True)
        for s in sheets:
            s.image.save(folder / "images" / split / s.name, quality=95)
            lines = [" ".join([str(index[kind])] + [f"{v:.5f}" for x, y in poly for v in (x / s.image.width,
                                                                                       y / s.image.height)])
                     for kind, poly in s.shapes if kind in index]
            (folder / "labels" / split / f"{Path(s.name).stem}.txt").write_text("\n".join(lines) + "\n")
    data = {"path": str(folder.resolve()), **{split: f"images/{split}" for split in splits}, "names": names}
    (folder / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return folder / "data.yaml"


def train_tiny_model(data_yaml: Path, out: Path, imgsz: int = 64) -> Path:
    """A real YOLO11n-seg trained for one epoch from scratch on the CPU: seconds, and a model
    whose classes carry exactly the names of its data.yaml."""
    import os

    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics import YOLO

    model = YOLO("yolo11n-seg.yaml")
    model.train(data=str(data_yaml), imgsz=imgsz, epochs=1, batch=4, device="cpu", workers=0,
                project=str(out.parent / "runs"), name=out.stem, exist_ok=True, seed=0, deterministic=True,
                plots=False, amp=False, pretrained=False, val=False, verbose=False, mosaic=0.0)
    trained = out.parent / "runs" / out.stem / "weights" / "last.pt"
    trained.replace(out)
    return out
