/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * report.h - from an exchange to what the operator reads.
 *
 * Promise: parses the request and answer of one exchange, decides whether it
 * is a WebSocket attempt, judges it, fills in the process and container from
 * /proc, and prints one text line (with the redacted head under -v) or one
 * JSON object; everything from the wire is escaped and secrets are redacted
 * unless show_secrets. Keeps the counts the exit summary prints.
 */
#ifndef WSSNOOP_REPORT_H
#define WSSNOOP_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "metrics.h"
#include "path_glob.h"
#include "rules.h"
#include "tracker.h"

struct report_opts {
	FILE *out;
	bool json;
	int verbose;	    /* >= 1: the request head under each text line */
	bool failed_only;   /* -x: skip upgraded handshakes */
	bool show_secrets;  /* turn redaction off */
	bool wide;	    /* -w: no column cuts */
	uint32_t pid;	    /* only this process (0: all) */
	uint64_t netns;	    /* only sockets of processes in this network namespace (0: all) */
	const struct path_set *paths;
	int64_t mono_to_real_ns; /* add to a CLOCK_MONOTONIC time to get wall-clock time */
	/* Told of every attempt that passes the scope filters (--pid, --netns),
	 * printed or not: the daemon's metrics. May be NULL. */
	void (*on_judged)(void *ctx, const struct handshake_summary *s);
	void *ctx;
};

struct report_counts {
	uint64_t exchanges;   /* request/answer pairs seen, attempts or not */
	uint64_t attempts;    /* WebSocket handshake attempts judged */
	uint64_t printed;     /* attempts printed (after --pid and -x) */
	uint64_t verdicts[VERDICT_COUNT];
	uint64_t rules[RULE_COUNT];
	uint64_t owner_inferred; /* owners found through /proc */
	uint64_t owner_unknown;
	uint64_t out_of_scope; /* attempts of other processes or namespaces */
};

struct reporter {
	struct report_opts opts;
	struct report_counts counts;
};

void report_init(struct reporter *r, const struct report_opts *opts);
/* The column header line (text mode only). */
void report_header(struct reporter *r);
/* Judge one exchange and print it if it is an attempt that passes the filters. */
void report_exchange(struct reporter *r, const struct exchange *x);

#endif /* WSSNOOP_REPORT_H */
