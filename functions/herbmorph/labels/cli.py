"""``herbmorph train --labels PATH --models-dir DIR``: the flags, and a summary before training."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..train import TrainPlan as TrainPlanDefaults
from .finetune import LabelPlan


def add_arguments(t: argparse.ArgumentParser) -> None:
    g = t.add_argument_group("training on your own labels (--labels)")
    g.add_argument("--labels", type=Path, metavar="PATH",
                   help="fine-tune the organ model on a COCO instance-segmentation JSON (CVAT, Label Studio) or a "
                        "YOLO-seg folder with data.yaml; writes segment.pt, training.json and MODEL_CARD.md to "
                        "--models-dir (required); starts from --init-from DIR/segment.pt (default models/)")
    g.add_argument("--images", type=Path, metavar="DIR", help="the COCO export's images, when not beside the JSON")
    g.add_argument("--epochs", type=int, help=f"default {LabelPlan.epochs}")
    g.add_argument("--hours", type=float, help="time box for --labels training (ends it before --epochs)")
    g.add_argument("--val-fraction", type=float, default=LabelPlan.val_fraction,
                   help="share of images kept for validation when the labels have no split of their own")
    g.add_argument("--skip-crowd", action="store_true",
                   help="leave out COCO iscrowd regions (by default each is one instance: CVAT's masks)")


def _misuse(args) -> str | None:
    """Flags of synthetic training that mean nothing here: refused, not silently ignored."""
    from ..train import TrainPlan

    if args.models_dir is None:
        return "needs --models-dir DIR: where the fine-tuned weights go"
    if list(args.tasks) not in (["segment", "scale"], ["segment"]):
        return "trains the organ model (segment) only"
    if (args.hours_segment, args.hours_scale) != (TrainPlan.hours_segment, TrainPlan.hours_scale):
        return "--hours-segment and --hours-scale are for synthetic training; time-box this one with --hours"
    synthetic = [f for f in SYNTHETIC_ONLY if getattr(args, f.lstrip("-").replace("-", "_")) is not None]
    if synthetic:
        return f"{', '.join(synthetic)}: for synthetic training only"
    return None


#: flags of synthetic training (herbmorph/train.py) that a labelled run refuses
SYNTHETIC_ONLY = ("--arch", "--max-side", "--mask-ratio", "--n-train", "--n-val", "--data-dir", "--workers",
                  "--no-scan-texture")


def add_training_arguments(t: argparse.ArgumentParser) -> None:
    """Flags both kinds of training take; unset, each kind uses its own default."""
    g = t.add_argument_group("training, both kinds")
    g.add_argument("--imgsz", type=int, help=f"training image size (synthetic: {TrainPlanDefaults.segment_imgsz} "
                   f"for the organ model; --labels: {LabelPlan.imgsz}, as HERBMORPH_IMGSZ)")
    g.add_argument("--batch", type=int)
    g.add_argument("--device", help="'' a GPU when there is one, 'cpu', '0' … (synthetic default cpu)")
    s = t.add_argument_group("synthetic training (without --labels)")
    s.add_argument("--arch", help="organ model architecture, e.g. yolo11s-seg (default yolo11n-seg)")
    s.add_argument("--max-side", type=int, help="training sheets are downscaled to this long side")
    s.add_argument("--mask-ratio", type=int, help="mask targets at imgsz/N (2 keeps 2-px stems; default 4)")
    s.add_argument("--n-train", type=int)
    s.add_argument("--n-val", type=int)
    s.add_argument("--data-dir", type=Path, help="where the sheets and the YOLO export go (default data/train)")
    s.add_argument("--workers", type=int, help="data-loader workers")
    s.add_argument("--no-scan-texture", action="store_const", const=True, default=None,
                   help="training images as drawn, without a scan's fine texture (as the shipped weights were trained)")


def main(args) -> int:
    from rich.console import Console

    console = Console(stderr=True, soft_wrap=True)  # a message stays one line, for logs and greps
    misuse = _misuse(args)
    if misuse:
        console.print(f"herbmorph train --labels: {misuse}", markup=False)
        return 2
    init = (Path(args.init_from) / "segment.pt") if args.init_from else LabelPlan.init
    given = {k: getattr(args, k) for k in ("epochs", "imgsz", "batch", "device") if getattr(args, k) is not None}
    plan = LabelPlan(labels=args.labels, out=args.models_dir, images=args.images, init=init, hours=args.hours,
                     val_fraction=args.val_fraction, skip_crowd=args.skip_crowd, **given)

    def summary(p):
        console.print(f"classes: {json.dumps(p.mapping)}; left out: not organs {p.non_organs}, unknown {p.unknown}",
                      markup=False)
        console.print(f"images: {len(p.images['train'])} train, {len(p.images['val'])} val ({p.split}); "
                      f"{len(p.left_out)} without an organ label left out; instances train "
                      f"{dict(p.instances['train'])}, val {dict(p.instances['val'])}", markup=False)
        for why, n in p.dropped.items():
            console.print(f"annotations left out: {n} × {why}", markup=False)
        for note in p.notes:
            console.print(f"note: {note}", markup=False)

    from ..errors import HerbmorphError
    from .finetune import run

    try:
        record = run(plan, on_prepared=summary)
    except HerbmorphError as exc:  # bad labels, bad starting weights: one clear line, no traceback
        console.print(f"herbmorph train --labels: {exc}", markup=False)
        return 2
    console.print_json(json.dumps({k: record[k] for k in ("weights", "validation", "validation_per_class", "run")}))
    return 0
