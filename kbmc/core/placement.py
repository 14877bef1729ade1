"""Which data plane each instance ordinal lives in.

The placement is the annotation's list of data planes (or kbmc's deterministic choice, written back).
Ordinal i goes to ``placement[i % n]``, except that an ordinal created while that data plane is marked
unavailable goes to the next available one of the placement. Once recorded, an ordinal never moves.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from kbmc.core.names import INSTANCES, PLACEMENT
from kbmc.errors import PlacementError


@dataclass(frozen=True)
class PlaneView:
    """What placement needs to know of a data plane."""

    name: str
    available: bool = True
    """The SRE's decision (DataPlane spec.available): new ordinals skip a data plane marked unavailable."""
    allowed_namespaces: tuple[str, ...] = ()
    configured: bool = True
    """kbmc has working credentials for it. One without is unreachable, not unavailable: kbmc's own choice of a
    placement avoids it, but an ordinal the placement gives it waits for it (it never goes elsewhere)."""

    def admits(self, namespace: str) -> bool:
        return not self.allowed_namespaces or namespace in self.allowed_namespaces


def parse(value: str, annotation: str) -> list[str]:
    """Split the placement annotation; every mistake is an error naming the annotation and the entry."""
    if not value.strip():
        raise PlacementError(f"annotation {annotation} is empty: list data planes, e.g. k8s-1,k8s-2,k8s-3")
    names = value.split(",")
    for name in names:
        if not name:
            raise PlacementError(f"annotation {annotation}={value!r} has an empty entry")
        if name != name.strip() or any(c.isspace() for c in name):
            raise PlacementError(f"annotation {annotation}={value!r}: entry {name!r} contains whitespace")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise PlacementError(f"annotation {annotation}={value!r} names {', '.join(duplicates)} more than once")
    return names


def check(names: list[str], planes: Mapping[str, PlaneView], namespace: str, annotation: str) -> None:
    """Every named data plane must exist and admit the Cluster's namespace."""
    unknown = [n for n in names if n not in planes]
    if unknown:
        known = ", ".join(sorted(planes)) or "none"
        raise PlacementError(f"annotation {annotation} names unknown data plane(s) {', '.join(unknown)} "
                             f"(known: {known})")
    refused = [n for n in names if not planes[n].admits(namespace)]
    if refused:
        raise PlacementError(f"data plane(s) {', '.join(refused)} do not admit namespace {namespace} "
                             "(DataPlane spec.allowedNamespaces)")


def choose(key: str, replicas: int, planes: Mapping[str, PlaneView], namespace: str) -> list[str]:
    """kbmc's choice when the annotation is absent: every available data plane admitting the namespace
    when there are at least as many replicas, else ``replicas`` consecutive ones from a start derived
    from the Cluster's key (spreads Clusters, same answer every time)."""
    candidates = sorted(n for n, p in planes.items() if p.available and p.configured and p.admits(namespace))
    if not candidates:
        raise PlacementError(f"no available data plane admits namespace {namespace}")
    if replicas >= len(candidates):
        return candidates
    start = int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(candidates)
    rotated = candidates[start:] + candidates[:start]
    return sorted(rotated[: max(replicas, 1)])


@dataclass
class Assignment:
    """Ordinal -> data plane for one component."""

    planes: dict[int, str] = field(default_factory=dict)
    """Ordinals that have a data plane (recorded or newly given)."""
    waiting: list[int] = field(default_factory=list)
    """Ordinals below replicas that no available data plane of the placement can take now."""
    retired: dict[int, str] = field(default_factory=dict)
    """Recorded ordinals at or above replicas: their objects are to be removed."""


def assign(placement: list[str], replicas: int, recorded: Mapping[int, str],
           planes: Mapping[str, PlaneView]) -> Assignment:
    out = Assignment(retired={o: p for o, p in recorded.items() if o >= replicas})
    n = len(placement)
    for ordinal in range(replicas):
        if ordinal in recorded:
            out.planes[ordinal] = recorded[ordinal]
            continue
        for step in range(n):
            name = placement[(ordinal + step) % n]
            if name in planes and planes[name].available:
                out.planes[ordinal] = name
                break
        else:
            out.waiting.append(ordinal)
    return out


@dataclass(frozen=True)
class Refusal:
    """An entry of the ordinal record that kbmc does not follow: an ordinal recorded somewhere it does not live."""

    component: str
    ordinal: int
    recorded: str | None
    """What the record says (None: the ordinal was removed from it)."""
    actual: str
    """Where the ordinal lives, and is now recorded again."""


Record = Mapping[str, Mapping[int, str]]


def check_record(recorded: Record, lives: Mapping[str, Mapping[int, frozenset[str]]], remembered: Record
                 ) -> tuple[dict[str, dict[int, str]], list[Refusal]]:
    """The ordinal record with what contradicts the evidence undone. An ordinal lives where its Pod or PVCs are
    (``lives``), else where kbmc last recorded it (``remembered``: the objects may be in a data plane it cannot
    see now). A record that puts it elsewhere (another data plane, or one that does not exist) or drops it is
    refused: moving an instance is never a side effect of an edit."""
    out = {component: dict(ordinals) for component, ordinals in recorded.items()}
    refusals = []
    for component in sorted({*recorded, *lives, *remembered}):
        says_all, where_all, memory_all = (recorded.get(component, {}), lives.get(component, {}),
                                           remembered.get(component, {}))
        for ordinal in sorted({*says_all, *where_all, *memory_all}):
            says, where, memory = says_all.get(ordinal), where_all.get(ordinal, frozenset()), memory_all.get(ordinal)
            if where:
                if says in where:
                    continue
                actual = memory if memory in where else sorted(where)[0]
            elif memory is not None and says != memory:
                actual = memory
            else:
                continue
            refusals.append(Refusal(component, ordinal, says, actual))
            out.setdefault(component, {})[ordinal] = actual
    return out, refusals


def read_record(annotations: Mapping[str, str]) -> dict[str, dict[int, str]] | None:
    """The ordinal record (``kbmc.io/instance-placement``) in ``annotations``: {} when there is none, None when
    it cannot be read."""
    raw = annotations.get(INSTANCES)
    if not raw:
        return {}
    try:
        data = json.loads(raw)
        return {comp: {int(o): str(p) for o, p in ordinals.items()} for comp, ordinals in data.items()}
    except (ValueError, AttributeError, TypeError):
        return None


def write_record(record: Record) -> str:
    """The ordinal record as the annotation's text (one text per record: an unchanged record is never rewritten)."""
    return json.dumps({c: {str(o): p for o, p in sorted(items.items())} for c, items in record.items()},
                      sort_keys=True, separators=(",", ":"))


def record_planes(annotations: Mapping[str, str]) -> set[str]:
    """Every data plane a Cluster's instances or shared objects may be in: its placement and its record."""
    out = {p for p in (annotations.get(PLACEMENT) or "").split(",") if p}
    return out | {p for ordinals in (read_record(annotations) or {}).values() for p in ordinals.values()}
