/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * bench_load.h - the bytes of make bench's keep-alive load, for the
 * micro-benchmarks that replay it: wrk's request and the head of nginx's
 * answer with its 512-byte page.
 */
#ifndef WSSNOOP_BENCH_LOAD_H
#define WSSNOOP_BENCH_LOAD_H

#define WRK_REQUEST "GET / HTTP/1.1\r\nHost: 127.0.0.1:18480\r\n\r\n"
#define NGINX_HEAD                                                                                 \
	"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 20 Nov 2023 10:00:00 GMT\r\n"         \
	"Content-Type: text/html\r\nContent-Length: 512\r\n"                                       \
	"Last-Modified: Mon, 20 Nov 2023 09:00:00 GMT\r\nConnection: keep-alive\r\n"               \
	"ETag: \"655b2010-200\"\r\nAccept-Ranges: bytes\r\n\r\n"
#define NGINX_PAGE_BYTES 512

#endif
