// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests for user/rules.c and user/wsaccept.c: every rule, hint and verdict. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http_head.h"
#include "path_glob.h"
#include "rules.h"
#include "wsaccept.h"

#define RFC_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* The three samples of HANDSHAKE.md, as the backend received them. */
static const char nginx_http10[] = "GET /websocket/server/s1/websocket HTTP/1.0\r\n"
				   "Host: 127.0.0.1:18770\r\n"
				   "Connection: close\r\n"
				   "User-Agent: curl/7.88.1\r\n"
				   "Accept: */*\r\n"
				   "Sec-WebSocket-Key: SGVsbG8sIHdvcmxkIQ==\r\n"
				   "Sec-WebSocket-Version: 13\r\n"
				   "\r\n";
static const char http2_via_nginx[] = "GET /websocket/server/s2/websocket HTTP/1.1\r\n"
				      "Connection: close\r\n"
				      "Host: 127.0.0.1:18770\r\n"
				      "user-agent: curl/7.88.1\r\n"
				      "accept: */*\r\n"
				      "sec-websocket-key: SGVsbG8sIHdvcmxkIQ==\r\n"
				      "sec-websocket-version: 13\r\n"
				      "\r\n";
static const char good_via_nginx[] = "GET /websocket/server/s3/websocket HTTP/1.1\r\n"
				     "Upgrade: websocket\r\n"
				     "Connection: upgrade\r\n"
				     "Host: 127.0.0.1:18770\r\n"
				     "user-agent: curl/7.88.1\r\n"
				     "accept: */*\r\n"
				     "sec-websocket-key: " RFC_KEY "\r\n"
				     "sec-websocket-version: 13\r\n"
				     "\r\n";

static const char chrome[] =
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
	"Sec-WebSocket-Key: " RFC_KEY "\r\n"
	"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
	"\r\n";

static const char firefox[] =
	"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
	"Host: localhost:3000\r\n"
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0\r\n"
	"Accept: */*\r\n"
	"Sec-WebSocket-Version: 13\r\n"
	"Origin: http://localhost:3000\r\n"
	"Sec-WebSocket-Extensions: permessage-deflate\r\n"
	"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n"
	"Connection: keep-alive, Upgrade\r\n"
	"Sec-Fetch-Mode: websocket\r\n"
	"Upgrade: websocket\r\n"
	"\r\n";

static const char answer_101[] = "HTTP/1.1 101 Switching Protocols\r\n"
				 "Upgrade: websocket\r\n"
				 "Connection: Upgrade\r\n"
				 "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n"
				 "\r\n";

/* A canonical request with one line swapped in or out, for the rule tests. */
static const char request_fmt[] = "%s /ws %s\r\n"
				  "Host: h\r\n"
				  "Upgrade: websocket\r\n"
				  "Connection: Upgrade\r\n"
				  "Sec-WebSocket-Key: " RFC_KEY "\r\n"
				  "Sec-WebSocket-Version: 13\r\n"
				  "%s"
				  "\r\n";

struct judged {
	struct http_head req;
	struct http_head resp;
	struct judgement j;
	enum stream_kind kind;
};

static void judge_bytes(struct judged *t, const void *raw, size_t len, bool truncated)
{
	t->kind = http_classify_start(raw, len);
	http_parse_request(raw, len, &t->req);
	judge_request(&t->j, t->kind, t->kind == STREAM_HTTP_REQUEST ? &t->req : NULL, truncated);
}

static void judge_text(struct judged *t, const char *raw)
{
	judge_bytes(t, raw, strlen(raw), false);
}

static void answer_text(struct judged *t, const char *raw)
{
	http_parse_response((const uint8_t *)raw, strlen(raw), &t->resp);
	judge_answer(&t->j, t->kind == STREAM_HTTP_REQUEST ? &t->req : NULL, &t->resp);
}

/* Remove the first line starting with prefix from a copy of raw. */
static const char *without(char *buf, size_t cap, const char *raw, const char *prefix)
{
	const char *at = strstr(raw, prefix), *eol;

	assert_non_null(at);
	eol = strstr(at, "\r\n") + 2;
	snprintf(buf, cap, "%.*s%s", (int)(at - raw), raw, eol);
	return buf;
}

static const char *canonical(char *buf, size_t cap, const char *method, const char *version,
			     const char *extra)
{
	snprintf(buf, cap, request_fmt, method, version, extra);
	return buf;
}

static uint32_t bit(int n)
{
	return 1u << n;
}

/* ---- accept arithmetic --------------------------------------------------- */

static void test_accept_rfc_sample(void **state)
{
	char accept[WS_ACCEPT_LEN + 1];

	ws_compute_accept((const uint8_t *)RFC_KEY, strlen(RFC_KEY), accept);
	/* RFC 6455 1.3; checked with sha1sum | base64. */
	assert_string_equal(accept, RFC_ACCEPT);
	assert_true(ws_accept_matches((const uint8_t *)RFC_KEY, 24, (const uint8_t *)RFC_ACCEPT, 28));
	/* the value sometimes misquoted for this key is a mismatch */
	assert_false(ws_accept_matches((const uint8_t *)RFC_KEY, 24,
				       (const uint8_t *)"s3pPLMBiTxaQ9kuzxzWo2XZ5xOo=", 28));
	assert_false(ws_accept_matches((const uint8_t *)RFC_KEY, 24, (const uint8_t *)RFC_ACCEPT, 27));
	ws_compute_accept(NULL, 0, accept); /* an empty key still hashes */
	assert_int_equal(strlen(accept), WS_ACCEPT_LEN);
}

static void test_key_wellformed(void **state)
{
	static const char *const bad[] = {
		"SGVsbG8sIHdvcmxkIQ==",	      /* 13 bytes (curl's sample key) */
		"dGhlIHNhbXBsZSBub25jZQ",     /* no padding */
		"dGhlIHNhbXBsZSBub25jZQ===",  /* 25 chars */
		"dGhlIHNhbXBsZSBub25j ZQ==",  /* space inside */
		"dGhlIHNhbXBsZSBub25jZ-==",   /* base64url alphabet */
		"dGhlIHNhbXBsZSBub25jZQ=A",   /* broken padding */
		"dGhlIHNhbXBsZSBub25jZQ\0=",  /* NUL */
		"",
	};

	assert_true(ws_key_is_wellformed((const uint8_t *)RFC_KEY, 24));
	assert_true(ws_key_is_wellformed((const uint8_t *)"x3JJHMbDL1EzLkh9GBhXDw==", 24));
	assert_true(ws_key_is_wellformed((const uint8_t *)"AAAAAAAAAAAAAAAAAAAA+/==", 24));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(ws_key_is_wellformed((const uint8_t *)bad[i],
						  i == 6 ? 24 : strlen(bad[i])));
}

/* Every byte value at every one of the 22 places: taken exactly where RFC 4648's
 * alphabet has it, whichever lane of the key's blocks the place falls in. */
static void test_key_alphabet_every_byte(void **state)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t key[24];

	(void)state;
	for (size_t place = 0; place < 22; place++) {
		for (unsigned c = 0; c < 256; c++) {
			bool in_alphabet = c != 0 && memchr(alphabet, (int)c, sizeof(alphabet) - 1) != NULL;

			memcpy(key, RFC_KEY, sizeof(key));
			key[place] = (uint8_t)c;
			if (ws_key_is_wellformed(key, sizeof(key)) != in_alphabet)
				fail_msg("byte 0x%02x at %zu: %s", c, place, in_alphabet ? "refused" : "taken");
		}
	}
}

/* ---- good handshakes ------------------------------------------------------ */

static void test_chrome_upgraded(void **state)
{
	struct judged t;

	judge_text(&t, chrome);
	assert_int_equal(t.j.rules, 0);
	assert_int_equal(t.j.hints, 0);
	assert_int_equal(t.j.verdict, VERDICT_PENDING);
	answer_text(&t, answer_101);
	assert_int_equal(t.j.verdict, VERDICT_UPGRADED);
	assert_int_equal(t.j.status, 101);
	assert_int_equal(t.j.rules, 0);
	assert_string_equal(verdict_name(t.j.verdict), "upgraded");
}

static void test_firefox_keepalive_upgrade(void **state)
{
	struct judged t;

	judge_text(&t, firefox);
	assert_int_equal(t.j.rules, 0);
	assert_int_equal(t.j.hints, 0);
	/* Tomcat's 101 has no reason phrase */
	answer_text(&t, "HTTP/1.1 101 \r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
			"Sec-WebSocket-Accept: HSmrc0sMlYUkAGmm5OPpG2HaGWk=\r\n\r\n");
	assert_int_equal(t.j.verdict, VERDICT_UPGRADED);
}

static void test_good_via_nginx(void **state)
{
	struct judged t;

	judge_text(&t, good_via_nginx);
	assert_int_equal(t.j.rules, 0);
	/* lower-case names alone, with Upgrade present, are no HTTP/2 sign */
	assert_false(judgement_has_hint(&t.j, HINT_HTTP2_CLIENT));
	assert_int_equal(t.j.hints, 0);
}

/* ---- the HANDSHAKE.md samples ------------------------------------------- */

static void test_sample_nginx_http10(void **state)
{
	struct judged t;
	char text[512];

	judge_text(&t, nginx_http10);
	assert_int_equal(t.j.rules, bit(RULE_HTTP_VERSION) | bit(RULE_UPGRADE_MISSING) |
					    bit(RULE_CONNECTION_NO_UPGRADE) |
					    bit(RULE_KEY_MALFORMED));
	assert_int_equal(t.j.hints, bit(HINT_PROXY_HTTP10));
	hint_format(HINT_PROXY_HTTP10, &t.req, text, sizeof(text));
	assert_non_null(strstr(text, "proxy_http_version 1.1"));
	assert_non_null(strstr(text, "proxy_set_header Upgrade $http_upgrade"));
	assert_non_null(strstr(text, "[HTTP/1.0, Connection: close]"));
	/* Python websockets answered 400 */
	answer_text(&t, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(t.j.verdict, VERDICT_REJECTED);
	assert_int_equal(t.j.status, 400);
}

static void test_sample_http2_via_nginx(void **state)
{
	struct judged t;

	judge_text(&t, http2_via_nginx);
	assert_int_equal(t.j.rules, bit(RULE_UPGRADE_MISSING) | bit(RULE_CONNECTION_NO_UPGRADE) |
					    bit(RULE_KEY_MALFORMED));
	assert_int_equal(t.j.hints, bit(HINT_HTTP2_CLIENT));
	assert_non_null(strstr(hint_text(HINT_HTTP2_CLIENT), "--http1.1"));
	assert_non_null(strstr(hint_text(HINT_HTTP2_CLIENT), "RFC 8441"));
	answer_text(&t, "HTTP/1.1 426 Upgrade Required\r\n\r\n");
	assert_int_equal(t.j.verdict, VERDICT_REJECTED);
	assert_int_equal(t.j.status, 426);
}

/* ---- one test per rule ---------------------------------------------------- */

static void test_rule_method_not_get(void **state)
{
	char buf[512];
	struct judged t;

	judge_text(&t, canonical(buf, sizeof(buf), "POST", "HTTP/1.1", ""));
	assert_int_equal(t.j.rules, bit(RULE_METHOD_NOT_GET));
	judge_text(&t, canonical(buf, sizeof(buf), "PUT", "HTTP/1.1", ""));
	assert_int_equal(t.j.rules, bit(RULE_METHOD_NOT_GET));
	/* methods are case-sensitive: "get" is not even taken for HTTP */
	judge_text(&t, canonical(buf, sizeof(buf), "get", "HTTP/1.1", ""));
	assert_int_equal(t.j.rules, bit(RULE_NOT_HTTP));
}

static void test_rule_http_version(void **state)
{
	char buf[512];
	struct judged t;

	judge_text(&t, canonical(buf, sizeof(buf), "GET", "HTTP/1.0", ""));
	assert_int_equal(t.j.rules, bit(RULE_HTTP_VERSION));
	judge_text(&t, canonical(buf, sizeof(buf), "GET", "HTTP/2.0", ""));
	assert_int_equal(t.j.rules, bit(RULE_HTTP_VERSION));
	judge_text(&t, canonical(buf, sizeof(buf), "GET", "", ""));
	assert_int_equal(t.j.rules, bit(RULE_HTTP_VERSION));
	judge_text(&t, canonical(buf, sizeof(buf), "GET", "HTTP/1.2", ""));
	assert_int_equal(t.j.rules, 0); /* a later 1.x is fine */
}

static void test_rule_host_missing(void **state)
{
	char buf[512], out[512];
	struct judged t;

	judge_text(&t, without(out, sizeof(out), canonical(buf, sizeof(buf), "GET", "HTTP/1.1", ""),
			       "Host:"));
	assert_int_equal(t.j.rules, bit(RULE_HOST_MISSING));
}

static void test_rule_upgrade_missing(void **state)
{
	char buf[512], out[512];
	struct judged t;

	judge_text(&t, without(out, sizeof(out), canonical(buf, sizeof(buf), "GET", "HTTP/1.1", ""),
			       "Upgrade:"));
	assert_int_equal(t.j.rules, bit(RULE_UPGRADE_MISSING));
	assert_non_null(strstr(rule_servers(RULE_UPGRADE_MISSING),
			       "Handshake failed due to invalid Upgrade header: null"));
	/* Connection: Upgrade without Upgrade: a hard-coding proxy */
	assert_true(judgement_has_hint(&t.j, HINT_CONNECTION_HARDCODED));
}

static void test_rule_upgrade_not_websocket(void **state)
{
	struct judged t;
	char text[512];

	judge_text(&t, "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\n"
		       "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n");
	assert_true(judgement_has_rule(&t.j, RULE_UPGRADE_NOT_WEBSOCKET));
	assert_false(judgement_has_rule(&t.j, RULE_UPGRADE_MISSING));
	assert_true(judgement_has_rule(&t.j, RULE_KEY_MISSING));
	assert_true(judgement_has_hint(&t.j, HINT_H2C_UPGRADE));
	hint_format(HINT_H2C_UPGRADE, &t.req, text, sizeof(text));
	assert_non_null(strstr(text, "[Upgrade: h2c]"));
	assert_non_null(strstr(rule_servers(RULE_UPGRADE_NOT_WEBSOCKET), "h2c"));

	judge_text(&t, "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade:\r\nConnection: upgrade\r\n"
		       "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n");
	assert_int_equal(t.j.rules, bit(RULE_UPGRADE_NOT_WEBSOCKET));

	/* case-insensitive, and a list with websocket in it is fine */
	judge_text(&t, "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\nConnection: upgrade\r\n"
		       "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n");
	assert_int_equal(t.j.rules, 0);
}

static void test_rule_connection_no_upgrade(void **state)
{
	char buf[512], out[512];
	struct judged t;

	/* a stripping proxy: Connection: keep-alive, Upgrade kept */
	judge_text(&t, "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
		       "Connection: keep-alive\r\nSec-WebSocket-Key: " RFC_KEY
		       "\r\nSec-WebSocket-Version: 13\r\n\r\n");
	assert_int_equal(t.j.rules, bit(RULE_CONNECTION_NO_UPGRADE));
	judge_text(&t, without(out, sizeof(out), canonical(buf, sizeof(buf), "GET", "HTTP/1.1", ""),
			       "Connection:"));
	assert_int_equal(t.j.rules, bit(RULE_CONNECTION_NO_UPGRADE));
	/* UPGRADE is valid by the RFC; only Spring minds, and a hint says so */
	judge_text(&t, "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
		       "Connection: keep-alive, UPGRADE\r\nSec-WebSocket-Key: " RFC_KEY
		       "\r\nSec-WebSocket-Version: 13\r\n\r\n");
	assert_int_equal(t.j.rules, 0);
	assert_int_equal(t.j.hints, bit(HINT_CONNECTION_CASE));
	/* tabs and spaces around tokens, and the token in a second header line */
	judge_text(&t, "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
		       "Connection: keep-alive\r\nConnection: \t upgrade \t\r\nSec-WebSocket-Key: " RFC_KEY
		       "\r\nSec-WebSocket-Version: 13\r\n\r\n");
	assert_int_equal(t.j.rules, 0);
	assert_int_equal(t.j.hints, 0);
}

static void test_rule_key_missing_and_malformed(void **state)
{
	char buf[512], out[512];
	struct judged t;

	judge_text(&t, without(out, sizeof(out), canonical(buf, sizeof(buf), "GET", "HTTP/1.1", ""),
			       "Sec-WebSocket-Key:"));
	assert_int_equal(t.j.rules, bit(RULE_KEY_MISSING));

	judge_text(&t, "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		       "Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n");
	assert_int_equal(t.j.rules, bit(RULE_KEY_MALFORMED));
	judge_text(&t, "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		       "Sec-WebSocket-Key: not base64 at all!!!!!!\r\nSec-WebSocket-Version: 13\r\n\r\n");
	assert_int_equal(t.j.rules, bit(RULE_KEY_MALFORMED));
	/* two keys: servers refuse */
	judge_text(&t, canonical(buf, sizeof(buf), "GET", "HTTP/1.1",
				 "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n"));
	assert_int_equal(t.j.rules, bit(RULE_KEY_MALFORMED));
}

static void test_rule_version(void **state)
{
	char buf[512], out[512];
	struct judged t;

	judge_text(&t, without(out, sizeof(out), canonical(buf, sizeof(buf), "GET", "HTTP/1.1", ""),
			       "Sec-WebSocket-Version:"));
	assert_int_equal(t.j.rules, bit(RULE_VERSION_MISSING));
	judge_text(&t, "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		       "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Version: 8\r\n\r\n");
	assert_int_equal(t.j.rules, bit(RULE_VERSION_NOT_13));
	assert_non_null(strstr(rule_servers(RULE_VERSION_NOT_13), "426"));
	judge_text(&t, canonical(buf, sizeof(buf), "GET", "HTTP/1.1", "Sec-WebSocket-Version: 13\r\n"));
	assert_int_equal(t.j.rules, bit(RULE_VERSION_NOT_13));
}

static void test_rule_http2_preface(void **state)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\x12\x04\0\0\0\0\0";
	struct judged t;

	judge_bytes(&t, preface, sizeof(preface) - 1, false);
	assert_int_equal(t.kind, STREAM_HTTP2_PREFACE);
	assert_int_equal(t.j.rules, bit(RULE_HTTP2_PREFACE));
	assert_int_equal(t.j.verdict, VERDICT_INVALID);
	/* the server's 400 is recorded, the verdict stays invalid */
	answer_text(&t, "HTTP/1.1 400 Bad Request\r\n\r\n");
	assert_int_equal(t.j.verdict, VERDICT_INVALID);
	assert_int_equal(t.j.status, 400);
}

static void test_rule_tls_on_plaintext(void **state)
{
	static const uint8_t hello[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc,
					 0x03, 0x03, 0xaa, 0xbb, 0xcc, 0x00, 0x20, 0x0d, 0x0a };
	struct judged t;

	judge_bytes(&t, hello, sizeof(hello), false);
	assert_int_equal(t.j.rules, bit(RULE_TLS_ON_PLAINTEXT));
	assert_int_equal(t.j.verdict, VERDICT_INVALID);
	assert_int_equal(t.j.request_kind, STREAM_TLS);
	judge_no_answer(&t.j, true);
	assert_int_equal(t.j.verdict, VERDICT_INVALID);
}

static void test_rule_not_http(void **state)
{
	static const uint8_t binary[] = { 0x8a, 0x00, 0xff, 0x13, 0x37, 0x0d, 0x0a, 0x0d, 0x0a };
	struct judged t;

	judge_bytes(&t, binary, sizeof(binary), false);
	assert_int_equal(t.j.rules, bit(RULE_NOT_HTTP));
	assert_int_equal(t.j.verdict, VERDICT_INVALID);
	/* an answer arriving on the request side */
	judge_text(&t, "HTTP/1.1 200 OK\r\n\r\n");
	assert_int_equal(t.j.rules, bit(RULE_NOT_HTTP));
	/* a method token but no request line */
	judge_text(&t, "GET\r\n\r\n");
	assert_int_equal(t.j.rules, bit(RULE_NOT_HTTP));
	assert_int_equal(t.j.verdict, VERDICT_INVALID);
}

static void test_rule_truncated(void **state)
{
	char buf[512];
	struct judged t;
	size_t cut;

	canonical(buf, sizeof(buf), "GET", "HTTP/1.1", "");
	/* cut just after the Upgrade line: Connection, key and version may follow */
	cut = (size_t)(strstr(buf, "Connection:") - buf);
	judge_bytes(&t, buf, cut, false);
	assert_int_equal(t.j.rules, bit(RULE_TRUNCATED));
	assert_int_equal(t.j.hints, 0);
	/* the capture said it cut the sample, even though an end was found */
	judge_text(&t, "GET /ws HTTP/1.1\r\nHost: h\r\n\r\n");
	judge_bytes(&t, "GET /ws HTTP/1.1\r\nHost: h\r\n\r\n", 28, true);
	assert_int_equal(t.j.rules, bit(RULE_TRUNCATED));
	/* what is present and wrong is still claimed */
	judge_bytes(&t, "POST /ws HTTP/1.0\r\nUpgrade: h2c\r\nConnection: close\r\nHost", 55, false);
	assert_int_equal(t.j.rules, bit(RULE_TRUNCATED) | bit(RULE_METHOD_NOT_GET) |
					    bit(RULE_HTTP_VERSION) | bit(RULE_UPGRADE_NOT_WEBSOCKET) |
					    bit(RULE_CONNECTION_NO_UPGRADE));
	/* cut inside the request line: nothing else can be said */
	judge_bytes(&t, "GET /webso", 10, false);
	assert_int_equal(t.j.rules, bit(RULE_TRUNCATED));
	assert_int_equal(t.j.verdict, VERDICT_PENDING);
	judge_bytes(&t, "GE", 2, false);
	assert_int_equal(t.kind, STREAM_NEED_MORE);
	assert_int_equal(t.j.rules, bit(RULE_TRUNCATED));
}

static void test_rule_accept_mismatch_and_missing(void **state)
{
	struct judged t;

	judge_text(&t, chrome);
	answer_text(&t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			"Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kuzxzWo2XZ5xOo=\r\n\r\n");
	assert_int_equal(t.j.rules, bit(RULE_ACCEPT_MISMATCH));
	assert_int_equal(t.j.verdict, VERDICT_INVALID);
	assert_int_equal(t.j.status, 101);

	judge_text(&t, chrome);
	answer_text(&t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			"Sec-WebSocket-Accept: " RFC_ACCEPT "\r\nSec-WebSocket-Accept: " RFC_ACCEPT
			"\r\n\r\n");
	assert_int_equal(t.j.rules, bit(RULE_ACCEPT_MISMATCH));

	judge_text(&t, chrome);
	answer_text(&t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
	assert_int_equal(t.j.rules, bit(RULE_ACCEPT_MISSING));
	assert_int_equal(t.j.verdict, VERDICT_INVALID);

	/* an answer sample cut before the accept: no claim, upgraded */
	judge_text(&t, chrome);
	answer_text(&t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConn");
	assert_int_equal(t.j.rules, bit(RULE_TRUNCATED));
	assert_int_equal(t.j.verdict, VERDICT_UPGRADED);

	/* the request was not captured: the accept cannot be checked */
	memset(&t.j, 0, sizeof(t.j));
	http_parse_response((const uint8_t *)answer_101, strlen(answer_101), &t.resp);
	judge_answer(&t.j, NULL, &t.resp);
	assert_int_equal(t.j.verdict, VERDICT_UPGRADED);
}

/* ---- hints --------------------------------------------------------------- */

static void test_hint_connection_hardcoded(void **state)
{
	struct judged t;
	char text[512];

	judge_text(&t, "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n"
		       "User-Agent: Mozilla/5.0\r\n\r\n");
	assert_true(judgement_has_hint(&t.j, HINT_CONNECTION_HARDCODED));
	assert_true(judgement_has_hint(&t.j, HINT_NO_WEBSOCKET_CLIENT));
	assert_false(judgement_has_hint(&t.j, HINT_UPGRADE_LOST));
	hint_format(HINT_CONNECTION_HARDCODED, &t.req, text, sizeof(text));
	assert_non_null(strstr(text, "$connection_upgrade"));
	assert_non_null(strstr(text, "[Connection: upgrade]"));
	/* an HTTP/2 client behind nginx with Connection "upgrade" hard-coded */
	judge_text(&t, "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nuser-agent: curl\r\n"
		       "sec-websocket-key: " RFC_KEY "\r\nsec-websocket-version: 13\r\n\r\n");
	assert_int_equal(t.j.hints, bit(HINT_CONNECTION_HARDCODED) | bit(HINT_HTTP2_CLIENT));
}

static void test_hint_nginx_stripped(void **state)
{
	struct judged t;

	judge_text(&t, "GET /ws HTTP/1.1\r\nHost: backend\r\nUser-Agent: curl/8.5.0\r\n"
		       "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n");
	assert_int_equal(t.j.rules, bit(RULE_UPGRADE_MISSING) | bit(RULE_CONNECTION_NO_UPGRADE));
	assert_int_equal(t.j.hints, bit(HINT_NGINX_STRIPPED));
	assert_non_null(strstr(hint_text(HINT_NGINX_STRIPPED), "proxy_set_header Upgrade"));
}

static void test_hint_upgrade_lost(void **state)
{
	struct judged t;

	/* corporate proxy: Upgrade stripped, Connection: keep-alive, Via */
	judge_text(&t, "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n"
		       "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Version: 13\r\n"
		       "Via: 1.1 proxy.corp.example (squid/5.7)\r\n\r\n");
	assert_int_equal(t.j.hints, bit(HINT_UPGRADE_LOST) | bit(HINT_VIA));
	assert_false(judgement_has_hint(&t.j, HINT_NO_WEBSOCKET_CLIENT));
	/* not when the sample was cut: Upgrade may be beyond */
	judge_bytes(&t, "GET /ws HTTP/1.1\r\nSec-WebSocket-Key: " RFC_KEY "\r\nX", 62, false);
	assert_false(judgement_has_hint(&t.j, HINT_UPGRADE_LOST));
	assert_int_equal(t.j.rules, bit(RULE_TRUNCATED));
}

static void test_hint_health_check(void **state)
{
	static const char *const agents[] = {
		"ELB-HealthChecker/2.0", "kube-probe/1.29", "GoogleHC/1.0",
		"Consul Health Check",	 "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
	};
	char buf[256], text[512];
	struct judged t;

	for (size_t i = 0; i < sizeof(agents) / sizeof(agents[0]); i++) {
		snprintf(buf, sizeof(buf), "GET /ws HTTP/1.1\r\nHost: 10.0.0.5\r\nUser-Agent: %s\r\n\r\n",
			 agents[i]);
		judge_text(&t, buf);
		assert_int_equal(t.j.hints, bit(HINT_HEALTH_CHECK));
		hint_format(HINT_HEALTH_CHECK, &t.req, text, sizeof(text));
		assert_non_null(strstr(text, agents[i]));
		assert_non_null(strstr(text, "own path"));
	}
	/* names match in any case, at the start, the end or past 512 bytes */
	static const char *const spelled[] = { "KUBE-PROBE/1.29", "x kube-Probe", "Zabbix", "ZABBIX" };
	for (size_t i = 0; i < sizeof(spelled) / sizeof(spelled[0]); i++) {
		snprintf(buf, sizeof(buf), "GET /ws HTTP/1.1\r\nHost: h\r\nUser-Agent: %s\r\n\r\n",
			 spelled[i]);
		judge_text(&t, buf);
		assert_int_equal(t.j.hints, bit(HINT_HEALTH_CHECK));
	}
	for (size_t pad = 500; pad < 530; pad += 3) {
		char long_request[700];

		snprintf(long_request, sizeof(long_request),
			 "GET /ws HTTP/1.1\r\nHost: h\r\nUser-Agent: %*sGoogleHC/1.0\r\n\r\n", (int)pad, "x");
		judge_text(&t, long_request);
		assert_int_equal(t.j.hints, bit(HINT_HEALTH_CHECK));
		snprintf(long_request, sizeof(long_request),
			 "GET /ws HTTP/1.1\r\nHost: h\r\nUser-Agent: %*sGoogleH\r\n\r\n", (int)pad, "x");
		judge_text(&t, long_request);
		assert_int_equal(t.j.hints, bit(HINT_NO_WEBSOCKET_CLIENT));
	}
	judge_text(&t, "GET /ws HTTP/1.1\r\nHost: h\r\nUser-Agent: kube-prob\r\n\r\n");
	assert_int_equal(t.j.hints, bit(HINT_NO_WEBSOCKET_CLIENT));
	/* a probe that carries Sec-WebSocket-* is a WebSocket client */
	judge_text(&t, "GET /ws HTTP/1.1\r\nHost: h\r\nUser-Agent: kube-probe/1.29\r\n"
		       "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " RFC_KEY
		       "\r\nSec-WebSocket-Version: 13\r\n\r\n");
	assert_false(judgement_has_hint(&t.j, HINT_HEALTH_CHECK));
}

/* A later request on a persistent connection, after the CRLF some clients
 * send past a body: judged as the request it is (RFC 9112 2.2). */
static void test_leading_empty_line_on_a_later_request(void **state)
{
	char raw[512];
	struct judged plain, after_crlf;

	canonical(raw + 2, sizeof(raw) - 2, "GET", "HTTP/1.1", "");
	raw[0] = '\r';
	raw[1] = '\n';
	judge_text(&plain, raw + 2);
	http_parse_request((const uint8_t *)raw, strlen(raw), &after_crlf.req);
	judge_request(&after_crlf.j, STREAM_HTTP_REQUEST, &after_crlf.req, false);
	assert_int_equal(after_crlf.j.rules, plain.j.rules);
	assert_int_equal(after_crlf.j.hints, plain.j.hints);
	assert_int_equal(after_crlf.j.verdict, VERDICT_PENDING);
	assert_int_equal(after_crlf.req.head_len, strlen(raw));
}

static void test_hint_no_websocket_client(void **state)
{
	struct judged t;

	judge_text(&t, "GET /websocket HTTP/1.1\r\nHost: h\r\nUser-Agent: Mozilla/5.0 (compatible; "
		       "Googlebot/2.1)\r\nAccept: text/html\r\n\r\n");
	assert_int_equal(t.j.hints, bit(HINT_NO_WEBSOCKET_CLIENT));
	assert_int_equal(t.j.rules, bit(RULE_UPGRADE_MISSING) | bit(RULE_CONNECTION_NO_UPGRADE) |
					    bit(RULE_KEY_MISSING) | bit(RULE_VERSION_MISSING));
}

static void test_hint_forwarded_via_alb(void **state)
{
	struct judged t;
	char text[512];

	judge_text(&t, "GET /ws HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 203.0.113.7\r\n"
		       "X-Forwarded-Proto: https\r\nX-Forwarded-Port: 443\r\n"
		       "X-Amzn-Trace-Id: Root=1-65a1b2c3-0123456789abcdef01234567\r\n"
		       "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n");
	assert_true(judgement_has_hint(&t.j, HINT_FORWARDED));
	assert_true(judgement_has_hint(&t.j, HINT_AWS_ALB));
	assert_true(judgement_has_hint(&t.j, HINT_NGINX_STRIPPED) ||
		    judgement_has_hint(&t.j, HINT_UPGRADE_LOST));
	hint_evidence(HINT_FORWARDED, &t.req, text, sizeof(text));
	assert_string_equal(text, "X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Port");
	hint_evidence(HINT_AWS_ALB, &t.req, text, sizeof(text));
	assert_string_equal(text, "X-Amzn-Trace-Id: Root=1-65a1b2c3-0123456789abcdef01234567");

	judge_text(&t, "GET /ws HTTP/1.1\r\nHost: h\r\nForwarded: for=192.0.2.60;proto=http\r\n"
		       "Via: 1.1 vegur\r\n\r\n");
	assert_true(judgement_has_hint(&t.j, HINT_FORWARDED));
	assert_true(judgement_has_hint(&t.j, HINT_VIA));
	hint_evidence(HINT_FORWARDED, &t.req, text, sizeof(text));
	assert_string_equal(text, "Forwarded");
	hint_format(HINT_VIA, &t.req, text, sizeof(text));
	assert_non_null(strstr(text, "[Via: 1.1 vegur]"));
	/* on a good handshake they are just information */
	judge_text(&t, "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		       "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Version: 13\r\n"
		       "X-Real-IP: 1.2.3.4\r\n\r\n");
	assert_int_equal(t.j.rules, 0);
	assert_int_equal(t.j.hints, bit(HINT_FORWARDED));
}

static void test_hint_h2c_settings_only(void **state)
{
	struct judged t;

	judge_text(&t, "GET / HTTP/1.1\r\nHost: h\r\nHTTP2-Settings: AAMAAABk\r\n\r\n");
	assert_true(judgement_has_hint(&t.j, HINT_H2C_UPGRADE));
}

static void test_hint_evidence_bounds(void **state)
{
	struct judged t;
	char small[16], text[512];
	size_t n;

	judge_text(&t, "GET /ws HTTP/1.1\r\nHost: h\r\nVia: 1.1 a-very-long-proxy-name-"
		       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		       "xxxxxxxxxxxxxxxxxx-END\r\n\r\n");
	n = hint_format(HINT_VIA, &t.req, small, sizeof(small));
	assert_int_equal(n, sizeof(small) - 1);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	/* long values are shortened */
	hint_evidence(HINT_VIA, &t.req, text, sizeof(text));
	assert_null(strstr(text, "-END"));
	assert_int_equal(hint_evidence(HINT_VIA, NULL, text, sizeof(text)), 0);
	assert_string_equal(text, "");
	assert_int_equal(hint_evidence(HINT_UPGRADE_LOST, &t.req, text, sizeof(text)), 0);
	assert_int_equal(hint_format(HINT_VIA, &t.req, text, 0), 0);
}

/* ---- verdicts ------------------------------------------------------------ */

static void test_verdicts(void **state)
{
	struct judged t;

	judge_text(&t, chrome);
	judge_no_answer(&t.j, false);
	assert_int_equal(t.j.verdict, VERDICT_NO_RESPONSE);
	assert_string_equal(verdict_name(t.j.verdict), "no-response");
	judge_text(&t, chrome);
	judge_no_answer(&t.j, true);
	assert_string_equal(verdict_name(t.j.verdict), "closed");
	assert_int_equal(t.j.status, 0);

	judge_text(&t, chrome);
	answer_text(&t, "HTTP/1.1 403 Forbidden\r\n\r\n");
	assert_string_equal(verdict_name(t.j.verdict), "rejected");
	assert_int_equal(t.j.status, 403);

	/* an answer that is not HTTP */
	judge_text(&t, chrome);
	answer_text(&t, "\x15\x03\x03\x00\x02\x02\x46");
	assert_string_equal(verdict_name(t.j.verdict), "invalid");
	assert_int_equal(t.j.status, 0);
	judge_text(&t, chrome);
	judge_answer(&t.j, &t.req, NULL);
	assert_int_equal(t.j.verdict, VERDICT_INVALID);
	/* a status that is not three digits 100-599 is no status line */
	judge_text(&t, chrome);
	answer_text(&t, "HTTP/1.1 050 x\r\n\r\n");
	assert_int_equal(t.j.verdict, VERDICT_INVALID);
	assert_int_equal(t.j.status, 0);
	judge_text(&t, chrome);
	answer_text(&t, "HTTP/1.1 600 x\r\n\r\n");
	assert_int_equal(t.j.verdict, VERDICT_INVALID);
	judge_text(&t, chrome);
	answer_text(&t, "HTTP/1.1 599 x\r\n\r\n");
	assert_int_equal(t.j.verdict, VERDICT_REJECTED);
	assert_int_equal(t.j.status, 599);

	assert_string_equal(verdict_name(VERDICT_PENDING), "pending");
	assert_string_equal(verdict_name(VERDICT_UPGRADED), "upgraded");
	assert_string_equal(verdict_name(VERDICT_REJECTED), "rejected");
	assert_string_equal(verdict_name(VERDICT_INVALID), "invalid");
	assert_string_equal(verdict_name(VERDICT_NO_RESPONSE), "no-response");
	assert_string_equal(verdict_name(VERDICT_CLOSED), "closed");
	assert_string_equal(verdict_name(VERDICT_COUNT), "?");
}

static void test_lenient_upgrade_keeps_warnings(void **state)
{
	struct judged t;

	/* Spring does not check the key format and upgrades anyway */
	judge_text(&t, "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		       "Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n");
	answer_text(&t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			"Sec-WebSocket-Accept: 5mxwMKXNI9akKyJbT9Ot03A9YWg=\r\n\r\n");
	assert_int_equal(t.j.verdict, VERDICT_UPGRADED);
	assert_int_equal(t.j.rules, bit(RULE_KEY_MALFORMED));
}

/* ---- attempts ------------------------------------------------------------ */

static void test_is_attempt(void **state)
{
	struct path_set set;
	struct judged t;

	path_set_load_defaults(&set);
	judge_text(&t, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_true(ws_is_attempt(t.kind, &t.req, &set));
	assert_false(ws_is_attempt(t.kind, &t.req, NULL));
	judge_text(&t, "GET /index.html HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_false(ws_is_attempt(t.kind, &t.req, &set));
	judge_text(&t, "GET /anything HTTP/1.1\r\nupgrade: websocket\r\n\r\n");
	assert_true(ws_is_attempt(t.kind, &t.req, &set));
	judge_text(&t, "GET /anything HTTP/1.1\r\nSec-WebSocket-Key: x\r\n\r\n");
	assert_true(ws_is_attempt(t.kind, &t.req, NULL));
	judge_text(&t, "GET /anything HTTP/1.1\r\nSEC-WEBSOCKET-VERSION: 13\r\n\r\n");
	assert_true(ws_is_attempt(t.kind, &t.req, NULL));
	judge_text(&t, "GET /api/info HTTP/1.1\r\nSec-WebSocket-Protocol: chat\r\n\r\n");
	assert_false(ws_is_attempt(t.kind, &t.req, &set));

	assert_true(ws_is_attempt(STREAM_TLS, NULL, &set));
	assert_true(ws_is_attempt(STREAM_HTTP2_PREFACE, NULL, &set));
	assert_true(ws_is_attempt(STREAM_NOT_HTTP, NULL, &set));
	assert_false(ws_is_attempt(STREAM_NEED_MORE, NULL, &set));
	assert_false(ws_is_attempt(STREAM_HTTP_REQUEST, NULL, &set));
}

/* ---- tables -------------------------------------------------------------- */

static void test_rule_table(void **state)
{
	static const char *const ids[RULE_COUNT] = {
		"method-not-get",	 "http-version",      "host-missing",  "upgrade-missing",
		"upgrade-not-websocket", "connection-no-upgrade", "key-missing", "key-malformed",
		"version-missing",	 "version-not-13",    "http2-preface", "tls-on-plaintext",
		"not-http",		 "truncated",	      "accept-mismatch", "accept-missing",
	};

	for (int r = 0; r < RULE_COUNT; r++) {
		assert_string_equal(rule_id((enum ws_rule)r), ids[r]);
		assert_true(strlen(rule_words((enum ws_rule)r)) > 5);
		assert_true(strlen(rule_servers((enum ws_rule)r)) > 10);
	}
	assert_string_equal(rule_id(RULE_COUNT), "?");
	assert_string_equal(rule_words((enum ws_rule)-1), "?");
	assert_string_equal(rule_servers(RULE_COUNT), "?");
	assert_non_null(strstr(rule_servers(RULE_CONNECTION_NO_UPGRADE), "Upgrade/upgrade"));
	assert_non_null(strstr(rule_servers(RULE_METHOD_NOT_GET), "405"));
}

static void test_hint_table(void **state)
{
	static const char *const ids[HINT_COUNT] = {
		"proxy-http10", "http2-client", "connection-hardcoded", "nginx-stripped",
		"upgrade-lost", "health-check", "no-websocket-client",	"forwarded",
		"via",		"aws-alb",	"h2c-upgrade",		"connection-case",
	};

	for (int h = 0; h < HINT_COUNT; h++) {
		const char *text = hint_text((enum ws_hint)h);

		assert_string_equal(hint_id((enum ws_hint)h), ids[h]);
		assert_true(strlen(text) > 20);
		assert_null(strchr(text, '\n'));
	}
	assert_string_equal(hint_id(HINT_COUNT), "?");
	assert_string_equal(hint_text(HINT_COUNT), "?");
}

static void test_mask_iteration(void **state)
{
	struct judgement j = { .rules = bit(RULE_HOST_MISSING) | bit(RULE_TRUNCATED) | bit(31) };
	int seen[4], n = 0;

	for (int r = mask_next(j.rules, 0); r >= 0; r = mask_next(j.rules, r + 1))
		seen[n++] = r;
	assert_int_equal(n, 3);
	assert_int_equal(seen[0], RULE_HOST_MISSING);
	assert_int_equal(seen[1], RULE_TRUNCATED);
	assert_int_equal(seen[2], 31);
	assert_int_equal(mask_next(0, 0), -1);
	assert_int_equal(mask_next(1, 32), -1);
	assert_false(judgement_has_rule(&j, RULE_COUNT));
	assert_true(sizeof(struct judgement) <= 16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accept_rfc_sample),
		cmocka_unit_test(test_key_wellformed),
		cmocka_unit_test(test_key_alphabet_every_byte),
		cmocka_unit_test(test_chrome_upgraded),
		cmocka_unit_test(test_firefox_keepalive_upgrade),
		cmocka_unit_test(test_good_via_nginx),
		cmocka_unit_test(test_sample_nginx_http10),
		cmocka_unit_test(test_sample_http2_via_nginx),
		cmocka_unit_test(test_rule_method_not_get),
		cmocka_unit_test(test_rule_http_version),
		cmocka_unit_test(test_rule_host_missing),
		cmocka_unit_test(test_rule_upgrade_missing),
		cmocka_unit_test(test_rule_upgrade_not_websocket),
		cmocka_unit_test(test_rule_connection_no_upgrade),
		cmocka_unit_test(test_rule_key_missing_and_malformed),
		cmocka_unit_test(test_rule_version),
		cmocka_unit_test(test_rule_http2_preface),
		cmocka_unit_test(test_rule_tls_on_plaintext),
		cmocka_unit_test(test_rule_not_http),
		cmocka_unit_test(test_rule_truncated),
		cmocka_unit_test(test_rule_accept_mismatch_and_missing),
		cmocka_unit_test(test_hint_connection_hardcoded),
		cmocka_unit_test(test_hint_nginx_stripped),
		cmocka_unit_test(test_hint_upgrade_lost),
		cmocka_unit_test(test_hint_health_check),
		cmocka_unit_test(test_leading_empty_line_on_a_later_request),
		cmocka_unit_test(test_hint_no_websocket_client),
		cmocka_unit_test(test_hint_forwarded_via_alb),
		cmocka_unit_test(test_hint_h2c_settings_only),
		cmocka_unit_test(test_hint_evidence_bounds),
		cmocka_unit_test(test_verdicts),
		cmocka_unit_test(test_lenient_upgrade_keeps_warnings),
		cmocka_unit_test(test_is_attempt),
		cmocka_unit_test(test_rule_table),
		cmocka_unit_test(test_hint_table),
		cmocka_unit_test(test_mask_iteration),
	};

	return cmocka_run_group_tests_name("rules", tests, NULL, NULL);
}
