"""Faults the bed can inject, and what clients and the node agent see.

Matrix: frozen API server -> a call with kbmc's client timeouts fails within 3 s, thaw -> answers again |
stopped cluster -> connection refused at once, start -> same state, agent works again |
API server restarted under a running node agent -> the same agent process keeps serving.
"""

from __future__ import annotations

import time

import pytest
import urllib3
from kubernetes import client

from kbmc.dev import procs
from kbmc.dev.bed import Bed
from kbmc.kube.client import new_client
from tests.kube import Clusters, condition, wait_for

POD = {"metadata": {"name": "after"}, "spec": {"containers": [{"name": "main", "image": "example/app:1"}]}}


def test_frozen_data_plane_fails_fast_with_kbmc_timeouts(bed: Bed, namespace: str) -> None:
    core = client.CoreV1Api(new_client(bed.kubeconfig, "k8s-2", agent="kbmc/test"))
    core.list_namespaced_config_map(namespace)  # a pooled, kept-alive connection exists
    bed.freeze("k8s-2")
    try:
        started = time.monotonic()
        with pytest.raises(urllib3.exceptions.HTTPError):
            core.list_namespaced_config_map(namespace)
        assert time.monotonic() - started < 3.0
        fresh = client.CoreV1Api(new_client(bed.kubeconfig, "k8s-2", agent="kbmc/test"))
        started = time.monotonic()
        with pytest.raises(urllib3.exceptions.HTTPError):
            fresh.list_namespaced_config_map(namespace)
        assert time.monotonic() - started < 3.0
    finally:
        bed.thaw("k8s-2")
    core.list_namespaced_config_map(namespace)


def test_stop_and_start_keep_state(bed: Bed, clusters: Clusters, namespace: str) -> None:
    core = client.CoreV1Api(clusters["k8s-3"])
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "kept"}, "data": {"k": "v"}})
    bed.stop("k8s-3")
    assert bed.load().cluster("k8s-3").summary() == "stopped"
    with pytest.raises(urllib3.exceptions.HTTPError):
        core.read_namespaced_config_map("kept", namespace)
    bed.start("k8s-3")
    assert core.read_namespaced_config_map("kept", namespace).data == {"k": "v"}
    # the ServiceAccount admission plugin wants the namespace's token, which the restarted controller-manager makes
    wait_for(core.list_namespaced_service_account, lambda sa: bool(sa and sa.get("secrets")), name="default",
             namespace=namespace)
    core.create_namespaced_pod(namespace, POD)
    wait_for(core.list_namespaced_pod, lambda p: condition(p, "Ready"), name="after", namespace=namespace)


def test_node_agent_survives_its_api_server_restarting(bed: Bed, clusters: Clusters, namespace: str) -> None:
    state = bed.load()
    cluster = state.cluster("k8s-1")
    agent_pid = cluster.procs["node-agent"].pid
    procs.terminate([cluster.procs["kube-apiserver"]])
    assert bed.load().cluster("k8s-1").summary() == "stopped"
    bed.start("k8s-1")  # starts only what is not running: the API server
    after = bed.load().cluster("k8s-1")
    assert after.procs["node-agent"].pid == agent_pid
    core = client.CoreV1Api(clusters["k8s-1"])
    core.create_namespaced_pod(namespace, POD)
    wait_for(core.list_namespaced_pod, lambda p: condition(p, "Ready"), name="after", namespace=namespace)
