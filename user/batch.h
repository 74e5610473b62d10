/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * batch.h - the records inside a ring-buffer record of type WS_EV_BATCH (a
 * CPU's stage written out at once; see struct ws_batch in bpf/wssnoop.h).
 *
 * Promise: batch_walk() hands on each record that lies whole inside the ring
 * record, in order, and stops at the first that does not (a header that says
 * more than the record holds, a sample longer than a stage can hold), saying
 * so. It never reads outside [data, data + size). Pure code.
 */
#ifndef WSSNOOP_BATCH_H
#define WSSNOOP_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include "../bpf/wssnoop.h"

typedef void (*batch_record_fn)(void *ctx, const struct ws_event *ev, size_t size);

/* Is this ring record a batch? */
bool batch_is(const void *data, size_t size);
/* Hands on the records of the batch at data; returns how many. *complete is
 * false when the batch did not add up and records were left unread. */
size_t batch_walk(const void *data, size_t size, batch_record_fn fn, void *ctx, bool *complete);

#endif /* WSSNOOP_BATCH_H */
