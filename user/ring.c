// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ring.c - a BPF ring buffer read in place; see ring.h for the promise.
 *
 * Each record read while holding gets a slot in a table indexed by its tag
 * (the count of records read before it): where it ends in the ring and how
 * many parts of it are still kept. The callback itself holds one part while
 * it runs. The consumer position, which tells the kernel what room is free,
 * moves over the oldest slots whose parts are all let go.
 */
#include "ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>

struct slot {
	uint64_t end; /* ring position just past the record */
	uint32_t refs;
};

struct ring {
	int map_fd, epoll_fd;
	bool hold;
	ring_record_fn fn;
	void *ctx;
	size_t page, size, mask;
	unsigned long *consumer;	/* the kernel's consumer position (ours to write) */
	const unsigned long *producer;	/* the kernel's producer position */
	const uint8_t *data;		/* size bytes, mapped twice in a row */
	uint64_t read_pos;		/* the next record to read */
	uint64_t freed_pos;		/* what the consumer position says */
	struct slot *slots;		/* holding: slot_mask + 1 of them */
	uint64_t slot_mask;
	uint64_t oldest, next;		/* tags: the oldest slot in use, the next to use */
};

/* A slot per this many bytes of ring. A record takes at least 112 (its
 * header and a struct ws_event), and most are batches of many: should the
 * slots run out, reading stops until the oldest records are handed on,
 * which capture_poll() forces once they hold half the ring. */
#define RECORD_MIN 128

static struct slot *slot_of(struct ring *r, uint64_t tag)
{
	return &r->slots[tag & r->slot_mask];
}

static void publish(struct ring *r, uint64_t pos)
{
	r->freed_pos = pos;
	__atomic_store_n(r->consumer, (unsigned long)pos, __ATOMIC_RELEASE);
}

/* Give back the room of the oldest records no longer kept. */
static void give_back(struct ring *r)
{
	uint64_t end = r->freed_pos;

	while (r->oldest != r->next && slot_of(r, r->oldest)->refs == 0)
		end = slot_of(r, r->oldest++)->end;
	if (end != r->freed_pos)
		publish(r, end);
}

struct ring *ring_open(int map_fd, bool hold, ring_record_fn fn, void *ctx)
{
	struct bpf_map_info info = {0};
	uint32_t len = sizeof(info);
	struct epoll_event ev = {.events = EPOLLIN};
	struct ring *r;
	void *p;
	int err;

	if (bpf_obj_get_info_by_fd(map_fd, &info, &len))
		return NULL;
	if (info.type != BPF_MAP_TYPE_RINGBUF || !info.max_entries || (info.max_entries & (info.max_entries - 1))) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->map_fd = map_fd;
	r->epoll_fd = -1;
	r->hold = hold;
	r->fn = fn;
	r->ctx = ctx;
	r->page = (size_t)sysconf(_SC_PAGESIZE);
	r->size = info.max_entries;
	r->mask = r->size - 1;
	p = mmap(NULL, r->page, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	r->consumer = p;
	p = mmap(NULL, r->page + 2 * r->size, PROT_READ, MAP_SHARED, map_fd, (off_t)r->page);
	if (p == MAP_FAILED)
		goto fail;
	r->producer = p;
	r->data = (const uint8_t *)p + r->page;
	r->read_pos = r->freed_pos = __atomic_load_n(r->consumer, __ATOMIC_ACQUIRE);
	if (hold) {
		r->slot_mask = r->size / RECORD_MIN - 1;
		r->slots = calloc(r->slot_mask + 1, sizeof(*r->slots));
		if (!r->slots)
			goto fail;
	}
	/* The ring polls readable while any data is unread by the kernel's
	 * count, which records held in place are: holding, only the kernel's
	 * wakeups (edge-triggered) say that more came. */
	if (hold)
		ev.events |= EPOLLET;
	r->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (r->epoll_fd < 0 || epoll_ctl(r->epoll_fd, EPOLL_CTL_ADD, map_fd, &ev))
		goto fail;
	return r;
fail:
	err = errno;
	ring_close(r);
	errno = err;
	return NULL;
}

/* Take the record at read_pos: to the callback, unless discarded. False
 * when reading stops before it (not committed yet, or no slot to hold it). */
static bool take_record(struct ring *r, int *n)
{
	const uint32_t *hdr = (const uint32_t *)(r->data + (r->read_pos & r->mask));
	uint32_t len = __atomic_load_n(hdr, __ATOMIC_ACQUIRE);
	uint64_t end, tag = r->hold ? r->next : 0;

	if (len & BPF_RINGBUF_BUSY_BIT)
		return false; /* reserved, not committed yet: the records after it wait */
	end = r->read_pos + (((len & ~BPF_RINGBUF_DISCARD_BIT) + BPF_RINGBUF_HDR_SZ + 7) & ~7ull);
	if (r->hold) {
		if (r->next - r->oldest > r->slot_mask)
			return false; /* out of slots: the rest waits for room */
		slot_of(r, tag)->end = end;
		slot_of(r, tag)->refs = 1; /* the callback's */
	}
	r->read_pos = end;
	if (!(len & BPF_RINGBUF_DISCARD_BIT)) {
		r->fn(r->ctx, (void *)(hdr + 2), len & ~BPF_RINGBUF_DISCARD_BIT, tag);
		(*n)++;
	}
	if (r->hold)
		ring_unref(r, r->next++);
	else
		publish(r, end);
	return true;
}

/* Read what the producer position says is there, then look again: records
 * committed while a pass ran are taken in the same call, as libbpf's reader
 * does. A call reads at most a ring's worth, so that a producer that never
 * pauses does not keep the caller from its other work. */
int ring_consume(struct ring *r)
{
	uint64_t start = r->read_pos, prod;
	int n = 0;

	while (r->read_pos - start < r->size &&
	       r->read_pos < (prod = __atomic_load_n(r->producer, __ATOMIC_ACQUIRE)))
		while (r->read_pos < prod)
			if (!take_record(r, &n))
				return n;
	return n;
}

int ring_poll(struct ring *r, int timeout_ms)
{
	struct epoll_event ev;

	if (epoll_wait(r->epoll_fd, &ev, 1, timeout_ms) < 0)
		return errno == EINTR ? 0 : -errno;
	return ring_consume(r);
}

void ring_ref(struct ring *r, uint64_t tag)
{
	slot_of(r, tag)->refs++;
}

void ring_unref(struct ring *r, uint64_t tag)
{
	if (--slot_of(r, tag)->refs == 0 && tag == r->oldest)
		give_back(r);
}

size_t ring_held_bytes(const struct ring *r)
{
	return (size_t)(r->read_pos - r->freed_pos);
}

size_t ring_size(const struct ring *r)
{
	return r->size;
}

void ring_close(struct ring *r)
{
	if (!r)
		return;
	if (r->epoll_fd >= 0)
		close(r->epoll_fd);
	if (r->producer)
		munmap((void *)r->producer, r->page + 2 * r->size);
	if (r->consumer)
		munmap(r->consumer, r->page);
	free(r->slots);
	free(r);
}
