// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pipeline.c - the tracker's callbacks into the reporter, and the bounds of
 * the connection table.
 */
#include <stdio.h>
#include <string.h>
#include "pipeline.h"
#include "proc.h"

/* Bound on the connection table (the least recently active is evicted). */
#define MAX_CONNS 65536
/* A quiet connection with nothing waiting is forgotten after this. */
#define IDLE_NS (600ULL * 1000000000ULL)
/* A /proc lookup reads every socket and every process's descriptors: a
 * millisecond or more on a busy host. A flood of requests nobody answers
 * must not turn into a flood of them; past this many a second the owner
 * stays unknown (owner_unknown in the summary). */
#define LOOKUPS_PER_SECOND 20

static void on_exchange(void *ctx, const struct exchange *x)
{
	struct pipeline *p = ctx;

	report_exchange(&p->reporter, x);
}

static bool not_attempt(void *ctx, const uint8_t *head, size_t len, bool first)
{
	struct pipeline *p = ctx;

	return report_not_attempt(&p->reporter, head, len, first);
}

static void on_lifetime(void *ctx, const struct lifetime_report *l)
{
	struct pipeline *p = ctx;

	report_lifetime(&p->reporter, l);
}

/* Only where the kernel side cannot attribute (asked by the tracker when a
 * request head completes, while the socket most likely still exists), or
 * could not for this attempt (asked by the reporter: no answer, or one sent
 * outside the server's context). */
static void find_owner(void *ctx, struct conn_meta *meta, uint64_t now_ns)
{
	struct pipeline *p = ctx;

	if (now_ns / 1000000000ULL != p->lookup_second) {
		p->lookup_second = now_ns / 1000000000ULL;
		p->lookups = 0;
	}
	if (p->lookups++ >= LOOKUPS_PER_SECOND)
		return;
	meta->tgid = proc_socket_owner(meta->family, meta->local_addr, meta->local_port, meta->remote_addr,
				       meta->remote_port);
	meta->tid = meta->tgid;
	if (meta->tgid)
		meta->owner_source = WS_OWNER_PROC;
}

int pipeline_init(struct pipeline *p, const struct pipeline_opts *opts)
{
	struct tracker_opts topts = {
		.request_budget = opts->request_budget,
		.answer_budget = opts->answer_budget,
		.timeout_ns = opts->timeout_ns,
		.idle_ns = IDLE_NS,
		.max_conns = MAX_CONNS,
		.on_exchange = on_exchange,
		.not_attempt = not_attempt,
		.on_unowned = opts->owner_lookup == OWNER_LOOKUP_REQUEST ? find_owner : NULL,
		.on_lifetime = opts->lifetime ? on_lifetime : NULL,
		.ctx = p,
	};
	struct report_opts ropts = opts->report;

	memset(p, 0, sizeof(*p));
	ropts.batch_flush = true;
	if (opts->owner_lookup == OWNER_LOOKUP_UNANSWERED) {
		ropts.find_owner = find_owner;
		ropts.find_owner_ctx = p;
	}
	report_init(&p->reporter, &ropts);
	p->tracker = tracker_new(&topts);
	return p->tracker ? 0 : -1;
}

int pipeline_record(void *ctx, const struct ws_event *ev, size_t size)
{
	struct pipeline *p = ctx;

	p->records++;
	tracker_event(p->tracker, ev, size);
	return 0;
}

void pipeline_wake(struct pipeline *p, uint64_t now_ns)
{
	tracker_tick(p->tracker, now_ns);
	/* One write for the whole batch, not one per line: lines still come
	 * out within a wakeup of the records that made them. */
	if (p->reporter.opts.out)
		fflush(p->reporter.opts.out);
}

void pipeline_finish(struct pipeline *p)
{
	tracker_flush(p->tracker);
	if (p->reporter.opts.out)
		fflush(p->reporter.opts.out);
}

void pipeline_free(struct pipeline *p)
{
	tracker_free(p->tracker);
	p->tracker = NULL;
}
