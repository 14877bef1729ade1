"""Day 2 of a real etcd raft group across three data planes: roles from the roleProbe run by kbmc's agent in
each pod, a rolling change that keeps a majority with the leader replaced last, promote, scale 3 -> 5 -> 3 with
members joining and leaving, and a rolling change held while a data plane is marked unavailable.

Matrix: roles: one leader, labels and status agree, describe shows the leader's data plane | rolling change
under a write loop against every member: never fewer than 2 of 3 members Ready, the leader replaced last (after a
switchover), no write lost, the longest stretch of refused writes reported | promote moves the leader (etcd says
so) and the labels follow | 3 -> 5 -> 3: `etcdctl member list` exact after each step, no key lost | restart while
k8s-2 is marked unavailable: held and said so, nothing replaced; completes once it is available again | promote
to an instance that does not exist: a one-line error | a roleProbe printing a role the definition lacks:
RolesProbed=False naming the pod, no role label.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import yaml

from kbmc.kube import rest
from tests.kube import Clusters
from tests.operator.helpers import (
    PLANES,
    ROOT,
    condition,
    create_cluster,
    kbmc,
    patch_cluster,
    phase_is,
    seed,
    set_replicas,
    wait_cluster,
)
from tests.operator.test_etcd import etcdctl
from tests.operator_env import Operator

ROLE = "kubeblocks.io/role"


def _pods(clusters: Clusters, namespace: str) -> dict[str, dict[str, Any]]:
    out = {}
    for plane in PLANES:
        for pod in rest.call(clusters[plane], "GET", rest.path("Pod", namespace))["items"]:
            out[pod["metadata"]["name"]] = pod
    return out


def _ready(pod: dict[str, Any]) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions") or [])


class Watch(threading.Thread):
    """Samples the members every 0.2 s: how many are Ready, and each replacement with the role the pod had."""

    def __init__(self, clusters: Clusters, namespace: str) -> None:
        super().__init__(daemon=True)
        self.clusters, self.namespace = clusters, namespace
        self.stop = threading.Event()
        self.fewest_ready = 99
        self.replaced: list[tuple[str, str]] = []
        """(pod, its role before it went), in order."""

    def run(self) -> None:
        seen: dict[str, tuple[str, str]] = {}
        while not self.stop.wait(0.2):
            try:
                pods = _pods(self.clusters, self.namespace)
            except Exception:  # a sample lost to a slow answer
                continue
            self.fewest_ready = min(self.fewest_ready, sum(_ready(p) for p in pods.values()))
            for name, pod in pods.items():
                uid, role = pod["metadata"]["uid"], (pod["metadata"].get("labels") or {}).get(ROLE, "")
                if name in seen and seen[name][0] != uid:
                    self.replaced.append((name, seen[name][1]))
                seen[name] = (uid, role if not pod["metadata"].get("deletionTimestamp") else seen[name][1])


class Writes(threading.Thread):
    """Writes a new key every 0.1 s with ``write`` (True: acknowledged); remembers which were acknowledged and
    each stretch of refused writes (start, end)."""

    def __init__(self, write: Callable[[str], bool]) -> None:
        super().__init__(daemon=True)
        self.write = write
        self.stop = threading.Event()
        self.acknowledged: list[str] = []
        self.refusals: list[tuple[float, float]] = []

    @property
    def longest_refusal(self) -> float:
        return max((end - start for start, end in self.refusals), default=0.0)

    def run(self) -> None:
        refused_since: float | None = None
        index = 0
        while not self.stop.wait(0.1):
            key = f"w{index:05d}"
            index += 1
            ok = self.write(key)
            now = time.monotonic()
            if ok:
                self.acknowledged.append(key)
                if refused_since is not None:
                    self.refusals.append((refused_since, now))
                refused_since = None
            elif refused_since is None:
                refused_since = now
        if refused_since is not None:
            self.refusals.append((refused_since, time.monotonic()))


@contextlib.contextmanager
def sampling(*threads: Watch | Writes) -> Iterator[None]:
    """The threads running while the block runs; stopped and joined after it, whatever happens."""
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        for thread in threads:
            thread.stop.set()
        for thread in threads:
            thread.join()


def every(addresses: list[str]) -> str:
    """etcdctl's flag for every member's client URL (it then writes through any that answers)."""
    return "--endpoints=" + ",".join(f"http://{a}:2379" for a in addresses)


def _members(operator: Operator, address: str) -> list[str]:
    listed = etcdctl(operator.bed, address, "member", "list", "-w", "json")
    assert listed.returncode == 0, listed.stderr
    return sorted(m.get("name", "") for m in json.loads(listed.stdout)["members"])


def _roles(cluster: dict[str, Any] | None) -> dict[str, str]:
    instances = ((cluster or {}).get("status") or {}).get("components", {}).get("etcd", {}).get("instances") or []
    return {i["name"]: i.get("role") or "" for i in instances}


def _settled(replicas: int) -> Any:
    """Running, every instance Ready with a role, exactly one leader, nothing under way."""
    def check(cluster: dict[str, Any] | None) -> bool:
        roles = _roles(cluster)
        return phase_is("Running")(cluster) and len(roles) == replicas and all(roles.values()) and list(
            roles.values()).count("leader") == 1
    return check


def test_rolling_change_promote_and_membership_on_real_etcd(operator: Operator, clusters: Clusters,
                                                            namespace: str) -> None:
    bed, control = operator.bed, clusters["control"]
    create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "raft", processes=True))
    cluster = wait_cluster(control, namespace, "raft", _settled(3), timeout=120)
    assert cluster is not None
    instances = cluster["status"]["components"]["etcd"]["instances"]
    addresses = [i["addresses"][0] for i in instances]
    leader = next(i for i in instances if i["role"] == "leader")
    pods = _pods(clusters, namespace)
    assert {n: (p["metadata"].get("labels") or {}).get(ROLE) for n, p in pods.items()} == _roles(cluster)
    described = kbmc(bed, "cluster", "describe", "raft", "-n", namespace)
    assert f"{leader['name']}  {leader['dataPlane']}       leader" in described.stdout, described.stdout

    # 1. a rolling change under writes
    writes = Writes(lambda key: etcdctl(bed, addresses[0], every(addresses), "put", key, "v").returncode == 0)
    watch = Watch(clusters, namespace)
    with sampling(writes, watch):
        time.sleep(1)
        patch_cluster(control, namespace, "raft", {"spec": {"componentSpecs": [{
            **cluster["spec"]["componentSpecs"][0], "resources": {"limits": {"cpu": "200m", "memory": "100M"},
                                                                  "requests": {"cpu": "100m", "memory": "100M"}}}]}})
        time.sleep(2)
        assert wait_cluster(control, namespace, "raft", _settled(3), timeout=180) is not None
        time.sleep(1)
    print(f"rolling change: longest stretch of refused writes {writes.longest_refusal:.1f} s, fewest Ready "
          f"{watch.fewest_ready} of 3, replaced {watch.replaced}")
    assert sorted(name for name, _ in watch.replaced) == sorted(pods), watch.replaced
    assert watch.replaced[-1][0] == leader["name"], f"the leader {leader['name']} not last: {watch.replaced}"
    assert watch.fewest_ready >= 2, f"only {watch.fewest_ready} of 3 members Ready at one point"
    assert writes.longest_refusal < 10, f"writes refused for {writes.longest_refusal:.1f} s"
    stored = etcdctl(bed, addresses[0], "get", "w", "--prefix", "--keys-only")
    assert set(writes.acknowledged) <= set(stored.stdout.split()), "an acknowledged write was lost"

    # 2. promote
    cluster = wait_cluster(control, namespace, "raft", _settled(3))
    roles = _roles(cluster)
    follower = next(name for name, role in roles.items() if role == "follower")
    promoted = kbmc(bed, "cluster", "promote", "raft", "--instance", follower, "-n", namespace)
    assert promoted.returncode == 0 and f"{follower} is now leader" in promoted.stdout, promoted.stdout + \
        promoted.stderr
    status = json.loads(etcdctl(bed, addresses[0], every(addresses), "endpoint", "status", "-w", "json").stdout)
    leaders = {s["Status"]["leader"] for s in status}
    by_name = {m["name"]: m["ID"] for m in json.loads(etcdctl(bed, addresses[0], "member", "list", "-w",
                                                              "json").stdout)["members"]}
    assert leaders == {by_name[follower]}, (leaders, by_name)
    unknown = kbmc(bed, "cluster", "promote", "raft", "--instance", "raft-etcd-9", "-n", namespace)
    assert unknown.returncode == 1 and "has no such instance raft-etcd-9" in unknown.stderr

    # 3. scale out and in, one member at a time
    set_replicas(control, namespace, "raft", 5)
    assert wait_cluster(control, namespace, "raft", _settled(5), timeout=180) is not None
    assert _members(operator, addresses[0]) == [f"raft-etcd-{o}" for o in range(5)]
    set_replicas(control, namespace, "raft", 3)
    assert wait_cluster(control, namespace, "raft", _settled(3), timeout=180) is not None
    deadline = time.monotonic() + 30
    while _members(operator, addresses[0]) != [f"raft-etcd-{o}" for o in range(3)] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _members(operator, addresses[0]) == [f"raft-etcd-{o}" for o in range(3)]
    stored = etcdctl(bed, addresses[0], "get", "w", "--prefix", "--keys-only")
    assert set(writes.acknowledged) <= set(stored.stdout.split()), "a write was lost while scaling"

    deadline = time.monotonic() + 30
    while sorted(_pods(clusters, namespace)) != [f"raft-etcd-{o}" for o in range(3)] and time.monotonic() < deadline:
        time.sleep(0.5)  # the members that left: their pods go after they left

    # 4. a restart while a data plane is marked unavailable waits, and says so
    before = {n: p["metadata"]["uid"] for n, p in _pods(clusters, namespace).items()}
    assert sorted(before) == [f"raft-etcd-{o}" for o in range(3)], before
    assert kbmc(bed, "dataplane", "mark-unavailable", "k8s-2", "--reason", "drill").returncode == 0
    try:
        assert kbmc(bed, "cluster", "restart", "raft", "-n", namespace).returncode == 0
        held = wait_cluster(control, namespace, "raft", lambda c: "k8s-2 cannot be worked on now" in (
            condition(c, "Updated") or {}).get("message", ""))
        assert held is not None and held["status"]["phase"] != "Running"
        time.sleep(3)
        assert {n: p["metadata"]["uid"] for n, p in _pods(clusters, namespace).items()} == before, "nothing replaced"
    finally:
        assert kbmc(bed, "dataplane", "mark-available", "k8s-2").returncode == 0
    assert wait_cluster(control, namespace, "raft", _settled(3), timeout=180) is not None
    after = {n: p["metadata"]["uid"] for n, p in _pods(clusters, namespace).items()}
    assert all(after[n] != before[n] for n in before), "every pod restarted"


def test_a_role_probe_printing_an_unknown_role_is_reported(operator: Operator, clusters: Clusters,
                                                           namespace: str) -> None:
    control = clusters["control"]
    definition = yaml.safe_load((ROOT / "addons" / "etcd" / "componentdefinition.yaml").read_text())
    name = f"etcd-primary-{namespace[-6:]}"
    definition["metadata"]["name"] = name
    definition["spec"]["lifecycleActions"]["roleProbe"]["customHandler"]["exec"]["command"] = [
        "/bin/sh", "-c", "printf primary"]
    rest.call(control, "POST", rest.path("ComponentDefinition"), body=definition)
    try:
        create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "odd", processes=True,
                                     componentDef=name))
        reported = wait_cluster(control, namespace, "odd", lambda c: "printed 'primary', which is not a role of the "
                                "definition (it has: leader, follower)" in (condition(c, "RolesProbed") or {}).get(
                                    "message", ""), timeout=120)
        assert reported is not None and condition(reported, "RolesProbed")["reason"] == "RoleProbeFailed"  # type: ignore[index]
        assert not any(_roles(reported).values()), "no role label from an unknown role"
    finally:
        rest.call(control, "DELETE", rest.path("Cluster", namespace, "odd"))
        wait_cluster(control, namespace, "odd", lambda c: c is None)
        rest.call(control, "DELETE", rest.path("ComponentDefinition", name=name))
