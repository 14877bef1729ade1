"""The etcd addon's scripts (addons/etcd/scripts.yaml) on real etcd processes, without Kubernetes.

Each member is the toolchain's etcd started by start.sh as its pod would (CURRENT_POD_NAME, POD_IP, PEER_ENDPOINT,
its own data dir) on a loopback address 127.77.<test>.<n + 1>; the lifecycle actions run with ``sh`` and the env
of the pod they run on. Matrix: 3 members bootstrap together | roleprobe: one leader, the others followers, a
learner, a member that does not answer | switchover with a candidate, without, again (nothing to do), a named
candidate that does not lead when the current no longer does (refused) | start.sh refuses a member whose data dir
is lost (what to do, no data dir written) | two members bootstrap, the third joins them later | a new member
started before member-join is refused | 3 -> 4 -> 5 by member-join then start.sh (member list exact at each step,
a key written before read through the new member, member-join idempotent before and after the start, refused
without an entry) | 5 -> 3 by member-leave on the leaving pod (the leader hands over first), member-leave
idempotent, writes still committed | member-join reads each PEER_ENDPOINT format (a fake etcdctl).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from kbmc.dev import toolchain

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS: dict[str, str] = yaml.safe_load((ROOT / "addons/etcd/scripts.yaml").read_text())["data"]
PREFIX = "raft-etcd"


def _bin_dir() -> Path | None:
    """The toolchain's etcd and etcdctl, if cached (never built here)."""
    override = toolchain.bin_dir_override()
    directory = Path(override) if override else toolchain.toolchain_dir() / "bin"
    return directory if all((directory / b).is_file() for b in ("etcd", "etcdctl")) else None


BIN = _bin_dir()
needs_etcd = pytest.mark.skipif(BIN is None, reason="no cached toolchain etcd/etcdctl (kbmc dev toolchain builds it)")

Member = tuple[str, str, str]
"""(name, peer URL, client URL) as ``etcdctl member list`` reports it; empty name and client URL: unstarted."""


class Group:
    """Members of one raft group as processes: member n is pod raft-etcd-<n> at 127.77.<subnet>.<n + 1>."""

    def __init__(self, directory: Path, subnet: int) -> None:
        assert BIN is not None
        self.bin = BIN
        self.directory = directory
        self.subnet = subnet
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        for name, text in SCRIPTS.items():
            (directory / name).write_text(text)

    def address(self, n: int) -> str:
        return f"127.77.{self.subnet}.{n + 1}"

    def peers(self, count: int) -> str:
        """PEER_ENDPOINT of a group of ``count`` members (LoadBalancer form, peer port 2380)."""
        return ",".join(f"peer-{n}:{self.address(n)}" for n in range(count))

    def client(self, n: int) -> str:
        return f"http://{self.address(n)}:2379"

    def member(self, n: int) -> Member:
        return f"{PREFIX}-{n}", f"http://{self.address(n)}:2380", self.client(n)

    def env(self, n: int, peers: str, **extra: str) -> dict[str, str]:
        """The environment of pod n's containers (and of the actions run there)."""
        return {"PATH": f"{self.bin}:{os.environ['PATH']}", "CURRENT_POD_NAME": f"{PREFIX}-{n}",
                "POD_IP": self.address(n), "PEER_ENDPOINT": peers,
                "ETCD_DATA_DIR": str(self.directory / f"{PREFIX}-{n}"), **extra}

    def log(self, n: int) -> Path:
        return self.directory / f"{PREFIX}-{n}.log"

    def start(self, n: int, peers: str) -> None:
        """Run start.sh as pod n's container (in its own process group: start.sh execs etcd)."""
        with self.log(n).open("ab") as out:
            self.procs[n] = subprocess.Popen(["sh", str(self.directory / "start.sh")], env=self.env(n, peers),
                                             stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                             start_new_session=True)

    def stop(self, n: int, grace: float = 5) -> None:
        proc = self.procs.pop(n)
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
            if proc.poll() is not None:
                break
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for n in list(self.procs):
            self.stop(n, grace=0.5)

    def ctl(self, n: int, *args: str, timeout: str = "3s") -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.bin / "etcdctl"), f"--endpoints={self.client(n)}", "--dial-timeout=1s",
                               f"--command-timeout={timeout}", *args], env={"ETCDCTL_API": "3"},
                              capture_output=True, text=True, timeout=30, check=False)

    def wait_ready(self, n: int, timeout: float = 20, learner: bool = False) -> None:
        """Until member n is healthy (a learner: until it serves; learners refuse the health check's read)."""
        check = ("endpoint", "status") if learner else ("endpoint", "health")
        deadline = time.monotonic() + timeout
        while True:
            proc = self.procs[n]
            assert proc.poll() is None, f"{PREFIX}-{n} exited {proc.returncode}:\n{self.log(n).read_text()[-3000:]}"
            result = self.ctl(n, *check, timeout="2s")
            if result.returncode == 0:
                return
            assert time.monotonic() < deadline, f"{PREFIX}-{n} not ready: {result.stderr}\n" \
                                                f"{self.log(n).read_text()[-3000:]}"
            time.sleep(0.3)

    def action(self, script: str, n: int, peers: str, **extra: str) -> subprocess.CompletedProcess[str]:
        """Run a lifecycle action as kbmc's agent does, in pod n (its env plus the action's)."""
        return subprocess.run(["sh", str(self.directory / script)], env=self.env(n, peers, **extra),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False)

    def members(self, n: int) -> list[Member]:
        result = self.ctl(n, "member", "list", "-w", "json")
        assert result.returncode == 0, result.stderr
        return sorted((m.get("name", ""), m["peerURLs"][0], ",".join(m.get("clientURLs", [])))
                      for m in json.loads(result.stdout)["members"])

    def role(self, n: int, peers: str) -> str:
        result = self.action("roleprobe.sh", n, peers)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def roles(self, ns: list[int], peers: str, timeout: float = 10) -> dict[int, str]:
        """Every member's probed role once the group has exactly one leader (an election may be under way)."""
        deadline = time.monotonic() + timeout
        while True:
            found = {n: self.role(n, peers) for n in ns}
            if list(found.values()).count("leader") == 1 or time.monotonic() > deadline:
                return found
            time.sleep(0.5)

    def leader(self, ns: list[int], peers: str) -> int:
        found = self.roles(ns, peers)
        assert sorted(found.values()).count("leader") == 1, found
        return next(n for n, role in found.items() if role == "leader")


@pytest.fixture
def groups(tmp_path: Path) -> Iterator[Callable[[int], Group]]:
    """Make a Group (on its own subnet, one per test); every member it started is stopped afterwards."""
    made: list[Group] = []

    def make(subnet: int) -> Group:
        made.append(Group(tmp_path, subnet))
        return made[-1]

    try:
        yield make
    finally:
        for handle in made:
            handle.stop_all()


@pytest.mark.parametrize(("endpoints", "peer", "asked"), [
    ("c-etcd-peer-0:10.1.0.1,c-etcd-peer-1:10.2.0.1,c-etcd-peer-2:10.3.0.1", "http://10.2.0.1:2380",
     ["http://10.1.0.1:2379", "http://10.3.0.1:2379"]),
    ("c-etcd-peer-0:10.1.0.1:31001,c-etcd-peer-1:10.2.0.1:31002,c-etcd-peer-2:10.3.0.1:31003",
     "http://10.2.0.1:31002", ["http://10.1.0.1:2379", "http://10.3.0.1:2379"]),
    ("c-etcd-peer-0,c-etcd-peer-1,c-etcd-peer-2", "http://c-etcd-peer-1:2380",
     ["http://c-etcd-peer-0:2379", "http://c-etcd-peer-2:2379"]),
])
def test_member_join_reads_every_peer_endpoint_format(tmp_path: Path, endpoints: str, peer: str,
                                                      asked: list[str]) -> None:
    """A fake etcdctl: the first member does not answer, the second lists nobody with the peer URL, adds it."""
    fake = tmp_path / "bin" / "etcdctl"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/calls\n'
                    f'case "$*" in *{asked[0]}*) echo "Error: context deadline exceeded" >&2; exit 1 ;; esac\n'
                    'case "$*" in *"member add"*) echo "Member 1 added to cluster 2" ;; esac\n')
    fake.chmod(0o755)
    (tmp_path / "member-join.sh").write_text(SCRIPTS["member-join.sh"])
    env = {"PATH": f"{fake.parent}:{os.environ['PATH']}", "PEER_ENDPOINT": endpoints,
           "KB_JOIN_MEMBER_POD_NAME": "c-etcd-1"}
    result = subprocess.run(["sh", str(tmp_path / "member-join.sh")], env=env, capture_output=True, text=True,
                            timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert [c.split()[0] for c in calls] == [f"--endpoints={asked[0]}", f"--endpoints={asked[1]}",
                                             f"--endpoints={asked[1]}"]
    assert calls[2].endswith(f"member add c-etcd-1 --peer-urls={peer}")
    assert result.stderr.splitlines() == [
        f"member-join.sh: {asked[0]} does not answer: Error: context deadline exceeded",
        f"member-join.sh: added c-etcd-1 ({peer}) through {asked[1]}: Member 1 added to cluster 2"]


@needs_etcd
def test_roleprobe_fails_when_the_member_does_not_answer(tmp_path: Path) -> None:
    group = Group(tmp_path, subnet=9)
    result = group.action("roleprobe.sh", 0, group.peers(1))
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr.startswith(f"roleprobe.sh: {group.client(0)} does not answer")


@needs_etcd
def test_a_group_bootstraps_probes_roles_and_switches_over(groups: Callable[[int], Group]) -> None:
    group = groups(1)
    peers = group.peers(3)
    for n in range(3):
        group.start(n, peers)
    for n in range(3):
        group.wait_ready(n)
    assert group.members(0) == sorted(group.member(n) for n in range(3))
    roles = group.roles([0, 1, 2], peers)
    assert sorted(roles.values()) == ["follower", "follower", "leader"], roles

    # with a candidate: leadership moves there, roleprobe agrees
    current = group.leader([0, 1, 2], peers)
    candidate = (current + 1) % 3
    other = 3 - current - candidate
    switch = {"KB_SWITCHOVER_CURRENT_NAME": f"{PREFIX}-{current}",
              "KB_SWITCHOVER_CANDIDATE_NAME": f"{PREFIX}-{candidate}"}
    result = group.action("switchover.sh", current, peers, **switch)
    assert result.returncode == 0, result.stderr
    assert f"leadership moved from {PREFIX}-{current} to {PREFIX}-{candidate}" in result.stderr
    assert group.roles([0, 1, 2], peers) == {current: "follower", candidate: "leader", other: "follower"}
    # again: the candidate leads already
    result = group.action("switchover.sh", current, peers, **switch)
    assert result.returncode == 0, result.stderr
    assert "already leads: nothing to do" in result.stderr
    # the current does not lead and the named candidate does not either: refused
    result = group.action("switchover.sh", current, peers, KB_SWITCHOVER_CURRENT_NAME=f"{PREFIX}-{current}",
                          KB_SWITCHOVER_CANDIDATE_NAME=f"{PREFIX}-{other}")
    assert result.returncode == 1
    assert f"switchover.sh: {PREFIX}-{current} does not lead and neither does the candidate {PREFIX}-{other}" \
           f" (leader: {PREFIX}-{candidate})" in result.stderr

    # without a candidate: another member leads; again: nothing to do
    result = group.action("switchover.sh", candidate, peers, KB_SWITCHOVER_CURRENT_NAME=f"{PREFIX}-{candidate}")
    assert result.returncode == 0, result.stderr
    moved = group.leader([0, 1, 2], peers)
    assert moved != candidate
    result = group.action("switchover.sh", candidate, peers, KB_SWITCHOVER_CURRENT_NAME=f"{PREFIX}-{candidate}")
    assert result.returncode == 0, result.stderr
    assert "no longer leads" in result.stderr
    assert group.leader([0, 1, 2], peers) == moved

    # a learner added and started with start.sh: roleprobe says learner
    peers4 = group.peers(4)
    deadline = time.monotonic() + 15  # etcd refuses a change until its peers were connected for 5 s
    while (added := group.ctl(0, "member", "add", f"{PREFIX}-3", "--learner",
                              f"--peer-urls=http://{group.address(3)}:2380")).returncode != 0:
        assert "unhealthy cluster" in added.stderr and time.monotonic() < deadline, added.stderr
        time.sleep(0.5)
    group.start(3, peers4)
    group.wait_ready(3, learner=True)
    assert group.role(3, peers4) == "learner"
    assert "joining the running group" in group.log(3).read_text()

    # a member whose data dir is lost: start.sh refuses, says what to do, and writes no data dir
    lost = next(n for n in range(3) if n != moved)
    group.stop(lost)
    shutil.rmtree(group.directory / f"{PREFIX}-{lost}")
    group.start(lost, peers)
    assert group.procs[lost].wait(timeout=20) == 1
    assert f"start.sh: the group lists http://{group.address(lost)}:2380 as started" in group.log(lost).read_text()
    assert not (group.directory / f"{PREFIX}-{lost}").exists()


@needs_etcd
def test_the_group_scales_out_and_in_through_member_join_and_leave(groups: Callable[[int], Group]) -> None:
    group = groups(2)
    peers = group.peers(3)
    group.start(0, peers)
    group.start(1, peers)
    group.wait_ready(0)
    group.wait_ready(1)
    group.start(2, peers)  # the group formed without it: it joins (existing) as a new member would
    group.wait_ready(2)
    assert "joining the running group" in group.log(2).read_text()
    assert group.members(2) == sorted(group.member(n) for n in range(3))
    assert group.ctl(0, "put", "greeting", "hello").returncode == 0

    # refused: PEER_ENDPOINT without the new member's entry
    result = group.action("member-join.sh", 0, peers, KB_JOIN_MEMBER_POD_NAME=f"{PREFIX}-3")
    assert result.returncode == 1
    assert f"member-join.sh: no entry for ordinal 3 in PEER_ENDPOINT={peers}" in result.stderr
    # a new member's pod started before member-join: start.sh refuses (no second group, no data dir)
    group.start(3, group.peers(4))
    assert group.procs[3].wait(timeout=20) == 1
    assert "start.sh: the running group has no member http" in group.log(3).read_text()
    assert not (group.directory / f"{PREFIX}-3").exists()

    for new in (3, 4):  # 3 -> 4 -> 5: member-join on an existing member, then the new member's start.sh
        peers = group.peers(new + 1)
        name, peer, _ = group.member(new)
        result = group.action("member-join.sh", new - 2, peers, KB_JOIN_MEMBER_POD_NAME=name)
        assert result.returncode == 0, result.stderr
        assert f"member-join.sh: added {name} ({peer})" in result.stderr
        assert group.members(0) == sorted([*(group.member(n) for n in range(new)), ("", peer, "")])
        result = group.action("member-join.sh", 0, peers, KB_JOIN_MEMBER_POD_NAME=name)
        assert result.returncode == 0, result.stderr
        assert "is already a member" in result.stderr
        group.start(new, peers)
        group.wait_ready(new)
        assert group.members(new) == sorted(group.member(n) for n in range(new + 1))
        got = group.ctl(new, "get", "greeting", "--print-value-only")
        assert got.stdout.strip() == "hello", got.stderr
        result = group.action("member-join.sh", 1, peers, KB_JOIN_MEMBER_POD_NAME=name)
        assert result.returncode == 0 and "is already a member" in result.stderr, result.stderr
    assert sorted(group.roles(list(range(5)), peers).values()) == ["follower"] * 4 + ["leader"]

    # 5 -> 4: member-leave on the leaving pod, then the pod goes; again (its etcd gone): not a member
    peers5 = peers
    result = group.action("member-leave.sh", 4, peers5, KB_LEAVE_MEMBER_POD_NAME=f"{PREFIX}-4")
    assert result.returncode == 0, result.stderr
    assert f"member-leave.sh: removed {PREFIX}-4" in result.stderr
    group.stop(4)
    assert group.members(0) == sorted(group.member(n) for n in range(4))
    result = group.action("member-leave.sh", 4, peers5, KB_LEAVE_MEMBER_POD_NAME=f"{PREFIX}-4")
    assert result.returncode == 0, result.stderr
    assert f"member-leave.sh: {PREFIX}-4 is not a member" in result.stderr

    # 4 -> 3: the leaving member leads: it hands leadership over, then leaves
    peers4 = group.peers(4)
    current = group.leader(list(range(4)), peers4)
    if current != 3:
        result = group.action("switchover.sh", current, peers4, KB_SWITCHOVER_CURRENT_NAME=f"{PREFIX}-{current}",
                              KB_SWITCHOVER_CANDIDATE_NAME=f"{PREFIX}-3")
        assert result.returncode == 0, result.stderr
    assert group.role(3, peers4) == "leader"
    result = group.action("member-leave.sh", 3, peers4, KB_LEAVE_MEMBER_POD_NAME=f"{PREFIX}-3")
    assert result.returncode == 0, result.stderr
    assert f"member-leave.sh: {PREFIX}-3 led: leadership moved to" in result.stderr
    group.stop(3)
    peers = group.peers(3)
    assert group.members(1) == sorted(group.member(n) for n in range(3))
    assert sorted(group.roles([0, 1, 2], peers).values()) == ["follower", "follower", "leader"]
    assert group.ctl(2, "put", "greeting", "bye").returncode == 0
    assert group.ctl(0, "get", "greeting", "--print-value-only").stdout.strip() == "bye"
    result = group.action("member-leave.sh", 0, peers, KB_LEAVE_MEMBER_POD_NAME=f"{PREFIX}-3")
    assert result.returncode == 0 and "is not a member" in result.stderr, result.stderr
