"""Every FDL in fdl/, read from OSCAR's side rather than ours.

- oscar-cli: a Go program (tests/oscarcli_decode) built here from the Go module proxy with the
  modules oscar-cli 1.12 pins (github.com/goccy/go-yaml v1.9.8, github.com/grycap/oscar/v3 v3.3.0)
  decodes each file the way grycap/oscar-cli pkg/service/service.go ReadFDL does and prints the
  JSON body oscar-cli would send (ApplyService). Any setting missing from that body was dropped
  without a word.
- oscar-python: the real client posts each service to a recorder on 127.0.0.1, and the same Go
  program decodes the bodies with encoding/json as OSCAR's API does, into OSCAR 3.3's types and
  into the environment tag of OSCAR >= 3.4.
- OSCAR's current service type: every key of every service is one of the JSON fields of
  grycap/oscar pkg/types/service.go (names vendored in tests/data/oscar/service-fields.yaml).
- fdl/generate.py: the generated variants are what the generator writes now.
"""
from __future__ import annotations

import http.server
import importlib.util
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from deploy_helpers import QuietHandler
import yaml

from conftest import REPO

FDL_DIR = REPO / "fdl"
GO_PROGRAM = REPO / "tests" / "oscarcli_decode"
FIELDS = yaml.safe_load((REPO / "tests" / "data" / "oscar" / "service-fields.yaml").read_text("utf-8"))


def _generator():
    spec = importlib.util.spec_from_file_location("fdl_generate", FDL_DIR / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["fdl_generate"] = module  # dataclasses resolve the module while the class is built
    spec.loader.exec_module(module)
    return module


GEN = _generator()
FILES = {f.name: f for f in GEN.FILES}

# What oscar-cli 1.12 loses on the files that fdl/README.md gives to oscar-python only: each entry is
# why the file is not offered to oscar-cli. Anything else lost, on any file, fails the test.
OSCAR_CLI_LOSSES = {
    "herbmorph-deepaas.yaml": {"expose.health_path"},  # OSCAR 3.3's Expose has no HealthPath
    "herbmorph-chain.oscar-4.1.yaml": {"visibility"},  # nor Service.Visibility
    "herbmorph-batch.oscar-4.1.yaml": {"visibility"},
}
OSCAR_CLI_REFUSES = {"herbmorph-deepaas.oscar-4.1.yaml": "api_port"}  # a list into `APIPort int`


def _fdl(name: str) -> dict:
    return yaml.safe_load((FDL_DIR / name).read_text("utf-8"))


def _services(name: str) -> list[tuple[str, dict]]:
    return [(cluster, svc) for entry in _fdl(name)["functions"]["oscar"] for cluster, svc in entry.items()]


def _leaves(obj, prefix: str = "") -> dict[str, object]:
    """Every scalar (and empty container) of a YAML/JSON tree by its dotted path."""
    if isinstance(obj, dict) and obj:
        out = {}
        for k, v in obj.items():
            out.update(_leaves(v, f"{prefix}{k}."))
        return out
    if isinstance(obj, list) and obj:
        out = {}
        for i, v in enumerate(obj):
            out.update(_leaves(v, f"{prefix}{i}."))
        return out
    return {prefix[:-1]: obj}


_MISSING = object()


def _lookup(tree, path: str):
    """The value at ``path``, keys matched as OSCAR's API matches them (case-insensitively)."""
    for part in path.split("."):
        if isinstance(tree, list):
            i = int(part)
            tree = tree[i] if i < len(tree) else _MISSING
        elif isinstance(tree, dict):
            keys = [k for k in tree if k == part] or [k for k in tree if k.lower() == part.lower()]
            tree = tree[keys[0]] if keys else _MISSING
        else:
            return _MISSING
        if tree is _MISSING:
            return tree
    return tree


def _lost(svc: dict, body: dict, fdl_dir: Path) -> set[str]:
    """The FDL settings that do not reach OSCAR in ``body`` (script: its content must arrive)."""
    lost = set()
    for path, value in _leaves(svc).items():
        got = _lookup(body, path)
        if path == "script":
            value = (fdl_dir / value).read_text("utf-8")
        if got is _MISSING or got != value:
            lost.add(path.rsplit(".", 1)[0] if path.split(".")[-1].isdigit() else path)
    return lost


# ------------------------------------------------------------------------------------ catalogue


def test_every_fdl_is_catalogued_and_generated_files_are_current():
    on_disk = sorted(p.name for p in FDL_DIR.glob("*.yaml"))
    assert on_disk == sorted(FILES), "fdl/generate.py FILES must name every FDL in fdl/ (and nothing else)"
    check = subprocess.run([sys.executable, str(FDL_DIR / "generate.py"), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    readme = (FDL_DIR / "README.md").read_text("utf-8")
    for f in GEN.FILES:  # the README's table states the same versions and clients
        row = next((ln for ln in readme.splitlines() if ln.startswith(f"| `{f.name}` ")), None)
        assert row, f"fdl/README.md has no row for {f.name}"
        assert f.oscar in row and all(c in row for c in f.clients), row


def test_the_generator_writes_what_oscar_4_1_takes():
    for f in GEN.FILES:
        if f.source is None:
            continue
        for (_, src), (_, out) in zip(_services(f.source), _services(f.name)):
            assert out["visibility"] == "private"
            if "expose" in src:
                assert out["expose"]["api_port"] == [src["expose"]["api_port"]]
            rest = {k: v for k, v in out.items() if k not in ("visibility", "expose")}
            assert rest == {k: v for k, v in src.items() if k != "expose"}


# ------------------------------------------------------------------------- OSCAR's field names


@pytest.mark.parametrize("name", sorted(FILES), ids=str)
def test_every_service_field_is_one_of_oscars(name):
    def known(keys, allowed, where):
        lower = {a.lower() for a in allowed}
        unknown = [k for k in keys if k.lower() not in lower]
        assert not unknown, f"{name} {where}: not in OSCAR's pkg/types/service.go: {unknown}"

    data = _fdl(name)
    assert set(data) <= {"functions", "storage_providers", "clusters"}, set(data)
    for cluster, svc in _services(name):
        where = svc.get("name", "?")
        known(svc, FIELDS["service"], where)
        assert not set(svc) & set(FIELDS["server_set"]), f"{name} {where}: sets a field OSCAR fills in"
        known(svc.get("expose") or {}, FIELDS["expose"], f"{where}.expose")
        known(svc.get("environment") or {}, FIELDS["environment"], f"{where}.environment")
        known(svc.get("synchronous") or {}, FIELDS["synchronous"], f"{where}.synchronous")
        for io in [*(svc.get("input") or []), *(svc.get("output") or []), *([svc["mount"]] if "mount" in svc else [])]:
            known(io, FIELDS["storage_io"], f"{where} input/output/mount")
        if "visibility" in svc:
            assert svc["visibility"] in FIELDS["visibility_values"]
        assert isinstance(svc["cpu"], str) and isinstance(svc["memory"], str)
        for env_key, values in (svc.get("environment") or {}).items():
            assert all(isinstance(v, str) for v in (values or {}).values()), f"{where}: map[string]string"


# --------------------------------------------------------------------------------- oscar-cli


@pytest.fixture(scope="module")
def oscarcli_decode(tmp_path_factory) -> Path:
    """tests/oscarcli_decode, built with the module versions its go.mod/go.sum pin."""
    go = shutil.which("go")
    assert go, "the Go toolchain is required (the machine image has it; scripts/setup.sh builds MinIO with it)"
    out = tmp_path_factory.mktemp("go") / "oscarcli_decode"
    build = subprocess.run([go, "build", "-o", str(out), "."], cwd=GO_PROGRAM, capture_output=True, text=True,
                           timeout=900)
    assert build.returncode == 0, build.stderr[-3000:]
    return out


def _cli_decode(binary: Path, name: str) -> list[dict]:
    proc = subprocess.run([str(binary), str(FDL_DIR / name)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


@pytest.mark.parametrize("name", sorted(FILES), ids=str)
def test_oscar_cli_decode_keeps_every_setting(oscarcli_decode, name):
    lines = _cli_decode(oscarcli_decode, name)
    if name in OSCAR_CLI_REFUSES:
        (line,) = lines
        assert line["error"] == "the FDL file is not valid, please check its definition"
        assert OSCAR_CLI_REFUSES[name] in line["cause"], line["cause"]
        assert GEN.OSCAR_CLI not in FILES[name].clients
        return
    assert all("error" not in line for line in lines), lines
    services = _services(name)
    assert [(line["cluster"], line["service"]["name"]) for line in lines] == [(c, s["name"]) for c, s in services]
    lost = set()
    for (_, svc), line in zip(services, lines):
        body = line["service"]
        lost |= _lost(svc, body, FDL_DIR)
        variables = svc.get("environment", {}).get("Variables")
        assert variables, f"{name} {svc['name']}: settings are written as environment.Variables"
        assert body["environment"]["Variables"] == variables  # every variable reaches OSCAR
        assert body["cluster_id"] == line["cluster"]
    if GEN.OSCAR_CLI in FILES[name].clients:
        assert lost == set(), f"oscar-cli drops {sorted(lost)} from {name}"
    else:
        assert lost == OSCAR_CLI_LOSSES[name], f"{name}: oscar-cli loses {sorted(lost)}"


def test_the_decoder_sees_what_oscar_cli_drops(oscarcli_decode, tmp_path):
    """The check can fail: a lower-case `variables` (OSCAR's own spelling since 3.4) is dropped."""
    data = _fdl("herbmorph-batch.yaml")
    svc = data["functions"]["oscar"][0]["oscar-cluster"]
    svc["environment"] = {"variables": svc["environment"]["Variables"]}
    shutil.copy(FDL_DIR / svc["script"], tmp_path / svc["script"])  # oscar-cli reads it beside the FDL
    bad = tmp_path / "lower.yaml"
    bad.write_text(yaml.safe_dump(data), "utf-8")
    proc = subprocess.run([str(oscarcli_decode), str(bad)], capture_output=True, text=True, timeout=60)
    (line,) = [json.loads(x) for x in proc.stdout.splitlines()]
    assert "error" not in line, line
    assert line["service"]["environment"]["Variables"] is None
    assert {".".join(p.split(".")[:2]) for p in _lost(svc, line["service"], tmp_path)} == {"environment.variables"}


# ------------------------------------------------------------------------------- oscar-python


class _Recorder(QuietHandler):
    posts: list = []



    def do_GET(self):  # create_service first asks whether the service exists
        self._reply(404, b"not found")

    def do_POST(self):
        self.posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self._reply(201)


@pytest.fixture()
def oscar_python():
    from oscar_python.client import Client

    _Recorder.posts = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Client({"cluster_id": "oscar-cluster", "endpoint": f"http://127.0.0.1:{server.server_address[1]}",
                      "user": "oscar", "password": "test-only", "ssl": False})
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("name", sorted(n for n, f in FILES.items() if GEN.OSCAR_PYTHON in f.clients), ids=str)
def test_oscar_python_posts_every_setting_and_oscar_decodes_the_variables(oscar_python, oscarcli_decode, name):
    services = [svc for _, svc in _services(name)]
    # the file as a whole: oscar-python 2.2 posts one entry per call, the last for its cluster id
    assert oscar_python.create_service(str(FDL_DIR / name)).status_code == 201
    assert [p["name"] for p in _Recorder.posts] == [services[-1]["name"]]
    # every entry as a dict, as fdl/README.md deploys a multi-service file
    _Recorder.posts.clear()
    for svc in services:
        one = dict(svc, script=(FDL_DIR / svc["script"]).read_text("utf-8"))
        assert oscar_python.create_service(one).status_code == 201
    assert len(_Recorder.posts) == len(services)
    for svc, body in zip(services, _Recorder.posts):
        assert _lost(svc, body, FDL_DIR) == set(), svc["name"]
    decoded = subprocess.run([str(oscarcli_decode), "-server"], input="".join(json.dumps(b) + "\n" for b in _Recorder.posts),
                             capture_output=True, text=True, timeout=60)
    assert decoded.returncode == 0, decoded.stderr
    for svc, line in zip(services, decoded.stdout.splitlines()):
        seen = json.loads(line)
        want = svc["environment"]["Variables"]
        assert seen["variables_v3_4"] == want, (svc["name"], seen)
        if FILES[name].source is None:  # the files for OSCAR < 4.1 also decode into OSCAR 3.3's types
            assert seen["variables_v3_3"] == want, (svc["name"], seen)
