"""Batch on a cluster: OSCAR jobs over ``{start, end}`` slices of a manifest, or a Kubernetes
Indexed Job sized from the nodes' allocatable resources.

OSCAR (``herbmorph batch s3://… --out s3://… --oscar URL``), OSCAR Batch's scheme, corrected:

1. plan as a local run would (list, skip what the journal knows is current);
2. write the manifest, one :class:`~.stores.Item` per JSON line, to ``s3://<dest bucket>/batch/``
   (outside every service's input folder, so it triggers nothing). It is ordered by a hash of the
   key, not by key: a listing groups a collection (one scanner, one resolution) together, and
   contiguous slices of it would give one job all the 100-MP sheets; hashed order spreads them;
3. size N from the *current* ``/system/status`` format and the service's own cpu/memory, keeping
   the 0.8 safety share (:func:`.capacity.oscar_plan`); per node, not cluster-wide;
4. ``POST /job/<service>`` N times (``oscar_python`` ``run_service(..., async_call=True)``) with
   ``{"manifest", "start", "end", "source", "out"}``; OSCAR answers **201** (OSCAR Batch
   expected 200 and gave up).

Each job (``fdl/herbmorph-batch.yaml``) runs ``herbmorph batch --slice $INPUT_FILE_PATH``: the
supervisor saved the JSON body there; the job loads the models once and runs its slice through
the same runner, checking each image's currency against the destination itself. So resuming is
rerunning the same command: finished images are current and skipped, in the job or earlier.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

from herbmorph.config import Settings
from herbmorph.store import S3Store, parse_s3_uri, provider_credentials, s3_uri

from . import capacity
from .journal import Journal, default_journal_path, models_key
from .runner import BatchOptions, current_models, plan, run_batch
from .stores import Destination, Item, Location, LocationError, Source, check_disjoint

JOB_ACCEPTED = (200, 201, 202)  # OSCAR answers 201 Created


def slices(total: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous ``[start, end)`` ranges covering ``total``, sizes differing by <= 1."""
    parts = max(1, min(parts, total))
    base, extra = divmod(total, parts)
    out, start = [], 0
    for i in range(parts):
        end = start + base + (1 if i < extra else 0)
        out.append((start, end))
        start = end
    return out


def _planned(opts: BatchOptions) -> tuple[Location, Location, list[Item]]:
    src, dst = Location.parse(opts.source), Location.parse(opts.dest)
    if not (src.is_s3 and dst.is_s3):
        raise LocationError("cluster jobs read and write object storage: SOURCE and --out must be s3:// URIs")
    check_disjoint(src, dst)
    journal = Journal(opts.journal or default_journal_path(src.text, dst.text))
    try:
        p = plan(opts, Source(src), Destination(dst, opts.settings), journal, models_key(current_models(opts.settings)))
    finally:
        journal.close()
    todo = [item for item, _ in p.todo]
    todo.sort(key=lambda i: hashlib.sha256(i.key.encode("utf-8", "surrogatepass")).hexdigest())
    return src, dst, todo


def write_manifest(dest: Location, items: list[Item], uri: str | None = None) -> str:
    uri = uri or s3_uri(dest.bucket, f"batch/manifest-{time.strftime('%Y%m%dT%H%M%S')}.jsonl")
    bucket, key = parse_s3_uri(uri)
    body = "".join(json.dumps(i.to_dict(), ensure_ascii=False) + "\n" for i in items).encode("utf-8")
    S3Store.from_credentials(provider_credentials()).put(bucket, key, body, "application/x-ndjson")
    return uri


def oscar_client(endpoint: str, user: str, password: str, ssl: bool = True):
    from oscar_python.client import Client

    return Client({"cluster_id": "herbmorph-batch", "endpoint": endpoint.rstrip("/"), "user": user,
                   "password": password, "ssl": ssl})


def submit(opts: BatchOptions, args) -> dict:
    """Plan, write the manifest, size N from /system/status and post N slice jobs."""
    client = oscar_client(args.oscar, args.oscar_user, os.environ.get(args.oscar_password_env, ""),
                          ssl=not args.oscar_insecure)
    service = client.get_service(args.service).json()
    src, dst, todo = _planned(opts)
    if not todo:
        return {"manifest": None, "images": 0, "jobs": [], "capacity": "nothing to do: every image is current"}
    gpu = 1 if service.get("enable_gpu") else 0
    cluster = capacity.oscar_plan(client, service.get("cpu") or "1", service.get("memory") or "2Gi", gpu=gpu)
    manifest = write_manifest(dst, todo, args.manifest)
    jobs = []
    for start, end in slices(len(todo), max(1, cluster.slots)):
        body = {"manifest": manifest, "start": start, "end": end, "source": src.text, "out": dst.text,
                "force": opts.force, "retry_failed": opts.retry_failed}
        response = client.run_service(args.service, input=json.dumps(body), async_call=True)
        if response.status_code not in JOB_ACCEPTED:
            raise RuntimeError(f"OSCAR refused job {start}-{end}: HTTP {response.status_code} {response.text[:200]}")
        jobs.append({"start": start, "end": end, "status": response.status_code})
    return {"manifest": manifest, "images": len(todo), "jobs": jobs, "capacity": cluster.explain()}


def run_slice(event_file: Path, settings: Settings, *, workers=None, show_progress: bool = False) -> int:
    """The job side: measure items ``[start, end)`` of the manifest named in the event file."""
    from rich.console import Console

    from .summary import print_summary

    body = json.loads(Path(event_file).read_text("utf-8"))
    raw = S3Store.from_credentials(provider_credentials()).get(*parse_s3_uri(body["manifest"]), settings.max_bytes)
    lines = raw.decode("utf-8").splitlines()[int(body["start"]):int(body["end"])]
    items = [Item(**json.loads(line)) for line in lines if line.strip()]
    journal = Path(tempfile.gettempdir()) / f"herbmorph-slice-{body['start']}-{body['end']}.sqlite"
    opts = BatchOptions(source=body["source"], dest=body["out"], workers=workers, items=items, journal=journal,
                        force=bool(body.get("force")), retry_failed=bool(body.get("retry_failed")),
                        settings=settings, show_progress=show_progress)
    result = run_batch(opts)
    print_summary(result, Console())
    return 1 if result.failures else 0


# ------------------------------------------------------------------------------- Kubernetes

def indexed_job(n: int, opts: BatchOptions, image: str, cpu: str, memory: str) -> dict:
    """A Kubernetes Indexed Job of ``n`` pods; pod ``i`` runs ``--shard i/n`` (keys hashed, so
    shards are balanced and stable however the listing changes between pods)."""
    args = ["batch", opts.source, "--out", opts.dest, "--shard", f"$(JOB_COMPLETION_INDEX)/{n}", "--no-progress"]
    resources = {"cpu": str(cpu), "memory": str(memory)}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "herbmorph-batch"},
            "spec": {"completionMode": "Indexed", "completions": n, "parallelism": n, "backoffLimitPerIndex": 2,
                     "template": {"spec": {"restartPolicy": "Never", "containers": [{
                         "name": "batch", "image": image, "command": ["herbmorph"], "args": args,
                         # MINIO_ENDPOINT, MINIO_ACCESS_KEY, MINIO_SECRET_KEY
                         "envFrom": [{"secretRef": {"name": "herbmorph-s3"}}],
                         "resources": {"requests": resources, "limits": resources}}]}}}}


def plan_k8s(opts: BatchOptions, args, core_v1=None) -> str:
    """Size an Indexed Job from the nodes' allocatable resources; write its manifest if asked."""
    if core_v1 is None:
        from kubernetes import client, config

        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        core_v1 = client.CoreV1Api()
    cluster = capacity.k8s_plan(core_v1, args.job_cpu, args.job_memory)
    n = max(1, cluster.slots)
    text = f"Kubernetes: {cluster.explain()}"
    if args.emit_job:
        import yaml

        job = indexed_job(n, opts, args.image, args.job_cpu, args.job_memory)
        Path(args.emit_job).write_text(yaml.safe_dump(job, sort_keys=False, allow_unicode=True), "utf-8")
        text += f"\nIndexed Job with {n} pod(s) written to {args.emit_job} (kubectl apply -f it)"
    return text
