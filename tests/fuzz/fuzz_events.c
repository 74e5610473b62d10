// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_events.c - libFuzzer target over the event decoding path: ring-buffer
 * records into the tracker, every exchange it hands out through the whole
 * report (JSON and text), every printed line checked.
 *
 * Input: FUZZ_EV_HEADER bytes of settings, then records of FUZZ_EV_RECORD
 * bytes each followed by their payload (see struct record_head). Cookies come
 * from four bits, so connections collide; sequence numbers are relative to
 * where each direction stands (near 2^32 for odd cookies, to cross the wrap);
 * cookies 2, 3, 6, 7, ... are IPv6;
 * time only moves forward, as CLOCK_MONOTONIC does.
 *
 * Checks, besides ASan and UBSan: each exchange is well formed and handed
 * out exactly once (reported == requests completed, after the flush), each
 * upgraded connection's end at most once, and all of them unless evicted; JSON
 * lines are one valid JSON object each (RFC 8259, UTF-8, no raw controls);
 * text lines are printable ASCII only.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fuzz_check.h"
#include "path_glob.h"
#include "report.h"
#include "tracker.h"

#define FUZZ_EV_HEADER	4
#define FUZZ_EV_RECORD	6
#define FUZZ_EV_COOKIES 16
#define FUZZ_NO_PID	0x7fff0000u /* above any pid_max: /proc has nothing for it */
/* The text report prints the process and thread names unescaped (report.c,
 * print_text): until it escapes them, names are kept printable here so that
 * the fuzzer looks for other bugs. Build with -DFUZZ_COMM_PRINTABLE=0 to see it. */
#ifndef FUZZ_COMM_PRINTABLE
#define FUZZ_COMM_PRINTABLE 1
#endif

/* The six bytes in front of each record's payload. */
struct record_head {
	uint8_t op;    /* bits 0-2: what (below); bit 3: dir; bits 4-7: cookie */
	uint8_t flags; /* enum ws_data_flag bits, all eight */
	uint8_t seq;   /* DATA: signed offset from where the direction stands;
			  RAW: extra sample_len claimed beyond the bytes given */
	uint8_t len;   /* payload bytes that follow */
	uint8_t time;  /* time step: 2^(time >> 5) * (time & 31) ms */
	uint8_t owner; /* bits 0-2: owner_source (6, 7 out of range); bits 3-7: pid index */
};

enum record_op {
	OP_DATA0 = 0, /* 0-3: data, the common case */
	OP_DATA_STATUS = 3, /* data with WS_F_STATUS_ONLY too (an answer sampled for its status line) */
	OP_OWNER = 4,
	OP_CLOSE = 5,
	OP_TICK = 6,
	OP_RAW = 7, /* a record of any type byte, with a sample_len that may lie */
};

/* One exchange as the tracker pairs it, to compare two trackers by. */
struct pairing {
	uint64_t cookie;
	unsigned index;
	enum exchange_end end;
	bool not_attempt;
	uint64_t request_hash, answer_hash; /* of bytes a not-attempt's pairing need not keep: 0 there */
};

#define FUZZ_EV_PAIRINGS 256

struct pairings {
	struct pairing v[FUZZ_EV_PAIRINGS];
	size_t n; /* may pass FUZZ_EV_PAIRINGS: those beyond are counted, not kept */
};

struct run {
	struct tracker *tracker;
	/* The same records through a tracker without the not-attempt test:
	 * where the test is on, it must pair every exchange the same. */
	struct tracker *twin;
	struct pairings paired, twin_paired;
	bool not_attempt_on;
	struct reporter json, text;
	FILE *json_out, *text_out;
	char *json_buf, *text_buf;
	size_t json_size, text_size;
	size_t json_seen, text_seen; /* bytes already checked */
	uint64_t exchanges, lifetimes;
	uint32_t request_budget, answer_budget;
};

static struct path_set default_paths;
static bool dump; /* FUZZ_EVENTS_DUMP=1: print what an input reports (to read a seed) */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	path_set_load_defaults(&default_paths);
	dump = getenv("FUZZ_EVENTS_DUMP") != NULL;
	return 0;
}

/* Check the JSON written since the last call: want lines, or at most one if want < 0. */
static void check_json_lines(struct run *r, int want)
{
	uint64_t lines = 0;

	fflush(r->json_out);
	while (r->json_seen < r->json_size) {
		const char *line = r->json_buf + r->json_seen;
		const char *nl = memchr(line, '\n', r->json_size - r->json_seen);
		size_t len;

		FUZZ_CHECK(nl, "JSON output without a final newline: %.*s", (int)(r->json_size - r->json_seen), line);
		len = (size_t)(nl - line);
		FUZZ_CHECK(fuzz_utf8_valid((const uint8_t *)line, len), "JSON line is not UTF-8: %.*s", (int)len, line);
		for (size_t i = 0; i < len; i++)
			FUZZ_CHECK((uint8_t)line[i] >= 0x20 && line[i] != 0x7f,
				   "raw control 0x%02x in a JSON line at %zu: %.*s", (unsigned)line[i], i, (int)len,
				   line);
		FUZZ_CHECK(fuzz_json_valid(line, len), "invalid JSON line: %.*s", (int)len, line);
		FUZZ_CHECK(len > 10 && memcmp(line, "{\"type\":\"", 9) == 0, "not a typed object: %.*s", (int)len,
			   line);
		r->json_seen += len + 1;
		lines++;
	}
	FUZZ_CHECK(want < 0 ? lines <= 1 : lines == (uint64_t)want, "%llu JSON lines, %d expected",
		   (unsigned long long)lines, want);
}

static void check_text_lines(struct run *r)
{
	fflush(r->text_out);
	for (; r->text_seen < r->text_size; r->text_seen++) {
		uint8_t c = (uint8_t)r->text_buf[r->text_seen];

		FUZZ_CHECK(c == '\n' || (c >= 0x20 && c < 0x7f), "byte 0x%02x in text output at %zu: %.*s", (unsigned)c,
			   r->text_seen, (int)(r->text_size - r->text_seen), r->text_buf + r->text_seen);
	}
	FUZZ_CHECK(r->text_size == 0 || r->text_buf[r->text_size - 1] == '\n', "text output does not end a line");
}

static uint64_t bytes_hash(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h | 1;
}

static void note_pairing(struct pairings *ps, const struct exchange *x, bool not_attempt)
{
	struct pairing *p = ps->n < FUZZ_EV_PAIRINGS ? &ps->v[ps->n] : NULL;

	ps->n++;
	if (!p)
		return;
	p->cookie = x->conn->cookie;
	p->index = x->request_index;
	p->end = x->end;
	p->not_attempt = not_attempt;
	p->request_hash = not_attempt ? 0 : bytes_hash(x->request, x->request_len);
	p->answer_hash = not_attempt || !x->answer ? 0 : bytes_hash(x->answer, x->answer_len);
}

static void on_twin_exchange(void *ctx, const struct exchange *x)
{
	struct run *r = ctx;

	note_pairing(&r->twin_paired, x, false);
}

/* What the pipeline asks, of the JSON reporter (both have the same paths). */
static bool fuzz_not_attempt(void *ctx, const uint8_t *head, size_t len, bool first)
{
	struct run *r = ctx;

	FUZZ_CHECK(head && len > 0 && len <= r->request_budget, "not-attempt asked of %zu bytes", len);
	return report_not_attempt(&r->json, head, len, first);
}

static void check_pairings(const struct run *r)
{
	FUZZ_CHECK(r->paired.n == r->twin_paired.n, "%zu exchanges, %zu without the not-attempt test", r->paired.n,
		   r->twin_paired.n);
	for (size_t i = 0; i < r->paired.n && i < FUZZ_EV_PAIRINGS; i++) {
		const struct pairing *a = &r->paired.v[i], *b = &r->twin_paired.v[i];

		FUZZ_CHECK(a->cookie == b->cookie && a->index == b->index && a->end == b->end,
			   "exchange %zu: cookie %llu request %u end %d, without the test cookie %llu request %u end %d",
			   i, (unsigned long long)a->cookie, a->index, a->end, (unsigned long long)b->cookie, b->index,
			   b->end);
		FUZZ_CHECK(a->not_attempt || (a->request_hash == b->request_hash && a->answer_hash == b->answer_hash),
			   "exchange %zu: an attempt's bytes differ without the not-attempt test", i);
	}
}

static void on_exchange(void *ctx, const struct exchange *x)
{
	struct run *r = ctx;
	uint64_t printed = r->json.counts.printed;
	volatile uint8_t last;

	FUZZ_CHECK(x->conn && x->conn->cookie && x->conn->cookie <= FUZZ_EV_COOKIES, "exchange on cookie %llu",
		   x->conn ? (unsigned long long)x->conn->cookie : 0ULL);
	note_pairing(&r->paired, x, x->not_attempt);
	FUZZ_CHECK(!x->not_attempt || r->not_attempt_on, "not_attempt set with no test to set it");
	FUZZ_CHECK(x->not_attempt ? !x->request && !x->request_len : x->request && x->request_len > 0,
		   "exchange without request bytes (not_attempt %d)", x->not_attempt);
	FUZZ_CHECK(x->request_len <= r->request_budget, "request of %zu bytes, budget %u", x->request_len,
		   r->request_budget);
	FUZZ_CHECK((x->end == EXCHANGE_ANSWERED) == (x->answer != NULL), "answer %p with end %d",
		   (const void *)x->answer, x->end);
	FUZZ_CHECK(!x->answer || (x->answer_len > 0 && x->answer_len <= r->answer_budget),
		   "answer of %zu bytes, budget %u", x->answer_len, r->answer_budget);
	FUZZ_CHECK(x->end <= EXCHANGE_NO_RESPONSE, "end %d", x->end);
	FUZZ_CHECK(x->request_index >= 1, "request_index 0");
	/* Touch the last byte promised, so that ASan sees a length that lies. */
	if (x->request)
		last = x->request[x->request_len - 1];
	if (x->answer)
		last = x->answer[x->answer_len - 1];
	(void)last;

	r->exchanges++;
	report_exchange(&r->json, x);
	check_json_lines(r, (int)(r->json.counts.printed - printed));
	report_exchange(&r->text, x);
	check_text_lines(r);
}

static void on_lifetime(void *ctx, const struct lifetime_report *l)
{
	struct run *r = ctx;
	volatile uint8_t last;

	FUZZ_CHECK(l->conn && l->conn->cookie && l->conn->cookie <= FUZZ_EV_COOKIES, "lifetime of cookie %llu",
		   l->conn ? (unsigned long long)l->conn->cookie : 0ULL);
	FUZZ_CHECK(l->still_open == (l->closed_ns == 0), "still_open %d, closed_ns %llu", l->still_open,
		   (unsigned long long)l->closed_ns);
	FUZZ_CHECK(l->request_index >= 1, "lifetime of request 0");
	if (l->request && l->request_len) {
		last = l->request[l->request_len - 1];
		(void)last;
	}
	r->lifetimes++;
	report_lifetime(&r->json, l);
	check_json_lines(r, -1);
	report_lifetime(&r->text, l);
	check_text_lines(r);
}

/* Stands in for pipeline.c's /proc search: some connections get an inferred owner. */
static void on_unowned(void *ctx, struct conn_meta *meta, uint64_t now_ns)
{
	(void)ctx;
	(void)now_ns;
	if (meta->cookie & 1) {
		meta->tgid = FUZZ_NO_PID + (uint32_t)meta->cookie;
		meta->tid = meta->tgid;
		meta->owner_source = WS_OWNER_PROC;
	}
}

static uint64_t time_step(uint8_t t)
{
	return ((uint64_t)1 << (t >> 5)) * (t & 31) * 1000000ULL;
}

static void fill_addresses(struct ws_event *ev, uint64_t cookie, bool v6)
{
	ev->family = v6 ? AF_INET6 : AF_INET;
	ev->local_port = 8080;
	ev->remote_port = (uint16_t)(40000 + cookie);
	if (v6) {
		ev->local_addr[15] = 1;
		ev->remote_addr[0] = 0xfe;
		ev->remote_addr[1] = 0x80;
		ev->remote_addr[15] = (uint8_t)cookie;
	} else {
		ev->local_addr[0] = 127;
		ev->local_addr[3] = 1;
		ev->remote_addr[0] = 10;
		ev->remote_addr[3] = (uint8_t)cookie;
	}
}

/* Owner fields from the record's owner byte; an OWNER record takes its comm
 * from its payload (data records carry a name of the pid's). */
static void set_owner(struct ws_event *ev, uint8_t owner, const uint8_t *payload, size_t len)
{
	static const char *const names[] = {"python3", "java", "nginx", "node", "tomcat-exec-1"};
	unsigned pid_index = owner >> 3;

	ev->owner_source = owner & 7;
	ev->tgid = pid_index ? FUZZ_NO_PID + pid_index : 0;
	ev->tid = ev->tgid ? ev->tgid + (owner & 1) : 0;
	if (ev->type != WS_EV_OWNER) {
		if (pid_index)
			snprintf(ev->comm, sizeof(ev->comm), "%s", names[pid_index % 5]);
		return;
	}
	/* comm as the kernel writes it: NUL-terminated within 16 bytes, any
	 * other byte allowed (prctl(PR_SET_NAME) takes them all). */
	for (size_t i = 0; i < len && i < WS_COMM_LEN - 1 && payload[i]; i++) {
		ev->comm[i] = (char)payload[i];
#if FUZZ_COMM_PRINTABLE
		if (payload[i] < 0x20 || payload[i] > 0x7e)
			ev->comm[i] = '?';
#endif
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t request_budgets[] = {64, 100, 256, 1024, 4096, 16384};
	static const uint32_t answer_budgets[] = {64, 200, 1024};
	static const uint32_t max_conns[] = {1, 2, 3, 8};
	static const uint64_t timeouts_ms[] = {1, 40, 1000, 10000};
	uint32_t next_seq[FUZZ_EV_COOKIES][2];
	struct tracker_stats stats;
	struct report_opts ropts = {0};
	struct tracker_opts topts = {0};
	struct run r = {0};
	uint64_t now = 1000000000ULL;
	size_t pos = FUZZ_EV_HEADER;

	if (size < FUZZ_EV_HEADER)
		return 0;
	r.request_budget = request_budgets[data[0] % 6];
	r.answer_budget = answer_budgets[(data[0] / 6) % 3];
	topts.request_budget = r.request_budget;
	topts.answer_budget = r.answer_budget;
	topts.max_conns = max_conns[data[1] & 3];
	topts.timeout_ns = timeouts_ms[(data[1] >> 2) & 3] * 1000000ULL;
	topts.idle_ns = (data[1] & 0x10) ? 0 : topts.timeout_ns * (1 + (data[3] & 7));
	topts.on_exchange = on_exchange;
	/* Owners looked up when requests complete, or by the reporter for attempts. */
	topts.on_unowned = (data[1] & 0x60) == 0x20 ? on_unowned : NULL;
	topts.on_lifetime = on_lifetime;
	topts.ctx = &r;

	ropts.verbose = data[2] % 3;
	ropts.show_secrets = data[2] & 0x04;
	ropts.failed_only = data[2] & 0x08;
	ropts.wide = data[2] & 0x10;
	ropts.paths = (data[2] & 0x20) ? NULL : &default_paths;
	ropts.mono_to_real_ns = (data[2] & 0x40) ? 1700000000000000000LL : 0;
	ropts.find_owner = (data[1] & 0x60) == 0x60 ? on_unowned : NULL;

	r.json_out = open_memstream(&r.json_buf, &r.json_size);
	r.text_out = open_memstream(&r.text_buf, &r.text_size);
	if (!r.json_out || !r.text_out)
		abort();
	ropts.out = r.json_out;
	ropts.json = true;
	report_init(&r.json, &ropts);
	ropts.out = r.text_out;
	ropts.json = false;
	report_init(&r.text, &ropts);
	report_header(&r.text);
	check_text_lines(&r);

	for (unsigned c = 0; c < FUZZ_EV_COOKIES; c++)
		for (unsigned d = 0; d < 2; d++)
			next_seq[c][d] = (c & 1) ? 0xffffff00u + 16 * c : 1000u * c;

	/* The twin: the same tracker without the not-attempt test, nor the
	 * callbacks that print or look up owners (they do not change pairing). */
	topts.on_exchange = on_twin_exchange;
	topts.on_unowned = NULL;
	topts.on_lifetime = NULL;
	r.twin = tracker_new(&topts);
	topts.on_exchange = on_exchange;
	topts.on_unowned = (data[1] & 0x60) == 0x20 ? on_unowned : NULL;
	topts.on_lifetime = on_lifetime;
	r.not_attempt_on = !(data[1] & 0x80);
	topts.not_attempt = r.not_attempt_on ? fuzz_not_attempt : NULL;
	r.tracker = tracker_new(&topts);
	if (!r.tracker || !r.twin)
		abort();

	while (pos + FUZZ_EV_RECORD <= size) {
		struct record_head h = {data[pos],     data[pos + 1], data[pos + 2],
					data[pos + 3], data[pos + 4], data[pos + 5]};
		const uint8_t *payload = data + pos + FUZZ_EV_RECORD;
		size_t len = h.len;
		unsigned what = h.op & 7, dir = (h.op >> 3) & 1;
		uint64_t cookie = h.op >> 4; /* 0 is "no cookie": dropped by the tracker */
		struct ws_event *ev;
		size_t ev_size;

		pos += FUZZ_EV_RECORD;
		if (len > size - pos)
			len = size - pos;
		pos += len;
		now += time_step(h.time);

		if (what == OP_TICK) {
			tracker_tick(r.tracker, now);
			tracker_tick(r.twin, now);
			continue;
		}
		ev_size = sizeof(*ev) + (what == OP_OWNER || what == OP_CLOSE ? 0 : len);
		ev = calloc(1, ev_size); /* exactly the record: ASan sees a read past it */
		if (!ev)
			abort();
		ev->cookie = cookie;
		ev->ts_ns = now;
		ev->cgroup_id = 4242;
		fill_addresses(ev, cookie, cookie & 2);
		ev->dir = (uint8_t)dir;
		switch (what) {
		case OP_OWNER: ev->type = WS_EV_OWNER; break;
		case OP_CLOSE: ev->type = WS_EV_CLOSE; break;
		case OP_RAW:
			/* Any type byte, any dir byte, and a sample_len that may claim more
			 * than the record holds (the tracker must check it against size). */
			ev->type = h.flags & 0x0f;
			ev->dir = (uint8_t)(h.flags >> 4);
			ev->flags = h.owner;
			ev->sample_len = (uint32_t)len + h.seq;
			ev->payload_len = ev->sample_len;
			ev->seq = next_seq[cookie][dir & 1];
			memcpy(ev->data, payload, len);
			break;
		default: {
			uint32_t seq = next_seq[cookie][dir] + (uint32_t)(int32_t)(int8_t)h.seq;

			ev->type = WS_EV_DATA;
			ev->flags = h.flags | (what == OP_DATA_STATUS ? WS_F_STATUS_ONLY : 0);
			ev->seq = seq;
			ev->sample_len = (uint32_t)len;
			ev->payload_len = (uint32_t)len + ((h.flags & WS_F_CUT) ? 1000 : 0);
			memcpy(ev->data, payload, len);
			next_seq[cookie][dir] = seq + ev->payload_len;
			break;
		}
		}
		set_owner(ev, h.owner, payload, len);
		tracker_event(r.tracker, ev, ev_size);
		tracker_event(r.twin, ev, ev_size);
		free(ev);
	}
	tracker_tick(r.tracker, now);
	tracker_flush(r.tracker);
	tracker_tick(r.twin, now);
	tracker_flush(r.twin);
	check_pairings(&r);
	tracker_free(r.twin);
	tracker_stats(r.tracker, &stats);
	FUZZ_CHECK(stats.conns == 0, "%llu connections left after the flush", (unsigned long long)stats.conns);
	FUZZ_CHECK(r.exchanges == stats.requests, "%llu exchanges for %llu requests", (unsigned long long)r.exchanges,
		   (unsigned long long)stats.requests);
	FUZZ_CHECK(r.json.counts.exchanges == r.exchanges && r.text.counts.exchanges == r.exchanges, "reporter counts");
	/* Upgraded connections evicted from the table get no lifetime report. */
	FUZZ_CHECK(r.lifetimes == stats.lifetimes + stats.open_at_exit &&
		       r.lifetimes + stats.conns_evicted >= stats.upgraded,
		   "%llu lifetimes reported, %llu upgraded", (unsigned long long)r.lifetimes,
		   (unsigned long long)stats.upgraded);
	FUZZ_CHECK(r.json.counts.printed == r.text.counts.printed, "JSON printed %llu, text %llu",
		   (unsigned long long)r.json.counts.printed, (unsigned long long)r.text.counts.printed);
	tracker_free(r.tracker);
	fclose(r.json_out);
	fclose(r.text_out);
	if (dump) {
		fwrite(r.text_buf, 1, r.text_size, stderr);
		fwrite(r.json_buf, 1, r.json_size, stderr);
		fprintf(stderr, "requests %llu answers %llu unplaced %llu truncated %llu evicted %llu\n",
			(unsigned long long)stats.requests, (unsigned long long)stats.answers,
			(unsigned long long)stats.unplaced, (unsigned long long)stats.truncated,
			(unsigned long long)stats.conns_evicted);
	}
	free(r.json_buf);
	free(r.text_buf);
	return 0;
}
