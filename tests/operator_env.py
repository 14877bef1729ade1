"""The operator under test: kbmc's CRDs, the etcd addon and the data planes' kubeconfig Secret installed
into the bed's control plane, and ``kbmc operator run`` as a real subprocess."""

from __future__ import annotations

import base64
import contextlib
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from kbmc import settings
from kbmc.dev.bed import Bed, free_port
from kbmc.errors import ConflictError
from kbmc.kube import rest
from tests.kube import wait_object

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = settings.NAMESPACE
SECRET = settings.KUBECONFIG_SECRET
DATA_PLANES = ("k8s-1", "k8s-2", "k8s-3")


def create(api: client.ApiClient, kind: str, namespace: str | None, body: dict[str, Any]) -> None:
    with contextlib.suppress(ConflictError):
        rest.call(api, "POST", rest.path(kind, namespace), body=body)


def operator_kubeconfig(bed: Bed) -> dict[str, Any]:
    """The bed's kubeconfig with the operator's own identity in every context (its token can be rotated
    without touching the tests' admin clients)."""
    kubeconfig: dict[str, Any] = yaml.safe_load(bed.kubeconfig.read_text())
    state = bed.load()
    for user in kubeconfig["users"]:
        user["user"]["token"] = state.cluster(user["name"].removesuffix("-admin")).tokens["operator"]
    return kubeconfig


def reported_etcd() -> dict[str, Any]:
    """The etcd addon without lifecycle actions (``tests.operator.helpers.REPORTED_ETCD``): for pods the node
    agents only report Running."""
    addon: dict[str, Any] = yaml.safe_load((ROOT / "addons" / "etcd" / "componentdefinition.yaml").read_text())
    addon["metadata"]["name"] = "etcd-noagent-0.9.0"
    del addon["spec"]["lifecycleActions"]
    return addon


def install(bed: Bed, control: client.ApiClient) -> None:
    """What a user does: the kubeconfig Secret, then ``kbmc install --local``."""
    create(control, "Namespace", None, {"metadata": {"name": NAMESPACE}})
    kubeconfig = base64.b64encode(yaml.safe_dump(operator_kubeconfig(bed)).encode()).decode()
    create(control, "Secret", NAMESPACE, {"metadata": {"name": SECRET}, "data": {"kubeconfig": kubeconfig}})
    result = subprocess.run([sys.executable, "-m", "kbmc", "install", "--kubeconfig", str(bed.kubeconfig),
                             "--context", "control", "--kubeconfig-secret", SECRET,
                             "--contexts", ",".join(DATA_PLANES), "--local"], capture_output=True, text=True,
                            check=False, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    create(control, "ComponentDefinition", None, reported_etcd())


@dataclass
class Operator:
    """``kbmc operator run`` against the bed, restartable by tests."""

    bed: Bed
    control: client.ApiClient
    kubeconfig: Path | None = None
    """The operator's kubeconfig of the control plane (default: the bed's)."""
    process: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)
    metrics_port: int = field(init=False)
    liveness_port: int = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.bed.directory / "operator.log"
        self.metrics_port, self.liveness_port = free_port(), free_port()

    def start(self) -> None:
        argv = [sys.executable, "-m", "kbmc", "operator", "run", "--kubeconfig", str(self.kubeconfig or
                                                                                     self.bed.kubeconfig),
                "--context", "control", "--contexts", ",".join(DATA_PLANES), "--probe-interval", "1",
                # the suite's one operator; tests/operator/test_in_cluster.py stops it before the Deployment's run
                "--no-leader-elect",
                "--metrics-port", str(self.metrics_port), "--liveness-port", str(self.liveness_port)]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        for name in DATA_PLANES:
            wait_object(self.control, "DataPlane", None, name,
                        lambda dp: bool(dp and (dp.get("status") or {}).get("reachable")), timeout=60)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.process is None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
