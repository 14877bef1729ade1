"""``kbmc dataplane join`` / ``detach``: register a data plane with a least-privilege identity, as ``karmadactl
join`` does.

With the data plane's admin credentials (``--cluster-kubeconfig``), used once and never stored: a ServiceAccount
``kbmc`` in ``kube-system`` bound to ClusterRole ``kbmc-dataplane`` (no wildcard), and a token Secret for it that
join creates itself (Kubernetes >= 1.24 makes none) and the token controller fills. The token goes into the
operator's kubeconfig Secret as a new context, with the server's CA, and a DataPlane names it. The operator picks
both up without a restart. ``detach`` removes all of it again.
"""

from __future__ import annotations

import base64
import urllib.parse
from typing import Any

import yaml

from kbmc.errors import InstallError, NotFoundError, UsageError
from kbmc.kube import rest
from kbmc.kube.client import Api
from kbmc.kube.wait import wait_object
from kbmc.ops.install import secret_kubeconfig
from kbmc.ops.rbac import DATA_PLANE_ROLE, LABELS, data_plane_manifests

ACCOUNT = "kbmc"
ACCOUNT_NAMESPACE = "kube-system"
TOKEN_SECRET = "kbmc-token"


def join(control: Api, admin: Api, name: str, namespace: str, secret: str, *, server: str | None = None,
         insecure: bool = False, source: str = "the data plane's kubeconfig", timeout: float = 30) -> None:
    """``admin`` reaches the data plane with the credentials of ``source`` (a file and context, for messages);
    ``server`` is the address the operator will use (default: the one ``admin`` uses); ``insecure`` lets the
    operator skip verifying it. Everything is checked before anything is written."""
    cluster = _cluster(admin, server, insecure, source)
    kubeconfig = secret_kubeconfig(control, namespace, secret)
    for manifest in [*data_plane_manifests(), *identity_manifests()]:
        rest.apply(admin, manifest)
    token = _token(admin, name, timeout)
    for section, entry in (("clusters", {"name": name, "cluster": cluster}),
                           ("users", {"name": f"{name}-kbmc", "user": {"token": token}}),
                           ("contexts", {"name": name, "context": {"cluster": name, "user": f"{name}-kbmc"}})):
        items = [i for i in kubeconfig.get(section) or [] if i.get("name") != entry["name"]]
        kubeconfig[section] = [*items, entry]
    _store(control, namespace, secret, kubeconfig)
    rest.apply(control, {"apiVersion": "kbmc.io/v1alpha1", "kind": "DataPlane", "metadata": {"name": name},
                         "spec": {"context": name}})


def detach(control: Api, admin: Api | None, name: str, namespace: str, secret: str, placed: list[str],
           force: bool = False) -> list[str]:
    """Remove the DataPlane and, for a data plane join made, its context in the Secret and (through ``admin``,
    that cluster's admin credentials) join's objects there. ``force`` leaves those objects, for a cluster gone
    for good; returns what it left."""
    if placed:
        raise InstallError(f"data plane {name} still holds Cluster(s) {', '.join(placed)}: delete or move them first")
    try:
        plane = rest.call(control, "GET", rest.path("DataPlane", name=name))
    except NotFoundError as exc:
        raise InstallError(f"no DataPlane named {name!r}") from exc
    context = plane["spec"]["context"]
    kubeconfig = secret_kubeconfig(control, namespace, secret)
    joined = made_by_join(kubeconfig, plane)
    identity = identity_manifests()
    if joined and not force:
        if admin is None:
            raise UsageError(f"data plane {name} was joined: pass --cluster-kubeconfig FILE [--cluster-context CTX] "
                             f"(its admin credentials) so that detach removes {', '.join(map(_named, identity))} "
                             "there, or --force to leave them (a cluster gone for good)")
        for manifest in reversed(identity):
            rest.delete(admin, manifest)
    rest.call(control, "DELETE", rest.path("DataPlane", name=name))
    if joined:  # made by join: remove its context, user and cluster
        kubeconfig["contexts"] = [c for c in kubeconfig["contexts"] if c.get("name") != context]
        kubeconfig["users"] = [u for u in kubeconfig.get("users") or [] if u.get("name") != f"{name}-kbmc"]
        kubeconfig["clusters"] = [c for c in kubeconfig.get("clusters") or [] if c.get("name") != name]
        _store(control, namespace, secret, kubeconfig)
    return [_named(m) for m in identity] if joined and force else []


def made_by_join(kubeconfig: dict[str, Any], plane: dict[str, Any]) -> bool:
    """Whether join made a DataPlane's context in the operator's kubeconfig (it names its user so)."""
    name, context = plane["metadata"]["name"], plane["spec"]["context"]
    ctx = next((c for c in kubeconfig["contexts"] if c.get("name") == context), None)
    return ctx is not None and (ctx.get("context") or {}).get("user") == f"{name}-kbmc"


def identity_manifests() -> list[dict[str, Any]]:
    """kbmc's own identity in a data plane: a ServiceAccount bound to ClusterRole kbmc-dataplane, and its token
    Secret (the token controller fills a Secret of this type that names the account)."""
    meta = {"name": ACCOUNT, "labels": LABELS}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {**meta, "namespace": ACCOUNT_NAMESPACE}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": DATA_PLANE_ROLE},
         "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": ACCOUNT_NAMESPACE}]},
        {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
         "metadata": {"name": TOKEN_SECRET, "namespace": ACCOUNT_NAMESPACE, "labels": LABELS,
                      "annotations": {"kubernetes.io/service-account.name": ACCOUNT}}},
    ]


def _cluster(admin: Api, server: str | None, insecure: bool, source: str) -> dict[str, Any]:
    """The kubeconfig cluster entry the operator will use: kbmc never turns TLS verification off by itself, so a
    server whose CA ``source`` does not hold is refused unless ``insecure``."""
    address = server or admin.configuration.host
    url = urllib.parse.urlsplit(address)
    if url.scheme != "https" or not url.hostname:
        raise UsageError(f"{'--server' if server else f'the server of {source}'} {address!r} is not an https:// URL")
    if insecure:
        return {"server": address, "insecure-skip-tls-verify": True}
    if not admin.configuration.ssl_ca_cert:
        raise UsageError(f"{source} has no certificate-authority(-data) for {admin.configuration.host}: the operator "
                         "could not verify that server; add its CA there, or pass --insecure-skip-tls-verify")
    with open(admin.configuration.ssl_ca_cert, "rb") as fh:
        return {"server": address, "certificate-authority-data": base64.b64encode(fh.read()).decode()}


def _token(admin: Api, name: str, timeout: float) -> str:
    """The token the token controller writes into join's Secret."""
    try:
        filled = wait_object(admin, "Secret", ACCOUNT_NAMESPACE, TOKEN_SECRET,
                             lambda s: bool(s and (s.get("data") or {}).get("token")), timeout)
    except TimeoutError:
        raise InstallError(f"Secret {ACCOUNT_NAMESPACE}/{TOKEN_SECRET} in data plane {name} has no token after "
                           f"{timeout:.0f} s: the token controller (kube-controller-manager's serviceaccount-token "
                           "controller) did not fill it; is it running there?") from None
    assert filled is not None
    return base64.b64decode(filled["data"]["token"]).decode()


def _store(control: Api, namespace: str, secret: str, kubeconfig: dict[str, Any]) -> None:
    encoded = base64.b64encode(yaml.safe_dump(kubeconfig).encode()).decode()
    rest.call(control, "PATCH", rest.path("Secret", namespace, secret), content_type=rest.MERGE_PATCH,
              body={"data": {"kubeconfig": encoded}})


def _named(manifest: dict[str, Any]) -> str:
    meta = manifest["metadata"]
    return f"{manifest['kind']} {'/'.join(filter(None, (meta.get('namespace'), meta['name'])))}"
