"""Prometheus metrics of the operator (``--metrics-port``). deploy/grafana-dashboard.json queries only these;
deploy/servicemonitor.yaml scrapes them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

RECONCILES = Counter("kbmc_reconciles_total", "Passes over a Cluster by result (ok, requeue, error)", ["result"])
RECONCILE_SECONDS = Histogram("kbmc_reconcile_duration_seconds", "Duration of one pass over a Cluster", buckets=FAST)
LEADER = Gauge("kbmc_leader", "1 while this operator holds the leader Lease (and reconciles), 0 while it stands by")
QUEUE_DEPTH = Gauge("kbmc_workqueue_depth", "Cluster keys queued or being worked on")
QUEUE_WAIT = Histogram("kbmc_workqueue_queue_duration_seconds",
                       "Seconds a Cluster key waited in the queue before a worker took it", buckets=FAST)
QUEUE_RETRIES = Counter("kbmc_workqueue_retries_total", "Cluster keys queued again with backoff, by cause "
                        "(refused: a data plane or the control plane refused a write; error: the pass failed)",
                        ["reason"])
API_REQUESTS = Counter("kbmc_dataplane_requests_total", "Writes kbmc sent to data planes, by HTTP status class or "
                       "code (2xx, 404, 409, 429, 5xx codes; none: no answer; refused: marked unavailable, not sent)",
                       ["dataplane", "verb", "code"])
API_SECONDS = Histogram("kbmc_dataplane_request_duration_seconds", "Duration of one write to a data plane",
                        ["dataplane", "verb"], buckets=FAST)
DATAPLANE_UP = Gauge("kbmc_dataplane_up", "1 when the data plane answered its last probe", ["dataplane"])
DATAPLANE_AVAILABLE = Gauge("kbmc_dataplane_available", "1 unless the data plane is marked unavailable",
                            ["dataplane"])
KIND_SERVED = Gauge("kbmc_kind_served", "1 when the control plane served the kind at the last check before kopf's "
                    "watches started (0: not served yet, or its CRD is not installed)", ["kind"])
WATCH_RESTARTS = Counter("kbmc_watch_restarts_total", "Restarts of kopf's control-plane watches after an API error, "
                         "by HTTP status or error type", ["reason"])

Counts = Callable[[], tuple[Mapping[str, int], Mapping[tuple[str, str, str], int]]]
"""Clusters by phase, and instances by (data plane, role, ready)."""


class _Inventory(Collector):
    """Clusters by phase and instances by data plane, role and readiness, counted when scraped."""

    def __init__(self, counts: Counts) -> None:
        self.counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        phases, instances = self.counts()
        clusters = GaugeMetricFamily("kbmc_clusters", "Clusters by status.phase", labels=["phase"])
        for phase, count in sorted(phases.items()):
            clusters.add_metric([phase], count)
        yield clusters
        members = GaugeMetricFamily("kbmc_instances", "Instances by data plane, role (kubeblocks.io/role; empty "
                                    "without one) and readiness", labels=["dataplane", "role", "ready"])
        for (plane, role, ready), count in sorted(instances.items()):
            members.add_metric([plane, role, ready], count)
        yield members


def serve(port: int, address: str, counts: Counts) -> None:
    if port:
        REGISTRY.register(_Inventory(counts))
        start_http_server(port, addr=address)
