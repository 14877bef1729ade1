"""A DataPlane's conditions from the SRE's decision and the probe (what ``kubectl wait --for=condition=Ready``
reads)."""

from __future__ import annotations

from kbmc.core.dataplanes import conditions, same


def said(**kwargs: object) -> dict[str, tuple[str, str]]:
    args = {"available": True, "reason": "", "reachable": True, "message": "", "credentials_error": None,
            "generation": 3, "now": "T1", **kwargs}
    return {c.type: (c.status, c.reason) for c in conditions([], **args)}  # type: ignore[arg-type]


def test_ready_needs_available_reachable_and_credentials() -> None:
    assert said() == {"Available": ("True", "Available"), "Reachable": ("True", "Answered"), "Ready": ("True", "Ready")}
    assert said(available=False, reason="drill")["Ready"] == ("False", "MarkedUnavailable")
    assert said(available=False, reason="drill")["Reachable"] == ("Unknown", "NotContacted")
    assert said(reachable=False, message="connection refused at https://x")["Ready"] == ("False", "NoAnswer")
    assert said(credentials_error="context k8s-9 is not in the Secret")["Ready"] == ("False", "NoCredentials")
    assert said(reachable=None)["Ready"] == ("False", "NotProbedYet")


def test_transition_times_move_only_on_a_change_of_status() -> None:
    first = conditions([], available=True, reason="", reachable=True, message="", credentials_error=None,
                       generation=1, now="T1")
    written = [c.model_dump(by_alias=True, exclude_none=True, mode="json") for c in first]
    again = conditions(written, available=True, reason="", reachable=True, message="", credentials_error=None,
                       generation=1, now="T2")
    assert same(written, again), "nothing to write when nothing changed"
    down = conditions(written, available=True, reason="", reachable=False, message="no answer", credentials_error=None,
                      generation=1, now="T3")
    times = {c.type: c.last_transition_time for c in down}
    assert times == {"Available": "T1", "Reachable": "T3", "Ready": "T3"}
