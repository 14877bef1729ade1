"""The operator places a Cluster's replicas across data planes and builds them there.

Matrix: seed example placed k8s-1,k8s-2,k8s-3 (pods, PVCs, unique pod Services, ConfigMaps and RBAC where
they belong; PEER_ENDPOINT with the three LB addresses; Running) | Cilium seed (mirrored ClusterIP pod
Services, host names) | placement chosen when absent and written back | scale 3 -> 5 -> 2 | pod deleted
out-of-band comes back | drift repaired | zero writes when converged | operator restarted mid-creation.
"""

from __future__ import annotations

import json
import signal
import time

from kbmc.core import placement
from kbmc.errors import ApiError
from kbmc.kube import rest
from tests.kube import Clusters
from tests.operator.helpers import (
    PLANES,
    create_cluster,
    get_cluster,
    objects,
    patch_cluster,
    phase_is,
    read,
    record,
    seed,
    set_replicas,
    wait_cluster,
)
from tests.operator_env import Operator

SHARED = {"ConfigMap", "ServiceAccount", "Role", "RoleBinding"}


def test_seed_example_runs_across_three_data_planes(operator: Operator, clusters: Clusters, namespace: str) -> None:
    control = clusters["control"]
    create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "cloud"))
    cluster = wait_cluster(control, namespace, "cloud", phase_is("Running"))
    assert cluster is not None
    assert record(cluster) == {"etcd": {"0": "k8s-1", "1": "k8s-2", "2": "k8s-3"}}
    addresses = {}
    for index, plane in enumerate(PLANES):
        found = objects(clusters, plane, namespace, "cloud")
        assert found["Pod"] == [f"cloud-etcd-{index}"]
        assert found["PersistentVolumeClaim"] == [f"data-cloud-etcd-{index}"]
        assert found["ConfigMap"] == ["cloud-etcd-env", "cloud-etcd-etcd-scripts"]
        assert found["ServiceAccount"] == found["Role"] == found["RoleBinding"] == ["kb-cloud"]
        # unique pod services: only the pod's own data plane; mirrored component service everywhere
        assert found["Service"] == ["cloud-etcd", f"cloud-etcd-peer-{index}"]
        peer = read(clusters, plane, "Service", namespace, f"cloud-etcd-peer-{index}")
        assert peer["spec"]["type"] == "LoadBalancer"
        assert peer["spec"]["externalTrafficPolicy"] == "Local"
        assert peer["spec"]["selector"]["apps.kubeblocks.io/pod-name"] == f"cloud-etcd-{index}"
        annotations = peer["metadata"]["annotations"]
        assert annotations["service.beta.kubernetes.io/volcengine-loadbalancer-address-type"] == "PUBLIC"
        assert "apps.kubeblocks.io/multi-cluster-service-placement" not in annotations
        addresses[f"cloud-etcd-peer-{index}"] = peer["status"]["loadBalancer"]["ingress"][0]["ip"]
        pod = read(clusters, plane, "Pod", namespace, f"cloud-etcd-{index}")
        assert pod["spec"]["serviceAccountName"] == "kb-cloud"
        assert pod["metadata"]["labels"]["kbmc.io/cluster-uid"] == cluster["metadata"]["uid"]
        assert not pod["metadata"].get("ownerReferences")
    expected = ",".join(f"{name}:{ip}" for name, ip in sorted(addresses.items()))
    for plane in PLANES:
        env = read(clusters, plane, "ConfigMap", namespace, "cloud-etcd-env")
        assert env["data"]["PEER_ENDPOINT"] == expected
    instances = cluster["status"]["components"]["etcd"]["instances"]
    assert [(i["name"], i["dataPlane"], i["ready"]) for i in instances] == [
        ("cloud-etcd-0", "k8s-1", True), ("cloud-etcd-1", "k8s-2", True), ("cloud-etcd-2", "k8s-3", True)]
    assert [i["addresses"] for i in instances] == [[addresses[f"cloud-etcd-peer-{n}"]] for n in range(3)]


def test_cilium_seed_mirrors_pod_services_with_host_names(operator: Operator, clusters: Clusters,
                                                          namespace: str) -> None:
    control = clusters["control"]
    create_cluster(control, seed("etcd-self-hosted-cilium.yaml", namespace, "mesh"))
    wait_cluster(control, namespace, "mesh", phase_is("Running"))
    for plane in PLANES:
        found = objects(clusters, plane, namespace, "mesh")
        assert found["Service"] == ["mesh-etcd", "mesh-etcd-peer-0", "mesh-etcd-peer-1", "mesh-etcd-peer-2"]
        peer = read(clusters, plane, "Service", namespace, "mesh-etcd-peer-1")
        assert peer["spec"]["type"] == "ClusterIP"
        assert peer["metadata"]["annotations"]["service.cilium.io/global"] == "true"
        env = read(clusters, plane, "ConfigMap", namespace, "mesh-etcd-env")
        assert env["data"]["PEER_ENDPOINT"] == "mesh-etcd-peer-0,mesh-etcd-peer-1,mesh-etcd-peer-2"


def test_placement_is_chosen_when_absent_and_written_back(operator: Operator, clusters: Clusters,
                                                          namespace: str) -> None:
    control = clusters["control"]
    create_cluster(control, seed("etcd-self-hosted-cilium.yaml", namespace, "auto", placement=None, replicas=1))
    cluster = wait_cluster(control, namespace, "auto", phase_is("Running"))
    assert cluster is not None
    chosen = cluster["metadata"]["annotations"]["apps.kubeblocks.io/multi-cluster-placement"]
    views = {p: placement.PlaneView(p) for p in PLANES}
    assert chosen.split(",") == placement.choose(f"{namespace}/auto", 1, views, namespace)
    (plane,) = chosen.split(",")
    assert objects(clusters, plane, namespace, "auto")["Pod"] == ["auto-etcd-0"]
    for other in set(PLANES) - {plane}:
        assert objects(clusters, other, namespace, "auto") == {}


def test_scale_out_and_in(operator: Operator, clusters: Clusters, namespace: str) -> None:
    control = clusters["control"]
    create_cluster(control, seed("etcd-self-hosted-cilium.yaml", namespace, "scale", terminationPolicy="Delete"))
    wait_cluster(control, namespace, "scale", phase_is("Running"))
    set_replicas(control, namespace, "scale", 5)
    cluster = wait_cluster(control, namespace, "scale", phase_is("Running"))
    assert cluster is not None
    assert record(cluster)["etcd"] == {"0": "k8s-1", "1": "k8s-2", "2": "k8s-3", "3": "k8s-1", "4": "k8s-2"}
    assert objects(clusters, "k8s-1", namespace, "scale")["Pod"] == ["scale-etcd-0", "scale-etcd-3"]
    assert objects(clusters, "k8s-2", namespace, "scale")["Pod"] == ["scale-etcd-1", "scale-etcd-4"]
    set_replicas(control, namespace, "scale", 2)
    cluster = wait_cluster(control, namespace, "scale", lambda c: phase_is("Running")(c) and len(
        record(c or {})["etcd"]) == 2)
    assert cluster is not None
    assert objects(clusters, "k8s-1", namespace, "scale")["Pod"] == ["scale-etcd-0"]
    assert objects(clusters, "k8s-1", namespace, "scale")["PersistentVolumeClaim"] == ["data-scale-etcd-0"]
    assert objects(clusters, "k8s-2", namespace, "scale")["Pod"] == ["scale-etcd-1"]
    assert "Pod" not in objects(clusters, "k8s-3", namespace, "scale")
    assert "PersistentVolumeClaim" not in objects(clusters, "k8s-3", namespace, "scale")


def test_out_of_band_changes_are_repaired(operator: Operator, clusters: Clusters, namespace: str) -> None:
    control = clusters["control"]
    create_cluster(control, seed("etcd-self-hosted-cilium.yaml", namespace, "drift"))
    wait_cluster(control, namespace, "drift", phase_is("Running"))
    k8s2, k8s3 = clusters["k8s-2"], clusters["k8s-3"]
    old_uid = read(clusters, "k8s-2", "Pod", namespace, "drift-etcd-1")["metadata"]["uid"]
    rest.call(k8s2, "DELETE", rest.path("Pod", namespace, "drift-etcd-1"), body={"gracePeriodSeconds": 0})
    rest.call(k8s3, "PATCH", rest.path("ConfigMap", namespace, "drift-etcd-env"), content_type=rest.MERGE_PATCH,
              body={"data": {"PEER_ENDPOINT": "tampered"}})
    rest.call(k8s3, "DELETE", rest.path("Service", namespace, "drift-etcd-peer-0"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            pod = read(clusters, "k8s-2", "Pod", namespace, "drift-etcd-1")
            env = read(clusters, "k8s-3", "ConfigMap", namespace, "drift-etcd-env")
            read(clusters, "k8s-3", "Service", namespace, "drift-etcd-peer-0")
        except ApiError:
            time.sleep(0.2)
            continue
        if pod["metadata"]["uid"] != old_uid and env["data"]["PEER_ENDPOINT"] != "tampered":
            break
        time.sleep(0.2)
    assert pod["metadata"]["uid"] != old_uid
    assert env["data"]["PEER_ENDPOINT"] == "drift-etcd-peer-0,drift-etcd-peer-1,drift-etcd-peer-2"


def _writes_by_kbmc(operator: Operator, plane: str, since: int) -> list[str]:
    log = operator.bed.directory / plane / "audit.log"
    lines = log.read_bytes()[since:].decode(errors="replace").splitlines()
    events = [json.loads(line) for line in lines if line.strip()]
    return [f"{e['verb']} {e['requestURI']}" for e in events
            if e.get("userAgent", "").startswith("kbmc/") and "dataplane=" in e.get("userAgent", "")
            and e["verb"] in ("create", "update", "patch", "delete")]


def test_converged_cluster_reconciled_again_makes_no_write(operator: Operator, clusters: Clusters,
                                                           namespace: str) -> None:
    control = clusters["control"]
    create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "quiet"))
    wait_cluster(control, namespace, "quiet", phase_is("Running"))
    time.sleep(1.5)  # let the audit backend flush the creation (batches of 200 ms)
    sizes = {p: (operator.bed.directory / p / "audit.log").stat().st_size for p in PLANES}
    patch_cluster(control, namespace, "quiet", {"metadata": {"annotations": {"example.com/touch": "1"}}})
    # every Cluster is reconciled again when a DataPlane changes, too
    rest.call(control, "PATCH", rest.path("DataPlane", name="k8s-1"), content_type=rest.MERGE_PATCH,
              body={"metadata": {"labels": {"example.com/touch": str(time.time_ns())}}})
    wait_cluster(control, namespace, "quiet", lambda c: bool(c) and "example.com/touch" in c["metadata"]["annotations"])
    time.sleep(2)
    for plane in PLANES:
        assert _writes_by_kbmc(operator, plane, sizes[plane]) == []


def test_operator_restarted_mid_creation_converges_without_duplicates(operator: Operator, clusters: Clusters,
                                                                      namespace: str) -> None:
    control = clusters["control"]
    operator.stop(signal.SIGKILL)
    try:
        create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "restart"))
    finally:
        operator.start()
    cluster = wait_cluster(control, namespace, "restart", phase_is("Running"))
    assert cluster is not None
    for index, plane in enumerate(PLANES):
        assert objects(clusters, plane, namespace, "restart")["Pod"] == [f"restart-etcd-{index}"]
    assert get_cluster(control, namespace, "restart")["metadata"]["finalizers"] == ["kbmc.io/cleanup"]


def test_scale_out_never_recreates_existing_pods(operator: Operator, clusters: Clusters, namespace: str) -> None:
    """New LoadBalancer pod services wait for addresses; only the new Pods wait with them."""
    control = clusters["control"]
    create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "keep", placement="k8s-1,k8s-3", replicas=2))
    wait_cluster(control, namespace, "keep", phase_is("Running"))
    before = {name: read(clusters, plane, "Pod", namespace, name)["metadata"]["uid"]
              for name, plane in (("keep-etcd-0", "k8s-1"), ("keep-etcd-1", "k8s-3"))}
    set_replicas(control, namespace, "keep", 3)
    wait_cluster(control, namespace, "keep", phase_is("Running"))
    after = {name: read(clusters, plane, "Pod", namespace, name)["metadata"]["uid"]
             for name, plane in (("keep-etcd-0", "k8s-1"), ("keep-etcd-1", "k8s-3"))}
    assert after == before
    assert "keep-etcd-2" in objects(clusters, "k8s-1", namespace, "keep")["Pod"]
