"""A fixed page served over real HTTP on loopback, for tests that poll one (a dcgm-exporter)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer


@contextmanager
def serving(page: str) -> Iterator[str]:
    """Serve `page` at every path; yields the base URL."""
    body = page.encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with served(ThreadingHTTPServer(("127.0.0.1", 0), Page)) as url:
        yield url


@contextmanager
def served(server: HTTPServer) -> Iterator[str]:
    """`server`, bound on loopback, serving in a thread until the block ends; yields its URL."""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def dead_url() -> str:
    """An http URL on loopback where nothing listens (a node or store that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"
