"""Which reader a label export needs: a COCO JSON file, or a YOLO-seg folder (or its data.yaml)."""
from __future__ import annotations

from pathlib import Path

from .coco import read_coco
from .source import LabelError, LabelSet
from .yoloseg import read_yolo_seg


def read_labels(path: Path, images_dir: Path | None = None, skip_crowd: bool = False) -> LabelSet:
    """A COCO JSON file, or a YOLO-seg folder (or its data.yaml)."""
    path = Path(path)
    if not path.exists():
        raise LabelError(f"no label file or folder at {path}")
    if path.suffix.lower() == ".zip":
        raise LabelError(f"{path} is an archive: unzip the export and pass its annotations JSON, or its folder "
                         "for a YOLO-seg export")
    if path.is_dir() or path.suffix.lower() in (".yaml", ".yml"):
        if skip_crowd:
            raise LabelError("--skip-crowd applies to COCO files only; a YOLO-seg folder has no crowd regions")
        return read_yolo_seg(path, images_dir)
    return read_coco(path, images_dir, skip_crowd=skip_crowd)
