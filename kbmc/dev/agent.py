"""The node agent of one bed cluster: plays the parts no API server plays by itself, over the API only,
in the spirit of kwok (node, kubelet, scheduler) and MetalLB / local-path (addresses and volumes).

- one Node ``<cluster>-node`` with InternalIP ``127.<i>.0.1``, kept Ready;
- binds unscheduled Pods to that node, reports them Running and Ready with a pod IP once every PVC they mount
  is Bound (a kubelet mounts volumes before it starts containers), and finishes the deletion of Pods being
  deleted on it (what the kubelet does after the grace period);
- runs the pods whose images it knows as local processes (``kbmc.dev.sandbox``: etcd, kbmc's own image), each
  at a loopback address of its own, with its volumes, environment, probes and restarts, and with its
  namespace's /etc/hosts from the mesh agent (``kbmc.dev.mesh``: the cluster's Services by name, global ones
  with the other clusters' backends), as a pod resolves Service names through the cluster DNS;
- provisions a PersistentVolume (a local directory) for every Pending PVC and binds both;
- gives Services of type LoadBalancer an ingress address from the cluster's loopback pool.

Event driven (list + watch); survives its API server stopping and coming back.
Run as ``python -m kbmc.dev.agent --kubeconfig F --cluster NAME --index I --volumes DIR``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import signal
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kbmc import __version__
from kbmc.core.clock import stamp
from kbmc.dev import kubelet, mesh, network
from kbmc.dev.sandbox import Container, ImageBinaries, Probe, Sandbox, resolve_env, secret_files, write_config_map
from kbmc.errors import ApiError, ConflictError, NotFoundError
from kbmc.kube.client import new_client
from kbmc.kube.informer import Informer, Obj
from kbmc.settings import Timeouts

log = logging.getLogger("kbmc.dev.agent")
MERGE = "application/merge-patch+json"


def _call(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``method`` of the typed client, its error raised as kbmc's typed ``ApiError`` (``NotFoundError``,
    ``ConflictError``, ...): the agent decides by type, as the rest of kbmc does."""
    try:
        return method(*args, **kwargs)
    except ApiException as exc:
        body = exc.body.encode() if isinstance(exc.body, str) else exc.body
        where = "/".join(reversed([a for a in args if isinstance(a, str)]))  # the client takes name, namespace
        raise ApiError.from_body(int(exc.status or 0), body, getattr(method, "__name__", "call"), where) from exc


def _key(obj: Obj) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


class Pool:
    """Addresses handed out from an ordered pool, remembered by owner key."""

    def __init__(self, addresses: Iterator[str]) -> None:
        self._addresses = addresses
        self._free: list[str] = []
        self.owner: dict[str, str] = {}
        self._used: set[str] = set()

    def claim(self, owner: str, address: str) -> None:
        self.owner[owner] = address
        self._used.add(address)

    def take(self, owner: str) -> str:
        if owner in self.owner:
            return self.owner[owner]
        while self._free:
            address = self._free.pop(0)
            if address not in self._used:
                self.claim(owner, address)
                return address
        for address in self._addresses:
            if address not in self._used:
                self.claim(owner, address)
                return address
        raise RuntimeError("address pool exhausted")

    def release(self, owner: str) -> None:
        address = self.owner.pop(owner, None)
        if address is not None:
            self._used.discard(address)
            self._free.append(address)


class Agent:
    def __init__(self, api: client.ApiClient, cluster: str, index: int, volumes: Path,
                 images: list[ImageBinaries] | None = None, kubelet_port: int = 0, pki: Path | None = None,
                 start_delay: float = 0.0, hosts_dir: Path | None = None) -> None:
        self.kubelet_port, self.pki = kubelet_port, pki
        self.hosts_dir = hosts_dir
        """Where the mesh agent writes each namespace's /etc/hosts (none: the pods get the host's)."""
        self.sandbox = Sandbox(images or [], volumes.parent / "pods", self._container_changed, start_delay)
        self.pods: dict[str, Obj] = {}
        self.lock = threading.Lock()
        self.bound: set[tuple[str, str]] = set()
        """PVCs (namespace, name) seen Bound."""
        self.waiting: dict[tuple[str, str], set[str]] = {}
        """PVC -> uids of the pods that wait for it to be Bound."""
        self.core = client.CoreV1Api(api)
        self.storage = client.StorageV1Api(api)
        self.net = network.for_index(index)
        self.node = network.node_name(cluster)
        self.volumes = volumes
        self.pod_ips = Pool(self.net.pod_ips())
        self.process_ips = Pool(self.net.process_pod_ips())
        """Pods run as processes live at a loopback address of their own (they share this machine's network)."""
        self.lb_ips = Pool(self.net.lb_pool())
        server = urllib.parse.urlsplit(api.configuration.host)
        self.api_server = (server.hostname or "127.0.0.1", server.port or 443)
        self.informers = [
            Informer("nodes", self.core.list_node, self.on_node,
                     on_synced=lambda items: None if items else self._ensure_node(),
                     field_selector=f"metadata.name={self.node}"),
            Informer("pods", self.core.list_pod_for_all_namespaces, self.on_pod),
            Informer("pvcs", self.core.list_persistent_volume_claim_for_all_namespaces, self.on_pvc),
            Informer("services", self.core.list_service_for_all_namespaces, self.on_service),
        ]

    def run(self, stop: threading.Event) -> None:
        if self.kubelet_port and self.pki:
            kubelet.serve(self.net.node_ip, self.kubelet_port, self.pki, self.container_log, stop)
        for informer in self.informers:
            informer.start()
        stop.wait()
        for informer in self.informers:
            informer.stop()
        self.sandbox.stop_all()

    # -- node ------------------------------------------------------------------------------------------

    def on_node(self, event: str, node: Obj) -> None:
        if event == "DELETED":
            self._ensure_node()
            return
        conditions = node.get("status", {}).get("conditions") or []
        if not any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            self._report_node()

    def _ensure_node(self) -> None:
        body = {"metadata": {"name": self.node, "labels": {"kubernetes.io/hostname": self.node,
                                                            "kubernetes.io/os": "linux"}}}
        with contextlib.suppress(ConflictError):
            _call(self.core.create_node, body)
        self._report_node()

    def _report_node(self) -> None:
        now = stamp()
        capacity = {"cpu": "64", "memory": "256Gi", "pods": "1000", "ephemeral-storage": "1Ti"}
        status = {
            "addresses": [{"type": "InternalIP", "address": self.net.node_ip},
                          {"type": "Hostname", "address": self.node}],
            "capacity": capacity,
            "allocatable": capacity,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.kubelet_port}},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "kbmc node agent is ready", "lastHeartbeatTime": now,
                            "lastTransitionTime": now}],
            "nodeInfo": {"kubeletVersion": f"v1.20.2-kbmc-agent-{__version__}", "operatingSystem": "linux",
                         "architecture": "amd64", "containerRuntimeVersion": "kbmc://none",
                         "kernelVersion": "", "osImage": "kbmc dev node", "kubeProxyVersion": "",
                         "machineID": "", "systemUUID": "", "bootID": ""},
        }
        self.core.patch_node_status(self.node, {"status": status}, _content_type=MERGE)
        log.info("node=%s ready ip=%s", self.node, self.net.node_ip)

    def container_log(self, namespace: str, name: str, container: str) -> Path | str:
        """The log file of a container this agent runs, or why there is none (for the kubelet API)."""
        with self.lock:
            uid = next((u for u, p in self.pods.items() if (p["metadata"]["namespace"], p["metadata"]["name"]) == (
                namespace, name)), None)
        if uid is None:
            return f"pod {namespace}/{name} is not on node {self.node}"
        running = self.sandbox.running(uid)
        if not running:
            return (f"pod {namespace}/{name} is not run as processes by the node agent of {self.node} (its images "
                    "have no binaries in the bed): it has no log")
        found = next((c for c in running if c.name == container), None)
        if found is None:
            return (f"pod {namespace}/{name} has no container {container!r} (it has: "
                    f"{', '.join(c.name for c in running)})")
        return found.log if found.log.exists() else f"container {container} of pod {namespace}/{name} has not started"

    # -- pods ------------------------------------------------------------------------------------------

    def on_pod(self, event: str, pod: Obj) -> None:
        meta, spec, status = pod["metadata"], pod["spec"], pod.get("status", {})
        key = meta["uid"]
        if event == "DELETED":
            self.pod_ips.release(key)
            self.process_ips.release(key)
            self.pods.pop(key, None)
            self.sandbox.stop(key)
            return
        self.pods[key] = pod
        if status.get("podIP") and spec.get("nodeName") == self.node:
            pool = self.process_ips if status["podIP"].startswith("127.") else self.pod_ips
            pool.claim(key, status["podIP"])
        if meta.get("deletionTimestamp"):
            if spec.get("nodeName") == self.node:
                self.sandbox.stop(key)
                self._finish_deletion(pod)
            return
        if not spec.get("nodeName"):
            if spec.get("schedulerName", "default-scheduler") == "default-scheduler":
                self._bind(pod)
            return
        if spec["nodeName"] != self.node or not self._claims_bound(pod):
            return
        if self.sandbox.runs(pod):
            self._run_processes(pod)
        elif not _is_ready(status):
            self._report_running(pod)

    def _claims_bound(self, pod: Obj) -> bool:
        """Whether every PVC ``pod`` mounts is Bound; if not, the pod is looked at again once they are."""
        namespace = pod["metadata"]["namespace"]
        claims = [(namespace, v["persistentVolumeClaim"]["claimName"]) for v in pod["spec"].get("volumes") or []
                  if "persistentVolumeClaim" in v]
        with self.lock:
            unbound = [c for c in claims if c not in self.bound]
            for claim in unbound:
                self.waiting.setdefault(claim, set()).add(pod["metadata"]["uid"])
        return not unbound

    # -- pods as local processes -----------------------------------------------------------------------

    def _run_processes(self, pod: Obj) -> None:
        key = pod["metadata"]["uid"]
        if self.sandbox.running(key) is None:
            try:
                containers = self._containers(pod)
            except _NotYet as why:
                log.info("pod=%s waits: %s", _key(pod), why)
                threading.Timer(1.0, lambda: self.on_pod("RETRY", self.pods.get(key, pod))).start()
                return
            self.sandbox.start(key, containers)
            log.info("pod=%s started %d process(es)", _key(pod), len(containers))
        self._report_processes(pod)

    def _containers(self, pod: Obj) -> list[Container]:
        meta, spec = pod["metadata"], pod["spec"]
        base = self.sandbox.work / f"{meta['namespace']}_{meta['name']}_{meta['uid'][:8]}"
        volumes: dict[str, Path] = {}
        for volume in spec.get("volumes") or []:
            directory = base / "volumes" / volume["name"]
            if "configMap" in volume:
                source = volume["configMap"]
                write_config_map(directory, self._config_map(meta["namespace"], source["name"]),
                                 source.get("defaultMode"), source.get("items"))
            elif "secret" in volume:
                source = volume["secret"]
                write_config_map(directory, self._secret(meta["namespace"], source["secretName"]),
                                 source.get("defaultMode"), source.get("items"))
            elif "persistentVolumeClaim" in volume:
                directory = self._claim_path(meta["namespace"], volume["persistentVolumeClaim"]["claimName"])
            elif "emptyDir" in volume:
                directory.mkdir(parents=True, exist_ok=True)
                directory.chmod(0o777)  # as the kubelet makes it: writable by the container's user
            else:
                continue
            volumes[volume["name"]] = directory
        address = self._reachable_address(pod)
        own = self.process_ips.take(meta["uid"])
        files = self.sandbox.etc_files(mesh.hosts_file(self.hosts_dir, meta["namespace"]) if self.hosts_dir else None)
        config_maps = {ref["configMapRef"]["name"]: self._config_map(meta["namespace"], ref["configMapRef"]["name"])
                       for c in spec["containers"] for ref in c.get("envFrom") or [] if "configMapRef" in ref}
        # as a kubelet, a container waits for a Secret its env needs (an optional one may be missing)
        secrets = {}
        for ref in (v["valueFrom"]["secretKeyRef"] for c in spec["containers"] for v in c.get("env") or []
                    if "secretKeyRef" in (v.get("valueFrom") or {})):
            try:
                secrets[ref["name"]] = self._secret(meta["namespace"], ref["name"])
            except _NotYet:
                if not ref.get("optional"):
                    raise
        out = []
        for item in spec["containers"]:
            image = self.sandbox.image_for(item.get("image", ""))
            assert image is not None  # Sandbox.runs() said so
            ports = {p["name"]: p["containerPort"] for p in item.get("ports") or [] if p.get("name")}
            out.append(Container(
                key=meta["uid"], name=item["name"],
                argv=[*(item.get("command") or image.entrypoint), *(item.get("args") or [])],
                env=resolve_env(item, pod, config_maps, address, self.net.node_ip, self.api_server, secrets),
                root=base / "root",
                mounts=[(volumes[m["name"]], m["mountPath"]) for m in item.get("volumeMounts") or []
                        if m["name"] in volumes],
                binaries=image.binaries, trees=image.trees, log=base / f"{item['name']}.log",
                readiness=Probe.parse(item.get("readinessProbe"), ports, own),
                liveness=Probe.parse(item.get("livenessProbe"), ports, own),
                user=_user(spec.get("securityContext") or {}, item.get("securityContext") or {}), files=files,
                grace=float(spec.get("terminationGracePeriodSeconds", 30))))
        return out

    def _config_map(self, namespace: str, name: str) -> dict[str, str]:
        try:
            return dict(self.core.read_namespaced_config_map(name, namespace).data or {})
        except ApiException as exc:
            raise _NotYet(f"ConfigMap {namespace}/{name}: {exc.status}") from exc

    def _secret(self, namespace: str, name: str) -> dict[str, str | bytes]:
        try:
            return secret_files(self.core.read_namespaced_secret(name, namespace).data)
        except ApiException as exc:
            raise _NotYet(f"Secret {namespace}/{name}: {exc.status}") from exc

    def _claim_path(self, namespace: str, claim: str) -> Path:
        pvc = self.core.read_namespaced_persistent_volume_claim(claim, namespace)
        if pvc.status.phase != "Bound" or not pvc.spec.volume_name:
            raise _NotYet(f"PVC {namespace}/{claim} is not bound yet")
        return Path(self.core.read_persistent_volume(pvc.spec.volume_name).spec.host_path.path)

    def _reachable_address(self, pod: Obj) -> str:
        """The LoadBalancer ingress of a Service selecting this pod (what other data planes reach: a database
        binds and advertises it), else the pod's own address."""
        labels = pod["metadata"].get("labels") or {}
        for svc in self.core.list_namespaced_service(pod["metadata"]["namespace"]).items:
            selector = svc.spec.selector or {}
            ingress = (svc.status.load_balancer.ingress or []) if svc.status.load_balancer else []
            if svc.spec.type == "LoadBalancer" and selector and selector.items() <= labels.items() and ingress:
                return str(ingress[0].ip)
        return self.process_ips.take(pod["metadata"]["uid"])

    def _container_changed(self, key: str) -> None:
        pod = self.pods.get(key)
        if pod is not None:
            self._report_processes(pod)

    def _report_processes(self, pod: Obj) -> None:
        containers = self.sandbox.running(pod["metadata"]["uid"]) or []
        meta = pod["metadata"]
        ready = bool(containers) and all(c.ready for c in containers)
        statuses = [_container_status(c, pod) for c in containers]
        current = pod.get("status") or {}
        if current.get("phase") == "Running" and _is_ready(current) == ready and [
                (s.get("restartCount"), s.get("state")) for s in current.get("containerStatuses") or []] == [
                (s["restartCount"], s["state"]) for s in statuses]:
            return
        now = stamp()
        ip = self.process_ips.take(meta["uid"])
        conditions = [{"type": t, "status": "True", "lastTransitionTime": now} for t in ("PodScheduled", "Initialized")]
        conditions += [{"type": t, "status": "True" if ready else "False", "lastTransitionTime": now}
                       for t in ("ContainersReady", "Ready")]
        status = {"phase": "Running", "hostIP": self.net.node_ip, "podIP": ip, "podIPs": [{"ip": ip}],
                  "startTime": current.get("startTime") or now, "conditions": conditions,
                  "containerStatuses": statuses}
        with contextlib.suppress(NotFoundError):
            _call(self.core.patch_namespaced_pod_status, meta["name"], meta["namespace"], {"status": status},
                  _content_type=MERGE, _preload_content=False)
        log.info("pod=%s processes ready=%s restarts=%s", _key(pod), ready, [c.restarts for c in containers])

    def _bind(self, pod: Obj) -> None:
        meta = pod["metadata"]
        body = client.V1Binding(metadata=client.V1ObjectMeta(name=meta["name"], uid=meta["uid"]),
                                target=client.V1ObjectReference(kind="Node", name=self.node))
        with contextlib.suppress(NotFoundError, ConflictError):  # gone, or bound already
            _call(self.core.create_namespaced_pod_binding, meta["name"], meta["namespace"], body,
                  _preload_content=False)
        log.info("pod=%s bound node=%s", _key(pod), self.node)

    def _report_running(self, pod: Obj) -> None:
        meta, spec = pod["metadata"], pod["spec"]
        now = stamp()
        ip = self.pod_ips.take(meta["uid"])
        started = pod.get("status", {}).get("startTime") or now
        conditions = [{"type": t, "status": "True", "lastTransitionTime": now}
                      for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")]
        containers = [
            {"name": c["name"], "image": c.get("image", ""), "imageID": f"kbmc://{c.get('image', '')}",
             "containerID": f"kbmc://{meta['uid']}/{c['name']}", "ready": True, "started": True,
             "restartCount": 0, "state": {"running": {"startedAt": started}}}
            for c in spec.get("containers", [])
        ]
        status = {"phase": "Running", "hostIP": self.net.node_ip, "podIP": ip, "podIPs": [{"ip": ip}],
                  "startTime": started, "conditions": conditions, "containerStatuses": containers}
        try:
            _call(self.core.patch_namespaced_pod_status, meta["name"], meta["namespace"], {"status": status},
                  _content_type=MERGE)
        except NotFoundError:
            return
        log.info("pod=%s running ip=%s", _key(pod), ip)

    def _finish_deletion(self, pod: Obj) -> None:
        meta = pod["metadata"]
        body = client.V1DeleteOptions(grace_period_seconds=0,
                                      preconditions=client.V1Preconditions(uid=meta["uid"]))
        with contextlib.suppress(NotFoundError, ConflictError):  # gone, or another pod of that name (uid precondition)
            _call(self.core.delete_namespaced_pod, meta["name"], meta["namespace"], body=body,
                  _preload_content=False)
        log.info("pod=%s deleted", _key(pod))

    # -- volumes ---------------------------------------------------------------------------------------

    def on_pvc(self, event: str, pvc: Obj) -> None:
        meta, spec = pvc["metadata"], pvc["spec"]
        pv_name = f"pvc-{meta['uid']}"
        claim = (meta["namespace"], meta["name"])
        if event == "DELETED":
            with self.lock:
                self.bound.discard(claim)
            self._delete_volume(pv_name)
            return
        if pvc.get("status", {}).get("phase") == "Bound":
            with self.lock:
                self.bound.add(claim)
                woken = self.waiting.pop(claim, set())
            for uid in woken:
                if (pod := self.pods.get(uid)) is not None:
                    self.on_pod("RETRY", pod)
            return
        if meta.get("deletionTimestamp"):
            return
        path = self.volumes / pv_name
        path.mkdir(parents=True, exist_ok=True)
        storage = spec.get("resources", {}).get("requests", {}).get("storage", "1Gi")
        access = spec.get("accessModes") or ["ReadWriteOnce"]
        pv = {
            "metadata": {"name": pv_name, "labels": {"kbmc.io/dev-node": self.node}},
            "spec": {
                "capacity": {"storage": storage}, "accessModes": access,
                "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": spec.get("storageClassName") or "",
                "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
                "claimRef": {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": meta["namespace"],
                             "name": meta["name"], "uid": meta["uid"]},
            },
        }
        with contextlib.suppress(ConflictError):
            _call(self.core.create_persistent_volume, pv, _preload_content=False)
        self.core.patch_persistent_volume_status(pv_name, {"status": {"phase": "Bound"}}, _content_type=MERGE,
                                                 _preload_content=False)
        bound: dict[str, Any] = {"metadata": {"annotations": {"pv.kubernetes.io/bind-completed": "yes",
                                              "pv.kubernetes.io/bound-by-controller": "yes"}}}
        if not spec.get("volumeName"):
            bound["spec"] = {"volumeName": pv_name}
        try:
            _call(self.core.patch_namespaced_persistent_volume_claim, meta["name"], meta["namespace"], bound,
                  _content_type=MERGE, _preload_content=False)
            status = {"phase": "Bound", "accessModes": access, "capacity": {"storage": storage}}
            _call(self.core.patch_namespaced_persistent_volume_claim_status, meta["name"], meta["namespace"],
                  {"status": status}, _content_type=MERGE, _preload_content=False)
        except NotFoundError:
            return
        log.info("pvc=%s bound pv=%s", _key(pvc), pv_name)

    def _delete_volume(self, pv_name: str) -> None:
        """Reclaim policy Delete: release the volume (so pv-protection lets go) and remove it."""
        try:
            _call(self.core.patch_persistent_volume_status, pv_name, {"status": {"phase": "Released"}},
                  _content_type=MERGE, _preload_content=False)
            _call(self.core.delete_persistent_volume, pv_name, _preload_content=False)
        except NotFoundError:
            pass
        shutil.rmtree(self.volumes / pv_name, ignore_errors=True)
        log.info("pv=%s deleted", pv_name)

    # -- load balancers --------------------------------------------------------------------------------

    def on_service(self, event: str, svc: Obj) -> None:
        key = _key(svc)
        ingress = svc.get("status", {}).get("loadBalancer", {}).get("ingress") or []
        is_lb = svc["spec"].get("type") == "LoadBalancer"
        if event == "DELETED":
            self.lb_ips.release(key)
            return
        if ingress and ingress[0].get("ip"):
            if is_lb:
                self.lb_ips.claim(key, ingress[0]["ip"])
                return
            self.lb_ips.release(key)
            self._set_ingress(svc, [])
            return
        if is_lb:
            self._set_ingress(svc, [{"ip": self.lb_ips.take(key)}])

    def _set_ingress(self, svc: Obj, ingress: list[dict[str, str]]) -> None:
        meta = svc["metadata"]
        body: dict[str, Any] = {"status": {"loadBalancer": {"ingress": ingress or None}}}
        try:
            _call(self.core.patch_namespaced_service_status, meta["name"], meta["namespace"], body,
                  _content_type=MERGE, _preload_content=False)
        except NotFoundError:
            return
        log.info("service=%s ingress=%s", _key(svc), ",".join(i["ip"] for i in ingress) or "-")


class _NotYet(Exception):  # noqa: N818 - a state, not a failure
    """A pod's inputs (a ConfigMap, a bound PVC) are not there yet."""


def _container_status(container: Container, pod: Obj) -> Obj:
    """A container's status as a kubelet reports it: running, or waiting to be started again after a crash
    (with how the last one ended)."""
    image = next(i.get("image", "") for i in pod["spec"]["containers"] if i["name"] == container.name)
    messages = {"CrashLoopBackOff": "back-off restarting failed container", "ContainerCreating": "pulling the image"}
    state: Obj = {"waiting": {"reason": container.waiting, "message": messages.get(container.waiting, "")}} \
        if container.waiting else {"running": {"startedAt": container.started_at or stamp()}}
    status = {"name": container.name, "image": image, "imageID": "",
              "containerID": f"kbmc://{pod['metadata']['uid']}/{container.name}", "ready": container.ready,
              "started": not container.waiting, "restartCount": container.restarts, "state": state}
    if container.last_exit is not None:
        code, finished = container.last_exit
        status["lastState"] = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                              "finishedAt": finished}}
    return status


def _user(pod_context: Obj, container_context: Obj) -> str:
    """``UID:GID`` from the pod's and the container's securityContext (the container's wins), or empty."""
    uid = container_context.get("runAsUser", pod_context.get("runAsUser"))
    gid = container_context.get("runAsGroup", pod_context.get("runAsGroup", uid))
    return f"{uid}:{gid}" if uid is not None else ""


def _is_ready(status: Obj) -> bool:
    return status.get("phase") == "Running" and bool(status.get("podIP")) and any(
        c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="kbmc-node-agent", description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--index", required=True, type=int)
    parser.add_argument("--volumes", required=True, type=Path)
    parser.add_argument("--image-binary", action="append", default=[], type=ImageBinaries.parse,
                        help="PATTERN=BIN[:BIN...]: run pods whose image matches PATTERN as local processes")
    parser.add_argument("--kubelet-port", type=int, default=0, help="serve the kubelet API (container logs) here")
    parser.add_argument("--pki", type=Path, help="the bed's pki directory (kubelet.crt / .key, ca.crt)")
    parser.add_argument("--start-delay", type=float, default=0.0,
                        help="seconds a pod's containers wait before they first start (as an image pull)")
    parser.add_argument("--hosts-dir", type=Path, help="the mesh agent's hosts files (kbmc.dev.mesh), one per "
                        "namespace, bound over /etc/hosts in the pods run as processes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    api = new_client(args.kubeconfig, agent=f"kbmc-node-agent/{__version__} ({args.cluster})",
                     timeouts=Timeouts(connect=2.0, read=10.0))
    agent = Agent(api, args.cluster, args.index, args.volumes, args.image_binary, args.kubelet_port, args.pki,
                  args.start_delay, args.hosts_dir)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    agent.run(stop)


if __name__ == "__main__":
    main()
