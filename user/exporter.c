// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * exporter.c - /metrics and /healthz over libmicrohttpd.
 *
 * libmicrohttpd is opened when the first exporter starts, not linked: it
 * brings GnuTLS and p11-kit along, about 2 MiB of resident memory that a
 * tracing session without metrics has no use for.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "exporter.h"

/* The part of libmicrohttpd's API the exporter uses, resolved at run time. */
static struct {
	struct MHD_Daemon *(*start_daemon)(unsigned int, uint16_t, MHD_AcceptPolicyCallback, void *,
					   MHD_AccessHandlerCallback, void *, ...);
	void (*stop_daemon)(struct MHD_Daemon *);
	struct MHD_Response *(*create_response_from_buffer)(size_t, void *, enum MHD_ResponseMemoryMode);
	enum MHD_Result (*add_response_header)(struct MHD_Response *, const char *, const char *);
	enum MHD_Result (*queue_response)(struct MHD_Connection *, unsigned int, struct MHD_Response *);
	void (*destroy_response)(struct MHD_Response *);
} mhd;

#define MHD_LIBRARY "libmicrohttpd.so.12"

static int mhd_open(char *err, size_t errlen)
{
	static void *lib;
	void *sym[6];
	static const char *const names[6] = {
		"MHD_start_daemon",	 "MHD_stop_daemon",	"MHD_create_response_from_buffer",
		"MHD_add_response_header", "MHD_queue_response", "MHD_destroy_response",
	};

	if (lib)
		return 0;
	lib = dlopen(MHD_LIBRARY, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		snprintf(err, errlen, "metrics need %s (Debian: apt-get install libmicrohttpd12): %s", MHD_LIBRARY,
			 dlerror());
		return -1;
	}
	for (int i = 0; i < 6; i++) {
		sym[i] = dlsym(lib, names[i]);
		if (!sym[i]) {
			snprintf(err, errlen, "%s lacks %s: %s", MHD_LIBRARY, names[i], dlerror());
			dlclose(lib);
			lib = NULL;
			return -1;
		}
	}
	/* POSIX lets a data pointer from dlsym() become a function pointer. */
	memcpy(&mhd.start_daemon, &sym[0], sizeof(sym[0]));
	memcpy(&mhd.stop_daemon, &sym[1], sizeof(sym[1]));
	memcpy(&mhd.create_response_from_buffer, &sym[2], sizeof(sym[2]));
	memcpy(&mhd.add_response_header, &sym[3], sizeof(sym[3]));
	memcpy(&mhd.queue_response, &sym[4], sizeof(sym[4]));
	memcpy(&mhd.destroy_response, &sym[5], sizeof(sym[5]));
	return 0;
}

struct exporter {
	struct MHD_Daemon *mhd;
	exporter_render_fn render;
	exporter_health_fn health;
	void *ctx;
};

int exporter_parse_address(const char *listen, struct sockaddr_storage *out, unsigned *len)
{
	char host[128];
	const char *colon;
	char *end;
	long port;

	memset(out, 0, sizeof(*out));
	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');

		if (!close || close[1] != ':' || (size_t)(close - listen - 1) >= sizeof(host))
			return -1;
		memcpy(host, listen + 1, (size_t)(close - listen - 1));
		host[close - listen - 1] = 0;
		colon = close + 1;
	} else {
		colon = strrchr(listen, ':');
		if (!colon || (size_t)(colon - listen) >= sizeof(host))
			return -1;
		memcpy(host, listen, (size_t)(colon - listen));
		host[colon - listen] = 0;
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || port < 1 || port > 65535)
		return -1;
	if (!host[0])
		strcpy(host, "127.0.0.1");
	{
		struct sockaddr_in *in4 = (struct sockaddr_in *)out;
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;

		if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
			in4->sin_family = AF_INET;
			in4->sin_port = htons((uint16_t)port);
			*len = sizeof(*in4);
			return 0;
		}
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
			in6->sin6_family = AF_INET6;
			in6->sin6_port = htons((uint16_t)port);
			*len = sizeof(*in6);
			return 0;
		}
	}
	return -1;
}

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *type, char *body,
			      size_t len, bool owned)
{
	struct MHD_Response *resp =
		mhd.create_response_from_buffer(len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	mhd.add_response_header(resp, "Content-Type", type);
	ret = mhd.queue_response(conn, status, resp);
	mhd.destroy_response(resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_size, void **state)
{
	static char not_found[] = "not found: try /metrics or /healthz\n";
	static char ok[] = "ok\n", stale[] = "ring buffer not read recently\n";
	static char bad_method[] = "only GET\n";
	struct exporter *e = cls;
	char *body = NULL;
	size_t len;

	(void)version;
	(void)upload_data;
	(void)upload_size;
	(void)state;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", bad_method, strlen(bad_method), false);
	if (strcmp(url, "/metrics") == 0) {
		len = e->render(e->ctx, &body);
		if (!len)
			return answer(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", stale, 0, false);
		return answer(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, len, true);
	}
	if (strcmp(url, "/healthz") == 0) {
		if (e->health(e->ctx))
			return answer(conn, MHD_HTTP_OK, "text/plain", ok, strlen(ok), false);
		return answer(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", stale, strlen(stale), false);
	}
	return answer(conn, MHD_HTTP_NOT_FOUND, "text/plain", not_found, strlen(not_found), false);
}

struct exporter *exporter_start(const char *listen, exporter_render_fn render, exporter_health_fn health, void *ctx,
				char *err, size_t errlen)
{
	struct sockaddr_storage addr;
	unsigned addrlen = 0;
	struct exporter *e;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD; /* its errors come back as ours: one line */

	if (exporter_parse_address(listen, &addr, &addrlen)) {
		snprintf(err, errlen, "invalid metrics address '%s': use HOST:PORT, e.g. 127.0.0.1:9464", listen);
		return NULL;
	}
	if (mhd_open(err, errlen))
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	e->render = render;
	e->health = health;
	e->ctx = ctx;
	if (addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	e->mhd = mhd.start_daemon(flags, ntohs(((struct sockaddr_in *)&addr)->sin_port), NULL, NULL, on_request, e,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_LIMIT, 16U,
				  MHD_OPTION_CONNECTION_TIMEOUT, 10U, MHD_OPTION_END);
	if (!e->mhd) {
		snprintf(err, errlen, "cannot serve metrics on %s: %s", listen, strerror(errno ? errno : EADDRINUSE));
		free(e);
		return NULL;
	}
	return e;
}

void exporter_stop(struct exporter *e)
{
	if (!e)
		return;
	mhd.stop_daemon(e->mhd);
	free(e);
}
