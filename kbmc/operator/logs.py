"""The operator's log: one line per record on stderr, as text or as JSON (``--log-format json``: one object per
line with time, level, logger and message, and the exception's traceback when there is one).

The JSON formatter is ten lines of the standard library's ``logging`` and ``json``; a library for it would be a
dependency for no gain."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

TEXT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name,
                               "message": record.getMessage()}
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out)


def configure(fmt: str, level: str) -> None:
    """Send every record at ``level`` or above to stderr as ``fmt`` (text or json)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("kopf.objects").setLevel(max(logging.WARNING, root.level))  # a line per event otherwise
