"""The operator's settings, loaded once: ``kbmc operator run``'s flags (each also read from its ``KBMC_*``
environment variable, as a Deployment sets them), grouped by what they tune. The CLI and ``kbmc install`` take
their defaults from here."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from kbmc import __version__

IMAGE = f"docker.io/kbmc/kbmc:{__version__}"
"""kbmc's image: the operator's, and the agent's in database pods."""
NAMESPACE = "kb-system"
"""The operator's namespace by default (KubeBlocks' own)."""
KUBECONFIG_SECRET = "kbmc-dataplanes"
"""The data planes' kubeconfig Secret by default."""


def default_identity() -> str:
    """An operator's name in the leader Lease: the pod's name in a pod (``POD_NAME``), else ``host_random``."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Timeouts:
    """Bounds of one API call to any cluster."""

    connect: float = 1.0
    """Seconds to establish the TCP + TLS connection."""
    read: float = 2.0
    """Seconds to wait for the response to a read once the request is sent (watch streams use their own)."""
    write: float = 10.0
    """The same for a write (create, update, patch, delete): a busy server queues writes behind admission and
    storage (a Service's create allocates its addresses under one lock: up to 4 s each with 60 Clusters made at
    once on two cores), and a write given up on is made again. A server that does not answer at all is found by
    the reads and the data planes' probes."""


@dataclass(frozen=True)
class QueueSettings:
    """The work queue of Clusters and its workers."""

    workers: int = 16
    """Clusters reconciled at the same time."""
    retry_seconds: tuple[float, ...] = (0.5, 1, 2, 5, 10, 30)
    """Seconds before a Cluster whose pass failed unexpectedly is looked at again, by failures in a row (less up
    to a half at random, so Clusters that failed together do not retry in step)."""
    apply_retry_seconds: tuple[float, ...] = (2, 4, 8, 16, 30)
    """The same after a data plane refused one of the Cluster's writes (a refusal that lasts is retried every
    30 s, not every 2)."""
    conflict_retry: float = 0.2
    """Seconds before a Cluster is looked at again after its write met a newer version of it."""
    coalesce: float = 0.1
    """Seconds a Cluster waits after a change in a data plane, so that a burst (three pods becoming ready, a
    Service and its address) is one pass and one status write."""
    listing_retry: float = 1.0
    """Seconds before looking again at a Cluster that skipped a data plane still listing its objects (a new
    DataPlane, or the operator starting). One that skipped an unreachable data plane is not polled: the health
    probe queues every Cluster when that data plane answers again."""
    status_first: float = 0.01
    """Seconds before the pass that acts, after a pass that only reported a change of data planes."""
    cleanup_retry: float = 2.0
    """Seconds between looks at a deletion whose objects are still terminating."""


@dataclass(frozen=True)
class StatusSettings:
    """Writes to the control plane: Cluster status, Events, DataPlane status."""

    spacing: float = 1.0
    """A Cluster's status change of detail only (a pod's phase, a message) within this many seconds of its last
    write waits for the rest of the window; a change of phase or of a condition's status is written at once."""
    contact_refresh: float = 30.0
    """Seconds between writes of DataPlane status.lastContact while nothing else changes."""
    rewrite_interval: float = 2.0
    """Seconds before a ComponentDefinition's status write the control plane did not take is tried again
    (a DataPlane's is written again at its next probe)."""
    failure_event_interval: float = 300.0
    """At most one Warning ``ReconcileError`` Event per Cluster in this many seconds (the log has every one)."""


@dataclass(frozen=True)
class DataPlaneSettings:
    """How data planes are reached and watched."""

    probe_interval: float = 5.0
    """Seconds between health probes of each data plane."""
    unanswered_limit: int = 3
    """Writes in a row without an answer before a data plane counts as unreachable: one slow answer from a busy
    API server is not an outage, and marking it would make every Cluster on it report (and write) twice."""
    connections: int = 32
    """Requests to data planes in flight at once (a Cluster's writes to its data planes go in parallel)."""


@dataclass(frozen=True)
class WatchSettings:
    """kopf's watches of the control plane and the operator's own supervision."""

    served_backoff: tuple[float, float] = (0.2, 5.0)
    """Seconds between checks while the control plane does not serve a kind kopf watches: first, and at most."""
    restart_backoff: tuple[float, float] = (0.5, 30.0)
    """Seconds before kopf's watches start again after an API error: first, and at most (doubling between)."""
    stable_run: float = 60.0
    """A run of kopf's watches that lasted this long starts the backoff afresh."""
    watchdog: float = 1.0
    """How often the operator checks that its parts still run."""
    stop_grace: float = 10.0
    """Seconds kopf gets to stop once it is asked to (or a part of its own failed); then it is cancelled (its
    stop waits without end for a watch stuck re-authenticating on a closed session)."""


@dataclass(frozen=True)
class LeaderSettings:
    """Leader election among the operators of one control plane (client-go's defaults)."""

    enabled: bool = True
    """Off only where one operator runs by construction; two operators without it would both write."""
    lease_name: str = "kbmc-operator"
    """The coordination.k8s.io Lease, in the operator's namespace."""
    lease_duration: int = 15
    """Seconds a standby waits after the leader's last renewal before it takes the Lease."""
    renew_deadline: float = 10.0
    """Seconds the leader keeps trying to renew before it gives up leading (and exits)."""
    retry_period: float = 2.0
    """Seconds between attempts to take or renew the Lease."""


@dataclass(frozen=True)
class Settings:
    """Everything ``kbmc operator run`` can be told."""

    kubeconfig: Path | None = None
    """Kubeconfig of the control plane; None means in-cluster credentials."""
    context: str | None = None
    """Context of the control plane in ``kubeconfig``."""
    namespace: str = NAMESPACE
    """Where the operator lives: its kubeconfig Secret and the addons' script templates."""
    kubeconfig_secret: str = KUBECONFIG_SECRET
    """Secret (key ``kubeconfig``) with a context per data plane; KubeBlocks' ``multiCluster.kubeConfig``."""
    contexts: tuple[str, ...] = ()
    """Data planes to register as DataPlane objects at start; KubeBlocks' ``multiCluster.contexts``."""
    metrics_port: int = 0
    """Port of the Prometheus endpoint (0: off)."""
    liveness_port: int = 0
    """Port of the liveness endpoint /healthz (0: off): 200 while every part of the operator runs."""
    bind_address: str = "127.0.0.1"
    """Address the metrics and liveness endpoints listen on (in a pod, the pod's IP: the kubelet and Prometheus
    connect to it)."""
    agent_image: str = IMAGE
    """Image of the agent kbmc adds to pods whose definition has lifecycle actions (the operator's own)."""
    identity: str = field(default_factory=default_identity)
    """This operator's name as a candidate for the leader Lease."""
    log_format: str = "text"
    """``text`` (one line per record) or ``json`` (one object per line, for a log pipeline)."""
    log_level: str = "INFO"
    """The least severe level logged (DEBUG, INFO, WARNING, ERROR)."""
    timeouts: Timeouts = field(default_factory=Timeouts)
    """Of every call to the control plane and to the data planes."""
    queue: QueueSettings = field(default_factory=QueueSettings)
    status: StatusSettings = field(default_factory=StatusSettings)
    dataplanes: DataPlaneSettings = field(default_factory=DataPlaneSettings)
    watches: WatchSettings = field(default_factory=WatchSettings)
    leader: LeaderSettings = field(default_factory=LeaderSettings)
