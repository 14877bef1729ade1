"""Data planes at run time: each worked on independently; added without a restart; the control plane as a
data plane; every request identified as kbmc's; metrics and liveness served.

Matrix: frozen data plane -> Clusters elsewhere still converge, Clusters on it report it (Abnormal), thaw ->
Running | DataPlane for the control plane's context added at run time -> used | audit logs: no request
without the kbmc/ user agent | /metrics and /healthz.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from kbmc.kube import rest
from tests.kube import Clusters, wait_object
from tests.operator.helpers import condition, create_cluster, objects, phase_is, seed, wait_cluster
from tests.operator_env import Operator

ROOT = Path(__file__).resolve().parents[2]


def test_frozen_data_plane_delays_only_its_clusters(operator: Operator, clusters: Clusters, namespace: str) -> None:
    control = clusters["control"]
    operator.bed.freeze("k8s-3")
    try:
        create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "elsewhere", placement="k8s-1,k8s-2"))
        create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "stuck", placement="k8s-1,k8s-3"))
        wait_cluster(control, namespace, "elsewhere", phase_is("Running"))
        stuck = wait_cluster(control, namespace, "stuck",
                             lambda c: (condition(c, "DataPlanesReachable") or {}).get("status") == "False")
        assert stuck is not None
        assert "k8s-3" in (condition(stuck, "DataPlanesReachable") or {})["message"]
        assert stuck["status"]["phase"] == "Abnormal"
        # observed health, apart from the SRE's decision: reachable false, still available, a Warning event
        plane = wait_object(control, "DataPlane", None, "k8s-3",
                            lambda dp: (dp or {}).get("status", {}).get("reachable") is False)
        assert plane is not None and plane["spec"]["available"] is True
        events = rest.call(control, "GET", rest.path("Event", "default"),
                           query={"fieldSelector": "involvedObject.name=k8s-3"})["items"]
        assert any(e["type"] == "Warning" and e["reason"] == "Unreachable" for e in events)
    finally:
        operator.bed.thaw("k8s-3")
    wait_cluster(control, namespace, "stuck", phase_is("Running"), timeout=90)


def test_control_plane_added_as_a_data_plane_at_run_time(operator: Operator, clusters: Clusters,
                                                         namespace: str) -> None:
    control = clusters["control"]
    rest.call(control, "POST", rest.path("DataPlane"), body={
        "apiVersion": "kbmc.io/v1alpha1", "kind": "DataPlane", "metadata": {"name": "control"},
        "spec": {"context": "control"}})
    try:
        create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "home", placement="control", replicas=1))
        wait_cluster(control, namespace, "home", phase_is("Running"))
        assert objects(clusters, "control", namespace, "home")["Pod"] == ["home-etcd-0"]
        rest.call(control, "DELETE", rest.path("Cluster", namespace, "home"))
        wait_cluster(control, namespace, "home", lambda c: c is None)
    finally:
        rest.call(control, "DELETE", rest.path("DataPlane", name="control"))


def test_every_request_carries_the_kbmc_user_agent(operator: Operator, clusters: Clusters) -> None:
    for plane in ("control", "k8s-1", "k8s-2", "k8s-3"):
        log = operator.bed.directory / plane / "audit.log"
        agents = {json.loads(line).get("userAgent", "") for line in log.read_text().splitlines() if line.strip()}
        foreign = {a for a in agents if a.startswith(("kopf/", "OpenAPI-Generator", "Python-urllib"))}
        assert not foreign, f"{plane}: requests without kbmc's user agent: {foreign}"
        assert any(a.startswith("kbmc/0.1.0 (operator") or "dataplane=" in a for a in agents)


def test_metrics_and_liveness_are_served(operator: Operator) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert 'kbmc_reconciles_total{result="ok"}' in text
    assert 'kbmc_dataplane_up{dataplane="k8s-1"} 1.0' in text
    assert 'kbmc_dataplane_available{dataplane="k8s-1"} 1.0' in text
    assert "kbmc_reconcile_duration_seconds_bucket" in text
    writes = [s for family in text_string_to_metric_families(text) if family.name == "kbmc_dataplane_requests"
              for s in family.samples if s.name.endswith("_total")]
    assert any(s.labels["verb"] == "create" and s.labels["code"] == "2xx" and s.value > 0 for s in writes), writes
    exported = set(re.findall(r"^# TYPE (kbmc_\w+) ", text, re.MULTILINE))
    dashboard = json.loads((ROOT / "deploy/monitoring/grafana-dashboard.json").read_text())
    queried = {re.sub(r"_(bucket|count|sum|total)$", "", name) for panel in dashboard["panels"]
               for target in panel["targets"] for name in re.findall(r"kbmc_\w+", target["expr"])}
    assert queried and queried <= {re.sub(r"_total$", "", name) for name in exported}, queried - exported
    with urllib.request.urlopen(f"http://127.0.0.1:{operator.liveness_port}/healthz", timeout=5) as response:
        assert response.status == 200
