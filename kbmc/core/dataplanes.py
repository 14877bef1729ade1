"""A DataPlane's conditions (``kubectl wait --for=condition=Ready dataplane/k8s-2``), from the SRE's decision and
what kbmc observes (pure; the clock is passed in)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from kbmc.api.common import Condition

State = Literal["True", "False", "Unknown"]


def conditions(previous: Sequence[Mapping[str, Any]], *, available: bool, reason: str, reachable: bool | None,
               message: str, credentials_error: str | None, generation: int | None, now: str) -> list[Condition]:
    """Available (the SRE's decision), Reachable (the last probe; Unknown while marked unavailable: kbmc does not
    ask it) and Ready (kbmc can work there: both, and usable credentials)."""
    said: list[tuple[str, State, str, str]] = [
        ("Available", "True", "Available", "") if available else ("Available", "False", "MarkedUnavailable", reason)]
    if not available:
        said.append(("Reachable", "Unknown", "NotContacted", "marked unavailable: kbmc sends it no request"))
    elif credentials_error:
        said.append(("Reachable", "Unknown", "NoCredentials", credentials_error))
    elif reachable is None:
        said.append(("Reachable", "Unknown", "NotProbedYet", ""))
    else:
        said.append(("Reachable", "True", "Answered", "") if reachable else ("Reachable", "False", "NoAnswer", message))
    blocking = next(((r, m) for t, s, r, m in said if s != "True"), None)
    if blocking is None:
        said.append(("Ready", "True", "Ready", ""))
    else:
        said.append(("Ready", "False", blocking[0], blocking[1]))
    old = {c.get("type"): c for c in previous}
    out = []
    for type_, state, why, text in said:
        before = old.get(type_) or {}
        kept = before.get("status") == state
        out.append(Condition(type=type_, status=state, reason=why, message=text[:1024],
                             last_transition_time=before.get("lastTransitionTime", now) if kept else now,
                             observed_generation=generation))
    return out


def same(previous: Sequence[Mapping[str, Any]], new: Sequence[Condition]) -> bool:
    """Whether writing ``new`` would change nothing."""
    return [dict(c) for c in previous] == [c.model_dump(by_alias=True, exclude_none=True, mode="json") for c in new]
