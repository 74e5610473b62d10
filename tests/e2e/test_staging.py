"""Per-CPU staging end to end: records gathered in each CPU's stage, written to
the ring in batches, flushed by the reader on a timer, and put back in time
order before the tracker judges them. Real BPF in the running kernel, the
static C peer build/wspeer on loopback, server and load generator pinned to
different CPUs so that each request and its answer are staged on different
CPUs and can only meet again through the reorder.
"""
import os
import re
import time

import pytest

import helpers
from helpers import WSPEER, Wssnoop, run_load, start_wspeer

TWO_CPUS = (os.cpu_count() or 1) >= 2
STAGING_LINE = re.compile(r"staging: (\d+) batches \((\d+) did not add up\), (\d+) flush rounds \((\d+) found a stage "
                          r"taken, (\d+) failed\), (\d+) records late, (\d+) handed on early")


def pinned(cpu):
    return ["taskset", "-c", str(cpu)] if TWO_CPUS else []


def start_wssnoop(workdir, name, port, staging=True):
    w = Wssnoop(["-p", str(port), "-j", "-v"] + ([] if staging else ["--no-staging"]), workdir, name=name)
    w.start()
    return w


def judged_exactly(w, counts):
    """Every attempt the load made reported once with the verdict it earned,
    nothing mismatched, out of order or lost."""
    evs = w.events
    s = w.summary
    assert s is not None, w.stdout[-2000:]
    assert len(evs) == counts["attempts"], f"{len(evs)} reported of {counts['attempts']}: {s}"
    assert sum(e["verdict"] == "upgraded" for e in evs) == counts["upgraded"], s
    assert sum(e["verdict"] == "rejected" for e in evs) == counts["rejected"], s
    assert s["answers_unmatched"] == 0, s
    assert s["events_out_of_order"] == 0, s
    assert s["events_lost"] == 0, s
    assert s["events_sent"] == s["events_received"], s
    assert s["bpf_runs_skipped"] == 0, s
    # Every request and every answer head was sampled (one segment each way).
    assert s["segments_sampled"] == 2 * (counts["attempts"] + counts["plain"]), s


@pytest.mark.timeout(60)
def test_lone_record_is_flushed_without_more_traffic(workdir, wspeer_bin):
    """One handshake and then silence: its records would sit in their CPUs'
    stages (16 KiB each, far from full) until exit if the reader did not flush
    them; it is reported within two seconds while wssnoop keeps running."""
    server, port = start_wspeer(workdir, "wspeer-lone", prefix=pinned(1))
    try:
        w = start_wssnoop(workdir, "wssnoop-lone", port)
        try:
            if w.chosen("staging") != "per-cpu":
                pytest.skip(f"this kernel does not stage: {w.stderr[-300:]}")
            # Past wssnoop's first rounds of polling and flushing, so that
            # only a later flush can bring these records.
            time.sleep(0.5)
            t0 = time.monotonic()
            done = helpers.run(pinned(0) + [WSPEER, "client", "127.0.0.1", str(port), "valid"], timeout=10)
            assert done.returncode == 0, done.stderr
            evs = w.wait_events(1, timeout=2.0)
            waited = time.monotonic() - t0
            assert len(evs) == 1, f"nothing reported {waited:.1f} s after a lone handshake:\n{w.stderr[-1500:]}"
            assert evs[0]["verdict"] == "upgraded", evs[0]
            print(f"\nlone handshake reported after {waited * 1000:.0f} ms")
        finally:
            w.stop()
    finally:
        server.stop()
    m = STAGING_LINE.search(w.stderr)
    assert m, w.stderr
    assert int(m.group(1)) >= 1 and int(m.group(3)) >= 1, m.group(0)


@pytest.mark.timeout(90)
def test_staged_and_single_records_judge_alike(workdir, wspeer_bin):
    """The same handshake mix at 2000/s for 2 s, server and client on
    different CPUs, judged with staging and with --no-staging: exact
    counts both times, and with staging the records really came in batches
    (far fewer ring records than events) with none out of order."""
    results = {}
    for staging in (True, False):
        server, port = start_wspeer(workdir, f"wspeer-stage-{staging}", prefix=pinned(1))
        try:
            w = start_wssnoop(workdir, f"wssnoop-stage-{staging}", port, staging=staging)
            try:
                counts = run_load(port, 2000, 2, prefix=pinned(0))
                w.wait_events(counts["attempts"], timeout=5.0)
            finally:
                w.stop()
        finally:
            server.stop()
        assert w.rc == 0, w.stderr[-2000:]
        results[staging] = (w, counts)
    staged, counts = results[True]
    single, single_counts = results[False]
    assert single.chosen("staging") == "off"
    judged_exactly(single, single_counts)
    if staged.chosen("staging") != "per-cpu":
        pytest.skip(f"this kernel does not stage: {staged.stderr[-300:]}")
    judged_exactly(staged, counts)
    m = STAGING_LINE.search(staged.stderr)
    assert m, staged.stderr
    batches, late, forced = int(m.group(1)), int(m.group(6)), int(m.group(7))
    received = staged.summary["events_received"]
    print(f"\nstaged: {received} records in {batches} batches ({m.group(0)})")
    assert late == 0 and forced == 0 and int(m.group(2)) == 0, m.group(0)
    assert 0 < batches and batches * 4 < received, f"{received} records in {batches} batches: not batched"
    m = STAGING_LINE.search(single.stderr)
    assert m and int(m.group(1)) == 0, single.stderr
