#!/usr/bin/env python3
"""bench.py - what wssnoop costs, against no tracer, tcpdump and bpftrace.

The engine behind `make bench` (scripts/bench.sh installs, builds and calls
it). Every arm (no tracer; wssnoop watching another port; wssnoop watching
the served port; the same two with --capture syscall; tcpdump; a bpftrace
script; and, for keep-alive, a bare reference capture, tests/bench/bare.bpf.c)
runs in turn, in an order rotated every round, over several rounds:

  keepalive  nginx (one worker, pinned) serving a 512-byte page to wrk
             (pinned to the other core) over keep-alive connections
  close      the same with a new connection per request (Connection: close)
  websocket  wspeer's server receiving a mix of good and bad handshakes at a
             fixed rate (wspeer load); wssnoop's verdict counts must equal
             what was sent, with nothing lost
  echo       what following upgraded connections costs: wspeer's server
             echoing 64-byte text frames on BENCH_ECHO_CONNS connections in a
             closed loop (wspeer echo), untraced, with wssnoop (lifetime
             tracking on, the default) and with wssnoop --no-lifetime; every
             connection's lifetime record must carry Close 1000 and exact
             frame counts
  micro      ns per unrelated socket read with a capture attached and not,
             the socket capture's programs per segment under
             BPF_PROG_TEST_RUN, and user-space parse+judge ns per head
             (tests/bench/*.c)

Per run: requests/s, p50/p99 latency, the tracer's CPU (utime+stime from
/proc/PID/stat over the measured window), its peak RSS (VmHWM), events seen
against sent and lost, and BPF run time per request (run_time_ns/run_cnt of
the tracer's own programs, read from /proc/PID/fdinfo, over a second, shorter
wrk run with kernel.bpf_stats_enabled=1: its accounting would slow the
measured run). Every run is one JSON line in
build/bench/runs.jsonl; the tables of medians go to stdout and to
build/bench/results.md.

The echo workload, closed-loop like wrk, gets its BPF ns per message the
same way: from a second, BENCH_STATS_SECONDS long wspeer echo run with
bpf_stats on.

Settings (environment): BENCH_ROUNDS (5), BENCH_SECONDS (4: one wrk run),
BENCH_STATS_SECONDS (2: the wrk or echo run with bpf_stats on), BENCH_STOP_TIMEOUT (10),
BENCH_WS_SECONDS (4), BENCH_WS_RATE (5000), BENCH_CONNS (16),
BENCH_ECHO_SECONDS (3), BENCH_ECHO_CONNS (16),
BENCH_ARMS (comma list, default all but wssnoop-unstaged-port, wssnoop-reads-*, wssnoop-scoped-port and bare-other; bare-port and bare-other run in keepalive only), BENCH_WORKLOADS (keepalive,close,
websocket,echo,micro), BENCH_SERVER_CPU (1), BENCH_CLIENT_CPU (0), BENCH_WSSNOOP (the binary: ./wssnoop),
BENCH_PORT (18480; +1 is the "other" port, +2 the WebSocket server's).
"""
import contextlib
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "build", "bench")
WORK = os.path.join(OUT, "work")
WSSNOOP = os.environ.get("BENCH_WSSNOOP") or os.path.join(ROOT, "wssnoop")  # another build, for A/B
WSPEER = os.path.join(ROOT, "build", "wspeer")
BARE = os.path.join(OUT, "bare")
BT_SCRIPT = os.path.join(ROOT, "tests", "bench", "nginx-syscalls.bt")
NGINX_CONF = os.path.join(ROOT, "tests", "bench", "nginx.conf.in")


def env_num(name, default, kind=int):
    value = os.environ.get(name, "")
    return kind(value) if value.strip() else default


ROUNDS = env_num("BENCH_ROUNDS", 5)
SECONDS = env_num("BENCH_SECONDS", 4.0, float)
WS_SECONDS = env_num("BENCH_WS_SECONDS", 4.0, float)
WS_RATE = env_num("BENCH_WS_RATE", 5000)
CONNS = env_num("BENCH_CONNS", 16)
ECHO_SECONDS = env_num("BENCH_ECHO_SECONDS", 3.0, float)
ECHO_CONNS = env_num("BENCH_ECHO_CONNS", 16)
ECHO_SIZE = 64  # wspeer echo's default frame size
SERVER_CPU = env_num("BENCH_SERVER_CPU", 1)
CLIENT_CPU = env_num("BENCH_CLIENT_CPU", 0)
PORT = env_num("BENCH_PORT", 18480)
OTHER_PORT = PORT + 1
WS_PORT = PORT + 2
STATS_SECONDS = env_num("BENCH_STATS_SECONDS", 2)
STOP_TIMEOUT = env_num("BENCH_STOP_TIMEOUT", 10.0, float)

ALL_ARMS = ["none", "wssnoop-other", "wssnoop-port", "syscall-other", "syscall-port",
            "tcpdump", "bpftrace", "bare-port", "wssnoop-nolife"]
# Not in the default set: one ring record per event (--no-staging), to
# measure what per-CPU staging saves (BENCH_ARMS=none,wssnoop-port,wssnoop-unstaged-port),
# and the read tracepoint (--attribute-reads), to measure what it costs.
# And wssnoop attached to nginx's own cgroup (--cgroup) instead of the whole
# host: the load generator's sockets then run no program, as the clients of
# a server that come from other hosts do not (BENCH_ARMS=...,wssnoop-scoped-port).
# And the bare capture watching another port: its programs do a port test
# and nothing else on every packet, the floor of any socket-level capture
# (BENCH_ARMS=none,wssnoop-other,bare-other).
OPTIONAL_ARMS = ["wssnoop-unstaged-port", "wssnoop-reads-other", "wssnoop-reads-port", "wssnoop-scoped-port",
                 "bare-other"]
# --no-lifetime changes nothing before an upgrade: only the echo workload runs it.
LIFETIME_ONLY_ARMS = {"wssnoop-nolife"}
# The reference arm (tests/bench/bare.bpf.c: the least a socket-level capture
# does, one ring record per segment) calibrates the keep-alive figures the
# targets were set from; the other workloads do not need it.
KEEPALIVE_ONLY_ARMS = {"bare-port", "bare-other"}
ARM_TEXT = {
    "none": "no tracer",
    "wssnoop-other": "wssnoop, another port",
    "wssnoop-port": "wssnoop, served port",
    "syscall-other": "wssnoop --capture syscall, another port",
    "syscall-port": "wssnoop --capture syscall, served port",
    "tcpdump": "tcpdump -i lo -s 256 -w",
    "bpftrace": "bpftrace, 200 B of each recvfrom/writev",
    "bare-port": "bare capture (reference), served port",
    "bare-other": "bare capture (reference), another port",
    "wssnoop-nolife": "wssnoop --no-lifetime, served port",
    "wssnoop-unstaged-port": "wssnoop --no-staging, served port",
    "wssnoop-reads-other": "wssnoop --attribute-reads, another port",
    "wssnoop-reads-port": "wssnoop --attribute-reads, served port",
    "wssnoop-scoped-port": "wssnoop --cgroup (nginx's own), served port",
}
ARMS = [a for a in os.environ.get("BENCH_ARMS", ",".join(ALL_ARMS)).split(",") if a]
WORKLOADS = [w for w in os.environ.get("BENCH_WORKLOADS", "keepalive,close,websocket,echo,micro").split(",") if w]
NGINX_ARMS = [a for a in ARMS if a not in LIFETIME_ONLY_ARMS]
WS_ARMS = [a for a in ["none", "wssnoop-port", "syscall-port"] if a in ARMS]
ECHO_ARMS = [a for a in ["none", "wssnoop-port", "wssnoop-nolife"] if a in ARMS]
MICRO_ARMS = [a for a in ["none", "wssnoop-other", "syscall-other"] if a in ARMS]

# Indices in wssnoop's per-CPU counters map (enum ws_counter in bpf/wssnoop.h).
CNT_SEGMENTS, CNT_SAMPLED, CNT_LOST = 0, 1, 2
TRACE_PROG_TYPES = {"cgroup_skb", "tracepoint", "tracing", "raw_tracepoint", "kprobe",
                    "perf_event", "sched_cls", "xdp", "sock_ops", "socket_filter"}


STARTED = time.monotonic()


def log(text):
    """A progress line, with the minutes and seconds since the bench began."""
    elapsed = int(time.monotonic() - STARTED)
    print(f"bench: {elapsed // 60:2d}:{elapsed % 60:02d} {text}", file=sys.stderr, flush=True)


def run(cmd, **kwargs):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kwargs).stdout


# ---- /proc and BPF readings ----

def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def bpf_maps_rss_kib(pid):
    """Resident memory of the BPF maps a process has mmapped: the ring buffer (whose data
    pages are mapped twice, so a ring that went round once counts twice its size) and .bss."""
    total, in_ringbuf = 0, False
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                    in_ringbuf = "anon_inode:bpf-map" in line
                elif in_ringbuf and line.startswith("Rss:"):
                    total += int(line.split()[1])
    except OSError:
        return None
    return total


def bpf_fds(pid):
    """The BPF programs and maps a process holds: {prog_id: (run_time_ns, run_cnt)}, [map ids]."""
    progs, maps = {}, []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link not in ("anon_inode:bpf-prog", "anon_inode:bpf-map"):
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                info = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        info = {k.strip(): v.strip() for k, v in info.items()}
        if link == "anon_inode:bpf-prog" and "prog_id" in info:
            progs[int(info["prog_id"])] = (int(info.get("run_time_ns", 0)), int(info.get("run_cnt", 0)))
        elif "map_id" in info:
            maps.append(int(info["map_id"]))
    return progs, maps


def bpf_prog_names(ids):
    names = {}
    for prog in json.loads(run(["bpftool", "prog", "show", "-j"])):
        if prog["id"] in ids:
            names[prog["id"]] = prog.get("name", "?")
    return names


def foreign_bpf(own_ids):
    """Tracing-type BPF programs loaded by someone else (other tracers slow every arm)."""
    try:
        progs = json.loads(run(["bpftool", "prog", "show", "-j"]))
    except (subprocess.CalledProcessError, json.JSONDecodeError):
        return []
    return sorted({p.get("name", "?") for p in progs
                   if p.get("type") in TRACE_PROG_TYPES and p["id"] not in own_ids})


def counters_map_id(map_ids):
    for map_id in map_ids:
        try:
            info = json.loads(run(["bpftool", "map", "show", "id", str(map_id), "-j"]))
        except subprocess.CalledProcessError:
            continue
        if info.get("name") == "counters":
            return map_id
    return None


def read_counters(map_id):
    """Sums of wssnoop's per-CPU counters, by index."""
    sums = {}
    for entry in json.loads(run(["bpftool", "map", "dump", "id", str(map_id), "-j"])):
        key = entry.get("key")
        if isinstance(key, list):  # raw bytes, no BTF
            key = int.from_bytes(bytes(int(b, 16) for b in key), "little")
        total = 0
        for per_cpu in entry.get("values", []):
            value = per_cpu.get("value")
            if isinstance(value, list):
                value = int.from_bytes(bytes(int(b, 16) for b in value), "little")
            total += int(value)
        sums[int(key)] = total
    return sums


# ---- the tracers ----

LIVE = set()  # tracers running, killed if the bench stops half-way


class Tracer:
    """One arm's tracer process: start, measure a window, stop."""

    def __init__(self, arm, tag, port, worker_pid=None):
        self.arm, self.tag, self.port, self.worker_pid = arm, tag, port, worker_pid
        self.proc = None
        self.out_path = os.path.join(WORK, f"{tag}.out")
        self.err_path = os.path.join(WORK, f"{tag}.err")
        self.pcap = os.path.join(WORK, f"{tag}.pcap")
        self.prog_ids = set()
        self.prog_names = {}
        self.counters_id = None

    def command(self):
        if self.arm.startswith(("wssnoop-", "syscall-")):
            watch = OTHER_PORT if self.arm.endswith("-other") else self.port
            cmd = [WSSNOOP, "-p", str(watch), "-j"]
            if self.arm.startswith("syscall-"):
                cmd += ["--capture", "syscall"]
            if self.arm == "wssnoop-nolife":
                cmd += ["--no-lifetime"]
            if self.arm == "wssnoop-unstaged-port":
                cmd += ["--no-staging"]
            if self.arm.startswith("wssnoop-reads-"):
                cmd += ["--attribute-reads"]
            if self.arm == "wssnoop-scoped-port":
                if not NGINX_CGROUP:
                    raise RuntimeError("wssnoop-scoped-port: no cgroup v2 to start nginx in")
                cmd += ["--cgroup", NGINX_CGROUP]
            return cmd, "wssnoop: tracing", self.err_path
        if self.arm == "tcpdump":
            return (["tcpdump", "-i", "lo", "-s", "256", "-Z", "root", "-w", self.pcap,
                     "port", str(self.port)], "listening on", self.err_path)
        if self.arm == "bpftrace":
            return (["bpftrace", "-o", self.out_path, BT_SCRIPT, str(self.worker_pid)],
                    "Attaching", self.out_path)
        if self.arm.startswith("bare-"):
            watch = OTHER_PORT if self.arm.endswith("-other") else self.port
            return [BARE, str(watch)], "bare: tracing", self.err_path
        raise ValueError(self.arm)

    def start(self):
        if self.arm == "none":
            return
        cmd, ready, ready_file = self.command()
        env = dict(os.environ, BPFTRACE_STRLEN="200")
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        LIVE.add(self)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.arm} exited at start: {open(self.err_path).read()[-500:]}")
            try:
                with open(ready_file, errors="replace") as f:
                    if ready in f.read():
                        break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            raise RuntimeError(f"{self.arm} not ready after 60 s")
        time.sleep(0.5)  # let attach settle
        progs, maps = bpf_fds(self.proc.pid)
        self.prog_ids = set(progs)
        self.prog_names = bpf_prog_names(self.prog_ids)
        if self.arm.startswith(("wssnoop-", "syscall-")):
            self.counters_id = counters_map_id(maps)

    def sample(self):
        """A reading at a window's edge."""
        if not self.proc:
            return {}
        progs, _ = bpf_fds(self.proc.pid)
        reading = {"ticks": cpu_ticks(self.proc.pid), "progs": progs}
        if self.counters_id is not None:
            reading["counters"] = read_counters(self.counters_id)
        return reading

    def window(self, before, after):
        """What the tracer cost between two samples."""
        if not self.proc:
            return {}
        hz = os.sysconf("SC_CLK_TCK")
        result = {"cpu_s": (after["ticks"] - before["ticks"]) / hz,
                  "rss_kib": peak_rss_kib(self.proc.pid), "rss_bpf_maps_kib": bpf_maps_rss_kib(self.proc.pid)}
        if "counters" in after:
            for name, index in (("segments", CNT_SEGMENTS), ("sampled", CNT_SAMPLED), ("lost", CNT_LOST)):
                result[name] = after["counters"].get(index, 0) - before["counters"].get(index, 0)
        return result

    def bpf_window(self, before, after):
        """BPF run time of the tracer's programs between two samples (bpf_stats on)."""
        if not self.proc:
            return {}
        run_ns = run_cnt = 0
        per_prog = {}
        for prog_id, (ns, cnt) in after["progs"].items():
            ns0, cnt0 = before["progs"].get(prog_id, (0, 0))
            run_ns += ns - ns0
            run_cnt += cnt - cnt0
            name = self.prog_names.get(prog_id, str(prog_id))
            sums = per_prog.setdefault(name, [0, 0])
            sums[0] += ns - ns0
            sums[1] += cnt - cnt0
        return {"bpf_ns": run_ns, "bpf_runs": run_cnt, "bpf_per_prog": per_prog} if after["progs"] else {}

    def stop(self):
        """Stop as a user would (Ctrl-C); what the tracer said at exit."""
        if not self.proc:
            return {}
        start = time.time()
        self.proc.send_signal(signal.SIGINT)
        killed = False
        try:
            self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            killed = True
        LIVE.discard(self)
        result = {"stop_s": round(time.time() - start, 2), "killed": killed}
        if self.arm.startswith(("wssnoop-", "syscall-", "bare-")):
            with open(self.out_path, errors="replace") as f:
                for line in f:
                    if line.startswith('{"type":"summary"'):
                        result["summary"] = json.loads(line)
            if self.arm.startswith("bare-") and "summary" in result:
                result.update(sampled=result["summary"]["records"], lost=result["summary"]["events_lost"])
        elif self.arm == "tcpdump":
            text = open(self.err_path, errors="replace").read()
            m = re.search(r"(\d+) packets dropped by kernel", text)
            result["lost"] = int(m.group(1)) if m else None
            result["sampled"] = pcap_data_packets(self.pcap)
            os.unlink(self.pcap)
        elif self.arm == "bpftrace":
            lost = printed = 0
            with open(self.out_path, errors="replace") as f:
                for line in f:
                    if " recvfrom " in line or " writev " in line:
                        printed += 1
                    m = re.search(r"Lost (\d+) events", line)
                    if m:
                        lost += int(m.group(1))
            result.update(sampled=printed, lost=lost)
        return result


def pcap_data_packets(path):
    """TCP segments with payload in a pcap file (loopback: DLT_EN10MB or DLT_NULL)."""
    count = 0
    with open(path, "rb") as f:
        header = f.read(24)
        if len(header) < 24:
            return 0
        endian = "<" if header[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        linktype = struct.unpack(endian + "I", header[20:24])[0]
        l2 = 14 if linktype == 1 else 4 if linktype == 0 else 16 if linktype == 113 else 0
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                break
            caplen, origlen = struct.unpack(endian + "II", rec[8:16])
            data = f.read(caplen)
            ip = data[l2:]
            if len(ip) < 20:
                continue
            if ip[0] >> 4 == 4:
                total, ihl = struct.unpack(">H", ip[2:4])[0], (ip[0] & 15) * 4
                tcp = ip[ihl:]
                payload = total - ihl - ((tcp[12] >> 4) * 4 if len(tcp) > 12 else 20)
            else:
                tcp = ip[40:]
                payload = struct.unpack(">H", ip[4:6])[0] - ((tcp[12] >> 4) * 4 if len(tcp) > 12 else 20)
            if payload > 0:
                count += 1
    return count


# ---- servers and load ----

def cgroup2_mount():
    """Where cgroup v2 is mounted (the unified hierarchy of a hybrid host), or None."""
    with open("/proc/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 2 and fields[2] == "cgroup2":
                return fields[1]
    return None


# nginx runs in a cgroup of its own where there is cgroup v2 (the arms that
# attach to the whole host see it as before): the scoped arm attaches there.
NGINX_CGROUP = None


class Nginx:
    def __init__(self):
        self.dir = os.path.join(WORK, "nginx")
        os.makedirs(os.path.join(self.dir, "www"), exist_ok=True)
        with open(os.path.join(self.dir, "www", "index.html"), "w") as f:
            body = "<!doctype html><title>wssnoop bench</title><p>"
            f.write(body + "x" * (512 - len(body) - 1) + "\n")
        conf = open(NGINX_CONF).read()
        conf = (conf.replace("@DIR@", self.dir).replace("@PORT@", str(PORT))
                .replace("@CPUMASK@", "1" + "0" * SERVER_CPU))
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.proc = None
        self.worker = None

    def start(self):
        global NGINX_CGROUP
        cmd = ["nginx", "-c", self.conf, "-p", self.dir]
        mount = cgroup2_mount()
        if mount:
            NGINX_CGROUP = os.path.join(mount, "wssnoop-bench-nginx")
            os.makedirs(NGINX_CGROUP, exist_ok=True)
            # Its sockets are charged to the cgroup they are made in: the
            # listener, and the connections accepted from it, are nginx's.
            cmd = ["sh", "-c", f'echo $$ > "{NGINX_CGROUP}/cgroup.procs" && exec "$@"', "in-cgroup"] + cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(PORT)
        for _ in range(100):
            kids = run(["pgrep", "-P", str(self.proc.pid)]).split() if self.proc.poll() is None else []
            if kids:
                self.worker = int(kids[0])
                return
            time.sleep(0.05)
        raise RuntimeError("nginx worker did not start (see build/bench/work/nginx/error.log)")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if NGINX_CGROUP:
            with contextlib.suppress(OSError):
                os.rmdir(NGINX_CGROUP)


def wait_port(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def port_free(port):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def run_wrk(workload, seconds):
    cmd = ["taskset", "-c", str(CLIENT_CPU), "wrk", "-t1", f"-c{CONNS}", f"-d{seconds:g}s",
           "--latency", f"http://127.0.0.1:{PORT}/"]
    if workload == "close":
        cmd[5:5] = ["-H", "Connection: close"]
    text = run(cmd)
    result = {}
    m = re.search(r"(\d+) requests in", text)
    result["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    result["rps"] = float(m.group(1)) if m else 0.0
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        result[f"p{pct}_ms"] = float(m.group(1)) * UNIT[m.group(2)] if m else None
    m = re.search(r"Socket errors: (.*)", text)
    result["socket_errors"] = m.group(1).strip() if m else ""
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    result["non2xx"] = int(m.group(1)) if m else 0
    return result


# ---- runs ----

RUNS = []


def record(entry):
    entry["loadavg"] = open("/proc/loadavg").read().split()[0]
    RUNS.append(entry)
    with open(os.path.join(OUT, "runs.jsonl"), "a") as f:
        f.write(json.dumps(entry) + "\n")


def set_bpf_stats(on):
    with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
        f.write("1" if on else "0")


def nginx_run(nginx, arm, workload, round_no):
    """One wrk run with bpf_stats off (its accounting costs every program run), then a
    shorter one with it on for the BPF run time per request."""
    tag = f"{workload}-{arm}-r{round_no}"
    tracer = Tracer(arm, tag, PORT, nginx.worker)
    tracer.start()
    foreign = foreign_bpf(tracer.prog_ids)
    before = tracer.sample()
    wrk = run_wrk(workload, SECONDS)
    after = tracer.sample()
    entry = {"workload": workload, "arm": arm, "round": round_no, **wrk,
             **tracer.window(before, after), "foreign_bpf": foreign}
    if tracer.prog_ids and STATS_SECONDS > 0:
        set_bpf_stats(True)
        try:
            before = tracer.sample()
            entry["bpf_requests"] = run_wrk(workload, STATS_SECONDS)["requests"]
            after = tracer.sample()
        finally:
            set_bpf_stats(False)
        entry.update(tracer.bpf_window(before, after))
    stopped = tracer.stop()
    entry.update({k: v for k, v in stopped.items() if k != "summary" and not (k in entry and v is None)})
    if "summary" in stopped:
        entry["summary_lost"] = stopped["summary"].get("events_lost")
    # wssnoop's counters are read around the first run; tcpdump's file, bpftrace's
    # output and the bare capture's count cover the tracer's whole life, both runs.
    whole_life = arm == "bpftrace" or arm.startswith("bare-")
    entry["sent"] = 2 * (wrk["requests"] + (entry.get("bpf_requests", 0) if whole_life else 0))
    record(entry)
    log(f"round {round_no} {workload:9} {arm:14} {wrk['rps']:9.0f} req/s"
        f" cpu {entry.get('cpu_s', 0):.2f}s bpf {bpf_per(entry, 'bpf_requests')} ns/req"
        f" seen {entry.get('sampled', '-')}/{entry['sent']} lost {entry.get('lost', '-')}"
        + (f" stop {stopped['stop_s']}s" if stopped.get("stop_s", 0) > 2 else ""))
    return entry


def bpf_per(entry, count_key):
    if "bpf_ns" not in entry or not entry.get(count_key):
        return "-"
    return f"{entry['bpf_ns'] / entry[count_key]:.0f}"


@contextlib.contextmanager
def wspeer_server():
    """wspeer's WebSocket server on WS_PORT, pinned to the server's CPU, for one run."""
    server = subprocess.Popen(["taskset", "-c", str(SERVER_CPU), WSPEER, "server", str(WS_PORT)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(WS_PORT)
        time.sleep(0.1)
        yield server
    finally:
        server.kill()
        server.wait()


def websocket_run(arm, round_no):
    tag = f"websocket-{arm}-r{round_no}"
    with wspeer_server():
        tracer = Tracer(arm, tag, WS_PORT)
        tracer.start()
        foreign = foreign_bpf(tracer.prog_ids)
        set_bpf_stats(True)  # the rate is fixed: its cost does not move the figures
        try:
            before = tracer.sample()
            load = subprocess.run(["taskset", "-c", str(CLIENT_CPU), WSPEER, "load", "127.0.0.1",
                                   str(WS_PORT), str(WS_RATE), str(WS_SECONDS)],
                                  capture_output=True, text=True)
            after = tracer.sample()
        finally:
            set_bpf_stats(False)
        time.sleep(0.3)  # the last answers reach the ring buffer
        sent = json.loads(load.stdout.strip().splitlines()[-1])
        entry = {"workload": "websocket", "arm": arm, "round": round_no, "load": sent,
                 "requests": sent["attempts"], "bpf_requests": sent["attempts"],
                 **tracer.window(before, after), **tracer.bpf_window(before, after), "foreign_bpf": foreign}
        stopped = tracer.stop()
    entry.update(stop_s=stopped.get("stop_s"), killed=stopped.get("killed"))
    summary = stopped.get("summary")
    if summary:
        verdicts = summary.get("verdicts", {})
        entry["seen"] = summary["attempts"]
        entry["summary_lost"] = summary["events_lost"]
        entry["exact"] = (summary["attempts"] == sent["attempts"]
                          and verdicts.get("upgraded") == sent["upgraded"]
                          and verdicts.get("rejected") == sent["rejected"]
                          and summary["events_lost"] == 0)
        entry["verdicts"] = verdicts
    elif arm != "none":
        entry["exact"] = False
    record(entry)
    log(f"round {round_no} websocket {arm:14} {sent['rate']:.0f}/s attempts {sent['attempts']}"
        f" seen {entry.get('seen', '-')} lost {entry.get('lost', '-')} exact {entry.get('exact', '-')}"
        f" cpu {entry.get('cpu_s', 0):.2f}s stop {entry.get('stop_s')}s")


def echo_load(seconds):
    """One wspeer echo run, pinned: its JSON line."""
    done = subprocess.run(["taskset", "-c", str(CLIENT_CPU), WSPEER, "echo", "127.0.0.1", str(WS_PORT),
                           str(ECHO_CONNS), f"{seconds:g}", str(ECHO_SIZE)],
                          capture_output=True, text=True, timeout=seconds + 60)
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"wspeer echo printed nothing (exit {done.returncode}): {done.stderr[-500:]}")
    return json.loads(lines[-1])


def lifetime_check(path, loads):
    """wssnoop's lifetime records against what wspeer echo did, connection by connection
    (found by the client's port): closed, Close 1000, and frames each way = messages + the
    Close. Returns (records, exact, what differs)."""
    expected = sorted((int(port), messages + 1) for load in loads for port, messages in load["by_port"].items())
    records, problems = [], []
    with open(path, errors="replace") as f:
        for line in f:
            if not line.startswith('{"type":"lifetime"'):
                continue
            r = json.loads(line)
            records.append(r)
            if r.get("state") != "closed" or r.get("close_code") != 1000:
                problems.append(f":{r.get('rport')} state {r.get('state')} close_code {r.get('close_code')}")
    for key in ("frames_in", "frames_out"):
        seen = sorted((r.get("rport"), r.get(key)) for r in records)
        if seen != expected:
            missing, extra = sorted(set(expected) - set(seen)), sorted(set(seen) - set(expected))
            problems.append(f"{key}: expected (port, frames) {missing[:3]}, seen {extra[:3]}"
                            f" ({len(seen)} records for {len(expected)} connections)")
    return len(records), not problems, problems


def echo_run(arm, round_no):
    """One wspeer echo run with bpf_stats off (a closed loop: its accounting would slow the
    measured run), then a shorter one with it on for the BPF run time per message."""
    tag = f"echo-{arm}-r{round_no}"
    with wspeer_server():
        tracer = Tracer(arm, tag, WS_PORT)
        tracer.start()
        foreign = foreign_bpf(tracer.prog_ids)
        before = tracer.sample()
        echo = echo_load(ECHO_SECONDS)
        after = tracer.sample()
        entry = {"workload": "echo", "arm": arm, "round": round_no, "echo": echo, "rate": echo["rate"],
                 **tracer.window(before, after), "foreign_bpf": foreign}
        loads = [echo]
        if tracer.prog_ids and STATS_SECONDS > 0:
            set_bpf_stats(True)
            try:
                before = tracer.sample()
                stats = echo_load(STATS_SECONDS)
                after = tracer.sample()
                # The switch is the whole machine's: anyone else profiling may turn it off.
                held = open("/proc/sys/kernel/bpf_stats_enabled").read().strip() == "1"
            finally:
                set_bpf_stats(False)
            loads.append(stats)
            if held:
                entry["bpf_requests"] = stats["messages"]
                entry.update(tracer.bpf_window(before, after))
            else:
                log(f"round {round_no} echo {arm}: kernel.bpf_stats_enabled was turned off during the run;"
                    " no BPF figure")
        time.sleep(0.3)  # the last closes reach the ring buffer
        stopped = tracer.stop()
    entry.update(stop_s=stopped.get("stop_s"), killed=stopped.get("killed"),
                 echo_errors=sum(load["errors"] for load in loads))
    conns = sum(load["conns"] for load in loads)
    summary = stopped.get("summary")
    problems = [f"wspeer echo: {entry['echo_errors']} errors"] if entry["echo_errors"] else []
    if summary:
        entry["summary_lost"] = summary["events_lost"]
        entry["upgraded"] = summary["upgraded"]
        if summary["upgraded"] != conns or summary["events_lost"]:
            problems.append(f"summary: {summary['upgraded']} upgraded of {conns}, {summary['events_lost']} lost")
        records, exact, found = lifetime_check(tracer.out_path, loads)
        entry["lifetimes"] = records
        if arm == "wssnoop-nolife":
            exact, found = records == 0, [f"{records} lifetime records under --no-lifetime"] if records else []
        problems += found
        entry["exact"] = exact and not problems
    elif arm != "none":
        problems.append("no summary line")
        entry["exact"] = False
    entry["problems"] = problems
    record(entry)
    log(f"round {round_no} echo      {arm:14} {echo['rate']:9.0f} msg/s p50 {echo['p50_us']:.0f} µs"
        f" cpu {entry.get('cpu_s', 0):.2f}s bpf {bpf_per(entry, 'bpf_requests')} ns/msg"
        + (f" lifetimes {entry.get('lifetimes')}/{conns} exact {entry.get('exact')} stop {entry.get('stop_s')}s"
           if arm != "none" else "") + (f" ({'; '.join(problems)})" if problems else ""))


def micro_run(arm, round_no):
    tracer = Tracer(arm, f"micro-{arm}-r{round_no}", OTHER_PORT)
    tracer.start()
    out = run(["taskset", "-c", str(SERVER_CPU), os.path.join(OUT, "syscall_cost"), "300"])
    tracer.stop()
    entry = {"workload": "syscall_cost", "arm": arm, "round": round_no,
             **json.loads(out.strip().splitlines()[-1])}
    record(entry)


def capture_cost_run(round_no):
    """The socket capture's programs on wrk's request and nginx's answer, by BPF_PROG_TEST_RUN."""
    out = run(["taskset", "-c", str(SERVER_CPU), os.path.join(OUT, "capture_cost"), "300"])
    entry = {"workload": "capture_cost", "arm": "wssnoop-port", "round": round_no,
             **json.loads(out.strip().splitlines()[-1])}
    for row in ("request", "answer"):
        if abs(entry[f"{row}_records"] - 1) > 0.001:
            entry.setdefault("problems", []).append(f"{row}: {entry[f'{row}_records']:.3f} records per run, not 1")
    record(entry)
    log(f"capture_cost r{round_no}: request {entry['request_ns']:.0f} ns, answer {entry['answer_ns']:.0f} ns, "
        f"ack {entry['ack_ns']:.0f} ns, unwatched {entry['unwatched_ns']:.0f} ns"
        + (f" ({'; '.join(entry['problems'])})" if entry.get("problems") else ""))


def capture_cost_table():
    runs = runs_of("capture_cost", "wssnoop-port")
    rows = []
    for key, text in (("request", "ingress, wrk's request (sampled head)"),
                      ("answer", "egress, nginx's 200 + 512-byte page (sampled status line)"),
                      ("ack", "ingress, a pure ACK on the watched port"),
                      ("unwatched", "ingress, the request on a port not watched")):
        values = [r[f"{key}_ns"] for r in runs]
        rows.append([text, fmt(median(values)), f"{min(values):.0f}–{max(values):.0f}",
                     fmt(median([r.get(f"{key}_stats_ns") for r in runs])),
                     f"{median([r[f'{key}_records'] for r in runs]):.3f}"])
    return table(["segment", "ns per run (median)", "range over rounds",
                  "as bpf_stats counts it (run_time_ns / run_cnt)", "records per run"], rows)


def rotated(arms, round_no):
    shift = round_no % len(arms)
    return arms[shift:] + arms[:shift]


# ---- tables ----

def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, spec=".0f", none="—"):
    return none if value is None else format(value, spec)


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def runs_of(workload, arm):
    return [r for r in RUNS if r["workload"] == workload and r["arm"] == arm]


def bpf_per_request(runs):
    """BPF ns per request (or message, or handshake) of each run that measured it."""
    return [r["bpf_ns"] / r["bpf_requests"] for r in runs if "bpf_ns" in r and r.get("bpf_requests")]


def ratio_by_round(workload, arm, key="rps", base_arm="none"):
    base = {r["round"]: r[key] for r in runs_of(workload, base_arm)}
    return [r[key] / base[r["round"]] for r in runs_of(workload, arm) if base.get(r["round"])]


def nginx_table(workload):
    rows = []
    for arm in ARMS:
        runs = runs_of(workload, arm)
        if not runs:
            continue
        rps = [r["rps"] for r in runs]
        ratios = ratio_by_round(workload, arm)
        med = median(rps)
        spread = (max(rps) - min(rps)) / 2 / med * 100 if med else None
        seen = [r["sampled"] / r["sent"] for r in runs if r.get("sampled") is not None and r["sent"]]
        lost = [r.get("lost") for r in runs if r.get("lost") is not None]
        bpf = bpf_per_request(runs)
        rows.append([
            ARM_TEXT[arm], fmt(med), fmt(median(ratios), ".3f") if arm != "none" else "1",
            f"±{spread:.1f} %" if spread is not None else "—",
            fmt(median([r["p50_ms"] for r in runs]), ".3f"), fmt(median([r["p99_ms"] for r in runs]), ".3f"),
            fmt(median([r.get("cpu_s") for r in runs]), ".2f"),
            fmt(median([r.get("rss_kib") for r in runs]) and median([r.get("rss_kib") for r in runs]) / 1024, ".1f"),
            fmt(median(seen), ".3f") if arm.endswith("-port") or arm in ("tcpdump", "bpftrace") else "—",
            fmt(sum(lost), "d") if lost else "—",
            fmt(median(bpf)),
        ])
    return table(["arm", "req/s", "× untraced", "spread", "p50 ms", "p99 ms", "tracer CPU s",
                  "peak RSS MiB", "seen/sent", "lost", "BPF ns/req"], rows)


def websocket_table():
    rows = []
    for arm in WS_ARMS:
        runs = runs_of("websocket", arm)
        if not runs:
            continue
        exact = [r.get("exact") for r in runs if "exact" in r]
        bpf = bpf_per_request(runs)
        lost = [r.get("lost") for r in runs if r.get("lost") is not None]
        rows.append([
            ARM_TEXT[arm], fmt(median([r["load"]["rate"] for r in runs])),
            fmt(median([r["load"]["attempts"] for r in runs])),
            fmt(median([r.get("seen") for r in runs])) if arm != "none" else "—",
            f"{sum(1 for e in exact if e)}/{len(exact)}" if exact else "—",
            fmt(sum(lost), "d") if lost else "—",
            fmt(median([r["load"]["p50_us"] for r in runs])), fmt(median([r["load"]["p99_us"] for r in runs])),
            fmt(median([r.get("cpu_s") for r in runs]), ".2f"),
            fmt(median([r.get("rss_kib") for r in runs]) and median([r.get("rss_kib") for r in runs]) / 1024, ".1f"),
            fmt(median(bpf)), fmt(median([r.get("stop_s") for r in runs]), ".1f") if arm != "none" else "—",
        ])
    return table(["arm", "handshakes/s", "sent", "judged", "counts exact", "lost", "p50 µs", "p99 µs",
                  "tracer CPU s", "peak RSS MiB", "BPF ns/handshake", "exit s"], rows)


def echo_table():
    rows = []
    for arm in ECHO_ARMS:
        runs = runs_of("echo", arm)
        if not runs:
            continue
        rates = [r["rate"] for r in runs]
        med = median(rates)
        spread = (max(rates) - min(rates)) / 2 / med * 100 if med else None
        exact = [r.get("exact") for r in runs if "exact" in r]
        lost = [r.get("summary_lost") for r in runs if r.get("summary_lost") is not None]
        bpf = bpf_per_request(runs)
        rss = median([r.get("rss_kib") for r in runs])
        rows.append([
            ARM_TEXT[arm], fmt(med), fmt(median(ratio_by_round("echo", arm, "rate")), ".3f") if arm != "none" else "1",
            fmt(median(ratio_by_round("echo", arm, "rate", "wssnoop-nolife")), ".3f")
            if arm == "wssnoop-port" and runs_of("echo", "wssnoop-nolife") else "—",
            f"±{spread:.1f} %" if spread is not None else "—",
            fmt(median([r["echo"]["p50_us"] for r in runs]), ".1f"), fmt(median([r["echo"]["p99_us"] for r in runs]), ".1f"),
            fmt(median([r.get("cpu_s") for r in runs]), ".2f"), fmt(rss and rss / 1024, ".1f"),
            fmt(sum(lost), "d") if lost else "—", fmt(median(bpf)),
            f"{sum(1 for e in exact if e)}/{len(exact)}" if exact else "—",
            fmt(median([r.get("stop_s") for r in runs]), ".1f") if arm != "none" else "—",
        ])
    return table(["arm", "messages/s", "× untraced", "× --no-lifetime", "spread", "p50 µs", "p99 µs",
                  "tracer CPU s", "peak RSS MiB", "lost", "BPF ns/message", "counts exact", "exit s"], rows)


def lifetime_cost_text():
    """One sentence: what lifetime tracking adds, from the medians of both wssnoop arms."""
    def bpf(arm):
        return median(bpf_per_request(runs_of("echo", arm)))
    on, off = bpf("wssnoop-port"), bpf("wssnoop-nolife")
    ratio = median(ratio_by_round("echo", "wssnoop-port", "rate", "wssnoop-nolife"))
    cpu_on = median([r.get("cpu_s") for r in runs_of("echo", "wssnoop-port")])
    cpu_off = median([r.get("cpu_s") for r in runs_of("echo", "wssnoop-nolife")])
    if on is None or off is None:
        return None
    return (f"Lifetime tracking costs {on - off:+.0f} ns of BPF run time per message ({on:.0f} against "
            f"{off:.0f} with --no-lifetime), messages/s × {fmt(ratio, '.3f')} of --no-lifetime's, and "
            f"tracer CPU {fmt(cpu_on, '.2f')} s against {fmt(cpu_off, '.2f')} s.")


def syscall_table():
    rows = []
    keys = ["recvfrom_eagain_ns", "read_eagain_ns", "recvfrom_peek64_ns"]
    base = {k: median([r[k] for r in runs_of("syscall_cost", "none")]) for k in keys}
    for arm in MICRO_ARMS:
        runs = runs_of("syscall_cost", arm)
        if not runs:
            continue
        row = [ARM_TEXT[arm]]
        for k in keys:
            m = median([r[k] for r in runs])
            row.append(fmt(m) + ("" if arm == "none" or base[k] is None else f" ({m - base[k]:+.0f})"))
        rows.append(row)
    return table(["arm", "recvfrom, empty (EAGAIN)", "read, empty (EAGAIN)", "recvfrom MSG_PEEK 64 B"], rows)


def per_program_table(workload, arms=("wssnoop-other", "wssnoop-port", "wssnoop-unstaged-port", "wssnoop-reads-other",
                                     "wssnoop-reads-port", "wssnoop-scoped-port", "syscall-other", "syscall-port",
                                     "bpftrace", "bare-port", "bare-other")):
    """ns per run and runs per request of each program, for the arms that watch the port."""
    rows = []
    for arm in arms:
        runs = [r for r in runs_of(workload, arm) if r.get("bpf_per_prog")]
        if not runs:
            continue
        totals = {}
        for r in runs:
            for name, (ns, cnt) in r["bpf_per_prog"].items():
                t = totals.setdefault(name, [0, 0, 0])
                t[0] += ns
                t[1] += cnt
                t[2] += r["bpf_requests"]
        for name, (ns, cnt, reqs) in sorted(totals.items(), key=lambda kv: -kv[1][0]):
            if cnt:
                rows.append([ARM_TEXT[arm], name, fmt(ns / cnt), fmt(cnt / reqs, ".2f"), fmt(ns / reqs)])
    return table(["arm", "program", "ns/run", "runs/req", "ns/req"], rows)


def reference_text():
    """wssnoop on the served port against the bare capture, from the same keep-alive rounds."""
    def figures(arm):
        runs = runs_of("keepalive", arm)
        bpf = median(bpf_per_request(runs))
        return median(ratio_by_round("keepalive", arm)), bpf

    (bare_ratio, bare_bpf), (ws_ratio, ws_bpf) = figures("bare-port"), figures("wssnoop-port")
    if None in (bare_ratio, bare_bpf, ws_ratio, ws_bpf):
        return ""
    return (f"Reference: the bare capture (tests/bench/bare.bpf.c: a port test and one ring record of the "
            f"first 256 bytes, sequence number and cookie per segment, nothing else; a re-creation of the "
            f"design the targets were set from) kept {bare_ratio:.3f} × untraced with {bare_bpf:.0f} ns of BPF per request in "
            f"these rounds; wssnoop, watching the same port, kept {ws_ratio:.3f} with {ws_bpf:.0f} ns, "
            f"{ws_bpf / bare_bpf:.2f} × the bare capture's BPF time.")


def callgrind(cmd):
    """Instructions the command ran, as callgrind counts them, and its output; (None, "") without valgrind."""
    if not shutil.which("valgrind"):
        return None, ""
    done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] + cmd,
                          capture_output=True, text=True, check=True)
    m = re.search(r"Collected : (\d+)", done.stderr)
    return (int(m.group(1)) if m else None), done.stdout


def parse_instructions(parse):
    """Instructions per request head and per answer on parse+judge's path, counted by callgrind: the
    same on any machine, where its ns move with the machine. Two iteration counts, so that what
    the program does once (start, path table, output) drops out of the difference."""
    if not shutil.which("valgrind"):
        log("micro: valgrind is missing, no instruction counts")
        return {}
    found = {}
    sizes = (100, 300)
    for kind in ("request", "answer"):
        counts = [callgrind([os.path.join(OUT, "parse_judge"), str(n), kind])[0] for n in sizes]
        if None in counts:
            return found
        calls = (sizes[1] - sizes[0]) * parse["repeats"] * parse["heads"]
        found[f"{kind}_insns"] = (counts[1] - counts[0]) / calls
    return found


# The event path's scenarios counted by callgrind: the keep-alive load's records, one by one
# and as staged batches put back in time order.
EVENT_PATH_COUNTED = ("keepalive-text", "keepalive-text-staged")


def event_path_instructions():
    """Instructions per ring record through the reader's path, by callgrind at two pass counts
    (event_path says how many records each ran through)."""
    found = {}
    for scenario in EVENT_PATH_COUNTED:
        counted = []
        for passes in (1, 3):
            count, out = callgrind([os.path.join(OUT, "event_path"), str(passes), scenario])
            if count is None:
                return found
            counted.append((count, json.loads(out.strip().splitlines()[-1])["records_run"]))
        found[scenario] = (counted[1][0] - counted[0][0]) / (counted[1][1] - counted[0][1])
    return found


def floor_text():
    """What attaching costs before any work: watching another port, the socket programs run on every
    packet of the keep-alive load and do a port test, nothing else."""
    skb_progs = ("wssnoop_ingress", "wssnoop_egress")

    def per_run(arm):
        ns = cnt = reqs = 0
        for r in runs_of("keepalive", arm):
            progs = [v for name, v in (r.get("bpf_per_prog") or {}).items() if name in skb_progs]
            if progs and r.get("bpf_requests"):
                ns, cnt = ns + sum(v[0] for v in progs), cnt + sum(v[1] for v in progs)
                reqs += r["bpf_requests"]
        return (ns / cnt, cnt / reqs) if cnt and reqs else (None, None)

    (idle_run, runs_per_req), (busy_run, _) = per_run("wssnoop-other"), per_run("wssnoop-port")
    served = median(bpf_per_request(runs_of("keepalive", "wssnoop-port")))
    if None in (idle_run, busy_run, served):
        return ""
    floor = idle_run * runs_per_req
    return (f"Floor: watching another port, wssnoop's socket programs run {runs_per_req:.2f} times per "
            f"request (each packet's egress and ingress, the server's sockets and wrk's) and do a port test, "
            f"nothing else: {idle_run:.0f} ns per run as bpf_stats counts it, {floor:.0f} ns per request, what "
            f"any socket-level capture pays here before it does any work. Watching the served port, a run took "
            f"{busy_run:.0f} ns on average and a request {served:.0f} ns, {served - floor:.0f} ns above the floor.")


def machine_text():
    model = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} CPUs ({model}), kernel {platform.release()}"


def targets_rows(parse):
    rows = []

    def check(name, value, ok, shown):
        rows.append([name, shown if value is not None else "not measured",
                     "—" if value is None else ("met" if ok(value) else "**missed**")])

    def check_ratio(name, arm, target):
        """A ratio target decides only when every round is on one side of it (a sign test: by
        chance, five rounds all fall on one side one time in sixteen); where the rounds
        straddle it, the machine varied more than the margin, and the median says nothing."""
        ratios = ratio_by_round("keepalive", arm)
        if not ratios:
            rows.append([name, "not measured", "—"])
            return
        shown = f"{median(ratios):.3f} (rounds {min(ratios):.3f}–{max(ratios):.3f})"
        verdict = ("met" if min(ratios) >= target else "**missed**" if max(ratios) < target
                   else "undecided: the rounds straddle it")
        rows.append([name, shown, verdict])

    check_ratio("keep-alive req/s watching the served port ≥ 0.98 × untraced", "wssnoop-port", 0.98)
    check_ratio("keep-alive req/s watching another port ≥ 0.995 × untraced", "wssnoop-other", 0.995)
    bpf = median(bpf_per_request(runs_of("keepalive", "wssnoop-port")))
    check("BPF run time ≤ 600 ns per keep-alive request (watching)", bpf, lambda x: x <= 600, f"{fmt(bpf)} ns")
    cpu = {arm: median([r.get("cpu_s") for r in runs_of("keepalive", arm)])
           for arm in ("wssnoop-port", "tcpdump", "bpftrace")}
    if None not in cpu.values():
        check("tracer CPU below tcpdump and bpftrace (keep-alive)", cpu["wssnoop-port"],
              lambda x: x < cpu["tcpdump"] and x < cpu["bpftrace"],
              f"{cpu['wssnoop-port']:.2f} s vs {cpu['tcpdump']:.2f} s, {cpu['bpftrace']:.2f} s")
    ws = runs_of("websocket", "wssnoop-port")
    if ws:
        lost = sum(r.get("lost") or 0 for r in ws)
        exact = sum(1 for r in ws if r.get("exact"))
        check(f"zero events lost, exact counts at {WS_RATE} handshakes/s", lost,
              lambda x: x == 0 and exact == len(ws), f"{lost} lost, counts exact in {exact}/{len(ws)} rounds")
    if parse:
        check("parse+judge < 300 ns per ~700-byte request head", parse["request_ns"], lambda x: x < 300,
              f"{parse['request_ns']:.0f} ns (answer {parse['answer_ns']:.0f} ns)"
              + (f"; {parse['request_insns']:.0f} instructions" if "request_insns" in parse else ""))
    biggest = max([r for r in RUNS if r["arm"] in ("wssnoop-port", "syscall-port") and r.get("rss_kib")],
                  key=lambda r: r["rss_kib"], default=None)
    if biggest:
        rss, maps = biggest["rss_kib"] / 1024, (biggest.get("rss_bpf_maps_kib") or 0) / 1024
        check("peak RSS < 16 MiB", rss, lambda x: x < 16,
              f"{rss:.1f} MiB (largest run; {maps:.1f} MiB of it mmapped BPF maps, the ring buffer mostly)")
    return rows


def report(started, parse, load_before, load_after):
    foreign = sorted({n for r in RUNS for n in r.get("foreign_bpf", [])})
    foreign_runs = sum(1 for r in RUNS if r.get("foreign_bpf"))
    parts = [
        f"# wssnoop bench, {started:%Y-%m-%d %H:%M}",
        "",
        f"Machine: {machine_text()}. Load average {load_before} before, {load_after} after.",
        f"{ROUNDS} rounds, arms alternating in rotated order; nginx 1.22 (one worker on CPU {SERVER_CPU}), "
        f"wrk -t1 -c{CONNS} -d{SECONDS:g}s on CPU {CLIENT_CPU}, 512-byte page; "
        f"req/s, latency and CPU come from a {SECONDS:g} s wrk run with kernel.bpf_stats_enabled=0; "
        f"BPF ns/req from a following {STATS_SECONDS} s run with it on. "
        f"Medians over rounds; × untraced is the median of per-round ratios; spread is half the "
        f"min–max range of req/s over the median; tracer CPU is utime+stime over one {SECONDS:g} s run.",
    ]
    if foreign_runs:
        parts.append(f"**Other BPF tracers were loaded during {foreign_runs} of {len(RUNS)} runs** "
                     f"({', '.join(foreign[:12])}{', ...' if len(foreign) > 12 else ''}): "
                     "they slow every arm, the untraced one included.")
    for workload, title in (("keepalive", "nginx, keep-alive"),
                            ("close", "nginx, a new connection per request (Connection: close)")):
        if any(r["workload"] == workload for r in RUNS):
            parts += ["", f"## {title}", "", nginx_table(workload)]
    parts += ["", "seen/sent: wssnoop: heads sampled / (requests + answers); tcpdump: TCP segments with "
              "payload in the file / (requests + answers); bpftrace: recvfrom/writev lines printed / "
              "(requests + answers); bare capture: ring records / (requests + answers). lost: ring buffer "
              "full (wssnoop, bare capture), dropped by kernel (tcpdump), \"Lost N events\" (bpftrace), "
              "summed over rounds."]
    for text in (reference_text(), floor_text()):
        if text:
            parts += ["", text]
    if any(r["workload"] == "websocket" for r in RUNS):
        parts += ["", f"## WebSocket handshakes at {WS_RATE}/s (wspeer load, {WS_SECONDS:g} s, new connection each; "
                  "6 of 10 upgraded, 4 rejected)", "", websocket_table(),
                  "", "counts exact: wssnoop's summary has attempts, upgraded and rejected equal to what "
                  "wspeer load sent and got, and events_lost 0. exit s: time from SIGINT to exit."]
    if any(r["workload"] == "echo" for r in RUNS):
        parts += ["", "## WebSocket echo (lifetime tracking)", "",
                  f"wspeer echo: {ECHO_CONNS} upgraded connections, each with one {ECHO_SIZE}-byte text "
                  f"frame in flight (closed loop, {ECHO_SECONDS:g} s, client on CPU {CLIENT_CPU}), echoed by "
                  f"wspeer's server on CPU {SERVER_CPU}, then a Close 1000 each; messages/s, latency and CPU "
                  f"from that run with kernel.bpf_stats_enabled=0, BPF ns/message from a following "
                  f"{STATS_SECONDS} s run with it on.", "", echo_table(), "",
                  "× --no-lifetime: messages/s over the --no-lifetime arm's, median of per-round ratios. "
                  "counts exact: every connection of both runs upgraded, nothing lost, and (lifetime on) "
                  "one closed lifetime record per connection with close_code 1000 and frames_in = "
                  "frames_out = messages + 1 (the Close) exactly, or (--no-lifetime) no lifetime record."]
        cost = lifetime_cost_text()
        if cost:
            parts += ["", cost]
        if any(r["workload"] == "echo" and r.get("bpf_per_prog") for r in RUNS):
            parts += ["", "## BPF programs, WebSocket echo (runs/req: per message)", "",
                      per_program_table("echo", ("wssnoop-port", "wssnoop-nolife"))]
    if any(r["workload"] == "keepalive" and r.get("bpf_per_prog") for r in RUNS):
        parts += ["", "## BPF programs, nginx keep-alive", "", per_program_table("keepalive")]
    if any(r["workload"] == "syscall_cost" for r in RUNS):
        parts += ["", "## Cost of an unrelated socket read (ns per call, loopback TCP, unwatched port)", "",
                  syscall_table()]
    if any(r["workload"] == "capture_cost" for r in RUNS):
        parts += ["", "## Socket capture per segment (tests/bench/capture_cost.c: the attached programs run by "
                  "BPF_PROG_TEST_RUN on the keep-alive load's segments, warm caches, no other load)", "",
                  capture_cost_table()]
    if parse:
        heads = [k for k in parse if isinstance(parse[k], list)]
        parts += ["", f"## User-space parse+judge (ns per head, {parse['heads']} real heads, "
                  f"mean {parse['mean_request_bytes']:.0f} bytes)", "",
                  table(["head", "request: no-attempt test, then classify+parse+judge", "answer: parse+judge (SHA-1 for a 101)"],
                        [[h, f"{parse[h][0]:.0f}", f"{parse[h][1]:.0f}"] for h in heads]
                        + [["**mean**", f"{parse['request_ns']:.0f}", f"{parse['answer_ns']:.0f}"]])]
        if "request_insns" in parse:
            parts += ["", f"Instructions (callgrind, the mean over the same heads, the same on any machine): "
                      f"{parse['request_insns']:.0f} per request head, {parse['answer_insns']:.0f} per answer; "
                      f"{parse['request_insns'] / parse['request_ns']:.1f} instructions per ns on the request "
                      f"heads here."]
    path = next((r for r in RUNS if r["workload"] == "event_path"), None)
    if path:
        rows = [[k, f"{v[0]:.0f}", f"{v[1]:.0f}"] for k, v in path.items() if isinstance(v, list)]
        parts += ["", "## User-space event path (tests/bench/event_path.c: ring records replayed through the "
                  "tracker and the report, output to /dev/null)", "",
                  table(["scenario", "ns per record", "ns per request (or handshake)"], rows)]
        if path.get("insns"):
            parts += ["", "Instructions per record (callgrind, the same on any machine): "
                      + ", ".join(f"{v:.0f} for {k}" for k, v in path["insns"].items()) + "."]
    parts += ["", "## Targets", "", table(["target", "measured", ""], targets_rows(parse)), ""]
    return "\n".join(parts)


def main():
    os.makedirs(WORK, exist_ok=True)
    open(os.path.join(OUT, "runs.jsonl"), "w").close()
    started = datetime.datetime.now()
    for port in (PORT, OTHER_PORT, WS_PORT):
        if not port_free(port):
            sys.exit(f"bench: port {port} is in use; set BENCH_PORT to a free range")
    unknown = [a for a in ARMS if a not in ALL_ARMS + OPTIONAL_ARMS]
    if unknown:
        sys.exit(f"bench: unknown arm(s) {unknown}; known: {', '.join(ALL_ARMS + OPTIONAL_ARMS)}")
    load_before = open("/proc/loadavg").read().split()[0]
    stats_before = open("/proc/sys/kernel/bpf_stats_enabled").read().strip()
    set_bpf_stats(False)
    nginx = Nginx()
    parse = None
    try:
        nginx_wl = [w for w in ("keepalive", "close") if w in WORKLOADS]
        if nginx_wl:
            nginx.start()
            log(f"nginx worker {nginx.worker} on CPU {SERVER_CPU}; warming up")
            for workload in nginx_wl:
                run_wrk(workload, 2)
            for round_no in range(1, ROUNDS + 1):
                for arm in rotated(NGINX_ARMS, round_no):
                    for workload in nginx_wl:
                        if arm in KEEPALIVE_ONLY_ARMS and workload != "keepalive":
                            continue
                        nginx_run(nginx, arm, workload, round_no)
            nginx.stop()
        if "websocket" in WORKLOADS and WS_ARMS:
            for round_no in range(1, ROUNDS + 1):
                for arm in rotated(WS_ARMS, round_no):
                    websocket_run(arm, round_no)
        if "echo" in WORKLOADS and ECHO_ARMS:
            for round_no in range(1, ROUNDS + 1):
                for arm in rotated(ECHO_ARMS, round_no):
                    echo_run(arm, round_no)
        if "micro" in WORKLOADS:
            for round_no in range(1, ROUNDS + 1):
                for arm in rotated(MICRO_ARMS, round_no):
                    micro_run(arm, round_no)
                capture_cost_run(round_no)
            out = run(["taskset", "-c", str(SERVER_CPU), os.path.join(OUT, "parse_judge")])
            print(out.rsplit("\n", 2)[0], file=sys.stderr)
            parse = json.loads(out.strip().splitlines()[-1])
            parse.update(parse_instructions(parse))
            record({"workload": "parse_judge", "arm": "none", "round": 1, **parse})
            out = run(["taskset", "-c", str(SERVER_CPU), os.path.join(OUT, "event_path")])
            print(out.rsplit("\n", 2)[0], file=sys.stderr)
            record({"workload": "event_path", "arm": "none", "round": 1,
                    **json.loads(out.strip().splitlines()[-1]), "insns": event_path_instructions()})
    finally:
        for tracer in list(LIVE):
            tracer.proc.kill()
            tracer.proc.wait()
        nginx.stop()
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write(stats_before)
    load_after = open("/proc/loadavg").read().split()[0]
    text = report(started, parse, load_before, load_after)
    text += f"\nRun time: {(datetime.datetime.now() - started).total_seconds() / 60:.1f} min.\n"
    with open(os.path.join(OUT, "results.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
