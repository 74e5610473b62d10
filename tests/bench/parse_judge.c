// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * parse_judge - user-space cost of judging one handshake, in ns per head.
 *
 * Times what the pipeline does for every request head wssnoop sees (the
 * reporter's no-attempt test as the head completes; for a head it does not
 * clear, classify, parse, is-it-an-attempt, judge) and for every answer to an
 * attempt (parse, judge, which checks Sec-WebSocket-Accept with SHA-1), over
 * real heads of about 700 bytes: browsers direct, through nginx's default
 * proxying, through an HTTP/2-terminating hop and an ALB, and a plain page
 * request (the most common head on a busy port, which the test clears: it
 * is never parsed, and its answer's row is what judging it would cost).
 *
 *   parse_judge [ITERATIONS [request|answer]]   prints a table, then one JSON line
 *
 * With a kind, only that half is timed (the other reads 0): make bench runs it
 * under callgrind at two iteration counts, and the difference is the
 * instructions per head, a figure no other load on the machine can move.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench_clock.h"
#include "http_head.h"
#include "path_glob.h"
#include "report.h"
#include "rules.h"

#define REPEATS 7

struct sample_head {
	const char *name;
	const char *request;
	const char *answer;
};

/* The Sec-WebSocket-Key of RFC 6455's example and its accept. */
#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define COOKIE                                                                                     \
	"Cookie: JSESSIONID=4F2A9C1B7E3D5A6F8B0C2D4E6F8A0B1C; _ga=GA1.2.1234567890.1700000000; "    \
	"_gid=GA1.2.987654321.1700000000; XSRF-TOKEN=8c1f2e3d-4b5a-6978-8a9b-0c1d2e3f4a5b\r\n"

static const struct sample_head heads[] = {
	{ "chrome-direct",
	  "GET /websocket/chat?room=42 HTTP/1.1\r\nHost: app.example.com\r\nConnection: Upgrade\r\n"
	  "Pragma: no-cache\r\nCache-Control: no-cache\r\n"
	  "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
	  "Chrome/120.0.0.0 Safari/537.36\r\nUpgrade: websocket\r\nOrigin: https://app.example.com\r\n"
	  "Sec-WebSocket-Version: 13\r\nAccept-Encoding: gzip, deflate, br\r\n"
	  "Accept-Language: en-US,en;q=0.9\r\n" COOKIE "Sec-WebSocket-Key: " KEY "\r\n"
	  "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
	  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	  "Sec-WebSocket-Accept: " ACCEPT "\r\n"
	  "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n" },
	{ "firefox-direct",
	  "GET /ws HTTP/1.1\r\nHost: app.example.com\r\n"
	  "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0\r\n"
	  "Accept: */*\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n"
	  "Sec-WebSocket-Version: 13\r\nOrigin: https://app.example.com\r\n"
	  "Sec-WebSocket-Extensions: permessage-deflate\r\nSec-WebSocket-Key: " KEY "\r\n"
	  "DNT: 1\r\nConnection: keep-alive, Upgrade\r\n" COOKIE "Sec-Fetch-Dest: empty\r\n"
	  "Sec-Fetch-Mode: websocket\r\nSec-Fetch-Site: same-origin\r\nPragma: no-cache\r\n"
	  "Cache-Control: no-cache\r\nUpgrade: websocket\r\n\r\n",
	  "HTTP/1.1 101 \r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
	  "Sec-WebSocket-Accept: " ACCEPT "\r\nDate: Mon, 20 Nov 2023 10:00:00 GMT\r\n\r\n" },
	{ "nginx-default-proxy",
	  "GET /websocket/chat?room=42 HTTP/1.0\r\nHost: backend\r\nX-Real-IP: 203.0.113.7\r\n"
	  "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n"
	  "Pragma: no-cache\r\nCache-Control: no-cache\r\n"
	  "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
	  "Chrome/120.0.0.0 Safari/537.36\r\nOrigin: https://app.example.com\r\n"
	  "Sec-WebSocket-Version: 13\r\nAccept-Encoding: gzip, deflate, br\r\n"
	  "Accept-Language: en-US,en;q=0.9\r\n" COOKIE "Sec-WebSocket-Key: " KEY "\r\n"
	  "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
	  "HTTP/1.1 400 \r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 45\r\n"
	  "Date: Mon, 20 Nov 2023 10:00:00 GMT\r\nConnection: close\r\n\r\n" },
	{ "http2-through-alb",
	  "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nhost: app.example.com\r\n"
	  "x-forwarded-for: 203.0.113.7, 10.0.0.12\r\nx-forwarded-proto: https\r\n"
	  "x-forwarded-port: 443\r\nx-amzn-trace-id: Root=1-65f1a2b3-0123456789abcdef01234567\r\n"
	  "user-agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
	  "(KHTML, like Gecko) Version/17.1 Safari/605.1.15\r\norigin: https://app.example.com\r\n"
	  "sec-websocket-version: 13\r\nsec-websocket-key: " KEY "\r\n"
	  "sec-websocket-extensions: permessage-deflate\r\naccept-encoding: gzip, deflate, br\r\n"
	  "accept-language: en-GB,en;q=0.9\r\n"
	  "cookie: JSESSIONID=4F2A9C1B7E3D5A6F8B0C2D4E6F8A0B1C; _ga=GA1.2.1234567890.1700000000\r\n\r\n",
	  "HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
	  "Content-Length: 0\r\nDate: Mon, 20 Nov 2023 10:00:00 GMT\r\n\r\n" },
	{ "plain-page",
	  "GET /static/js/app.4f2a9c1b.js HTTP/1.1\r\nHost: app.example.com\r\n"
	  "Connection: keep-alive\r\nsec-ch-ua: \"Chromium\";v=\"120\", \"Not?A_Brand\";v=\"8\"\r\n"
	  "sec-ch-ua-mobile: ?0\r\n"
	  "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
	  "Chrome/120.0.0.0 Safari/537.36\r\nsec-ch-ua-platform: \"Linux\"\r\nAccept: */*\r\n"
	  "Sec-Fetch-Site: same-origin\r\nSec-Fetch-Mode: no-cors\r\nSec-Fetch-Dest: script\r\n"
	  "Referer: https://app.example.com/\r\nAccept-Encoding: gzip, deflate, br\r\n"
	  "Accept-Language: en-US,en;q=0.9\r\n" COOKIE "If-None-Match: \"65f1a2b3-1f4\"\r\n\r\n",
	  "HTTP/1.1 304 Not Modified\r\nServer: nginx/1.22.1\r\nDate: Mon, 20 Nov 2023 10:00:00 GMT\r\n"
	  "Connection: keep-alive\r\nETag: \"65f1a2b3-1f4\"\r\n\r\n" },
};

#define N_HEADS (sizeof(heads) / sizeof(heads[0]))

static volatile unsigned sink;

/* The reporter whose test the tracker asks of each request head. */
static struct reporter reporter;

/* What the pipeline does with a request head, the first on its connection:
 * the reporter's test as the head completes, then what report_exchange()
 * does with one that may be an attempt. Returns whether it was judged. */
static bool judge_one_request(const uint8_t *buf, size_t len, const struct path_set *paths,
			      struct http_head *req, struct judgement *j)
{
	enum stream_kind kind;

	if (report_not_attempt(&reporter, buf, len, true))
		return false;
	kind = http_classify_start(buf, len);

	if (kind == STREAM_HTTP_REQUEST)
		http_parse_request(buf, len, req);
	if (!ws_is_attempt(kind, kind == STREAM_HTTP_REQUEST ? req : NULL, paths))
		return false;
	judge_request(j, kind, kind == STREAM_HTTP_REQUEST ? req : NULL, false);
	return true;
}

/* Median over REPEATS runs of iterations calls, in ns per call. */
static double time_request(const struct sample_head *h, const struct path_set *paths, long iterations)
{
	static struct http_head req;
	struct judgement j;
	double runs[REPEATS];
	size_t len = strlen(h->request);

	for (int r = 0; r < REPEATS; r++) {
		double start = bench_now_ns();

		for (long i = 0; i < iterations; i++)
			sink += judge_one_request((const uint8_t *)h->request, len, paths, &req, &j) + j.rules;
		runs[r] = (bench_now_ns() - start) / (double)iterations;
	}
	return bench_median(runs, REPEATS);
}

static double time_answer(const struct sample_head *h, const struct path_set *paths, long iterations)
{
	static struct http_head req, resp;
	struct judgement j, base;
	double runs[REPEATS];
	size_t len = strlen(h->answer);

	judge_one_request((const uint8_t *)h->request, strlen(h->request), paths, &req, &base);
	for (int r = 0; r < REPEATS; r++) {
		double start = bench_now_ns();

		for (long i = 0; i < iterations; i++) {
			j = base;
			http_parse_response((const uint8_t *)h->answer, len, &resp);
			judge_answer(&j, &req, &resp);
			sink += j.verdict;
		}
		runs[r] = (bench_now_ns() - start) / (double)iterations;
	}
	return bench_median(runs, REPEATS);
}

int main(int argc, char **argv)
{
	static struct path_set paths;
	long iterations = argc > 1 ? atol(argv[1]) : 200000;
	const char *only = argc > 2 ? argv[2] : NULL;
	bool requests = !only || strcmp(only, "request") == 0, answers = !only || strcmp(only, "answer") == 0;
	double request_ns[N_HEADS], answer_ns[N_HEADS], request_sum = 0, answer_sum = 0, bytes = 0;

	if (iterations <= 0 || argc > 3 || (!requests && !answers)) {
		fprintf(stderr, "usage: parse_judge [ITERATIONS [request|answer]]\n");
		return 2;
	}
	path_set_init(&paths);
	path_set_load_defaults(&paths);
	report_init(&reporter, &(struct report_opts){ .out = stdout, .paths = &paths });
	printf("%-20s %6s %12s %6s %12s\n", "head", "bytes", "request ns", "bytes", "answer ns");
	for (size_t i = 0; i < N_HEADS; i++) {
		request_ns[i] = requests ? time_request(&heads[i], &paths, iterations) : 0;
		answer_ns[i] = answers ? time_answer(&heads[i], &paths, iterations) : 0;
		request_sum += request_ns[i];
		answer_sum += answer_ns[i];
		bytes += (double)strlen(heads[i].request);
		printf("%-20s %6zu %12.0f %6zu %12.0f\n", heads[i].name, strlen(heads[i].request),
		       request_ns[i], strlen(heads[i].answer), answer_ns[i]);
	}
	printf("{\"type\":\"parse_judge\",\"heads\":%zu,\"mean_request_bytes\":%.0f,"
	       "\"request_ns\":%.1f,\"answer_ns\":%.1f,\"iterations\":%ld,\"repeats\":%d",
	       N_HEADS, bytes / N_HEADS, request_sum / N_HEADS, answer_sum / N_HEADS, iterations, REPEATS);
	for (size_t i = 0; i < N_HEADS; i++)
		printf(",\"%s\":[%.1f,%.1f]", heads[i].name, request_ns[i], answer_ns[i]);
	printf("}\n");
	return 0;
}
