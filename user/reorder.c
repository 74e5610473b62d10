// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * reorder.c - a merge of runs: the records are kept as lists that are each
 * in (ts_ns, push order), and a binary min-heap keyed by the oldest record of
 * each list picks what comes out next.
 *
 * A CPU's records arrive in time order, so each batch the kernel side flushes
 * extends one run, and a new run starts only where time goes back: the heap
 * holds a run per batch still held rather than a record per record, and a
 * push costs no comparison beyond the last record's time. Out-of-order input
 * of any shape degrades to runs of one record, a plain heap of records.
 *
 * A record is held either as a copy (reorder_push()) or where it lies
 * (reorder_hold(): the loader's records wait in the ring buffer itself, and
 * only a header is taken for them here).
 *
 * The copies come from free lists of size classes at each power of two and
 * halfway between (128, 192, 256, 384, ... 24576 bytes: at most a third of a
 * buffer wasted): a release hands its buffers to the pushes that follow
 * instead of a malloc and a free per record. What is held and what is kept
 * for reuse count together against max_bytes, and kept buffers are freed
 * before any record is handed on early, so a burst of one size never crowds
 * out records of another.
 *
 * Records wait here for tens of milliseconds, long enough to leave the CPU's
 * caches, so the walks avoid chasing pointers through them: a free list is
 * an array of pointers, not a list linked through the kept buffers (measured:
 * loading each kept buffer's link was nine tenths of a push), and a copy
 * carries the key of the next in its run, so that handing it on gives the
 * heap the run's new key without touching the next copy (loading that key
 * was nine tenths of a hand-on); the next copy is prefetched instead, for
 * when its turn comes.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "reorder.h"

#define CLASSES	 16 /* 128 to 24576 bytes: the largest record and its header fit */
#define NO_CLASS CLASSES
#define RUNS_MIN 16

/* Under AddressSanitizer a kept buffer is poisoned, and a held one past the
 * record, so that reading past a record or after it was handed on is caught
 * as it would be with malloc's buffers. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REORDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define REORDER_ASAN 1
#endif
#ifdef REORDER_ASAN
#include <sanitizer/asan_interface.h>
#define KEPT_POISON(p, n)   ASAN_POISON_MEMORY_REGION(p, n)
#define KEPT_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define KEPT_POISON(p, n)   ((void)(p), (void)(n))
#define KEPT_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* A held record: this header, then the record, aligned as in the ring; or,
 * for a record held where it lies (reorder_hold()), this header alone. */
struct copy {
	struct copy *next; /* in its run */
	uint64_t ts;
	uint64_t seq; /* push order, for equal times */
	size_t size;  /* of the record */
	uint64_t next_ts, next_seq; /* next's key, set with next */
	const struct ws_event *ref; /* the record held in place, or NULL: it follows */
	uint64_t tag;		    /* of a record held in place, for the done callback */
};

/* A run in the heap, keyed by its oldest record (the key copied here so that
 * the heap is ordered without touching the records). */
struct run {
	uint64_t ts;
	uint64_t seq;
	struct copy *head;
};

/* The free buffers of one class, a stack. */
struct kept {
	struct copy **v;
	size_t n, cap;
};

struct reorder {
	reorder_emit_fn emit;
	reorder_done_fn done; /* for records held in place */
	void *ctx;
	size_t max_bytes;
	size_t keep_max; /* kept buffers beyond this go back to malloc */
	size_t bytes;	 /* of the buffers held and kept */
	size_t kept_bytes;
	struct kept kept[CLASSES]; /* free buffers of each class */
	/* The run being extended, outside the heap until a push goes back in
	 * time; tail is meaningful only while head is set. */
	struct copy *open_head, *open_tail;
	struct run *runs; /* the heap of closed runs */
	size_t n_runs, runs_cap;
	size_t held;
	uint64_t seq;
	uint64_t watermark; /* the highest released */
	struct reorder_stats stats;
};

static struct ws_event *record_of(struct copy *c)
{
	return (struct ws_event *)(c + 1);
}

static const struct ws_event *held_record(struct copy *c)
{
	return c->ref ? c->ref : record_of(c);
}

static size_t class_bytes(unsigned c)
{
	return (size_t)(c & 1 ? 3 : 2) << (c / 2 + 6);
}

/* The smallest class that holds bytes: between 2^(b-1) and 2^b there is one
 * more, 3 * 2^(b-2). */
static unsigned class_of(size_t bytes)
{
	unsigned b;

	if (bytes <= 128)
		return 0;
	if (bytes > class_bytes(CLASSES - 1))
		return NO_CLASS;
	b = 64 - (unsigned)__builtin_clzll((unsigned long long)bytes - 1);
	return bytes <= (size_t)3 << (b - 2) ? 2 * (b - 8) + 1 : 2 * (b - 7);
}

/* What a copy of a record of size bytes takes; the caller has checked that
 * the header does not overflow it. */
static size_t buffer_bytes(size_t size)
{
	size_t bytes = sizeof(struct copy) + size;
	unsigned c = class_of(bytes);

	return c == NO_CLASS ? bytes : class_bytes(c);
}

static bool run_before(const struct run *a, const struct run *b)
{
	return a->ts < b->ts || (a->ts == b->ts && a->seq < b->seq);
}

static void sift_up(struct run *h, size_t i, struct run x)
{
	while (i) {
		size_t parent = (i - 1) / 2;

		if (!run_before(&x, &h[parent]))
			break;
		h[i] = h[parent];
		i = parent;
	}
	h[i] = x;
}

/* Top down with an early stop: the run that gave a record usually still
 * holds the oldest or nearly, so its new key rarely sinks far. */
static void sift_down(struct run *h, size_t n, struct run x)
{
	size_t i = 0, child;

	while ((child = 2 * i + 1) < n) {
		if (child + 1 < n && run_before(&h[child + 1], &h[child]))
			child++;
		if (!run_before(&h[child], &x))
			break;
		h[i] = h[child];
		i = child;
	}
	h[i] = x;
}

/* Room for one more buffer in a class's stack; false if realloc fails. */
static bool kept_room(struct kept *s)
{
	struct copy **v;
	size_t cap;

	if (s->n < s->cap)
		return true;
	cap = s->cap ? 2 * s->cap : 64;
	v = realloc(s->v, cap * sizeof(*v));
	if (!v)
		return false;
	s->v = v;
	s->cap = cap;
	return true;
}

static void keep_or_free(struct reorder *r, struct copy *c)
{
	size_t bytes = buffer_bytes(c->ref ? 0 : c->size);
	unsigned k = class_of(bytes);

	if (k == NO_CLASS || r->kept_bytes + bytes > r->keep_max || !kept_room(&r->kept[k])) {
		free(c);
		r->bytes -= bytes;
		return;
	}
	KEPT_POISON(c, bytes);
	r->kept[k].v[r->kept[k].n++] = c;
	r->kept_bytes += bytes;
}

static struct copy *unkeep(struct reorder *r, unsigned k, size_t size)
{
	struct copy *c = r->kept[k].v[--r->kept[k].n];

	KEPT_UNPOISON(c, sizeof(*c) + size);
	r->kept_bytes -= class_bytes(k);
	return c;
}

/* The largest first: the bound needs the room. */
static void free_one_kept(struct reorder *r)
{
	unsigned k = CLASSES;

	while (k-- > 0) {
		if (r->kept[k].n) {
			free(unkeep(r, k, 0));
			r->bytes -= class_bytes(k);
			return;
		}
	}
}

static void free_kept(struct reorder *r)
{
	unsigned k;

	while (r->kept_bytes)
		free_one_kept(r);
	for (k = 0; k < CLASSES; k++) {
		free(r->kept[k].v);
		r->kept[k] = (struct kept){0};
	}
}

/* The oldest record held: the open run's first or the first closed run's.
 * The open run was pushed after every closed one, so on equal times the
 * closed run's comes first. */
static struct copy *oldest(const struct reorder *r)
{
	struct copy *o = r->open_head;

	if (!r->n_runs || (o && o->ts < r->runs[0].ts))
		return o;
	return r->runs[0].head;
}

/* c is oldest(r). */
static void hand_on(struct reorder *r, struct copy *c)
{
	if (c->next) {
		/* Its header and the start of its record, read when its turn comes. */
		__builtin_prefetch(c->next);
		__builtin_prefetch((const char *)c->next + 64);
	}
	if (c == r->open_head) {
		r->open_head = c->next;
	} else if (c->next) {
		struct run next = {.ts = c->next_ts, .seq = c->next_seq, .head = c->next};

		sift_down(r->runs, r->n_runs, next);
	} else if (--r->n_runs) {
		sift_down(r->runs, r->n_runs, r->runs[r->n_runs]);
	}
	r->held--;
	r->stats.released++;
	r->emit(r->ctx, held_record(c), c->size);
	if (c->ref && r->done)
		r->done(r->ctx, c->tag);
	keep_or_free(r, c);
}

/* A buffer for a record of size bytes within max_bytes, handing on the
 * oldest records if it takes that; NULL if it can never fit or malloc
 * fails. */
static struct copy *take_buffer(struct reorder *r, size_t size)
{
	size_t bytes;
	unsigned k;
	struct copy *c;

	/* Written so that the header cannot overflow size. */
	if (r->max_bytes < sizeof(*c) || size > r->max_bytes - sizeof(*c))
		return NULL;
	bytes = buffer_bytes(size);
	k = class_of(bytes);
	if (bytes > r->max_bytes)
		return NULL;
	for (;;) {
		if (k != NO_CLASS && r->kept[k].n)
			return unkeep(r, k, size);
		if (bytes <= r->max_bytes - r->bytes)
			break;
		if (r->kept_bytes) {
			free_one_kept(r);
		} else {
			/* What is held is over max_bytes - bytes >= 0. */
			r->stats.forced++;
			hand_on(r, oldest(r));
		}
	}
	c = malloc(bytes);
	if (c) {
		r->bytes += bytes;
		KEPT_POISON((char *)(c + 1) + size, bytes - sizeof(*c) - size);
	}
	return c;
}

/* A record not held: handed on at once, and done with at once if it was
 * to be held in place (ref set). */
static void hand_on_now(struct reorder *r, const struct ws_event *ev, size_t size, bool forced,
			const struct ws_event *ref, uint64_t tag)
{
	r->stats.released++;
	if (forced)
		r->stats.forced++;
	r->emit(r->ctx, ev, size);
	if (ref && r->done)
		r->done(r->ctx, tag);
}

struct reorder *reorder_new(size_t max_bytes, reorder_emit_fn emit, reorder_done_fn done, void *ctx)
{
	struct reorder *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->emit = emit;
	r->done = done;
	r->ctx = ctx;
	r->max_bytes = max_bytes;
	/* Kept buffers serve the pushes right after a release; beyond a
	 * quarter of the bound they are more likely a burst's leftovers. */
	r->keep_max = max_bytes / 4;
	return r;
}

/* Hold ev in a copy of its own (the record follows the header), or where
 * it lies (ref set, the header alone). */
static void push(struct reorder *r, const struct ws_event *ev, size_t size, const struct ws_event *ref, uint64_t tag)
{
	struct copy *c;

	r->stats.pushed++;
	if (size < sizeof(*ev)) {
		hand_on_now(r, ev, size, false, ref, tag);
		return;
	}
	if (ev->ts_ns < r->watermark)
		r->stats.late++;
	/* Room to close the open run, made first: nothing can fail after the
	 * copy is taken. */
	if (r->n_runs == r->runs_cap) {
		size_t cap = r->runs_cap ? 2 * r->runs_cap : RUNS_MIN;
		struct run *runs = realloc(r->runs, cap * sizeof(*runs));

		if (!runs) {
			hand_on_now(r, ev, size, true, ref, tag);
			return;
		}
		r->runs = runs;
		r->runs_cap = cap;
	}
	c = take_buffer(r, ref ? 0 : size);
	if (!c) {
		hand_on_now(r, ev, size, true, ref, tag);
		return;
	}
	c->ref = ref;
	c->tag = tag;
	if (!ref)
		memcpy(record_of(c), ev, size);
	c->next = NULL;
	c->ts = ev->ts_ns;
	c->seq = r->seq++;
	c->size = size;
	if (r->open_head && c->ts < r->open_tail->ts) {
		struct run closed = {.ts = r->open_head->ts, .seq = r->open_head->seq, .head = r->open_head};

		sift_up(r->runs, r->n_runs++, closed);
		r->open_head = NULL;
	}
	if (r->open_head) {
		r->open_tail->next = c;
		r->open_tail->next_ts = c->ts;
		r->open_tail->next_seq = c->seq;
	} else {
		r->open_head = c;
	}
	r->open_tail = c;
	if (++r->held > r->stats.held_max)
		r->stats.held_max = r->held;
}

void reorder_push(struct reorder *r, const struct ws_event *ev, size_t size)
{
	push(r, ev, size, NULL, 0);
}

void reorder_hold(struct reorder *r, const struct ws_event *ev, size_t size, uint64_t tag)
{
	push(r, ev, size, ev, tag);
}

bool reorder_force_one(struct reorder *r)
{
	struct copy *c = oldest(r);

	if (!c)
		return false;
	r->stats.forced++;
	hand_on(r, c);
	return true;
}

void reorder_release(struct reorder *r, uint64_t watermark_ns)
{
	struct copy *c;

	if (watermark_ns > r->watermark)
		r->watermark = watermark_ns;
	while ((c = oldest(r)) && c->ts < r->watermark)
		hand_on(r, c);
}

void reorder_drain(struct reorder *r)
{
	struct copy *c;

	while ((c = oldest(r)))
		hand_on(r, c);
	free_kept(r);
	free(r->runs);
	r->runs = NULL;
	r->runs_cap = 0;
}

size_t reorder_held(const struct reorder *r)
{
	return r->held;
}

const struct reorder_stats *reorder_stats(const struct reorder *r)
{
	return &r->stats;
}

static void free_run(struct copy *c)
{
	while (c) {
		struct copy *next = c->next;

		free(c);
		c = next;
	}
}

void reorder_free(struct reorder *r)
{
	size_t i;

	if (!r)
		return;
	free_run(r->open_head);
	for (i = 0; i < r->n_runs; i++)
		free_run(r->runs[i].head);
	free_kept(r);
	free(r->runs);
	free(r);
}
