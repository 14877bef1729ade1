"""``kbmc dev`` as a user runs it: every mistake gives a clear message and a non-zero exit, nothing half-started.

Matrix: status table | second ``up`` reuses what runs | unknown cluster name | ``--data-planes`` differing
from the running bed | ports already taken | missing / corrupt toolchain cache detected | failing build names
its step and log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kbmc.dev import toolchain
from kbmc.dev.bed import Bed, BedState
from kbmc.errors import ToolchainError


def kbmc(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kbmc", *args], capture_output=True, text=True, timeout=300,
                          check=False, env={**os.environ, "COLUMNS": "200", **(env or {})})


def test_status_shows_every_cluster(bed: Bed) -> None:
    result = kbmc("dev", "status", "--dir", str(bed.directory))
    assert result.returncode == 0, result.stderr
    for name in ("control", "k8s-1", "k8s-2", "k8s-3"):
        assert name in result.stdout
    assert "up" in result.stdout
    assert str(bed.kubeconfig) in result.stdout


def test_second_up_reuses_what_runs(bed: Bed, bed_state: BedState) -> None:
    before = {c.name: {k: p.pid for k, p in c.procs.items()} for c in bed.load().clusters}
    result = kbmc("dev", "up", "--dir", str(bed.directory))
    assert result.returncode == 0, result.stderr
    after = {c.name: {k: p.pid for k, p in c.procs.items()} for c in bed.load().clusters}
    assert after == before


@pytest.mark.parametrize("verb", ["stop", "start", "freeze", "thaw"])
def test_unknown_cluster_name_is_refused(bed: Bed, verb: str) -> None:
    result = kbmc("dev", verb, "k8s-9", "--dir", str(bed.directory))
    assert result.returncode == 1
    assert "no cluster named 'k8s-9'" in result.stderr
    assert "control, k8s-1, k8s-2, k8s-3" in result.stderr


def test_other_number_of_data_planes_is_refused(bed: Bed) -> None:
    result = kbmc("dev", "up", "--dir", str(bed.directory), "--data-planes", "5")
    assert result.returncode == 1
    assert "has 3 data planes, not 5" in result.stderr


def test_up_on_ports_taken_starts_nothing(bed_state: BedState, tmp_path: Path) -> None:
    target = tmp_path / "second"
    result = kbmc("dev", "up", "--dir", str(target), "--base-port", str(bed_state.base_port))
    assert result.returncode == 1
    assert f"{bed_state.base_port} (kube-apiserver of control)" in result.stderr
    assert not (target / "state.json").exists()


def test_commands_without_a_bed_say_so(tmp_path: Path) -> None:
    result = kbmc("dev", "status", "--dir", str(tmp_path / "none"))
    assert result.returncode == 1
    assert "run `kbmc dev up` first" in result.stderr


def test_corrupt_cache_is_detected(tmp_path: Path) -> None:
    assert toolchain.verify(tmp_path) == f"no manifest at {tmp_path / 'manifest.json'}"
    (tmp_path / "bin").mkdir()
    for name in toolchain.BINARIES:
        (tmp_path / "bin" / name).write_bytes(b"truncated")
    (tmp_path / "manifest.json").write_text(json.dumps({"sha256": {n: "0" * 64 for n in toolchain.BINARIES}}))
    assert toolchain.verify(tmp_path) == f"{tmp_path / 'bin' / 'kube-apiserver'} does not match its recorded checksum"
    (tmp_path / "manifest.json").write_text("{not json")
    problem = toolchain.verify(tmp_path)
    assert problem is not None and "unreadable" in problem


def test_failing_build_names_the_step_and_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KBMC_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("KBMC_KUBE_BIN_DIR", raising=False)
    with pytest.raises(ToolchainError) as err:
        toolchain.ensure(version="0.0-no-such-version")
    message = str(err.value)
    assert "step 'download the kubernetes source package" in message
    log = tmp_path / "build-0.0-no-such-version.log"
    assert f"log: {log}" in message
    assert "kubernetes=0.0-no-such-version" in log.read_text()
    target = toolchain.toolchain_dir("0.0-no-such-version")
    assert not target.exists()
    assert not target.with_name(target.name + ".build").exists()
