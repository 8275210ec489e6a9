"""Warm workers and the OSCAR stages: per-call settings, and the original read once per stage."""
from __future__ import annotations

import json
import multiprocessing
import shutil
import socket
from pathlib import Path

import pytest

from herbmorph.warmwire import recv, send

REPO = Path(__file__).resolve().parents[1]
SAMPLE = sorted((REPO / "samples").glob("*.jpg"))[0]


def _call(sock_path: str, stage: str, env: dict) -> int:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(sock_path)
        send(sock, {"argv": [stage], "env": env})
        return int(recv(sock)["code"])


def _segment_env(tmp: Path, name: str, conf: str) -> dict:
    src = tmp / "in" / name
    src.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SAMPLE, src)
    return {"TMP_OUTPUT_DIR": str(tmp / f"out-{name}"), "INPUT_FILE_PATH": str(src),
            "STORAGE_OBJECT_KEY": f"in/{name}", "HERBMORPH_CONF": conf}


def test_a_warm_worker_honours_each_calls_conf(tmp_path):
    from herbmorph.runtime.warm import serve_worker

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    sock_path = str(tmp_path / "w.sock")
    # the worker starts with one confidence in its own environment ...
    proc = ctx.Process(target=serve_worker, args=("segment", sock_path, child, {"HERBMORPH_CONF": "0.5"}), daemon=True)
    proc.start()
    try:
        assert parent.poll(300) and parent.recv()[0] == "ready"
        confs, organs = [], []
        # ... and two consecutive calls name two others
        for name, conf in (("a.jpg", "0.05"), ("b.jpg", "0.9")):
            env = _segment_env(tmp_path, name, conf)
            assert _call(sock_path, "segment", env) == 0
            doc = json.loads(Path(env["TMP_OUTPUT_DIR"], f"{name}.segment.json").read_text("utf-8"))
            confs.append(doc["segment"]["conf"])
            organs.append(doc["segment"]["organs"])
        assert confs == [0.05, 0.9]
        assert all(o["confidence"] >= 0.05 for o in organs[0]) and all(o["confidence"] >= 0.9 for o in organs[1])
        assert len(organs[0]) > len(organs[1]), "the same sheet at a lower threshold keeps more organs"
    finally:
        parent.send("stop")
        proc.join(20)
        if proc.is_alive():
            proc.kill()


@pytest.fixture()
def counted(monkeypatch):
    """Counts every download, hash and decode of an original while a stage runs in-process."""
    from herbmorph.imageio import load as load_mod
    from herbmorph.oscar import stages
    from herbmorph.store import FolderStore

    counts = {"get": 0, "hash": 0, "decode": 0}

    def wrap(owner, name, key):
        real = getattr(owner, name)

        def counting(*a, **kw):
            counts[key] += 1
            return real(*a, **kw)

        monkeypatch.setattr(owner, name, counting)

    wrap(FolderStore, "get", "get")
    wrap(stages, "sha256_bytes", "hash")
    wrap(load_mod, "sha256_bytes", "hash")
    wrap(load_mod, "_decode", "decode")
    return counts


def test_each_stage_reads_hashes_and_decodes_the_original_at_most_once(tmp_path, counted):
    from herbmorph.oscar.handler import main

    store = tmp_path / "store"
    key = "in/sheet.jpg"
    (store / "herbarium" / "in").mkdir(parents=True)
    shutil.copyfile(SAMPLE, store / "herbarium" / key)
    common = {"HERBMORPH_STORE_DIR": str(store), "HERBMORPH_BUCKET": "herbarium", "HERBMORPH_REMOVE_STALE": "0"}
    seen = {}
    upstream = store / "herbarium" / key
    for stage, in_key, out_name in (("segment", key, "sheet.jpg.segment.json"),
                                    ("scale", "segmented/sheet.jpg.segment.json", "sheet.jpg.scale.json"),
                                    ("area", "scaled/sheet.jpg.scale.json", "sheet.jpg.json")):
        for k in counted:
            counted[k] = 0
        out = tmp_path / f"out-{stage}"
        code = main(stage, {**common, "TMP_OUTPUT_DIR": str(out), "INPUT_FILE_PATH": str(upstream),
                            "STORAGE_OBJECT_KEY": in_key})
        assert code == 0 and (out / out_name).is_file()
        seen[stage] = dict(counted)
        upstream = out / out_name
    # segment decodes the uploaded file it was handed; scale and area fetch the original once each
    assert seen["segment"] == {"get": 0, "hash": 1, "decode": 1}, seen
    assert seen["scale"] == {"get": 1, "hash": 1, "decode": 1}, seen
    assert seen["area"] == {"get": 1, "hash": 1, "decode": 1}, seen
