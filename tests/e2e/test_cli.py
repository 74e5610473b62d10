"""wssnoop's command line: help, usage errors, privileges (no BPF needed)."""
import helpers


def _run(args, user=None):
    argv = [helpers.WSSNOOP] + args
    if user:
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--inh-caps=-all"] + argv
    return helpers.run(argv, timeout=10)


def test_help(wssnoop_binary):
    for flag in ("-h", "--help"):
        done = _run([flag])
        text = (done.stdout + done.stderr).decode()
        assert done.returncode == 0, f"{flag}: exit {done.returncode}: {text[:300]}"
        assert "USAGE" in text or "Usage" in text, text[:300]
        assert "-p" in text and "--capture" in text


def test_usage_errors(wssnoop_binary):
    for args in ([], ["-p", "notaport"], ["-p", "80", "--capture", "pcap"], ["-p", "80", "--bogus"]):
        done = _run(args)
        err = done.stderr.decode()
        assert done.returncode != 0, args
        assert err.strip(), f"{args}: no message"
        assert "Traceback" not in err and "Segmentation" not in err
        assert done.stdout == b"", f"{args}: usage errors go to stderr"


def test_refuses_without_privileges(wssnoop_binary):
    done = _run(["-p", "80"], user="65534")
    err = done.stderr.decode()
    assert done.returncode != 0
    assert "wssnoop: tracing" not in err
    assert any(w in err.lower() for w in ("root", "privilege", "cap_bpf", "permission")), err
    assert len(err.strip().splitlines()) <= 3, "one clear line, not a libbpf dump:\n" + err
