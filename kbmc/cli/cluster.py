"""``kbmc cluster list`` / ``describe`` / ``logs``: every component and instance with its data plane and role, like
``vela status``; ``promote`` / ``restart``: day-2 requests, as ``kbcli cluster promote`` / ``restart``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from kbmc.cli.common import (
    AllNamespacesOption,
    ContextOption,
    KubeconfigOption,
    NamespaceOption,
    control_client,
    default_kubeconfig,
    namespace_of,
)
from kbmc.cli.output import Format, OutputOption, columns, console, dump, emit, row
from kbmc.core import members, names
from kbmc.core.build import DEFAULT_CONTAINER
from kbmc.core.clock import age, stamp
from kbmc.errors import NotFoundError, UsageError
from kbmc.kube import rest
from kbmc.kube.client import Api, new_client, user_agent

app = typer.Typer(no_args_is_help=True, help="Clusters across data planes.")
EVENTS_SHOWN = 10


def _cluster(name: str, namespace: str | None, kubeconfig: Path | None, context: str | None,
             command: str) -> tuple[Api, str, dict[str, Any]]:
    """The control plane's client, the namespace and the Cluster ``name`` in it (a missing one is a one-line
    error)."""
    api = control_client(kubeconfig, context, command)
    ns = namespace_of(namespace, kubeconfig, context)
    try:
        found: dict[str, Any] = rest.call(api, "GET", rest.path("Cluster", ns, name))
    except NotFoundError as exc:
        raise UsageError(f"no Cluster {ns}/{name}") from exc
    return api, ns, found


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
            row(out, wide, *([meta["namespace"]] if ns is None else []), meta["name"], status.get("phase", "-"),
                status.get("ready") or "-",  # the operator's count, as kubectl get's READY column shows it
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
    api, ns, item = _cluster(name, namespace, kubeconfig, context, "cluster describe")
    if output in (Format.json, Format.yaml):
        dump(output, item)
        return
    wide = output is Format.wide
    meta, status = item["metadata"], item.get("status") or {}
    annotations = meta.get("annotations") or {}
    console.print(f"[bold]Cluster[/bold] {ns}/{name}   phase: [bold]{status.get('phase', '-')}[/bold]   "
                  f"placement: {annotations.get(names.PLACEMENT, '(choosing)')}   "
                  f"terminationPolicy: {item['spec'].get('terminationPolicy')}", highlight=False)
    for component, found in sorted((status.get("components") or {}).items()):
        if found.get("componentDef"):
            console.print(f"component {component}: ComponentDefinition {found['componentDef']}, serviceVersion "
                          f"{found.get('serviceVersion') or '-'}", highlight=False)
    table = columns(wide, "component", "instance", "data plane", "role", "pod", "ready", "addresses")
    for instance in _instances(item):
        row(table, wide, instance["component"], instance["name"], instance.get("dataPlane") or "(waiting)",
            instance.get("role") or "-", instance.get("podPhase", "-"), "yes" if instance.get("ready") else "no",
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


@app.command()
def logs(name: Annotated[str, typer.Argument(help="Cluster name.")], namespace: NamespaceOption = None,
         instance: Annotated[str | None, typer.Option("--instance", help="One instance (pod name).")] = None,
         component: Annotated[str | None, typer.Option("--component", help="The instances of one component.")]
         = None,
         container: Annotated[str | None, typer.Option("--container", "-c", help="Container (its pod's only one "
                                                                                  "by default).")] = None,
         tail: Annotated[int | None, typer.Option("--tail", min=0, help="Last N lines only.")] = None,
         follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing (one instance).")] = False,
         kubeconfig: KubeconfigOption = None, context: ContextOption = None) -> None:
    """Logs of a Cluster's instances, each read through the API server of the data plane it runs in (with your
    kubeconfig's context of that name), as ``kubectl logs`` there would; no context switching."""
    api, ns, item = _cluster(name, namespace, kubeconfig, context, "cluster logs")
    every = _instances(item)
    chosen = [i for i in every if instance in (None, i["name"]) and component in (None, i["component"])]
    known = ", ".join(i["name"] for i in every) or "none yet"
    if not chosen:
        raise UsageError(f"Cluster {ns}/{name} has no such instance (it has: {known})")
    if follow and len(chosen) > 1:
        raise UsageError(f"--follow reads one instance: give --instance (Cluster {ns}/{name} has: {known})")
    planes = {d["metadata"]["name"]: d for d in rest.call(api, "GET", rest.path("DataPlane"))["items"]}
    for one in chosen:
        pod, plane = one["name"], planes.get(one.get("dataPlane") or "")
        if plane is None:
            raise UsageError(f"instance {pod} has no data plane yet (it waits for one)")
        if not plane["spec"].get("available", True):
            raise UsageError(f"instance {pod} is in data plane {plane['metadata']['name']}, marked unavailable: kbmc "
                             "does not contact it")
        source = _data_plane_client(kubeconfig, plane["spec"]["context"], plane["metadata"]["name"])
        if len(chosen) > 1:
            print(f"==> {pod} ({plane['metadata']['name']}) <==", flush=True)
        chosen_container = container or _default_container(source, ns, pod)
        response = rest.request(source, "GET", rest.path("Pod", ns, pod, "log"), stream=True, accept="*/*",
                                query={"container": chosen_container, "tailLines": tail, "follow": follow or None},
                                timeout=(5, None if follow else 60))
        try:
            for chunk in response.stream(4096, decode_content=False):
                sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()
        finally:
            rest.drop(response)


def _default_container(api: Api, namespace: str, pod: str) -> str | None:
    """The container ``kubectl logs`` would choose: the pod's default-container annotation, else its only one."""
    try:
        found = rest.call(api, "GET", rest.path("Pod", namespace, pod))
    except NotFoundError as exc:
        raise UsageError(f"instance {pod} has no pod now") from exc
    chosen = (found["metadata"].get("annotations") or {}).get(DEFAULT_CONTAINER)
    return str(chosen) if chosen else None


def _data_plane_client(kubeconfig: Path | None, context: str, plane: str) -> Api:
    try:
        return new_client(default_kubeconfig(kubeconfig), context, agent=user_agent("cli cluster logs"))
    except UsageError as exc:
        raise UsageError(f"data plane {plane}: your kubeconfig has no usable context {context!r} (logs are read "
                         f"with your own credentials for it): {exc}") from exc


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


@app.command()
def promote(name: Annotated[str, typer.Argument(help="Cluster name.")],
            instance: Annotated[str, typer.Option("--instance", help="The instance (pod) to give the leader role.")],
            namespace: NamespaceOption = None, kubeconfig: KubeconfigOption = None, context: ContextOption = None,
            timeout: Annotated[float, typer.Option(min=0, help="Seconds to wait for the role to move (0: do not "
                                                                "wait).")] = 60) -> None:
    """Switch the leader (primary) role to INSTANCE, through the definition's switchover action (kbcli's
    ``cluster promote``)."""
    api, ns, item = _cluster(name, namespace, kubeconfig, context, "cluster promote")
    found = {i["name"]: i for i in _instances(item)}
    target = found.get(instance)
    if target is None:
        raise UsageError(f"Cluster {ns}/{name} has no such instance {instance} (it has: "
                         f"{', '.join(sorted(found)) or 'none'})")
    if not target.get("ready"):
        raise UsageError(f"instance {instance} of Cluster {ns}/{name} is not Ready: it cannot take the leader role")
    writable = _writable_roles(api, item, target["component"])
    if target.get("role") in writable:
        console.print(f"{instance} already has the {target['role']} role ({target.get('dataPlane')})", highlight=False)
        return
    holder = next((i for i in found.values() if i["component"] == target["component"] and i.get("role") in writable),
                  None)
    request = json.dumps({"instance": instance, "at": stamp()}, sort_keys=True)
    rest.call(api, "PATCH", rest.path("Cluster", ns, name), content_type=rest.MERGE_PATCH,
              body={"metadata": {"annotations": {members.PROMOTE: request}}})
    console.print(f"promote {instance} requested" + (f" (the role moves from {holder['name']})" if holder else ""),
                  highlight=False)
    if not timeout:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1)
        current = rest.call(api, "GET", rest.path("Cluster", ns, name))
        moved = next((i for i in _instances(current) if i["name"] == instance), {})
        if moved.get("role") in writable:
            console.print(f"{instance} is now {moved['role']} ({moved.get('dataPlane')})", highlight=False)
            return
        refused = next((c for c in (current.get("status") or {}).get("conditions") or []
                        if c["type"] == "Updated" and c.get("reason") == "ActionFailed"), None)
        if refused is not None:
            _withdraw(api, ns, name)
            raise UsageError(refused.get("message") or "the switchover failed")
    _withdraw(api, ns, name)
    raise UsageError(f"{instance} does not have the leader role after {timeout:.0f} s (the request is withdrawn): "
                     f"see `kbmc cluster describe {name} -n {ns}`")


def _withdraw(api: Api, namespace: str, name: str) -> None:
    """Take a promote request back, so that it does not hold the component's other changes."""
    rest.call(api, "PATCH", rest.path("Cluster", namespace, name), content_type=rest.MERGE_PATCH,
              body={"metadata": {"annotations": {members.PROMOTE: None}}})


def _writable_roles(api: Api, cluster: dict[str, Any], component: str) -> set[str]:
    """The roles of ``component``'s definition that are writable (the leader, the primary)."""
    spec = next(c for c in cluster["spec"]["componentSpecs"] if c["name"] == component)
    chosen = (((cluster.get("status") or {}).get("components") or {}).get(component) or {}).get("componentDef")
    name = chosen or spec.get("componentDef")  # componentDef may name several by prefix: the one kbmc chose
    try:
        definition = rest.call(api, "GET", rest.path("ComponentDefinition", name=name))
    except NotFoundError as exc:
        raise UsageError(f"ComponentDefinition {name} not found") from exc
    return {r["name"] for r in definition["spec"].get("roles") or [] if r.get("writable")}


@app.command()
def restart(name: Annotated[str, typer.Argument(help="Cluster name.")],
            component: Annotated[list[str] | None, typer.Option("--component", help="Only this component "
                                                                                    "(repeatable).")] = None,
            namespace: NamespaceOption = None, kubeconfig: KubeconfigOption = None,
            context: ContextOption = None) -> None:
    """Replace every pod of the Cluster (or of --component) one step at a time, under its definition's update
    strategy, as a spec change does (kbcli's ``cluster restart``)."""
    api, ns, item = _cluster(name, namespace, kubeconfig, context, "cluster restart")
    specs = item["spec"]["componentSpecs"]
    known = [c["name"] for c in specs]
    unknown = sorted(set(component or []) - set(known))
    if unknown:
        raise UsageError(f"Cluster {ns}/{name} has no component(s) {', '.join(unknown)} (it has: {', '.join(known)})")
    now = stamp()
    for spec in specs:
        if not component or spec["name"] in component:
            spec["annotations"] = {**(spec.get("annotations") or {}), members.RESTART: now}
    rest.call(api, "PATCH", rest.path("Cluster", ns, name), content_type=rest.MERGE_PATCH, body={
        "metadata": {"resourceVersion": item["metadata"]["resourceVersion"]}, "spec": {"componentSpecs": specs}})
    console.print(f"restart of {', '.join(component or known)} requested: `kbmc cluster describe {name} -n {ns}` "
                  "shows its progress", highlight=False)
