"""The mesh agent of one bed cluster: plays Cilium ClusterMesh's global services and the cluster DNS for the
pods the node agent runs as processes, over the API only, as the node agent plays the kubelet.

What it watches: the Services and EndpointSlices of every bed cluster (every context of its kubeconfig), as a
Cilium agent learns the other clusters' services from their clustermesh-apiservers. EndpointSlices, not
Endpoints: they are what Cilium reads, and the only backends the bed's controller-managers can write for pods
run as processes (the Endpoints API refuses their loopback addresses; EndpointSlices take them).

What it decides (``table``, pure), for every Service of its own cluster:

- its backends are the ready endpoints (``conditions.ready`` true or unset) of its own EndpointSlices; a
  Service annotated ``service.cilium.io/global: "true"`` also gets the ready endpoints of the Service of the
  same namespace and name in every other cluster where that one is global too, unless that cluster's copy says
  ``service.cilium.io/shared: "false"`` (its backends stay at home; it still gets the others'). Non-global
  Services, and headless ones (Cilium does not merge DNS), have their own cluster's backends only;
- a Service with a cluster IP resolves to one backend (a cluster IP is one address): the one it resolved to
  before while that one is still ready, else the first by address (no affinity: no preference for the own
  cluster). A headless Service resolves to every ready backend, as its DNS records would. A Service with no
  ready backend does not resolve (a real cluster IP would resolve and refuse the connection). Ports are not
  translated: a client reaches the backend at the Service's port, which is right where port and targetPort
  are the same (the addons' are).

What it writes: ``DIR/<cluster>/mesh/<namespace>.hosts``, the /etc/hosts of a namespace's pods run as
processes. The node agent creates it (the machine's lines only) when it first starts a pod of that namespace and
binds it over /etc/hosts in each such pod's private mount namespace (``hosts_file``); the mesh agent fills a new
one within half a second, and keeps it current: the machine's own /etc/hosts, then every Service of the cluster
under ``<svc>.<ns>``, ``<svc>.<ns>.svc`` and ``<svc>.<ns>.svc.cluster.local``, and the namespace's own Services
under ``<svc>`` too (what a pod's DNS search path gives). Each file is rewritten in place (one ``pwrite``,
never truncated: a shorter table is padded with blank lines) within about 50 ms of the watch event that changed
it, so a process reading it sees the old table or the new one, never an empty file (glibc reads it on every
lookup, Go's resolver once its copy is 5 s old); a ``rename`` would replace the file under the path and leave
every pod bound to the old one.

A cluster that stops answering keeps its last known backends until it answers again (its informers relist
then). ``DIR/<cluster>/mesh/ready`` is written once the own cluster's Services and EndpointSlices are listed
and the files written (the bed waits for it). Not played: eBPF load-balancing, encryption, network policy,
service affinity (``service.cilium.io/affinity``) or any annotation other than the two above.

Run as ``python -m kbmc.dev.mesh --kubeconfig F --cluster NAME --hosts-dir DIR``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kbmc import __version__
from kbmc.kube import rest
from kbmc.kube.client import new_client
from kbmc.kube.informer import Informer
from kbmc.settings import Timeouts

log = logging.getLogger("kbmc.dev.mesh")
Obj = dict[str, Any]
GLOBAL = "service.cilium.io/global"
SHARED = "service.cilium.io/shared"
DOMAIN = "cluster.local"
SERVICE_NAME = "kubernetes.io/service-name"
"""The label an EndpointSlice names its Service with."""
HOST_HOSTS = Path("/etc/hosts")
COALESCE = 0.05
"""Seconds a rewrite waits for more events (a burst of changes is one write)."""
Key = tuple[str, str]
"""(namespace, name)"""


# -- what is seen ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    namespace: str
    name: str
    headless: bool = False
    exported: bool = False
    """Annotated ``service.cilium.io/global: "true"``."""
    shared: bool = True
    """Not annotated ``service.cilium.io/shared: "false"``."""

    @staticmethod
    def parse(obj: Obj) -> Service | None:
        """A Service as the mesh sees it; ``None`` for one that no address stands for (ExternalName)."""
        meta, spec = obj["metadata"], obj.get("spec") or {}
        if spec.get("type") == "ExternalName":
            return None
        annotations = meta.get("annotations") or {}
        return Service(meta["namespace"], meta["name"], headless=spec.get("clusterIP") == "None",
                       exported=annotations.get(GLOBAL, "").lower() == "true",
                       shared=annotations.get(SHARED, "").lower() != "false")


@dataclass(frozen=True)
class Slice:
    """One EndpointSlice: its Service and the addresses of its ready endpoints."""

    service: str
    ready: tuple[str, ...]

    @staticmethod
    def parse(obj: Obj) -> Slice | None:
        service = (obj["metadata"].get("labels") or {}).get(SERVICE_NAME)
        if not service or obj.get("addressType") not in ("IPv4", "IPv6"):
            return None
        ready = tuple(address for endpoint in obj.get("endpoints") or []
                      if (endpoint.get("conditions") or {}).get("ready") is not False
                      for address in endpoint.get("addresses") or [])
        return Slice(service, ready)


@dataclass
class View:
    """What the mesh knows of one cluster."""

    services: dict[Key, Service] = field(default_factory=dict)
    slices: dict[Key, Slice] = field(default_factory=dict)
    """(namespace, slice name) -> slice."""

    def backends(self) -> dict[Key, set[str]]:
        """(namespace, Service) -> the addresses of its ready endpoints."""
        out: dict[Key, set[str]] = {}
        for (namespace, _), piece in self.slices.items():
            out.setdefault((namespace, piece.service), set()).update(piece.ready)
        return out


# -- what is decided (pure) ------------------------------------------------------------------------------


def table(local: str, views: Mapping[str, View], previous: Mapping[Key, tuple[str, ...]] | None = None
          ) -> dict[Key, tuple[str, ...]]:
    """(namespace, Service) -> the addresses its names resolve to in cluster ``local`` (Services without a
    ready backend left out); ``previous`` is the last table, so a cluster IP's backend stays while it is ready."""
    previous = previous or {}
    own = views.get(local) or View()
    backends = {cluster: view.backends() for cluster, view in views.items()}
    out: dict[Key, tuple[str, ...]] = {}
    for key, service in own.services.items():
        addresses = set(backends.get(local, {}).get(key, ()))
        if service.exported and not service.headless:
            for cluster, view in views.items():
                remote = view.services.get(key)
                if cluster != local and remote is not None and remote.exported and remote.shared:
                    addresses |= backends[cluster].get(key, set())
        if not addresses:
            continue
        if service.headless:
            out[key] = tuple(sorted(addresses))
            continue
        before = previous.get(key, ())
        out[key] = before if len(before) == 1 and before[0] in addresses else (min(addresses, key=_order),)
    return out


def _order(address: str) -> tuple[int, ...] | tuple[str]:
    try:
        return tuple(int(part) for part in address.split("."))
    except ValueError:  # IPv6
        return (address,)


def names(namespace: str, service: str, own: bool) -> list[str]:
    """The names a Service answers to from a pod of namespace ``own`` or not."""
    full = [f"{service}.{namespace}", f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.{DOMAIN}"]
    return [service, *full] if own else full


def render(header: str, cluster: str, namespace: str, resolved: Mapping[Key, tuple[str, ...]]) -> str:
    """The /etc/hosts of cluster ``cluster``'s pods in ``namespace``."""
    lines = [header.rstrip("\n"), f"# kbmc dev mesh: the Services of {cluster}, seen from namespace {namespace}"]
    for (ns, service), addresses in sorted(resolved.items(), key=lambda item: (item[0][0] != namespace, item[0])):
        lines += [f"{address}\t{' '.join(names(ns, service, ns == namespace))}" for address in addresses]
    return "\n".join(lines) + "\n"


# -- files -----------------------------------------------------------------------------------------------


def host_header() -> str:
    """What a pod's /etc/hosts starts with: this machine's (the pods share its network and host name)."""
    try:
        return HOST_HOSTS.read_text()
    except OSError:
        return "127.0.0.1\tlocalhost\n"


def hosts_file(directory: Path, namespace: str) -> Path:
    """The /etc/hosts of a namespace's pods, created (with the machine's lines only) if the mesh agent has not
    written it yet; the node agent binds it into each pod it runs as processes."""
    path = directory / f"{namespace}.hosts"
    directory.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return path
    try:
        os.write(fd, host_header().encode())
    finally:
        os.close(fd)
    return path


def write_in_place(path: Path, text: str) -> None:
    """Rewrite ``path`` through its own inode (a bind mount of it stays valid): one write from the start,
    padded with blank lines to the current length instead of truncating, so a reader never sees it empty or
    with the end of an older table."""
    data = text.encode()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        os.pwrite(fd, data + b"\n" * max(0, size - len(data)), 0)
    finally:
        os.close(fd)


# -- the agent -------------------------------------------------------------------------------------------


def endpoint_slices(api: Any) -> Callable[..., Any]:
    """A list function of every EndpointSlice (``Informer``'s shape), in the version the API server prefers
    (discovery.k8s.io/v1beta1 on 1.20, v1 from 1.21), asked again after a failure."""
    version: list[str] = []

    def url_path(timeout: Any) -> str:
        if not version:
            group = rest.request(api, "GET", "/apis/discovery.k8s.io", timeout=timeout)
            version.append(group["preferredVersion"]["groupVersion"])
        return f"/apis/{version[0]}/endpointslices"

    return rest.lister_at(api, url_path)


class Mesh:
    """Keeps ``directory``'s hosts files current for cluster ``local`` from every cluster's Services and
    EndpointSlices."""

    def __init__(self, local: str, apis: Mapping[str, Any], directory: Path) -> None:
        self.local, self.directory = local, directory
        self.header = host_header()
        self.views = {name: View() for name in apis}
        self.lock = threading.Lock()
        self.changed = threading.Event()
        self.resolved: dict[Key, tuple[str, ...]] = {}
        self.written: dict[str, str] = {}
        """namespace -> the text last written."""
        self.informers = []
        for name, api in apis.items():
            self.informers += [
                Informer(f"{name}/services", rest.lister(api, "Service"), self._event(name, "services"),
                         on_synced=self._synced(name, "services")),
                Informer(f"{name}/endpointslices", endpoint_slices(api), self._event(name, "slices"),
                         on_synced=self._synced(name, "slices")),
            ]

    def _event(self, cluster: str, kind: str) -> Callable[[str, Obj], None]:
        def handle(event: str, obj: Obj) -> None:
            if event == "SYNC":
                return  # the whole list comes in on_synced, which replaces what was known
            meta = obj["metadata"]
            key = (meta["namespace"], meta["name"])
            parsed = None if event == "DELETED" else (Service.parse(obj) if kind == "services" else Slice.parse(obj))
            with self.lock:
                store: dict[Key, Any] = getattr(self.views[cluster], kind)
                if parsed is None:
                    store.pop(key, None)
                else:
                    store[key] = parsed
            self.changed.set()
        return handle

    def _synced(self, cluster: str, kind: str) -> Callable[[list[Obj]], None]:
        def synced(items: list[Obj]) -> None:
            parse: Callable[[Obj], Any] = Service.parse if kind == "services" else Slice.parse
            fresh = {(i["metadata"]["namespace"], i["metadata"]["name"]): p for i in items
                     if (p := parse(i)) is not None}
            with self.lock:
                setattr(self.views[cluster], kind, fresh)
            log.info("cluster=%s %s listed: %d", cluster, kind, len(fresh))
            self.changed.set()
        return synced

    def files(self) -> set[str]:
        """The namespaces whose pods use a hosts file (the node agent made one)."""
        return {p.name.removesuffix(".hosts") for p in self.directory.glob("*.hosts")}

    def write(self, namespaces: set[str]) -> None:
        """Render the hosts files of ``namespaces`` and rewrite those that changed."""
        with self.lock:
            self.resolved = table(self.local, self.views, self.resolved)
            resolved = dict(self.resolved)
        for namespace in sorted(namespaces):
            text = render(self.header, self.local, namespace, resolved)
            if self.written.get(namespace) != text:
                write_in_place(self.directory / f"{namespace}.hosts", text)
                self.written[namespace] = text
                log.info("namespace=%s hosts rewritten: %d of the cluster's Services resolve, %d of its own",
                         namespace, len(resolved), sum(1 for ns, _ in resolved if ns == namespace))

    def run(self, stop: threading.Event) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for informer in self.informers:
            informer.start()
        own = [i for i in self.informers if i.name.startswith(f"{self.local}/")]
        ready = False
        while not stop.is_set():
            changed = self.changed.wait(0.5)
            if not all(i.synced.is_set() for i in own):  # no table from half a list
                stop.wait(COALESCE)
                continue
            files = self.files()
            if changed:
                stop.wait(COALESCE)
                self.changed.clear()
                self.write(files)
            elif files - set(self.written):  # a pod of a new namespace: its file has the machine's lines only
                self.write(files - set(self.written))
            else:
                continue
            if not ready:
                (self.directory / "ready").write_text(f"{os.getpid()}\n")
                ready = True
        for informer in self.informers:
            informer.stop()


def contexts(kubeconfig: Path) -> list[str]:
    """Every context of the kubeconfig: the clusters of the mesh."""
    loaded = yaml.safe_load(kubeconfig.read_text()) or {}
    return [c["name"] for c in loaded.get("contexts") or []]


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="kbmc-mesh-agent", description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True, type=Path, help="one context per cluster of the mesh")
    parser.add_argument("--cluster", required=True, help="the context of this agent's own cluster")
    parser.add_argument("--hosts-dir", required=True, type=Path, help="where the namespaces' hosts files go")
    args = parser.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    apis = {name: new_client(args.kubeconfig, name, agent=f"kbmc-mesh-agent/{__version__} ({args.cluster})",
                             timeouts=Timeouts(connect=2.0, read=10.0)) for name in contexts(args.kubeconfig)}
    mesh = Mesh(args.cluster, apis, args.hosts_dir)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    mesh.run(stop)


if __name__ == "__main__":
    main()
