"""The handshake cases the tests send, and what the real servers answer.

ANSWERS was measured on Debian 12's packages (python3-websockets 10.4,
node-ws 8.11, Tomcat 10.1 echo examples), each request on its own
connection; test_fixtures.py re-checks every entry against the running
servers so that the wssnoop tests assert what the real server does.
A status of None means the server closed the connection without answering.
"""
import helpers

BACKENDS = ["py", "node", "tomcat"]
H2C_SETTINGS = "AAMAAABkAARAAAAAAAIAAAAA"


def _case(**kw):
    return lambda path: helpers.handshake(path=path, **kw)


# name -> (request head builder taking the path, rules wssnoop must report)
CASES = {
    "valid": (_case(), []),
    "firefox": (_case(connection="keep-alive, Upgrade"), []),
    "no-upgrade": (_case(upgrade=None), ["upgrade-missing"]),
    "nginx-default": (_case(version="HTTP/1.0", connection="close", upgrade=None), ["http-version", "upgrade-missing"]),
    "version-8": (_case(ws_version="8"), ["version-not-13"]),
    "version-missing": (_case(ws_version=None), ["version-missing"]),
    "key-missing": (_case(key=None), ["key-missing"]),
    "key-short": (_case(key="SGVsbG8sIHdvcmxkIQ=="), ["key-malformed"]),
    "post": (_case(method="POST", extra=[("Content-Length", "0")]), ["method-not-get"]),
    "h2c": (_case(upgrade="h2c", connection="Upgrade, HTTP2-Settings", extra=[("HTTP2-Settings", H2C_SETTINGS)]),
            ["upgrade-not-websocket"]),
    "keep-alive-only": (_case(connection="keep-alive"), ["connection-no-upgrade"]),
    "host-missing": (_case(host=None), ["host-missing"]),
}

# name -> {backend: status line's code, or None (closed without answering)}
ANSWERS = {
    "valid": {"py": 101, "node": 101, "tomcat": 101},
    "firefox": {"py": 101, "node": 101, "tomcat": 101},
    "no-upgrade": {"py": 426, "node": 426, "tomcat": 404},
    "nginx-default": {"py": 400, "node": 426, "tomcat": 404},
    "version-8": {"py": 400, "node": 101, "tomcat": 426},  # ws still speaks hybi-08
    "version-missing": {"py": 400, "node": 400, "tomcat": 426},
    "key-missing": {"py": 400, "node": 400, "tomcat": 400},
    "key-short": {"py": 400, "node": 400, "tomcat": 400},
    "post": {"py": 400, "node": 405, "tomcat": 404},
    "h2c": {"py": 426, "node": 400, "tomcat": 404},
    "keep-alive-only": {"py": 426, "node": 426, "tomcat": 400},
    "host-missing": {"py": 101, "node": 101, "tomcat": 400},  # only Tomcat insists on Host
}

# Bytes that are not HTTP/1.x at all: name -> (bytes, rule, {backend: status})
GARBAGE = {
    "tls-client-hello": (helpers.tls_client_hello, "tls-on-plaintext", {"py": 400, "node": 400, "tomcat": 400}),
    "http2-preface": (lambda: helpers.H2_PREFACE, "http2-preface", {"py": 400, "node": 400, "tomcat": None}),
}
