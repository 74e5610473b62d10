// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_batch.c - staged batches laid out as the kernel side writes them
 * (struct ws_batch, then records padded to 8 bytes), walked whole, and walked
 * when they do not add up: nothing read outside the ring record, every whole
 * record before the first bad one handed on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "batch.h"

#define MAX_SEEN 64

struct seen {
	size_t n;
	uint64_t cookie[MAX_SEEN];
	size_t size[MAX_SEEN];
	uint8_t first[MAX_SEEN]; /* first sample byte, or 0 */
};

static void on_record(void *ctx, const struct ws_event *ev, size_t size)
{
	struct seen *s = ctx;

	assert_true(s->n < MAX_SEEN);
	s->cookie[s->n] = ev->cookie;
	s->size[s->n] = size;
	s->first[s->n] = ev->sample_len ? ev->data[0] : 0;
	s->n++;
}

/* A batch of n records with the given sample lengths, in an exactly sized
 * heap buffer (so that AddressSanitizer sees any read past it). */
static uint8_t *make_batch(const uint32_t *lens, unsigned n, size_t *size)
{
	size_t bytes = 0, off = sizeof(struct ws_batch);
	struct ws_batch *b;
	uint8_t *buf;

	for (unsigned i = 0; i < n; i++)
		bytes += ws_staged_size(lens[i]);
	*size = sizeof(*b) + bytes;
	buf = calloc(1, *size);
	assert_non_null(buf);
	b = (struct ws_batch *)buf;
	b->type = WS_EV_BATCH;
	b->cpu = 1;
	b->records = n;
	b->bytes = (uint32_t)bytes;
	for (unsigned i = 0; i < n; i++) {
		struct ws_event *ev = (struct ws_event *)(buf + off);

		ev->type = WS_EV_DATA;
		ev->cookie = 100 + i;
		ev->sample_len = lens[i];
		memset(ev->data, 'a' + (int)i, lens[i]);
		off += ws_staged_size(lens[i]);
	}
	return buf;
}

static void test_whole_batch_in_order(void **state)
{
	const uint32_t lens[] = {45, 0, 256, 7, WS_STAGE_SAMPLE_MAX};
	struct seen s = {0};
	bool complete;
	size_t size;
	uint8_t *buf = make_batch(lens, 5, &size);

	(void)state;
	assert_true(batch_is(buf, size));
	assert_int_equal(batch_walk(buf, size, on_record, &s, &complete), 5);
	assert_true(complete);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(s.cookie[i], 100 + i);
		assert_int_equal(s.size[i], sizeof(struct ws_event) + lens[i]);
		assert_int_equal(s.first[i], lens[i] ? 'a' + i : 0);
	}
	free(buf);
}

static void test_not_a_batch(void **state)
{
	struct ws_event ev = {.type = WS_EV_DATA};
	struct seen s = {0};
	bool complete = true;

	(void)state;
	assert_false(batch_is(&ev, sizeof(ev)));
	assert_false(batch_is(&ev, 3));
	assert_int_equal(batch_walk(&ev, sizeof(ev), on_record, &s, &complete), 0);
	assert_false(complete);
	assert_int_equal(s.n, 0);
}

/* Each field that can lie, lying: the whole records before the lie come out,
 * nothing after, and the walk says the batch did not add up. */
static void test_counts_that_do_not_add_up(void **state)
{
	const uint32_t lens[] = {100, 200, 300};
	struct seen s;
	bool complete;
	size_t size;
	uint8_t *buf = make_batch(lens, 3, &size);
	struct ws_batch *b = (struct ws_batch *)buf;
	struct ws_event *third = (struct ws_event *)(buf + sizeof(*b) + ws_staged_size(100) + ws_staged_size(200));

	(void)state;
	/* More records than there are. */
	memset(&s, 0, sizeof(s));
	b->records = 9;
	assert_int_equal(batch_walk(buf, size, on_record, &s, &complete), 3);
	assert_false(complete);
	b->records = 3;

	/* More bytes than the ring record holds: read only what it holds. */
	memset(&s, 0, sizeof(s));
	b->bytes += 4096;
	assert_int_equal(batch_walk(buf, size, on_record, &s, &complete), 3);
	assert_false(complete);
	b->bytes -= 4096;

	/* The ring record ends inside the third record. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(batch_walk(buf, size - 16, on_record, &s, &complete), 2);
	assert_false(complete);

	/* A sample length past what a stage holds. */
	memset(&s, 0, sizeof(s));
	third->sample_len = WS_STAGE_SAMPLE_MAX + 8;
	assert_int_equal(batch_walk(buf, size, on_record, &s, &complete), 2);
	assert_false(complete);

	/* A sample length that runs past the end. */
	memset(&s, 0, sizeof(s));
	third->sample_len = 312;
	assert_int_equal(batch_walk(buf, size, on_record, &s, &complete), 2);
	assert_false(complete);
	free(buf);
}

static void test_empty_batch(void **state)
{
	struct ws_batch b = {.type = WS_EV_BATCH};
	struct seen s = {0};
	bool complete;

	(void)state;
	assert_int_equal(batch_walk(&b, sizeof(b), on_record, &s, &complete), 0);
	assert_true(complete);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_batch_in_order),
		cmocka_unit_test(test_not_a_batch),
		cmocka_unit_test(test_counts_that_do_not_add_up),
		cmocka_unit_test(test_empty_batch),
	};

	return cmocka_run_group_tests_name("batch", tests, NULL, NULL);
}
