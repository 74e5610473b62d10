"""Connections over time: several requests on one connection, answers that
never come, closes, the drain at exit, and the options that scope a run."""
import time

import pytest

import expect
import helpers


def _events_for(w, client_port):
    return [e for e in w.events if e["rport"] == client_port]


# The first request on the connection is an attempt (its path matches the
# backend's --path glob) that the server answers without closing.
KEEPALIVE_FIRST = {
    "node": (b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: probe\r\n\r\n", 426),
    "tomcat": (b"GET /examples/websocket/echoAnnotation HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 404),
}


def _after_first(w, backend, second):
    """The backend's first request, answered on a connection kept open, then
    second on it; wssnoop stopped after. The second reply and the
    connection's events."""
    first, first_status = KEEPALIVE_FIRST[backend.name]
    with helpers.RawConn(backend.port) as conn:
        conn.send(first)
        r1 = conn.read_reply()
        assert r1.status == first_status and not r1.closed
        conn.send(second)
        r2 = conn.read_reply()
        client_port = conn.lport
        w.wait_events(2, 5, predicate=lambda e: e["rport"] == client_port)
    w.stop()
    return r2, _events_for(w, client_port)


@pytest.mark.parametrize("backend", list(KEEPALIVE_FIRST), indirect=True)
def test_keepalive_then_handshake(wssnoop, capture, backend):
    """Every request head is judged, not only the first on a connection."""
    first_status = KEEPALIVE_FIRST[backend.name][1]
    r2, evs = _after_first(wssnoop(backend), backend, helpers.handshake(path=backend.ws_path))
    assert r2.status == 101
    assert [e["request_index"] for e in evs] == [1, 2], [expect.describe(e) for e in evs]
    one, two = evs
    for ev in evs:
        expect.check_shape(ev)
        expect.check_process(ev, backend, capture)
    assert one["verdict"] == "rejected" and "upgrade-missing" in one["rules"], expect.describe(one)
    assert one["status"] == first_status
    assert two["verdict"] == "upgraded" and two["status"] == 101 and two["rules"] == [], expect.describe(two)
    assert two["accept_ok"] is True


@pytest.mark.parametrize("empty_line", [b"\r\n", b"\n"], ids=["crlf", "lf"])
@pytest.mark.parametrize("backend", list(KEEPALIVE_FIRST), indirect=True)
def test_empty_line_before_next_head(wssnoop, capture, backend, empty_line):
    """A client may send an empty line before a request line on a persistent
    connection (RFC 9112 2.2), which servers ignore: the head after it is
    sampled and judged all the same."""
    r2, evs = _after_first(wssnoop(backend), backend,
                           empty_line + helpers.handshake(path=backend.ws_path, ws_version="7"))
    assert r2.status in (400, 426), "the server refuses version 7 after the empty line"
    assert [e["request_index"] for e in evs] == [1, 2], [expect.describe(e) for e in evs]
    two = evs[1]
    expect.check_shape(two)
    assert (two["method"], two["path"], two["status"]) == ("GET", backend.ws_path, r2.status), expect.describe(two)
    assert two["verdict"] == "rejected" and "version-not-13" in two["rules"], expect.describe(two)
    assert evs[0]["syntax"] == [], expect.describe(evs[0])
    assert two["syntax"] == (["leading-empty-line"] if empty_line == b"\r\n" else ["lf-only", "leading-empty-line"])


def test_keepalive_two_handshakes_in_segments(wssnoop, capture, node_server):
    """The second head on the connection arrives in pieces: still reassembled."""
    w = wssnoop(node_server)
    with helpers.RawConn(node_server.port) as conn:
        conn.send(helpers.handshake(upgrade=None))
        assert conn.read_reply().status == 426
        second = helpers.handshake(ws_version="7")
        conn.send(second, pieces=[3, 50, len(second) - 2])
        assert conn.read_reply().status == 400
        client_port = conn.lport
    w.stop()
    evs = _events_for(w, client_port)
    assert [e["request_index"] for e in evs] == [1, 2], [expect.describe(e) for e in evs]
    assert "upgrade-missing" in evs[0]["rules"]
    assert evs[1]["verdict"] == "rejected" and "version-not-13" in evs[1]["rules"], expect.describe(evs[1])
    assert evs[1]["status"] == 400 and evs[1]["truncated"] is False


def test_client_closes_before_answer(wssnoop, capture, silent_server):
    w = wssnoop(silent_server)
    with helpers.RawConn(silent_server.port) as conn:
        conn.send(helpers.handshake())
        time.sleep(0.3)
        client_port = conn.lport
    evs = w.wait_events(1, 5, predicate=lambda e: e["rport"] == client_port)
    assert evs, "a closed connection is reported without waiting for the exit"
    w.stop()
    evs = _events_for(w, client_port)
    assert len(evs) == 1, [expect.describe(e) for e in evs]
    ev = evs[0]
    expect.check_shape(ev)
    assert ev["verdict"] == "closed", expect.describe(ev)
    expect.check_answer(ev, None)
    expect.check_process(ev, silent_server, capture)
    expect.check_addresses(ev, silent_server, client_port)


def test_server_closes_without_answer(wssnoop, capture, close_server):
    w = wssnoop(close_server)
    with helpers.RawConn(close_server.port) as conn:
        conn.send(helpers.handshake())
        reply = conn.read_reply()
        assert reply.raw == b"" and reply.closed
        client_port = conn.lport
    w.stop()
    evs = _events_for(w, client_port)
    assert len(evs) == 1, [expect.describe(e) for e in evs]
    ev = evs[0]
    expect.check_shape(ev)
    assert ev["verdict"] == "closed", expect.describe(ev)
    expect.check_answer(ev, None)
    expect.check_process(ev, close_server, capture)


def test_no_response_within_timeout(wssnoop, capture, silent_server):
    """--timeout 1: reported as no-response while the connection is still open."""
    w = wssnoop(silent_server, args=["--timeout", "1"])
    with helpers.RawConn(silent_server.port) as conn:
        conn.send(helpers.handshake())
        client_port = conn.lport
        evs = w.wait_events(1, 4, predicate=lambda e: e["rport"] == client_port)
        assert evs, "no event 4 s after a request with --timeout 1 (connection still open)"
        ev = evs[0]
        assert ev["verdict"] == "no-response", expect.describe(ev)
    w.stop()
    evs = _events_for(w, client_port)
    assert len(evs) == 1, "the later close must not report the request again: " + str(
        [expect.describe(e) for e in evs])
    expect.check_shape(ev)
    expect.check_answer(ev, None)
    expect.check_process(ev, silent_server, capture)
    assert ev["rules"] == []


def test_pending_reported_at_exit(wssnoop, capture, silent_server, py_server):
    """SIGINT drains: a request still waiting is reported as no-response, then
    the summary counts everything."""
    w = wssnoop(silent_server, py_server)
    helpers.exchange(py_server.port, helpers.handshake())
    helpers.exchange(py_server.port, helpers.handshake(upgrade=None))
    with helpers.RawConn(silent_server.port) as conn:
        conn.send(helpers.handshake())
        client_port = conn.lport
        time.sleep(0.3)
        w.stop()
    assert w.rc == 0, w.stderr
    records = w.records()
    assert records[-1]["type"] == "summary", "the summary is the last line"
    evs = w.events
    assert sorted(e["verdict"] for e in evs) == ["no-response", "rejected", "upgraded"], \
        [expect.describe(e) for e in evs]
    pending = _events_for(w, client_port)[0]
    assert pending["verdict"] == "no-response" and pending["status"] is None
    s = w.summary
    assert s["attempts"] == 3 and s["upgraded"] == 1, s
    assert s["events_lost"] == 0, s
    failed = sum(s["failed"].values()) if isinstance(s["failed"], dict) else s["failed"]
    assert failed == 2, s


def test_pid_filter(wssnoop, capture, py_server, node_server):
    """--pid keeps only the sockets of that process."""
    w = wssnoop(py_server, node_server, args=["--pid", str(node_server.pid)])
    helpers.exchange(py_server.port, helpers.handshake())
    helpers.exchange(node_server.port, helpers.handshake(ws_version="6"))
    w.stop()
    evs = w.events
    assert len(evs) == 1 and evs[0]["pid"] == node_server.pid, [expect.describe(e) for e in evs]
    assert evs[0]["lport"] == node_server.port and evs[0]["status"] == 400


def test_duration(wssnoop, capture, py_server):
    """-d 2 ends the run by itself, with the summary, exit code 0."""
    w = wssnoop(py_server, args=["-d", "2"])
    helpers.exchange(py_server.port, helpers.handshake())
    deadline = time.monotonic() + 10
    while w.popen.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert w.popen.poll() == 0, f"wssnoop -d 2 still running or failed: rc={w.popen.poll()}"
    w.stop(settle=0)
    assert len(w.events) == 1 and w.events[0]["verdict"] == "upgraded"
    assert w.summary and w.summary["attempts"] == 1


def test_paths_scope_attempts(wssnoop, capture, node_server):
    """A plain GET counts only on a path the --path globs match; a request
    carrying Upgrade/Sec-WebSocket-* counts on any path."""
    w = wssnoop(node_server, paths=["/live/**"])
    plain = b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: ELB-HealthChecker/2.0\r\n\r\n"
    helpers.exchange(node_server.port, plain % b"/index.html")  # not an attempt
    helpers.exchange(node_server.port, plain % b"/live/feed")  # matched path
    helpers.exchange(node_server.port, helpers.handshake(path="/elsewhere"))  # carries Upgrade
    w.stop()
    evs = w.events
    assert sorted(e["path"] for e in evs) == ["/elsewhere", "/live/feed"], [expect.describe(e) for e in evs]
    feed = [e for e in evs if e["path"] == "/live/feed"][0]
    assert feed["verdict"] == "rejected" and "upgrade-missing" in feed["rules"]
    assert "health-check" in expect.hint_ids(feed), expect.describe(feed)


def test_hostile_bytes_are_escaped(wssnoop, capture, node_server):
    """Header values with terminal escapes and bytes that are not UTF-8 come
    out escaped: valid JSON in -j, no raw control bytes in text mode."""
    evil = helpers.handshake(upgrade=None, extra=[("X-Evil", "\x1b[31mred\x07")]).replace(
        b"X-Evil", b"X-Bin: \xff\xfe\x00z\r\nX-Evil")
    wj = wssnoop(node_server)
    wt = wssnoop(node_server, json=False, args=["-v"])
    helpers.exchange(node_server.port, evil)
    wj.stop()
    wt.stop()
    evs = wj.events  # every line parsed as JSON
    assert len(evs) == 1
    assert "\x1b" in expect.header(evs[0], "X-Evil") or "\\x1b" in expect.header(evs[0], "X-Evil") or \
        "\\u001b" in expect.header(evs[0], "X-Evil")
    raw = "\n".join(wt.stdout_lines + wt.stderr_lines)
    assert "\x1b" not in raw and "\x07" not in raw and "\x00" not in raw, "raw control bytes printed"
    assert "red" in wt.stdout, "text mode -v shows the request head"
    # The NUL is a break of HTTP syntax the parser notes, in both forms.
    assert "nul" in evs[0]["syntax"], evs[0]["syntax"]
    assert any(line.startswith("    syntax: ") and "nul" in line for line in wt.stdout_lines), wt.stdout


def test_truncated_head_is_not_guessed(wssnoop, capture, py_server):
    """--sample-bytes 96 cuts the head before Upgrade: reported as truncated,
    and no rule is drawn from the part that was not seen."""
    request = helpers.handshake(extra=[("Cookie", "c=" + "x" * 400)]).replace(
        b"Upgrade: websocket\r\nConnection: Upgrade\r\n", b"")
    request = request.replace(b"\r\n\r\n", b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    assert request.index(b"Upgrade:") > 96
    w = wssnoop(py_server, args=["--sample-bytes", "96"])
    reply = helpers.exchange(py_server.port, request)
    assert reply.status == 101
    w.stop()
    evs = w.events
    assert len(evs) == 1, [expect.describe(e) for e in evs]
    ev = evs[0]
    expect.check_shape(ev)
    assert ev["truncated"] is True, expect.describe(ev)
    assert "truncated" in ev["rules"], expect.describe(ev)
    assert not {"upgrade-missing", "connection-no-upgrade", "version-missing"} & set(ev["rules"]), \
        "rules guessed from bytes that were not sampled: " + expect.describe(ev)
    assert ev["status"] == 101 and ev["verdict"] == "upgraded", expect.describe(ev)


def test_ipv6(wssnoop, capture, workdir):
    """A server on [::1]: family ipv6 and the addresses as such."""
    port = helpers.free_port()
    proc = helpers.Proc("py6", [helpers.PYTHON, f"{helpers.SERVERS_DIR}/py_ws_server.py", str(port), "::1"], workdir,
                        stdout_pipe=True)
    try:
        proc.wait_line("ready", 20)
        w = wssnoop(port, paths=["/ws"])
        with helpers.RawConn(port, host="::1") as conn:
            conn.send(helpers.handshake(host="[::1]"))
            assert conn.read_reply().status == 101
            client_port = conn.lport
        with helpers.RawConn(port, host="::1") as conn:
            conn.send(helpers.handshake(host="[::1]", ws_version="8"))
            assert conn.read_reply().status == 400
        w.stop()
        evs = w.events
        assert [e["verdict"] for e in evs] == ["upgraded", "rejected"], [expect.describe(e) for e in evs]
        for ev in evs:
            expect.check_shape(ev)
            assert (ev["family"], ev["laddr"], ev["raddr"], ev["lport"]) == ("ipv6", "::1", "::1", port)
            assert ev["pid"] == proc.pid and ev["comm"] == "python3"
        assert evs[0]["rport"] == client_port
        assert "version-not-13" in evs[1]["rules"]
    finally:
        proc.stop()


def test_pipelined_heads(wssnoop, capture, node_server):
    """Two heads in one segment (pipelining): both judged, in order."""
    w = wssnoop(node_server)
    with helpers.RawConn(node_server.port) as conn:
        conn.send(helpers.handshake(upgrade=None) + helpers.handshake())
        assert conn.read_reply().status == 426
        assert conn.read_reply().status == 101
        client_port = conn.lport
    w.stop()
    evs = _events_for(w, client_port)
    assert [(e["request_index"], e["verdict"]) for e in evs] == [(1, "rejected"), (2, "upgraded")], \
        [expect.describe(e) for e in evs]
    assert evs[0]["status"] == 426 and evs[1]["status"] == 101


def test_many_concurrent_handshakes(wssnoop, capture, node_server):
    """60 handshakes at once: one event each, nothing lost, all attributed."""
    import concurrent.futures

    w = wssnoop(node_server)
    count = 60

    def one(i):
        req = helpers.handshake(key=helpers.new_key()) if i % 2 else helpers.handshake(ws_version="12")
        r = helpers.exchange(node_server.port, req, timeout=10)
        return r.lport, r.status

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = dict(pool.map(one, range(count)))
    assert sorted(set(results.values())) == [101, 400]
    w.stop()
    evs = w.events
    assert len(evs) == count, f"{len(evs)} events for {count} handshakes; summary {w.summary}"
    assert {e["rport"] for e in evs} == set(results)
    for ev in evs:
        assert ev["status"] == results[ev["rport"]], expect.describe(ev)
        assert ev["verdict"] == ("upgraded" if ev["status"] == 101 else "rejected"), expect.describe(ev)
        assert ev["pid"] == node_server.pid
    assert w.summary["events_lost"] == 0 and w.summary["attempts"] == count


@pytest.mark.parametrize("mode", ["badaccept", "noaccept"])
def test_bad_accept(wssnoop, capture, request, mode):
    """A 101 whose Sec-WebSocket-Accept is wrong or missing: the client will
    drop it, so it is flagged even though the status says upgraded."""
    server = request.getfixturevalue(mode + "_server")
    w = wssnoop(server)
    reply = helpers.exchange(server.port, helpers.handshake())
    assert reply.status == 101
    w.stop()
    evs = w.events
    assert len(evs) == 1, [expect.describe(e) for e in evs]
    ev = evs[0]
    expect.check_shape(ev)
    assert ev["status"] == 101 and ev["accept_ok"] is False, expect.describe(ev)
    rule = "accept-mismatch" if mode == "badaccept" else "accept-missing"
    assert rule in ev["rules"], expect.describe(ev)
    expect.check_process(ev, server, capture)


def test_failed_only(wssnoop, capture, py_server):
    """-x shows failed handshakes only; the summary still counts all."""
    w = wssnoop(py_server, args=["-x"])
    helpers.exchange(py_server.port, helpers.handshake())
    helpers.exchange(py_server.port, helpers.handshake(key=None))
    w.stop()
    evs = w.events
    assert [e["verdict"] for e in evs] == ["rejected"], [expect.describe(e) for e in evs]
    assert "key-missing" in evs[0]["rules"]
    assert w.summary["attempts"] == 2 and w.summary["upgraded"] == 1


@pytest.mark.timeout(60)
def test_accept_queue_full_keeps_connections_apart(wssnoop, capture):
    """A server whose accept queue is full (listen backlog 1, not accepting
    yet) while 20 clients connect at once: the kernel drops final ACKs, and
    the clients' requests reach the listening socket before their own
    sockets exist. Each is still one attempt of its own (never merged under
    the listener), answered once the server accepts it."""
    import base64, hashlib, socket, threading
    if capture != "cgroup_skb":
        pytest.skip("only the packet path sees segments reach the listening socket")
    port = helpers.free_port()
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(1)
    # A client whose data the full queue keeps dropping retransmits with a
    # growing back-off: its answer may come later than the default timeout.
    w = wssnoop(port, args=["--timeout", "60"])
    clients = 20
    barrier = threading.Barrier(clients)

    def client():
        barrier.wait()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=15) as c:
                c.sendall(helpers.handshake())
                c.recv(4096)
        except OSError:
            pass  # still retransmitting when the server stopped accepting

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    time.sleep(1.5)  # the queue stays full; the clients' data is retransmitted
    srv.settimeout(1.0)
    accepted = []
    upgraded_peers = set()
    deadline = time.time() + 12
    while len(accepted) < clients and time.time() < deadline:
        try:
            s, peer = srv.accept()
        except socket.timeout:
            continue
        accepted.append(s)
        s.settimeout(3)
        req = b""
        try:
            while b"\r\n\r\n" not in req:
                chunk = s.recv(4096)
                if not chunk:
                    break
                req += chunk
        except socket.timeout:
            pass  # its data is still being retransmitted: left unanswered
        if b"\r\n\r\n" not in req:
            continue
        key = next(line.split(b":", 1)[1].strip() for line in req.split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key:"))
        accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        try:
            s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        except OSError:
            continue  # the client gave up waiting
        upgraded_peers.add(peer[1])
    for t in threads:
        t.join(timeout=5)
    # What the server answered (a client may have given up waiting by then).
    ports = upgraded_peers
    assert ports, "no client was answered"
    w.wait_events(len(ports), 10, predicate=lambda e: e["rport"] in ports and e["verdict"] == "upgraded")
    for s in accepted:
        s.close()
    srv.close()
    w.stop()
    evs = [e for e in w.events if e.get("type") == "handshake"]
    upgraded = [e for e in evs if e["verdict"] == "upgraded"]
    assert sorted(e["rport"] for e in upgraded) == sorted(ports), [expect.describe(e) for e in evs]
    assert all(e["request_index"] == 1 for e in evs), [expect.describe(e) for e in evs]
    assert w.summary["answers_unmatched"] == 0, w.summary
