/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * capture.bpf.h - maps and helpers every wssnoop capture program shares:
 * the watched-port table, the ring buffer with batched wakeups, the per-CPU
 * counters, and the rules of where a head starts and how much of it is
 * sampled.
 *
 * Both capture objects (socket-level and syscall) include it, so that the
 * loader reads the same records and counters whichever one it loaded.
 */
#ifndef WSSNOOP_CAPTURE_BPF_H
#define WSSNOOP_CAPTURE_BPF_H

#include "bpf/wssnoop.h"

#define AF_INET 2
#define AF_INET6 10

/* Set by the loader before load. */
const volatile __u32 request_budget = WS_REQUEST_SAMPLE_DEFAULT;
const volatile __u32 answer_budget = WS_ANSWER_SAMPLE_DEFAULT;
/* Wake the reader only once this much is waiting: a wakeup per event costs
 * microseconds; the reader also polls on a short timer. */
const volatile __u64 wakeup_bytes = 64 * 1024;

/* Local ports to watch, indexed by port number. Lives in .bss, which user
 * space maps, so ports can change while the programs run. */
__u8 watched_ports[65536];

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* the loader may resize before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WS_CNT__MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count_n(__u32 counter, __u32 n)
{
	__u64 *value = bpf_map_lookup_elem(&counters, &counter);

	/* Atomic although per-CPU: a softirq may run a program on this CPU
	 * between the load and the store of a process-context increment, and
	 * the summary's sent = received + lost must hold exactly. */
	if (value)
		__sync_fetch_and_add(value, n);
}

static __always_inline void count(__u32 counter)
{
	count_n(counter, 1);
}

static __always_inline bool port_watched(__u32 port)
{
	/* Older verifiers lose the bounds of a byte-swapped value: the opaque
	 * step keeps the compiler from dropping the mask they need. */
	asm volatile("" : "+r"(port));
	return watched_ports[port & 0xffff];
}

/* A per-CPU buffer taken by one program run at a time: each run adds one to
 * its count and owns it only if it then reads one; runs that overlap on a
 * CPU (one interrupted or preempted by the other) see each other's
 * increment, so at most one of them reads one. Without compare-and-swap,
 * which 5.10 lacks. */
static __always_inline bool busy_take(__u32 *busy)
{
	__sync_fetch_and_add(busy, 1);
	if (*(volatile __u32 *)busy == 1)
		return true;
	__sync_fetch_and_add(busy, -1);
	return false;
}

static __always_inline void busy_give(__u32 *busy)
{
	__sync_fetch_and_add(busy, -1);
}

/* How to commit a record of this size. Wake the reader when the data
 * waiting crosses a multiple of wakeup_bytes, not on every event once that
 * much waits: a forced wakeup is an irq_work, a self-IPI (a VM exit under a
 * hypervisor), and a reader that is behind stays behind for many events. */
static __always_inline __u64 wake_flags(__u64 size)
{
	__u64 waiting = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);

	if (waiting / wakeup_bytes != (waiting + size) / wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* Copy size bytes into one ring record, counted as records events sent (a
 * batch holds several) or lost. */
static __always_inline void ring_output(void *data, __u64 size, __u32 records)
{
	count_n(bpf_ringbuf_output(&events, data, size, wake_flags(size)) ? WS_CNT_LOST : WS_CNT_EMITTED, records);
}

/* Send an event without sample bytes (owner, close, a bare FIN or RST),
 * built on the caller's stack: nothing another program on this CPU shares. */
static __always_inline void emit_event(const struct ws_event *ev)
{
	ring_output((void *)ev, sizeof(*ev), 1);
}

/* The first bytes a head start is judged on: a method token after an empty line. */
#define WS_HEAD_WORD_BYTES 6

/* Four bytes as one number, built from single bytes (a stack load of four
 * must be aligned, and b + 1 is not): so a token is tested by one compare
 * each, not by a ladder of byte tests the compiler repeats wherever this is
 * inlined. */
#define WS_WORD(a, b, c, d) ((__u32)(a) | (__u32)(b) << 8 | (__u32)(c) << 16 | (__u32)(d) << 24)

static __always_inline __u32 word_at(const __u8 *b)
{
	return WS_WORD(b[0], b[1], b[2], b[3]);
}

/* Does a method token start at b (four bytes readable)? */
static __always_inline bool method_word(const __u8 *b)
{
	switch (word_at(b)) {
	case WS_WORD('G', 'E', 'T', ' '):
	case WS_WORD('P', 'O', 'S', 'T'):
	case WS_WORD('P', 'U', 'T', ' '):
	case WS_WORD('P', 'A', 'T', 'C'):
	case WS_WORD('P', 'R', 'I', ' '):
	case WS_WORD('H', 'E', 'A', 'D'):
	case WS_WORD('D', 'E', 'L', 'E'):
	case WS_WORD('O', 'P', 'T', 'I'):
	case WS_WORD('C', 'O', 'N', 'N'):
	case WS_WORD('T', 'R', 'A', 'C'):
		return true;
	default:
		return false;
	}
}

/* Does a segment beginning with these bytes possibly start a head? Requests
 * begin with a method token, answers with "HTTP/". A short segment (a head
 * written a byte at a time) passes if what it has is upper-case letters.
 * A request may follow one empty line (CRLF or LF), which clients send after
 * a body on a persistent connection and servers ignore (RFC 9112 2.2): b
 * then needs WS_HEAD_WORD_BYTES readable, len of them filled. */
static __always_inline bool head_start_word(const __u8 *b, __u32 len, int dir)
{
	__u32 i;

	if (len < 4) {
		for (i = 0; i < 3; i++) {
			if (i >= len)
				break;
			if (b[i] < 'A' || b[i] > 'Z')
				return false;
		}
		return true;
	}
	if (dir == WS_DIR_OUT)
		return word_at(b) == WS_WORD('H', 'T', 'T', 'P');
	if (b[0] == '\n')
		return len >= 5 && method_word(b + 1);
	if (b[0] == '\r' && b[1] == '\n')
		return len >= 6 && method_word(b + 2);
	return method_word(b);
}

/* What one direction of a connection remembers: where the current head
 * started and up to where its segments are still sampled. */
struct dir_state {
	__u32 head_seq;
	__u32 budget_end;
	__u8 seen;
	__u8 pad[3];
};

/* Do an answer's first bytes say "HTTP/1.x 101"? Fewer than 12 cannot tell. */
static __always_inline bool says_101(const __u8 *first, __u32 first_len)
{
	return first_len >= 12 && first[8] == ' ' && first[9] == '1' && first[10] == '0' && first[11] == '1';
}

/* Bytes sampled from the start of a head whose first bytes are these. An
 * answer that is plainly not a 101 gets the status-line budget. */
static __always_inline __u32 head_budget(const __u8 *first, __u32 first_len, int dir, __u16 *flags)
{
	if (dir == WS_DIR_IN)
		return request_budget;
	if (first_len >= 12 && !says_101(first, first_len) && answer_budget > WS_ANSWER_STATUS_SAMPLE) {
		*flags |= WS_F_STATUS_ONLY;
		return WS_ANSWER_STATUS_SAMPLE;
	}
	return answer_budget;
}

/* Decide whether a payload starting at seq is sampled, and how much of it.
 * first holds its first first_len bytes (4 or more when the payload has them).
 * Returns 0 to skip. */
static __always_inline __u32 plan_sample(struct dir_state *d, __u32 seq, __u32 payload_len,
					 const __u8 *first, __u32 first_len, int dir, __u16 *flags)
{
	__u32 room;

	/* A method token (or "HTTP/") starts a head even inside the last one's
	 * window: pipelined requests arrive that way. */
	if (!d->seen) {
		d->seen = 1;
		*flags |= WS_F_FIRST | WS_F_HEAD_START;
	} else if (first_len >= 4 && head_start_word(first, first_len, dir)) {
		*flags |= WS_F_HEAD_START;
	} else if ((__s32)(seq - d->head_seq) >= 0 && (__s32)(seq - d->budget_end) < 0) {
		*flags |= WS_F_CONT;
	} else if (head_start_word(first, first_len, dir)) {
		/* A head written a few bytes at a time, past the last window. */
		*flags |= WS_F_HEAD_START;
	} else {
		return 0;
	}
	if (*flags & WS_F_HEAD_START) {
		d->head_seq = seq;
		d->budget_end = seq + head_budget(first, first_len, dir, flags);
	}
	room = d->budget_end - seq;
	if (payload_len > room) {
		*flags |= WS_F_CUT;
		return room;
	}
	return payload_len;
}

/* A head start sampled whole (the sample is the segment) may end with it:
 * if its last four bytes end the head, the caller stops the window there,
 * so that the body or frames that follow are not sampled. */
static __always_inline bool may_end_window(__u16 flags, __u32 n, __u32 payload_len)
{
	return n == payload_len && n >= 4 && (flags & WS_F_HEAD_START);
}

/* Is this IPv6 address an IPv4 one (::ffff:a.b.c.d)? */
static __always_inline bool v4_mapped(const __u8 *a)
{
	__u32 w0, w1, w2;

	__builtin_memcpy(&w0, a, 4);
	__builtin_memcpy(&w1, a + 4, 4);
	__builtin_memcpy(&w2, a + 8, 4);
	return w0 == 0 && w1 == 0 && w2 == bpf_htonl(0xffff);
}

/* A socket's addresses and remote port as the packet path reports them: an
 * IPv4 client of a dual-stack listener is IPv4 too (in the first four bytes,
 * the rest zero). Returns the family; local and remote start zeroed. */
static __always_inline __u8 sock_endpoints(const struct sock *sk, __u8 local[16], __u8 remote[16],
					   __u16 *remote_port)
{
	__u8 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	*remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET6) {
		bpf_core_read(local, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(remote, 16, &sk->__sk_common.skc_v6_daddr);
		if (v4_mapped(remote))
			family = AF_INET;
	}
	if (family == AF_INET) {
		__builtin_memset(local, 0, 16);
		__builtin_memset(remote, 0, 16);
		bpf_core_read(local, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(remote, 4, &sk->__sk_common.skc_daddr);
	}
	return family;
}

#endif /* WSSNOOP_CAPTURE_BPF_H */
