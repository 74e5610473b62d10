/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * tracker.h - from ring-buffer records to request/answer exchanges.
 *
 * Promise: keeps one entry per watched connection (bounded; evictions are
 * counted), reassembles each head from its sampled segments by sequence
 * number (retransmissions and reordering within the budget included), pairs
 * every request head with the answer that follows it on the connection
 * (keep-alive and pipelining), and hands each exchange to a callback exactly
 * once: answered, closed before an answer, or unanswered after the timeout.
 * Pure code over bytes: no libbpf, no system calls.
 */
#ifndef WSSNOOP_TRACKER_H
#define WSSNOOP_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
/* Relative to this header: a program built with -Iuser alone (the
 * micro-benchmarks of scripts/bench.sh) finds it too. */
#include "../bpf/wssnoop.h"

/* What is known about a connection: addresses and its owning process. */
struct conn_meta {
	uint64_t cookie;
	uint64_t cgroup_id;
	uint8_t family; /* AF_INET, AF_INET6, 0 if not seen yet */
	uint8_t owner_source; /* enum ws_owner_source */
	uint16_t local_port;
	uint16_t remote_port;
	uint8_t local_addr[16];
	uint8_t remote_addr[16];
	uint32_t tgid;
	uint32_t tid;
	char comm[WS_COMM_LEN]; /* may be empty: then taken from /proc */
};

enum exchange_end {
	EXCHANGE_ANSWERED = 0, /* an answer head followed */
	EXCHANGE_CLOSED,       /* the connection ended before an answer */
	EXCHANGE_NO_RESPONSE,  /* no answer within the timeout, or at exit */
};

struct exchange {
	const struct conn_meta *conn;
	const uint8_t *request; /* the request head as sampled (or the first bytes if not HTTP) */
	size_t request_len;
	bool request_truncated; /* the sample budget ended before the head did */
	bool request_gap;	/* segments of the head were never seen */
	bool first_on_conn;	/* these are the connection's first bytes */
	bool not_attempt;	/* tracker_opts.not_attempt said so of the request:
				   request is NULL, and the answer was not parsed */
	const uint8_t *answer;	/* NULL unless end == EXCHANGE_ANSWERED */
	size_t answer_len;
	bool answer_truncated;
	enum exchange_end end;
	unsigned request_index; /* 1 for the first request head on the connection */
	uint64_t request_ns;	/* monotonic time of the request's first segment */
	uint64_t answer_ns;	/* of the answer's first segment, or the close, or 0 */
};

typedef void (*exchange_fn)(void *ctx, const struct exchange *x);
/* Is this request head (first: the connection's first bytes) surely no
 * WebSocket attempt, so that no copy of it need wait for its answer? */
typedef bool (*not_attempt_fn)(void *ctx, const uint8_t *head, size_t len, bool first);

/* The end of a connection that upgraded (a 101 answer), or its state at exit. */
struct lifetime_report {
	const struct conn_meta *conn;
	const uint8_t *request; /* the request head that was upgraded */
	size_t request_len;
	unsigned request_index;
	const struct ws_lifetime *life; /* the kernel's facts, NULL if none arrived */
	uint64_t upgraded_ns;		/* when the 101 was seen */
	uint64_t closed_ns;		/* when the socket closed; 0 while open */
	bool still_open;		/* reported at exit, not closed */
};

typedef void (*lifetime_fn)(void *ctx, const struct lifetime_report *l);

/* Asked for the owner of a connection the kernel side did not attribute:
 * may fill in tgid/tid/owner_source of *meta (e.g. from /proc). now_ns is
 * the time of what asks (a request's completion, an exchange's request). */
typedef void (*owner_fn)(void *ctx, struct conn_meta *meta, uint64_t now_ns);

struct tracker_opts {
	uint32_t request_budget; /* as given to the kernel side */
	uint32_t answer_budget;
	uint64_t timeout_ns;	 /* an unanswered request is reported after this */
	uint64_t idle_ns;	 /* a quiet connection with nothing pending is forgotten after this */
	uint32_t max_conns;	 /* bound on the table; the least recently used is evicted */
	exchange_fn on_exchange;
	/* Asked as each request head completes; may be NULL. A request it
	 * clears is reported with not_attempt set, and the answer to it is
	 * taken as it comes, its head's end not looked for where nothing can
	 * follow it in the window (a status line sampled alone). */
	not_attempt_fn not_attempt;
	/* Called when a request head completes on a connection whose owner is
	 * still unknown, while the socket most likely still exists; now_ns is
	 * the tracker's time (the latest record's). May be NULL. */
	owner_fn on_unowned;
	lifetime_fn on_lifetime; /* may be NULL */
	void *ctx;
};

struct tracker_stats {
	uint64_t conns;		  /* connections in the table now */
	uint64_t conns_seen;	  /* connections ever entered */
	uint64_t conns_evicted;	  /* dropped to stay under max_conns (pending exchanges reported) */
	uint64_t requests;	  /* request heads completed */
	uint64_t answers;	  /* answer heads completed */
	uint64_t unplaced;	  /* sampled segments that fit no head being assembled */
	uint64_t truncated;	  /* heads cut by the sample budget */
	uint64_t unmatched;	  /* answers with no request waiting */
	uint64_t late_answers;	  /* answers to requests already reported as no-response */
	uint64_t pending_dropped; /* requests dropped because a connection had too many waiting */
	uint64_t upgraded;	  /* connections that upgraded */
	uint64_t lifetimes;	  /* upgraded connections whose end was reported */
	uint64_t open_at_exit;	  /* upgraded connections still open at exit */
	uint64_t pre_accept;	  /* connections whose first data reached the listening socket
				     (the server's accept queue was full) */
	uint64_t closed_late;	  /* connections whose records came after their socket's close
				     (staged late): ended as closed at the next tick */
};

struct tracker;

struct tracker *tracker_new(const struct tracker_opts *opts);
/* Feed one ring-buffer record; size is what the ring buffer said. */
void tracker_event(struct tracker *t, const struct ws_event *ev, size_t size);
/* Report requests unanswered for longer than the timeout, forget idle connections. */
void tracker_tick(struct tracker *t, uint64_t now_ns);
/* Report everything still pending as no-response, and upgraded connections
 * as still open (at exit). */
void tracker_flush(struct tracker *t);
void tracker_stats(const struct tracker *t, struct tracker_stats *out);
void tracker_free(struct tracker *t);

#endif /* WSSNOOP_TRACKER_H */
