"""The model and limit flags every measuring command shares (``measure``, ``evaluate``, ``batch``)."""
from __future__ import annotations

import argparse
from pathlib import Path

from .config import Settings


def settings_from_args(args) -> Settings:
    return Settings().with_overrides(
        segment_weights=getattr(args, "segment_weights", None),
        scale_weights=getattr(args, "scale_weights", None),
        imgsz=getattr(args, "imgsz", None), conf=getattr(args, "conf", None),
        max_pixels=getattr(args, "max_pixels", None), device=getattr(args, "device", None))


def add_model_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--segment-weights", type=Path, help="organ model (env HERBMORPH_SEGMENT_WEIGHTS)")
    p.add_argument("--scale-weights", type=Path, help="ruler detector (env HERBMORPH_SCALE_WEIGHTS)")
    p.add_argument("--imgsz", type=int, help="segment input size (env HERBMORPH_IMGSZ, default 1024)")
    p.add_argument("--conf", type=float, help="organ confidence (env HERBMORPH_CONF, default 0.5)")
    p.add_argument("--max-pixels", type=int, help="refuse decoded images above this (env HERBMORPH_MAX_PIXELS)")
    p.add_argument("--device", help="'' auto, 'cpu', '0' … (env HERBMORPH_DEVICE)")
