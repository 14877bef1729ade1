"""The operator's settings, loaded once (CLI flags, or ``KBMC_*`` environment variables in a Deployment)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Timeouts:
    """Bounds of one API call to any cluster."""

    connect: float = 1.0
    """Seconds to establish the TCP + TLS connection."""
    read: float = 2.0
    """Seconds to wait for the response once the request is sent (watch streams use their own)."""


@dataclass(frozen=True)
class Settings:
    """Everything ``kbmc operator run`` can be told."""

    kubeconfig: Path | None = None
    """Kubeconfig of the control plane; None means in-cluster credentials."""
    context: str | None = None
    """Context of the control plane in ``kubeconfig``."""
    namespace: str = "kb-system"
    """Where the operator lives: its kubeconfig Secret and the addons' script templates."""
    kubeconfig_secret: str = "kbmc-dataplanes"
    """Secret (key ``kubeconfig``) with a context per data plane; KubeBlocks' ``multiCluster.kubeConfig``."""
    contexts: tuple[str, ...] = ()
    """Data planes to register as DataPlane objects at start; KubeBlocks' ``multiCluster.contexts``."""
    workers: int = 16
    """Clusters reconciled at the same time."""
    probe_interval: float = 5.0
    """Seconds between health probes of each data plane."""
    timeouts: Timeouts = field(default_factory=Timeouts)
    metrics_port: int = 0
    """Port of the Prometheus endpoint (0: off)."""
    liveness_port: int = 0
    """Port of the liveness endpoint /healthz (0: off): 200 while every part of the operator runs."""
