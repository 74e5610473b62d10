"""Secrets in requests never reach wssnoop's output unless --show-secrets."""
import os

import pytest

import expect
import helpers

MODES = {
    "json": dict(json=True, args=[]),
    "json-v": dict(json=True, args=["-v"]),
    "text-v": dict(json=False, args=["-v"]),
    "text-vv": dict(json=False, args=["-v", "-v"]),
}


def _canaries():
    tag = os.urandom(4).hex().upper()
    return {"authorization": f"CANARY1{tag}", "cookie": f"CANARY2{tag}", "query": f"CANARY3{tag}",
            "session": f"CANARY4{tag}"}


def _secret_request(c, key, upgrade="websocket"):
    return helpers.handshake(path=f"/ws;jsessionid={c['session']}?room=1&token={c['query']}", key=key, upgrade=upgrade,
                             extra=[("Authorization", f"Bearer {c['authorization']}"),
                                    ("Cookie", f"s={c['cookie']}; theme=dark")])


@pytest.mark.parametrize("mode", list(MODES))
def test_secrets_redacted(wssnoop, capture, py_server, mode):
    c = _canaries()
    key = helpers.new_key()
    w = wssnoop(py_server, **MODES[mode])
    assert helpers.exchange(py_server.port, _secret_request(c, key)).status == 101
    assert helpers.exchange(py_server.port, _secret_request(c, key, upgrade=None)).status == 426
    w.stop()
    assert w.rc == 0, w.stderr
    out = w.stdout + "\n" + w.stderr
    for name, canary in c.items():
        assert canary not in out, f"{name} secret {canary} printed in {mode} mode"
    assert key not in out, "Sec-WebSocket-Key printed (DESIGN: redacted unless asked)"
    if MODES[mode]["json"]:
        evs = w.events
        assert len(evs) == 2, [expect.describe(e) for e in evs]
        assert [e["verdict"] for e in evs] == ["upgraded", "rejected"]
        # Redacted, not dropped: the header is there and the judgement stands.
        names = [n for n, _ in evs[0]["headers"]]
        assert "Authorization" in names and "Cookie" in names
        assert evs[0]["accept_ok"] is True, "the accept is checked on the real key, before redaction"
        assert evs[0]["path"] == "/ws;jsessionid=<redacted>?room=1&token=<redacted>", evs[0]["path"]
    else:
        assert "/ws" in w.stdout


@pytest.mark.parametrize("json_out", [True, False], ids=["json", "text-v"])
def test_show_secrets(wssnoop, capture, py_server, json_out):
    c = _canaries()
    key = helpers.new_key()
    w = wssnoop(py_server, json=json_out, args=["--show-secrets"] + ([] if json_out else ["-v"]))
    assert helpers.exchange(py_server.port, _secret_request(c, key)).status == 101
    w.stop()
    for name, canary in c.items():
        assert canary in w.stdout, f"--show-secrets hides {name}"
    if json_out:
        ev = w.events[0]
        assert expect.header(ev, "Authorization") == f"Bearer {c['authorization']}"
        assert expect.header(ev, "Sec-WebSocket-Key") == key
        assert ev["path"] == f"/ws;jsessionid={c['session']}?room=1&token={c['query']}"
