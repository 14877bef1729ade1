"""Status rules, without a cluster: which changes are significant (written at once), and which transitions
post events (a progress message moving on posts none)."""

from __future__ import annotations

from kbmc.api.cluster import ClusterStatus, InstanceStatus
from kbmc.core.status import Observation, Problem, compute, significant

NOW = "2026-11-22T00:00:00Z"


def observe(*problems: Problem, ready: bool = False, phase: str = "Pending") -> Observation:
    seen = Observation(generation=1, problems=list(problems))
    seen.components["etcd"] = [InstanceStatus(name="c-etcd-0", data_plane="k8s-1", pod_phase=phase, ready=ready)]
    return seen


def test_only_phase_or_condition_status_changes_are_significant() -> None:
    waiting = Problem("AddressesResolved", "WaitingForAddresses", "pods wait for the address of Service(s) a, b")
    first, _ = compute(ClusterStatus(), observe(waiting), NOW)
    moved_on, _ = compute(first, observe(Problem(waiting.type, waiting.reason, "pods wait for a"), phase="Running"),
                          NOW)
    resolved, _ = compute(moved_on, observe(phase="Running"), NOW)
    running, _ = compute(resolved, observe(ready=True, phase="Running"), NOW)
    assert significant(ClusterStatus(), first)
    assert not significant(first, moved_on)  # a message and a pod phase: detail, spaced
    assert significant(moved_on, resolved)  # AddressesResolved False -> True
    assert significant(resolved, running) and running.phase == "Running"


def test_progress_in_conditions_only_warnings_on_every_new_message_ready_once() -> None:
    waiting = Problem("AddressesResolved", "WaitingForAddresses", "pods wait for a, b")
    first, events = compute(ClusterStatus(), observe(waiting), NOW)
    assert events == [] and first.conditions[-1].reason == "WaitingForAddresses"
    _, events = compute(first, observe(Problem(waiting.type, waiting.reason, "pods wait for a")), NOW)
    assert events == []
    failed = Problem("ResourcesApplied", "ApplyFailed", "create Pod x in data plane k8s-1: 403")
    second, events = compute(first, observe(waiting, failed), NOW)
    assert [e[:2] for e in events] == [("Warning", "ApplyFailed")]
    _, events = compute(second, observe(waiting, Problem(failed.type, failed.reason, "create Pod y: 403")), NOW)
    assert [e[:2] for e in events] == [("Warning", "ApplyFailed")]
    ready, events = compute(second, observe(ready=True, phase="Running"), NOW)
    assert [e[:2] for e in events] == [("Normal", "Ready")]
    assert compute(ready, observe(ready=True, phase="Running"), NOW)[1] == []


def test_a_deleting_cluster_is_not_ready() -> None:
    running, _ = compute(ClusterStatus(), observe(ready=True, phase="Running"), NOW)
    deleting = observe(ready=True, phase="Running")
    deleting.deleting = True
    status, events = compute(running, deleting, NOW)
    ready = next(c for c in status.conditions if c.type == "Ready")
    assert (status.phase, ready.status, ready.reason) == ("Deleting", "False", "Deleting")
    assert events == [], "deletion is progress: no Warning"


def test_a_cluster_at_zero_replicas_is_stopped() -> None:
    seen = Observation(generation=1)
    seen.components["etcd"] = []
    status, _ = compute(ClusterStatus(), seen, NOW)
    assert (status.phase, status.components["etcd"].phase) == ("Stopped", "Stopped")


def test_ready_counts_ready_instances_over_all() -> None:
    seen = observe(phase="Running")
    seen.components["etcd"].append(InstanceStatus(name="c-etcd-1", data_plane="k8s-2", pod_phase="Running",
                                                  ready=True))
    status, _ = compute(ClusterStatus(), seen, NOW)
    assert status.ready == "1/2"
    assert compute(ClusterStatus(), Observation(generation=1, blocked=True), NOW)[0].ready is None
