/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * reorder.h - ring-buffer records put back in time order: records staged on
 * different CPUs reach user space out of order, and the tracker needs them in
 * the order they happened.
 *
 * Promise: every record pushed is handed on exactly once, in ascending ts_ns
 * (equal times in push order), as soon as a watermark says nothing earlier can
 * still arrive. Never drops: the copies held (and the buffers kept for reuse)
 * stay within max_bytes, and when holding a record would pass that bound the
 * oldest held records are handed on early instead, counted. Pure code: no
 * libbpf, no system calls.
 *
 * Hand-written because it is a few dozen lines of heap and run merging
 * specific to these records, and no Debian library does a stable,
 * time-ordered merge under a byte bound.
 */
#ifndef WSSNOOP_REORDER_H
#define WSSNOOP_REORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
/* Relative to this header, as tracker.h: -Iuser alone finds it too. */
#include "../bpf/wssnoop.h"

struct reorder_stats {
	uint64_t pushed;   /* records handed in */
	uint64_t released; /* records handed on */
	/* Pushed with ts_ns below the highest watermark released: handed on at
	 * the next release, after records later than it. */
	uint64_t late;
	/* Handed on before the watermark passed them, to stay within max_bytes
	 * (or because memory ran out). */
	uint64_t forced;
	uint64_t held_max; /* most records held at once */
};

/* Called once per record handed on. ev is valid only during the call; the
 * return value is ignored (it has the shape of pipeline_record). The callback
 * must not call back into the reorder that calls it. */
typedef int (*reorder_emit_fn)(void *ctx, const struct ws_event *ev, size_t size);
/* Called once per record held in place (reorder_hold()), with its tag,
 * right after it was handed on: its bytes are no longer needed. */
typedef void (*reorder_done_fn)(void *ctx, uint64_t tag);

struct reorder;

/* NULL when out of memory. max_bytes bounds the memory of the records held
 * (their copies and the buffers kept for reuse, not the index over them); a
 * copy takes the record and a 32-byte header, rounded up by at most half. */
struct reorder *reorder_new(size_t max_bytes, reorder_emit_fn emit, reorder_done_fn done, void *ctx);
/* Copies ev (size bytes, size >= sizeof(struct ws_event)). Never drops: if
 * holding it would pass max_bytes, the oldest held records are handed on
 * first (counted forced); if it cannot be held at all (its copy larger than
 * max_bytes, or out of memory) it is handed on at once (forced). A record
 * too short to carry a time is handed on at once, for the tracker to reject. */
void reorder_push(struct reorder *r, const struct ws_event *ev, size_t size);
/* As reorder_push(), but without a copy: ev stays where it is, and must,
 * until done is called with tag (handed on at once, done comes at once).
 * Only the header counts against max_bytes. */
void reorder_hold(struct reorder *r, const struct ws_event *ev, size_t size, uint64_t tag);
/* Hands on the oldest record held before its watermark, counted forced;
 * false if none is held. For a caller whose own bound (the room of what it
 * holds in place) needs it. */
bool reorder_force_one(struct reorder *r);
/* Hands on every held record with ts_ns < watermark_ns, in (ts_ns, push
 * order). watermark_ns is a time before which every record has been pushed;
 * one lower than a watermark already released counts as that one. */
void reorder_release(struct reorder *r, uint64_t watermark_ns);
/* Hands on everything held, in order, and returns the memory kept. */
void reorder_drain(struct reorder *r);
/* Records held now. */
size_t reorder_held(const struct reorder *r);
const struct reorder_stats *reorder_stats(const struct reorder *r);
/* Frees r and what it holds without handing anything on. */
void reorder_free(struct reorder *r);

#endif /* WSSNOOP_REORDER_H */
