"""What one pass does to a Cluster, decided from its snapshot alone (pure): the record to write, the intents per
data plane, the status, the Events and when to look again. ``kbmc.operator.reconcile`` commits a decision;
nothing here does I/O, so every decision is tested on snapshots built in memory.

A pass (``decide``): definitions, placement and the ordinal record (``prepare_components``) -> the record
(``record_patch``) -> the data planes it can work in -> manifests (``core.build``) -> intents per data plane
(``core.plan``); then status after the writes (``after_apply``). Deletion is ``decide_cleanup``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from kbmc.api.cluster import Cluster, ClusterComponentSpec, InstanceStatus, PodPhase
from kbmc.api.componentdefinition import ComponentDefinition
from kbmc.core import accounts, members, names, placement, versions
from kbmc.core.accounts import Account
from kbmc.core.build import ComponentInput, Manifest, build_cluster, check_names, check_volumes
from kbmc.core.members import Member
from kbmc.core.plan import Intent, Key, key_of, live_instances, outdated, plan_plane
from kbmc.core.services import ServicePlan, ingress_addresses, plan_services
from kbmc.core.snapshot import PlaneSnapshot, Snapshot
from kbmc.core.status import Event, Observation, Problem
from kbmc.core.vars import Component, Context, SeenService, resolve
from kbmc.core.verdict import unsupported_fields
from kbmc.errors import ClusterSpecError, ComponentDefinitionError, PlacementError
from kbmc.settings import QueueSettings

PLANE_CONDITIONS = ("DataPlanesAvailable", "DataPlanesReachable")
KEPT_BY_HALT = frozenset({"PersistentVolumeClaim", "ConfigMap", "Secret"})
"""What a deletion under Halt (and the orphan sweep) keeps."""


@dataclass(frozen=True)
class Again:
    """When to look at the Cluster again."""

    after: float | None = None
    """Seconds; None: only when something changes."""
    backoff: bool = False
    """A data plane or the control plane refused a write: also look again after the queue's per-Cluster backoff
    (which grows with refusals in a row), if that is sooner than ``after``."""

    @staticmethod
    def soonest(*items: Again | float | None) -> Again:
        """The earliest of several."""
        agains = [i if isinstance(i, Again) else Again(i) for i in items if i is not None]
        times = [a.after for a in agains if a.after]
        return Again(min(times) if times else None, backoff=any(a.backoff for a in agains))


@dataclass
class Prepared:
    """A Cluster ready to build: its placement, each component's inputs, and what is wrong."""

    placement: list[str] = field(default_factory=list)
    components: list[ComponentInput] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    waiting_ordinals: dict[str, list[int]] = field(default_factory=dict)
    retired: dict[str, dict[int, str]] = field(default_factory=dict)
    """Ordinals at or above replicas stay recorded until their objects are gone."""
    record: dict[str, dict[int, str]] = field(default_factory=dict)
    """The ordinal record after refusing hand edits that contradict where instances live."""
    choices: dict[str, versions.Choice] = field(default_factory=dict)
    """Component -> the definition, service version and images it runs."""
    accounts: list[Account] = field(default_factory=list)
    """System accounts whose Secret the control plane does not have yet (the commit creates them, with a
    password, before the data planes get copies)."""
    blocked: bool = False


@dataclass(frozen=True)
class Decision:
    """One pass's decision; ``kbmc.operator.reconcile`` commits it in this order: Events, record, intents, status."""

    seen: Observation
    """Status as it stands before the intents are carried out (``after_apply`` adds the instances and the
    intents' outcome)."""
    prepared: Prepared
    record: dict[str, dict[int, str]] | None = None
    """The ordinal record kbmc holds to (remembered after the pass); None when the Cluster cannot be built."""
    metadata: dict[str, Any] | None = None
    """A merge patch of the Cluster's metadata (placement, record, finalizer), written before anything else."""
    intents: Mapping[str, list[Intent]] = field(default_factory=dict)
    """Data plane -> what to write there, in order."""
    events: list[Event] = field(default_factory=list)
    """Warnings that are not status transitions (a look-alike left alone)."""
    reported: frozenset[tuple[str, Key]] = frozenset()
    """Look-alikes reported by ``events``."""
    again: Again = Again()
    status_first: bool = False
    """What status says about the data planes is out of date: write status only, and act on the next pass as
    soon as status is written (after the status write's spacing, if it waits)."""


def decide(snap: Snapshot, queue: QueueSettings) -> Decision:
    """The pass over a Cluster not being deleted."""
    cluster = snap.cluster
    seen = Observation(generation=cluster.metadata.generation or 0)
    events, reported = _lookalikes(snap)
    prepared = prepare_components(snap)
    seen.problems.extend(prepared.problems)
    unsupported = unsupported_fields(cluster)
    if unsupported:
        seen.problems.append(Problem("FieldsSupported", "NotSupported", (
            "kept, not acted on by kbmc yet: " + "; ".join(unsupported))))
    seen.definitions = {c: (ch.name, ch.service_version) for c, ch in prepared.choices.items()}
    if prepared.blocked:
        seen.blocked = True
        return Decision(seen, prepared, events=events, reported=reported)
    record, metadata = record_patch(cluster, prepared)
    involved = sorted(set(prepared.placement) | {p for c in prepared.components for p in c.ordinals.values()}
                      | snap.holding())
    workable, listing, problems = _workable(snap, involved)
    seen = replace(seen, problems=[*seen.problems, *problems], degraded=bool(problems))
    decision = Decision(seen, prepared, record, metadata, events=events, reported=reported)
    desired = build_cluster(cluster, prepared.components,
                            {n: dict(snap.plane(n).service_annotations) for n in involved if n in snap.planes},
                            snap.agent_image)
    keep = frozenset({"PersistentVolumeClaim"}) if cluster.spec.termination_policy in (
        "Halt", "DoNotTerminate") else frozenset()
    live = {c.spec.name: c.ordinals for c in prepared.components}
    day2 = _day_two(snap, prepared, desired, workable)
    seen.problems.extend(day2.problems)
    seen.updating = day2.updating
    if day2.promoted:  # done: the request goes, and the Cluster's Events say so
        metadata = decision.metadata or {"metadata": {"resourceVersion": cluster.metadata.resource_version}}
        metadata["metadata"].setdefault("annotations", {})[members.PROMOTE] = None
        decision = replace(decision, metadata=metadata,
                           events=[*decision.events, ("Normal", "Promoted", day2.promoted)])
    if _planes_changed_since_status(cluster, seen):
        # A data plane became unavailable or came back: say so (with what day 2 waits for) before acting, and act
        # on the next pass (queued behind the other Clusters), so every affected Cluster reports within one round
        # of status writes.
        return replace(decision, status_first=True)
    intents = {}
    for name in workable:
        observed = snap.plane(name).objects
        planned = plan_plane(desired.get(name, []), observed, keep, live_instances(observed, live) | day2.spare,
                             day2.replace) + day2.requests.get(name, [])
        if planned:
            intents[name] = planned
    return replace(decision, intents=intents, again=Again.soonest(
        Again(queue.listing_retry if listing else None), day2.poll))


@dataclass
class DayTwo:
    """What rolling changes, membership changes and switchovers add to a pass (``core.members``)."""

    replace: frozenset[Key] = frozenset()
    """Outdated Pods that may be replaced now."""
    spare: frozenset[Key] = frozenset()
    """Pods (and their PVCs) of leaving members that stay until they have left the group."""
    requests: dict[str, list[Intent]] = field(default_factory=dict)
    """Data plane -> patches asking pods' agents to run actions."""
    problems: list[Problem] = field(default_factory=list)
    updating: bool = False
    poll: float | None = None
    promoted: str = ""
    """A promote is done (what the Event says)."""


ACTION_POLL = 5.0
"""Seconds between looks at a Cluster while an action runs (its answer also comes as a pod change)."""


def _day_two(snap: Snapshot, prepared: Prepared, desired: dict[str, list[Manifest]], workable: list[str]) -> DayTwo:
    """Run ``core.members`` over each component across its data planes; hold the pods of members waiting to join
    (removed from ``desired``) and mark the PVCs of members in the group (in ``desired``)."""
    cluster = snap.cluster
    name, namespace = cluster.metadata.name or "", cluster.metadata.namespace or ""
    out = DayTwo()
    replace_keys: set[Key] = set()
    spare: set[Key] = set()
    wanted = {plane: {key_of(m): m for m in manifests} for plane, manifests in desired.items()}
    promote = _promote_request(cluster)
    keeps_claims = cluster.spec.termination_policy in ("Halt", "DoNotTerminate")
    for comp in prepared.components:
        component = comp.spec.name
        templates = [t.name for t in comp.spec.volume_claim_templates]
        live = [_member(snap, wanted, workable, comp, o, p) for o, p in sorted(comp.ordinals.items())]
        leaving = [m for m in (_member(snap, wanted, workable, comp, o, p)
                               for o, p in sorted(prepared.retired.get(component, {}).items())) if m.pod is not None]
        step = members.plan(comp.definition, name, component, cluster.metadata.generation or 0, live, leaving,
                            comp.env, bool(templates), promote, snap.now)
        out.promoted = out.promoted or step.promoted
        by_ordinal = {m.ordinal: m for m in [*live, *leaving]}
        for ordinal in step.replace:
            replace_keys.add(("Pod", namespace, names.pod(name, component, ordinal)))
        for ordinal in step.keep:  # a leaving member keeps what it needs to leave: its pod, volumes and address
            spare.add(("Pod", namespace, names.pod(name, component, ordinal)))
            spare.update(("PersistentVolumeClaim", namespace, names.pvc(t, name, component, ordinal))
                         for t in templates)
            spare.update(("Service", namespace, names.pod_service(name, component, plan.suffix, ordinal))
                         for plan in comp.services if plan.pod_service)
        for ordinal in step.hold:
            pod_key = ("Pod", namespace, names.pod(name, component, ordinal))
            plane = by_ordinal[ordinal].plane
            desired[plane] = [m for m in desired.get(plane, []) if key_of(m) != pod_key]
        for ordinal in step.joined:
            plane = by_ordinal[ordinal].plane
            claims = {("PersistentVolumeClaim", namespace, names.pvc(t, name, component, ordinal)) for t in templates}
            desired[plane] = [_annotated(m, members.JOINED, "true") if key_of(m) in claims else m
                              for m in desired.get(plane, [])]
        for ordinal in step.left if keeps_claims else ():  # a kept volume is no longer a member's
            out.requests.setdefault(by_ordinal[ordinal].plane, []).extend(
                Intent("patch", "PersistentVolumeClaim", namespace, names.pvc(t, name, component, ordinal),
                       {"metadata": {"annotations": {members.JOINED: None}}}) for t in templates)
        for ordinal, request in step.requests.items():
            target = by_ordinal[ordinal]
            out.requests.setdefault(target.plane, []).append(Intent(
                "patch", "Pod", namespace, target.name,
                {"metadata": {"annotations": {members.REQUEST: request.annotation()}}}))
        where = f"component {component}"
        probe_errors = [f"{m.name}: {error}" for m in live if (error := ((m.pod or {}).get("metadata", {}).get(
            "annotations") or {}).get(members.PROBE_ERROR))]
        if probe_errors:
            out.problems.append(Problem("RolesProbed", "RoleProbeFailed", f"{where}: {'; '.join(probe_errors)}"))
        if step.held:
            out.problems.append(Problem("Updated", "UpdateHeld", f"{where}: {step.held}"))
        elif step.failed:
            out.problems.append(Problem("Updated", "ActionFailed", f"{where}: {step.failed}"))
        elif step.updating:
            out.problems.append(Problem("Updated", "Updating", f"{where}: {step.updating}"))
        out.updating = out.updating or bool(step.updating or step.held or step.failed)
        if step.poll:
            out.poll = ACTION_POLL
    out.replace, out.spare = frozenset(replace_keys), frozenset(spare)
    return out


def _promote_request(cluster: Cluster) -> dict[str, str] | None:
    raw = cluster.metadata.annotations.get(members.PROMOTE)
    try:
        request = json.loads(raw) if raw else None
    except ValueError:
        return None
    return {str(k): str(v) for k, v in request.items()} if isinstance(request, dict) else None


def _member(snap: Snapshot, wanted: Mapping[str, Mapping[Key, Manifest]], workable: list[str], comp: ComponentInput,
            ordinal: int, plane: str) -> Member:
    """One instance across the data planes, as ``core.members`` reads it."""
    cluster, namespace = snap.cluster.metadata.name or "", snap.cluster.metadata.namespace or ""
    objects = snap.plane(plane).objects
    pod_key = ("Pod", namespace, names.pod(cluster, comp.spec.name, ordinal))
    pod, want = objects.get(pod_key), wanted.get(plane, {}).get(pod_key)
    claims = [objects.get(("PersistentVolumeClaim", namespace, names.pvc(t.name, cluster, comp.spec.name, ordinal)))
              for t in comp.spec.volume_claim_templates]
    joined = any(((c or {}).get("metadata", {}).get("annotations") or {}).get(members.JOINED) == "true"
                 for c in claims)
    current = pod is None or want is None or not outdated(want, pod)
    claim = str(((claims[0] if claims else None) or {}).get("metadata", {}).get("uid") or "")
    return Member(ordinal, plane, plane in workable, pod, current=current, joined=joined, claim=claim)


def _annotated(manifest: Manifest, key: str, value: str) -> Manifest:
    meta = manifest["metadata"]
    return {**manifest, "metadata": {**meta, "annotations": {**(meta.get("annotations") or {}), key: value}}}


def after_apply(snap: Snapshot, decision: Decision, done: Mapping[str, list[Intent]],
                failures: Mapping[str, str]) -> tuple[Observation, Again]:
    """Status once the intents were carried out (``done``: what each data plane accepted; ``failures``: what
    was refused, by data plane), and when to look again."""
    seen = replace(decision.seen, problems=list(decision.seen.problems))
    again = decision.again
    if failures:
        seen.problems.append(Problem("ResourcesApplied", "ApplyFailed", "; ".join(failures.values())))
        again = Again.soonest(again, Again(backoff=True))
    if not decision.prepared.blocked:
        seen = _with_instances(snap, decision.prepared, seen, done)
    return seen, again


def record_refused(decision: Decision, message: str) -> Observation:
    """Status when the Cluster refused kbmc's record (its annotations near the API server's size limit, say):
    nothing is created anywhere without it."""
    seen = replace(decision.seen, problems=list(decision.seen.problems), blocked=True)
    seen.problems.append(Problem("SpecValid", "RecordRefused", (
        f"metadata.annotations: the API server refused kbmc's record {names.INSTANCES} on the Cluster, so "
        f"nothing is created: {message[:300]}")))
    return seen


def prepare_components(snap: Snapshot) -> Prepared:
    """Definitions, services, placement and the ordinal record, or the problems that block building."""
    cluster = snap.cluster
    name = cluster.metadata.name or ""
    out = Prepared()
    if not cluster.spec.component_specs:
        out.problems.append(Problem("SpecValid", "NoComponents", "spec.componentSpecs: empty; kbmc runs "
                                    "componentSpecs (shardingSpecs are not supported yet)"))
    definitions: dict[str, tuple[ComponentDefinition, list[ServicePlan]]] = {}
    pins = versions.read_pins(cluster.metadata.annotations)
    for spec in cluster.spec.component_specs:
        definition = _chosen(snap, spec, pins.get(spec.name), out)
        if definition is not None:
            try:
                check_volumes(spec, definition)
                plans = plan_services(spec, definition)
                check_names(name, spec, plans)
                definitions[spec.name] = (definition, plans)
            except ClusterSpecError as exc:
                out.problems.append(Problem("SpecValid", "InvalidComponentSpec", str(exc)))
    views = {n: p.view() for n, p in snap.planes.items()}
    namespace = cluster.metadata.namespace or "default"
    annotation = cluster.metadata.annotations.get(names.PLACEMENT)
    try:
        if annotation is None:
            replicas = max((s.replicas for s in cluster.spec.component_specs), default=1)
            out.placement = placement.choose(snap.key, replicas, views, namespace)
        else:
            out.placement = placement.parse(annotation, names.PLACEMENT)
            placement.check(out.placement, views, namespace, names.PLACEMENT)
    except PlacementError as exc:
        out.problems.append(Problem("PlacementValid", "InvalidPlacement", str(exc)))
    if out.problems:
        out.blocked = True
        return out
    out.record = _checked_record(snap, out)
    assigned: dict[str, tuple[placement.Assignment, list[str]]] = {}
    for spec in cluster.spec.component_specs:
        assignment = placement.assign(out.placement, spec.replicas, out.record.get(spec.name, {}), views)
        if assignment.waiting:
            out.waiting_ordinals[spec.name] = assignment.waiting
        outside = {o: p for o, p in assignment.planes.items() if p not in out.placement}
        if outside:
            # a live member keeps what it uses in its data plane (env, scripts, Services) until it is gone
            out.problems.append(Problem("PlacementValid", "PlacementExcludesInstances", (
                f"{names.PLACEMENT} no longer names the data plane(s) of instance(s) "
                + ", ".join(f"{names.pod(name, spec.name, o)} ({p})" for o, p in sorted(outside.items()))
                + ": they stay where they are, with what they use; new instances go to the placement")))
        assigned[spec.name] = assignment, [*out.placement, *sorted(set(outside.values()))]
    every = [Component(spec.name, *definitions[spec.name], assigned[spec.name][0].planes, spec.replicas)
             for spec in cluster.spec.component_specs]
    seen_planes = sorted({p for _, planes in assigned.values() for p in planes})
    for spec in cluster.spec.component_specs:
        definition, plans = definitions[spec.name]
        assignment, planes = assigned[spec.name]
        ctx = _var_context(snap, seen_planes, spec.name)
        try:
            resolution = resolve(definition, plans, name, spec.name, assignment.planes, ctx, namespace,
                                 spec.replicas, [c for c in every if c.name != spec.name])
        except ComponentDefinitionError as exc:
            out.problems.append(Problem("SpecValid", "ComponentDefinitionInvalid", str(exc)))
            out.blocked = True
            return out
        scripts, missing = {}, []
        for script in definition.spec.scripts:
            files = snap.templates.get(script.template_ref)
            if files is None:
                missing.append(f"{snap.template_namespace}/{script.template_ref}")
            else:
                scripts[script.name] = dict(files)
        if missing:
            out.problems.append(Problem("SpecValid", "ScriptTemplateMissing",
                                        f"ComponentDefinition {definition.metadata.name}: script ConfigMap(s) "
                                        f"{', '.join(missing)} not found"))
        if resolution.waiting:
            out.problems.append(Problem("AddressesResolved", "WaitingForAddresses",
                                        f"pods wait for the address of Service(s) {', '.join(resolution.waiting)}"))
        try:
            wanted = accounts.accounts(name, spec, definition)
        except ClusterSpecError as exc:
            out.problems.append(Problem("SpecValid", "InvalidComponentSpec", str(exc)))
            out.blocked = True
            return out
        absent = [a for a in wanted if a.secret not in snap.accounts]
        out.accounts.extend(absent)
        # the accounts of other components their vars read are created with those components
        unmade = sorted({a.secret for a in absent} | {secret for secret, _ in resolution.credentials.values()
                                                  if secret not in snap.accounts})
        if unmade:
            out.problems.append(Problem("ResourcesApplied", "CreatingAccounts", (
                f"pods wait for the Secret(s) {', '.join(unmade)} of their system accounts")))
        out.components.append(ComponentInput(
            spec=spec, definition=definition, services=plans, ordinals={**assignment.planes},
            planes=planes, env=None if resolution.waiting and not ctx.previous else resolution.env,
            held=_new_pods(snap, spec.name, assignment.planes) if resolution.waiting or missing or unmade
            else frozenset(),
            scripts=scripts, credentials=resolution.credentials,
            accounts={a.secret: snap.accounts[a.secret] for a in wanted if a.secret in snap.accounts}))
        out.retired[spec.name] = {o: p for o, p in assignment.retired.items()
                                  if _still_there(snap, spec.name, o, p)}
    return out


def record_patch(cluster: Cluster, prepared: Prepared) -> tuple[dict[str, dict[int, str]], dict[str, Any] | None]:
    """The ordinal record (retired ordinals included until their objects are gone), and the metadata patch that
    persists it with the placement and the finalizer before anything is created (None: nothing to write)."""
    record = {c.spec.name: dict(sorted({**prepared.retired.get(c.spec.name, {}), **c.ordinals}.items()))
              for c in prepared.components}
    meta = cluster.metadata
    annotations: dict[str, str | None] = {}
    if meta.annotations.get(names.PLACEMENT) is None:
        annotations[names.PLACEMENT] = ",".join(prepared.placement)
    text = placement.write_record(record)
    if meta.annotations.get(names.INSTANCES) != text:
        annotations[names.INSTANCES] = text
    pins = versions.write_pins({s.name: (s.component_def or "", s.service_version or "", prepared.choices[s.name])
                                for s in cluster.spec.component_specs if s.name in prepared.choices})
    if meta.annotations.get(names.DEFINITIONS) != pins:
        annotations[names.DEFINITIONS] = pins
    if not annotations and names.FINALIZER in meta.finalizers:
        return record, None
    patch: dict[str, Any] = {"metadata": {"resourceVersion": meta.resource_version}}
    if annotations:
        patch["metadata"]["annotations"] = annotations
    if names.FINALIZER not in meta.finalizers:
        patch["metadata"]["finalizers"] = [*meta.finalizers, names.FINALIZER]
    return record, patch


def _chosen(snap: Snapshot, spec: ClusterComponentSpec, pin: versions.Pin | None,
            out: Prepared) -> ComponentDefinition | None:
    """The definition a component runs, its containers' images those of the release chosen (``out.choices``);
    None, with the problem in ``out``, when none fits."""
    where = f"spec.componentSpecs[{spec.name}]"
    if not spec.component_def:
        out.problems.append(Problem("SpecValid", "ComponentDefinitionNotFound", (
            f"{where}.componentDef: unset; kbmc needs a ComponentDefinition (componentDefRef with "
            "clusterDefinitionRef, KubeBlocks' older ClusterDefinition API, is not supported)")))
        return None
    pinned = pin.resolved if pin and (pin.pattern, pin.wanted) == (spec.component_def, spec.service_version or "") \
        else None
    try:
        choice = versions.choose(spec.component_def, spec.service_version, snap.definitions, snap.versions, pinned)
    except versions.ChoiceError as exc:
        field_ = "serviceVersion" if exc.reason != "ComponentDefinitionNotFound" else "componentDef"
        out.problems.append(Problem("SpecValid", exc.reason, f"{where}.{field_}: {exc}"))
        return None
    definition = snap.definitions[choice.name]
    if definition.status.phase == "Unavailable":
        out.problems.append(Problem("SpecValid", "ComponentDefinitionInvalid", (
            f"{where}.componentDef: ComponentDefinition {choice.name} is invalid: {definition.status.message}")))
        return None
    for cmpv in versions.compatible_versions(choice.name, snap.versions, snap.definitions):
        if cmpv.status.phase == "Unavailable":
            out.problems.append(Problem("SpecValid", "ComponentVersionInvalid", (
                f"{where}.serviceVersion: ComponentVersion {cmpv.metadata.name} (for ComponentDefinition "
                f"{choice.name}) is invalid: {cmpv.status.message}")))
            return None
    limit = definition.spec.replicas_limit
    if limit is not None and not limit.min_replicas <= spec.replicas <= limit.max_replicas:
        out.problems.append(Problem("SpecValid", "ReplicasOutOfLimit", (
            f"{where}.replicas {spec.replicas}: ComponentDefinition {choice.name} allows "
            f"{limit.min_replicas} to {limit.max_replicas}")))
        return None
    out.choices[spec.name] = choice
    definition = versions.with_images(definition, choice.images)
    if spec.update_strategy and spec.update_strategy != definition.spec.update_strategy:
        definition = definition.model_copy(update={"spec": definition.spec.model_copy(update={
            "update_strategy": spec.update_strategy})})
    return definition


def _lookalikes(snap: Snapshot) -> tuple[list[Event], frozenset[tuple[str, Key]]]:
    """A Warning for each look-alike not reported before."""
    meta = snap.cluster.metadata
    events: list[Event] = []
    reported = set()
    for name, plane in sorted(snap.planes.items()):
        for key in plane.lookalikes:
            if (name, key) in snap.reported:
                continue
            reported.add((name, key))
            events.append(("Warning", "LookAlikeLeftAlone", (
                f"{key[0]} {key[1]}/{key[2]} in data plane {name} carries the labels of Cluster "
                f"{meta.namespace}/{meta.name} but is not an object kbmc made for it: kbmc leaves it alone")))
    return events, frozenset(reported)


def _checked_record(snap: Snapshot, out: Prepared) -> dict[str, dict[int, str]]:
    """The ordinal record, with entries that contradict where instances live refused (a condition naming the
    ordinal and both data planes) and restored."""
    name = snap.cluster.metadata.name or ""
    lives: dict[str, dict[int, set[str]]] = {}
    for plane in snap.planes.values():
        if plane.unusable is not None:
            continue
        for (kind, _, _), obj in plane.objects.items():
            labels = obj["metadata"].get("labels") or {}
            if kind in ("Pod", "PersistentVolumeClaim") and (labels.get(names.ORDINAL) or "").isdigit():
                lives.setdefault(labels.get(names.COMPONENT, ""), {}).setdefault(
                    int(labels[names.ORDINAL]), set()).add(plane.name)
    recorded = placement.read_record(snap.cluster.metadata.annotations)
    if recorded is None:
        out.problems.append(Problem("PlacementValid", "RecordUnreadable", (
            f"{names.INSTANCES} is not valid JSON {{component: {{ordinal: data plane}}}}: kbmc holds to what it "
            "knows of where instances live, and writes the record again")))
        recorded = {}
    record, refusals = placement.check_record(
        recorded, {c: {o: frozenset(p) for o, p in items.items()} for c, items in lives.items()}, snap.remembered)
    for refused in refusals:
        pod = names.pod(name, refused.component, refused.ordinal)
        said = f"data plane {refused.recorded}" if refused.recorded else "no data plane"
        out.problems.append(Problem("PlacementValid", "RecordEditRefused", (
            f"{names.INSTANCES}: instance {pod} lives in data plane {refused.actual}; the record's {said} is "
            "refused and the record restored (an instance never moves)")))
    return record


def _var_context(snap: Snapshot, planes: list[str], component: str) -> Context:
    """Services and node addresses observed in the placement's data planes, and the published env."""
    meta = snap.cluster.metadata
    seen: dict[tuple[str, str], SeenService] = {}
    addresses: dict[str, str] = {}
    unavailable: set[str] = set()
    previous: dict[str, str] = {}
    env_key = ("ConfigMap", meta.namespace or "", names.env_config_map(meta.name or "", component))
    for name in planes:
        if name not in snap.planes:
            continue
        plane = snap.planes[name]
        if not plane.available:
            unavailable.add(name)
            continue
        published = plane.objects.get(env_key)
        if published and not previous:
            previous = dict(published.get("data") or {})
        for (kind, _ns, svc), obj in plane.objects.items():
            if kind == "Service":
                seen[(name, svc)] = SeenService(
                    ingress=ingress_addresses(obj),
                    node_ports=tuple(p["nodePort"] for p in obj["spec"].get("ports", []) if p.get("nodePort")))
        if plane.node_address:
            addresses[name] = plane.node_address
    return Context(seen, addresses, frozenset(unavailable), previous)


def _new_pods(snap: Snapshot, component: str, ordinals: Mapping[int, str]) -> frozenset[int]:
    """Ordinals whose Pod does not exist yet (only those are held back while vars are unresolved)."""
    meta = snap.cluster.metadata
    return frozenset(ordinal for ordinal, plane in ordinals.items()
                     if ("Pod", meta.namespace or "", names.pod(meta.name or "", component, ordinal))
                     not in snap.plane(plane).objects)


def _still_there(snap: Snapshot, component: str, ordinal: int, plane_name: str) -> bool:
    """Whether a retired ordinal may still have objects (kept PVCs, or a data plane kbmc cannot see)."""
    plane = snap.plane(plane_name)
    if plane.unusable is not None:
        return True
    return any((o["metadata"].get("labels") or {}).get(names.COMPONENT) == component
               and (o["metadata"].get("labels") or {}).get(names.ORDINAL) == str(ordinal)
               for o in plane.objects.values())


def _workable(snap: Snapshot, involved: list[str]) -> tuple[list[str], bool, list[Problem]]:
    """The data planes kbmc can work in now, whether one of the others is only still listing, and the others as
    DataPlanesAvailable / DataPlanesReachable problems naming each and why."""
    ready: list[str] = []
    unavailable: list[str] = []
    unreachable: list[str] = []
    listing = False
    for name in involved:
        plane = snap.plane(name)
        listing = listing or plane.listing
        if plane.unusable is None:
            ready.append(name)
        else:
            (unreachable if plane.available else unavailable).append(f"{name} ({plane.unusable})")
    problems = []
    if unavailable:
        problems.append(Problem("DataPlanesAvailable", "DataPlaneUnavailable",
                                f"data plane(s) {'; '.join(unavailable)}"))
    if unreachable:
        problems.append(Problem("DataPlanesReachable", "DataPlaneUnreachable",
                                f"data plane(s) {'; '.join(unreachable)}"))
    return ready, listing, problems


def _planes_changed_since_status(cluster: Cluster, seen: Observation) -> bool:
    """Whether what status says about unavailable or unreachable data planes is out of date."""
    said = {c.type: (c.status, c.message) for c in cluster.status.conditions if c.type in PLANE_CONDITIONS}
    now = {p.type: ("False", p.message) for p in seen.problems if p.type in PLANE_CONDITIONS}
    return {t: v for t, v in said.items() if v[0] == "False"} != now


def _with_instances(snap: Snapshot, prepared: Prepared, seen: Observation,
                    done: Mapping[str, list[Intent]]) -> Observation:
    """``seen`` with each component's instances: where each is, its pod's phase and readiness, the addresses that
    reach it. A Pod created by this pass is Pending."""
    cluster = snap.cluster
    name, namespace = cluster.metadata.name or "", cluster.metadata.namespace or ""
    created = {(plane, i.name) for plane, intents in done.items() for i in intents
               if i.action == "create" and i.kind == "Pod"}
    out = replace(seen, problems=list(seen.problems), components={})
    for comp in prepared.components:
        items = []
        for ordinal, plane_name in sorted(comp.ordinals.items()):
            pod_name = names.pod(name, comp.spec.name, ordinal)
            plane = snap.plane(plane_name)
            if plane.unusable is not None:
                items.append(InstanceStatus(name=pod_name, data_plane=plane_name, pod_phase="Unknown"))
                continue
            pod = plane.objects.get(("Pod", namespace, pod_name))
            status = (pod or {}).get("status") or {}
            ready = not (pod or {}).get("metadata", {}).get("deletionTimestamp") and any(  # terminating: not ready
                c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])
            phase: PodPhase = status.get("phase", "Pending") if pod else (
                "Pending" if (plane_name, pod_name) in created else "Missing")
            role = ((pod or {}).get("metadata", {}).get("labels") or {}).get(members.ROLE)
            items.append(InstanceStatus(name=pod_name, data_plane=plane_name, pod_phase=phase, role=role,
                                        ready=bool(pod) and ready, addresses=_addresses(comp, cluster, ordinal, plane)))
        for ordinal in prepared.waiting_ordinals.get(comp.spec.name, []):
            items.append(InstanceStatus(name=names.pod(name, comp.spec.name, ordinal), data_plane="",
                                        pod_phase="Pending"))
            out.problems.append(Problem("DataPlanesAvailable", "NoAvailableDataPlane",
                                        f"instance {names.pod(name, comp.spec.name, ordinal)} waits: every data "
                                        f"plane of the placement {','.join(prepared.placement)} is unavailable"))
        out.components[comp.spec.name] = items
    return out


def _addresses(comp: ComponentInput, cluster: Cluster, ordinal: int, plane: PlaneSnapshot) -> list[str]:
    """Addresses that reach one instance from other data planes: its pod services' LB or node ports."""
    out: list[str] = []
    for plan in comp.services:
        if not plan.pod_service:
            continue
        svc_name = names.pod_service(cluster.metadata.name or "", comp.spec.name, plan.suffix, ordinal)
        svc = plane.objects.get(("Service", cluster.metadata.namespace or "", svc_name))
        if svc is None:
            continue
        out.extend(ingress_addresses(svc))
        ports = [p["nodePort"] for p in svc["spec"].get("ports", []) if p.get("nodePort")]
        if plan.type == "NodePort" and plane.node_address and ports:  # the service's first port, as vars give it
            out.append(f"{plane.node_address}:{ports[0]}")
    return out


@dataclass(frozen=True)
class CleanupDecision:
    """One pass over a Cluster being deleted. Committed in this order: ``policy`` recorded, intents, then
    either the finalizer removed (``done``) or ``pending`` noted and status written."""

    seen: Observation
    policy: str | None = None
    """The terminationPolicy to record as the one the deletion runs under (None: recorded already)."""
    intents: Mapping[str, list[Intent]] = field(default_factory=dict)
    pending: str | None = None
    """The new value of ``kbmc.io/pending-cleanup`` ("" to remove it; None: unchanged)."""
    done: bool = False
    """Nothing is left anywhere: the finalizer goes."""
    waiting: list[str] = field(default_factory=list)
    """Data planes kbmc could work in that are not usable now, and why."""
    terminating: tuple[str, ...] = ()
    """Data planes where objects are still terminating (deleted asynchronously: gone once the watch says so)."""
    events: list[Event] = field(default_factory=list)
    reported: frozenset[tuple[str, Key]] = frozenset()
    """As in ``Decision``: look-alikes are left alone by a deletion too, and reported once."""


def decide_cleanup(snap: Snapshot) -> CleanupDecision | None:
    """Deletion per terminationPolicy (None when kbmc's finalizer is gone: nothing to do).

    DoNotTerminate refuses (the Cluster stays until the policy changes). Halt removes workloads, Services and
    RBAC but keeps PVCs, Secrets and ConfigMaps. Delete and WipeOut remove everything kbmc created. A data plane
    marked unavailable is never touched: it is recorded in ``kbmc.io/pending-cleanup`` and cleaned when it is
    marked available again; meanwhile the finalizer stays. The policy the deletion started under holds to the
    end."""
    cluster = snap.cluster
    meta = cluster.metadata
    if names.FINALIZER not in meta.finalizers:
        return None
    seen = Observation(generation=meta.generation or 0, deleting=True)
    events, reported = _lookalikes(snap)
    started = meta.annotations.get(names.DELETION_POLICY)
    policy = started if started and started != "DoNotTerminate" else cluster.spec.termination_policy
    if policy == "DoNotTerminate":
        seen.problems.append(Problem("DeletionAllowed", "DoNotTerminate",
                                     "spec.terminationPolicy is DoNotTerminate: the Cluster is kept; set it to "
                                     "Halt, Delete or WipeOut to let the deletion finish"))
        return CleanupDecision(seen, events=events, reported=reported)
    if cluster.spec.termination_policy != policy:
        seen.problems.append(Problem("SpecValid", "DeletionPolicyFixed", (
            f"the deletion continues under terminationPolicy {policy}, the policy it started with; "
            f"spec.terminationPolicy {cluster.spec.termination_policy} would apply to a Cluster not being deleted")))
    keep = KEPT_BY_HALT if policy == "Halt" else frozenset()
    pending, missing, waiting, terminating = [], [], [], []
    intents = {}
    for name in sorted(placement.record_planes(meta.annotations) | snap.holding()):
        if name not in snap.planes:
            missing.append(name)
            continue
        plane = snap.planes[name]
        if not plane.available:
            pending.append(name)
            continue
        if plane.unusable is not None:
            waiting.append(f"{name} ({plane.unusable})")
            continue
        planned = plan_plane([], plane.objects, keep)
        if planned:
            intents[name] = planned
        if any(k[0] not in keep for k in plane.objects):
            terminating.append(name)
    blocked = []
    if pending:
        blocked.append(f"cleanup waits for data plane(s) {', '.join(pending)} to be marked available; nothing "
                       "there is touched meanwhile")
    if missing:
        blocked.append(f"data plane(s) {', '.join(missing)} no longer exist (DataPlane deleted), so kbmc cannot "
                       "remove this Cluster's objects there: create the DataPlane again (kbmc dataplane join) "
                       f"for kbmc to finish, or remove the finalizer {names.FINALIZER} to leave them")
    if blocked:
        seen.problems.append(Problem("DataPlanesAvailable", "CleanupPending", "; ".join(blocked)))
    note = ",".join(pending + missing)
    return CleanupDecision(seen, policy=policy if started != policy else None, intents=intents,
                           pending=note if meta.annotations.get(names.PENDING_CLEANUP, "") != note else None,
                           done=not (pending or missing or waiting or terminating), waiting=waiting,
                           terminating=tuple(terminating), events=events, reported=reported)


def cleanup_after_apply(decision: CleanupDecision, failures: Mapping[str, str]) -> tuple[Observation, bool]:
    """Status of a deletion once its intents were carried out (``failures``: data plane -> what was refused),
    and whether to look again soon (something is still on its way out)."""
    seen = replace(decision.seen, problems=list(decision.seen.problems))
    waiting = [*decision.waiting, *(f"{name} (objects still terminating)" for name in decision.terminating
                                    if name not in failures), *failures.values()]
    if waiting:
        seen.problems.append(Problem("ResourcesApplied", "CleanupInProgress", "; ".join(waiting)))
    return seen, bool(waiting)
