"""``kbmc dataplane join`` / ``detach``: register a data plane with a least-privilege identity.

With the data plane's admin credentials, used once and never stored: a ServiceAccount ``kbmc`` in
``kube-system`` bound to ClusterRole ``kbmc-dataplane`` (no wildcard); its token goes into the operator's
kubeconfig Secret as a new context, and a DataPlane names it. The operator picks both up without a restart.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import yaml

from kbmc.errors import InstallError, NotFoundError
from kbmc.kube import rest
from kbmc.kube.client import Api
from kbmc.ops.install import secret_kubeconfig
from kbmc.ops.rbac import DATA_PLANE_ROLE, LABELS, data_plane_manifests

ACCOUNT = "kbmc"
ACCOUNT_NAMESPACE = "kube-system"


def join(control: Api, admin: Api, name: str, namespace: str, secret: str, timeout: float = 30) -> None:
    kubeconfig = secret_kubeconfig(control, namespace, secret)
    for manifest in [*data_plane_manifests(), *identity_manifests()]:
        rest.apply(admin, manifest)
    token = _token(admin, timeout)
    server = admin.configuration.host
    ca = _ca_data(admin)
    for section, entry in (("clusters", {"name": name, "cluster": {"server": server, **ca}}),
                           ("users", {"name": f"{name}-kbmc", "user": {"token": token}}),
                           ("contexts", {"name": name, "context": {"cluster": name, "user": f"{name}-kbmc"}})):
        items = [i for i in kubeconfig.get(section) or [] if i.get("name") != entry["name"]]
        kubeconfig[section] = [*items, entry]
    encoded = base64.b64encode(yaml.safe_dump(kubeconfig).encode()).decode()
    rest.call(control, "PATCH", rest.path("Secret", namespace, secret), content_type=rest.MERGE_PATCH,
              body={"data": {"kubeconfig": encoded}})
    rest.apply(control, {"apiVersion": "kbmc.io/v1alpha1", "kind": "DataPlane", "metadata": {"name": name},
                         "spec": {"context": name}})


def detach(control: Api, name: str, namespace: str, secret: str, placed: list[str]) -> None:
    if placed:
        raise InstallError(f"data plane {name} still holds Cluster(s) {', '.join(placed)}: delete or move them first")
    try:
        plane = rest.call(control, "GET", rest.path("DataPlane", name=name))
    except NotFoundError as exc:
        raise InstallError(f"no DataPlane named {name!r}") from exc
    context = plane["spec"]["context"]
    rest.call(control, "DELETE", rest.path("DataPlane", name=name))
    kubeconfig = secret_kubeconfig(control, namespace, secret)
    ctx = next((c for c in kubeconfig["contexts"] if c.get("name") == context), None)
    if ctx is not None and (ctx.get("context") or {}).get("user") == f"{name}-kbmc":  # made by join: remove it
        kubeconfig["contexts"] = [c for c in kubeconfig["contexts"] if c.get("name") != context]
        kubeconfig["users"] = [u for u in kubeconfig.get("users") or [] if u.get("name") != f"{name}-kbmc"]
        kubeconfig["clusters"] = [c for c in kubeconfig.get("clusters") or [] if c.get("name") != name]
        encoded = base64.b64encode(yaml.safe_dump(kubeconfig).encode()).decode()
        rest.call(control, "PATCH", rest.path("Secret", namespace, secret), content_type=rest.MERGE_PATCH,
                  body={"data": {"kubeconfig": encoded}})


def identity_manifests() -> list[dict[str, Any]]:
    """kbmc's own identity in a data plane: a ServiceAccount bound to ClusterRole kbmc-dataplane."""
    meta = {"name": ACCOUNT, "labels": LABELS}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {**meta, "namespace": ACCOUNT_NAMESPACE}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": DATA_PLANE_ROLE},
         "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": ACCOUNT_NAMESPACE}]},
    ]


def _token(admin: Api, timeout: float) -> str:
    """The ServiceAccount's token (1.20: the token controller makes a Secret for it)."""
    deadline = time.monotonic() + timeout
    while True:
        account = rest.call(admin, "GET", rest.path("ServiceAccount", ACCOUNT_NAMESPACE, ACCOUNT))
        for ref in account.get("secrets") or []:
            secret = rest.call(admin, "GET", rest.path("Secret", ACCOUNT_NAMESPACE, ref["name"]))
            token = (secret.get("data") or {}).get("token")
            if token:
                return base64.b64decode(token).decode()
        if time.monotonic() > deadline:
            raise InstallError(f"no token for ServiceAccount {ACCOUNT_NAMESPACE}/{ACCOUNT} after {timeout:.0f} s: "
                               "is the data plane's kube-controller-manager running?")
        time.sleep(0.5)


def _ca_data(admin: Api) -> dict[str, Any]:
    config = admin.configuration
    if config.ssl_ca_cert:
        with open(config.ssl_ca_cert, "rb") as fh:
            return {"certificate-authority-data": base64.b64encode(fh.read()).decode()}
    return {"insecure-skip-tls-verify": True}
