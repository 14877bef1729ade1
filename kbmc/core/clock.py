"""Times as Kubernetes writes them (RFC 3339, UTC, seconds) and as ``kubectl`` shows them (an age)."""

from __future__ import annotations

import datetime


def stamp() -> str:
    """Now, as ``2026-12-01T11:45:43Z``."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def age(value: str | None) -> str:
    """How long ago an RFC 3339 time was, as kubectl prints it (``42s``, ``5m``, ``3h``); ``-`` without one."""
    if not value:
        return "-"
    then = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    seconds = int((datetime.datetime.now(datetime.UTC) - then).total_seconds())
    return f"{seconds}s" if seconds < 120 else f"{seconds // 60}m" if seconds < 7200 else f"{seconds // 3600}h"
