"""How many workers fit, against real loopback HTTP servers: OSCAR's /system/status (through
oscar-python), the Kubernetes API (through the `kubernetes` client); and OSCAR job submission
with a manifest in a real MinIO, then one job's slice measured by the job side of the CLI."""
from __future__ import annotations

import argparse
import base64
import copy
import http.server
import io
import json
import os
import threading

import pytest
from test_batch_support import RESULT_SET, cli, objects, outcome_sets, sheet_bytes

from herbmorph.batch import capacity
from herbmorph.batch.oscar_jobs import indexed_job, oscar_client, plan_k8s, slices, submit
from herbmorph.batch.runner import BatchOptions, pool_size
from herbmorph.outputs import output_relpath

GiB = 1024 ** 3


def _node(name, cpu_m, used_m, mem, used_mem, *, status="Ready", interlink=False, requested_m=None, pressure=False):
    cpu = {"capacity_cores": cpu_m, "usage_cores": used_m}
    if requested_m is not None:
        cpu["request_cores"] = requested_m
    return {"name": name, "cpu": cpu, "memory": {"capacity_bytes": mem, "usage_bytes": used_mem}, "gpu": 0,
            "is_interlink": interlink, "status": status,
            "conditions": [{"type": "Ready", "status": status == "Ready"}, {"type": "MemoryPressure", "status": pressure}]}


# The current /system/status format (grycap/oscar pkg/types/status.go): millicores, bytes.
STATUS = {
    "cluster": {
        "nodes_count": 5,
        "metrics": {"cpu": {"total_free_cores": 21000, "max_free_on_node_cores": 14000},
                    "memory": {"total_free_bytes": 96 * GiB, "max_free_on_node_bytes": 56 * GiB},
                    "gpu": {"total_gpu": 0}},
        "nodes": [
            _node("wn-1", 8000, 1500, 31 * GiB, 6 * GiB),            # 6.5 cores, 25 GiB free
            _node("wn-2", 4000, 1000, 16 * GiB, 4 * GiB, requested_m=3500),  # requests leave 0.5 core
            _node("wn-3", 16000, 2000, 64 * GiB, 8 * GiB),           # 14 cores, 56 GiB free
            _node("wn-4", 16000, 0, 64 * GiB, 0, status="NotReady"),
            _node("vk-1", 64000, 0, 256 * GiB, 0, interlink=True),
            _node("wn-5", 8000, 0, 32 * GiB, 0, pressure=True),
        ],
    },
    "oscar": {"deployment_name": "oscar", "ready": True, "jobs_count": 3, "pods": {"total": 3, "states": {"Running": 3}}},
    "minio": {"buckets_count": 2, "total_objects": 17},
}
SERVICE = {"name": "herbmorph-batch", "cpu": "2.0", "memory": "3Gi", "enable_gpu": False, "token": "svc-token"}


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}
    posts: list = []

    def log_message(self, *args):
        pass

    def _send(self, code: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?")[0]
        if path in self.routes:
            self._send(200, self.routes[path])
        else:
            self._send(404, {"message": "not found"})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.posts.append((self.path, self.headers.get("Authorization"), body))
        self._send(201, {})  # what OSCAR's /job answers


@pytest.fixture()
def loopback():
    def start(routes: dict):
        handler = type("H", (_Handler,), {"routes": routes, "posts": []})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", handler

    servers: list = []
    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def test_local_formula():
    plan = capacity.local_workers(2 * GiB, cores=16, available=20 * GiB, total=24 * GiB)
    # margin max(1 GiB, 2.4 GiB); per worker 2 GiB x 1.2 = 2.4 GiB; (20 - 2.4) / 2.4 = 7.3 -> 7
    assert (plan.workers, plan.limited_by, plan.margin) == (7, "memory", int(2.4 * GiB))
    assert capacity.local_workers(1 * GiB, cores=2, available=20 * GiB, total=24 * GiB).workers == 2
    assert capacity.local_workers(8 * GiB, cores=8, available=4 * GiB, total=8 * GiB).workers == 1  # never 0
    # a running worker's own memory counts as usable for the pool it belongs to
    assert capacity.local_workers(GiB, own=GiB, cores=8, available=2 * GiB, total=8 * GiB).workers == 1
    assert capacity.local_workers(GiB, own=3 * GiB, cores=8, available=2 * GiB, total=8 * GiB).workers == 3
    assert 1 <= capacity.usable_cores() <= os.cpu_count()
    available, total = capacity.memory_status()
    assert 0 < available <= total
    # a pool only grows while the images left per worker outlast a worker's model load
    assert pool_size(8, waiting=2, image_s=1.0, setup_s=8.0) == 1
    assert pool_size(8, waiting=100, image_s=1.0, setup_s=8.0) == 8
    assert pool_size(8, waiting=30, image_s=1.0, setup_s=8.0) == 3


def test_oscar_status_through_oscar_python(loopback):
    url, _ = loopback({"/system/status": STATUS})
    client = oscar_client(url, "oscar", "test-only", ssl=False)
    plan = capacity.oscar_plan(client, "2.0", "3Gi")
    # wn-1: min(0.8*6500/2000, 0.8*25/3) = min(2.6, 6.7) -> 2; wn-2: 0.8*500/2000 -> 0;
    # wn-3: min(0.8*14000/2000, 0.8*56/3) = min(5.6, 14.9) -> 5; wn-4 NotReady, vk-1 interLink,
    # wn-5 under memory pressure: skipped.
    assert plan.per_node == {"wn-1": 2, "wn-2": 0, "wn-3": 5}
    assert plan.slots == 7 and set(plan.skipped) == {"wn-4", "vk-1", "wn-5"}
    # OSCAR Batch's cluster-wide division over-counts fragmented capacity: floor(0.8*21000/2000) = 8
    assert int(0.8 * STATUS["cluster"]["metrics"]["cpu"]["total_free_cores"] / 2000) == 8 > plan.slots
    # a GPU service fits only where there are GPUs
    assert capacity.oscar_plan(client, "2.0", "3Gi", gpu=1).slots == 0

    old = [{"nodeName": "n1", "cpuCapacity": "4000", "cpuUsage": "1000", "cpuPercentage": "25.00",
            "memoryCapacity": str(16 * GiB), "memoryUsage": str(4 * GiB), "memoryPercentage": "25.00"}]
    url_old, _ = loopback({"/system/status": old})
    assert capacity.oscar_plan(oscar_client(url_old, "oscar", "x", ssl=False), "1", "2Gi").slots == 2


def _k8s_routes():
    def node(name, cpu, mem, *, ready="True", labels=None, taints=None, unschedulable=None, gpu=None):
        alloc = {"cpu": cpu, "memory": mem, "pods": "110", **({"nvidia.com/gpu": gpu} if gpu else {})}
        return {"metadata": {"name": name, "labels": labels or {}},
                "spec": {"taints": taints or [], **({"unschedulable": True} if unschedulable else {})},
                "status": {"allocatable": alloc, "capacity": alloc, "conditions": [{"type": "Ready", "status": ready}]}}

    def pod(name, node_name, requests, phase="Running", init=None):
        spec = {"nodeName": node_name, "containers": [{"name": "c", "image": "x", "resources": {"requests": r}}
                                                      for r in requests]}
        if init:
            spec["initContainers"] = [{"name": "i", "image": "x", "resources": {"requests": init}}]
        return {"metadata": {"name": name, "namespace": "default"}, "spec": spec, "status": {"phase": phase}}

    nodes = {"kind": "NodeList", "apiVersion": "v1", "metadata": {}, "items": [
        node("cp", "4", "16Gi", labels={"node-role.kubernetes.io/control-plane": ""}),
        node("w1", "7910m", "31941036Ki"),
        node("w2", "16", "64Gi", gpu="1"),
        node("w3", "16", "64Gi", ready="False"),
        node("w4", "16", "64Gi", taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]),
        node("w5", "16", "64Gi", unschedulable=True),
    ]}
    pods = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [
        pod("a", "w1", [{"cpu": "1500m", "memory": "2Gi"}, {"cpu": "500m", "memory": "1Gi"}]),
        pod("b", "w2", [{"cpu": "2", "memory": "4Gi"}], init={"cpu": "6", "memory": "1Gi"}),
        pod("done", "w1", [{"cpu": "4", "memory": "16Gi"}], phase="Succeeded"),
        pod("pending", None, [{"cpu": "4", "memory": "16Gi"}], phase="Pending"),
    ]}
    return {"/api/v1/nodes": nodes, "/api/v1/pods": pods}


def test_kubernetes_allocatable_through_the_kubernetes_client(loopback, tmp_path):
    from kubernetes import client

    url, _ = loopback(_k8s_routes())
    cfg = client.Configuration()
    cfg.host = url
    core = client.CoreV1Api(client.ApiClient(cfg))
    plan = capacity.k8s_plan(core, "2", "4Gi")
    # w1: 7910m - 2000m = 5910m -> floor(0.8*5910/2000) = 2; memory 31941036Ki - 3Gi ~ 27.5 GiB -> 5: 2
    # w2: the init container's 6 cores count (larger than the app's 2): 10 cores -> 4; 60 GiB -> 12: 4
    assert plan.per_node == {"w1": 2, "w2": 4}
    assert set(plan.skipped) == {"cp", "w3", "w4", "w5"} and plan.slots == 6
    assert capacity.k8s_plan(core, "2", "4Gi", gpu=1).per_node == {"w1": 0, "w2": 1}

    args = argparse.Namespace(job_cpu="2", job_memory="4Gi", emit_job=tmp_path / "job.yaml", image="reg/herbmorph:1")
    opts = BatchOptions(source="s3://herbarium/in", dest="s3://herbarium/results")
    text = plan_k8s(opts, args, core_v1=core)
    assert "6 parallel job(s)" in text
    import kubernetes_validate
    import yaml

    job = yaml.safe_load((tmp_path / "job.yaml").read_text("utf-8"))
    assert job == indexed_job(6, opts, "reg/herbmorph:1", "2", "4Gi")
    kubernetes_validate.validate(job, "1.37.0", strict=True)
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][-2] == "$(JOB_COMPLETION_INDEX)/6"


def test_slices_cover_the_manifest():
    assert slices(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert slices(2, 7) == [(0, 1), (1, 2)]
    assert slices(5, 0) == [(0, 5)]


def test_oscar_submission_and_one_slice_job(loopback, minio_server, tmp_path, monkeypatch):
    client = minio_server.client()
    client.make_bucket("herbarium")
    keys = [f"in/box {i // 3}/sheet {i}.jpg" for i in range(5)]
    for i, key in enumerate(keys):
        data = sheet_bytes(i, sample=1)
        client.put_object("herbarium", key, io.BytesIO(data), len(data))
    status = copy.deepcopy(STATUS)
    status["cluster"]["nodes"] = [_node("wn-1", 4000, 0, 16 * GiB, 0)]  # 0.8*4000/2000 -> 1... x memory
    status["cluster"]["nodes"][0]["cpu"]["capacity_cores"] = 6000  # -> floor(2.4) = 2 jobs
    url, handler = loopback({"/system/status": status, "/system/services/herbmorph-batch": SERVICE})
    for k, v in minio_server.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("OSCAR_PASSWORD", "test-only")
    args = argparse.Namespace(oscar=url, oscar_user="oscar", oscar_password_env="OSCAR_PASSWORD",
                              oscar_insecure=True, service="herbmorph-batch", manifest=None)
    opts = BatchOptions(source="s3://herbarium/in", dest="s3://herbarium/results", journal=tmp_path / "j.sqlite")
    out = submit(opts, args)
    assert (out["images"], [(j["start"], j["end"], j["status"]) for j in out["jobs"]]) == (5, [(0, 3, 201), (3, 5, 201)])
    manifest_key = out["manifest"][len("s3://herbarium/"):]
    assert manifest_key.startswith("batch/manifest-") and manifest_key.endswith(".jsonl")
    lines = [json.loads(x) for x in client.get_object("herbarium", manifest_key).read().decode().splitlines()]
    assert sorted(x["key"] for x in lines) == sorted(keys)
    bodies = []
    for path, auth, raw in handler.posts:
        assert path == "/job/herbmorph-batch" and auth == "Bearer svc-token"
        bodies.append(json.loads(base64.b64decode(raw)))  # oscar-python base64-encodes the input
    assert [(b["start"], b["end"]) for b in bodies] == [(0, 3), (3, 5)]
    assert all(b["manifest"] == out["manifest"] and b["out"] == "s3://herbarium/results" for b in bodies)

    # the job side: what fdl/herbmorph-batch.sh runs with the body OSCAR's supervisor saved
    event = tmp_path / "event-file-1234"
    event.write_text(json.dumps(bodies[1]), "utf-8")
    job = cli(["batch", "--slice", str(event), "--workers", "1", "--no-progress"], minio_server.env())
    assert job.returncode == 0, job.stdout + job.stderr
    done = outcome_sets(objects(client, "herbarium", "results/"))
    assert done == {output_relpath(x["key"], "in"): RESULT_SET for x in lines[3:5]}
