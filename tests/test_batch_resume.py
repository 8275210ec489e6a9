"""A batch of 52 sheets on a real MinIO, SIGKILLed halfway and started again: every image ends
with exactly one outcome, none finished before the kill is measured again, none is lost."""
from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from test_batch_support import REPO, RESULT_SET, journal_rows, objects, outcome_sets, sheet_bytes

from herbmorph.outputs import output_relpath

GOOD, HALF = 50, 25
BAD = {"in/broken/empty.jpg": b"", "in/broken/not-a-sheet.png": b"%PDF-1.4 definitely not a PNG\n" * 40}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _batch_cmd(journal: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "herbmorph.cli", "batch", "s3://herbarium/in", "--out", "s3://herbarium/results",
            "--journal", str(journal), "--no-progress", *extra]


def test_sigkill_halfway_then_rerun(minio_server, tmp_path):
    client = minio_server.client()
    client.make_bucket("herbarium")
    good = [f"in/{'vol 2/' if i % 5 == 0 else ''}sheet {i:03d}.jpg" for i in range(GOOD)]
    for i, key in enumerate(good):
        # mostly the sheet without a readable ruler (OCR-light), so 50 sheets stay quick on a CPU
        data = sheet_bytes(i, sample={0: 0, 5: 2}.get(i % 10, 1))
        client.put_object("herbarium", key, io.BytesIO(data), len(data), content_type="image/jpeg")
    for key, data in BAD.items():
        client.put_object("herbarium", key, io.BytesIO(data), len(data))
    inputs = objects(client, "herbarium", "in/")
    assert len(inputs) == GOOD + len(BAD)
    env = {**os.environ, **minio_server.env()}
    journal = tmp_path / "journal.sqlite"

    # 1. start, and SIGKILL the coordinator once half the images are journaled
    proc = subprocess.Popen(_batch_cmd(journal, "--workers", "2"), env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 400
    done = 0
    while done < HALF:
        assert proc.poll() is None, "the batch ended before it could be interrupted"
        assert time.monotonic() < deadline, f"only {done} images done"
        time.sleep(0.3)
        if journal.exists():
            try:
                done = journal_rows(journal, "SELECT count(*) FROM items")[0][0]
            except sqlite3.OperationalError:  # the file exists a moment before its tables do
                continue
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    workers = [int(p) for p in journal_rows(journal, "SELECT v FROM meta WHERE k='worker_pids'")[0][0].split(",")]
    assert len(workers) == 2
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in workers):  # they die with their coordinator (PR_SET_PDEATHSIG)
        assert time.monotonic() < deadline, "orphaned workers outlived the killed coordinator"
        time.sleep(0.2)

    at_kill = objects(client, "herbarium", "results/")
    finished = {rel for rel, sfx in outcome_sets(at_kill).items() if ".json" in sfx or sfx == {".error.json"}}
    assert HALF <= len(finished) < GOOD + len(BAD), "the kill did not land halfway"

    # 2. the same command again finishes the job
    rerun = subprocess.run(_batch_cmd(journal), env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 1, rerun.stdout + rerun.stderr  # 1: the two broken inputs failed
    results = objects(client, "herbarium", "results/")
    expected = {output_relpath(k, "in"): RESULT_SET for k in good}
    expected.update({output_relpath(k, "in"): {".error.json"} for k in BAD})
    assert outcome_sets(results) == expected  # exactly one outcome per image, nothing lost, nothing else

    complete = {rel for rel in finished if ".json" in outcome_sets(at_kill)[rel] or rel.startswith("broken/")}
    for name, meta in at_kill.items():  # finished before the kill: never written again
        rel = name.rsplit(".", 2)[0] if name.endswith((".opends.json", ".overlay.png", ".error.json")) else name[:-5]
        if rel in complete:
            assert results[name] == meta, f"{name} was rewritten after it was complete"

    runs = [r[0] for r in journal_rows(journal, "SELECT id FROM runs ORDER BY id")]
    measured = journal_rows(journal, "SELECT key, run FROM events WHERE action='measured'")
    keys = [k for k, _ in measured]
    assert len(keys) == len(set(keys)), "an image was measured twice"
    rel_of = {k: output_relpath(k, "in") for k in good}
    assert not [k for k, run in measured if run == runs[1] and rel_of[k] in complete]
    second = dict(journal_rows(journal, "SELECT key, action FROM events WHERE run=?", (runs[1],)))
    for key in good:  # measured once, or found current after being written but not journaled
        assert key in keys or (second.get(key) == "current" and rel_of[key] in complete), key
    assert "empty" in rerun.stdout and "broken/empty.jpg" in rerun.stdout  # failures are listed

    # 3. --retry-failed measures only the failed ones again
    retry = subprocess.run(_batch_cmd(journal, "--retry-failed", "--workers", "1"), env=env, cwd=REPO,
                           capture_output=True, text=True, timeout=600)
    assert retry.returncode == 1, retry.stdout + retry.stderr
    third = journal_rows(journal, "SELECT key, action FROM events WHERE run=(SELECT max(id) FROM runs)")
    assert sorted(third) == sorted((k, "failed") for k in BAD)
    assert objects(client, "herbarium", "results/").keys() == results.keys()
    assert {k: v for k, v in objects(client, "herbarium", "results/").items() if not k.startswith("broken/")} == \
        {k: v for k, v in results.items() if not k.startswith("broken/")}
    assert objects(client, "herbarium", "in/") == inputs  # inputs never modified


def _wait_for(journal: Path, sql: str, at_least: int, proc, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while True:
        assert proc.poll() is None, "the batch ended too early"
        assert time.monotonic() < deadline, f"timed out waiting for {sql}"
        if journal.exists() and journal_rows(journal, sql)[0][0] >= at_least:
            return
        time.sleep(0.1)


def _foreground_sigint() -> None:
    """The batch runs as a terminal's foreground job would, where Ctrl-C interrupts it. A test
    run started in the background by a non-interactive shell ignores SIGINT, and the child would
    inherit that (Python then installs no KeyboardInterrupt handler), running to the end."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_worker_crash_and_ctrl_c_on_local_folders(tmp_path):
    """A worker SIGKILLed mid-image (as the OOM killer would) turns that image into a
    `worker-crashed` error document and is replaced; Ctrl-C (SIGINT to the whole foreground
    group, as a terminal sends it) stops cleanly with 130; the next run finishes the rest."""
    src, out, journal = tmp_path / "scans", tmp_path / "results", tmp_path / "journal.sqlite"
    src.mkdir()
    names = [f"sheet {i}.jpg" for i in range(12)]
    for i, name in enumerate(names):  # the sheets with rulers: seconds each, so a kill lands mid-image
        (src / name).write_bytes(sheet_bytes(i, sample=(0, 2)[i % 2]))
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    cmd = [sys.executable, "-m", "herbmorph.cli", "batch", str(src), "--out", str(out), "--journal", str(journal),
           "--workers", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, preexec_fn=_foreground_sigint)
    _wait_for(journal, "SELECT count(*) FROM events WHERE action='measured'", 1, proc)
    time.sleep(0.5)  # the worker has taken the next sheet and is measuring it
    (pid,) = [int(p) for p in journal_rows(journal, "SELECT v FROM meta WHERE k='worker_pids'")[0][0].split(",")]
    os.kill(pid, signal.SIGKILL)
    _wait_for(journal, "SELECT count(*) FROM events WHERE action='measured' AND worker > 0", 1, proc)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    assert "interrupted" in output and "worker-crashed" in output

    crashed = journal_rows(journal, "SELECT key FROM events WHERE action='crashed'")
    assert len(crashed) == 1
    crashed_stem = Path(crashed[0][0]).name
    files = {p.name for p in out.iterdir()}
    assert f"{crashed_stem}.error.json" in files and not any(n.startswith(".") for n in files)  # no temp files
    done = {Path(k).name for (k,) in journal_rows(journal, "SELECT key FROM items WHERE status='done'")}
    assert outcome_sets(files) == {**{s: RESULT_SET for s in done}, crashed_stem: {".error.json"}}
    assert journal_rows(journal, "SELECT state FROM runs") == [("interrupted",)]

    rerun = subprocess.run(cmd + ["--retry-failed"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert outcome_sets(p.name for p in out.iterdir()) == {Path(n).name: RESULT_SET for n in names}
    measured = [k for (k,) in journal_rows(journal, "SELECT key FROM events WHERE action='measured'")]
    assert sorted(measured) == sorted(names)  # each sheet measured exactly once, the crashed one included
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before
