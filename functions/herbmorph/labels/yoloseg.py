"""An Ultralytics YOLO-seg folder: ``data.yaml`` (``path``, ``train``, ``val``, ``names``) with
``images/<split>/…`` and ``labels/<split>/….txt``, one ``class x1 y1 x2 y2 …`` line per instance
in normalised coordinates (what CVAT's "Ultralytics YOLO Segmentation" export writes).

A folder with ``classes.txt`` and flat ``images/`` + ``labels/`` (no data.yaml) is read too.
A train/val split the folder already has is kept; the ``test`` split is left out of training.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from .source import Instance, LabelError, LabelledImage, LabelSet, image_size, out_of_bounds, polygon_area

MAX_LISTED = 5


def _names(raw, where: Path) -> dict[int, str]:
    if isinstance(raw, list):
        names = dict(enumerate(raw))
    elif isinstance(raw, dict):
        try:
            names = {int(k): v for k, v in raw.items()}
        except (TypeError, ValueError) as exc:
            raise LabelError(f"{where}: 'names' keys must be class indices") from exc
    else:
        raise LabelError(f"{where} has no 'names' (the class names, a list or an index → name mapping)")
    if not names or not all(str(v).strip() for v in names.values()):
        raise LabelError(f"{where}: 'names' is empty or has an empty class name")
    return {k: str(v) for k, v in sorted(names.items())}


def _images_of(entry, root: Path, where: Path) -> list[Path]:
    from ultralytics.data.utils import IMG_FORMATS

    out = []
    for item in entry if isinstance(entry, list) else [entry]:
        p = (root / str(item)).resolve()
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.suffix.lower().lstrip(".") in IMG_FORMATS)
        elif p.suffix == ".txt" and p.is_file():  # a list of image paths, relative to the list's folder
            lines = [ln.strip() for ln in p.read_text().splitlines() if ln.strip()]
            out += [(p.parent / ln).resolve() if not Path(ln).is_absolute() else Path(ln) for ln in lines]
        else:
            raise LabelError(f"{where}: {item!r} is neither an image folder nor an image list under {root}")
    return out


def _parse(label_file: Path, names: dict[int, str], size: tuple[int, int], img: LabelledImage,
           dropped, outside: list[str]) -> None:
    w, h = size
    for n, line in enumerate(label_file.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        where = f"{label_file}:{n}"
        try:
            cls, coords = int(parts[0]), np.asarray([float(v) for v in parts[1:]], dtype=np.float64)
        except ValueError as exc:
            raise LabelError(f"{where}: not a 'class x1 y1 x2 y2 …' line") from exc
        if cls not in names:
            raise LabelError(f"{where}: class {cls} is not in data.yaml's names {names}")
        if len(coords) == 4:
            dropped["box only, no polygon or mask"] += 1
            continue
        if len(coords) % 2 or not np.isfinite(coords).all():
            raise LabelError(f"{where}: a polygon needs x, y pairs")
        pts = coords.reshape(-1, 2)
        if len(pts) < 3 or polygon_area(pts) == 0:
            dropped["degenerate (fewer than 3 points, or no area)"] += 1
            continue
        if out_of_bounds(pts * (w, h), w, h):
            outside.append(f"{where} ({names[cls]!r}) spans x {pts[:, 0].min():.3f}…{pts[:, 0].max():.3f}, "
                           f"y {pts[:, 1].min():.3f}…{pts[:, 1].max():.3f} (normalised; must be within 0…1)")
            continue
        img.instances.append(Instance(label=names[cls], polygons=[np.clip(pts, 0.0, 1.0)]))


def _layout(path: Path) -> tuple[Path, dict[int, str], dict[str, list[Path]], list[str]]:
    """(the file that names the classes, names, split → image files, notes)."""
    notes: list[str] = []
    yaml_path = path if path.is_file() else path / "data.yaml"
    if not yaml_path.is_file():
        alt = next((p for p in (path / "data.yml", path / "dataset.yaml") if p.is_file()), None)
        if alt is not None:
            yaml_path = alt
        elif (path / "classes.txt").is_file() and (path / "images").is_dir():
            names = {i: n.strip() for i, n in enumerate((path / "classes.txt").read_text().splitlines()) if n.strip()}
            return path / "classes.txt", names, {"": _images_of("images", path, path)}, notes
        else:
            raise LabelError(f"{path} has no data.yaml (nor classes.txt with images/ and labels/): not a YOLO-seg folder")
    try:
        data = yaml.safe_load(yaml_path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise LabelError(f"cannot read {yaml_path}: {exc}") from exc
    if not isinstance(data, dict):
        raise LabelError(f"{yaml_path} is not a YOLO data.yaml")
    names = _names(data.get("names"), yaml_path)
    root = Path(str(data.get("path") or "."))
    root = root if root.is_absolute() else yaml_path.parent / root
    if not root.is_dir():  # an absolute path from the machine that exported it
        notes.append(f"data.yaml's path {data.get('path')!r} does not exist here; read relative to {yaml_path.parent}")
        root = yaml_path.parent
    if not data.get("train"):
        raise LabelError(f"{yaml_path} has no 'train' entry")
    splits = {"train": _images_of(data["train"], root, yaml_path)}
    if data.get("val") and data["val"] != data["train"]:
        splits["val"] = _images_of(data["val"], root, yaml_path)
    if data.get("test"):
        notes.append("the 'test' split is left out of training (kept for your own evaluation)")
    return yaml_path, names, splits, notes


def read_yolo_seg(path: Path, images_dir: Path | None = None) -> LabelSet:
    from ultralytics.data.utils import img2label_paths

    if images_dir is not None:
        raise LabelError("--images applies to COCO files; a YOLO-seg folder names its images in data.yaml")
    source, names, splits, notes = _layout(Path(path))
    out = LabelSet(format="yolo-seg", source=source, class_names=names, images=[], notes=notes)
    outside: list[str] = []
    given_split = "val" in splits
    base = source.parent
    for split, files in splits.items():
        for f, lf in zip(files, img2label_paths([str(f) for f in files])):
            key = str(f.relative_to(base)) if f.is_relative_to(base) else str(f)
            img = LabelledImage(key=key, path=f if f.is_file() else None, split=split if given_split else None)
            out.images.append(img)
            if img.path is not None and Path(lf).is_file():
                _parse(Path(lf), names, image_size(f), img, out.dropped, outside)
    if outside:
        raise LabelError(f"{len(outside)} polygon(s) reach outside their image: " + "; ".join(outside[:MAX_LISTED])
                         + ("; …" if len(outside) > MAX_LISTED else ""))
    return out
