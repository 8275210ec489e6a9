"""A read label set → an Ultralytics dataset under our six organ classes.

- Class names are mapped to ours by name (:mod:`herbmorph.segment.classes`, the same mapping
  that reads a model's classes): "Leaves" → leaf, "Inflorescence" → flower. Non-organ classes
  (ruler, barcode) and names we do not know are left out, the unknown ones with a warning.
- Images with no organ instance are left out: in a labelling task those are sheets nobody has
  labelled yet, and training on them would teach the model that their plants are background.
- The train/validation split is the label file's own where it has one; otherwise images are
  ordered by the sha256 of their name and the first ``val_fraction`` go to validation, so the
  same export always splits the same way and a sheet added later does not reshuffle the others.
- Images are linked, not copied: a herbarium's sheets are large.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from ..results import ORGAN_CLASSES
from ..segment.classes import map_classes
from .source import LabelError, LabelledImage, LabelSet, image_size

log = logging.getLogger(__name__)
MAX_LISTED = 5


@dataclass
class Prepared:
    data_yaml: Path
    mapping: dict[str, str]  # the label file's class name → our organ class
    non_organs: list[str]
    unknown: list[str]
    split: str  # how the split was made
    images: dict[str, list[str]]  # "train" / "val" → the images, as the label file names them
    instances: dict[str, Counter]  # "train" / "val" → our class → instances
    left_out: list[str] = field(default_factory=list)  # images without an organ instance
    dropped: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)


def _listed(items: list[str]) -> str:
    return "; ".join(items[:MAX_LISTED]) + (f"; … ({len(items)} in all)" if len(items) > MAX_LISTED else "")


def _split(used: list[LabelledImage], val_fraction: float) -> tuple[dict[str, list[LabelledImage]], str]:
    given = {"train": [i for i in used if i.split == "train"], "val": [i for i in used if i.split == "val"]}
    if given["train"] and given["val"] and len(given["train"]) + len(given["val"]) == len(used):
        return given, "as the label folder splits it"
    order = sorted(used, key=lambda i: hashlib.sha256(i.key.encode()).hexdigest())
    n_val = min(max(1, round(len(order) * val_fraction)), len(order) - 1)
    return ({"train": sorted(order[n_val:], key=lambda i: i.key), "val": sorted(order[:n_val], key=lambda i: i.key)},
            f"{n_val} of {len(order)} images to validation ({val_fraction:.0%}), chosen by the sha256 of their name")


def _check_files(used: list[LabelledImage], ls: LabelSet) -> None:
    from ultralytics.data.utils import IMG_FORMATS

    missing = [i.key for i in used if i.path is None]
    if missing:
        where = ("beside the JSON, in images/ beside it, or in CVAT's ../images/<subset>/; give the folder with "
                 "--images DIR" if ls.format == "coco" else "listed in data.yaml")
        raise LabelError(f"{len(missing)} labelled image(s) not found ({where}): {_listed(missing)}")
    odd = [f"{i.key} ({i.path.suffix or 'no extension'})" for i in used
           if i.path.suffix.lower().lstrip(".") not in IMG_FORMATS]
    if odd:
        raise LabelError(f"image(s) in a format Ultralytics does not read: {_listed(odd)}")
    wrong = []
    for i in used:
        actual = image_size(i.path) if i.size is not None else None
        if actual is not None and actual != i.size:
            wrong.append(f"{i.key} is {actual[0]}×{actual[1]} but the labels say {i.size[0]}×{i.size[1]}")
    if wrong:
        raise LabelError("image(s) whose size differs from the size they were labelled at (resized or turned "
                         f"since?): {_listed(wrong)}")


def _yolo_line(cls: int, polygons: list[np.ndarray]) -> str:
    if len(polygons) > 1:  # one instance in parts (a leaf behind a stem): joined as Ultralytics' COCO converter does
        from ultralytics.data.converter import merge_multi_segment

        pts = np.concatenate(merge_multi_segment([p.ravel().tolist() for p in polygons]), axis=0)
    else:
        pts = polygons[0]
    return f"{cls} " + " ".join(f"{v:.6f}" for v in pts.ravel())


def _link(src: Path, dest: Path) -> None:
    try:
        os.symlink(src.resolve(), dest)
    except OSError:  # a file system without symlinks
        shutil.copyfile(src, dest)


def prepare(ls: LabelSet, out_dir: Path, val_fraction: float = 0.2) -> Prepared:
    """Map, check, split and write ``out_dir/{images,labels}/{train,val}`` and ``out_dir/data.yaml``."""
    cm = map_classes(ls.class_names)
    if not cm.any_organ:
        raise LabelError(
            f"none of the classes of {ls.source.name} is an organ class: its classes are "
            f"{sorted(set(ls.class_names.values()))}; herbmorph trains {', '.join(ORGAN_CLASSES)} (any case, and "
            "common synonyms such as 'leaves', 'inflorescence', 'rhizome'). Rename the classes in the labelling tool.")
    organ_of = {ls.class_names[i]: organ for i, organ in cm.organs.items() if organ}
    if cm.unknown:
        log.warning("classes %s of %s are not organ classes we know; their annotations are left out",
                    ", ".join(repr(n) for n in cm.unknown), ls.source.name)
    dropped = Counter(ls.dropped)
    used: list[LabelledImage] = []
    left_out: list[str] = []
    for img in ls.images:
        kept = [inst for inst in img.instances if inst.label in organ_of]
        for inst in img.instances:
            if inst.label not in organ_of:
                dropped[f"class {inst.label!r} (" + ("not an organ)" if inst.label in cm.non_organs else "unknown)")] += 1
        img.instances = kept
        if kept:
            used.append(img)
        else:
            left_out.append(img.key)
    if len(used) < 2:
        raise LabelError(f"{len(used)} image(s) of {ls.source.name} have an organ labelled; training needs at "
                         "least 2 (one is kept for validation)")
    _check_files(used, ls)
    splits, how = _split(used, val_fraction)

    for sub in ("images", "labels"):
        shutil.rmtree(out_dir / sub, ignore_errors=True)  # a previous run's split must not linger
    counts: dict[str, Counter] = {}
    for split, imgs in splits.items():
        (out_dir / "images" / split).mkdir(parents=True)
        (out_dir / "labels" / split).mkdir(parents=True)
        counts[split] = Counter()
        for n, img in enumerate(imgs):
            # numbered, because two folders of an export may hold the same file name
            stem = f"{n:05d}_" + re.sub(r"[^A-Za-z0-9._-]+", "_", Path(img.key).stem)[:80]
            _link(img.path, out_dir / "images" / split / f"{stem}{img.path.suffix.lower()}")
            lines = []
            for inst in img.instances:
                organ = organ_of[inst.label]
                counts[split][organ] += 1
                lines.append(_yolo_line(ORGAN_CLASSES.index(organ), inst.polygons))
            (out_dir / "labels" / split / f"{stem}.txt").write_text("\n".join(lines) + "\n")
    data_yaml = out_dir / "data.yaml"
    data_yaml.write_text(yaml.safe_dump({"path": str(out_dir.resolve()), "train": "images/train", "val": "images/val",
                                         "names": dict(enumerate(ORGAN_CLASSES))}, sort_keys=False))
    return Prepared(data_yaml=data_yaml, mapping=organ_of, non_organs=list(cm.non_organs), unknown=list(cm.unknown),
                    split=how, images={s: [i.key for i in imgs] for s, imgs in splits.items()}, instances=counts,
                    left_out=left_out, dropped=dropped, notes=list(ls.notes))
