"""Day 2 decided from the pods alone (``core.members``): rolling changes under each updateStrategy, the leader
last after a switchover, a data plane that cannot be worked on holding the change, members joining before their
pod starts and leaving before their pod goes, and failed actions named.

Matrix: BestEffortParallel on 3 (one at a time, followers first, highest ordinal first) and 5 (two at a time) |
Serial waits for Ready and a role | Parallel replaces all | the leader: a switchover to an updated Ready member
first, then replaced once it is a follower | an unusable data plane holds the change | scale-out: the newcomer
waits while a Ready member (the leader) joins it, then starts | bootstrap: every member starts at once | scale-in:
the leaving leader hands over, then leaves, then goes | a failed action holds its step and says why.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kbmc.api.componentdefinition import ComponentDefinition
from kbmc.core import members
from kbmc.core.members import Member, Request, plan

ROOT = Path(__file__).resolve().parents[2]
ETCD = yaml.safe_load((ROOT / "addons" / "etcd" / "componentdefinition.yaml").read_text())


def definition(strategy: str | None = None) -> ComponentDefinition:
    body = copy.deepcopy(ETCD)
    if strategy:
        body["spec"]["updateStrategy"] = strategy
    return ComponentDefinition.model_validate(body)


def pod(ordinal: int, role: str = "follower", ready: bool = True,
        answer: dict[str, Any] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": f"c-etcd-{ordinal}", "labels": {members.ROLE: role} if role else {}}
    if answer is not None:
        meta["annotations"] = {members.RESULT: json.dumps(answer)}
    return {"metadata": meta, "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def member(ordinal: int, current: bool = False, usable: bool = True, **kwargs: Any) -> Member:
    return Member(ordinal, f"k8s-{ordinal % 3 + 1}", usable, pod(ordinal, **kwargs), current=current, joined=True)


def step(members_: list[Member], strategy: str | None = None, leaving: list[Member] | None = None,
         env: dict[str, str] | None = None) -> members.Step:
    return plan(definition(strategy), "c", "etcd", 7, members_, leaving or [], env if env is not None else {},
                has_volumes=True)


def test_best_effort_parallel_keeps_a_majority_followers_first() -> None:
    three = [member(0, role="leader"), member(1), member(2)]
    assert step(three).replace == {2}
    assert step([member(0, role="leader"), member(1), member(2, ready=False)]).replace == set(), "one is down"
    five = [member(0), member(1), member(2, role="leader"), member(3), member(4)]
    assert step(five).replace == {4, 3}
    assert "updated 0 of 5 (BestEffortParallel): replacing c-etcd-4, c-etcd-3" in step(five).updating


def test_serial_waits_for_ready_and_a_role() -> None:
    assert step([member(0, role="leader"), member(1), member(2)], "Serial").replace == {2}
    no_role = [member(0, role="leader"), member(1, current=True, role=""), member(2)]
    waiting = step(no_role, "Serial")
    assert waiting.replace == set() and "waiting for c-etcd-1 to be Ready with a role" in waiting.updating


def test_parallel_replaces_every_outdated_pod() -> None:
    assert step([member(0, role="leader"), member(1), member(2)], "Parallel").replace == {0, 1, 2}


def test_the_leader_goes_last_after_a_switchover() -> None:
    leader_left = [member(0, role="leader"), member(1, current=True), member(2, current=True)]
    first = step(leader_left)
    assert first.replace == set() and list(first.requests) == [0]
    assert first.requests[0] == Request("switchover/c-etcd-0/7", "switchover", {
        "KB_SWITCHOVER_CURRENT_NAME": "c-etcd-0", "KB_SWITCHOVER_CANDIDATE_NAME": "c-etcd-1"})
    answered = [member(0, role="leader", answer={"id": "switchover/c-etcd-0/7", "exitCode": 0}),
                member(1, current=True), member(2, current=True)]
    after = step(answered)
    assert after.replace == set() and not after.requests and after.poll, "waits for the role label to follow"
    moved = [member(0), member(1, current=True, role="leader"), member(2, current=True)]
    assert step(moved).replace == {0}


def test_a_failed_switchover_is_named() -> None:
    failing = [member(0, role="leader", answer={"id": "switchover/c-etcd-0/7", "exitCode": 1, "output": "no quorum"}),
               member(1, current=True), member(2, current=True)]
    failed = step(failing)
    assert failed.replace == set()
    assert failed.failed == "switchover on c-etcd-0 (before its update) exited 1: no quorum"


def test_a_data_plane_kbmc_cannot_work_on_holds_the_change() -> None:
    held = step([member(0, role="leader"), member(1, usable=False), member(2)])
    assert held.replace == set() and "data plane(s) k8s-2 cannot be worked on now" in held.held


@pytest.mark.parametrize("running", [True, False])
def test_scale_out_joins_one_member_at_a_time_through_the_leader(running: bool) -> None:
    group = [member(0, current=True), member(1, current=True, role="leader"), member(2, current=True)]
    newcomers = [Member(3, "k8s-1", True, claim="pvc3-uid-0000"), Member(4, "k8s-2", True, claim="pvc4-uid-0000")]
    if not running:  # a new Cluster: every member starts at once, nothing to join
        bootstrap = step([Member(o, "k8s-1", True) for o in range(3)])
        assert bootstrap.hold == set() and bootstrap.joined == {0, 1, 2}
        return
    first = step([*group, *newcomers], env={"PEER_ENDPOINT": "x"})
    assert first.hold == {3, 4} and list(first.requests) == [1]
    assert first.requests[1].env == {"PEER_ENDPOINT": "x", "KB_JOIN_MEMBER_POD_NAME": "c-etcd-3"}
    group[1] = member(1, current=True, role="leader", answer={"id": "memberJoin/c-etcd-3/pvc3-uid", "exitCode": 0})
    joined = step([*group, *newcomers], env={"PEER_ENDPOINT": "x"})
    assert joined.hold == {4} and 3 in joined.joined


def test_scale_in_hands_over_then_leaves_then_goes() -> None:
    group = [member(0, current=True), member(1, current=True)]
    leader = member(2, current=True, role="leader")
    handing = step(group, leaving=[leader])
    assert handing.keep == {2} and handing.requests[2].action == "switchover"
    follower = member(2, current=True)
    leaves = step(group, leaving=[follower])
    assert leaves.keep == {2} and leaves.requests[2] == Request("memberLeave/c-etcd-2", "memberLeave", {
        "KB_LEAVE_MEMBER_POD_NAME": "c-etcd-2"})
    gone = step(group, leaving=[member(2, current=True, answer={"id": "memberLeave/c-etcd-2", "exitCode": 0})])
    assert gone.keep == set()


def test_a_role_selector_selects_the_pods_of_that_role_and_pods_get_the_agent() -> None:
    from kbmc.api.cluster import Cluster  # noqa: PLC0415
    from kbmc.core.build import DEFAULT_CONTAINER, ComponentInput, build_cluster  # noqa: PLC0415
    from kbmc.core.services import plan_services  # noqa: PLC0415

    body = copy.deepcopy(ETCD)
    body["spec"]["services"][0]["roleSelector"] = "leader"
    etcd = ComponentDefinition.model_validate(body)
    claim = {"name": "data", "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    cluster = Cluster.model_validate({"metadata": {"name": "c", "namespace": "t", "uid": "u"}, "spec": {
        "terminationPolicy": "Delete",
        "componentSpecs": [{"name": "etcd", "componentDef": "etcd-0.9.0", "replicas": 1,
                            "volumeClaimTemplates": [claim]}]}})
    spec = cluster.spec.component_specs[0]
    built = build_cluster(cluster, [ComponentInput(spec, etcd, plan_services(spec, etcd), {0: "k8s-1"}, ["k8s-1"], {},
                                                   frozenset())], {}, "kbmc/kbmc:test")["k8s-1"]
    service = next(m for m in built if m["kind"] == "Service" and m["metadata"]["name"] == "c-etcd")
    assert service["spec"]["selector"][members.ROLE] == "leader"
    pod = next(m for m in built if m["kind"] == "Pod")
    assert [c["name"] for c in pod["spec"]["containers"]] == ["etcd", "kbmc-agent", "kbmc-actions"]
    assert pod["spec"]["containers"][1]["image"] == "kbmc/kbmc:test"
    assert pod["spec"]["containers"][2]["image"] == pod["spec"]["containers"][0]["image"], "the database's tools"
    assert pod["metadata"]["annotations"][DEFAULT_CONTAINER] == "etcd"
    role = next(m for m in built if m["kind"] == "Role")
    assert {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch"]} in role["rules"]
