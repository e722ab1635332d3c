"""The live worker's HTTP server against random requests: random bytes, request lines, headers,
query strings and bodies of any size. Every one gets an answer below 500 (or the connection
closed on a request that is not HTTP), and the worker stays up and ready throughout.

Bytes that are only line ends are not a request yet (an HTTP server ignores empty lines before
the request line, RFC 9112 §2.2) and get no answer: a connection that sends only those is
checked on its own, by the server answering others meanwhile."""

from __future__ import annotations

import contextlib
import socket
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import API_KEY, Env, Worker

pytestmark = pytest.mark.integration

TOKEN = st.text(string.ascii_letters + string.digits + "-_.~!$&'()*+,;=:@%", max_size=40)
PATHS = st.one_of(
    st.builds(lambda user: f"/v1/users/{user}/recommendations", TOKEN),
    st.sampled_from(["/healthz", "/readyz", "/metrics", "/lag", "/openapi.json", "/", "//"]),
    st.builds(lambda p: "/" + p, TOKEN),
)
QUERY = st.lists(st.tuples(TOKEN, TOKEN), max_size=5).map(
    lambda pairs: "&".join(f"{k}={v}" for k, v in pairs)
)
HEADER_NAME = st.text(string.ascii_letters + "-", min_size=1, max_size=30)
HEADER_VALUE = st.binary(max_size=300).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
READY = b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
METHOD = st.sampled_from([b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"BREW"])


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):  # not HTTP at all, up to where a request's head would end
        garbage = st.binary(min_size=1, max_size=4096).filter(lambda b: b.strip(b"\r\n"))
        return draw(garbage) + b"\r\n\r\n"
    path = draw(PATHS)
    query = draw(QUERY)
    target = f"{path}?{query}" if query else path
    body = draw(st.one_of(st.just(b""), st.binary(max_size=2048), st.just(b"x" * 200_000)))
    head = [draw(METHOD) + b" " + target.encode() + b" HTTP/1.1", b"Host: 127.0.0.1"]
    if draw(st.booleans()):  # past the key check, to what lies behind it
        head.append(b"Authorization: Bearer " + API_KEY.encode())
    for name, value in draw(st.lists(st.tuples(HEADER_NAME, HEADER_VALUE), max_size=8)):
        head.append(name.encode() + b": " + value)
    if draw(st.booleans()):
        head.append(b"Content-Length: " + str(len(body)).encode())
    head.append(b"Connection: close")
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def exchange(port: int, request: bytes) -> bytes:
    """Send ``request``, return what the server answered before it closed (may be empty: it
    may close at once on bytes that are not HTTP). A server that neither answers nor closes
    within 10 s fails the test (socket.timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        # The server may close first: it refused what it had read so far.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.sendall(request)
        answer = b""
        try:
            while chunk := conn.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        return answer


def status_of(answer: bytes) -> int | None:
    line = answer.split(b"\r\n", 1)[0]
    parts = line.split(b" ", 2)
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/1.") and parts[1].isdigit():
        return int(parts[1])
    return None


def test_random_requests_get_no_server_error_and_the_worker_stays_up(deployment: Env):
    worker: Worker = deployment.worker().start()
    statuses: list[int | None] = []

    @settings(
        max_examples=300,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(requests())
    def answered(request: bytes) -> None:
        answer = exchange(worker.port, request)
        status = status_of(answer)
        statuses.append(status)
        assert answer == b"" or status is not None, f"not an HTTP answer: {answer[:200]!r}"
        assert status is None or status < 500, f"{status} for {request[:300]!r}"

    answered()
    # Most requests are answered (4xx for what is not a valid request), not just dropped.
    assert sum(s is not None for s in statuses) > len(statuses) * 0.8
    assert worker.proc is not None and worker.proc.poll() is None
    assert status_of(exchange(worker.port, READY)) == 200


def test_connections_that_send_only_empty_lines_do_not_keep_others_waiting(deployment: Env):
    worker: Worker = deployment.worker().start()
    idle = [socket.create_connection(("127.0.0.1", worker.port), timeout=10) for _ in range(50)]
    try:
        for conn in idle:
            conn.sendall(b"\r\n\r\n")
        assert status_of(exchange(worker.port, READY)) == 200
    finally:
        for conn in idle:
            conn.close()
