"""The redis addon's scripts (addons/redis/scripts.yaml) on real redis-server and redis-sentinel processes.

Each pod is a process started by its container's script (redis-start.sh, redis-sentinel-start.sh) with the pod's env
(CURRENT_POD_NAME, POD_IP, the accounts, the advertised address lists, its own data dir): redis member n at
127.88.<test>.<n + 1>:6379, sentinel n at 127.88.<test>.<n + 11>:26379; probes and lifecycle actions run with
``sh`` and the env of the pod they run on. The address lists are in the LoadBalancer form ``<svc>-<n>:<ip>``, or
in the NodePort form ``<svc>-<n>:<ip>:<port>`` where the test forwards each node port to its pod, as a node would.
Matrix: a fresh group (sentinels first) -> member 0 primary, the others replicate, every sentinel monitors it and
sees 2 sentinels and 2 replicas | roleprobe: primary, secondary, a member that does not answer | the primary
SIGKILLed -> Sentinel promotes a replica, the other follows, the old member restarted with its data rejoins as a
replica and catches up | a sentinel restarted keeps its id and monitoring | switchover to a candidate (the
priorities restored), again (nothing to do), refused for a candidate out of sync or that does not answer |
member-leave: refused on the primary; a replica leaves while another is down, no sentinel lists it, quorum kept
(CKQUORUM, then a real failover), idempotent; its pod back with an empty data dir replicates and is listed again |
NodePort addresses: announce, replication, switchover; a sentinel leaves (the others see only each other, nothing
makes it monitor again), idempotent | no sentinel component: the lowest ordinal is primary, restarts keep the roles,
switchover refused, member-leave has nothing to do | host-name entries (fake servers): announced as names, ports
6379 / 26379, the same files on a second start, users.acl as KubeBlocks writes it, private files; the sentinel's own
lines rewritten, what Sentinel wrote kept | no password in any output, log or command line.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import yaml

from kbmc.dev import toolchain

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS: dict[str, str] = yaml.safe_load((ROOT / "addons/redis/scripts.yaml").read_text())["data"]
CLUSTER = "cache"
REDIS = f"{CLUSTER}-redis"  # the redis component: pods cache-redis-<n>, the Sentinel master name
SENTINEL = f"{CLUSTER}-redis-sentinel"
PASSWORD = "RedisPw4711x"
SENTINEL_PASSWORD = "SentinelPw0815y"
FAILOVER_WITHIN = 15.0
"""Seconds from a SIGKILLed primary to a promoted replica (down-after-milliseconds is 5000)."""


BIN = toolchain.cached_redis()
pytestmark = pytest.mark.skipif(BIN is None, reason="no cached Redis (kbmc.dev.toolchain.ensure_redis fetches it)")

T = TypeVar("T")


def wait_for(what: str | Callable[[], str], check: Callable[[], T | None], timeout: float = 20,
             every: float = 0.3) -> T:
    """The first truthy result of ``check``, polled until ``timeout`` seconds have passed (``what``: the failure)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"not within {timeout} s: {what if isinstance(what, str) else what()}"
        time.sleep(every)


class NodePorts:
    """Node ports: each (address, port) forwards its connections to one pod's (address, port), in one thread."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.peers: dict[socket.socket, socket.socket] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def add(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        server = socket.create_server(listen)
        server.setblocking(False)
        self.selector.register(server, selectors.EVENT_READ, target)

    def _close(self, sock: socket.socket) -> None:
        for end in (sock, self.peers.pop(sock, None)):
            if end is not None:
                self.peers.pop(end, None)
                with contextlib.suppress(KeyError, ValueError):
                    self.selector.unregister(end)
                end.close()

    def _run(self) -> None:
        while not self.stopping.is_set():
            for key, _ in self.selector.select(timeout=0.2):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if key.data is not None:  # a node port: a new connection
                    client, _ = sock.accept()
                    try:
                        upstream = socket.create_connection(key.data, timeout=2)
                    except OSError:
                        client.close()
                        continue
                    for end, other in ((client, upstream), (upstream, client)):
                        end.settimeout(5)
                        self.peers[end] = other
                        self.selector.register(end, selectors.EVENT_READ, None)
                    continue
                try:
                    chunk = sock.recv(65536)
                    if chunk:
                        self.peers[sock].sendall(chunk)
                        continue
                except (OSError, KeyError):
                    pass
                self._close(sock)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        for key in list(self.selector.get_map().values()):
            assert isinstance(key.fileobj, socket.socket)
            key.fileobj.close()


class Bed:
    """One Cluster's pods as processes: 3 redis members and (unless ``sentinels`` is 0) 3 sentinels."""

    def __init__(self, directory: Path, subnet: int, nodeport: bool = False, sentinels: int = 3,
                 members: int = 3) -> None:
        assert BIN is not None
        self.bin = BIN
        self.directory = directory
        self.subnet = subnet
        self.sentinels = sentinels
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.outputs: list[str] = []  # every probe's and action's stdout and stderr
        self.nodeports = NodePorts() if nodeport else None
        for name, text in SCRIPTS.items():
            (directory / name).write_text(text)
        self.redis_var = "REDIS_ADVERTISED" if nodeport else "REDIS_LB_ADVERTISED"
        self.sentinel_var = "SENTINEL_ADVERTISED" if nodeport else "SENTINEL_LB_ADVERTISED"
        self.redis_list = ",".join(self._entry("redis", n) for n in range(members))
        self.sentinel_list = ",".join(self._entry("sentinel", n) for n in range(sentinels))
        if self.nodeports is not None:
            for n in range(members):
                self.nodeports.add(self.advertised("redis", n), (self.ip("redis", n), 6379))
            for n in range(sentinels):
                self.nodeports.add(self.advertised("sentinel", n), (self.ip("sentinel", n), 26379))

    # -- addresses ----------------------------------------------------------------------------------------

    def ip(self, kind: str, n: int) -> str:
        return f"127.88.{self.subnet}.{n + (1 if kind == 'redis' else 11)}"

    def port(self, kind: str) -> int:
        return 6379 if kind == "redis" else 26379

    def advertised(self, kind: str, n: int) -> tuple[str, int]:
        """The address the others reach pod n at: its own (LoadBalancer) or its node port's."""
        if self.nodeports is None:
            return self.ip(kind, n), self.port(kind)
        return f"127.88.{self.subnet}.{n + (101 if kind == 'redis' else 111)}", (31000 if kind == "redis" else
                                                                                  32000) + n

    def name(self, kind: str, n: int) -> str:
        """``host:port`` as Sentinel names the instance."""
        return ":".join(map(str, self.advertised(kind, n)))

    def _entry(self, kind: str, n: int) -> str:
        svc = f"{REDIS if kind == 'redis' else SENTINEL}-{kind}-{'' if self.nodeports else 'lb-'}advertised-{n}"
        return f"{svc}:{self.name(kind, n)}" if self.nodeports else f"{svc}:{self.ip(kind, n)}"

    def pod(self, kind: str, n: int) -> str:
        return f"{REDIS if kind == 'redis' else SENTINEL}-{n}"

    # -- pods ---------------------------------------------------------------------------------------------

    def env(self, kind: str, n: int, **extra: str) -> dict[str, str]:
        """The environment of pod n's container (and of the probes and actions run there)."""
        env = {"PATH": f"{self.bin}:{os.environ['PATH']}", "CURRENT_POD_NAME": self.pod(kind, n),
               "POD_IP": self.ip(kind, n), "REDIS_DATA_DIR": str(self.directory / self.pod(kind, n))}
        if kind == "redis":
            env |= {"REDIS_DEFAULT_USER": "default", "REDIS_DEFAULT_PASSWORD": PASSWORD,
                    "REDIS_COMPONENT_NAME": REDIS, self.redis_var: self.redis_list}
            if self.sentinels:
                env |= {"SENTINEL_COMPONENT_NAME": SENTINEL, "SENTINEL_PASSWORD": SENTINEL_PASSWORD,
                        self.sentinel_var: self.sentinel_list}
        else:
            env |= {"SENTINEL_USER": "default", "SENTINEL_PASSWORD": SENTINEL_PASSWORD,
                    self.sentinel_var: self.sentinel_list}
        return env | extra

    def log(self, kind: str, n: int) -> Path:
        return self.directory / f"{self.pod(kind, n)}.log"

    def start(self, kind: str, n: int) -> None:
        """Run the container's command as pod n (in its own process group: the script execs the server)."""
        script = "redis-start.sh" if kind == "redis" else "redis-sentinel-start.sh"
        with self.log(kind, n).open("ab") as out:
            self.procs[self.pod(kind, n)] = subprocess.Popen(
                ["sh", str(self.directory / script)], env=self.env(kind, n), stdin=subprocess.DEVNULL,
                stdout=out, stderr=out, start_new_session=True)

    def stop(self, kind: str, n: int, sig: signal.Signals = signal.SIGTERM) -> None:
        """The pod goes: its processes get ``sig`` (then SIGKILL after 10 s)."""
        proc = self.procs.pop(self.pod(kind, n))
        for send in (sig, signal.SIGKILL):
            try:
                os.killpg(proc.pid, send)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=10)
                os.killpg(proc.pid, signal.SIGKILL)  # the registration loop, if it outlived its server
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                pass
            break
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for pod in list(self.procs):
            kind = "sentinel" if pod.startswith(SENTINEL) else "redis"
            self.stop(kind, int(pod.rsplit("-", 1)[1]), signal.SIGKILL)
        if self.nodeports is not None:
            self.nodeports.stop()

    def run(self, script: str, kind: str, n: int, **extra: str) -> subprocess.CompletedProcess[str]:
        """Run a probe or lifecycle action as kbmc's agent does, in pod n (its env plus the action's)."""
        result = subprocess.run(["sh", str(self.directory / script)], env=self.env(kind, n, **extra),
                                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False)
        self.outputs += [result.stdout, result.stderr]
        return result

    def start_all(self) -> None:
        """Sentinels first (as kbmc's pods would be when the redis pods ask them), then the members."""
        for n in range(self.sentinels):
            self.start("sentinel", n)
        for n in range(self.sentinels):
            wait_for(f"sentinel {n} ready", lambda n=n: self.ready("sentinel", n), timeout=10)
        for n in range(len(self.redis_list.split(","))):
            self.start("redis", n)
        for n in range(len(self.redis_list.split(","))):
            wait_for(f"redis {n} ready", lambda n=n: self.ready("redis", n), timeout=15)

    def ready(self, kind: str, n: int) -> bool:
        proc = self.procs[self.pod(kind, n)]
        assert proc.poll() is None, f"{self.pod(kind, n)} exited {proc.returncode}:\n" \
                                    f"{self.log(kind, n).read_text()[-3000:]}"
        script = "redis-ping.sh" if kind == "redis" else "redis-sentinel-ping.sh"
        return self.run(script, kind, n).returncode == 0

    # -- asking the servers -------------------------------------------------------------------------------

    def cli(self, kind: str, n: int, *args: str) -> list[str]:
        """redis-cli on pod n's own address: the reply's lines ([] when it does not answer)."""
        result = subprocess.run(
            [str(self.bin / "redis-cli"), "-e", "-h", self.ip(kind, n), "-p", str(self.port(kind)), *args],
            env={"REDISCLI_AUTH": PASSWORD if kind == "redis" else SENTINEL_PASSWORD}, capture_output=True,
            text=True, timeout=10, check=False)
        return result.stdout.replace("\r", "").splitlines() if result.returncode == 0 else []

    def role(self, n: int) -> tuple[str, ...]:
        """ROLE of member n: ("master",), ("slave", <master host:port>, <state>), or () without an answer."""
        reply = self.cli("redis", n, "ROLE")
        if not reply:
            return ()
        return ("master",) if reply[0] == "master" else (reply[0], f"{reply[1]}:{reply[2]}", reply[3])

    def probe(self, n: int) -> str:
        result = self.run("redis-roleprobe.sh", "redis", n)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def fields(self, n: int, *args: str) -> list[dict[str, str]]:
        """A SENTINEL MASTERS / REPLICAS / SENTINELS reply of sentinel n, one dict per instance."""
        lines = self.cli("sentinel", n, "SENTINEL", *args)
        if lines == [""]:  # an empty list
            lines = []
        out: list[dict[str, str]] = []
        for key, value in zip(lines[::2], lines[1::2], strict=True):
            if key == "name":
                out.append({})
            out[-1][key] = value
        return out

    def view(self, n: int) -> tuple[str, list[str], list[str]] | None:
        """What sentinel n knows of the group: its master, replicas and other sentinels (``host:port``)."""
        addr = self.cli("sentinel", n, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", REDIS)
        if len(addr) != 2:
            return None
        return (":".join(addr), sorted(f"{r['ip']}:{r['port']}" for r in self.fields(n, "REPLICAS", REDIS)),
                sorted(f"{s['ip']}:{s['port']}" for s in self.fields(n, "SENTINELS", REDIS)))

    def expected_view(self, primary: int, replicas: list[int], sentinel: int,
                      sentinels: range | list[int] = range(3)) -> tuple[str, list[str], list[str]]:
        return (self.name("redis", primary), sorted(self.name("redis", r) for r in replicas),
                sorted(self.name("sentinel", s) for s in sentinels if s != sentinel))

    def wait_views(self, primary: int, replicas: list[int], sentinels: range | list[int] = range(3),
                   timeout: float = 20) -> None:
        """Until every sentinel in ``sentinels`` monitors ``primary`` with exactly these replicas and the others."""
        for s in sentinels:
            want = self.expected_view(primary, replicas, s, sentinels)
            wait_for(lambda s=s, w=want: f"sentinel {s} sees {w} (sees {self.view(s)})",  # type: ignore[misc]
                     lambda s=s, w=want: self.view(s) == w, timeout=timeout)

    def wait_replica(self, n: int, primary: int, timeout: float = 20) -> None:
        want = ("slave", self.name("redis", primary), "connected")
        wait_for(lambda: f"member {n} replicates from {primary} (ROLE {self.role(n)})", lambda: self.role(n) == want,
                 timeout=timeout)

    def assert_no_password(self) -> None:
        """Neither password in any output, log or running process's command line."""
        texts = [*self.outputs, *(p.read_text() for p in self.directory.glob("*.log"))]
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                with contextlib.suppress(OSError):
                    texts.append(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"))
        for text in texts:
            assert PASSWORD not in text and SENTINEL_PASSWORD not in text, text[-2000:]


@pytest.fixture
def beds(tmp_path: Path) -> Iterator[Callable[..., Bed]]:
    """Make a Bed (its own subnet, one per test); every process it started is killed afterwards."""
    made: list[Bed] = []

    def make(subnet: int, **options: bool | int) -> Bed:
        made.append(Bed(tmp_path, subnet, **options))  # type: ignore[arg-type]
        return made[-1]

    try:
        yield make
    finally:
        for bed in made:
            bed.stop_all()


def test_a_fresh_group_fails_over_and_the_old_primary_rejoins(beds: Callable[..., Bed]) -> None:
    bed = beds(1)
    bed.start_all()
    assert [bed.role(n)[0] for n in range(3)] == ["master", "slave", "slave"]
    for n in (1, 2):
        bed.wait_replica(n, 0)
    assert [bed.probe(n) for n in range(3)] == ["primary", "secondary", "secondary"]
    assert "redis-start.sh: nobody names a primary: the lowest ordinal's, 127.88.1.1:6379" in \
        bed.log("redis", 0).read_text()
    assert f"starting {REDIS}-1 (127.88.1.2:6379) as a replica of 127.88.1.1:6379" in bed.log("redis", 1).read_text()
    bed.wait_views(0, [1, 2])
    assert bed.cli("redis", 0, "SET", "greeting", "hello") == ["OK"]
    for n in (1, 2):
        wait_for(f"greeting on {n}", lambda n=n: bed.cli("redis", n, "GET", "greeting") == ["hello"], timeout=5)
    assert bed.cli("redis", 1, "SET", "x", "y") == []  # replicas are read-only
    for s in range(3):
        master = bed.fields(s, "MASTERS")[0]
        assert (master["quorum"], master["down-after-milliseconds"], master["failover-timeout"],
                master["parallel-syncs"]) == ("2", "5000", "10000", "1"), master

    # the primary's pod dies: Sentinel promotes a replica, the other follows it
    bed.stop("redis", 0, signal.SIGKILL)
    killed = time.monotonic()
    result = bed.run("redis-roleprobe.sh", "redis", 0)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith("redis-roleprobe.sh: 127.88.1.1:6379 does not answer: Could not connect")
    promoted = wait_for("a replica promoted", lambda: next((n for n in (1, 2) if bed.role(n) == ("master",)), None),
                        timeout=FAILOVER_WITHIN + 10)
    took = time.monotonic() - killed
    print(f"failover after SIGKILL: {took:.1f} s")
    assert took < FAILOVER_WITHIN
    other = 3 - promoted
    bed.wait_replica(other, promoted)
    assert bed.probe(promoted) == "primary" and bed.probe(other) == "secondary"
    assert bed.cli("redis", promoted, "GET", "greeting") == ["hello"]
    assert bed.cli("redis", promoted, "SET", "after", "failover") == ["OK"]

    # the old primary restarts with its data: the sentinels name the new primary, it replicates and catches up
    bed.start("redis", 0)
    bed.wait_replica(0, promoted)
    assert f"the sentinels name {bed.name('redis', promoted)} as the primary" in bed.log("redis", 0).read_text()
    wait_for("member 0 caught up", lambda: bed.cli("redis", 0, "GET", "after") == ["failover"], timeout=10)
    assert bed.probe(0) == "secondary"
    bed.wait_views(promoted, [0, other])

    # a sentinel restarted keeps its id and what it monitors
    myid = bed.cli("sentinel", 1, "SENTINEL", "MYID")
    bed.stop("sentinel", 1)
    bed.start("sentinel", 1)
    wait_for("sentinel 1 ready", lambda: bed.ready("sentinel", 1), timeout=10)
    assert f"starting {SENTINEL}-1 (127.88.1.12:26379), monitoring {REDIS}" in bed.log("sentinel", 1).read_text()
    assert bed.cli("sentinel", 1, "SENTINEL", "MYID") == myid
    bed.wait_views(promoted, [0, other])
    bed.assert_no_password()


def test_switchover_and_member_leave_keep_the_quorum(beds: Callable[..., Bed]) -> None:
    bed = beds(2)
    bed.start_all()
    bed.wait_views(0, [1, 2])
    switch = {"KB_SWITCHOVER_CURRENT_NAME": f"{REDIS}-0", "KB_SWITCHOVER_CANDIDATE_NAME": f"{REDIS}-2"}
    started = time.monotonic()
    result = bed.run("redis-switchover.sh", "redis", 0, **switch)
    print(f"switchover: {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, result.stderr
    assert f"{REDIS}-2 is the primary, 127.88.2.1:6379 ({REDIS}-0) follows it" in result.stderr
    assert bed.role(2) == ("master",)
    bed.wait_replica(0, 2)
    bed.wait_replica(1, 2)
    assert [bed.probe(n) for n in range(3)] == ["secondary", "secondary", "primary"]
    assert [bed.cli("redis", n, "CONFIG", "GET", "replica-priority")[1] for n in range(3)] == ["100"] * 3
    bed.wait_views(2, [0, 1])
    # again: the candidate is the primary already
    result = bed.run("redis-switchover.sh", "redis", 2, **switch)
    assert result.returncode == 0, result.stderr
    assert f"the candidate {REDIS}-2 (127.88.2.3:6379) is the primary already: nothing to do" in result.stderr

    # member-leave refuses the primary
    result = bed.run("redis-member-leave.sh", "redis", 2, KB_LEAVE_MEMBER_POD_NAME=f"{REDIS}-2")
    assert result.returncode == 1
    assert f"{REDIS}-2 (127.88.2.3:6379) is a primary: switch over to another member first" in result.stderr
    # a replica leaves while the other one is down: no sentinel lists either (the sentinels forget a replica
    # that is down as well: the primary does not list it), each still sees the other two
    bed.stop("redis", 0)
    for s in range(3):
        wait_for(f"sentinel {s} sees member 0 down", lambda s=s: "disconnected" in next(
            r["flags"] for r in bed.fields(s, "REPLICAS", REDIS) if r["ip"] == bed.ip("redis", 0)), timeout=5)
    started = time.monotonic()
    result = bed.run("redis-member-leave.sh", "redis", 1, KB_LEAVE_MEMBER_POD_NAME=f"{REDIS}-1")
    print(f"member-leave: {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, result.stderr
    assert f"{REDIS}-1 (127.88.2.2:6379) stopped replicating from 127.88.2.3:6379" in result.stderr
    for s in range(3):
        assert f"sentinel {bed.ip('sentinel', s)}:26379 forgot {REDIS}-1 (127.88.2.2:6379) and sees its 2 other" \
               " sentinels and 0 other replicas again" in result.stderr
        assert bed.view(s) == bed.expected_view(2, [], s)
        assert bed.cli("sentinel", s, "SENTINEL", "CKQUORUM", REDIS)[0].startswith("OK 3 usable Sentinels")
    # the one that was down comes back with its data: the sentinels find it again, not the one that left
    bed.start("redis", 0)
    bed.wait_replica(0, 2)
    bed.wait_views(2, [0])
    assert bed.role(1)[0] == "slave" and bed.role(1)[2] != "connected"
    assert bed.probe(1) == "secondary"
    # again, while its pod still runs: nothing to forget
    result = bed.run("redis-member-leave.sh", "redis", 1, KB_LEAVE_MEMBER_POD_NAME=f"{REDIS}-1")
    assert result.returncode == 0, result.stderr
    assert f"no sentinel that answers lists {REDIS}-1 (127.88.2.2:6379)" in result.stderr
    assert "forgot" not in result.stderr
    # a switchover to it is refused: out of sync
    result = bed.run("redis-switchover.sh", "redis", 2, KB_SWITCHOVER_CURRENT_NAME=f"{REDIS}-2",
                     KB_SWITCHOVER_CANDIDATE_NAME=f"{REDIS}-1")
    assert result.returncode == 1
    assert f"the candidate {REDIS}-1 is not in sync with 127.88.2.3:6379 (replication state" in result.stderr
    bed.stop("redis", 1)  # its pod goes
    result = bed.run("redis-member-leave.sh", "redis", 1, KB_LEAVE_MEMBER_POD_NAME=f"{REDIS}-1")
    assert result.returncode == 0, result.stderr
    assert f"{REDIS}-1 (127.88.2.2:6379) does not answer" in result.stderr
    result = bed.run("redis-switchover.sh", "redis", 2, KB_SWITCHOVER_CURRENT_NAME=f"{REDIS}-2",
                     KB_SWITCHOVER_CANDIDATE_NAME=f"{REDIS}-1")
    assert result.returncode == 1
    assert f"the candidate {REDIS}-1 (127.88.2.2:6379) does not answer: Could not connect" in result.stderr

    # the quorum is intact: the primary SIGKILLed, the last replica is promoted
    bed.stop("redis", 2, signal.SIGKILL)
    killed = time.monotonic()
    wait_for("member 0 promoted", lambda: bed.role(0) == ("master",), timeout=FAILOVER_WITHIN + 10)
    took = time.monotonic() - killed
    print(f"failover after member-leave and SIGKILL: {took:.1f} s")
    assert took < FAILOVER_WITHIN
    for s in range(3):
        wait_for(f"sentinel {s} names member 0", lambda s=s: bed.view(s) and bed.view(s)[0] == bed.name("redis", 0))
        assert bed.name("redis", 1) not in bed.view(s)[1]  # type: ignore[index]

    # the member's pod comes back with an empty data dir (scaled in, then out again): it replicates from the
    # primary the sentinels name, and they list it again
    assert bed.cli("redis", 0, "SET", "greeting", "welcome back") == ["OK"]
    shutil.rmtree(bed.directory / f"{REDIS}-1")
    bed.start("redis", 1)
    bed.wait_replica(1, 0)
    assert bed.cli("redis", 1, "GET", "greeting") == ["welcome back"]
    for s in range(3):
        wait_for(f"sentinel {s} lists member 1 again",
                 lambda s=s: bed.name("redis", 1) in bed.view(s)[1], timeout=15)  # type: ignore[index]
    bed.assert_no_password()


def test_nodeport_addresses_and_a_sentinel_leaving(beds: Callable[..., Bed]) -> None:
    bed = beds(3, nodeport=True)
    assert bed.redis_list.startswith(f"{REDIS}-redis-advertised-0:127.88.3.101:31000,")
    bed.start_all()
    bed.wait_views(0, [1, 2])  # every address Sentinel knows is a node port
    assert bed.cli("redis", 0, "SET", "greeting", "hello") == ["OK"]
    for n in (1, 2):
        bed.wait_replica(n, 0)
        wait_for(f"greeting on {n}", lambda n=n: bed.cli("redis", n, "GET", "greeting") == ["hello"], timeout=5)
    started = time.monotonic()
    result = bed.run("redis-switchover.sh", "redis", 0, KB_SWITCHOVER_CURRENT_NAME=f"{REDIS}-0",
                     KB_SWITCHOVER_CANDIDATE_NAME=f"{REDIS}-1")
    print(f"switchover (node ports): {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, result.stderr
    assert f"{REDIS}-1 is the primary, 127.88.3.101:31000 ({REDIS}-0) follows it" in result.stderr
    bed.wait_replica(0, 1)
    bed.wait_replica(2, 1)
    bed.wait_views(1, [0, 2])

    # sentinel 2 leaves: it monitors nothing and is locked; the other two see only each other
    leave = {"KB_LEAVE_MEMBER_POD_NAME": f"{SENTINEL}-2"}
    started = time.monotonic()
    result = bed.run("redis-sentinel-member-leave.sh", "sentinel", 2, **leave)
    print(f"sentinel member-leave: {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, result.stderr
    assert f"{SENTINEL}-2 (127.88.3.113:32002) no longer monitors {REDIS}" in result.stderr
    for s in (0, 1):
        other = bed.name("sentinel", 1 - s)
        assert f"sentinel {bed.name('sentinel', s)} forgot {SENTINEL}-2 (127.88.3.113:32002) and sees {other}" \
            in result.stderr
        assert bed.view(s) == bed.expected_view(1, [0, 2], s, [0, 1])
    assert bed.cli("sentinel", 2, "SENTINEL", "MASTERS") == []  # locked
    # the primary's registration loop (every 2 s) must not make it monitor again before its pod goes
    time.sleep(5)
    for s in (0, 1):
        assert bed.view(s) == bed.expected_view(1, [0, 2], s, [0, 1])
        assert bed.cli("sentinel", s, "SENTINEL", "CKQUORUM", REDIS)[0].startswith("OK 2 usable Sentinels")
    result = bed.run("redis-sentinel-member-leave.sh", "sentinel", 2, **leave)
    assert result.returncode == 0, result.stderr
    assert "does not answer" in result.stderr and "forgot" not in result.stderr
    bed.stop("sentinel", 2)
    result = bed.run("redis-sentinel-member-leave.sh", "sentinel", 2, **leave)
    assert result.returncode == 0, result.stderr
    bed.assert_no_password()


def test_without_sentinel_the_lowest_ordinal_is_primary(beds: Callable[..., Bed]) -> None:
    bed = beds(4, sentinels=0)
    for n in (2, 1, 0):
        bed.start("redis", n)
    for n in range(3):
        wait_for(f"redis {n} ready", lambda n=n: bed.ready("redis", n), timeout=15)
    assert bed.role(0) == ("master",)
    for n in (1, 2):
        bed.wait_replica(n, 0)
    assert [bed.probe(n) for n in range(3)] == ["primary", "secondary", "secondary"]
    # restarts: the others' ROLE names the primary
    for n in (1, 0):
        bed.stop("redis", n)
        bed.start("redis", n)
        wait_for(f"redis {n} ready", lambda n=n: bed.ready("redis", n), timeout=15)
        assert "redis-start.sh: the other members name 127.88.4.1:6379 as the primary" in \
            bed.log("redis", n).read_text()
    assert bed.role(0) == ("master",)
    bed.wait_replica(1, 0)
    bed.wait_replica(2, 0)
    result = bed.run("redis-switchover.sh", "redis", 0, KB_SWITCHOVER_CURRENT_NAME=f"{REDIS}-0",
                     KB_SWITCHOVER_CANDIDATE_NAME=f"{REDIS}-1")
    assert result.returncode == 1
    assert f"redis-switchover.sh: {REDIS} has no sentinel component" in result.stderr
    result = bed.run("redis-member-leave.sh", "redis", 2, KB_LEAVE_MEMBER_POD_NAME=f"{REDIS}-2")
    assert result.returncode == 0, result.stderr
    assert "no sentinel component" in result.stderr
    assert bed.procs[f"{REDIS}-0"].poll() is None
    bed.assert_no_password()


def _fakes(directory: Path) -> Path:
    """Fake servers that print their config and exit, a redis-cli for which sentinels monitor nothing and no
    member answers."""
    fake = directory / "fake-bin"
    fake.mkdir()
    for name in ("redis-server", "redis-sentinel"):
        (fake / name).write_text('#!/bin/sh\ncat "$1"\n')
    (fake / "redis-cli").write_text('#!/bin/sh\ncase "$*" in *" -p 26379 "*) echo; exit 0 ;; esac\n'
                                    'echo "Could not connect to Redis: Connection refused" >&2\nexit 1\n')
    for path in fake.iterdir():
        path.chmod(0o755)
    return fake


def _start_once(directory: Path, env: dict[str, str], run: int) -> subprocess.CompletedProcess[str]:
    """start.sh with a fake server that exits at once (the registration loop it leaves behind killed)."""
    out, err = directory / f"out-{run}", directory / f"err-{run}"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(["sh", str(directory / "start.sh")], env=env, stdin=subprocess.DEVNULL,
                                stdout=stdout, stderr=stderr, start_new_session=True)
    try:
        proc.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out.read_text(), err.read_text())


@pytest.mark.parametrize("kind", ["redis", "sentinel"])
def test_host_name_entries_and_the_lines_a_start_script_owns(tmp_path: Path, kind: str) -> None:
    """Host-name entries (Cilium global services): announced as names, port 6379 / 26379. The sentinel's own lines
    are rewritten on every start, what Sentinel wrote is kept."""
    fake = _fakes(tmp_path)
    data = tmp_path / "data"
    members = ",".join(f"{REDIS}-redis-advertised-{n}" for n in range(3))
    sentinels = ",".join(f"{SENTINEL}-sentinel-advertised-{n}" for n in range(3))
    env = {"PATH": f"{fake}:{os.environ['PATH']}", "POD_IP": "10.0.0.7", "REDIS_DATA_DIR": str(data),
           "SENTINEL_PASSWORD": SENTINEL_PASSWORD, "SENTINEL_ADVERTISED": sentinels}
    if kind == "redis":
        env |= {"CURRENT_POD_NAME": f"{REDIS}-1", "REDIS_DEFAULT_PASSWORD": PASSWORD, "REDIS_COMPONENT_NAME": REDIS,
                "REDIS_ADVERTISED": members, "SENTINEL_COMPONENT_NAME": SENTINEL}
        script = SCRIPTS["redis-start.sh"]
    else:
        env |= {"CURRENT_POD_NAME": f"{SENTINEL}-2", "SENTINEL_USER": "default"}
        script = SCRIPTS["redis-sentinel-start.sh"]
        (data / "sentinel").mkdir(parents=True)
        (data / "sentinel/sentinel.conf").write_text(
            'bind 10.9.9.9\nport 26379\nrequirepass "old"\nsentinel announce-ip stale\nsentinel myid 0123abcd\n'
            f"sentinel monitor {REDIS} {REDIS}-redis-advertised-0 6379 2\nsentinel auth-pass {REDIS} x\n"
            "user default on #5e884898da28 ~* &* +@all\nsentinel announce-hostnames no\n")
    (tmp_path / "start.sh").write_text(script)
    runs = [_start_once(tmp_path, env, run) for run in range(2)]
    for result in runs:
        assert result.returncode == 0, result.stderr
        assert PASSWORD not in result.stderr and SENTINEL_PASSWORD not in result.stderr
    conf = runs[1].stdout.splitlines()
    assert runs[0].stdout.splitlines() == conf  # a second start writes the same file
    if kind == "redis":
        assert f"redis-start.sh: starting {REDIS}-1 ({REDIS}-redis-advertised-1:6379) as a replica of " \
               f"{REDIS}-redis-advertised-0:6379" in runs[0].stderr
        assert conf == ["bind 10.0.0.7", "port 6379", f"dir {data}", "appendonly yes",
                        f"replica-announce-ip {REDIS}-redis-advertised-1", "replica-announce-port 6379",
                        "masteruser kbreplicator", f'masterauth "{PASSWORD}"', f"aclfile {data}/users.acl",
                        "repl-diskless-sync-delay 1", "repl-diskless-sync-max-replicas 2",
                        f"replicaof {REDIS}-redis-advertised-0 6379"]
        acl = data / "users.acl"
        assert acl.read_text().splitlines() == [
            f"user default on >{PASSWORD} ~* &* +@all", f"user kbreplicator on +psync +replconf +ping >{PASSWORD}",
            "user kbreplicator-sentinel on allchannels +multi +slaveof +ping +exec +subscribe +config|rewrite +role "
            f"+publish +info +client|setname +client|kill +script|kill >{PASSWORD}"]
        assert acl.stat().st_mode & 0o077 == 0 and (data / "redis.conf").stat().st_mode & 0o077 == 0
    else:
        assert conf == ["bind 10.0.0.7", "port 26379", f"dir {data}/sentinel", "sentinel resolve-hostnames yes",
                        "sentinel announce-hostnames yes", f"sentinel announce-ip {SENTINEL}-sentinel-advertised-2",
                        "sentinel announce-port 26379", f'requirepass "{SENTINEL_PASSWORD}"',
                        "sentinel sentinel-user default", f'sentinel sentinel-pass "{SENTINEL_PASSWORD}"',
                        "sentinel myid 0123abcd", f"sentinel monitor {REDIS} {REDIS}-redis-advertised-0 6379 2",
                        f"sentinel auth-pass {REDIS} x"]
        assert f"starting {SENTINEL}-2 ({SENTINEL}-sentinel-advertised-2:26379), monitoring {REDIS}" in runs[1].stderr
