"""Real servers on 127.0.0.1 for tests/test_deepaas.py: the unmodified ``deepaas-run`` with the
herbmorph plugin, and a small HTTP server that plays the "remote" image host for URL inputs."""
from __future__ import annotations

import http.server
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import requests

BIN = Path(sys.executable).parent
PREDICT = "/v2/models/herbmorph/predict/"
_TIMINGS = re.compile(r'("timings_ms": \{)[^}]*(\})')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def without_timings(text: str) -> str:
    """The document text with the timings' values blanked: the only part allowed to differ."""
    return _TIMINGS.sub(r"\1\2", text)


class DeepaasServer:
    """``deepaas-run`` and its worker processes, logging to a file."""

    def __init__(self, log: Path, env: dict, workers: int = 1, base_path: str = "", client_max_size: int = 0):
        self.port = free_port()
        self.base_path = base_path
        self.url = f"http://127.0.0.1:{self.port}{base_path}"
        self.log = log
        cmd = [str(BIN / "deepaas-run"), "--listen-ip", "127.0.0.1", "--listen-port", str(self.port),
               "--model-name", "herbmorph", "--notrain-endpoint", "-p", str(workers)]
        if base_path:
            cmd += ["--base-path", base_path]
        if client_max_size:
            cmd += ["--client-max-size", str(client_max_size)]
        self._logf = open(log, "wb")
        self.proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=self._logf, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 240) -> "DeepaasServer":
        """deepaas-run warms every worker before it binds, so the first 200 means warm."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"deepaas-run exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if requests.get(self.url + "/v2/models/", timeout=2).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"deepaas-run not ready after {timeout} s:\n{self.log.read_text()[-3000:]}")

    def alive(self) -> bool:
        return self.proc.poll() is None and requests.get(self.url + "/v2/models/", timeout=5).status_code == 200

    def predict(self, files=None, data=None, headers=None, timeout: float = 180) -> requests.Response:
        return requests.post(self.url + PREDICT, files=files, data=data, headers=headers, timeout=timeout)

    def stop(self) -> None:
        """SIGTERM to the server, then SIGKILL to whatever of it and its workers is left, by pid."""
        if self.proc.poll() is None:
            children = psutil.Process(self.proc.pid).children(recursive=True)
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            _, alive = psutil.wait_procs(children, timeout=5)
            for child in alive:
                child.kill()
        self._logf.close()


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}
    seen: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        self.seen.append(self.path)
        route = self.routes.get(path)
        if route is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        route(self)


class ImageHost:
    """A loopback HTTP server with named routes; ``seen`` records every request path."""

    def __init__(self, routes: dict):
        handler = type("Handler", (_Handler,), {"routes": routes, "seen": []})
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.seen = handler.seen
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def send_bytes(data: bytes, content_type: str = "image/jpeg", length: bool = True):
    def route(h):
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        if length:
            h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
    return route


def redirect(location: str, status: int = 302):
    def route(h):
        h.send_response(status)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()
    return route


def stream_forever(chunk: bytes = b"\xff" * 65536):
    """No Content-Length, no end: only the byte cap can stop it."""
    def route(h):
        h.send_response(200)
        h.send_header("Content-Type", "image/jpeg")
        h.end_headers()
        try:
            while True:
                h.wfile.write(chunk)
        except OSError:
            pass
    return route


def trickle(seconds: float):
    """Headers, then one byte a second: only the total deadline can stop it."""
    def route(h):
        h.send_response(200)
        h.send_header("Content-Type", "image/jpeg")
        h.send_header("Content-Length", "1000000")
        h.end_headers()
        end = time.monotonic() + seconds
        try:
            while time.monotonic() < end:
                h.wfile.write(b"\xff")
                h.wfile.flush()
                time.sleep(1)
        except OSError:
            pass
    return route
