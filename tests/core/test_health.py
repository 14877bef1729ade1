"""A data plane's observed health: the probe's answers and the workers' unanswered writes, one step at a time."""

from __future__ import annotations

import threading

from kbmc.kube.planes import Health


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
