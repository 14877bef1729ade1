"""The invariant every drill ends with, checked across every data plane from the API servers themselves."""

from __future__ import annotations

import time

from kbmc.core import names
from kbmc.errors import NoAnswerError
from tests.kube import Clusters
from tests.operator.helpers import PLANES, get_cluster, objects, phase_is, record, wait_cluster


def check_cluster(clusters: Clusters, namespace: str, name: str) -> None:
    """A converged Cluster: every desired object exists exactly once, in the right data plane; no ordinal in
    two data planes; status matches what runs."""
    cluster = get_cluster(clusters["control"], namespace, name)
    placement = cluster["metadata"]["annotations"][names.PLACEMENT].split(",")
    ordinals = record(cluster)["etcd"]
    replicas = cluster["spec"]["componentSpecs"][0]["replicas"]
    assert sorted(int(o) for o in ordinals) == list(range(replicas)), ordinals
    seen: dict[str, str] = {}
    for plane in PLANES:
        found = objects(clusters, plane, namespace, name)
        for pod in found.get("Pod", []):
            assert pod not in seen, f"{pod} in {seen[pod]} and {plane}"
            seen[pod] = plane
        if plane in placement or plane in ordinals.values():  # a live member keeps what it uses where it is
            assert found["ServiceAccount"] == found["Role"] == found["RoleBinding"] == [f"kb-{name}"], (plane, found)
            assert f"{name}-etcd-env" in found["ConfigMap"], (plane, found)
        else:
            assert found == {}, (plane, found)
    assert seen == {names.pod(name, "etcd", int(o)): p for o, p in ordinals.items()}
    instances = {i["name"]: i for i in cluster["status"]["components"]["etcd"]["instances"]}
    assert {n: i["dataPlane"] for n, i in instances.items()} == seen
    assert cluster["status"]["phase"] == "Running" and all(i["ready"] for i in instances.values())


def converged(clusters: Clusters, namespace: str, name: str, timeout: float = 90) -> None:
    """Wait until the Cluster is Running, then until the invariant holds (status may trail the objects by a
    pass; a paused data plane can time out the check's own reads)."""
    wait_cluster(clusters["control"], namespace, name, phase_is("Running"), timeout=timeout)
    deadline = time.monotonic() + 30
    while True:
        try:
            check_cluster(clusters, namespace, name)
            return
        except (AssertionError, NoAnswerError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def check_gone(clusters: Clusters, namespace: str, name: str) -> None:
    """Nothing kbmc created for a deleted Cluster is left in any data plane."""
    for plane in PLANES:
        assert objects(clusters, plane, namespace, name) == {}, plane
