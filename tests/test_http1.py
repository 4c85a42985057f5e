"""The load engine's direct HTTP/1.1 client: keep-alive over chunked streams, TLS, which
transport a URL gets, and requests that cannot be written.  The faults every transport
shares are in test_stream.py."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path

import pytest

from pytest_mmbench.request import http1
from pytest_mmbench.request.body import build_body, encode
from pytest_mmbench.request.http1 import DirectConnections, request_head
from pytest_mmbench.request.trace import Trace
from pytest_mmbench.request.transport import Post
from pytest_mmbench.request.transport_async import AiohttpConnections, open_connections
from pytest_mmbench.servers.synthetic import SyntheticServer
from pytest_mmbench.spec.endpoints import Endpoint

BODY = encode(
    build_body(
        Endpoint(id="s", model="synthetic", base_url="http://x/v1"),
        [{"role": "user", "content": "hi"}],
        max_tokens=5,
    )
)
HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer sk-secret"}


async def _serve(tls: ssl.SSLContext | None = None) -> tuple[asyncio.Server, list[int]]:
    """The synthetic server (chunked, keep-alive) in this loop; counts its connections."""
    server, accepted = SyntheticServer(tokens=5), []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        await server.handle(reader, writer)

    return await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls), accepted


async def _stream_once(listener: asyncio.Server, origin: str = "http://127.0.0.1") -> Trace:
    """One request through a new direct pool to ``listener``, which is closed after."""
    url = f"{origin}:{listener.sockets[0].getsockname()[1]}/v1/chat/completions"
    connections = DirectConnections(url, 5.0)
    try:
        return await connections.stream(Post(url, BODY, HEADERS, 5.0), Trace())
    finally:
        await connections.close()
        listener.close()


def test_keep_alive_streams_share_one_connection() -> None:
    async def main() -> tuple[list[Trace], int]:
        listener, accepted = await _serve()
        port = listener.sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        connections = DirectConnections(url, 10.0)
        try:
            post = Post(url, BODY, HEADERS, 10.0)
            traces = [await connections.stream(post, Trace(index=i)) for i in range(3)]
        finally:
            await connections.close()
            listener.close()
        return traces, len(accepted)

    traces, connections = asyncio.run(main())
    for trace in traces:
        assert trace.ok, trace.error
        assert len(trace.token_ns) == 5 and trace.finish_reason == "length" and trace.saw_done
        assert trace.usage is not None and trace.usage["completion_tokens"] == 5
    assert connections == 1


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: br\r\n\r\nx",
            "the response has Content-Encoding br, which is not read here",
        ),
        (b"HTTP/1.1 OK 200\r\n\r\n", "the response is not valid HTTP/1.1"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope",
            "the compressed response does not inflate",
        ),
    ],
)
def test_a_response_it_cannot_read_is_a_protocol_error_not_resent(
    answer: bytes, message: str
) -> None:
    (trace,), served = asyncio.run(_scripted([answer], requests=1))
    assert trace.error_kind == "protocol"
    assert (trace.error or "").startswith(message)
    assert served == 1 and trace.stale_connection_retries == 0


async def _scripted(answers: list[bytes], requests: int) -> tuple[list[Trace], int]:
    """``requests`` requests, one after another, to a server that writes ``answers[n]``
    for its n-th request, on whatever connection it came; returns the server's count."""
    served: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                writer.write(answers[len(served)])
                served.append(1)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}/v1/chat/completions"
    connections = DirectConnections(url, 5.0)
    try:
        post = Post(url, BODY, HEADERS, 5.0)
        return [await connections.stream(post, Trace()) for _ in range(requests)], len(served)
    finally:
        await connections.close()
        listener.close()


SSE = b'data: {"choices":[{"delta":{"content":"Hi"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n%b" % (
    len(SSE),
    SSE,
)


def test_an_interim_response_is_skipped() -> None:
    (trace,), _ = asyncio.run(
        _scripted([b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" + OK], 1)
    )
    assert trace.ok, trace.error
    assert trace.status_code == 200 and trace.content == "Hi"


def test_bytes_after_a_response_retire_its_connection() -> None:
    """A server whose Content-Length undercounts: the first answer reads well, and the
    bytes after it make the connection unusable; the next request takes a new one and
    is sent once, not twice."""
    traces, served = asyncio.run(_scripted([OK + b"garbage\r\n\r\n", OK], 2))
    assert traces[0].ok, traces[0].error
    assert traces[1].ok and traces[1].stale_connection_retries == 0, traces[1].error
    assert served == 2


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _tls_stream(cert: Path, key: Path) -> Trace:
    async def main() -> Trace:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert, key)
        listener, _ = await _serve(tls)
        return await _stream_once(listener, "https://localhost")

    return asyncio.run(main())


def test_https_is_verified_against_the_ca_bundle(certificate, monkeypatch) -> None:
    cert, key = certificate
    untrusted = _tls_stream(cert, key)  # self-signed: not in certifi's bundle
    assert untrusted.error_kind == "connect"
    assert "CERTIFICATE_VERIFY_FAILED" in (untrusted.error or "")
    monkeypatch.setattr(http1, "tls_context", lambda: ssl.create_default_context(cafile=cert))
    trusted = _tls_stream(cert, key)
    assert trusted.ok, trusted.error
    assert len(trusted.token_ns) == 5


@pytest.mark.parametrize(
    ("url", "env", "expected"),
    [
        ("http://10.0.0.5:8000/v1/chat/completions", {}, DirectConnections),
        ("https://api.example.com/v1/chat/completions", {}, DirectConnections),
        (
            "http://10.0.0.5:8000/v1/chat/completions",
            {"HTTP_PROXY": "http://proxy:3128"},
            AiohttpConnections,
        ),
        (
            "http://10.0.0.5:8000/v1/chat/completions",
            {"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": "10.0.0.5"},
            DirectConnections,
        ),
        ("http://me:pw@10.0.0.5:8000/v1/chat/completions", {}, AiohttpConnections),
    ],
)
def test_proxies_and_url_credentials_go_through_aiohttp(
    monkeypatch, url: str, env: dict[str, str], expected: type
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    async def main() -> type:
        connections = open_connections(url, 4, 10.0)
        await connections.close()
        return type(connections)

    assert asyncio.run(main()) is expected


def test_request_head_is_plain_http_and_refuses_header_injection() -> None:
    head = request_head("http://h:8000/v1/chat/completions?x=1", HEADERS)
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v1/chat/completions?x=1 HTTP/1.1"
    assert "Host: h:8000" in lines and "Accept-Encoding: identity" in lines
    assert "Authorization: Bearer sk-secret" in lines and head.endswith(b"\r\n")
    with pytest.raises(ValueError, match="'Authorization' holds a line break") as info:
        request_head("http://h/v1", {"Authorization": "Bearer sk-sec\nret"})
    assert "sk-sec" not in str(info.value)
    with pytest.raises(ValueError, match="'Authorization' holds characters") as info:
        request_head("http://h/v1", {"Authorization": "Bearer sk-\u2603"})
    assert "sk-" not in str(info.value)


def test_an_error_in_an_encoding_it_cannot_read_is_still_an_http_error() -> None:
    answer = b"HTTP/1.1 503 Busy\r\nContent-Encoding: br\r\nContent-Length: 3\r\n\r\nxyz"
    (trace,), served = asyncio.run(_scripted([answer], requests=1))
    assert trace.error_kind == "http" and served == 1
    assert trace.error == "HTTP 503: (a body in Content-Encoding br)"
