// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * batch.c - walking a staged batch. The kernel side writes it, so it should
 * always add up; it is checked anyway, since a reader that trusts a length
 * field reads out of bounds the day it is wrong.
 */
#include <stdint.h>
#include "batch.h"

bool batch_is(const void *data, size_t size)
{
	return size >= sizeof(struct ws_batch) && ((const struct ws_batch *)data)->type == WS_EV_BATCH;
}

size_t batch_walk(const void *data, size_t size, batch_record_fn fn, void *ctx, bool *complete)
{
	const struct ws_batch *b = data;
	const uint8_t *p, *end;
	size_t n = 0;

	*complete = false;
	if (!batch_is(data, size))
		return 0;
	p = (const uint8_t *)(b + 1);
	end = p + (b->bytes < size - sizeof(*b) ? b->bytes : size - sizeof(*b));
	*complete = b->bytes <= size - sizeof(*b);
	for (uint32_t i = 0; i < b->records; i++) {
		const struct ws_event *ev = (const struct ws_event *)p;
		size_t left = (size_t)(end - p), step;

		if (left < sizeof(*ev) || ev->sample_len > WS_STAGE_SAMPLE_MAX || left < sizeof(*ev) + ev->sample_len) {
			*complete = false;
			break;
		}
		step = ws_staged_size(ev->sample_len);
		/* The next record's first lines, while this one is handed on: the
		 * ring was written by another CPU, and each first touch waited. */
		for (size_t o = step; o < left && o < step + 256; o += 64)
			__builtin_prefetch(p + o);
		fn(ctx, ev, sizeof(*ev) + ev->sample_len);
		n++;
		p += step < left ? step : left;
	}
	return n;
}
