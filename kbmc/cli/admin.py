"""``kbmc install``, ``kbmc status``, ``kbmc uninstall``: like ``kbcli kubeblocks install/status``."""

from __future__ import annotations

import sys
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
from kbmc.core import names
from kbmc.errors import InstallError, NotFoundError, UsageError
from kbmc.kube import crds, rest
from kbmc.kube.client import Api, new_client
from kbmc.kube.wait import wait_object
from kbmc.ops import install as installer
from kbmc.ops import join as joining
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
    replicas: Annotated[int, typer.Option(min=1, help="Operator pods: one leads, the others stand by.")] = 2,
    timeout: Annotated[float, typer.Option(min=0, help="Seconds to wait for the operator's Deployment to be Ready "
                                                       "(0: do not wait).")] = 300,
    force: Annotated[bool, typer.Option("--force", help="Take over CRDs of kbmc's kinds that kbmc did not install "
                                                        "(an existing KubeBlocks').")] = False,
) -> None:
    """Install kbmc into the control plane and prepare every data plane."""
    secret, context_list = _from_set(set_ or [], kubeconfig_secret, contexts)
    if not secret:
        raise UsageError("--kubeconfig-secret (or --set multiCluster.kubeConfig=NAME) is required")
    options = installer.Options(kubeconfig_secret=secret, contexts=_split_contexts(context_list or ""),
                                namespace=namespace, image=image, local=local, replicas=replicas, wait=timeout,
                                force=force)
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
    operator["leader"] = installer.leader(control, namespace) or None
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
        said += f", leader {operator['leader']}" if operator["leader"] else ", no leader"
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
              force: Annotated[bool, typer.Option("--force", help="Delete existing Clusters first (asks on a "
                                                                  "terminal).")] = False,
              yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before --force deletes Clusters.")]
              = False) -> None:
    """Remove what install made, and only that: CRDs kbmc did not install (an existing KubeBlocks') stay, and
    so do their objects; the namespace and the kubeconfig Secret stay (they are yours)."""
    control = control_client(kubeconfig, context, "uninstall")
    names = [c["metadata"]["name"] for c in all_crds().values()]
    owned = crds.owned(control, names)
    ours = [name for name in names if owned.get(name)]

    def mine(kind: str) -> bool:  # kbmc's kinds are its own only where it installed their CRD
        return crds.crd_name(kind) not in names or crds.crd_name(kind) in ours

    def listed(kind: str) -> list[dict[str, Any]]:
        return rest.call(control, "GET", rest.path(kind))["items"] if mine(kind) else []

    try:
        kubeconfig_data: dict[str, Any] | None = installer.secret_kubeconfig(
            control, namespace, kubeconfig_secret or settings.KUBECONFIG_SECRET)
    except InstallError:
        kubeconfig_data = None
    planes = listed("DataPlane")
    joined = [p["metadata"]["name"] for p in planes if kubeconfig_data and joining.made_by_join(kubeconfig_data, p)]
    if joined:  # their identity there is join's, which only their admin credentials can remove
        raise UsageError(f"data plane(s) {', '.join(joined)} were joined: detach them first (`kbmc dataplane detach "
                         "NAME --cluster-kubeconfig FILE` removes kbmc's identity there too)")
    clusters = listed("Cluster")
    if clusters:
        count = f"{len(clusters)} Cluster(s)"
        listing = ", ".join(f"{c['metadata']['namespace']}/{c['metadata']['name']}" for c in clusters[:10])
        if not force:
            raise UsageError(f"{count} exist ({listing}): delete them first or pass --force")
        if not yes and not sys.stdin.isatty():
            raise UsageError(f"uninstall --force would delete {count} ({listing}) and there is no terminal to ask on: "
                             "pass --yes to confirm")
        if not yes and not typer.confirm(f"Delete {count} ({listing}) and their objects in every data plane?"):
            console.print("Nothing removed.")
            raise typer.Exit(1)
    for cluster in clusters:
        meta = cluster["metadata"]
        rest.call(control, "DELETE", rest.path("Cluster", meta["namespace"], meta["name"]))
        console.print(f"deleting Cluster {meta['namespace']}/{meta['name']} (the operator cleans its data planes)")
    deadline = time.monotonic() + 120
    while clusters and listed("Cluster"):
        if time.monotonic() > deadline:
            raise UsageError("Clusters are still being deleted after 120 s: is the operator running?")
        time.sleep(1)
    for plane in planes if kubeconfig_data is not None else []:
        api = new_client("", plane["spec"]["context"], agent="kbmc/uninstall", kubeconfig_dict=kubeconfig_data)
        for manifest in data_plane_manifests():
            rest.delete(api, manifest)
        console.print(f"[green]✓[/green] data plane {plane['metadata']['name']}: ClusterRole removed")
    targets = [installer.deployment(installer.Options(kubeconfig_secret or "", [], namespace)),
               *load_addons(namespace), *operator_manifests(namespace), *planes]
    for manifest in targets:
        if mine(manifest["kind"]):
            if manifest["kind"] == "ComponentDefinition":  # no Cluster is left: nothing uses it
                _release_definition(control, manifest["metadata"]["name"])
            rest.delete(control, manifest)
    for name in ours:  # the CRDs install applied
        rest.delete(control, {"kind": "CustomResourceDefinition", "metadata": {"name": name}})
    for name in ours:  # the API server removes their objects first: uninstall ends once they are gone
        try:
            wait_object(control, "CustomResourceDefinition", None, name, lambda crd: crd is None, timeout=60)
        except TimeoutError as exc:
            raise UsageError(f"CRD {name} is still being removed after 60 s (objects of it are left, held by a "
                             "finalizer?): it goes once they are") from exc
    console.print("[green]✓[/green] control plane: operator, addons, DataPlanes, RBAC and CRDs "
                  f"{', '.join(ours) or '-'} removed", highlight=False)
    left = [name for name in names if name in owned and name not in ours]
    if left:
        console.print(f"CRD(s) {', '.join(left)} left: kbmc did not install them", highlight=False)


def _release_definition(control: Api, name: str) -> None:
    """Drop the operator's in-use finalizer (the operator may be gone already)."""
    try:
        meta = rest.call(control, "GET", rest.path("ComponentDefinition", name=name))["metadata"]
    except NotFoundError:
        return
    finalizers = meta.get("finalizers") or []
    if names.IN_USE in finalizers:
        rest.call(control, "PATCH", rest.path("ComponentDefinition", name=name), content_type=rest.MERGE_PATCH,
                  body={"metadata": {"finalizers": [f for f in finalizers if f != names.IN_USE] or None,
                                     "resourceVersion": meta["resourceVersion"]}})
