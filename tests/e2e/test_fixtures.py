"""The peers themselves, without wssnoop: every server, proxy and client the
wssnoop tests rely on answers what the tests assume (peers.ANSWERS)."""
import pytest

import helpers

from peers import ANSWERS, BACKENDS, CASES, GARBAGE


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_server_answers(backend, case):
    build, _rules = CASES[case]
    reply = helpers.exchange(backend.port, build(backend.ws_path), timeout=5)
    assert reply.status == ANSWERS[case][backend.name], reply.raw[:300]
    if reply.status == 101:
        assert reply.header("Sec-WebSocket-Accept") == helpers.accept_for(helpers.GOOD_KEY)
        assert reply.header("Upgrade").lower() == "websocket"


@pytest.mark.parametrize("garbage", sorted(GARBAGE))
@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_server_answers_garbage(backend, garbage):
    make, _rule, statuses = GARBAGE[garbage]
    reply = helpers.exchange(backend.port, make(), timeout=5)
    assert reply.status == statuses[backend.name], reply.raw[:300]
    if reply.status is None:
        assert reply.closed and reply.raw == b""


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_library_clients_echo(backend):
    assert helpers.python_ws_client(backend.url()) == "hello from python"
    done = helpers.node_ws_client(backend.url())
    assert done.returncode == 0, done.stderr
    assert done.echo == "hello from node" and done.port


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_server_process(backend):
    """The pid we hold is the process that owns the listening socket."""
    expected = {"py": "python3", "node": "node", "tomcat": "java"}[backend.name]
    assert backend.comm == expected
    inode = _listen_inode(backend.port)
    assert inode is not None
    assert _owns_inode(backend.pid, inode)


def _listen_inode(port):
    # Java listens on an IPv6 socket even for 127.0.0.1 (v4-mapped): look in both.
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[1].endswith(":%04X" % port) and fields[3] == "0A":
                    return fields[9]
    return None


def _owns_inode(pid, inode):
    import os
    target = f"socket:[{inode}]"
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                return True
        except OSError:
            pass
    return False


def test_raw_servers(close_server, silent_server):
    reply = helpers.exchange(close_server.port, helpers.handshake(), timeout=3)
    assert reply.raw == b"" and reply.closed
    with helpers.RawConn(silent_server.port, timeout=3) as conn:
        conn.send(helpers.handshake())
        reply = conn.read_reply(timeout=1.5)
        assert reply.raw == b"" and not reply.closed


def test_bad_101_servers(badaccept_server, noaccept_server):
    reply = helpers.exchange(badaccept_server.port, helpers.handshake(), timeout=3)
    assert reply.status == 101 and reply.header("Sec-WebSocket-Accept") != helpers.accept_for(helpers.GOOD_KEY)
    reply = helpers.exchange(noaccept_server.port, helpers.handshake(), timeout=3)
    assert reply.status == 101 and reply.header("Sec-WebSocket-Accept") is None


def test_curl_http11_direct(py_server):
    done = helpers.curl_ws(py_server.url("http"), max_time=1)
    assert helpers.curl_status(done) == 101


def _forwarded(nginx, echo_server, scheme, mode, http):
    done = helpers.curl_ws(nginx.url(scheme, mode, echo_server, "/ws/chat"), http=http, max_time=5)
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode("latin-1")
    return text, text.split("\r\n\r\n", 1)[1]


def test_nginx_without_ws_settings_forwards_http10(nginx, echo_server):
    text, head = _forwarded(nginx, echo_server, "http", "nows", "1.1")
    assert head.startswith("GET /ws/chat HTTP/1.0\r\n")
    assert "\r\nConnection: close\r\n" in head
    assert "upgrade:" not in head.lower()
    assert f"Sec-WebSocket-Key: {helpers.GOOD_KEY}" in head


def test_nginx_with_ws_settings_forwards_upgrade(nginx, echo_server):
    text, head = _forwarded(nginx, echo_server, "http", "wsok", "1.1")
    assert head.startswith("GET /ws/chat HTTP/1.1\r\n")
    assert "\r\nUpgrade: websocket\r\n" in head
    assert "\r\nConnection: upgrade\r\n" in head


def test_nginx_http2_client_loses_upgrade(nginx, echo_server):
    """curl's default over TLS is HTTP/2: nginx forwards no Upgrade, lower-case names."""
    text, head = _forwarded(nginx, echo_server, "https", "wsok", None)
    assert text.startswith("HTTP/2 200")
    assert head.startswith("GET /ws/chat HTTP/1.1\r\n")
    assert "upgrade:" not in head.lower()
    assert "\r\nConnection: close\r\n" in head
    assert f"\r\nsec-websocket-key: {helpers.GOOD_KEY}\r\n" in head


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_nginx_to_backends(nginx, backend):
    assert helpers.curl_status(helpers.curl_ws(nginx.url("http", "wsok", backend, backend.ws_path),
                                               max_time=1)) == 101
    assert helpers.curl_status(helpers.curl_ws(nginx.url("http", "nows", backend, backend.ws_path), max_time=3)) == \
        ANSWERS["nginx-default"][backend.name]
    assert helpers.python_ws_client(nginx.url("ws", "wsok", backend, backend.ws_path)) == "hello from python"
    h2 = helpers.curl_ws(nginx.url("https", "wsok", backend, backend.ws_path), http=None, max_time=3)
    if backend.name == "py":
        # websockets' 426 carries `Upgrade: websocket`, which nginx passes into
        # the HTTP/2 answer, and curl refuses that connection-specific header.
        assert h2.returncode == 92 and b"PROTOCOL_ERROR" in h2.stderr, h2
    else:
        assert h2.stdout.startswith(b"HTTP/2 ")
        assert helpers.curl_status(h2) == ANSWERS["no-upgrade"][backend.name]
