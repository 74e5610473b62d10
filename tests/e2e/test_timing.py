"""When an answer is said to leave: the time of the server's write. The
egress path takes it from the stamp TCP puts on each segment it sends (no
clock read of its own), except where that stamp is a departure time still
ahead (a socket paced by the fq qdisc), where it reads the clock. A server
that waits a known delay before each answer shows both: latency_ms must be
that delay, neither a stale stamp (about 0) nor a departure time to come
(the delay plus the pacing hold).
"""
import os
import shutil
import subprocess

import pytest

import helpers
from helpers import PYTHON, SERVERS_DIR, Proc, Wssnoop, free_port

SERVER = os.path.join(SERVERS_DIR, "attribution_server.py")
DELAY_MS = 200  # attribution_server.DELAY
# A paced answer is held about PACED_BODY / PACED_RATE = 0.5 s past its write.
HELD_MS = 400


@pytest.fixture
def slow_server(workdir):
    port = free_port()
    proc = Proc("slow-server", [PYTHON, SERVER, str(port), "slow"], workdir, stdout_pipe=True)
    proc.wait_line("ready", 10)
    yield port
    proc.stop()


def latencies(workdir, port, requests):
    w = Wssnoop(["-p", str(port), "-j", "--timeout", "1"], workdir, name="wssnoop-timing")
    w.start()
    try:
        with helpers.RawConn(port, timeout=10) as conn:
            for i in range(requests):
                conn.send(helpers.handshake(path=f"/ws{i}", key=helpers.new_key()))
                assert conn.read_reply().status == 400
        evs = w.wait_events(requests)
    finally:
        w.stop()
    assert len(evs) == requests, w.stdout[-2000:]
    assert all(ev["status"] == 400 for ev in evs), evs
    return [ev["latency_ms"] for ev in evs]


def test_latency_is_the_servers_delay(workdir, slow_server):
    got = latencies(workdir, slow_server, 3)
    assert all(DELAY_MS * 0.95 <= ms < HELD_MS for ms in got), got


@pytest.fixture
def fq_on_loopback():
    tc = shutil.which("tc")
    if not tc:
        pytest.skip("tc (iproute2) is not installed")
    shown = subprocess.run([tc, "qdisc", "show", "dev", "lo", "root"], capture_output=True, text=True).stdout
    if shown.strip() and not shown.startswith("qdisc noqueue"):
        pytest.skip(f"lo already has a qdisc, left alone: {shown.strip()}")
    added = subprocess.run([tc, "qdisc", "replace", "dev", "lo", "root", "fq"], capture_output=True, text=True)
    if added.returncode:
        pytest.skip(f"this kernel has no fq qdisc: {added.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run([tc, "qdisc", "del", "dev", "lo", "root"], check=False)


@pytest.mark.timeout(60)
def test_latency_under_fq_pacing_is_not_the_departure_time(workdir, fq_on_loopback, slow_server):
    """Past its first ten segments the paced socket's answers are stamped
    about half a second ahead, and fq holds them until then; the answer's
    time is still its write."""
    got = latencies(workdir, slow_server, 13)
    assert all(DELAY_MS * 0.95 <= ms < HELD_MS for ms in got), got
