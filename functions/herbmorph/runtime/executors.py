"""How one event runs: the real faas-supervisor (MinIO mode) or its folder twin (folder mode).

MinIO mode does what OSCAR's job does: ``echo $EVENT | supervisor`` with ``FUNCTION_CONFIG`` (the
service's FDL entry plus the storage provider block OSCAR would add) and ``SCRIPT`` (base64 of the
service's script) in the environment. The supervisor downloads the object, runs ``/bin/sh
script.sh`` and uploads ``TMP_OUTPUT_DIR`` by the output suffixes. To save the supervisor's ~0.6 s
import per event, each run is forked from a :mod:`~herbmorph.runtime.zygote` that has imported
faas-supervisor and boto3 once; the child gets the event on its real stdin (fd 0) and runs the
supervisor's own ``__main__``.

Folder mode has no object storage for the supervisor to talk to, so :class:`FolderExecutor` keeps
the same contract by hand: the input is copied to ``TMP_INPUT_DIR``, the same variables are set,
the same script runs, and output files matching the suffixes are moved into the output folder.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional
from urllib.parse import unquote_plus

import yaml

from herbmorph.safeopen import NotRegularFile, copy_regular
from herbmorph.store import STORE_DIR_ENV, FolderStore, ObjectInfo

from .fdl import Service, host_variables, service_stage
from .zygote import Zygote

#: how long one event may run before it is killed and retried
DEFAULT_EVENT_TIMEOUT = 900.0


@dataclass
class RunResult:
    code: int
    seconds: float
    log_tail: str = ""
    written: list = field(default_factory=list)  # folder mode: ObjectInfo of each output
    refused: bool = False  # folder mode: the input was not opened; the executor wrote its error document


def _tail(path: Path, n: int = 4000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - n))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _base_env(service: Service, extra: dict[str, str]) -> dict[str, str]:
    """What every job of ``service`` sees: the host's basics, the FDL variables, OSCAR's names."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TESSDATA_PREFIX", "GOPATH")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    # `python3` in script.sh must be this interpreter (the project's venv), as in our images.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "/usr/bin:/bin")])
    env.update(host_variables(service))
    env.update({"OSCAR_SERVICE_NAME": service.name, "LOG_LEVEL": service.log_level})
    env.update(extra)
    return env


def handler_error(service: Service, bucket: str, key: str, exc: BaseException):
    """``(<r>, error document)``: what the service's handler would have written for ``key`` had it
    failed with ``exc`` (the runtime writes it when the handler cannot run or never succeeds)."""
    from herbmorph.oscar.invocation import stage_relpath
    from herbmorph.outputs import output_relpath
    from herbmorph.results import ImageInfo, error_document
    from herbmorph.store import s3_uri

    path = service.input_for(bucket, key)
    folder = path.folder if path else ""
    stage = service_stage(service)
    rel = stage_relpath(stage, key, folder) if stage else output_relpath(key, folder)
    return rel, error_document(ImageInfo(uri=s3_uri(bucket, key)), stage or service.name, exc)


def encode_function_config(service: Service, providers: Optional[dict] = None) -> str:
    """FUNCTION_CONFIG as OSCAR builds it: the service's FDL entry (plus the storage providers)."""
    cfg = dict(service.raw)
    if providers:
        cfg["storage_providers"] = providers
    return base64.b64encode(yaml.safe_dump(cfg, allow_unicode=True).encode("utf-8")).decode("ascii")


# ------------------------------------------------------------------------------- supervisor


class SupervisorExecutor:
    """Runs events through faas-supervisor against MinIO (see the module docstring)."""

    def __init__(self, provider_block: dict, tmp_root: Path, log_dir: Path, timeout: float = DEFAULT_EVENT_TIMEOUT):
        self.provider_block = provider_block  # {"endpoint", "access_key", "secret_key", "verify", "region"}
        self.tmp_root, self.log_dir, self.timeout = Path(tmp_root), Path(log_dir), timeout
        self.zygote = Zygote(self.log_dir / "zygote.log")
        self._per_service: dict[str, dict[str, str]] = {}

    def _encoded_config(self, service: Service) -> str:
        return encode_function_config(service, {"minio": {"default": dict(self.provider_block)}})

    def _service_env(self, service: Service) -> dict[str, str]:
        """SCRIPT and FUNCTION_CONFIG: the same for every event of a service, so built once."""
        cached = self._per_service.get(service.name)
        if cached is None:
            cached = {"SCRIPT": base64.b64encode(service.script.read_bytes()).decode("ascii"),
                      "FUNCTION_CONFIG": self._encoded_config(service)}
            self._per_service[service.name] = cached
        return cached

    def run(self, service: Service, event_id: int, body: str, extra_env: dict[str, str]) -> RunResult:
        work = Path(tempfile.mkdtemp(prefix=f"ev{event_id}-", dir=self.tmp_root))
        log = self.log_dir / f"{service.name}.log"
        try:
            stdin = work / "event.json"
            stdin.write_text(body, "utf-8")
            env = _base_env(service, {**extra_env, "TMPDIR": str(work), **self._service_env(service)})
            with open(log, "a", encoding="utf-8") as f:
                f.write(f"--- event {event_id} {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
            t0 = time.perf_counter()
            code = self.zygote.run(env, stdin, log, self.timeout)
            seconds = time.perf_counter() - t0
            if code is None:
                return RunResult(124, seconds, f"timed out after {self.timeout:.0f} s, or the zygote died")
            return RunResult(code, seconds, _tail(log) if code else "")
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def close(self) -> None:
        self.zygote.close()


# ----------------------------------------------------------------------------------- folders


class FolderExecutor:
    """The supervisor's contract over plain folders: ``root/<bucket>/<key>``."""

    def __init__(self, root: Path, tmp_root: Path, log_dir: Path, timeout: float = DEFAULT_EVENT_TIMEOUT):
        self.root, self.tmp_root, self.log_dir, self.timeout = Path(root), Path(tmp_root), Path(log_dir), timeout
        self.store = FolderStore(self.root)

    def run(self, service: Service, event_id: int, body: str, extra_env: dict[str, str]) -> RunResult:
        event = json.loads(body)
        s3 = event["Records"][0]["s3"]
        bucket, key = s3["bucket"]["name"], unquote_plus(s3["object"]["key"])
        work = Path(tempfile.mkdtemp(prefix=f"ev{event_id}-", dir=self.tmp_root))
        log = self.log_dir / f"{service.name}.log"
        t0 = time.perf_counter()
        try:
            tmp_in, tmp_out = work / "in", work / "out"
            tmp_in.mkdir()
            tmp_out.mkdir()
            input_path = tmp_in / Path(key).name
            try:
                # Opened once, never through a link: a file swapped for a symlink after it was
                # queued must not hand us /etc/passwd or another collection's sheet.
                copy_regular(self.root / bucket, key, input_path)
                refused = None
            except FileNotFoundError:
                return RunResult(0, time.perf_counter() - t0, "input gone before it ran: nothing to do")
            except (NotRegularFile, ValueError) as exc:
                refused = exc
            if refused is not None:
                proc = self._refuse(service, bucket, key, refused, tmp_out, log, event_id)
            else:
                proc = self._run_script(service, work, event, key, input_path, extra_env, log, event_id)
                if proc is None:
                    return RunResult(124, time.perf_counter() - t0, f"timed out after {self.timeout:.0f} s")
            # Outputs are uploaded whatever the script's status, as the supervisor does.
            written = self._publish(service, tmp_out)
            # Handler status 0/1: a result or an error document was written; anything else: nothing was.
            ok = proc.returncode in (0, 1)
            return RunResult(0 if ok else proc.returncode, time.perf_counter() - t0, "" if ok else _tail(log), written,
                             refused=refused is not None)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _refuse(self, service: Service, bucket: str, key: str, exc: Exception, tmp_out: Path, log: Path,
                event_id: int) -> subprocess.CompletedProcess:
        """The error document the handler would have written, for an input we will not open."""
        from herbmorph.publish import Outcomes

        if not isinstance(exc, NotRegularFile):
            exc = NotRegularFile(f"{key!r} is not a plain path below its bucket")
        Outcomes.folder(tmp_out).error(*handler_error(service, bucket, key, exc))
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"--- event {event_id} {time.strftime('%Y-%m-%dT%H:%M:%S')}: refused: {exc}\n")
        return subprocess.CompletedProcess([], 1)

    def _run_script(self, service: Service, work: Path, event: dict, key: str, input_path: Path,
                    extra_env: dict[str, str], log: Path, event_id: int) -> Optional[subprocess.CompletedProcess]:
        tmp_in, tmp_out = work / "in", work / "out"
        script = work / "script.sh"
        shutil.copyfile(service.script, script)
        env = _base_env(service, {**extra_env, "TMPDIR": str(work), "TMP_INPUT_DIR": str(tmp_in),
                                  "TMP_OUTPUT_DIR": str(tmp_out), "INPUT_FILE_PATH": str(input_path),
                                  "STORAGE_OBJECT_KEY": key, "EVENT": json.dumps(event),
                                  "EVENT_TIME": event["Records"][0].get("eventTime", ""),
                                  "FUNCTION_CONFIG": encode_function_config(service),
                                  STORE_DIR_ENV: str(self.root)})
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"--- event {event_id} {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
            f.flush()
            try:
                return subprocess.run(["/bin/sh", str(script)], env=env, stdout=f, stderr=subprocess.STDOUT,
                                      timeout=self.timeout, cwd=work)
            except subprocess.TimeoutExpired:
                return None

    def _publish(self, service: Service, tmp_out: Path) -> list[ObjectInfo]:
        """Move the outputs matching each output path's suffixes into place (the supervisor's upload)."""
        written = []
        for out in service.outputs:
            for path in sorted(p for p in tmp_out.rglob("*") if p.is_file()):
                rel = path.relative_to(tmp_out).as_posix()
                if out.suffixes and not any(rel.endswith(s) for s in out.suffixes):
                    continue
                key = "/".join(p for p in (out.folder, rel) if p)
                written.append(self.store.put(out.bucket, key, path.read_bytes()))
        return written

    def close(self) -> None:
        """Nothing to end: each script is a plain child of the slot's thread."""
