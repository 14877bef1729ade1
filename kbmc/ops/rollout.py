"""Waiting for the operator's Deployment, as ``kubectl rollout status`` does, and saying why it is not Ready: a
pod that cannot be created (the ReplicaSet's Events), not scheduled, waiting on its image, crash-looping (with
its container's last log lines) or failing its readiness probe (the kubelet's Events)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kbmc.errors import ApiError, InstallError, NoAnswerError
from kbmc.kube import rest
from kbmc.kube.client import Api

Obj = dict[str, Any]
STUCK = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError",
         "CreateContainerError"}
"""Waiting reasons no wait cures: install stops at once (after a crash loop's third restart, too)."""


def ready_count(deployment: Obj) -> tuple[int, int] | None:
    """(ready, wanted) replicas of the current version; None while the controller has not seen the latest
    spec, or old pods still run."""
    meta, spec, status = deployment["metadata"], deployment.get("spec") or {}, deployment.get("status") or {}
    if status.get("observedGeneration", 0) < meta.get("generation", 0):
        return None
    wanted = int(spec.get("replicas", 1))
    if int(status.get("replicas", 0)) > int(status.get("updatedReplicas", 0)):
        return None
    return min(int(status.get("updatedReplicas", 0)), int(status.get("readyReplicas", 0))), wanted


def wait_ready(control: Api, namespace: str, name: str, selector: str, timeout: float,
               progress: Callable[[str], None], interval: float = 1.0) -> None:
    """Return once every replica of the Deployment runs the current version and is Ready; raise
    ``InstallError`` saying why when it is not within ``timeout`` seconds, or as soon as a pod is stuck."""
    deadline, reported = time.monotonic() + timeout, None
    where = f"Deployment {namespace}/{name}"
    while True:
        try:
            counts = ready_count(rest.call(control, "GET", rest.path("Deployment", namespace, name)))
            pods = rest.call(control, "GET", rest.path("Pod", namespace), query={"labelSelector": selector})["items"]
        except (ApiError, NoAnswerError) as exc:
            counts, pods = None, []
            if time.monotonic() > deadline:
                raise InstallError(f"{where}: not read ({exc})") from exc
        if counts is not None and counts[0] >= counts[1]:
            return
        if counts is not None and counts != reported:
            progress(f"{where}: {counts[0]}/{counts[1]} pods ready")
            reported = counts
        stuck = [why for pod in pods if (why := _stuck(control, pod))]
        if stuck:
            raise InstallError(f"{where} cannot become Ready: " + "; ".join(stuck))
        if time.monotonic() > deadline:
            raise InstallError(f"{where} not Ready within {timeout:.0f} s: " + why_not(control, namespace, name, pods))
        time.sleep(interval)


def _stuck(control: Api, pod: Obj) -> str:
    name = f"pod {pod['metadata']['name']}"
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason", "")
        if reason in STUCK:
            return f"{name}: {reason} ({waiting.get('message', '')})"
        if reason == "CrashLoopBackOff" and int(container.get("restartCount", 0)) >= 3:
            return f"{name}: CrashLoopBackOff after {container['restartCount']} restarts; its log ends: " + \
                _log_tail(control, pod, container["name"])
    return ""


def why_not(control: Api, namespace: str, name: str, pods: list[Obj]) -> str:
    """Why a Deployment's pods are not Ready, in a sentence per pod (or why there are none)."""
    if not pods:
        events = _events(control, namespace, lambda e: e["involvedObject"].get("kind") in ("ReplicaSet", "Deployment")
                         and e["involvedObject"].get("name", "").startswith(name))
        return "no pod was created" + (f" ({events})" if events else "")
    out = []
    for pod in pods:
        status, pod_name = pod.get("status") or {}, pod["metadata"]["name"]
        conditions = {c["type"]: c for c in status.get("conditions") or []}
        if conditions.get("Ready", {}).get("status") == "True":
            continue
        scheduled = conditions.get("PodScheduled", {})
        if scheduled.get("status") == "False":
            out.append(f"pod {pod_name} not scheduled ({scheduled.get('message', '')})")
            continue
        events = _events(control, namespace, _warning_about(pod_name))
        phase = status.get("phase", "Pending")
        out.append(f"pod {pod_name} {phase}, not Ready" + (f" ({events})" if events else "") + "; its log ends: " +
                   _log_tail(control, pod, ((pod.get("spec") or {}).get("containers") or [{}])[0].get("name", "")))
    return "; ".join(out) or "the Deployment has not reported its pods Ready yet"


def _warning_about(name: str) -> Callable[[Obj], bool]:
    return lambda event: event["involvedObject"].get("name") == name and event.get("type") == "Warning"


def _events(control: Api, namespace: str, about: Callable[[Obj], bool]) -> str:
    try:
        items = rest.call(control, "GET", rest.path("Event", namespace))["items"]
    except (ApiError, NoAnswerError):
        return ""
    chosen = sorted((e for e in items if about(e)), key=lambda e: e.get("lastTimestamp") or "")[-3:]
    return "; ".join(f"{e.get('reason', '')}: {e.get('message', '')}" for e in chosen)


def _log_tail(control: Api, pod: Obj, container: str, lines: int = 5) -> str:
    meta = pod["metadata"]
    try:
        raw = rest.request(control, "GET", rest.path("Pod", meta["namespace"], meta["name"], "log"),
                           query={"container": container, "tailLines": lines}, stream=True, accept="*/*")
        try:
            text = raw.read(64 * 1024).decode(errors="replace").strip()
        finally:
            rest.drop(raw)
    except (ApiError, NoAnswerError) as exc:
        return f"(no log: {exc})"
    return " | ".join(text.splitlines()[-lines:]) or "(empty)"
