"""ComponentDefinitions and ComponentVersions: the last seen of each, parsed once per version, and their
verdict (status.phase Available / Unavailable, as KubeBlocks sets it; the rules are ``kbmc.core.verdict`` and
``kbmc.core.versions``)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Generic, TypeVar

from kbmc.api.common import Model
from kbmc.api.componentdefinition import ComponentDefinition
from kbmc.api.componentversion import ComponentVersion
from kbmc.core.verdict import definition_problems
from kbmc.core.versions import version_problems
from kbmc.kube.informer import Obj, stale

M = TypeVar("M", bound=Model)


class Catalog(Generic[M]):
    """The last seen of each object of a cluster-scoped kind (ComponentDefinitions, ComponentVersions), parsed
    once per version (every pass asks)."""

    def __init__(self, model: type[M]) -> None:
        self._model = model
        self._lock = threading.Lock()
        self._bodies: dict[str, Obj] = {}
        self._parsed: dict[str, tuple[str, M | None]] = {}

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

    def get(self, name: str) -> M | None:
        """The object as a model (None: not seen, or not valid)."""
        body = self._bodies.get(name)
        if body is None:
            return None
        version = body["metadata"].get("resourceVersion", "")
        cached = self._parsed.get(name)
        if cached is not None and cached[0] == version:
            return cached[1]
        try:
            model: M | None = self._model.model_validate(body)
        except ValueError:
            model = None  # its status says why (``check``)
        with self._lock:
            self._parsed[name] = (version, model)
        return model

    def models(self) -> dict[str, M]:
        """Every valid one, by name."""
        out = {}
        for name in list(self._bodies):
            model = self.get(name)
            if model is not None:
                out[name] = model
        return out


def check(body: Obj, namespace: str, users: list[str] | None = None) -> dict[str, object] | None:
    """The status a ComponentDefinition should have (phase, message, observedGeneration); None when it has it.
    ``namespace``: where kbmc reads script templates (its own); ``users``: the Clusters that use it."""
    try:
        problems = definition_problems(ComponentDefinition.model_validate(body), namespace)
    except ValueError as exc:
        problems = [f"invalid: {exc}"]
    return _status(body, problems, users)


def check_version(body: Obj, definitions: Mapping[str, ComponentDefinition]) -> dict[str, object] | None:
    """The status a ComponentVersion should have (phase, message, serviceVersions, observedGeneration); None
    when it has it. ``definitions``: every ComponentDefinition."""
    try:
        cmpv = ComponentVersion.model_validate(body)
        problems = version_problems(cmpv, definitions)
        versions = ",".join(sorted({r.service_version for r in cmpv.spec.releases}))
    except ValueError as exc:
        problems, versions = [f"invalid: {exc}"], ""
    return _status(body, problems, None, serviceVersions=versions or None)


def _status(body: Obj, problems: list[str], users: list[str] | None, **more: object) -> dict[str, object] | None:
    phase = "Unavailable" if problems else "Available"
    message = "; ".join(problems) or None
    if body["metadata"].get("deletionTimestamp") and users:
        waits = (f"deletion waits until no Cluster uses it (finalizer kbmc.io/in-use): used by "
                 f"{', '.join(users[:10])}{' and more' if len(users) > 10 else ''}")
        message = f"{waits}; {message}" if message else waits
    wanted = {"phase": phase, "message": message, "observedGeneration": body["metadata"].get("generation"), **more}
    status = body.get("status") or {}
    if all(status.get(k) == v for k, v in wanted.items()):
        return None
    return wanted
