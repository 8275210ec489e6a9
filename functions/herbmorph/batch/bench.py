"""``scripts/bench_batch``: what batch mode saves, side by side, on the same images, in one run.

Three ways to measure the same sheets:

``cores``     the pure in-process cores: one ``Pipeline`` set up once; per image ``measure()`` and the
              three outputs rendered in memory (JSON, openDS, overlay PNG), no storage;
``batch``     ``run_batch`` with one worker (listing, hashing, journal, IPC, writing the three
              output files included; the worker's one model load reported separately);
``event``     the per-event cold start OSCAR's asynchronous mode pays: for each image the three
              chain stages as three fresh processes (``python -m herbmorph.oscar.handler``),
              each loading its model, as three OSCAR jobs would; and ``herbmorph measure`` as one
              fresh process per image (the lower bound of any one-process-per-event scheme).

Then a memory run: ``--memory-images`` keys (hard links to a few sheets) through ``run_batch``,
recording every worker's resident memory after each image. Writes ``OUT/bench_batch.json`` and
``OUT/bench_batch.md``.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from herbmorph.config import REPO_DIR, Settings

SAMPLES = sorted((REPO_DIR / "samples").glob("*.jpg"))


def _copies(folder: Path, n: int, width: int | None = None, cheap: bool = False) -> list[Path]:
    """``n`` distinct images (the bundled samples, a JPEG comment making each sha256 unique)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        sample = SAMPLES[1] if cheap and i % 4 else SAMPLES[i % len(SAMPLES)]
        img = Image.open(sample).convert("RGB")
        if width:
            img.thumbnail((width, width))
        path = folder / f"sheet-{i:04d}.jpg"
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=92, comment=f"bench copy {i}")
        path.write_bytes(buf.getvalue())
        out.append(path)
    return out


def bench_cores(images: list[Path], threads: int, pipeline=None) -> dict:
    """The cores' own work per image: measure, then the area function's three outputs rendered
    in memory (result JSON, openDS event, overlay PNG), with no storage at all."""
    from herbmorph.publish import render_outputs
    from herbmorph.pipeline import Pipeline

    import torch

    t0 = time.perf_counter()
    pipeline = pipeline or Pipeline(Settings()).setup()
    torch.set_num_threads(threads)  # after the import: ultralytics' import sets its own default
    setup = time.perf_counter() - t0
    per, measure_only = [], []
    for path in images:
        data = path.read_bytes()
        t = time.perf_counter()
        m = pipeline.measure(data, str(path))
        measure_only.append(time.perf_counter() - t)
        assert m.ok, m.doc
        render_outputs(m.doc, m.rgb)
        per.append(time.perf_counter() - t)
    # steady state: the first image (lazy initialisation) is left out, as it is for batch
    return {"setup_s": setup, "per_image_s": per, "mean_s": statistics.mean(per[1:]),
            "measure_only_mean_s": statistics.mean(measure_only[1:]), "pipeline": pipeline}


def bench_batch(images: list[Path], work: Path, threads: int, round_: int = 0) -> dict:
    """``mean_s``: the steady state, from the first image's outcome to the last one's, per image
    (the worker's model load, its first image's warm-up and the pool's start and stop excluded,
    as they are for the in-process side); ``mean_with_setup_s``: the whole run's wall time."""
    from .runner import BatchOptions, run_batch

    opts = BatchOptions(source=str(images[0].parent), dest=str(work / f"batch-out-{round_}"), workers=1,
                        journal=work / f"batch-{round_}.sqlite", threads=threads, show_progress=False)
    done_at: list[float] = []
    result = run_batch(opts, on_event=lambda kind, o: done_at.append(time.perf_counter()))
    assert result.counts.get("measured") == len(images), result.counts
    return {"wall_s": result.seconds, "setup_s": result.setup_s,
            "mean_s": (done_at[-1] - done_at[0]) / (len(done_at) - 1),
            "mean_with_setup_s": result.seconds / len(images)}


def _merge(rounds: list[dict]) -> dict:
    """Means over the rounds (the per-image lists concatenated)."""
    out = {k: statistics.mean(r[k] for r in rounds) for k, v in rounds[0].items() if isinstance(v, float)}
    if "per_image_s" in rounds[0]:
        out["per_image_s"] = [x for r in rounds for x in r["per_image_s"]]
    out["rounds"] = len(rounds)
    return out


def _run(cmd: list[str], env: dict) -> float:
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode not in (0,):
        raise RuntimeError(f"{cmd[:4]} failed: {proc.stdout[-500:]} {proc.stderr[-500:]}")
    return time.perf_counter() - t


def bench_event(images: list[Path], work: Path) -> dict:
    """Each image through the three chain stages, each a cold process (OSCAR's async mode)."""
    mirror = work / "mirror"
    env_base = {**os.environ, "HERBMORPH_STORE_DIR": str(mirror)}
    env_base.pop("HERBMORPH_WARM_SOCKET", None)
    chain, single = [], []
    for path in images:
        key = f"in/{path.name}"
        (mirror / "herbarium" / "in").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, mirror / "herbarium" / key)
        trigger, trigger_key, total = mirror / "herbarium" / key, key, 0.0
        for stage, folder in (("segment", "segmented"), ("scale", "scaled"), ("area", "results")):
            out = work / "event" / path.stem / stage
            env = {**env_base, "INPUT_FILE_PATH": str(trigger), "STORAGE_OBJECT_KEY": trigger_key,
                   "TMP_OUTPUT_DIR": str(out), "HERBMORPH_BUCKET": "herbarium"}
            total += _run([sys.executable, "-m", "herbmorph.oscar.handler", stage], env)
            produced = sorted(p for p in out.rglob("*.json") if not p.name.endswith(".opends.json"))
            trigger, trigger_key = produced[0], f"{folder}/{produced[0].relative_to(out).as_posix()}"
        chain.append(total)
        single.append(_run([sys.executable, "-m", "herbmorph.cli", "measure", str(path), "--out",
                            str(work / "measure-out")], env_base))
    return {"chain_per_image_s": chain, "chain_mean_s": statistics.mean(chain),
            "measure_per_image_s": single, "measure_mean_s": statistics.mean(single)}


def bench_memory(n: int, work: Path, workers: int | None) -> dict:
    """``n`` keys (hard links to 12 small sheets) through run_batch; every worker's RSS per image."""
    from .runner import BatchOptions, run_batch

    distinct = _copies(work / "mem-distinct", 12, width=800, cheap=True)
    src = work / "mem-src"
    for i in range(n):
        dst = src / f"box {i // 100:02d}" / f"sheet {i:05d}.jpg"
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.link(distinct[i % len(distinct)], dst)
    from herbmorph.procs import rss_bytes

    coordinator_start = rss_bytes()["rss"]
    samples: list[dict] = []
    opts = BatchOptions(source=str(src), dest=str(work / "mem-out"), workers=workers, journal=work / "mem.sqlite",
                        show_progress=False)
    result = run_batch(opts, on_event=lambda kind, o: samples.append({"t": time.time(), **o["rss"]}))
    assert result.counts.get("measured") == n, result.counts
    by_worker: dict[int, list[dict]] = {}
    for s in result.worker_rss:
        by_worker.setdefault(s["worker"], []).append(s)
    mib = 1 / 2 ** 20
    per_worker = {}
    for wid, seq in sorted(by_worker.items()):
        k = max(1, min(50, len(seq) // 10))
        per_worker[wid] = {
            "images": len(seq),
            "peak_after_first_%d_MiB" % k: round(max(s["peak"] for s in seq[:k]) * mib, 1),
            "peak_at_end_MiB": round(seq[-1]["peak"] * mib, 1),
            "rss_first_%d_mean_MiB" % k: round(statistics.mean(s["rss"] for s in seq[:k]) * mib, 1),
            "rss_last_%d_mean_MiB" % k: round(statistics.mean(s["rss"] for s in seq[-k:]) * mib, 1),
        }
    return {"images": n, "workers": result.workers, "capacity": result.capacity, "wall_s": result.seconds,
            "per_worker": per_worker,
            # this process also ran the in-process cores above: its own models are in these numbers
            "coordinator_rss_MiB": [round(coordinator_start * mib, 1), round(rss_bytes()["rss"] * mib, 1)]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/bench_batch", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=8, help="images for the side-by-side comparison")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads on both sides (the same on both, or the comparison measures threading)")
    ap.add_argument("--rounds", type=int, default=3, help="alternated rounds of cores and batch")
    ap.add_argument("--memory-images", type=int, default=1000, help="images for the memory run (0: skip)")
    ap.add_argument("--memory-workers", type=int, help="workers of the memory run (default: from capacity)")
    ap.add_argument("--out", type=Path, default=REPO_DIR / "out" / "bench_batch")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict = {"machine": {"cores": os.cpu_count(), "loadavg_start": os.getloadavg()}, "threads": args.threads}
    with tempfile.TemporaryDirectory(prefix="herbmorph-bench-") as tmp:
        work = Path(tmp)
        images = _copies(work / "src", args.images)
        print(f"side by side on {len(images)} sheets …", file=sys.stderr)
        # alternated rounds (cores, batch, cores, batch …): drift on a shared machine hits both
        cores, batch, pipeline = [], [], None
        for r in range(args.rounds):
            cores.append(bench_cores(images, args.threads, pipeline))
            pipeline = cores[-1].pop("pipeline")
            batch.append(bench_batch(images, work, args.threads, r))
        del pipeline
        report["cores"], report["batch"] = _merge(cores), _merge(batch)
        report["cores"]["setup_s"] = cores[0]["setup_s"]
        report["event"] = bench_event(images, work)
        c, b, e = report["cores"]["mean_s"], report["batch"]["mean_s"], report["event"]
        report["ratios"] = {"batch_over_cores": b / c, "batch_with_setup_over_cores": report["batch"]["mean_with_setup_s"] / c,
                            "event_chain_over_cores": e["chain_mean_s"] / c,
                            "event_measure_over_cores": e["measure_mean_s"] / c,
                            "event_chain_over_batch": e["chain_mean_s"] / b}
        if args.memory_images:
            print(f"memory run on {args.memory_images} sheets …", file=sys.stderr)
            report["memory"] = bench_memory(args.memory_images, work, args.memory_workers)
    report["machine"]["loadavg_end"] = os.getloadavg()
    (args.out / "bench_batch.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "bench_batch.md").write_text(markdown(report))
    print(markdown(report))
    return 0


def markdown(r: dict) -> str:
    c, b, e, q = r["cores"], r["batch"], r["event"], r["ratios"]
    lines = [
        f"| mode ({len(c['per_image_s']) // c['rounds']} sheets, {c['rounds']} alternated rounds) | per image | × pure cores |", "|---|---:|---:|",
        f"| pure in-process cores (measure + the three outputs in memory) | {c['mean_s'] * 1000:.0f} ms | 1.00 |",
        f"| of which `Pipeline.measure` alone | {c['measure_only_mean_s'] * 1000:.0f} ms | {c['measure_only_mean_s'] / c['mean_s']:.2f} |",
        f"| batch, 1 worker (steady state) | {b['mean_s'] * 1000:.0f} ms | {q['batch_over_cores']:.2f} |",
        f"| batch, 1 worker, model load included | {b['mean_with_setup_s'] * 1000:.0f} ms | {q['batch_with_setup_over_cores']:.2f} |",
        f"| per event: 3 cold stage processes (OSCAR async) | {e['chain_mean_s'] * 1000:.0f} ms | {q['event_chain_over_cores']:.2f} |",
        f"| per event: 1 cold `herbmorph measure` | {e['measure_mean_s'] * 1000:.0f} ms | {q['event_measure_over_cores']:.2f} |",
        "", f"model load: {c['setup_s']:.1f} s in-process, {b['setup_s']:.1f} s in the batch worker; "
            f"load average {r['machine']['loadavg_start'][0]:.1f} → {r['machine']['loadavg_end'][0]:.1f} "
            f"on {r['machine']['cores']} cores; {r.get('threads')} torch thread(s) on both sides",
    ]
    m = r.get("memory")
    if m:
        lines += ["", f"memory run: {m['images']} sheets, {m['workers']} worker(s), {m['wall_s']:.0f} s, "
                      f"coordinator RSS {m['coordinator_rss_MiB'][0]} → {m['coordinator_rss_MiB'][1]} MiB", ""]
        for wid, w in m["per_worker"].items():
            lines.append(f"- worker {wid}: " + ", ".join(f"{k} {v}" for k, v in w.items()))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
