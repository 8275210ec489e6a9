"""``herbmorph batch SOURCE --out DEST``: the command-line face of :mod:`herbmorph.batch`."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from rich.console import Console

from herbmorph.cliargs import add_model_flags, settings_from_args

EXIT_OK, EXIT_FAILURES, EXIT_INTERRUPTED = 0, 1, 130


def _shard(text: str) -> tuple[int, int]:
    index, _, count = text.partition("/")
    i, n = int(index), int(count)
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError("--shard I/N needs 0 <= I < N")
    return i, n


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", nargs="?", help="s3://bucket/prefix or a local folder of sheet images")
    p.add_argument("--out", help="s3://bucket/prefix or a local folder (the event chain's results folder mixes in)")
    p.add_argument("--workers", type=int, help="worker processes (default: from cores and memory, see README)")
    p.add_argument("--threads", type=int, help="torch threads per worker (default: the usable cores split between the workers)")
    p.add_argument("--force", action="store_true", help="measure every image, even when its result is current")
    p.add_argument("--retry-failed", action="store_true", help="measure again the images whose outcome is an error document")
    p.add_argument("--journal", type=Path, help="progress journal (default ~/.cache/herbmorph/batch/<source+dest>.sqlite)")
    p.add_argument("--report", type=Path, help="also write a self-contained HTML report here")
    p.add_argument("--no-progress", action="store_true", help="no live progress bar (logs, CI)")
    p.add_argument("--shard", type=_shard, metavar="I/N", help="only the keys that hash to shard I of N (a Kubernetes Indexed Job)")
    cluster = p.add_argument_group("clusters (plan the parallelism there instead of running here)")
    cluster.add_argument("--oscar", metavar="URL", help="submit {start,end} slices of a manifest as jobs of an OSCAR batch service")
    cluster.add_argument("--oscar-user", default=os.environ.get("OSCAR_USER", "oscar"))
    cluster.add_argument("--oscar-password-env", default="OSCAR_PASSWORD", help="env var holding the password")
    cluster.add_argument("--oscar-insecure", action="store_true", help="do not verify the cluster's TLS certificate")
    cluster.add_argument("--service", default="herbmorph-batch", help="the OSCAR batch service (fdl/herbmorph-batch.yaml)")
    cluster.add_argument("--manifest", help="where the manifest goes (default s3://<dest bucket>/batch/manifest-<time>.jsonl)")
    cluster.add_argument("--k8s", action="store_true", help="size an Indexed Job from the Kubernetes nodes' allocatable resources")
    cluster.add_argument("--job-cpu", default="2", help="one job's cpu request (--k8s; OSCAR reads the service's)")
    cluster.add_argument("--job-memory", default="4Gi", help="one job's memory request (--k8s)")
    cluster.add_argument("--emit-job", type=Path, help="--k8s: write the Indexed Job manifest here")
    cluster.add_argument("--image", default="herbmorph-batch:latest", help="--k8s: the container image of the job")
    cluster.add_argument("--slice", type=Path, help=argparse.SUPPRESS)  # the OSCAR job side: the event file
    add_model_flags(p)


def main(args) -> int:
    from .runner import BatchOptions, run_batch
    from .summary import print_summary

    settings = settings_from_args(args)
    out = Console()
    if args.slice:
        from .oscar_jobs import run_slice

        return run_slice(args.slice, settings, workers=args.workers, show_progress=not args.no_progress)
    if not args.source or not args.out:
        raise SystemExit("herbmorph batch: SOURCE and --out DEST are required")
    opts = BatchOptions(source=args.source, dest=args.out, workers=args.workers, force=args.force,
                        retry_failed=args.retry_failed, journal=args.journal, settings=settings,
                        shard=args.shard, threads=args.threads, show_progress=not args.no_progress)
    if args.oscar:
        from .oscar_jobs import submit

        print(json.dumps(submit(opts, args), indent=2))
        return EXIT_OK
    if args.k8s:
        from .oscar_jobs import plan_k8s

        out.print(plan_k8s(opts, args))
        return EXIT_OK
    try:
        result = run_batch(opts)
    except KeyboardInterrupt:  # before any worker started: nothing half-done to report
        out.print("[yellow]interrupted before the run started")
        return EXIT_INTERRUPTED
    agg = print_summary(result, out)
    if args.report:
        from .report import write_report

        path = write_report(args.report, result, agg, opts)
        out.print(f"report: {path}")
    if result.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILURES if result.failures else EXIT_OK
