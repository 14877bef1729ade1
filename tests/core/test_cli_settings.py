"""``kbmc operator run`` turns its flags, or their ``KBMC_*`` environment variables, into the grouped Settings;
its defaults are the settings' own. The operator itself is replaced by a stand-in that keeps the Settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kbmc import settings
from kbmc.cli import app
from kbmc.settings import DataPlaneSettings, LeaderSettings, QueueSettings, Settings

runner = CliRunner()
ENV = ("KBMC_KUBECONFIG", "KBMC_CONTEXT", "KBMC_NAMESPACE", "KBMC_KUBECONFIG_SECRET", "KBMC_CONTEXTS",
       "KBMC_WORKERS", "KBMC_METRICS_PORT", "KBMC_LIVENESS_PORT", "KBMC_PROBE_INTERVAL", "KBMC_LEADER_ELECT",
       "KBMC_LEADER_ELECT_LEASE_DURATION", "KBMC_LEADER_ELECT_RENEW_DEADLINE", "KBMC_LEADER_ELECT_RETRY_PERIOD")


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    handlers = pytest.importorskip("kbmc.operator.handlers")  # the name `kbmc operator run` imports
    out: list[Settings] = []

    def stand_in(value: Settings) -> int:
        out.append(value)
        return 0

    monkeypatch.setattr(handlers, "run", stand_in)
    for name in (*ENV, "KUBERNETES_SERVICE_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POD_NAME", "kbmc-operator-0")  # the identity in the Lease, as a Deployment sets it
    return out


def test_environment_variables_reach_the_settings(seen: list[Settings], tmp_path: Path) -> None:
    env = {"KBMC_KUBECONFIG": str(tmp_path / "kubeconfig"), "KBMC_CONTEXT": "control", "KBMC_NAMESPACE": "ops",
           "KBMC_KUBECONFIG_SECRET": "planes", "KBMC_CONTEXTS": "k8s-1,k8s-2", "KBMC_WORKERS": "3",
           "KBMC_METRICS_PORT": "9090", "KBMC_LIVENESS_PORT": "9091", "KBMC_PROBE_INTERVAL": "2.5",
           "KBMC_LEADER_ELECT_LEASE_DURATION": "30", "KBMC_LEADER_ELECT_RENEW_DEADLINE": "20"}
    result = runner.invoke(app, ["operator", "run"], env=env)
    assert result.exit_code == 0, result.output
    [got] = seen
    assert got == Settings(kubeconfig=tmp_path / "kubeconfig", context="control", namespace="ops",
                           kubeconfig_secret="planes", contexts=("k8s-1", "k8s-2"), metrics_port=9090,
                           liveness_port=9091, queue=QueueSettings(workers=3),
                           dataplanes=DataPlaneSettings(probe_interval=2.5),
                           leader=LeaderSettings(lease_duration=30, renew_deadline=20))
    assert got.identity == "kbmc-operator-0"


def test_a_flag_wins_over_its_environment_variable(seen: list[Settings], tmp_path: Path) -> None:
    result = runner.invoke(app, ["operator", "run", "--kubeconfig", str(tmp_path / "k"), "--workers", "7"],
                           env={"KBMC_WORKERS": "3"})
    assert result.exit_code == 0, result.output
    assert seen[0].queue.workers == 7


def test_defaults_are_the_settings_own(seen: list[Settings], tmp_path: Path) -> None:
    result = runner.invoke(app, ["operator", "run", "--kubeconfig", str(tmp_path / "k")])
    assert result.exit_code == 0, result.output
    assert seen == [Settings(kubeconfig=tmp_path / "k")]
    assert (seen[0].namespace, seen[0].kubeconfig_secret) == (settings.NAMESPACE, settings.KUBECONFIG_SECRET)


def test_leader_election_timing_is_checked(seen: list[Settings]) -> None:
    result = runner.invoke(app, ["operator", "run", "--leader-elect-renew-deadline", "15"])
    assert result.exit_code != 0 and not seen
    said = str(result.exception)
    assert "--leader-elect-renew-deadline 15 must be less than --leader-elect-lease-duration 15" in said


def test_help_names_every_environment_variable() -> None:
    result = runner.invoke(app, ["operator", "run", "--help"], env={"COLUMNS": "200", "TERM": "dumb"})
    assert result.exit_code == 0, result.output
    missing = [name for name in ENV if name not in result.output]
    assert not missing, result.output
