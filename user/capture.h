/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * capture.h - load, attach and read the kernel side.
 *
 * Promise: capture_open() checks what the kernel and the caller's privileges
 * allow, picks the capture and attribution paths the kernel supports, loads
 * and attaches the BPF programs through links this process owns (nothing
 * outlives it, even SIGKILL), and from then on hands every ring-buffer record
 * to the callback. Errors come back as one line that says what to do.
 */
#ifndef WSSNOOP_CAPTURE_H
#define WSSNOOP_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "bpf/wssnoop.h"

enum capture_kind {
	CAPTURE_SOCKET = 0, /* cgroup_skb ingress/egress: the default */
	CAPTURE_SYSCALL,    /* syscall tracepoints */
};

typedef int (*capture_event_fn)(void *ctx, const struct ws_event *ev, size_t size);

struct capture_opts {
	enum capture_kind kind;
	const char *cgroup_path; /* cgroup v2 directory to attach to; NULL: the root */
	uint32_t request_budget; /* bytes sampled from the start of a request head */
	uint32_t answer_budget;	 /* bytes sampled from the start of an answer head */
	uint32_t ringbuf_bytes;	 /* ring buffer size, a power of two >= 4096 */
	int verbose;		 /* 1: chosen paths; 2: verifier statistics; 3: libbpf debug */
	bool lifetime;		 /* follow upgraded connections to their end */
	bool staging;		 /* batch records per CPU where the kernel allows it */
	bool attribute_reads;	 /* a tracepoint on every socket read, where the egress path would do */
	capture_event_fn on_event;
	void *ctx;
};

struct capture;

/* How the staged records fared (all 0 when the capture does not stage). */
struct capture_stats {
	uint64_t batches;      /* batch records read */
	uint64_t batch_errors; /* batches that did not add up (never expected) */
	uint64_t flushes;      /* rounds of flushing the stages of the CPUs that staged something */
	uint64_t flush_busy;   /* a CPU's stage was taken when asked to flush: asked again */
	uint64_t flush_errors; /* the flush program could not be run */
	uint64_t late;	       /* records that came after later ones were handed on: out of order */
	uint64_t forced;       /* records handed on early to bound the memory they wait in */
};

/* Returns 0, or -1 with a one-line reason in err. */
int capture_open(const struct capture_opts *opts, struct capture **out, char *err, size_t errlen);
/* Watch or stop watching a local port; takes effect at once. */
void capture_watch_port(struct capture *c, unsigned port, bool on);
/* Wait up to timeout_ms for records and hand on, in time order, those that
 * are known to be complete. Returns records read, or a negative errno. */
int capture_poll(struct capture *c, int timeout_ms);
/* At the end: flush every stage and hand on everything, in order. */
int capture_drain(struct capture *c);
/* The time up to which every record has been handed on (now_ns when records
 * are not held back): what timeouts should be measured against. */
uint64_t capture_delivered_until(const struct capture *c, uint64_t now_ns);
/* CLOCK_MONOTONIC in ns: the clock the kernel side stamps records with. */
uint64_t capture_clock_ns(void);
void capture_stats(const struct capture *c, struct capture_stats *out);
/* Once everything is attached: give up the capabilities that loading and
 * attaching needed (CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN, ...), keeping only
 * those /proc reads and the unmount at exit need. 0 or -1. */
int capture_drop_privileges(struct capture *c);
/* Kernel-side counters summed over CPUs. */
void capture_counters(struct capture *c, uint64_t out[WS_CNT__MAX]);
/* Summed over the loaded programs, from the kernel's program info. */
struct capture_prog_totals {
	uint64_t run_ns;  /* run time and count: non-zero only while kernel.bpf_stats_enabled is 1 */
	uint64_t run_cnt;
	/* Runs the kernel skipped because a run it guards against was in
	 * flight on that CPU: another tracepoint program's or a bpf() map
	 * call's, or on 7.2 a preempted run of the same program (5.12 on; 0
	 * where the kernel does not say). Each may have been a segment never
	 * seen. */
	uint64_t skipped;
};

/* Of every loaded program, or of the one named (e.g. "wssnoop_ingress"). */
void capture_prog_totals(struct capture *c, const char *name, struct capture_prog_totals *out);
/* The descriptor of a loaded program of the capture (e.g. "wssnoop_ingress"), or -1. */
int capture_prog_fd(struct capture *c, const char *name);
/* Where the cgroup v2 hierarchy is mounted (the usual places, then
 * /proc/self/mounts), into path; 0, or -1 if none is. */
int capture_cgroup2_root(char *path, size_t size);
/* For -v: one line on f for each program with skipped runs. */
void capture_print_skipped(struct capture *c, FILE *f);
/* The paths chosen, for -v and the kernel matrix: e.g. "cgroup_skb", "sock-tracepoint". */
const char *capture_name(const struct capture *c);
const char *capture_attribution(const struct capture *c);
void capture_close(struct capture *c);

#endif /* WSSNOOP_CAPTURE_H */
