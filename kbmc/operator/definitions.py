"""ComponentDefinitions: the last seen of each, parsed once per version, and their validation (status.phase
Available / Unavailable, as KubeBlocks sets it)."""

from __future__ import annotations

import threading

from kbmc.api.componentdefinition import ComponentDefinition
from kbmc.kube.informer import Obj, stale

RUN_ACTIONS = frozenset({"roleProbe", "switchover", "memberJoin", "memberLeave"})
"""The lifecycle actions kbmc's agent runs; the others are accepted and said not to run."""


class Definitions:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bodies: dict[str, Obj] = {}
        self._parsed: dict[str, tuple[str, ComponentDefinition]] = {}

    def observe(self, event: str, body: Obj) -> bool:
        """Take in an event; return whether it told something new."""
        name = body["metadata"]["name"]
        with self._lock:
            current = self._bodies.get(name)
            if event == "DELETED":
                self._parsed.pop(name, None)
                return self._bodies.pop(name, None) is not None
            if current is not None and stale(current, body):
                return False
            self._bodies[name] = body
        return True

    def bodies(self) -> dict[str, Obj]:
        """A copy of the last seen of each, by name."""
        return dict(self._bodies)

    def get(self, name: str) -> ComponentDefinition | None:
        """The ComponentDefinition as a model, parsed once per resourceVersion (every pass asks)."""
        body = self._bodies.get(name)
        if body is None:
            return None
        version = body["metadata"].get("resourceVersion", "")
        cached = self._parsed.get(name)
        if cached is not None and cached[0] == version:
            return cached[1]
        model = ComponentDefinition.model_validate(body)
        with self._lock:
            self._parsed[name] = (version, model)
        return model


def check(body: Obj, namespace: str, users: list[str] | None = None) -> dict[str, object] | None:
    """The status a ComponentDefinition should have (phase, message, observedGeneration); None when it has it.
    ``namespace``: where kbmc reads script templates (its own); ``users``: the Clusters that use it."""
    problems: list[str] = []
    notes: list[str] = []
    try:
        definition = ComponentDefinition.model_validate(body)
        name = definition.metadata.name
        services = {s.name for s in definition.spec.services}
        for var in definition.spec.vars:
            ref = var.value_from.service_var_ref if var.value_from else None
            if ref is None:
                continue
            where = f"spec.vars[{var.name}].valueFrom.serviceVarRef"
            if ref.name not in services:
                problems.append(f"{where}.name: no service named {ref.name}")
            if ref.comp_def and ref.comp_def != name:
                notes.append(f"{where}.compDef {ref.comp_def} (resolved against this definition's own services)")
        for script in definition.spec.scripts:
            if script.namespace and script.namespace != namespace:
                problems.append(f"spec.scripts[{script.name}].namespace {script.namespace}: kbmc reads script "
                                f"templates from its own namespace {namespace}")
        problems.extend(_action_problems(definition))
        actions = (body.get("spec") or {}).get("lifecycleActions") or {}
        notes = [f"spec.lifecycleActions.{a} (not run)" for a in sorted(set(actions) - RUN_ACTIONS)] + notes
    except ValueError as exc:
        problems.append(f"invalid: {exc}")
    message: str | None
    if problems:
        phase, message = "Unavailable", "; ".join(problems)
    else:
        phase = "Available"
        message = f"not acted on by kbmc yet: {'; '.join(notes)}" if notes else None
    if body["metadata"].get("deletionTimestamp") and users:
        waits = (f"deletion waits until no Cluster uses it (finalizer kbmc.io/in-use): used by "
                 f"{', '.join(users[:10])}{' and more' if len(users) > 10 else ''}")
        message = f"{waits}; {message}" if message else waits
    status = body.get("status") or {}
    generation = body["metadata"].get("generation")
    if (status.get("phase"), status.get("message"), status.get("observedGeneration")) == (phase, message, generation):
        return None
    return {"phase": phase, "message": message, "observedGeneration": generation}


def _action_problems(definition: ComponentDefinition) -> list[str]:
    """Lifecycle actions and role selectors that name what the definition does not have."""
    problems: list[str] = []
    containers = [c.name for c in definition.spec.runtime.containers]
    roles = [r.name for r in definition.spec.roles]
    actions = definition.spec.lifecycle_actions
    if actions is not None:
        handlers = {"roleProbe": actions.role_probe.custom_handler if actions.role_probe else None,
                    "memberJoin": actions.member_join.custom_handler if actions.member_join else None,
                    "memberLeave": actions.member_leave.custom_handler if actions.member_leave else None,
                    "switchover.withCandidate": actions.switchover.with_candidate if actions.switchover else None,
                    "switchover.withoutCandidate": actions.switchover.without_candidate if actions.switchover else None}
        for name, action in handlers.items():
            if action is not None and action.container and action.container not in containers:
                problems.append(f"spec.lifecycleActions.{name}.container {action.container}: no such container "
                                f"(the runtime has: {', '.join(containers)})")
        if actions.role_probe is not None and actions.role_probe.custom_handler is None:
            problems.append("spec.lifecycleActions.roleProbe: kbmc runs customHandler only (builtinHandler "
                            f"{actions.role_probe.builtin_handler or 'unset'} is KubeBlocks' own)")
        if actions.role_probe is not None and not roles:
            problems.append("spec.lifecycleActions.roleProbe: spec.roles is empty, so no role it prints is known")
    for service in definition.spec.services:
        if service.role_selector and service.role_selector not in roles:
            problems.append(f"spec.services[{service.name}].roleSelector {service.role_selector}: not a role of "
                            f"spec.roles (it has: {', '.join(roles) or 'none'})")
    return problems
