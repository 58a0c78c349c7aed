"""The node agent: serves this host's GPU snapshot as JSON (/snapshot) and Prometheus text
(/metrics). Read-only, loopback by default; any other address needs a token, compared in
constant time. Requests are bounded (GET only, no bodies, short lines) and time out."""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from fleetui.errors import UserError
from fleetui.telemetry import nvml, prometheus

MAX_LINE = 4096
TIMEOUT_S = 10


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--listen {listen!r}: give HOST:PORT, e.g. 127.0.0.1:9400.")
    return host.strip("[]") or "127.0.0.1", int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(path: str | None) -> bytes | None:
    if path is None:
        return None
    try:
        token = Path(path).expanduser().read_text("utf-8").strip()
    except OSError as exc:
        raise UserError(f"Cannot read the token file {path}: {exc.strerror}.") from None
    if len(token) < 16:
        raise UserError(f"The token in {path} is too short; use at least 16 characters.")
    return token.encode()


def make_server(
    host: str, port: int, token: bytes | None, collect: Callable[[], nvml.Snapshot] = nvml.collect
) -> ThreadingHTTPServer:
    if not is_loopback(host) and token is None:
        raise UserError(
            f"Listening on {host} needs --token-file: only loopback is served without a token."
        )

    class Handler(BaseHTTPRequestHandler):
        timeout = TIMEOUT_S
        server_version = "fleetui-agent"
        sys_version = ""

        def log_message(self, format: str, *args) -> None:
            pass  # no per-request noise on the node

        def _refuse(self, status: HTTPStatus) -> None:
            self.send_error(status)

        def do_GET(self) -> None:
            if len(self.requestline) > MAX_LINE or self.headers.get("Content-Length", "0") != "0":
                return self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            if token is not None:
                given = self.headers.get("Authorization", "").removeprefix("Bearer ").encode()
                if not hmac.compare_digest(given, token):
                    return self._refuse(HTTPStatus.UNAUTHORIZED)
            path = self.path.split("?", 1)[0]
            if path == "/snapshot":
                body, kind = json.dumps(collect().as_dict()).encode(), "application/json"
            elif path == "/metrics":
                body, kind = prometheus.render(collect()).encode(), "text/plain; version=0.0.4"
            else:
                return self._refuse(HTTPStatus.NOT_FOUND)
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _read_only(self) -> None:
            self._refuse(HTTPStatus.METHOD_NOT_ALLOWED)

        do_POST = do_PUT = do_DELETE = do_PATCH = _read_only

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
