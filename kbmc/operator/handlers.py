"""kopf at the edge: it watches Clusters, ComponentDefinitions and DataPlanes in the control plane and
hands each event to the runtime, which queues a level-triggered reconcile. Handlers are event handlers
only, so kopf writes nothing of its own (no finalizers, no progress annotations): the finalizer and every
write are kbmc's."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import kopf

from kbmc.kube.client import user_agent
from kbmc.kube.informer import ended
from kbmc.kube.leader import Election
from kbmc.operator import health, logs, metrics, watches
from kbmc.operator.runtime import Runtime
from kbmc.operator.sweep import Sweeper
from kbmc.settings import Settings

log = logging.getLogger("kbmc.operator")


@dataclass(frozen=True)
class _Connection(kopf.ConnectionInfo):
    """kopf's connection, with kbmc's user agent so audit logs tell kbmc's requests apart."""

    def as_http_headers(self) -> dict[str, str]:
        return {**super().as_http_headers(), "User-Agent": user_agent("operator/kopf")}


class _NoDiffBase(kopf.DiffBaseStorage):
    """kopf computes a deep-copied "essence" of every event for change handlers; kbmc has none, and that copy
    was a quarter of kopf's CPU per event."""

    def build(self, **_: Any) -> kopf.BodyEssence:
        return {}

    def fetch(self, **_: Any) -> kopf.BodyEssence | None:
        return None

    def store(self, **_: Any) -> None:
        return None


def build_registry(rt: Runtime) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.enabled = False
        settings.watching.server_timeout = 60
        settings.watching.client_timeout = 90
        settings.networking.request_timeout = 30
        settings.persistence.finalizer = "kbmc.io/kopf-unused"
        settings.persistence.diffbase_storage = _NoDiffBase()
        # kopf would SIGKILL the process 10 minutes after any stop it was not asked for; kbmc restarts it instead
        settings.process.ultimate_exiting_timeout = None
        settings.scanning.disabled = True  # kbmc watches its CRDs itself (watches.CrdWatch)

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        """kopf's credentials from the control-plane client's own configuration, as kubectl has them: a token,
        a client certificate (kind, kubeadm), or both from an exec plugin. The header is read through the
        client's refresh hook, so when kopf logs in again after a 401 an exec plugin's (or a rotated file's)
        token is a fresh one. ``kopf.login_via_client`` would load the default kubeconfig's current context,
        not the operator's."""
        config = rt.control.configuration
        header = config.get_api_key_with_prefix("BearerToken", alias="authorization") or ""
        scheme, _space, token = header.rpartition(" ")
        return _Connection(server=config.host, ca_path=config.ssl_ca_cert, insecure=not config.verify_ssl,
                           scheme=scheme or None, token=token or None, certificate_path=config.cert_file,
                           private_key_path=config.key_file, default_namespace="default")

    @kopf.on.event("apps.kubeblocks.io", "v1alpha1", "clusters", registry=registry)
    def cluster(event: kopf.RawEvent, **_: Any) -> None:
        rt.observe_cluster(event.get("type") or "ADDED", dict(event["object"]))

    @kopf.on.event("apps.kubeblocks.io", "v1alpha1", "componentdefinitions", registry=registry)
    def definition(event: kopf.RawEvent, **_: Any) -> None:
        rt.observe_definition(event.get("type") or "ADDED", dict(event["object"]))

    @kopf.on.event("apps.kubeblocks.io", "v1alpha1", "componentversions", registry=registry)
    def version(event: kopf.RawEvent, **_: Any) -> None:
        rt.observe_version(event.get("type") or "ADDED", dict(event["object"]))

    @kopf.on.event("kbmc.io", "v1alpha1", "dataplanes", registry=registry)
    def dataplane(event: kopf.RawEvent, **_: Any) -> None:
        rt.observe_dataplane(event.get("type") or "ADDED", dict(event["object"]))

    return registry


def run(settings: Settings) -> int:
    """Run the operator until SIGINT / SIGTERM; return the process's exit code (1 when a part it cannot live
    without stopped, so that a Deployment or a supervisor starts it again). With leader election, it stands by
    (metrics and health served, nothing watched or written) until it holds the Lease."""
    logs.configure(settings.log_format, settings.log_level)
    rt = Runtime(settings)
    reactor: _Reactor | None = None
    election = Election(rt.control, settings.namespace, settings.leader, settings.identity, _exit_now,
                        lambda leading: metrics.LEADER.set(int(leading))) if settings.leader.enabled else None

    def stopped_parts() -> list[str]:
        return reactor.stopped_parts() if reactor else election.stopped_parts() if election else []

    metrics.QUEUE_DEPTH.set_function(lambda: len(rt.queue))
    metrics.serve(settings.metrics_port, settings.bind_address, rt.inventory)
    health.serve(settings.liveness_port, stopped_parts, settings.bind_address)
    if election is not None:
        standby = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: standby.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            if not election.wait(standby):
                if standby.is_set():
                    log.info("operator stopped while standing by")
                    return 0
                log.critical("leader election ended unexpectedly (see above); exiting so that the operator is "
                             "restarted")
                return 1
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    reactor = _Reactor(rt, election.stopped_parts if election else list)
    rt.start()
    log.info("operator started namespace=%s secret=%s contexts=%s identity=%s", settings.namespace,
             settings.kubeconfig_secret, ",".join(settings.contexts) or "-", settings.identity)
    try:
        return asyncio.run(reactor.run())
    finally:
        ended = rt.stop()
        reactor.halt.set()
        if reactor.sweeper.is_alive():
            reactor.sweeper.join(10)  # a sweep under way ends first
        if election is not None and ended and not reactor.sweeper.is_alive():
            election.release()
        elif election is not None:
            log.warning("leader election: Lease not released (a pass is still under way); a standby takes over "
                        "once it runs out")


def _exit_now() -> None:
    """The Lease is lost, or kopf's reactor does not end: the process ends here, at once (no thread may write
    again; a task that does not end would hold an orderly exit), and its supervisor starts it again."""
    logging.shutdown()
    os._exit(1)


class _Stopping(logging.Handler):
    """Calls ``notice`` when kopf's reactor says it is stopping (a signal, the stop flag) or that a part of its own
    failed (which stops it)."""

    def __init__(self, notice: Callable[[], None]) -> None:
        super().__init__()
        self._notice = notice

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or "is stopping" in record.getMessage():
            self._notice()


class _Reactor:
    """kopf's reactor, (re)started for as long as the operator runs.

    kopf's watches start once the control plane serves kbmc's kinds (``watches.wait_served``); they start again
    when kopf stops on an API error (with backoff) and when a CRD of those kinds is removed or installed again
    (``watches.CrdWatch``). Anything else that stops kopf, or a part of the operator that ends, stops the
    process with exit code 1."""

    def __init__(self, rt: Runtime, more_parts: Callable[[], list[str]] = list,
                 exit_now: Callable[[], None] = _exit_now) -> None:
        self.rt = rt
        self.exit_now = exit_now
        self.more_parts = more_parts
        """Other parts the operator cannot work without (the leader election)."""
        self.halt = threading.Event()
        """Set once: the operator stops."""
        self.failed = False
        self._restart = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.crds = watches.CrdWatch(rt, lambda _kind: self._call(self._restart.set))
        self.sweeper = Sweeper(rt.parts, self.halt)

    def stopped_parts(self) -> list[str]:
        """What the operator cannot work without and has ended (the liveness endpoint fails while any has)."""
        if self.halt.is_set():
            return []
        sweeper = [self.sweeper.name] if ended(self.sweeper) else []
        return self.rt.stopped_parts() + self.crds.stopped_parts() + sweeper + self.more_parts()

    def stop(self, failed: bool = False) -> None:
        self.failed = self.failed or failed
        self.halt.set()
        self._call(self._restart.set)

    def _call(self, fn: Callable[[], object]) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(fn)

    async def run(self) -> int:
        loop = self._loop = asyncio.get_running_loop()
        watchdog = asyncio.create_task(self._watchdog())
        registry = build_registry(self.rt)
        self.crds.start()
        self.sweeper.start()
        tuning = self.rt.settings.watches
        delay = tuning.restart_backoff[0]
        try:
            while not self.halt.is_set():
                for sig in (signal.SIGINT, signal.SIGTERM):  # kopf replaces them with its own while it runs
                    loop.add_signal_handler(sig, self.stop)
                self._restart.clear()  # before the check: a CRD change from now on starts the watches again
                installed = await asyncio.to_thread(watches.wait_served, self.rt, self.halt)
                if installed is None:
                    break
                self.crds.installed.update(installed)
                started = loop.time()
                try:
                    await self._kopf(registry)
                except watches.TRANSIENT as exc:
                    if loop.time() - started > tuning.stable_run:
                        delay = tuning.restart_backoff[0]
                    reason = watches.reason(exc)
                    metrics.WATCH_RESTARTS.labels(reason).inc()
                    log.warning("kopf's watches of the control plane stopped (%s: %s); watching again in %.1f s",
                                reason, str(exc)[:200] or type(exc).__name__, delay)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._restart.wait(), delay)
                    delay = min(delay * 2, tuning.restart_backoff[1])
                except Exception:
                    log.critical("kopf's reactor failed; exiting so that the operator is restarted", exc_info=True)
                    return 1
                else:
                    if not self._restart.is_set():
                        break  # kopf stopped on SIGINT / SIGTERM
        finally:
            watchdog.cancel()
            self.crds.stop()
        return 1 if self.failed else 0

    async def _kopf(self, registry: kopf.OperatorRegistry) -> None:
        """One run of kopf's reactor, until it stops (raising what stopped it). kopf's own stop waits without end
        for a task that does not end (a watch re-authenticating on the session kopf closed as it stops, seen when
        the API server restarts): once kopf is asked to stop, or says it is stopping (a signal, a part of its own
        failed), it gets ``stop_grace`` seconds, then is cancelled and run again; one that does not end even then
        stops the operator (its supervisor starts it again)."""
        # the identity given: kopf's own guess asks the passwd database, which a container's user is not in
        run = asyncio.ensure_future(kopf.operator(registry=registry, clusterwide=True, standalone=True,
                                                  stop_flag=self._restart,
                                                  identity=self.rt.settings.identity))  # type: ignore[arg-type]
        stopping = asyncio.Event()
        said = _Stopping(lambda: self._call(stopping.set))
        logging.getLogger("kopf._core.reactor.running").addHandler(said)
        waiters = [asyncio.ensure_future(self._restart.wait()), asyncio.ensure_future(stopping.wait())]
        grace = self.rt.settings.watches.stop_grace
        try:
            await asyncio.wait([run, *waiters], return_when=asyncio.FIRST_COMPLETED)
            if not run.done():
                await asyncio.wait([run], timeout=grace)
            if not run.done():
                log.warning("kopf's reactor did not stop within %.0f s; cancelling it", grace)
                run.cancel()
                await asyncio.wait([run], timeout=grace)  # (wait_for would wait for the cancellation to take)
                if not run.done():
                    log.critical("kopf's reactor did not stop within %.0f s of being cancelled; exiting so that the "
                                 "operator is started again", grace)
                    self.exit_now()
                    raise RuntimeError("kopf's reactor does not stop")
                if not self.halt.is_set():
                    self._restart.set()  # its watches start again (the loop waits until the kinds are served)
                return
            run.result()
        finally:
            logging.getLogger("kopf._core.reactor.running").removeHandler(said)
            for waiter in waiters:
                waiter.cancel()

    async def _watchdog(self) -> None:
        while not self.halt.is_set():
            await asyncio.sleep(self.rt.settings.watches.watchdog)
            parts = self.stopped_parts()
            if parts:
                log.critical("operator part(s) stopped: %s; exiting so that the operator is restarted",
                             ", ".join(parts))
                self.stop(failed=True)
