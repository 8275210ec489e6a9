"""The runtime's HTTP face: MinIO's webhook target, ``/healthz`` and Prometheus ``/metrics``.

``POST /events/<service>`` answers 200 only after every record of the delivery is committed to the
journal, so an acknowledged event survives any crash; anything else (journal unwritable, bad
token) is non-2xx and MinIO keeps the event in its queue and delivers it again.
"""
from __future__ import annotations

import hmac
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import unquote_plus

log = logging.getLogger("herbmorph.serve")
MAX_EVENT_BYTES = 1 * 2**20  # MinIO's notifications are a few KB


def _records(payload: dict) -> list[dict]:
    records = payload.get("Records") if isinstance(payload, dict) else None
    if not isinstance(records, list):
        raise ValueError("not a MinIO/S3 event: no Records list")
    return records


def split_delivery(payload: dict) -> list[tuple[str, str, str, str, dict]]:
    """One (bucket, key, etag, sequencer, single-record event) per ``s3:ObjectCreated`` record."""
    out = []
    for rec in _records(payload):
        if not str(rec.get("eventName", "")).startswith("s3:ObjectCreated:"):
            continue
        s3 = rec.get("s3") or {}
        bucket = (s3.get("bucket") or {}).get("name") or ""
        obj = s3.get("object") or {}
        key = unquote_plus(obj.get("key") or "")
        if not bucket or not key:
            continue
        event = {"EventName": rec.get("eventName"), "Key": f"{bucket}/{key}", "Records": [rec]}
        out.append((bucket, key, str(obj.get("eTag") or ""), str(obj.get("sequencer") or ""), event))
    return out


def make_server(host: str, port: int, *, token: str, accept: Callable[[str, list], dict],
                health: Callable[[], dict], metrics: Callable[[], bytes], services: set[str]) -> ThreadingHTTPServer:
    """``accept(service, split_delivery(...))`` journals a delivery and returns counts."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "herbmorph-serve"
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # through logging, never to stderr directly
            log.debug("http %s " + fmt, self.address_string(), *args)

        def _reply(self, code: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, code: int, obj) -> None:
            self._reply(code, (json.dumps(obj) + "\n").encode())

        def do_GET(self):
            if self.path == "/healthz":
                report = health()
                self._json(200 if report.get("status") == "ok" else 503, report)
            elif self.path == "/metrics":
                self._reply(200, metrics(), "text/plain; version=0.0.4; charset=utf-8")
            else:
                self._json(404, {"error": "not found"})

        def do_HEAD(self):  # MinIO checks that a target is reachable
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self):
            parts = self.path.strip("/").split("/")
            if len(parts) != 2 or parts[0] != "events" or parts[1] not in services:
                return self._json(404, {"error": "unknown service"})
            auth = self.headers.get("Authorization", "")
            given = auth[7:] if auth.startswith("Bearer ") else auth
            if not hmac.compare_digest(given.encode(), token.encode()):
                return self._json(401, {"error": "bad or missing token"})
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                return self._json(400, {"error": "bad Content-Length"})
            if length > MAX_EVENT_BYTES:
                return self._json(413, {"error": "event too large"})
            try:
                deliveries = split_delivery(json.loads(self.rfile.read(length) or b"{}"))
            except (ValueError, AttributeError, TypeError) as exc:
                return self._json(400, {"error": f"not an S3 event: {exc}"})
            try:
                counts = accept(parts[1], deliveries)
            except Exception as exc:  # noqa: BLE001 - not journaled: MinIO must retry
                log.error("cannot journal an event for %s: %s", parts[1], exc)
                return self._json(503, {"error": "journal unavailable"})
            self._json(200, counts)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def serve_in_background(server: ThreadingHTTPServer) -> threading.Thread:
    t = threading.Thread(target=server.serve_forever, name="herbmorph-http", daemon=True)
    t.start()
    return t
