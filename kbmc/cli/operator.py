"""``kbmc operator run``: the control-plane operator as a local process.

Every flag is also read from its ``KBMC_*`` environment variable (``--probe-interval``: ``KBMC_PROBE_INTERVAL``),
as a Deployment sets them; the defaults are the settings' own (``kbmc.settings``)."""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import Annotated

import typer

from kbmc.cli.common import default_kubeconfig
from kbmc.errors import UsageError
from kbmc.settings import DataPlaneSettings, LeaderSettings, QueueSettings, Settings

app = typer.Typer(no_args_is_help=True, help="The control-plane operator.")
DEFAULTS = Settings()


class LogFormat(enum.StrEnum):
    text = "text"
    json = "json"


class LogLevel(enum.StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


@app.command()
def run(
    kubeconfig: Annotated[Path | None, typer.Option(envvar="KBMC_KUBECONFIG", help=(
        "Kubeconfig of the control plane (default: in-cluster in a pod, else $KUBECONFIG, its files merged as "
        "kubectl, then ~/.kube/config)."))] = DEFAULTS.kubeconfig,
    context: Annotated[str | None, typer.Option(envvar="KBMC_CONTEXT", help="Context of the control plane.")]
    = DEFAULTS.context,
    namespace: Annotated[str, typer.Option(envvar="KBMC_NAMESPACE", help=(
        "Operator namespace (kubeconfig Secret, script templates)."))] = DEFAULTS.namespace,
    kubeconfig_secret: Annotated[str, typer.Option(envvar="KBMC_KUBECONFIG_SECRET", help=(
        "Secret with the data planes' kubeconfig (key kubeconfig)."))] = DEFAULTS.kubeconfig_secret,
    contexts: Annotated[str, typer.Option(envvar="KBMC_CONTEXTS", help=(
        "Comma-separated contexts to register as DataPlanes."))] = ",".join(DEFAULTS.contexts),
    workers: Annotated[int, typer.Option(envvar="KBMC_WORKERS", min=1, help="Clusters reconciled at the same time.")]
    = DEFAULTS.queue.workers,
    metrics_port: Annotated[int, typer.Option(envvar="KBMC_METRICS_PORT", help=(
        "Prometheus /metrics port (0: off)."))] = DEFAULTS.metrics_port,
    liveness_port: Annotated[int, typer.Option(envvar="KBMC_LIVENESS_PORT", help=(
        "Liveness /healthz port (0: off)."))] = DEFAULTS.liveness_port,
    bind_address: Annotated[str, typer.Option(envvar="KBMC_BIND_ADDRESS", help=(
        "Address of the metrics and liveness endpoints (0.0.0.0 in a pod)."))] = DEFAULTS.bind_address,
    probe_interval: Annotated[float, typer.Option(envvar="KBMC_PROBE_INTERVAL", help=(
        "Seconds between data-plane health probes."))] = DEFAULTS.dataplanes.probe_interval,
    log_format: Annotated[LogFormat, typer.Option(envvar="KBMC_LOG_FORMAT", help=(
        "text, or json (one object per line)."))] = LogFormat.text,
    log_level: Annotated[LogLevel, typer.Option(envvar="KBMC_LOG_LEVEL", help="Least severe level logged.")]
    = LogLevel.INFO,
    agent_image: Annotated[str, typer.Option(envvar="KBMC_AGENT_IMAGE", help=(
        "Image of the agent added to pods whose definition has lifecycle actions."))] = DEFAULTS.agent_image,
    leader_elect: Annotated[bool, typer.Option(envvar="KBMC_LEADER_ELECT", help=(
        "Take part in the election of the Lease kbmc-operator in --namespace: only its holder reconciles. Off "
        "only where no other operator can run against this control plane."))] = DEFAULTS.leader.enabled,
    leader_elect_lease_duration: Annotated[int, typer.Option(envvar="KBMC_LEADER_ELECT_LEASE_DURATION", min=2, help=(
        "Seconds a standby waits after the leader's last renewal."))] = DEFAULTS.leader.lease_duration,
    leader_elect_renew_deadline: Annotated[float, typer.Option(envvar="KBMC_LEADER_ELECT_RENEW_DEADLINE", help=(
        "Seconds the leader tries to renew before it stops leading (less than the lease duration)."))]
    = DEFAULTS.leader.renew_deadline,
    leader_elect_retry_period: Annotated[float, typer.Option(envvar="KBMC_LEADER_ELECT_RETRY_PERIOD", min=1, help=(
        "Seconds between attempts to take or renew the Lease."))] = DEFAULTS.leader.retry_period,
) -> None:
    """Run the operator in the foreground (Ctrl-C stops it)."""
    from kbmc.operator.handlers import run as run_operator  # noqa: PLC0415 - kopf is heavy to import

    if not leader_elect_retry_period * 1.2 < leader_elect_renew_deadline < leader_elect_lease_duration:
        raise UsageError(f"--leader-elect-renew-deadline {leader_elect_renew_deadline:g} must be less than "
                         f"--leader-elect-lease-duration {leader_elect_lease_duration:g} and more than 1.2 x "
                         f"--leader-elect-retry-period {leader_elect_retry_period:g}")
    leader = LeaderSettings(enabled=leader_elect, lease_duration=leader_elect_lease_duration,
                            renew_deadline=leader_elect_renew_deadline, retry_period=leader_elect_retry_period)
    in_cluster = kubeconfig is None and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    # a $KUBECONFIG list stays one os.pathsep-separated path: the client merges its files as kubectl does
    settings = Settings(kubeconfig=None if in_cluster else Path(default_kubeconfig(kubeconfig)), context=context,
                        namespace=namespace, kubeconfig_secret=kubeconfig_secret,
                        contexts=tuple(c.strip() for c in contexts.split(",") if c.strip()),
                        metrics_port=metrics_port, liveness_port=liveness_port, bind_address=bind_address,
                        log_format=log_format.value, log_level=log_level.value,
                        queue=QueueSettings(workers=workers), leader=leader, agent_image=agent_image,
                        dataplanes=DataPlaneSettings(probe_interval=probe_interval))
    code = run_operator(settings)
    if code:
        raise typer.Exit(code)
