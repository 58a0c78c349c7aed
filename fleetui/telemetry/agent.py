"""The node agent: serves this host's GPU snapshot as JSON (/snapshot) and Prometheus text
(/metrics). Read-only, loopback by default; any other address needs a bearer token, compared in
constant time. Requests are bounded: GET only, no bodies, short lines, at most MAX_REQUEST bytes
read in at most READ_DEADLINE_S in all (a slow client cannot hold a worker by trickling bytes).
WORKERS threads serve; connections beyond them wait in a listen backlog of BACKLOG."""

from __future__ import annotations

import hmac
import io
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.telemetry import nvml, prometheus

MAX_LINE = 4096
MAX_REQUEST = 16 << 10  # request line and headers together
TIMEOUT_S = 10  # per send or receive
READ_DEADLINE_S = 10  # to read a whole request
WORKERS = 32
BACKLOG = 1024  # the kernel caps it at net.core.somaxconn


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--listen {units.quoted(listen)}: give HOST:PORT, e.g. 127.0.0.1:9400.")
    return host.strip("[]") or "127.0.0.1", int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(path: str) -> bytes:
    """The bearer token in a file (the agent's, or a node's on the ops box): one line of 16 or
    more visible characters, as it must go into a header."""
    try:
        token = Path(path).expanduser().read_text("utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise UserError(f"Cannot read the token file {path}: {why}.") from None
    if not token.isascii() or not token.isprintable() or " " in token:
        raise UserError(f"The token file {path} must hold one token of visible characters.")
    if len(token) < 16:
        raise UserError(f"The token in {path} is too short; use at least 16 characters.")
    return token.encode()


class _DeadlineReader(io.RawIOBase):
    """A socket's bytes until a deadline (each receive waits only for the time left) and up to
    a byte budget; past the budget it reads as the end of the stream, with `exhausted` set."""

    def __init__(self, sock: socket.socket, deadline: float, budget: int) -> None:
        self.sock, self.deadline, self.budget, self.exhausted = sock, deadline, budget, False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request not read in time")
        if self.budget <= 0:
            self.exhausted = True
            return 0
        self.sock.settimeout(left)
        view = memoryview(buffer)[: self.budget]
        count = self.sock.recv_into(view)
        self.budget -= count
        return count


class AgentServer(HTTPServer):
    """An HTTP server with a bounded pool of workers; while all are busy it accepts nothing
    more, and new connections wait in the listen backlog."""

    request_queue_size = BACKLOG

    def __init__(self, address, handler) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(WORKERS)
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="fleetui-agent")

    def process_request(self, request, client_address) -> None:
        self._slots.acquire()
        self._pool.submit(self._work, request, client_address)

    def _work(self, request, client_address) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self._slots.release()

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=True)


def make_server(
    host: str, port: int, token: bytes | None, collect: Callable[[], nvml.Snapshot] = nvml.collect
) -> AgentServer:
    if not is_loopback(host) and token is None:
        raise UserError(
            f"Listening on {host} needs --token-file: only loopback is served without a token."
        )

    class Handler(BaseHTTPRequestHandler):
        timeout = TIMEOUT_S
        server_version = "fleetui-agent"
        sys_version = ""

        def setup(self) -> None:
            super().setup()
            deadline = time.monotonic() + READ_DEADLINE_S
            self.rfile.close()  # the socket closes only once every file made from it has
            self.reader = _DeadlineReader(self.connection, deadline, MAX_REQUEST)
            self.rfile = io.BufferedReader(self.reader)

        def parse_request(self) -> bool:
            parsed = super().parse_request()
            self.connection.settimeout(TIMEOUT_S)  # the reply gets its own time
            return parsed

        def log_message(self, format: str, *args) -> None:
            pass  # no per-request noise on the node

        def _refuse(self, status: HTTPStatus) -> None:
            self.send_error(status)

        def do_GET(self) -> None:
            if self.reader.exhausted:
                return self._refuse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
            if len(self.requestline) > MAX_LINE:
                return self._refuse(HTTPStatus.REQUEST_URI_TOO_LONG)
            if self.headers.get("Content-Length", "0") != "0":
                return self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            if token is not None and not bearer_matches(self.headers.get("Authorization"), token):
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

    return AgentServer((host, port), Handler)


def bearer_matches(header: str | None, token: bytes) -> bool:
    """Only `Authorization: Bearer <token>` (the scheme's case does not matter, RFC 7235)."""
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token)
