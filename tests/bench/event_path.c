// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * event_path - user-space cost of every ring-buffer record, in ns per record.
 *
 * Replays records shaped as the kernel side writes them for make bench's
 * keep-alive load (wrk's "GET / HTTP/1.1" with Host only, nginx's 200 with a
 * 512-byte page, sampled as the kernel side samples it; an owner record per
 * connection, a close at its end) with a few WebSocket handshakes among them
 * (a 101, the lifetime record of the FIN, the close), through the same code
 * as wssnoop's poll loop (pipeline.h): records in, the loop's work once per
 * wakeup, exchanges judged and printed to /dev/null. Also times handshakes
 * alone: the cost of what is printed. The -staged rows add what per-CPU
 * staging costs the reader: requests and answers gathered in 16 KiB batches
 * as two CPUs would stage them, and put back in time order (reorder.h) where
 * they lie, as the loader holds them in the ring, about 50 ms as behind the
 * reader's flushes.
 *
 *   event_path [PASSES [SCENARIO]]   prints a table, then one JSON line
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include "bench_clock.h"
#include "bench_load.h"
#include "path_glob.h"
#include "pipeline.h"
#include "reorder.h"

#define REPEATS 7
#define CONNS 16		/* wrk -c16 */
#define REQUESTS_PER_CONN 256	/* per pass */
#define HANDSHAKES_PER_PASS 4	/* among 4096 plain requests: about 1 in 1000 */
#define HANDSHAKE_PASS 1024	/* handshakes per pass of the handshake-only rows */
#define WAKE_BYTES (1u << 20)	/* the kernel wakes the reader every 1/8 of the 8 MiB ring */
#define REQUEST_GAP_NS 33000	/* about 30k requests/s */
#define NGINX_PID 4242

/* RFC 6455's example key and its accept. */
#define WS_REQUEST                                                                                 \
	"GET /ws/chat?room=42 HTTP/1.1\r\nHost: app.example.com\r\nConnection: Upgrade\r\n"         \
	"Pragma: no-cache\r\nCache-Control: no-cache\r\n"                                          \
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "      \
	"Chrome/120.0.0.0 Safari/537.36\r\nUpgrade: websocket\r\nOrigin: https://app.example.com\r\n" \
	"Sec-WebSocket-Version: 13\r\nAccept-Encoding: gzip, deflate, br\r\n"                      \
	"Accept-Language: en-US,en;q=0.9\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"        \
	"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
#define WS_ANSWER                                                                                  \
	"HTTP/1.1 101 Switching Protocols\r\nServer: nginx/1.22.1\r\nUpgrade: websocket\r\n"        \
	"Connection: upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"

/* The records of one pass, laid out as in the ring buffer (8-byte aligned). */
struct replay {
	uint8_t *buf;
	size_t len, cap;
	size_t records, requests, attempts;
	size_t *offsets; /* where each record starts, for patching between passes */
	size_t n_offsets, cap_offsets;
	bool status_only; /* answers that are no 101 sampled for their status line */
};

struct scenario {
	const char *name;
	bool json;
	bool handshakes_only;
	bool status_only; /* as the kernel side samples answers (WS_F_STATUS_ONLY) */
	uint32_t answer_budget;
	bool staged; /* through per-direction batches and the reorder */
};

static const struct scenario scenarios[] = {
	{"keepalive-text", false, false, true, WS_ANSWER_SAMPLE_DEFAULT, false},
	{"keepalive-json", true, false, true, WS_ANSWER_SAMPLE_DEFAULT, false},
	{"keepalive-text-staged", false, false, true, WS_ANSWER_SAMPLE_DEFAULT, true},
	/* Answers sampled to the whole budget, as before WS_F_STATUS_ONLY. */
	{"keepalive-text-1024", false, false, false, 1024, false},
	{"handshakes-text", false, true, true, WS_ANSWER_SAMPLE_DEFAULT, false},
	{"handshakes-json", true, true, true, WS_ANSWER_SAMPLE_DEFAULT, false},
};

#define N_SCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

static struct ws_event *replay_add(struct replay *r, const void *sample, uint32_t sample_len)
{
	size_t size = sizeof(struct ws_event) + sample_len;
	size_t room = (size + 7) & ~(size_t)7;
	struct ws_event *ev;

	if (r->len + room > r->cap) {
		r->cap = r->cap ? r->cap * 2 : 1 << 20;
		while (r->cap < r->len + room)
			r->cap *= 2;
		r->buf = realloc(r->buf, r->cap);
	}
	if (r->n_offsets == r->cap_offsets) {
		r->cap_offsets = r->cap_offsets ? r->cap_offsets * 2 : 4096;
		r->offsets = realloc(r->offsets, r->cap_offsets * sizeof(*r->offsets));
	}
	if (!r->buf || !r->offsets) {
		fprintf(stderr, "event_path: out of memory\n");
		exit(1);
	}
	ev = (struct ws_event *)(r->buf + r->len);
	memset(ev, 0, sizeof(*ev));
	if (sample_len)
		memcpy(ev->data, sample, sample_len);
	ev->sample_len = sample_len;
	r->offsets[r->n_offsets++] = r->len;
	r->len += room;
	r->records++;
	return ev;
}

/* Connection index c of a pass; cookies are patched per pass. */
static void set_conn(struct ws_event *ev, unsigned c)
{
	ev->family = AF_INET;
	ev->local_port = 18480;
	ev->remote_port = (uint16_t)(40000 + c);
	ev->local_addr[0] = 127;
	ev->local_addr[3] = 1;
	ev->remote_addr[0] = 127;
	ev->remote_addr[3] = 1;
	ev->cgroup_id = 1;
	ev->cookie = c + 1;
}

/* A segment sampled the way the kernel side samples it: the whole payload, or
 * the budget's worth and WS_F_CUT; an answer that is plainly no 101 only as
 * far as its status line needs (bpf/capture.bpf.h). */
static struct ws_event *add_segment(struct replay *r, unsigned c, int dir, uint16_t flags, uint32_t seq,
				    const void *payload, uint32_t payload_len, uint32_t budget, uint64_t ts)
{
	const uint8_t *bytes = payload;
	struct ws_event *ev;
	uint32_t n;

	if (r->status_only && dir == WS_DIR_OUT && (flags & WS_F_HEAD_START) && payload_len >= 12 &&
	    memcmp(bytes + 9, "101", 3) != 0 && budget > WS_ANSWER_STATUS_SAMPLE) {
		flags |= WS_F_STATUS_ONLY;
		budget = WS_ANSWER_STATUS_SAMPLE;
	}
	n = payload_len < budget ? payload_len : budget;
	ev = replay_add(r, payload, n);

	set_conn(ev, c);
	ev->type = WS_EV_DATA;
	ev->dir = (uint8_t)dir;
	ev->flags = flags | (n < payload_len ? WS_F_CUT : 0);
	ev->payload_len = payload_len;
	ev->seq = seq;
	ev->ts_ns = ts;
	return ev;
}

static void add_owner(struct replay *r, unsigned c, uint64_t ts)
{
	struct ws_event *ev = replay_add(r, NULL, 0);

	set_conn(ev, c);
	ev->type = WS_EV_OWNER;
	ev->owner_source = WS_OWNER_SOCK_TP;
	ev->tgid = NGINX_PID;
	ev->tid = NGINX_PID;
	snprintf(ev->comm, sizeof(ev->comm), "nginx");
	ev->ts_ns = ts;
}

static void add_close(struct replay *r, unsigned c, uint64_t ts)
{
	struct ws_event *ev = replay_add(r, NULL, 0);

	set_conn(ev, c);
	ev->type = WS_EV_CLOSE;
	ev->ts_ns = ts;
}

/* One handshake on its own connection: request, 101, the lifetime record the
 * FIN carries, the close. */
static void add_handshake(struct replay *r, unsigned c, uint32_t request_budget, uint32_t answer_budget,
			  uint64_t *ts)
{
	struct ws_lifetime life = {0};
	struct ws_event *ev;

	add_segment(r, c, WS_DIR_IN, WS_F_FIRST | WS_F_HEAD_START, 1000, WS_REQUEST, sizeof(WS_REQUEST) - 1,
		    request_budget, *ts);
	add_owner(r, c, *ts + 1000);
	add_segment(r, c, WS_DIR_OUT, WS_F_FIRST | WS_F_HEAD_START, 9000, WS_ANSWER, sizeof(WS_ANSWER) - 1,
		    answer_budget, *ts + 20000);
	life.upgraded_ns = *ts + 20000;
	life.last_data_ns[WS_DIR_IN] = life.last_data_ns[WS_DIR_OUT] = *ts + 20000;
	life.first_close_ns = *ts + 40000;
	life.close_code[0] = life.close_code[1] = 1005;
	life.closer = WS_DIR_IN;
	ev = replay_add(r, &life, sizeof(life));
	set_conn(ev, c);
	ev->type = WS_EV_DATA;
	ev->dir = WS_DIR_IN;
	ev->flags = WS_F_LIFETIME | WS_F_FIN;
	ev->ts_ns = *ts + 40000;
	add_close(r, c, *ts + 50000);
	*ts += 60000;
	r->requests++;
	r->attempts++;
}

static void build(struct replay *r, const struct scenario *s, uint32_t request_budget)
{
	static uint8_t answer[sizeof(NGINX_HEAD) - 1 + NGINX_PAGE_BYTES];
	uint32_t answer_len = sizeof(answer);
	uint32_t in_seq[CONNS], out_seq[CONNS];
	uint64_t ts = 1000000000ULL;
	unsigned next_conn = CONNS;

	memset(r, 0, sizeof(*r));
	r->status_only = s->status_only;
	memcpy(answer, NGINX_HEAD, sizeof(NGINX_HEAD) - 1);
	memset(answer + sizeof(NGINX_HEAD) - 1, 'x', NGINX_PAGE_BYTES);
	if (s->handshakes_only) {
		for (unsigned i = 0; i < HANDSHAKE_PASS; i++)
			add_handshake(r, next_conn++, request_budget, s->answer_budget, &ts);
		return;
	}
	for (unsigned c = 0; c < CONNS; c++) {
		in_seq[c] = 100000u * c + 1;
		out_seq[c] = 0xfff00000u + 100000u * c; /* wraps within the pass */
	}
	/* wrk keeps one request in flight per connection; nginx answers them in
	 * turn, so requests and answers of different connections interleave. */
	for (unsigned i = 0; i < REQUESTS_PER_CONN; i++) {
		for (unsigned c = 0; c < CONNS; c++) {
			uint16_t first = i == 0 ? WS_F_FIRST : 0;

			add_segment(r, c, WS_DIR_IN, WS_F_HEAD_START | first, in_seq[c], WRK_REQUEST,
				    sizeof(WRK_REQUEST) - 1, request_budget, ts);
			in_seq[c] += sizeof(WRK_REQUEST) - 1;
			if (i == 0)
				add_owner(r, c, ts + 500);
			add_segment(r, c, WS_DIR_OUT, WS_F_HEAD_START | first, out_seq[c], answer, answer_len,
				    s->answer_budget, ts + 15000);
			out_seq[c] += answer_len;
			ts += REQUEST_GAP_NS;
			r->requests++;
		}
		if (i % (REQUESTS_PER_CONN / HANDSHAKES_PER_PASS) == REQUESTS_PER_CONN / HANDSHAKES_PER_PASS / 2)
			add_handshake(r, next_conn++, request_budget, s->answer_budget, &ts);
	}
	for (unsigned c = 0; c < CONNS; c++)
		add_close(r, c, ts + 1000 * c);
}

/* One pass of records as the poll loop hands them over, with its work at
 * each wakeup. Not inlined: `valgrind --tool=callgrind
 * --toggle-collect=feed_pass` counts exactly this. */
__attribute__((noinline)) static void feed_pass(struct pipeline *p, const struct replay *r)
{
	size_t waiting = 0;

	for (size_t i = 0; i < r->n_offsets; i++) {
		const struct ws_event *ev = (const struct ws_event *)(r->buf + r->offsets[i]);
		size_t size = sizeof(*ev) + ev->sample_len;

		pipeline_record(p, ev, size);
		/* A ring-buffer record: an 8-byte header, rounded up to 8. */
		waiting += (size + 15) & ~(size_t)7;
		if (waiting >= WAKE_BYTES) {
			pipeline_wake(p, ev->ts_ns);
			waiting = 0;
		}
	}
	pipeline_wake(p, ((const struct ws_event *)(r->buf + r->offsets[r->n_offsets - 1]))->ts_ns);
}

#define HOLD_NS (50ULL * 1000 * 1000) /* the reader's flush period */

/* Records of one direction gathered as one CPU's stage gathers them. */
struct stage_sim {
	size_t first, count, bytes;
};

static void stage_out(struct reorder *ro, const struct replay *r, const size_t *order, struct stage_sim *st)
{
	for (size_t k = st->first; k < st->first + st->count; k++) {
		const struct ws_event *ev = (const struct ws_event *)(r->buf + r->offsets[order[k]]);

		reorder_hold(ro, ev, sizeof(*ev) + ev->sample_len, 0); /* in place, as the loader holds them */
	}
	st->count = st->bytes = 0;
}

/* The same pass with requests staged on one CPU and everything else on
 * another: batches of WS_STAGE_BYTES, flushed in turn, then the reorder. */
__attribute__((noinline)) static void feed_pass_staged(struct pipeline *p, struct reorder *ro, const struct replay *r,
						       size_t *order)
{
	struct stage_sim st[2] = {{0}};
	size_t n[2] = {0}, base[2];
	uint64_t last_release = 0;

	/* Indexes of each direction's records, in their order. */
	for (size_t i = 0; i < r->n_offsets; i++)
		n[((const struct ws_event *)(r->buf + r->offsets[i]))->dir == WS_DIR_IN]++;
	base[0] = 0;
	base[1] = n[0];
	n[0] = n[1] = 0;
	for (size_t i = 0; i < r->n_offsets; i++) {
		const struct ws_event *ev = (const struct ws_event *)(r->buf + r->offsets[i]);
		int cpu = ev->dir == WS_DIR_IN;
		size_t size = ws_staged_size(ev->sample_len);

		if (st[cpu].bytes + size > WS_STAGE_BYTES - sizeof(struct ws_batch))
			stage_out(ro, r, order, &st[cpu]);
		if (!st[cpu].count)
			st[cpu].first = base[cpu] + n[cpu];
		order[base[cpu] + n[cpu]++] = i;
		st[cpu].count++;
		st[cpu].bytes += size;
		if (ev->ts_ns - last_release >= HOLD_NS) {
			reorder_release(ro, ev->ts_ns - HOLD_NS);
			pipeline_wake(p, ev->ts_ns - HOLD_NS);
			last_release = ev->ts_ns;
		}
	}
	stage_out(ro, r, order, &st[0]);
	stage_out(ro, r, order, &st[1]);
	/* Everything handed on, but not drained: a drain also frees the buffers
	 * kept for reuse, which the reader, running for hours, keeps (measured:
	 * draining each 136 ms pass made four pushes in five a malloc). */
	reorder_release(ro, UINT64_MAX);
	pipeline_wake(p, ((const struct ws_event *)(r->buf + r->offsets[r->n_offsets - 1]))->ts_ns);
}

/* New cookies and later times for each pass: the tracker sees new connections. */
static void patch(struct replay *r, unsigned pass, uint64_t pass_ns)
{
	for (size_t i = 0; i < r->n_offsets; i++) {
		struct ws_event *ev = (struct ws_event *)(r->buf + r->offsets[i]);

		ev->cookie = (ev->cookie & 0xffffffu) | (uint64_t)(pass + 1) << 24;
		ev->ts_ns += pass ? pass_ns : 0;
	}
}

/* Median ns per record over REPEATS timed passes, after one warm-up pass. */
static double run(const struct scenario *s, const struct path_set *paths, unsigned passes, struct replay *r,
		  uint64_t *printed)
{
	/* As main.c sets it up on a kernel that attributes (sock:* tracepoints),
	 * with the default timeout. */
	struct pipeline_opts popts = {
		.request_budget = WS_REQUEST_SAMPLE_DEFAULT,
		.answer_budget = s->answer_budget,
		.timeout_ns = 10ULL * 1000000000ULL,
		.lifetime = true,
	};
	struct pipeline p;
	struct reorder *ro;
	size_t *order;
	double runs[REPEATS];
	uint64_t pass_ns;
	FILE *out = fopen("/dev/null", "w");

	if (!out) {
		perror("event_path: /dev/null");
		exit(1);
	}
	setvbuf(out, NULL, _IOFBF, 1 << 16);
	build(r, s, WS_REQUEST_SAMPLE_DEFAULT);
	/* The next pass starts a millisecond after this one ends. */
	pass_ns = ((const struct ws_event *)(r->buf + r->offsets[r->n_offsets - 1]))->ts_ns -
		  ((const struct ws_event *)r->buf)->ts_ns + 1000000;

	popts.report.out = out;
	popts.report.json = s->json;
	popts.report.paths = paths;
	popts.report.mono_to_real_ns = 1700000000000000000LL;
	ro = reorder_new(4u << 20, pipeline_record, NULL, &p);
	order = malloc(r->n_offsets * sizeof(*order));
	if (pipeline_init(&p, &popts) || !ro || !order) {
		fprintf(stderr, "event_path: out of memory\n");
		exit(1);
	}
	for (unsigned rep = 0; rep < REPEATS + 1; rep++) {
		double start;
		size_t records = 0;

		start = bench_now_ns();
		for (unsigned pass = 0; pass < passes; pass++) {
			patch(r, rep * passes + pass, pass_ns);
			if (pass == 0)
				start = bench_now_ns();
			if (s->staged)
				feed_pass_staged(&p, ro, r, order);
			else
				feed_pass(&p, r);
			records += r->n_offsets;
		}
		if (rep)
			runs[rep - 1] = (bench_now_ns() - start) / (double)records;
	}
	*printed = p.reporter.counts.printed;
	pipeline_finish(&p);
	pipeline_free(&p);
	reorder_free(ro);
	free(order);
	fclose(out);
	return bench_median(runs, REPEATS);
}

int main(int argc, char **argv)
{
	static struct path_set paths;
	unsigned passes = argc > 1 ? (unsigned)atoi(argv[1]) : 8;
	double record_ns[N_SCENARIOS], request_ns[N_SCENARIOS];
	size_t records[N_SCENARIOS], requests[N_SCENARIOS], attempts[N_SCENARIOS];
	/* One scenario, for a profiler: then the JSON line says how many records
	 * went through, so that two pass counts under callgrind give the
	 * instructions per record. */
	const char *only = argc > 2 ? argv[2] : NULL;
	const size_t passes_run = (size_t)passes * (REPEATS + 1); /* run() warms up, then repeats */

	if (argc > 3 || (int)passes <= 0) {
		fprintf(stderr, "usage: event_path [PASSES [SCENARIO]]\n");
		return 2;
	}
	path_set_init(&paths);
	path_set_load_defaults(&paths);
	printf("%-20s %8s %9s %9s %10s %11s\n", "scenario", "records", "requests", "attempts", "ns/record",
	       "ns/request");
	for (size_t i = 0; i < N_SCENARIOS; i++) {
		struct replay r;
		uint64_t printed;

		if (only && strcmp(only, scenarios[i].name))
			continue;
		record_ns[i] = run(&scenarios[i], &paths, passes, &r, &printed);
		records[i] = r.records;
		requests[i] = r.requests;
		attempts[i] = r.attempts;
		request_ns[i] = record_ns[i] * (double)r.records / (double)r.requests;
		if (printed != (uint64_t)r.attempts * passes_run) {
			fprintf(stderr, "event_path: %s printed %llu attempts, %zu expected\n", scenarios[i].name,
				(unsigned long long)printed, r.attempts * passes_run);
			return 1;
		}
		printf("%-20s %8zu %9zu %9zu %10.1f %11.1f\n", scenarios[i].name, records[i], requests[i],
		       attempts[i], record_ns[i], request_ns[i]);
		if (only)
			printf("{\"type\":\"event_path\",\"scenario\":\"%s\",\"records_run\":%zu}\n", scenarios[i].name,
			       r.records * passes_run);
		free(r.buf);
		free(r.offsets);
	}
	if (only)
		return 0;
	printf("{\"type\":\"event_path\",\"passes\":%u,\"record_ns\":%.1f,\"request_ns\":%.1f", passes, record_ns[0],
	       request_ns[0]);
	for (size_t i = 0; i < N_SCENARIOS; i++)
		printf(",\"%s\":[%.1f,%.1f]", scenarios[i].name, record_ns[i], request_ns[i]);
	printf("}\n");
	return 0;
}
