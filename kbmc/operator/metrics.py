"""Prometheus metrics of the operator."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RECONCILES = Counter("kbmc_reconciles_total", "Cluster reconciles by result", ["result"])
RECONCILE_SECONDS = Histogram("kbmc_reconcile_duration_seconds", "Duration of one Cluster reconcile",
                              buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
API_REQUESTS = Counter("kbmc_api_requests_total", "Writes kbmc sent to data planes", ["dataplane", "verb"])
API_ERRORS = Counter("kbmc_api_errors_total", "Failed requests to data planes", ["dataplane", "verb"])
DATAPLANE_UP = Gauge("kbmc_dataplane_up", "1 when the data plane answered its last probe", ["dataplane"])
KIND_SERVED = Gauge("kbmc_kind_served", "1 when the control plane served the kind at the last check before kopf's "
                    "watches started (0: not served yet, or its CRD is not installed)", ["kind"])
WATCH_RESTARTS = Counter("kbmc_watch_restarts_total", "Restarts of kopf's control-plane watches after an API error, "
                         "by HTTP status or error type", ["reason"])


def serve(port: int) -> None:
    if port:
        start_http_server(port, addr="127.0.0.1")
