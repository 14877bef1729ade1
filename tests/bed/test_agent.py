"""The node agent plays node, kubelet, scheduler, volume provisioner and load balancer over the API.

Matrix: Pod -> bound, Running, Ready, pod IP, Endpoints follow it, deletion completes | Pod run as processes ->
its own loopback pod IP, ServiceAccount token, API server env, runAsUser, readiness and liveness probes, restart
on liveness failure | Pod mounting a PVC ->
Ready only once the PVC is Bound | PVC -> Bound to a provisioned PV, PV removed with the claim |
LoadBalancer Service -> ingress from the cluster's own loopback pool, distinct per data plane; type changed
away -> address released.
"""

from __future__ import annotations

from kubernetes import client

from kbmc.dev.bed import BedState
from tests.kube import Clusters, Obj, condition, wait_for

POD = {"metadata": {"name": "web", "labels": {"app": "web"}},
       "spec": {"containers": [{"name": "main", "image": "example/web:1"}]}}
SERVICE = {"metadata": {"name": "web"},
           "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]}}


def _ingress(svc: Obj | None) -> list[dict[str, str]]:
    return ((svc or {}).get("status", {}).get("loadBalancer") or {}).get("ingress") or []


def test_pod_runs_and_endpoints_follow(clusters: Clusters, bed_state: BedState, namespace: str) -> None:
    core = client.CoreV1Api(clusters["k8s-1"])
    core.create_namespaced_pod(namespace, POD)
    core.create_namespaced_service(namespace, {**SERVICE, "spec": {**SERVICE["spec"], "type": "ClusterIP"}})
    pod = wait_for(core.list_namespaced_pod, lambda p: condition(p, "Ready"), name="web", namespace=namespace)
    assert pod is not None
    assert pod["spec"]["nodeName"] == "k8s-1-node"
    assert pod["status"]["phase"] == "Running"
    assert pod["status"]["podIP"].startswith("10.101.")
    assert pod["status"]["containerStatuses"][0]["ready"] is True
    ip = pod["status"]["podIP"]
    wait_for(core.list_namespaced_endpoints,
             lambda ep: any(a["ip"] == ip for s in (ep or {}).get("subsets") or [] for a in s.get("addresses", [])),
             name="web", namespace=namespace)
    core.delete_namespaced_pod("web", namespace)  # graceful: the agent finishes it, as a kubelet would
    wait_for(core.list_namespaced_pod, lambda p: p is None, name="web", namespace=namespace)


def test_pod_waits_for_its_volume(clusters: Clusters, namespace: str) -> None:
    """As a kubelet mounts volumes before it starts containers: Ready only once every PVC it mounts is Bound."""
    core = client.CoreV1Api(clusters["k8s-3"])
    spec = {**POD["spec"], "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}
    core.create_namespaced_pod(namespace, {**POD, "spec": spec})
    wait_for(core.list_namespaced_pod, lambda p: bool((p or {}).get("spec", {}).get("nodeName")), name="web",
             namespace=namespace)
    # The agent handles pod events in order: once a pod created after the binding is Ready, it has seen the
    # bound pod, and without the claim it must not have reported it Ready.
    core.create_namespaced_pod(namespace, {"metadata": {"name": "later"}, "spec": POD["spec"]})
    wait_for(core.list_namespaced_pod, lambda p: condition(p, "Ready"), name="later", namespace=namespace)
    waiting = core.read_namespaced_pod("web", namespace)
    assert not any(c.type == "Ready" and c.status == "True" for c in waiting.status.conditions or [])
    core.create_namespaced_persistent_volume_claim(namespace, {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    pod = wait_for(core.list_namespaced_pod, lambda p: condition(p, "Ready"), name="web", namespace=namespace)
    assert pod is not None
    claim = core.read_namespaced_persistent_volume_claim("data", namespace)
    assert claim.status.phase == "Bound"


def test_pvc_is_bound_and_released(clusters: Clusters, namespace: str) -> None:
    core = client.CoreV1Api(clusters["k8s-2"])
    core.create_namespaced_persistent_volume_claim(namespace, {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}})
    pvc = wait_for(core.list_namespaced_persistent_volume_claim,
                   lambda c: (c or {}).get("status", {}).get("phase") == "Bound", name="data", namespace=namespace)
    assert pvc is not None
    assert pvc["status"]["capacity"]["storage"] == "2Gi"
    volume = pvc["spec"]["volumeName"]
    assert core.read_persistent_volume(volume).spec.claim_ref.name == "data"
    core.delete_namespaced_persistent_volume_claim("data", namespace)
    wait_for(core.list_persistent_volume, lambda pv: pv is None, name=volume)


def test_load_balancers_get_addresses_from_their_cluster_pool(clusters: Clusters, bed_state: BedState,
                                                              namespace: str) -> None:
    seen = {}
    for name in ("k8s-1", "k8s-2", "k8s-3"):
        core = client.CoreV1Api(clusters[name])
        core.create_namespaced_service(namespace, SERVICE)
        svc = wait_for(core.list_namespaced_service, lambda s: bool(_ingress(s)), name="web", namespace=namespace)
        seen[name] = _ingress(svc)[0]["ip"]
        assert seen[name].startswith(f"127.{bed_state.cluster(name).index}.0.")
        assert svc is not None and svc["spec"]["ports"][0]["nodePort"] >= 30000
    assert len(set(seen.values())) == 3
    core = client.CoreV1Api(clusters["k8s-3"])
    core.patch_namespaced_service("web", namespace, {"spec": {"type": "ClusterIP", "ports": [{"port": 80,
                                                                                               "nodePort": None}]}})
    wait_for(core.list_namespaced_service, lambda s: not _ingress(s), name="web", namespace=namespace)


def test_process_pod_probes_restarts_and_what_a_kubelet_gives(clusters: Clusters, namespace: str) -> None:
    """A pod of an image the bed runs as processes (kbmc's): its own loopback pod IP; the ServiceAccount token,
    CA and namespace mounted; KUBERNETES_SERVICE_HOST/PORT pointing at its API server; runAsUser honoured; a
    readiness httpGet probe that passes only once something listens; a liveness tcpSocket probe failing
    failureThreshold times in a row restarts the container (restartCount, lastState, the reason in its log)."""
    core = client.CoreV1Api(clusters["k8s-2"])
    script = ("cat /var/run/secrets/kubernetes.io/serviceaccount/namespace > /tmp/seen; "
              "echo \" $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT uid=$(id -u)\" >> /tmp/seen; "
              "test -s /var/run/secrets/kubernetes.io/serviceaccount/token && echo token >> /tmp/seen; "
              "cat /tmp/seen; sleep 3600")
    probe = {"periodSeconds": 1, "failureThreshold": 2}
    pod = {"metadata": {"name": "proc"}, "spec": {
        "securityContext": {"runAsUser": 4242, "runAsGroup": 4242},
        "containers": [{"name": "main", "image": "kbmc/kbmc:probe-test", "command": ["sh", "-c", script],
                        "ports": [{"name": "web", "containerPort": 8000}],
                        "readinessProbe": {"httpGet": {"path": "/", "port": "web"}, **probe},
                        "livenessProbe": {"tcpSocket": {"port": 8001}, "initialDelaySeconds": 2, **probe},
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]}],
        "volumes": [{"name": "tmp", "emptyDir": {}}]}}
    core.create_namespaced_pod(namespace, pod)
    restarted = wait_for(core.list_namespaced_pod, lambda p: any(
        s["restartCount"] for s in (p or {}).get("status", {}).get("containerStatuses") or []),
        name="proc", namespace=namespace, timeout=60)
    assert restarted is not None
    status = restarted["status"]
    assert status["podIP"].startswith("127.2.128."), status
    assert not condition(restarted, "Ready")  # nothing listens on the readiness port
    assert status["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] != 0
    log = core.read_namespaced_pod_log("proc", namespace)
    api = clusters["k8s-2"].configuration.host.removeprefix("https://")
    assert f"{namespace} {api} uid=4242\ntoken" in log, log
    assert "liveness probe failed 2 times; restarting the container" in log, log
    core.delete_namespaced_pod("proc", namespace, grace_period_seconds=1)
    wait_for(core.list_namespaced_pod, lambda p: p is None, name="proc", namespace=namespace)
