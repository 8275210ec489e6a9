"""``python -m herbmorph.synth``: generate sheets, export YOLO datasets, preview ground truth.

    python -m herbmorph.synth generate data/synth/train -n 200 --seed 1 --workers 2
    python -m herbmorph.synth export --train data/synth/train --val data/synth/val -o data/yolo
    python -m herbmorph.synth preview data/synth/train/images/sheet-1-00000.jpg -o /tmp/p.png
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m herbmorph.synth")
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate", help="write N synthetic sheets (images/ + gt/)")
    g.add_argument("out_dir", type=Path)
    g.add_argument("-n", type=int, default=10)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--start", type=int, default=0)
    g.add_argument("--min-ppc", type=float, default=15.0)
    g.add_argument("--max-ppc", type=float, default=250.0)
    g.add_argument("--workers", type=int, default=1)
    g.add_argument("--resume", action="store_true", help="keep sheets already written")
    g.add_argument("--quiet", action="store_true")
    e = sub.add_parser("export", help="export generated dirs as Ultralytics datasets")
    e.add_argument("--train", type=Path, required=True)
    e.add_argument("--val", type=Path)
    e.add_argument("--test", type=Path)
    e.add_argument("-o", "--out", type=Path, required=True)
    e.add_argument("--max-side", type=int, default=1024)
    p = sub.add_parser("preview", help="draw a sheet's GT over its image")
    p.add_argument("image", type=Path)
    p.add_argument("-o", "--out", type=Path, required=True)
    a = ap.parse_args(argv)

    if a.cmd == "generate":
        from .dataset import generate_dataset
        paths = generate_dataset(a.out_dir, a.n, a.seed, (a.min_ppc, a.max_ppc), a.workers,
                                 progress=not a.quiet, overwrite=not a.resume, start=a.start)
        print(f"{len(paths)} sheets in {a.out_dir}")
    elif a.cmd == "export":
        from .dataset import export_yolo
        splits = {k: v for k, v in (("train", a.train), ("val", a.val), ("test", a.test)) if v}
        ys = export_yolo(splits, a.out, a.max_side, progress=True)
        print(json.dumps({k: str(v) for k, v in ys.items()}))
    else:
        from .preview import draw_gt
        gt_path = a.image.parent.parent / "gt" / f"{a.image.stem}.json"
        img = cv2.cvtColor(cv2.imread(str(a.image)), cv2.COLOR_BGR2RGB)
        out = draw_gt(img, json.loads(gt_path.read_text()))
        cv2.imwrite(str(a.out), cv2.cvtColor(out, cv2.COLOR_RGB2BGR))
        print(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
