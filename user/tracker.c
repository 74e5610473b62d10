// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tracker.c - connection table, head reassembly and request/answer pairing.
 *
 * Each direction of a connection has at most one head being assembled: a
 * buffer of the sample budget with a bitmap of the bytes seen, placed by
 * sequence number relative to where the head started. Buffers exist only
 * while a head is incomplete, so an idle keep-alive connection costs the
 * table entry alone.
 */
#include <stdlib.h>
#include <string.h>
#include "http_head.h"
#include "tracker.h"

#define PENDING_MAX 16

struct head_asm {
	uint8_t *buf;	 /* cap bytes while active */
	uint8_t *seen;	 /* one bit per byte of buf */
	uint32_t cap;
	uint32_t base;	 /* sequence number of buf[0] */
	uint32_t contig; /* bytes known contiguously from buf[0] */
	uint32_t used;	 /* bytes already turned into heads */
	uint64_t ts;	 /* time of the segment that started it */
	bool active;
	bool window;	 /* base and cap describe the last head's sample window */
	bool first;	 /* buf[0] is the direction's first byte on the connection */
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
};

struct conn {
	struct conn_meta meta;
	struct conn *hash_next;
	struct conn *lru_prev, *lru_next; /* most recent at the head */
	struct head_asm dir[2];
	struct pending pending[PENDING_MAX];
	unsigned n_pending;
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
};

struct tracker {
	struct tracker_opts opts;
	struct conn **buckets;
	size_t n_buckets; /* a power of two */
	struct conn *lru_head, *lru_tail;
	struct tracker_stats stats;
	uint64_t now_ns; /* latest event time seen */
};

static size_t bucket_of(const struct tracker *t, uint64_t cookie)
{
	cookie ^= cookie >> 33;
	cookie *= 0xff51afd7ed558ccdULL;
	cookie ^= cookie >> 33;
	return cookie & (t->n_buckets - 1);
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
	free(a->buf);
	free(a->seen);
	a->buf = a->seen = NULL;
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

static void pending_pop(struct conn *c)
{
	free(c->pending[0].request);
	memmove(&c->pending[0], &c->pending[1], sizeof(c->pending[0]) * (c->n_pending - 1));
	c->n_pending--;
}

/* Report every request still waiting, then drop them. */
static void pending_finish(struct tracker *t, struct conn *c, enum exchange_end end, uint64_t ns)
{
	while (c->n_pending) {
		if (!c->pending[0].reported)
			report(t, c, &c->pending[0], end, NULL, 0, false, ns);
		pending_pop(c);
	}
}

static void conn_free(struct tracker *t, struct conn *c)
{
	struct conn **pp = &t->buckets[bucket_of(t, c->meta.cookie)];

	while (*pp && *pp != c)
		pp = &(*pp)->hash_next;
	if (*pp)
		*pp = c->hash_next;
	lru_unlink(t, c);
	asm_release(&c->dir[0]);
	asm_release(&c->dir[1]);
	for (unsigned i = 0; i < c->n_pending; i++)
		free(c->pending[i].request);
	free(c->upgrade_request);
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
	size_t b;

	if (c) {
		lru_unlink(t, c);
		lru_push_front(t, c);
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
	c->dir[WS_DIR_IN].cap = t->opts.request_budget;
	c->dir[WS_DIR_OUT].cap = t->opts.answer_budget;
	b = bucket_of(t, cookie);
	c->hash_next = t->buckets[b];
	t->buckets[b] = c;
	lru_push_front(t, c);
	t->stats.conns++;
	t->stats.conns_seen++;
	return c;
}

static bool asm_start(struct head_asm *a, uint32_t seq, uint64_t ts, bool first)
{
	asm_release(a);
	a->buf = malloc(a->cap);
	a->seen = calloc((a->cap + 7) / 8, 1);
	if (!a->buf || !a->seen) {
		asm_release(a);
		return false;
	}
	a->base = seq;
	a->ts = ts;
	a->first = first;
	a->active = true;
	a->window = true;
	return true;
}

/* Place bytes by sequence number; false if none of them fit. */
static bool asm_place(struct head_asm *a, uint32_t seq, const uint8_t *data, uint32_t n)
{
	uint32_t off = seq - a->base; /* wraps to a huge value before base */
	uint32_t i;

	if (off >= a->cap)
		return false;
	if (n > a->cap - off)
		n = a->cap - off;
	memcpy(a->buf + off, data, n);
	for (i = off; i < off + n; i++)
		a->seen[i / 8] |= (uint8_t)(1u << (i % 8));
	while (a->contig < a->cap && (a->seen[a->contig / 8] & (1u << (a->contig % 8))))
		a->contig++;
	return true;
}

static bool has_gap(const struct head_asm *a)
{
	for (uint32_t i = a->contig; i < a->cap; i++)
		if (a->seen[i / 8] & (1u << (i % 8)))
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
		t->opts.on_unowned(t->opts.ctx, &c->meta);
	c->requests++;
	if (c->n_pending == PENDING_MAX) {
		/* A client pipelining more than we keep: the oldest waits longest. */
		if (!c->pending[0].reported)
			report(t, c, &c->pending[0], EXCHANGE_NO_RESPONSE, NULL, 0, false, t->now_ns);
		pending_pop(c);
		t->stats.pending_dropped++;
	}
	p = &c->pending[c->n_pending];
	memset(p, 0, sizeof(*p));
	p->request = malloc(len ? len : 1);
	if (!p->request)
		return;
	memcpy(p->request, head, len);
	p->request_len = len;
	p->truncated = truncated;
	p->gap = gap;
	p->first = first;
	p->ts = ts;
	p->index = c->requests;
	c->n_pending++;
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
	t->stats.answers++;
	if (interim_answer(head, len))
		return;
	if (!c->n_pending) {
		t->stats.unmatched++;
		return;
	}
	if (c->pending[0].reported)
		t->stats.late_answers++;
	else
		report(t, c, &c->pending[0], EXCHANGE_ANSWERED, head, len, truncated, ts);
	if (switching_protocols(head, len) && !c->upgraded) {
		c->upgraded = true;
		c->upgraded_ns = ts;
		c->upgrade_index = c->pending[0].index;
		c->upgrade_request = c->pending[0].request; /* kept: the lifetime report names it */
		c->upgrade_request_len = c->pending[0].request_len;
		c->pending[0].request = NULL;
		t->stats.upgraded++;
	}
	pending_pop(c);
}

static void head_complete(struct tracker *t, struct conn *c, int dir, const uint8_t *head, size_t len,
			  bool truncated, bool gap, bool first, uint64_t ts)
{
	if (dir == WS_DIR_IN)
		request_complete(t, c, head, len, truncated, gap, first, ts);
	else
		answer_complete(t, c, head, len, truncated, ts);
}

/* Turn what is contiguous into heads: several when requests are pipelined. */
static void asm_drain(struct tracker *t, struct conn *c, int dir)
{
	struct head_asm *a = &c->dir[dir];
	enum stream_kind want = dir == WS_DIR_IN ? STREAM_HTTP_REQUEST : STREAM_HTTP_RESPONSE;

	while (a->active && a->used < a->contig) {
		const uint8_t *p = a->buf + a->used;
		size_t avail = a->contig - a->used;
		bool first = a->first && a->used == 0;
		bool full = a->contig == a->cap;
		enum stream_kind kind = http_classify_start(p, avail);
		size_t head_len;

		if (kind == STREAM_NEED_MORE && !full)
			return;
		if (kind != want) {
			/* The first bytes of a connection are judged whatever they
			 * are (TLS, HTTP/2, garbage); later ones are a body or frames. */
			if (first)
				head_complete(t, c, dir, p, avail, false, false, true, a->ts);
			asm_release(a);
			return;
		}
		if (http_find_head_end(p, avail, &head_len)) {
			head_complete(t, c, dir, p, head_len, false, false, first, a->ts);
			a->used += head_len;
			if (a->used == a->contig)
				asm_release(a);
			continue;
		}
		if (!full)
			return;
		head_complete(t, c, dir, p, avail, true, false, first, a->ts);
		asm_release(a);
	}
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
			if (!asm_start(a, ev->seq, ev->ts_ns, !*seen))
				return;
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

void tracker_event(struct tracker *t, const struct ws_event *ev, size_t size)
{
	struct conn *c;

	if (size < sizeof(*ev) || ev->sample_len > size - sizeof(*ev) || !ev->cookie)
		return;
	if (ev->ts_ns > t->now_ns)
		t->now_ns = ev->ts_ns;
	if (ev->type == WS_EV_CLOSE) {
		c = conn_find(t, ev->cookie);
		if (c) {
			/* A head the client never finished is still an attempt. */
			asm_abandon(t, c, WS_DIR_IN);
			pending_finish(t, c, EXCHANGE_CLOSED, ev->ts_ns);
			if (c->upgraded)
				report_lifetime(t, c, ev->ts_ns, false);
			conn_free(t, c);
		}
		return;
	}
	if (ev->type != WS_EV_DATA && ev->type != WS_EV_OWNER)
		return;
	/* An owner record for a connection never sampled has nothing to add. */
	c = ev->type == WS_EV_OWNER ? conn_find(t, ev->cookie) : conn_get(t, ev->cookie);
	if (!c)
		return;
	c->last_ns = ev->ts_ns;
	meta_update(c, ev);
	if (ev->type == WS_EV_DATA)
		data_event(t, c, ev);
}

void tracker_tick(struct tracker *t, uint64_t now_ns)
{
	struct conn *c, *prev;

	if (now_ns > t->now_ns)
		t->now_ns = now_ns;
	/* From the least recently active: idle ones first. */
	for (c = t->lru_tail; c; c = prev) {
		prev = c->lru_prev;
		/* A head that stays incomplete past the timeout (a client that
		 * sent half and went quiet) is judged on what arrived. */
		if (c->dir[WS_DIR_IN].active && now_ns - c->dir[WS_DIR_IN].ts >= t->opts.timeout_ns)
			asm_abandon(t, c, WS_DIR_IN);
		for (unsigned i = 0; i < c->n_pending; i++) {
			struct pending *p = &c->pending[i];

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
				waiting |= !c->pending[i].reported;
			if (!waiting)
				conn_free(t, c);
		}
	}
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
	free(t->buckets);
	free(t);
}
