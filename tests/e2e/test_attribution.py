"""Which process and thread a handshake is attributed to, by each path the
socket-level capture can take: the answer's egress path (the default where
the kernel lets a cgroup_skb program ask for the current task), /proc for
exchanges that end without a word from the server's context, and a read
tracepoint with --attribute-reads. A threaded Python server on loopback
says which thread serves each connection; the client is this process, so a
wrong attribution shows as the test's own pid.
"""
import os
import re
import select
import socket
import time

import pytest

import helpers
from helpers import PYTHON, SERVERS_DIR, Proc, Wssnoop, free_port

SERVER = os.path.join(SERVERS_DIR, "attribution_server.py")


class Server:
    def __init__(self, workdir, mode):
        self.port = free_port()
        self.proc = Proc(f"attribution-{mode}", [PYTHON, SERVER, str(self.port), mode], workdir, stdout_pipe=True)
        self.pid = self.proc.pid
        self.proc.wait_line("ready", 10)

    def thread(self, timeout=5.0):
        """The id of the thread that took the next connection."""
        out = self.proc.popen.stdout
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([out], [], [], 0.1)
            if ready:
                m = re.match(r"thread (\d+)", out.readline().decode(errors="replace"))
                if m:
                    return int(m.group(1))
        raise TimeoutError(f"the server named no thread; log:\n{self.proc.log()}")

    def stop(self):
        self.proc.stop()


def start_wssnoop(workdir, name, port, *extra):
    w = Wssnoop(["-p", str(port), "-j", "-v", "--timeout", "1"] + list(extra), workdir, name=name)
    w.start()
    return w


def handshake(index=0):
    return helpers.handshake(path=f"/ws{index}", key=helpers.new_key())


def send_each(port, heads, held):
    """A connection per head, kept open in held: the silent server answers none."""
    for head in heads:
        c = helpers.RawConn(port)
        c.send(head)
        held.append(c)


@pytest.fixture
def server(request, workdir):
    s = Server(workdir, request.param)
    yield s
    s.stop()


def skip_unless(w, wanted):
    got = w.chosen("attribution")
    if got not in wanted:
        pytest.skip(f"this kernel attributes by {got}, not {'/'.join(wanted)}")


@pytest.mark.parametrize("server", ["answer"], indirect=True)
def test_answer_names_the_writing_thread(workdir, server):
    """By default the 400 is attributed where it is sent: the server's pid
    and the very thread that wrote it, with no read tracepoint attached."""
    w = start_wssnoop(workdir, "wssnoop-answer", server.port)
    try:
        skip_unless(w, ("egress",))
        with helpers.RawConn(server.port) as conn:
            conn.send(handshake())
            assert conn.read_reply().status == 400
            tid = server.thread()
        evs = w.wait_events(1)
    finally:
        w.stop()
    assert len(evs) == 1, w.stdout[-2000:]
    ev = evs[0]
    assert (ev["status"], ev["owner"]) == (400, "egress"), ev
    assert (ev["pid"], ev["tid"]) == (server.pid, tid), f"{ev['pid']}/{ev['tid']}, server {server.pid}/{tid}"
    assert ev["comm"] == "python3", ev["comm"]


@pytest.mark.parametrize("server", ["silent"], indirect=True)
def test_unanswered_request_is_found_in_proc(workdir, server):
    """A request the server reads and never answers: nothing was sent from
    its context, so the owner is looked up in /proc when the exchange is
    reported (the process, not the thread)."""
    w = start_wssnoop(workdir, "wssnoop-silent", server.port)
    try:
        skip_unless(w, ("egress",))
        with helpers.RawConn(server.port) as conn:
            conn.send(handshake())
            server.thread()
            evs = w.wait_events(1, timeout=5)
    finally:
        w.stop()
    assert len(evs) == 1, w.stdout[-2000:]
    ev = evs[0]
    assert (ev["verdict"], ev["status"]) == ("no-response", None), ev
    assert (ev["owner"], ev["pid"]) == ("proc", server.pid), ev
    assert w.summary["owner_inferred"] == 1, w.summary


@pytest.mark.parametrize("server", ["silent"], indirect=True)
def test_attribute_reads_names_the_reading_thread(workdir, server):
    """--attribute-reads: the thread that read the request is named even
    though it never answers."""
    w = start_wssnoop(workdir, "wssnoop-reads", server.port, "--attribute-reads")
    try:
        skip_unless(w, ("sock-tracepoint", "tcp-tracepoint"))
        with helpers.RawConn(server.port) as conn:
            conn.send(handshake())
            tid = server.thread()
            evs = w.wait_events(1, timeout=5)
    finally:
        w.stop()
    assert len(evs) == 1, w.stdout[-2000:]
    ev = evs[0]
    assert ev["owner"] == w.chosen("attribution"), ev
    assert (ev["pid"], ev["tid"]) == (server.pid, tid), f"{ev['pid']}/{ev['tid']}, server {server.pid}/{tid}"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("server", ["deferred"], indirect=True)
def test_answer_sent_from_softirq_is_not_attributed_to_the_client(workdir, server):
    """The second answer leaves when this process's window updates reach the
    server's socket, in softirq, while this process is the current task: the
    egress path must take no owner from it (counted in sends_unattributed),
    so both exchanges stay the server thread's."""
    w = start_wssnoop(workdir, "wssnoop-deferred", server.port)
    try:
        skip_unless(w, ("egress",))
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window stays small
        s.settimeout(10)
        try:
            s.connect(("127.0.0.1", server.port))
            s.sendall(handshake(1) + handshake(2))
            tid = server.thread()
            time.sleep(0.3)  # both answers queued behind a closed window
            want = len(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 262144\r\n\r\n") \
                + 256 * 1024 + len(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nno\n")
            got = b""
            while len(got) < want:
                chunk = s.recv(4096)
                assert chunk, f"the server closed after {len(got)} of {want} bytes"
                got += chunk
        finally:
            s.close()
        evs = w.wait_events(2, timeout=5)
    finally:
        w.stop()
    assert len(evs) == 2, w.stdout[-2000:]
    assert [e["status"] for e in evs] == [400, 400], evs
    for ev in evs:
        assert ev["pid"] != os.getpid(), f"request {ev['request_index']} attributed to the client: {ev}"
        assert (ev["pid"], ev["tid"], ev["owner"]) == (server.pid, tid, "egress"), ev
    assert w.summary["sends_unattributed"] > 0, f"no answer segment left from softirq: {w.summary}"


@pytest.mark.parametrize("server", ["silent"], indirect=True)
def test_proc_lookups_are_bounded(workdir, server):
    """45 requests nobody answers, reported within about a second: at most
    20 /proc lookups a second (each reads every socket and every process's
    descriptors), the rest counted as owner unknown, none wrong."""
    conns = 45
    w = start_wssnoop(workdir, "wssnoop-lookups", server.port)
    held = []
    try:
        skip_unless(w, ("egress",))
        send_each(server.port, [handshake() for _ in range(conns)], held)
        evs = w.wait_events(conns, timeout=10)
    finally:
        for c in held:
            c.close()
        w.stop()
    assert len(evs) == conns, w.stdout[-2000:]
    s = w.summary
    assert s["owner_inferred"] + s["owner_unknown"] == conns, s
    assert 20 <= s["owner_inferred"] <= 40 and s["owner_unknown"] >= 5, s
    for ev in evs:
        assert (ev["owner"], ev["pid"]) in (("proc", server.pid), ("unknown", 0)), ev


@pytest.mark.parametrize("server", ["silent"], indirect=True)
def test_requests_that_are_no_attempt_are_never_looked_up(workdir, server):
    """60 plain requests nobody answers, then one handshake nobody answers:
    only the handshake is looked up in /proc, so the bound of 20 a second
    that 60 lookups would use up still leaves it its owner."""
    plain = 60
    w = start_wssnoop(workdir, "wssnoop-plain", server.port)
    held = []
    try:
        skip_unless(w, ("egress",))
        send_each(server.port, [f"GET /page{i} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode() for i in range(plain)],
                  held)
        time.sleep(0.2)
        send_each(server.port, [handshake()], held)
        evs = w.wait_events(1, timeout=10)
    finally:
        for c in held:
            c.close()
        w.stop()
    assert len(evs) == 1, w.stdout[-2000:]
    assert (evs[0]["owner"], evs[0]["pid"]) == ("proc", server.pid), evs[0]
    assert (w.summary["owner_inferred"], w.summary["owner_unknown"]) == (1, 0), w.summary
