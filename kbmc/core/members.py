"""Day 2 of one component whose members sit in several data planes (pure): which outdated pods may be replaced now
under the definition's updateStrategy, when the leader hands its role over first, when a new member joins the
group before its pod starts and a leaving member leaves before its pod goes, and the lifecycle actions this asks
kbmc's agent in the pods to run (requested and answered through pod annotations, so the operator only ever talks
to the data planes' API servers).

Everything is decided from the pods as the data planes report them: readiness, the role label the agent writes,
the spec hash, and the agent's answers. Nothing waits a fixed time."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kbmc.api.componentdefinition import Action, ComponentDefinition
from kbmc.core import names

Obj = Mapping[str, Any]
ROLE = "kubeblocks.io/role"
"""The pod label with its role, written by kbmc's agent from the roleProbe."""
ACCESS_MODE = "workloads.kubeblocks.io/access-mode"
"""ReadWrite, Readonly or None, from the role's writable / serviceable (written with the role)."""
REQUEST = "kbmc.io/action-request"
"""Pod annotation: the action the operator asks that pod's agent to run, as JSON {id, action, env}."""
RESULT = "kbmc.io/action-result"
"""Pod annotation: the agent's answer, as JSON {id, action, exitCode, output, finishedAt}."""
PROBE_ERROR = "kbmc.io/role-probe-error"
"""Pod annotation: why the last roleProbes gave no role (failed, or printed a role the definition has not)."""
PROMOTE = "kbmc.io/promote"
"""Cluster annotation ``kbmc cluster promote`` writes, as JSON {instance, at}: switch the leader role to it."""
RESTART = "kubeblocks.io/restart"
"""A componentSpec annotation (``kbmc cluster restart`` sets it to the time): its change replaces every pod of
the component under the update strategy, as a spec change does."""
JOINED = "kbmc.io/member-joined"
"""PVC annotation: the member of this ordinal is in the group (it bootstrapped it, or memberJoin added it)."""
DEFAULT_TIMEOUT = 30


@dataclass(frozen=True)
class Member:
    """One instance of the component as the pass sees it."""

    ordinal: int
    plane: str
    usable: bool
    """Its data plane can be worked on now."""
    pod: Obj | None = None
    current: bool = True
    """Its pod runs the desired spec (or there is no pod)."""
    joined: bool = False
    """Its PVCs say it is in the group."""
    claim: str = ""
    """The uid of its first PVC (a member joined again after it left is another join)."""

    @property
    def deleting(self) -> bool:
        return bool(self.pod and self.pod["metadata"].get("deletionTimestamp"))

    @property
    def ready(self) -> bool:
        status = (self.pod or {}).get("status") or {}
        return bool(self.pod) and not self.deleting and any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])

    @property
    def role(self) -> str:
        return str(((self.pod or {}).get("metadata", {}).get("labels") or {}).get(ROLE) or "")

    @property
    def name(self) -> str:
        return str((self.pod or {}).get("metadata", {}).get("name") or "")


@dataclass(frozen=True)
class Request:
    """An action for one pod's agent."""

    id: str
    action: str
    env: Mapping[str, str] = field(default_factory=dict)

    def annotation(self) -> str:
        return json.dumps({"id": self.id, "action": self.action, "env": dict(self.env)}, sort_keys=True)


@dataclass
class Step:
    """What to do for one component this pass."""

    replace: set[int] = field(default_factory=set)
    """Ordinals whose outdated pod is deleted now (it is created again with the new spec)."""
    requests: dict[int, Request] = field(default_factory=dict)
    """Ordinal -> the action its pod's agent is asked to run (a pod annotation)."""
    hold: set[int] = field(default_factory=set)
    """Ordinals whose pod is not created yet (it waits to be joined to the group)."""
    keep: set[int] = field(default_factory=set)
    """Leaving ordinals whose pod stays until it has left the group."""
    joined: set[int] = field(default_factory=set)
    """Ordinals whose PVCs are marked as in the group."""
    updating: str = ""
    """What a rolling change or a membership change is doing, for status (empty: nothing)."""
    failed: str = ""
    """An action that failed or timed out, naming the pod and the tail of its output (empty: none)."""
    held: str = ""
    """Why a change waits for a data plane (empty: it does not)."""
    poll: bool = False
    """An action is under way: look again soon (its answer comes as a pod change too)."""
    promoted: str = ""
    """The instance a promote asked for holds the writable role now (the request can be cleared)."""
    left: set[int] = field(default_factory=set)
    """Ordinals that left the group: their kept PVCs are no longer marked as in it."""
    now: float = 0.0
    """Seconds since the epoch, for the backoff between attempts."""


def role_priority(definition: ComponentDefinition, role: str) -> int:
    """Replacement order: pods without a role (or non-voters) first, then voters, writable roles last."""
    for item in definition.spec.roles:
        if item.name == role:
            return 2 if item.writable else 1 if item.votable or item.serviceable else 0
    return 0


def action(definition: ComponentDefinition, name: str) -> Action | None:
    """The definition's custom action ``name``: roleProbe, memberJoin, memberLeave, or switchover (withCandidate,
    else withoutCandidate: kbmc always names a candidate, and a withoutCandidate action may ignore it)."""
    actions = definition.spec.lifecycle_actions
    if actions is None:
        return None
    if name == "switchover":
        return None if actions.switchover is None else (
            actions.switchover.with_candidate or actions.switchover.without_candidate)
    handler = {"roleProbe": actions.role_probe, "memberJoin": actions.member_join,
               "memberLeave": actions.member_leave}[name]
    return handler.custom_handler if handler is not None else None


def _annotation(pod: Obj | None, key: str) -> dict[str, Any] | None:
    raw = ((pod or {}).get("metadata", {}).get("annotations") or {}).get(key)
    try:
        value = json.loads(raw) if raw else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _attempt(found: dict[str, Any] | None, base: str) -> int:
    """Which attempt of the action ``base`` ``found`` (a request or an answer) is: 0 when it is another."""
    text = str((found or {}).get("id") or "")
    head, _, number = text.partition("#")
    return (int(number) if number.isdigit() else 1) if head == base else 0


def _finished(answered: Mapping[str, Any]) -> float:
    try:
        return datetime.fromisoformat(str(answered.get("finishedAt")).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _run(step: Step, member: Member, request: Request, what: str, settled: bool = True) -> bool | None:
    """Ask ``member``'s agent for ``request`` and read its answer: True done, False failed (``step.failed`` says
    so), None under way. A failed attempt is asked again after a backoff (2, 4, ... 30 s), with the env as it is
    then; a done one whose effect is not ``settled`` (the role did not move) is asked again after 10 s."""
    answered = _annotation(member.pod, RESULT)
    done, asked = _attempt(answered, request.id), _attempt(_annotation(member.pod, REQUEST), request.id)
    step.poll = True
    if done and answered is not None:
        ok = answered.get("exitCode") == 0
        if ok and settled:
            return True
        if not ok:
            output = str(answered.get("output") or "").strip()[-300:]
            why = "timed out" if answered.get("timedOut") else f"exited {answered.get('exitCode')}"
            step.failed = f"{request.action} on {member.name} ({what}) {why}: {output or '(no output)'}"
        wait = 10.0 if ok else min(2.0 ** done, 30.0)
        if asked <= done and step.now >= _finished(answered) + wait:
            step.requests[member.ordinal] = Request(f"{request.id}#{done + 1}", request.action, request.env)
        return ok or False
    if not asked:
        step.requests[member.ordinal] = request
    return None


def missing(member: Member, request: Request) -> bool:
    """Whether ``member``'s agent said it has no such action (its pod predates the definition's action)."""
    answered = _annotation(member.pod, RESULT)
    return bool(_attempt(answered, request.id)) and (answered or {}).get("exitCode") == 127


def plan(definition: ComponentDefinition, cluster: str, component: str, generation: int,
         members: Sequence[Member], leaving: Sequence[Member], env: Mapping[str, str] | None,
         has_volumes: bool, promote: Mapping[str, str] | None = None, now: float = 0.0) -> Step:
    """The day-2 step of one component: ``members`` are its live instances (ordinals below replicas), ``leaving``
    those scale-in removes that still have a pod, ``env`` the component's resolved vars (None: not resolved),
    ``promote`` the Cluster's promote request ({instance, at}) if any."""
    step = Step(now=now)
    live = sorted(members, key=lambda m: m.ordinal)
    probe = action(definition, "roleProbe") is not None
    target = next((m for m in live if promote and m.name == promote.get("instance")), None)
    if promote and target is not None:
        _promote(step, definition, live, target, str(promote.get("at", "")))
        return step
    _membership(step, definition, cluster, component, live, leaving, env, has_volumes)
    if not step.hold and not step.keep and not step.requests:
        _rollout(step, definition, generation, live, probe)
    return step


def _promote(step: Step, definition: ComponentDefinition, live: list[Member], target: Member, at: str) -> None:
    """``kbmc cluster promote``: the writable role to ``target``, through a switchover run on its holder."""
    writable = {r.name for r in definition.spec.roles if r.writable}
    if target.role in writable:
        step.promoted = f"{target.name} is now {target.role}"
        return
    holder = next((m for m in live if m.role in writable and m.usable), None)
    if action(definition, "switchover") is None:
        step.failed = f"promote {target.name}: the definition has no switchover action"
        return
    if holder is None or not target.ready:  # an election under way, or the target restarting: look again
        step.updating = f"promote {target.name} waits for " + (
            "an instance to hold the writable role" if holder is None else f"{target.name} to be Ready")
        step.poll = True
        return
    request = Request(f"promote/{target.name}/{at}", "switchover", {"KB_SWITCHOVER_CURRENT_NAME": holder.name,
                                                                     "KB_SWITCHOVER_CANDIDATE_NAME": target.name})
    step.updating = f"promoting {target.name}: {holder.name} hands its {holder.role} role over"
    _run(step, holder, request, "promote", settled=False)  # done when the target has the role (above)


def _available(member: Member, probe: bool) -> bool:
    """Ready, and with a role when its pod runs the probe (a pod from before the agent has none)."""
    return member.ready and (member.role != "" or not probe or not member.current)


def _membership(step: Step, definition: ComponentDefinition, cluster: str, component: str, live: list[Member],
                leaving: Sequence[Member], env: Mapping[str, str] | None, has_volumes: bool) -> None:
    """Scale-out: a new member joins through a running one before its pod starts; scale-in: a leaving member
    leaves (after handing the leader role over) before its pod is deleted. One member at a time."""
    join, leave = action(definition, "memberJoin"), action(definition, "memberLeave")
    running = [m for m in live if m.pod is not None and not m.deleting]
    bootstrapping = not running or not has_volumes
    step.joined.update(m.ordinal for m in live if m.joined or m.pod is not None)  # a pod is a member
    newcomers = [m for m in live if m.pod is None and not m.joined]
    if bootstrapping or join is None:
        step.joined.update(m.ordinal for m in newcomers)
    elif newcomers:
        first = newcomers[0]
        step.hold.update(m.ordinal for m in newcomers)
        via = _leader_or_any(running, {r.name for r in definition.spec.roles if r.writable})
        if via is None or env is None:
            step.updating = f"member {names.pod(cluster, component, first.ordinal)} waits for a Ready member to " \
                            "join it to the group"
            return
        request = Request(f"memberJoin/{names.pod(cluster, component, first.ordinal)}/{first.claim[:8]}", "memberJoin",
                          {**env, "KB_JOIN_MEMBER_POD_NAME": names.pod(cluster, component, first.ordinal)})
        step.updating = f"joining {names.pod(cluster, component, first.ordinal)} to the group through {via.name}"
        if _run(step, via, request, "memberJoin") is True:
            step.hold.discard(first.ordinal)
            step.joined.add(first.ordinal)
        return
    if leave is None or not leaving:
        return
    member = max(leaving, key=lambda m: m.ordinal)
    step.keep.update(m.ordinal for m in leaving)
    if member.deleting or member.pod is None:
        return
    writable = {r.name for r in definition.spec.roles if r.writable}
    candidate = next((m for m in live if m.ready and m.usable), None)
    if member.role in writable and candidate is not None and action(definition, "switchover") is not None:
        request = Request(f"switchover/{member.name}/leave", "switchover",
                          {"KB_SWITCHOVER_CURRENT_NAME": member.name, "KB_SWITCHOVER_CANDIDATE_NAME": candidate.name})
        step.updating = f"{member.name} hands its {member.role} role to {candidate.name} before it leaves"
        _run(step, member, request, "before leaving", settled=False)  # goes on once its role has moved
        return
    request = Request(f"memberLeave/{member.name}", "memberLeave", {"KB_LEAVE_MEMBER_POD_NAME": member.name})
    step.updating = f"{member.name} leaves the group"
    if _run(step, member, request, "scale-in") is True:
        step.keep.discard(member.ordinal)
        step.left.add(member.ordinal)


def _leader_or_any(running: list[Member], writable: set[str]) -> Member | None:
    """A Ready member kbmc can ask now, the holder of a writable role if there is one."""
    ready = [m for m in running if m.ready and m.usable]
    return next((m for m in ready if m.role in writable), ready[0] if ready else None)


def _rollout(step: Step, definition: ComponentDefinition, generation: int, live: list[Member], probe: bool) -> None:
    """Replace outdated pods under the update strategy, the writable role last (after a switchover away from
    it); a member in a data plane kbmc cannot work on now holds the whole rollout."""
    outdated = [m for m in live if m.pod is not None and not m.deleting and not m.current]
    strategy = definition.spec.update_strategy or "Serial"
    done = sum(1 for m in live if m.pod is not None and m.current and not m.deleting)
    if not outdated:
        going = [m.name for m in live if m.deleting]
        if going:
            step.updating = f"updated {done} of {len(live)} ({strategy}): {', '.join(going)} being replaced"
        return
    step.updating = f"updated {done} of {len(live)} ({strategy})"
    unusable = sorted({m.plane for m in live if not m.usable})
    if unusable:
        step.held = (f"the rolling change waits: data plane(s) {', '.join(unusable)} cannot be worked on now, and "
                     "replacing members elsewhere could cost the group its majority")
        return
    if strategy == "Parallel":
        step.replace.update(m.ordinal for m in outdated)
        return
    unavailable = [m for m in live if not _available(m, probe)]
    budget = 1 if strategy == "Serial" else max(1, len(live) - (len(live) // 2 + 1))
    allowed = budget - len(unavailable)
    if allowed <= 0:
        step.updating += ": waiting for " + ", ".join(
            names_of(unavailable)) + (" to be Ready with a role" if probe else " to be Ready")
        return
    order = sorted(outdated, key=lambda m: (role_priority(definition, m.role), -m.ordinal))
    writable = {r.name for r in definition.spec.roles if r.writable}
    for member in order:
        if allowed <= 0:
            break
        if member.role in writable and len(live) > 1:
            if any(m is not member for m in outdated):
                break  # the leader goes last
            candidate = next((m for m in live if m is not member and m.current and _available(m, probe)), None)
            if candidate is not None and action(definition, "switchover") is not None:
                request = Request(f"switchover/{member.name}/{generation}", "switchover",
                                  {"KB_SWITCHOVER_CURRENT_NAME": member.name,
                                   "KB_SWITCHOVER_CANDIDATE_NAME": candidate.name})
                step.updating += f": {member.name} hands its {member.role} role to {candidate.name} first"
                _run(step, member, request, "before its update", settled=False)  # then it is an ordinary member
                if not missing(member, request):
                    return
                step.failed = ""  # its agent predates the action: replaced as it is (an election follows)
                step.requests.pop(member.ordinal, None)
        step.replace.add(member.ordinal)
        allowed -= 1
    if step.replace:
        step.updating += ": replacing " + ", ".join(
            m.name for m in order if m.ordinal in step.replace)


def names_of(members: Sequence[Member]) -> list[str]:
    return [m.name or f"ordinal {m.ordinal}" for m in members]
