"""Diff what should exist in one data plane against what is there, as a list of intents (pure).

A converged data plane yields no intent. Only the fields kbmc sets are compared (the API server adds
defaults); a Pod whose spec hash changed is deleted and created again on the next pass; PVC specs are
never rewritten (immutable).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from kbmc.core import names
from kbmc.core.build import KIND_ORDER, Manifest

Key = tuple[str, str, str]
"""(kind, namespace, name)."""


@dataclass(frozen=True)
class Intent:
    action: Literal["create", "patch", "delete"]
    kind: str
    namespace: str
    name: str
    body: Manifest | None = None

    def describe(self) -> str:
        return f"{self.action} {self.kind} {self.namespace}/{self.name}"


def key_of(obj: Mapping[str, Any]) -> Key:
    meta = obj["metadata"]
    return obj["kind"], meta.get("namespace", ""), meta["name"]


def subset(want: Any, have: Any) -> bool:
    """True when every field of ``want`` is in ``have`` with the same value (lists: same length)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and subset(v, have[k]) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(want) == len(have) and all(
            subset(w, h) for w, h in zip(want, have, strict=True))
    return bool(want == have)


def outdated(want: Manifest, have: Mapping[str, Any]) -> bool:
    """Whether a Pod ``have`` runs another spec than ``want``."""
    return bool((have["metadata"].get("annotations") or {}).get(names.SPEC_HASH) != want["metadata"]["annotations"][
        names.SPEC_HASH])


def _metadata_drift(want: Manifest, have: Mapping[str, Any]) -> bool:
    wanted = {k: want["metadata"].get(k, {}) for k in ("labels", "annotations")}
    return not subset(wanted, {k: have["metadata"].get(k) or {} for k in ("labels", "annotations")})


def live_instances(observed: Mapping[Key, Mapping[str, Any]], live: Mapping[str, Iterable[int]]) -> frozenset[Key]:
    """The Pods and PVCs among ``observed`` of live instances (``live``: component -> its ordinals below replicas).
    They are deleted only with their instance (scale-in, deletion of the Cluster), never because they stopped
    being desired where they are (a volumeClaimTemplate renamed, the record edited by hand): that is data. A Pod
    whose spec changed is still replaced where it is desired."""
    ordinals = {(component, str(o)) for component, items in live.items() for o in items}
    return frozenset(key for key, obj in observed.items() if key[0] in ("Pod", "PersistentVolumeClaim") and (
        (labels := obj["metadata"].get("labels") or {}).get(names.COMPONENT), labels.get(names.ORDINAL)) in ordinals)


def plan_plane(desired: Iterable[Manifest], observed: Mapping[Key, Mapping[str, Any]],
               keep_kinds: frozenset[str] = frozenset(), spare: frozenset[Key] = frozenset(),
               replace: frozenset[Key] | None = None) -> list[Intent]:
    """Intents that converge one data plane. Observed objects not desired are deleted, except kinds in
    ``keep_kinds`` (PVCs under Halt / DoNotTerminate) and the objects in ``spare``. A Pod whose spec changed is
    deleted (and created again later) only if it is in ``replace`` (None: every one), as the rolling change
    across data planes allows."""
    creates: list[Intent] = []
    patches: list[Intent] = []
    deletes: list[Intent] = []
    wanted: dict[Key, Manifest] = {key_of(m): m for m in desired}
    for key, want in wanted.items():
        kind, namespace, name = key
        have = observed.get(key)
        if have is None:
            creates.append(Intent("create", kind, namespace, name, want))
        elif have["metadata"].get("deletionTimestamp"):
            continue  # being deleted: create it again once it is gone
        elif kind == "Pod":
            if outdated(want, have):
                if replace is None or key in replace:
                    deletes.append(Intent("delete", kind, namespace, name))
            elif _metadata_drift(want, have):
                patches.append(Intent("patch", kind, namespace, name, {"metadata": _labels_only(want)}))
        elif kind == "PersistentVolumeClaim":
            if _metadata_drift(want, have):
                patches.append(Intent("patch", kind, namespace, name, {"metadata": _labels_only(want)}))
        elif not subset({k: v for k, v in want.items() if k not in ("apiVersion", "kind", "metadata")}, have) or (
                _metadata_drift(want, have)):
            body = {k: v for k, v in want.items() if k not in ("apiVersion", "kind")}
            body["metadata"] = _labels_only(want)
            patches.append(Intent("patch", kind, namespace, name, body))
    for key in observed:
        if key not in wanted and key[0] not in keep_kinds and key not in spare and not observed[key]["metadata"].get(
                "deletionTimestamp"):
            deletes.append(Intent("delete", *key))
    # Deletes first (pods before what they use); then creates and patches together in kind order, so a
    # ConfigMap is brought up to date before a Pod that reads it is created.
    order = {k: i for i, k in enumerate(KIND_ORDER)}
    deletes.sort(key=lambda i: -order.get(i.kind, 99))
    writes = sorted(creates + patches, key=lambda i: order.get(i.kind, 99))
    return deletes + writes


def _labels_only(want: Manifest) -> dict[str, Any]:
    return {k: want["metadata"][k] for k in ("labels", "annotations") if k in want["metadata"]}
