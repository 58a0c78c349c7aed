"""The HTTP client nodes and stores are polled with, against real loopback servers: https with
a CA bundle, basic auth from a file (never shown), a response size limit, a concurrency limit."""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetui.cli import app
from fleetui.core.errors import UserError
from fleetui.telemetry import http, poller

PAGE = (
    'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-2",pci_bus_id="00000000:18:00.0",'
    'modelName="NVIDIA H100 80GB HBM3",Hostname="node-b",DCGM_FI_DEV_SERIAL="S2"} 55\n'
)


class _Exporter(BaseHTTPRequestHandler):
    """A dcgm-exporter page; `size` pads it, `user` asks for basic auth, `gate` holds each
    request until released (and counts how many are in at once)."""

    size = 0
    user: str | None = None
    gate: threading.Semaphore | None = None
    lock = threading.Lock()
    inside = 0
    most = 0

    def do_GET(self):
        cls = type(self)
        if cls.user and self.headers.get("Authorization") != "Basic " + cls.user:
            self.send_error(401)
            return
        with cls.lock:
            cls.inside += 1
            cls.most = max(cls.most, cls.inside)
        if cls.gate is not None:
            cls.gate.acquire(timeout=10)
        with cls.lock:
            cls.inside -= 1
        body = PAGE.encode() + b"#" * cls.size
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client stopped reading: the size limit
            self.wfile.write(body)

    def log_message(self, *args):
        pass


def _start(handler, tls: ssl.SSLContext | None = None) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if tls:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    scheme = "https" if tls else "http"
    return server, f"{scheme}://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def certificate(tmp_path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("the https tests need the openssl command; skipped")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def https_url(certificate) -> Iterator[str]:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(*certificate)
    server, url = _start(type("Tls", (_Exporter,), {}), tls)
    yield url
    server.shutdown()
    server.server_close()


def test_https_with_the_nodes_ca_bundle(engine, https_url, certificate):
    poller.add_node(engine, "trusted", https_url, "dcgm", ca_file=str(certificate[0]))
    poller.add_node(engine, "untrusted", https_url.replace("127.0.0.1", "localhost"), "dcgm")
    result = poller.poll_once(engine, timeout=5.0)
    assert result.answered == 1 and result.gpus == 1
    assert (
        result.failed == ["untrusted: its certificate is not trusted (self-signed certificate)"]
        or "certificate" in result.failed[0]
    )


def test_basic_auth_from_a_file_never_shown(engine, db_url, tmp_path):
    secret = "ops:s3cret-pass"
    handler = type("Basic", (_Exporter,), {"user": base64.b64encode(secret.encode()).decode()})
    server, url = _start(handler)
    auth = tmp_path / "auth"
    auth.write_text(secret + "\n")
    try:
        runner = CliRunner()
        added = runner.invoke(
            app,
            [
                "--db",
                db_url,
                "nodes",
                "add",
                "node-b",
                "--dcgm",
                url,
                "--basic-auth-file",
                str(auth),
            ],
        )
        assert added.exit_code == 0, added.output
        poller.add_node(engine, "node-x", url, "dcgm")  # no credentials: refused
        result = poller.poll_once(engine, timeout=5.0)
    finally:
        server.shutdown()
        server.server_close()
    assert (result.answered, result.failed) == (1, ["node-x: HTTP 401"])
    listed = runner.invoke(app, ["--db", db_url, "nodes", "list", "--json"]).stdout
    assert "s3cret" not in listed and str(auth) in listed
    (tmp_path / "bad").write_text("no colon here\n")
    with pytest.raises(UserError, match=r"must hold one line user:password"):
        poller.add_node(engine, "n", url, "dcgm", basic_auth_file=str(tmp_path / "bad"))
    with pytest.raises(UserError, match="not both"):
        poller.add_node(engine, "n", url, "dcgm", str(auth), str(auth))


def test_a_page_over_the_size_limit_is_refused(engine, monkeypatch):
    server, url = _start(type("Big", (_Exporter,), {"size": http.MAX_RESPONSE}))
    try:
        poller.add_node(engine, "big", url, "dcgm")
        result = poller.poll_once(engine, timeout=10.0)
    finally:
        server.shutdown()
        server.server_close()
    assert result.failed == ["big: response too large"]


def test_no_more_requests_in_flight_than_the_limit(engine):
    gate = threading.Semaphore(0)
    handler = type("Held", (_Exporter,), {"gate": gate, "inside": 0, "most": 0})
    server, url = _start(handler)
    release = threading.Timer(1.0, lambda: [gate.release() for _ in range(20)])
    try:
        for i in range(8):
            poller.add_node(engine, f"n{i}", url, "dcgm")
        release.start()
        result = poller.poll_once(engine, timeout=20.0, concurrency=3)
    finally:
        release.cancel()
        server.shutdown()
        server.server_close()
    assert result.answered == 8
    assert 1 <= handler.most <= 3


def test_nodes_list_json_shows_paths_only(db_url, tmp_path, https_url, certificate):
    token = tmp_path / "token"
    token.write_text("0123456789abcdef-node\n")
    runner = CliRunner()
    added = runner.invoke(
        app,
        [
            *("--db", db_url, "nodes", "add", "n1", "--dcgm", https_url),
            *("--token-file", str(token), "--ca-file", str(certificate[0])),
        ],
    )
    assert added.exit_code == 0, added.output
    (node,) = json.loads(runner.invoke(app, ["--db", db_url, "nodes", "list", "--json"]).stdout)
    assert (node["token_file"], node["ca_file"]) == (str(token), str(certificate[0]))
    assert "0123456789abcdef" not in json.dumps(node)


def test_a_host_that_does_not_resolve_is_said_in_words(engine):
    """Not "Unknown error -2": a resolver's error numbers are not the OS's."""
    try:  # .invalid never resolves (RFC 2606); a resolver that cannot say so fast is no test
        socket.getaddrinfo("nonexistent.invalid", 80)
    except socket.gaierror:
        pass
    else:
        pytest.skip("this machine resolves nonexistent.invalid")
    poller.add_node(engine, "gone", "http://nonexistent.invalid:9400", "dcgm")
    result = poller.poll_once(engine, timeout=5.0)
    (failed,) = result.failed
    assert failed.startswith("gone: cannot resolve the host nonexistent.invalid (")
    assert "-2" not in failed
