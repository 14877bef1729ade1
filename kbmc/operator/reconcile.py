"""One level-triggered reconcile of a Cluster: the same code for create, update, resume and drift.

Prepare (definitions, placement, ordinal record) -> build (pure) -> plan per data plane (pure) -> apply
each data plane's part concurrently -> status from what was observed. Deletion goes through ``cleanup``.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from kbmc.api.cluster import Cluster, InstanceStatus
from kbmc.api.componentdefinition import ComponentDefinition
from kbmc.core import names, placement
from kbmc.core.build import ComponentInput, build_cluster, check_names, check_volumes
from kbmc.core.plan import Key, live_instances, plan_plane
from kbmc.core.services import ServicePlan, plan_services
from kbmc.core.status import Observation, Problem
from kbmc.core.vars import Context, SeenService, resolve
from kbmc.errors import ApiError, ClusterSpecError, ComponentDefinitionError, PlacementError
from kbmc.kube import rest
from kbmc.kube.informer import Obj
from kbmc.kube.planes import Plane
from kbmc.operator import metrics
from kbmc.operator.apply import apply_plane
from kbmc.operator.report import write_status
from kbmc.operator.runtime import Runtime

log = logging.getLogger("kbmc.operator.reconcile")
RETRY_SECONDS = (0.5, 1, 2, 5, 10, 30)
"""Seconds before a Cluster whose pass failed unexpectedly is looked at again, by failures in a row."""
APPLY_RETRY_SECONDS = (2, 4, 8, 16, 30)
"""Seconds before a Cluster is looked at again after a data plane refused one of its writes, by failures in a
row (a refusal that lasts is retried every 30 s, not every 2)."""
STATUS_FIRST = 0.01
"""Seconds before the pass that acts, after a pass that only reported a change of data planes."""
PLANE_CONDITIONS = ("DataPlanesAvailable", "DataPlanesReachable")
LISTING_RETRY = 1.0
"""Seconds before looking again at a Cluster that skipped a data plane still listing its objects (a new
DataPlane, or the operator starting). One that skipped an unreachable data plane is not polled: the health
probe queues every Cluster when that data plane answers again."""
NOT_SYNCED = "not synced yet"
_failures: dict[str, int] = {}


def reconcile_loop(rt: Runtime) -> None:
    """A worker: take Cluster keys off the queue until it closes."""
    while (key := rt.queue.get()) is not None:
        started = time.monotonic()
        delay: float | None
        try:
            delay = _conflicts_retried(rt, key)
            result = "requeue" if delay else "ok"
            if delay is None:
                _failures.pop(key, None)
        except Exception:
            log.exception("cluster=%s reconcile failed", key)
            delay, result = backoff(key, RETRY_SECONDS), "error"
        finally:
            rt.queue.done(key)
        metrics.RECONCILES.labels(result).inc()
        metrics.RECONCILE_SECONDS.observe(time.monotonic() - started)
        if delay:
            rt.queue.add(key, delay)


def backoff(key: str, table: tuple[float, ...]) -> float:
    """The next delay of ``table`` for ``key``'s failures in a row (reset by a pass that needs no retry), less
    up to a half at random: Clusters that failed together (one busy data plane) do not retry in step."""
    attempt = _failures.get(key, 0)
    _failures[key] = attempt + 1
    return table[min(attempt, len(table) - 1)] * random.uniform(0.5, 1.0)


def _conflicts_retried(rt: Runtime, key: str) -> float | None:
    """``reconcile``, where a stale Cluster (409 on its resourceVersion) is simply looked at again and a
    Cluster deleted meanwhile (NotFound) ends the work. A 404 without a NotFound Status (a starting API server
    that does not serve Clusters yet) is retried like any other failure."""
    try:
        return reconcile(rt, key)
    except ApiError as exc:
        if "/clusters/" not in str(exc) or not (exc.status == 409 or exc.not_found):
            raise
        if exc.status == 409:
            return 0.2
        gone = rt.clusters.get(key)
        if gone is not None:  # its DELETED event may have been missed (while kopf's watches restarted)
            rt.observe_cluster("DELETED", gone)
        return None


@dataclass
class Prepared:
    """A Cluster ready to build: its placement, each component's inputs, and what is wrong."""

    placement: list[str] = field(default_factory=list)
    components: list[ComponentInput] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    waiting_ordinals: dict[str, list[int]] = field(default_factory=dict)
    retired: dict[str, dict[int, str]] = field(default_factory=dict)
    """Ordinals at or above replicas stay recorded until their objects are gone."""
    blocked: bool = False


def reconcile(rt: Runtime, key: str) -> float | None:
    """Converge one Cluster; return seconds after which to look again, or None."""
    body = rt.clusters.get(key)
    if body is None:
        return None
    cluster = Cluster.model_validate(body)
    if cluster.metadata.deletion_timestamp:
        from kbmc.operator.cleanup import cleanup  # noqa: PLC0415 - cleanup reuses this module

        return cleanup(rt, cluster, body)
    seen = Observation(generation=cluster.metadata.generation or 0)
    prepared = prepare(rt, cluster, key)
    seen.problems.extend(prepared.problems)
    if prepared.blocked:
        seen.blocked = True
        return write_status(rt, cluster, body, seen)
    try:
        recorded = _record(rt, cluster, body, key, prepared)
    except ApiError as exc:
        if exc.status != 422:
            raise
        # the Cluster refuses kbmc's own record (its annotations near the API server's size limit, say):
        # nothing is created anywhere without it
        seen.problems.append(Problem("SpecValid", "RecordRefused", (
            f"metadata.annotations: the API server refused kbmc's record {names.INSTANCES} on the Cluster, so "
            f"nothing is created: {exc.api_message[:300]}")))
        seen.blocked = True
        return write_status(rt, cluster, body, seen) or backoff(key, APPLY_RETRY_SECONDS)
    if recorded is not None:
        body, cluster = recorded, Cluster.model_validate(recorded)
    involved = (set(prepared.placement) | {p for c in prepared.components for p in c.ordinals.values()}
                | planes_holding(rt, cluster.metadata.uid or ""))
    planes, listing = _workable_planes(rt, sorted(involved), seen)
    if _planes_changed_since_status(cluster, seen):
        # A data plane became unavailable or came back: say so before building and acting, and act on the
        # next pass (queued behind the other Clusters), so every affected Cluster reports within one round
        # of status writes.
        _instances(rt, cluster, prepared, seen)
        return write_status(rt, cluster, body, seen) or STATUS_FIRST
    desired = build_cluster(cluster, prepared.components, _service_defaults(rt, sorted(involved)))
    keep = frozenset({"PersistentVolumeClaim"}) if cluster.spec.termination_policy in (
        "Halt", "DoNotTerminate") else frozenset()
    retry = _converge(rt, cluster, desired, planes, keep, {c.spec.name: c.ordinals for c in prepared.components},
                      seen)
    if listing:
        retry = min(retry or LISTING_RETRY, LISTING_RETRY)
    _instances(rt, cluster, prepared, seen)
    deferred = write_status(rt, cluster, body, seen)
    return min(d for d in (retry, deferred) if d) if retry or deferred else None


def prepare(rt: Runtime, cluster: Cluster, key: str) -> Prepared:
    """Definitions, services, placement and the ordinal record, or the problems that block building."""
    out = Prepared()
    definitions: dict[str, tuple[ComponentDefinition, list[ServicePlan]]] = {}
    for spec in cluster.spec.component_specs:
        where = f"spec.componentSpecs[{spec.name}].componentDef"
        definition = rt.definition(spec.component_def)
        if definition is None:
            out.problems.append(Problem("SpecValid", "ComponentDefinitionNotFound",
                                        f"{where}: ComponentDefinition {spec.component_def} not found"))
        elif definition.status.phase == "Unavailable":
            out.problems.append(Problem("SpecValid", "ComponentDefinitionInvalid",
                                        f"{where}: ComponentDefinition {spec.component_def} is invalid: "
                                        f"{definition.status.message}"))
        else:
            try:
                check_volumes(spec, definition)
                plans = plan_services(spec, definition)
                check_names(cluster.metadata.name or "", spec, plans)
                definitions[spec.name] = (definition, plans)
            except ClusterSpecError as exc:
                out.problems.append(Problem("SpecValid", "InvalidComponentSpec", str(exc)))
    views = _views(rt)
    namespace = cluster.metadata.namespace or "default"
    annotation = cluster.metadata.annotations.get(names.PLACEMENT)
    try:
        if annotation is None:
            replicas = max(s.replicas for s in cluster.spec.component_specs)
            out.placement = placement.choose(key, replicas, views, namespace)
        else:
            out.placement = placement.parse(annotation, names.PLACEMENT)
            placement.check(out.placement, views, namespace, names.PLACEMENT)
    except PlacementError as exc:
        out.problems.append(Problem("PlacementValid", "InvalidPlacement", str(exc)))
    if out.problems:
        out.blocked = True
        return out
    recorded = _checked_record(rt, cluster, out)
    for spec in cluster.spec.component_specs:
        definition, plans = definitions[spec.name]
        assignment = placement.assign(out.placement, spec.replicas, recorded.get(spec.name, {}), views)
        if assignment.waiting:
            out.waiting_ordinals[spec.name] = assignment.waiting
        outside = {o: p for o, p in assignment.planes.items() if p not in out.placement}
        if outside:
            # a live member keeps what it uses in its data plane (env, scripts, Services) until it is gone
            out.problems.append(Problem("PlacementValid", "PlacementExcludesInstances", (
                f"{names.PLACEMENT} no longer names the data plane(s) of instance(s) "
                + ", ".join(f"{names.pod(cluster.metadata.name or '', spec.name, o)} ({p})"
                            for o, p in sorted(outside.items()))
                + ": they stay where they are, with what they use; new instances go to the placement")))
        planes = [*out.placement, *sorted(set(outside.values()))]
        ctx = _var_context(rt, cluster, planes, spec.name)
        try:
            resolution = resolve(definition, plans, cluster.metadata.name or "", spec.name, assignment.planes, ctx)
        except ComponentDefinitionError as exc:
            out.problems.append(Problem("SpecValid", "ComponentDefinitionInvalid", str(exc)))
            out.blocked = True
            return out
        scripts, missing = {}, []
        for script in definition.spec.scripts:
            files = rt.template_files(script.template_ref)
            if files is None:
                missing.append(f"{rt.settings.namespace}/{script.template_ref}")
            else:
                scripts[script.name] = files
        if missing:
            out.problems.append(Problem("SpecValid", "ScriptTemplateMissing",
                                        f"ComponentDefinition {definition.metadata.name}: script ConfigMap(s) "
                                        f"{', '.join(missing)} not found"))
        if resolution.waiting:
            out.problems.append(Problem("AddressesResolved", "WaitingForAddresses",
                                        f"pods wait for the address of Service(s) {', '.join(resolution.waiting)}"))
        out.components.append(ComponentInput(
            spec=spec, definition=definition, services=plans, ordinals={**assignment.planes},
            planes=planes, env=None if resolution.waiting and not ctx.previous else resolution.env,
            held=_new_pods(rt, cluster, spec.name, assignment.planes) if resolution.waiting or missing else frozenset(),
            scripts=scripts))
        out.retired[spec.name] = {o: p for o, p in assignment.retired.items()
                                  if _still_there(rt, cluster, spec.name, o, p)}
    return out


def _new_pods(rt: Runtime, cluster: Cluster, component: str, ordinals: Mapping[int, str]) -> frozenset[int]:
    """Ordinals whose Pod does not exist yet (only those are held back while vars are unresolved)."""
    out = set()
    for ordinal, plane_name in ordinals.items():
        plane = rt.plane(plane_name)
        key = ("Pod", cluster.metadata.namespace or "", names.pod(cluster.metadata.name or "", component, ordinal))
        if plane is None or key not in plane.cache.owned_by(cluster.metadata.uid or ""):
            out.add(ordinal)
    return frozenset(out)


def _still_there(rt: Runtime, cluster: Cluster, component: str, ordinal: int, plane_name: str) -> bool:
    """Whether a retired ordinal may still have objects (kept PVCs, or a data plane kbmc cannot see)."""
    plane = rt.plane(plane_name)
    if plane is None or usable(plane) is not None:
        return True
    return any((o["metadata"].get("labels") or {}).get(names.COMPONENT) == component
               and (o["metadata"].get("labels") or {}).get(names.ORDINAL) == str(ordinal)
               for o in owned(rt, plane, cluster).values())


def _views(rt: Runtime) -> dict[str, placement.PlaneView]:
    return {n: placement.PlaneView(n, p.state.available, p.state.allowed_namespaces, configured=p.error is None)
            for n, p in list(rt.planes.items())}


def _recorded(cluster: Cluster) -> dict[str, dict[int, str]]:
    raw = cluster.metadata.annotations.get(names.INSTANCES)
    if not raw:
        return {}
    try:
        data = json.loads(raw)
        return {comp: {int(o): str(p) for o, p in ordinals.items()} for comp, ordinals in data.items()}
    except (ValueError, AttributeError):
        log.warning("cluster=%s annotation %s unreadable; recomputing", cluster.metadata.name, names.INSTANCES)
        return {}


def _checked_record(rt: Runtime, cluster: Cluster, out: Prepared) -> dict[str, dict[int, str]]:
    """The ordinal record, with entries that contradict where instances live refused (a condition and a
    Warning naming the ordinal and both data planes) and restored."""
    meta = cluster.metadata
    lives: dict[str, dict[int, set[str]]] = {}
    for plane in list(rt.planes.values()):
        if usable(plane) is not None:
            continue
        for (kind, _, _), obj in owned(rt, plane, cluster).items():
            labels = obj["metadata"].get("labels") or {}
            if kind in ("Pod", "PersistentVolumeClaim") and (labels.get(names.ORDINAL) or "").isdigit():
                lives.setdefault(labels.get(names.COMPONENT, ""), {}).setdefault(
                    int(labels[names.ORDINAL]), set()).add(plane.name)
    record, refusals = placement.check_record(
        _recorded(cluster), {c: {o: frozenset(p) for o, p in items.items()} for c, items in lives.items()},
        rt.records.get(meta.uid or "", {}))
    for refused in refusals:
        pod = names.pod(meta.name or "", refused.component, refused.ordinal)
        said = f"data plane {refused.recorded}" if refused.recorded else "no data plane"
        out.problems.append(Problem("PlacementValid", "RecordEditRefused", (
            f"{names.INSTANCES}: instance {pod} lives in data plane {refused.actual}; the record's {said} is "
            "refused and the record restored (an instance never moves)")))
    return record


def _record(rt: Runtime, cluster: Cluster, body: Obj, key: str, prepared: Prepared) -> Obj | None:
    """Persist the placement, the ordinal record and the finalizer before anything is created."""
    record = {c.spec.name: {str(o): p for o, p in sorted({**prepared.retired.get(c.spec.name, {}),
                                                            **c.ordinals}.items())}
              for c in prepared.components}
    annotations: dict[str, str | None] = {}
    if cluster.metadata.annotations.get(names.PLACEMENT) is None:
        annotations[names.PLACEMENT] = ",".join(prepared.placement)
    text = json.dumps(record, sort_keys=True, separators=(",", ":"))
    rt.records[cluster.metadata.uid or ""] = {c: {int(o): p for o, p in items.items()} for c, items in record.items()}
    if cluster.metadata.annotations.get(names.INSTANCES) != text:
        annotations[names.INSTANCES] = text
    finalizers = list(cluster.metadata.finalizers)
    if not annotations and names.FINALIZER in finalizers:
        return None
    patch: dict[str, Any] = {"metadata": {"resourceVersion": cluster.metadata.resource_version}}
    if annotations:
        patch["metadata"]["annotations"] = annotations
    if names.FINALIZER not in finalizers:
        patch["metadata"]["finalizers"] = [*finalizers, names.FINALIZER]
    updated: Obj = rest.call(rt.control, "PATCH", rest.path("Cluster", cluster.metadata.namespace,
                                                            cluster.metadata.name), body=patch,
                             content_type=rest.MERGE_PATCH)
    rt.observe_cluster("MODIFIED", updated)
    return updated


def _service_defaults(rt: Runtime, names_: list[str]) -> dict[str, dict[str, str]]:
    return {n: dict(p.state.service_annotations) for n, p in rt.planes_of(names_).items()}


def _var_context(rt: Runtime, cluster: Cluster, planes: list[str], component: str) -> Context:
    """Services and node addresses observed in the placement's data planes, and the published env."""
    seen: dict[tuple[str, str], SeenService] = {}
    addresses: dict[str, str] = {}
    unavailable: set[str] = set()
    previous: dict[str, str] = {}
    env_key = ("ConfigMap", cluster.metadata.namespace or "", names.env_config_map(cluster.metadata.name or "",
                                                                                   component))
    for name, plane in rt.planes_of(planes).items():
        if not plane.state.available:
            unavailable.add(name)
            continue
        published = plane.cache.owned_by(cluster.metadata.uid or "").get(env_key)
        if published and not previous:
            previous = dict(published.get("data") or {})
        for (kind, _ns, svc), obj in plane.cache.owned_by(cluster.metadata.uid or "").items():
            if kind != "Service":
                continue
            ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            seen[(name, svc)] = SeenService(
                ingress=tuple(i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")),
                node_ports=tuple(p["nodePort"] for p in obj["spec"].get("ports", []) if p.get("nodePort")))
        address = plane.cache.node_address()
        if address:
            addresses[name] = address
    return Context(seen, addresses, frozenset(unavailable), previous)


def owned(rt: Runtime, plane: Plane, cluster: Cluster) -> dict[Key, Obj]:
    """The objects kbmc made for ``cluster`` in ``plane``: those with its labels, in its namespace, named as kbmc
    names them. Look-alikes (only the labels) are left alone, and reported once each."""
    meta = cluster.metadata
    namespace, name = meta.namespace or "", meta.name or ""
    out = {}
    for key, obj in plane.cache.owned_by(meta.uid or "").items():
        if names.made_for(*key, obj["metadata"].get("labels") or {}, namespace, name):
            out[key] = obj
        elif (plane.name, key) not in rt.lookalikes:
            rt.lookalikes.add((plane.name, key))
            message = (f"{key[0]} {key[1]}/{key[2]} in data plane {plane.name} carries the labels of Cluster "
                       f"{namespace}/{name} but is not an object kbmc made for it: kbmc leaves it alone")
            log.warning("cluster=%s/%s %s", namespace, name, message)
            rt.posting.submit(rt.event, "Cluster", name, namespace, "Warning", "LookAlikeLeftAlone", message, meta.uid)
    return out


def planes_holding(rt: Runtime, uid: str) -> set[str]:
    """Data planes whose cache holds objects of the Cluster with ``uid``."""
    return {p.name for p in list(rt.planes.values()) if p.cache.owned_by(uid)}


def usable(plane: Plane | None) -> str | None:
    """Why kbmc cannot work in ``plane`` right now (None when it can)."""
    if plane is None:
        return "no such DataPlane"
    if not plane.state.available:
        return f"marked unavailable: {plane.state.reason}"
    if plane.error:
        return plane.error
    if plane.state.reachable is False:
        return f"unreachable: {plane.state.message}"
    if not plane.synced():
        return NOT_SYNCED
    return None


def _workable_planes(rt: Runtime, involved: list[str], seen: Observation) -> tuple[dict[str, Plane], bool]:
    """The data planes kbmc can work in now, and whether one of the others is only still listing; the others
    become DataPlanesAvailable / DataPlanesReachable problems naming each and why."""
    ready: dict[str, Plane] = {}
    unavailable: list[str] = []
    unreachable: list[str] = []
    listing = False
    for name in involved:
        plane = rt.plane(name)
        reason = usable(plane)
        listing = listing or reason == NOT_SYNCED
        if plane is None or reason is not None:
            (unavailable if plane is None or not plane.state.available else unreachable).append(
                f"{name} ({reason})")
        else:
            ready[name] = plane
    if unavailable:
        seen.problems.append(Problem("DataPlanesAvailable", "DataPlaneUnavailable",
                                     f"data plane(s) {'; '.join(unavailable)}"))
    if unreachable:
        seen.problems.append(Problem("DataPlanesReachable", "DataPlaneUnreachable",
                                     f"data plane(s) {'; '.join(unreachable)}"))
    if unavailable or unreachable:
        seen.degraded = True
    return ready, listing


def _planes_changed_since_status(cluster: Cluster, seen: Observation) -> bool:
    """Whether what status says about unavailable or unreachable data planes is out of date."""
    said = {c.type: (c.status, c.message) for c in cluster.status.conditions if c.type in PLANE_CONDITIONS}
    now = {p.type: ("False", p.message) for p in seen.problems if p.type in PLANE_CONDITIONS}
    return {t: v for t, v in said.items() if v[0] == "False"} != now


def _converge(rt: Runtime, cluster: Cluster, desired: Mapping[str, list[dict[str, Any]]],
              planes: Mapping[str, Plane], keep: frozenset[str], live: Mapping[str, Iterable[int]],
              seen: Observation) -> float | None:
    futures: dict[str, Future[str | None]] = {}
    for name, plane in planes.items():
        observed = owned(rt, plane, cluster)
        intents = plan_plane(desired.get(name, []), observed, keep, live_instances(observed, live))
        if intents:
            futures[name] = rt.pool.submit(apply_plane, plane, intents, cluster.metadata.name or "")
    failures = [r for r in (f.result() for f in futures.values()) if r]
    if failures:
        seen.problems.append(Problem("ResourcesApplied", "ApplyFailed", "; ".join(failures)))
        return backoff(f"{cluster.metadata.namespace}/{cluster.metadata.name}", APPLY_RETRY_SECONDS)
    return None


def _instances(rt: Runtime, cluster: Cluster, prepared: Prepared, seen: Observation) -> None:
    name, uid = cluster.metadata.name or "", cluster.metadata.uid or ""
    for comp in prepared.components:
        items = []
        for ordinal, plane_name in sorted(comp.ordinals.items()):
            pod_name = names.pod(name, comp.spec.name, ordinal)
            plane = rt.plane(plane_name)
            if usable(plane) is not None or plane is None:
                items.append(InstanceStatus(name=pod_name, data_plane=plane_name, pod_phase="Unknown"))
                continue
            owned = plane.cache.owned_by(uid)
            pod = owned.get(("Pod", cluster.metadata.namespace or "", pod_name))
            status = (pod or {}).get("status") or {}
            ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])
            items.append(InstanceStatus(name=pod_name, data_plane=plane_name,
                                        pod_phase=status.get("phase", "Pending") if pod else "Missing",
                                        ready=bool(pod) and ready,
                                        addresses=_addresses(owned, comp, cluster, ordinal, plane)))
        for ordinal in prepared.waiting_ordinals.get(comp.spec.name, []):
            items.append(InstanceStatus(name=names.pod(name, comp.spec.name, ordinal), data_plane="",
                                        pod_phase="Pending"))
            seen.problems.append(Problem("DataPlanesAvailable", "NoAvailableDataPlane",
                                         f"instance {names.pod(name, comp.spec.name, ordinal)} waits: every data "
                                         f"plane of the placement {','.join(prepared.placement)} is unavailable"))
        seen.components[comp.spec.name] = items


def _addresses(owned: Mapping[tuple[str, str, str], Obj], comp: ComponentInput, cluster: Cluster, ordinal: int,
               plane: Plane) -> list[str]:
    """Addresses that reach one instance from other data planes: its pod services' LB or node ports."""
    out = []
    for plan in comp.services:
        if not plan.pod_service:
            continue
        svc_name = names.pod_service(cluster.metadata.name or "", comp.spec.name, plan.suffix, ordinal)
        svc = owned.get(("Service", cluster.metadata.namespace or "", svc_name))
        if svc is None:
            continue
        for ingress in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
            out.append(ingress.get("ip") or ingress.get("hostname"))
        if plan.type == "NodePort":
            node = plane.cache.node_address()
            out.extend(f"{node}:{p['nodePort']}" for p in svc["spec"].get("ports", []) if node and p.get("nodePort"))
    return [a for a in out if a]


def check_definition(rt: Runtime, body: Obj) -> None:
    """Validate a ComponentDefinition and set its status.phase (Available / Unavailable) when it changes."""
    problems = []
    try:
        definition = ComponentDefinition.model_validate(body)
        services = {s.name for s in definition.spec.services}
        for var in definition.spec.vars:
            ref = var.value_from.service_var_ref if var.value_from else None
            if ref is not None and ref.name not in services:
                problems.append(f"spec.vars[{var.name}].valueFrom.serviceVarRef.name: no service named {ref.name}")
    except ValueError as exc:
        problems.append(f"invalid: {exc}")
    problem = "; ".join(problems) or None
    phase, message = ("Unavailable", problem) if problem else ("Available", None)
    status = body.get("status") or {}
    generation = body["metadata"].get("generation")
    if status.get("phase") == phase and status.get("message") == message and status.get(
            "observedGeneration") == generation:
        return
    try:
        rest.call(rt.control, "PATCH", rest.path("ComponentDefinition", name=body["metadata"]["name"],
                                                 subresource="status"),
                  body={"status": {"phase": phase, "message": message, "observedGeneration": generation}},
                  content_type=rest.MERGE_PATCH)
    except ApiError as exc:
        log.warning("componentdefinition=%s status write failed: %s", body["metadata"]["name"], exc)
