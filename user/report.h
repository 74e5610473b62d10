/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * report.h - from an exchange to what the operator reads.
 *
 * Promise: parses the request and answer of one exchange, decides whether it
 * is a WebSocket attempt, judges it, fills in the process and container from
 * /proc, and prints one text line (with the redacted head under -v) or one
 * JSON object; everything from the wire is escaped and secrets are redacted
 * unless show_secrets. Keeps the counts the exit summary prints. A request
 * that is surely no attempt costs a look at its bytes, not a parse.
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
	bool batch_flush;   /* the caller flushes out after each batch; else each record is flushed */
	uint32_t pid;	    /* only this process (0: all) */
	uint64_t netns;	    /* only sockets of processes in this network namespace (0: all) */
	const struct path_set *paths; /* change only through report_set_paths(): decisions are remembered */
	int64_t mono_to_real_ns; /* add to a CLOCK_MONOTONIC time to get wall-clock time */
	/* Told of every attempt that passes the scope filters (--pid, --netns),
	 * printed or not: the daemon's metrics. May be NULL. */
	void (*on_judged)(void *ctx, const struct handshake_summary *s);
	/* Told of every connection end reported, for the daemon's metrics. */
	void (*on_closed)(void *ctx, const struct close_summary *s);
	void *ctx;
	/* Asked for the owner of an attempt about to be reported without one
	 * (where the kernel side attributes by the server's answers, an
	 * exchange it never answered from its own context), with the time of
	 * its request: only attempts, so that what is never printed costs no
	 * /proc scan. May be NULL. */
	owner_fn find_owner;
	void *find_owner_ctx;
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
	uint64_t closes;       /* upgraded connections whose end was reported */
	uint64_t closes_1006;  /* ... without a Close frame */
	uint64_t idle_timeouts;
	uint64_t still_open;   /* upgraded connections open at exit */
};

#define REPORT_PATH_MEMO_SLOTS 64
#define REPORT_PATH_MEMO_BYTES 62

/* Private to report.c: results kept because the next record likely asks again. */
struct report_path_memo {
	uint8_t len_plus_one; /* 0: an empty slot */
	bool match;	      /* a --path pattern matches this path */
	uint8_t path[REPORT_PATH_MEMO_BYTES];
};

struct report_memo {
	struct report_path_memo paths[REPORT_PATH_MEMO_SLOTS];
	int64_t iso_secs, local_secs; /* the seconds the texts below show */
	bool iso_valid, local_valid;
	char iso[72];		      /* "2006-01-02T15:04:05" */
	char local[16];		      /* "15:04:05" */
};

struct reporter {
	struct report_opts opts;
	struct report_counts counts;
	struct report_memo memo;
};

void report_init(struct reporter *r, const struct report_opts *opts);
/* Replace the --path patterns (the set's contents may have changed in place). */
void report_set_paths(struct reporter *r, const struct path_set *paths);
/* What one upgraded connection's end comes to: the figures the text, the
 * JSON and the metrics share. */
struct lifetime_facts {
	double lifetime_s;    /* from the 101 to the first FIN/RST (or the close, or now) */
	double idle_s;	      /* from the last data either way to the first FIN/RST, < 0 if unknown */
	int close_code;	      /* the first Close frame's code, 1006 when none was seen, 0 while open */
	int close_frame_dir;  /* WS_DIR_IN/OUT of the first Close frame, WS_DIR_NONE if none */
	int closer;	      /* WS_DIR_IN/OUT of the first FIN/RST, WS_DIR_NONE if unknown */
	bool rst;	      /* the first was an RST */
	double ping_interval_s[2]; /* gap between the last two pings each way, < 0 if fewer than two */
	bool idle_timeout;    /* no Close frame, quiet for >= 1 s before the end: a hop's idle timeout */
	const char *idle_match; /* which usual timeout the gap matches, or NULL */
};

void lifetime_facts(const struct lifetime_report *l, uint64_t now_ns, struct lifetime_facts *f);
/* Print one upgraded connection's end (or its state at exit). */
void report_lifetime(struct reporter *r, const struct lifetime_report *l);

/* The column header line (text mode only). */
void report_header(struct reporter *r);
/* Judge one exchange and print it if it is an attempt that passes the filters. */
void report_exchange(struct reporter *r, const struct exchange *x);
/* Is this request head (first: the connection's first bytes) surely no
 * attempt, told from its bytes without parsing them, as report_exchange()
 * decides after parsing? An exchange it cleared (exchange.not_attempt) is
 * counted and never printed, whatever its answer. */
bool report_not_attempt(struct reporter *r, const uint8_t *request, size_t len, bool first);

#endif /* WSSNOOP_REPORT_H */
