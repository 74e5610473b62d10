/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ring.h - a BPF ring buffer read where the kernel wrote it.
 *
 * Promise: hands every record the kernel committed to a callback once, in
 * ring order, skipping discarded ones. Without holding, a record's room goes
 * back to the kernel when the callback returns, as libbpf's reader does it.
 * Holding, the room of a record goes back only once every part of it the
 * callback kept (ring_ref()) has been let go (ring_unref()), and rooms go
 * back in ring order: a reader that puts records from several CPUs back in
 * time order can keep them where they are instead of copying each one out.
 *
 * Hand-written because libbpf 1.1's reader gives the room back as each
 * callback returns, and gives no way to keep it; the layout read here is
 * the kernel's (include/uapi/linux/bpf.h, kernel/bpf/ringbuf.c): a consumer
 * position page, a producer position page, then the data pages, mapped
 * twice in a row so that a record that wraps reads as one.
 */
#ifndef WSSNOOP_RING_H
#define WSSNOOP_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ring;

/* One committed record of size bytes; tag names it for ring_ref()/ring_unref(). */
typedef void (*ring_record_fn)(void *ctx, void *data, size_t size, uint64_t tag);

/* Map the ring buffer map_fd; NULL with errno set on failure. */
struct ring *ring_open(int map_fd, bool hold, ring_record_fn fn, void *ctx);
/* Wait up to timeout_ms for a wakeup, then read what is there. Returns the
 * records read, or -errno (EINTR is 0). */
int ring_poll(struct ring *r, int timeout_ms);
/* Read what is there without waiting. Returns the records read. */
int ring_consume(struct ring *r);
/* While holding: a part of record tag is kept beyond its callback, or no
 * longer needed. Unbalanced calls are a bug of the caller's. */
void ring_ref(struct ring *r, uint64_t tag);
void ring_unref(struct ring *r, uint64_t tag);
/* Bytes read and not yet given back, and the ring's size. */
size_t ring_held_bytes(const struct ring *r);
size_t ring_size(const struct ring *r);
void ring_close(struct ring *r);

#endif /* WSSNOOP_RING_H */
