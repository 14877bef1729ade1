"""``kbmc cluster list`` / ``describe``: every component and instance with its data plane, like ``vela status``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from kbmc.cli.common import (
    AllNamespacesOption,
    ContextOption,
    KubeconfigOption,
    NamespaceOption,
    control_client,
    namespace_of,
)
from kbmc.cli.output import Format, OutputOption, columns, console, dump, emit, row
from kbmc.core import names
from kbmc.core.clock import age
from kbmc.errors import NotFoundError, UsageError
from kbmc.kube import rest
from kbmc.kube.client import Api

app = typer.Typer(no_args_is_help=True, help="Clusters across data planes.")
EVENTS_SHOWN = 10


def _instances(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    components = (cluster.get("status") or {}).get("components") or {}
    return [{**i, "component": name} for name, c in components.items() for i in c.get("instances") or []]


@app.command("list")
def list_(namespace: NamespaceOption = None, all_namespaces: AllNamespacesOption = False,
          output: OutputOption = Format.table, kubeconfig: KubeconfigOption = None,
          context: ContextOption = None) -> None:
    """Clusters of a namespace (or every namespace with -A): phase, ready instances, placement, age."""
    api = control_client(kubeconfig, context, "cluster list")
    ns = None if all_namespaces else namespace_of(namespace, kubeconfig, context)
    items = rest.call(api, "GET", rest.path("Cluster", ns))["items"]

    def table(wide: bool) -> Any:
        out = columns(wide, *(["namespace"] if ns is None else []), "name", "phase", "ready", "placement",
                      ("components", True), ("termination", True), "age")
        for item in items:
            meta, status = item["metadata"], item.get("status") or {}
            instances = _instances(item)
            row(out, wide, *([meta["namespace"]] if ns is None else []), meta["name"], status.get("phase", "-"),
                f"{sum(i.get('ready', False) for i in instances)}/{len(instances)}",
                (meta.get("annotations") or {}).get(names.PLACEMENT, "(choosing)"),
                (",".join(sorted(status.get("components") or {})) or "-", True),
                (item["spec"].get("terminationPolicy", "-"), True), age(meta.get("creationTimestamp")))
        return out

    emit(output, items, table)


@app.command()
def describe(name: Annotated[str, typer.Argument(help="Cluster name.")], namespace: NamespaceOption = None,
             output: OutputOption = Format.table, kubeconfig: KubeconfigOption = None,
             context: ContextOption = None) -> None:
    """One Cluster: its instances (data plane, pod phase, readiness, addresses), conditions and recent Events."""
    api = control_client(kubeconfig, context, "cluster describe")
    ns = namespace_of(namespace, kubeconfig, context)
    try:
        item = rest.call(api, "GET", rest.path("Cluster", ns, name))
    except NotFoundError as exc:
        raise UsageError(f"no Cluster {ns}/{name}") from exc
    if output in (Format.json, Format.yaml):
        dump(output, item)
        return
    wide = output is Format.wide
    meta, status = item["metadata"], item.get("status") or {}
    annotations = meta.get("annotations") or {}
    console.print(f"[bold]Cluster[/bold] {ns}/{name}   phase: [bold]{status.get('phase', '-')}[/bold]   "
                  f"placement: {annotations.get(names.PLACEMENT, '(choosing)')}   "
                  f"terminationPolicy: {item['spec'].get('terminationPolicy')}", highlight=False)
    table = columns(wide, "component", "instance", "data plane", "pod", "ready", "addresses")
    for instance in _instances(item):
        row(table, wide, instance["component"], instance["name"], instance.get("dataPlane") or "(waiting)",
            instance.get("podPhase", "-"), "yes" if instance.get("ready") else "no",
            ", ".join(instance.get("addresses") or []) or "-")
    console.print(table)
    conditions = columns(wide, "condition", "status", "reason", "message")
    for cond in status.get("conditions") or []:
        colour = "green" if cond["status"] == "True" else "red"
        row(conditions, wide, cond["type"], f"[{colour}]{cond['status']}[/{colour}]", cond.get("reason", ""),
            cond.get("message", ""))
    console.print(conditions)
    if annotations.get(names.PENDING_CLEANUP):
        console.print(f"cleanup pending in: {annotations[names.PENDING_CLEANUP]}")
    _events(api, ns, name, wide)


def _events(api: Api, namespace: str, name: str, wide: bool) -> None:
    """The Cluster's most recent Events, oldest first (as ``kubectl describe`` ends)."""
    listed = rest.call(api, "GET", rest.path("Event", namespace), query={
        "fieldSelector": f"involvedObject.kind=Cluster,involvedObject.name={name}"})["items"]
    recent = sorted(listed, key=lambda e: e.get("lastTimestamp") or e["metadata"].get("creationTimestamp") or "")
    if not recent:
        console.print("Events: none")
        return
    console.print("Events:")
    table = columns(wide, "type", "reason", "age", "message")
    for event in recent[-EVENTS_SHOWN:]:
        row(table, wide, event.get("type", ""), event.get("reason", ""), age(event.get("lastTimestamp")),
            event.get("message", ""))
    console.print(table)
