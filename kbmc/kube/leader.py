"""Leader election: of the operators running against one control plane (a Deployment's replicas, and a local
``kbmc operator run``), only the holder of the coordination.k8s.io Lease ``kbmc-operator`` in the operator's
namespace reconciles and writes.

The election is the official client's (``kubernetes.leaderelection``, client-go's algorithm: a standby takes a
Lease not renewed for ``lease_duration`` seconds; the leader gives up when it could not renew within
``renew_deadline``). kbmc adds what it lacks: the Lease is written through kbmc's own client (with its timeouts
and user agent) rather than the client's global configuration, a stop, and a release on a clean shutdown
(holder cleared, as client-go's ``ReleaseOnCancel``), so that a rolling update hands over at once instead of
after a lease duration. A leader that loses its Lease exits the process at once: it may not write another
byte (client-go's leaders do the same)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.leaderelectionrecord import LeaderElectionRecord
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

from kbmc.kube.client import Api
from kbmc.settings import LeaderSettings

log = logging.getLogger("kbmc.leader")
logging.getLogger("leaderelection").setLevel(logging.WARNING)  # it logs every retry at INFO


class _Lock(LeaseLock):  # type: ignore[misc]  # the client is untyped
    """The client's Lease lock on kbmc's client; it writes nothing once the election is stopped."""

    def __init__(self, api: Api, name: str, namespace: str, holder: str) -> None:
        super().__init__(name, namespace, holder)
        self.api_instance = client.CoordinationV1Api(api)
        self.stopped = threading.Event()

    # The client catches only ApiException; kbmc's client raises urllib3's errors for a server that does not
    # answer (no hidden retries), which would end the election's thread without calling onstopped_leading.
    def get(self, name: str, namespace: str) -> tuple[bool, Any]:
        try:
            return super().get(name, namespace)  # type: ignore[no-any-return]
        except Exception as exc:  # no answer: not the Lease, not leading on it
            log.debug("leader election: Lease not read: %s", type(exc).__name__)
            return False, exc

    def create(self, name: str, namespace: str, election_record: LeaderElectionRecord) -> bool:
        try:
            return not self.stopped.is_set() and bool(super().create(name, namespace, election_record))
        except Exception as exc:
            log.debug("leader election: Lease not created: %s", type(exc).__name__)
            return False

    def update(self, name: str, namespace: str, updated_record: LeaderElectionRecord) -> bool:
        try:
            return not self.stopped.is_set() and bool(super().update(name, namespace, updated_record))
        except Exception as exc:
            log.debug("leader election: Lease not renewed: %s", type(exc).__name__)
            return False


class Election:
    """One candidate. ``wait`` blocks until it leads (or ``stop`` is set); ``on_change(True)`` runs when it starts
    leading, ``on_change(False)`` when it stops; ``on_lost`` runs if it stops leading without being asked;
    ``release`` hands the Lease over when the operator stops cleanly."""

    def __init__(self, api: Api, namespace: str, settings: LeaderSettings, holder: str,
                 on_lost: Callable[[], None], on_change: Callable[[bool], None] = lambda _leading: None) -> None:
        self.settings = settings
        self.holder = holder
        self.where = f"Lease {namespace}/{settings.lease_name}"
        self.lock = _Lock(api, settings.lease_name, namespace, holder)
        self.leading = threading.Event()
        self._on_lost, self._on_change = on_lost, on_change
        config = electionconfig.Config(self.lock, settings.lease_duration, settings.renew_deadline,
                                       settings.retry_period, self._started, self._stopped)
        self._thread = threading.Thread(target=leaderelection.LeaderElection(config).run, name="leader-election",
                                        daemon=True)

    def wait(self, stop: threading.Event) -> bool:
        """Take part in the election until this candidate leads (True) or ``stop`` is set (False)."""
        log.info("leader election: %s as %s (lease %.0f s)", self.where, self.holder, self.settings.lease_duration)
        self._thread.start()
        while not self.leading.wait(0.2):
            if stop.is_set() or not self._thread.is_alive():
                self.lock.stopped.set()
                return False
        return True

    def stopped_parts(self) -> list[str]:
        """The election's thread, once it has ended while this candidate takes part."""
        return [] if self.lock.stopped.is_set() or self._thread.is_alive() or not self._thread.ident else [
            self._thread.name]

    def release(self) -> None:
        """Clear the holder (this candidate stops writing first), so that a standby takes over at once."""
        self.lock.stopped.set()
        if not self.leading.is_set():
            return
        try:
            lease: Any = self.lock.api_instance.read_namespaced_lease(self.settings.lease_name, self.lock.namespace)
            if lease.spec.holder_identity != self.holder:
                return
            lease.spec.holder_identity = None
            lease.spec.lease_duration_seconds = 1
            self.lock.api_instance.replace_namespaced_lease(self.settings.lease_name, self.lock.namespace, lease)
            log.info("leader election: %s released", self.where)
        except Exception as exc:  # the standby takes over after the lease duration instead
            log.warning("leader election: %s not released (%s); a standby takes over within %.0f s", self.where,
                        type(exc).__name__, self.settings.lease_duration)

    def _started(self) -> None:
        log.info("leader election: %s acquired by %s", self.where, self.holder)
        self._on_change(True)
        self.leading.set()

    def _stopped(self) -> None:
        self._on_change(False)
        if not self.lock.stopped.is_set():
            log.critical("leader election: %s lost (not renewed within %.0f s); exiting so that no write follows",
                         self.where, self.settings.renew_deadline)
            self._on_lost()
