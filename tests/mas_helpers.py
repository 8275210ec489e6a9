"""What the MAS tests and scripts/bench_mas share: a loopback HTTP server playing both the image
host and DiSSCo's running endpoint, the `herbmorph mas` process, a job publisher and an outcome
collector that speak to a real RabbitMQ (:class:`herbmorph.mas.localbroker.LocalRabbit`)."""
from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pika
from pika.exceptions import AMQPError

from herbmorph.mas.config import MasConfig
from herbmorph.mas.topology import FAILED_QUEUE, JOB_EXCHANGE, RESULT_QUEUE, dead_letter_names, declare, routing_key_of

REPO = Path(__file__).resolve().parents[1]
MAS_ID = "20.5000.1025/HRB-MAS-001"
MAS_NAME = "herbmorph plant organ areas (test)"
MEDIA_FDO_TYPE = "https://doi.org/21.T11148/bbad8c4e101e8af01115"


class ImageServer(http.server.ThreadingHTTPServer):
    """``/sheets/<name>`` serves ``files[name]``; ``/slow/<name>`` the same once ``release`` is set
    (each name is slow on its first request only, so a redelivered job is not held again);
    ``/running/<mas id>/<job id>/running`` records the call; anything else is a 404. Every request
    path is kept in ``requests`` and every running call in ``running`` (job id, time)."""

    daemon_threads = True

    def __init__(self, files: dict[str, bytes]):
        self.files = dict(files)
        self.requests: list[str] = []
        self.running: list[tuple[str, float]] = []
        self.release = threading.Event()
        self.slow_started = threading.Event()
        self._slowed: set[str] = set()
        self._lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path = urllib.parse.unquote(self.path)
                with outer._lock:
                    outer.requests.append(path)
                parts = path.strip("/").split("/")
                if parts[0] == "running" and parts[-1] == "running":
                    middle = "/".join(parts[1:-1])  # <MAS_ID>/<jobId>, both may hold slashes
                    job = middle[len(MAS_ID) + 1:] if middle.startswith(MAS_ID + "/") else None
                    with outer._lock:
                        outer.running.append((job, time.monotonic()))
                    return self._send(200 if job else 404, b"{}", "application/json")
                name = "/".join(parts[1:])
                if parts[0] in ("sheets", "slow") and name in outer.files:
                    if parts[0] == "slow" and name not in outer._slowed:
                        outer._slowed.add(name)
                        outer.slow_started.set()
                        outer.release.wait(120)
                    return self._send(200, outer.files[name], "image/jpeg")
                self._send(404, b"not found", "text/plain")

            def _send(self, code: int, body: bytes, ctype: str):
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client went away (a killed consumer)

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def running_calls(self, job_id: str) -> int:
        with self._lock:
            return sum(1 for j, _ in self.running if j == job_id)

    def close(self) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()


def media(doi: str, url: str) -> dict:
    """A DiSSCo digital media object (openDS 0.5) as a MAS job carries it."""
    return {"@id": doi, "@type": "ods:DigitalMedia", "dcterms:identifier": doi, "ods:fdoType": MEDIA_FDO_TYPE,
            "ods:version": 1, "dcterms:type": "StillImage", "dcterms:format": "image/jpeg", "ac:accessURI": url}


def job(job_id: str, obj: dict) -> bytes:
    return json.dumps({"object": obj, "jobId": job_id, "batchingRequested": False}).encode("utf-8")


def mas_config(broker, queue: str) -> MasConfig:
    return MasConfig(MAS_ID, MAS_NAME, broker.host, queue, broker.user, broker.password, port=broker.port)


def declare_queue(broker, queue: str) -> None:
    with pika.BlockingConnection(broker.connection_parameters()) as conn:
        declare(conn.channel(), mas_config(broker, queue))


def publish(broker, queue: str, bodies: list[tuple]) -> None:
    """Publish ``(message id, body[, headers])`` as DiSSCo does: to ``mas-exchange``, routed by topic name."""
    with pika.BlockingConnection(broker.connection_parameters()) as conn:
        ch = conn.channel()
        ch.confirm_delivery()
        for message_id, body, *headers in bodies:
            ch.basic_publish(JOB_EXCHANGE, routing_key_of(queue), body, mandatory=True,
                             properties=pika.BasicProperties(delivery_mode=2, message_id=message_id,
                                                             headers=headers[0] if headers else None))


class Outcomes:
    """Everything that came out of one job queue: annotation events and failures (keyed by jobId,
    a list each, so a duplicate shows) and rejected messages (by message id). Reads the answer
    queues destructively, so a collector sees each message once; survives broker restarts."""

    def __init__(self, broker, queue: str):
        self.broker, self.queue = broker, queue
        self.events: dict[str, list[dict]] = {}
        self.failures: dict[str, list[dict]] = {}
        self.rejected: dict[str, int] = {}
        self.arrived: dict[str, float] = {}

    def of(self, job_id: str) -> list[dict]:
        return self.events.get(job_id, []) + self.failures.get(job_id, [])

    def poll(self) -> None:
        try:
            with pika.BlockingConnection(self.broker.connection_parameters()) as conn:
                ch = conn.channel()
                for name, into in ((RESULT_QUEUE, self.events), (FAILED_QUEUE, self.failures)):
                    while True:
                        method, _props, body = ch.basic_get(name, auto_ack=True)
                        if method is None:
                            break
                        msg = json.loads(body)
                        into.setdefault(msg["jobId"], []).append(msg)
                        self.arrived.setdefault(msg["jobId"], time.monotonic())
                while True:
                    method, props, _body = ch.basic_get(dead_letter_names(mas_config(self.broker, self.queue))[1],
                                                        auto_ack=True)
                    if method is None:
                        break
                    self.rejected[props.message_id] = self.rejected.get(props.message_id, 0) + 1
        except AMQPError:
            pass  # the broker is restarting: next poll

    def ready_jobs(self) -> int | None:
        try:
            with pika.BlockingConnection(self.broker.connection_parameters()) as conn:
                return conn.channel().queue_declare(self.queue, passive=True).method.message_count
        except AMQPError:
            return None

    def wait(self, job_ids=(), rejected=(), timeout: float = 300.0, settle: float = 2.0) -> "Outcomes":
        """Until every job id has an outcome and every message id was rejected, the job queue is
        empty, and ``settle`` seconds passed with nothing new (so a duplicate would have shown)."""
        deadline = time.monotonic() + timeout
        quiet_since = None
        while time.monotonic() < deadline:
            before = (sum(map(len, self.events.values())), sum(map(len, self.failures.values())), len(self.rejected))
            self.poll()
            after = (sum(map(len, self.events.values())), sum(map(len, self.failures.values())), len(self.rejected))
            done = all(self.of(j) for j in job_ids) and all(m in self.rejected for m in rejected)
            if done and after == before and self.ready_jobs() == 0:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= settle:
                    return self
            else:
                quiet_since = None
            time.sleep(0.2)
        missing = [j for j in job_ids if not self.of(j)] + [m for m in rejected if m not in self.rejected]
        raise AssertionError(f"no outcome within {timeout:.0f} s for {missing}")


class MasProcess:
    """``herbmorph mas`` as a real process (own session, so SIGKILL hits it alone), its log in a file."""

    def __init__(self, broker, queue: str, running_endpoint: str, log_path: Path, extra_env: dict | None = None):
        env = {**os.environ, **broker.env(), "MAS_ID": MAS_ID, "MAS_NAME": MAS_NAME, "RABBITMQ_QUEUE": queue,
               "RUNNING_ENDPOINT": running_endpoint, "HERBMORPH_URL_ALLOW_LOOPBACK": "1",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "functions"), os.environ.get("PYTHONPATH")])),
               **(extra_env or {})}
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "herbmorph.cli", "mas"], env=env, cwd=REPO,
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace")

    def wait_connected(self, timeout: float = 180.0, after: int = 0) -> None:
        """Until the log shows a connection (the models are loaded before it connects)."""
        deadline = time.monotonic() + timeout
        while self.log().count("connected to ") <= after:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"herbmorph mas did not connect (rc {self.proc.poll()}):\n{self.log()[-3000:]}")
            time.sleep(0.2)

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self._log.close()

    def stop(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode
