"""Run a herbmorph function inside its built image the way OSCAR runs it, and check what it wrote.

    python scripts/image_run.py STAGE IMAGE --work DIR [--sheet JPG]      STAGE: segment scale area deepaas

OSCAR starts the service's image with its supervisor, which downloads the object that fired the
event into ``TMP_INPUT_DIR``, sets ``INPUT_FILE_PATH``, ``TMP_OUTPUT_DIR``, ``STORAGE_OBJECT_KEY`` and
``EVENT``, and runs ``/bin/sh /oscar/config/script.sh`` as the image's user; the service definition
is mounted at ``/oscar/config/function_config.yaml`` and the storage provider's keys at
``/var/run/secrets/providers/minio.default/``; the FDL's variables are the container's environment.
Here the same happens with ``buildah run --isolation chroot`` (no OCI runtime, no daemon), a real
MinIO on 127.0.0.1 holding the original sheet (the container shares the host's network), and the
service, script and variables read from ``fdl/``. The run's outputs are then checked against the
same stage run by the project's handler on this machine: same files, same documents but timings.

The upstream document a stage needs (segment's for scale, scale's for area) is taken from an earlier
in-image run in ``--work`` when there is one, else made here with the handler (real inference).
``deepaas`` starts the image's ``deepaas-run`` on a loopback port and posts the sheet.
Exit status 0 when every check passed; the last line printed is a JSON summary.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote_plus

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "functions"))

from herbmorph.localminio import LocalMinio, free_port  # noqa: E402

STAGES = ("segment", "scale", "area")
UPSTREAM = {"scale": "segment", "area": "scale"}
SUFFIX = {"segment": [".segment.json"], "scale": [".scale.json"], "area": [".json", ".opends.json", ".overlay.png"]}
UID = 10001  # the images' USER
SUB, NAME = "Flora Ibérica/vol 1", "Quercus robur – ½.JPG"  # a key as a herbarium writes it
_MOMENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


class CheckFailed(AssertionError):
    pass


def check(cond: bool, what: str) -> None:
    if not cond:
        raise CheckFailed(what)


def buildah_env() -> dict[str, str]:
    """The store scripts/build_images.sh builds into (HERBMORPH_IMAGES_HOME, vfs)."""
    home = os.environ.get("HERBMORPH_IMAGES_HOME", "/var/tmp/herbmorph-images")
    return {**os.environ, "CONTAINERS_STORAGE_CONF": os.environ.get("CONTAINERS_STORAGE_CONF", f"{home}/storage.conf")}


def buildah(*args: str, timeout: float = 1800, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["buildah", *args], capture_output=True, text=True, timeout=timeout, env=buildah_env(), **kw)


# ------------------------------------------------------------------------------------ the FDL


def service(name: str) -> tuple[dict, Path]:
    """The OSCAR service ``name`` from the FDLs in fdl/, and the FDL's folder (scripts are relative)."""
    for path in sorted((REPO / "fdl").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text("utf-8")) or {}
        for entry in (doc.get("functions") or {}).get("oscar") or []:
            for svc in entry.values():
                if isinstance(svc, dict) and svc.get("name") == name:
                    return svc, path.parent
    raise LookupError(f"no service {name} in fdl/*.yaml")


def variables(svc: dict) -> dict[str, str]:
    env = svc.get("environment") or {}
    found = env.get("Variables") or env.get("variables") or {}  # oscar-cli's spelling, oscar-python's
    return {str(k): str(v) for k, v in found.items()}


def split_path(path: str) -> tuple[str, str]:
    bucket, _, folder = path.strip("/").partition("/")
    return bucket, folder.strip("/")


def minio_event(bucket: str, key: str) -> str:
    enc = quote_plus(key, safe="/")
    return json.dumps({"EventName": "s3:ObjectCreated:Put", "Key": f"{bucket}/{enc}", "Records": [{
        "eventSource": "minio:s3", "eventName": "s3:ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": enc, "size": 1}}}]})


class Storage:
    """The cluster's MinIO, with every bucket the chain names and the original sheet uploaded."""

    def __init__(self, work: Path, sheet: Path):
        self.minio = LocalMinio(work / "minio").start()
        try:
            client = self.minio.client()
            for stage in STAGES:
                svc, _ = service(f"herbmorph-{stage}")
                for io in (svc.get("input") or []) + (svc.get("output") or []):
                    bucket = split_path(io["path"])[0]
                    if not client.bucket_exists(bucket):
                        client.make_bucket(bucket)
            self.bucket, folder = split_path(service("herbmorph-segment")[0]["input"][0]["path"])
            self.key = f"{folder}/{SUB}/{NAME}" if folder else f"{SUB}/{NAME}"
            client.fput_object(self.bucket, self.key, str(sheet))
        except BaseException:
            self.minio.stop()
            raise

    def close(self) -> None:
        self.minio.stop()


def trigger(stage: str, storage: Storage, doc: Path | None) -> tuple[str, str]:
    """(bucket, key) of the object that fires ``stage``: the upload, or the upstream's document
    (which lies at ``<folder>/<SUB>/<NAME><suffix>``, as the stages write it)."""
    if stage == "segment":
        return storage.bucket, storage.key
    bucket, folder = split_path(service(f"herbmorph-{stage}")[0]["input"][0]["path"])
    rel = doc.relative_to(doc.parents[len(Path(SUB).parts)]).as_posix()
    return bucket, f"{folder}/{rel}" if folder else rel


# ------------------------------------------------------------------------------------ running


def run_on_host(stage: str, input_file: Path, storage: Storage, out: Path) -> subprocess.CompletedProcess:
    """The stage through the project's handler on this machine (keys from the environment)."""
    bucket, key = trigger(stage, storage, None if stage == "segment" else input_file)
    out.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HERBMORPH_", "MINIO_", "FUNCTION_CONFIG"))}
    env.update(variables(service(f"herbmorph-{stage}")[0]))
    env.update(storage.minio.env())
    env.update({"PYTHONPATH": str(REPO / "functions"), "OMP_NUM_THREADS": "1", "INPUT_FILE_PATH": str(input_file),
                "TMP_OUTPUT_DIR": str(out), "STORAGE_OBJECT_KEY": key, "EVENT": minio_event(bucket, key)})
    env.pop("HERBMORPH_SEGMENT_WEIGHTS", None), env.pop("HERBMORPH_SCALE_WEIGHTS", None)  # the repo's models/
    return subprocess.run([sys.executable, "-m", "herbmorph.oscar.handler", stage], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=900)


def run_in_image(stage: str, image: str, input_file: Path, storage: Storage, out: Path) -> subprocess.CompletedProcess:
    """``/bin/sh /oscar/config/script.sh`` in a fresh container of ``image``, as OSCAR would."""
    svc, fdl_dir = service(f"herbmorph-{stage}")
    bucket, key = trigger(stage, storage, None if stage == "segment" else input_file)
    mounts = Path(tempfile.mkdtemp(dir=out.parent, prefix=f"{stage}-mounts-"))
    (mounts / "in").mkdir()
    shutil.copyfile(input_file, mounts / "in" / Path(key).name)  # the supervisor's download
    config = dict(svc)
    config["storage_providers"] = {"minio": {"default": {  # as OSCAR fills it in: no keys
        "endpoint": storage.minio.endpoint, "verify": False, "region": "us-east-1",
        "access_key": "hidden", "secret_key": "hidden"}}}
    (mounts / "config").mkdir()
    (mounts / "config" / "function_config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
    shutil.copyfile(fdl_dir / svc["script"], mounts / "config" / "script.sh")
    secrets = mounts / "providers" / "minio.default"
    secrets.mkdir(parents=True)
    (secrets / "accessKey").write_text(storage.minio.access_key)
    (secrets / "secretKey").write_text(storage.minio.secret_key)
    out.mkdir(parents=True, exist_ok=True)
    os.chown(out, UID, 0)  # the image's user writes it, as it owns the supervisor's temp folder
    for path in mounts.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    for key_file in secrets.iterdir():  # the keys for the image's user alone
        os.chown(key_file, UID, 0)
        os.chmod(key_file, 0o400)
    os.chmod(mounts, 0o755)
    env = {**variables(svc), "TMP_INPUT_DIR": "/tmp/oscar-in", "TMP_OUTPUT_DIR": "/tmp/oscar-out",
           "INPUT_FILE_PATH": f"/tmp/oscar-in/{Path(key).name}", "STORAGE_OBJECT_KEY": key,
           "EVENT": minio_event(bucket, key), "OMP_NUM_THREADS": "1"}  # as the run here: same arithmetic
    ctr = None
    try:
        ctr = buildah("from", "--pull=never", image, check=True).stdout.strip().splitlines()[-1]
        args = ["run", "--isolation", "chroot",
                "-v", f"{mounts / 'in'}:/tmp/oscar-in:ro", "-v", f"{out}:/tmp/oscar-out",
                "-v", f"{mounts / 'config'}:/oscar/config:ro",
                # /var/run/secrets/providers, where Kubernetes mounts it; /var/run is a link to /run
                # in the image, and buildah binds onto the link's target only
                "-v", f"{mounts / 'providers'}:/run/secrets/providers:ro"]
        for k, v in env.items():
            args += ["-e", f"{k}={v}"]
        return buildah(*args, ctr, "--", "/bin/sh", "/oscar/config/script.sh", timeout=900)
    finally:
        if ctr:
            buildah("rm", ctr)
        shutil.rmtree(mounts, ignore_errors=True)


def files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _blank_moments(value: object, key: str = "") -> object:
    """Timings and timestamps blanked: the only parts two runs of one stage may differ in."""
    if key == "timings_ms" and isinstance(value, dict):
        return sorted(value)
    if isinstance(value, dict):
        return {k: _blank_moments(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank_moments(v) for v in value]
    return "<moment>" if isinstance(value, str) and _MOMENT.match(value) else value


def comparable(path: Path) -> object:
    """A document without timings and timestamps; an image as its decoded pixels."""
    if path.suffix == ".png":
        import numpy as np
        from PIL import Image

        with Image.open(path) as im:
            return (im.format, im.mode, im.size, np.asarray(im).tobytes())
    return _blank_moments(json.loads(path.read_text("utf-8")))


def upstream_doc(stage: str, work: Path, sheet: Path, storage: Storage) -> Path:
    """What fires ``stage``: the sheet, or the upstream stage's document from an earlier in-image run
    in ``work``, else made here by the handler (real inference)."""
    if stage == "segment":
        return sheet
    up = UPSTREAM[stage]
    for folder in (work / f"{up}-image-out", work / f"{up}-host-out"):
        made = sorted(folder.rglob(f"*{SUFFIX[up][0]}"))
        if made:
            return made[0]
    proc = run_on_host(up, upstream_doc(up, work, sheet, storage), storage, work / f"{up}-host-out")
    check(proc.returncode == 0, f"host {up}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return sorted((work / f"{up}-host-out").rglob(f"*{SUFFIX[up][0]}"))[0]


def run_stage(stage: str, image: str, work: Path, sheet: Path) -> dict:
    """Run ``stage`` in ``image``, then on the host from the same input; both must write the same."""
    storage = Storage(work / f"{stage}-storage", sheet)
    try:
        input_file = upstream_doc(stage, work, sheet, storage)
        t = time.monotonic()
        proc = run_in_image(stage, image, input_file, storage, work / f"{stage}-image-out")
        secs = time.monotonic() - t
        check(proc.returncode == 0, f"in-image {stage} exited {proc.returncode}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
        got = files(work / f"{stage}-image-out")
        check(got == sorted(f"{SUB}/{NAME}{s}" for s in SUFFIX[stage]), f"in-image {stage} wrote {got}")
        host = run_on_host(stage, input_file, storage, work / f"{stage}-host-out")
        check(host.returncode == 0, f"host {stage}: {host.stdout[-2000:]}{host.stderr[-2000:]}")
        for rel in got:
            check(comparable(work / f"{stage}-image-out" / rel) == comparable(work / f"{stage}-host-out" / rel),
                  f"{rel}: the image wrote another document than the handler here")
        return {"stage": stage, "image": image, "files": got, "seconds_in_image": round(secs, 1)}
    finally:
        storage.close()


def run_deepaas(image: str, work: Path, sheet: Path) -> dict:
    """The image's deepaas-run (its CMD, on a loopback port), one prediction of the sheet."""
    import requests

    port = free_port()
    ctr = buildah("from", "--pull=never", image, check=True).stdout.strip().splitlines()[-1]
    log = open(work / "deepaas.log", "wb")
    proc = subprocess.Popen(["buildah", "run", "--isolation", "chroot", ctr, "--", "deepaas-run", "--listen-ip",
                             "127.0.0.1", "--listen-port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, env=buildah_env())
    url = f"http://127.0.0.1:{port}/v2/models/herbmorph/predict/"
    try:
        deadline = time.monotonic() + 300
        while True:
            check(proc.poll() is None, f"deepaas-run exited {proc.returncode}: {(work / 'deepaas.log').read_text()[-3000:]}")
            check(time.monotonic() < deadline, "deepaas-run not ready in 300 s")
            try:
                if requests.get(f"http://127.0.0.1:{port}/v2/models/", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(1)
        resp = requests.post(url, files={"image": (sheet.name, sheet.read_bytes(), "image/jpeg")}, timeout=600)
        check(resp.status_code == 200, f"predict answered {resp.status_code}: {resp.text[:500]}")
        doc = resp.json()
        check(doc.get("schema") == "herbmorph/result/1" and doc.get("organs") is not None, f"not a result: {resp.text[:300]}")
        return {"stage": "deepaas", "image": image, "organs": len(doc["organs"]), "scale": doc["scale"].get("status")}
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        log.close()
        buildah("rm", ctr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("stage", choices=[*STAGES, "deepaas"])
    ap.add_argument("image")
    ap.add_argument("--work", type=Path, required=True, help="folder for the runs (kept: later stages read it)")
    ap.add_argument("--sheet", type=Path, default=sorted((REPO / "samples").glob("*.jpg"))[0])
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    try:
        if args.stage == "deepaas":
            summary = run_deepaas(args.image, args.work, args.sheet)
        else:
            summary = run_stage(args.stage, args.image, args.work, args.sheet)
    except CheckFailed as exc:
        print(f"FAILED: {exc}")
        return 1
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
