"""Field-by-field checks of wssnoop's JSON handshake events."""
import datetime
import os

VERDICTS = {"upgraded", "rejected", "invalid", "no-response", "closed"}
RULES = {"method-not-get", "http-version", "host-missing", "upgrade-missing", "upgrade-not-websocket",
         "connection-no-upgrade", "key-missing", "key-malformed", "version-missing", "version-not-13",
         "http2-preface", "tls-on-plaintext", "not-http", "truncated", "accept-mismatch", "accept-missing"}
HINTS = {"proxy-http10", "upgrade-lost", "http2-client", "connection-hardcoded", "health-check",
         "no-websocket-client", "forwarded", "via", "aws-alb", "h2c-upgrade"}
OWNERS = {"sock-tracepoint", "egress", "syscall", "proc", "unknown"}
SYNTAX = {"lf-only", "bare-cr", "obs-fold", "no-colon", "nul", "bad-start-line", "space-in-name", "empty-name",
          "headers-dropped", "leading-empty-line"}
LOOPBACK = {"ipv4": "127.0.0.1", "ipv6": "::ffff:127.0.0.1"}


def hint_ids(ev):
    return [h["id"] for h in ev["hints"]]


def describe(ev):
    return (f"event {ev.get('verdict')} rules={ev.get('rules')} hints={hint_ids(ev) if 'hints' in ev else None} "
            f"status={ev.get('status')} pid={ev.get('pid')} comm={ev.get('comm')} rport={ev.get('rport')}")


def check_shape(ev):
    """Every field of a handshake event is there, with its type and vocabulary."""
    assert ev["type"] == "handshake"
    when = datetime.datetime.fromisoformat(ev["time"].replace("Z", "+00:00"))
    assert when.utcoffset() == datetime.timedelta(0), ev["time"]
    age = datetime.datetime.now(datetime.timezone.utc) - when
    assert datetime.timedelta(seconds=-5) < age < datetime.timedelta(minutes=10), ev["time"]
    assert ev["verdict"] in VERDICTS, ev
    assert isinstance(ev["rules"], list) and set(ev["rules"]) <= RULES, ev["rules"]
    for r in ev["reasons"]:
        assert set(r) >= {"rule", "text", "servers"} and r["rule"] in ev["rules"] and r["text"], r
    assert sorted(r["rule"] for r in ev["reasons"]) == sorted(ev["rules"]), ev["reasons"]
    for h in ev["hints"]:
        assert h["id"] in HINTS and h["text"], h
    for k in ("pid", "tid", "cgroup_id", "netns", "lport", "rport", "request_index"):
        assert isinstance(ev[k], int) and not isinstance(ev[k], bool), (k, ev[k])
    for k in ("comm", "thread"):
        assert isinstance(ev[k], str), (k, ev[k])
    assert ev["owner"] in OWNERS, ev["owner"]
    assert ev["container"] is None or isinstance(ev["container"], str)
    assert ev["family"] in ("ipv4", "ipv6")
    assert ev["status"] is None or isinstance(ev["status"], int)
    assert ev["status_line"] is None or isinstance(ev["status_line"], str)
    assert (ev["status"] is None) == (ev["status_line"] is None), (ev["status"], ev["status_line"])
    assert ev["latency_ms"] is None or (isinstance(ev["latency_ms"], (int, float)) and ev["latency_ms"] >= 0)
    assert isinstance(ev["truncated"], bool)
    assert isinstance(ev["syntax"], list) and set(ev["syntax"]) <= SYNTAX, ev["syntax"]
    assert ev["request_kind"] == "http-request" or ev["syntax"] == [], ev
    assert ev["accept_ok"] in (True, False, None)
    assert isinstance(ev["headers"], list)
    for pair in ev["headers"]:
        assert isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair), pair


def check_process(ev, backend, capture=None):
    """The event is attributed to the server process that owns the socket."""
    assert ev["pid"] == backend.pid, f"pid {ev['pid']} ({ev['comm']}), server is {backend.pid} ({backend.comm})"
    assert ev["comm"] == backend.comm, (ev["comm"], backend.comm)
    assert os.path.exists(f"/proc/{backend.pid}/task/{ev['tid']}"), f"tid {ev['tid']} is not a thread of {backend}"
    assert ev["netns"] == os.stat(f"/proc/{backend.pid}/ns/net").st_ino
    assert ev["cgroup_id"] > 0
    assert ev["owner"] != "unknown"
    if capture == "syscall":
        assert ev["owner"] in ("syscall", "proc"), ev["owner"]
    elif capture == "cgroup_skb":
        assert ev["owner"] in ("sock-tracepoint", "egress", "proc"), ev["owner"]


def check_addresses(ev, backend, client_port=None):
    assert ev["lport"] == backend.port
    assert ev["laddr"] == LOOPBACK[ev["family"]], (ev["family"], ev["laddr"])
    assert ev["raddr"] == LOOPBACK[ev["family"]], (ev["family"], ev["raddr"])
    if client_port is not None:
        assert ev["rport"] == client_port


def check_answer(ev, reply):
    """status and status_line are the server's actual answer (None: none)."""
    if reply is None or reply.status is None:
        assert ev["status"] is None and ev["status_line"] is None, describe(ev)
        # No answer, no latency (a close is not an answer).
        assert ev["latency_ms"] is None, f"latency_ms={ev['latency_ms']} without an answer: " + describe(ev)
        assert ev.get("answer_time") is None, f"answer_time={ev.get('answer_time')} without an answer"
        return
    assert ev["status"] == reply.status, describe(ev)
    # Tomcat's "HTTP/1.1 101 " has no reason phrase: allow the trailing blank to go.
    assert ev["status_line"].rstrip() == reply.status_line.rstrip(), (ev["status_line"], reply.status_line)
    assert ev["latency_ms"] is not None


def header(ev, name):
    for n, v in ev["headers"]:
        if n.lower() == name.lower():
            return v
    return None
