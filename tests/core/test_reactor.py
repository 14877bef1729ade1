"""kopf's reactor under kbmc's supervision, without a cluster: kopf stopped by an API error (the bare 404 of a
starting API server, a 503) is started again after the control plane is found serving; a CRD removed or
installed again restarts it; an unexpected failure of kopf, or a part of the operator that ends, stops the
process with exit code 1; the lists made before each start drop only what was deleted meanwhile. kopf's
reactor itself is replaced by a stand-in here (the drills run the real one against real API servers); the
errors are kopf's own types, built as kopf builds them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kopf
import pytest
import yaml
from kopf._cogs.clients.errors import APINotFoundError, APIServerError

from kbmc.kube.crds import Listing
from kbmc.operator import handlers, health, metrics, watches
from kbmc.operator.runtime import Runtime
from kbmc.settings import Settings, WatchSettings

Step = Callable[["handlers._Reactor", asyncio.Event], Any]


@pytest.fixture
def reactor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[handlers._Reactor]:
    """A reactor over a runtime whose control plane does not answer (nothing here talks to it)."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    rt = Runtime(Settings(kubeconfig=kubeconfig, watches=WatchSettings(restart_backoff=(0.01, 0.05), watchdog=0.05,
                                                                       stop_grace=0.2)))
    handle = handlers._Reactor(rt)
    monkeypatch.setattr(handle.crds, "start", lambda: None)  # no CRD informers against a server that is not there
    yield handle
    rt.stop()


def drive(monkeypatch: pytest.MonkeyPatch, reactor: handlers._Reactor, steps: list[Step]) -> tuple[int, int]:
    """Run the reactor with kopf's reactor replaced by ``steps`` (one per start); return the exit code and how
    often the control plane was checked before a start."""
    checks = 0

    def wait_served(rt: Runtime, halt: threading.Event) -> dict[str, bool] | None:
        nonlocal checks
        checks += 1
        return None if halt.is_set() else dict.fromkeys(watches.KINDS, True)

    async def operator(*, stop_flag: asyncio.Event, **_: Any) -> None:
        step = steps.pop(0)
        result = step(reactor, stop_flag)
        if asyncio.iscoroutine(result):
            await result

    monkeypatch.setattr(watches, "wait_served", wait_served)
    monkeypatch.setattr(kopf, "operator", operator)
    return asyncio.run(reactor.run()), checks


def fail(exc: Exception) -> Step:
    def step(_: handlers._Reactor, __: asyncio.Event) -> None:
        raise exc
    return step


def stop(reactor: handlers._Reactor, _: asyncio.Event) -> None:
    reactor.stop()


async def run_until_stopped(_: handlers._Reactor, flag: asyncio.Event) -> None:
    await flag.wait()


def restarts(reason: str) -> float:
    value = metrics.WATCH_RESTARTS.labels(reason)._value.get()
    return float(value)


def test_watches_stopped_by_api_errors_start_again(monkeypatch: pytest.MonkeyPatch,
                                                   reactor: handlers._Reactor) -> None:
    before = restarts("404"), restarts("503")
    code, checks = drive(monkeypatch, reactor, [
        fail(APINotFoundError("404 page not found", status=404, headers={})),
        fail(APIServerError("server is starting", status=503, headers={})),
        fail(APINotFoundError("404 page not found", status=404, headers={})),
        stop,
    ])
    assert code == 0
    assert checks == 4, "every start follows a check that the control plane serves the kinds"
    assert (restarts("404") - before[0], restarts("503") - before[1]) == (2, 1)


def test_a_kopf_whose_stop_hangs_is_cancelled_and_started_again(monkeypatch: pytest.MonkeyPatch,
                                                                reactor: handlers._Reactor) -> None:
    """As seen when the control plane's API server restarts: a part of kopf fails (it logs so) and kopf's stop
    then waits for a watch stuck re-authenticating; kbmc cancels it after stop_grace and watches again."""
    async def failed_and_stuck(_: handlers._Reactor, __: asyncio.Event) -> None:
        logging.getLogger("kopf._core.reactor.running").error("Multidimensional multitasker has failed: 404")
        await asyncio.Event().wait()  # kopf's stop waiting for ever

    code, checks = drive(monkeypatch, reactor, [failed_and_stuck, stop])
    assert (code, checks) == (0, 2)


def test_a_kopf_that_will_not_even_be_cancelled_ends_the_process(monkeypatch: pytest.MonkeyPatch,
                                                                 reactor: handlers._Reactor,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="kopf._core.reactor.running")  # the operator logs at INFO
    exits: list[bool] = []
    monkeypatch.setattr(reactor, "exit_now", lambda: exits.append(True))

    async def deaf(_: handlers._Reactor, __: asyncio.Event) -> None:
        logging.getLogger("kopf._core.reactor.running").info("Signal SIGTERM is received. Operator is stopping.")
        for _ in range(3):  # (three: the test's own loop must end once asked)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.5)

    code, _ = drive(monkeypatch, reactor, [deaf])
    assert code == 1 and exits == [True]


def test_unexpected_failure_of_kopf_exits_non_zero(monkeypatch: pytest.MonkeyPatch,
                                                   reactor: handlers._Reactor) -> None:
    code, _ = drive(monkeypatch, reactor, [fail(KeyError("a bug"))])
    assert code == 1


def test_crd_removed_or_installed_again_restarts_the_watches(monkeypatch: pytest.MonkeyPatch,
                                                             reactor: handlers._Reactor) -> None:
    async def crd_removed(r: handlers._Reactor, flag: asyncio.Event) -> None:
        r.crds._seen("ComponentDefinition", True, False)  # as the last check found: nothing to do
        await asyncio.sleep(0.05)
        assert not flag.is_set()
        r.crds._seen("ComponentDefinition", True, True)  # being deleted: still served, finalizers let go
        assert r.rt.crds_terminating == {"ComponentDefinition"} and not flag.is_set()
        r.crds._seen("ComponentDefinition", False, False)
        await asyncio.wait_for(flag.wait(), 5)

    code, checks = drive(monkeypatch, reactor, [crd_removed, stop])
    assert (code, checks) == (0, 2)


def test_a_part_that_ends_stops_the_operator(monkeypatch: pytest.MonkeyPatch, reactor: handlers._Reactor) -> None:
    ended = threading.Thread(target=lambda: None, name="reconcile-0")
    ended.start()
    ended.join()
    reactor.rt._threads.append(ended)
    assert reactor.stopped_parts() == ["reconcile-0"]
    code, _ = drive(monkeypatch, reactor, [run_until_stopped])
    assert code == 1


def cluster(name: str, version: int) -> dict[str, Any]:
    return {"kind": "Cluster", "metadata": {"namespace": "ns", "name": name, "uid": f"uid-{name}",
                                            "resourceVersion": str(version)}, "spec": {}}


def test_catching_up_drops_only_what_a_newer_list_lacks(reactor: handlers._Reactor) -> None:
    rt = reactor.rt
    for name, version in (("kept", 5), ("deleted", 7), ("newer", 10)):
        rt.observe_cluster("ADDED", cluster(name, version))
    rt.catch_up("Cluster", Listing([cluster("kept", 5), cluster("created", 9)], "8"))
    assert sorted(rt.state.clusters) == ["ns/created", "ns/kept", "ns/newer"], \
        "'newer' was seen after the list was made: its absence there proves nothing"
    rt.catch_up("Cluster", Listing([], ""))
    assert rt.state.clusters == {}, "a kind whose CRD is not installed has nothing"


def test_liveness_fails_naming_what_stopped() -> None:
    stopped: list[str] = []
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = health.serve(port, lambda: stopped)
    assert server is not None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert (response.status, response.read()) == (200, b"ok\n")
        stopped.append("probe")
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert (failed.value.code, failed.value.read()) == (500, b"stopped: probe\n")
    finally:
        server.shutdown()
        server.server_close()
