"""Fetching telemetry over HTTP(S): agents, dcgm-exporters and metrics stores, with aiohttp.

One Client serves a whole poll round: at most `concurrency` requests in flight, a deadline per
request, a response size limit (the body is streamed and the read stops past it), https with
the system's CA bundle or an endpoint's own, and each endpoint's credentials read from its files
(a bearer token, or `user:password` for basic auth) and sent only to it. Every failure is a
ConnectionError in words, never the credentials.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import orjson

from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.telemetry.agent import read_token

MAX_RESPONSE = 8 << 20
SCHEMES = ("http", "https")
# query parameters that carry a secret (password=, access_token=, api_key=, ...)
_SECRET_PARAM = re.compile(r"(?i)pass|secret|token|key$|auth|credential|signature")


@dataclass(frozen=True)
class Endpoint:
    """Where to fetch and how to prove who we are: file paths, never the secrets themselves."""

    url: str
    token_file: str | None = None  # bearer
    basic_auth_file: str | None = None  # one line `user:password`
    ca_file: str | None = None  # PEM bundle that signs the server's certificate


def decode_json(body: bytes) -> object:
    """A JSON answer decoded: orjson (a fleet's answer is megabytes), the standard library for
    what only it reads (NaN, Infinity: the agent's json.dumps writes them, and the checks at
    the edge then name the value); ValueError if neither reads it."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        raise ValueError("not JSON") from None


def check_url(url: str) -> str:
    """`url` if it is an http(s) URL with a host (and a port, if any, that exists) and no
    credentials, in its user part or its query; UserError otherwise. URLs are stored and listed
    as they are: a password in one would be shown to anyone listing nodes or sources."""
    parts = urlsplit(url.strip())
    if "@" in parts.netloc:
        raise UserError(
            "Give the user and password in a --basic-auth-file (or a --token-file), not in the URL."
        )
    secret = [
        k for k, _ in parse_qsl(parts.query, keep_blank_values=True) if _SECRET_PARAM.search(k)
    ]
    if secret:
        raise UserError(
            f"The URL's query holds a secret ({secret[0]}): give it in a --token-file or a "
            "--basic-auth-file, not in the URL (URLs are listed as they are)."
        )
    if parts.scheme not in SCHEMES or not parts.hostname or not parts.netloc.isprintable():
        raise UserError(f"{units.quoted(url)} is not an http:// or https:// URL.")
    if " " in parts.netloc:
        raise UserError(f"{units.quoted(url)}: a host name has no spaces.")
    try:
        port = parts.port  # a ValueError past 65535 or not a number
    except ValueError:
        port = 0
    if port == 0:
        raise UserError(f"{units.quoted(url)}: the port must be a number from 1 to 65535.")
    return url.strip()


def file_path(path: str | None) -> str | None:
    """The absolute path of a credentials file: what is stored instead of its content."""
    return None if path is None else str(Path(path).expanduser().resolve())


def read_basic_auth(path: str) -> tuple[str, str]:
    """`user:password` from the first line of a file; UserError (naming the file only) if not."""
    try:
        line = Path(path).read_text("utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise UserError(f"Cannot read the basic auth file {path}: {why}.") from None
    user, sep, password = line.partition(":")
    if not sep or not user or "\n" in line or not line.isprintable():
        raise UserError(f"The basic auth file {path} must hold one line user:password.")
    return user, password


def check_credentials(endpoint: Endpoint) -> None:
    """Read every file the endpoint names, so a bad one is a UserError when it is registered."""
    if endpoint.token_file and endpoint.basic_auth_file:
        raise UserError("Give a token file or a basic auth file, not both.")
    if endpoint.token_file:
        read_token(endpoint.token_file)
    if endpoint.basic_auth_file:
        read_basic_auth(endpoint.basic_auth_file)
    if endpoint.ca_file:
        _verify(endpoint.ca_file)


def _verify(ca_file: str) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError):
        raise UserError(f"The CA file {ca_file} is not a readable PEM bundle.") from None


class Client:
    """An async HTTP client for one round (`async with Client(...) as client`)."""

    def __init__(
        self, timeout: float, concurrency: int = 100, max_response: int = MAX_RESPONSE
    ) -> None:
        self.timeout, self.max_response, self.concurrency = timeout, max_response, concurrency
        self.gate = asyncio.Semaphore(concurrency)
        self.sessions: dict[str | None, aiohttp.ClientSession] = {}  # one per CA bundle
        self.auths: dict[tuple[str | None, str | None], dict[str, str]] = {}  # headers

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for session in self.sessions.values():
            await session.close()

    def _session(self, ca_file: str | None) -> aiohttp.ClientSession:
        if ca_file not in self.sessions:
            self.sessions[ca_file] = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self.concurrency, ssl=_verify(ca_file) if ca_file else True
                ),
                trust_env=False,  # no proxies or .netrc: the endpoint is exactly what is stored
                timeout=aiohttp.ClientTimeout(),  # none of its own timers: get() sets one deadline
            )
        return self.sessions[ca_file]

    def _auth(self, endpoint: Endpoint) -> dict[str, str]:
        """The endpoint's credentials, each file read once a round (a bad file: UserError)."""
        key = (endpoint.token_file, endpoint.basic_auth_file)
        if key not in self.auths:
            if endpoint.basic_auth_file:
                pair = ":".join(read_basic_auth(endpoint.basic_auth_file)).encode()
                self.auths[key] = {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}
            elif endpoint.token_file and (token := read_token(endpoint.token_file)):
                self.auths[key] = {"Authorization": f"Bearer {token.decode()}"}
            else:
                self.auths[key] = {}
        return self.auths[key]

    async def get(
        self,
        endpoint: Endpoint,
        params: dict[str, str] | None = None,
        max_response: int | None = None,
        timeout: float | None = None,
    ) -> bytes:
        """The body of a 200 answer; Refused for another status, ConnectionError in words on
        anything else (UserError for a bad credentials or CA file). `max_response` and
        `timeout` override the client's for this request."""
        session, headers = self._session(endpoint.ca_file), self._auth(endpoint)
        limit = max_response or self.max_response
        async with self.gate:
            try:
                async with (
                    asyncio.timeout(timeout or self.timeout),
                    session.get(
                        endpoint.url,
                        params=params,
                        headers=headers,
                        allow_redirects=False,  # credentials go to the endpoint only
                    ) as response,
                ):
                    chunks, size = [], 0
                    async for chunk in response.content.iter_any():
                        size += len(chunk)
                        if size > limit:
                            raise ConnectionError("response too large")
                        chunks.append(chunk)
                    status = response.status
            except TimeoutError:
                raise ConnectionError("no answer in time") from None
            except aiohttp.ClientError as exc:
                raise ConnectionError(_why(exc)) from None
        if status != 200:
            raise Refused(status, b"".join(chunks))
        return b"".join(chunks)


class Refused(ConnectionError):
    """An answer other than 200; its body may say why (a store's error)."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.body = status, body


def _why(exc: aiohttp.ClientError) -> str:
    """A failure in words, without the URL's credentials or query."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cause = exc.certificate_error
        detail = getattr(cause, "verify_message", None) or str(cause)
        return f"its certificate is not trusted ({detail})"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, socket.gaierror):  # its errno is not an OS error's
            return f"cannot resolve the host {exc.host} ({exc.os_error.strerror})"
        errno = exc.os_error.errno
        return os.strerror(errno) if errno else exc.os_error.strerror or "cannot connect"
    return (
        exc.__class__.__name__
        if isinstance(exc, aiohttp.ClientResponseError)
        else (str(exc) or exc.__class__.__name__)
    )
