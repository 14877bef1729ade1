"""Session fixtures: one local bed (control + 3 data planes on real kube-apiservers) for the whole run,
reused by every test, torn down at the end; a fresh namespace per test in every cluster."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from kbmc.api.crd import all_crds
from kbmc.dev import toolchain
from kbmc.dev.bed import Bed, BedState, free_base_port
from kbmc.errors import ApiError
from kbmc.kube import rest
from kbmc.kube.client import new_client
from kbmc.kube.crds import apply_crds
from tests.kube import Clusters, wait_object
from tests.operator_env import Operator, install


@pytest.fixture(scope="session")
def bed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    reuse = os.environ.get("KBMC_TEST_BED")
    if reuse:  # a developer's running bed (`kbmc dev up --dir DIR`): faster iterations, left running
        yield Bed(Path(reuse))
        return
    handle = Bed(tmp_path_factory.mktemp("bed"))
    chain = toolchain.ensure()
    # a second before a pod's containers start, as an image pull: a rolling change then has to wait for readiness
    handle.up(chain, data_planes=3, base_port=free_base_port(), start_delay=1.0)
    try:
        yield handle
    finally:
        if request.session.testsfailed:  # the logs outlive the bed: a failure once is a cause to find
            kept = tmp_path_factory.getbasetemp() / "bed-logs"
            shutil.copytree(handle.directory, kept, ignore=lambda _d, files: [
                f for f in files if not f.endswith(".log") and not (Path(_d) / f).is_dir()], dirs_exist_ok=True)
            print(f"\nlogs of the bed (operator, API servers, audit): {kept}")
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
        try:
            client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
        except client.ApiException as exc:  # left terminating by an earlier run on a reused bed
            if exc.status != 409:
                raise
            wait_object(api, "Namespace", None, name, lambda ns: ns is None, timeout=60)
            client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    for api in clusters.values():  # as in a real cluster, pods need the namespace's token first
        with contextlib.suppress(TimeoutError, ApiError):
            wait_object(api, "ServiceAccount", name, "default", lambda sa: bool(sa and sa.get("secrets")),
                        timeout=30)
    yield name
    _delete_clusters(clusters["control"], name)
    for api in clusters.values():
        with contextlib.suppress(client.ApiException):
            client.CoreV1Api(api).delete_namespace(name)


@pytest.fixture(scope="session")
def crds(clusters: Clusters) -> None:
    """kbmc's CRDs installed in the control plane."""
    apply_crds(clusters["control"], list(all_crds().values()))


@pytest.fixture(scope="session")
def operator(bed: Bed, clusters: Clusters, crds: None) -> Iterator[Operator]:
    """kbmc's operator running against the bed (CRDs, etcd addon and kubeconfig Secret installed)."""
    install(bed, clusters["control"])
    handle = Operator(bed, clusters["control"])
    handle.start()
    try:
        yield handle
    finally:
        handle.stop()


def _delete_clusters(control: client.ApiClient, namespace: str) -> None:
    """Let kbmc clean up a test's Clusters before their namespaces go (as a user would)."""
    try:
        listed = rest.call(control, "GET", rest.path("Cluster", namespace))
    except ApiError:
        return  # no CRDs installed (bed-only tests) or control plane stopped
    for item in listed["items"]:
        name = item["metadata"]["name"]
        if item["spec"].get("terminationPolicy") == "DoNotTerminate":
            rest.call(control, "PATCH", rest.path("Cluster", namespace, name), content_type=rest.MERGE_PATCH,
                      body={"spec": {"terminationPolicy": "Delete"}})
        with contextlib.suppress(ApiError):
            rest.call(control, "DELETE", rest.path("Cluster", namespace, name))
    for item in listed["items"]:
        with contextlib.suppress(TimeoutError, ApiError):
            wait_object(control, "Cluster", namespace, item["metadata"]["name"], lambda c: c is None, timeout=30)
