"""How many workers fit: on this machine, on an OSCAR cluster, or on a Kubernetes cluster.

All three use the same rule: a worker is a unit of ``cpu`` cores and ``memory`` bytes, and only
a share of the free capacity is used, so the cluster (or the machine) keeps room for everything
else. The formulas (also in the README):

local       ``workers = max(1, min(cores, floor((available + own - margin) / footprint)))``
            ``cores``: CPUs this process may use (affinity, cgroup ``cpu.max``); ``available``:
            MemAvailable (or the cgroup's ``memory.max - memory.current``) measured while the
            first worker runs; ``own``: that worker's resident memory (already counted as used);
            ``footprint``: the first worker's *peak* RSS after its first image, x1.2;
            ``margin``: max(1 GiB, 10 % of memory) for the coordinator and the OS.
OSCAR/k8s   ``N = sum over schedulable nodes of min(floor(s * free_cpu / cpu), floor(s * free_mem / mem))``
            with ``s = 0.8`` (the safety share OSCAR Batch uses), ``free = allocatable - max(requested,
            used)``. Per node, not cluster-wide: a job cannot straddle two nodes, so the cluster-wide
            division OSCAR Batch does over-counts whenever free capacity is fragmented.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

from herbmorph.quantities import parse_memory, parse_millicores

GiB = 1024 ** 3
SAFETY_SHARE = 0.8
FOOTPRINT_HEADROOM = 1.2  # a larger sheet later in the run needs more than the first one did


# ------------------------------------------------------------------------------------- local


def _read(path: str) -> Optional[str]:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def usable_cores() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    quota = _read("/sys/fs/cgroup/cpu.max")  # "max 100000" or "200000 100000"
    if quota and not quota.startswith("max"):
        q, period = (int(x) for x in quota.split()[:2])
        cores = min(cores, max(1, q // period))
    return max(1, cores)


def memory_status() -> tuple[int, int]:
    """(available, total) bytes: /proc/meminfo, tightened by a cgroup v2 limit when there is one."""
    info = {}
    for line in (_read("/proc/meminfo") or "").splitlines():
        name, _, rest = line.partition(":")
        info[name] = int(rest.split()[0]) * 1024 if rest.split() else 0
    total = info.get("MemTotal", 0)
    available = info.get("MemAvailable", info.get("MemFree", 0))
    limit, used = _read("/sys/fs/cgroup/memory.max"), _read("/sys/fs/cgroup/memory.current")
    if limit and limit != "max" and used:
        total = min(total, int(limit)) if total else int(limit)
        available = min(available, int(limit) - int(used))
    return max(0, available), total


@dataclass
class LocalPlan:
    workers: int
    cores: int
    available: int
    total: int
    footprint: int
    margin: int
    limited_by: str

    def explain(self) -> str:
        return (f"{self.workers} worker(s): cores={self.cores}, memory: (available {self.available / GiB:.1f} GiB "
                f"- margin {self.margin / GiB:.1f} GiB) / footprint {self.footprint / GiB:.2f} GiB "
                f"[{self.limited_by}]")


def local_workers(footprint: int, *, own: int = 0, cores: Optional[int] = None,
                  available: Optional[int] = None, total: Optional[int] = None) -> LocalPlan:
    """Workers that fit on this machine, given one worker's measured peak RSS (``footprint``).

    ``own`` is the resident memory of workers already running (counted in ``available`` as used).
    """
    cores = cores or usable_cores()
    if available is None or total is None:
        avail_now, total_now = memory_status()
        available = avail_now if available is None else available
        total = total_now if total is None else total
    margin = max(GiB, int(0.1 * total))
    per = max(1, int(footprint * FOOTPRINT_HEADROOM))
    by_memory = (available + own - margin) // per
    workers = max(1, min(cores, by_memory))
    limited = "cores" if cores <= by_memory else "memory"
    return LocalPlan(workers, cores, available, total, per, margin, limited)


# ---------------------------------------------------------------------------- cluster nodes


@dataclass
class NodeFree:
    name: str
    cpu_m: int  # free millicores
    memory: int  # free bytes
    gpu: int = 0


@dataclass
class ClusterPlan:
    slots: int
    per_node: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def explain(self) -> str:
        parts = ", ".join(f"{n}={k}" for n, k in self.per_node.items()) or "none"
        skipped = "; ".join(f"{n}: {why}" for n, why in self.skipped.items())
        return f"{self.slots} parallel job(s) ({parts})" + (f"; skipped {skipped}" if skipped else "")


def slots_on_nodes(nodes: Iterable[NodeFree], cpu_m: int, memory: int, *, gpu: int = 0,
                   share: float = SAFETY_SHARE, skipped: Optional[dict] = None) -> ClusterPlan:
    """The per-node formula of the module docstring. ``cpu_m``/``memory``: one job's request."""
    if cpu_m <= 0 or memory <= 0:
        raise ValueError("a job needs a positive cpu and memory request")
    plan = ClusterPlan(0, skipped=dict(skipped or {}))
    for node in nodes:
        fit = min(math.floor(share * max(0, node.cpu_m) / cpu_m), math.floor(share * max(0, node.memory) / memory))
        if gpu:
            fit = min(fit, node.gpu // gpu)
        plan.per_node[node.name] = max(0, fit)
        plan.slots += max(0, fit)
    return plan


# ------------------------------------------------------------------------------------- OSCAR


def oscar_nodes(status: Any) -> tuple[list[NodeFree], dict[str, str]]:
    """Free capacity per node from OSCAR's ``/system/status``.

    Current format (OSCAR >= 3.6, ``pkg/types/status.go``): ``{"cluster": {"nodes": [{"name",
    "cpu": {"capacity_cores", "usage_cores", "request_cores"?}, "memory": {"capacity_bytes",
    "usage_bytes", "request_bytes"?}, "gpu", "is_interlink", "status", "conditions"}]}}``.
    Despite the names, the ``*_cores`` values are **millicores** (``Allocatable.Cpu().MilliValue()``)
    and ``capacity_*`` is the node's *allocatable*; control-plane nodes are already left out.
    The old format (a list of ``{"nodeName", "cpuCapacity", "cpuUsage", "memoryCapacity",
    "memoryUsage"}`` strings, what OSCAR Batch reads) is still understood.
    """
    nodes, skipped = [], {}
    if isinstance(status, list):  # the old format
        for n in status:
            cpu = int(float(n.get("cpuCapacity", 0))) - int(float(n.get("cpuUsage", 0)))
            mem = int(float(n.get("memoryCapacity", 0))) - int(float(n.get("memoryUsage", 0)))
            nodes.append(NodeFree(str(n.get("nodeName")), cpu, mem))
        return nodes, skipped
    for n in ((status or {}).get("cluster") or {}).get("nodes") or []:
        name = str(n.get("name"))
        conditions = {c.get("type"): c.get("status") for c in n.get("conditions") or []}
        if n.get("status") != "Ready":
            skipped[name] = f"status {n.get('status')!r}"
            continue
        pressure = [t for t in ("MemoryPressure", "DiskPressure", "PIDPressure") if conditions.get(t)]
        if pressure:
            skipped[name] = ", ".join(pressure)
            continue
        if n.get("is_interlink"):
            skipped[name] = "interLink virtual node (offloads elsewhere; its capacity is not ours)"
            continue
        cpu, mem = n.get("cpu") or {}, n.get("memory") or {}
        used_cpu = max(int(cpu.get("usage_cores") or 0), int(cpu.get("request_cores") or 0))
        used_mem = max(int(mem.get("usage_bytes") or 0), int(mem.get("request_bytes") or 0))
        nodes.append(NodeFree(name, int(cpu.get("capacity_cores") or 0) - used_cpu,
                              int(mem.get("capacity_bytes") or 0) - used_mem, int(n.get("gpu") or 0)))
    return nodes, skipped


def oscar_plan(client, cpu: Any, memory: Any, *, gpu: int = 0, share: float = SAFETY_SHARE) -> ClusterPlan:
    """Parallel jobs for a service of ``cpu`` cores and ``memory`` (e.g. ``'2'``, ``'4Gi'``),
    from an ``oscar_python.client.Client``'s ``get_cluster_status()``."""
    response = client.get_cluster_status()
    nodes, skipped = oscar_nodes(response.json())
    return slots_on_nodes(nodes, parse_millicores(cpu), parse_memory(memory), gpu=gpu, share=share, skipped=skipped)


# -------------------------------------------------------------------------------- Kubernetes

_TERMINAL_PHASES = ("Succeeded", "Failed")


def _pod_requests(pod) -> tuple[int, int, int]:
    """(millicores, bytes, gpus) a pod holds on its node: the sum of its containers' requests,
    or its largest init container's when that is larger (the scheduler's rule)."""
    def total(containers):
        cpu = mem = gpu = 0
        for c in containers or []:
            req = (c.resources.requests if c.resources else None) or {}
            cpu += parse_millicores(req["cpu"]) if "cpu" in req else 0
            mem += parse_memory(req["memory"]) if "memory" in req else 0
            gpu += int(parse_memory(req["nvidia.com/gpu"])) if "nvidia.com/gpu" in req else 0
        return cpu, mem, gpu

    main = total(pod.spec.containers)
    inits = [total([c]) for c in pod.spec.init_containers or []]
    return tuple(max([main[i]] + [x[i] for x in inits]) for i in range(3))


def k8s_nodes(core_v1) -> tuple[list[NodeFree], dict[str, str]]:
    """Free capacity per node: ``status.allocatable`` minus the requests of the pods bound there."""
    nodes, skipped = {}, {}
    for node in core_v1.list_node().items:
        name = node.metadata.name
        labels = node.metadata.labels or {}
        conditions = {c.type: c.status for c in (node.status.conditions or [])}
        taints = [t for t in (node.spec.taints or []) if t.effect in ("NoSchedule", "NoExecute")]
        if node.spec.unschedulable:
            skipped[name] = "cordoned"
        elif conditions.get("Ready") != "True":
            skipped[name] = "not Ready"
        elif "node-role.kubernetes.io/control-plane" in labels or "node-role.kubernetes.io/master" in labels:
            skipped[name] = "control plane"
        elif taints:
            skipped[name] = "tainted " + ",".join(t.key for t in taints)
        else:
            alloc = node.status.allocatable or {}
            nodes[name] = NodeFree(name, parse_millicores(alloc.get("cpu", "0")), parse_memory(alloc.get("memory", "0")),
                                   int(parse_memory(alloc.get("nvidia.com/gpu", "0"))))
    for pod in core_v1.list_pod_for_all_namespaces().items:
        node = nodes.get(pod.spec.node_name or "")
        if node is None or (pod.status and pod.status.phase in _TERMINAL_PHASES):
            continue
        cpu, mem, gpu = _pod_requests(pod)
        node.cpu_m, node.memory, node.gpu = node.cpu_m - cpu, node.memory - mem, node.gpu - gpu
    return list(nodes.values()), skipped


def k8s_plan(core_v1, cpu: Any, memory: Any, *, gpu: int = 0, share: float = SAFETY_SHARE) -> ClusterPlan:
    nodes, skipped = k8s_nodes(core_v1)
    return slots_on_nodes(nodes, parse_millicores(cpu), parse_memory(memory), gpu=gpu, share=share, skipped=skipped)
