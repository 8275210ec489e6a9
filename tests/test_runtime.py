"""The embedded runtime, ``herbmorph serve``: real processes, real models, real faas-supervisor.

Folder mode is the zero-setup default; MinIO mode registers real webhooks on a real MinIO through
its admin API and runs every event through the real faas-supervisor. The end-to-end test kills the
runtime with SIGKILL mid-run and proves that every input still ends with exactly one outcome.
"""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import time
from pathlib import Path

import boto3
import pytest

from conftest import REAL_SHEETS, REPO, SAMPLES, SHARED
from herbmorph.area.opends_schema import validate_event
from herbmorph.localminio import free_port
from herbmorph.oscar.invocation import stage_relpath
from herbmorph.results import ErrorDocument, ResultDocument
from herbmorph.quantities import parse_cpu, parse_memory
from herbmorph.runtime.fdl import load_fdl
from herbmorph.runtime.journal import Journal
from herbmorph.runtime.runtime import slots_for
from runtime_helpers import Serve, alive, chain_fdl, http_get, metric, wait_for

pytestmark = pytest.mark.slow


# ------------------------------------------------------------------------------- pieces


def test_fdl_is_read_like_oscar_and_pools_follow_cpu_and_memory():
    fdl = load_fdl(REPO / "fdl" / "herbmorph-chain.yaml")
    seg, scale, area = fdl.services
    assert [s.name for s in fdl.services] == ["herbmorph-segment", "herbmorph-scale", "herbmorph-area"]
    assert seg.inputs[0].prefix == "in/" and seg.input_for("herbarium", "in/a/b.JPG")
    assert not seg.input_for("herbarium", "in/.b.jpg.tmp") and not seg.input_for("herbarium", "segmented/x.jpg")
    assert seg.enable_gpu and not area.enable_gpu
    assert (parse_cpu("500m"), parse_memory("6Gi"), parse_memory("512M")) == (0.5, 6 * 2**30, 512_000_000)
    # 2 cores, 24 GiB: segment/scale ask for 2 cores -> 1 slot; area asks for 1 core -> 2 slots
    assert [slots_for(s, cpus=2, memory=24 * 2**30) for s in fdl.services] == [1, 1, 2]
    # memory binds too: 16 cores but 8 GiB for a 6Gi service -> 1 slot
    assert slots_for(seg, cpus=16, memory=8 * 2**30) == 1


def test_fdl_that_triggers_itself_is_refused(tmp_path):
    bad = chain_fdl(tmp_path / "loop.yaml")
    bad.write_text(bad.read_text().replace("path: herbarium/segmented", "path: herbarium/in/segmented", 1))
    with pytest.raises(ValueError, match="trigger itself"):
        load_fdl(bad)


def test_journal_is_durable_and_drops_duplicate_deliveries(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    first = j.add("svc", "b", "in/x.jpg", "etag1", "seq1", {"n": 1})
    assert first is not None
    assert j.add("svc", "b", "in/x.jpg", "etag1", "seq1", {"n": 1}) is None  # redelivery
    assert j.add("svc", "b", "in/x.jpg", "etag1", "", {"n": 1}) is None  # the sweep found it too
    again = j.add("svc", "b", "in/x.jpg", "etag1", "seq2", {"n": 2})  # a real re-upload, same bytes
    assert again is not None and again != first
    event = j.claim("svc")
    assert event.id == first and event.attempts == 1
    j.close()
    # a crash here: the reopened journal puts the running event back in the queue
    j = Journal(tmp_path / "j.sqlite")
    assert j.recover() == 1
    assert j.claim("svc").id == first
    assert j.counts() == {"svc": {"running": 1, "pending": 1}}


# --------------------------------------------------------------------------- folder mode


def _one_outcome(results: Path, rel: str) -> str:
    """'result' or 'error'; fails unless exactly one outcome (with its companions) exists."""
    ok = (results / f"{rel}.json").exists()
    err = (results / f"{rel}.error.json").exists()
    assert ok != err, f"{rel}: result={ok} error={err}"
    if ok:
        assert (results / f"{rel}.opends.json").exists() and (results / f"{rel}.overlay.png").exists()
    return "result" if ok else "error"


FORGED_LINE = "2026-01-01 09:00:00 INFO herbmorph.serve: herbmorph-area: forged.jpg done"
FORGED = f"forged\n{FORGED_LINE}\t\x1b[2J.jpg"


def test_folder_mode_is_the_zero_setup_default(tmp_path):
    data = tmp_path / "data"
    inbox = data / "herbarium" / "in"
    (inbox / "batch 1").mkdir(parents=True)
    shutil.copy(SAMPLES[0], inbox / "batch 1" / "Quercus robur – ½.JPG")
    shutil.copy(SAMPLES[1], inbox / SAMPLES[1].name)
    (inbox / "notes.jpg").write_text("not an image")
    (inbox / "empty.png").write_bytes(b"")
    (inbox / "readme.txt").write_text("ignored: not an input suffix")
    (inbox / FORGED).write_text("not an image either")  # a name that tries to add a log line
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIO_")}
    serve = Serve(["--data", str(data), "--drain"], free_port(), env, tmp_path / "serve.log")
    serve.start()
    assert serve.health()["storage"] == "folders"
    assert serve.proc.wait(600) == 0, serve.log.read_text()[-2000:]
    results = data / "herbarium" / "results"
    assert _one_outcome(results, stage_relpath("segment", f"in/{FORGED}", "in")) == "error"
    # every log names it on one line, escaped: the runtime's, the supervisor's and the handler's
    logs = {p: p.read_text("utf-8", "replace") for p in [serve.log, *(data / ".herbmorph" / "logs").glob("*.log")]}
    escaped = FORGED.replace("\n", "\\n").replace("\t", "\\t").replace("\x1b", "\\x1b")
    assert any(escaped in text for text in logs.values()), "no log names the forged key"
    for path, text in logs.items():
        lines = text.splitlines()
        assert not any(line.startswith(FORGED_LINE) for line in lines), path
        assert not any("\t" in line or "\x1b" in line for line in lines if "forged" in line), path
    outcomes = {rel: _one_outcome(results, rel) for rel in
                ("batch 1/Quercus robur – ½.JPG", SAMPLES[1].name, "notes.jpg", "empty.png")}
    assert outcomes == {"batch 1/Quercus robur – ½.JPG": "result", SAMPLES[1].name: "result",
                        "notes.jpg": "error", "empty.png": "error"}
    doc = ResultDocument.model_validate_json((results / "batch 1" / "Quercus robur – ½.JPG.json").read_text())
    assert doc.image.uri == "s3://herbarium/in/batch 1/Quercus robur – ½.JPG"
    assert ErrorDocument.model_validate_json((results / "notes.jpg.error.json").read_text()).error.kind == "not-an-image"
    assert not list(results.rglob("readme*"))
    assert sorted(p.name for p in inbox.rglob("*") if p.is_file()) == sorted(
        ["Quercus robur – ½.JPG", SAMPLES[1].name, "notes.jpg", "empty.png", "readme.txt", FORGED])  # inputs untouched

    # the bad file is replaced by a real sheet: the result replaces the error, no stale file left
    shutil.copy(SAMPLES[2], inbox / "notes.jpg")
    serve = Serve(["--data", str(data), "--drain"], free_port(), env, tmp_path / "serve2.log")
    serve.start()
    assert serve.proc.wait(600) == 0
    assert _one_outcome(results, "notes.jpg") == "result"


def _queue_as_the_watcher_did(data: Path, keys: list[str]) -> None:
    """Journal ``herbarium/<key>`` for its services as the watcher does once a file has settled:
    the state a running runtime is in between queueing an input and running it."""
    from herbmorph.runtime.backends import object_event
    from herbmorph.store import ObjectInfo

    fdl = load_fdl(REPO / "fdl" / "herbmorph-chain.yaml")
    journal = Journal(data / ".herbmorph" / "journal.sqlite")
    try:
        for key in keys:
            st = (data / "herbarium" / key).lstat()
            obj = ObjectInfo("herbarium", key, f"{st.st_size}-{st.st_mtime_ns}", st.st_size)
            services = [svc for svc in fdl.services if svc.input_for(obj.bucket, obj.key)]
            assert services, key
            for svc in services:
                assert journal.add(svc.name, obj.bucket, obj.key, obj.etag, "", object_event(obj))
    finally:
        journal.close()


def test_folder_mode_never_follows_a_symlink_even_one_swapped_in_after_queueing(tmp_path):
    """Issue 17: a queued file swapped for a symlink was copied through it (/etc/passwd's sha256
    landed in an error document; another collection's pixels were segmented), and a symlink
    dropped as such was skipped without any outcome."""
    data = tmp_path / "data"
    inbox = data / "herbarium" / "in"
    inbox.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "passwd"
    secret.write_bytes(b"root:x:0:0:" + os.urandom(12).hex().encode() + b":/root:/bin/sh\n")
    other = outside / "other collection.jpg"
    shutil.copy(SAMPLES[1], other)
    for name in ("swapped-to-secret.jpg", "swapped-to-sheet.jpg"):
        shutil.copy(SAMPLES[0], inbox / name)
    _queue_as_the_watcher_did(data, ["in/swapped-to-secret.jpg", "in/swapped-to-sheet.jpg"])
    for name, target in (("swapped-to-secret.jpg", secret), ("swapped-to-sheet.jpg", other)):
        (inbox / name).unlink()
        (inbox / name).symlink_to(target)  # the race: replaced after it was queued
    (inbox / "direct.jpg").symlink_to(secret)  # a link from the start
    (inbox / "linked folder.jpg").symlink_to(outside, target_is_directory=True)
    os.mkfifo(inbox / "fifo.jpg")  # would block a reader forever
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIO_")}
    serve = Serve(["--data", str(data), "--drain"], free_port(), env, tmp_path / "serve.log")
    serve.start()
    assert serve.proc.wait(600) == 0, serve.log.read_text()[-2000:]

    results = data / "herbarium" / "results"
    for name in ("swapped-to-secret", "swapped-to-sheet", "direct", "linked folder", "fifo"):
        assert _one_outcome(results, f"{name}.jpg") == "error", name
        doc = ErrorDocument.model_validate_json((results / f"{name}.jpg.error.json").read_text())
        assert doc.error.kind == "not-a-regular-file", doc
        assert ("symbolic link" if name != "fifo" else "FIFO") in doc.error.message, doc.error.message
        assert doc.image.sha256 is None and doc.image.uri == f"s3://herbarium/in/{name}.jpg"
    # no byte of a link's target reached any output, log, journal or cache: not its content, its
    # sha256 (a document's, or the pixel cache's file names) or the other sheet's decoded pixels
    import hashlib

    needles = [secret.read_bytes().strip(), hashlib.sha256(secret.read_bytes()).hexdigest().encode(),
               hashlib.sha256(other.read_bytes()).hexdigest().encode()]
    for path in data.rglob("*"):
        if path.is_symlink() or not path.is_file() or path.parent == inbox:
            continue
        blob = path.read_bytes() + str(path).encode()
        assert not any(n in blob for n in needles), f"{path} holds bytes of a link's target"
    assert not list(results.glob("other collection*"))
    assert secret.read_bytes().startswith(b"root:x:0:0:") and other.read_bytes() == SAMPLES[1].read_bytes()


def test_a_stage_that_never_succeeds_ends_with_a_runtime_error_document(tmp_path):
    script = tmp_path / "broken.sh"
    script.write_text("echo 'this function always crashes' >&2\nexit 3\n")
    fdl = tmp_path / "broken.yaml"
    fdl.write_text(json.dumps({"functions": {"oscar": [{"local": {
        "name": "broken", "script": str(script), "cpu": "1.0", "memory": "256Mi",
        "input": [{"storage_provider": "minio.default", "path": "pics/in", "suffix": ["jpg"]}],
        "output": [{"storage_provider": "minio.default", "path": "pics/out", "suffix": ["json"]}]}}]}}))
    data = tmp_path / "data"
    (data / "pics" / "in").mkdir(parents=True)
    shutil.copy(SAMPLES[0], data / "pics" / "in" / "a.jpg")
    serve = Serve(["--fdl", str(fdl), "--data", str(data), "--drain"], free_port(), dict(os.environ),
                  tmp_path / "serve.log")
    serve.start()
    assert serve.proc.wait(300) == 0
    doc = ErrorDocument.model_validate_json((data / "pics" / "out" / "a.jpg.error.json").read_text())
    assert doc.error.kind == "runtime" and "3 of 3" in doc.error.message
    assert doc.image.uri == "s3://pics/in/a.jpg"


# ----------------------------------------------------------------------------- MinIO mode


def _bad_objects(tmp_path: Path) -> dict[str, tuple[bytes, str]]:
    """≥ 10 kinds of bad object: {key below in/: (bytes, expected error kind)}."""
    from badinputs import build_bad_inputs

    cases = build_bad_inputs(tmp_path / "bad", include_too_large=False)
    wanted = ["empty", "truncated_jpeg", "truncated_png", "truncated_tiff", "text_as_jpg", "xml_error_as_png",
              "one_pixel_png", "bomb_png", "complex_tiff"]
    out = {f"bad/{cases[n][0].name}": (cases[n][0].read_bytes(), cases[n][1]) for n in wanted}
    # over the upload limit this test's FDL sets (HERBMORPH_MAX_BYTES=3 MB): refused by size
    out["bad/huge scan.tif"] = (b"II*\x00" + os.urandom(3_200_000), "too-large")
    # MinIO itself refuses keys with ".." segments; a hidden folder and a bidi override are legal
    # and must still land, cleaned, inside results/ (output_relpath's own tests cover "..")
    out["bad/.hidden dir/x\u202egpj.jpg"] = (b"GIF89a-not-really", "not-an-image")
    return out


def _keys(client, bucket: str, prefix: str) -> list[str]:
    return sorted(o.object_name for o in client.list_objects(bucket, prefix=prefix, recursive=True))


def _outcomes(client, inputs: list[str]) -> dict[str, str]:
    """{input key: 'result' | 'error'} for inputs that have one; asserts none has two."""
    have = set(_keys(client, "herbarium", "results/"))
    out = {}
    for key in inputs:
        rel = "results/" + stage_relpath("segment", key, "in")
        ok, err = f"{rel}.json" in have, f"{rel}.error.json" in have
        assert not (ok and err), f"{key}: both a result and an error"
        if ok and {f"{rel}.opends.json", f"{rel}.overlay.png"} <= have:
            out[key] = "result"
        elif err:
            out[key] = "error"
    return out


def test_minio_chain_end_to_end_survives_sigkill(minio_server, tmp_path):
    fdl = chain_fdl(tmp_path / "chain.yaml", {"HERBMORPH_MAX_BYTES": "3000000"})
    env = {**os.environ, "MINIO_ACCESS_KEY": minio_server.access_key, "MINIO_SECRET_KEY": minio_server.secret_key}
    env.pop("MINIO_ENDPOINT", None)
    args = ["--fdl", str(fdl), "--minio", minio_server.endpoint, "--data", str(tmp_path / "unused"),
            "--state", str(tmp_path / "state")]
    port = free_port()
    serve = Serve(args, port, env, tmp_path / "serve.log").start()
    client = minio_server.client()
    s3 = boto3.client("s3", endpoint_url=minio_server.endpoint, aws_access_key_id=minio_server.access_key,
                      aws_secret_access_key=minio_server.secret_key, region_name="us-east-1")

    # the webhook answers only MinIO (token), only known services, only S3 events
    assert http_get(serve.url + "/nope")[0] == 404
    import urllib.request

    req = urllib.request.Request(serve.url + "/events/herbmorph-segment", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as unauth:
        urllib.request.urlopen(req, timeout=5)
    assert unauth.value.code == 401

    sheets = sorted(REAL_SHEETS.glob("*.jpg"))[:4] + SAMPLES
    good = {}
    for i, path in enumerate(sheets):  # real images, through both S3 clients
        key = f"in/round1/{i:02d} {path.name}"
        if i % 2:
            s3.upload_file(str(path), "herbarium", key)
        else:
            client.fput_object("herbarium", key, str(path))
        good[key] = "result"
    bad = {f"in/{k}": v for k, v in _bad_objects(tmp_path).items()}
    for key, (data, _) in bad.items():
        client.put_object("herbarium", key, io.BytesIO(data), len(data))
    # a foreign file where the scale stage reads its input: an error document, not silence
    client.put_object("herbarium", "segmented/foreign.segment.json", io.BytesIO(b'{"hello": 1}'), 12)

    first = list(good) + list(bad)
    wait_for(lambda: len(_outcomes(client, first)) == len(first), 600, "round 1 outcomes")
    assert _outcomes(client, first) == {**good, **{k: "error" for k in bad}}
    for key, (_, kind) in bad.items():
        rel = stage_relpath("segment", key, "in")
        doc = ErrorDocument.model_validate_json(client.get_object("herbarium", f"results/{rel}.error.json").read())
        assert doc.error.kind == kind, (key, doc.error)
    # cleaned (no leading dot, no bidi override) and tagged, since the key was not plain
    assert [k for k in _keys(client, "herbarium", "results/bad/") if re.fullmatch(
        r"results/bad/hidden dir/xgpj\.jpg~[0-9a-f]{16}\.error\.json", k)], _keys(client, "herbarium", "results/bad/")
    foreign = ErrorDocument.model_validate_json(client.get_object("herbarium", "results/foreign.error.json").read())
    assert foreign.error.kind == "bad-stage-document"
    for key in good:
        rel = stage_relpath("segment", key, "in")
        doc = ResultDocument.model_validate_json(client.get_object("herbarium", f"results/{rel}.json").read())
        assert doc.image.uri == f"s3://herbarium/{key}" and doc.image.sha256
        validate_event(json.loads(client.get_object("herbarium", f"results/{rel}.opends.json").read()),
                       SHARED / "reference" / "opends-0.4")

    # segment left each decoded original for scale and area; every chain has ended, so none remain
    assert (tmp_path / "state" / "pixels").is_dir()
    assert not list((tmp_path / "state" / "pixels").glob("*.npy"))

    m = serve.metrics()
    assert metric(m, "herbmorph_events_received_total", service="herbmorph-segment") == len(first)
    assert metric(m, "herbmorph_events_done_total", service="herbmorph-area") >= len(first)
    assert metric(m, "herbmorph_stage_seconds_count", service="herbmorph-segment") == len(first)
    area_rss = metric(m, "herbmorph_worker_rss_bytes", service="herbmorph-area", slot="0")
    assert 0 < area_rss < 150 * 2**20, f"area worker RSS {area_rss / 2**20:.0f} MB"
    (tmp_path / "area_rss_mb.txt").write_text(f"{area_rss / 2**20:.1f}\n")

    # round 2: SIGKILL mid-run, uploads while down, restart: 0 lost, 0 duplicated
    second = []
    for i in range(8):
        key = f"in/round2/{i:02d}.jpg"
        client.fput_object("herbarium", key, str(sheets[i % len(sheets)]))
        second.append(key)
    wait_for(lambda: 1 <= len(_outcomes(client, second)) < len(second), 300, "round 2 to be half done",
             interval=0.2)
    orphans = serve.sigkill()
    assert orphans, "the runtime had no worker processes to orphan"
    wait_for(lambda: not any(alive(p) for p in orphans), 30, "the killed runtime's workers to exit")
    down = []
    for i in range(2):
        key = f"in/while-down/{i}.jpg"
        client.fput_object("herbarium", key, str(SAMPLES[i]))
        down.append(key)
    time.sleep(1)
    serve = Serve(args, port, env, tmp_path / "serve2.log").start()
    everything = first + second + down
    wait_for(lambda: len(_outcomes(client, everything)) == len(everything), 600, "every outcome after restart")
    wait_for(lambda: not any(v.get("pending") or v.get("running") for k, v in serve.health()["services"].items()
                             if isinstance(v, dict)), 300, "the queues to empty")
    outcomes = _outcomes(client, everything)
    assert all(outcomes[k] == "result" for k in second + down)
    # nothing in results/ that is not the outcome of exactly one input (or the foreign file)
    expected = {"results/foreign.error.json"}
    for key in everything:
        rel = "results/" + stage_relpath("segment", key, "in")
        expected |= {f"{rel}.error.json"} if outcomes[key] == "error" else \
            {f"{rel}.json", f"{rel}.opends.json", f"{rel}.overlay.png"}
    assert set(_keys(client, "herbarium", "results/")) == expected
    # inputs are never modified or deleted
    assert set(_keys(client, "herbarium", "in/")) == set(everything)
    assert serve.stop() == 0

    # no credentials in logs or outputs
    secret = minio_server.secret_key
    for path in [*(tmp_path / "state" / "logs").glob("*.log"), tmp_path / "serve.log", tmp_path / "serve2.log"]:
        assert secret not in path.read_text("utf-8", "replace"), path
    for key in _keys(client, "herbarium", "results/"):
        if key.endswith(".json"):
            assert secret not in client.get_object("herbarium", key).read().decode()
