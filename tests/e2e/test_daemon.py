"""`wssnoop daemon`: scraped by a real Prometheus, reloaded and rotated with
SIGHUP, stopped with SIGTERM/SIGINT, scoped to a cgroup or a network
namespace, and soaked for WSSNOOP_SOAK_SECONDS (60; 0 skips the soak).

The backend is the static C peer build/wspeer (tests/peers/wspeer.c). Every
daemon gets its own config file (never /etc/wssnoop/wssnoop.conf) and its
own free metrics port, so that these tests can run beside other runs on the
same machine.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

import helpers
from helpers import Proc, Wssnoop, free_port

WSPEER = os.path.join(helpers.REPO, "build", "wspeer")
PROMETHEUS = "/usr/bin/prometheus"
SOAK_SECONDS = int(os.environ.get("WSSNOOP_SOAK_SECONDS", "60"))


# --------------------------------------------------------------------------
# Fixtures and helpers


@pytest.fixture(scope="session")
def wspeer_binary():
    if not os.access(WSPEER, os.X_OK):
        helpers.run(["make", "-C", helpers.REPO, "--no-print-directory", "build/wspeer"], timeout=120, check=True)
    return WSPEER


@pytest.fixture
def testdir(workdir, request):
    path = os.path.join(workdir, "daemon-" + re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name))
    os.makedirs(path, exist_ok=True)
    return path


def write_config(config_file, **keys):
    """A daemon config file: key = value lines (lists repeat the key), written
    whole and renamed into place, as an editor or a config manager would."""
    lines = ["# written by test_daemon.py"]
    for key, value in keys.items():
        for v in value if isinstance(value, (list, tuple)) else [value]:
            lines.append(f"{key.replace('_', '-')} = {v}")
    tmp = config_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.rename(tmp, config_file)


class Daemon(Wssnoop):
    """./wssnoop daemon --config FILE --metrics 127.0.0.1:PORT [args]."""

    def __init__(self, testdir, name, config, metrics=True, args=()):
        self.config = config
        self.metrics_port = free_port() if metrics else None
        argv = ["daemon", "--config", config, "--metrics",
                f"127.0.0.1:{self.metrics_port}" if metrics else "off"] + list(args)
        super().__init__(argv, testdir, name=name)

    @property
    def pid(self):
        return self.popen.pid

    def signal(self, sig):
        self.popen.send_signal(sig)

    def reloads_seen(self):
        return sum("wssnoop: reloaded" in line for line in self.stderr.splitlines())

    def reload(self, timeout=5.0):
        """SIGHUP, then wait for the `wssnoop: reloaded` line that answers it."""
        before = self.reloads_seen()
        self.signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while self.reloads_seen() <= before:
            assert time.monotonic() < deadline, f"no 'wssnoop: reloaded' {timeout}s after SIGHUP:\n{self.stderr}"
            assert self.popen.poll() is None, f"daemon died on SIGHUP:\n{self.stderr}"
            time.sleep(0.02)
        return [line for line in self.stderr.splitlines() if "wssnoop: reloaded" in line][-1]

    def scrape(self, path="/metrics"):
        url = f"http://127.0.0.1:{self.metrics_port}{path}"
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()

    def metrics(self):
        return parse_metrics(self.scrape()[1])

    def rss_kib(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def stop_with(self, sig, timeout=10.0):
        """Send sig, wait for the exit; returns the seconds it took."""
        t0 = time.monotonic()
        self.signal(sig)
        try:
            self.rc = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"daemon still running {timeout}s after signal {sig}:\n{self.stderr}")
        took = time.monotonic() - t0
        for t in self._threads:
            t.join(5)
        self._save_log()
        return took


@pytest.fixture
def daemon(testdir, wssnoop_binary):
    """Factory: daemon(config_path, metrics=True, args=[...]) starts one daemon
    and waits for `wssnoop: tracing`; whatever is left running is stopped."""
    started = []

    def start(config, metrics=True, args=(), name=None):
        d = Daemon(testdir, name or f"daemon-{len(started)}", config, metrics, args)
        started.append(d)
        d.start()
        return d

    yield start
    for d in started:
        if d.rc is None:
            try:
                d.stop(settle=0)
            except AssertionError:
                d.kill()


def wait_log(proc, text, timeout=10.0):
    deadline = time.monotonic() + timeout
    while text not in proc.log():
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.log()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{proc.name}: no '{text}' after {timeout}s:\n{proc.log()}")
        time.sleep(0.02)


@pytest.fixture
def wspeer_server(testdir, wspeer_binary):
    """Factory: wspeer_server(port, prefix=[]) runs `PREFIX wspeer server PORT`
    (PREFIX: `ip netns exec NS`, a shell that joins a cgroup first, ...) and
    waits for its `listening` line. Returns the Proc."""
    procs = []

    def start(port, prefix=(), name=None):
        proc = Proc(name or f"wspeer-{port}-{len(procs)}", list(prefix) + [wspeer_binary, "server", str(port)],
                    testdir)
        procs.append(proc)
        wait_log(proc, "listening on")
        return proc

    yield start
    for p in procs:
        p.stop()


def wspeer_client(port, scenario, prefix=()):
    """One wspeer client scenario; asserts the server answered as expected."""
    done = helpers.run(list(prefix) + [WSPEER, "client", "127.0.0.1", str(port), scenario], timeout=15)
    assert done.returncode == 0, f"wspeer client {scenario} :{port} exited {done.returncode}: {done.stderr!r}"
    return done


def handshake_to(port, path):
    """A valid handshake on its own connection; returns the client's port."""
    reply = helpers.exchange(port, helpers.handshake(path=path))
    assert reply.status == 101, reply
    return reply.lport


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text format -> {(name, ((label, value), ...)): float}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = tuple(sorted(_LABEL.findall(m.group(2) or "")))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def series(metrics, name, **match):
    """{labels-tuple: value} of one metric, restricted to the labels given."""
    return {labels: v for (n, labels), v in metrics.items()
            if n == name and all(dict(labels).get(k) == str(want) for k, want in match.items())}


def value(metrics, name, **labels):
    found = series(metrics, name, **labels)
    return sum(found.values()) if found else None


def wait_for(what, check, timeout=10.0, interval=0.1, describe=None):
    """Poll check() until it returns a truthy value; fail with what (and
    describe(), the state at the end) on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                                 + (f"; got {describe()}" if describe else ""))
        time.sleep(interval)


def jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


# --------------------------------------------------------------------------
# Prometheus


class Prometheus:
    def __init__(self, testdir, target_port):
        self.port = free_port()
        d = os.path.join(testdir, "prometheus")
        os.makedirs(os.path.join(d, "data"), exist_ok=True)
        conf = os.path.join(d, "prometheus.yml")
        with open(conf, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: wssnoop\n    static_configs:\n"
                    f"      - targets: ['127.0.0.1:{target_port}']\n")
        self.proc = Proc("prometheus", [PROMETHEUS, f"--config.file={conf}", f"--storage.tsdb.path={d}/data",
                                        f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn",
                                        "--storage.tsdb.retention.time=1h"], testdir)
        wait_for("Prometheus /-/ready", self._ready, timeout=30, interval=0.2)

    def _ready(self):
        if not self.proc.alive():
            raise RuntimeError(f"prometheus exited ({self.proc.popen.returncode}):\n{self.proc.log()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def api(self, path, **params):
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=5) as r:
            doc = json.loads(r.read())
        assert doc["status"] == "success", doc
        return doc["data"]

    def query(self, promql):
        """Instant query -> ([(labels without __name__/job/instance, value)], raw JSON text)."""
        data = self.api("query", query=promql)
        rows = []
        for item in data["result"]:
            labels = {k: v for k, v in item["metric"].items() if k not in ("__name__", "job", "instance")}
            rows.append((labels, float(item["value"][1])))
        return rows, json.dumps(data["result"], sort_keys=True)

    def stop(self):
        self.proc.stop()


@pytest.mark.timeout(90)
def test_prometheus_scrapes_exact_counts(testdir, daemon, wspeer_server):
    """A real Prometheus scrapes /metrics every second; after a known mix of
    handshakes its query API returns exactly the counts that were sent."""
    if not os.access(PROMETHEUS, os.X_OK):
        pytest.fail(f"{PROMETHEUS} missing: run scripts/install-deps.sh test", pytrace=False)
    port = free_port()
    wspeer_server(port)
    conf = os.path.join(testdir, "wssnoop.conf")
    write_config(conf, port=port, path="/ws")
    d = daemon(conf)
    assert d.scrape("/healthz") == (200, "ok\n")
    prom = Prometheus(testdir, d.metrics_port)
    try:
        # 3 upgraded (one after a plain GET on a keep-alive connection, which
        # is not an attempt), 2 rejected without Upgrade (426), 1 closed
        # without an answer (/close: recognised by its headers, not its path).
        for scenario in ("valid", "valid", "keepalive", "no-upgrade", "no-upgrade", "close"):
            wspeer_client(port, scenario)
        total = 'sum(wssnoop_handshakes_total{job="wssnoop"})'
        wait_for("Prometheus to hold 6 handshakes",
                 lambda: prom.query(total)[0] and prom.query(total)[0][0][1] == 6, timeout=20, interval=0.5)

        outcomes, outcomes_raw = prom.query("wssnoop_handshakes_total")
        failures, failures_raw = prom.query("wssnoop_handshake_failures_total")
        latency, latency_raw = prom.query("wssnoop_handshake_latency_seconds_count")
        lost, lost_raw = prom.query("wssnoop_events_lost_total")
        up, up_raw = prom.query('up{job="wssnoop"}')
        for q, raw in (("wssnoop_handshakes_total", outcomes_raw), ("wssnoop_handshake_failures_total", failures_raw),
                       ("wssnoop_handshake_latency_seconds_count", latency_raw),
                       ("wssnoop_events_lost_total", lost_raw), ('up{job="wssnoop"}', up_raw)):
            print(f"prometheus query {q}: {raw}")
        p = str(port)
        # An empty label is no label to Prometheus: path="" comes back absent.
        assert {(m["outcome"], m["port"], m.get("path", "")): v for m, v in outcomes} == {
            ("upgraded", p, "/ws"): 3, ("rejected", p, "/ws"): 2, ("closed", p, ""): 1}, outcomes_raw
        # wspeer's no-upgrade request has neither Upgrade nor Connection: upgrade.
        assert {(m["reason"], m["port"]): v for m, v in failures} == {
            ("upgrade-missing", p): 2, ("connection-no-upgrade", p): 2}, failures_raw
        assert [v for _, v in latency] == [5], latency_raw  # the 5 answered ones
        assert [v for _, v in lost] == [0], lost_raw
        assert [v for _, v in up] == [1], up_raw
        # Prometheus parsed the exposition without complaint.
        targets = prom.api("targets")["activeTargets"]
        assert [(t["health"], t["lastError"]) for t in targets] == [("up", "")], targets
    finally:
        prom.stop()
    d.stop()
    assert d.rc == 0
    assert d.summary["verdicts"] == {"upgraded": 3, "rejected": 2, "invalid": 0, "no-response": 0, "closed": 1}


# --------------------------------------------------------------------------
# Reload


@pytest.mark.timeout(60)
def test_reload_changes_ports_and_paths(testdir, daemon, wspeer_server):
    """SIGHUP re-reads the file: the port and path lists change live, a head
    split across the reload is still reported, a broken file is refused
    and the running settings stay."""
    port_a, port_b, port_c = free_port(), free_port(), free_port()
    wspeer_server(port_a)
    wspeer_server(port_b)
    conf = os.path.join(testdir, "wssnoop.conf")
    write_config(conf, port=port_a, path="/ws")
    d = daemon(conf)
    assert value(d.metrics(), "wssnoop_config_reloads_total") == 0

    a_before = handshake_to(port_a, "/ws")
    b_before = handshake_to(port_b, "/chat/room1")
    d.wait_events(1, 5, predicate=lambda e: e["rport"] == a_before)

    write_config(conf, port=port_b, path="/chat/**")
    line = d.reload()
    assert "1 port, 1 path pattern" in line, line
    b_after = handshake_to(port_b, "/chat/room1")
    a_after = handshake_to(port_a, "/ws")
    d.wait_events(1, 5, predicate=lambda e: e["rport"] == b_after)
    assert wait_for("reloads_total 1 on /metrics",
                    lambda: value(d.metrics(), "wssnoop_config_reloads_total") == 1, timeout=3)

    # Half a head, the reload (which also adds a port), then the rest.
    head = helpers.handshake(path="/chat/room2")
    with helpers.RawConn(port_b) as conn:
        conn.send(head[:40])
        time.sleep(0.3)
        write_config(conf, port=[port_b, port_c], path="/chat/**")
        assert "2 ports" in d.reload()
        conn.send(head[40:])
        assert conn.read_reply().status == 101
        b_split = conn.lport
    d.wait_events(1, 5, predicate=lambda e: e["rport"] == b_split)

    # A file that does not parse: refused, the running settings stay.
    with open(conf, "a") as f:
        f.write("no-such-option = 1\n")
    d.signal(signal.SIGHUP)
    wait_for("'reload failed' on stderr", lambda: "reload failed" in d.stderr, timeout=5, interval=0.05)
    b_kept = handshake_to(port_b, "/chat/room3")
    d.wait_events(1, 5, predicate=lambda e: e["rport"] == b_kept)
    m = wait_for("reloads_total 2 and the last handshake on /metrics",
                 lambda: (lambda m: m if value(m, "wssnoop_handshakes_total", port=port_b) == 3 else None)(d.metrics()),
                 timeout=3)
    assert value(m, "wssnoop_config_reloads_total") == 2, "a refused reload is not counted"
    assert series(m, "wssnoop_handshakes_total") == {
        (("outcome", "upgraded"), ("path", "/ws"), ("port", str(port_a))): 1,
        (("outcome", "upgraded"), ("path", "/chat/**"), ("port", str(port_b))): 3}
    d.stop()
    assert d.rc == 0
    reported = {e["rport"]: e for e in d.events}
    assert set(reported) == {a_before, b_after, b_split, b_kept}, (
        f"expected only a_before={a_before} b_after={b_after} b_split={b_split} b_kept={b_kept}; "
        f"b_before={b_before} (port B unwatched) and a_after={a_after} (port A dropped) must not appear")
    assert len(d.events) == 4
    split = reported[b_split]
    assert (split["verdict"], split["status"], split["path"], split["lport"]) == ("upgraded", 101, "/chat/room2",
                                                                                port_b)


# --------------------------------------------------------------------------
# Output rotation


@pytest.mark.timeout(60)
def test_output_reopened_on_sighup(testdir, daemon, wspeer_server):
    """logrotate's way: mv FILE FILE.1, SIGHUP; events before the HUP stay in
    FILE.1 (including those written after the mv), later ones go to a new
    FILE, and nothing is lost or written twice."""
    port = free_port()
    wspeer_server(port)
    conf = os.path.join(testdir, "wssnoop.conf")
    write_config(conf, port=port, path="/ws")
    out = os.path.join(testdir, "handshakes.jsonl")
    d = daemon(conf, metrics=False, args=["--output", out])

    def rports(path):
        return [r["rport"] for r in jsonl(path) if r.get("type") == "handshake"] if os.path.exists(path) else []

    first = [handshake_to(port, "/ws") for _ in range(3)]
    wait_for("3 events in FILE", lambda: sorted(rports(out)) == sorted(first), timeout=5)
    os.rename(out, out + ".1")
    moved = [handshake_to(port, "/ws") for _ in range(2)]
    wait_for("the events after the mv in FILE.1 (the open file)",
             lambda: sorted(rports(out + ".1")) == sorted(first + moved), timeout=5)
    d.reload()
    assert os.path.exists(out), "SIGHUP did not reopen (create) the output file"
    after = [handshake_to(port, "/ws") for _ in range(3)]
    wait_for("3 events in the new FILE", lambda: sorted(rports(out)) == sorted(after), timeout=5)
    took = d.stop_with(signal.SIGTERM)
    assert d.rc == 0
    old, new = jsonl(out + ".1"), jsonl(out)
    assert sorted(rports(out + ".1")) == sorted(first + moved)
    assert sorted(rports(out)) == sorted(after)
    assert new[-1]["type"] == "summary" and not [r for r in old if r.get("type") == "summary"]
    assert new[-1]["attempts"] == len(first + moved + after) == 8
    assert d.events == [], "with --output nothing goes to stdout"
    print(f"rotation: FILE.1 {len(old)} lines, FILE {len(new)} lines, stopped in {took:.3f}s")


# --------------------------------------------------------------------------
# Shutdown


class SilentServer:
    """Accepts and reads, never answers: requests stay pending."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.1)
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.conns.append(c)

    def close(self):
        self._stop = True
        self.thread.join(2)
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.timeout(40)
def test_stop_drains_and_summarises(testdir, daemon, wspeer_server, sig):
    """SIGTERM (systemd, kubelet) or SIGINT: exit 0 within 2 s, the pending
    request reported as no-response, then the summary line, last."""
    port = free_port()
    wspeer_server(port)
    silent = SilentServer()
    try:
        conf = os.path.join(testdir, "wssnoop.conf")
        write_config(conf, port=[port, silent.port], path="/ws", timeout=30)
        d = daemon(conf)
        ok = handshake_to(port, "/ws")
        conn = helpers.RawConn(silent.port)
        conn.send(helpers.handshake(path="/ws"))
        pending = conn.lport
        d.wait_events(1, 5, predicate=lambda e: e["rport"] == ok)
        # The request has reached the daemon's table (the gauge is refreshed every second).
        wait_for("a tracked connection", lambda: value(d.metrics(), "wssnoop_connections_tracked") >= 1, timeout=5)
        assert not [e for e in d.events if e["rport"] == pending], "no verdict while the request is pending"
        took = d.stop_with(sig)
        conn.close()
    finally:
        silent.close()
    print(f"{signal.Signals(sig).name}: exited {d.rc} in {took:.3f}s")
    assert d.rc == 0, d.stderr
    assert took < 2.0, f"took {took:.2f}s to stop"
    records = d.records()
    assert records[-1]["type"] == "summary", records[-1]
    ev = [e for e in d.events if e["rport"] == pending]
    assert len(ev) == 1 and ev[0]["verdict"] == "no-response" and ev[0]["status"] is None, ev
    s = d.summary
    assert (s["attempts"], s["verdicts"]["upgraded"], s["verdicts"]["no-response"]) == (2, 1, 1), s


# --------------------------------------------------------------------------
# Scope: cgroup and network namespace


def cgroup2_root():
    with open("/proc/self/mounts") as f:
        for line in f:
            dev, mnt, fstype = line.split()[:3]
            if fstype == "cgroup2":
                return mnt
    return None


@pytest.fixture
def cgroups(request):
    """Factory: cgroups(name) makes a cgroup v2 directory for this test; removed
    at teardown once its processes are gone (request this fixture before the
    servers', so that it is torn down after them)."""
    root = cgroup2_root()
    if not root:
        pytest.skip("no cgroup v2 mount")
    made = []

    def make(name):
        path = os.path.join(root, f"wssnoop-e2e-{os.getpid()}-{name}")
        os.mkdir(path)
        made.append(path)
        return path

    yield make
    for path in made:
        deadline = time.monotonic() + 5
        while True:
            try:
                os.rmdir(path)
                break
            except FileNotFoundError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                try:  # only processes this test put there
                    with open(os.path.join(path, "cgroup.kill"), "w") as f:
                        f.write("1")
                except OSError:
                    pass
                time.sleep(0.05)


def in_cgroup(path):
    """Prefix that puts the command in cgroup `path` before it runs, so that the
    listening socket it creates is charged to that cgroup."""
    return ["sh", "-c", f'echo $$ > "{path}/cgroup.procs" && exec "$@"', "in-cgroup"]


@pytest.mark.timeout(60)
def test_cgroup_scope(cgroups, testdir, daemon, wspeer_server):
    """--cgroup attaches to one subtree: only sockets charged to it are seen.

    A socket belongs to the cgroup of the process that created it, and an
    accepted socket to its listener's (checked on this kernel: a server moved
    into the cgroup after listen() stays outside). So each server here joins
    its cgroup before it starts, and one more is moved in late to pin down
    that rule."""
    cg_a, cg_b = cgroups("a"), cgroups("b")
    port_a, port_b, port_late = free_port(), free_port(), free_port()
    server_a = wspeer_server(port_a, prefix=in_cgroup(cg_a))
    server_b = wspeer_server(port_b, prefix=in_cgroup(cg_b))
    late = wspeer_server(port_late)
    with open(os.path.join(cg_a, "cgroup.procs"), "w") as f:
        f.write(str(late.pid))
    for proc, cg in ((server_a, cg_a), (server_b, cg_b), (late, cg_a)):
        with open(f"/proc/{proc.pid}/cgroup") as f:
            assert f.read().strip().endswith(":/" + os.path.basename(cg)), (proc.name, cg)

    conf = os.path.join(testdir, "wssnoop.conf")
    ports = [port_a, port_b, port_late]
    write_config(conf, port=ports, path="/ws")
    scoped = daemon(conf, args=["--cgroup", cg_a], name="scoped")
    host = daemon(conf, metrics=False, name="host")  # the control: the whole host
    sent = {p: [handshake_to(p, "/ws") for _ in range(2)] for p in ports}
    everything = [c for cs in sent.values() for c in cs]
    host.wait_events(6, 5, predicate=lambda e: e["rport"] in everything)
    scoped.wait_events(2, 5, predicate=lambda e: e["rport"] in sent[port_a])
    scoped.stop()
    host.stop()

    cg_id = {cg_a: os.stat(cg_a).st_ino, cg_b: os.stat(cg_b).st_ino}
    seen = {(e["lport"], e["pid"], e["cgroup_id"]) for e in host.events if e["rport"] in everything}
    assert len([e for e in host.events if e["rport"] in everything]) == 6
    assert {(p, pid) for p, pid, _ in seen} == {(port_a, server_a.pid), (port_b, server_b.pid),
                                                (port_late, late.pid)}, seen
    by_port = {p: c for p, _, c in seen}
    assert (by_port[port_a], by_port[port_b]) == (cg_id[cg_a], cg_id[cg_b]), (by_port, cg_id)
    assert by_port[port_late] not in cg_id.values(), "the late server's sockets stay where they were made"

    evs = scoped.events
    assert sorted(e["rport"] for e in evs) == sorted(sent[port_a]), [(e["lport"], e["rport"]) for e in evs]
    assert {(e["pid"], e["cgroup_id"], e["verdict"]) for e in evs} == {(server_a.pid, cg_id[cg_a], "upgraded")}
    assert scoped.summary["attempts"] == 2


@pytest.fixture
def netns(request):
    """Factory: netns(name) adds a network namespace with loopback up; deleted at teardown."""
    if not shutil.which("ip"):
        pytest.skip("iproute2 missing")
    made = []

    def make(name):
        ns = f"wssnoop-e2e-{os.getpid()}-{name}"
        helpers.run(["ip", "netns", "add", ns], timeout=10, check=True)
        made.append(ns)
        helpers.run(["ip", "-n", ns, "link", "set", "lo", "up"], timeout=10, check=True)
        return ns

    yield make
    for ns in made:
        helpers.run(["ip", "netns", "del", ns], timeout=10)


@pytest.mark.timeout(60)
def test_netns_scope(netns, testdir, daemon, wspeer_server):
    """Two namespaces, a server on the same port in each. The BPF programs on
    the cgroup root see both; --netns /run/netns/A reports only A's, and the
    netns field is the namespace's inode."""
    ns_a, ns_b = netns("a"), netns("b")
    port = free_port()
    server = {ns: wspeer_server(port, prefix=["ip", "netns", "exec", ns], name=f"wspeer-{ns}") for ns in (ns_a, ns_b)}
    inode = {ns: os.stat(f"/run/netns/{ns}").st_ino for ns in (ns_a, ns_b)}
    host_inode = os.stat("/proc/self/ns/net").st_ino
    assert len({inode[ns_a], inode[ns_b], host_inode}) == 3

    conf = os.path.join(testdir, "wssnoop.conf")
    write_config(conf, port=port, path="/ws")
    scoped = daemon(conf, args=["--netns", f"/run/netns/{ns_a}"], name="scoped")
    host = daemon(conf, metrics=False, name="host")
    counts = {ns_a: 2, ns_b: 3}
    for ns, n in counts.items():
        for _ in range(n):
            wspeer_client(port, "valid", prefix=["ip", "netns", "exec", ns])
    host.wait_events(5, 5)
    scoped.wait_events(2, 5)
    time.sleep(0.3)
    scoped.stop()
    host.stop()

    pairs = sorted((e["netns"], e["pid"]) for e in host.events)
    assert pairs == sorted([(inode[ns_a], server[ns_a].pid)] * 2 + [(inode[ns_b], server[ns_b].pid)] * 3), pairs
    evs = scoped.events
    assert [(e["netns"], e["pid"], e["lport"], e["verdict"]) for e in evs] == [
        (inode[ns_a], server[ns_a].pid, port, "upgraded")] * 2, evs
    assert scoped.summary["attempts"] == 2 and scoped.summary["out_of_scope"] == 3, scoped.summary


# --------------------------------------------------------------------------
# Soak


class SideTraffic(threading.Thread):
    """Handshakes wspeer's load mix lacks: heads in pieces and requests the
    server closes without answering, a few a second."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.split = self.closed = self.errors = 0
        self._halt = threading.Event()

    def run(self):
        head = helpers.handshake(path="/ws")
        close = helpers.handshake(path="/close")
        while not self._halt.wait(0.25):
            try:
                assert helpers.exchange(self.port, head, pieces=[5, 40, len(head) - 10], pause=0.01).status == 101
                self.split += 1
                reply = helpers.exchange(self.port, close)
                assert reply.status is None and reply.closed
                self.closed += 1
            except (OSError, AssertionError):
                self.errors += 1

    def stop(self):
        self._halt.set()
        self.join(10)


def run_load(port, rate, seconds, n):
    """n wspeer load loops at rate connections/s each; returns their JSON totals."""
    procs = [subprocess.Popen([WSPEER, "load", "127.0.0.1", str(port), str(rate), str(seconds)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
             for _ in range(n)]
    results = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            helpers._killpg(p.pid, signal.SIGKILL)
            raise
        assert p.returncode == 0, err
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    return results


@pytest.mark.skipif(SOAK_SECONDS <= 0, reason="WSSNOOP_SOAK_SECONDS=0")
@pytest.mark.timeout(SOAK_SECONDS + 120)
def test_soak_bounded_memory(testdir, daemon, wspeer_server):
    """Steady mixed traffic for WSSNOOP_SOAK_SECONDS: every handshake counted,
    nothing lost, the connection table back near zero, RSS flat after warm-up."""
    port = free_port()
    wspeer_server(port)
    conf = os.path.join(testdir, "wssnoop.conf")
    out = os.path.join(testdir, "handshakes.jsonl")
    write_config(conf, port=port, path="/ws", output=out)
    d = daemon(conf)
    rate, loops = 40, 3

    warm = run_load(port, rate * loops, 5, 1)
    wait_for(f"the warm-up's {warm[0]['attempts']} handshakes counted",
             lambda: value(d.metrics(), "wssnoop_handshakes_total") == warm[0]["attempts"], timeout=10,
             describe=lambda: (value(d.metrics(), "wssnoop_handshakes_total"), warm))
    rss_start = d.rss_kib()
    tracked_start = value(d.metrics(), "wssnoop_connections_tracked")

    side = SideTraffic(port)
    side.start()
    peaks = {"tracked": 0, "rss": 0}
    unhealthy = []
    sampling = threading.Event()

    def sample():  # the busiest the table and the memory got; /healthz all along
        while not sampling.wait(1.0):
            try:
                peaks["tracked"] = max(peaks["tracked"], value(d.metrics(), "wssnoop_connections_tracked"))
                peaks["rss"] = max(peaks["rss"], d.rss_kib())
                d.scrape("/healthz")
            except urllib.error.HTTPError as e:
                unhealthy.append(f"{time.monotonic() - t0:.0f}s: /healthz {e.code}")
            except (OSError, AssertionError) as e:
                unhealthy.append(f"{time.monotonic() - t0:.0f}s: {e}")

    t0 = time.monotonic()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        loads = run_load(port, rate, SOAK_SECONDS, loops)
    finally:
        side.stop()
        sampling.set()
        sampler.join(10)
    soak_took = time.monotonic() - t0
    totals = warm + loads
    upgraded = sum(r["upgraded"] for r in totals) + side.split
    rejected = sum(r["rejected"] for r in totals)
    attempts = upgraded + rejected + side.closed
    assert sum(r["wrong"] + r["errors"] for r in totals) == 0 and side.errors == 0, (totals, side.errors)

    m = wait_for(f"{attempts} handshakes counted and the table drained",
                 lambda: (lambda m: m if value(m, "wssnoop_handshakes_total") == attempts
                          and value(m, "wssnoop_connections_tracked") <= 2 else None)(d.metrics()),
                 timeout=20, interval=0.5,
                 describe=lambda: {k: v for k, v in d.metrics().items()
                                   if k[0] in ("wssnoop_handshakes_total", "wssnoop_connections_tracked")})
    rss_end = d.rss_kib()
    tracked_end = value(m, "wssnoop_connections_tracked")
    print(f"soak: {SOAK_SECONDS}s ({soak_took:.1f}s), {attempts} handshakes "
          f"({upgraded} upgraded, {rejected} rejected, {side.closed} closed); "
          f"RSS {rss_start} KiB -> {rss_end} KiB ({rss_end - rss_start:+d} KiB); "
          f"tracked {tracked_start:.0f} -> {tracked_end:.0f}; during the soak: tracked peak "
          f"{peaks['tracked']:.0f}, RSS peak {peaks['rss']} KiB")
    assert value(m, "wssnoop_handshakes_total", outcome="upgraded") == upgraded
    assert value(m, "wssnoop_handshakes_total", outcome="rejected") == rejected
    assert value(m, "wssnoop_handshakes_total", outcome="closed") == side.closed
    for counter in ("wssnoop_events_lost_total", "wssnoop_heads_truncated_total", "wssnoop_connections_evicted_total",
                    "wssnoop_bpf_runs_skipped_total"):
        assert value(m, counter) == 0, counter
    assert tracked_end <= 2
    assert not unhealthy, f"/healthz or /metrics failed during the soak (a liveness probe would restart it): {unhealthy}"
    assert rss_end - rss_start < 2048, f"RSS grew {rss_end - rss_start} KiB during the soak"
    d.stop()
    assert d.rc == 0
    lines = jsonl(out)
    assert len([r for r in lines if r.get("type") == "handshake"]) == attempts
    assert lines[-1]["type"] == "summary" and lines[-1]["attempts"] == attempts
