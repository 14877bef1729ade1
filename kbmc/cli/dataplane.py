"""``kbmc dataplane``: see data planes, join and detach them, and, during an incident, mark one unavailable (and
back).

Everything shown is on the DataPlane objects and the Clusters' status; marking writes DataPlane ``spec``,
so ``kubectl`` can do the same."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, Any

import typer

from kbmc import settings
from kbmc.cli.common import ContextOption, KubeconfigOption, control_client
from kbmc.cli.output import Format, OutputOption, columns, console, dump, emit, row
from kbmc.core import clock, placement
from kbmc.errors import NotFoundError, UsageError
from kbmc.kube import rest
from kbmc.kube.client import Api, new_client, user_agent
from kbmc.ops import join as joining

app = typer.Typer(no_args_is_help=True, help="Data planes: list, describe, join, detach, mark unavailable / available.")
NameArg = Annotated[str, typer.Argument(help="DataPlane name (usually its context), e.g. k8s-2.")]
ADMIN_HELP = "The data plane's admin kubeconfig (used once, not stored)."
ClusterKubeconfigOption = Annotated[Path | None, typer.Option("--cluster-kubeconfig", help=ADMIN_HELP)]
ClusterContextOption = Annotated[str | None, typer.Option("--cluster-context", help="Its context in that file "
                                                                                    "(default: its current one).")]
OperatorNamespaceOption = Annotated[str, typer.Option("--namespace", "-n", help="The operator's namespace.")]
SecretOption = Annotated[str, typer.Option(help="The operator's kubeconfig Secret.")]


def _get(api: Api, name: str) -> dict[str, Any]:
    try:
        found: dict[str, Any] = rest.call(api, "GET", rest.path("DataPlane", name=name))
        return found
    except NotFoundError:
        pass
    known = ", ".join(sorted(d["metadata"]["name"] for d in _list(api))) or "none"
    raise UsageError(f"no DataPlane named {name!r} (known: {known})")


def _list(api: Api) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = rest.call(api, "GET", rest.path("DataPlane"))["items"]
    return sorted(items, key=lambda d: d["metadata"]["name"])


def placed_clusters(api: Api) -> dict[str, list[str]]:
    """Data plane -> Clusters (namespace/name) with instances or shared objects there."""
    out: dict[str, list[str]] = {}
    for cluster in rest.call(api, "GET", rest.path("Cluster"))["items"]:
        meta = cluster["metadata"]
        for plane in placement.record_planes(meta.get("annotations") or {}):
            out.setdefault(plane, []).append(f"{meta['namespace']}/{meta['name']}")
    return out


@app.command("list")
def list_(output: OutputOption = Format.table, kubeconfig: KubeconfigOption = None,
          context: ContextOption = None) -> None:
    """Data planes: context, available, reachable, last contact, reason, Clusters placed."""
    api = control_client(kubeconfig, context, "dataplane list")
    items = _list(api)
    placed = placed_clusters(api) if output in (Format.table, Format.wide) else {}

    def table(wide: bool) -> Any:
        out = columns(wide, "name", "context", "available", "reachable", "last contact", "reason", "clusters",
                      ("version", True), ("marked by", True))
        for item in items:
            spec, status = item["spec"], item.get("status") or {}
            name = item["metadata"]["name"]
            row(out, wide, name, spec["context"],
                "[green]yes[/green]" if spec.get("available", True) else "[red]no[/red]",
                _yes_no(status.get("reachable"), "[green]yes[/green]", "[red]no[/red]"),
                _age(status.get("lastContact")), spec.get("unavailableReason") or status.get("message") or "",
                str(len(placed.get(name, []))), (status.get("serverVersion") or "-", True),
                (spec.get("markedBy") or "-", True))
        return out

    emit(output, items, table)


@app.command()
def describe(name: NameArg, output: OutputOption = Format.table, kubeconfig: KubeconfigOption = None,
             context: ContextOption = None) -> None:
    """Everything known of one data plane, and the Clusters placed there."""
    api = control_client(kubeconfig, context, "dataplane describe")
    item = _get(api, name)
    if output in (Format.json, Format.yaml):
        dump(output, item)
        return
    spec, status = item["spec"], item.get("status") or {}
    rows = [
        ("Name", name), ("Context", spec["context"]),
        ("Available", "yes" if spec.get("available", True) else "no"),
        ("Reason", spec.get("unavailableReason") or "-"), ("Marked by", spec.get("markedBy") or "-"),
        ("Marked at", spec.get("markedAt") or "-"),
        ("Reachable", _yes_no(status.get("reachable"), "yes", "no")),
        ("Last contact", status.get("lastContact") or "-"), ("Server version", status.get("serverVersion") or "-"),
        ("Message", status.get("message") or "-"),
        ("Allowed namespaces", ", ".join(spec.get("allowedNamespaces") or []) or "all"),
        ("Service annotations", ", ".join(f"{k}={v}" for k, v in (spec.get("serviceAnnotations") or {}).items())
         or "-"),
        ("Clusters", ", ".join(placed_clusters(api).get(name, [])) or "-"),
    ]
    for label, value in rows:
        console.print(f"[bold]{label + ':':<21}[/bold]{value}", highlight=False)


@app.command("mark-unavailable")
def mark_unavailable(name: NameArg,
                     reason: Annotated[str, typer.Option("--reason", help="Why (shown on every affected Cluster).")],
                     kubeconfig: KubeconfigOption = None, context: ContextOption = None) -> None:
    """Stop every request to a data plane now: affected Clusters report it; nothing there is deleted."""
    if not reason.strip():
        raise UsageError("--reason must say why the data plane is unavailable")
    _mark(name, False, reason.strip(), kubeconfig, context, "dataplane mark-unavailable")
    console.print(f"{name} marked unavailable: kbmc sends it no request until `kbmc dataplane mark-available {name}`.")


@app.command("mark-available")
def mark_available(name: NameArg, kubeconfig: KubeconfigOption = None, context: ContextOption = None) -> None:
    """Resume work in a data plane: watches restart, drift is repaired, pending cleanups run."""
    _mark(name, True, None, kubeconfig, context, "dataplane mark-available")
    console.print(f"{name} marked available.")


def _age(stamp: str | None) -> str:
    """``12s ago`` for an RFC 3339 time, ``-`` when there is none."""
    age = clock.age(stamp)
    return age if age == "-" else f"{age} ago"


@app.command()
def join(name: NameArg,
         cluster_kubeconfig: Annotated[Path, typer.Option("--cluster-kubeconfig", help=ADMIN_HELP)],
         cluster_context: ClusterContextOption = None,
         server: Annotated[str | None, typer.Option(help="The address the operator reaches the data plane at "
                                                         "(default: that kubeconfig's server).")] = None,
         insecure_skip_tls_verify: Annotated[bool, typer.Option(
             "--insecure-skip-tls-verify", help="The operator does not verify the server's certificate (needed when "
                                                "that kubeconfig has no CA for it).")] = False,
         kubeconfig: KubeconfigOption = None, context: ContextOption = None,
         namespace: OperatorNamespaceOption = settings.NAMESPACE,
         kubeconfig_secret: SecretOption = settings.KUBECONFIG_SECRET) -> None:
    """Register a data plane with a least-privilege identity of its own (like `karmadactl join`)."""
    control = control_client(kubeconfig, context, "dataplane join")
    admin = _admin(cluster_kubeconfig, cluster_context, "dataplane join")
    joining.join(control, admin, name, namespace, kubeconfig_secret, server=server, insecure=insecure_skip_tls_verify,
                 source=f"kubeconfig {cluster_kubeconfig}, context {cluster_context or '(current)'}")
    console.print(f"{name} joined: ServiceAccount {joining.ACCOUNT_NAMESPACE}/{joining.ACCOUNT} bound to ClusterRole "
                  f"kbmc-dataplane, its token (Secret {joining.ACCOUNT_NAMESPACE}/{joining.TOKEN_SECRET}) in Secret "
                  f"{namespace}/{kubeconfig_secret}; DataPlane {name} created.")


@app.command()
def detach(name: NameArg, cluster_kubeconfig: ClusterKubeconfigOption = None,
           cluster_context: ClusterContextOption = None,
           force: Annotated[bool, typer.Option("--force", help="Leave what join made in that cluster (a cluster gone "
                                                                "for good).")] = False,
           kubeconfig: KubeconfigOption = None, context: ContextOption = None,
           namespace: OperatorNamespaceOption = settings.NAMESPACE,
           kubeconfig_secret: SecretOption = settings.KUBECONFIG_SECRET) -> None:
    """Remove a data plane (refused while Clusters are placed there) and, for one join made, what join made (with
    that cluster's admin kubeconfig)."""
    api = control_client(kubeconfig, context, "dataplane detach")
    admin = _admin(cluster_kubeconfig, cluster_context, "dataplane detach") if cluster_kubeconfig else None
    left = joining.detach(api, admin, name, namespace, kubeconfig_secret, placed_clusters(api).get(name, []), force)
    console.print(f"{name} detached." + (f" Left in that cluster (--force): {', '.join(left)}." if left else ""))


def _admin(kubeconfig: Path, context: str | None, command: str) -> Api:
    return new_client(kubeconfig, context, agent=user_agent(f"cli {command}"))


def _yes_no(value: bool | None, yes: str, no: str) -> str:
    return "unknown" if value is None else yes if value else no


def _mark(name: str, available: bool, reason: str | None, kubeconfig: KubeconfigOption, context: ContextOption,
          command: str) -> None:
    api = control_client(kubeconfig, context, command)
    _get(api, name)
    spec = {"available": available, "unavailableReason": reason, "markedBy": f"{getpass.getuser()} (kbmc cli)",
            "markedAt": clock.stamp()}
    rest.call(api, "PATCH", rest.path("DataPlane", name=name), body={"spec": spec}, content_type=rest.MERGE_PATCH)
