"""Fixtures for the end-to-end tests: real servers, nginx, and ./wssnoop.

Servers, nginx and Tomcat are started once per session on free loopback
ports, each in its own process group in a private temp dir, and stopped by
finalizers. wssnoop is started per test (fixture `wssnoop`), once per capture
backend (`cgroup_skb`, `syscall`). Every test call runs under an alarm
(default 60 s, `@pytest.mark.timeout(N)` to change), so none can hang.
"""
import os
import shutil
import signal
import tempfile
import time

import pytest

import helpers
from helpers import NODE_ENV, PYTHON, SERVERS_DIR, Proc, Wssnoop, WssnoopNotSupported, free_port, wait_port

DEFAULT_TIMEOUT = 60
CAPTURES = ["cgroup_skb", "syscall"]


def pytest_configure(config):
    config.addinivalue_line("markers", "timeout(seconds): per-test time limit (default %d s)" % DEFAULT_TIMEOUT)


# --------------------------------------------------------------------------
# Per-test time limit (SIGALRM in the main thread: the test fails, its
# fixtures' finalizers still run and kill what it started).


class TimeLimitExceeded(Exception):
    pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    marker = item.get_closest_marker("timeout")
    seconds = int(marker.args[0]) if marker else DEFAULT_TIMEOUT

    def expired(signum, frame):
        raise TimeLimitExceeded(f"test exceeded its {seconds}s limit")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --------------------------------------------------------------------------
# Session: work dir, root check


@pytest.fixture(scope="session")
def wspeer_bin():
    """build/wspeer, the static C test peer (built if missing)."""
    if not os.access(helpers.WSPEER, os.X_OK):
        helpers.run(["make", "-C", helpers.REPO, "--no-print-directory", "build/wspeer"], timeout=120, check=True)
    return helpers.WSPEER


@pytest.fixture(scope="session")
def workdir(request):
    path = tempfile.mkdtemp(prefix="wssnoop-e2e-")
    yield path
    if request.session.testsfailed or os.environ.get("WSSNOOP_E2E_KEEP"):
        print(f"\ne2e logs kept in {path}")
    else:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def require_root():
    if os.geteuid() != 0:
        pytest.exit("the e2e tests load BPF programs: run them as root", returncode=2)


class Backend:
    """A server under test: where it listens and which process owns its sockets."""

    def __init__(self, name, proc, port, ws_path, path_glob):
        self.name = name
        self.proc = proc
        self.port = port
        self.pid = proc.pid
        self.comm = helpers.proc_comm(proc.pid)
        self.ws_path = ws_path  # the WebSocket endpoint
        self.path_glob = path_glob  # --path glob that covers ws_path

    def url(self, scheme="ws", path=None):
        return f"{scheme}://127.0.0.1:{self.port}{path or self.ws_path}"

    def __repr__(self):
        return f"<{self.name} :{self.port} pid {self.pid}>"


@pytest.fixture(scope="session")
def ports():
    """Ports chosen up front, so nginx's config can name backends not yet started."""
    return {name: free_port() for name in ("py", "node", "tomcat", "close", "silent", "echo", "badaccept", "noaccept",
                                            "nginx_http", "nginx_tls")}


def _start_simple(name, argv, workdir, port, ws_path, glob, env=None):
    proc = Proc(name, argv, workdir, env=env, stdout_pipe=True)
    try:
        proc.wait_line("ready", timeout=20)
        wait_port(port, 10, proc)
    except Exception:
        proc.stop()
        raise
    return Backend(name, proc, port, ws_path, glob)


@pytest.fixture(scope="session")
def py_server(workdir, ports):
    b = _start_simple("py", [PYTHON, os.path.join(SERVERS_DIR, "py_ws_server.py"), str(ports["py"])], workdir,
                      ports["py"], "/ws", "/ws")
    yield b
    b.proc.stop()


@pytest.fixture(scope="session")
def node_server(workdir, ports):
    b = _start_simple("node", ["node", os.path.join(SERVERS_DIR, "node_ws_server.js"), str(ports["node"])], workdir,
                      ports["node"], "/ws", "/ws", env=NODE_ENV)
    yield b
    b.proc.stop()


def _raw_server(workdir, ports, mode):
    return _start_simple(mode, [PYTHON, os.path.join(SERVERS_DIR, "raw_server.py"), str(ports[mode]), mode],
                         workdir, ports[mode], "/ws", "/ws")


@pytest.fixture(scope="session")
def close_server(workdir, ports):
    """Reads the request, closes without answering."""
    b = _raw_server(workdir, ports, "close")
    yield b
    b.proc.stop()


@pytest.fixture(scope="session")
def silent_server(workdir, ports):
    """Reads the request, never answers."""
    b = _raw_server(workdir, ports, "silent")
    yield b
    b.proc.stop()


@pytest.fixture(scope="session")
def echo_server(workdir, ports):
    """Answers 200 with the request head it received (what a proxy forwarded)."""
    b = _raw_server(workdir, ports, "echo")
    yield b
    b.proc.stop()


@pytest.fixture(scope="session")
def badaccept_server(workdir, ports):
    """Answers 101 with a wrong Sec-WebSocket-Accept."""
    b = _raw_server(workdir, ports, "badaccept")
    yield b
    b.proc.stop()


@pytest.fixture(scope="session")
def noaccept_server(workdir, ports):
    """Answers 101 without Sec-WebSocket-Accept."""
    b = _raw_server(workdir, ports, "noaccept")
    yield b
    b.proc.stop()


TOMCAT_HOME = "/usr/share/tomcat10"
TOMCAT_EXAMPLES = "/usr/share/tomcat10-examples/examples"


@pytest.fixture(scope="session")
def tomcat_server(workdir, ports):
    """Tomcat 10 with the examples webapp in a private CATALINA_BASE."""
    base = os.path.join(workdir, "tomcat")
    for sub in ("conf", "logs", "temp", "work", "webapps"):
        os.makedirs(os.path.join(base, sub))
    for f in ("web.xml", "catalina.properties", "logging.properties", "context.xml"):
        src = os.path.join("/etc/tomcat10", f)
        if not os.path.exists(src):
            src = os.path.join(TOMCAT_HOME, "etc", f)
        shutil.copy(src, os.path.join(base, "conf", f))
    with open(os.path.join(SERVERS_DIR, "tomcat-server.xml.in")) as f:
        xml = f.read().replace("@PORT@", str(ports["tomcat"])).replace("@EXAMPLES@", TOMCAT_EXAMPLES)
    with open(os.path.join(base, "conf", "server.xml"), "w") as f:
        f.write(xml)
    env = {"CATALINA_BASE": base, "CATALINA_HOME": TOMCAT_HOME, "CATALINA_TMPDIR": os.path.join(base, "temp"),
           "JAVA_OPTS": "-Djava.security.egd=file:/dev/./urandom -Djava.awt.headless=true"}
    # `catalina.sh run` execs java: the pid we hold is the JVM's.
    proc = Proc("tomcat", [os.path.join(TOMCAT_HOME, "bin", "catalina.sh"), "run"], workdir, env=env)
    try:
        wait_port(ports["tomcat"], 60, proc)
        # The connector may accept before the examples context is deployed.
        deadline = time.monotonic() + 30
        while True:
            reply = helpers.exchange(ports["tomcat"], helpers.handshake(path="/examples/websocket/echoAnnotation"),
                                     timeout=5)
            if reply.status == 101 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert reply.status == 101, f"Tomcat examples not answering: {reply!r}\n{proc.log()}"
    except Exception:
        proc.stop()
        raise
    b = Backend("tomcat", proc, ports["tomcat"], "/examples/websocket/echoAnnotation", "/examples/websocket/**")
    yield b
    proc.stop(grace=10)




@pytest.fixture
def backend(request):
    """Parametrize with @pytest.mark.parametrize('backend', [...], indirect=True)."""
    return request.getfixturevalue(request.param + "_server")


@pytest.fixture(scope="session")
def nginx(workdir, ports):
    """nginx 1.22 in front of the backends: /nows/<name>/ without the WebSocket
    settings, /wsok/<name>/ with them; plaintext on .http_port, TLS + http2 on
    .tls_port (self-signed certificate made now)."""
    d = os.path.join(workdir, "nginx")
    os.makedirs(d)
    helpers.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", os.path.join(d, "key.pem"), "-out", os.path.join(d, "cert.pem"), "-days", "2",
                 "-subj", "/CN=localhost"], timeout=30, check=True)
    with open(os.path.join(SERVERS_DIR, "nginx-locations.conf.in")) as f:
        location_tpl = f.read()
    with open(os.path.join(d, "locations.conf"), "w") as f:
        for name in ("py", "node", "tomcat", "close", "silent", "echo"):
            f.write(location_tpl.replace("@NAME@", name).replace("@PORT@", str(ports[name])))
    with open(os.path.join(SERVERS_DIR, "nginx.conf.in")) as f:
        conf = (f.read().replace("@DIR@", d).replace("@HTTP_PORT@", str(ports["nginx_http"]))
                .replace("@TLS_PORT@", str(ports["nginx_tls"])))
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(conf)
    helpers.run(["nginx", "-t", "-q", "-p", d, "-c", os.path.join(d, "nginx.conf")], timeout=15, check=True)
    proc = Proc("nginx", ["nginx", "-p", d, "-c", os.path.join(d, "nginx.conf")], workdir)
    try:
        wait_port(ports["nginx_http"], 15, proc)
        wait_port(ports["nginx_tls"], 15, proc)
    except Exception:
        proc.stop()
        raise

    class Nginx:
        http_port = ports["nginx_http"]
        tls_port = ports["nginx_tls"]
        pid = proc.pid
        dir = d

        def url(self, scheme, mode, backend, path):
            port = self.tls_port if scheme in ("https", "wss") else self.http_port
            return f"{scheme}://127.0.0.1:{port}/{mode}/{backend.name}{path}"

    yield Nginx()
    # nginx's master stops its workers on SIGTERM (fast shutdown).
    proc.stop()


# --------------------------------------------------------------------------
# wssnoop


@pytest.fixture(scope="session")
def wssnoop_binary():
    if not os.access(helpers.WSSNOOP, os.X_OK):
        pytest.fail(f"{helpers.WSSNOOP} is missing: run `make` first", pytrace=False)
    return helpers.WSSNOOP


_unsupported = {}


@pytest.fixture(scope="session", params=CAPTURES)
def capture(request):
    """The capture backend wssnoop runs with; session-scoped so that pytest
    groups the tests by it."""
    return request.param


def launch_wssnoop(capture, workdir, name, targets, args=(), json=True, paths=None):
    """Start ./wssnoop -p <ports of targets> --path <their globs> [-j]
    --capture CAPTURE ARGS and wait until it traces. Skips the test when the
    capture is refused as not implemented yet (exit 2, or a message saying so)."""
    if capture in _unsupported:
        pytest.skip(_unsupported[capture])
    port_list, globs = [], []
    for t in targets:
        if isinstance(t, Backend):
            port_list.append(str(t.port))
            if t.path_glob not in globs:
                globs.append(t.path_glob)
        else:
            port_list.append(str(t))
    argv = ["-p", ",".join(port_list)]
    for g in (paths if paths is not None else globs):
        argv += ["--path", g]
    if json:
        argv.append("-j")
    argv += ["--capture", capture]
    argv += list(args)
    w = Wssnoop(argv, workdir, name=name.replace("/", "_"))
    try:
        w.start()
    except WssnoopNotSupported as e:
        if capture != "cgroup_skb":
            said = str(e).strip().splitlines()
            _unsupported[capture] = (f"wssnoop refuses --capture {capture} (not implemented yet)"
                                     + (": " + said[-1][:200] if said else ""))
            pytest.skip(_unsupported[capture])
        raise AssertionError(f"wssnoop refused {argv}: {e}")
    return w


@pytest.fixture
def wssnoop(request, capture, workdir, wssnoop_binary):
    """Factory: wssnoop(*backends_or_ports, args=[...], json=True, paths=None)
    starts one wssnoop for this test (see launch_wssnoop); whatever the test
    did not stop is stopped (SIGINT, then SIGKILL) at teardown."""
    started = []

    def start(*targets, **kw):
        w = launch_wssnoop(capture, workdir, f"wssnoop-{request.node.name}-{len(started)}", targets, **kw)
        started.append(w)
        return w

    yield start
    for w in started:
        if w.rc is None:
            try:
                w.stop(settle=0)
            except AssertionError:
                w.kill()
