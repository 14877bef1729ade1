"""The first step of a pass: one snapshot of everything it needs, read from the operator's caches at once, with
the data planes' clients it will write through. Nothing after this step reads a cache (``kbmc.core.decide``
decides on the snapshot; the commit writes)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from kbmc.api.cluster import Cluster
from kbmc.api.componentdefinition import ComponentDefinition
from kbmc.api.componentversion import ComponentVersion
from kbmc.core import names
from kbmc.core.plan import Key
from kbmc.core.snapshot import Obj, PlaneSnapshot, Snapshot
from kbmc.kube.planes import NOT_SYNCED, Plane
from kbmc.operator.dataplanes import DataPlanes
from kbmc.operator.definitions import Catalog
from kbmc.operator.state import State
from kbmc.operator.writes import Writes
from kbmc.settings import Settings


@dataclass(frozen=True)
class Parts:
    """What a pass works with: the caches it reads (in ``prepare`` only) and where it writes."""

    settings: Settings
    state: State
    definitions: Catalog[ComponentDefinition]
    versions: Catalog[ComponentVersion]
    dataplanes: DataPlanes
    writes: Writes
    forget: Callable[[str], None]
    """Forget a Cluster found gone (by key) everywhere the operator keeps something of it."""


def prepare(parts: Parts, key: str) -> tuple[Snapshot, dict[str, Plane]] | None:
    """The snapshot of the Cluster ``key`` and the data planes as it found them (None when it is gone)."""
    body = parts.state.clusters.get(key)
    if body is None:
        return None
    cluster = Cluster.model_validate(body)
    templates = {name: found.get("data") or {} for name, found in parts.state.templates.copy().items()}
    handles = parts.dataplanes.all()
    planes = {name: plane_snapshot(plane, cluster) for name, plane in handles.items()}
    reported = parts.state.reported
    return Snapshot(
        key=key, cluster=cluster, definitions=parts.definitions.models(), versions=parts.versions.models(),
        templates=templates, accounts={
            name: secret.get("data") or {} for name, secret in parts.state.accounts.get(key, {}).copy().items()
            if (secret["metadata"].get("labels") or {}).get(names.CLUSTER_UID) == cluster.metadata.uid},
        template_namespace=parts.settings.namespace, planes=planes,
        remembered=parts.state.records.get(cluster.metadata.uid or "", {}),
        reported=frozenset((n, k) for n, p in planes.items() for k in p.lookalikes if (n, k) in reported),
        agent_image=parts.settings.agent_image, now=time.time()), handles


def plane_snapshot(plane: Plane, cluster: Cluster) -> PlaneSnapshot:
    """``plane`` as a pass over ``cluster`` sees it: its objects split into kbmc's (its labels, in its namespace,
    named as kbmc names them) and look-alikes (only the labels)."""
    meta = cluster.metadata
    namespace, name = meta.namespace or "", meta.name or ""
    objects: dict[Key, Obj] = {}
    lookalikes = []
    for key, obj in plane.cache.owned_by(meta.uid or "").items():
        if names.made_for(*key, obj["metadata"].get("labels") or {}, namespace, name):
            objects[key] = obj
        else:
            lookalikes.append(key)
    unusable = plane.unusable()
    state = plane.state
    return PlaneSnapshot(
        name=plane.name, available=state.available, unusable=unusable, listing=unusable == NOT_SYNCED,
        configured=plane.error is None, allowed_namespaces=state.allowed_namespaces,
        service_annotations=state.service_annotations, objects=objects, lookalikes=tuple(sorted(lookalikes)),
        node_address=plane.cache.node_address())
