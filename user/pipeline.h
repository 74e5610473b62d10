/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * pipeline.h - ring-buffer records in, reports out: the tracker and the
 * reporter wired together the way wssnoop's poll loop runs them.
 *
 * Promise: pipeline_record() is all the work done per record and
 * pipeline_wake() all the work done per wakeup of the poll loop (timeouts,
 * one flush of the output), so that the loop and the event_path benchmark
 * run the same code. No libbpf; the /proc lookups are proc.h's.
 */
#ifndef WSSNOOP_PIPELINE_H
#define WSSNOOP_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "report.h"
#include "tracker.h"

enum owner_lookup {
	OWNER_LOOKUP_NONE,	 /* the kernel side attributes every request */
	OWNER_LOOKUP_REQUEST,	 /* it cannot: for each request, while its socket exists */
	OWNER_LOOKUP_UNANSWERED, /* it attributes by answers: for exchanges reported without one */
};

struct pipeline_opts {
	uint32_t request_budget; /* as given to the kernel side */
	uint32_t answer_budget;
	uint64_t timeout_ns;	 /* an unanswered request is reported after this */
	enum owner_lookup owner_lookup; /* when owners are looked up in /proc */
	bool lifetime;		 /* report how upgraded connections end */
	/* The reporter's options; out is flushed once per wakeup (batch_flush). */
	struct report_opts report;
};

struct pipeline {
	struct tracker *tracker;
	struct reporter reporter;
	uint64_t records; /* ring-buffer records handed in */
	/* /proc lookups of owners in the current second of the tracker's time
	 * (they are bounded). */
	uint64_t lookup_second;
	unsigned lookups;
};

/* 0, or -1 when out of memory. */
int pipeline_init(struct pipeline *p, const struct pipeline_opts *opts);
/* One ring-buffer record; the signature of a libbpf ring_buffer_sample_fn
 * with p as its context. Returns 0. */
int pipeline_record(void *p, const struct ws_event *ev, size_t size);
/* After each batch of records: timeouts due by now_ns (CLOCK_MONOTONIC), and
 * what was printed goes out. */
void pipeline_wake(struct pipeline *p, uint64_t now_ns);
/* At exit: everything still waiting is reported, and the output flushed. */
void pipeline_finish(struct pipeline *p);
void pipeline_free(struct pipeline *p);

#endif /* WSSNOOP_PIPELINE_H */
