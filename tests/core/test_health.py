"""A data plane's observed health: the probe's answers and the workers' unanswered writes, one step at a time."""

from __future__ import annotations

import threading

from kbmc.kube.informer import Informer
from kbmc.kube.planes import Health, Plane, PlaneState
from kbmc.settings import Timeouts


def test_writes_without_an_answer_count_it_unreachable_only_in_a_row() -> None:
    health = Health(reachable=True)
    health.write_unanswered("timeout", 3)
    health.write_unanswered("timeout", 3)
    health.answered()  # any answer starts the count afresh
    health.write_unanswered("timeout", 3)
    health.write_unanswered("timeout", 3)
    assert health.reachable is True
    health.write_unanswered("ReadTimeoutError: no answer", 3)
    assert health.view().reachable is False and "no answer" in health.view().message
    assert health.answered("v1.20.2") is True, "answering again after unreachable is a recovery"
    assert health.view().reachable is True and health.view().server_version == "v1.20.2"
    assert health.answered("v1.20.2") is False


def test_concurrent_changes_are_never_lost() -> None:
    health = Health(reachable=True)
    threads = [threading.Thread(target=lambda: [health.write_unanswered("x", 10_000) for _ in range(1000)])
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert health.reachable is True
    health.write_unanswered("x", 8001)
    assert health.reachable is False, "8000 unanswered writes from 8 threads were each counted"


def test_informers_ended_by_stop_are_never_reported_as_failed() -> None:
    plane = Plane(PlaneState("k8s-2", "k8s-2", available=False, reason="drill"), Health(), None, Timeouts(),
                  lambda _plane, _owners: None)
    died = Informer("k8s-2/Pod", lambda **_: None, lambda _event, _obj: None)
    died.run = lambda: None  # type: ignore[method-assign]  # an informer that ended on its own
    died.start()
    died.join()
    plane._informers = [died]  # the watchdog must see it
    assert plane.stopped_informers() == ["k8s-2/Pod"]
    plane.stop()  # now every informer ends because it was told to
    assert plane.stopped_informers() == []
