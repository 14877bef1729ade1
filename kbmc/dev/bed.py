"""The local multi-cluster bed: one control-plane cluster and N data planes, each its own etcd,
kube-apiserver, kube-controller-manager, node agent (``kbmc.dev.agent``: kubelet, scheduler, provisioner,
MetalLB) and mesh agent (``kbmc.dev.mesh``: Cilium ClusterMesh's global services and the cluster DNS, for the
pods run as processes) on loopback. The node agents run pods of the images in ``images`` as local processes: etcd
(the toolchain's etcd and etcdctl), kbmc's own (``kbmc_image``) and Redis (``redis_images``: Debian's
redis-server, redis-sentinel and redis-cli, ``toolchain.ensure_redis``).

Layout of ``DIR``::

    state.json           what runs (pids), ports, tokens
    kubeconfig           one context per cluster, admin identity
    mesh-agent.kubeconfig  one context per cluster, the mesh agents' identity (they watch every cluster)
    pki/                 ca.crt, serving.crt/.key (shared), audit-policy.yaml
    <cluster>/           sa.key/.pub, tokens.csv, etcd/, volumes/, *.log, audit.log, mesh/<namespace>.hosts
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import secrets
import shutil
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import platformdirs
import yaml
from pydantic import BaseModel

import kbmc
from kbmc import __version__
from kbmc.dev import network, procs
from kbmc.dev.procs import Proc, ProcState
from kbmc.dev.sandbox import HOST_DIRS, ImageBinaries
from kbmc.dev.toolchain import REDIS_BINARIES, Toolchain, ensure_redis
from kbmc.errors import BedError, UsageError

CONTROL = "control"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "node-agent", "mesh-agent")
SHORT = {"etcd": "etcd", "kube-apiserver": "apiserver", "kube-controller-manager": "kcm", "node-agent": "agent",
         "mesh-agent": "mesh"}
#: Identities in every cluster's token file. The admin, the controller-manager, the agents and the operator
#: (for tests that rotate its token) are cluster admins (system:masters; the mesh agents only list and watch);
#: ``nobody`` has no bindings.
USERS = {
    "admin": ("kbmc-dev:admin", "system:masters"),
    "controller-manager": ("kbmc-dev:controller-manager", "system:masters"),
    "node-agent": ("kbmc-dev:node-agent", "system:masters"),
    "mesh-agent": ("kbmc-dev:mesh-agent", "system:masters"),
    "operator": ("kbmc-dev:operator", "system:masters"),
    "nobody": ("kbmc-dev:nobody", ""),
}
DEFAULT_BASE_PORT = 16443
MAX_DATA_PLANES = 50
READY_TIMEOUT = 90.0
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
"""


def default_dir() -> Path:
    return Path(platformdirs.user_state_dir("kbmc")) / "dev"


class ClusterState(BaseModel):
    """One cluster of the bed."""

    name: str
    index: int
    role: Literal["control", "data-plane"]
    apiserver_port: int
    etcd_port: int
    kubelet_port: int = 0
    """Where the node agent serves the kubelet API (on the node's address)."""
    tokens: dict[str, str]
    procs: dict[str, Proc] = {}
    apiserver_args: list[str] = []
    """Extra kube-apiserver flags (drills, the benchmark)."""

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    def state(self, component: str) -> ProcState:
        proc = self.procs.get(component)
        return proc.state() if proc else ProcState.STOPPED

    def summary(self) -> str:
        """up / stopped / frozen / degraded, as ``kbmc dev status`` shows it."""
        api = self.state("kube-apiserver")
        if api is not ProcState.RUNNING:
            return api.value
        states = {self.state(c) for c in COMPONENTS}
        return "up" if states == {ProcState.RUNNING} else "degraded"


class BedState(BaseModel):
    base_port: int
    bin_dir: str
    processes: bool = True
    """Whether node agents run known images (etcd, kbmc's, Redis) as local processes."""
    redis_dir: str | None = None
    """The redis-server, redis-sentinel and redis-cli the node agents run Redis images with (with processes)."""
    start_delay: float = 0.0
    """Seconds a pod's containers wait before they first start, as an image pull would make them."""
    clusters: list[ClusterState]

    def cluster(self, name: str) -> ClusterState:
        for cluster in self.clusters:
            if cluster.name == name:
                return cluster
        known = ", ".join(c.name for c in self.clusters)
        raise UsageError(f"no cluster named {name!r} in this bed (known: {known})")


@dataclass
class Bed:
    """A handle on the bed in ``directory``; every method is safe to call from the CLI or from tests."""

    directory: Path

    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def certificate_kubeconfig(self) -> Path:
        """The same contexts as ``kubeconfig``, the administrator logging in with a client certificate only
        (as kind's and kubeadm's kubeconfigs do)."""
        return self.directory / "kubeconfig-certificates"

    @property
    def mesh_kubeconfig(self) -> Path:
        """Every cluster's context, the mesh agents' identity: each watches the Services of all of them."""
        return self.directory / "mesh-agent.kubeconfig"

    def exists(self) -> bool:
        return self.state_file.is_file()

    def load(self) -> BedState:
        if not self.exists():
            raise BedError(f"no bed at {self.directory}: run `kbmc dev up` first")
        try:
            return BedState.model_validate_json(self.state_file.read_text())
        except ValueError as exc:
            raise BedError(f"{self.state_file} is corrupt ({exc}); run `kbmc dev down` and `up` again") from exc

    def save(self, state: BedState) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(state.model_dump_json(indent=2))
        tmp.replace(self.state_file)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / ".lock").open("w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield

    # -- lifecycle -------------------------------------------------------------------------------------

    def up(self, toolchain: Toolchain, data_planes: int | None = None,
           base_port: int = DEFAULT_BASE_PORT, processes: bool = True, start_delay: float = 0.0,
           apiserver_args: list[str] | None = None) -> BedState:
        """Start the bed, or whatever part of an existing bed is not running. ``apiserver_args``: extra flags of
        a new bed's API servers (the benchmark's wider node-port range)."""
        with self.locked():
            if self.exists():
                state = self.load()
                existing = len(state.clusters) - 1
                if data_planes is not None and data_planes != existing:
                    raise UsageError(
                        f"the bed at {self.directory} has {existing} data planes, not {data_planes}: "
                        "run `kbmc dev down` first to change their number"
                    )
                if not self.mesh_kubeconfig.is_file():
                    raise BedError(f"the bed at {self.directory} was made by a kbmc without the mesh agent: run "
                                   "`kbmc dev down` and `kbmc dev up` again")
                if state.processes and state.redis_dir is None:  # a bed made before Redis ran as processes
                    state.redis_dir = str(ensure_redis())
                self._start(state, [c for c in state.clusters if c.summary() != "up"])
                return state
            count = 3 if data_planes is None else data_planes
            if not 1 <= count <= MAX_DATA_PLANES:
                raise UsageError(f"--data-planes must be between 1 and {MAX_DATA_PLANES}, not {count}")
            state = self._plan(toolchain, count, base_port)
            state.processes, state.start_delay = processes, start_delay
            for cluster in state.clusters:
                cluster.apiserver_args = list(apiserver_args or [])
            state.redis_dir = str(ensure_redis()) if processes else None
            busy = [f"{port} ({what})" for port, what in _ports(state) if not port_free(port)]
            if busy:
                raise BedError(
                    f"port(s) already in use: {', '.join(busy)}; stop what holds them or pick another "
                    "--base-port"
                )
            self._write_files(state)
            try:
                self._start(state, state.clusters)
            except BaseException:
                procs.terminate([p for c in state.clusters for p in c.procs.values()])
                shutil.rmtree(self.directory, ignore_errors=True)
                raise
            return state

    def down(self) -> None:
        """Stop every process of the bed and remove its directory."""
        with self.locked():
            if self.exists():
                state = self.load()
                everything = [p for c in state.clusters for p in c.procs.values()]
                procs.terminate(everything)
        shutil.rmtree(self.directory, ignore_errors=True)

    def stop(self, name: str) -> None:
        """Stop one cluster's processes; its etcd data stays, so ``start`` brings it back as it was."""
        with self.locked():
            state = self.load()
            cluster = state.cluster(name)
            procs.terminate(list(cluster.procs.values()))
            cluster.procs = {}
            self.save(state)

    def start(self, name: str) -> None:
        with self.locked():
            state = self.load()
            cluster = state.cluster(name)
            if cluster.state("kube-apiserver") is ProcState.FROZEN:
                raise UsageError(f"{name} is frozen: run `kbmc dev thaw {name}`")
            self._start(state, [cluster])

    def restart_apiserver(self, name: str, extra_args: list[str] | None = None, *, interrupted: bool = False) -> None:
        """Restart one cluster's API server, with extra flags if given (``[]`` restores the defaults); state is
        kept. Drills use it for a server that answers 429 (``--max-requests-inflight=1``). ``interrupted``: the
        new server is killed as soon as it first answers (still starting: 503, then a bare 404 for custom
        resources) and started once more, as a control plane restarted twice in a row."""
        with self.locked():
            state = self.load()
            cluster = state.cluster(name)
            if extra_args is not None:
                cluster.apiserver_args = list(extra_args)
            api = cluster.procs.pop("kube-apiserver", None)
            if api is not None:
                procs.terminate([api])
            if interrupted:
                cdir = self.directory / cluster.name
                argv = self._argv(Toolchain(Path(state.bin_dir)), cluster, "kube-apiserver", state)
                starting = procs.spawn(argv, cdir / "kube-apiserver.log", cdir)
                deadline, ca = time.monotonic() + READY_TIMEOUT, self.directory / "pki" / "ca.crt"
                while not _answers(cluster.url + "/readyz", ca) and time.monotonic() < deadline:
                    time.sleep(0.02)
                procs.terminate([starting])
            self._start(state, [cluster])

    def rotate_token(self, name: str, user: str = "admin") -> str:
        """Give ``user`` of one cluster a new token (the old one stops working) and restart its API server,
        which reads tokens at start. DIR/kubeconfig is rewritten; returns the new token."""
        with self.locked():
            state = self.load()
            cluster = state.cluster(name)
            cluster.tokens[user] = secrets.token_hex(24)
            cdir = self.directory / cluster.name
            (cdir / "tokens.csv").write_text(_tokens_csv(cluster))
            _write_kubeconfig(self.kubeconfig, [(c, "admin") for c in state.clusters],
                              (self.directory / "pki" / "ca.crt").read_bytes())
            api = cluster.procs.pop("kube-apiserver", None)
            if api is not None:
                procs.terminate([api])
            self._start(state, [cluster])
            return cluster.tokens[user]

    def freeze(self, name: str) -> None:
        """Pause the cluster's kube-apiserver: its port accepts connections and never answers."""
        self._signal(name, procs.freeze)

    def thaw(self, name: str) -> None:
        self._signal(name, procs.thaw)

    def _signal(self, name: str, action: Callable[[Proc], None]) -> None:
        with self.locked():
            cluster = self.load().cluster(name)
            proc = cluster.procs.get("kube-apiserver")
            if proc is None or proc.state() is ProcState.STOPPED:
                raise UsageError(f"{name} is stopped: run `kbmc dev start {name}`")
            action(proc)

    # -- planning and files ----------------------------------------------------------------------------

    def _plan(self, toolchain: Toolchain, count: int, base_port: int) -> BedState:
        names = [CONTROL] + [f"k8s-{i}" for i in range(1, count + 1)]
        clusters = [
            ClusterState(
                name=name,
                index=index,
                role="control" if index == 0 else "data-plane",
                apiserver_port=base_port + index,
                etcd_port=base_port + 100 + 2 * index,
                kubelet_port=base_port + 150 + index,
                tokens={user: secrets.token_hex(24) for user in USERS},
            )
            for index, name in enumerate(names)
        ]
        return BedState(base_port=base_port, bin_dir=str(toolchain.bin_dir), clusters=clusters)

    def _write_files(self, state: BedState) -> None:
        from kbmc.dev import pki  # noqa: PLC0415 - cryptography costs 8 MB in every process that imports the CLI

        pki_dir = self.directory / "pki"
        pki_dir.mkdir(parents=True, exist_ok=True)
        pki.write_ca_and_serving_cert(pki_dir, tuple(network.for_index(c.index).node_ip for c in state.clusters))
        (pki_dir / "audit-policy.yaml").write_text(AUDIT_POLICY)
        ca = (pki_dir / "ca.crt").read_bytes()
        for cluster in state.clusters:
            cdir = self.directory / cluster.name
            (cdir / "volumes").mkdir(parents=True, exist_ok=True)
            pki.write_service_account_keys(cdir)
            (cdir / "tokens.csv").write_text(_tokens_csv(cluster))
            for key in ("controller-manager", "node-agent"):
                _write_kubeconfig(cdir / f"{key}.kubeconfig", [(cluster, key)], ca)
        _write_kubeconfig(self.kubeconfig, [(c, "admin") for c in state.clusters], ca)
        _write_kubeconfig(self.mesh_kubeconfig, [(c, "mesh-agent") for c in state.clusters], ca)
        _write_kubeconfig(self.certificate_kubeconfig, [(c, "admin") for c in state.clusters], ca, pki_dir)
        self.save(state)

    # -- processes -------------------------------------------------------------------------------------

    def _start(self, state: BedState, clusters: list[ClusterState]) -> None:
        """Start the missing components of ``clusters`` concurrently and wait until each is ready."""
        if not clusters:
            return
        toolchain = Toolchain(Path(state.bin_dir))
        try:
            with ThreadPoolExecutor(max_workers=len(clusters)) as pool:
                for future in [pool.submit(self._start_cluster, toolchain, c, state) for c in clusters]:
                    future.result()
        finally:
            self.save(state)

    def _start_cluster(self, toolchain: Toolchain, cluster: ClusterState, state: BedState) -> None:
        cdir = self.directory / cluster.name
        for component in COMPONENTS:
            if cluster.state(component) is not ProcState.STOPPED:
                continue
            argv = self._argv(toolchain, cluster, component, state)
            if component == "mesh-agent":
                (cdir / "mesh" / "ready").unlink(missing_ok=True)  # its predecessor's
            cluster.procs[component] = procs.spawn(argv, cdir / f"{component}.log", cdir)
            self._wait_ready(cluster, component)

    def _argv(self, toolchain: Toolchain, cluster: ClusterState, component: str, state: BedState) -> list[str]:
        cdir = self.directory / cluster.name
        pki_dir = self.directory / "pki"
        net = network.for_index(cluster.index)
        if component == "etcd":
            client = f"http://127.0.0.1:{cluster.etcd_port}"
            peer = f"http://127.0.0.1:{cluster.etcd_port + 1}"
            return [
                str(toolchain.path("etcd")), "--name", cluster.name, "--data-dir", str(cdir / "etcd"),
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"{cluster.name}={peer}", "--logger", "zap",
            ]
        if component == "kube-apiserver":
            return [
                str(toolchain.path("kube-apiserver")),
                f"--etcd-servers=http://127.0.0.1:{cluster.etcd_port}",
                "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
                f"--secure-port={cluster.apiserver_port}", "--insecure-port=0",
                f"--tls-cert-file={pki_dir / 'serving.crt'}", f"--tls-private-key-file={pki_dir / 'serving.key'}",
                f"--token-auth-file={cdir / 'tokens.csv'}", f"--client-ca-file={pki_dir / 'ca.crt'}",
                "--authorization-mode=RBAC",
                f"--service-account-issuer=https://{cluster.name}.kbmc.local",
                f"--service-account-key-file={cdir / 'sa.pub'}",
                f"--service-account-signing-key-file={cdir / 'sa.key'}",
                f"--service-cluster-ip-range={net.service_cidr}", "--allow-privileged=true",
                f"--audit-policy-file={pki_dir / 'audit-policy.yaml'}",
                f"--audit-log-path={cdir / 'audit.log'}", "--audit-log-format=json",
                "--audit-log-mode=batch", "--audit-log-batch-max-wait=200ms",
                f"--kubelet-client-certificate={pki_dir / 'kubelet-client.crt'}",
                f"--kubelet-client-key={pki_dir / 'kubelet-client.key'}",
                f"--kubelet-certificate-authority={pki_dir / 'ca.crt'}", "--kubelet-preferred-address-types=InternalIP",
                "--profiling=false", "--enable-priority-and-fairness=false", *cluster.apiserver_args,
            ]
        if component == "kube-controller-manager":
            return [
                str(toolchain.path("kube-controller-manager")),
                f"--kubeconfig={cdir / 'controller-manager.kubeconfig'}",
                f"--service-account-private-key-file={cdir / 'sa.key'}",
                f"--root-ca-file={pki_dir / 'ca.crt'}",
                # No cloud, no kubelet: the node agent plays the node, the volume provisioner and the LB.
                "--controllers=*,-nodelifecycle,-cloud-node-lifecycle,-persistentvolume-binder,"
                "-persistentvolume-expander,-attachdetach,-nodeipam,-route,-service,-csrsigning",
                "--leader-elect=false", "--port=0", "--secure-port=0",
                "--kube-api-qps=200", "--kube-api-burst=400",
            ]
        if component == "mesh-agent":
            return [sys.executable, "-m", "kbmc.dev.mesh", "--kubeconfig", str(self.mesh_kubeconfig),
                    "--cluster", cluster.name, "--hosts-dir", str(cdir / "mesh")]
        argv = [
            sys.executable, "-m", "kbmc.dev.agent",
            "--kubeconfig", str(cdir / "node-agent.kubeconfig"),
            "--cluster", cluster.name, "--index", str(cluster.index),
            "--volumes", str(cdir / "volumes"),
            "--kubelet-port", str(cluster.kubelet_port), "--pki", str(pki_dir),
        ]
        if state.start_delay:
            argv += ["--start-delay", str(state.start_delay)]
        if state.processes:
            # images the bed can run for real (``images``); their /etc/hosts from the mesh agent
            argv += ["--hosts-dir", str(cdir / "mesh")]
            redis = Path(state.redis_dir) if state.redis_dir else None
            argv += [arg for image in images(toolchain, redis) for arg in ("--image-binary", image.dump())]
        return argv

    def _wait_ready(self, cluster: ClusterState, component: str) -> None:
        """Wait until ``component`` serves; fail with the tail of its log if it dies or times out."""
        proc = cluster.procs[component]
        log = self.directory / cluster.name / f"{component}.log"
        checks: dict[str, Callable[[], bool]] = {
            "etcd": lambda: b'"health":"true"' in _http(f"http://127.0.0.1:{cluster.etcd_port}/health"),
            "kube-apiserver": lambda: _api(self, cluster, "/readyz") == b"ok",
            "kube-controller-manager": lambda: b'"secrets"' in _api(
                self, cluster, "/api/v1/namespaces/default/serviceaccounts/default"),
            "node-agent": lambda: b'"type":"Ready","status":"True"' in _api(
                self, cluster, f"/api/v1/nodes/{network.node_name(cluster.name)}").replace(b" ", b""),
            "mesh-agent": (self.directory / cluster.name / "mesh" / "ready").is_file,
        }
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if proc.state() is ProcState.STOPPED:
                raise BedError(f"{component} of {cluster.name} exited at start:\n{_tail(log)}\nlog: {log}")
            if checks[component]():
                return
            time.sleep(0.2)
        raise BedError(f"{component} of {cluster.name} not ready after {READY_TIMEOUT:.0f} s:\n"
                       f"{_tail(log)}\nlog: {log}")


def _tokens_csv(cluster: ClusterState) -> str:
    return "".join(f'{cluster.tokens[key]},{user},{user},"{groups}"\n' for key, (user, groups) in USERS.items())


def _ports(state: BedState) -> Iterator[tuple[int, str]]:
    for c in state.clusters:
        yield c.apiserver_port, f"kube-apiserver of {c.name}"
        yield c.etcd_port, f"etcd of {c.name}"
        yield c.etcd_port + 1, f"etcd peer of {c.name}"


def free_base_port(start: int = 21000) -> int:
    """A base port free for a bed of up to 7 clusters (tests, benchmarks)."""
    for base in range(start, 60000, 250):
        ports = [base + i for i in range(8)] + [base + 100 + i for i in range(12)] + [base + 150 + i for i in range(8)]
        if all(port_free(port) for port in ports):
            return base
    raise BedError("no free range of ports on loopback")


def free_port() -> int:
    """A port on loopback free now (the kernel's choice), for one listener of a test or a benchmark."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers themselves do (Go sets SO_REUSEADDR): old TIME_WAIT connections do not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


AGENT = f"kbmc/{__version__} (dev bed)"
"""The user agent of the bed's own requests (audit logs tell them apart from kbmc's)."""


def _http(url: str, token: str | None = None, cafile: Path | None = None) -> bytes:
    headers = {"User-Agent": AGENT}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, headers=headers)
    context = ssl.create_default_context(cafile=str(cafile)) if cafile else None
    try:
        with urllib.request.urlopen(request, timeout=2, context=context) as response:
            body: bytes = response.read()
            return body
    except (urllib.error.URLError, OSError, ValueError):
        return b""


def _answers(url: str, cafile: Path) -> bool:
    """Whether a server answers HTTP at ``url`` at all, whatever the status."""
    request = urllib.request.Request(url, headers={"User-Agent": AGENT})
    try:
        with urllib.request.urlopen(request, timeout=1, context=ssl.create_default_context(cafile=str(cafile))):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _api(bed: Bed, cluster: ClusterState, path: str) -> bytes:
    return _http(cluster.url + path, cluster.tokens["admin"], bed.directory / "pki" / "ca.crt")


def _tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _write_kubeconfig(path: Path, entries: list[tuple[ClusterState, str]], ca: bytes,
                      certificates: Path | None = None) -> None:
    """Write a kubeconfig with one context per cluster, named after the cluster; its users log in with their
    token, or with the administrator's client certificate in ``certificates``."""
    ca_data = base64.b64encode(ca).decode()
    login = (lambda _c, _u: {"client-certificate": str(certificates / "admin-client.crt"),
                             "client-key": str(certificates / "admin-client.key")}) if certificates else (
        lambda c, u: {"token": c.tokens[u]})
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": c.name, "cluster": {"server": c.url, "certificate-authority-data": ca_data}}
                     for c, _ in entries],
        "users": [{"name": f"{c.name}-{user}", "user": login(c, user)} for c, user in entries],
        "contexts": [{"name": c.name, "context": {"cluster": c.name, "user": f"{c.name}-{user}",
                                                   "namespace": "default"}} for c, user in entries],
        "current-context": entries[0][0].name,
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)


def describe(state: BedState) -> list[dict[str, str]]:
    """Rows for ``kbmc dev status``."""
    rows = []
    for c in state.clusters:
        pids = " ".join(f"{SHORT[k]}={p.pid}" for k, p in c.procs.items() if p.state() is not ProcState.STOPPED)
        rows.append({"cluster": c.name, "role": c.role, "url": c.url, "state": c.summary(), "pids": pids})
    return rows




def images(toolchain: Toolchain, redis: Path | None) -> list[ImageBinaries]:
    """What the node agents run as processes, first match wins: etcd (with etcdctl for probes and users), kbmc's
    own image, and Redis when ``redis`` (the wrappers' directory) is given."""
    return [ImageBinaries("*etcd:*", (toolchain.path("etcd"), toolchain.path("etcdctl"))), kbmc_image(),
            *(redis_images(redis) if redis else [])]


#: Redis images, any registry and tag: redis, bitnami/redis, redis/redis-stack-server, bitnami/redis-sentinel
#: (not oliver006/redis_exporter: a pod with it is only reported Running).
REDIS_IMAGES = ("*redis:*", "*redis-stack-server:*", "*redis-stack:*", "*redis-sentinel:*")


def redis_images(bin_dir: Path) -> list[ImageBinaries]:
    """Redis images as ``bin_dir``'s redis-server, redis-sentinel and redis-cli (in /kbmc/bin, first on PATH),
    with the cache they run from (the wrappers' parent directory, when it is ``toolchain.ensure_redis``'s) mounted
    read-only at its own path."""
    tree = bin_dir.parent if (bin_dir.parent / "manifest.json").is_file() else bin_dir
    host = tuple(Path(f"/{d}") for d in HOST_DIRS)
    trees = () if any(tree.is_relative_to(t) for t in host) else (tree,)
    binaries = tuple(bin_dir / name for name in REDIS_BINARIES)
    return [ImageBinaries(pattern, binaries, (), trees) for pattern in REDIS_IMAGES]


def kbmc_image() -> ImageBinaries:
    """kbmc's image (the one ``kbmc install`` writes, any registry and tag) as this installation of kbmc: its
    ``kbmc`` entry point, with the environment it runs from (the virtualenv, the Python it is built on, and the
    source tree of an editable install) mounted read-only at their own paths."""
    package = Path(kbmc.__file__).resolve().parent
    candidates = [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), package.parent]
    host = tuple(Path(f"/{d}") for d in HOST_DIRS)
    trees: list[Path] = []
    for tree in sorted(set(candidates), key=lambda t: len(t.parts)):
        if not any(tree.is_relative_to(t) for t in (*trees, *host)):
            trees.append(tree)
    entry = Path(sys.executable).parent / "kbmc"
    return ImageBinaries("*kbmc/kbmc:*", (entry,), ("kbmc",), tuple(trees))
