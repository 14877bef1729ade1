"""The benchmark command still runs and reports every figure (at a tiny size; no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"clusters", "convergence_ratio", "writes_per_cluster", "objects_per_cluster", "resync_writes",
        "reaction_p95_s", "incident_mark_s", "isolation_ratio", "peak_rss_mb", "restart_s", "restart_writes",
        "kbmc_refused_requests", "floor_refused_requests"}


def test_bench_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run([sys.executable, "bench/run.py", "--clusters", "2", "--reaction-samples", "2", "--json",
                             str(out)], cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    figures = json.loads(out.read_text())
    assert figures.keys() >= KEYS
    assert figures["clusters"] == 2
    assert figures["objects_per_cluster"] > 0 and figures["writes_per_cluster"] > 0
