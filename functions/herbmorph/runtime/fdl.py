"""The FDL, read the way OSCAR reads it: services, their input/output paths, resources, variables.

Only what the runtime needs is parsed; the raw service dict is kept, because it is what OSCAR hands
each job as FUNCTION_CONFIG.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from herbmorph.quantities import parse_cpu, parse_memory

@dataclass(frozen=True)
class StoragePath:
    provider: str
    bucket: str
    folder: str
    suffixes: tuple[str, ...] = ()

    @classmethod
    def parse(cls, spec: dict) -> "StoragePath":
        bucket, _, folder = str(spec["path"]).strip(" /").partition("/")
        return cls(provider=str(spec.get("storage_provider", "minio.default")), bucket=bucket,
                   folder=folder.strip("/"), suffixes=tuple(str(s) for s in spec.get("suffix") or ()))

    @property
    def prefix(self) -> str:
        """The key prefix of this path, with its trailing ``/`` (``in/``), or ``""``."""
        return f"{self.folder}/" if self.folder else ""

    def matches(self, key: str) -> bool:
        """Is ``key`` (inside this bucket) under this path and of an accepted suffix?

        Suffixes are matched the way OSCAR's supervisor matches output files: ``name.endswith``.
        Hidden names (``.x``: our atomic writes' temporaries) never match.
        """
        if not key.startswith(self.prefix) or key.endswith("/"):
            return False
        name = key.rsplit("/", 1)[-1]
        if name.startswith("."):
            return False
        return not self.suffixes or any(name.endswith(s) for s in self.suffixes)


@dataclass(frozen=True)
class Service:
    name: str
    script: Path
    inputs: tuple[StoragePath, ...]
    outputs: tuple[StoragePath, ...]
    cpu: float = 1.0
    memory: int = 2 * 2**30
    enable_gpu: bool = False
    log_level: str = "INFO"
    variables: dict = field(default_factory=dict, hash=False, compare=False)
    raw: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def threads(self) -> int:
        return max(1, math.ceil(self.cpu))

    def input_for(self, bucket: str, key: str) -> StoragePath | None:
        return next((i for i in self.inputs if i.bucket == bucket and i.matches(key)), None)


@dataclass(frozen=True)
class Fdl:
    path: Path
    services: tuple[Service, ...]

    def service(self, name: str) -> Service:
        for s in self.services:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def buckets(self) -> list[str]:
        seen = []
        for s in self.services:
            for p in (*s.inputs, *s.outputs):
                if p.bucket and p.bucket not in seen:
                    seen.append(p.bucket)
        return seen


def fdl_variables(environment: dict) -> dict[str, str]:
    """``environment.variables`` as OSCAR's API sees it.

    The FDLs write ``Variables``: oscar-cli decodes the FDL case-sensitively into OSCAR 3.3's types,
    whose tag is ``Variables``, and drops a lower-case key without a word; OSCAR's API (Go's
    encoding/json) matches keys case-insensitively, so both spellings reach a service posted as JSON
    (oscar-python), and when both are present their entries are merged, the later key winning.
    """
    merged: dict[str, str] = {}
    for key, value in environment.items():
        if str(key).lower() == "variables":
            merged.update({str(k): str(v) for k, v in (value or {}).items()})
    return merged


def _service_memory(svc: dict) -> int:
    memory = parse_memory(svc.get("memory", "2Gi"))
    if memory < 1:  # e.g. "512m": 0.512 bytes to Kubernetes, surely meant as 512Mi
        raise ValueError(f"service {svc.get('name')!r}: memory {svc.get('memory')!r} is under one byte")
    return memory


def load_fdl(path: str | Path) -> Fdl:
    """Every ``functions.oscar[*].<cluster>`` service of an FDL file (scripts resolved next to it)."""
    path = Path(path)
    data = yaml.safe_load(path.read_text("utf-8")) or {}
    services = []
    for entry in ((data.get("functions") or {}).get("oscar") or []):
        for _cluster, svc in entry.items():
            script = (path.parent / svc["script"]).resolve()
            if not script.is_file():
                raise FileNotFoundError(f"{path}: service {svc['name']!r}: script {script} not found")
            env = svc.get("environment") or {}
            services.append(Service(
                name=svc["name"], script=script,
                inputs=tuple(StoragePath.parse(i) for i in svc.get("input") or ()),
                outputs=tuple(StoragePath.parse(o) for o in svc.get("output") or ()),
                cpu=parse_cpu(svc.get("cpu", "1.0")), memory=_service_memory(svc),
                enable_gpu=bool(svc.get("enable_gpu", False)), log_level=str(svc.get("log_level", "INFO")),
                variables=fdl_variables(env),
                raw=svc))
    if not services:
        raise ValueError(f"{path}: no functions.oscar services")
    names = [s.name for s in services]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: duplicate service names {names}")
    for s in services:
        for i in s.inputs:
            if not i.folder:
                raise ValueError(f"{path}: {s.name}: input path {i.bucket!r} needs a folder (bucket/folder)")
            for o in s.outputs:
                if o.bucket == i.bucket and (o.prefix.startswith(i.prefix) or i.prefix.startswith(o.prefix)):
                    raise ValueError(f"{path}: {s.name} writes under its own input {i.bucket}/{i.folder}: it would trigger itself")
    return Fdl(path=path, services=tuple(services))


#: where our images install the project (images/*.Dockerfile); on the host it is the checkout
IMAGE_ROOT = "/opt/herbmorph/"


def host_variables(service: Service) -> dict[str, str]:
    """The FDL's variables with image paths mapped to this checkout, as a volume mount would:
    ``/opt/herbmorph/models/segment.pt`` -> ``<repo>/models/segment.pt`` when only the latter exists."""
    from ..config import REPO_DIR

    out = {}
    for k, v in service.variables.items():
        if v.startswith(IMAGE_ROOT) and not Path(v).exists():
            v = str(Path(REPO_DIR, v[len(IMAGE_ROOT):]))
        out[k] = v
    return out


def service_stage(service: Service) -> str | None:
    """The herbmorph handler stage a service's script runs (``segment``...), if it is one of ours."""
    m = re.search(r"herbmorph\.oscar\.handler\s+(\w+)", service.script.read_text("utf-8", "replace"))
    return m.group(1) if m else None
