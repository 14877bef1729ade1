"""The incident flow: an SRE marks a data plane unavailable with one command, and back.

Matrix: affected Clusters get a condition naming the data plane and the reason within 5 s, instances there
Unknown, phase Abnormal; Clusters elsewhere keep converging; no request reaches the data plane after the
mark (its audit log) | scale-out during the incident places new ordinals on the other data planes, existing
ones stay | automatic placement avoids it; a Cluster placed only there waits | deletion finishes elsewhere,
the rest runs once it is available again | unknown name refused.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Iterator

import pytest

from kbmc.kube import rest
from tests.kube import Clusters, wait_object
from tests.operator.helpers import (
    PLANES,
    condition,
    create_cluster,
    get_cluster,
    kbmc,
    objects,
    patch_cluster,
    phase_is,
    record,
    seed,
    set_replicas,
    wait_cluster,
)
from tests.operator_env import Operator

REASON = "zone b power outage"


@pytest.fixture
def incident(operator: Operator) -> Iterator[None]:
    """Whatever a test marks, k8s-2 is available and answering afterwards."""
    yield
    operator.bed.thaw("k8s-2")
    kbmc(operator.bed, "dataplane", "mark-available", "k8s-2")


def mark(operator: Operator) -> datetime.datetime:
    result = kbmc(operator.bed, "dataplane", "mark-unavailable", "k8s-2", "--reason", REASON)
    assert result.returncode == 0, result.stderr
    return datetime.datetime.now(datetime.UTC)


def unavailable(c: dict | None) -> bool:  # type: ignore[type-arg]
    found = condition(c, "DataPlanesAvailable") or {}
    return found.get("status") == "False" and "k8s-2" in found.get("message", "")


def test_mark_unavailable_reports_and_stops_every_request(operator: Operator, clusters: Clusters, namespace: str,
                                                          incident: None) -> None:
    control = clusters["control"]
    create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "spans"))
    create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "apart", placement="k8s-1,k8s-3",
                                 replicas=2))
    wait_cluster(control, namespace, "spans", phase_is("Running"))
    wait_cluster(control, namespace, "apart", phase_is("Running"))
    operator.bed.freeze("k8s-2")  # the outage: k8s-2 hangs
    started = time.monotonic()
    marked_at = mark(operator)
    spans = wait_cluster(control, namespace, "spans", unavailable, timeout=10)
    assert time.monotonic() - started < 5.0
    assert spans is not None
    assert REASON in (condition(spans, "DataPlanesAvailable") or {})["message"]
    assert spans["status"]["phase"] == "Abnormal"
    instances = {i["name"]: i for i in spans["status"]["components"]["etcd"]["instances"]}
    assert instances["spans-etcd-1"]["podPhase"] == "Unknown"
    assert instances["spans-etcd-1"]["dataPlane"] == "k8s-2"
    # Clusters with nothing there keep converging
    set_replicas(control, namespace, "apart", 3)
    apart = wait_cluster(control, namespace, "apart", phase_is("Running"))
    assert apart is not None and record(apart)["etcd"]["2"] == "k8s-1"
    assert condition(apart, "DataPlanesAvailable") is None
    # nothing was sent to k8s-2 after the mark (requests sent while frozen would be logged on thaw)
    operator.bed.thaw("k8s-2")
    time.sleep(3)
    late = []
    for line in (operator.bed.directory / "k8s-2" / "audit.log").read_text().splitlines():
        event = json.loads(line)
        received = datetime.datetime.fromisoformat(event["requestReceivedTimestamp"].replace("Z", "+00:00"))
        if "dataplane=k8s-2" in event.get("userAgent", "") and received > marked_at + datetime.timedelta(seconds=1):
            late.append(f"{event['verb']} {event['requestURI']}")
    assert late == []
    assert kbmc(operator.bed, "dataplane", "mark-available", "k8s-2").returncode == 0
    spans = wait_cluster(control, namespace, "spans", phase_is("Running"), timeout=30)
    assert (condition(spans, "DataPlanesAvailable") or {}).get("status") == "True"


def test_scale_out_during_an_incident_uses_the_other_data_planes(operator: Operator, clusters: Clusters,
                                                                  namespace: str, incident: None) -> None:
    control = clusters["control"]
    create_cluster(control, seed("etcd-self-hosted-cilium.yaml", namespace, "grow"))
    wait_cluster(control, namespace, "grow", phase_is("Running"))
    mark(operator)
    wait_cluster(control, namespace, "grow", unavailable, timeout=10)
    set_replicas(control, namespace, "grow", 5)
    def grown_elsewhere(c: dict | None) -> bool:  # type: ignore[type-arg]
        instances = (c or {}).get("status", {}).get("components", {}).get("etcd", {}).get("instances", [])
        return len(instances) == 5 and all(i["ready"] for i in instances if i["dataPlane"] != "k8s-2")

    grown = wait_cluster(control, namespace, "grow", grown_elsewhere)
    assert grown is not None
    assert record(grown)["etcd"] == {"0": "k8s-1", "1": "k8s-2", "2": "k8s-3", "3": "k8s-1", "4": "k8s-3"}
    assert objects(clusters, "k8s-1", namespace, "grow")["Pod"] == ["grow-etcd-0", "grow-etcd-3"]
    assert objects(clusters, "k8s-3", namespace, "grow")["Pod"] == ["grow-etcd-2", "grow-etcd-4"]
    assert grown["status"]["phase"] == "Abnormal"
    assert kbmc(operator.bed, "dataplane", "mark-available", "k8s-2").returncode == 0
    wait_cluster(control, namespace, "grow", phase_is("Running"))
    assert objects(clusters, "k8s-2", namespace, "grow")["Pod"] == ["grow-etcd-1"]


def test_new_clusters_avoid_it_or_wait(operator: Operator, clusters: Clusters, namespace: str,
                                       incident: None) -> None:
    control = clusters["control"]
    mark(operator)
    create_cluster(control, seed("etcd-self-hosted-cilium.yaml", namespace, "chosen", placement=None))
    chosen = wait_cluster(control, namespace, "chosen", phase_is("Running"))
    assert chosen is not None
    assert chosen["metadata"]["annotations"]["apps.kubeblocks.io/multi-cluster-placement"] == "k8s-1,k8s-3"
    create_cluster(control, seed("etcd-self-hosted-cilium.yaml", namespace, "only", placement="k8s-2", replicas=1))
    only = wait_cluster(control, namespace, "only", lambda c: "every data plane of the placement k8s-2 is "
                        "unavailable" in (condition(c, "DataPlanesAvailable") or {}).get("message", ""))
    assert only is not None
    assert only["status"]["components"]["etcd"]["instances"] == [
        {"name": "only-etcd-0", "dataPlane": "", "podPhase": "Pending", "ready": False, "addresses": []}]
    assert kbmc(operator.bed, "dataplane", "mark-available", "k8s-2").returncode == 0
    only = wait_cluster(control, namespace, "only", phase_is("Running"))
    assert only is not None and record(only)["etcd"] == {"0": "k8s-2"}


def test_deletion_during_an_incident_finishes_when_available(operator: Operator, clusters: Clusters,
                                                             namespace: str, incident: None) -> None:
    control = clusters["control"]
    create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "leaving"))
    wait_cluster(control, namespace, "leaving", phase_is("Running"))
    mark(operator)
    rest.call(control, "DELETE", rest.path("Cluster", namespace, "leaving"))
    waiting = wait_cluster(control, namespace, "leaving", lambda c: (c or {}).get("metadata", {}).get(
        "annotations", {}).get("kbmc.io/pending-cleanup") == "k8s-2")
    assert waiting is not None
    for plane in ("k8s-1", "k8s-3"):
        assert objects(clusters, plane, namespace, "leaving") == {}
    assert objects(clusters, "k8s-2", namespace, "leaving")["Pod"] == ["leaving-etcd-1"]  # never touched
    assert get_cluster(control, namespace, "leaving")["metadata"]["finalizers"] == ["kbmc.io/cleanup"]
    # half done, the deletion keeps the policy it started with (WipeOut): a later DoNotTerminate is reported
    patch_cluster(control, namespace, "leaving", {"spec": {"terminationPolicy": "DoNotTerminate"}})
    fixed = wait_cluster(control, namespace, "leaving", lambda c: (condition(c, "SpecValid") or {}).get(
        "reason") == "DeletionPolicyFixed")
    assert "continues under terminationPolicy WipeOut" in (condition(fixed, "SpecValid") or {})["message"]
    assert kbmc(operator.bed, "dataplane", "mark-available", "k8s-2").returncode == 0
    wait_cluster(control, namespace, "leaving", lambda c: c is None)
    for plane in PLANES:
        assert objects(clusters, plane, namespace, "leaving") == {}


def _ready(plane: dict | None) -> tuple[str, str]:  # type: ignore[type-arg]
    found = condition(plane, "Ready") or {}
    return found.get("status", ""), found.get("reason", "")


def test_list_describe_and_unknown_names(operator: Operator, incident: None) -> None:
    control = operator.control
    wait_object(control, "DataPlane", None, "k8s-2", lambda d: _ready(d) == ("True", "Ready"), timeout=30)
    mark(operator)
    wait_object(control, "DataPlane", None, "k8s-2", lambda d: _ready(d) == ("False", "MarkedUnavailable"),
                timeout=30)
    listed = kbmc(operator.bed, "dataplane", "list")
    assert listed.returncode == 0, listed.stderr
    assert "k8s-2" in listed.stdout and REASON in listed.stdout
    as_json = json.loads(kbmc(operator.bed, "dataplane", "list", "-o", "json").stdout)
    assert {i["metadata"]["name"]: i["spec"]["available"] for i in as_json["items"]}["k8s-2"] is False
    status = kbmc(operator.bed, "status")
    assert status.returncode == 1 and "not OK: data plane(s) k8s-2" in status.stderr, status.stderr
    described = kbmc(operator.bed, "dataplane", "describe", "k8s-2")
    assert "Available:" in described.stdout and "no" in described.stdout and "(kbmc cli)" in described.stdout
    result = kbmc(operator.bed, "dataplane", "mark-unavailable", "k8s-9", "--reason", "typo")
    assert result.returncode == 1
    assert "no DataPlane named 'k8s-9' (known: k8s-1, k8s-2, k8s-3)" in result.stderr
