"""`herbmorph` command line: a thin adapter over the cores (measure, serve, batch, evaluate, calibrate, train, synth)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from .cliargs import add_model_flags, settings_from_args
from .errors import ModelError

console = Console(stderr=True)


def _progress() -> Progress:
    return Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=console, transient=True)


def cmd_measure(args) -> int:
    from .pipeline import Pipeline, measure_to_dir

    paths = [Path(p) for p in args.images]
    pipeline = Pipeline(settings_from_args(args)).setup()  # unusable weights are refused before the first sheet
    table = Table(title=f"herbmorph measure → {args.out}")
    for col in ("image", "organs", "px/cm", "scale", "total cm²", "result"):
        table.add_column(col)
    with _progress() as prog:
        task = prog.add_task("measuring", total=len(paths))

        def done(path, m):
            prog.advance(task)
            if m.ok:
                d = m.doc
                cm2 = sum(o.area_cm2 or 0 for o in d.organs)
                table.add_row(path.name, str(len(d.organs)),
                              f"{d.scale.px_per_cm:.2f}" if d.scale.px_per_cm else "null",
                              d.scale.method or (d.scale.reason or "")[:60],
                              f"{cm2:.2f}" if d.scale.status == "ok" else "–", "ok")
            else:
                table.add_row(path.name, "–", "–", "–", "–", f"[red]{m.doc.error.kind}[/]: {m.doc.error.message[:60]}")

        results = measure_to_dir(pipeline, paths, Path(args.out), on_done=done)
    Console().print(table)
    failed = sum(not m.ok for m in results)
    return 1 if failed else 0


def cmd_evaluate(args) -> int:
    from .evaluate import evaluate
    from .pipeline import Pipeline

    pipeline = Pipeline(settings_from_args(args)).setup()
    dataset = Path(args.dataset)
    if args.plant_masks:
        return evaluate_real_plants(pipeline, dataset, Path(args.plant_masks), args.json)
    if (dataset / "truth.json").is_file():
        return evaluate_real_scales(pipeline, dataset, args.json)
    n = len(list((dataset / "gt").glob("*.json")))
    n = min(n, args.limit) if args.limit else n
    with _progress() as prog:
        task = prog.add_task("evaluating", total=n)
        summary = evaluate(pipeline, dataset, limit=args.limit, progress=lambda: prog.advance(task))
    print_evaluation(summary)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


def evaluate_real_scales(pipeline, folder: Path, json_out: str | None) -> int:
    """A folder of real sheets with a truth.json of measured px/cm: per-sheet rows and counts."""
    from .evaluate_scale import evaluate_truth

    n = len(json.loads((folder / "truth.json").read_text()))
    s = _with_progress(n, lambda advance: evaluate_truth(pipeline, folder, progress=advance))
    t = Table(title=f"Scale on {s['sheets']} real sheets ({folder.name})")
    for col in ("sheet", "truth px/cm", "px/cm", "error %", "outcome", "method or reason"):
        t.add_column(col)
    for r in s["rows"]:
        t.add_row(r["sheet"], f"{r['truth_px_per_cm']:.2f}", "–" if r["px_per_cm"] is None else f"{r['px_per_cm']:.2f}",
                  "–" if r["rel_err_pct"] is None else f"{r['rel_err_pct']:+.2f}", r["outcome"], r["detail"][:70])
    _report(t, f"within 2%: {s['within_2pct']}  wrong: {s['wrong']}  null: {s['null']}  errors: {s['errors']}  "
               f"(median ms: segment {s['segment_ms_median']}, scale {s['scale_ms_median']})", s, json_out)
    return 1 if s["wrong"] or s["errors"] else 0


def evaluate_real_plants(pipeline, sheets: Path, masks: Path, json_out: str | None) -> int:
    """Real sheets with binary plant masks: how much of the plant the organ polygons cover."""
    from .evaluate_plants import evaluate_plant_masks

    s = _with_progress(len(list(masks.glob("*.png"))),
                       lambda advance: evaluate_plant_masks(pipeline, sheets, masks, progress=advance))
    t = Table(title=f"Plant coverage on {s['sheets']} real sheets (union of organ polygons vs plant mask)")
    for col in ("sheet", "organs", "cut by box", "IoU", "recall", "precision"):
        t.add_column(col)
    for r in s["rows"]:
        if r["error"]:
            t.add_row(r["sheet"], "–", "–", "–", "–", f"[red]{r['error']}[/]")
        else:
            t.add_row(r["sheet"], str(r["organs"]), str(r["cut_by_box"]), f"{r['iou']:.3f}", f"{r['recall']:.3f}",
                      f"{r['precision']:.3f}")
    _report(t, f"median IoU {s['iou_median']}, recall {s['recall_median']}, precision {s['precision_median']}; "
               f"lowest IoU {s['iou_min']}; masks cut by their box {s['cut_by_box']} of {s['organs']}; "
               f"errors {s['errors']}", s, json_out)
    return 1 if s["errors"] else 0


def _with_progress(total: int, run):
    """``run(advance)`` under a progress bar of ``total`` steps."""
    with _progress() as prog:
        task = prog.add_task("evaluating", total=total)
        return run(lambda: prog.advance(task))


def _report(table: Table, summary_line: str, summary: dict, json_out: str | None) -> None:
    out = Console()
    out.print(table)
    out.print(summary_line)
    if json_out:
        Path(json_out).write_text(json.dumps(summary, indent=2) + "\n")


def print_evaluation(s: dict) -> None:
    out = Console()
    t = Table(title=f"Organs on {s['sheets']} sheets (conf ≥ threshold)")
    for col in ("class", "true", "detected", "matched", "area px err (median %)", "area cm² err (median %)"):
        t.add_column(col)
    for c, r in s["organs"].items():
        t.add_row(c, str(r["true"]), str(r["detected"]), str(r["matched"]),
                  str(r["area_px_err_median_pct"]), str(r["area_cm2_err_median_pct"]))
    out.print(t)
    sc = s["scale"]
    t = Table(title="Scale")
    t.add_column("measure")
    t.add_column("value")
    for k in ("sheets_with_ruler", "detected", "detected_share", "ocr_char_accuracy", "px_per_cm_ok",
              "px_per_cm_null", "within_2pct", "within_2pct_share", "wrong_factors",
              "rel_err_median_pct", "rel_err_p90_pct"):
        t.add_row(k, str(sc[k]))
    out.print(t)
    if s["failures"]:
        out.print(f"[red]{len(s['failures'])} sheet(s) failed[/]: {s['failures'][:5]}")


def cmd_train(args) -> int:
    if args.labels:  # a herbarium's own labels: labels/cli.py
        from .labels.cli import main as train_on_labels

        return train_on_labels(args)
    from .train import TrainPlan, run

    given = {"segment_imgsz": args.imgsz, "batch": args.batch, "device": args.device, "segment_arch": args.arch,
             "max_side": args.max_side, "mask_ratio": args.mask_ratio, "n_train": args.n_train,
             "n_val": args.n_val, "data_dir": args.data_dir, "workers": args.workers,
             "scan_texture": False if args.no_scan_texture else None}
    if args.epochs is not None:
        console.print("herbmorph train: --epochs is for --labels; synthetic training is time-boxed (--hours-segment)")
        return 2
    plan = TrainPlan(hours_segment=args.hours_segment, hours_scale=args.hours_scale,
                     models_dir=args.models_dir or TrainPlan.models_dir, init_from=args.init_from,
                     **{k: v for k, v in given.items() if v is not None})
    card = run(plan, tasks=tuple(args.tasks))
    console.print_json(json.dumps(card))
    return 0


def cmd_calibrate(args) -> int:
    from .segment.calibrate import main

    return main(args, progress_factory=_with_progress)


def cmd_serve(args) -> int:
    from .runtime.command import main

    return main(args)


def cmd_synth(args) -> int:
    from .synth.dataset import generate_dataset

    generate_dataset(Path(args.out), n=args.n, seed=args.seed, px_per_cm_range=(args.min_ppc, args.max_ppc))
    return 0


def cmd_batch(args) -> int:
    from .batch.cli import main

    return main(args)


def cmd_mas(args) -> int:
    from .mas.cli import main

    return main(args)


def build_parser() -> argparse.ArgumentParser:
    from .train import TrainPlan  # light: no torch until training actually runs

    ap = argparse.ArgumentParser(prog="herbmorph", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)

    m = sub.add_parser("measure", help="measure sheets in-process and write <stem>.json/.opends.json/.overlay.png")
    m.add_argument("images", nargs="+")
    m.add_argument("--out", required=True)
    add_model_flags(m)
    m.set_defaults(func=cmd_measure)

    e = sub.add_parser("evaluate", help="paper-style tables on a labelled set (images/ + gt/), or the "
                       "scale on real sheets (a folder with truth.json)")
    e.add_argument("dataset")
    e.add_argument("--limit", type=int)
    e.add_argument("--plant-masks", metavar="DIR", help="binary plant masks (<stem>.png, white = plant): "
                   "report how much of the plant the organ polygons cover")
    e.add_argument("--json", help="also write the summary here")
    add_model_flags(e)
    e.set_defaults(func=cmd_evaluate)

    t = sub.add_parser("train", help="generate synthetic sheets and train both models (CPU, time-boxed), or "
                       "fine-tune the organ model on your own labels (--labels)")
    t.add_argument("--tasks", nargs="+", default=["segment", "scale"], choices=["segment", "scale"])
    t.add_argument("--hours-segment", type=float, default=TrainPlan.hours_segment)
    t.add_argument("--hours-scale", type=float, default=TrainPlan.hours_scale)
    t.add_argument("--models-dir", type=Path, help="where the weights and training.json go (default models/)")
    t.add_argument("--init-from", type=Path, help="fine-tune from DIR/segment.pt and DIR/scale.pt instead of a random init")
    from .labels.cli import add_arguments as add_label_arguments
    from .labels.cli import add_training_arguments

    add_training_arguments(t)
    add_label_arguments(t)
    t.set_defaults(func=cmd_train)

    c = sub.add_parser("calibrate", help="fit the organ model's per-class confidence calibration on a labelled "
                       "synthetic set; written beside the weights (<stem>.calibration.json)")
    from .segment.calibrate import add_arguments as add_calibrate_arguments

    add_calibrate_arguments(c)
    c.set_defaults(func=cmd_calibrate)

    v = sub.add_parser("serve", help="run the FDL's chain on this machine (watched folders or MinIO webhooks)")
    from .runtime.command import add_arguments

    add_arguments(v)
    v.set_defaults(func=cmd_serve)

    b = sub.add_parser("batch", help="reprocess a bucket prefix or folder: resumable, parallel, models loaded once per worker")
    from .batch.cli import add_arguments as add_batch_arguments

    add_batch_arguments(b)
    b.set_defaults(func=cmd_batch)

    q = sub.add_parser("mas", help="run as a DiSSCo machine annotation service: RabbitMQ jobs in, openDS annotations out")
    from .mas.cli import add_arguments as add_mas_arguments

    add_mas_arguments(q)
    q.set_defaults(func=cmd_mas)

    s = sub.add_parser("synth", help="generate a labelled synthetic set")
    s.add_argument("out")
    s.add_argument("-n", type=int, default=100)
    s.add_argument("--seed", type=int, default=7)
    s.add_argument("--min-ppc", type=float, default=15.0)
    s.add_argument("--max-ppc", type=float, default=150.0)
    s.set_defaults(func=cmd_synth)
    return ap


def main(argv: list[str] | None = None) -> int:
    import logging

    from . import logsafe

    logsafe.setup(logging.WARNING)  # file names reach the logs escaped, one record a line
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ModelError as exc:  # weights that cannot serve (e.g. no organ class): one clear line, no traceback
        print(f"herbmorph {args.cmd}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
