"""Status, conditions, phase and transition events, computed from what was observed (pure; the clock is
passed in)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kbmc.api.cluster import ClusterPhase, ClusterStatus, ComponentStatus, InstanceStatus
from kbmc.api.common import Condition

EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True)
class Problem:
    """A condition to report False: its type, one-word reason and a message naming what and where."""

    type: str
    reason: str
    message: str


@dataclass
class Observation:
    """Everything status is computed from, gathered by one reconcile pass."""

    generation: int
    deleting: bool = False
    problems: list[Problem] = field(default_factory=list)
    """Conditions that are False (invalid spec, unavailable data plane, waiting addresses, ...)."""
    components: dict[str, list[InstanceStatus]] = field(default_factory=dict)
    blocked: bool = False
    """The Cluster cannot be built at all (invalid spec or placement)."""
    degraded: bool = False
    """Some instances are in a data plane that is unavailable or unreachable."""
    updating: bool = False
    """A rolling change or a membership change is under way (or held)."""
    definitions: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Component -> the ComponentDefinition and service version it runs."""


PROGRESS = frozenset({"WaitingForAddresses", "CleanupInProgress", "Deleting", "Updating", "CreatingAccounts"})
"""Reasons that describe expected progress: shown in conditions only. Every other problem is a Warning event,
posted again whenever its message changes; a Cluster becoming Ready is a Normal event."""
CONDITION_TYPES = ("Ready", "PlacementValid", "SpecValid", "FieldsSupported", "DataPlanesAvailable",
                   "DataPlanesReachable", "AddressesResolved", "ResourcesApplied", "Updated", "RolesProbed",
                   "DeletionAllowed")
OK_REASONS = {"Ready": "AllInstancesReady", "PlacementValid": "Valid", "SpecValid": "Valid",
              "FieldsSupported": "Supported",
              "DataPlanesAvailable": "Available", "DataPlanesReachable": "Reachable",
              "AddressesResolved": "Resolved", "ResourcesApplied": "Applied", "Updated": "UpToDate",
              "RolesProbed": "Probed", "DeletionAllowed": "Allowed"}


Event = tuple[EventType, str, str]


def compute(previous: ClusterStatus, seen: Observation, now: str) -> tuple[ClusterStatus, list[Event]]:
    instances = [i for items in seen.components.values() for i in items]
    all_ready = all(i.ready for i in instances) and not seen.blocked
    problems = {p.type: p for p in seen.problems}
    if seen.deleting:
        problems["Ready"] = Problem("Ready", "Deleting", "the Cluster is being deleted")
    if not all_ready and "Ready" not in problems:
        waiting = [i.name for i in instances if not i.ready]
        problems["Ready"] = Problem("Ready", "InstancesNotReady", f"not ready: {', '.join(waiting)}")
    old = {c.type: c for c in previous.conditions}
    conditions = []
    events: list[Event] = []
    for kind in CONDITION_TYPES:
        problem = problems.get(kind)
        state: Literal["True", "False"] = "False" if problem else "True"
        reason = problem.reason if problem else OK_REASONS[kind]
        message = problem.message if problem else ""
        before = old.get(kind)
        if before is None and state == "True" and kind != "Ready":
            continue  # only report positive conditions once they were negative (keeps status short)
        changed = before is None or before.status != state
        conditions.append(Condition(type=kind, status=state, reason=reason, message=message,
                                    last_transition_time=before.last_transition_time if before and not changed else now,
                                    observed_generation=seen.generation))
        if problem and problem.reason not in PROGRESS and kind != "Ready" and (
                changed or (before is not None and before.message != message)):
            events.append(("Warning", problem.reason, problem.message))
        if kind == "Ready" and state == "True" and changed:
            events.append(("Normal", "Ready", "all instances are ready"))
    phase = _phase(previous.phase, seen, all_ready)
    components = {
        name: ComponentStatus(phase=_component_phase(items, seen), instances=items,
                              component_def=seen.definitions.get(name, (None, None))[0],
                              service_version=seen.definitions.get(name, (None, None))[1] or None)
        for name, items in seen.components.items()
    }
    status = ClusterStatus(observed_generation=seen.generation, phase=phase, components=components,
                           conditions=conditions,
                           ready=f"{sum(i.ready for i in instances)}/{len(instances)}" if seen.components else None)
    return status, events


def _phase(previous: str | None, seen: Observation, all_ready: bool) -> ClusterPhase:
    if seen.deleting:
        return "Deleting"
    if seen.blocked:
        return "Failed"
    if seen.degraded:
        return "Abnormal"
    if seen.components and not any(seen.components.values()):
        return "Stopped"  # every component at 0 replicas, as KubeBlocks says
    if all_ready and not seen.updating:
        return "Running"
    if previous in (None, "Creating", "Failed"):
        return "Creating"
    return "Updating"


def _component_phase(items: list[InstanceStatus], seen: Observation) -> ClusterPhase:
    if seen.deleting:
        return "Deleting"
    if not items:
        return "Stopped"
    if any(i.pod_phase == "Unknown" for i in items):
        return "Abnormal"
    if items and all(i.ready for i in items):
        return "Running"
    return "Creating" if not any(i.ready for i in items) else "Updating"


def significant(old: ClusterStatus, new: ClusterStatus) -> bool:
    """Whether ``new`` changes the phase or a condition's status (what users and tools wait for)."""
    return old.phase != new.phase or {c.type: c.status for c in old.conditions} != {
        c.type: c.status for c in new.conditions}


def same(a: ClusterStatus, b: ClusterStatus) -> bool:
    """Equal for the purpose of writing status (a write only when something changed)."""
    return _plain(a) == _plain(b)


def _plain(status: ClusterStatus) -> Mapping[str, Any]:
    return status.model_dump(by_alias=True, exclude_none=True, mode="json")
