"""The kubelet API the node agent serves, as far as the API server proxies to it: a container's log
(``GET /containerLogs/{namespace}/{pod}/{container}``, with ``tailLines`` and ``follow``), so ``kubectl logs``
works for the pods the agent runs as processes. HTTPS on the node's address with the bed's kubelet certificate;
only a client certificate signed by the bed's CA (the API server's) is accepted, as a kubelet with
``--client-ca-file`` does."""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

log = logging.getLogger("kbmc.dev.kubelet")
FOLLOW_POLL = 0.2
"""Seconds between reads of a followed log."""

Logs = Callable[[str, str, str], Path | str]
"""(namespace, pod, container) -> the container's log file, or why there is none."""


def serve(address: str, port: int, pki: Path, logs: Logs, stopping: threading.Event) -> ThreadingHTTPServer:
    """Serve the kubelet API on ``address:port`` from a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            parts = url.path.strip("/").split("/")
            if len(parts) != 4 or parts[0] != "containerLogs":
                self._say(404, f"{url.path}: this node agent serves only /containerLogs/<ns>/<pod>/<container>")
                return
            found = logs(parts[1], parts[2], parts[3])
            if isinstance(found, str):
                self._say(404, found)
                return
            query = urllib.parse.parse_qs(url.query)
            tail = int(query["tailLines"][0]) if "tailLines" in query else None
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client went away (-f ended)
                self._stream(found, tail, query.get("follow", ["false"])[0] == "true")

        def _stream(self, path: Path, tail: int | None, follow: bool) -> None:
            with path.open("rb") as source:
                data = source.read()
                if tail is not None:
                    data = b"".join(data.splitlines(keepends=True)[-tail:] if tail else [])
                self.wfile.write(data)
                self.wfile.flush()
                while follow and not stopping.is_set() and path.exists():
                    chunk = source.read()
                    if chunk:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                    else:
                        time.sleep(FOLLOW_POLL)

        def _say(self, code: int, text: str) -> None:
            body = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt: str, *args: object) -> None:
            log.debug(fmt, *args)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "kubelet.crt", pki / "kubelet.key")
    context.load_verify_locations(pki / "ca.crt")
    context.verify_mode = ssl.CERT_REQUIRED
    server = ThreadingHTTPServer((address, port), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, name="kubelet-api", daemon=True).start()
    log.info("kubelet API on https://%s:%d", address, port)
    return server
