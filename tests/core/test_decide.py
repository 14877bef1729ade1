"""A pass's decisions on snapshots built in memory (no API server): what is recorded, written, deleted, kept and
reported, and when the Cluster is looked at again."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from kbmc.api.cluster import Cluster, PodAntiAffinity
from kbmc.api.componentdefinition import ComponentDefinition
from kbmc.api.componentversion import ComponentVersion
from kbmc.core import members, names, placement
from kbmc.core.build import build_cluster
from kbmc.core.decide import Again, after_apply, cleanup_after_apply, decide, decide_cleanup, record_refused
from kbmc.core.plan import key_of
from kbmc.core.snapshot import PlaneSnapshot, Snapshot
from kbmc.core.status import compute
from kbmc.core.versions import Choice, write_pins
from kbmc.settings import QueueSettings

ROOT = Path(__file__).resolve().parents[2]
DEFINITION = ComponentDefinition.model_validate(yaml.safe_load((ROOT / "addons/etcd/componentdefinition.yaml")
                                                               .read_text()))
SCRIPTS = {"etcd-scripts": {"start.sh": "#!/bin/sh\n"}}
PLANES = ("k8s-1", "k8s-2", "k8s-3")
QUEUE = QueueSettings()
UID = "uid-1"


def cluster(**meta: Any) -> Cluster:
    """Three etcd members over three data planes, peering through LoadBalancer pod services."""
    return Cluster.model_validate({
        "metadata": {"namespace": "t", "name": "c", "uid": UID, "generation": 1, "resourceVersion": "7",
                     "annotations": {names.PLACEMENT: ",".join(PLANES)}, **meta},
        "spec": {"terminationPolicy": "WipeOut", "componentSpecs": [{
            "name": "etcd", "componentDef": "etcd-0.9.0", "replicas": 3,
            "volumeClaimTemplates": [{"name": "data", "spec": {"accessModes": ["ReadWriteOnce"],
                                                               "resources": {"requests": {"storage": "1Gi"}}}}],
            "services": [{"name": "peer", "serviceType": "LoadBalancer", "podService": True,
                          "annotations": {names.SERVICE_PLACEMENT: "unique"}}]}]}})


def snapshot(c: Cluster, objects: dict[str, list[dict[str, Any]]] | None = None, **planes: dict[str, Any]
             ) -> Snapshot:
    objects = objects or {}
    return Snapshot(key="t/c", cluster=c, definitions={"etcd-0.9.0": DEFINITION}, templates=SCRIPTS,
                    template_namespace="kb-system",
                    planes={n: PlaneSnapshot(n, objects={key_of(o): o for o in objects.get(n, [])},
                                             **planes.get(n.replace("-", "_"), {}))
                            for n in PLANES})


def converged(c: Cluster, **catalog: Any) -> dict[str, list[dict[str, Any]]]:
    """What a converged Cluster has in each data plane: every object it wants (pods once the peer Services have
    addresses), Pods Running and Ready. ``catalog``: definitions and versions instead of the addon's."""
    out: dict[str, list[dict[str, Any]]] = {}
    for _ in range(2):  # the Services and their addresses, then everything
        prepared = decide(Snapshot(**{**snapshot(c, out).__dict__, **catalog}), QUEUE).prepared
        out = {}
        for plane, manifests in build_cluster(c, prepared.components, {}).items():
            for manifest in copy.deepcopy(manifests):
                if manifest["kind"] == "Pod":
                    manifest["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
                if manifest["kind"] == "Service":
                    manifest["status"] = {"loadBalancer": {"ingress": [{"ip": f"10.0.{PLANES.index(plane)}.1"}]}}
                if manifest["kind"] == "PersistentVolumeClaim":  # as kbmc creates them: members of the group
                    manifest["metadata"].setdefault("annotations", {})[members.JOINED] = "true"
                out.setdefault(plane, []).append(manifest)
    return out


def answered(objects: dict[str, list[dict[str, Any]]], plane: str, pod: str, request: str, code: int,
             output: str = "") -> None:
    """The pod's agent answered ``request`` (as kbmc's agent writes it on its pod)."""
    found = next(o for o in objects[plane] if o["kind"] == "Pod" and o["metadata"]["name"] == pod)
    found["metadata"].setdefault("annotations", {})[members.RESULT] = json.dumps(
        {"id": request, "exitCode": code, "output": output})


def recorded(c: Cluster, record: dict[int, str]) -> Cluster:
    """``c`` as kbmc left it: its ordinal record, the definition it chose, the finalizer."""
    chosen = Choice("etcd-0.9.0", DEFINITION.spec.service_version or "")
    annotations = {**c.metadata.annotations, names.INSTANCES: placement.write_record({"etcd": record}),
                   names.DEFINITIONS: write_pins({"etcd": ("etcd-0.9.0", "", chosen)})}
    return c.model_copy(update={"metadata": c.metadata.model_copy(update={"annotations": annotations,
                                                                          "finalizers": [names.FINALIZER]})})


def test_a_new_cluster_records_before_it_creates_and_its_pods_wait_for_their_peers_addresses() -> None:
    snap = snapshot(cluster())
    decision = decide(snap, QUEUE)
    assert decision.metadata is not None
    patch = decision.metadata["metadata"]
    assert patch["resourceVersion"] == "7", "the record is written against the version it was decided on"
    assert json.loads(patch["annotations"][names.INSTANCES]) == {"etcd": {"0": "k8s-1", "1": "k8s-2", "2": "k8s-3"}}
    assert patch["finalizers"] == [names.FINALIZER]
    assert decision.record == {"etcd": {0: "k8s-1", 1: "k8s-2", 2: "k8s-3"}}
    assert sorted(decision.intents) == list(PLANES)
    assert all(i.action == "create" for items in decision.intents.values() for i in items)
    assert not any(i.kind == "Pod" for items in decision.intents.values() for i in items), \
        "no pod before the addresses its peers are told are known"
    assert {i.name for i in decision.intents["k8s-2"] if i.kind == "Service"} == {"c-etcd", "c-etcd-peer-1"}
    seen, again = after_apply(snap, decision, decision.intents, {})
    assert any(p.reason == "WaitingForAddresses" for p in seen.problems)
    assert [i.pod_phase for i in seen.components["etcd"]] == ["Missing"] * 3
    assert again == Again()


def test_pods_are_created_once_every_peer_address_is_known_and_reported_pending() -> None:
    c = recorded(cluster(), {0: "k8s-1", 1: "k8s-2", 2: "k8s-3"})
    objects = {p: [o for o in items if o["kind"] != "Pod"] for p, items in converged(c).items()}
    snap = snapshot(c, objects)
    decision = decide(snap, QUEUE)
    created = {p: [i.name for i in items if i.kind == "Pod"] for p, items in decision.intents.items()}
    assert created == {"k8s-1": ["c-etcd-0"], "k8s-2": ["c-etcd-1"], "k8s-3": ["c-etcd-2"]}
    assert {i.kind for items in decision.intents.values() for i in items} == {"Pod"}, "the rest is up to date"
    seen, _ = after_apply(snap, decision, decision.intents, {})
    assert [(i.name, i.data_plane, i.pod_phase) for i in seen.components["etcd"]] == [
        ("c-etcd-0", "k8s-1", "Pending"), ("c-etcd-1", "k8s-2", "Pending"), ("c-etcd-2", "k8s-3", "Pending")]
    assert all(i.addresses for i in seen.components["etcd"])


def test_a_converged_cluster_writes_nothing() -> None:
    c = recorded(cluster(), {0: "k8s-1", 1: "k8s-2", 2: "k8s-3"})
    snap = snapshot(c, converged(c))
    decision = decide(snap, QUEUE)
    assert decision.metadata is None and decision.intents == {} and decision.events == []
    seen, again = after_apply(snap, decision, {}, {})
    assert all(i.ready and i.addresses for i in seen.components["etcd"])
    status, _ = compute(c.status, seen, "now")
    assert status.phase == "Running"
    assert again == Again()


def test_a_record_edit_that_moves_a_live_instance_is_refused_and_nothing_is_deleted() -> None:
    c = recorded(cluster(), {0: "k8s-1", 1: "k8s-2", 2: "k8s-3"})
    objects = converged(c)
    moved = recorded(cluster(), {0: "k8s-2", 1: "k8s-2", 2: "k8s-3"})
    decision = decide(snapshot(moved, objects), QUEUE)
    assert decision.record == {"etcd": {0: "k8s-1", 1: "k8s-2", 2: "k8s-3"}}, "the record is restored"
    assert decision.metadata is not None
    assert json.loads(decision.metadata["metadata"]["annotations"][names.INSTANCES])["etcd"]["0"] == "k8s-1"
    refused = [p for p in decision.seen.problems if p.reason == "RecordEditRefused"]
    assert len(refused) == 1 and "c-etcd-0 lives in data plane k8s-1" in refused[0].message
    assert "data plane k8s-2" in refused[0].message
    assert not any(i.action == "delete" for items in decision.intents.values() for i in items)


def test_an_unreadable_record_is_reported_and_rebuilt_from_where_instances_live() -> None:
    c = recorded(cluster(), {0: "k8s-1", 1: "k8s-2", 2: "k8s-3"})
    objects = converged(c)
    broken = c.model_copy(update={"metadata": c.metadata.model_copy(update={"annotations": {
        **c.metadata.annotations, names.INSTANCES: "{not json"}})})
    decision = decide(snapshot(broken, objects), QUEUE)
    assert decision.record == {"etcd": {0: "k8s-1", 1: "k8s-2", 2: "k8s-3"}}
    assert any(p.reason == "RecordUnreadable" for p in decision.seen.problems)
    assert not any(i.action == "delete" for items in decision.intents.values() for i in items)


def test_a_data_plane_marked_unavailable_is_reported_first_and_never_written() -> None:
    c = recorded(cluster(), {0: "k8s-1", 1: "k8s-2", 2: "k8s-3"})
    objects = converged(c)
    down = {"available": False, "unusable": "marked unavailable: drill"}
    snap = snapshot(c, objects, k8s_2=down)
    decision = decide(snap, QUEUE)
    assert decision.intents == {} and decision.status_first, "status first, acting on the next pass"
    seen, _ = after_apply(snap, decision, {}, {})
    problem = next(p for p in seen.problems if p.type == "DataPlanesAvailable")
    assert "k8s-2 (marked unavailable: drill)" in problem.message
    assert [i.pod_phase for i in seen.components["etcd"]] == ["Running", "Unknown", "Running"]
    # once status says so, the next pass works in the other data planes only
    said, _ = compute(c.status, seen, "now")
    again = decide(snapshot(c.model_copy(update={"status": said}), objects, k8s_2=down), QUEUE)
    assert "k8s-2" not in again.intents and again.again == Again()


def test_a_data_plane_still_listing_is_looked_at_again_soon() -> None:
    c = recorded(cluster(), {0: "k8s-1", 1: "k8s-2", 2: "k8s-3"})
    listing = {"unusable": "not synced yet", "listing": True}
    snap = snapshot(c, converged(c), k8s_3=listing)
    said, _ = compute(c.status, after_apply(snap, decide(snap, QUEUE), {}, {})[0], "now")
    decision = decide(snapshot(c.model_copy(update={"status": said}), converged(c), k8s_3=listing), QUEUE)
    assert decision.again == Again(QUEUE.listing_retry)


def test_an_unknown_definition_blocks_everything() -> None:
    snap = snapshot(cluster())
    snap = Snapshot(**{**snap.__dict__, "definitions": {}})
    decision = decide(snap, QUEUE)
    assert decision.metadata is None and decision.intents == {} and decision.record is None
    seen, again = after_apply(snap, decision, {}, {})
    assert seen.blocked and again == Again()
    assert "no ComponentDefinition is named etcd-0.9.0 or matches it" in seen.problems[0].message


def test_a_service_version_kbmc_cannot_choose_is_reported() -> None:
    c = cluster()
    c.spec.component_specs[0].service_version = "3.5.15"
    decision = decide(snapshot(c), QUEUE)
    problem = next(p for p in decision.seen.problems if p.reason == "ServiceVersionUnsupported")
    assert "serviceVersion 3.5.15" in problem.message and "3.5.6" in problem.message
    assert decision.seen.blocked or decision.prepared.blocked
    assert decision.intents == {} and decision.metadata is None, "never the wrong version's images"


def test_a_refused_write_backs_off_and_says_what_was_refused() -> None:
    snap = snapshot(cluster())
    decision = decide(snap, QUEUE)
    seen, again = after_apply(snap, decision, {"k8s-1": []}, {"k8s-1": "create Pod t/c-etcd-0 in data plane k8s-1: "
                                                                        "422 Invalid"})
    assert again.backoff
    assert any(p.reason == "ApplyFailed" and "k8s-1" in p.message for p in seen.problems)
    assert next(i for i in seen.components["etcd"] if i.data_plane == "k8s-1").pod_phase == "Missing"
    refused = record_refused(decision, "metadata.annotations: Too long")
    assert refused.blocked and any(p.reason == "RecordRefused" for p in refused.problems)


def test_a_look_alike_is_left_alone_and_reported_once() -> None:
    c = recorded(cluster(), {0: "k8s-1", 1: "k8s-2", 2: "k8s-3"})
    objects = converged(c)
    lookalike = {"kind": "ConfigMap", "metadata": {"namespace": "default", "name": "mine", "labels": {}}}
    snap = snapshot(c, objects)
    planes = dict(snap.planes)
    planes["k8s-1"] = PlaneSnapshot("k8s-1", objects=planes["k8s-1"].objects, lookalikes=(key_of(lookalike),))
    snap = Snapshot(**{**snap.__dict__, "planes": planes})
    decision = decide(snap, QUEUE)
    assert [e[1] for e in decision.events] == ["LookAlikeLeftAlone"]
    assert decision.reported == {("k8s-1", key_of(lookalike))}
    assert not any(i.name == "mine" for items in decision.intents.values() for i in items)
    again = decide(Snapshot(**{**snap.__dict__, "reported": decision.reported}), QUEUE)
    assert again.events == []


def test_scale_in_keeps_the_retired_ordinal_recorded_until_its_objects_are_gone() -> None:
    c = recorded(cluster(), {0: "k8s-1", 1: "k8s-2", 2: "k8s-3"})
    objects = converged(c)
    c.spec.component_specs[0].replicas = 2
    leaving = decide(snapshot(c, objects), QUEUE)
    assert leaving.record == {"etcd": {0: "k8s-1", 1: "k8s-2", 2: "k8s-3"}}
    assert not any(i.action == "delete" for items in leaving.intents.values() for i in items)
    [asked] = [i for i in leaving.intents["k8s-3"] if i.kind == "Pod"]  # it leaves the group before anything goes
    assert (asked.action, asked.name) == ("patch", "c-etcd-2")
    request = json.loads(asked.body["metadata"]["annotations"][members.REQUEST])  # type: ignore[index]
    assert request == {"id": "memberLeave/c-etcd-2", "action": "memberLeave",
                       "env": {"KB_LEAVE_MEMBER_POD_NAME": "c-etcd-2"}}
    answered(objects, "k8s-3", "c-etcd-2", request["id"], 0)
    decision = decide(snapshot(c, objects), QUEUE)
    deleted = [(i.kind, i.name) for i in decision.intents["k8s-3"] if i.action == "delete"]
    assert ("Pod", "c-etcd-2") in deleted and ("PersistentVolumeClaim", "data-c-etcd-2") in deleted
    assert not any(i.action == "delete" for p in ("k8s-1", "k8s-2") for i in decision.intents.get(p, []))
    c.spec.termination_policy = "Halt"
    halted = decide(snapshot(c, objects), QUEUE)
    claims = [(i.action, i.body) for i in halted.intents["k8s-3"] if i.kind == "PersistentVolumeClaim"]
    assert claims == [("patch", {"metadata": {"annotations": {members.JOINED: None}}})], \
        "Halt keeps the volume, no longer a member's"
    gone = {p: items for p, items in objects.items() if p != "k8s-3"}
    assert decide(snapshot(c, gone), QUEUE).record == {"etcd": {0: "k8s-1", 1: "k8s-2"}}


def deleting(c: Cluster, policy: str) -> Cluster:
    c.spec.termination_policy = policy  # type: ignore[assignment]
    stamp = "2026-12-01T00:00:00Z"
    return c.model_copy(update={"metadata": c.metadata.model_copy(update={"deletion_timestamp": stamp})})


def test_deletion_under_halt_keeps_data_and_waits_for_a_data_plane_marked_unavailable() -> None:
    c = deleting(recorded(cluster(), {0: "k8s-1", 1: "k8s-2", 2: "k8s-3"}), "Halt")
    decision = decide_cleanup(snapshot(c, converged(c), k8s_3={"available": False, "unusable": "marked unavailable"}))
    assert decision is not None and decision.policy == "Halt" and not decision.done
    assert "k8s-3" not in decision.intents, "a data plane marked unavailable is never touched"
    deleted = {i.kind for items in decision.intents.values() for i in items}
    assert deleted == {"Pod", "Service", "ServiceAccount", "Role", "RoleBinding"}
    assert decision.pending == "k8s-3"
    seen, soon = cleanup_after_apply(decision, {})
    assert soon and {p.reason for p in seen.problems} >= {"CleanupPending", "CleanupInProgress"}
    status, _ = compute(c.status, seen, "now")
    ready = next(x for x in status.conditions if x.type == "Ready")
    assert (status.phase, ready.status) == ("Deleting", "False")


def test_deletion_finishes_when_nothing_is_left_and_refuses_under_do_not_terminate() -> None:
    c = deleting(recorded(cluster(), {0: "k8s-1", 1: "k8s-2", 2: "k8s-3"}), "Delete")
    done = decide_cleanup(snapshot(c))
    assert done is not None and done.done and done.intents == {}
    kept = decide_cleanup(snapshot(deleting(recorded(cluster(), {0: "k8s-1"}), "DoNotTerminate"), converged(c)))
    assert kept is not None and not kept.done and kept.intents == {} and kept.policy is None
    assert kept.seen.problems[0].reason == "DoNotTerminate"


def test_a_deletion_keeps_the_policy_it_started_with() -> None:
    c = deleting(recorded(cluster(), {0: "k8s-1"}), "Delete")
    started = c.model_copy(update={"metadata": c.metadata.model_copy(update={"annotations": {
        **c.metadata.annotations, names.DELETION_POLICY: "Halt"}})})
    decision = decide_cleanup(snapshot(started, converged(c)))
    assert decision is not None and decision.policy is None
    assert not any(i.kind == "PersistentVolumeClaim" for items in decision.intents.values() for i in items)
    assert any(p.reason == "DeletionPolicyFixed" for p in decision.seen.problems)


def test_a_deletion_names_a_data_plane_that_no_longer_exists() -> None:
    c = deleting(recorded(cluster(), {0: "k8s-1", 1: "k8s-9"}), "Delete")
    decision = decide_cleanup(snapshot(c))
    assert decision is not None and not decision.done and decision.pending == "k8s-9"
    assert "k8s-9 no longer exist" in decision.seen.problems[0].message


def test_again_takes_the_soonest() -> None:
    assert Again.soonest(Again(2.0), 0.5, None) == Again(0.5)
    assert Again.soonest(Again(backoff=True), None) == Again(None, backoff=True)
    assert Again.soonest(Again(1.0), Again(backoff=True)) == Again(1.0, backoff=True)
    assert Again.soonest() == Again()


def test_a_definition_change_rolls_out_under_the_update_strategy() -> None:
    """A change of the ComponentDefinition (not of the Cluster) replaces pods as a spec change does: one member
    at a time for 3 (BestEffortParallel), a follower first, never all at once."""
    c = recorded(cluster(), {0: "k8s-1", 1: "k8s-2", 2: "k8s-3"})
    objects = converged(c)
    for plane, items in objects.items():
        for item in items:
            if item["kind"] == "Pod":  # as the agents label them: c-etcd-0 leads
                item["metadata"]["labels"][members.ROLE] = "leader" if plane == "k8s-1" else "follower"
    changed = DEFINITION.model_copy(deep=True)
    changed.spec.runtime.containers[0].image = "docker.io/apecloud/etcd:v3.5.15"
    snap = snapshot(c, objects)
    decision = decide(Snapshot(**{**snap.__dict__, "definitions": {"etcd-0.9.0": changed}}), QUEUE)
    deleted = [(p, i.name) for p, items in decision.intents.items() for i in items if i.action == "delete"]
    assert deleted == [("k8s-3", "c-etcd-2")], deleted
    assert decision.seen.updating
    assert any(p.type == "Updated" and "updated 0 of 3 (BestEffortParallel): replacing c-etcd-2" in p.message
               for p in decision.seen.problems)


def test_a_prefix_and_a_component_version_give_the_definition_and_its_images() -> None:
    """componentDef names the definition by prefix; its containers have no image; the ComponentVersion's newest
    release gives them; the choice is recorded and shown; Cluster fields kbmc does not act on are named without
    holding anything; the Cluster's affinity and updateStrategy reach the pods."""
    body = DEFINITION.dump()
    body["metadata"] = {"name": "etcd-imageless-0.9.0"}
    body["spec"].pop("serviceVersion", None)
    for container in body["spec"]["runtime"]["containers"]:
        container.pop("image", None)
    imageless = ComponentDefinition.model_validate(body)
    release = {"name": "3.5.15", "serviceVersion": "3.5.15", "images": {"etcd": "quay.io/coreos/etcd:v3.5.15"}}
    cmpv = ComponentVersion.model_validate({"metadata": {"name": "etcd"}, "spec": {
        "compatibilityRules": [{"compDefs": ["etcd-imageless"], "releases": ["3.5.6", "3.5.15"]}],
        "releases": [{**release, "name": "3.5.6", "serviceVersion": "3.5.6",
                      "images": {"etcd": "quay.io/coreos/etcd:v3.5.6"}}, release]}})
    c = cluster()
    spec = c.spec.component_specs[0]
    spec.component_def, spec.tls, spec.update_strategy = "etcd-imageless", True, "Parallel"
    spec.affinity = PodAntiAffinity.model_validate({"podAntiAffinity": "Required", "topologyKeys": ["zone"]})
    snap = Snapshot(**{**snapshot(c).__dict__, "definitions": {"etcd-imageless-0.9.0": imageless},
                       "versions": {"etcd": cmpv}})
    decision = decide(snap, QUEUE)
    assert not decision.seen.blocked
    assert decision.prepared.components[0].definition.spec.update_strategy == "Parallel"
    unsupported = next(p for p in decision.seen.problems if p.type == "FieldsSupported")
    assert unsupported.message == "kept, not acted on by kbmc yet: spec.componentSpecs[etcd].tls: not supported yet"
    assert decision.metadata is not None
    assert json.loads(decision.metadata["metadata"]["annotations"][names.DEFINITIONS]) == {"etcd": {
        "componentDef": "etcd-imageless", "serviceVersion": "", "resolved": "etcd-imageless-0.9.0",
        "resolvedVersion": "3.5.15"}}
    built = build_cluster(c, decision.prepared.components, {})
    pods = [m for ms in built.values() for m in ms if m["kind"] == "Pod"]
    assert pods == [], "the pods wait for their peers' addresses"
    objects = converged(c, definitions=snap.definitions, versions=snap.versions)
    settled = decide(Snapshot(**{**snap.__dict__, "planes": {n: PlaneSnapshot(n, objects={
        key_of(o): o for o in objects.get(n, [])}) for n in PLANES}}), QUEUE)
    pod = next(m for m in build_cluster(c, settled.prepared.components, {})["k8s-1"] if m["kind"] == "Pod")
    assert pod["spec"]["containers"][0]["image"] == "quay.io/coreos/etcd:v3.5.15"
    assert pod["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0][
        "topologyKey"] == "zone"
    seen, _ = after_apply(snap, settled, {}, {})
    status, _ = compute(c.status, seen, "now")
    assert (status.components["etcd"].component_def, status.components["etcd"].service_version) == (
        "etcd-imageless-0.9.0", "3.5.15")
    assert any(x.type == "FieldsSupported" and x.status == "False" for x in status.conditions)
