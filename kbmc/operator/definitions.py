"""ComponentDefinitions: the last seen of each, parsed once per version, and their validation (status.phase
Available / Unavailable, as KubeBlocks sets it)."""

from __future__ import annotations

import threading

from kbmc.api.componentdefinition import ComponentDefinition
from kbmc.kube.informer import Obj, stale

IGNORED = {"updateStrategy": "spec.updateStrategy (a change replaces every pod at once)",
           "roles": "spec.roles (pods get no role label)",
           "lifecycleActions": "spec.lifecycleActions (no action runs)"}
"""Fields kbmc parses but does not act on yet (day 2): reported in the definition's status message."""


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


def check(body: Obj, namespace: str) -> dict[str, object] | None:
    """The status a ComponentDefinition should have (phase, message, observedGeneration); None when it has it.
    ``namespace``: where kbmc reads script templates (its own)."""
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
        spec = body.get("spec") or {}
        notes = [path for field, path in IGNORED.items() if spec.get(field)] + notes
    except ValueError as exc:
        problems.append(f"invalid: {exc}")
    message: str | None
    if problems:
        phase, message = "Unavailable", "; ".join(problems)
    else:
        phase = "Available"
        message = f"not acted on by kbmc yet: {'; '.join(notes)}" if notes else None
    status = body.get("status") or {}
    generation = body["metadata"].get("generation")
    if (status.get("phase"), status.get("message"), status.get("observedGeneration")) == (phase, message, generation):
        return None
    return {"phase": phase, "message": message, "observedGeneration": generation}
