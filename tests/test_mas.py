"""`herbmorph mas` against a real RabbitMQ (Debian's rabbitmq-server on loopback) and a real HTTP
server on loopback serving real sheets, as DiSSCo would drive it.

One broker for the module and one consumer process at a time (the models load once per
consumer): the SIGKILL test kills it and starts its successor, which the later tests use. The consumer runs with
HERBMORPH_URL_ALLOW_LOOPBACK=1, the test-only setting that lets the URL guard fetch from
127.0.0.1 (a name such as ``localhost`` stays refused even then).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from badinputs import build_bad_inputs
from conftest import REAL_SHEETS, SAMPLES, SHARED
from herbmorph.area.opends import hash_inputs
from herbmorph.area.opends_schema import validate_event
from herbmorph.mas.localbroker import LocalRabbit, find_rabbitmq_server
from mas_helpers import MAS_ID, ImageServer, MasProcess, Outcomes, declare_queue, job, media, publish

OPENDS = SHARED / "reference" / "opends-0.4"
QUEUE = "mas-herbmorph-queue"
CREATOR = f"https://hdl.handle.net/{MAS_ID}"


def doi(n: str) -> str:
    return f"https://doi.org/10.3535/HRB-{n}"


def sheets() -> list[Path]:
    """20 sheets: the real ones beside the checkout first, then the synthetic samples, cycled."""
    found = sorted(REAL_SHEETS.glob("*.jpg")) + SAMPLES
    assert found, "no sheets: samples/*.jpg is part of the repository"
    return [found[i % len(found)] for i in range(20)]


@pytest.fixture(scope="module")
def broker():
    if find_rabbitmq_server() is None:
        pytest.fail("no rabbitmq-server: scripts/setup.sh installs it (Debian package rabbitmq-server)")
    if not OPENDS.is_dir():
        pytest.fail(f"{OPENDS} is missing: every annotation is validated against it")
    with LocalRabbit() as rabbit:
        declare_queue(rabbit, QUEUE)
        yield rabbit


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    files = {p.name: p.read_bytes() for p in set(sheets())}
    bad = build_bad_inputs(tmp_path_factory.mktemp("bad"), include_too_large=False)
    for case in ("text_as_jpg", "truncated_jpeg", "bomb_png"):
        files[case] = bad[case][0].read_bytes()
    srv = ImageServer(files)
    yield srv
    srv.close()


class Consumers:
    """The module's consumer process; :meth:`replace` starts its successor."""

    def __init__(self, broker, server, logs: Path):
        self.broker, self.server, self.logs, self.started = broker, server, logs, 0
        self.current = self._start()

    def _start(self) -> MasProcess:
        self.started += 1
        mas = MasProcess(self.broker, QUEUE, f"{self.server.base}/running", self.logs / f"mas-{self.started}.log")
        mas.wait_connected()
        return mas

    def replace(self) -> MasProcess:
        self.current = self._start()
        return self.current


@pytest.fixture(scope="module")
def consumers(broker, server, tmp_path_factory):
    c = Consumers(broker, server, tmp_path_factory.mktemp("mas"))
    yield c
    assert c.current.stop() == 0, c.current.log()[-3000:]  # SIGTERM: a clean stop


@pytest.fixture()
def consumer(consumers):
    return consumers.current


@pytest.fixture(scope="module")
def sheet_run(broker, server, consumers):
    """20 jobs with real sheets, plus two of them again as new jobs (DiSSCo's rerun)."""
    jobs = {f"job-sheet-{i:02d}": (doi(f"S{i:02d}"), f"{server.base}/sheets/{p.name}") for i, p in enumerate(sheets())}
    reruns = {f"job-rerun-{i:02d}": jobs[f"job-sheet-{i:02d}"] for i in (0, 7)}
    publish(broker, QUEUE, [(j, job(j, media(*args))) for j, args in {**jobs, **reruns}.items()])
    return jobs, reruns, Outcomes(broker, QUEUE).wait(list(jobs) + list(reruns))


def test_twenty_sheets_each_give_one_valid_annotation_event(sheet_run, server):
    jobs, _, out = sheet_run
    for job_id, (media_doi, url) in jobs.items():
        assert not out.failures.get(job_id), out.failures.get(job_id)
        (event,) = out.events[job_id]  # exactly one
        validate_event(event, OPENDS)  # also: a selector and a creator @id on each, no hash twins
        assert event["jobId"] == job_id and event["annotations"]
        for a in event["annotations"]:
            assert a["oa:hasTarget"]["@id"] == a["oa:hasTarget"]["dcterms:identifier"] == media_doi
            assert a["dcterms:creator"]["@id"] == CREATOR
        assert server.running_calls(job_id) == 1  # DiSSCo was told the job runs, once
        assert url.replace(server.base, "") in server.requests
    bodies = [json.loads(a["oa:hasBody"]["oa:value"][0]) for j in jobs for a in out.events[j][0]["annotations"]
              if a["oa:motivation"] == "ods:adding"]
    organs = [b for b in bodies if b["class"] != "scale"]
    assert len(organs) >= 20, "real sheets carry organs"
    for b in organs:  # cm² or null, and then the scale's reason says why
        assert ("areaInCm2" in b and "one_cm_in_pixel" in b and b["scaleStatus"] in ("ok", "null"))
        assert (b["areaInCm2"] is None) == (b["scaleStatus"] == "null")
        assert b["scaleStatus"] == "ok" or b["scaleReason"]


def test_a_rerun_gives_the_same_hash_inputs(sheet_run):
    """DiSSCo hashes target + selector + creator + motivation: a rerun updates, not duplicates."""
    jobs, reruns, out = sheet_run
    for rerun, first in zip(reruns, ("job-sheet-00", "job-sheet-07")):
        (again,), (before,) = out.events[rerun], out.events[first]
        assert [hash_inputs(a) for a in again["annotations"]] == [hash_inputs(a) for a in before["annotations"]]
        assert again["annotations"] != before["annotations"] or again["jobId"] != before["jobId"]


def _bad_jobs(server) -> tuple[dict, dict]:
    """(job id -> (object, what the failure must say)), (message id -> body that must be rejected)."""
    s = server.base
    failing = {
        "bad-no-access-uri": ({k: v for k, v in media(doi("B1"), "x").items() if k != "ac:accessURI"}, "ac:accessURI"),
        "bad-404": (media(doi("B2"), f"{s}/sheets/gone.jpg"), "HTTP 404"),
        "bad-private": (media(doi("B3"), "http://10.20.30.40/sheet.jpg"), "(forbidden-url)"),
        "bad-localhost": (media(doi("B4"), s.replace("127.0.0.1", "localhost") + "/sheets/missed.jpg"),
                          "(forbidden-url)"),
        "bad-file-scheme": (media(doi("B5"), "file:///etc/passwd"), "(forbidden-url)"),
        "bad-text-file": (media(doi("B6"), f"{s}/sheets/text_as_jpg"), "(not-an-image)"),
        "bad-truncated": (media(doi("B7"), f"{s}/sheets/truncated_jpeg"), "(truncated)"),
        "bad-too-many-pixels": (media(doi("B8"), f"{s}/sheets/bomb_png"), "(decompression-bomb)"),
        "bad-specimen": ({**media(doi("B9"), f"{s}/sheets/x.jpg"), "@type": "ods:DigitalSpecimen"}, "digital media"),
    }
    rejected = {
        "msg-not-json": b"{this is not json",
        "msg-not-utf8": b"\xff\xfe\x00garbage",
        "msg-no-job-id": json.dumps({"object": media(doi("R1"), f"{s}/sheets/x.jpg")}).encode(),
        "msg-no-object": json.dumps({"jobId": "job-without-object"}).encode(),
        "msg-a-list": b"[1, 2, 3]",
    }
    return failing, rejected


def test_bad_jobs_end_as_one_failure_or_one_rejection_and_the_consumer_goes_on(broker, server, consumer, sheet_run):
    failing, rejected = _bad_jobs(server)
    good = "job-after-the-bad-ones"
    messages = [(j, job(j, obj)) for j, (obj, _) in failing.items()] + list(rejected.items())
    # a job that consumers took 5 times and died on (the count the quorum queue keeps): no sixth try
    poison = media(doi("P1"), f"{server.base}/sheets/{SAMPLES[1].name}?poison")
    messages.append(("bad-poison", job("bad-poison", poison), {"x-delivery-count": 5}))
    failing["bad-poison"] = (poison, "after 5 deliveries")
    publish(broker, QUEUE, messages + [(good, job(good, media(doi("G1"), f"{server.base}/sheets/{SAMPLES[0].name}")))])
    out = Outcomes(broker, QUEUE).wait(list(failing) + [good], rejected=list(rejected))
    for job_id, (_, says) in failing.items():
        assert not out.events.get(job_id)
        (failure,) = out.failures[job_id]
        assert set(failure) == {"jobId", "errorMessage"} and failure["jobId"] == job_id
        msg = failure["errorMessage"]
        assert says in msg and "Traceback" not in msg and len(msg) <= 500, (job_id, msg)
    assert out.rejected == {m: 1 for m in rejected}  # each dead-lettered once, never requeued
    log = consumer.log()
    for message_id in rejected:
        assert f"rejected message {message_id}" in log, message_id
    assert "/sheets/missed.jpg" not in server.requests, "localhost was fetched"
    assert not [p for p in server.requests if "poison" in p] and server.running_calls("bad-poison") == 0
    assert len(out.events[good]) == 1 and consumer.proc.poll() is None  # still consuming


def test_no_job_is_taken_while_an_answer_exchange_is_missing(broker, server, sheet_run, caplog):
    """A consumer whose failure exchange does not exist leaves the jobs on the queue (it checks its
    exchanges before consuming), says why, and retries."""
    import dataclasses
    import threading

    from herbmorph.mas.consumer import Consumer
    from mas_helpers import mas_config

    queue = "mas-herbmorph-misconfigured-queue"
    declare_queue(broker, queue)
    publish(broker, queue, [("j-wait", job("j-wait", media(doi("W1"), f"{server.base}/sheets/x.jpg")))])
    config = dataclasses.replace(mas_config(broker, queue), failed_exchange="no-such-exchange", reconnect_max_s=1)
    consumer = Consumer(config, None)  # no job may reach a runner
    thread = threading.Thread(target=consumer.run, daemon=True)
    with caplog.at_level("ERROR", logger="herbmorph.mas.consumer"):
        thread.start()
        deadline = time.monotonic() + 30
        while "no-such-exchange" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.1)
        consumer.stopping = True
        thread.join(30)
    assert "the broker refused: 404" in caplog.text and "no-such-exchange" in caplog.text
    assert not thread.is_alive()
    assert Outcomes(broker, queue).ready_jobs() == 1  # still there for a consumer that can answer


def test_sigkill_mid_batch_loses_no_job_and_answers_each_once(broker, server, consumers, sheet_run):
    """Killed while fetching the third sheet (held by the server), restarted: every job ends with
    exactly one outcome; the held job is answered by the successor."""
    names = [p.name for p in sheets()[:5]]
    ids = [f"kill-{i}" for i in range(len(names))]
    server.release.clear()
    server.slow_started.clear()
    urls = [f"{server.base}/{'slow' if i == 2 else 'sheets'}/{n}" for i, n in enumerate(names)]
    publish(broker, QUEUE, [(j, job(j, media(doi(j), u))) for j, u in zip(ids, urls)])
    first = consumers.current
    try:
        assert server.slow_started.wait(180), first.log()[-3000:]
        early = Outcomes(broker, QUEUE)
        early.poll()
        assert not early.of(ids[2]) and all(early.of(j) for j in ids[:2])  # mid-job, mid-batch
    finally:
        first.kill()
    server.release.set()
    consumers.replace()
    rest = Outcomes(broker, QUEUE).wait(ids[2:])
    for j in ids:
        outcomes = early.of(j) + rest.of(j)
        assert len(outcomes) == 1 and "annotations" in outcomes[0], (j, outcomes)
    assert server.running_calls(ids[2]) == 2  # started by the killed consumer, then by the new one


def test_a_broker_restart_is_survived(broker, server, consumer, sheet_run):
    """The broker restarts while a job is in hand: the consumer reconnects, publishes that job's
    outcome once (without measuring it again) and completes the rest."""
    names = [p.name for p in sheets()[10:14]]
    ids = [f"restart-{i}" for i in range(len(names))]
    server.release.clear()
    server.slow_started.clear()
    server._slowed.discard(names[1])
    urls = [f"{server.base}/{'slow' if i == 1 else 'sheets'}/{n}" for i, n in enumerate(names)]
    publish(broker, QUEUE, [(j, job(j, media(doi(j), u))) for j, u in zip(ids, urls)])
    assert server.slow_started.wait(120), consumer.log()[-3000:]
    connected = consumer.log().count("connected to ")
    broker.restart()
    server.release.set()
    out = Outcomes(broker, QUEUE).wait(ids)
    assert consumer.log().count("connected to ") > connected  # it did reconnect
    assert "broker connection lost" in consumer.log()
    for j in ids:
        assert len(out.of(j)) == 1 and "annotations" in out.of(j)[0], (j, out.of(j))
    assert server.running_calls(ids[1]) == 1  # the held job was published after the restart, not remeasured
    assert consumer.proc.poll() is None
