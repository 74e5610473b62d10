// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests for user/http_head.c: classification, head end, parsing, helpers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_head.h"

#define LIT(s) (const uint8_t *)(s), (sizeof(s) - 1)

static const char chrome_request[] =
	"GET /chat HTTP/1.1\r\n"
	"Host: example.com:8000\r\n"
	"Connection: Upgrade\r\n"
	"Pragma: no-cache\r\n"
	"Cache-Control: no-cache\r\n"
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
	"Chrome/120.0.0.0 Safari/537.36\r\n"
	"Upgrade: websocket\r\n"
	"Origin: http://example.com:8000\r\n"
	"Sec-WebSocket-Version: 13\r\n"
	"Accept-Encoding: gzip, deflate, br\r\n"
	"Accept-Language: en-US,en;q=0.9\r\n"
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
	"\r\n";

static const char firefox_request[] =
	"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
	"Host: localhost:3000\r\n"
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0\r\n"
	"Accept: */*\r\n"
	"Sec-WebSocket-Version: 13\r\n"
	"Origin: http://localhost:3000\r\n"
	"Sec-WebSocket-Extensions: permessage-deflate\r\n"
	"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n"
	"Connection: keep-alive, Upgrade\r\n"
	"Sec-Fetch-Dest: empty\r\n"
	"Sec-Fetch-Mode: websocket\r\n"
	"Sec-Fetch-Site: same-origin\r\n"
	"Pragma: no-cache\r\n"
	"Cache-Control: no-cache\r\n"
	"Upgrade: websocket\r\n"
	"\r\n";

/* The first bytes of a real TLS 1.2/1.3 ClientHello record. */
static const uint8_t client_hello[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc,
					0x03, 0x03, 0x5a, 0x1b, 0x2c, 0x00, 0x20 };

static void assert_slice(struct byte_slice s, const char *want)
{
	assert_int_equal(s.len, strlen(want));
	if (s.len)
		assert_memory_equal(s.ptr, want, s.len);
}

static void parse_req(const char *raw, struct http_head *h)
{
	http_parse_request((const uint8_t *)raw, strlen(raw), h);
}

/* ---- classification ---------------------------------------------------- */

static void test_classify_http(void **state)
{
	assert_int_equal(http_classify_start(LIT("GET / HTTP/1.1\r\n")), STREAM_HTTP_REQUEST);
	assert_int_equal(http_classify_start(LIT("OPTIONS * HTTP/1.1")), STREAM_HTTP_REQUEST);
	assert_int_equal(http_classify_start(LIT("HEAD /")), STREAM_HTTP_REQUEST);
	assert_int_equal(http_classify_start(LIT("M-SEARCH * HTTP/1.1")), STREAM_HTTP_REQUEST);
	assert_int_equal(http_classify_start(LIT("HTTP/1.1 101 Switching Protocols\r\n")),
			 STREAM_HTTP_RESPONSE);
	assert_int_equal(http_classify_start(LIT("HTTP/")), STREAM_HTTP_RESPONSE);
	/* "PRI" with another version is just a request with method PRI */
	assert_int_equal(http_classify_start(LIT("PRI * HTTP/1.1\r\n")), STREAM_HTTP_REQUEST);
}

/* A client's empty line before the request line (RFC 9112 2.2) does not
 * hide the request; before anything else it is not HTTP. */
static void test_classify_leading_empty_line(void **state)
{
	assert_int_equal(http_classify_start(LIT("\r\nGET /ws HTTP/1.1\r\n")), STREAM_HTTP_REQUEST);
	assert_int_equal(http_classify_start(LIT("\nGET /ws HTTP/1.1\r\n")), STREAM_HTTP_REQUEST);
	assert_int_equal(http_classify_start(LIT("\r\n\r\nPOST / HTTP/1.1")), STREAM_HTTP_REQUEST);
	assert_int_equal(http_classify_start(LIT("\r")), STREAM_NEED_MORE);
	assert_int_equal(http_classify_start(LIT("\r\n")), STREAM_NEED_MORE);
	assert_int_equal(http_classify_start(LIT("\r\n\r")), STREAM_NEED_MORE);
	assert_int_equal(http_classify_start(LIT("\r\nGE")), STREAM_NEED_MORE);
	assert_int_equal(http_classify_start(LIT("\rX")), STREAM_NOT_HTTP);
	assert_int_equal(http_classify_start(LIT("\r\nHTTP/1.1 200 OK\r\n")), STREAM_NOT_HTTP);
	assert_int_equal(http_classify_start(LIT("\r\n\x16\x03\x01")), STREAM_NOT_HTTP);
	assert_int_equal(http_classify_start(LIT("\r\nget / HTTP/1.1")), STREAM_NOT_HTTP);
	/* Four empty lines at most. */
	assert_int_equal(http_classify_start(LIT("\r\n\r\n\r\n\r\nGET / HTTP/1.1")), STREAM_HTTP_REQUEST);
	assert_int_equal(http_classify_start(LIT("\r\n\r\n\r\n\r\n\r")), STREAM_NEED_MORE);
	assert_int_equal(http_classify_start(LIT("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1")), STREAM_NOT_HTTP);
	assert_int_equal(http_classify_start(LIT("\n\n\n\n\n\n\n\n\nGET / HTTP/1.1")), STREAM_NOT_HTTP);
}

static void test_classify_need_more(void **state)
{
	assert_int_equal(http_classify_start(NULL, 0), STREAM_NEED_MORE);
	assert_int_equal(http_classify_start(LIT("G")), STREAM_NEED_MORE);
	assert_int_equal(http_classify_start(LIT("GET")), STREAM_NEED_MORE);
	assert_int_equal(http_classify_start(LIT("H")), STREAM_NEED_MORE);
	assert_int_equal(http_classify_start(LIT("HTTP")), STREAM_NEED_MORE);
	assert_int_equal(http_classify_start(LIT("\x16")), STREAM_NEED_MORE);
	assert_int_equal(http_classify_start(LIT("\x16\x03")), STREAM_NEED_MORE);
	assert_int_equal(http_classify_start(LIT("PRI * HTTP/")), STREAM_NEED_MORE);
}

static void test_classify_tls(void **state)
{
	uint8_t rec[3] = { 0x16, 0x03, 0x00 };

	assert_int_equal(http_classify_start(client_hello, sizeof(client_hello)), STREAM_TLS);
	for (uint8_t minor = 0; minor <= 4; minor++) {
		rec[2] = minor;
		assert_int_equal(http_classify_start(rec, sizeof(rec)), STREAM_TLS);
	}
	rec[2] = 0x05;
	assert_int_equal(http_classify_start(rec, sizeof(rec)), STREAM_NOT_HTTP);
	rec[1] = 0x02;
	assert_int_equal(http_classify_start(rec, 2), STREAM_NOT_HTTP);
}

static void test_classify_h2_preface(void **state)
{
	assert_int_equal(http_classify_start(LIT("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")),
			 STREAM_HTTP2_PREFACE);
	/* a SETTINGS frame follows the preface in the same segment */
	assert_int_equal(http_classify_start(LIT("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\x12\x04")),
			 STREAM_HTTP2_PREFACE);
	assert_int_equal(http_classify_start(LIT("PRI * HTTP/2")), STREAM_HTTP2_PREFACE);
	assert_int_equal(http_classify_start(LIT("PRI * HTTP/2.0\r\n")), STREAM_HTTP2_PREFACE);
}

static void test_classify_not_http(void **state)
{
	static const uint8_t binary[] = { 0x00, 0xff, 0x13, 0x37, 0x80, 0x7f };

	assert_int_equal(http_classify_start(binary, sizeof(binary)), STREAM_NOT_HTTP);
	assert_int_equal(http_classify_start(LIT("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")),
			 STREAM_NOT_HTTP);
	assert_int_equal(http_classify_start(LIT("get / HTTP/1.1\r\n")), STREAM_NOT_HTTP);
	assert_int_equal(http_classify_start(LIT(" GET /")), STREAM_NOT_HTTP);
	assert_int_equal(http_classify_start(LIT("GET\0/ HTTP/1.1")), STREAM_NOT_HTTP);
	/* an upper-case run longer than any method */
	assert_int_equal(http_classify_start(LIT("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")),
			 STREAM_NOT_HTTP);
	assert_string_equal(stream_kind_name(STREAM_NOT_HTTP), "not-http");
	assert_string_equal(stream_kind_name(STREAM_TLS), "tls");
	assert_string_equal(stream_kind_name(STREAM_HTTP2_PREFACE), "http2-preface");
}

/* ---- end of head ------------------------------------------------------- */

static void test_head_end(void **state)
{
	size_t n = 0;

	assert_true(http_find_head_end(LIT("GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY"), &n));
	assert_int_equal(n, 27);
	assert_true(http_find_head_end(LIT("GET / HTTP/1.1\nHost: a\n\nBODY"), &n));
	assert_int_equal(n, 24);
	assert_true(http_find_head_end(LIT("GET / HTTP/1.1\r\nHost: a\n\r\n"), &n));
	assert_int_equal(n, 26);
	assert_true(http_find_head_end(LIT("GET / HTTP/1.1\nHost: a\r\n\n"), &n));
	assert_int_equal(n, 25);
	assert_false(http_find_head_end(LIT("GET / HTTP/1.1\r\nHost: a\r\n"), &n));
	assert_false(http_find_head_end(LIT("GET / HTTP/1.1\r\nHost: a\r\n\r"), &n));
	assert_false(http_find_head_end(LIT("GET / HTTP/1.1\rHost: a\r\r"), &n));
	assert_false(http_find_head_end(NULL, 0, &n));
}

/* ---- requests ---------------------------------------------------------- */

static void test_parse_chrome(void **state)
{
	struct http_head h;
	unsigned count = 0;

	assert_true(http_parse_request(LIT(chrome_request), &h));
	assert_true(h.complete);
	assert_int_equal(h.head_len, sizeof(chrome_request) - 1);
	assert_int_equal(h.anomalies, 0);
	assert_slice(h.method, "GET");
	assert_slice(h.target, "/chat");
	assert_slice(h.version, "HTTP/1.1");
	assert_true(h.has_version);
	assert_int_equal(h.version_major, 1);
	assert_int_equal(h.version_minor, 1);
	assert_int_equal(h.header_count, 12);
	assert_slice(h.headers[0].name, "Host");
	assert_slice(h.headers[0].value, "example.com:8000");
	assert_slice(h.headers[11].name, "Sec-WebSocket-Extensions");
	assert_non_null(http_header_find(&h, "sec-websocket-key", &count));
	assert_int_equal(count, 1);
	assert_slice(http_header_find(&h, "SEC-WEBSOCKET-KEY", NULL)->value,
		     "dGhlIHNhbXBsZSBub25jZQ==");
	assert_null(http_header_find(&h, "cookie", &count));
	assert_int_equal(count, 0);
	assert_int_equal(http_head_has_token(&h, "connection", "upgrade"),
			 HTTP_TOKEN_PRESENT | HTTP_TOKEN_EXACT_CASE);
	assert_false(http_head_names_lowercase(&h, NULL));
}

static void test_parse_firefox(void **state)
{
	struct http_head h;

	assert_true(http_parse_request(LIT(firefox_request), &h));
	assert_slice(h.target, "/socket.io/?EIO=4&transport=websocket");
	assert_int_equal(h.header_count, 14);
	assert_slice(http_header_find(&h, "connection", NULL)->value, "keep-alive, Upgrade");
	assert_int_equal(http_head_has_token(&h, "connection", "upgrade"),
			 HTTP_TOKEN_PRESENT | HTTP_TOKEN_EXACT_CASE);
	assert_int_equal(http_head_has_token(&h, "connection", "keep-alive"),
			 HTTP_TOKEN_PRESENT | HTTP_TOKEN_EXACT_CASE);
	assert_int_equal(http_head_has_token(&h, "upgrade", "websocket"),
			 HTTP_TOKEN_PRESENT | HTTP_TOKEN_EXACT_CASE);
}

static void test_token_list_variants(void **state)
{
	assert_int_equal(http_list_has_token(byte_slice_from_cstr("UPGRADE"), "upgrade"),
			 HTTP_TOKEN_PRESENT);
	assert_int_equal(http_list_has_token(byte_slice_from_cstr("Upgrade"), "upgrade"),
			 HTTP_TOKEN_PRESENT | HTTP_TOKEN_EXACT_CASE);
	assert_int_equal(http_list_has_token(byte_slice_from_cstr("upgrade"), "upgrade"),
			 HTTP_TOKEN_PRESENT | HTTP_TOKEN_EXACT_CASE);
	assert_int_equal(http_list_has_token(byte_slice_from_cstr("uPgrade"), "upgrade"),
			 HTTP_TOKEN_PRESENT);
	assert_int_equal(http_list_has_token(byte_slice_from_cstr("keep-alive,Upgrade"), "upgrade"),
			 HTTP_TOKEN_PRESENT | HTTP_TOKEN_EXACT_CASE);
	assert_int_equal(
		http_list_has_token(byte_slice_from_cstr(" \tkeep-alive ,\t UPGRADE \t"), "upgrade"),
		HTTP_TOKEN_PRESENT);
	assert_int_equal(http_list_has_token(byte_slice_from_cstr(",,upgrade,,"), "upgrade"),
			 HTTP_TOKEN_PRESENT | HTTP_TOKEN_EXACT_CASE);
	assert_int_equal(http_list_has_token(byte_slice_from_cstr("upgrades"), "upgrade"), 0);
	assert_int_equal(http_list_has_token(byte_slice_from_cstr("up grade"), "upgrade"), 0);
	assert_int_equal(http_list_has_token(byte_slice_from_cstr("keep-alive"), "upgrade"), 0);
	assert_int_equal(http_list_has_token(byte_slice_from_cstr(""), "upgrade"), 0);
	assert_int_equal(http_list_has_token(byte_slice_from_cstr("close"), "close"),
			 HTTP_TOKEN_PRESENT | HTTP_TOKEN_EXACT_CASE);
	/* Every length the word-at-a-time compare takes apart (under 4, 4 to 7,
	 * 8, over 8 with an overlapping last word), a case difference or another
	 * byte at the start, in the middle and at the very end. */
	static const char *const tokens[] = { "h2c", "close", "upgrade", "websocke", "websocket",
					      "permessage-deflate" };
	for (size_t t = 0; t < sizeof(tokens) / sizeof(tokens[0]); t++) {
		size_t n = strlen(tokens[t]);
		char v[32];

		for (size_t at = 0; at < n; at++) {
			memcpy(v, tokens[t], n + 1);
			v[at] = (char)(v[at] - ('a' - 'A'));
			if (v[at] < 'A' || v[at] > 'Z')
				continue; /* not a letter: '2', '-' */
			assert_int_equal(http_list_has_token(byte_slice_from_cstr(v), tokens[t]),
					 HTTP_TOKEN_PRESENT | (at == 0 ? HTTP_TOKEN_EXACT_CASE : 0));
			v[at] = '_';
			assert_int_equal(http_list_has_token(byte_slice_from_cstr(v), tokens[t]), 0);
		}
	}
}

static void test_duplicate_headers(void **state)
{
	struct http_head h;
	unsigned count = 0;

	parse_req("GET / HTTP/1.1\r\nConnection: keep-alive\r\nX: 1\r\nconnection: Upgrade\r\n"
		  "CONNECTION: close\r\n\r\n",
		  &h);
	assert_slice(http_header_find(&h, "Connection", &count)->value, "keep-alive");
	assert_int_equal(count, 3);
	/* duplicates are one list: the token in the second one counts */
	assert_int_equal(http_head_has_token(&h, "connection", "upgrade"),
			 HTTP_TOKEN_PRESENT | HTTP_TOKEN_EXACT_CASE);
	assert_true(http_head_has_token(&h, "connection", "close") & HTTP_TOKEN_PRESENT);
}

static void test_ows_trimming(void **state)
{
	struct http_head h;

	parse_req("GET  /a  HTTP/1.1 \r\nHost: \t x y \t \r\nEmpty:\r\nTabs:\t\t\r\n\r\n", &h);
	assert_true(h.start_line_ok);
	assert_slice(h.target, "/a");
	assert_true(h.has_version);
	assert_int_equal(h.header_count, 3);
	assert_slice(h.headers[0].value, "x y");
	assert_slice(h.headers[1].value, "");
	assert_slice(h.headers[2].value, "");
}

static void test_lf_only(void **state)
{
	struct http_head h;

	assert_true(http_parse_request(LIT("GET /ws HTTP/1.1\nHost: a\nUpgrade: websocket\n\n"), &h));
	assert_true(h.complete);
	assert_true(h.anomalies & HTTP_ANOM_LF_ONLY);
	assert_false(h.anomalies & HTTP_ANOM_BARE_CR);
	assert_int_equal(h.header_count, 2);
	assert_slice(h.headers[1].value, "websocket");

	/* mixed line ends */
	assert_true(http_parse_request(LIT("GET /ws HTTP/1.1\r\nHost: a\nX: b\r\n\n"), &h));
	assert_true(h.complete);
	assert_true(h.anomalies & HTTP_ANOM_LF_ONLY);
	assert_int_equal(h.header_count, 2);
	assert_slice(h.headers[1].value, "b");
}

static void test_cr_only(void **state)
{
	struct http_head h;

	http_parse_request(LIT("GET /ws HTTP/1.1\rHost: a\rUpgrade: websocket\r\r"), &h);
	assert_false(h.complete);
	assert_true(h.anomalies & HTTP_ANOM_BARE_CR);
	assert_true(h.anomalies & HTTP_ANOM_TRUNCATED);
	assert_false(h.start_line_ok);
	assert_null(h.start_line.ptr);
	assert_int_equal(h.header_count, 0);

	/* a bare CR inside a line of an otherwise proper head */
	http_parse_request(LIT("GET /ws HTTP/1.1\r\nX: a\rb\r\n\r\n"), &h);
	assert_true(h.complete);
	assert_true(h.anomalies & HTTP_ANOM_BARE_CR);
	assert_slice(h.headers[0].value, "a\rb");

	/* a CR ending the bytes given may yet be followed by LF: not bare */
	http_parse_request(LIT("GET /ws HTTP/1.1\r\nHost: a\r"), &h);
	assert_false(h.anomalies & HTTP_ANOM_BARE_CR);
}

static void test_obs_fold(void **state)
{
	struct http_head h;

	parse_req("GET / HTTP/1.1\r\nX-Long: one\r\n two\r\n\tthree\r\nUpgrade:\r\n websocket\r\n\r\n",
		  &h);
	assert_true(h.anomalies & HTTP_ANOM_OBS_FOLD);
	assert_int_equal(h.header_count, 2);
	assert_slice(h.headers[0].value, "one\r\n two\r\n\tthree");
	assert_slice(h.headers[1].value, "websocket");
	assert_int_equal(http_head_has_token(&h, "upgrade", "websocket"),
			 HTTP_TOKEN_PRESENT | HTTP_TOKEN_EXACT_CASE);

	/* a fold directly after the request line has nothing to extend */
	parse_req("GET / HTTP/1.1\r\n folded\r\nHost: a\r\n\r\n", &h);
	assert_true(h.anomalies & HTTP_ANOM_OBS_FOLD);
	assert_int_equal(h.header_count, 1);
	assert_slice(h.headers[0].name, "Host");
}

static void test_no_colon_and_odd_names(void **state)
{
	struct http_head h;

	parse_req("GET / HTTP/1.1\r\nNoColonHere\r\n: empty\r\nBad Name: v\r\nName : v2\r\n"
		  "Host: a\r\n\r\n",
		  &h);
	assert_true(h.anomalies & HTTP_ANOM_NO_COLON);
	assert_true(h.anomalies & HTTP_ANOM_EMPTY_NAME);
	assert_true(h.anomalies & HTTP_ANOM_SPACE_IN_NAME);
	assert_int_equal(h.header_count, 3);
	assert_slice(h.headers[0].name, "Bad Name");
	assert_slice(h.headers[1].name, "Name");
	assert_slice(h.headers[1].value, "v2");
	assert_slice(h.headers[2].name, "Host");
	/* a fold after a skipped line must not extend an earlier header */
	parse_req("GET / HTTP/1.1\r\nHost: a\r\nbroken\r\n cont\r\n\r\n", &h);
	assert_slice(h.headers[0].value, "a");
}

static void test_nul_bytes(void **state)
{
	static const char raw[] = "GET /ws HTTP/1.1\r\nHost: a\0b\r\nX\0Y: z\r\n\r\n";
	struct http_head h;

	http_parse_request((const uint8_t *)raw, sizeof(raw) - 1, &h);
	assert_true(h.complete);
	assert_true(h.anomalies & HTTP_ANOM_NUL);
	assert_int_equal(h.header_count, 2);
	assert_int_equal(h.headers[0].value.len, 3);
	assert_memory_equal(h.headers[0].value.ptr, "a\0b", 3);
	assert_int_equal(h.headers[1].name.len, 3);
	/* a NUL after the head is none of the head's business */
	http_parse_request(LIT("GET / HTTP/1.1\r\n\r\n\0"), &h);
	assert_false(h.anomalies & HTTP_ANOM_NUL);
}

static void test_truncated(void **state)
{
	struct http_head h;

	http_parse_request(LIT("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: webs"), &h);
	assert_false(h.complete);
	assert_true(h.anomalies & HTTP_ANOM_TRUNCATED);
	assert_true(h.start_line_ok);
	assert_int_equal(h.head_len, 40);
	/* the cut line is not taken for a header */
	assert_int_equal(h.header_count, 1);
	assert_null(http_header_find(&h, "upgrade", NULL));

	http_parse_request(LIT("GET /webso"), &h);
	assert_false(h.start_line_ok);
	assert_null(h.start_line.ptr);
	assert_true(h.anomalies & HTTP_ANOM_TRUNCATED);
}

static void test_request_line_variants(void **state)
{
	struct http_head h;

	parse_req("GET /ws HTTP/1.0\r\n\r\n", &h);
	assert_true(h.start_line_ok);
	assert_int_equal(h.version_minor, 0);

	parse_req("GET /ws\r\n\r\n", &h);
	assert_true(h.start_line_ok);
	assert_false(h.has_version);
	assert_true(h.anomalies & HTTP_ANOM_BAD_START_LINE);

	parse_req("GET /ws HTTP/1.1 extra\r\n\r\n", &h);
	assert_false(h.has_version);

	parse_req("GET /ws HTTP/11\r\n\r\n", &h);
	assert_false(h.has_version);

	/* empty lines before the request line are skipped (RFC 9112 2.2) */
	parse_req("\r\nGET / HTTP/1.1\r\n\r\n", &h);
	assert_true(h.start_line_ok);
	assert_slice(h.start_line, "GET / HTTP/1.1");
	assert_int_equal(h.anomalies, HTTP_ANOM_LEADING_EMPTY_LINE);
	assert_int_equal(h.head_len, 20);

	parse_req("G(T / HTTP/1.1\r\n\r\n", &h);
	assert_false(h.start_line_ok);

	parse_req("GET\r\n\r\n", &h);
	assert_false(h.start_line_ok);
	assert_slice(h.start_line, "GET");
}

static void test_leading_empty_lines(void **state)
{
	static const struct {
		const char *raw;
		uint32_t anomalies;
	} leading[] = {
		{ "\r\nGET /ws HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_ANOM_LEADING_EMPTY_LINE },
		{ "\r\n\r\n\r\nGET /ws HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_ANOM_LEADING_EMPTY_LINE },
		{ "\nGET /ws HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_ANOM_LEADING_EMPTY_LINE | HTTP_ANOM_LF_ONLY },
		{ "\n\r\n\nGET /ws HTTP/1.1\r\nHost: a\r\n\r\n",
		  HTTP_ANOM_LEADING_EMPTY_LINE | HTTP_ANOM_LF_ONLY },
		{ "\r\nGET /ws HTTP/1.1\nHost: a\n\n", HTTP_ANOM_LEADING_EMPTY_LINE | HTTP_ANOM_LF_ONLY },
	};
	struct http_head h;
	size_t end = 0;

	for (size_t i = 0; i < sizeof(leading) / sizeof(leading[0]); i++) {
		size_t len = strlen(leading[i].raw);

		assert_true(http_parse_request((const uint8_t *)leading[i].raw, len, &h));
		assert_true(h.complete);
		assert_int_equal(h.head_len, len);
		assert_int_equal(h.anomalies, leading[i].anomalies);
		assert_slice(h.method, "GET");
		assert_slice(h.target, "/ws");
		assert_int_equal(h.header_count, 1);
		assert_true(http_find_head_end((const uint8_t *)leading[i].raw, len, &end));
		assert_int_equal(end, len);
	}
	/* a response too, so that both agree with http_find_head_end() */
	assert_true(http_parse_response(LIT("\r\nHTTP/1.1 101 Switching Protocols\r\n\r\n"), &h));
	assert_int_equal(h.status, 101);
	assert_true(h.anomalies & HTTP_ANOM_LEADING_EMPTY_LINE);

	/* nothing but empty lines: no head yet, not an empty one */
	http_parse_request(LIT("\r\n\r\n"), &h);
	assert_false(h.complete);
	assert_false(h.start_line_ok);
	assert_null(h.start_line.ptr);
	assert_true(h.anomalies & HTTP_ANOM_TRUNCATED);
	assert_true(h.anomalies & HTTP_ANOM_LEADING_EMPTY_LINE);
	assert_false(http_find_head_end(LIT("\r\n\r\n"), &end));
	assert_false(http_find_head_end(LIT("\n\n"), &end));
	assert_false(http_find_head_end(LIT("\n\r\n\r"), &end));
	/* a CR not followed by LF is no empty line */
	http_parse_request(LIT("\r\rGET / HTTP/1.1\r\n\r\n"), &h);
	assert_false(h.start_line_ok);
	assert_false(h.anomalies & HTTP_ANOM_LEADING_EMPTY_LINE);
	assert_true(h.anomalies & HTTP_ANOM_BARE_CR);
	/* a cut one: the CR may yet be followed by LF */
	http_parse_request(LIT("\r\n\r"), &h);
	assert_false(h.complete);
	assert_false(h.anomalies & HTTP_ANOM_BARE_CR);
	assert_string_equal(http_anomaly_name(HTTP_ANOM_LEADING_EMPTY_LINE), "leading-empty-line");
}

static void test_status_lines(void **state)
{
	struct http_head h;

	assert_true(http_parse_response(
		LIT("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		    "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"),
		&h));
	assert_int_equal(h.kind, HTTP_HEAD_RESPONSE);
	assert_int_equal(h.status, 101);
	assert_slice(h.reason, "Switching Protocols");
	assert_int_equal(h.header_count, 3);

	/* Tomcat sends no reason phrase */
	assert_true(http_parse_response(LIT("HTTP/1.1 101 \r\n\r\n"), &h));
	assert_int_equal(h.status, 101);
	assert_slice(h.reason, "");
	assert_true(http_parse_response(LIT("HTTP/1.1 426\r\n\r\n"), &h));
	assert_int_equal(h.status, 426);

	assert_false(http_parse_response(LIT("HTTP/1.1 abc Nope\r\n\r\n"), &h));
	assert_int_equal(h.status, 0);
	assert_false(http_parse_response(LIT("HTTP/1.1 1010 Nope\r\n\r\n"), &h));
	/* exactly three digits, 100 to 599 */
	static const char *const bad_status[] = { "050", "000", "099", "600", "999", "10", "1O1", "+10" };
	for (size_t i = 0; i < sizeof(bad_status) / sizeof(bad_status[0]); i++) {
		char raw[64];

		snprintf(raw, sizeof(raw), "HTTP/1.1 %s x\r\n\r\n", bad_status[i]);
		assert_false(http_parse_response((const uint8_t *)raw, strlen(raw), &h));
		assert_int_equal(h.status, 0);
		assert_true(h.anomalies & HTTP_ANOM_BAD_START_LINE);
		assert_true(h.has_version);
	}
	assert_true(http_parse_response(LIT("HTTP/1.1 100 Continue\r\n\r\n"), &h));
	assert_int_equal(h.status, 100);
	assert_true(http_parse_response(LIT("HTTP/1.1 599 x\r\n\r\n"), &h));
	assert_int_equal(h.status, 599);
	assert_false(http_parse_response(LIT("HTTX/1.1 200 OK\r\n\r\n"), &h));
	assert_true(h.anomalies & HTTP_ANOM_BAD_START_LINE);
	assert_false(http_parse_response(LIT("\x16\x03\x03\x00\x02\x02\x28"), &h));
}

static void test_lowercase_names(void **state)
{
	static const char *const ignore[] = { "host", "connection", NULL };
	struct http_head h;

	parse_req("GET / HTTP/1.1\r\nConnection: close\r\nHost: a\r\nuser-agent: curl\r\n"
		  "sec-websocket-key: k\r\n\r\n",
		  &h);
	assert_false(http_head_names_lowercase(&h, NULL));
	assert_true(http_head_names_lowercase(&h, ignore));

	parse_req("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &h);
	assert_false(http_head_names_lowercase(&h, ignore)); /* nothing left to judge by */

	parse_req("GET / HTTP/1.1\r\nhost: a\r\nuser-Agent: x\r\n\r\n", &h);
	assert_false(http_head_names_lowercase(&h, ignore));
}

static void test_header_cap_and_64k_head(void **state)
{
	const size_t size = 64 * 1024;
	uint8_t *buf = malloc(size);
	size_t pos, lines = 0;
	struct http_head h;

	assert_non_null(buf);
	pos = (size_t)sprintf((char *)buf, "GET /ws HTTP/1.1\r\n");
	while (pos + 40 < size - 4) {
		pos += (size_t)sprintf((char *)buf + pos, "X-Filler-%05zu: %020zu\r\n", lines, lines);
		lines++;
	}
	memcpy(buf + pos, "\r\n", 2);
	pos += 2;
	assert_true(http_parse_request(buf, pos, &h));
	assert_true(h.complete);
	assert_int_equal(h.head_len, pos);
	assert_int_equal(h.header_count, HTTP_HEAD_MAX_HEADERS);
	assert_int_equal(h.headers_dropped, lines - HTTP_HEAD_MAX_HEADERS);
	assert_true(h.anomalies & HTTP_ANOM_HEADERS_DROPPED);
	assert_slice(h.headers[63].name, "X-Filler-00063");

	/* one 64 KiB value, not terminated, exactly len bytes of heap */
	pos = (size_t)sprintf((char *)buf, "GET /ws HTTP/1.1\r\nCookie: ");
	memset(buf + pos, 'c', size - pos);
	http_parse_request(buf, size, &h);
	assert_false(h.complete);
	assert_int_equal(h.head_len, size);
	assert_int_equal(h.header_count, 0);
	buf[size - 2] = '\r';
	buf[size - 1] = '\n';
	http_parse_request(buf, size, &h);
	assert_int_equal(h.header_count, 1);
	assert_int_equal(h.headers[0].value.len, size - pos - 2);
	free(buf);
}

/* ---- the name index ---------------------------------------------------- */

static void test_name_index(void **state)
{
	struct http_head h;
	unsigned count = 0;

	parse_req("GET /ws HTTP/1.1\r\nHOST: a\r\nconnection: keep-alive\r\nX-Other: 1\r\n"
		  "CONNECTION: Upgrade\r\nSec-WebSocket-Key: k\r\nsec-websocket-version: 13\r\n"
		  "X-Forwarded-For: 1.2.3.4\r\nVia: 1.1 squid\r\n\r\n",
		  &h);
	assert_true(http_head_has_name(&h, HTTP_NAME_HOST));
	assert_true(http_head_has_name(&h, HTTP_NAME_VIA));
	assert_false(http_head_has_name(&h, HTTP_NAME_UPGRADE));
	assert_false(http_head_has_name(&h, HTTP_NAME_OTHER));
	assert_slice(http_header_get(&h, HTTP_NAME_CONNECTION, &count)->value, "keep-alive");
	assert_int_equal(count, 2);
	assert_ptr_equal(http_header_get(&h, HTTP_NAME_CONNECTION, NULL), &h.headers[1]);
	assert_null(http_header_get(&h, HTTP_NAME_ORIGIN, &count));
	assert_int_equal(count, 0);
	assert_null(http_header_get(&h, HTTP_NAME_OTHER, &count));
	assert_int_equal(count, 0);
	/* the second Connection header is found through the first */
	assert_int_equal(http_head_name_has_token(&h, HTTP_NAME_CONNECTION, "upgrade"),
			 HTTP_TOKEN_PRESENT | HTTP_TOKEN_EXACT_CASE);
	assert_int_equal(http_head_name_has_token(&h, HTTP_NAME_UPGRADE, "websocket"), 0);
	assert_int_equal(h.names_seen,
			 (1u << HTTP_NAME_HOST) | (1u << HTTP_NAME_CONNECTION) |
				 (1u << HTTP_NAME_SEC_WEBSOCKET_KEY) |
				 (1u << HTTP_NAME_SEC_WEBSOCKET_VERSION) |
				 (1u << HTTP_NAME_X_FORWARDED_FOR) | (1u << HTTP_NAME_VIA));
	assert_int_equal(h.header_names[2], HTTP_NAME_OTHER);
	assert_true(h.has_sec_websocket);
	/* the index and a scan agree, for indexed names and others */
	assert_ptr_equal(http_header_find(&h, "X-FORWARDED-FOR", &count),
			 http_header_get(&h, HTTP_NAME_X_FORWARDED_FOR, NULL));
	assert_int_equal(count, 1);
	assert_ptr_equal(http_header_find(&h, "x-other", &count), &h.headers[2]);
	assert_int_equal(count, 1);
	/* hop-added names skipped by mask */
	assert_false(http_head_names_lowercase_except(&h, 0));
	assert_false(http_head_names_lowercase_except(&h, 1u << HTTP_NAME_HOST));

	parse_req("GET /ws HTTP/1.1\r\nHost: a\r\nsec-websocket-anything: x\r\n\r\n", &h);
	assert_true(h.has_sec_websocket);
	assert_int_equal(h.header_names[1], HTTP_NAME_OTHER);
	parse_req("GET /ws HTTP/1.1\r\nHost: a\r\nSec-Fetch-Mode: websocket\r\nSec-WebSocket: x\r\n\r\n", &h);
	assert_false(h.has_sec_websocket);
	assert_true(http_head_names_lowercase_except(&h, 0) == false);
	parse_req("GET /ws HTTP/1.1\r\nHost: a\r\nuser-agent: x\r\nsec-websocket-key: k\r\n\r\n", &h);
	assert_true(http_head_names_lowercase_except(&h, 1u << HTTP_NAME_HOST));
	assert_false(http_head_names_lowercase_except(&h, 0));
	assert_false(http_head_names_lowercase_except(&h, (1u << HTTP_NAME_HOST) |
								(1u << HTTP_NAME_USER_AGENT) |
								(1u << HTTP_NAME_SEC_WEBSOCKET_KEY)));
}

static void test_name_classification(void **state)
{
	static const char *const near_misses[] = {
		"x-forwarded-pore", "sec-websocket-keys", "sec-websocket-", "sec-websocket-ke",
		"hos",		    "hostt",		  "via ",	    "vias",
		"upgrade\t",	    "x-forwarded-fo",	  "origins",	    "user_agent",
		"connection1",	    "sec-websocket-key\r", "-ost",	     "content_length",
		"",		    "\0ost",		  "HOST\0",	    "x-amzn-trace-ie",
	};
	char upper[64];

	for (unsigned id = 0; id < HTTP_NAME_COUNT; id++) {
		const char *text = http_name_text((enum http_name)id);
		size_t n = strlen(text);

		assert_int_equal(http_name_of(byte_slice_from_cstr(text)), id);
		for (size_t i = 0; i <= n; i++)
			upper[i] = (char)((text[i] >= 'a' && text[i] <= 'z') ? text[i] - 32 : text[i]);
		assert_int_equal(http_name_of(byte_slice_from_cstr(upper)), id);
		/* every letter alone in the other case */
		for (size_t i = 0; i < n; i++) {
			memcpy(upper, text, n + 1);
			if (upper[i] >= 'a' && upper[i] <= 'z')
				upper[i] = (char)(upper[i] - 32);
			assert_int_equal(http_name_of(byte_slice_from_cstr(upper)), id);
			/* and a byte that only looks alike once folded ('-' and CR, '@' and '`') */
			memcpy(upper, text, n + 1);
			upper[i] = upper[i] == '-' ? '\r' : (char)(upper[i] ^ 0x20);
			if (!(text[i] >= 'a' && text[i] <= 'z'))
				assert_int_equal(http_name_of(byte_slice_from_cstr(upper)), HTTP_NAME_OTHER);
		}
	}
	for (size_t i = 0; i < sizeof(near_misses) / sizeof(near_misses[0]); i++) {
		struct byte_slice s = { (const uint8_t *)near_misses[i], strlen(near_misses[i]) };

		if (i == 17 || i == 18) /* the NULs are part of the name */
			s.len = 4 + (i == 18);
		assert_int_equal(http_name_of(s), HTTP_NAME_OTHER);
	}
	assert_string_equal(http_name_text(HTTP_NAME_OTHER), "?");
	assert_string_equal(http_name_text(HTTP_NAME_SEC_WEBSOCKET_ACCEPT), "sec-websocket-accept");
}

/* Headers past the cap are not indexed, as a scan would not see them. */
static void test_index_beyond_cap_and_folds(void **state)
{
	char *buf = malloc(8192);
	size_t pos;
	struct http_head h;

	assert_non_null(buf);
	pos = (size_t)sprintf(buf, "GET /ws HTTP/1.1\r\nConnection: Upgrade\r\n");
	for (int i = 1; i < HTTP_HEAD_MAX_HEADERS; i++)
		pos += (size_t)sprintf(buf + pos, "X-Filler-%d: x\r\n", i);
	pos += (size_t)sprintf(buf + pos, "Upgrade: websocket\r\nConnection: close\r\n\r\n");
	http_parse_request((const uint8_t *)buf, pos, &h);
	assert_int_equal(h.header_count, HTTP_HEAD_MAX_HEADERS);
	assert_int_equal(h.headers_dropped, 2);
	assert_null(http_header_get(&h, HTTP_NAME_UPGRADE, NULL));
	assert_null(http_header_find(&h, "upgrade", NULL));
	assert_int_equal(h.name_count[HTTP_NAME_CONNECTION], 1);
	assert_false(http_head_name_has_token(&h, HTTP_NAME_CONNECTION, "close"));
	free(buf);

	/* a folded value is what the index hands out too */
	parse_req("GET / HTTP/1.1\r\nUpgrade:\r\n websocket\r\nConnection: keep-alive,\r\n\tUpgrade\r\n\r\n", &h);
	assert_slice(http_header_get(&h, HTTP_NAME_UPGRADE, NULL)->value, "websocket");
	assert_int_equal(http_head_name_has_token(&h, HTTP_NAME_CONNECTION, "upgrade"),
			 HTTP_TOKEN_PRESENT | HTTP_TOKEN_EXACT_CASE);
}

/* The line scan reads sixteen bytes at a time: put each odd byte on every
 * side of a block boundary, and at the very end of the bytes given. */
static void test_line_scan_boundaries(void **state)
{
	static const struct {
		char byte;
		uint32_t anomalies;
	} odd[] = {
		{ '\0', HTTP_ANOM_NUL }, { '\r', HTTP_ANOM_BARE_CR }, { '\t', 0 },
		{ '\x01', 0 },		 { '\x0b', 0 },		      { '\x0c', 0 },
	};

	for (size_t o = 0; o < sizeof(odd) / sizeof(odd[0]); o++) {
		for (size_t at = 0; at < 40; at++) {
			char raw[128];
			struct http_head h;
			size_t len, value_at;

			/* the odd byte is never first or last in the value: OWS there is trimmed */
			len = (size_t)snprintf(raw, sizeof(raw), "GET /ws HTTP/1.1\r\nX-Value: "
								 "v%.*s%c%.*sw\r\nHost: h\r\n\r\n",
					       (int)at, "0123456789012345678901234567890123456789", 'z',
					       (int)(40 - at), "0123456789012345678901234567890123456789");
			value_at = sizeof("GET /ws HTTP/1.1\r\nX-Value: v") - 1 + at;
			raw[value_at] = odd[o].byte;
			http_parse_request((const uint8_t *)raw, len, &h);
			assert_true(h.complete);
			assert_int_equal(h.head_len, len);
			assert_int_equal(h.header_count, 2);
			assert_int_equal(h.anomalies, odd[o].anomalies);
			assert_int_equal(h.headers[0].value.len, 43);
			assert_slice(h.headers[1].name, "Host");
		}
	}
	/* a CR that ends the bytes given, at each length around a block */
	for (size_t len = 23; len < 60; len++) {
		char raw[64];
		struct http_head h;

		memset(raw, 'a', sizeof(raw));
		memcpy(raw, "GET /ws HTTP/1.1\r\nX: ", 21);
		raw[len - 1] = '\r';
		http_parse_request((const uint8_t *)raw, len, &h);
		assert_false(h.complete);
		assert_false(h.anomalies & HTTP_ANOM_BARE_CR);
		raw[len - 2] = '\r'; /* one before it is bare */
		http_parse_request((const uint8_t *)raw, len, &h);
		assert_true(h.anomalies & HTTP_ANOM_BARE_CR);
	}
}

/* xorshift: deterministic "random" bytes */
static uint32_t next_random(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void assert_inside(struct byte_slice s, const uint8_t *buf, size_t len)
{
	if (s.len == 0)
		return;
	assert_true(s.ptr >= buf && s.ptr + s.len <= buf + len);
}

/* Hostile bytes: never crash, never read or point past len, never write. */
static void test_random_bytes(void **state)
{
	static const char alphabet[] = "GET HTTP/1.1 \r\n:\t,\0\x16\x03\xff" "abcXYZ";
	uint32_t seed = 0x9e3779b9;

	for (int round = 0; round < 3000; round++) {
		size_t len = next_random(&seed) % 300;
		uint8_t *buf = malloc(len ? len : 1), *copy = malloc(len ? len : 1);
		struct http_head h;
		size_t end;

		assert_non_null(buf);
		assert_non_null(copy);
		for (size_t i = 0; i < len; i++)
			buf[i] = (round & 1) ? (uint8_t)next_random(&seed)
					     : (uint8_t)alphabet[next_random(&seed) % (sizeof(alphabet) - 1)];
		memcpy(copy, buf, len);
		http_classify_start(buf, len);
		if (http_find_head_end(buf, len, &end))
			assert_true(end <= len);
		for (int kind = 0; kind < 2; kind++) {
			if (kind == 0)
				http_parse_request(buf, len, &h);
			else
				http_parse_response(buf, len, &h);
			assert_true(h.head_len <= len);
			assert_true(h.header_count <= HTTP_HEAD_MAX_HEADERS);
			assert_inside(h.method, buf, len);
			assert_inside(h.target, buf, len);
			assert_inside(h.reason, buf, len);
			for (uint32_t i = 0; i < h.header_count; i++) {
				assert_inside(h.headers[i].name, buf, len);
				assert_inside(h.headers[i].value, buf, len);
			}
			http_head_has_token(&h, "connection", "upgrade");
			http_head_names_lowercase(&h, NULL);
		}
		if (len)
			assert_memory_equal(buf, copy, len);
		free(buf);
		free(copy);
	}
}

static void test_anomaly_names(void **state)
{
	for (unsigned bit = 0; bit < 11; bit++) {
		const char *name = http_anomaly_name((enum http_anomaly)(1u << bit));

		assert_string_not_equal(name, "?");
		for (unsigned other = 0; other < bit; other++)
			assert_string_not_equal(name,
						http_anomaly_name((enum http_anomaly)(1u << other)));
	}
	assert_string_equal(http_anomaly_name(HTTP_ANOM_LF_ONLY), "lf-only");
	assert_string_equal(http_anomaly_name((enum http_anomaly)(1u << 30)), "?");
}

/* The words, byte by byte: what http_mentions_upgrade() must agree with. */
static bool mentions_reference(const uint8_t *b, size_t n)
{
	static const char *const words[] = {"upgrade", "websocket"};

	for (size_t i = 0; i < n; i++)
		for (int w = 0; w < 2; w++) {
			size_t k, len = strlen(words[w]);

			for (k = 0; k < len && i + k < n; k++)
				if ((b[i + k] | 0x20) != (uint8_t)words[w][k])
					break;
			if (k == len)
				return true;
		}
	return false;
}

/* Every length to past two 32-byte blocks, each word planted at every place
 * in any case (so across the blocks' edges and in the last byte a block
 * reads), and random text of the letters the scan looks at, with near misses
 * ("upgrad", a byte that folds onto a letter only in one case: '@' | 0x20 is
 * '`'). */
static void test_mentions_upgrade(void **state)
{
	static const char alphabet[] = "uUpPgGrRaAdDeEwWbBsSoOcCkKtT@`5:- \r\n";
	uint8_t buf[100];
	unsigned seed = 12345;

	(void)state;
	for (size_t n = 0; n <= sizeof(buf); n++) {
		memset(buf, 'x', n);
		assert_false(http_mentions_upgrade(buf, n));
		for (int w = 0; w < 2; w++) {
			const char *word = w ? "WebSocket" : "upGRADE";
			size_t len = strlen(word);

			for (size_t at = 0; at + len <= n; at++) {
				memset(buf, 'x', n);
				memcpy(buf + at, word, len);
				assert_true(http_mentions_upgrade(buf, n));
				buf[at + len - 1] = '@'; /* one letter short */
				assert_false(http_mentions_upgrade(buf, n));
			}
		}
	}
	for (int round = 0; round < 200000; round++) {
		size_t n = (size_t)(round % (int)sizeof(buf));

		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			buf[i] = (uint8_t)alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		if (round % 3 == 0 && n >= 9) {
			seed = seed * 1103515245u + 12345u;
			memcpy(buf + (seed >> 16) % (n - 8), round % 2 ? "UPGRADE" : "websockeT", round % 2 ? 7 : 9);
		}
		assert_int_equal(http_mentions_upgrade(buf, n), mentions_reference(buf, n));
	}
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify_http),
		cmocka_unit_test(test_classify_leading_empty_line),
		cmocka_unit_test(test_classify_need_more),
		cmocka_unit_test(test_classify_tls),
		cmocka_unit_test(test_classify_h2_preface),
		cmocka_unit_test(test_classify_not_http),
		cmocka_unit_test(test_head_end),
		cmocka_unit_test(test_parse_chrome),
		cmocka_unit_test(test_parse_firefox),
		cmocka_unit_test(test_token_list_variants),
		cmocka_unit_test(test_duplicate_headers),
		cmocka_unit_test(test_ows_trimming),
		cmocka_unit_test(test_lf_only),
		cmocka_unit_test(test_cr_only),
		cmocka_unit_test(test_obs_fold),
		cmocka_unit_test(test_no_colon_and_odd_names),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_request_line_variants),
		cmocka_unit_test(test_leading_empty_lines),
		cmocka_unit_test(test_status_lines),
		cmocka_unit_test(test_lowercase_names),
		cmocka_unit_test(test_header_cap_and_64k_head),
		cmocka_unit_test(test_name_index),
		cmocka_unit_test(test_name_classification),
		cmocka_unit_test(test_index_beyond_cap_and_folds),
		cmocka_unit_test(test_line_scan_boundaries),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_anomaly_names),
		cmocka_unit_test(test_mentions_upgrade),
	};

	return cmocka_run_group_tests_name("http_head", tests, NULL, NULL);
}
