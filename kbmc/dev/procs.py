"""Background processes of the bed: start detached, recognise them again by pid and start time, pause,
resume and stop them. Linux only (reads /proc)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel

# Popen objects of children started by this Python process, so they are reaped (no zombies) on stop.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class ProcState(StrEnum):
    RUNNING = "running"
    FROZEN = "frozen"
    STOPPED = "stopped"


class Proc(BaseModel):
    """A process the bed started: its pid and kernel start time (guards against pid reuse)."""

    pid: int
    starttime: int

    def state(self) -> ProcState:
        stat = _stat(self.pid)
        if stat is None or stat[1] != self.starttime or stat[0] in ("Z", "X"):
            return ProcState.STOPPED
        return ProcState.FROZEN if stat[0] in ("T", "t") else ProcState.RUNNING


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of ``pid``, or None when there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def spawn(argv: list[str], log: Path, cwd: Path, env: dict[str, str] | None = None) -> Proc:
    """Start ``argv`` in its own session, output appended to ``log``."""
    with log.open("ab") as out:
        child = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    _CHILDREN[child.pid] = child
    stat = _stat(child.pid)
    return Proc(pid=child.pid, starttime=stat[1] if stat else 0)


def freeze(proc: Proc) -> None:
    if proc.state() is not ProcState.STOPPED:
        os.kill(proc.pid, signal.SIGSTOP)


def thaw(proc: Proc) -> None:
    if proc.state() is not ProcState.STOPPED:
        os.kill(proc.pid, signal.SIGCONT)


def terminate(procs: list[Proc], grace: float = 10.0) -> None:
    """Stop every process (SIGCONT, SIGTERM, then SIGKILL after ``grace`` seconds) and wait for them."""
    live = [p for p in procs if p.state() is not ProcState.STOPPED]
    for sig in (signal.SIGCONT, signal.SIGTERM):
        for proc in live:
            _signal_group(proc, sig)
    deadline = time.monotonic() + grace
    while live and time.monotonic() < deadline:
        _reap()
        live = [p for p in live if p.state() is not ProcState.STOPPED]
        time.sleep(0.05)
    for proc in live:
        _signal_group(proc, signal.SIGKILL)
    while live:
        _reap()
        live = [p for p in live if p.state() is not ProcState.STOPPED]
        time.sleep(0.02)


def _signal_group(proc: Proc, sig: signal.Signals) -> None:
    """Signal the process and the session it leads (a node agent's own children go with it)."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)


def _reap() -> None:
    for pid, child in list(_CHILDREN.items()):
        if child.poll() is not None:
            del _CHILDREN[pid]
