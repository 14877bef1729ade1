#!/usr/bin/env python3
"""How close kbmc gets to the limit, measured in one run on a bed of its own (real API servers).

    python bench/run.py [--clusters N] [--json PATH]

Figures (all from this one run; ratios are what to compare across machines):
- convergence_ratio: N Clusters x 3 replicas over 3 data planes, apply -> all Running, against a floor script
  that writes exactly the same objects directly with the same client and concurrency (8 Clusters at a time,
  data planes in parallel), until all its pods are Ready.
- writes_per_cluster / objects_per_cluster: data-plane writes by kbmc (from the API servers' audit logs)
  against the objects that exist; status_writes_per_cluster: control-plane writes (annotations, status).
- resync_writes: data-plane writes during a full resync of the converged Clusters (goal 0).
- reaction_p50_s / reaction_p95_s: a pod deleted out-of-band in a data plane -> the repaired pod exists.
- incident_mark_s: mark one data plane unavailable -> every affected Cluster has its condition.
- isolation_ratio: convergence of 150 Clusters (or N, if fewer) placed on k8s-1,k8s-2 while k8s-3 is frozen,
  against the same with nothing frozen: the median of 3 rounds (isolation_spread: each round's).
- kbmc_refused_requests / floor_refused_requests: requests of each side the data planes answered 429 or 5xx
  during its convergence (from the audit logs), each asked again: how often it had to wait (at a thousand
  Clusters the token controller lags behind the ServiceAccounts made at once).
- peak_rss_mb: the operator's peak resident memory (VmHWM) with the N Clusters (its first run and its restart);
  peak_rss_end_mb: the standby's, which leads from the failover on, by the end (clusters_at_end, with those of
  the rolling change and the isolation rounds).
- kbmc_cpu_ms_per_cluster: the operator's CPU time during the convergence, per Cluster.
- restart_s / restart_writes: the operator restarted with every Cluster converged, until it has passed over
  each Cluster once (its caches synced) and its queue is empty (its metrics), and the data-plane writes it made
  meanwhile (goal 0).
- failover_s: with a standby operator running, the leader killed (SIGKILL: its Lease is not released) and a
  pod deleted meanwhile, until the standby holds the Lease and has repaired the pod (goal: the lease duration,
  15 s, + 10).
- rollout_ratio: a rolling change (the containers' resources) of 100 Clusters (or all, if fewer) under
  Serial, until each has replaced its pods, against a floor that replaces the floor's copies of the same pods
  directly, one at a time per Cluster (delete, gone, create the changed pod, Ready), 8 Clusters at a time.
- settle_s: before each timed phase after the first, seconds waited for the bed and the operator to be quiet
  (on two cores, work left over from the previous phase would be timed too).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kbmc.core.build import KIND_ORDER  # noqa: E402
from kbmc.dev import toolchain  # noqa: E402
from kbmc.dev.bed import Bed, free_base_port, free_port  # noqa: E402
from kbmc.dev.sandbox import OPT_OUT  # noqa: E402
from kbmc.errors import ApiError, ConflictError, NotFoundError, ServerError, TooManyRequestsError  # noqa: E402
from kbmc.kube import rest  # noqa: E402
from kbmc.kube.client import new_client  # noqa: E402
from kbmc.kube.planes import MANAGED_KINDS  # noqa: E402
from kbmc.ops import install  # noqa: E402
from kbmc.settings import Timeouts  # noqa: E402

PLANES = ("k8s-1", "k8s-2", "k8s-3")
CONCURRENCY = 8
ROLLOUT = 100
"""Clusters in the rolling change."""
ISOLATION, ISOLATION_ROUNDS = 150, 3
"""Clusters converged with nothing frozen, then with k8s-3 frozen, in each round (N/4 at N=300 was too few for a
stable figure)."""
ROLL_DEFINITION = "etcd-reported-0.9.0"
"""kbmc's etcd addon without its lifecycle actions, for the rolling change: the bench's pods are only reported
Running (no process answers a roleProbe), and a member with a roleProbe is replaced only once it has a role."""
ROLLED = {"limits": {"cpu": "200m", "memory": "100M"}, "requests": {"cpu": "100m", "memory": "100M"}}
"""The rolling change: the etcd container's resources."""
NODE_PORTS = "--service-node-port-range=10000-32767"
"""Each LoadBalancer peer Service holds 3 node ports (2 ports and its health check: externalTrafficPolicy Local);
at a thousand Clusters k8s-1 ends with about 3,700 Services of kbmc and the floor (the N Clusters, the rolling
change's and the isolation rounds', and the floor's copies): 11,000 node ports, four times the default range's
2,768. Nothing binds them in the bed."""
Obj = dict[str, Any]


def cluster(name: str, namespace: str, placement: str, definition: str = "etcd-0.9.0") -> Obj:
    return {
        "apiVersion": "apps.kubeblocks.io/v1alpha1", "kind": "Cluster",
        "metadata": {"name": name, "namespace": namespace,
                     "annotations": {"apps.kubeblocks.io/multi-cluster-placement": placement}},
        "spec": {"terminationPolicy": "Delete", "componentSpecs": [{
            "name": "etcd", "componentDef": definition, "replicas": 3, "annotations": {OPT_OUT: "false"},
            "volumeClaimTemplates": [{"name": "data", "spec": {"accessModes": ["ReadWriteOnce"],
                                                               "resources": {"requests": {"storage": "1Gi"}}}}],
            "services": [{"name": "peer", "serviceType": "LoadBalancer", "podService": True,
                          "annotations": {"apps.kubeblocks.io/multi-cluster-service-placement": "unique"}}]}]},
    }


class Bench:
    def __init__(self, bed: Bed) -> None:
        self.bed = bed
        self.api = {c.name: new_client(bed.kubeconfig, c.name, agent="bench/1", timeouts=Timeouts(2, 30))
                    for c in bed.load().clusters}
        self.control = self.api["control"]
        self.operator: subprocess.Popen[bytes] | None = None
        self.metrics_port = free_port()

    # -- helpers ---------------------------------------------------------------------------------------

    def audit_offsets(self) -> dict[str, int]:
        return {p: (self.bed.directory / p / "audit.log").stat().st_size for p in ("control", *PLANES)}

    def kbmc_writes(self, since: dict[str, int], planes: Iterable[str] = PLANES, operator_only: bool = False
                    ) -> int:
        return sum(self.write_breakdown(since, planes, operator_only).values())

    def audit(self, since: dict[str, int], planes: Iterable[str] = PLANES) -> Iterator[Obj]:
        """The API servers' audit events since ``since`` (after their last batch is written)."""
        time.sleep(1.0)  # audit batches
        for plane in planes:
            with (self.bed.directory / plane / "audit.log").open("rb") as fh:
                fh.seek(since[plane])
                yield from (json.loads(line) for line in fh)

    def write_breakdown(self, since: dict[str, int], planes: Iterable[str] = PLANES, operator_only: bool = False
                        ) -> dict[str, int]:
        """Writes by kbmc since ``since``, from the audit logs, by verb and resource."""
        count: dict[str, int] = {}
        for event in self.audit(since, planes):
            agent = event.get("userAgent", "")
            ours = "dataplane=" in agent if not operator_only else "(operator" in agent
            if ours and event["verb"] in ("create", "update", "patch", "delete"):
                ref = event.get("objectRef") or {}
                what = f"{event['verb']} {ref.get('resource', '?')}" + (
                    f"/{ref['subresource']}" if ref.get("subresource") else "")
                count[what] = count.get(what, 0) + 1
        return count

    def refused(self, since: dict[str, int], ours: Callable[[str], bool]) -> dict[str, int]:
        """Requests since ``since`` by the user agent ``ours`` accepts that the data planes' API servers answered
        429 or 5xx (shed load; a ServiceAccount whose token the token controller has not made yet), by code, verb,
        resource and the server's message (digits as #), from the audit logs: how often that side had to wait and
        ask again, and why."""
        count: dict[str, int] = {}
        for event in self.audit(since):
            status = event.get("responseStatus") or {}
            code = status.get("code", 200)
            if ours(event.get("userAgent", "")) and (code == 429 or code >= 500):
                why = re.sub(r"\d+", "#", status.get("message", ""))[:120]
                what = f"{code} {event['verb']} {(event.get('objectRef') or {}).get('resource', '?')}: {why}"
                count[what] = count.get(what, 0) + 1
        return count

    def wait_clusters(self, namespace: str, count: int, done: Callable[[Obj], bool], timeout: float = 1800) -> float:
        """Seconds until ``count`` Clusters of ``namespace`` satisfy ``done`` (watch, not polling)."""
        started = time.monotonic()
        listed = rest.call(self.control, "GET", rest.path("Cluster", namespace))
        state = {c["metadata"]["name"]: c for c in listed["items"]}
        if sum(done(c) for c in state.values()) >= count:
            return time.monotonic() - started
        version = listed["metadata"]["resourceVersion"]
        while time.monotonic() - started < timeout:
            response = rest.request(self.control, "GET", rest.path("Cluster", namespace), stream=True,
                                    timeout=(2, 70), query={"watch": "true", "resourceVersion": version,
                                                            "timeoutSeconds": 60})
            for event in rest.events(response):
                obj = event["object"]
                version = obj["metadata"]["resourceVersion"]
                if event["type"] == "DELETED":
                    state.pop(obj["metadata"]["name"], None)
                else:
                    state[obj["metadata"]["name"]] = obj
                if sum(done(c) for c in state.values()) >= count:
                    rest.drop(response)
                    return time.monotonic() - started
        raise TimeoutError(f"{namespace}: fewer than {count} Clusters done after {timeout} s")

    def namespace(self, name: str) -> None:
        with contextlib.suppress(ConflictError):
            rest.call(self.control, "POST", rest.path("Namespace"), body={"metadata": {"name": name}})

    # -- phases ----------------------------------------------------------------------------------------

    def install(self) -> None:
        self.namespace("kb-system")
        rest.call(self.control, "POST", rest.path("Secret", "kb-system"), body={
            "metadata": {"name": "kbmc-dataplanes"},
            "data": {"kubeconfig": base64.b64encode(self.bed.kubeconfig.read_bytes()).decode()}})
        install.install(self.control, install.Options("kbmc-dataplanes", list(PLANES), local=True), lambda _: None)
        definition = yaml.safe_load((ROOT / "addons/etcd/componentdefinition.yaml").read_text())
        definition["metadata"]["name"] = ROLL_DEFINITION
        del definition["spec"]["lifecycleActions"]
        rest.call(self.control, "POST", rest.path("ComponentDefinition"), body=definition)
        self.start_operator()
        time.sleep(3)

    def start_operator(self) -> None:
        with (self.bed.directory / "operator.log").open("ab") as log:
            self.operator = subprocess.Popen([
                sys.executable, "-m", "kbmc", "operator", "run", "--kubeconfig", str(self.bed.kubeconfig),
                "--context", "control", "--probe-interval", "2", "--metrics-port", str(self.metrics_port)],
                stdout=log, stderr=subprocess.STDOUT)

    def metrics(self) -> dict[str, float]:
        """The operator's Prometheus samples (name with labels -> value); empty while it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2) as answer:
                text = answer.read().decode()
        except OSError:
            return {}
        return {name: float(value) for name, _, value in (line.rpartition(" ") for line in text.splitlines()
                                                          if line and not line.startswith("#"))}

    def restart(self, count: int) -> float:
        """Seconds from the operator's restart (every Cluster converged) until it has passed over each of the
        ``count`` Clusters once (its caches synced) and its queue is empty."""
        self.stop()
        started = time.monotonic()
        self.start_operator()
        while time.monotonic() - started < 600:
            samples = self.metrics()
            passes = sum(v for k, v in samples.items() if k.startswith("kbmc_reconciles_total{"))
            if passes >= count and samples.get("kbmc_workqueue_depth") == 0:
                return time.monotonic() - started
            time.sleep(0.2)
        raise TimeoutError(f"the restarted operator did not pass over {count} Clusters within 600 s")

    def create(self, namespace: str, count: int, placement: str, definition: str) -> None:
        self.namespace(namespace)
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(lambda i: rest.call(self.control, "POST", rest.path("Cluster", namespace),
                                              body=cluster(f"c{i:04d}", namespace, placement, definition)),
                          range(count)))

    def converge(self, namespace: str, count: int, placement: str = ",".join(PLANES),
                 definition: str = "etcd-0.9.0") -> float:
        started = time.monotonic()
        self.create(namespace, count, placement, definition)
        self.wait_clusters(namespace, count, running)
        return time.monotonic() - started

    def objects(self, namespace: str) -> dict[str, list[Obj]]:
        out: dict[str, list[Obj]] = {}
        for plane in PLANES:
            out[plane] = []
            for kind in MANAGED_KINDS:
                items = rest.call(self.api[plane], "GET", rest.path(kind, namespace),
                                  query={"labelSelector": "app.kubernetes.io/managed-by=kbmc"})["items"]
                out[plane].extend({**i, "kind": kind} for i in items)
        return out

    def floor(self, source: dict[str, list[Obj]], namespace: str) -> float:
        """Write the same objects directly, same client and concurrency, until the pods are Ready."""
        by_cluster: dict[str, dict[str, list[Obj]]] = {}
        order = {kind: index for index, kind in enumerate(KIND_ORDER)}
        for plane, items in source.items():
            for obj in items:
                instance = obj["metadata"]["labels"]["app.kubernetes.io/instance"]
                by_cluster.setdefault(instance, {}).setdefault(plane, []).append(copied(obj, namespace))
        for plane in PLANES:
            rest.call(self.api[plane], "POST", rest.path("Namespace"), body={"metadata": {"name": namespace}})
        pods = sum(1 for items in source.values() for o in items if o["kind"] == "Pod")
        ready = threading.Event()
        counter = _ReadyPods(self, namespace, pods, ready)
        started = time.monotonic()
        counter.start()

        def write(plane: str, obj: Obj) -> None:
            """One object, asked again while the server refuses it for now (429, 5xx: at a thousand Clusters
            the token controller lags behind the ServiceAccounts, and a pod's is not there yet), as kbmc's
            queue asks again; for two minutes at most."""
            deadline = time.monotonic() + 120
            while True:
                try:
                    rest.call(self.api[plane], "POST", rest.path(obj["kind"], namespace), body=obj)
                    return
                except (ServerError, TooManyRequestsError):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(1)

        def write_cluster(planes: dict[str, list[Obj]]) -> None:
            def write_plane(item: tuple[str, list[Obj]]) -> None:
                plane, objs = item
                for obj in sorted(objs, key=lambda o: order[o["kind"]]):
                    write(plane, obj)
            with ThreadPoolExecutor(len(planes)) as inner:
                list(inner.map(write_plane, planes.items()))

        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(write_cluster, by_cluster.values()))
        if not ready.wait(1800):
            raise TimeoutError(f"{namespace}: {len(counter.ready)} of the floor's {pods} pods Ready after 1800 s")
        return time.monotonic() - started

    def failover(self) -> float:
        """Seconds from the leader's SIGKILL (a standby running) until the standby holds the Lease and has
        repaired a pod deleted meanwhile in k8s-2 (the change it had not seen)."""
        leader = self.operator
        assert leader is not None
        self.metrics_port = free_port()
        self.start_operator()  # the standby
        deadline = time.monotonic() + 120
        while self.metrics().get("kbmc_leader") != 0:
            if time.monotonic() > deadline:
                raise TimeoutError("the standby operator did not start within 120 s")
            time.sleep(0.2)
        leader.kill()
        leader.wait()
        started = time.monotonic()
        api, name = self.api["k8s-2"], "c0000-etcd-1"
        old = rest.call(api, "GET", rest.path("Pod", "bench", name))["metadata"]["uid"]
        rest.call(api, "DELETE", rest.path("Pod", "bench", name), body={"gracePeriodSeconds": 0})
        while time.monotonic() - started < 300:
            with contextlib.suppress(ApiError):
                repaired = rest.call(api, "GET", rest.path("Pod", "bench", name))["metadata"]["uid"] != old
                if repaired and self.metrics().get("kbmc_leader") == 1:
                    return time.monotonic() - started
            time.sleep(0.1)
        raise TimeoutError("the standby did not take over and repair the pod within 300 s")

    def rollout(self, namespace: str, count: int) -> float:
        """A rolling change of the ``count`` Clusters of ``namespace`` (their containers' resources, under
        updateStrategy Serial): seconds until each has replaced its pods, one at a time, each Ready first."""
        patch = [{"op": "add", "path": "/spec/componentSpecs/0/resources", "value": ROLLED},
                 {"op": "add", "path": "/spec/componentSpecs/0/updateStrategy", "value": "Serial"}]
        started = time.monotonic()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(lambda i: rest.call(self.control, "PATCH", rest.path("Cluster", namespace, f"c{i:04d}"),
                                              body=patch, content_type="application/json-patch+json"),
                          range(count)))
        self.wait_clusters(namespace, count, lambda c: running(c) and not any(
            x["type"] == "Updated" and x["status"] == "False" for x in (c.get("status") or {}).get("conditions")
            or []))
        return time.monotonic() - started

    def rollout_floor(self, source: dict[str, list[Obj]], namespace: str) -> float:
        """The floor of ``rollout``: the floor's copies (in ``namespace``) of the same pods replaced directly with
        the same change, one at a time per Cluster (delete, gone, create, Ready), ``CONCURRENCY`` Clusters at a
        time."""
        pods: dict[str, list[tuple[str, Obj]]] = {}
        for plane, items in source.items():
            for obj in items:
                instance = obj["metadata"]["labels"]["app.kubernetes.io/instance"]
                if obj["kind"] == "Pod":
                    pod = copied(obj, namespace)
                    for container in pod["spec"]["containers"]:
                        if container["name"] == "etcd":
                            container["resources"] = ROLLED
                    pods.setdefault(instance, []).append((plane, pod))

        def replace(plane: str, pod: Obj) -> None:
            api, name = self.api[plane], pod["metadata"]["name"]
            rest.call(api, "DELETE", rest.path("Pod", namespace, name))
            while True:
                try:
                    rest.call(api, "GET", rest.path("Pod", namespace, name))
                except NotFoundError:
                    break
                time.sleep(0.05)
            rest.call(api, "POST", rest.path("Pod", namespace), body=pod)
            while not running_pod(rest.call(api, "GET", rest.path("Pod", namespace, name))):
                time.sleep(0.05)

        def replace_all(members: list[tuple[str, Obj]]) -> None:
            for plane, pod in sorted(members, key=lambda m: m[1]["metadata"]["name"]):
                replace(plane, pod)

        started = time.monotonic()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(replace_all, pods.values()))
        return time.monotonic() - started

    def resync(self) -> int:
        since = self.audit_offsets()
        rest.call(self.control, "PATCH", rest.path("DataPlane", name="k8s-1"), content_type=rest.MERGE_PATCH,
                  body={"metadata": {"labels": {"bench/resync": str(time.time_ns())}}})
        time.sleep(10)
        return self.kbmc_writes(since)

    def reaction(self, namespace: str, samples: int) -> list[float]:
        times = []
        api = self.api["k8s-2"]
        for index in range(samples):
            name = f"c{index:04d}-etcd-1"
            old = rest.call(api, "GET", rest.path("Pod", namespace, name))["metadata"]["uid"]
            started = time.monotonic()
            rest.call(api, "DELETE", rest.path("Pod", namespace, name), body={"gracePeriodSeconds": 0})
            while True:
                try:
                    pod = rest.call(api, "GET", rest.path("Pod", namespace, name))
                    if pod["metadata"]["uid"] != old:
                        break
                except ApiError:
                    pass
                time.sleep(0.01)
            times.append(time.monotonic() - started)
        return times

    def incident(self, namespace: str, count: int) -> float:
        rest.call(self.control, "PATCH", rest.path("DataPlane", name="k8s-2"), content_type=rest.MERGE_PATCH,
                  body={"spec": {"available": False, "unavailableReason": "bench"}})
        took = self.wait_clusters(namespace, count, lambda c: any(
            x["type"] == "DataPlanesAvailable" and x["status"] == "False"
            for x in (c.get("status") or {}).get("conditions") or []))
        rest.call(self.control, "PATCH", rest.path("DataPlane", name="k8s-2"), content_type=rest.MERGE_PATCH,
                  body={"spec": {"available": True, "unavailableReason": None}})
        self.wait_clusters(namespace, count, running)
        return took

    def peak_rss_mb(self) -> float:
        assert self.operator is not None
        for line in Path(f"/proc/{self.operator.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        if self.operator is not None:
            self.operator.terminate()
            self.operator.wait(20)


def copied(obj: Obj, namespace: str) -> Obj:
    """What the floor writes for an object kbmc made: the same object, in ``namespace``, without what the
    servers assign (status, cluster IPs, node ports, bound volumes, the token volume) or kbmc's own labels (the
    running operator would rightly remove objects it did not plan)."""
    meta = obj["metadata"]
    clean = {k: v for k, v in obj.items() if k not in ("status", "secrets")}
    clean["apiVersion"] = rest.KINDS[obj["kind"]].prefix.removeprefix("/apis/").removeprefix("/api/")
    labels = {k: v for k, v in meta.get("labels", {}).items()
              if k not in ("app.kubernetes.io/managed-by", "kbmc.io/cluster-uid", "kbmc.io/data-plane")}
    clean["metadata"] = {"name": meta["name"], "namespace": namespace, "labels": labels,
                         "annotations": meta.get("annotations", {})}
    spec = dict(clean.get("spec") or {})
    for field in ("clusterIP", "clusterIPs", "volumeName", "nodeName", "healthCheckNodePort"):
        spec.pop(field, None)
    if obj["kind"] == "Service":
        spec["ports"] = [{k: v for k, v in p.items() if k != "nodePort"} for p in spec.get("ports", [])]
    if obj["kind"] == "Pod":
        spec["volumes"] = [v for v in spec.get("volumes", []) if "secret" not in v]
        for container in spec.get("containers", []):
            container["volumeMounts"] = [m for m in container.get("volumeMounts", [])
                                         if "serviceaccount" not in m["mountPath"]]
    if spec:
        clean["spec"] = spec
    return clean


class _ReadyPods(threading.Thread):
    """Counts Ready pods of a namespace across the data planes through watches."""

    def __init__(self, bench: Bench, namespace: str, want: int, done: threading.Event) -> None:
        super().__init__(daemon=True)
        self.bench, self.namespace, self.want, self.done = bench, namespace, want, done
        self.ready: set[tuple[str, str]] = set()
        self.lock = threading.Lock()

    def run(self) -> None:
        threads = [threading.Thread(target=self.watch, args=(p,), daemon=True) for p in PLANES]
        for thread in threads:
            thread.start()

    def watch(self, plane: str) -> None:
        try:
            self._watch(plane)
        except Exception:  # the bed going away at the end of the run
            return

    def _watch(self, plane: str) -> None:
        version = None
        while not self.done.is_set():  # watches end after timeoutSeconds: the next goes on from the last event
            response = rest.request(self.bench.api[plane], "GET", rest.path("Pod", self.namespace), stream=True,
                                    timeout=(2, 320), query={"watch": "true", "timeoutSeconds": 300,
                                                             "resourceVersion": version})
            for event in rest.events(response):
                pod = event["object"]
                version = pod["metadata"]["resourceVersion"]
                if running_pod(pod):
                    with self.lock:
                        self.ready.add((plane, pod["metadata"]["name"]))
                        if len(self.ready) >= self.want:
                            self.done.set()


def cpu_seconds(match: Callable[[int, str], bool]) -> float:
    """CPU time (user + system) used so far by the processes whose (pid, command line) match."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if match(int(entry.name), cmdline):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        except OSError:
            continue
    return total / os.sysconf("SC_CLK_TCK")


QUIET_CPU = 0.5
"""CPU seconds over 2 s (a quarter of one core) under which the bed and the operator count as quiet."""


def settle(busy: Callable[[], float], limit: float = 180) -> float:
    """Wait until the bed and the operator are quiet; return the seconds waited. Here the node agents, API
    servers and etcds share two cores with the operator: a timed phase started while they still work for the
    previous one (volumes, addresses, Events) measures that work too."""
    started = time.monotonic()
    before = busy()
    while time.monotonic() - started < limit:
        time.sleep(2)
        now = busy()
        if now - before < QUIET_CPU:
            return time.monotonic() - started
        before = now
    raise TimeoutError(f"the bed is still busy after {limit} s")


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def running(cluster_obj: Obj) -> bool:
    status = cluster_obj.get("status") or {}
    return status.get("phase") == "Running" and status.get("observedGeneration") == cluster_obj["metadata"].get(
        "generation")


def running_pod(pod: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in (pod.get("status") or {}).get("conditions")
               or [])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--reaction-samples", type=int, default=20)
    args = parser.parse_args()
    n = args.clusters
    directory = Path(tempfile.mkdtemp(prefix="kbmc-bench-"))
    bed = Bed(directory)
    bed.up(toolchain.ensure(), 3, free_base_port(), processes=False, apiserver_args=[NODE_PORTS])
    bench = Bench(bed)

    def operator(pid: int) -> bool:
        return bench.operator is not None and pid == bench.operator.pid

    def kbmc_cpu() -> float:
        return cpu_seconds(lambda pid, _: operator(pid))

    def bed_cpu() -> float:  # API servers, etcd, controller-managers, node agents
        return cpu_seconds(lambda pid, cmd: str(directory) in cmd and not operator(pid))

    settled: list[float] = []

    def quiet() -> None:
        settled.append(settle(lambda: kbmc_cpu() + bed_cpu(), limit=max(180, n / 2)))

    try:
        bench.install()
        since = bench.audit_offsets()
        progress(f"convergence: {n} Clusters through kbmc")
        cpu = kbmc_cpu(), bed_cpu()
        t_kbmc = bench.converge("bench", n)
        cpu = kbmc_cpu() - cpu[0], bed_cpu() - cpu[1]
        kbmc_refused = bench.refused(since, lambda agent: "dataplane=" in agent)
        breakdown = bench.write_breakdown(since)
        writes = sum(breakdown.values())
        control_breakdown = bench.write_breakdown(since, ("control",), operator_only=True)
        status_writes = sum(control_breakdown.values())
        source = bench.objects("bench")
        objects = sum(len(v) for v in source.values())
        progress(f"convergence: kbmc {t_kbmc:.1f} s; the floor writes the same {objects} objects")
        quiet()
        floor_cpu, floor_since = bed_cpu(), bench.audit_offsets()
        t_floor = bench.floor(source, "floor")
        floor_cpu = bed_cpu() - floor_cpu
        floor_refused = bench.refused(floor_since, lambda agent: agent.startswith("bench/"))
        progress(f"floor {t_floor:.1f} s; resync")
        quiet()
        resync = bench.resync()
        progress("restart")
        quiet()
        rss = bench.peak_rss_mb()
        since = bench.audit_offsets()
        restart = bench.restart(n)
        restart_writes = bench.kbmc_writes(since)
        progress(f"restart {restart:.1f} s, {restart_writes} writes; leader failover")
        quiet()
        rss = max(rss, bench.peak_rss_mb())  # the restarted operator, with the same N Clusters
        failover = bench.failover()
        progress(f"failover {failover:.1f} s; rolling change")
        quiet()
        rolled = min(ROLLOUT, n)
        bench.converge("roll", rolled, definition=ROLL_DEFINITION)  # not timed: what is rolled, and its copy
        roll_source = bench.objects("roll")
        bench.floor(roll_source, "roll-floor")
        quiet()
        t_rollout = bench.rollout("roll", rolled)
        quiet()
        t_rollout_floor = bench.rollout_floor(roll_source, "roll-floor")
        progress(f"rolling change: kbmc {t_rollout:.1f} s, floor {t_rollout_floor:.1f} s; reaction")
        quiet()
        reaction = sorted(bench.reaction("bench", min(args.reaction_samples, n)))
        progress("incident")
        quiet()
        incident = bench.incident("bench", n)
        progress(f"incident {incident:.1f} s; isolation")
        isolation = []
        for round_ in range(ISOLATION_ROUNDS):
            quiet()
            t_normal = bench.converge(f"iso-normal-{round_}", min(n, ISOLATION), "k8s-1,k8s-2")
            quiet()
            bed.freeze("k8s-3")
            try:
                t_frozen = bench.converge(f"iso-frozen-{round_}", min(n, ISOLATION), "k8s-1,k8s-2")
            finally:
                bed.thaw("k8s-3")
            isolation.append(t_frozen / t_normal)
            progress(f"isolation round {round_ + 1}: {t_frozen:.1f} s frozen / {t_normal:.1f} s")
        result = {
            "clusters": n,
            "kbmc_s": round(t_kbmc, 2), "floor_s": round(t_floor, 2), "convergence_ratio": round(t_kbmc / t_floor, 2),
            "kbmc_refused_requests": sum(kbmc_refused.values()),
            "floor_refused_requests": sum(floor_refused.values()),
            "kbmc_cpu_s": round(cpu[0], 1), "bed_cpu_s": round(cpu[1], 1), "floor_bed_cpu_s": round(floor_cpu, 1),
            "writes_per_cluster": round(writes / n, 2), "objects_per_cluster": round(objects / n, 2),
            "status_writes_per_cluster": round(status_writes / n, 2), "resync_writes": resync,
            "reaction_p50_s": round(statistics.median(reaction), 3),
            "reaction_p95_s": round(reaction[min(len(reaction), math.ceil(len(reaction) * 0.95)) - 1], 3),
            "incident_mark_s": round(incident, 2),
            "isolation_ratio": round(statistics.median(isolation), 2),
            "isolation_spread": [round(r, 2) for r in isolation],
            "peak_rss_mb": round(rss, 1),
            "peak_rss_end_mb": round(bench.peak_rss_mb(), 1), "clusters_at_end": n + rolled + 2 * len(isolation) * min(
                n, ISOLATION),
            "kbmc_cpu_ms_per_cluster": round(cpu[0] / n * 1000, 1),
            "restart_s": round(restart, 2), "restart_writes": restart_writes, "failover_s": round(failover, 2),
            "rollout_clusters": rolled, "rollout_kbmc_s": round(t_rollout, 2),
            "rollout_floor_s": round(t_rollout_floor, 2), "rollout_ratio": round(t_rollout / t_rollout_floor, 2),
            "settle_s": [round(s, 1) for s in settled],
            "data_plane_writes": dict(sorted(breakdown.items())),
            "control_plane_writes": dict(sorted(control_breakdown.items())),
            "kbmc_refused": dict(sorted(kbmc_refused.items())), "floor_refused": dict(sorted(floor_refused.items())),
        }
    finally:
        bench.stop()
        bed.down()
    width = max(len(k) for k in result)
    for key, value in result.items():
        shown = ", ".join(f"{k}: {v}" for k, v in value.items()) if isinstance(value, dict) else value
        print(f"{key:<{width}}  {shown}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
