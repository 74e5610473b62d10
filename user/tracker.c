// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tracker.c - connection table, head reassembly and request/answer pairing.
 *
 * Each direction of a connection has at most one head being assembled: a
 * buffer of the sample budget with a bitmap of the bytes seen, placed by
 * sequence number relative to where the head started. Buffers exist only
 * while a head is incomplete, so an idle keep-alive connection costs the
 * table entry alone. Most heads arrive whole in one segment: those are read
 * straight from the record, and no buffer is made for them at all.
 */
#include <stdlib.h>
#include <string.h>
#include "http_head.h"
#include "tracker.h"

#define PENDING_MAX 16
/* Copies of request heads up to this size come from a pool of equal buffers
 * and go back to it: nearly every head is this small, and a malloc and a
 * free cost more than the rest of a request's bookkeeping. The pool keeps at
 * most POOL_MAX buffers. */
#define SMALL_REQUEST 256
#define POOL_MAX 1024

/* Under AddressSanitizer a pooled buffer is poisoned but for the bytes in
 * use, so that reads past a request's length or of a released request are
 * caught as they would be with malloc's buffers. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TRACKER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TRACKER_ASAN 1
#endif
#ifdef TRACKER_ASAN
#include <sanitizer/asan_interface.h>
#define POOL_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define POOL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POOL_POISON(p, n) ((void)(p), (void)(n))
#define POOL_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

struct head_asm {
	uint8_t *buf;	 /* cap bytes while active */
	uint8_t *seen;	 /* one bit per byte of buf */
	uint32_t cap;	 /* this window's budget */
	uint32_t budget; /* the direction's budget (a status-line window is shorter) */
	uint32_t base;	 /* sequence number of buf[0] */
	uint32_t contig; /* bytes known contiguously from buf[0] */
	uint32_t used;	 /* bytes already turned into heads */
	uint64_t ts;	 /* time of the segment that started it */
	bool active;
	bool window;	 /* base and cap describe the last head's sample window */
	bool first;	 /* buf[0] is the direction's first byte on the connection */
	bool status_only; /* an answer sampled for its status line: its end is no truncation */
};

struct pending {
	uint8_t *request;
	size_t request_len;
	uint64_t ts;
	unsigned index;
	bool truncated;
	bool gap;
	bool first;
	bool reported; /* already reported as no-response; a late answer is dropped */
	bool not_attempt; /* tracker_opts.not_attempt cleared it: no copy is kept */
};

struct conn {
	struct conn_meta meta;
	struct conn *hash_next;
	struct conn *lru_prev, *lru_next; /* most recent at the head */
	struct head_asm dir[2];
	/* A ring, oldest at pending_head: an answer takes the oldest without
	 * moving the others. */
	struct pending pending[PENDING_MAX];
	unsigned pending_head, n_pending;
	unsigned requests; /* request heads seen, for request_index */
	uint64_t last_ns;
	bool seen_in, seen_out;
	/* After a 101: the upgraded request and the kernel's latest facts. */
	bool upgraded, have_life;
	uint8_t *upgrade_request;
	size_t upgrade_request_len;
	unsigned upgrade_index;
	uint64_t upgraded_ns;
	struct ws_lifetime life;
	bool pre_accept; /* keyed by ws_pre_accept_cookie() until its own cookie shows */
	/* Its socket's close was handed on before this connection's first
	 * record (see struct closed_sock): the next tick ends it, at this time. */
	uint64_t closed_ns;
};

/* Sockets closed lately, by cookie. A record handed on after its socket's
 * close (staged late: say, on a CPU stolen between stamping the record and
 * staging it) would open a connection that only the timeout ends, and its
 * request would count as unanswered; with the close remembered, the
 * connection ends as closed instead. Only cookies never reused are kept
 * (ws_cookie_unique()), so a hit is that socket's. Direct-mapped: a newer
 * close takes the slot of an older one. */
#define CLOSED_SLOTS 1024

struct closed_sock {
	uint64_t cookie;
	uint64_t ts;
};

struct tracker {
	struct tracker_opts opts;
	uint64_t pre_accept_conns; /* connections in the table with pre_accept set */
	struct conn **buckets;
	size_t n_buckets; /* a power of two */
	struct conn *lru_head, *lru_tail;
	struct tracker_stats stats;
	uint64_t now_ns;    /* latest event time seen */
	uint64_t latest_ts; /* latest event time: no time stored is later */
	/* No timeout or idle limit falls due before this: a tick that comes
	 * earlier has nothing to do and returns at once, instead of visiting
	 * every connection on every wakeup. A lower bound, lowered whenever a
	 * time is stored, recomputed by each full pass. */
	uint64_t next_due_ns;
	uint8_t *pool; /* free SMALL_REQUEST buffers, each holding the next's address */
	size_t pool_len;
	struct closed_sock closed[CLOSED_SLOTS];
};

static size_t bucket_of(const struct tracker *t, uint64_t cookie)
{
	cookie ^= cookie >> 33;
	cookie *= 0xff51afd7ed558ccdULL;
	cookie ^= cookie >> 33;
	return cookie & (t->n_buckets - 1);
}

static struct closed_sock *closed_slot(struct tracker *t, uint64_t cookie)
{
	return &t->closed[(cookie * 0x9e3779b97f4a7c15ULL) >> 54];
}

/* When something stored at time ts falls due after span (saturated). */
static uint64_t due_after(uint64_t ts, uint64_t span)
{
	return ts > UINT64_MAX - span ? UINT64_MAX : ts + span;
}

static void note_time(struct tracker *t, uint64_t ts, uint64_t span)
{
	uint64_t due = due_after(ts, span);

	if (due < t->next_due_ns)
		t->next_due_ns = due;
}

struct tracker *tracker_new(const struct tracker_opts *opts)
{
	struct tracker *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->opts = *opts;
	if (!t->opts.max_conns)
		t->opts.max_conns = 65536;
	t->n_buckets = 1024;
	while (t->n_buckets < t->opts.max_conns / 2)
		t->n_buckets <<= 1;
	t->buckets = calloc(t->n_buckets, sizeof(*t->buckets));
	if (!t->buckets) {
		free(t);
		return NULL;
	}
	t->next_due_ns = UINT64_MAX;
	return t;
}

static void lru_unlink(struct tracker *t, struct conn *c)
{
	if (c->lru_prev)
		c->lru_prev->lru_next = c->lru_next;
	else
		t->lru_head = c->lru_next;
	if (c->lru_next)
		c->lru_next->lru_prev = c->lru_prev;
	else
		t->lru_tail = c->lru_prev;
	c->lru_prev = c->lru_next = NULL;
}

static void lru_push_front(struct tracker *t, struct conn *c)
{
	c->lru_next = t->lru_head;
	c->lru_prev = NULL;
	if (t->lru_head)
		t->lru_head->lru_prev = c;
	t->lru_head = c;
	if (!t->lru_tail)
		t->lru_tail = c;
}

/* Free the buffer; the window stays known so that its retransmissions and
 * the bytes sampled after the head (a body, frames) are recognised. */
static void asm_release(struct head_asm *a)
{
	if (a->buf || a->seen) {
		free(a->buf);
		free(a->seen);
		a->buf = a->seen = NULL;
	}
	a->active = false;
	a->contig = a->used = 0;
}

static void report(struct tracker *t, struct conn *c, struct pending *p, enum exchange_end end,
		   const uint8_t *answer, size_t answer_len, bool answer_truncated, uint64_t answer_ns)
{
	struct exchange x = {
		.conn = &c->meta,
		.request = p->request,
		.request_len = p->request_len,
		.request_truncated = p->truncated,
		.request_gap = p->gap,
		.first_on_conn = p->first,
		.not_attempt = p->not_attempt,
		.answer = answer,
		.answer_len = answer_len,
		.answer_truncated = answer_truncated,
		.end = end,
		.request_index = p->index,
		.request_ns = p->ts,
		.answer_ns = answer_ns,
	};

	if (t->opts.on_exchange)
		t->opts.on_exchange(t->opts.ctx, &x);
}

/* The i-th request waiting on a connection, oldest first. */
static struct pending *pending_at(struct conn *c, unsigned i)
{
	return &c->pending[(c->pending_head + i) % PENDING_MAX];
}

static uint8_t *request_alloc(struct tracker *t, size_t len)
{
	uint8_t *b;

	if (len > SMALL_REQUEST)
		return malloc(len);
	b = t->pool;
	if (b) {
		POOL_UNPOISON(b, sizeof(t->pool));
		memcpy(&t->pool, b, sizeof(t->pool));
		t->pool_len--;
	} else {
		b = malloc(SMALL_REQUEST);
		if (!b)
			return NULL;
	}
	POOL_UNPOISON(b, len);
	POOL_POISON(b + len, SMALL_REQUEST - len);
	return b;
}

/* len: as given to request_alloc(). */
static void request_release(struct tracker *t, uint8_t *b, size_t len)
{
	if (!b)
		return;
	if (len > SMALL_REQUEST || t->pool_len >= POOL_MAX) {
		POOL_UNPOISON(b, len > SMALL_REQUEST ? len : SMALL_REQUEST);
		free(b);
		return;
	}
	POOL_UNPOISON(b, sizeof(t->pool));
	memcpy(b, &t->pool, sizeof(t->pool));
	POOL_POISON(b, SMALL_REQUEST);
	t->pool = b;
	t->pool_len++;
}

static void pool_free(struct tracker *t)
{
	while (t->pool) {
		uint8_t *b = t->pool;

		POOL_UNPOISON(b, SMALL_REQUEST);
		memcpy(&t->pool, b, sizeof(t->pool));
		free(b);
	}
	t->pool_len = 0;
}

static void pending_pop(struct tracker *t, struct conn *c)
{
	struct pending *p = pending_at(c, 0);

	request_release(t, p->request, p->request_len);
	c->pending_head = (c->pending_head + 1) % PENDING_MAX;
	c->n_pending--;
}

/* Report every request still waiting, then drop them. */
static void pending_finish(struct tracker *t, struct conn *c, enum exchange_end end, uint64_t ns)
{
	while (c->n_pending) {
		struct pending *p = pending_at(c, 0);

		if (!p->reported)
			report(t, c, p, end, NULL, 0, false, ns);
		pending_pop(t, c);
	}
}

/* The connection into, and out of, the bucket of its cookie. */
static void hash_link(struct tracker *t, struct conn *c)
{
	size_t b = bucket_of(t, c->meta.cookie);

	c->hash_next = t->buckets[b];
	t->buckets[b] = c;
}

static void hash_unlink(struct tracker *t, struct conn *c)
{
	struct conn **pp = &t->buckets[bucket_of(t, c->meta.cookie)];

	while (*pp && *pp != c)
		pp = &(*pp)->hash_next;
	if (*pp)
		*pp = c->hash_next;
}

static void conn_free(struct tracker *t, struct conn *c)
{
	if (c->pre_accept)
		t->pre_accept_conns--;
	hash_unlink(t, c);
	lru_unlink(t, c);
	asm_release(&c->dir[0]);
	asm_release(&c->dir[1]);
	for (unsigned i = 0; i < c->n_pending; i++)
		request_release(t, pending_at(c, i)->request, pending_at(c, i)->request_len);
	request_release(t, c->upgrade_request, c->upgrade_request_len);
	free(c);
	t->stats.conns--;
}

static struct conn *conn_find(struct tracker *t, uint64_t cookie)
{
	struct conn *c = t->buckets[bucket_of(t, cookie)];

	while (c && c->meta.cookie != cookie)
		c = c->hash_next;
	return c;
}

static struct conn *conn_get(struct tracker *t, uint64_t cookie)
{
	struct conn *c = conn_find(t, cookie);
	const struct closed_sock *closed;

	if (c) {
		if (c != t->lru_head) {
			lru_unlink(t, c);
			lru_push_front(t, c);
		}
		return c;
	}
	if (t->stats.conns >= t->opts.max_conns && t->lru_tail) {
		struct conn *victim = t->lru_tail;

		pending_finish(t, victim, EXCHANGE_NO_RESPONSE, t->now_ns);
		conn_free(t, victim);
		t->stats.conns_evicted++;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->meta.cookie = cookie;
	c->dir[WS_DIR_IN].cap = c->dir[WS_DIR_IN].budget = t->opts.request_budget;
	c->dir[WS_DIR_OUT].cap = c->dir[WS_DIR_OUT].budget = t->opts.answer_budget;
	hash_link(t, c);
	lru_push_front(t, c);
	t->stats.conns++;
	t->stats.conns_seen++;
	closed = closed_slot(t, cookie);
	if (closed->cookie == cookie) {
		/* Due at once: the next tick ends it. */
		c->closed_ns = closed->ts;
		t->next_due_ns = 0;
		t->stats.closed_late++;
	}
	return c;
}

/* A new head's window starts at seq; no buffer yet. */
static void asm_begin(struct head_asm *a, uint32_t seq, uint64_t ts, bool first, uint16_t flags)
{
	asm_release(a);
	/* The kernel side samples an answer that is plainly no 101 only as far
	 * as its status line needs (WS_F_STATUS_ONLY): the window is that long. */
	a->status_only = (flags & WS_F_STATUS_ONLY) && a->budget > WS_ANSWER_STATUS_SAMPLE;
	a->cap = a->status_only ? WS_ANSWER_STATUS_SAMPLE : a->budget;
	a->base = seq;
	a->ts = ts;
	a->first = first;
	a->window = true;
}

static bool asm_alloc(struct head_asm *a)
{
	a->buf = malloc(a->cap);
	a->seen = calloc((a->cap + 7) / 8, 1);
	if (!a->buf || !a->seen) {
		asm_release(a);
		return false;
	}
	a->active = true;
	return true;
}

/* Mark bytes [from, to) of the window seen: whole bitmap bytes at once. */
static void seen_set(uint8_t *seen, uint32_t from, uint32_t to)
{
	for (; from < to && (from & 7); from++)
		seen[from / 8] |= (uint8_t)(1u << (from % 8));
	if (to - from >= 8) {
		memset(seen + from / 8, 0xff, (to - from) / 8);
		from += (to - from) & ~7u;
	}
	for (; from < to; from++)
		seen[from / 8] |= (uint8_t)(1u << (from % 8));
}

static bool seen_has(const uint8_t *seen, uint32_t i)
{
	return seen[i / 8] & (1u << (i % 8));
}

/* Place bytes by sequence number; false if none of them fit. */
static bool asm_place(struct head_asm *a, uint32_t seq, const uint8_t *data, uint32_t n)
{
	uint32_t off = seq - a->base; /* wraps to a huge value before base */

	if (off >= a->cap)
		return false;
	if (n > a->cap - off)
		n = a->cap - off;
	memcpy(a->buf + off, data, n);
	seen_set(a->seen, off, off + n);
	while (a->contig < a->cap) {
		if (!(a->contig & 7) && a->cap - a->contig >= 8 && a->seen[a->contig / 8] == 0xff)
			a->contig += 8;
		else if (seen_has(a->seen, a->contig))
			a->contig++;
		else
			break;
	}
	return true;
}

static bool has_gap(const struct head_asm *a)
{
	uint32_t i = a->contig;

	for (; i < a->cap && (i & 7); i++)
		if (seen_has(a->seen, i))
			return true;
	/* Bits past cap are never set: whole bytes can be tested to the end. */
	for (; i < a->cap; i += 8)
		if (a->seen[i / 8])
			return true;
	return false;
}

static void request_complete(struct tracker *t, struct conn *c, const uint8_t *head, size_t len, bool truncated,
			     bool gap, bool first, uint64_t ts)
{
	struct pending *p;

	t->stats.requests++;
	if (truncated)
		t->stats.truncated++;
	if (c->meta.owner_source == WS_OWNER_NONE && t->opts.on_unowned)
		t->opts.on_unowned(t->opts.ctx, &c->meta, t->now_ns);
	c->requests++;
	if (c->n_pending == PENDING_MAX) {
		/* A client pipelining more than we keep: the oldest waits longest. */
		p = pending_at(c, 0);
		if (!p->reported)
			report(t, c, p, EXCHANGE_NO_RESPONSE, NULL, 0, false, t->now_ns);
		pending_pop(t, c);
		t->stats.pending_dropped++;
	}
	p = pending_at(c, c->n_pending);
	memset(p, 0, sizeof(*p));
	if (t->opts.not_attempt && t->opts.not_attempt(t->opts.ctx, head, len, first)) {
		p->not_attempt = true;
	} else {
		p->request = request_alloc(t, len);
		if (!p->request)
			return;
		memcpy(p->request, head, len);
		p->request_len = len;
	}
	p->truncated = truncated;
	p->gap = gap;
	p->first = first;
	p->ts = ts;
	p->index = c->requests;
	c->n_pending++;
	note_time(t, ts, t->opts.timeout_ns);
}

/* An interim answer (100 Continue, 103 Early Hints) is not the answer. */
static bool interim_answer(const uint8_t *head, size_t len)
{
	const uint8_t *sp = memchr(head, ' ', len < 16 ? len : 16);
	size_t rest;

	if (!sp)
		return false;
	rest = len - (size_t)(sp + 1 - head);
	return rest >= 3 && sp[1] == '1' && !(sp[2] == '0' && sp[3] == '1');
}

static void report_lifetime(struct tracker *t, struct conn *c, uint64_t closed_ns, bool still_open)
{
	struct lifetime_report l = {
		.conn = &c->meta,
		.request = c->upgrade_request,
		.request_len = c->upgrade_request_len,
		.request_index = c->upgrade_index,
		.life = c->have_life ? &c->life : NULL,
		.upgraded_ns = c->upgraded_ns,
		.closed_ns = closed_ns,
		.still_open = still_open,
	};

	if (still_open)
		t->stats.open_at_exit++;
	else
		t->stats.lifetimes++;
	if (t->opts.on_lifetime)
		t->opts.on_lifetime(t->opts.ctx, &l);
}

/* "HTTP/1.x 101": the connection now carries WebSocket frames. */
static bool switching_protocols(const uint8_t *head, size_t len)
{
	return len >= 12 && memcmp(head, "HTTP/1.", 7) == 0 && head[8] == ' ' && memcmp(head + 9, "101", 3) == 0;
}

static void answer_complete(struct tracker *t, struct conn *c, const uint8_t *head, size_t len, bool truncated,
			    uint64_t ts)
{
	struct pending *p;

	t->stats.answers++;
	if (interim_answer(head, len))
		return;
	if (!c->n_pending) {
		t->stats.unmatched++;
		return;
	}
	p = pending_at(c, 0);
	if (p->reported)
		t->stats.late_answers++;
	else
		report(t, c, p, EXCHANGE_ANSWERED, head, len, truncated, ts);
	if (switching_protocols(head, len) && !c->upgraded) {
		c->upgraded = true;
		c->upgraded_ns = ts;
		c->upgrade_index = p->index;
		c->upgrade_request = p->request; /* kept: the lifetime report names it */
		c->upgrade_request_len = p->request_len;
		p->request = NULL;
		t->stats.upgraded++;
	}
	pending_pop(t, c);
}

static void head_complete(struct tracker *t, struct conn *c, int dir, const uint8_t *head, size_t len,
			  bool truncated, bool gap, bool first, uint64_t ts)
{
	if (dir == WS_DIR_IN)
		request_complete(t, c, head, len, truncated, gap, first, ts);
	else
		answer_complete(t, c, head, len, truncated, ts);
}

/*
 * An answer to the one request waiting, which is no attempt, that fills a
 * window holding only its status line's sample: it is complete as it is
 * (the whole window would be taken were its end not in it), whatever
 * follows its head in the window is read now or never (a full window waits
 * for nothing) and can answer no request (no other waits), and nothing in it
 * is read, so its end is not looked for. An answer after it in the window,
 * to no request, goes uncounted in answers_unmatched. An interim answer
 * (1xx) is read as ever: the final answer may follow it.
 */
static bool answer_taken_whole(struct conn *c, int dir, const uint8_t *p, size_t avail, bool full)
{
	return dir == WS_DIR_OUT && full && c->dir[dir].status_only && c->n_pending == 1 &&
	       pending_at(c, 0)->not_attempt && avail >= 10 && p[9] != '1';
}

/*
 * Turn the bytes [*used, contig) of a head's window into heads: several when
 * requests are pipelined. buf holds the window from its start, cap its
 * budget. Returns true when what is left must wait for more segments, false
 * when the window is done with.
 */
static bool drain_window(struct tracker *t, struct conn *c, int dir, const uint8_t *buf, uint32_t contig,
			 uint32_t cap, bool window_first, uint64_t ts, uint32_t *used)
{
	bool cut_is_truncation = !c->dir[dir].status_only;
	enum stream_kind want = dir == WS_DIR_IN ? STREAM_HTTP_REQUEST : STREAM_HTTP_RESPONSE;

	while (*used < contig) {
		const uint8_t *p = buf + *used;
		size_t avail = contig - *used;
		bool first = window_first && *used == 0;
		bool full = contig == cap;
		enum stream_kind kind = http_classify_start(p, avail);
		size_t head_len;

		if (kind == STREAM_NEED_MORE && !full)
			return true;
		if (kind != want) {
			/* The first bytes of a connection are judged whatever they
			 * are (TLS, HTTP/2, garbage); later ones are a body or frames. */
			if (first)
				head_complete(t, c, dir, p, avail, false, false, true, ts);
			return false;
		}
		if (answer_taken_whole(c, dir, p, avail, full)) {
			head_complete(t, c, dir, p, avail, false, false, first, ts);
			return false;
		}
		if (http_find_head_end(p, avail, &head_len)) {
			head_complete(t, c, dir, p, head_len, false, false, first, ts);
			*used += (uint32_t)head_len;
			continue;
		}
		if (!full)
			return true;
		head_complete(t, c, dir, p, avail, cut_is_truncation, false, first, ts);
		return false;
	}
	return false;
}

static void asm_drain(struct tracker *t, struct conn *c, int dir)
{
	struct head_asm *a = &c->dir[dir];

	if (!a->active || a->used >= a->contig)
		return;
	if (!drain_window(t, c, dir, a->buf, a->contig, a->cap, a->first, a->ts, &a->used))
		asm_release(a);
}

/* A new head starts while the last one is incomplete: report what we have. */
static void asm_abandon(struct tracker *t, struct conn *c, int dir)
{
	struct head_asm *a = &c->dir[dir];

	if (a->active && a->used < a->contig) {
		bool gap = has_gap(a);

		if (gap || a->contig > a->used)
			head_complete(t, c, dir, a->buf + a->used, a->contig - a->used, true, gap, a->first && !a->used,
				      a->ts);
	}
	asm_release(a);
}

static void meta_update(struct conn *c, const struct ws_event *ev)
{
	if (ev->type == WS_EV_DATA && ev->family) {
		c->meta.family = ev->family;
		c->meta.local_port = ev->local_port;
		c->meta.remote_port = ev->remote_port;
		memcpy(c->meta.local_addr, ev->local_addr, sizeof(c->meta.local_addr));
		memcpy(c->meta.remote_addr, ev->remote_addr, sizeof(c->meta.remote_addr));
		if (ev->cgroup_id)
			c->meta.cgroup_id = ev->cgroup_id;
	}
	if (ev->owner_source != WS_OWNER_NONE && ev->tgid) {
		bool same = c->meta.tgid == ev->tgid;

		c->meta.tgid = ev->tgid;
		c->meta.tid = ev->tid;
		c->meta.owner_source = ev->owner_source;
		if (ev->comm[0])
			memcpy(c->meta.comm, ev->comm, WS_COMM_LEN);
		else if (!same)
			c->meta.comm[0] = 0;
	}
}

/*
 * The segment that starts a new head's window. Heads that lie whole in it
 * are read from the record itself; only a head still incomplete at its end
 * is copied into a buffer, to wait for the segments that follow.
 */
static void head_start(struct tracker *t, struct conn *c, int dir, const struct ws_event *ev)
{
	struct head_asm *a = &c->dir[dir];
	uint32_t n = ev->sample_len < a->cap ? ev->sample_len : a->cap;
	uint32_t used = 0;

	if (!drain_window(t, c, dir, ev->data, n, a->cap, a->first, a->ts, &used))
		return;
	if (!asm_alloc(a))
		return;
	memcpy(a->buf, ev->data, n);
	seen_set(a->seen, 0, n);
	a->contig = n;
	a->used = used;
	if (dir == WS_DIR_IN)
		note_time(t, a->ts, t->opts.timeout_ns);
}

static void data_event(struct tracker *t, struct conn *c, const struct ws_event *ev)
{
	int dir = ev->dir & 1;
	struct head_asm *a = &c->dir[dir];
	bool *seen = dir == WS_DIR_IN ? &c->seen_in : &c->seen_out;

	if (ev->flags & WS_F_LIFETIME) {
		if (ev->sample_len >= sizeof(c->life)) {
			memcpy(&c->life, ev->data, sizeof(c->life));
			c->have_life = true;
		}
		return;
	}
	if (!ev->sample_len)
		return;
	if (ev->flags & WS_F_HEAD_START) {
		/* A retransmitted head start lands where it started before. */
		if (a->window && ev->seq == a->base && !a->active)
			return;
		if (!(a->active && ev->seq == a->base)) {
			asm_abandon(t, c, dir);
			asm_begin(a, ev->seq, ev->ts_ns, !*seen, ev->flags);
			*seen = true;
			/* A window of no bytes places nothing: the buffered path
			 * below counts it, as for any segment that fits nowhere. */
			if (a->cap) {
				head_start(t, c, dir, ev);
				return;
			}
			if (!asm_alloc(a))
				return;
			if (dir == WS_DIR_IN)
				note_time(t, a->ts, t->opts.timeout_ns);
		}
	} else if (!a->active) {
		/* Sampled after a complete head within its window: a body or
		 * frames. Anywhere else it belongs to no head we know. */
		if (!a->window || ev->seq - a->base >= a->cap)
			t->stats.unplaced++;
		return;
	}
	*seen = true;
	if (!asm_place(a, ev->seq, ev->data, ev->sample_len)) {
		t->stats.unplaced++;
		return;
	}
	asm_drain(t, c, dir);
}

/* The socket closed at ts: what is pending ends as closed. */
static void conn_end(struct tracker *t, struct conn *c, uint64_t ts)
{
	/* A head the client never finished is still an attempt. */
	asm_abandon(t, c, WS_DIR_IN);
	pending_finish(t, c, EXCHANGE_CLOSED, ts);
	if (c->upgraded)
		report_lifetime(t, c, ts, false);
	conn_free(t, c);
}

/* Move a connection to another key in the table. */
static void conn_rekey(struct tracker *t, struct conn *c, uint64_t cookie)
{
	hash_unlink(t, c);
	c->meta.cookie = cookie;
	hash_link(t, c);
}

/* The connection of ev's endpoints still known by its pre-accept stand-in
 * cookie, if any. */
static struct conn *find_pre_accept(struct tracker *t, const struct ws_event *ev)
{
	struct conn *c =
		conn_find(t, ws_pre_accept_cookie(ev->local_addr, ev->remote_addr, ev->local_port, ev->remote_port));

	return c && c->pre_accept ? c : NULL;
}

/* The first record under a connection's own cookie: if its first bytes came
 * through the listening socket, carry on with what they started. */
static void adopt_pre_accept(struct tracker *t, const struct ws_event *ev)
{
	struct conn *c;

	if (conn_find(t, ev->cookie))
		return;
	c = find_pre_accept(t, ev);
	if (!c)
		return;
	conn_rekey(t, c, ev->cookie);
	c->pre_accept = false;
	t->pre_accept_conns--;
}

void tracker_event(struct tracker *t, const struct ws_event *ev, size_t size)
{
	struct conn *c;

	if (size < sizeof(*ev) || ev->sample_len > size - sizeof(*ev) || !ev->cookie)
		return;
	if (ev->ts_ns > t->now_ns)
		t->now_ns = ev->ts_ns;
	if (ev->ts_ns > t->latest_ts)
		t->latest_ts = ev->ts_ns;
	if (ev->type == WS_EV_CLOSE) {
		if (ws_cookie_unique(ev->cookie))
			*closed_slot(t, ev->cookie) = (struct closed_sock){ev->cookie, ev->ts_ns};
		c = conn_find(t, ev->cookie);
		/* A connection whose data reached the listening socket and that
		 * never sent under its own cookie (the server closed it without a
		 * word) is known by its endpoints. */
		if (!c && t->pre_accept_conns && ev->family)
			c = find_pre_accept(t, ev);
		if (c)
			conn_end(t, c, ev->ts_ns);
		return;
	}
	if (ev->type != WS_EV_DATA && ev->type != WS_EV_OWNER)
		return;
	if (t->pre_accept_conns && ev->type == WS_EV_DATA && ev->family && !(ev->flags & WS_F_PRE_ACCEPT))
		adopt_pre_accept(t, ev);
	/* An owner record for a connection never sampled has nothing to add. */
	c = ev->type == WS_EV_OWNER ? conn_find(t, ev->cookie) : conn_get(t, ev->cookie);
	if (!c)
		return;
	if ((ev->flags & WS_F_PRE_ACCEPT) && ev->type == WS_EV_DATA && !c->pre_accept) {
		c->pre_accept = true;
		t->pre_accept_conns++;
		t->stats.pre_accept++;
	}
	c->last_ns = ev->ts_ns;
	if (t->opts.idle_ns)
		note_time(t, c->last_ns, t->opts.idle_ns);
	meta_update(c, ev);
	if (ev->type == WS_EV_DATA)
		data_event(t, c, ev);
}

/* One connection's timeouts and idle limit at now_ns; true if it was freed. */
static bool conn_tick(struct tracker *t, struct conn *c, uint64_t now_ns)
{
	if (c->closed_ns) {
		/* Its records came after its close: the close time, or the
		 * latest of them if the clocks of two CPUs disagree. */
		conn_end(t, c, c->closed_ns > c->last_ns ? c->closed_ns : c->last_ns);
		return true;
	}
	/* A head that stays incomplete past the timeout (a client that sent
	 * half and went quiet) is judged on what arrived. */
	if (c->dir[WS_DIR_IN].active && now_ns - c->dir[WS_DIR_IN].ts >= t->opts.timeout_ns)
		asm_abandon(t, c, WS_DIR_IN);
	for (unsigned i = 0; i < c->n_pending; i++) {
		struct pending *p = pending_at(c, i);

		if (!p->reported && now_ns - p->ts >= t->opts.timeout_ns) {
			report(t, c, p, EXCHANGE_NO_RESPONSE, NULL, 0, false, 0);
			p->reported = true;
		}
	}
	/* An upgraded connection may stay quiet for hours: its end comes with
	 * the close, and the table's bound keeps memory in check. */
	if (t->opts.idle_ns && !c->upgraded && now_ns - c->last_ns >= t->opts.idle_ns) {
		bool waiting = false;

		for (unsigned i = 0; i < c->n_pending; i++)
			waiting |= !pending_at(c, i)->reported;
		if (!waiting) {
			conn_free(t, c);
			return true;
		}
	}
	return false;
}

/* What of a connection falls due first, from now on. */
static uint64_t conn_next_due(const struct tracker *t, struct conn *c)
{
	uint64_t due = UINT64_MAX;

	if (c->dir[WS_DIR_IN].active)
		due = due_after(c->dir[WS_DIR_IN].ts, t->opts.timeout_ns);
	for (unsigned i = 0; i < c->n_pending; i++) {
		const struct pending *p = pending_at(c, i);

		if (!p->reported && due_after(p->ts, t->opts.timeout_ns) < due)
			due = due_after(p->ts, t->opts.timeout_ns);
	}
	if (t->opts.idle_ns && !c->upgraded && due_after(c->last_ns, t->opts.idle_ns) < due)
		due = due_after(c->last_ns, t->opts.idle_ns);
	return due;
}

void tracker_tick(struct tracker *t, uint64_t now_ns)
{
	struct conn *c, *prev;
	uint64_t next_due = UINT64_MAX;

	if (now_ns > t->now_ns)
		t->now_ns = now_ns;
	/* Nothing stored is later than now_ns, so nothing is due before
	 * next_due_ns. (A time later than now_ns counts as long past, as the
	 * unsigned differences below have it: then every connection is visited.) */
	if (now_ns >= t->latest_ts && now_ns < t->next_due_ns)
		return;
	/* From the least recently active: idle ones first. */
	for (c = t->lru_tail; c; c = prev) {
		prev = c->lru_prev;
		if (!conn_tick(t, c, now_ns)) {
			uint64_t due = conn_next_due(t, c);

			if (due < next_due)
				next_due = due;
		}
	}
	t->next_due_ns = next_due;
}

void tracker_flush(struct tracker *t)
{
	while (t->lru_head) {
		struct conn *c = t->lru_head;

		asm_abandon(t, c, WS_DIR_IN);
		pending_finish(t, c, EXCHANGE_NO_RESPONSE, 0);
		if (c->upgraded)
			report_lifetime(t, c, 0, true);
		conn_free(t, c);
	}
}

void tracker_stats(const struct tracker *t, struct tracker_stats *out)
{
	*out = t->stats;
}

void tracker_free(struct tracker *t)
{
	if (!t)
		return;
	while (t->lru_head)
		conn_free(t, t->lru_head);
	pool_free(t);
	free(t->buckets);
	free(t);
}
