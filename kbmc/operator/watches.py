"""What kopf watches in the control plane, and when kopf's watches may (re)start.

A kube-apiserver that is starting answers 503, then a bare 404 for custom resources until its CRD informers
have synced; kopf takes such an answer to a watch for fatal and stops all of its watches, and its discovery,
run once per start, does not see a kind that is not served yet. So kopf's watches (re)start only once every
kind whose CRD exists is served (``wait_served``), and the lists made to find that out catch the runtime up
with what changed, or was deleted, while nothing watched. kbmc watches the three CRDs itself
(``CrdWatch``): a CRD removed or created again restarts kopf's watches, which then serve exactly the kinds
that exist (kopf's own CRD scanning would race the API server's discovery).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import aiohttp
from kopf._cogs.clients.errors import APIError, APISessionClosed
from kopf._cogs.clients.watching import WatchingError

from kbmc.errors import KindNotServedError
from kbmc.kube import rest
from kbmc.kube.crds import Listing, crd_name, established, list_served
from kbmc.kube.informer import Informer, Obj, ended
from kbmc.operator import metrics
from kbmc.operator.runtime import Runtime

log = logging.getLogger("kbmc.operator.watches")
KINDS = ("DataPlane", "ComponentDefinition", "ComponentVersion", "Cluster")
"""The kinds kopf watches, in the order a catching-up runtime takes them in (what Clusters refer to first)."""
TRANSIENT = (APIError, APISessionClosed, WatchingError, aiohttp.ClientError, TimeoutError, OSError)
"""What stops kopf's watches because of the API server (kopf's own error types): the watches start again."""


def reason(exc: BaseException) -> str:
    """A short label for why kopf's watches stopped (a metric label): the HTTP status, or the error's type."""
    status = getattr(exc, "status", None)
    return str(status) if isinstance(status, int) else type(exc).__name__


def wait_served(rt: Runtime, halt: threading.Event) -> dict[str, bool] | None:
    """Block until the control plane serves every kind kopf watches whose CRD is installed, hand the lists to
    the runtime and return which kinds are installed; None when ``halt`` is set first. Each change of what it
    waits for is logged; a kind whose CRD is not installed is reported (log, ``kbmc_kind_served`` 0) and not
    waited for."""
    first, most = rt.settings.watches.served_backoff
    delay, said = first, ""
    while not halt.is_set():
        listings: dict[str, Listing] = {}
        waiting: list[str] = []
        for kind in KINDS:
            try:
                listings[kind] = list_served(rt.control, kind)
            except KindNotServedError as exc:
                waiting.append(str(exc))
            metrics.KIND_SERVED.labels(kind).set(1 if kind in listings and listings[kind].installed else 0)
        if not waiting:
            break
        message = "; ".join(waiting)
        if message != said:
            log.warning("waiting for the control plane to serve kbmc's kinds: %s", message)
            said = message
        halt.wait(delay)
        delay = min(delay * 2, most)
    else:
        return None
    for kind, listing in listings.items():
        if not listing.installed:
            log.warning("the control plane has no CRD %s: kbmc sees no %s until it is installed (kbmc install)",
                        crd_name(kind), kind)
        rt.catch_up(kind, listing)
    if said:
        log.info("the control plane serves kbmc's kinds again")
    return {kind: listing.installed for kind, listing in listings.items()}


class CrdWatch:
    """Informers of the CRDs of the kinds kopf watches; ``on_change(kind)`` runs when one is removed, or becomes
    Established, unlike what the last ``wait_served`` found (``installed``)."""

    def __init__(self, rt: Runtime, on_change: Callable[[str], None]) -> None:
        self.installed: dict[str, bool] = {}
        self._rt = rt
        self._on_change = on_change
        self._informers = [
            Informer(f"control/crd-{kind}", rest.lister(rt.control, "CustomResourceDefinition",
                                                        field_selector=f"metadata.name={crd_name(kind)}"),
                     self._handler(kind), on_synced=self._listed(kind))
            for kind in KINDS]

    def start(self) -> None:
        for informer in self._informers:
            informer.start()

    def stop(self) -> None:
        for informer in self._informers:
            informer.stop()

    def stopped_parts(self) -> list[str]:
        return [i.name for i in self._informers if ended(i)]

    def _handler(self, kind: str) -> Callable[[str, Obj], None]:
        def handle(event: str, crd: Obj) -> None:
            self._seen(kind, event != "DELETED" and established(crd),
                       event != "DELETED" and bool(crd["metadata"].get("deletionTimestamp")))
        return handle

    def _listed(self, kind: str) -> Callable[[list[Obj]], None]:
        def listed(items: list[Obj]) -> None:
            self._seen(kind, any(established(crd) for crd in items),
                       any(crd["metadata"].get("deletionTimestamp") for crd in items))
        return listed

    def _seen(self, kind: str, present: bool, terminating: bool) -> None:
        if terminating and kind not in self._rt.crds_terminating:
            log.warning("CRD %s is being deleted: kbmc's finalizers leave its objects", crd_name(kind))
            self._rt.crds_terminating.add(kind)
        elif not terminating:
            self._rt.crds_terminating.discard(kind)
        known = self.installed.get(kind)
        if known is None or known == present:
            return
        self.installed[kind] = present
        metrics.KIND_SERVED.labels(kind).set(0)  # until kopf's watches have started again
        if present:
            log.info("CRD %s is installed again: kopf's watches start again to serve %s", crd_name(kind), kind)
        else:
            log.warning("CRD %s was removed: kbmc sees no %s until it is installed again", crd_name(kind), kind)
        self._on_change(kind)
