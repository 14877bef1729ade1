"""Reading a Deployment's rollout and a container's probes, as ``kubectl rollout status`` and a kubelet do.

Matrix: rollout: not observed yet | old pods still running | ready count | a pod waiting on its image stops the
wait at once | probes: exec, httpGet by port name (host: the pod's address), tcpSocket with thresholds, none |
image mapping: the short form and the JSON form with entrypoint and trees, a bad one named | the bed's images:
Redis images of any registry and tag as the cached Redis (its cache a tree), etcd's and kbmc's unaffected, the
Redis exporter not taken for Redis, no Redis mapping without a Redis cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kbmc.dev import bed
from kbmc.dev.sandbox import ImageBinaries, Probe, Sandbox
from kbmc.dev.toolchain import Toolchain
from kbmc.ops import rollout


def _deployment(observed: int = 2, running: int = 2, updated: int = 2, ready: int = 2) -> dict[str, Any]:
    """A Deployment of 2 replicas at generation 2, with ``running`` pods, ``updated`` of the current version."""
    return {"metadata": {"generation": 2}, "spec": {"replicas": 2}, "status": {
        "observedGeneration": observed, "replicas": running, "updatedReplicas": updated, "readyReplicas": ready}}


@pytest.mark.parametrize(("deployment", "expected"), [
    (_deployment(observed=1), None),
    (_deployment(running=3, updated=1), None),
    (_deployment(ready=1), (1, 2)),
    (_deployment(), (2, 2)),
])
def test_ready_count(deployment: dict[str, Any], expected: tuple[int, int] | None) -> None:
    assert rollout.ready_count(deployment) == expected


def test_a_pod_waiting_on_its_image_is_named() -> None:
    pod = {"metadata": {"name": "kbmc-operator-1", "namespace": "kb-system"}, "status": {"containerStatuses": [
        {"name": "operator", "restartCount": 0, "state": {"waiting": {
            "reason": "ImagePullBackOff", "message": "Back-off pulling image \"kbmc/kbmc:nope\""}}}]}}
    assert rollout._stuck(None, pod) == ("pod kbmc-operator-1: ImagePullBackOff (Back-off pulling image "
                                         '"kbmc/kbmc:nope")')


def test_probes_parse_as_a_kubelet_reads_them() -> None:
    ports = {"health": 8081}
    assert Probe.parse(None, ports, "127.0.128.1") is None
    http = Probe.parse({"httpGet": {"path": "/healthz", "port": "health"}, "periodSeconds": 5}, ports, "127.0.128.1")
    assert http == Probe(url="http://127.0.128.1:8081/healthz", period=5.0)
    tcp = Probe.parse({"tcpSocket": {"port": 2379}, "failureThreshold": 1, "initialDelaySeconds": 3}, ports, "a")
    assert tcp == Probe(tcp=("a", 2379), failure_threshold=1, initial_delay=3.0)
    exec_ = Probe.parse({"exec": {"command": ["true"]}, "successThreshold": 2}, ports, "a")
    assert exec_ == Probe(command=("true",), success_threshold=2)


def test_image_mappings() -> None:
    short = ImageBinaries.parse("*etcd:*=/c/etcd:/c/etcdctl")
    assert short == ImageBinaries("*etcd:*", (Path("/c/etcd"), Path("/c/etcdctl")))
    full = ImageBinaries("*kbmc/kbmc:*", (Path("/v/bin/kbmc"),), ("kbmc",), (Path("/src"),))
    assert ImageBinaries.parse(full.dump()) == full
    with pytest.raises(ValueError, match="--image-binary '\\{\"binaries\": \\[\\]\\}': 'pattern'"):
        ImageBinaries.parse('{"binaries": []}')


@pytest.mark.parametrize(("image", "expected"), [
    ("docker.io/redis/redis-stack-server:7.2.0-v19", "redis"),
    ("redis:7.2.4", "redis"),
    ("docker.io/bitnami/redis:7.0", "redis"),
    ("docker.io/bitnami/redis-sentinel:7.0.15", "redis"),
    ("docker.io/apecloud/etcd:v3.5.6", "etcd"),
    ("kbmc/kbmc:1.0", "kbmc"),
    ("registry.example/kbmc/kbmc:0.1.0", "kbmc"),
    ("docker.io/oliver006/redis_exporter:v1.55.0", None),
    ("docker.io/library/postgres:16", None),
])
def test_the_beds_images(tmp_path: Path, image: str, expected: str | None) -> None:
    cache = tmp_path / "redis-7.0.15-kbmc1"
    (cache / "bin").mkdir(parents=True)
    (cache / "manifest.json").write_text("{}")
    sandbox = Sandbox(bed.images(Toolchain(Path("/c/bin")), cache / "bin"), tmp_path, lambda key: None)
    found = sandbox.image_for(image)
    names = {"redis": ("redis-server", "redis-sentinel", "redis-cli"), "etcd": ("etcd", "etcdctl"), "kbmc": ("kbmc",)}
    assert (found and tuple(b.name for b in found.binaries)) == (expected and names[expected])
    if expected == "redis":
        assert found is not None and found.binaries[0] == cache / "bin/redis-server" and found.trees == (cache,)
    without = Sandbox(bed.images(Toolchain(Path("/c/bin")), None), tmp_path, lambda key: None).image_for(image)
    assert (without is None) == (expected in ("redis", None))
