"""Through nginx 1.22: the hop that loses the handshake, seen at the backend.

wssnoop watches only the backend's port (unless a test says otherwise), and
is started per test: nginx's upstream connection has a port we cannot know."""
import pytest

import expect
import helpers
from peers import ANSWERS, BACKENDS


def _only_event(w):
    w.stop()
    assert w.rc == 0, w.stderr
    evs = w.events
    assert len(evs) == 1, [expect.describe(e) for e in evs]
    expect.check_shape(evs[0])
    return evs[0]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_http2_client_through_tls_nginx(wssnoop, capture, nginx, backend):
    """The DESIGN case: curl over TLS speaks HTTP/2 (its default) to nginx with
    the WebSocket settings; HTTP/2 has no Upgrade, so the backend gets a
    handshake without it, and header names in lower case."""
    w = wssnoop(backend)
    done = helpers.curl_ws(nginx.url("https", "wsok", backend, backend.ws_path), http=None, max_time=3)
    assert b"HTTP/1.1" not in done.stdout
    ev = _only_event(w)
    assert ev["verdict"] == "rejected", expect.describe(ev)
    assert "upgrade-missing" in ev["rules"], expect.describe(ev)
    assert {"upgrade-lost", "http2-client"} & set(expect.hint_ids(ev)), expect.describe(ev)
    assert ev["status"] == ANSWERS["no-upgrade"][backend.name]
    expect.check_process(ev, backend, capture)
    expect.check_addresses(ev, backend)
    assert (ev["method"], ev["path"], ev["version"]) == ("GET", backend.ws_path, "HTTP/1.1")
    names = [n for n, _ in ev["headers"]]
    assert "sec-websocket-key" in names and "user-agent" in names, names  # as HTTP/2 delivered them
    assert expect.header(ev, "Connection") == "close"
    assert expect.header(ev, "Upgrade") is None


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_nginx_without_websocket_settings(wssnoop, capture, nginx, backend):
    """nginx's default proxying: HTTP/1.0, Connection: close, Upgrade dropped."""
    w = wssnoop(backend)
    done = helpers.curl_ws(nginx.url("http", "nows", backend, backend.ws_path), max_time=3)
    assert helpers.curl_status(done) == ANSWERS["nginx-default"][backend.name]
    ev = _only_event(w)
    assert ev["verdict"] == "rejected", expect.describe(ev)
    assert ev["version"] == "HTTP/1.0"
    assert {"http-version", "upgrade-missing"} <= set(ev["rules"]), expect.describe(ev)
    assert "proxy-http10" in expect.hint_ids(ev), expect.describe(ev)
    assert ev["status"] == ANSWERS["nginx-default"][backend.name]
    assert expect.header(ev, "Connection") == "close"
    assert expect.header(ev, "Host") == f"127.0.0.1:{backend.port}"
    expect.check_process(ev, backend, capture)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_nginx_with_websocket_settings(wssnoop, capture, nginx, backend):
    w = wssnoop(backend)
    done = helpers.curl_ws(nginx.url("http", "wsok", backend, backend.ws_path), max_time=1)
    assert helpers.curl_status(done) == 101
    ev = _only_event(w)
    assert ev["verdict"] == "upgraded" and ev["status"] == 101, expect.describe(ev)
    assert ev["rules"] == [] and ev["version"] == "HTTP/1.1"
    assert ev["accept_ok"] is True
    assert expect.header(ev, "Upgrade") == "websocket"
    expect.check_process(ev, backend, capture)


def test_http11_over_tls_nginx(wssnoop, capture, nginx, py_server):
    """curl --http1.1 over TLS through the same nginx: a good handshake."""
    w = wssnoop(py_server)
    done = helpers.curl_ws(nginx.url("https", "wsok", py_server, "/ws"), max_time=1)
    assert helpers.curl_status(done) == 101
    ev = _only_event(w)
    assert ev["verdict"] == "upgraded" and ev["status"] == 101, expect.describe(ev)
    expect.check_process(ev, py_server, capture)


@pytest.mark.parametrize("backend", ["py", "node"], indirect=True)
def test_library_clients_through_nginx(wssnoop, capture, nginx, backend):
    """Python websockets through the good location, Node ws through the bad one."""
    w = wssnoop(backend)
    assert helpers.python_ws_client(nginx.url("ws", "wsok", backend, "/ws")) == "hello from python"
    done = helpers.node_ws_client(nginx.url("ws", "nows", backend, "/ws"))
    assert done.returncode == 1 and b"Unexpected server response" in done.stderr, done.stderr
    w.stop()
    evs = w.events
    assert [e["verdict"] for e in evs] == ["upgraded", "rejected"], [expect.describe(e) for e in evs]
    assert evs[1]["version"] == "HTTP/1.0" and "proxy-http10" in expect.hint_ids(evs[1])
    for ev in evs:
        expect.check_shape(ev)
        expect.check_process(ev, backend, capture)


def test_both_hops_watched(wssnoop, capture, nginx, py_server):
    """Watching nginx's front port too: one event per hop, each attributed to
    the process that owns that socket (an nginx worker, the Python server)."""
    w = wssnoop(nginx.http_port, py_server)
    done = helpers.curl_ws(nginx.url("http", "nows", py_server, "/ws"), max_time=3)
    assert helpers.curl_status(done) == 400
    w.stop()
    evs = w.events
    by_port = {e["lport"]: e for e in evs}
    assert len(evs) == 2 and set(by_port) == {nginx.http_port, py_server.port}, [expect.describe(e) for e in evs]
    front, back = by_port[nginx.http_port], by_port[py_server.port]
    for ev in evs:
        expect.check_shape(ev)
    # The client's request was a good one; nginx relayed the backend's 400.
    assert front["version"] == "HTTP/1.1" and expect.header(front, "Upgrade") == "websocket"
    assert front["path"] == "/nows/py/ws" and front["status"] == 400
    assert front["comm"] == "nginx" and front["pid"] != nginx.pid, "an nginx worker, not the master"
    assert helpers.proc_comm(front["pid"]) == "nginx"
    assert back["version"] == "HTTP/1.0" and back["verdict"] == "rejected"
    assert "proxy-http10" in expect.hint_ids(back)
    expect.check_process(back, py_server, capture)


def test_connection_hardcoded_http2_client(wssnoop, capture, nginx, node_server):
    """nginx with `Connection "upgrade"` hard-coded and an HTTP/2 client: the
    backend sees Connection: upgrade without Upgrade."""
    w = wssnoop(node_server)
    helpers.curl_ws(nginx.url("https", "hard", node_server, "/ws"), http=None, max_time=3)
    ev = _only_event(w)
    assert expect.header(ev, "Connection") == "upgrade" and expect.header(ev, "Upgrade") is None, expect.describe(ev)
    assert ev["verdict"] == "rejected" and "upgrade-missing" in ev["rules"], expect.describe(ev)
    assert "connection-hardcoded" in expect.hint_ids(ev), expect.describe(ev)
    expect.check_process(ev, node_server, capture)
