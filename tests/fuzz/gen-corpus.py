#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Regenerate the fuzz targets' seed corpus (tests/fuzz/corpus/{judge,events}).

The heads are the byte samples of /work/shared/HANDSHAKE.md and the answers
measured there (Python websockets 10.4, Tomcat 10.1), plus browser handshakes
and a few of the odd heads the judge has rules and hints for. Run from the
repository root: tests/fuzz/gen-corpus.py (it rewrites both folders).

Input formats (see the targets' headers):
  judge:  2 knob bytes, the request, then optionally "\\n--answer--\\n" and the answer.
  events: 4 setting bytes, then records: op, flags, seq offset, len, time, owner,
          and len payload bytes.
"""
import base64
import hashlib
import os
import shutil
import struct
import sys

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
ANSWER_SEP = b"\n--answer--\n"


def accept(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def head(*lines: str, eol: bytes = b"\r\n") -> bytes:
    return eol.join(line.encode("latin-1") for line in lines) + eol + eol


KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
CURL_KEY = b"SGVsbG8sIHdvcmxkIQ=="

REQUESTS = {
    # HANDSHAKE.md: curl --http1.1 through nginx with no WebSocket settings.
    "nginx-http10": head(
        "GET /websocket/server/s1/websocket HTTP/1.0", "Host: 127.0.0.1:18770",
        "Connection: close", "User-Agent: curl/7.88.1", "Accept: */*",
        "Sec-WebSocket-Key: SGVsbG8sIHdvcmxkIQ==", "Sec-WebSocket-Version: 13"),
    # HANDSHAKE.md: curl over TLS, HTTP/2, through nginx with the WebSocket settings.
    "http2-via-nginx": head(
        "GET /websocket/server/s2/websocket HTTP/1.1", "Connection: close",
        "Host: 127.0.0.1:18770", "user-agent: curl/7.88.1", "accept: */*",
        "sec-websocket-key: SGVsbG8sIHdvcmxkIQ==", "sec-websocket-version: 13"),
    # HANDSHAKE.md: curl --http1.1 over TLS through the same nginx.
    "good-curl": head(
        "GET /websocket/server/s3/websocket HTTP/1.1", "Upgrade: websocket",
        "Connection: upgrade", "Host: 127.0.0.1:18770", "User-Agent: curl/7.88.1",
        "Accept: */*", "Sec-WebSocket-Key: SGVsbG8sIHdvcmxkIQ==", "Sec-WebSocket-Version: 13"),
    "chrome": head(
        "GET /ws/chat?room=5&token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl HTTP/1.1",
        "Host: app.example.com", "Connection: Upgrade", "Pragma: no-cache",
        "Cache-Control: no-cache",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        "Upgrade: websocket", "Origin: https://app.example.com", "Sec-WebSocket-Version: 13",
        "Accept-Encoding: gzip, deflate, br", "Accept-Language: en-US,en;q=0.9",
        "Cookie: SESSION=YzFhM2U0; theme=dark", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"),
    "firefox": head(
        "GET /graphql HTTP/1.1", "Host: localhost:8080",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0",
        "Accept: */*", "Accept-Language: en-US,en;q=0.5", "Accept-Encoding: gzip, deflate",
        "Sec-WebSocket-Version: 13", "Origin: http://localhost:3000",
        "Sec-WebSocket-Protocol: graphql-transport-ws",
        "Sec-WebSocket-Extensions: permessage-deflate",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Connection: keep-alive, Upgrade",
        "Sec-Fetch-Dest: empty", "Sec-Fetch-Mode: websocket", "Sec-Fetch-Site: same-site",
        "Pragma: no-cache", "Cache-Control: no-cache", "Upgrade: websocket"),
    "socketio": head(
        "GET /socket.io/?EIO=4&transport=websocket&sid=Lbo5JLzTotvW3g2LAAAA HTTP/1.1",
        "Host: chat.example.com", "Connection: Upgrade", "Upgrade: websocket",
        "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
        "X-Forwarded-For: 203.0.113.7", "X-Forwarded-Proto: https",
        "X-Amzn-Trace-Id: Root=1-65a1b2c3-0123456789abcdef01234567"),
    "health-check": head(
        "GET /ws HTTP/1.1", "Host: 10.0.1.5:8080", "Connection: close",
        "User-Agent: ELB-HealthChecker/2.0", "Accept-Encoding: gzip, compressed"),
    "h2c-upgrade": head(
        "GET /ws HTTP/1.1", "Host: a", "Connection: Upgrade, HTTP2-Settings",
        "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"),
    "connection-case": head(
        "GET /ws HTTP/1.1", "Host: a", "Connection: UPGRADE", "Upgrade: WebSocket",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 8",
        "Sec-WebSocket-Protocol: v12.stomp, wamp.2.json", "Via: 1.1 squid (squid/5.7)"),
    "stripped-lf-only": head(
        "POST /websocket HTTP/1.1", "Host: a", "Connection: keep-alive",
        "Sec-WebSocket-Key: short==", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13", "X-Api-Key: 0123456789abcdef0123456789abcdef",
        " folded continuation", eol=b"\n"),
    # After a body on a persistent connection: an empty line first (RFC 9112 2.2).
    "leading-empty-line": b"\r\n" + head(
        "GET /ws HTTP/1.1", "Host: a", "Upgrade: websocket", "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 7"),
    "absolute-form": head(
        "GET http://user:hunter2@backend:8080/ws/live?access_token=abc#id_token=x HTTP/1.1",
        "Host: backend:8080", "Upgrade: websocket", "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
        "Proxy-Authorization: Basic dXNlcjpodW50ZXIy",
        "Set-Cookie: sid=31d4d96e407aad42; Path=/; Secure; HttpOnly"),
}

# A TLS 1.2 ClientHello record (cipher list and extensions cut short: the
# classifier only needs the record header, the rest is for the escapers).
CLIENT_HELLO = bytes.fromhex(
    "160301007a0100007603035e4b8c1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5"
    "00001cc02bc02fc02cc030cca9cca8c013c014009c009d002f0035000a01000031"
    "0000000e000c0000096c6f63616c686f7374000b000403000102000a000a0008001d00170018"
    "0019000d0004000204010010000e000c02683208687474702f312e31")
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes.fromhex("000012040000000000000300000064000400a00000")

DATE = "Date: Tue, 14 Jan 2025 15:26:07 GMT"
PY_SERVER = "Server: Python/3.11 websockets/10.4"
PY_BODY = ("Failed to open a WebSocket connection: missing Connection header.\n\n"
           "You cannot access a WebSocket server directly with a browser. "
           "You need a WebSocket client.\n")

ANSWERS = {
    "python-101": head("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket",
                       "Connection: Upgrade", "Sec-WebSocket-Accept: " + accept(KEY).decode(),
                       DATE, PY_SERVER),
    "python-101-curl": head("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket",
                            "Connection: Upgrade",
                            "Sec-WebSocket-Accept: " + accept(CURL_KEY).decode(), DATE, PY_SERVER),
    "python-426": head("HTTP/1.1 426 Upgrade Required", DATE, PY_SERVER, "Upgrade: websocket",
                       "Content-Length: %d" % len(PY_BODY), "Content-Type: text/plain",
                       "Connection: close") + PY_BODY.encode(),
    "python-400": head("HTTP/1.1 400 Bad Request", DATE, PY_SERVER,
                       "Content-Length: %d" % len(PY_BODY), "Content-Type: text/plain",
                       "Connection: close") + PY_BODY.encode(),
    "tomcat-101": head("HTTP/1.1 101 ", "Upgrade: websocket", "Connection: upgrade",
                       "Sec-WebSocket-Accept: " + accept(KEY).decode(), DATE),
    "tomcat-101-wrong-accept": head("HTTP/1.1 101 ", "Upgrade: websocket", "Connection: upgrade",
                                    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kuzxzWo2XZ5xOo=", DATE),
    "tomcat-400": head("HTTP/1.1 400 ", "Content-Type: text/html;charset=utf-8",
                       "Content-Language: en", "Content-Length: 0", DATE, "Connection: close"),
    "tomcat-404": head("HTTP/1.1 404 ", "Content-Type: text/html;charset=utf-8",
                       "Content-Language: en", "Content-Length: 682", DATE)
    + b"<!doctype html><html lang=\"en\"><head><title>HTTP Status 404",
    "tomcat-426": head("HTTP/1.1 426 ", "Sec-WebSocket-Version: 13", "Content-Length: 0", DATE),
    "continue-then-101": head("HTTP/1.1 100 Continue")
    + head("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket"),
}

# Which answer each request met on the project's machines (HANDSHAKE.md).
JUDGE_PAIRS = [
    ("nginx-http10", "python-400"), ("nginx-http10", "tomcat-404"),
    ("http2-via-nginx", "python-426"), ("http2-via-nginx", "tomcat-404"),
    ("good-curl", "python-101-curl"), ("chrome", "python-101"), ("chrome", "tomcat-101"),
    ("firefox", "tomcat-101"), ("firefox", "tomcat-101-wrong-accept"),
    ("socketio", "python-101"), ("health-check", "python-426"), ("h2c-upgrade", "python-426"),
    ("connection-case", "tomcat-426"), ("stripped-lf-only", "tomcat-400"),
    ("absolute-form", "continue-then-101"),
]


def judge_corpus():
    files = {}
    for name, req in REQUESTS.items():
        files["req-" + name] = b"\x00\x11" + req
    files["tls-client-hello"] = b"\x00\x22" + CLIENT_HELLO + ANSWER_SEP + ANSWERS["python-400"]
    files["h2-preface"] = b"\x00\x33" + H2_PREFACE + ANSWER_SEP + ANSWERS["python-400"]
    for i, (req, ans) in enumerate(JUDGE_PAIRS):
        knobs = bytes([(i * 37) & 0xfe | (i == 3), (i * 91) & 0xff])
        files["pair-%s-%s" % (req, ans)] = knobs + REQUESTS[req] + ANSWER_SEP + ANSWERS[ans]
    # A cut sample: the "truncated" knob and a head without its end.
    files["cut-chrome"] = b"\x01\x05" + REQUESTS["chrome"][:200]
    return files


# ---- events -------------------------------------------------------------------
F_HEAD_START, F_FIRST, F_CONT, F_CUT, F_FIN, F_LIFETIME = 1, 2, 4, 8, 16, 128
OP_DATA, OP_DATA_STATUS, OP_OWNER, OP_CLOSE, OP_TICK = 0, 3, 4, 5, 6
IN, OUT = 0, 1


def rec(op, cookie, direction=IN, flags=0, seq=0, payload=b"", time=1, owner=0):
    assert len(payload) <= 255 and -128 <= seq <= 127
    return struct.pack("6B", op | (direction << 3) | (cookie << 4), flags, seq & 0xff,
                       len(payload), time, owner) + payload


def segments(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)]


def send(cookie, direction, data, first=True, size=200, owner=0):
    """A head in order, in segments of size bytes, as the kernel samples it."""
    out = b""
    for i, seg in enumerate(segments(data, size)):
        flags = (F_HEAD_START | (F_FIRST if first else 0)) if i == 0 else F_CONT
        out += rec(OP_DATA, cookie, direction, flags, 0, seg, owner=owner if i == 0 else 0)
    return out


def lifetime(upgraded, last_in, last_out, first_close, close_in=0, close_out=0, code=(0, 0),
             closer=1, rst=0, pings=(0, 0)):
    """A struct ws_lifetime (bpf/wssnoop.h) as the kernel sends it with a FIN or RST."""
    ms = 1000000
    life = struct.pack("<12Q8I2H2B3x", upgraded, last_in, last_out, 4096, 1024, first_close,
                       close_in, close_out, last_in, last_out, last_in // 2, 0,
                       12, 7, pings[0], pings[1], 0, 1, 0, 0, code[0], code[1], closer, rst)
    life += bytes(144 - len(life))
    assert len(life) == 144
    return life


def settings(request_budget=4, answer_budget=2, max_conns=3, timeout=2, verbose=1, json_flags=0):
    return bytes([request_budget + 6 * answer_budget, max_conns | (timeout << 2) | 0x20,
                  verbose | json_flags, 1])


def events_corpus():
    files = {}
    pairs = [("nginx-http10", "python-400"), ("http2-via-nginx", "python-426"),
             ("good-curl", "python-101-curl"), ("chrome", "tomcat-101"),
             ("firefox", "python-101"), ("socketio", "tomcat-101-wrong-accept"),
             ("health-check", "tomcat-404"), ("connection-case", "tomcat-426")]
    for i, (req, ans) in enumerate(pairs):
        cookie = 1 + i
        body = (send(cookie, IN, REQUESTS[req], owner=(1 << 3) | 1)
                + send(cookie, OUT, ANSWERS[ans], owner=(2 << 3) | 2)
                + rec(OP_CLOSE, cookie, time=5))
        files["ev-%s-%s" % (req, ans)] = settings(verbose=i % 3, json_flags=(i & 1) << 4) + body

    # An upgraded connection closed by an idle timeout (61 s quiet, no Close
    # frame), and one closed with Close 1000 from the client.
    ms, t0 = 1000000, 1000000000
    files["ev-lifetime-idle"] = settings(max_conns=1) + (
        send(10, IN, REQUESTS["chrome"]) + send(10, OUT, ANSWERS["tomcat-101"])
        + rec(OP_DATA, 10, OUT, F_LIFETIME | F_FIN, 0,
              lifetime(t0 + 3 * ms, t0 + 3 * ms, t0 + 4 * ms, t0 + 65000 * ms, pings=(2, 0)),
              time=0xff)
        + rec(OP_CLOSE, 10))
    files["ev-lifetime-close"] = settings() + (
        send(11, IN, REQUESTS["good-curl"]) + send(11, OUT, ANSWERS["python-101-curl"])
        + rec(OP_DATA, 11, IN, F_LIFETIME | F_FIN, 0,
              lifetime(t0 + 3 * ms, t0 + 9 * ms, t0 + 8 * ms, t0 + 10 * ms, close_in=t0 + 9 * ms,
                       code=(1000, 0), closer=0))
        + send(12, IN, REQUESTS["socketio"]) + send(12, OUT, ANSWERS["python-101"]))

    # First bytes that are not HTTP/1.x: judged as one exchange each.
    files["ev-tls"] = settings() + send(3, IN, CLIENT_HELLO[:120]) + \
        send(3, OUT, ANSWERS["python-400"]) + rec(OP_CLOSE, 3)
    files["ev-h2-preface"] = settings() + send(2, IN, H2_PREFACE) + rec(OP_CLOSE, 2, time=40)

    # A head in small pieces, out of order, one retransmitted.
    req = REQUESTS["good-curl"]
    a, b, c = req[:-100], req[-100:-50], req[-50:]
    files["ev-reordered"] = settings() + (
        rec(OP_DATA, 5, IN, F_HEAD_START | F_FIRST, 0, a)
        + rec(OP_DATA, 5, IN, F_CONT, 50, c)    # third piece first
        + rec(OP_DATA, 5, IN, F_CONT, -100, b)  # then the second
        + rec(OP_DATA, 5, IN, F_CONT, -50, b)   # and the second again
        + send(5, OUT, ANSWERS["python-101-curl"]) + rec(OP_CLOSE, 5))

    # Keep-alive: two requests, then both answers; the second times out.
    r1, r2 = REQUESTS["health-check"], REQUESTS["chrome"]
    files["ev-keepalive-timeout"] = settings(timeout=1) + (
        send(6, IN, r1) + send(6, OUT, ANSWERS["python-426"])
        + send(6, IN, r2, first=False) + rec(OP_TICK, 6, time=0x3f)
        + send(6, OUT, ANSWERS["tomcat-101"], first=False))

    # Pipelined in one segment, owner learned later, a cut sample, small budget.
    files["ev-pipelined"] = settings() + (
        send(7, IN, REQUESTS["h2c-upgrade"] + REQUESTS["health-check"][:120], size=255)
        + rec(OP_OWNER, 7, owner=(3 << 3) | 1)
        + send(7, OUT, ANSWERS["continue-then-101"]) + rec(OP_CLOSE, 7))
    files["ev-cut-budget"] = settings(request_budget=1, max_conns=0) + (
        send(8, IN, REQUESTS["firefox"], size=90) + send(9, IN, REQUESTS["socketio"], size=255)
        + send(8, OUT, ANSWERS["python-101"]))

    # A busy port's keep-alive pages (no attempts: nothing kept of them),
    # answered with status-line samples, and attempts between them: one
    # after a page, one pipelined behind a page with both answers in one
    # window, one behind an interim answer.
    page = b"GET /index.html HTTP/1.1\r\nHost: shop.example\r\n\r\n"
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    status_only = lambda data: rec(OP_DATA_STATUS, 13, OUT, F_HEAD_START, 0, data)
    files["ev-pages-then-attempts"] = settings(answer_budget=2) + (
        send(13, IN, page) + status_only(ok + b"<" * 80)
        + send(13, IN, REQUESTS["chrome"], first=False) + status_only(ANSWERS["tomcat-404"][:200])
        + send(13, IN, page + REQUESTS["good-curl"][:180], first=False, size=255)
        + status_only(ok + ANSWERS["python-400"][:150])
        + send(13, IN, page, first=False)
        + status_only(b"HTTP/1.1 100 Continue\r\n\r\n" + ok)
        + rec(OP_CLOSE, 13))
    # A page's answer whose head does not end in a window it does not fill:
    # it waits for the rest, which never comes, as any answer would.
    files["ev-page-answer-unended"] = settings(answer_budget=2) + (
        send(14, IN, page) + status_only(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Len")
        + rec(OP_CLOSE, 14))
    return files


def write(folder, files):
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for name, data in sorted(files.items()):
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    write(os.path.join(root, "judge"), judge_corpus())
    write(os.path.join(root, "events"), events_corpus())
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)
    count = sum(len(fs) for _, _, fs in os.walk(root))
    print("gen-corpus: %d files, %d bytes under %s" % (count, total, root), file=sys.stderr)


if __name__ == "__main__":
    main()
