// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_tracker.c - reassembly, pairing and timeouts over synthetic records,
 * shaped exactly as the kernel side writes them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sys/socket.h>
#include "tracker.h"

#define MAX_SEEN 32
#define REQ "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n"
#define ANS101 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
#define ANS200 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"

struct seen {
	enum exchange_end end;
	char request[512];
	char answer[512];
	unsigned index;
	bool truncated, first, answer_truncated, not_attempt;
	uint32_t tgid;
};

static struct seen seen[MAX_SEEN];
static int n_seen;

static void on_exchange(void *ctx, const struct exchange *x)
{
	struct seen *s = &seen[n_seen++ % MAX_SEEN];

	(void)ctx;
	memset(s, 0, sizeof(*s));
	s->end = x->end;
	if (x->request)
		memcpy(s->request, x->request, x->request_len < 511 ? x->request_len : 511);
	if (x->answer)
		memcpy(s->answer, x->answer, x->answer_len < 511 ? x->answer_len : 511);
	s->index = x->request_index;
	s->truncated = x->request_truncated;
	s->answer_truncated = x->answer_truncated;
	s->first = x->first_on_conn;
	s->not_attempt = x->not_attempt;
	s->tgid = x->conn->tgid;
}

static struct tracker *make(uint32_t budget)
{
	struct tracker_opts o = {
		.request_budget = budget,
		.answer_budget = 1024,
		.timeout_ns = 1000,
		.max_conns = 4,
		.on_exchange = on_exchange,
	};

	n_seen = 0;
	return tracker_new(&o);
}

static void feed(struct tracker *t, uint64_t cookie, int dir, uint32_t seq, uint16_t flags, const char *data,
		 size_t len, uint64_t ts)
{
	size_t size = sizeof(struct ws_event) + len;
	struct ws_event *ev = calloc(1, size);

	ev->type = WS_EV_DATA;
	ev->dir = (uint8_t)dir;
	ev->family = AF_INET;
	ev->flags = flags;
	ev->local_port = 8080;
	ev->remote_port = 40000;
	ev->sample_len = (uint32_t)len;
	ev->payload_len = (uint32_t)len;
	ev->seq = seq;
	ev->cookie = cookie;
	ev->ts_ns = ts;
	if (dir == WS_DIR_OUT) {
		ev->tgid = 77;
		ev->tid = 78;
		ev->owner_source = WS_OWNER_EGRESS;
	}
	memcpy(ev->data, data, len);
	tracker_event(t, ev, size);
	free(ev);
}

/* A close as the packet path writes it: with the socket's endpoints (the
 * ones feed() gives every record). */
static void feed_close(struct tracker *t, uint64_t cookie, uint64_t ts)
{
	struct ws_event ev = {.type = WS_EV_CLOSE, .cookie = cookie, .ts_ns = ts, .family = AF_INET,
			      .local_port = 8080, .remote_port = 40000};

	tracker_event(t, &ev, sizeof(ev));
}

#define HS WS_F_HEAD_START
#define FIRST (WS_F_HEAD_START | WS_F_FIRST)

static void test_whole_head_and_answer(void **state)
{
	struct tracker *t = make(4096);

	(void)state;
	feed(t, 1, WS_DIR_IN, 1000, FIRST, REQ, strlen(REQ), 10);
	assert_int_equal(n_seen, 0);
	feed(t, 1, WS_DIR_OUT, 5000, FIRST, ANS101, strlen(ANS101), 20);
	assert_int_equal(n_seen, 1);
	assert_int_equal(seen[0].end, EXCHANGE_ANSWERED);
	assert_string_equal(seen[0].request, REQ);
	assert_string_equal(seen[0].answer, ANS101);
	assert_int_equal(seen[0].index, 1);
	assert_true(seen[0].first);
	assert_int_equal(seen[0].tgid, 77);
	tracker_free(t);
}

static void test_head_in_pieces_out_of_order_with_retransmit(void **state)
{
	struct tracker *t = make(4096);
	const char *req = REQ;
	size_t len = strlen(req);

	(void)state;
	feed(t, 1, WS_DIR_IN, 100, FIRST, req, 10, 1);
	feed(t, 1, WS_DIR_IN, 120, WS_F_CONT, req + 20, len - 20, 3); /* before its predecessor */
	feed(t, 1, WS_DIR_IN, 100, HS, req, 10, 4);		      /* retransmission */
	assert_int_equal(n_seen, 0);
	feed(t, 1, WS_DIR_IN, 110, WS_F_CONT, req + 10, 10, 5);
	feed(t, 1, WS_DIR_OUT, 9, FIRST, ANS101, strlen(ANS101), 6);
	assert_int_equal(n_seen, 1);
	assert_string_equal(seen[0].request, REQ);
	assert_false(seen[0].truncated);
	tracker_free(t);
}

static void test_keepalive_two_requests(void **state)
{
	struct tracker *t = make(4096);
	const char *plain = "GET /ws/info HTTP/1.1\r\nHost: a\r\n\r\n";
	uint32_t in = 1, out = 1;

	(void)state;
	feed(t, 5, WS_DIR_IN, in, FIRST, plain, strlen(plain), 1);
	in += strlen(plain);
	feed(t, 5, WS_DIR_OUT, out, FIRST, ANS200, strlen(ANS200), 2);
	out += strlen(ANS200);
	feed(t, 5, WS_DIR_IN, in, HS, REQ, strlen(REQ), 3);
	feed(t, 5, WS_DIR_OUT, out, HS, ANS101, strlen(ANS101), 4);
	assert_int_equal(n_seen, 2);
	assert_string_equal(seen[0].request, plain);
	assert_string_equal(seen[0].answer, ANS200);
	assert_int_equal(seen[0].index, 1);
	assert_string_equal(seen[1].request, REQ);
	assert_int_equal(seen[1].index, 2);
	assert_false(seen[1].first);
	tracker_free(t);
}

static void test_pipelined_in_one_segment(void **state)
{
	struct tracker *t = make(4096);
	char both[256];

	(void)state;
	snprintf(both, sizeof(both), "%s%s", REQ, "GET /b HTTP/1.1\r\nHost: a\r\n\r\n");
	feed(t, 2, WS_DIR_IN, 1, FIRST, both, strlen(both), 1);
	feed(t, 2, WS_DIR_OUT, 1, FIRST, ANS200, strlen(ANS200), 2);
	feed(t, 2, WS_DIR_OUT, 1 + strlen(ANS200), HS, ANS101, strlen(ANS101), 3);
	assert_int_equal(n_seen, 2);
	assert_string_equal(seen[0].request, REQ);
	assert_string_equal(seen[1].request, "GET /b HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_string_equal(seen[1].answer, ANS101);
	tracker_free(t);
}

/* A whole head and the start of the next in one segment, the rest later:
 * the first is read from the record, the second waits in a buffer. */
static void test_pipelined_then_rest_of_second(void **state)
{
	struct tracker *t = make(4096);
	const char *second = "GET /b HTTP/1.1\r\nHost: a\r\n\r\n";
	char both[256];
	size_t cut = strlen(REQ) + 10;

	(void)state;
	snprintf(both, sizeof(both), "%s%s", REQ, second);
	feed(t, 2, WS_DIR_IN, 1, FIRST, both, cut, 1);
	feed(t, 2, WS_DIR_OUT, 1, FIRST, ANS200, strlen(ANS200), 2);
	assert_int_equal(n_seen, 1);
	assert_string_equal(seen[0].request, REQ);
	feed(t, 2, WS_DIR_IN, 1 + (uint32_t)cut, WS_F_CONT, both + cut, strlen(both) - cut, 3);
	feed(t, 2, WS_DIR_OUT, 1 + strlen(ANS200), HS, ANS200, strlen(ANS200), 4);
	assert_int_equal(n_seen, 2);
	assert_string_equal(seen[1].request, second);
	assert_int_equal(seen[1].index, 2);
	assert_false(seen[1].first);
	tracker_free(t);
}

/* Ticks before anything is due change nothing; the idle limit still frees a
 * quiet connection, and a request's timeout still comes, once. */
static void test_ticks_before_and_after_due(void **state)
{
	struct tracker_opts o = {
		.request_budget = 4096,
		.answer_budget = 1024,
		.timeout_ns = 1000,
		.idle_ns = 5000,
		.max_conns = 4,
		.on_exchange = on_exchange,
	};
	struct tracker *t;
	struct tracker_stats st;

	(void)state;
	n_seen = 0;
	t = tracker_new(&o);
	feed(t, 1, WS_DIR_IN, 1, FIRST, REQ, strlen(REQ), 100);
	feed(t, 1, WS_DIR_OUT, 1, FIRST, ANS200, strlen(ANS200), 200);
	feed(t, 2, WS_DIR_IN, 1, FIRST, REQ, strlen(REQ), 300);
	for (uint64_t now = 300; now < 1300; now += 100)
		tracker_tick(t, now);
	assert_int_equal(n_seen, 1);
	tracker_tick(t, 1300);
	assert_int_equal(n_seen, 2);
	assert_int_equal(seen[1].end, EXCHANGE_NO_RESPONSE);
	tracker_stats(t, &st);
	assert_int_equal(st.conns, 2);
	tracker_tick(t, 5100);
	tracker_stats(t, &st);
	assert_int_equal(st.conns, 2);
	tracker_tick(t, 5200); /* connection 1, quiet since 200 */
	tracker_stats(t, &st);
	assert_int_equal(st.conns, 1);
	tracker_tick(t, 5300); /* connection 2: its request was reported */
	tracker_stats(t, &st);
	assert_int_equal(st.conns, 0);
	assert_int_equal(n_seen, 2);
	tracker_free(t);
}

static void test_interim_answer_is_not_the_answer(void **state)
{
	struct tracker *t = make(4096);
	const char *cont = "HTTP/1.1 100 Continue\r\n\r\n";

	(void)state;
	feed(t, 3, WS_DIR_IN, 1, FIRST, REQ, strlen(REQ), 1);
	feed(t, 3, WS_DIR_OUT, 1, FIRST, cont, strlen(cont), 2);
	assert_int_equal(n_seen, 0);
	feed(t, 3, WS_DIR_OUT, 1 + strlen(cont), HS, ANS200, strlen(ANS200), 3);
	assert_int_equal(n_seen, 1);
	assert_string_equal(seen[0].answer, ANS200);
	tracker_free(t);
}

static void test_closed_before_answer(void **state)
{
	struct tracker *t = make(4096);

	(void)state;
	feed(t, 4, WS_DIR_IN, 1, FIRST, REQ, strlen(REQ), 1);
	feed_close(t, 4, 2);
	assert_int_equal(n_seen, 1);
	assert_int_equal(seen[0].end, EXCHANGE_CLOSED);
	feed_close(t, 4, 3); /* a second close of a forgotten connection adds nothing */
	assert_int_equal(n_seen, 1);
	tracker_free(t);
}

static void test_timeout_then_late_answer(void **state)
{
	struct tracker *t = make(4096);
	struct tracker_stats st;

	(void)state;
	feed(t, 6, WS_DIR_IN, 1, FIRST, REQ, strlen(REQ), 100);
	tracker_tick(t, 500);
	assert_int_equal(n_seen, 0);
	tracker_tick(t, 1100);
	assert_int_equal(n_seen, 1);
	assert_int_equal(seen[0].end, EXCHANGE_NO_RESPONSE);
	tracker_tick(t, 5000); /* reported once only */
	assert_int_equal(n_seen, 1);
	feed(t, 6, WS_DIR_OUT, 1, FIRST, ANS101, strlen(ANS101), 6000);
	assert_int_equal(n_seen, 1);
	tracker_stats(t, &st);
	assert_int_equal(st.late_answers, 1);
	tracker_free(t);
}

/* The kernel side samples an answer that is no 101 up to its status line's
 * budget: that short window is answered at once, and is no truncation. Heads
 * that follow it on the connection get the full budget again. */
static void test_status_only_answer(void **state)
{
	struct tracker *t = make(4096);
	char ans[WS_ANSWER_STATUS_SAMPLE];
	const char *line = "HTTP/1.1 200 OK\r\nServer: x\r\n";

	(void)state;
	memset(ans, 'h', sizeof(ans));
	memcpy(ans, line, strlen(line));
	feed(t, 1, WS_DIR_IN, 1000, FIRST, REQ, strlen(REQ), 10);
	feed(t, 1, WS_DIR_OUT, 5000, FIRST | WS_F_STATUS_ONLY | WS_F_CUT, ans, sizeof(ans), 20);
	assert_int_equal(n_seen, 1);
	assert_int_equal(seen[0].end, EXCHANGE_ANSWERED);
	assert_false(seen[0].answer_truncated);
	assert_memory_equal(seen[0].answer, line, strlen(line));
	/* The next request is upgraded: its 101, longer than a status-line
	 * window and in two segments, gets the whole answer budget. */
	char big[400];
	const char *head = "HTTP/1.1 101 Switching Protocols\r\nX-Pad: ";
	size_t hl = strlen(head);

	memcpy(big, head, hl);
	memset(big + hl, 'p', sizeof(big) - hl - 4);
	memcpy(big + sizeof(big) - 4, "\r\n\r\n", 4);
	feed(t, 1, WS_DIR_IN, 1000 + strlen(REQ), HS, REQ, strlen(REQ), 30);
	feed(t, 1, WS_DIR_OUT, 7000, HS, big, 300, 40);
	assert_int_equal(n_seen, 1);
	feed(t, 1, WS_DIR_OUT, 7300, WS_F_CONT, big + 300, sizeof(big) - 300, 41);
	assert_int_equal(n_seen, 2);
	assert_false(seen[1].answer_truncated);
	assert_memory_equal(seen[1].answer, big, sizeof(big));
	tracker_free(t);
}

/* The reporter's test as the pipeline wires it, reduced: a request for
 * /index.html is no attempt. Counts what it was asked. */
static int not_attempt_asked;

static bool index_not_attempt(void *ctx, const uint8_t *head, size_t len, bool first)
{
	(void)ctx;
	(void)first;
	not_attempt_asked++;
	return len >= 16 && memcmp(head, "GET /index.html ", 16) == 0;
}

/* A request cleared as no attempt keeps no copy; its status-line answer is
 * paired with it whole, and the attempts around it are read as ever: after
 * it on the connection, pipelined behind it (two waiting: the answers in one
 * window are found by their ends), and behind an interim answer. */
static void test_not_attempt_keeps_no_copy(void **state)
{
	struct tracker_opts o = {
		.request_budget = 4096, .answer_budget = 1024, .timeout_ns = 1000, .max_conns = 4,
		.on_exchange = on_exchange, .not_attempt = index_not_attempt,
	};
	struct tracker *t;
	const char *page = "GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n";
	const char *cont = "HTTP/1.1 100 Continue\r\n\r\n";
	char ans[WS_ANSWER_STATUS_SAMPLE], two[512];
	uint32_t in = 1, out = 1;

	(void)state;
	n_seen = not_attempt_asked = 0;
	t = tracker_new(&o);
	memset(ans, '<', sizeof(ans));
	memcpy(ans, ANS200, strlen(ANS200));
	feed(t, 9, WS_DIR_IN, in, FIRST, page, strlen(page), 1);
	in += strlen(page);
	feed(t, 9, WS_DIR_OUT, out, FIRST | WS_F_STATUS_ONLY | WS_F_CUT, ans, sizeof(ans), 2);
	out += 600;
	assert_int_equal(n_seen, 1);
	assert_int_equal(not_attempt_asked, 1);
	assert_true(seen[0].not_attempt);
	assert_string_equal(seen[0].request, "");
	assert_int_equal(seen[0].end, EXCHANGE_ANSWERED);
	assert_int_equal(seen[0].index, 1);
	assert_memory_equal(seen[0].answer, ANS200, strlen(ANS200));

	/* The attempt after it is the second request, with its own answer. */
	feed(t, 9, WS_DIR_IN, in, HS, REQ, strlen(REQ), 3);
	in += strlen(REQ);
	memcpy(ans, "HTTP/1.1 400 Bad", 16);
	feed(t, 9, WS_DIR_OUT, out, HS | WS_F_STATUS_ONLY | WS_F_CUT, ans, sizeof(ans), 4);
	out += 600;
	assert_int_equal(n_seen, 2);
	assert_false(seen[1].not_attempt);
	assert_string_equal(seen[1].request, REQ);
	assert_int_equal(seen[1].index, 2);
	assert_memory_equal(seen[1].answer, "HTTP/1.1 400 Bad", 16);

	/* Pipelined: the page, then an attempt; both answers in one window. */
	snprintf(two, sizeof(two), "%s%s", page, REQ);
	feed(t, 9, WS_DIR_IN, in, HS, two, strlen(two), 5);
	in += strlen(two);
	snprintf(two, sizeof(two), "%s%s", ANS200, ANS101);
	feed(t, 9, WS_DIR_OUT, out, HS | WS_F_STATUS_ONLY, two, strlen(two), 6);
	out += strlen(two);
	assert_int_equal(n_seen, 4);
	assert_true(seen[2].not_attempt);
	assert_int_equal(seen[2].index, 3);
	assert_string_equal(seen[3].request, REQ);
	assert_string_equal(seen[3].answer, ANS101);
	assert_int_equal(seen[3].index, 4);

	/* Pipelined behind a page, an attempt whose head has not all come, and
	 * in the window of the page's answer, which does not fill it, the start
	 * of another: it waits there for its end, and is the attempt's once
	 * both are whole. */
	snprintf(two, sizeof(two), "%s%s", page, REQ);
	feed(t, 9, WS_DIR_IN, in, HS, two, strlen(page) + 20, 9);
	snprintf(two, sizeof(two), "%s%s", ANS200, "HTTP/1.1 431 Too Large\r\n");
	feed(t, 9, WS_DIR_OUT, out, HS | WS_F_STATUS_ONLY, two, strlen(two), 10);
	out += strlen(two);
	assert_int_equal(n_seen, 5);
	assert_true(seen[4].not_attempt);
	feed(t, 9, WS_DIR_IN, in + (uint32_t)strlen(page) + 20, WS_F_CONT, REQ + 20, strlen(REQ) - 20, 11);
	feed(t, 9, WS_DIR_OUT, out, WS_F_CONT, "\r\n", 2, 11);
	assert_int_equal(n_seen, 6);
	assert_string_equal(seen[5].request, REQ);
	assert_string_equal(seen[5].answer, "HTTP/1.1 431 Too Large\r\n\r\n");

	/* Behind an interim answer in the same window, the final one is found. */
	feed(t, 10, WS_DIR_IN, 1, FIRST, page, strlen(page), 11);
	snprintf(two, sizeof(two), "%s%s", cont, ANS200);
	feed(t, 10, WS_DIR_OUT, 1, FIRST | WS_F_STATUS_ONLY, two, strlen(two), 12);
	assert_int_equal(n_seen, 7);
	assert_true(seen[6].not_attempt);
	assert_string_equal(seen[6].answer, ANS200);
	tracker_free(t);
}

/* A request that reached the listening socket (accept queue full) comes
 * under the 4-tuple's stand-in cookie; the answer under the connection's own
 * cookie finds it, and two such connections are never merged. */
static void test_pre_accept_adopted_by_own_cookie(void **state)
{
	struct tracker *t = make(4096);
	uint8_t zero[16] = {0};
	uint64_t pseudo = ws_pre_accept_cookie(zero, zero, 8080, 40000);
	struct tracker_stats st;

	(void)state;
	assert_true(pseudo >> 63);
	feed(t, pseudo, WS_DIR_IN, 1000, HS | WS_F_PRE_ACCEPT, REQ, strlen(REQ), 10);
	/* A retransmission of it, still through the listener, is no second head. */
	feed(t, pseudo, WS_DIR_IN, 1000, HS | WS_F_PRE_ACCEPT, REQ, strlen(REQ), 11);
	feed(t, 42, WS_DIR_OUT, 5000, FIRST, ANS101, strlen(ANS101), 20);
	assert_int_equal(n_seen, 1);
	assert_int_equal(seen[0].end, EXCHANGE_ANSWERED);
	assert_string_equal(seen[0].answer, ANS101);
	assert_int_equal(seen[0].index, 1);
	tracker_stats(t, &st);
	assert_int_equal(st.pre_accept, 1);
	assert_int_equal(st.unmatched, 0);
	assert_int_equal(st.conns, 1);
	/* The connection now lives under its own cookie: its close ends it. */
	feed_close(t, 42, 30);
	tracker_stats(t, &st);
	assert_int_equal(st.conns, 0);
	tracker_free(t);
}

/* The server closed a connection whose request reached the listening socket
 * without answering: no record came under the connection's own cookie, and
 * the close finds it by its endpoints. */
static void test_pre_accept_closed_by_endpoints(void **state)
{
	struct tracker *t = make(4096);
	uint8_t zero[16] = {0};
	struct tracker_stats st;

	(void)state;
	feed(t, ws_pre_accept_cookie(zero, zero, 8080, 40000), WS_DIR_IN, 1000, HS | WS_F_PRE_ACCEPT, REQ,
	     strlen(REQ), 10);
	feed_close(t, 43, 20);
	assert_int_equal(n_seen, 1);
	assert_int_equal(seen[0].end, EXCHANGE_CLOSED);
	tracker_stats(t, &st);
	assert_int_equal(st.conns, 0);
	tracker_free(t);
}

/* A request handed on after its socket's close (staged late on its CPU) ends
 * as closed at the next tick, not as unanswered at the timeout; other
 * connections are not touched. */
static void test_record_after_its_close(void **state)
{
	struct tracker *t = make(4096);
	struct tracker_stats st;

	(void)state;
	feed_close(t, 9, 50);
	feed(t, 9, WS_DIR_IN, 1, FIRST, REQ, strlen(REQ), 40);
	feed(t, 10, WS_DIR_IN, 1, FIRST, REQ, strlen(REQ), 45);
	assert_int_equal(n_seen, 0);
	tracker_tick(t, 60);
	assert_int_equal(n_seen, 1);
	assert_int_equal(seen[0].end, EXCHANGE_CLOSED);
	assert_string_equal(seen[0].request, REQ);
	tracker_stats(t, &st);
	assert_int_equal(st.closed_late, 1);
	assert_int_equal(st.conns, 1);
	tracker_tick(t, 1100);
	assert_int_equal(n_seen, 2);
	assert_int_equal(seen[1].end, EXCHANGE_NO_RESPONSE);
	/* A stand-in cookie (a socket's address, in the syscall capture) is
	 * reused by the next socket at that address: its close says nothing of
	 * the connection that comes after. */
	feed_close(t, 1ULL << 63 | 0x1000, 1200);
	feed(t, 1ULL << 63 | 0x1000, WS_DIR_IN, 1, FIRST, REQ, strlen(REQ), 1300);
	tracker_tick(t, 1400);
	assert_int_equal(n_seen, 2);
	tracker_free(t);
}

static void test_truncated_by_budget(void **state)
{
	struct tracker *t = make(64);
	char big[200];

	(void)state;
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /ws HTTP/1.1\r\nX: ", 21);
	feed(t, 7, WS_DIR_IN, 1, FIRST | WS_F_CUT, big, 64, 1);
	assert_int_equal(n_seen, 0);
	feed(t, 7, WS_DIR_OUT, 1, FIRST, ANS200, strlen(ANS200), 2);
	assert_int_equal(n_seen, 1);
	assert_true(seen[0].truncated);
	assert_int_equal(strlen(seen[0].request), 64);
	tracker_free(t);
}

static void test_not_http_first_bytes_are_one_exchange(void **state)
{
	struct tracker *t = make(4096);
	const char tls[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";

	(void)state;
	feed(t, 8, WS_DIR_IN, 1, FIRST, tls, sizeof(tls) - 1, 1);
	feed_close(t, 8, 2);
	assert_int_equal(n_seen, 1);
	assert_int_equal(seen[0].end, EXCHANGE_CLOSED);
	assert_memory_equal(seen[0].request, tls, sizeof(tls) - 1);
	tracker_free(t);
}

static void test_frames_after_upgrade_are_ignored(void **state)
{
	struct tracker *t = make(4096);
	const char frame[] = "\x81\x85\x01\x02\x03\x04hello";
	struct tracker_stats st;

	(void)state;
	feed(t, 9, WS_DIR_IN, 1, FIRST, REQ, strlen(REQ), 1);
	feed(t, 9, WS_DIR_OUT, 1, FIRST, ANS101, strlen(ANS101), 2);
	feed(t, 9, WS_DIR_IN, 1 + strlen(REQ), WS_F_CONT, frame, sizeof(frame) - 1, 3);
	tracker_flush(t);
	assert_int_equal(n_seen, 1);
	tracker_stats(t, &st);
	assert_int_equal(st.unplaced, 0);
	tracker_free(t);
}

static void test_eviction_reports_pending(void **state)
{
	struct tracker *t = make(4096);
	struct tracker_stats st;

	(void)state;
	for (uint64_t c = 1; c <= 5; c++)
		feed(t, 100 + c, WS_DIR_IN, 1, FIRST, REQ, strlen(REQ), c);
	tracker_stats(t, &st);
	assert_int_equal(st.conns, 4);
	assert_int_equal(st.conns_evicted, 1);
	assert_int_equal(n_seen, 1);
	assert_int_equal(seen[0].end, EXCHANGE_NO_RESPONSE);
	tracker_flush(t);
	assert_int_equal(n_seen, 5);
	tracker_stats(t, &st);
	assert_int_equal(st.conns, 0);
	tracker_free(t);
}

static void test_hostile_record_sizes(void **state)
{
	struct tracker *t = make(4096);
	struct ws_event ev = {.type = WS_EV_DATA, .cookie = 1, .sample_len = 100, .flags = FIRST};

	(void)state;
	tracker_event(t, &ev, sizeof(ev));	/* claims more bytes than it has */
	tracker_event(t, &ev, sizeof(ev) - 1);	/* shorter than a record */
	ev.sample_len = 0;
	ev.type = 99;				/* unknown type */
	tracker_event(t, &ev, sizeof(ev));
	tracker_flush(t);
	assert_int_equal(n_seen, 0);
	tracker_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_head_and_answer),
		cmocka_unit_test(test_head_in_pieces_out_of_order_with_retransmit),
		cmocka_unit_test(test_keepalive_two_requests),
		cmocka_unit_test(test_pipelined_in_one_segment),
		cmocka_unit_test(test_pipelined_then_rest_of_second),
		cmocka_unit_test(test_ticks_before_and_after_due),
		cmocka_unit_test(test_interim_answer_is_not_the_answer),
		cmocka_unit_test(test_closed_before_answer),
		cmocka_unit_test(test_timeout_then_late_answer),
		cmocka_unit_test(test_status_only_answer),
		cmocka_unit_test(test_not_attempt_keeps_no_copy),
		cmocka_unit_test(test_pre_accept_adopted_by_own_cookie),
		cmocka_unit_test(test_pre_accept_closed_by_endpoints),
		cmocka_unit_test(test_record_after_its_close),
		cmocka_unit_test(test_truncated_by_budget),
		cmocka_unit_test(test_not_http_first_bytes_are_one_exchange),
		cmocka_unit_test(test_frames_after_upgrade_are_ignored),
		cmocka_unit_test(test_eviction_reports_pending),
		cmocka_unit_test(test_hostile_record_sizes),
	};

	return cmocka_run_group_tests_name("tracker", tests, NULL, NULL);
}
