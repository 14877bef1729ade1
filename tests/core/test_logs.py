"""The operator's log as JSON: one object per line, the traceback inside it."""

from __future__ import annotations

import json
import logging
import sys

from kbmc.operator.logs import JsonFormatter


def test_a_record_is_one_json_object_with_its_traceback() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        record = logging.LogRecord("kbmc.operator", logging.ERROR, __file__, 1, "cluster=%s failed", ("t/c",),
                                   exc_info=sys.exc_info())
    line = JsonFormatter().format(record)
    assert "\n" not in line
    out = json.loads(line)
    assert (out["level"], out["logger"], out["message"]) == ("ERROR", "kbmc.operator", "cluster=t/c failed")
    assert "ValueError: bad" in out["exception"]
