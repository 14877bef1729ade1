"""Data safety under careless and hostile input, each drill ending with the invariant check: a hand edit of the
ordinal record never moves an instance (refused, restored, nothing deleted or created for it); objects that
only carry a Cluster's labels are left alone, also when the Cluster is deleted; shrinking the placement under a
live member keeps what it uses; a Cluster deleted after one of its DataPlanes was says what to do; what a finalizer
removed by hand left behind is swept (PVCs and ConfigMaps kept)."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from kbmc.core import names
from kbmc.errors import ApiError
from kbmc.kube import rest
from tests.drills.invariants import check_cluster, check_gone, converged
from tests.kube import Clusters, wait_object
from tests.operator.helpers import (
    condition,
    create_cluster,
    get_cluster,
    kbmc,
    objects,
    patch_cluster,
    phase_is,
    read,
    record,
    seed,
    set_replicas,
    wait_cluster,
    wait_event,
)
from tests.operator_env import Operator


def _converged(clusters: Clusters, namespace: str, name: str) -> dict[str, Any]:
    converged(clusters, namespace, name)
    return get_cluster(clusters["control"], namespace, name)


def _warning(clusters: Clusters, namespace: str, name: str, reason: str, containing: str = "",
             timeout: float = 30) -> str:
    """The message of a Warning Event in ``namespace`` about object ``name`` with ``reason`` that contains
    ``containing``."""
    found = wait_event(clusters["control"], namespace, name, lambda e: e["type"] == "Warning" and e[
        "reason"] == reason and containing in e["message"], timeout)
    return str(found["message"])


def _uids(clusters: Clusters, plane: str, namespace: str, *keys: tuple[str, str]) -> list[str]:
    return [read(clusters, plane, kind, namespace, name)["metadata"]["uid"] for kind, name in keys]


def test_record_edits_never_move_an_instance(operator: Operator, clusters: Clusters, namespace: str) -> None:
    control = clusters["control"]
    create_cluster(control, seed("etcd-self-hosted-cilium.yaml", namespace, "rec"))
    cluster = _converged(clusters, namespace, "rec")
    assert record(cluster)["etcd"] == {"0": "k8s-1", "1": "k8s-2", "2": "k8s-3"}
    member0 = _uids(clusters, "k8s-1", namespace, ("Pod", "rec-etcd-0"), ("PersistentVolumeClaim", "data-rec-etcd-0"))
    member1 = _uids(clusters, "k8s-2", namespace, ("Pod", "rec-etcd-1"), ("PersistentVolumeClaim", "data-rec-etcd-1"))
    for edit, moved, home in (({"0": "k8s-2", "1": "k8s-2", "2": "k8s-3"}, "0", "k8s-1"),
                              ({"0": "k8s-1", "1": "nope", "2": "k8s-3"}, "1", "k8s-2")):
        patch_cluster(control, namespace, "rec", {"metadata": {"annotations": {
            names.INSTANCES: json.dumps({"etcd": edit})}}})
        restored = wait_cluster(control, namespace, "rec", lambda c, h=home, o=moved: c is not None and record(c)[
            "etcd"][o] == h)
        assert restored is not None
        message = _warning(clusters, namespace, "rec", "RecordEditRefused", f"instance rec-etcd-{moved} lives")
        assert f"data plane {home}" in message, message
    assert _uids(clusters, "k8s-1", namespace, ("Pod", "rec-etcd-0"),
                 ("PersistentVolumeClaim", "data-rec-etcd-0")) == member0, "instance 0 was replaced"
    assert _uids(clusters, "k8s-2", namespace, ("Pod", "rec-etcd-1"),
                 ("PersistentVolumeClaim", "data-rec-etcd-1")) == member1, "instance 1 was replaced"
    assert objects(clusters, "k8s-2", namespace, "rec")["Pod"] == ["rec-etcd-1"], "an empty member was created"
    _converged(clusters, namespace, "rec")


def test_lookalike_objects_are_left_alone(operator: Operator, clusters: Clusters, namespace: str) -> None:
    control = clusters["control"]
    create_cluster(control, seed("etcd-self-hosted-cilium.yaml", namespace, "look", terminationPolicy="Delete"))
    cluster = _converged(clusters, namespace, "look")
    labels = {names.MANAGED_BY: names.MANAGER, names.INSTANCE: "look", names.COMPONENT: "etcd",
              names.CLUSTER_UID: cluster["metadata"]["uid"], names.DATA_PLANE: "k8s-1", names.ORDINAL: "0"}
    mine = [("ConfigMap", namespace, "my-settings", {"data": {"k": "v"}}),
            ("PersistentVolumeClaim", namespace, "backup", {"spec": {
                "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
            ("ConfigMap", "default", f"look-{namespace}"[:63], {"data": {"k": "v"}})]
    for kind, ns, name, rest_of in mine:
        rest.call(clusters["k8s-1"], "POST", rest.path(kind, ns), body={
            "apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": ns, "labels": labels}, **rest_of})
    try:
        message = _warning(clusters, namespace, "look", "LookAlikeLeftAlone")
        assert "kbmc leaves it alone" in message, message
        set_replicas(control, namespace, "look", 2)  # a pass that deletes (instance 2) must spare them too
        wait_cluster(control, namespace, "look", lambda c: c is not None and "2" not in record(c)["etcd"], timeout=90)
        rest.call(control, "DELETE", rest.path("Cluster", namespace, "look"))
        wait_cluster(control, namespace, "look", lambda c: c is None, timeout=90)
        for kind, ns, name, _ in mine:
            assert not read(clusters, "k8s-1", kind, ns, name)["metadata"].get("deletionTimestamp"), (kind, ns, name)
    finally:
        for kind, ns, name, _ in mine:
            rest.call(clusters["k8s-1"], "DELETE", rest.path(kind, ns, name))
    check_gone(clusters, namespace, "look")


def test_shrinking_the_placement_keeps_what_a_live_member_uses(operator: Operator, clusters: Clusters,
                                                              namespace: str) -> None:
    control = clusters["control"]
    create_cluster(control, seed("etcd-self-hosted-cilium.yaml", namespace, "shrink"))
    _converged(clusters, namespace, "shrink")
    before = objects(clusters, "k8s-3", namespace, "shrink")
    patch_cluster(control, namespace, "shrink", {"metadata": {"annotations": {names.PLACEMENT: "k8s-1,k8s-2"}}})
    said = wait_cluster(control, namespace, "shrink", lambda c: (condition(c, "PlacementValid") or {}).get(
        "reason") == "PlacementExcludesInstances")
    assert said is not None and "shrink-etcd-2 (k8s-3)" in (condition(said, "PlacementValid") or {})["message"]
    assert objects(clusters, "k8s-3", namespace, "shrink") == before
    set_replicas(control, namespace, "shrink", 2)  # the member leaves: now its data plane is emptied
    done = wait_cluster(control, namespace, "shrink", lambda c: (condition(c, "PlacementValid") or {}).get(
        "status") == "True" and phase_is("Running")(c) and "2" not in record(c or {})["etcd"], timeout=90)
    assert done is not None
    check_cluster(clusters, namespace, "shrink")
    assert objects(clusters, "k8s-3", namespace, "shrink") == {}
    assert get_cluster(control, namespace, "shrink")["status"]["phase"] == "Running"


def test_deleting_a_cluster_whose_data_plane_was_deleted_says_what_to_do(operator: Operator, clusters: Clusters,
                                                                         namespace: str) -> None:
    control = clusters["control"]
    dataplane = {"apiVersion": "kbmc.io/v1alpha1", "kind": "DataPlane", "metadata": {"name": "k8s-3"},
                 "spec": {"context": "k8s-3"}}  # as kbmc install made it
    create_cluster(control, seed("etcd-self-hosted-cilium.yaml", namespace, "gone", terminationPolicy="Delete"))
    _converged(clusters, namespace, "gone")
    rest.call(control, "DELETE", rest.path("DataPlane", name="k8s-3"))
    try:
        wait_cluster(control, namespace, "gone", lambda c: "names unknown data plane(s) k8s-3" in (
            condition(c, "PlacementValid") or {}).get("message", ""))  # nothing is written meanwhile
        rest.call(control, "DELETE", rest.path("Cluster", namespace, "gone"))
        said = wait_cluster(control, namespace, "gone", lambda c: "no longer exist" in (
            condition(c, "DataPlanesAvailable") or {}).get("message", ""))
        message = (condition(said, "DataPlanesAvailable") or {})["message"]
        assert "data plane(s) k8s-3 no longer exist" in message and "kbmc dataplane join" in message, message
        assert objects(clusters, "k8s-3", namespace, "gone")["Pod"] == ["gone-etcd-2"]  # left as it is
    finally:  # whatever happened, k8s-3 is back for the next test
        with contextlib.suppress(ApiError):
            rest.call(control, "POST", rest.path("DataPlane"), body=dataplane)
    wait_cluster(control, namespace, "gone", lambda c: c is None, timeout=90)
    check_gone(clusters, namespace, "gone")
    wait_object(control, "DataPlane", None, "k8s-3", lambda d: bool((d or {}).get("status", {}).get("reachable")))


def test_one_context_one_data_plane(operator: Operator, clusters: Clusters, namespace: str) -> None:
    control = clusters["control"]
    name = f"{namespace[:40]}-dup"
    rest.call(control, "POST", rest.path("DataPlane"), body={
        "apiVersion": "kbmc.io/v1alpha1", "kind": "DataPlane", "metadata": {"name": name},
        "spec": {"context": "k8s-1"}})
    try:
        wait_object(control, "DataPlane", None, name, lambda d: "already the data plane of DataPlane k8s-1" in (
            d or {}).get("status", {}).get("message", ""))
        create_cluster(control, seed("etcd-self-hosted-cilium.yaml", namespace, "dup", placement=f"k8s-2,{name}"))
        said = wait_cluster(control, namespace, "dup", lambda c: "one context, one DataPlane" in (
            condition(c, "DataPlanesReachable") or {}).get("message", ""))
        assert said is not None
        assert "Pod" not in objects(clusters, "k8s-1", namespace, "dup"), "written through the refused DataPlane"
    finally:
        rest.call(control, "DELETE", rest.path("DataPlane", name=name))
        with contextlib.suppress(ApiError):  # its cleanup would wait for the DataPlane: nothing was made there
            rest.call(control, "DELETE", rest.path("Cluster", namespace, "dup"))
            wait_cluster(control, namespace, "dup", lambda c: "no longer exist" in (
                condition(c, "DataPlanesAvailable") or {}).get("message", ""))
            patch_cluster(control, namespace, "dup", {"metadata": {"finalizers": None}})
    assert objects(clusters, "k8s-2", namespace, "dup") == {}


def test_what_a_finalizer_removed_by_hand_left_behind_is_swept(operator: Operator, clusters: Clusters,
                                                                namespace: str) -> None:
    """The Cluster's cleanup waits for k8s-3 (marked unavailable) and someone removes the finalizer: once k8s-3
    is available again its workloads, Services and RBAC there are removed, and its PVCs and ConfigMaps kept and
    reported."""
    control = clusters["control"]
    create_cluster(control, seed("etcd-self-hosted-cilium.yaml", namespace, "orphan", terminationPolicy="Delete"))
    _converged(clusters, namespace, "orphan")
    assert kbmc(operator.bed, "dataplane", "mark-unavailable", "k8s-3", "--reason", "drill").returncode == 0
    try:
        rest.call(control, "DELETE", rest.path("Cluster", namespace, "orphan"))
        wait_cluster(control, namespace, "orphan", lambda c: (c or {}).get("metadata", {}).get(
            "annotations", {}).get(names.PENDING_CLEANUP) == "k8s-3")
        patch_cluster(control, namespace, "orphan", {"metadata": {"finalizers": None}})
        wait_cluster(control, namespace, "orphan", lambda c: c is None)
        left = objects(clusters, "k8s-3", namespace, "orphan")
        assert left["Pod"] == ["orphan-etcd-2"] and left["Service"], left
    finally:
        assert kbmc(operator.bed, "dataplane", "mark-available", "k8s-3").returncode == 0
    wait_object(clusters["k8s-3"], "Pod", namespace, "orphan-etcd-2",
                lambda p: p is None or bool(p["metadata"].get("deletionTimestamp")), timeout=60)
    message = _warning(clusters, "default", "k8s-3", "OrphansRemoved", f"Cluster {namespace}/orphan")
    assert "kept ConfigMap orphan-etcd-env" in message and "PersistentVolumeClaim data-orphan-etcd-2" in message
    deadline = time.monotonic() + 30
    while set(objects(clusters, "k8s-3", namespace, "orphan")) != {"ConfigMap", "PersistentVolumeClaim"}:
        assert time.monotonic() < deadline, objects(clusters, "k8s-3", namespace, "orphan")
        time.sleep(0.5)
    for plane in ("k8s-1", "k8s-2"):
        assert objects(clusters, plane, namespace, "orphan") == {}

