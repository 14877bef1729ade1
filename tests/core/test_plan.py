"""The diff of one data plane, without a cluster: nothing to do when converged (server defaults ignored),
create what is missing, patch drift, recreate a Pod whose spec changed, delete the rest (PVCs kept when
asked), deletes before creates."""

from __future__ import annotations

from kbmc.core import names
from kbmc.core.plan import live_instances, plan_plane

CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "env", "namespace": "ns", "labels": {"a": "1"}},
      "data": {"K": "v"}}
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns", "labels": {"a": "1"},
                                                     "annotations": {names.SPEC_HASH: "h1"}}, "spec": {}}


def observed(*objs: dict) -> dict:  # type: ignore[type-arg]
    return {(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objs}


def test_converged_plane_needs_nothing_despite_server_defaults() -> None:
    have_cm = {**CM, "metadata": {**CM["metadata"], "uid": "u", "resourceVersion": "7", "labels": {"a": "1", "b": "2"}}}
    have_pod = {**POD, "spec": {"nodeName": "n", "volumes": [{"name": "token"}]}, "status": {"phase": "Running"}}
    assert plan_plane([CM, POD], observed(have_cm, have_pod)) == []


def test_missing_drifted_changed_and_extra_objects() -> None:
    drifted = {**CM, "data": {"K": "tampered"}}
    old_pod = {**POD, "metadata": {**POD["metadata"], "annotations": {names.SPEC_HASH: "h0"}}}
    extra = {"kind": "Service", "metadata": {"name": "old", "namespace": "ns"}}
    kept = {"kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "ns"}}
    intents = plan_plane([CM, POD], observed(drifted, old_pod, extra, kept), frozenset({"PersistentVolumeClaim"}))
    assert [i.describe() for i in intents] == [
        "delete Pod ns/p", "delete Service ns/old", "patch ConfigMap ns/env"]
    assert intents[2].body == {"data": {"K": "v"}, "metadata": {"labels": {"a": "1"}}}
    assert [i.describe() for i in plan_plane([CM, POD], {})] == ["create ConfigMap ns/env", "create Pod ns/p"]
    # a ConfigMap a new Pod reads is updated before the Pod is created
    assert [i.describe() for i in plan_plane([CM, POD], observed(drifted))] == [
        "patch ConfigMap ns/env", "create Pod ns/p"]


def test_only_objects_kbmc_names_for_the_cluster_are_its_own() -> None:
    labels = {names.INSTANCE: "db", names.COMPONENT: "etcd", names.ORDINAL: "0"}
    mine = [("Pod", "db-etcd-0"), ("Service", "db-etcd-peer-0"), ("Service", "db-etcd"), ("ConfigMap", "db-etcd-env"),
            ("Secret", "db-etcd-account-root"), ("PersistentVolumeClaim", "data-db-etcd-0"),
            ("ServiceAccount", "kb-db"), ("Role", "kb-db")]
    for kind, name in mine:
        assert names.made_for(kind, "ns", name, labels, "ns", "db"), (kind, name)
    lookalikes = [("ConfigMap", "ns", "my-settings"), ("PersistentVolumeClaim", "ns", "backup"),
                  ("PersistentVolumeClaim", "ns", "data-db-etcd-7"), ("ConfigMap", "default", "db-etcd-env"),
                  ("ConfigMap", "ns", "db-etcd"),
                  ("Role", "ns", "kb-other")]
    for kind, namespace, name in lookalikes:
        assert not names.made_for(kind, namespace, name, labels, "ns", "db"), (kind, namespace, name)
    assert not names.made_for("Pod", "ns", "db-etcd-0", {**labels, names.INSTANCE: "other"}, "ns", "db")


def test_instances_that_live_are_never_deleted_where_they_are_not_desired() -> None:
    def instance(kind: str, name: str, ordinal: int) -> dict:  # type: ignore[type-arg]
        return {"kind": kind, "metadata": {"name": name, "namespace": "ns", "labels": {
            names.COMPONENT: "etcd", names.ORDINAL: str(ordinal)}}}

    have = observed(instance("Pod", "db-etcd-0", 0), instance("PersistentVolumeClaim", "old-db-etcd-0", 0),
                    instance("Pod", "db-etcd-3", 3), instance("PersistentVolumeClaim", "data-db-etcd-3", 3))
    spare = live_instances(have, {"etcd": [0, 1, 2]})
    assert spare == {("Pod", "ns", "db-etcd-0"), ("PersistentVolumeClaim", "ns", "old-db-etcd-0")}
    assert [i.describe() for i in plan_plane([], have, spare=spare)] == [
        "delete Pod ns/db-etcd-3", "delete PersistentVolumeClaim ns/data-db-etcd-3"]
