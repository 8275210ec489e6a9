"""`herbmorph batch` end to end, as the README shows it: local folders and a real MinIO on
127.0.0.1, mixed with results the OSCAR event chain (the real handler, stage by stage) wrote."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote_plus

from test_batch_support import REPO, RESULT_SET, SAMPLES, cli, journal_rows, objects, outcome_sets, sha256

from herbmorph.models import model_info
from herbmorph.outputs import output_relpath
from herbmorph.results import ResultDocument


def _models() -> dict[str, str]:
    from herbmorph.config import Settings

    s = Settings()
    return {"segment": model_info(s.segment_weights).sha256, "scale": model_info(s.scale_weights).sha256}


def _tree(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_readme_example_on_local_folders(tmp_path):
    """`herbmorph batch samples --out results --report report.html`, then the same again."""
    before = {p.name: sha256(p.read_bytes()) for p in SAMPLES}
    out, env = tmp_path / "results", {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    first = cli(["batch", "samples", "--out", str(out), "--report", str(tmp_path / "report.html")], env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "images in the source" in first.stdout and "measured now" in first.stdout

    stems = sorted(p.name for p in SAMPLES)
    assert outcome_sets(_tree(out)) == {s: RESULT_SET for s in stems}
    for p in SAMPLES:
        doc = ResultDocument.model_validate_json((out / f"{p.name}.json").read_text("utf-8"))
        assert doc.image.sha256 == before[p.name] and doc.image.uri == str(p)
        assert {k: m.sha256 for k, m in doc.models.items()} == _models()
    assert (tmp_path / "report.html").read_text("utf-8").startswith("<!doctype html>")

    # the same command again: everything is current, nothing is rewritten or measured
    written = _tree(out)
    second = cli(["batch", "samples", "--out", str(out), "--no-progress"], env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert _tree(out) == written
    journal = next((tmp_path / "cache" / "herbmorph" / "batch").glob("*.sqlite"))
    runs = journal_rows(journal, "SELECT id FROM runs ORDER BY id")
    assert len(runs) == 2
    assert journal_rows(journal, "SELECT count(*) FROM events WHERE run=? AND action='measured'", runs[1]) == [(0,)]
    assert journal_rows(journal, "SELECT count(*) FROM events WHERE run=? AND action='measured'", runs[0]) == [(3,)]
    assert {p.name: sha256(p.read_bytes()) for p in SAMPLES} == before  # inputs untouched


def _chain_env(out_dir: Path, input_path: Path, key: str, minio) -> dict:
    """What OSCAR's supervisor gives a function (see tests/test_deploy.py), against real MinIO."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HERBMORPH_", "MINIO_", "FUNCTION_CONFIG", "EVENT", "STORAGE_", "INPUT_FILE"))}
    enc = quote_plus(key, safe="/")
    env.update(minio.env(), INPUT_FILE_PATH=str(input_path), STORAGE_OBJECT_KEY=key, TMP_OUTPUT_DIR=str(out_dir),
               OMP_NUM_THREADS="1", EVENT=json.dumps({"Key": f"herbarium/{enc}", "Records": [
                   {"s3": {"bucket": {"name": "herbarium"}, "object": {"key": enc}}}]}))
    out_dir.mkdir(parents=True, exist_ok=True)
    return env


def _event_chain(minio, key: str, tmp_path: Path) -> dict[str, bytes]:
    """Run segment -> scale -> area on one upload and upload each stage's files as the supervisor
    does (``bucket/<output folder>/<relative path>``). Returns the result files."""
    client = minio.client()
    downloaded = tmp_path / "dl" / Path(key).name
    downloaded.parent.mkdir(parents=True)
    client.fget_object("herbarium", key, str(downloaded))
    trigger, folder_in = downloaded, key
    for stage, folder_out in (("segment", "segmented"), ("scale", "scaled"), ("area", "results")):
        out = tmp_path / stage
        proc = subprocess.run([sys.executable, "-m", "herbmorph.oscar.handler", stage],
                              env=_chain_env(out, trigger, folder_in, minio), cwd=REPO,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        files = sorted(p for p in out.rglob("*") if p.is_file())
        for p in files:
            client.fput_object("herbarium", f"{folder_out}/{p.relative_to(out).as_posix()}", str(p))
        trigger, folder_in = files[0], f"{folder_out}/{files[0].relative_to(out).as_posix()}"
    return {p.relative_to(tmp_path / "area").as_posix(): p.read_bytes() for p in (tmp_path / "area").rglob("*")
            if p.is_file()}


def _stable(opends: dict) -> dict:
    """An openDS event without the fields that name the moment it was made."""
    text = json.dumps(opends, sort_keys=True)
    for key in ("dcterms:created", "dcterms:modified", "dcterms:issued", "ods:generatedAtTime"):
        text = __import__("re").sub(rf'"{key}": "[^"]*"', f'"{key}": "-"', text)
    return json.loads(text)


def test_batch_and_event_chain_mix_on_minio(minio_server, tmp_path):
    client = minio_server.client()
    client.make_bucket("herbarium")
    chain_key = "in/Flora Ibérica/Quercus robur – ½.JPG"
    keys = [chain_key, f"in/{SAMPLES[1].name}", f"in/{SAMPLES[2].name}"]
    for key, sample in zip(keys, SAMPLES):
        client.fput_object("herbarium", key, str(sample))
    inputs = objects(client, "herbarium", "in/")

    chain_files = _event_chain(minio_server, chain_key, tmp_path / "chain")
    rel = output_relpath(chain_key, "in")
    assert sorted(chain_files) == sorted(rel + s for s in RESULT_SET)
    chain_objects = objects(client, "herbarium", "results/")

    # the README's MinIO example
    env = {**minio_server.env(), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    run = cli(["batch", "s3://herbarium/in", "--out", "s3://herbarium/results", "--report",
               str(tmp_path / "report.html")], env)
    assert run.returncode == 0, run.stdout + run.stderr
    results = objects(client, "herbarium", "results/")
    assert outcome_sets(results) == {output_relpath(k, "in"): RESULT_SET for k in keys}
    for name, meta in chain_objects.items():  # the event chain's result was current: untouched
        assert results[name] == meta
    journal = next((tmp_path / "cache" / "herbmorph" / "batch").glob("*.sqlite"))
    actions = dict(journal_rows(journal, "SELECT key, action FROM events"))
    assert actions == {chain_key: "current", keys[1]: "measured", keys[2]: "measured"}

    # --force re-measures it in batch mode: the same document, timings aside, at the same key
    forced = cli(["batch", "s3://herbarium/in", "--out", "s3://herbarium/results", "--force", "--workers", "1",
                  "--journal", str(tmp_path / "forced.sqlite"), "--no-progress"], env)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    batch_doc = json.loads(client.get_object("herbarium", f"results/{rel}.json").read())
    chain_doc = json.loads(chain_files[rel + ".json"])
    assert batch_doc.pop("timings_ms").keys() == chain_doc.pop("timings_ms").keys()
    assert batch_doc == chain_doc
    batch_opends = json.loads(client.get_object("herbarium", f"results/{rel}.opends.json").read())
    assert _stable(batch_opends) == _stable(json.loads(chain_files[rel + ".opends.json"]))
    assert objects(client, "herbarium", "in/") == inputs  # inputs untouched
