"""The operator's liveness endpoint, ``GET /healthz``: 200 while every part the operator needs runs, 500 naming
the parts that stopped. kbmc serves it itself rather than through kopf, because kopf's reactor is restarted when
the control plane stops serving kbmc's kinds for a while, and the process is alive and recovering meanwhile."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def serve(port: int, stopped: Callable[[], list[str]], address: str = "127.0.0.1") -> ThreadingHTTPServer | None:
    """Serve ``/healthz`` on ``address:port`` (0: off) from a daemon thread; ``stopped`` names what stopped."""
    if not port:
        return None

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/healthz":
                self._answer(404, "not found\n")
                return
            parts = stopped()
            self._answer(500, f"stopped: {', '.join(parts)}\n") if parts else self._answer(200, "ok\n")

        def _answer(self, code: int, text: str) -> None:
            data = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            return None  # a probe every few seconds is not worth a log line

    server = ThreadingHTTPServer((address, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="healthz", daemon=True).start()
    return server
