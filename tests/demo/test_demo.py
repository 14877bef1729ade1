"""The README's demo command end to end, in a bed of its own: bed, install, operator, a real etcd across
three data planes answering etcdctl, and ``kbmc dev down`` leaving no process behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kbmc.dev.bed import Bed, free_base_port


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    env = {**os.environ, "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-m", "kbmc", "dev", "demo", "--dir", str(directory), "--base-port",
                             str(free_base_port())], capture_output=True, text=True, timeout=600, check=False,
                            env=env)
    try:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "etcd is running across k8s-1, k8s-2, k8s-3." in result.stdout
        state = Bed(directory).load()
        assert state.operator is not None
        etcdctl = [f"{state.bin_dir}/etcdctl", "--endpoints=http://127.1.0.10:2379,http://127.3.0.10:2379"]
        listed = subprocess.run([*etcdctl, "member", "list"], capture_output=True, text=True, check=False,
                                env={**env, "ETCDCTL_API": "3"}, timeout=30)
        assert listed.returncode == 0 and listed.stdout.count("started") == 3, listed.stdout + listed.stderr
    finally:
        subprocess.run([sys.executable, "-m", "kbmc", "dev", "down", "--dir", str(directory)], check=False,
                       capture_output=True, timeout=120)
    pids = [p.pid for p in [state.operator, *(p for c in state.clusters for p in c.procs.values())] if p]
    assert all(not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
               for pid in pids)
