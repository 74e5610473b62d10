/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * metrics.h - the daemon's Prometheus metrics.
 *
 * Promise: counts judged handshakes by outcome, port and path pattern, and
 * failures by rule, in a bounded number of series (past the bound, labels
 * fold into "other" and the folding is counted); keeps a latency histogram;
 * renders the Prometheus text exposition format (0.0.4). Not thread-safe:
 * the caller serialises record and render.
 */
#ifndef WSSNOOP_METRICS_H
#define WSSNOOP_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX_SERIES 512

/* One judged handshake, as the metrics see it. */
struct handshake_summary {
	uint8_t verdict;     /* enum ws_verdict */
	uint16_t port;	     /* local port */
	const char *pattern; /* the --path pattern that matched, or NULL */
	uint32_t rules;	     /* enum ws_rule bits */
	double latency_s;    /* answer latency, < 0 when there was no answer */
};

/* One upgraded connection's end. */
struct close_summary {
	uint16_t port;
	int code;	    /* Close frame code, 1006 when none */
	const char *closer; /* "local", "remote" or "unknown" */
	double lifetime_s;
};

/* Figures owned by others, copied in before each render. */
struct metrics_gauges {
	uint64_t events_lost;
	uint64_t samples_cut;
	uint64_t heads_truncated;
	uint64_t segments_unplaced;
	uint64_t conns_evicted;
	uint64_t conns_tracked;
	uint64_t bpf_run_ns;   /* summed run time of the BPF programs, 0 if unknown */
	uint64_t bpf_run_cnt;
	uint64_t bpf_runs_skipped; /* see capture_prog_totals() */
	uint64_t rss_bytes;
	uint64_t reloads;
	double start_time_s;   /* Unix time the daemon started */
	double last_poll_s;    /* Unix time the ring buffer was last read */
};

struct metrics;

struct metrics *metrics_new(void);
void metrics_record(struct metrics *m, const struct handshake_summary *s);
void metrics_record_close(struct metrics *m, const struct close_summary *s);
/* Render everything into a malloc'd NUL-terminated buffer; returns its length, 0 on failure. */
size_t metrics_render(struct metrics *m, const struct metrics_gauges *g, char **out);
void metrics_free(struct metrics *m);

#endif /* WSSNOOP_METRICS_H */
