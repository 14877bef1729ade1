"""The operator as users run it: ``kbmc install`` without ``--local`` writes a Deployment of two replicas, and the
control plane's node agent runs each pod as a real process of kbmc's image (this installation of kbmc), with its
ServiceAccount token, its probes and restarts. One replica holds the Lease ``kbmc-operator``; the other stands
by. The suite's local operator is stopped meanwhile (it runs without election) and started again afterwards.

Matrix: install waits until the Deployment is Ready and names the leader | a Cluster converges through the
in-cluster leader | a local ``kbmc operator run`` joins the same election, stands by, writes nothing and stops
cleanly | the leader's pod deleted -> the Lease handed over at once | the leader's process killed -> the standby
takes over within the lease duration, the container is restarted | the control plane's API server paused under
the leader -> the leader gives up and exits, one holder afterwards | after each: a Cluster created meanwhile
converges, the invariant holds, and every write since the handover came from the holder (audit log).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from kbmc.errors import NotFoundError
from kbmc.kube import rest
from kbmc.ops.rbac import OPERATOR
from tests.drills.invariants import converged
from tests.kube import Clusters
from tests.operator.helpers import create_cluster, kbmc, seed
from tests.operator_env import DATA_PLANES, NAMESPACE, SECRET, Operator

LEASE_SECONDS = 15  # the Deployment's (the default)
SELECTOR = f"app.kubernetes.io/name={OPERATOR}"


@pytest.fixture
def in_cluster(operator: Operator) -> Iterator[Operator]:
    """The suite's local operator stopped; the Deployment removed and the local operator started again after."""
    operator.stop()
    try:
        yield operator
    finally:
        control = operator.control
        with contextlib.suppress(NotFoundError):
            rest.call(control, "DELETE", rest.path("Deployment", NAMESPACE, OPERATOR))
        deadline = time.monotonic() + 90
        while _pods(control) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _pods(control), "the operator's pods did not go"
        operator.start()


def _pods(control: client.ApiClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = rest.call(control, "GET", rest.path("Pod", NAMESPACE),
                                            query={"labelSelector": SELECTOR})["items"]
    return items


def _lease(control: client.ApiClient) -> tuple[str, datetime.datetime | None]:
    """The Lease's holder and its last renewal."""
    try:
        spec = rest.call(control, "GET", rest.path("Lease", NAMESPACE, "kbmc-operator")).get("spec") or {}
    except NotFoundError:
        return "", None
    renewed = spec.get("renewTime")
    return str(spec.get("holderIdentity") or ""), datetime.datetime.fromisoformat(
        renewed.replace("Z", "+00:00")) if renewed else None


def _wait_renewed(control: client.ApiClient, after: datetime.datetime, timeout: float,
                  other_than: str = "") -> tuple[str, float]:
    """The holder of the Lease once it has been renewed after ``after`` (by another than ``other_than``), and
    how long that took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            holder, renewed = _lease(control)
        except Exception:  # the control plane waking up
            holder, renewed = "", None
        if holder and holder != other_than and renewed is not None and renewed > after:
            return holder, time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"the Lease was not renewed{' by another than ' + other_than if other_than else ''} "
                         f"within {timeout:.0f} s (it reads {_lease(control)})")


def _writers(audit: Path, since: datetime.datetime) -> dict[str, int]:
    """Operators (by the identity in their user agent) that wrote to the control plane since ``since``."""
    writers: dict[str, int] = {}
    with audit.open() as fh:
        for line in fh:
            event = json.loads(line)
            agent = event.get("userAgent", "")
            if event.get("stage") != "ResponseComplete" or event.get("verb") not in (
                    "create", "update", "patch", "delete") or "(operator " not in agent:
                continue
            when = datetime.datetime.fromisoformat(event["requestReceivedTimestamp"].replace("Z", "+00:00"))
            if when >= since:
                who = agent.split("(operator ", 1)[1].rstrip(")")
                writers[who] = writers.get(who, 0) + 1
    return writers


def _only_writer(operator: Operator, holder: str, since: datetime.datetime) -> None:
    time.sleep(2)  # the audit log is written in batches
    writers = _writers(operator.bed.directory / "control" / "audit.log", since)
    assert set(writers) <= {holder}, f"writes since the handover from {writers}, the Lease holder is {holder}"


def _process_of(pod: str) -> int:
    """The pid of the operator process the node agent runs for ``pod``."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"POD_NAME={pod}".encode() in environ:
                return int(entry.name)
    raise AssertionError(f"no process runs pod {pod}")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def test_in_cluster_operator_two_replicas_one_leader(in_cluster: Operator, clusters: Clusters,
                                                     namespace: str) -> None:
    operator, control = in_cluster, clusters["control"]
    result = kbmc(operator.bed, "install", "--kubeconfig-secret", SECRET, "--contexts", ",".join(DATA_PLANES),
                  "--replicas", "2", "--timeout", "180")
    assert result.returncode == 0, result.stdout + result.stderr
    leader, _ = _lease(control)
    pods = {p["metadata"]["name"] for p in _pods(control)}
    assert leader in pods and len(pods) == 2, (leader, pods)
    assert f"Ready; leader: {leader}" in " ".join(result.stdout.split()), result.stdout
    create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "first"))
    converged(clusters, namespace, "first")

    # a local operator joins the same election: it stands by and writes nothing
    local_log = operator.bed.directory / "operator-standby.log"
    local_log.write_bytes(b"")
    with local_log.open("ab") as out:
        local = subprocess.Popen([sys.executable, "-m", "kbmc", "operator", "run", "--kubeconfig",
                                  str(operator.bed.kubeconfig), "--context", "control"],
                                 stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while b"leader election: Lease" not in local_log.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.2)
        joined = _now()
        time.sleep(3)
        assert local.poll() is None, local_log.read_text()[-2000:]
        assert b"operator started" not in local_log.read_bytes(), local_log.read_text()[-2000:]
        _only_writer(operator, leader, joined)
    finally:
        local.send_signal(signal.SIGTERM)
        assert local.wait(20) == 0, local_log.read_text()[-2000:]

    # 1. the leader's pod deleted: it hands the Lease over as it stops
    deleted = _now()
    rest.call(control, "DELETE", rest.path("Pod", NAMESPACE, leader))
    leader, took = _wait_renewed(control, deleted, timeout=30, other_than=leader)
    print(f"leader's pod deleted: Lease taken over in {took:.1f} s")
    assert took < LEASE_SECONDS, f"the Lease was not handed over: taken after {took:.1f} s"
    since = _now()
    create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "after-delete"))
    converged(clusters, namespace, "after-delete")
    _only_writer(operator, leader, since)

    # 2. the leader's process killed: its container is restarted (and, the same pod, may lead again at once),
    # or the standby takes over once the lease runs out
    killed_at, killed = _now(), leader
    os.kill(_process_of(leader), signal.SIGKILL)
    leader, took = _wait_renewed(control, killed_at, timeout=LEASE_SECONDS + 20)
    print(f"leader's process killed: Lease held again after {took:.1f} s (by {leader}, was {killed})")
    since = _now()
    create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "after-kill"))
    converged(clusters, namespace, "after-kill")
    assert _restarts(control, killed) >= 1
    _only_writer(operator, leader, since)

    # 3. the control plane's API server paused under the leader for longer than its renew deadline (10 s, and
    # a last try): the leader gives up and exits; afterwards one operator holds the Lease
    paused, restarts = leader, _restarts(control, leader)
    operator.bed.freeze("control")
    try:
        time.sleep(18)
    finally:
        operator.bed.thaw("control")
    thawed = _now()
    leader, took = _wait_renewed(control, thawed, timeout=LEASE_SECONDS + 20)
    print(f"control plane paused 18 s: Lease held again {took:.1f} s after (by {leader}, was {paused})")
    deadline = time.monotonic() + 20
    while _restarts(control, paused) == restarts and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _restarts(control, paused) > restarts, "the leader did not give up the Lease it could not renew"
    since = _now()
    create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "after-pause"))
    for name in ("first", "after-delete", "after-kill", "after-pause"):
        converged(clusters, namespace, name, timeout=120)
    _only_writer(operator, _lease(control)[0], since)


def _restarts(control: client.ApiClient, pod: str) -> int:
    found = rest.call(control, "GET", rest.path("Pod", NAMESPACE, pod))
    return int(sum(s.get("restartCount", 0) for s in found["status"].get("containerStatuses") or []))
