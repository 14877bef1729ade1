"""``kbmc operator run``: the control-plane operator as a local process."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from kbmc.cli.common import default_kubeconfig
from kbmc.settings import Settings

app = typer.Typer(no_args_is_help=True, help="The control-plane operator.")


@app.command()
def run(
    kubeconfig: Annotated[Path | None, typer.Option(help="Kubeconfig of the control plane (default: in-cluster in a "
                                                        "pod, else $KUBECONFIG, then ~/.kube/config).")] = None,
    context: Annotated[str | None, typer.Option(help="Context of the control plane.")] = None,
    namespace: Annotated[str, typer.Option(help="Operator namespace (kubeconfig Secret, script templates).")]
    = "kb-system",
    kubeconfig_secret: Annotated[str, typer.Option(help="Secret with the data planes' kubeconfig (key kubeconfig).")]
    = "kbmc-dataplanes",
    contexts: Annotated[str, typer.Option(help="Comma-separated contexts to register as DataPlanes.")] = "",
    workers: Annotated[int, typer.Option(min=1, help="Clusters reconciled at the same time.")] = 16,
    metrics_port: Annotated[int, typer.Option(help="Prometheus /metrics port on 127.0.0.1 (0: off).")] = 0,
    liveness_port: Annotated[int, typer.Option(help="Liveness /healthz port on 127.0.0.1 (0: off).")] = 0,
    probe_interval: Annotated[float, typer.Option(help="Seconds between data-plane health probes.")] = 5.0,
) -> None:
    """Run the operator in the foreground (Ctrl-C stops it)."""
    from kbmc.operator.handlers import run as run_operator  # noqa: PLC0415 - kopf is heavy to import

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)  # one line per handled event otherwise
    in_cluster = kubeconfig is None and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    settings = Settings(kubeconfig=None if in_cluster else default_kubeconfig(kubeconfig), context=context,
                        namespace=namespace, kubeconfig_secret=kubeconfig_secret,
                        contexts=tuple(c for c in contexts.split(",") if c), workers=workers,
                        metrics_port=metrics_port, liveness_port=liveness_port, probe_interval=probe_interval)
    code = run_operator(settings)
    if code:
        raise typer.Exit(code)
