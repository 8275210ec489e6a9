"""A MinIO server on this machine: found on PATH or in ``$GOPATH/bin`` (where scripts/setup.sh's
``go install`` puts it), started on loopback, stopped cleanly.

Used by ``herbmorph serve`` (start a local MinIO when none is configured) and by the tests; both
talk to it through real S3 and admin APIs, like to any other MinIO.
"""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional


def find_minio_binary() -> Optional[str]:
    found = shutil.which("minio")
    if found:
        return found
    gopath = os.environ.get("GOPATH") or str(Path.home() / "go")
    for root in gopath.split(os.pathsep):
        candidate = Path(root) / "bin" / "minio"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class LocalMinio:
    """``with LocalMinio(data_dir) as m: m.endpoint, m.access_key, m.secret_key``.

    The root password is random per start unless given; it is never logged. ``extra_env`` lets a
    caller configure MinIO itself (e.g. ``MINIO_NOTIFY_WEBHOOK_*``).
    """

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    access_key: str = "herbmorph"
    secret_key: str = field(default_factory=lambda: "local-" + secrets.token_hex(12), repr=False)
    binary: Optional[str] = None
    extra_env: dict = field(default_factory=dict)
    proc: Optional[subprocess.Popen] = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> "LocalMinio":
        exe = self.binary or find_minio_binary()
        if exe is None:
            raise FileNotFoundError("no minio binary: run scripts/setup.sh (go install github.com/minio/minio@…)")
        self.port = self.port or free_port(self.host)
        Path(self.data_dir).mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.extra_env, "MINIO_ROOT_USER": self.access_key,
               "MINIO_ROOT_PASSWORD": self.secret_key, "MINIO_BROWSER": "off"}
        self.proc = subprocess.Popen(
            [exe, "server", str(self.data_dir), "--address", f"{self.host}:{self.port}",
             "--console-address", f"{self.host}:{free_port(self.host)}", "--quiet"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read().decode(errors="replace")[-400:] if self.proc.poll() is not None else ""
                self.stop()
                raise RuntimeError(f"minio did not become ready on {self.endpoint}: {err}")
            time.sleep(0.25)
        return self

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/minio/health/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def client(self):
        from minio import Minio

        return Minio(f"{self.host}:{self.port}", access_key=self.access_key, secret_key=self.secret_key, secure=False)

    def env(self) -> dict[str, str]:
        """The variables :func:`herbmorph.store.provider_credentials` reads."""
        return {"MINIO_ENDPOINT": self.endpoint, "MINIO_ACCESS_KEY": self.access_key, "MINIO_SECRET_KEY": self.secret_key}

    def __enter__(self) -> "LocalMinio":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()
