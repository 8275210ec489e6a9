"""COCO instance segmentation, as CVAT ("COCO 1.0") and Label Studio ("COCO") export it.

- Polygons (``segmentation: [[x, y, …], …]``): an instance drawn in several parts keeps all
  of them (they are joined when the YOLO labels are written).
- RLE masks (``segmentation: {size, counts}``, compressed or not) are decoded with pycocotools and
  traced back to polygons. CVAT writes an instance as RLE when its ``is_crowd`` attribute is
  set, so ``iscrowd: 1`` is read as one instance by default; ``skip_crowd`` leaves such regions
  out for exports that use COCO's own meaning (a crowd of objects, not one).
- Box-only annotations are left out: a mask the shape of its box is what the organ model must
  not learn.

Images are looked for under ``images_dir`` when given, else beside the JSON, in ``images/``
beside it, and in CVAT's ``../images/<subset>/`` for ``annotations/instances_<subset>.json``.
"""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import cv2
import numpy as np

from .source import Instance, LabelError, LabelledImage, LabelSet, out_of_bounds, polygon_area

MAX_LISTED = 5  # offending annotations named in one error message


def _image_roots(json_path: Path, images_dir: Path | None) -> list[Path]:
    if images_dir is not None:
        return [Path(images_dir)]
    here = json_path.parent
    roots = [here, here / "images", here.parent / "images"]
    if json_path.stem.startswith("instances_"):  # CVAT: annotations/instances_default.json + images/default/
        roots.append(here.parent / "images" / json_path.stem.removeprefix("instances_"))
    return roots


def _find_image(file_name: str, roots: list[Path]) -> Path | None:
    given = Path(file_name.replace("\\", "/"))
    if given.is_absolute() and given.is_file():
        return given
    for root in roots:
        # Label Studio names a file by its upload path ("/data/upload/3/x.jpg") when exported
        # without images: the name alone is then what can be found.
        for candidate in ((root / given, root / given.name) if not given.is_absolute() else (root / given.name,)):
            if candidate.is_file():
                return candidate
    return None


def _load(json_path: Path) -> dict:
    try:
        data = json.loads(Path(json_path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LabelError(f"cannot read {json_path} as JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("categories"), list):
        raise LabelError(f"{json_path} is not a COCO instance-segmentation file: it needs 'images' and "
                         "'categories' lists (and 'annotations')")
    return data


def _categories(data: dict, json_path: Path) -> dict[int, str]:
    cats: dict[int, str] = {}
    for c in data["categories"]:
        if not isinstance(c, dict) or not isinstance(c.get("id"), int) or not str(c.get("name", "")).strip():
            raise LabelError(f"{json_path}: a category needs an integer 'id' and a 'name': {c!r}"[:300])
        if c["id"] in cats:
            raise LabelError(f"{json_path}: category id {c['id']} is listed twice ({cats[c['id']]!r}, {c['name']!r})")
        cats[c["id"]] = str(c["name"])
    if not cats:
        raise LabelError(f"{json_path} lists no categories")
    return cats


def _rle_polygons(seg: dict, width: int, height: int, where: str) -> list[np.ndarray]:
    from pycocotools import mask as mask_utils

    size = seg.get("size")
    if list(size or []) != [height, width]:
        raise LabelError(f"{where}: its RLE mask is {size} (height, width) but the image is [{height}, {width}]")
    counts = seg.get("counts")
    if isinstance(counts, list):
        rle = mask_utils.frPyObjects(seg, height, width)  # uncompressed counts
    elif isinstance(counts, str):
        rle = {"size": size, "counts": counts.encode("ascii")}
    else:
        raise LabelError(f"{where}: RLE 'counts' must be a list or a string")
    try:
        with warnings.catch_warnings():  # pycocotools' own __array__ predates numpy 2's copy keyword
            warnings.simplefilter("ignore", DeprecationWarning)
            mask = mask_utils.decode(rle)
    except Exception as exc:  # noqa: BLE001 — pycocotools raises bare Exceptions for bad counts
        raise LabelError(f"{where}: its RLE mask cannot be decoded: {exc}") from exc
    contours, _ = cv2.findContours(np.ascontiguousarray(mask, dtype=np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1, 2).astype(np.float64) for c in contours if len(c) >= 3 and cv2.contourArea(c) > 0]


def _list_polygons(seg: list, where: str) -> list[np.ndarray]:
    out = []
    for part in seg:
        if not isinstance(part, list) or len(part) % 2 or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in part):
            raise LabelError(f"{where}: a polygon must be a flat list of x, y numbers")
        pts = np.asarray(part, dtype=np.float64).reshape(-1, 2)
        if len(pts) >= 3 and polygon_area(pts) > 0:
            out.append(pts)
    return out


def read_coco(json_path: Path, images_dir: Path | None = None, skip_crowd: bool = False) -> LabelSet:
    json_path = Path(json_path)
    data = _load(json_path)
    cats = _categories(data, json_path)
    roots = _image_roots(json_path, images_dir)
    images: dict[int, LabelledImage] = {}
    for im in data["images"]:
        w, h = (im.get("width"), im.get("height")) if isinstance(im, dict) else (None, None)
        if not isinstance(im, dict) or not isinstance(im.get("id"), int) or not im.get("file_name") \
                or not isinstance(w, int) or not isinstance(h, int) or w <= 0 or h <= 0:
            raise LabelError(f"{json_path}: an image needs an integer 'id', a 'file_name' and positive integer "
                             f"'width' and 'height': {im!r}"[:300])
        if im["id"] in images:
            raise LabelError(f"{json_path}: image id {im['id']} is listed twice")
        images[im["id"]] = LabelledImage(key=str(im["file_name"]), path=_find_image(str(im["file_name"]), roots),
                                         size=(w, h))
    out = LabelSet(format="coco", source=json_path, class_names=dict(sorted(cats.items())), images=[])
    outside: list[str] = []
    crowd_used = 0
    for ann in data.get("annotations") or []:
        if not isinstance(ann, dict):
            raise LabelError(f"{json_path}: an annotation is not an object: {ann!r}"[:300])
        img = images.get(ann.get("image_id"))
        if img is None:
            raise LabelError(f"{json_path}: annotation {ann.get('id')} refers to image id {ann.get('image_id')!r}, "
                             "which the file does not list")
        name = cats.get(ann.get("category_id"))
        if name is None:
            raise LabelError(f"{json_path}: annotation {ann.get('id')} has category id {ann.get('category_id')!r}, "
                             f"which is not among the categories {sorted(cats)}")
        where = f"{json_path.name}: annotation {ann.get('id')} ({name!r} on {img.key})"
        if ann.get("iscrowd"):
            if skip_crowd:
                out.dropped["crowd region (--skip-crowd)"] += 1
                continue
            crowd_used += 1
        seg = ann.get("segmentation")
        w, h = img.size
        if isinstance(seg, dict):
            polygons = _rle_polygons(seg, w, h, where)
        elif isinstance(seg, list) and seg:
            polygons = _list_polygons(seg, where)
        else:
            out.dropped["box only, no polygon or mask"] += 1
            continue
        if not polygons:
            out.dropped["degenerate (fewer than 3 points, or no area)"] += 1
            continue
        if any(out_of_bounds(p, w, h) for p in polygons):
            every = np.concatenate(polygons)
            outside.append(f"{where} spans x {every[:, 0].min():.0f}…{every[:, 0].max():.0f}, "
                           f"y {every[:, 1].min():.0f}…{every[:, 1].max():.0f} on a {w}×{h} image")
            continue
        norm = [np.clip(p / (w, h), 0.0, 1.0) for p in polygons]
        img.instances.append(Instance(label=name, polygons=norm))
    if outside:
        raise LabelError(f"{len(outside)} annotation(s) reach outside their image: " + "; ".join(outside[:MAX_LISTED])
                         + ("; …" if len(outside) > MAX_LISTED else ""))
    if crowd_used:
        out.notes.append(f"{crowd_used} crowd region(s) (iscrowd: 1, how CVAT marks a mask) used as one instance "
                         "each; --skip-crowd leaves them out")
    out.images = list(images.values())
    return out
