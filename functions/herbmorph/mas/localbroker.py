"""A RabbitMQ broker on this machine for tests, the benchmark and local runs: Debian's
``rabbitmq-server`` (scripts/setup.sh installs it), started on loopback on free ports with its own
data, log and Erlang port-mapper, stopped cleanly, restartable on the same data (durable queues
and their messages survive, as on a real broker restart).

Run as root, the broker runs as the ``rabbitmq`` user the package creates (Erlang refuses nothing
as root, but a broker has no business being root), so its folders are handed to that user.
"""
from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from herbmorph.localminio import free_port

SERVER_CANDIDATES = ("/usr/lib/rabbitmq/bin/rabbitmq-server", "/usr/lib/rabbitmq/sbin/rabbitmq-server")
EPMD_CANDIDATES = ("/usr/bin/epmd", "/usr/lib/erlang/bin/epmd")


def find_rabbitmq_server() -> Optional[str]:
    """The server script itself (not /usr/sbin's wrapper, which su's and logs to /var/log)."""
    for path in (os.environ.get("HERBMORPH_RABBITMQ_SERVER"), *SERVER_CANDIDATES):
        if path and os.access(path, os.X_OK):
            return path
    return None


@dataclass
class LocalRabbit:
    """``with LocalRabbit() as r: r.host, r.port, r.user, r.password, r.env()``.

    Without ``base_dir`` the broker lives in a fresh folder under the system temp dir (readable by
    the ``rabbitmq`` user, unlike pytest's private temp dirs), removed by :meth:`close`.
    """

    base_dir: Optional[Path] = None
    host: str = "127.0.0.1"
    port: int = 0
    user: str = "herbmorph"
    password: str = field(default_factory=lambda: "local-" + secrets.token_hex(12), repr=False)
    proc: Optional[subprocess.Popen] = field(default=None, repr=False)
    epmd: Optional[subprocess.Popen] = field(default=None, repr=False)
    _ports: tuple = field(default=(), repr=False)
    _owns_dir: bool = field(default=False, repr=False)

    def __post_init__(self):
        if self.base_dir is None:
            self.base_dir = Path(tempfile.mkdtemp(prefix="herbmorph-rabbitmq-"))
            os.chmod(self.base_dir, 0o755)  # the rabbitmq user must reach it
            self._owns_dir = True

    def _layout(self) -> dict[str, Path]:
        b = Path(self.base_dir)
        return {"base": b, "mnesia": b / "mnesia", "log": b / "log", "home": b / "home",
                "conf": b / "rabbitmq.conf", "plugins": b / "enabled_plugins", "out": b / "server.out"}

    def _prepare(self) -> tuple[dict, Optional[str]]:
        p = self._layout()
        for key in ("base", "mnesia", "log", "home"):
            p[key].mkdir(parents=True, exist_ok=True)
        if not self._ports:  # the same ports on every restart: the node keeps its name and data
            self.port = self.port or free_port(self.host)
            self._ports = (free_port(self.host), free_port(self.host))
        dist_port, epmd_port = self._ports
        p["conf"].write_text(
            f"listeners.tcp.1 = {self.host}:{self.port}\n"
            "loopback_users = none\n"
            f"default_user = {self.user}\n"
            f"default_pass = {self.password}\n"
            "disk_free_limit.absolute = 50MB\n"
            "log.console = false\n")
        p["plugins"].write_text("[].\n")
        run_as = None
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam("rabbitmq")
            except KeyError:
                entry = None
            if entry is not None:
                run_as = "rabbitmq"
                for root, dirs, files in os.walk(p["base"]):
                    for name in (root, *(os.path.join(root, n) for n in dirs + files)):
                        os.chown(name, entry.pw_uid, entry.pw_gid)
        os.chmod(p["conf"], 0o600)
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": str(p["home"]), "LANG": "C.UTF-8",
            "RABBITMQ_NODENAME": f"herbmorph-{self.port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": self.host, "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(dist_port), "ERL_EPMD_PORT": str(epmd_port),
            "RABBITMQ_MNESIA_BASE": str(p["mnesia"]), "RABBITMQ_LOG_BASE": str(p["log"]),
            "RABBITMQ_CONFIG_FILE": str(p["conf"]), "RABBITMQ_ENABLED_PLUGINS_FILE": str(p["plugins"]),
            "RABBITMQ_CONF_ENV_FILE": str(p["base"] / "rabbitmq-env.conf"),  # not /etc's
            # our own port-mapper (below), so no daemon outlives the broker
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-start_epmd false",
        }
        return env, run_as

    def _start_epmd(self, env: dict, run_as: Optional[str]) -> None:
        if self.epmd is not None and self.epmd.poll() is None:
            return
        exe = next((p for p in (shutil.which("epmd"), *EPMD_CANDIDATES) if p and os.access(p, os.X_OK)), None)
        if exe is None:
            raise FileNotFoundError("no epmd (Erlang's port mapper, part of erlang-base)")
        self.epmd = subprocess.Popen([exe, "-port", env["ERL_EPMD_PORT"], "-address", self.host], env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True, user=run_as, group=run_as)

    def start(self, timeout: float = 120.0) -> "LocalRabbit":
        exe = find_rabbitmq_server()
        if exe is None:
            raise FileNotFoundError("no rabbitmq-server: run scripts/setup.sh (Debian package rabbitmq-server)")
        env, run_as = self._prepare()
        self._start_epmd(env, run_as)
        out = open(self._layout()["out"], "ab")
        try:
            self.proc = subprocess.Popen([exe], env=env, cwd=self.base_dir, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         user=run_as, group=run_as)
        finally:
            out.close()
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self._layout()["out"].read_text(errors="replace")[-1500:]
                self.stop()
                raise RuntimeError(f"rabbitmq-server did not become ready on {self.host}:{self.port}: {tail}")
            time.sleep(0.25)
        return self

    def ready(self) -> bool:
        """True once an AMQP login succeeds (the listener opens before the broker is usable)."""
        import pika
        from pika.exceptions import AMQPError

        try:
            pika.BlockingConnection(self.connection_parameters(socket_timeout=2)).close()
            return True
        except (AMQPError, OSError):
            return False

    def stop(self, timeout: float = 60.0) -> None:
        """A clean shutdown (the script forwards SIGTERM to the node); data stay for a restart."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the node, then its port mapper; remove the folder if it was ours."""
        self.stop()
        epmd, self.epmd = self.epmd, None
        if epmd is not None and epmd.poll() is None:
            epmd.terminate()
            try:
                epmd.wait(timeout=10)
            except subprocess.TimeoutExpired:
                epmd.kill()
                epmd.wait()
        if self._owns_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def connection_parameters(self, **kw):
        import pika

        return pika.ConnectionParameters(self.host, self.port, credentials=pika.PlainCredentials(self.user, self.password),
                                         connection_attempts=1, **kw)

    def env(self) -> dict[str, str]:
        """The RABBITMQ_* variables a MAS container gets, for this broker."""
        return {"RABBITMQ_HOST": self.host, "RABBITMQ_PORT": str(self.port),
                "RABBITMQ_USER": self.user, "RABBITMQ_PASSWORD": self.password}

    def __enter__(self) -> "LocalRabbit":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.close()
