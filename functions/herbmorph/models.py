"""Loading YOLO weights once, with their identity (name + sha256) for provenance."""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

from .errors import ModelError
from .results import ModelInfo


@lru_cache(maxsize=8)
def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_info(path: Path) -> ModelInfo:
    return ModelInfo(name=Path(path).name, sha256=file_sha256(str(path)))


def load_yolo(path: Path, task: str):
    """Load Ultralytics weights from a local path; never reach for a hub download."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{task} weights not found at {path}; set HERBMORPH_{task.upper()}_WEIGHTS or train with scripts/train.sh")
    # Production pods must never pip-install at run time, nor phone home.
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    from ultralytics import YOLO  # heavy import kept out of module import time

    try:
        model = YOLO(str(path), task="segment" if task == "segment" else "detect")
    except Exception as exc:  # corrupt or incompatible weights
        raise ModelError(f"cannot load {task} weights {path.name}: {exc}") from exc
    return model


def resolve_device(device: str):
    """'' means let Ultralytics choose (GPU when present)."""
    return device or None
