"""Drive a real ``herbmorph serve`` process from tests: start, wait for health, SIGKILL, restart."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

from conftest import REPO

FDL = REPO / "fdl" / "herbmorph-chain.yaml"
HERBMORPH = Path(sys.executable).parent / "herbmorph"


def wait_for(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def chain_fdl(dest: Path, variables: dict | None = None, fdl: Path = FDL) -> Path:
    """A copy of the chain FDL that runs from ``dest`` (absolute script paths) with extra variables."""
    data = yaml.safe_load(fdl.read_text("utf-8"))
    for entry in data["functions"]["oscar"]:
        for svc in entry.values():
            svc["script"] = str((fdl.parent / svc["script"]).resolve())
            svc.setdefault("environment", {}).setdefault("variables", {}).update(variables or {})
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
    return dest


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (Linux /proc)."""
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            for k in kids:
                if k not in found:
                    found.add(k)
                    todo.append(k)
    return found


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


class Serve:
    """``herbmorph serve`` as a subprocess on 127.0.0.1:``port``."""

    def __init__(self, args: list[str], port: int, env: dict, log: Path):
        self.args, self.port, self.env, self.log = args, port, env, log
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 300.0) -> "Serve":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log, "ab")
        self.proc = subprocess.Popen([str(HERBMORPH), "serve", *self.args, "--listen", f"127.0.0.1:{self.port}"],
                                     env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        out.close()

        def healthy():
            if self.proc.poll() is not None:
                raise AssertionError(f"herbmorph serve exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            code, body = http_get(self.url + "/healthz")
            return code == 200 and json.loads(body)["status"] == "ok"

        wait_for(healthy, timeout, "herbmorph serve to be healthy")
        return self

    def health(self) -> dict:
        return json.loads(http_get(self.url + "/healthz")[1])

    def metrics(self) -> str:
        return http_get(self.url + "/metrics")[1].decode()

    def sigkill(self) -> set[int]:
        """SIGKILL the runtime alone (not its group, as a crash would); returns its descendants."""
        kids = descendants(self.proc.pid)
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        return kids

    def stop(self) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else 0


def metric(text: str, name: str, **labels) -> float:
    """Sum of a Prometheus sample ``name{labels...}`` in an exposition text."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total
