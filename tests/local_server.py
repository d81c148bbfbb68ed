"""A small HTTP server on 127.0.0.1 for download tests: Range requests, cuts, errors.

It runs in a thread of the test process and serves in-memory files. Nothing reaches the
internet.
"""

from __future__ import annotations

import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Behaviour:
    """How the server answers; tests change it between requests."""

    files: dict[str, bytes] = field(default_factory=dict)
    cut_after: int | None = None  # close the connection after this many body bytes (once)
    ignore_range: bool = False  # answer 200 with the whole file even to a Range request
    status: int | None = None  # answer every request with this HTTP error
    requests: list[dict] = field(default_factory=list)  # {"path", "range"} of each request


class _Handler(BaseHTTPRequestHandler):
    behaviour: Behaviour

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):  # noqa: N802 (http.server's naming)
        behaviour = self.server.behaviour
        asked = self.headers.get("Range")
        behaviour.requests.append({"path": self.path, "range": asked})
        if behaviour.status:
            self.send_error(behaviour.status, "Deliberate test failure")
            return
        content = behaviour.files.get(self.path)
        if content is None:
            self.send_error(404)
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", asked or "")
        if match and not behaviour.ignore_range:
            start = int(match.group(1))
            if start >= len(content):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(content)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(content) - 1}/{len(content)}")
        else:
            self.send_response(200)
        body = content[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if behaviour.cut_after is not None:
            cut, behaviour.cut_after = behaviour.cut_after, None
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)  # the cable is pulled
            self.close_connection = True
            return
        self.wfile.write(body)


class LocalServer:
    """``with LocalServer() as server:`` serves ``behaviour.files`` at ``server.url(path)``."""

    def __init__(self):
        self.behaviour = Behaviour()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.behaviour = self.behaviour
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
