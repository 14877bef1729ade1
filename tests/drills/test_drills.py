"""Failure drills: faults injected into real API servers and the operator process, each ending with the
invariant check across every data plane (tests/drills/invariants.py).

Matrix: operator SIGKILLed at 11 seeded random points during creation, scale-out, spec change, scale-in and
deletion | a data plane stopped during creation, frozen during deletion | the control plane's API server
restarted under the running operator | the operator's token rotated in a data plane (401 until the Secret
has the new one) | a context removed from the Secret while Clusters use it (reported, nothing deleted) |
a data plane answering 429 (--max-requests-inflight=1) | a data plane answering slowly (paused in turns).
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
import signal
import threading
import time
import urllib.request

import pytest
import yaml

from kbmc.api.crd import all_crds
from kbmc.kube import rest
from kbmc.kube.client import new_client
from kbmc.kube.crds import apply_crds
from kbmc.ops.addons import load_addons
from kbmc.ops.join import detach, join
from tests.drills.invariants import check_gone
from tests.drills.invariants import converged as _converged
from tests.kube import Clusters, wait_object
from tests.operator.helpers import (
    REPORTED_ETCD,
    ROOT,
    condition,
    create_cluster,
    objects,
    phase_is,
    record,
    seed,
    set_replicas,
    wait_cluster,
)
from tests.operator_env import NAMESPACE, SECRET, Operator, operator_kubeconfig, reported_etcd

SEED = 20261122


def test_operator_killed_at_random_points(operator: Operator, clusters: Clusters, namespace: str) -> None:
    rng = random.Random(SEED)
    control = clusters["control"]
    steps = [
        ("create", lambda: create_cluster(control, seed("etcd-self-hosted-cilium.yaml", namespace, "kill",
                                                        terminationPolicy="Delete"))),
        ("scale-out", lambda: set_replicas(control, namespace, "kill", 5)),
        ("spec change", lambda: rest.call(control, "PATCH", rest.path("Cluster", namespace, "kill"),
                                          content_type=rest.JSON_PATCH, body=[
            {"op": "add", "path": "/spec/componentSpecs/0/labels", "value": {"tier": "gold"}}])),
        ("scale-in", lambda: set_replicas(control, namespace, "kill", 2)),
        ("scale-out again", lambda: set_replicas(control, namespace, "kill", 4)),
    ]
    points = 0
    for label, action in steps * 2:
        if label == "create" and points:
            rest.call(control, "DELETE", rest.path("Cluster", namespace, "kill"))
            delay = rng.uniform(0.0, 0.5)
            time.sleep(delay)
            operator.stop(signal.SIGKILL)
            operator.start()
            wait_cluster(control, namespace, "kill", lambda c: c is None, timeout=60)
            check_gone(clusters, namespace, "kill")
            points += 1
        action()
        time.sleep(rng.uniform(0.0, 0.6))
        operator.stop(signal.SIGKILL)  # mid-operation, at a seeded random point
        operator.start()
        points += 1
        _converged(clusters, namespace, "kill")
    assert points >= 10


def test_data_plane_stopped_during_creation(operator: Operator, clusters: Clusters, namespace: str) -> None:
    control = clusters["control"]
    create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "lost"))
    operator.bed.stop("k8s-2")
    try:
        stuck = wait_cluster(control, namespace, "lost",
                             lambda c: (condition(c, "DataPlanesReachable") or {}).get("status") == "False")
        assert stuck is not None and "k8s-2" in (condition(stuck, "DataPlanesReachable") or {})["message"]
    finally:
        operator.bed.start("k8s-2")
    _converged(clusters, namespace, "lost", timeout=120)


def test_data_plane_frozen_during_deletion(operator: Operator, clusters: Clusters, namespace: str) -> None:
    control = clusters["control"]
    create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "frozen"))
    _converged(clusters, namespace, "frozen")
    rest.call(control, "DELETE", rest.path("Cluster", namespace, "frozen"))
    operator.bed.freeze("k8s-3")
    time.sleep(3)
    operator.bed.thaw("k8s-3")
    wait_cluster(control, namespace, "frozen", lambda c: c is None, timeout=90)
    check_gone(clusters, namespace, "frozen")


def test_control_plane_api_server_restarted_again_and_again(operator: Operator, clusters: Clusters,
                                                             namespace: str) -> None:
    """Each round restarts the control plane's API server under the running operator (the second one twice in a
    row: killed as soon as it answers, while it still refuses custom resources), then proves kopf's watches are
    back for every kind: a Cluster created converges, a ComponentDefinition created and changed is seen, a
    DataPlane added is seen, and a Cluster from before follows a change of its spec."""
    control = clusters["control"]
    create_cluster(control, seed("etcd-self-hosted-cilium.yaml", namespace, "before"))
    _converged(clusters, namespace, "before")
    definition = yaml.safe_load((ROOT / "addons" / "etcd" / "componentdefinition.yaml").read_text())
    for round_ in range(3):
        operator.bed.restart_apiserver("control", interrupted=round_ == 1)
        assert operator.process is not None and operator.process.poll() is None, "the operator exited"
        name = f"{namespace[:40]}-{round_}"
        cmpd = {**definition, "metadata": {"name": name}}
        rest.call(control, "POST", rest.path("ComponentDefinition"), body=cmpd)
        dataplane = {"apiVersion": "kbmc.io/v1alpha1", "kind": "DataPlane", "metadata": {"name": name},
                     "spec": {"context": f"absent-{round_}"}}
        rest.call(control, "POST", rest.path("DataPlane"), body=dataplane)
        create_cluster(control, seed("etcd-self-hosted-cilium.yaml", namespace, f"after-{round_}"))
        set_replicas(control, namespace, "before", 3 + round_ % 2)
        try:
            wait_object(control, "ComponentDefinition", None, name, lambda d: (d or {}).get("status", {}).get(
                "observedGeneration") == 1, timeout=60)
            rest.call(control, "PATCH", rest.path("ComponentDefinition", name=name), content_type=rest.MERGE_PATCH,
                      body={"spec": {"description": f"changed in round {round_}"}})
            wait_object(control, "ComponentDefinition", None, name, lambda d: (d or {}).get("status", {}).get(
                "observedGeneration") == 2, timeout=60)
            context = dataplane["spec"]["context"]
            wait_object(control, "DataPlane", None, name, lambda d, c=context: c in (d or {}).get(
                "status", {}).get("message", ""), timeout=60)
            _converged(clusters, namespace, f"after-{round_}", timeout=120)
            _converged(clusters, namespace, "before", timeout=120)
        finally:
            rest.call(control, "DELETE", rest.path("DataPlane", name=name))
            rest.call(control, "DELETE", rest.path("ComponentDefinition", name=name))
    assert operator.process is not None and operator.process.poll() is None, "the operator exited"


def test_crd_removed_and_created_again(operator: Operator, clusters: Clusters, namespace: str) -> None:
    """A CRD removed under the running operator (its watch then gets a bare 404, as from a starting server) is
    reported and does not stop the operator or its other watches; the definitions a Cluster uses do not hold
    the CRD's deletion (their in-use finalizer goes with the kind); once the CRD is back, its kind is watched
    again and the Clusters that use it recover."""
    control = clusters["control"]
    create_cluster(control, seed("etcd-self-hosted-cilium.yaml", namespace, "steady"))
    _converged(clusters, namespace, "steady")
    wait_object(control, "ComponentDefinition", None, REPORTED_ETCD, lambda d: "kbmc.io/in-use" in (
        (d or {}).get("metadata", {}).get("finalizers") or []))
    crd = "componentdefinitions.apps.kubeblocks.io"
    rest.call(control, "DELETE", rest.path("CustomResourceDefinition", name=crd))
    try:
        wait_object(control, "CustomResourceDefinition", None, crd, lambda c: c is None, timeout=60)
        _metric_reaches(operator, 'kbmc_kind_served{kind="ComponentDefinition"} 0.0')
        assert operator.process is not None and operator.process.poll() is None, "the operator exited"
        name = f"{namespace[:40]}-x"
        rest.call(control, "POST", rest.path("DataPlane"), body={
            "apiVersion": "kbmc.io/v1alpha1", "kind": "DataPlane", "metadata": {"name": name},
            "spec": {"context": "absent"}})
        wait_object(control, "DataPlane", None, name, lambda d: "absent" in (d or {}).get("status", {}).get(
            "message", ""), timeout=60)  # the other kinds are still watched
        rest.call(control, "DELETE", rest.path("DataPlane", name=name))
    finally:
        apply_crds(control, [all_crds()["apps.kubeblocks.io_componentdefinitions.yaml"]])
        for manifest in [*load_addons(NAMESPACE), reported_etcd()]:
            if manifest["kind"] == "ComponentDefinition":
                rest.apply(control, manifest)
    assert "has no CRD componentdefinitions.apps.kubeblocks.io" in operator.log.read_text()
    _converged(clusters, namespace, "steady", timeout=120)
    create_cluster(control, seed("etcd-self-hosted-cilium.yaml", namespace, "later"))
    _converged(clusters, namespace, "later", timeout=120)
    assert operator.process is not None and operator.process.poll() is None, "the operator exited"


def _metric_reaches(operator: Operator, line: str, timeout: float = 60) -> None:
    """Wait until the operator's /metrics has ``line`` (metrics have no watch to wait on)."""
    deadline, text = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5) as response:
            text = response.read().decode()
        if line in text.splitlines():
            return
        time.sleep(0.5)
    raise AssertionError(f"/metrics has no line {line!r} after {timeout} s")


def test_operator_token_rotated(operator: Operator, clusters: Clusters, namespace: str) -> None:
    control = clusters["control"]
    create_cluster(control, seed("etcd-self-hosted-cilium.yaml", namespace, "rotate"))
    _converged(clusters, namespace, "rotate")
    operator.bed.rotate_token("k8s-1", "operator")  # the Secret still holds the old token: 401 in k8s-1
    set_replicas(control, namespace, "rotate", 4)
    stale = wait_cluster(control, namespace, "rotate", lambda c: "k8s-1" in " ".join(
        x.get("message", "") for x in (c or {}).get("status", {}).get("conditions", []) if x["status"] == "False"))
    assert stale is not None
    kubeconfig = base64.b64encode(yaml.safe_dump(operator_kubeconfig(operator.bed)).encode()).decode()
    rest.call(control, "PATCH", rest.path("Secret", NAMESPACE, SECRET), content_type=rest.MERGE_PATCH,
              body={"data": {"kubeconfig": kubeconfig}})
    _converged(clusters, namespace, "rotate", timeout=120)


def test_context_removed_while_in_use(operator: Operator, clusters: Clusters, namespace: str) -> None:
    control = clusters["control"]
    create_cluster(control, seed("etcd-self-hosted-cilium.yaml", namespace, "ctx"))
    _converged(clusters, namespace, "ctx")
    full = operator_kubeconfig(operator.bed)
    without = {**full, "contexts": [c for c in full["contexts"] if c["name"] != "k8s-3"]}

    def put(kubeconfig: dict) -> None:  # type: ignore[type-arg]
        rest.call(control, "PATCH", rest.path("Secret", NAMESPACE, SECRET), content_type=rest.MERGE_PATCH,
                  body={"data": {"kubeconfig": base64.b64encode(yaml.safe_dump(kubeconfig).encode()).decode()}})

    put(without)
    try:
        reported = wait_cluster(control, namespace, "ctx", lambda c: "context k8s-3 is not in the operator's "
                                "kubeconfig Secret" in (condition(c, "DataPlanesReachable") or {}).get("message", ""))
        assert reported is not None and reported["status"]["phase"] == "Abnormal"
        assert objects(clusters, "k8s-3", namespace, "ctx")["Pod"] == ["ctx-etcd-2"]  # nothing deleted
        set_replicas(control, namespace, "ctx", 6)  # ordinal 5 is k8s-3's: it waits there, never goes elsewhere
        scaled = wait_cluster(control, namespace, "ctx", lambda c: c is not None and "5" in record(c)["etcd"])
        assert scaled is not None and record(scaled)["etcd"]["5"] == "k8s-3", record(scaled)
    finally:
        put(full)
    _converged(clusters, namespace, "ctx")


def test_kubeconfig_secret_malformed_is_reported_without_its_text(operator: Operator, clusters: Clusters,
                                                                  namespace: str) -> None:
    """A malformed Secret is named with the kind of problem, and nothing of its text (here a token on the line
    the YAML error is at) reaches a Cluster's status, an Event, a DataPlane's status or the operator's log."""
    control = clusters["control"]
    create_cluster(control, seed("etcd-self-hosted-cilium.yaml", namespace, "badsecret"))
    _converged(clusters, namespace, "badsecret")
    token = "kbmcLeakCanary0123456789abcdef"
    good = rest.call(control, "GET", rest.path("Secret", NAMESPACE, SECRET))["data"]["kubeconfig"]
    bad = f"contexts: []\nusers:\n- name: x\n  user:\n    token: {token}: oops\n".encode()
    rest.call(control, "PATCH", rest.path("Secret", NAMESPACE, SECRET), content_type=rest.MERGE_PATCH,
              body={"data": {"kubeconfig": base64.b64encode(bad).decode()}})
    try:
        reported = wait_cluster(control, namespace, "badsecret", lambda c: "key 'kubeconfig' is not valid YAML at "
                                "line 5" in (condition(c, "DataPlanesReachable") or {}).get("message", ""))
        assert reported is not None and reported["status"]["phase"] == "Abnormal"
        for index, plane in enumerate(("k8s-1", "k8s-2", "k8s-3")):
            assert objects(clusters, plane, namespace, "badsecret")["Pod"] == [f"badsecret-etcd-{index}"]
        wait_object(control, "DataPlane", None, "k8s-1", lambda d: "not valid YAML" in (d or {}).get(
            "status", {}).get("message", ""), timeout=30)
        seen = [json.dumps(reported), json.dumps(rest.call(control, "GET", rest.path("DataPlane"))),
                json.dumps(rest.call(control, "GET", rest.path("Event", namespace))),
                json.dumps(rest.call(control, "GET", rest.path("Event", "default"))), operator.log.read_text()]
        assert not [text[:80] for text in seen if token in text], "the Secret's text was echoed"
    finally:
        rest.call(control, "PATCH", rest.path("Secret", NAMESPACE, SECRET), content_type=rest.MERGE_PATCH,
                  body={"data": {"kubeconfig": good}})
    _converged(clusters, namespace, "badsecret")


@pytest.fixture(autouse=True)
def _operator_alive(operator: Operator) -> None:
    """A drill that failed half-way must not leave the next one without an operator."""
    if operator.process is None or operator.process.poll() is not None:
        operator.start()


def test_data_plane_answering_429(operator: Operator, clusters: Clusters, namespace: str) -> None:
    """A real API server with room for one request at a time, kept busy by other clients, answers kbmc 429
    (kbmc's least-privilege identity there: system:masters would be exempt); kbmc retries and converges."""
    control, admin = clusters["control"], new_client(operator.bed.kubeconfig, "k8s-2", agent="drill/1")
    join(control, admin, "k8s-2-lp", NAMESPACE, SECRET)
    try:
        _busy_data_plane(operator, clusters, namespace)
    finally:  # whatever happened, the next tests see the three data planes only
        detach(control, admin, "k8s-2-lp", NAMESPACE, SECRET, [])


def _busy_data_plane(operator: Operator, clusters: Clusters, namespace: str) -> None:
    bed, control = operator.bed, clusters["control"]
    wait_object(control, "DataPlane", None, "k8s-2-lp", lambda dp: bool(dp and dp.get("status", {}).get("reachable")))
    # the neighbours use the joined identity too: system:masters requests take no in-flight slot at all
    secret = rest.call(control, "GET", rest.path("Secret", NAMESPACE, SECRET))["data"]["kubeconfig"]
    neighbours = new_client("", "k8s-2-lp", agent="drill/neighbour",
                            kubeconfig_dict=yaml.safe_load(base64.b64decode(secret)))
    bed.restart_apiserver("k8s-2", ["--max-requests-inflight=1", "--max-mutating-requests-inflight=1"])
    log = bed.directory / "k8s-2" / "audit.log"
    since = log.stat().st_size
    stop = threading.Event()

    def neighbour(index: int) -> None:
        name = f"noise-{index}"
        while not stop.is_set():
            with contextlib.suppress(Exception):
                rest.request(neighbours, "POST", rest.path("ConfigMap", namespace), body={"metadata": {"name": name}})
                rest.request(neighbours, "DELETE", rest.path("ConfigMap", namespace, name))

    def throttled() -> int:
        with log.open("rb") as fh:
            fh.seek(since)
            return sum(1 for line in fh if b'"code":429' in line and b'"userAgent":"kbmc/' in line)

    threads = [threading.Thread(target=neighbour, args=(i,), daemon=True) for i in range(6)]
    for thread in threads:
        thread.start()
    names = [f"busy{i}" for i in range(3)]
    try:
        try:
            for name in names:
                create_cluster(control, seed("etcd-self-hosted-cilium.yaml", namespace, name,
                                             placement="k8s-1,k8s-2-lp"))
            deadline = time.monotonic() + 90
            while not throttled():  # the audit log is written in batches of 0.2 s
                assert time.monotonic() < deadline, "the drill did not make k8s-2 answer kbmc 429"
                time.sleep(0.2)
        finally:  # the neighbours leave once kbmc has been refused: it must converge after its retries
            stop.set()
            for thread in threads:
                thread.join()
        for name in names:
            wait_cluster(control, namespace, name, phase_is("Running"), timeout=180)
    finally:
        bed.restart_apiserver("k8s-2", [])
    for name in names:
        assert objects(clusters, "k8s-2", namespace, name)["Pod"] == [f"{name}-etcd-1"]
        rest.call(control, "DELETE", rest.path("Cluster", namespace, name))
    for name in names:
        wait_cluster(control, namespace, name, lambda c: c is None, timeout=60)
        check_gone(clusters, namespace, name)


def test_data_plane_answering_slowly(operator: Operator, clusters: Clusters, namespace: str) -> None:
    """k8s-3's API server paused and resumed in turns (answers arrive late, some past the timeout)."""
    bed = operator.bed
    stop = threading.Event()

    def stutter() -> None:
        while not stop.is_set():
            bed.freeze("k8s-3")
            stop.wait(1.5)
            bed.thaw("k8s-3")
            stop.wait(0.7)

    thread = threading.Thread(target=stutter, daemon=True)
    thread.start()
    try:
        create_cluster(clusters["control"], seed("etcd-cross-cloud-lb.yaml", namespace, "slow"))
        create_cluster(clusters["control"], seed("etcd-self-hosted-cilium.yaml", namespace, "fast",
                                                 placement="k8s-1,k8s-2"))
        _converged(clusters, namespace, "fast", timeout=60)
        time.sleep(8)
    finally:
        stop.set()
        thread.join()
        bed.thaw("k8s-3")
    _converged(clusters, namespace, "slow", timeout=120)
