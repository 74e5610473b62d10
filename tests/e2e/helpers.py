"""Helpers for the end-to-end tests: processes, ports, raw HTTP, wssnoop.

Everything here is bounded in time: a process is started in its own session
so that its whole group can be killed, every socket has a timeout, and every
wait has a deadline.
"""
import base64
import datetime
import hashlib
import json
import os
import select
import re
import signal
import socket
import ssl
import subprocess
import threading
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
E2E_DIR = os.path.dirname(os.path.abspath(__file__))
SERVERS_DIR = os.path.join(E2E_DIR, "servers")
# WSSNOOP=/path/to/wssnoop tests another build.
WSSNOOP = os.environ.get("WSSNOOP") or os.path.join(REPO, "wssnoop")
PYTHON = "/usr/bin/python3"
NODE_ENV = {"NODE_PATH": "/usr/share/nodejs"}

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# RFC 6455's sample key: base64 of 16 bytes.
GOOD_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


def accept_for(key):
    return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


# --------------------------------------------------------------------------
# Processes


class Proc:
    """A child process in its own session, output to a log file.

    stop() kills the whole process group: first SIGTERM, then SIGKILL.
    """

    def __init__(self, name, argv, log_dir, env=None, cwd=None, stdout_pipe=False):
        self.name = name
        self.argv = argv
        self.log_path = os.path.join(log_dir, name + ".log")
        self._log = open(self.log_path, "wb")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout_pipe else self._log,
            stderr=self._log,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
        )
        self.pid = self.popen.pid

    def wait_line(self, text, timeout):
        """Wait until stdout (a pipe) prints a line containing text."""
        deadline = time.monotonic() + timeout
        out = self.popen.stdout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.popen.returncode}) before '{text}'; log:\n{self.log()}")
            ready, _, _ = select.select([out], [], [], 0.1)
            if ready:
                line = out.readline().decode(errors="replace")
                if text in line:
                    return
        raise TimeoutError(f"{self.name} did not print '{text}' in {timeout}s; log:\n{self.log()}")

    def alive(self):
        return self.popen.poll() is None

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-4000:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self, grace=5.0):
        if self.popen.poll() is None:
            _killpg(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        # Whatever is left in the group (children that ignored SIGTERM) dies now.
        _killpg(self.pid, signal.SIGKILL)
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            pass
        if self.popen.stdout:
            self.popen.stdout.close()
        self._log.close()


def _killpg(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def wait_port(port, timeout, proc=None, host="127.0.0.1"):
    """Wait until something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}); log:\n{proc.log()}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s" + (f"; log:\n{proc.log()}" if proc else ""))


def run(argv, timeout, env=None, check=False):
    """Run a short-lived client; its group is killed when it overruns."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=full_env, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate(timeout=5)
        raise TimeoutError(f"{argv[0]} overran {timeout}s: {err.decode(errors='replace')}")
    result = subprocess.CompletedProcess(argv, p.returncode, out, err)
    if check and p.returncode != 0:
        raise AssertionError(f"{argv} exited {p.returncode}: {err.decode(errors='replace')}")
    return result


def proc_comm(pid):
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


# --------------------------------------------------------------------------
# Raw HTTP over a socket, for precise control of the bytes


def handshake(path="/ws", host="127.0.0.1", method="GET", version="HTTP/1.1", key=GOOD_KEY,
              upgrade="websocket", connection="Upgrade", ws_version="13", extra=(), drop=()):
    """Bytes of a handshake request head. None (or a name in drop) leaves a header out."""
    headers = [("Host", host), ("Upgrade", upgrade), ("Connection", connection),
               ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", ws_version)]
    headers += list(extra)
    lines = [f"{method} {path} {version}"]
    lines += [f"{n}: {v}" for n, v in headers if v is not None and n not in drop]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Reply:
    def __init__(self, raw, closed):
        self.raw = raw
        self.closed = closed  # the server closed the connection
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status_line = lines[0] if raw else None
        self.status = None
        if self.status_line and self.status_line.startswith("HTTP/"):
            parts = self.status_line.split(" ", 2)
            self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        self.headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                self.headers.append((name.strip(), value.strip()))

    def header(self, name):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return f"Reply({self.status_line!r}, closed={self.closed})"


class RawConn:
    """One client TCP connection with TCP_NODELAY; bytes in, answers out."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0):
        self.opened = time.time()
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.lport = self.sock.getsockname()[1]
        self.timeout = timeout
        self._buf = b""

    def send(self, data, pieces=None, pause=0.05):
        """Send data whole, or cut at the offsets in pieces with a pause between
        the writes, so that each piece leaves as its own TCP segment."""
        if not pieces:
            self.sock.sendall(data)
            return
        start = 0
        for cut in list(pieces) + [len(data)]:
            self.sock.sendall(data[start:cut])
            start = cut
            time.sleep(pause)

    def read_reply(self, timeout=None):
        """Read one answer head (and its Content-Length body). Returns a Reply
        (empty raw if the server closed or said nothing within timeout)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        closed = False
        while b"\r\n\r\n" not in self._buf:
            chunk = self._recv(deadline)
            if chunk is None:
                break
            if chunk == b"":
                closed = True
                break
            self._buf += chunk
        head, sep, rest = self._buf.partition(b"\r\n\r\n")
        if not sep:
            raw, self._buf = self._buf, b""
            return Reply(raw, closed)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(rest) < length and not closed:
            chunk = self._recv(deadline)
            if not chunk:
                closed = chunk == b""
                break
            rest += chunk
        raw = head + sep + rest[:length]
        self._buf = rest[length:]
        if not closed and b"connection: close" in head.lower():
            # The server said it would close; wait briefly for the FIN.
            closed = self._recv(time.monotonic() + 1.0) == b""
        return Reply(raw, closed)

    def _recv(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        self.sock.settimeout(remaining)
        try:
            return self.sock.recv(65536)
        except socket.timeout:
            return None
        except ConnectionResetError:
            return b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def exchange(port, data, pieces=None, pause=0.05, timeout=5.0):
    """Send one request head on a new connection and read the answer."""
    with RawConn(port, timeout=timeout) as conn:
        conn.send(data, pieces, pause)
        reply = conn.read_reply()
        reply.lport, reply.opened = conn.lport, conn.opened
        return reply


def event_seconds(stamp):
    """Seconds since the epoch of an event's ISO 8601 UTC time stamp."""
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def of_client(port, opened, slack=1.0):
    """A predicate for the events of the client connection from port opened at
    time.time() opened. The port alone does not name one connection: on
    loopback the kernel hands the same ephemeral port to another connection to
    the same server within seconds, so an event must also be of a request made
    after the connection was opened (slack covers the two clocks' conversions)."""
    since = opened - slack
    return lambda e: e["rport"] == port and event_seconds(e["request_time"]) >= since


def tls_client_hello():
    """The bytes of a real TLS ClientHello (what a TLS client sends first)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


# HTTP/2 connection preface followed by an empty SETTINGS frame.
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


# --------------------------------------------------------------------------
# curl


def curl_ws(url, http="1.1", key=GOOD_KEY, max_time=2, extra=()):
    """curl with handshake headers. http='1.1' forces HTTP/1.1; http=None lets
    curl choose (HTTP/2 over TLS). Returns the CompletedProcess; stdout holds
    the answer heads (-i), and exit code 28 is normal after a 101."""
    argv = ["curl", "-sS", "-i", "-k", "--max-time", str(max_time), "--connect-timeout", "3"]
    if http == "1.1":
        argv.append("--http1.1")
    argv += ["-H", "Connection: Upgrade", "-H", "Upgrade: websocket", "-H", f"Sec-WebSocket-Key: {key}",
             "-H", "Sec-WebSocket-Version: 13"]
    argv += list(extra)
    argv.append(url)
    return run(argv, timeout=max_time + 5)


def curl_status(completed):
    """Status code of the first answer curl printed with -i (None if none)."""
    text = completed.stdout.decode("latin-1")
    for line in text.split("\r\n"):
        if line.startswith("HTTP/"):
            parts = line.split()
            return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    return None


# --------------------------------------------------------------------------
# Clients in the real WebSocket libraries


def python_ws_client(url, timeout=5.0, with_port=False):
    """Python websockets client (the Debian 10.4 package): connect, echo, close.
    Returns the echoed message (and the client's local port if with_port)."""
    import asyncio

    import websockets

    async def go():
        async with websockets.connect(url, open_timeout=timeout, close_timeout=1) as ws:
            port = ws.local_address[1]
            await ws.send("hello from python")
            return await asyncio.wait_for(ws.recv(), timeout), port

    message, port = asyncio.run(asyncio.wait_for(go(), timeout + 2))
    return (message, port) if with_port else message


def node_ws_client(url, timeout=8.0):
    """Node ws client (Debian node-ws). Returns the CompletedProcess, with
    .port the client's local port (None if it never connected) and .echo the
    echoed text."""
    done = run(["node", os.path.join(SERVERS_DIR, "node_ws_client.js"), url], timeout=timeout, env=NODE_ENV)
    done.port = done.echo = None
    for line in done.stdout.decode().splitlines():
        if line.startswith("port:"):
            done.port = int(line[5:])
        elif line.startswith("echo:"):
            done.echo = line[5:]
    return done


# --------------------------------------------------------------------------
# wssnoop


WSPEER = os.path.join(REPO, "build", "wspeer")


def start_wspeer(workdir, name, prefix=()):
    """build/wspeer server on a free port, under prefix (taskset, ...) if
    given; returns (Proc, port)."""
    port = free_port()
    proc = Proc(name, list(prefix) + [WSPEER, "server", str(port)], workdir)
    try:
        wait_port(port, 10, proc)
    except Exception:
        proc.stop()
        raise
    return proc, port


def run_load(port, rate, seconds, timeout=None, prefix=()):
    """wspeer load: a fixed mix (5/10 valid, 1/10 GET then valid on the same
    connection, 2/10 without Upgrade, 1/10 HTTP/1.0, 1/10 version 8), under
    prefix if given. Returns its JSON counts."""
    done = run(list(prefix) + [WSPEER, "load", "127.0.0.1", str(port), str(rate), str(seconds)],
               timeout=timeout or seconds + 30)
    line = done.stdout.decode().strip().splitlines()[-1]
    counts = json.loads(line)
    assert counts["errors"] == 0 and counts["wrong"] == 0, f"the load itself failed: {line}\n{done.stderr!r}"
    return counts


class WssnoopNotSupported(Exception):
    """wssnoop refused the options with exit code 2 (a usage error), or said
    that the capture asked for is not available in this build."""


class Wssnoop:
    """A running ./wssnoop. Collects stdout and stderr in threads.

    start() waits for the 'wssnoop: tracing' line; stop() sends SIGINT and
    waits for the exit, after which .events, .summary, .rc, .stdout and
    .stderr are set.
    """

    READY = "wssnoop: tracing"

    def __init__(self, args, log_dir, name="wssnoop"):
        self.args = [WSSNOOP] + list(args)
        self.json = "-j" in args or "--json" in args
        self.stdout_lines = []
        self.stderr_lines = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.log_dir = log_dir
        self.name = name
        self.rc = None
        self.popen = None

    def start(self, timeout=20.0):
        self.popen = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, start_new_session=True, cwd=REPO)
        self._threads = [threading.Thread(target=self._pump, args=(self.popen.stdout, self.stdout_lines), daemon=True),
                         threading.Thread(target=self._pump, args=(self.popen.stderr, self.stderr_lines), daemon=True)]
        for t in self._threads:
            t.start()
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                if any(self.READY in line for line in self.stderr_lines):
                    return self
                if self.popen.poll() is not None and all(not t.is_alive() for t in self._threads):
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(min(remaining, 0.1))
        # Not ready: collect what it said and report.
        self.kill()
        refused = "--capture" in self.stderr and ("not available" in self.stderr or "not implemented" in self.stderr)
        if self.rc == 2 or (self.rc == 1 and refused):
            raise WssnoopNotSupported(f"exit {self.rc}: {self.stderr}")
        raise RuntimeError(f"wssnoop did not start (rc={self.rc}): {' '.join(self.args)}\n"
                           f"stderr:\n{self.stderr}\nstdout:\n{self.stdout}")

    def _pump(self, stream, lines):
        for raw in iter(stream.readline, b""):
            with self._changed:
                lines.append(raw.decode("utf-8", errors="replace").rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def stdout(self):
        with self._lock:
            return "\n".join(self.stdout_lines)

    @property
    def stderr(self):
        with self._lock:
            return "\n".join(self.stderr_lines)

    def records(self):
        """Every JSON object printed so far on stdout (assertion error on non-JSON)."""
        out = []
        with self._lock:
            lines = list(self.stdout_lines)
        for line in lines:
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except ValueError as e:
                raise AssertionError(f"wssnoop -j printed a line that is not JSON ({e}): {line!r}")
        return out

    @property
    def events(self):
        return [r for r in self.records() if r.get("type") == "handshake"]

    def chosen(self, path):
        """What -v said at start about a kernel path: capture, attribution, staging."""
        m = re.search(rf"\b{path}=(\S+)", self.stderr)
        assert m, f"-v did not say which {path} was chosen:\n{self.stderr}"
        return m.group(1)

    @property
    def summary(self):
        found = [r for r in self.records() if r.get("type") == "summary"]
        return found[-1] if found else None

    def wait_events(self, count, timeout=5.0, predicate=None):
        """Wait, while wssnoop runs, until count events (matching predicate) were printed."""
        deadline = time.monotonic() + timeout
        while True:
            evs = [e for e in self.events if predicate is None or predicate(e)]
            if len(evs) >= count or time.monotonic() >= deadline:
                return evs
            if self.popen.poll() is not None and all(not t.is_alive() for t in self._threads):
                raise AssertionError(f"wssnoop exited ({self.popen.returncode}) while events were awaited; "
                                     f"stderr:\n{self.stderr[-2000:]}")
            with self._changed:
                self._changed.wait(0.05)

    def stop(self, timeout=15.0, settle=0.3):
        """SIGINT, then wait for the exit; SIGKILL (and fail) if it overruns."""
        if self.popen is None or self.rc is not None:
            return self
        time.sleep(settle)
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
        try:
            self.rc = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"wssnoop did not exit within {timeout}s of SIGINT; stderr:\n{self.stderr}")
        for t in self._threads:
            t.join(5)
        self._save_log()
        return self

    def kill(self):
        if self.popen is None:
            return
        _killpg(self.popen.pid, signal.SIGKILL)
        try:
            self.rc = self.popen.wait(5)
        except subprocess.TimeoutExpired:
            pass
        for t in getattr(self, "_threads", []):
            t.join(5)
        self._save_log()

    def _save_log(self):
        try:
            with open(os.path.join(self.log_dir, self.name + ".out"), "w") as f:
                f.write(f"$ {' '.join(self.args)}\nrc={self.rc}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}\n")
        except OSError:
            pass
