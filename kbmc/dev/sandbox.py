"""Run a pod's container as a local process, as a kubelet would with a container runtime, for images the
bed knows a local binary for (``etcd`` images -> the toolchain's etcd and etcdctl).

The process gets a private mount namespace and a small root of its own (``unshare -m`` + bind mounts +
``chroot``): the host's /usr, /lib, /bin, /etc and /dev, the mapped binaries in /kbmc/bin, and every
volumeMount at its path (ConfigMaps written as files, PVCs as the PersistentVolume's directory, which
outlives the pod). Its environment is resolved as a kubelet would (env, envFrom ConfigMaps, fieldRefs);
``status.podIP`` resolves to the address other data planes reach the pod at (its LoadBalancer ingress on
loopback), so the database binds and advertises the same address. Needs root (or unprivileged user
namespaces: ``unshare -r``).
"""

from __future__ import annotations

import fnmatch
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Obj = dict[str, Any]
HOST_DIRS = ("usr", "bin", "lib", "lib64", "sbin", "etc", "dev")
TOOLS = {name: shutil.which(name) or f"/usr/bin/{name}" for name in ("mount", "chroot", "unshare", "nsenter")}
"""Absolute paths: the wrapper runs with the container's PATH."""
BIN = "/kbmc/bin"
OPT_OUT = "dev.kbmc.io/process"
"""Where the mapped binaries appear inside the pod's root (first on PATH)."""


@dataclass(frozen=True)
class ImageBinaries:
    """Images matching ``pattern`` (fnmatch) run with ``binaries`` placed in /kbmc/bin."""

    pattern: str
    binaries: tuple[Path, ...]

    @staticmethod
    def parse(text: str) -> ImageBinaries:
        """``PATTERN=BIN[:BIN...]``, e.g. ``*/etcd:*=/cache/bin/etcd:/cache/bin/etcdctl``."""
        pattern, _, binaries = text.partition("=")
        if not pattern or not binaries:
            raise ValueError(f"--image-binary {text!r}: expected PATTERN=BINARY[:BINARY...]")
        return ImageBinaries(pattern, tuple(Path(b) for b in binaries.split(":")))


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
    probe: list[str] | None = None
    probe_period: float = 5.0
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    ready: bool = False
    started_at: str = ""
    stopping: bool = False
    _thread: threading.Thread | None = field(default=None, repr=False)

    def script(self, argv: list[str]) -> list[str]:
        """The command that builds the private root and runs ``argv`` inside it."""
        mount, chroot = TOOLS["mount"], TOOLS["chroot"]
        lines = ["set -e", f"{mount} --make-rprivate /"]
        for name in HOST_DIRS:
            if Path(f"/{name}").exists():
                lines.append(f"{mount} --rbind /{name} {shlex.quote(str(self.root / name))}")
        for binary in self.binaries:
            lines.append(f"{mount} --bind {shlex.quote(str(binary))} "
                         f"{shlex.quote(str(self.root / BIN.lstrip('/') / binary.name))}")
        for source, target in self.mounts:
            lines.append(f"{mount} --bind {shlex.quote(str(source))} "
                         f"{shlex.quote(str(self.root / target.lstrip('/')))}")
        lines.append(f"exec {chroot} {shlex.quote(str(self.root))} {shlex.join(argv)}")
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

    def __init__(self, images: list[ImageBinaries], work: Path, on_change: Callable[[str], None]) -> None:
        self.images = images
        self.work = work
        self.on_change = on_change
        self.lock = threading.Lock()
        self.containers: dict[str, list[Container]] = {}

    def binaries_for(self, image: str) -> tuple[Path, ...] | None:
        for mapping in self.images:
            if fnmatch.fnmatch(image, mapping.pattern):
                return mapping.binaries
        return None

    def runs(self, pod: Obj) -> bool:
        """Whether the bed runs this pod's containers as processes (a pod annotated
        ``dev.kbmc.io/process: "false"`` is only reported Running, as with ``--no-processes``)."""
        if (pod["metadata"].get("annotations") or {}).get(OPT_OUT) == "false":
            return False
        return bool(self.images) and all(self.binaries_for(c.get("image", "")) for c in pod["spec"]["containers"])

    def running(self, key: str) -> list[Container] | None:
        with self.lock:
            return self.containers.get(key)

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
            if container.process and container.process.poll() is None:
                container.process.send_signal(signal.SIGTERM)
                try:
                    container.process.wait(10)
                except subprocess.TimeoutExpired:
                    container.process.kill()
                    container.process.wait()
        for container in containers[:1]:  # the pod's own files (its PVCs live elsewhere and stay)
            shutil.rmtree(container.root.parent, ignore_errors=True)

    def stop_all(self) -> None:
        with self.lock:
            keys = list(self.containers)
        for key in keys:
            self.stop(key)

    def _supervise(self, container: Container) -> None:
        backoff = 1.0
        while not container.stopping:
            started = time.monotonic()
            with container.log.open("ab") as out:
                container.process = subprocess.Popen(container.script(container.argv), stdout=out,
                                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                     env=container.env)
            container.started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            container.ready = container.probe is None
            self.on_change(container.key)
            while container.process.poll() is None and not container.stopping:
                if container.probe is not None:
                    ready = self._probe(container)
                    if ready != container.ready:
                        container.ready = ready
                        self.on_change(container.key)
                time.sleep(container.probe_period if container.ready else 1.0)
            if container.stopping:
                return
            container.restarts += 1
            container.ready = False
            self.on_change(container.key)
            backoff = 1.0 if time.monotonic() - started > 30 else min(backoff * 2, 20.0)
            time.sleep(backoff)

    def _probe(self, container: Container) -> bool:
        process = container.process
        if process is None or container.probe is None:
            return False
        argv = [TOOLS["nsenter"], "-t", str(process.pid), "-m", TOOLS["chroot"], str(container.root), *container.probe]
        try:
            return subprocess.run(argv, capture_output=True, timeout=5, env=container.env, check=False).returncode == 0
        except subprocess.TimeoutExpired:
            return False


def resolve_env(container: Obj, pod: Obj, config_maps: Mapping[str, Mapping[str, str]], pod_ip: str,
                host_ip: str) -> dict[str, str]:
    """The container's environment as a kubelet resolves it (envFrom first, env wins)."""
    env = {"PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin", "HOSTNAME": pod["metadata"]["name"], "HOME": "/tmp"}
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
    return env


def write_config_map(directory: Path, data: Mapping[str, str], mode: int | None) -> None:
    """A ConfigMap volume as files (replaced atomically, as the kubelet's symlink swap does)."""
    staging = directory.with_name(directory.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for key, value in data.items():
        path = staging / key
        path.write_text(value)
        path.chmod(mode if mode is not None else 0o644)
    shutil.rmtree(directory, ignore_errors=True)
    staging.rename(directory)
