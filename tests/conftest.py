"""Session fixtures: one local bed (control + 3 data planes on real kube-apiservers) for the whole run,
reused by every test, torn down at the end; a fresh namespace per test in every cluster."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from kbmc.api.crd import all_crds
from kbmc.dev import toolchain
from kbmc.dev.bed import Bed, BedState, port_free
from kbmc.kube.client import new_client
from kbmc.kube.crds import apply_crds
from tests.kube import Clusters


def _free_base_port() -> int:
    """A base port whose whole range (base .. base+110) is free on loopback."""
    for base in range(21000, 60000, 250):
        ports = [base + i for i in range(8)] + [base + 100 + i for i in range(12)]
        if all(port_free(port) for port in ports):
            return base
    raise RuntimeError("no free port range on loopback")


@pytest.fixture(scope="session")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    reuse = os.environ.get("KBMC_TEST_BED")
    if reuse:  # a developer's running bed (`kbmc dev up --dir DIR`): faster iterations, left running
        yield Bed(Path(reuse))
        return
    handle = Bed(tmp_path_factory.mktemp("bed"))
    chain = toolchain.ensure()
    handle.up(chain, data_planes=3, base_port=_free_base_port())
    try:
        yield handle
    finally:
        handle.down()


@pytest.fixture(scope="session")
def bed_state(bed: Bed) -> BedState:
    return bed.load()


@pytest.fixture(scope="session")
def clusters(bed: Bed, bed_state: BedState) -> Clusters:
    return Clusters({c.name: new_client(bed.kubeconfig, c.name, agent="kbmc/test") for c in bed_state.clusters})


@pytest.fixture
def namespace(request: pytest.FixtureRequest, clusters: Clusters) -> Iterator[str]:
    """A namespace named after the test, created in every cluster and deleted afterwards."""
    digest = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:6]
    name = re.sub(r"[^a-z0-9-]+", "-", request.node.originalname.lower())[:48].strip("-") + f"-{digest}"
    for api in clusters.values():
        client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    yield name
    for api in clusters.values():
        with contextlib.suppress(client.ApiException):
            client.CoreV1Api(api).delete_namespace(name)


@pytest.fixture(scope="session")
def crds(clusters: Clusters) -> None:
    """kbmc's CRDs installed in the control plane."""
    apply_crds(clusters["control"], list(all_crds().values()))
