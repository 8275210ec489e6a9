"""The MAS's pieces that need no broker: configuration from DiSSCo's environment, what counts as
a malformed message, the failure messages a curator reads (jobs run against a real HTTP server on
loopback and the real cores)."""
from __future__ import annotations

import gzip
import json

import pytest

from conftest import SAMPLES
from herbmorph.mas.config import REQUIRED, ConfigError, MasConfig
from herbmorph.mas.jobs import MAX_MESSAGE_BYTES, Job, JobRunner, MalformedJob, parse_job
from herbmorph.mas.topology import routing_key_of
from herbmorph.urlguard import ALLOW_LOOPBACK_ENV
from mas_helpers import MAS_ID, ImageServer, media

ENV = {"MAS_ID": MAS_ID, "MAS_NAME": "herbmorph", "RABBITMQ_HOST": "rabbitmq.rabbitmq", "RABBITMQ_QUEUE": "mas-herbmorph-queue",
       "RABBITMQ_USER": "mas", "RABBITMQ_PASSWORD": "s3cr3t-pw", "RUNNING_ENDPOINT": "http://scheduler/mas/job/"}


def test_config_reads_dissco_environment_with_dissco_defaults():
    c = MasConfig.from_env(ENV)
    assert (c.exchange, c.routing_key) == ("mas-annotation-exchange", "mas-annotation")
    assert (c.failed_exchange, c.failed_routing_key) == ("mas-annotation-failed-exchange", "mas-annotation-failed")
    assert c.port == 5672 and c.prefetch == 1 and c.max_deliveries == 5 and c.running_endpoint == "http://scheduler/mas/job"
    assert "s3cr3t-pw" not in repr(c) and "s3cr3t-pw" not in c.describe()
    other = MasConfig.from_env({**ENV, "RABBITMQ_EXCHANGE": "x", "RABBITMQ_FAILED_ROUTING_KEY": "y",
                                "HERBMORPH_MAS_PREFETCH": "4", "RABBITMQ_PORT": "5673"})
    assert (other.exchange, other.failed_routing_key, other.prefetch, other.port) == ("x", "y", 4, 5673)


def test_config_names_every_problem_at_once():
    with pytest.raises(ConfigError) as err:
        MasConfig.from_env({"HERBMORPH_MAS_PREFETCH": "0", "RABBITMQ_PORT": "http", "HERBMORPH_MAS_MAX_DELIVERIES": "1"})
    text = str(err.value)
    assert all(f"{name} is not set" in text for name in REQUIRED)
    assert all(name in text for name in ("HERBMORPH_MAS_PREFETCH", "RABBITMQ_PORT", "HERBMORPH_MAS_MAX_DELIVERIES"))


@pytest.mark.parametrize("body, says", [
    (b"", "not JSON"), (b"\x00\x01", "not JSON"), (b'"a string"', "not an object"),
    (b'{"jobId": "", "object": {}}', "no jobId"), (b'{"jobId": 5, "object": {}}', "no jobId"),
    (b'{"jobId": "j", "object": "x"}', "no object"), (json.dumps({"jobId": "j" * 1001, "object": {}}).encode(), "longer"),
    (b" " * (MAX_MESSAGE_BYTES + 1), "over"),
])
def test_malformed_messages(body, says):
    with pytest.raises(MalformedJob, match=says):
        parse_job(body)


def test_gzip_jobs_as_dissco_compresses_them_and_no_bombs():
    payload = {"jobId": "j-1", "object": media("https://doi.org/10.3535/X", "https://e.org/x.jpg"), "batchingRequested": True}
    job = parse_job(gzip.compress(json.dumps(payload).encode()), "gzip")
    assert job == Job("j-1", payload["object"], True)
    with pytest.raises(MalformedJob, match="inflates"):
        parse_job(gzip.compress(b" " * (MAX_MESSAGE_BYTES + 10)), "gzip")
    with pytest.raises(MalformedJob, match="not gzip"):
        parse_job(b"plain", "gzip")


def test_routing_key_is_the_topic_name():
    assert routing_key_of("mas-herbmorph-queue") == "herbmorph" and routing_key_of("jobs") == "jobs"


@pytest.fixture(scope="module")
def runner(pipeline):
    server = ImageServer({"sheet.jpg": SAMPLES[0].read_bytes()})
    config = MasConfig.from_env({**ENV, "RUNNING_ENDPOINT": f"{server.base}/running"})
    yield JobRunner(pipeline, config), server
    server.close()


def test_runner_answers_with_the_doi_and_tells_dissco_it_runs(runner, monkeypatch):
    monkeypatch.setenv(ALLOW_LOOPBACK_ENV, "1")
    r, server = runner
    out = r.run(Job("job/with slash", media("https://doi.org/10.3535/AAA-BBB-CCC", f"{server.base}/sheets/sheet.jpg")))
    assert out.ok and out.message["jobId"] == "job/with slash"
    assert {a["oa:hasTarget"]["@id"] for a in out.message["annotations"]} == {"https://doi.org/10.3535/AAA-BBB-CCC"}
    assert server.running_calls("job/with slash") == 1


def test_runner_refuses_loopback_without_the_test_setting(runner, monkeypatch):
    monkeypatch.delenv(ALLOW_LOOPBACK_ENV, raising=False)
    r, server = runner
    before = len(server.requests)
    url = f"{server.base}/sheets/sheet.jpg?X-Amz-Signature=abcdef0123456789"
    out = r.run(Job("j-loop", media("https://doi.org/10.3535/L", url)))
    assert not out.ok and "(forbidden-url)" in out.message["errorMessage"]
    assert "abcdef0123456789" not in out.message["errorMessage"]  # signed-URL secrets never reach DiSSCo
    assert [p for p in server.requests[before:] if p.startswith("/sheets")] == []


def test_a_running_endpoint_that_fails_does_not_fail_the_job(runner, monkeypatch):
    monkeypatch.setenv(ALLOW_LOOPBACK_ENV, "1")
    r, server = runner
    dead = JobRunner(r.pipeline, MasConfig.from_env({**ENV, "RUNNING_ENDPOINT": "http://127.0.0.1:9/nothing"}))
    out = dead.run(Job("j-dead", media("https://doi.org/10.3535/D", f"{server.base}/sheets/sheet.jpg")))
    assert out.ok
