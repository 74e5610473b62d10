"""After the 101 (issue 8): how each upgraded connection ended.

wssnoop follows every connection it saw upgrade and, when the socket closes,
prints a `lifetime` record: the first Close frame's code (1006 when none was
seen) and who sent it, which side's FIN/RST came first, the gap without data
before it (an idle timeout on a hop), frames, bytes and pings each way.
Connections still open at exit are reported with "state":"open".

Only the cgroup_skb capture follows frames (`--capture syscall` does not
implement lifetime tracking), so these tests start wssnoop themselves with
`--capture cgroup_skb` instead of using the conftest's capture-parametrized
`wssnoop` factory. Every server here is our own (servers/lifetime_server.py,
and an nginx with `proxy_read_timeout 3s`) on free ports, and every client is
the Python `websockets` library, with pings and compression off unless a test
says otherwise, so that the frames on the wire are known byte for byte.

"remote" is the peer of the watched server socket (the client, or nginx when
it proxies to the watched backend); "local" is the server process.
"""
import asyncio
import datetime
import os
import signal
import socket
import struct
import time

import pytest
import websockets

import helpers
from helpers import PYTHON, SERVERS_DIR, Proc, Wssnoop, free_port, wait_port

CAPTURE = "cgroup_skb"
SERVER = os.path.join(SERVERS_DIR, "lifetime_server.py")
RAW_SERVER = os.path.join(SERVERS_DIR, "lifetime_raw_server.py")
PATHS = ("/echo", "/close1011", "/quiet", "/refused")
NGINX_READ_TIMEOUT = 3  # proxy_read_timeout, seconds

SIDES = {"remote", "local", None}
COUNTERS = ("bytes_in", "bytes_out", "frames_in", "frames_out", "pings_in", "pings_out", "pongs_in", "pongs_out",
            "unclassified_in", "unclassified_out")


# --------------------------------------------------------------------------
# Processes: our server, our nginx, wssnoop (each stopped by a finalizer)


class Server:
    def __init__(self, proc, port):
        self.proc = proc
        self.port = port
        self.pid = proc.pid

    def url(self, path):
        return f"ws://127.0.0.1:{self.port}{path}"


def _start_server(workdir, name, ping=None, script=SERVER):
    port = free_port()
    argv = [PYTHON, script, str(port)]
    if ping is not None:
        argv += ["--ping", str(ping)]
    proc = Proc(name, argv, workdir, stdout_pipe=True)
    try:
        proc.wait_line("ready", timeout=20)
        wait_port(port, 10, proc)
    except Exception:
        proc.stop()
        raise
    return Server(proc, port)


@pytest.fixture(scope="module")
def lt_server(workdir):
    """The shared backend: no server pings."""
    s = _start_server(workdir, "lifetime-server")
    yield s
    s.proc.stop()


@pytest.fixture
def server_factory(workdir, request):
    """Servers of one test (e.g. one to kill); all stopped at teardown."""
    started = []

    def start(ping=None, script=SERVER):
        s = _start_server(workdir, f"lifetime-server-{request.node.name}-{len(started)}", ping=ping, script=script)
        started.append(s)
        return s

    yield start
    for s in started:
        s.proc.stop()


NGINX_CONF = """\
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
daemon off;
events {{
    worker_connections 64;
}}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{backend};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout {timeout}s;
        }}
    }}
}}
"""


@pytest.fixture(scope="module")
def lt_nginx(workdir, lt_server):
    """nginx with the WebSocket proxy settings and proxy_read_timeout 3s in
    front of lt_server; returns its port."""
    d = os.path.join(workdir, "lifetime-nginx")
    os.makedirs(d)
    port = free_port()
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(dir=d, port=port, backend=lt_server.port, timeout=NGINX_READ_TIMEOUT))
    helpers.run(["nginx", "-t", "-q", "-p", d, "-c", conf], timeout=15, check=True)
    proc = Proc("lifetime-nginx", ["nginx", "-p", d, "-c", conf], workdir)
    try:
        wait_port(port, 15, proc)
    except Exception:
        proc.stop()
        raise
    yield port
    proc.stop()


def _launch(workdir, name, port, args=(), json=True):
    argv = ["-p", str(port)]
    for p in PATHS:
        argv += ["--path", p]
    if json:
        argv.append("-j")
    argv += ["--capture", CAPTURE] + list(args)
    return Wssnoop(argv, workdir, name=name.replace("/", "_")).start()


@pytest.fixture
def snoop(workdir, wssnoop_binary, request):
    """Factory: snoop(port, args=(), json=True) starts ./wssnoop -p PORT
    --capture cgroup_skb; whatever the test did not stop is stopped at teardown."""
    started = []

    def start(port, args=(), json=True):
        w = _launch(workdir, f"wssnoop-lifetime-{request.node.name}-{len(started)}", port, args, json)
        started.append(w)
        return w

    yield start
    for w in started:
        if w.rc is None:
            try:
                w.stop(settle=0)
            except AssertionError:
                w.kill()


# --------------------------------------------------------------------------
# Clients


def run_async(coro, timeout):
    """Run a client coroutine with a hard deadline."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def ws_connect(url, ping_interval=None):
    return await websockets.connect(url, ping_interval=ping_interval, compression=None, open_timeout=5,
                                    close_timeout=2)


def frame_len(payload_len, masked):
    """Bytes on the wire of one unfragmented frame."""
    header = 2 if payload_len < 126 else 4 if payload_len < 65536 else 10
    return header + (4 if masked else 0) + payload_len


def raw_upgrade(port, path="/quiet"):
    """A raw client socket that completed the handshake."""
    conn = helpers.RawConn(port)
    conn.send(helpers.handshake(path=path, key=helpers.new_key()))
    reply = conn.read_reply()
    assert reply.status == 101, reply
    return conn


# --------------------------------------------------------------------------
# Checks


def parse_time(text):
    when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert when.utcoffset() == datetime.timedelta(0), text
    return when


def describe(r):
    keys = ("state", "path", "rport", "lifetime_s", "idle_s", "close_code", "close_frame", "closer", "closed_by",
            "frames_in", "frames_out", "bytes_in", "bytes_out", "pings_in", "pings_out")
    return "lifetime " + " ".join(f"{k}={r.get(k)!r}" for k in keys) + f" hints={[h['id'] for h in r['hints']]}"


def check_shape(r, server):
    """Every field of a lifetime record, with its type and vocabulary, and the
    server process as the owner."""
    assert r["type"] == "lifetime"
    assert r["state"] in ("closed", "open"), r
    age = datetime.datetime.now(datetime.timezone.utc) - parse_time(r["time"])
    assert datetime.timedelta(seconds=-5) < age < datetime.timedelta(minutes=10), r["time"]
    parse_time(r["upgraded_time"])
    for k in ("pid", "tid", "lport", "rport", "request_index", "cgroup_id", "netns"):
        assert isinstance(r[k], int) and not isinstance(r[k], bool), (k, r[k])
    assert r["pid"] == server.pid, f"pid {r['pid']} ({r['comm']}), server is {server.pid}"
    assert r["comm"] == "python3" and isinstance(r["thread"], str), (r["comm"], r["thread"])
    assert r["owner"] in ("sock-tracepoint", "egress", "syscall", "proc", "unknown"), r["owner"]
    assert (r["family"], r["laddr"], r["raddr"]) == ("ipv4", "127.0.0.1", "127.0.0.1"), r
    assert r["lport"] == server.port, (r["lport"], server.port)
    assert r["method"] == "GET" and r["path"] in PATHS, (r["method"], r["path"])
    assert r["request_index"] == 1
    assert isinstance(r["lifetime_s"], (int, float)) and r["lifetime_s"] >= 0, r["lifetime_s"]
    assert r["close_frame"] in SIDES and r["closer"] in SIDES, r
    assert r["closed_by"] in ("fin", "rst", None), r
    assert (r["closer"] is None) == (r["closed_by"] is None), r
    if r["state"] == "open":
        assert (r["idle_s"], r["close_code"], r["close_frame"], r["closer"]) == (None, None, None, None), r
    else:
        assert isinstance(r["close_code"], int), r
        assert (r["close_code"] == 1006) == (r["close_frame"] is None), r
        if r["idle_s"] is not None:
            assert 0 <= r["idle_s"] <= r["lifetime_s"] + 0.001, describe(r)
    for k in COUNTERS:
        if k in r:
            assert isinstance(r[k], int) and r[k] >= 0, (k, r[k])
    for h in r["hints"]:
        assert h["id"] == "idle-timeout" and h["text"], h


def lifetimes(w, state=None, **match):
    return [r for r in w.records() if r.get("type") == "lifetime" and (state is None or r["state"] == state)
            and all(r.get(k) == v for k, v in match.items())]


def only_lifetime(w, server, **match):
    found = lifetimes(w, **match)
    assert len(found) == 1, (match, [describe(r) for r in lifetimes(w)])
    check_shape(found[0], server)
    return found[0]


def wait_lifetime(w, timeout=5.0, **match):
    """Wait, while wssnoop runs, for a lifetime record matching match."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = lifetimes(w, **match)
        if found:
            return found
        assert w.popen.poll() is None, f"wssnoop exited ({w.popen.returncode}): {w.stderr[-2000:]}"
        time.sleep(0.05)
    return lifetimes(w, **match)


def upgraded_matches_handshake(w, r):
    """The record names the 101 wssnoop reported for the same connection."""
    hs = [e for e in w.events if e["rport"] == r["rport"] and e["lport"] == r["lport"]]
    assert [e["verdict"] for e in hs] == ["upgraded"], hs
    gap = abs((parse_time(hs[0]["answer_time"]) - parse_time(r["upgraded_time"])).total_seconds())
    assert gap < 0.005, (hs[0]["answer_time"], r["upgraded_time"])


def hint_ids(r):
    return [h["id"] for h in r["hints"]]


# --------------------------------------------------------------------------
# 1. nginx's proxy_read_timeout closes a quiet connection; pings keep one open.
#
# One 6 s run feeds three tests: a quiet client and a client pinging every
# second connect through nginx at once; the quiet one is cut after 3 s, the
# pinging one is still open when wssnoop is stopped 5.5 s in.


@pytest.fixture(scope="module")
def nginx_run(workdir, wssnoop_binary, lt_server, lt_nginx):
    w = _launch(workdir, "wssnoop-lifetime-nginx", lt_server.port)
    out = {"w": w}

    async def quiet():
        t0 = time.monotonic()
        ws = await ws_connect(f"ws://127.0.0.1:{lt_nginx}/quiet")
        await asyncio.wait_for(ws.wait_closed(), NGINX_READ_TIMEOUT + 5)
        out["quiet_client"] = (ws.close_code, time.monotonic() - t0)

    async def pinger():
        ws = await ws_connect(f"ws://127.0.0.1:{lt_nginx}/echo", ping_interval=1)
        t0 = time.monotonic()
        # Outlives the quiet one (cut at 3 s) by 2.5 s.
        await asyncio.sleep(NGINX_READ_TIMEOUT + 2.5)
        out["pinger_open_at_stop"] = ws.open
        out["closed_before_stop"] = lifetimes(w, state="closed", path="/echo")
        out["pinger_age"] = time.monotonic() - t0
        await asyncio.get_running_loop().run_in_executor(None, w.stop)
        await ws.close()

    async def both():
        await asyncio.gather(quiet(), pinger())

    try:
        run_async(both(), 20)
    finally:
        if w.rc is None:
            w.kill()
    return out


@pytest.mark.timeout(30)
def test_nginx_idle_timeout_closes_quiet_connection(nginx_run, lt_server):
    """A quiet client behind nginx (proxy_read_timeout 3s): nginx closes the
    upstream after 3 s without data; the backend sees a FIN from nginx and no
    Close frame (1006), with the idle-timeout hint."""
    w = nginx_run["w"]
    assert w.rc == 0, w.stderr
    code, elapsed = nginx_run["quiet_client"]
    assert code == 1006 and 2.5 < elapsed < 4.5, ("client saw", code, elapsed)
    r = only_lifetime(w, lt_server, path="/quiet")
    assert r["state"] == "closed", describe(r)
    assert r["close_code"] == 1006 and r["close_frame"] is None, describe(r)
    assert r["closer"] == "remote" and r["closed_by"] == "fin", describe(r)
    assert 2.5 <= r["idle_s"] <= 4.5, describe(r)
    assert 2.5 <= r["lifetime_s"] <= 4.5, describe(r)
    assert r["idle_s"] <= r["lifetime_s"] + 0.001, describe(r)
    assert hint_ids(r) == ["idle-timeout"], describe(r)
    assert "remote" in r["hints"][0]["text"], r["hints"][0]["text"]
    # Nothing was said after the 101.
    assert (r["frames_in"], r["frames_out"], r["bytes_in"], r["bytes_out"]) == (0, 0, 0, 0), describe(r)
    upgraded_matches_handshake(w, r)
    s = w.summary
    assert (s["ws_closed"], s["ws_closed_1006"], s["idle_timeouts"], s["ws_open"]) == (1, 1, 1, 1), s


@pytest.mark.timeout(30)
def test_nginx_pings_keep_connection_open(nginx_run, lt_server):
    """The client pinging every second outlives proxy_read_timeout; at exit
    wssnoop reports it as open."""
    w = nginx_run["w"]
    assert nginx_run["pinger_open_at_stop"], "the pinging client was disconnected"
    assert nginx_run["closed_before_stop"] == [], [describe(r) for r in nginx_run["closed_before_stop"]]
    r = only_lifetime(w, lt_server, path="/echo")
    assert r["state"] == "open", describe(r)
    assert r["hints"] == [], describe(r)
    upgraded_matches_handshake(w, r)


@pytest.mark.timeout(30)
def test_nginx_open_connection_counters(nginx_run, lt_server):
    """The open record says how long the connection has lived and what it
    carried: the client's pings pass through nginx to the backend."""
    w = nginx_run["w"]
    r = only_lifetime(w, lt_server, path="/echo", state="open")
    assert r["lifetime_s"] >= nginx_run["pinger_age"] - 0.5, describe(r)
    assert r.get("pings_in", 0) >= 3 and r.get("pongs_out", 0) >= 3, describe(r)
    assert 0.8 <= (r.get("ping_interval_in_s") or 0) <= 1.5, describe(r)


# --------------------------------------------------------------------------
# 2. Closing handshakes: the first Close frame's code and who sent it.

ROUNDS = 3  # each close is repeated: the closer must be the same every time


@pytest.mark.timeout(30)
def test_client_close_1000(snoop, lt_server):
    """The client closes with 1000: close_frame remote; the server answers the
    Close and, as RFC 6455 (7.1.1) wants, closes TCP first: closer local."""
    w = snoop(lt_server.port)

    async def one():
        ws = await ws_connect(lt_server.url("/echo"))
        port = ws.local_address[1]
        await ws.send("bye")
        assert await ws.recv() == "bye"
        await ws.close(code=1000)
        return port, ws.close_code

    ports = []
    for _ in range(ROUNDS):
        port, code = run_async(one(), 10)
        assert code == 1000
        ports.append(port)
    for port in ports:
        wait_lifetime(w, rport=port)
    w.stop()
    assert w.rc == 0, w.stderr
    for port in ports:
        r = only_lifetime(w, lt_server, rport=port)
        assert r["state"] == "closed" and r["path"] == "/echo", describe(r)
        assert r["close_code"] == 1000 and r["close_frame"] == "remote", describe(r)
        assert r["closer"] == "local" and r["closed_by"] == "fin", describe(r)
        assert r["hints"] == [] and r["idle_s"] < 1, describe(r)
        # "bye" and the Close (code only) each way; the client's frames are masked.
        assert (r["frames_in"], r["frames_out"]) == (2, 2), describe(r)
        assert r["bytes_in"] == frame_len(3, True) + frame_len(2, True), describe(r)
        assert r["bytes_out"] == frame_len(3, False) + frame_len(2, False), describe(r)
        upgraded_matches_handshake(w, r)
    s = w.summary
    assert (s["ws_closed"], s["ws_closed_1006"], s["idle_timeouts"], s["ws_open"]) == (ROUNDS, 0, 0, 0), s


@pytest.mark.timeout(30)
def test_server_close_1011(snoop, lt_server):
    """The server closes with 1011 at once: close_frame local, the client
    echoes the Close, the server closes TCP first."""
    w = snoop(lt_server.port)

    async def one():
        ws = await ws_connect(lt_server.url("/close1011"))
        port = ws.local_address[1]
        await asyncio.wait_for(ws.wait_closed(), 5)
        return port, ws.close_code

    ports = []
    for _ in range(ROUNDS):
        port, code = run_async(one(), 10)
        assert code == 1011
        ports.append(port)
    for port in ports:
        wait_lifetime(w, rport=port)
    w.stop()
    assert w.rc == 0, w.stderr
    for port in ports:
        r = only_lifetime(w, lt_server, rport=port)
        assert r["state"] == "closed" and r["path"] == "/close1011", describe(r)
        assert r["close_code"] == 1011 and r["close_frame"] == "local", describe(r)
        assert r["closer"] == "local" and r["closed_by"] == "fin", describe(r)
        assert r["hints"] == [], describe(r)
        assert (r["frames_in"], r["frames_out"]) == (1, 1), describe(r)
        assert (r["bytes_in"], r["bytes_out"]) == (frame_len(2, True), frame_len(2, False)), describe(r)
    s = w.summary
    assert (s["ws_closed"], s["ws_closed_1006"], s["ws_open"]) == (ROUNDS, 0, 0), s


# --------------------------------------------------------------------------
# 3. The server dies.


@pytest.mark.timeout(30)
def test_server_killed(snoop, server_factory):
    """SIGKILL of the server mid-connection: the kernel closes its socket (FIN,
    or RST if data was unread): 1006, no Close frame, closer local. The server
    pings every 0.3 s, so the connection was never idle: no idle-timeout."""
    server = server_factory(ping=0.3)
    w = snoop(server.port)
    msg = "x" * 50

    async def go():
        ws = await ws_connect(server.url("/echo"))
        await ws.send(msg)
        assert await ws.recv() == msg
        await asyncio.sleep(1.05)  # between two server pings
        os.kill(server.pid, signal.SIGKILL)
        await asyncio.wait_for(ws.wait_closed(), 5)
        return ws.local_address[1], ws.close_code

    port, code = run_async(go(), 15)
    assert code == 1006
    wait_lifetime(w, rport=port)
    w.stop()
    assert w.rc == 0, w.stderr
    r = only_lifetime(w, server, rport=port)
    assert r["state"] == "closed", describe(r)
    assert r["close_code"] == 1006 and r["close_frame"] is None, describe(r)
    assert r["closer"] == "local" and r["closed_by"] in ("fin", "rst"), describe(r)
    assert 0.9 <= r["lifetime_s"] <= 2.5, describe(r)
    assert r["idle_s"] < 0.5 and r["hints"] == [], describe(r)
    assert r["pings_out"] >= 3 and r["pongs_in"] == r["pings_out"], describe(r)
    assert (r["pings_in"], r["pongs_out"]) == (0, 0), describe(r)
    assert 0.2 <= r["ping_interval_out_s"] <= 0.6 and r["ping_interval_in_s"] is None, describe(r)
    # The echo, and the pings (4-byte payload) with their pongs.
    assert r["frames_in"] == 1 + r["pongs_in"] and r["frames_out"] == 1 + r["pings_out"], describe(r)
    assert r["bytes_in"] == frame_len(50, True) + r["pongs_in"] * frame_len(4, True), describe(r)
    assert r["bytes_out"] == frame_len(50, False) + r["pings_out"] * frame_len(4, False), describe(r)
    s = w.summary
    assert (s["ws_closed"], s["ws_closed_1006"], s["idle_timeouts"]) == (1, 1, 0), s


# --------------------------------------------------------------------------
# 4. Frames and bytes.


@pytest.mark.timeout(30)
def test_frames_and_bytes(snoop, lt_server):
    """Three messages of known sizes (7-bit, 16-bit and 64-bit length, the
    last one spanning TCP segments) echoed, then a 1000 close: every frame
    counted, every byte of them, none unclassified."""
    sizes = (10, 300, 70000)
    w = snoop(lt_server.port)

    async def go():
        ws = await ws_connect(lt_server.url("/echo"))
        for n in sizes:
            m = "m" * n
            await ws.send(m)
            assert await ws.recv() == m
        await ws.close(code=1000)
        return ws.local_address[1]

    port = run_async(go(), 10)
    wait_lifetime(w, rport=port)
    w.stop()
    assert w.rc == 0, w.stderr
    r = only_lifetime(w, lt_server, rport=port)
    assert r["close_code"] == 1000 and r["close_frame"] == "remote", describe(r)
    assert r["frames_in"] == len(sizes) + 1 and r["frames_out"] == len(sizes) + 1, describe(r)
    assert r["bytes_in"] >= sum(sizes) and r["bytes_out"] >= sum(sizes), describe(r)
    assert r["bytes_in"] == sum(frame_len(n, True) for n in sizes) + frame_len(2, True), describe(r)
    assert r["bytes_out"] == sum(frame_len(n, False) for n in sizes) + frame_len(2, False), describe(r)
    assert (r["unclassified_in"], r["unclassified_out"]) == (0, 0), describe(r)
    assert (r["pings_in"], r["pings_out"], r["pongs_in"], r["pongs_out"]) == (0, 0, 0, 0), describe(r)
    assert w.summary["frames_unclassified"] == 0, w.summary


def masked_frame(opcode, payload):
    mask = os.urandom(4)
    return (bytes([0x80 | opcode, 0x80 | len(payload)]) + mask
            + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


@pytest.mark.timeout(30)
def test_frames_coalesced_in_one_segment(snoop, lt_server):
    """A text frame and a Close 1000 written at once (one segment): wssnoop reads
    frame headers only where a segment starts (README, "What this misses"), so
    it may miss the Close; but then it must say so (unclassified_in), and never
    invent a Close the client did not send first."""
    w = snoop(lt_server.port)
    conn = raw_upgrade(lt_server.port, path="/echo")
    try:
        conn.send(masked_frame(1, b"hello") + masked_frame(8, struct.pack("!H", 1000)))
        conn.sock.settimeout(3)
        got = b""
        while True:  # the server's answer to the Close, then its FIN
            chunk = conn.sock.recv(4096)
            if not chunk:
                break
            got += chunk
    finally:
        conn.close()
    assert b"\x88\x02\x03\xe8" in got, got  # the server echoed Close 1000
    wait_lifetime(w, rport=conn.lport)
    w.stop()
    assert w.rc == 0, w.stderr
    r = only_lifetime(w, lt_server, rport=conn.lport)
    assert r["bytes_in"] == frame_len(5, True) + frame_len(2, True), describe(r)
    assert r["closer"] == "local" and r["close_code"] == 1000, describe(r)
    if r["close_frame"] != "remote":
        assert r["unclassified_in"] >= 1, describe(r)
    else:
        assert r["frames_in"] == 2 and r["unclassified_in"] == 0, describe(r)


@pytest.mark.timeout(30)
def test_close_in_the_101_segment(snoop, server_factory):
    """A server that refuses the client right after the upgrade, writing the
    101 and Close 1008 at once. Frames in the 101's own segment are not
    followed (README, "What this misses"), but they are not lost silently:
    the segment counts as unclassified, and the client's echo of the Close
    still gives the code."""
    server = server_factory(script=RAW_SERVER)
    w = snoop(server.port)

    async def go():
        ws = await ws_connect(server.url("/refused"))
        await asyncio.wait_for(ws.wait_closed(), 5)
        return ws.local_address[1], ws.close_code

    port, code = run_async(go(), 10)
    assert code == 1008  # what the client saw
    wait_lifetime(w, rport=port)
    w.stop()
    assert w.rc == 0, w.stderr
    r = only_lifetime(w, server, rport=port)
    assert r["path"] == "/refused" and r["closer"] == "local", describe(r)
    assert r["unclassified_out"] >= 1, describe(r)
    assert r["close_code"] == 1008, describe(r)
    assert r["frames_in"] == 1, describe(r)


# --------------------------------------------------------------------------
# 5. Abrupt closes by the client: FIN or RST after a silence.


@pytest.mark.timeout(30)
@pytest.mark.parametrize("how", ["fin", "rst"])
def test_client_drops_after_silence(snoop, lt_server, how):
    """A raw client upgrades, says nothing for 1.2 s and closes the socket
    (RST with SO_LINGER 0): no Close frame, closer remote, closed_by as sent,
    idle ≈ 1.2 s: the idle-timeout hint."""
    w = snoop(lt_server.port)
    conn = raw_upgrade(lt_server.port)
    try:
        time.sleep(1.2)
        if how == "rst":
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        conn.close()
    wait_lifetime(w, rport=conn.lport)
    w.stop()
    assert w.rc == 0, w.stderr
    r = only_lifetime(w, lt_server, rport=conn.lport)
    assert r["path"] == "/quiet" and r["state"] == "closed", describe(r)
    assert r["close_code"] == 1006 and r["close_frame"] is None, describe(r)
    assert r["closer"] == "remote" and r["closed_by"] == how, describe(r)
    assert 1.1 <= r["idle_s"] <= 2.5 and 1.1 <= r["lifetime_s"] <= 2.5, describe(r)
    assert hint_ids(r) == ["idle-timeout"], describe(r)
    assert (r["frames_in"], r["frames_out"]) == (0, 0), describe(r)


# --------------------------------------------------------------------------
# 6. --no-lifetime, text output


@pytest.mark.timeout(30)
def test_no_lifetime(snoop, lt_server):
    """--no-lifetime: handshakes are still reported, no lifetime record at all,
    neither for a closed connection nor for one open at exit."""
    w = snoop(lt_server.port, args=["--no-lifetime"])

    async def closed():
        ws = await ws_connect(lt_server.url("/close1011"))
        await asyncio.wait_for(ws.wait_closed(), 5)
        return ws.close_code

    assert run_async(closed(), 10) == 1011
    conn = raw_upgrade(lt_server.port)  # still open at exit
    try:
        w.wait_events(2, 5)
        time.sleep(0.3)
        w.stop()
    finally:
        conn.close()
    assert w.rc == 0, w.stderr
    assert [e["verdict"] for e in w.events] == ["upgraded", "upgraded"], w.events
    assert lifetimes(w) == [], [describe(r) for r in lifetimes(w)]
    s = w.summary
    assert (s["ws_closed"], s["ws_closed_1006"], s["idle_timeouts"], s["ws_open"]) == (0, 0, 0, 0), s


@pytest.mark.timeout(30)
def test_text_output(snoop, lt_server):
    """Without -j: a ws-closed line with the code, and the facts under it."""
    w = snoop(lt_server.port, json=False)

    async def go():
        ws = await ws_connect(lt_server.url("/close1011"))
        await asyncio.wait_for(ws.wait_closed(), 5)
        return ws.local_address[1]

    port = run_async(go(), 10)
    deadline = time.monotonic() + 5
    while "ws-closed" not in w.stdout and time.monotonic() < deadline:
        time.sleep(0.05)
    w.stop()
    assert w.rc == 0, w.stderr
    lines = w.stdout.splitlines()
    heads = [i for i, line in enumerate(lines) if "ws-closed" in line]
    assert len(heads) == 1, w.stdout
    head = lines[heads[0]].split()
    assert head[1] == str(lt_server.pid), lines[heads[0]]
    assert f"127.0.0.1:{lt_server.port}" in head and f"127.0.0.1:{port}" in head, lines[heads[0]]
    assert head[-4:] == ["1011", "ws-closed", "GET", "/close1011"], lines[heads[0]]
    detail = lines[heads[0] + 1]
    assert detail.startswith("    lifetime ") and "Close 1011 from local" in detail, detail
    assert "local closed first (FIN)" in detail, detail
