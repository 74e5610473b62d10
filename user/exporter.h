/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * exporter.h - the daemon's HTTP endpoint, served by libmicrohttpd.
 *
 * Promise: answers GET /metrics with what the render callback produces
 * (Prometheus text format) and GET /healthz with 200 while the health
 * callback says the ring buffer is being read, 503 otherwise; anything else
 * is 404. Runs in libmicrohttpd's own thread: the callbacks must be
 * thread-safe. Binds only the address given (loopback by default).
 */
#ifndef WSSNOOP_EXPORTER_H
#define WSSNOOP_EXPORTER_H

#include <stdbool.h>
#include <stddef.h>

typedef size_t (*exporter_render_fn)(void *ctx, char **out); /* malloc'd text, its length; 0 on failure */
typedef bool (*exporter_health_fn)(void *ctx);

struct exporter;

/* listen: "HOST:PORT" or "[V6]:PORT". Returns NULL with a reason in err. */
struct exporter *exporter_start(const char *listen, exporter_render_fn render, exporter_health_fn health, void *ctx,
				char *err, size_t errlen);
void exporter_stop(struct exporter *e);

/* Split "HOST:PORT" / "[V6]:PORT" into a socket address; 0 or -1. */
struct sockaddr_storage;
int exporter_parse_address(const char *listen, struct sockaddr_storage *out, unsigned *len);

#endif /* WSSNOOP_EXPORTER_H */
