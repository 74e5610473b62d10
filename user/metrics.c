// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * metrics.c - bounded counters and their Prometheus text rendering.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "metrics.h"
#include "rules.h"

/* Latency buckets in seconds: handshakes answer in microseconds on loopback
 * and in seconds behind a stalled backend. */
static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))
#define PATTERN_MAX 256

struct outcome_series {
	uint16_t port;
	char pattern[PATTERN_MAX];
	uint64_t by_verdict[VERDICT_COUNT];
};

struct rule_series {
	uint16_t port;
	uint64_t by_rule[RULE_COUNT];
};

/* Connection lifetimes: seconds to days. */
static const double life_buckets[] = {1, 5, 10, 30, 60, 90, 120, 300, 600, 1800, 3600, 14400, 86400};
#define N_LIFE_BUCKETS (sizeof(life_buckets) / sizeof(life_buckets[0]))
#define CLOSE_SERIES 128

struct close_series {
	uint16_t port;
	int code;
	char closer[8];
	uint64_t count;
};

struct metrics {
	struct close_series closes[CLOSE_SERIES];
	unsigned n_closes;
	uint64_t life_hist[N_LIFE_BUCKETS + 1];
	double life_sum;
	uint64_t life_count;
	struct outcome_series outcomes[METRICS_MAX_SERIES];
	unsigned n_outcomes;
	struct rule_series rules[METRICS_MAX_SERIES];
	unsigned n_rules;
	uint64_t folded; /* records whose labels went to "other" */
	uint64_t hist[N_BUCKETS + 1];
	double latency_sum;
	uint64_t latency_count;
};

struct metrics *metrics_new(void)
{
	return calloc(1, sizeof(struct metrics));
}

void metrics_free(struct metrics *m)
{
	free(m);
}

/* Series for (port, pattern); the last slot is the catch-all "other". */
static struct outcome_series *outcome_for(struct metrics *m, uint16_t port, const char *pattern)
{
	struct outcome_series *other = &m->outcomes[METRICS_MAX_SERIES - 1];
	const char *p = pattern ? pattern : "";

	for (unsigned i = 0; i < m->n_outcomes; i++)
		if (m->outcomes[i].port == port && strcmp(m->outcomes[i].pattern, p) == 0)
			return &m->outcomes[i];
	if (m->n_outcomes < METRICS_MAX_SERIES - 1) {
		struct outcome_series *s = &m->outcomes[m->n_outcomes++];

		s->port = port;
		snprintf(s->pattern, sizeof(s->pattern), "%s", p);
		return s;
	}
	m->folded++;
	if (m->n_outcomes == METRICS_MAX_SERIES - 1) {
		other->port = 0;
		snprintf(other->pattern, sizeof(other->pattern), "other");
		m->n_outcomes++;
	}
	return other;
}

static struct rule_series *rules_for(struct metrics *m, uint16_t port)
{
	for (unsigned i = 0; i < m->n_rules; i++)
		if (m->rules[i].port == port)
			return &m->rules[i];
	if (m->n_rules < METRICS_MAX_SERIES) {
		m->rules[m->n_rules].port = port;
		return &m->rules[m->n_rules++];
	}
	m->folded++;
	return &m->rules[METRICS_MAX_SERIES - 1];
}

void metrics_record(struct metrics *m, const struct handshake_summary *s)
{
	struct outcome_series *o = outcome_for(m, s->port, s->pattern);
	struct rule_series *r;
	unsigned b;

	if (s->verdict < VERDICT_COUNT)
		o->by_verdict[s->verdict]++;
	if (s->rules) {
		r = rules_for(m, s->port);
		for (int i = mask_next(s->rules, 0); i >= 0; i = mask_next(s->rules, i + 1))
			r->by_rule[i]++;
	}
	if (s->latency_s >= 0) {
		for (b = 0; b < N_BUCKETS && s->latency_s > buckets[b]; b++)
			;
		m->hist[b]++;
		m->latency_sum += s->latency_s;
		m->latency_count++;
	}
}

void metrics_record_close(struct metrics *m, const struct close_summary *s)
{
	struct close_series *c = NULL;
	unsigned b;

	for (unsigned i = 0; i < m->n_closes && !c; i++)
		if (m->closes[i].port == s->port && m->closes[i].code == s->code &&
		    strcmp(m->closes[i].closer, s->closer) == 0)
			c = &m->closes[i];
	if (!c && m->n_closes < CLOSE_SERIES) {
		c = &m->closes[m->n_closes++];
		c->port = s->port;
		c->code = s->code;
		snprintf(c->closer, sizeof(c->closer), "%s", s->closer);
	}
	if (c)
		c->count++;
	else
		m->folded++;
	for (b = 0; b < N_LIFE_BUCKETS && s->lifetime_s > life_buckets[b]; b++)
		;
	m->life_hist[b]++;
	m->life_sum += s->lifetime_s;
	m->life_count++;
}

struct text {
	char *p;
	size_t len, cap;
	bool failed;
};

__attribute__((format(printf, 2, 3))) static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		t->cap = t->cap * 2 + (size_t)n;
		char *p = realloc(t->p, t->cap);

		if (!p) {
			t->failed = true;
			return;
		}
		t->p = p;
	}
}

/* A label value: backslash, quote and newline escaped, as the format asks. */
static void put_label(struct text *t, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			put(t, "\\%c", *v);
		else if (*v == '\n')
			put(t, "\\n");
		else
			put(t, "%c", *v);
	}
}

/* A histogram: counts[n] holds what exceeded the last bound. */
static void put_histogram(struct text *t, const char *name, const char *help, const double *bounds, unsigned n,
			  const uint64_t *counts, double sum, uint64_t count)
{
	uint64_t cumulative = 0;

	put(t, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (unsigned b = 0; b < n; b++) {
		cumulative += counts[b];
		put(t, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[b], (unsigned long long)cumulative);
	}
	cumulative += counts[n];
	put(t, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9f\n%s_count %llu\n", name, (unsigned long long)cumulative, name,
	    sum, name, (unsigned long long)count);
}

size_t metrics_render(struct metrics *m, const struct metrics_gauges *g, char **out)
{
	struct text t = {.cap = 16384};

	t.p = malloc(t.cap);
	if (!t.p)
		return 0;
	t.p[0] = 0;

	put(&t, "# HELP wssnoop_handshakes_total WebSocket handshake attempts judged, by outcome.\n"
		"# TYPE wssnoop_handshakes_total counter\n");
	for (unsigned i = 0; i < m->n_outcomes; i++) {
		const struct outcome_series *s = &m->outcomes[i];

		for (int v = VERDICT_UPGRADED; v < VERDICT_COUNT; v++) {
			if (!s->by_verdict[v])
				continue;
			put(&t, "wssnoop_handshakes_total{outcome=\"%s\",port=\"%u\",path=\"", verdict_name(v), s->port);
			put_label(&t, s->pattern);
			put(&t, "\"} %llu\n", (unsigned long long)s->by_verdict[v]);
		}
	}
	put(&t, "# HELP wssnoop_handshake_failures_total Handshake rules broken, by rule id.\n"
		"# TYPE wssnoop_handshake_failures_total counter\n");
	for (unsigned i = 0; i < m->n_rules; i++)
		for (int r = 0; r < RULE_COUNT; r++)
			if (m->rules[i].by_rule[r])
				put(&t, "wssnoop_handshake_failures_total{reason=\"%s\",port=\"%u\"} %llu\n", rule_id(r),
				    m->rules[i].port, (unsigned long long)m->rules[i].by_rule[r]);
	put_histogram(&t, "wssnoop_handshake_latency_seconds", "Time from the request to the server's answer.", buckets,
		      N_BUCKETS, m->hist, m->latency_sum, m->latency_count);
	put(&t, "# HELP wssnoop_websocket_closes_total Upgraded connections ended, by Close code (1006: none) and "
		"which side closed the TCP connection first.\n# TYPE wssnoop_websocket_closes_total counter\n");
	for (unsigned i = 0; i < m->n_closes; i++)
		put(&t, "wssnoop_websocket_closes_total{code=\"%d\",closer=\"%s\",port=\"%u\"} %llu\n", m->closes[i].code,
		    m->closes[i].closer, m->closes[i].port, (unsigned long long)m->closes[i].count);
	put_histogram(&t, "wssnoop_websocket_lifetime_seconds", "Time from the 101 to the end of the connection.",
		      life_buckets, N_LIFE_BUCKETS, m->life_hist, m->life_sum, m->life_count);

#define COUNTER(name, help, value)                                                                                   \
	put(&t, "# HELP " name " " help "\n# TYPE " name " counter\n" name " %llu\n", (unsigned long long)(value))
#define GAUGE(name, help, fmt, value) put(&t, "# HELP " name " " help "\n# TYPE " name " gauge\n" name " " fmt "\n", value)
	COUNTER("wssnoop_events_lost_total", "Events the kernel could not queue (ring buffer full).", g->events_lost);
	COUNTER("wssnoop_samples_truncated_total", "Segments sampled shorter than their payload.", g->samples_cut);
	COUNTER("wssnoop_heads_truncated_total", "Request heads cut by the sample budget.", g->heads_truncated);
	COUNTER("wssnoop_bpf_runs_skipped_total",
		"Runs of wssnoop's BPF programs the kernel skipped: a run it guards against was in flight on the CPU.",
		g->bpf_runs_skipped);
	COUNTER("wssnoop_segments_unplaced_total", "Sampled segments that fit no head being assembled.",
		g->segments_unplaced);
	COUNTER("wssnoop_connections_evicted_total", "Connections dropped from the table to bound memory.",
		g->conns_evicted);
	COUNTER("wssnoop_series_folded_total", "Handshakes counted under port=\"0\",path=\"other\" past the series bound.",
		m->folded);
	COUNTER("wssnoop_config_reloads_total", "Configuration reloads (SIGHUP).", g->reloads);
	GAUGE("wssnoop_connections_tracked", "Connections in the table now.", "%llu",
	      (unsigned long long)g->conns_tracked);
	if (g->bpf_run_cnt) {
		GAUGE("wssnoop_bpf_run_seconds_total", "Time spent in wssnoop's BPF programs (kernel.bpf_stats_enabled).",
		      "%.9f", (double)g->bpf_run_ns / 1e9);
		COUNTER("wssnoop_bpf_runs_total", "Runs of wssnoop's BPF programs (kernel.bpf_stats_enabled).",
			g->bpf_run_cnt);
	}
	GAUGE("process_resident_memory_bytes", "Resident memory size in bytes.", "%llu",
	      (unsigned long long)g->rss_bytes);
	GAUGE("process_start_time_seconds", "Start time of the process since the Unix epoch in seconds.", "%.3f",
	      g->start_time_s);
	GAUGE("wssnoop_last_poll_timestamp_seconds", "When the ring buffer was last read.", "%.3f", g->last_poll_s);
#undef COUNTER
#undef GAUGE
	if (t.failed) {
		free(t.p);
		return 0;
	}
	*out = t.p;
	return t.len;
}
