"""``kbmc cluster list`` / ``describe``: every component and instance with its data plane, like ``vela status``."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from kbmc.cli.common import ContextOption, KubeconfigOption, control_client
from kbmc.core import names
from kbmc.core.clock import age
from kbmc.errors import NotFoundError, UsageError
from kbmc.kube import rest

app = typer.Typer(no_args_is_help=True, help="Clusters across data planes.")
console = Console()
NamespaceOption = Annotated[str | None, typer.Option("--namespace", "-n", help="Namespace (default: all for list, "
                                                                              "default for describe).")]


def _instances(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    components = (cluster.get("status") or {}).get("components") or {}
    return [{**i, "component": name} for name, c in components.items() for i in c.get("instances") or []]


@app.command("list")
def list_(namespace: NamespaceOption = None, kubeconfig: KubeconfigOption = None,
          context: ContextOption = None) -> None:
    """Every Cluster: phase, placement, ready instances, age."""
    api = control_client(kubeconfig, context, "cluster list")
    table = Table("namespace", "name", "phase", "placement", "ready", "termination", "age")
    for item in rest.call(api, "GET", rest.path("Cluster", namespace))["items"]:
        meta, status = item["metadata"], item.get("status") or {}
        instances = _instances(item)
        table.add_row(meta["namespace"], meta["name"], status.get("phase", "-"),
                      (meta.get("annotations") or {}).get(names.PLACEMENT, "(choosing)"),
                      f"{sum(i.get('ready', False) for i in instances)}/{len(instances)}",
                      item["spec"].get("terminationPolicy", "-"), age(meta.get("creationTimestamp")))
    console.print(table)


@app.command()
def describe(name: Annotated[str, typer.Argument(help="Cluster name.")], namespace: NamespaceOption = None,
             kubeconfig: KubeconfigOption = None, context: ContextOption = None) -> None:
    """One Cluster: its components and instances (data plane, pod phase, readiness, address) and conditions."""
    api = control_client(kubeconfig, context, "cluster describe")
    ns = namespace or "default"
    try:
        item = rest.call(api, "GET", rest.path("Cluster", ns, name))
    except NotFoundError as exc:
        raise UsageError(f"no Cluster {ns}/{name}") from exc
    meta, status = item["metadata"], item.get("status") or {}
    annotations = meta.get("annotations") or {}
    console.print(f"[bold]Cluster[/bold] {ns}/{name}   phase: [bold]{status.get('phase', '-')}[/bold]   "
                  f"placement: {annotations.get(names.PLACEMENT, '(choosing)')}   "
                  f"terminationPolicy: {item['spec'].get('terminationPolicy')}", highlight=False)
    table = Table("component", "instance", "data plane", "pod", "ready", "addresses")
    for instance in _instances(item):
        table.add_row(instance["component"], instance["name"], instance.get("dataPlane") or "(waiting)",
                      instance.get("podPhase", "-"), "yes" if instance.get("ready") else "no",
                      ", ".join(instance.get("addresses") or []) or "-")
    console.print(table)
    conditions = Table("condition", "status", "reason", "message")
    for cond in status.get("conditions") or []:
        colour = "green" if cond["status"] == "True" else "red"
        conditions.add_row(cond["type"], f"[{colour}]{cond['status']}[/{colour}]", cond.get("reason", ""),
                           cond.get("message", ""))
    console.print(conditions)
    if annotations.get(names.PENDING_CLEANUP):
        console.print(f"cleanup pending in: {annotations[names.PENDING_CLEANUP]}")
