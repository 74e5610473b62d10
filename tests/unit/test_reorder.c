// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_reorder.c - records from interleaved per-CPU streams put back in time
 * order: the order, the copies, the watermark, the byte bound and the
 * counters, over records shaped as the kernel side writes them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "reorder.h"

#define MAX_IDS	   8192
#define MAX_RECORD (sizeof(struct ws_event) + WS_SAMPLE_MAX)
#define SHORT_ID   UINT64_MAX

/* What came out, in order, checked as it came. */
static uint64_t out_id[MAX_IDS + 16];
static uint64_t out_ts[MAX_IDS + 16];
static size_t n_out;
static unsigned emitted[MAX_IDS]; /* times each id came out */
static bool inside[MAX_IDS];	  /* pushed, held, not out yet */
static uint64_t inside_ts[MAX_IDS];
static size_t n_ids; /* ids pushed so far: the next id */
static size_t pushed_bytes, out_bytes;
static bool check_oldest;	     /* each record out is the oldest still held */
static uint8_t last_out[MAX_RECORD]; /* the bytes of the last record out */
static size_t last_out_size;
static const struct ws_event *last_ev; /* where the last record out was */

static uint8_t pattern(uint64_t id, size_t i)
{
	return (uint8_t)(id * 31 + i * 7 + 1);
}

static int on_emit(void *ctx, const struct ws_event *ev, size_t size)
{
	size_t i;
	uint64_t id;

	(void)ctx;
	assert_true(n_out < MAX_IDS + 16);
	out_bytes += size;
	if (size < sizeof(*ev)) {
		out_id[n_out++] = SHORT_ID;
		return 0;
	}
	assert_true(size <= MAX_RECORD);
	memcpy(last_out, ev, size);
	last_out_size = size;
	last_ev = ev;
	id = ev->cookie;
	assert_true(id < n_ids);
	assert_int_equal(ev->type, WS_EV_DATA);
	assert_int_equal(size, sizeof(*ev) + ev->sample_len);
	for (i = 0; i < ev->sample_len; i++)
		assert_int_equal(ev->data[i], pattern(id, i));
	if (check_oldest) {
		for (i = 0; i < n_ids; i++)
			if (inside[i] && i != id)
				assert_true(ev->ts_ns <= inside_ts[i]);
	}
	emitted[id]++;
	inside[id] = false;
	out_id[n_out] = id;
	out_ts[n_out++] = ev->ts_ns;
	return 0;
}

static struct reorder *start(size_t max_bytes)
{
	struct reorder *r;

	n_out = n_ids = 0;
	pushed_bytes = out_bytes = 0;
	last_out_size = 0;
	check_oldest = false;
	memset(emitted, 0, sizeof(emitted));
	memset(inside, 0, sizeof(inside));
	r = reorder_new(max_bytes, on_emit, NULL, NULL);
	assert_non_null(r);
	return r;
}

/* A record of sample_len bytes at ts, with the next id; the source is
 * overwritten and freed once pushed, so only the copy can come out right. */
static uint64_t push(struct reorder *r, uint64_t ts, size_t sample_len)
{
	size_t size = sizeof(struct ws_event) + sample_len, i;
	struct ws_event *ev = calloc(1, size);
	uint64_t id = n_ids++;

	assert_non_null(ev);
	assert_true(id < MAX_IDS);
	ev->type = WS_EV_DATA;
	ev->dir = WS_DIR_IN;
	ev->sample_len = (uint32_t)sample_len;
	ev->payload_len = (uint32_t)sample_len;
	ev->cookie = id;
	ev->ts_ns = ts;
	for (i = 0; i < sample_len; i++)
		ev->data[i] = pattern(id, i);
	inside_ts[id] = ts;
	reorder_push(r, ev, size);
	memset(ev, 0xa5, size);
	free(ev);
	pushed_bytes += size;
	if (!emitted[id])
		inside[id] = true;
	return id;
}

static void test_out_of_order_comes_out_sorted_and_stable(void **state)
{
	struct reorder *r = start(1 << 20);
	/* (ts, id): equal times must keep push order. */
	const uint64_t ts[] = {5, 3, 5, 1, 3, 9, 5};
	const uint64_t want[] = {3, 1, 4, 0, 2, 6, 5};
	size_t i;

	(void)state;
	for (i = 0; i < 7; i++)
		push(r, ts[i], 16);
	assert_int_equal(n_out, 0);
	reorder_release(r, 100);
	assert_int_equal(n_out, 7);
	for (i = 0; i < 7; i++)
		assert_int_equal(out_id[i], want[i]);
	reorder_free(r);
}

static void test_release_hands_on_only_what_is_before_the_watermark(void **state)
{
	struct reorder *r = start(1 << 20);

	(void)state;
	push(r, 30, 8);
	push(r, 10, 8);
	push(r, 40, 8);
	push(r, 20, 8);
	reorder_release(r, 30); /* strictly before: 30 stays */
	assert_int_equal(n_out, 2);
	assert_int_equal(out_ts[0], 10);
	assert_int_equal(out_ts[1], 20);
	assert_int_equal(reorder_held(r), 2);
	reorder_release(r, 30); /* the same watermark again: nothing more */
	assert_int_equal(n_out, 2);
	reorder_release(r, 41);
	assert_int_equal(n_out, 4);
	assert_int_equal(out_ts[2], 30);
	assert_int_equal(out_ts[3], 40);
	assert_int_equal(reorder_held(r), 0);
	reorder_free(r);
}

static void test_contents_and_size_are_copied(void **state)
{
	struct reorder *r = start(1 << 20);
	const size_t lens[] = {0, 1, 24, 1100, WS_SAMPLE_MAX};
	uint8_t *want = malloc(MAX_RECORD);
	size_t i, j;

	(void)state;
	assert_non_null(want);
	for (i = 0; i < 5; i++) {
		struct ws_event *ev;
		size_t size = sizeof(*ev) + lens[i];
		uint64_t id = push(r, 1000 + i, lens[i]);

		/* What push() built, rebuilt to compare every byte. */
		memset(want, 0, size);
		ev = (struct ws_event *)want;
		ev->type = WS_EV_DATA;
		ev->dir = WS_DIR_IN;
		ev->sample_len = (uint32_t)lens[i];
		ev->payload_len = (uint32_t)lens[i];
		ev->cookie = id;
		ev->ts_ns = 1000 + i;
		for (j = 0; j < lens[i]; j++)
			ev->data[j] = pattern(id, j);
		reorder_release(r, 1000 + i + 1);
		assert_int_equal(n_out, i + 1);
		assert_int_equal(out_id[i], id);
		assert_int_equal(last_out_size, size);
		assert_memory_equal(last_out, want, size);
	}
	free(want);
	reorder_free(r);
}

static void test_late_record_is_counted_and_comes_out_next_release(void **state)
{
	struct reorder *r = start(1 << 20);
	const struct reorder_stats *st = reorder_stats(r);

	(void)state;
	push(r, 100, 8);
	reorder_release(r, 200);
	assert_int_equal(n_out, 1);
	assert_int_equal(st->late, 0);
	push(r, 150, 8); /* below the watermark already released */
	push(r, 250, 8);
	push(r, 200, 8); /* at the watermark: not late */
	assert_int_equal(st->late, 1);
	assert_int_equal(n_out, 1);
	/* A lower watermark than the last counts as the last: the late record
	 * still comes out now, the others stay. */
	reorder_release(r, 120);
	assert_int_equal(n_out, 2);
	assert_int_equal(out_ts[1], 150);
	assert_int_equal(reorder_held(r), 2);
	reorder_release(r, 300);
	assert_int_equal(out_ts[2], 200);
	assert_int_equal(out_ts[3], 250);
	assert_int_equal(st->late, 1);
	assert_int_equal(st->forced, 0);
	reorder_free(r);
}

static void test_bound_forces_out_the_oldest(void **state)
{
	const size_t max_bytes = 4096;
	struct reorder *r = start(max_bytes);
	const struct reorder_stats *st = reorder_stats(r);
	uint64_t i, forced;

	(void)state;
	check_oldest = true;
	for (i = 0; i < 60; i++) {
		/* Times in no order, some repeated. */
		push(r, (i * 37) % 50, 100 + (i % 3) * 150);
		assert_true(pushed_bytes - out_bytes <= max_bytes);
		assert_int_equal(st->pushed, st->released + reorder_held(r));
	}
	assert_true(st->forced > 0);
	assert_int_equal(st->forced, st->released);
	assert_int_equal(st->forced, n_out);
	assert_true(reorder_held(r) > 0);
	/* The rest, in order, and not forced. */
	forced = st->forced;
	reorder_release(r, UINT64_MAX);
	assert_int_equal(reorder_held(r), 0);
	assert_int_equal(st->released, 60);
	assert_int_equal(st->forced, forced);
	for (i = forced + 1; i < n_out; i++)
		assert_true(out_ts[i - 1] <= out_ts[i]);
	for (i = 0; i < 60; i++)
		assert_int_equal(emitted[i], 1);
	reorder_free(r);
}

static void test_kept_buffers_give_way(void **state)
{
	const size_t max_bytes = 16384, small = 121, n_small = 40;
	struct reorder *r = start(max_bytes);
	const struct reorder_stats *st = reorder_stats(r);
	size_t i;

	(void)state;
	/* Buffers of one size, kept for reuse once their records are out... */
	for (i = 0; i < 8; i++)
		push(r, i, 900);
	reorder_release(r, 100);
	assert_int_equal(n_out, 8);
	/* ...are freed for records of another size before any is forced out:
	 * these fit, each with its header and rounded up by half. */
	assert_true(n_small * (sizeof(struct ws_event) + small + 32) * 3 / 2 <= max_bytes);
	for (i = 0; i < n_small; i++)
		push(r, 200 + i, small);
	assert_int_equal(st->forced, 0);
	assert_int_equal(reorder_held(r), n_small);
	reorder_free(r);
}

static void test_record_beyond_bound_goes_at_once(void **state)
{
	struct reorder *r = start(4096);
	const struct reorder_stats *st = reorder_stats(r);
	size_t len;
	uint64_t big;

	(void)state;
	push(r, 10, 100);
	push(r, 20, 100);
	big = push(r, 5, 8000);
	assert_int_equal(n_out, 1);
	assert_int_equal(out_id[0], big);
	assert_int_equal(st->forced, 1);
	assert_int_equal(reorder_held(r), 2); /* the others stay held */
	reorder_release(r, 30);
	assert_int_equal(n_out, 3);
	reorder_free(r);

	/* Records just under the bound, which their copies may not be: each is
	 * held or handed on at once, never lost, and the bound holds. */
	r = start(4000);
	st = reorder_stats(r);
	for (len = 3600; len <= 4000 - sizeof(struct ws_event); len += 8) {
		push(r, 100 - len / 8, len);
		assert_true(pushed_bytes - out_bytes <= 4000);
		assert_int_equal(st->pushed, st->released + reorder_held(r));
	}
	reorder_drain(r);
	assert_int_equal(n_out, n_ids);
	assert_int_equal(st->released, n_ids);
	reorder_free(r);
}

static void test_short_record_passes_through(void **state)
{
	struct reorder *r = start(4096);
	const struct reorder_stats *st = reorder_stats(r);
	struct ws_event ev = {.type = WS_EV_DATA, .ts_ns = 1};

	(void)state;
	push(r, 10, 8);
	reorder_push(r, &ev, sizeof(ev) - 1);
	assert_int_equal(n_out, 1);
	assert_int_equal(out_id[0], SHORT_ID);
	assert_int_equal(out_bytes, sizeof(ev) - 1);
	assert_int_equal(st->forced, 0);
	assert_int_equal(st->pushed, 2);
	assert_int_equal(st->released, 1);
	assert_int_equal(reorder_held(r), 1);
	reorder_free(r);
}

static void test_drain_empties_in_order(void **state)
{
	struct reorder *r = start(1 << 20);
	size_t i;

	(void)state;
	for (i = 0; i < 97; i++)
		push(r, (i * 53) % 97, i * 11); /* 0 to 96, shuffled */
	reorder_release(r, 10);
	assert_int_equal(n_out, 10);
	reorder_drain(r);
	assert_int_equal(reorder_held(r), 0);
	assert_int_equal(n_out, 97);
	for (i = 1; i < n_out; i++)
		assert_true(out_ts[i - 1] <= out_ts[i]);
	/* Still usable after a drain. */
	push(r, 1000, 8);
	reorder_release(r, 1001);
	assert_int_equal(n_out, 98);
	reorder_drain(r);
	reorder_drain(r);
	reorder_free(r);
}

static void test_free_with_records_held(void **state)
{
	struct reorder *r = start(1 << 20);
	size_t i;

	(void)state;
	for (i = 0; i < 50; i++)
		push(r, 100 - i, i * 40);
	reorder_release(r, 60); /* some buffers kept for reuse, some held */
	assert_int_equal(n_out, 9);
	reorder_free(r); /* no records handed on; AddressSanitizer checks leaks */
	assert_int_equal(n_out, 9);
	reorder_free(NULL);
}

static void test_stats_add_up(void **state)
{
	struct reorder *r = start(1 << 20);
	const struct reorder_stats *st = reorder_stats(r);
	size_t i;

	(void)state;
	for (i = 0; i < 5; i++)
		push(r, 10 + i, 8);
	reorder_release(r, 13); /* 10, 11, 12 out */
	for (i = 0; i < 3; i++)
		push(r, 20 + i, 8);
	assert_int_equal(st->pushed, 8);
	assert_int_equal(st->released, 3);
	assert_int_equal(reorder_held(r), 5);
	assert_int_equal(st->held_max, 5);
	for (i = 0; i < 2; i++)
		push(r, 30 + i, 8);
	assert_int_equal(st->held_max, 7);
	reorder_drain(r);
	assert_int_equal(st->pushed, 10);
	assert_int_equal(st->released, 10);
	assert_int_equal(st->held_max, 7);
	assert_int_equal(st->late, 0);
	assert_int_equal(st->forced, 0);
	reorder_free(r);
}

static uint64_t rng_state;

static uint64_t rnd(uint64_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state % n;
}

#define SOURCES	       4
#define PER_SOURCE     1500
#define RANDOM_RECORDS (SOURCES * PER_SOURCE)

/* Per-CPU streams, each in time order (equal times too), read in random
 * runs from one stream at a time; released at random watermarks, mostly
 * safe (before the next unread record of every stream), sometimes too far
 * ahead so that records turn out late. Returns the counters at the end. */
static struct reorder_stats run_interleaved(uint64_t seed, size_t max_bytes)
{
	static uint64_t stream[SOURCES][PER_SOURCE];
	static bool late[RANDOM_RECORDS];
	struct reorder *r = start(max_bytes);
	const struct reorder_stats *st = reorder_stats(r);
	size_t next[SOURCES] = {0}, read = 0, n_late = 0, held_max = 0, i, s;
	uint64_t watermark = 0, prev_ts = 0, prev_id = 0;
	struct reorder_stats end;
	bool any = false;

	rng_state = seed * 0x9e3779b97f4a7c15ULL + 1;
	for (s = 0; s < SOURCES; s++) {
		uint64_t ts = rnd(50);

		for (i = 0; i < PER_SOURCE; i++) {
			ts += rnd(4); /* 0 now and then: equal times */
			stream[s][i] = ts;
		}
	}
	while (read < RANDOM_RECORDS) {
		size_t run = 1 + rnd(12);
		uint64_t safe = UINT64_MAX;

		s = rnd(SOURCES);
		while (run-- && next[s] < PER_SOURCE) {
			uint64_t ts = stream[s][next[s]++], id;

			late[n_ids] = ts < watermark;
			n_late += late[n_ids];
			id = push(r, ts, rnd(4) ? 40 + rnd(1100) : rnd(WS_SAMPLE_MAX + 1));
			assert_int_equal(id, read);
			read++;
			if (reorder_held(r) > held_max)
				held_max = reorder_held(r);
			assert_true(pushed_bytes - out_bytes <= max_bytes);
		}
		if (rnd(3))
			continue;
		for (s = 0; s < SOURCES; s++)
			if (next[s] < PER_SOURCE && stream[s][next[s]] < safe)
				safe = stream[s][next[s]];
		if (safe == UINT64_MAX)
			break;
		if (!rnd(10))
			safe += 1 + rnd(30); /* too far ahead */
		else
			safe -= rnd(safe < 20 ? safe + 1 : 20);
		reorder_release(r, safe);
		if (safe > watermark)
			watermark = safe;
	}
	reorder_drain(r);
	assert_int_equal(reorder_held(r), 0);
	assert_int_equal(st->pushed, RANDOM_RECORDS);
	assert_int_equal(st->released, RANDOM_RECORDS);
	assert_int_equal(st->held_max, held_max);
	assert_int_equal(n_out, RANDOM_RECORDS);
	for (i = 0; i < RANDOM_RECORDS; i++)
		assert_int_equal(emitted[i], 1);
	assert_int_equal(st->late, n_late);
	end = *st;
	if (end.forced)
		goto out;
	/* Apart from late records, (ts, push order) only ever increases. */
	for (i = 0; i < n_out; i++) {
		if (late[out_id[i]])
			continue;
		if (any)
			assert_true(out_ts[i] > prev_ts || (out_ts[i] == prev_ts && out_id[i] > prev_id));
		prev_ts = out_ts[i];
		prev_id = out_id[i];
		any = true;
	}
out:
	reorder_free(r);
	return end;
}

/* Records held where they lie (reorder_hold()): what comes out is the
 * record itself, in order, and done follows each once, with its tag, after
 * the record came out; a forced hand-on is the oldest, and counted. */
static uint64_t done_tag[64];
static size_t n_done;
static size_t out_when_done[64];

static void on_done(void *ctx, uint64_t tag)
{
	(void)ctx;
	assert_true(n_done < 64);
	out_when_done[n_done] = n_out;
	done_tag[n_done++] = tag;
}

static void test_held_in_place(void **state)
{
	const uint64_t ts[] = {40, 10, 30, 20, 50};
	struct ws_event ev[5];
	struct reorder *r;
	size_t i;

	(void)state;
	reorder_free(start(1 << 20)); /* the checks' state, reset */
	n_done = 0;
	r = reorder_new(1 << 20, on_emit, on_done, NULL);
	assert_non_null(r);
	memset(ev, 0, sizeof(ev));
	for (i = 0; i < 5; i++) {
		ev[i].type = WS_EV_DATA;
		ev[i].cookie = n_ids++;
		ev[i].ts_ns = ts[i];
		inside[i] = true;
		inside_ts[i] = ts[i];
		reorder_hold(r, &ev[i], sizeof(ev[i]), 100 + i);
	}
	assert_true(reorder_force_one(r));
	assert_ptr_equal(last_ev, &ev[1]); /* the record itself, not a copy */
	assert_int_equal(n_out, 1);
	assert_int_equal(out_id[0], 1);
	assert_int_equal(reorder_stats(r)->forced, 1);
	assert_int_equal(n_done, 1);
	assert_int_equal(done_tag[0], 101);
	assert_int_equal(out_when_done[0], 1);
	reorder_release(r, 35);
	assert_int_equal(n_out, 3);
	assert_int_equal(out_id[1], 3);
	assert_int_equal(out_id[2], 2);
	assert_ptr_equal(last_ev, &ev[2]);
	assert_int_equal(n_done, 3);
	assert_int_equal(done_tag[1], 103);
	assert_int_equal(out_when_done[1], 2);
	assert_int_equal(done_tag[2], 102);
	reorder_drain(r);
	assert_int_equal(n_out, 5);
	assert_int_equal(n_done, 5);
	assert_int_equal(done_tag[3], 100);
	assert_int_equal(done_tag[4], 104);
	assert_false(reorder_force_one(r));
	/* A record too short to hold is handed on at once, and done at once. */
	reorder_hold(r, &ev[0], 8, 7);
	assert_int_equal(n_done, 6);
	assert_int_equal(done_tag[5], 7);
	reorder_free(r);
}

static void test_random_interleaved_sources(void **state)
{
	uint64_t seed, late = 0;

	(void)state;
	for (seed = 1; seed <= 20; seed++) {
		struct reorder_stats st = run_interleaved(seed, 256 << 20);

		assert_int_equal(st.forced, 0);
		late += st.late;
	}
	assert_true(late > 0); /* the late path was taken */
}

static void test_random_under_tight_bound(void **state)
{
	uint64_t seed;

	(void)state;
	/* Every record once and the bound kept, though order is given up. */
	for (seed = 1; seed <= 10; seed++)
		assert_true(run_interleaved(seed, 64 << 10).forced > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_out_of_order_comes_out_sorted_and_stable),
		cmocka_unit_test(test_release_hands_on_only_what_is_before_the_watermark),
		cmocka_unit_test(test_contents_and_size_are_copied),
		cmocka_unit_test(test_late_record_is_counted_and_comes_out_next_release),
		cmocka_unit_test(test_bound_forces_out_the_oldest),
		cmocka_unit_test(test_kept_buffers_give_way),
		cmocka_unit_test(test_record_beyond_bound_goes_at_once),
		cmocka_unit_test(test_short_record_passes_through),
		cmocka_unit_test(test_drain_empties_in_order),
		cmocka_unit_test(test_free_with_records_held),
		cmocka_unit_test(test_stats_add_up),
		cmocka_unit_test(test_held_in_place),
		cmocka_unit_test(test_random_interleaved_sources),
		cmocka_unit_test(test_random_under_tight_bound),
	};

	return cmocka_run_group_tests_name("reorder", tests, NULL, NULL);
}
