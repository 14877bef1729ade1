"""Run a pod's container as a local process, as a kubelet would with a container runtime, for images the
bed knows local programs for (``etcd`` images -> the toolchain's etcd and etcdctl; kbmc's own image -> the
project's installed environment, its entrypoint ``kbmc``; Redis images (redis, redis/redis-stack-server,
bitnami/redis) -> Debian's redis-server, redis-sentinel and redis-cli from the toolchain's Redis cache).

The process gets a private mount namespace and a small root of its own (``unshare -m`` + bind mounts +
``chroot``): the host's /usr, /lib, /bin, /etc and /dev, the mapped binaries in /kbmc/bin, the image's trees
(read-only, at their own paths), and every volumeMount at its path (ConfigMaps and Secrets written as files,
PVCs as the PersistentVolume's directory, which outlives the pod), and single files bound over the host's
(``Container.files``): the pod's /etc/hosts, which the mesh agent keeps current (``kbmc.dev.mesh``), and an
/etc/nsswitch.conf that looks host names up in files, then DNS, as a container image's does (the Go resolver
and glibc both read it). It runs as the pod's ``runAsUser`` /
``runAsGroup``. Its environment is resolved as a kubelet would (env, envFrom, fieldRefs, secretKeyRefs, the API server's
``KUBERNETES_SERVICE_HOST`` / ``_PORT``). Readiness and liveness probes (exec, httpGet, tcpSocket) run as a
kubelet runs them, with their periods and thresholds; a container whose liveness fails is restarted. Needs root
(or unprivileged user namespaces: ``unshare -r``, then without ``runAsUser``).
"""

from __future__ import annotations

import base64
import fnmatch
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Obj = dict[str, Any]
HOST_DIRS = ("usr", "bin", "lib", "lib64", "sbin", "etc", "dev")
TOOLS = {name: shutil.which(name) or f"/usr/bin/{name}" for name in ("mount", "chroot", "unshare", "nsenter",
                                                                     "mkdir")}
"""Absolute paths: the wrapper runs with the container's PATH."""
HOST_NSSWITCH = Path("/etc/nsswitch.conf")
BIN = "/kbmc/bin"
OPT_OUT = "dev.kbmc.io/process"
"""Where the mapped binaries appear inside the pod's root (first on PATH)."""


@dataclass(frozen=True)
class ImageBinaries:
    """Images matching ``pattern`` (fnmatch) run with ``binaries`` placed in /kbmc/bin, ``trees`` (directories)
    mounted read-only at their own paths, and ``entrypoint`` as the image's ENTRYPOINT (used when a container
    has no ``command``, as a container runtime does)."""

    pattern: str
    binaries: tuple[Path, ...]
    entrypoint: tuple[str, ...] = ()
    trees: tuple[Path, ...] = ()

    @staticmethod
    def parse(text: str) -> ImageBinaries:
        """``PATTERN=BIN[:BIN...]`` (``*/etcd:*=/cache/bin/etcd:/cache/bin/etcdctl``), or a JSON object with
        ``pattern``, ``binaries`` and optionally ``entrypoint`` and ``trees``."""
        if text.startswith("{"):
            try:
                spec = json.loads(text)
                return ImageBinaries(spec["pattern"], tuple(Path(b) for b in spec["binaries"]),
                                     tuple(spec.get("entrypoint") or ()),
                                     tuple(Path(t) for t in spec.get("trees") or ()))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"--image-binary {text!r}: {exc}") from None
        pattern, _, binaries = text.partition("=")
        if not pattern or not binaries:
            raise ValueError(f"--image-binary {text!r}: expected PATTERN=BINARY[:BINARY...]")
        return ImageBinaries(pattern, tuple(Path(b) for b in binaries.split(":")))

    def dump(self) -> str:
        return json.dumps({"pattern": self.pattern, "binaries": [str(b) for b in self.binaries],
                           "entrypoint": list(self.entrypoint), "trees": [str(t) for t in self.trees]})


@dataclass(frozen=True)
class Probe:
    """A container's readiness or liveness probe, as the kubelet runs it."""

    command: tuple[str, ...] = ()
    url: str = ""
    """httpGet: ``scheme://host:port/path`` (host: the pod's address unless the probe names one)."""
    tcp: tuple[str, int] | None = None
    period: float = 10.0
    timeout: float = 1.0
    initial_delay: float = 0.0
    failure_threshold: int = 3
    success_threshold: int = 1

    @staticmethod
    def parse(spec: Obj | None, ports: Mapping[str, int], address: str) -> Probe | None:
        """The probe of a container spec (``None`` when it has none); named ports resolved from ``ports``."""
        if not spec:
            return None
        timing = {"period": float(spec.get("periodSeconds", 10)), "timeout": float(spec.get("timeoutSeconds", 1)),
                  "initial_delay": float(spec.get("initialDelaySeconds", 0)),
                  "failure_threshold": int(spec.get("failureThreshold", 3)),
                  "success_threshold": int(spec.get("successThreshold", 1))}

        def port(value: Any) -> int:
            return int(ports[value]) if isinstance(value, str) and not value.isdigit() else int(value)

        if "exec" in spec:
            return Probe(command=tuple(spec["exec"].get("command") or ()), **timing)  # type: ignore[arg-type]
        if "httpGet" in spec:
            get = spec["httpGet"]
            url = (f"{get.get('scheme', 'HTTP').lower()}://{get.get('host') or address}:{port(get['port'])}"
                   f"{get.get('path', '/')}")
            return Probe(url=url, **timing)  # type: ignore[arg-type]
        if "tcpSocket" in spec:
            tcp = spec["tcpSocket"]
            return Probe(tcp=(tcp.get("host") or address, port(tcp["port"])), **timing)  # type: ignore[arg-type]
        return None


@dataclass
class Container:
    """One running (or restarting) container process of a pod."""

    key: str
    name: str
    argv: list[str]
    env: dict[str, str]
    root: Path
    mounts: list[tuple[Path, str]]
    binaries: tuple[Path, ...]
    log: Path
    readiness: Probe | None = None
    liveness: Probe | None = None
    trees: tuple[Path, ...] = ()
    user: str = ""
    """``UID:GID`` the process runs as (empty: the agent's own user)."""
    grace: float = 30.0
    """Seconds between SIGTERM and SIGKILL (terminationGracePeriodSeconds)."""
    files: tuple[tuple[Path, str], ...] = ()
    """Files bound over files of the host's directories (``/etc/hosts``), where the host has them (a mount
    point must exist, and the host's /etc is not written to)."""
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    ready: bool = False
    started_at: str = ""
    waiting: str = ""
    """Why no process runs now (``CrashLoopBackOff`` while it waits to be started again)."""
    last_exit: tuple[int, str] | None = None
    """Exit code and time of the last process that ended."""
    stopping: bool = False
    _thread: threading.Thread | None = field(default=None, repr=False)

    def script(self, argv: list[str]) -> list[str]:
        """The command that builds the private root and runs ``argv`` inside it."""
        mount, chroot = TOOLS["mount"], TOOLS["chroot"]
        lines = ["set -e", f"{mount} --make-rprivate /"]
        for name in HOST_DIRS:
            if Path(f"/{name}").exists():
                lines.append(f"{mount} --rbind /{name} {shlex.quote(str(self.root / name))}")
        for source, target in self.files:  # over the host's file, in this mount namespace only
            where = shlex.quote(str(self.root / target.lstrip("/")))
            lines.append(f"if [ -f {where} ]; then {mount} --bind {shlex.quote(str(source))} {where}; fi")
        for binary in self.binaries:
            lines.append(f"{mount} --bind {shlex.quote(str(binary))} "
                         f"{shlex.quote(str(self.root / BIN.lstrip('/') / binary.name))}")
        for source, target in self.mounts:
            lines.append(f"{mount} --bind {shlex.quote(str(source))} "
                         f"{shlex.quote(str(self.root / target.lstrip('/')))}")
        for tree in self.trees:  # last: a tree under a volume's path (/tmp/...) stays visible above it
            target = shlex.quote(str(self.root / str(tree).lstrip("/")))
            lines.append(f"{TOOLS['mkdir']} -p {target}")
            lines.append(f"{mount} --rbind {shlex.quote(str(tree))} {target}")
            lines.append(f"{mount} -o remount,bind,ro {target}")
        user = [f"--userspec={self.user}"] if self.user and os.geteuid() == 0 else []
        lines.append(f"exec {shlex.join([chroot, *user, str(self.root), *argv])}")
        unshare = [TOOLS["unshare"], "--mount"]
        if os.geteuid() != 0:
            unshare.append("--map-root-user")
        return [*unshare, "sh", "-c", "\n".join(lines)]

    def prepare(self) -> None:
        for name in (*HOST_DIRS, "tmp", BIN.lstrip("/")):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        self.root.joinpath("tmp").chmod(0o1777)
        for binary in self.binaries:
            (self.root / BIN.lstrip("/") / binary.name).touch()
        for _source, target in self.mounts:
            (self.root / target.lstrip("/")).mkdir(parents=True, exist_ok=True)


class Sandbox:
    """The agent's process runtime: start, supervise (restart with backoff), probe, stop."""

    def __init__(self, images: list[ImageBinaries], work: Path, on_change: Callable[[str], None],
                 start_delay: float = 0.0) -> None:
        self.images = images
        self.start_delay = start_delay
        """Seconds before a pod's containers first start (an image pull); restarts do not wait."""
        self.work = work
        self.nsswitch = work / "nsswitch.conf"
        """The pods' /etc/nsswitch.conf: the host's, host names looked up in files first."""
        self._on_change = on_change
        self.lock = threading.Lock()
        self.containers: dict[str, list[Container]] = {}

    def on_change(self, key: str) -> None:
        """Report a container's change; a report that fails (its API server away) is made again by the next
        change or the agent's relist, never ending the container's supervision."""
        try:
            self._on_change(key)
        except Exception as exc:
            logging.getLogger("kbmc.dev.sandbox").warning("pod %s: status not reported: %s", key, exc)

    def image_for(self, image: str) -> ImageBinaries | None:
        return next((m for m in self.images if fnmatch.fnmatch(image, m.pattern)), None)

    def runs(self, pod: Obj) -> bool:
        """Whether the bed runs this pod's containers as processes (a pod annotated
        ``dev.kbmc.io/process: "false"`` is only reported Running, as with ``--no-processes``)."""
        if (pod["metadata"].get("annotations") or {}).get(OPT_OUT) == "false":
            return False
        return bool(self.images) and all(self.image_for(c.get("image", "")) for c in pod["spec"]["containers"])

    def running(self, key: str) -> list[Container] | None:
        with self.lock:
            return self.containers.get(key)

    def etc_files(self, hosts: Path | None) -> tuple[tuple[Path, str], ...]:
        """The files a pod's containers get over the host's /etc: ``hosts`` at /etc/hosts (when given), and the
        nsswitch.conf that makes the resolver read it first."""
        files = [(hosts, "/etc/hosts")] if hosts is not None else []
        if HOST_NSSWITCH.is_file():
            if not self.nsswitch.is_file():
                self.work.mkdir(parents=True, exist_ok=True)
                staging = self.nsswitch.with_suffix(".new")
                staging.write_text(files_first(HOST_NSSWITCH.read_text()))
                staging.replace(self.nsswitch)
            files.append((self.nsswitch, "/etc/nsswitch.conf"))
        return tuple(files)

    def start(self, key: str, containers: list[Container]) -> None:
        with self.lock:
            if key in self.containers:
                return
            self.containers[key] = containers
        for container in containers:
            container.prepare()
            container._thread = threading.Thread(target=self._supervise, args=(container,), daemon=True,
                                                 name=f"pod/{key}/{container.name}")
            container._thread.start()

    def stop(self, key: str) -> None:
        with self.lock:
            containers = self.containers.pop(key, [])
        for container in containers:
            container.stopping = True
        for container in containers:
            _terminate(container)
        for container in containers[:1]:  # the pod's own files (its PVCs live elsewhere and stay)
            shutil.rmtree(container.root.parent, ignore_errors=True)

    def stop_all(self) -> None:
        with self.lock:
            keys = list(self.containers)
        for key in keys:
            self.stop(key)

    def _supervise(self, container: Container) -> None:
        backoff = 1.0
        container.waiting = "ContainerCreating" if self.start_delay else ""
        deadline = time.monotonic() + self.start_delay
        while not container.stopping and time.monotonic() < deadline:
            time.sleep(0.1)
        container.waiting = ""
        while not container.stopping:
            started = time.monotonic()
            with container.log.open("ab") as out:
                container.process = subprocess.Popen(container.script(container.argv), stdout=out,
                                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                     env=container.env)
            container.started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            container.ready = container.readiness is None
            self.on_change(container.key)
            self._watch(container, started)
            if container.stopping:
                return
            _terminate(container)
            container.last_exit = (container.process.returncode, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            container.restarts += 1
            container.ready, container.waiting = False, "CrashLoopBackOff"
            self.on_change(container.key)
            backoff = 1.0 if time.monotonic() - started > 30 else min(backoff * 2, 20.0)
            time.sleep(backoff)
            container.waiting = ""

    def _watch(self, container: Container, started: float) -> None:
        """Probe a running process until it exits, or its liveness probe fails ``failureThreshold`` times in a
        row (the caller then restarts it). Readiness is probed every second while not ready (so a member is
        seen Ready soon after it is), then every ``periodSeconds``."""
        readiness, liveness = container.readiness, container.liveness
        due = {"readiness": started + (readiness.initial_delay if readiness else 0),
               "liveness": started + (liveness.initial_delay if liveness else 0)}
        streak = {"readiness": 0, "liveness": 0}
        """Results in a row that went against the current state."""
        process = container.process
        while process is not None and process.poll() is None and not container.stopping:
            now = time.monotonic()
            if readiness is not None and now >= due["readiness"]:
                ok = self._probe(container, readiness)
                streak["readiness"] = 0 if ok == container.ready else streak["readiness"] + 1
                if streak["readiness"] >= (readiness.failure_threshold if container.ready else
                                           readiness.success_threshold):
                    container.ready, streak["readiness"] = ok, 0
                    self.on_change(container.key)
                due["readiness"] = now + (readiness.period if container.ready else min(readiness.period, 1.0))
            if liveness is not None and now >= due["liveness"]:
                streak["liveness"] = 0 if self._probe(container, liveness) else streak["liveness"] + 1
                if streak["liveness"] >= liveness.failure_threshold:
                    with container.log.open("ab") as out:
                        out.write(f"kbmc node agent: liveness probe failed {streak['liveness']} times; "
                                  "restarting the container\n".encode())
                    return
                due["liveness"] = now + liveness.period
            time.sleep(0.2)

    def _probe(self, container: Container, probe: Probe) -> bool:
        process = container.process
        if process is None:
            return False
        try:
            if probe.url:
                context = ssl._create_unverified_context()  # the kubelet does not verify either
                with urllib.request.urlopen(probe.url, timeout=probe.timeout, context=context) as answer:
                    return 200 <= int(answer.status) < 400
            if probe.tcp is not None:
                with socket.create_connection(probe.tcp, timeout=probe.timeout):
                    return True
            argv = [TOOLS["nsenter"], "-t", str(process.pid), "-m", TOOLS["chroot"],
                    *([f"--userspec={container.user}"] if container.user and os.geteuid() == 0 else []),
                    str(container.root), *probe.command]
            return subprocess.run(argv, capture_output=True, timeout=max(probe.timeout, 5), env=container.env,
                                  check=False).returncode == 0
        except Exception:  # refused, reset, not HTTP, timed out: the probe failed
            return False


def files_first(nsswitch: str) -> str:
    """``nsswitch`` with its ``hosts:`` line as a container image has it (``files dns``): /etc/hosts first, and no
    source of the host's (mdns, myhostname, resolve) that would answer for it."""
    lines = [line for line in nsswitch.splitlines() if not line.split("#")[0].strip().startswith("hosts:")]
    return "\n".join([*lines, "hosts:          files dns"]) + "\n"


def _terminate(container: Container) -> None:
    """SIGTERM, then SIGKILL after the grace period, as a kubelet stops a container."""
    process = container.process
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(container.grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def resolve_env(container: Obj, pod: Obj, config_maps: Mapping[str, Mapping[str, str]], pod_ip: str,
                host_ip: str, api_server: tuple[str, int] | None = None,
                secrets: Mapping[str, Mapping[str, str | bytes]] | None = None) -> dict[str, str]:
    """The container's environment as a kubelet resolves it (envFrom first, env wins). ``api_server`` is where
    ``KUBERNETES_SERVICE_HOST`` / ``_PORT`` point (the ``kubernetes`` Service's address in a real cluster; the
    API server itself in the bed, which has no service proxy). ``secrets``: the Secrets ``secretKeyRef``s name
    (decoded); an optional key that is not there leaves its var out."""
    env = {"PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin", "HOSTNAME": pod["metadata"]["name"], "HOME": "/tmp"}
    if api_server is not None:
        env.update({"KUBERNETES_SERVICE_HOST": api_server[0], "KUBERNETES_SERVICE_PORT": str(api_server[1]),
                    "KUBERNETES_SERVICE_PORT_HTTPS": str(api_server[1])})
    for source in container.get("envFrom") or []:
        ref = source.get("configMapRef")
        if ref:
            env.update({f"{source.get('prefix', '')}{k}": v for k, v in config_maps.get(ref["name"], {}).items()})
    fields = {"metadata.name": pod["metadata"]["name"], "metadata.namespace": pod["metadata"]["namespace"],
              "status.podIP": pod_ip, "status.hostIP": host_ip, "spec.nodeName": pod["spec"].get("nodeName", "")}
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        source = item.get("valueFrom") or {}
        if "fieldRef" in source:
            env[item["name"]] = fields.get(source["fieldRef"]["fieldPath"], "")
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            env[item["name"]] = config_maps.get(ref["name"], {}).get(ref["key"], "")
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            value = (secrets or {}).get(ref["name"], {}).get(ref["key"])
            if value is not None:
                env[item["name"]] = value.decode() if isinstance(value, bytes) else value
    return env


def write_config_map(directory: Path, data: Mapping[str, str | bytes], mode: int | None,
                     items: list[Obj] | None = None) -> None:
    """A ConfigMap or Secret volume as files (replaced atomically, as the kubelet's symlink swap does): every
    key, or only ``items`` (key -> path, mode)."""
    staging = directory.with_name(directory.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    chosen = items if items is not None else [{"key": k, "path": k} for k in data]
    for item in chosen:
        if item["key"] not in data:
            continue
        value = data[item["key"]]
        path = staging / item["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(value.encode() if isinstance(value, str) else value)
        path.chmod(int(item.get("mode", mode if mode is not None else 0o644)))
    shutil.rmtree(directory, ignore_errors=True)
    staging.rename(directory)


def secret_files(data: Mapping[str, str] | None) -> dict[str, str | bytes]:
    """A Secret's ``data`` (base64) as file contents."""
    return {key: base64.b64decode(value) for key, value in (data or {}).items()}
