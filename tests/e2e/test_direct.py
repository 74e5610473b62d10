"""Clients talking straight to each backend, good and broken handshakes.

One wssnoop per (capture, backend) watches the backend's port for the whole
module; each test finds its own event by the client's port (rport)."""
import time

import pytest

import expect
import helpers
from conftest import launch_wssnoop
from peers import ANSWERS, BACKENDS, CASES, GARBAGE


@pytest.fixture(scope="module", params=BACKENDS)
def traced(request, capture, workdir, wssnoop_binary):
    backend = request.getfixturevalue(request.param + "_server")
    w = launch_wssnoop(capture, workdir, f"wssnoop-direct-{capture}-{backend.name}", [backend])
    yield backend, w
    w.stop(settle=0)
    assert w.rc == 0, f"wssnoop exited {w.rc} on SIGINT:\n{w.stderr}"


def _one_event(w, client_port, opened, timeout=5.0):
    ours = helpers.of_client(client_port, opened)
    evs = w.wait_events(1, timeout, predicate=ours)
    assert evs, f"no event for client port {client_port} within {timeout}s; wssnoop said:\n{w.stderr[-2000:]}"
    # Give a duplicate a chance to show up before concluding there is one.
    evs = w.wait_events(2, 0.3, predicate=ours)
    assert len(evs) == 1, [expect.describe(e) for e in evs]
    return evs[0]


def _send(backend, data, pieces=None):
    with helpers.RawConn(backend.port, timeout=5) as conn:
        conn.send(data, pieces)
        reply = conn.read_reply()
        return conn, reply


@pytest.mark.parametrize("case", list(CASES))
def test_handshake_case(traced, capture, case):
    backend, w = traced
    build, rules = CASES[case]
    request = build(backend.ws_path)
    conn, reply = _send(backend, request)
    assert reply.status == ANSWERS[case][backend.name], "the server's answer changed: see test_fixtures"
    ev = _one_event(w, conn.lport, conn.opened)

    expect.check_shape(ev)
    expect.check_process(ev, backend, capture)
    expect.check_addresses(ev, backend, conn.lport)
    expect.check_answer(ev, reply)
    request_line = request.split(b"\r\n", 1)[0].decode()
    method, path, version = request_line.split(" ")
    assert (ev["method"], ev["path"], ev["version"]) == (method, path, version)
    assert ev["request_index"] == 1
    assert ev["truncated"] is False
    sent_names = [line.split(b":", 1)[0].decode() for line in request.split(b"\r\n")[1:] if line]
    assert [n for n, _ in ev["headers"]] == sent_names
    if "Host" in sent_names:
        assert expect.header(ev, "Host") == "127.0.0.1"

    if reply.status == 101:
        assert ev["verdict"] == "upgraded", expect.describe(ev)
        if case in ("valid", "firefox"):
            assert ev["rules"] == [], expect.describe(ev)
            assert ev["accept_ok"] is True
    else:
        assert ev["verdict"] == "rejected", expect.describe(ev)
        assert set(rules) <= set(ev["rules"]), expect.describe(ev)
        assert ev["accept_ok"] is None, "no 101, nothing to check the accept of"
    # Case-specific hints the bytes justify.
    if case == "nginx-default":
        assert "proxy-http10" in expect.hint_ids(ev), expect.describe(ev)
    if case == "h2c":
        assert "h2c-upgrade" in expect.hint_ids(ev), expect.describe(ev)


@pytest.mark.parametrize("garbage", list(GARBAGE))
def test_not_http(traced, capture, garbage):
    """TLS and HTTP/2 prefaces on the plaintext port are invalid, with the rule
    naming them, and the server's answer (Tomcat closes without one on the
    preface)."""
    backend, w = traced
    make, rule, statuses = GARBAGE[garbage]
    conn, reply = _send(backend, make())
    assert reply.status == statuses[backend.name]
    ev = _one_event(w, conn.lport, conn.opened)
    expect.check_shape(ev)
    assert ev["verdict"] == "invalid", expect.describe(ev)
    assert rule in ev["rules"], expect.describe(ev)
    expect.check_answer(ev, reply)
    expect.check_process(ev, backend, capture)
    expect.check_addresses(ev, backend, conn.lport)


# Where to cut a head of n bytes: inside the method, inside header lines, and
# inside the closing CRLFCRLF.
CUTS = {
    "method": lambda n: [2],
    "headers": lambda n: [20, 40, 75],
    "ends": lambda n: [60, n - 3, n - 1],
}


@pytest.mark.parametrize("cut", list(CUTS))
@pytest.mark.parametrize("case", ["valid", "no-upgrade"])
def test_head_in_segments(traced, capture, case, cut):
    """A head written in several pieces (TCP_NODELAY, pauses) is reassembled
    and judged like a whole one."""
    backend, w = traced
    build, rules = CASES[case]
    request = build(backend.ws_path)
    pieces = CUTS[cut](len(request))
    conn, reply = _send(backend, request, pieces)
    assert reply.status == ANSWERS[case][backend.name]
    ev = _one_event(w, conn.lport, conn.opened)
    expect.check_shape(ev)
    expect.check_answer(ev, reply)
    expect.check_process(ev, backend, capture)
    assert ev["truncated"] is False
    assert ev["path"] == backend.ws_path and ev["method"] == "GET"
    assert len(ev["headers"]) == request.count(b"\r\n") - 2
    if case == "valid":
        assert ev["verdict"] == "upgraded" and ev["rules"] == [], expect.describe(ev)
    else:
        assert ev["verdict"] == "rejected" and set(rules) <= set(ev["rules"]), expect.describe(ev)


def test_python_library_client(traced, capture):
    backend, w = traced
    opened = time.time()
    message, client_port = helpers.python_ws_client(backend.url(), with_port=True)
    assert message == "hello from python"
    ev = _one_event(w, client_port, opened)
    expect.check_shape(ev)
    assert ev["verdict"] == "upgraded" and ev["status"] == 101 and ev["rules"] == [], expect.describe(ev)
    assert ev["accept_ok"] is True
    assert expect.header(ev, "User-Agent").startswith("Python/")
    expect.check_process(ev, backend, capture)
    expect.check_addresses(ev, backend, client_port)


def test_node_library_client(traced, capture):
    backend, w = traced
    opened = time.time()
    done = helpers.node_ws_client(backend.url())
    assert done.returncode == 0 and done.echo == "hello from node", done.stderr
    ev = _one_event(w, done.port, opened)
    expect.check_shape(ev)
    assert ev["verdict"] == "upgraded" and ev["status"] == 101 and ev["rules"] == [], expect.describe(ev)
    assert ev["accept_ok"] is True
    expect.check_process(ev, backend, capture)
    expect.check_addresses(ev, backend, done.port)


def test_curl_http11_direct(traced, capture):
    backend, w = traced
    client_port = helpers.free_port()
    opened = time.time()
    done = helpers.curl_ws(backend.url("http"), max_time=1, extra=["--local-port", str(client_port)])
    assert helpers.curl_status(done) == 101
    ev = _one_event(w, client_port, opened)
    assert ev["verdict"] == "upgraded" and ev["status"] == 101, expect.describe(ev)
    assert expect.header(ev, "User-Agent").startswith("curl/")
    expect.check_process(ev, backend, capture)


def _browser(path, **_):
    return (b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Mozilla/5.0\r\nAccept: text/html\r\n\r\n"
            % path.encode())


# Headers that tell which hop is at fault: name -> (request builder, its
# arguments, hint id)
HINT_CASES = {
    "forwarded": (helpers.handshake, dict(upgrade=None, extra=[("X-Forwarded-For", "203.0.113.7"),
                                                                ("X-Forwarded-Proto", "https")]), "forwarded"),
    "via": (helpers.handshake, dict(upgrade=None, connection="keep-alive", extra=[("Via", "1.1 corp-proxy")]), "via"),
    "aws-alb": (helpers.handshake, dict(upgrade=None, extra=[("X-Amzn-Trace-Id", "Root=1-67891233-abcdef012345678912345678")]),
                "aws-alb"),
    "connection-hardcoded": (helpers.handshake, dict(upgrade=None, connection="upgrade"), "connection-hardcoded"),
    "browser": (_browser, {}, "no-websocket-client"),
}


@pytest.mark.parametrize("case", list(HINT_CASES))
def test_hints(traced, capture, case):
    """The bytes at the backend name the hop: proxies, balancers, browsers."""
    backend, w = traced
    build, kw, hint = HINT_CASES[case]
    conn, reply = _send(backend, build(path=backend.ws_path, **kw))
    assert reply.status is not None and reply.status != 101
    ev = _one_event(w, conn.lport, conn.opened)
    expect.check_shape(ev)
    assert ev["verdict"] == "rejected" and "upgrade-missing" in ev["rules"], expect.describe(ev)
    assert hint in expect.hint_ids(ev), expect.describe(ev)
    expect.check_answer(ev, reply)
