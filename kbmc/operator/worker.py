"""A worker: take Cluster keys off the queue and run a pass over each until the queue closes. The pass says when
to look again; a pass that failed unexpectedly is logged, reported on the Cluster (a Warning Event, at most one
per ``failure_event_interval``) and retried with the queue's backoff."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from kbmc.core.decide import Again
from kbmc.operator import metrics
from kbmc.operator.queue import WorkQueue
from kbmc.settings import QueueSettings

log = logging.getLogger("kbmc.operator.worker")


def work(queue: WorkQueue, run_pass: Callable[[str], Again], failed: Callable[[str, Exception], None],
         settings: QueueSettings) -> None:
    while (taken := queue.take()) is not None:
        key, waited = taken
        metrics.QUEUE_WAIT.observe(waited)
        started = time.monotonic()
        try:
            again = run_pass(key)
            delay = again.after
            if again.backoff:
                metrics.QUEUE_RETRIES.labels("refused").inc()
                delay = min(d for d in (delay, queue.backoff(key, settings.apply_retry_seconds)) if d)
            elif delay is None:
                queue.forget(key)
            result = "requeue" if delay else "ok"
        except Exception as exc:
            log.exception("cluster=%s reconcile failed", key)
            try:
                failed(key, exc)
            except Exception:  # reporting it is best effort; the worker goes on
                log.exception("cluster=%s failure not reported", key)
            metrics.QUEUE_RETRIES.labels("error").inc()
            delay, result = queue.backoff(key, settings.retry_seconds), "error"
        finally:
            queue.done(key)
        metrics.RECONCILES.labels(result).inc()
        metrics.RECONCILE_SECONDS.observe(time.monotonic() - started)
        if delay:
            queue.add(key, delay)
