"""Redis with Sentinel across three data planes (examples/redis-sentinel-cross-cloud-lb.yaml, KubeBlocks' own
redis-cluster-cmpd form), real redis-server and redis-sentinel processes run by the node agents, checked with
redis-cli as a user would (the default account's password read from its Secret).

Matrix: one primary (ordinal 0) and two replicas replicating through their LoadBalancer addresses (a key written
on the primary read on each replica); every sentinel monitors it with the two others and both replicas; roles in
labels, status and `kbmc cluster describe` | promote to a chosen replica: Sentinel moves the role, the labels
follow | the primary's data plane stopped: the sentinels left promote a replica in another data plane (kbmc
decides nothing), the labels and the Cluster's status follow; marked unavailable, then started and available
again: the old primary rejoins as a replica and has what was written meanwhile | a rolling restart under a
Sentinel-aware write loop: the primary replaced last after a switchover, writes refused only around that
switchover | no password in the env ConfigMap, the Events or the pods' logs.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import time
from typing import Any

from kbmc.dev import toolchain
from kbmc.kube import rest
from tests.kube import Clusters
from tests.operator.helpers import PLANES, condition, create_cluster, kbmc, phase_is, seed, wait_cluster
from tests.operator.test_day2 import Watch, Writes, _pods, sampling
from tests.operator_env import Operator

NAME = "redis-cluster"
REDIS, SENTINEL = "redis", "redis-sentinel"
MASTER = f"{NAME}-{REDIS}"
"""The name the sentinels monitor the group under (``<cluster>-<component>``)."""
ROLE = "kubeblocks.io/role"


class Redis:
    """redis-cli from the bed's toolchain, authenticated through REDISCLI_AUTH (never on argv)."""

    def __init__(self, control: Any, namespace: str) -> None:
        self.cli = str(toolchain.ensure_redis() / "redis-cli")
        secrets = {c: rest.call(control, "GET", rest.path("Secret", namespace, f"{NAME}-{c}-account-default"))
                   for c in (REDIS, SENTINEL)}
        self.password = {c: base64.b64decode(s["data"]["password"]).decode() for c, s in secrets.items()}

    def __call__(self, address: str, *args: str, port: int = 6379, component: str = REDIS) -> str:
        """The command's output ('' when the server does not answer)."""
        try:
            done = subprocess.run([self.cli, "-h", address, "-p", str(port), "--no-auth-warning", *args],
                                  capture_output=True, text=True, timeout=5, check=False,
                                  env={**os.environ, "REDISCLI_AUTH": self.password[component]})
        except subprocess.TimeoutExpired:
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    def sentinel(self, address: str, *args: str) -> str:
        return self(address, "SENTINEL", *args, port=26379, component=SENTINEL)

    def quiet(self, sentinel: str) -> bool:
        """The sentinel answers and has no failover of the group under way."""
        fields = self.sentinel(sentinel, "MASTER", MASTER).splitlines()
        flags = dict(zip(fields[::2], fields[1::2], strict=False)).get("flags", "failover")
        return "failover" not in flags

    def primary(self, sentinels: list[str]) -> str:
        """The primary's address as the first sentinel that answers names it ('' if none does)."""
        for address in sentinels:
            answer = self.sentinel(address, "GET-MASTER-ADDR-BY-NAME", MASTER).split()
            if answer:
                return answer[0]
        return ""


def _instances(cluster: dict[str, Any] | None, component: str = REDIS) -> list[dict[str, Any]]:
    return list((((cluster or {}).get("status") or {}).get("components") or {}).get(component, {}).get(
        "instances") or [])


def _primary(cluster: dict[str, Any] | None) -> dict[str, Any]:
    return next((i for i in _instances(cluster) if i.get("role") == "primary"), {})


def _settled(cluster: dict[str, Any] | None) -> bool:
    """Running, three Ready redis instances with roles, exactly one primary, three Ready sentinels."""
    roles = [str(i.get("role")) for i in _instances(cluster) if i.get("ready")]
    return (phase_is("Running")(cluster) and sorted(roles) == ["primary", "secondary", "secondary"]
            and sum(bool(i.get("ready")) for i in _instances(cluster, SENTINEL)) == 3)


def _eventually(check: Any, timeout: float = 60, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(every)


def test_redis_with_sentinel_replicates_promotes_and_fails_over_across_data_planes(
        operator: Operator, clusters: Clusters, namespace: str) -> None:
    bed, control = operator.bed, clusters["control"]
    create_cluster(control, seed("redis-sentinel-cross-cloud-lb.yaml", namespace, NAME, processes=True))
    cluster = wait_cluster(control, namespace, NAME, _settled, timeout=180)
    redis = Redis(control, namespace)
    members = {i["name"]: i for i in _instances(cluster)}
    address = {n: i["addresses"][0] for n, i in members.items()}
    plane = {n: i["dataPlane"] for n, i in members.items()}
    sentinels = [i["addresses"][0] for i in _instances(cluster, SENTINEL)]
    first = f"{MASTER}-0"
    assert _primary(cluster)["name"] == first, members

    # replication through the advertised (LoadBalancer) addresses, and Sentinel's view
    assert redis(address[first], "SET", "greeting", "hello") == "OK"
    for name in members:
        assert _eventually(lambda n=name: redis(address[n], "GET", "greeting") == "hello", 30), name
    assert [redis(address[n], "ROLE").splitlines()[0] for n in sorted(members)] == ["master", "slave", "slave"]
    for sentinel in sentinels:  # the primary registers with each sentinel within seconds of both running
        assert _eventually(lambda s=sentinel: redis.sentinel(s, "GET-MASTER-ADDR-BY-NAME", MASTER).split() == [
            address[first], "6379"], 30), sentinel
        assert _eventually(lambda s=sentinel: redis.sentinel(s, "REPLICAS", MASTER).count("\nip\n") == 2
                           and redis.sentinel(s, "SENTINELS", MASTER).count("\nip\n") == 2, 30), sentinel
    pods = _pods(clusters, namespace)
    assert {n: (pods[n]["metadata"].get("labels") or {}).get(ROLE) for n in members} == {
        n: i["role"] for n, i in members.items()}
    described = kbmc(bed, "cluster", "describe", NAME, "-n", namespace)
    assert re.search(rf"{first}\s+{plane[first]}\s+primary", described.stdout), described.stdout

    # no password in the env ConfigMap, the Events or the logs
    for plane_name in PLANES:
        env = rest.call(clusters[plane_name], "GET", rest.path("ConfigMap", namespace, f"{NAME}-{REDIS}-env"))
        assert not any(p in str(env.get("data")) for p in redis.password.values())
    events = rest.call(control, "GET", rest.path("Event", namespace))["items"]
    assert not any(p in str(events) for p in redis.password.values())
    logs = kbmc(bed, "cluster", "logs", NAME, "-n", namespace, "--tail", "200")
    assert logs.returncode == 0 and not any(p in logs.stdout for p in redis.password.values())

    # promote a chosen replica: Sentinel moves the role
    chosen = f"{MASTER}-1"
    asked = time.monotonic()
    promoted = kbmc(bed, "cluster", "promote", NAME, "--instance", chosen, "-n", namespace)
    assert promoted.returncode == 0 and f"{chosen} is now primary" in promoted.stdout, promoted.stdout + \
        promoted.stderr
    print(f"promote: {chosen} primary in its labels {time.monotonic() - asked:.1f} s after `kbmc cluster promote`")
    assert _eventually(lambda: all(redis.primary([s]) == address[chosen] for s in sentinels), 30), [
        redis.primary([s]) for s in sentinels]  # the others learn it from the one that ran the failover
    # the labels follow the new primary at once; the switchover ends with Sentinel's failover (the other
    # replicas reconfigured): the data plane is lost only after that
    assert _eventually(lambda: all(redis.quiet(s) for s in sentinels), 30), "Sentinel's failover did not end"
    assert redis(address[first], "ROLE").splitlines()[0] == "slave"
    cluster = wait_cluster(control, namespace, NAME, lambda c: _settled(c) and _primary(c)["name"] == chosen)

    # the primary's data plane stopped: the sentinels left fail over to a replica in another data plane
    lost = plane[chosen]
    survivors = [s for s, i in zip(sentinels, _instances(cluster, SENTINEL), strict=True) if i["dataPlane"] != lost]
    stopped = time.monotonic()
    bed.stop(lost)
    try:
        promoted_to = _eventually(lambda: (p := redis.primary(survivors)) != address[chosen] and p, 60)
        print(f"failover: {lost} stopped, a new primary named by the sentinels after "
              f"{time.monotonic() - stopped:.1f} s")
        assert promoted_to in {address[n] for n in members if plane[n] != lost}, promoted_to
        new = next(n for n in members if address[n] == promoted_to)
        assert _eventually(lambda: redis(promoted_to, "ROLE").startswith("master"), 30)
        assert redis(promoted_to, "SET", "during", "outage") == "OK"
        assert kbmc(bed, "dataplane", "mark-unavailable", lost, "--reason", f"{lost} lost").returncode == 0
        reported = wait_cluster(control, namespace, NAME, lambda c: _primary(c).get("name") == new and f"{lost} lost"
                                in (condition(c, "DataPlanesAvailable") or {}).get("message", ""), timeout=60)
        assert _primary(reported)["dataPlane"] == plane[new]
        described = kbmc(bed, "cluster", "describe", NAME, "-n", namespace)
        assert re.search(rf"{new}\s+{plane[new]}\s+primary", described.stdout), described.stdout
    finally:
        bed.start(lost)
        kbmc(bed, "dataplane", "mark-available", lost)
    # the old primary is back as a replica of the new one, and has caught up
    started = time.monotonic()
    assert _eventually(lambda: redis(address[chosen], "GET", "during") == "outage", 90)
    print(f"rejoin: the old primary serves what was written meanwhile {time.monotonic() - started:.1f} s after "
          f"{lost} started")
    assert redis(address[chosen], "ROLE").splitlines()[:2] == ["slave", promoted_to]
    cluster = wait_cluster(control, namespace, NAME, lambda c: _settled(c) and _primary(c)["name"] == new,
                           timeout=90)

    # a rolling restart under a Sentinel-aware write loop: the primary goes last, after a switchover
    # a Sentinel-aware client: each key to the primary the sentinels name
    writes = Writes(lambda key: bool(primary := redis.primary(sentinels)) and redis(primary, "SET", key, "v") == "OK")
    watch = Watch(clusters, namespace)
    with sampling(writes, watch):
        time.sleep(1)
        assert kbmc(bed, "cluster", "restart", NAME, "-n", namespace, "--component", REDIS).returncode == 0
        time.sleep(2)
        assert wait_cluster(control, namespace, NAME, _settled, timeout=240) is not None
        time.sleep(1)
    replaced = [(n, role) for n, role in watch.replaced if n in members]
    stretches = [round(end - start, 1) for start, end in writes.refusals]
    print(f"rolling restart: replaced {replaced}; refused writes {stretches} s; "
          f"{len(writes.acknowledged)} acknowledged")
    assert sorted(n for n, _ in replaced) == sorted(members), replaced
    assert replaced[-1][0] == new, f"the primary {new} not last: {replaced}"  # a secondary by then (switchover)
    assert len(writes.refusals) <= 1 and max(stretches, default=0) < 15, stretches
    primary = redis.primary(sentinels)
    stored = set(redis(primary, "KEYS", "w*").split())
    lost_writes = [k for k in writes.acknowledged if k not in stored]
    assert not lost_writes, f"acknowledged writes lost: {lost_writes[:10]}"
