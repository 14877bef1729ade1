"""``kbmc install``, ``kbmc status``, ``kbmc uninstall``: like ``kbcli kubeblocks install/status``."""

from __future__ import annotations

import contextlib
import time
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console

from kbmc import settings
from kbmc.api.crd import all_crds
from kbmc.cli.common import ContextOption, KubeconfigOption, control_client
from kbmc.cli.dataplane import placed_clusters
from kbmc.cli.output import Format, OutputOption, columns, dump, emit, row
from kbmc.errors import ApiError, InstallError, NotFoundError, UsageError
from kbmc.kube import rest
from kbmc.kube.client import Api, new_client
from kbmc.ops import install as installer
from kbmc.ops.addons import load_addons
from kbmc.ops.rbac import data_plane_manifests, operator_manifests

console = Console()
NamespaceOption = Annotated[str, typer.Option("--namespace", "-n", help="The operator's namespace.")]
SecretOption = Annotated[str | None, typer.Option("--kubeconfig-secret", help="Secret (key kubeconfig) with a context "
                                                                              "per data plane.")]


def _split_contexts(value: str) -> list[str]:
    return [c.strip() for c in value.strip("{}").replace("\\,", ",").split(",") if c.strip()]


def _from_set(values: list[str], secret: str | None, contexts: str | None) -> tuple[str | None, str | None]:
    """kbcli's spelling: ``--set multiCluster.kubeConfig=NAME --set multiCluster.contexts=a,b``."""
    for item in values:
        key, _, value = item.partition("=")
        if key == "multiCluster.kubeConfig":
            secret = value
        elif key == "multiCluster.contexts":
            contexts = value
        else:
            raise UsageError(f"--set {key}: unknown setting (kbmc knows multiCluster.kubeConfig, "
                             "multiCluster.contexts)")
    return secret, contexts


def install(
    kubeconfig: KubeconfigOption = None, context: ContextOption = None,
    kubeconfig_secret: SecretOption = None,
    contexts: Annotated[str | None, typer.Option("--contexts", help="Data-plane contexts, comma-separated.")] = None,
    namespace: NamespaceOption = settings.NAMESPACE,
    image: Annotated[str, typer.Option(help="Operator image.")] = installer.DEFAULT_IMAGE,
    local: Annotated[bool, typer.Option("--local", help="Everything but the Deployment (run `kbmc operator run`).")]
    = False,
    set_: Annotated[list[str] | None, typer.Option("--set", help="kbcli spelling: multiCluster.kubeConfig=NAME, "
                                                                 "multiCluster.contexts=a,b")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print every manifest install would apply (for GitOps) "
                                                            "and apply nothing.")] = False,
    output: OutputOption = Format.yaml,
) -> None:
    """Install kbmc into the control plane and prepare every data plane."""
    secret, context_list = _from_set(set_ or [], kubeconfig_secret, contexts)
    if not secret:
        raise UsageError("--kubeconfig-secret (or --set multiCluster.kubeConfig=NAME) is required")
    options = installer.Options(kubeconfig_secret=secret, contexts=_split_contexts(context_list or ""),
                                namespace=namespace, image=image, local=local)
    if dry_run:
        planned = installer.manifests(options)
        if output is Format.json:
            dump(output, [m for items in planned.values() for m in items])
        else:
            for where, items in planned.items():
                print(f"# {where}")
                print(yaml.safe_dump_all(items, sort_keys=False), end="---\n")
        return
    control = control_client(kubeconfig, context, "install")
    started = time.monotonic()
    try:
        installer.install(control, options, lambda step: console.print(f"[green]✓[/green] {step}", highlight=False))
    except InstallError as exc:
        console.print(f"[red]✗[/red] {exc}", highlight=False)
        raise typer.Exit(1) from exc
    console.print(f"kbmc installed in {time.monotonic() - started:.1f} s.")


def status(kubeconfig: KubeconfigOption = None, context: ContextOption = None,
           namespace: NamespaceOption = settings.NAMESPACE,
           kubeconfig_secret: SecretOption = settings.KUBECONFIG_SECRET, output: OutputOption = Format.table) -> None:
    """Control plane and every data plane: reachable, kbmc's permissions, version, Clusters. Exits 1 when a data
    plane is not OK (marked unavailable, unreachable, or kbmc's permissions there incomplete)."""
    control = control_client(kubeconfig, context, "status")
    version = rest.call(control, "GET", "/version").get("gitVersion", "?")
    try:
        deployment = rest.call(control, "GET", rest.path("Deployment", namespace, "kbmc-operator"))
        operator = {"deployment": f"{namespace}/kbmc-operator",
                    "readyReplicas": deployment.get("status", {}).get("readyReplicas", 0)}
    except NotFoundError:
        operator = {"deployment": None, "readyReplicas": 0}
    kubeconfig_data = installer.secret_kubeconfig(control, namespace, kubeconfig_secret or settings.KUBECONFIG_SECRET)
    placed = placed_clusters(control)
    planes = []
    for item in rest.call(control, "GET", rest.path("DataPlane"))["items"]:
        name, spec = item["metadata"]["name"], item["spec"]
        available = spec.get("available", True)
        report = installer.check_plane(kubeconfig_data, spec["context"], apply_rbac=False) if available else \
            installer.PlaneReport(name, notes=["marked unavailable: not contacted"])
        planes.append({"name": name, "context": spec["context"], "available": available,
                       "reachable": bool(report.version), "rbacOk": report.rbac_ok, "version": report.version,
                       "clusters": placed.get(name, []), "notes": report.notes,
                       "ok": available and bool(report.version) and report.rbac_ok})
    summary = {"controlPlane": {"version": version, "operator": operator}, "dataPlanes": planes}

    def table(wide: bool) -> Any:
        said = (f"Deployment {operator['deployment']}, {operator['readyReplicas']} ready" if operator["deployment"]
                else "no Deployment (local operator, or not installed)")
        console.print(f"control plane: reachable ({version}); operator: {said}", highlight=False)
        out = columns(wide, "data plane", "context", "available", "reachable", "RBAC ok", "version", "clusters",
                      "notes")
        for plane in planes:
            notes = "; ".join(plane["notes"])
            row(out, wide, plane["name"], plane["context"], *("yes" if plane[k] else "no" for k in (
                "available", "reachable", "rbacOk")), plane["version"] or "-", str(len(plane["clusters"])),
                notes if wide else notes[:80])
        return out

    emit(output, summary, table)
    failing = [p["name"] for p in planes if not p["ok"]]
    if failing:
        if output in (Format.table, Format.wide):
            Console(stderr=True).print(f"not OK: data plane(s) {', '.join(failing)}", highlight=False)
        raise typer.Exit(1)


def uninstall(kubeconfig: KubeconfigOption = None, context: ContextOption = None,
              namespace: NamespaceOption = settings.NAMESPACE,
              kubeconfig_secret: SecretOption = settings.KUBECONFIG_SECRET,
              force: Annotated[bool, typer.Option("--force", help="Delete existing Clusters first.")] = False) -> None:
    """Remove what install made (the namespace and the kubeconfig Secret stay: they are yours)."""
    control = control_client(kubeconfig, context, "uninstall")
    try:
        clusters = rest.call(control, "GET", rest.path("Cluster"))["items"]
    except ApiError:
        clusters = []
    if clusters and not force:
        names = ", ".join(f"{c['metadata']['namespace']}/{c['metadata']['name']}" for c in clusters[:10])
        raise UsageError(f"{len(clusters)} Cluster(s) exist ({names}): delete them first or pass --force")
    for cluster in clusters:
        meta = cluster["metadata"]
        rest.call(control, "DELETE", rest.path("Cluster", meta["namespace"], meta["name"]))
        console.print(f"deleting Cluster {meta['namespace']}/{meta['name']} (the operator cleans its data planes)")
    deadline = time.monotonic() + 120
    while clusters and rest.call(control, "GET", rest.path("Cluster"))["items"]:
        if time.monotonic() > deadline:
            raise UsageError("Clusters are still being deleted after 120 s: is the operator running?")
        time.sleep(1)
    try:
        kubeconfig_data = installer.secret_kubeconfig(control, namespace,
                                                      kubeconfig_secret or settings.KUBECONFIG_SECRET)
        planes = rest.call(control, "GET", rest.path("DataPlane"))["items"]
    except (InstallError, ApiError):
        kubeconfig_data, planes = None, []
    for plane in planes:
        if kubeconfig_data is not None:
            api = new_client("", plane["spec"]["context"], agent="kbmc/uninstall",
                                       kubeconfig_dict=kubeconfig_data)
            for manifest in data_plane_manifests():
                _delete(api, manifest)
        console.print(f"[green]✓[/green] data plane {plane['metadata']['name']}: ClusterRole removed")
    targets = [installer.deployment(installer.Options(kubeconfig_secret or "", [], namespace)),
               *load_addons(namespace), *operator_manifests(namespace), *planes]
    for manifest in targets:
        _delete(control, manifest)
    for crd in all_crds().values():  # the CRDs install applied
        _delete(control, crd)
    console.print("[green]✓[/green] control plane: operator, addons, DataPlanes, RBAC and CRDs removed")


def _delete(api: Api, manifest: dict[str, object]) -> None:
    meta = manifest["metadata"]
    assert isinstance(meta, dict)
    with contextlib.suppress(NotFoundError):
        rest.call(api, "DELETE", rest.path(str(manifest["kind"]), meta.get("namespace"), meta["name"]))
