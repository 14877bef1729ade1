"""What one pass over a Cluster knows, taken at once before it decides anything (``kbmc.operator.prepare``) and
never changed during the pass: the Cluster, its definitions and script templates, the ordinal record kbmc last
wrote, and per data plane the SRE's decision, whether kbmc can work there now, and the objects kbmc made there
for this Cluster. Everything in ``kbmc.core.decide`` is a function of one snapshot."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kbmc.api.cluster import Cluster
from kbmc.api.componentdefinition import ComponentDefinition
from kbmc.api.componentversion import ComponentVersion
from kbmc.core.placement import PlaneView, Record
from kbmc.core.plan import Key
from kbmc.settings import IMAGE

Obj = Mapping[str, Any]
NO_DATAPLANE = "no such DataPlane"


@dataclass(frozen=True)
class PlaneSnapshot:
    """One data plane as the pass sees it."""

    name: str
    available: bool = True
    """The SRE's decision (DataPlane spec.available)."""
    unusable: str | None = None
    """Why kbmc cannot work there now (marked unavailable, no credentials, unreachable, still listing); None
    when it can."""
    listing: bool = False
    """Unusable only because its watches are still listing (a new DataPlane, or the operator starting)."""
    configured: bool = True
    """kbmc has working credentials for it."""
    allowed_namespaces: tuple[str, ...] = ()
    service_annotations: Mapping[str, str] = field(default_factory=dict)
    """The DataPlane's defaults for every Service kbmc creates there (a load balancer's annotations)."""
    objects: Mapping[Key, Obj] = field(default_factory=dict)
    """What kbmc made there for this Cluster: its labels, its namespace, the names kbmc gives."""
    lookalikes: tuple[Key, ...] = ()
    """Objects there that carry this Cluster's labels but are not kbmc's (left alone, reported once)."""
    node_address: str | None = None
    """An address of a node there (for NodePort Services)."""

    @property
    def holds(self) -> bool:
        """Whether anything with this Cluster's labels is there."""
        return bool(self.objects or self.lookalikes)

    def view(self) -> PlaneView:
        return PlaneView(self.name, self.available, self.allowed_namespaces, configured=self.configured)


@dataclass(frozen=True)
class Snapshot:
    """Everything one pass over one Cluster reads."""

    key: str
    """``namespace/name``."""
    cluster: Cluster
    definitions: Mapping[str, ComponentDefinition]
    """Every ComponentDefinition, by name (componentDef may name several by prefix: ``kbmc.core.versions``)."""
    templates: Mapping[str, Mapping[str, str]]
    """Script template ConfigMap name -> its files, for every ConfigMap in the operator's namespace."""
    template_namespace: str
    """Where the script templates live (the operator's namespace)."""
    planes: Mapping[str, PlaneSnapshot]
    """Every DataPlane kbmc knows."""
    remembered: Record = field(default_factory=dict)
    """The ordinal record kbmc last wrote (or found consistent) for this Cluster: a hand edit is told from it."""
    reported: frozenset[tuple[str, Key]] = frozenset()
    """Look-alikes (data plane, object) reported already."""
    agent_image: str = IMAGE
    """The image of kbmc's agent in pods whose definition has lifecycle actions."""
    now: float = 0.0
    """When the snapshot was taken, in seconds since the epoch (the backoff between attempts of an action)."""
    versions: Mapping[str, ComponentVersion] = field(default_factory=dict)
    """Every ComponentVersion, by name."""
    accounts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """The Cluster's account Secrets in the control plane: name -> data (as the API stores it, encoded)."""

    def plane(self, name: str) -> PlaneSnapshot:
        """The data plane ``name``; one kbmc does not know is unusable and unavailable."""
        return self.planes.get(name) or PlaneSnapshot(name, available=False, unusable=NO_DATAPLANE)

    def holding(self) -> set[str]:
        """Data planes where objects with this Cluster's labels are."""
        return {name for name, plane in self.planes.items() if plane.holds}
