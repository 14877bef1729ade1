"""Carry out one data plane's intents, in order, with the data plane's own client; stop at the first
failure and report it naming the object and the data plane. The cache is updated from each answer, so the
next pass does not repeat a write the watch has not delivered yet."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from kbmc.core import clock
from kbmc.core.plan import Intent
from kbmc.errors import ApiError, ConflictError, DataPlaneUnavailableError, KbmcError, NoAnswerError, NotFoundError
from kbmc.kube import rest
from kbmc.kube.informer import slim
from kbmc.kube.planes import Plane
from kbmc.operator import metrics

log = logging.getLogger("kbmc.operator.apply")


def apply_plane(plane: Plane, intents: list[Intent], cluster: str, unanswered_limit: int
                ) -> tuple[list[Intent], str | None]:
    """Apply ``intents``; return those that succeeded and what failed, if anything (for a condition message).
    A write without an answer counts towards ``unanswered_limit`` (then the data plane is unreachable until its
    next probe answers); only kbmc's own errors are failures, anything else is a bug and raised."""
    done: list[Intent] = []
    for intent in intents:
        try:
            _apply(plane, intent)
            plane.health.answered()
        except KbmcError as exc:
            if isinstance(exc, NoAnswerError):
                plane.health.write_unanswered(str(exc), unanswered_limit)
            message = f"{intent.describe()} in data plane {plane.name}: {exc}"
            log.warning("cluster=%s dataplane=%s failed=%s", cluster, plane.name, message)
            return done, message
        done.append(intent)
        log.info("cluster=%s dataplane=%s %s", cluster, plane.name, intent.describe())
    return done, None


def apply_all(pool: ThreadPoolExecutor, planes: Mapping[str, Plane], intents: Mapping[str, list[Intent]],
              cluster: str, unanswered_limit: int) -> tuple[dict[str, list[Intent]], dict[str, str]]:
    """Each data plane's intents, the data planes in parallel; what each accepted, and what each refused."""
    futures: dict[str, Future[tuple[list[Intent], str | None]]] = {
        name: pool.submit(apply_plane, planes[name], items, cluster, unanswered_limit)
        for name, items in intents.items()}
    done, failures = {}, {}
    for name, future in futures.items():
        done[name], failure = future.result()
        if failure:
            failures[name] = failure
    return done, failures


def _apply(plane: Plane, intent: Intent) -> None:
    if intent.action == "create":
        assert intent.body is not None
        try:
            created = _call(plane, "create", "POST", rest.path(intent.kind, intent.namespace), body=intent.body)
        except ConflictError:
            return  # already there: the watch will bring it
        except NotFoundError as exc:
            if exc.kind != "namespaces":
                raise
            with contextlib.suppress(ConflictError):
                _call(plane, "create", "POST", rest.path("Namespace"), body={"metadata": {"name": intent.namespace}})
            created = _call(plane, "create", "POST", rest.path(intent.kind, intent.namespace), body=intent.body)
        plane.cache.upsert(slim({**created, "kind": intent.kind}))
    elif intent.action == "patch":
        patched = _call(plane, "patch", "PATCH", rest.path(intent.kind, intent.namespace, intent.name),
                        body=intent.body, content_type=rest.MERGE_PATCH)
        plane.cache.upsert(slim({**patched, "kind": intent.kind}))
    else:
        with contextlib.suppress(NotFoundError):
            _call(plane, "delete", "DELETE", rest.path(intent.kind, intent.namespace, intent.name),
                  body={"propagationPolicy": "Background"})
        plane.cache.mark_deleting(intent.kind, intent.namespace, intent.name, clock.stamp())


def _call(plane: Plane, verb: str, method: str, url_path: str, **kwargs: Any) -> Any:
    """One write to ``plane``, counted by its outcome and timed."""
    started, code = time.monotonic(), "2xx"
    try:
        return plane.call(method, url_path, **kwargs)
    except ApiError as exc:
        code = str(exc.status)
        raise
    except NoAnswerError:
        code = "none"
        raise
    except DataPlaneUnavailableError:
        code = "refused"
        raise
    finally:
        metrics.API_REQUESTS.labels(plane.name, verb, code).inc()
        metrics.API_SECONDS.labels(plane.name, verb).observe(time.monotonic() - started)
