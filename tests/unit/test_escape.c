// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests for user/escape.c: terminal and JSON escaping, redaction. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "escape.h"

#define LIT(s) (const uint8_t *)(s), (sizeof(s) - 1)
#define CANARY "CANARY7f3a9"

/* ---- terminal ------------------------------------------------------------ */

static void assert_printable_ascii(const char *s)
{
	for (; *s; s++)
		assert_true((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f);
}

static void test_terminal_controls(void **state)
{
	char out[256];

	assert_true(escape_terminal(LIT("\x1b[2J\x1b]0;owned\x07"), out, sizeof(out)));
	assert_string_equal(out, "\\x1b[2J\\x1b]0;owned\\x07");
	assert_null(strchr(out, 0x1b));
	assert_true(escape_terminal(LIT("a\r\nb\tc\\d"), out, sizeof(out)));
	assert_string_equal(out, "a\\r\\nb\\tc\\\\d");
	assert_true(escape_terminal(LIT("x\0y"), out, sizeof(out)));
	assert_string_equal(out, "x\\x00y");
	/* DEL, C1 CSI (0x9b), invalid UTF-8, and valid UTF-8 too */
	assert_true(escape_terminal(LIT("\x7f\x9b" "31m\xff\xc3\xa9"), out, sizeof(out)));
	assert_string_equal(out, "\\x7f\\x9b31m\\xff\\xc3\\xa9");
	/* the bidi override U+202E never reaches the terminal */
	assert_true(escape_terminal(LIT("\xe2\x80\xae"), out, sizeof(out)));
	assert_string_equal(out, "\\xe2\\x80\\xae");
	assert_true(escape_terminal(LIT("GET /ws HTTP/1.1"), out, sizeof(out)));
	assert_string_equal(out, "GET /ws HTTP/1.1");
}

static void test_terminal_cap(void **state)
{
	char out[8];

	memset(out, 'Z', sizeof(out));
	assert_true(escape_terminal(LIT("1234567"), out, sizeof(out)));
	assert_string_equal(out, "1234567");
	assert_false(escape_terminal(LIT("12345678"), out, sizeof(out)));
	assert_string_equal(out, "1234567");
	/* never half an escape: "ab" fits, "\x1b" (4 chars) would not */
	assert_false(escape_terminal(LIT("abcd\x1b"), out, sizeof(out)));
	assert_string_equal(out, "abcd");
	assert_false(escape_terminal(LIT("\n\n\n\n"), out, sizeof(out)));
	assert_string_equal(out, "\\n\\n\\n");
	/* cap 0 writes nothing; cap 1 only the NUL */
	out[0] = 'Z';
	assert_false(escape_terminal(LIT("a"), out, 0));
	assert_int_equal(out[0], 'Z');
	assert_false(escape_terminal(LIT("a"), out, 1));
	assert_string_equal(out, "");
	assert_true(escape_terminal(NULL, 0, out, sizeof(out)));
	assert_string_equal(out, "");
}

/* ---- JSON ---------------------------------------------------------------- */

/* Valid UTF-8 with no raw control characters, and every '"' escaped. */
static void assert_json_safe(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		if (*p < 0x80) {
			assert_true(*p >= 0x20 && *p != 0x7f);
			if (*p == '\\') {
				assert_non_null(strchr("\"\\/bfnrtu", p[1]));
				p += 2;
				continue;
			}
			assert_int_not_equal(*p, '"');
			p++;
			continue;
		}
		size_t n = (*p >= 0xf0) ? 4 : (*p >= 0xe0) ? 3 : 2;

		assert_true(*p >= 0xc2 && *p <= 0xf4);
		for (size_t k = 1; k < n; k++)
			assert_int_equal(p[k] & 0xc0, 0x80);
		p += n;
	}
}

static void test_json_basics(void **state)
{
	char out[256];

	assert_true(escape_json(LIT("say \"hi\" \\ now"), out, sizeof(out)));
	assert_string_equal(out, "say \\\"hi\\\" \\\\ now");
	assert_true(escape_json(LIT("\r\n\t\b\f\x1b[31m\x01\x7f"), out, sizeof(out)));
	assert_string_equal(out, "\\r\\n\\t\\b\\f\\u001b[31m\\u0001\\u007f");
	assert_true(escape_json(LIT("a\0b"), out, sizeof(out)));
	assert_string_equal(out, "a\\u0000b");
	/* valid UTF-8 kept */
	assert_true(escape_json(LIT("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), out, sizeof(out)));
	assert_string_equal(out, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	/* JavaScript line breaks and C1 controls escaped */
	assert_true(escape_json(LIT("\xe2\x80\xa8\xe2\x80\xa9\xc2\x85\xc2\x9b"), out, sizeof(out)));
	assert_string_equal(out, "\\u2028\\u2029\\u0085\\u009b");
	assert_json_safe(out);
}

static void test_json_invalid_utf8(void **state)
{
	char out[256];

	assert_true(escape_json(LIT("\xff\xfe"), out, sizeof(out)));
	assert_string_equal(out, "\\u00ff\\u00fe");
	/* overlong '/', surrogate, above U+10FFFF, lone continuation, cut sequence */
	assert_true(escape_json(LIT("\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\x80|\xe2\x82"), out,
				sizeof(out)));
	assert_string_equal(out, "\\u00c0\\u00af|\\u00ed\\u00a0\\u0080|\\u00f4\\u0090\\u0080\\u0080|"
				 "\\u0080|\\u00e2\\u0082");
	assert_json_safe(out);
}

static void test_json_cap(void **state)
{
	char out[10];

	assert_false(escape_json(LIT("abc\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"), out, sizeof(out)));
	assert_string_equal(out, "abc\xe2\x82\xac\xe2\x82\xac"); /* never half a character */
	assert_false(escape_json(LIT("abcdef\n"), out, 8));
	assert_string_equal(out, "abcdef");
	assert_false(escape_json(LIT("x"), out, 0));
}

static uint32_t next_random(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void test_random_bytes_stay_safe(void **state)
{
	uint32_t seed = 0x2545f491;
	uint8_t in[200];
	char out[sizeof(in) * ESCAPE_JSON_MAX_PER_BYTE + 1];
	static const uint8_t worst[] = { 0x1b, 0xff, 0xc2, 0x85, 0xe2, 0x80, 0xa8, 0x00 };

	/* the documented worst case fits exactly */
	assert_true(escape_terminal(worst, sizeof(worst), out,
				    sizeof(worst) * ESCAPE_TERMINAL_MAX_PER_BYTE + 1));
	assert_int_equal(strlen(out), sizeof(worst) * ESCAPE_TERMINAL_MAX_PER_BYTE);
	assert_true(escape_json(worst, 2, out, 2 * ESCAPE_JSON_MAX_PER_BYTE + 1));
	assert_int_equal(strlen(out), 2 * ESCAPE_JSON_MAX_PER_BYTE);
	for (int round = 0; round < 2000; round++) {
		size_t cap;

		size_t len = next_random(&seed) % sizeof(in);

		for (size_t i = 0; i < len; i++)
			in[i] = (uint8_t)next_random(&seed);
		assert_true(escape_terminal(in, len, out, len * ESCAPE_TERMINAL_MAX_PER_BYTE + 1));
		assert_printable_ascii(out);
		assert_true(escape_json(in, len, out, len * ESCAPE_JSON_MAX_PER_BYTE + 1));
		assert_json_safe(out);
		/* a cut output is just as safe */
		cap = next_random(&seed) % 40;
		escape_json(in, len, out, cap + 1);
		assert_true(strlen(out) <= cap);
		assert_json_safe(out);
	}
}

/* Bytes of the piece that starts at out[k]: an escape, a UTF-8 sequence kept
 * whole (JSON), or one byte. */
static size_t piece_len(const char *out, size_t k, bool json)
{
	uint8_t c = (uint8_t)out[k];

	if (c == '\\')
		return out[k + 1] == 'x' ? 4 : out[k + 1] == 'u' ? 6 : 2;
	if (!json || c < 0x80)
		return 1;
	return c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
}

/* A cut output is the longest run of whole pieces of the full one that fits. */
static void test_cut_is_longest_whole_prefix(void **state)
{
	uint32_t seed = 0x9e3779b9;
	uint8_t in[64];
	char full[sizeof(in) * ESCAPE_JSON_MAX_PER_BYTE + 1], out[sizeof(full)];

	(void)state;
	for (int round = 0; round < 300; round++) {
		size_t len = next_random(&seed) % sizeof(in);

		/* mostly plain text, with escapes and UTF-8 among it */
		for (size_t i = 0; i < len; i++) {
			uint32_t r = next_random(&seed);

			in[i] = (uint8_t)(r % 4 ? 'a' + r % 26 : r >> 8);
		}
		for (int json = 0; json < 2; json++) {
			size_t full_len;

			if (json)
				assert_true(escape_json(in, len, full, sizeof(full)));
			else
				assert_true(escape_terminal(in, len, full, sizeof(full)));
			full_len = strlen(full);
			for (size_t cap = 1; cap <= full_len + 1; cap++) {
				bool all = json ? escape_json(in, len, out, cap) : escape_terminal(in, len, out, cap);
				size_t n = strlen(out);

				assert_true(n < cap);
				assert_memory_equal(out, full, n);
				assert_int_equal(all, n == full_len);
				if (!all)
					assert_true(cap - 1 - n < piece_len(full, n, json));
			}
		}
	}
}

/* ---- redaction ----------------------------------------------------------- */

static struct redact_result redact(const char *name, const char *value, uint8_t *out, size_t cap)
{
	return redact_header_value(byte_slice_from_cstr(name), byte_slice_from_cstr(value), out, cap);
}

static void test_redact_authorization(void **state)
{
	uint8_t out[128];
	struct redact_result r;

	r = redact("Authorization", "Bearer " CANARY ".payload.sig", out, sizeof(out));
	assert_string_equal((char *)out, "Bearer <redacted>");
	assert_true(r.redacted);
	assert_false(r.cut);
	assert_int_equal(r.len, strlen("Bearer <redacted>"));
	redact("authorization", "Basic " CANARY "==", out, sizeof(out));
	assert_string_equal((char *)out, "Basic <redacted>");
	redact("PROXY-AUTHORIZATION", "Negotiate " CANARY, out, sizeof(out));
	assert_string_equal((char *)out, "Negotiate <redacted>");
	/* a bare credential without a scheme */
	redact("Authorization", CANARY, out, sizeof(out));
	assert_string_equal((char *)out, "<redacted>");
	r = redact("Authorization", "", out, sizeof(out));
	assert_string_equal((char *)out, "");
	assert_false(r.redacted);
}

static void test_redact_cookies(void **state)
{
	uint8_t out[256];

	redact("Cookie", "JSESSIONID=" CANARY "; AWSALB=" CANARY "; theme=dark", out, sizeof(out));
	assert_string_equal((char *)out, "JSESSIONID=<redacted>; AWSALB=<redacted>; theme=<redacted>");
	redact("cookie", CANARY, out, sizeof(out));
	assert_string_equal((char *)out, "<redacted>");
	redact("Set-Cookie", "SESSION=" CANARY "; Path=/; Secure; HttpOnly; SameSite=Lax", out,
	       sizeof(out));
	assert_string_equal((char *)out, "SESSION=<redacted>; Path=/; Secure; HttpOnly; SameSite=Lax");
	/* a Set-Cookie whose cookie is named like an attribute is still a cookie */
	redact("Set-Cookie", "path=" CANARY "; Domain=example.com; Max-Age=5", out, sizeof(out));
	assert_string_equal((char *)out, "path=<redacted>; Domain=example.com; Max-Age=5");
}

static void test_redact_key_and_named_secrets(void **state)
{
	static const char *const names[] = {
		"Sec-WebSocket-Key", "X-Api-Key",   "X-Auth-Token", "X-Amz-Security-Token",
		"X-CSRF-Token",	     "X-Client-Secret", "X-Password",
	};
	uint8_t out[128];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct redact_result r = redact(names[i], CANARY, out, sizeof(out));

		assert_string_equal((char *)out, "<redacted>");
		assert_true(r.redacted);
		assert_true(redact_header_is_sensitive(byte_slice_from_cstr(names[i])));
	}
	/* ordinary headers pass untouched */
	assert_false(redact("User-Agent", "curl/7.88.1", out, sizeof(out)).redacted);
	assert_string_equal((char *)out, "curl/7.88.1");
	assert_false(redact("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", out, sizeof(out))
			     .redacted);
	assert_false(redact_header_is_sensitive(byte_slice_from_cstr("Host")));
	assert_false(redact_header_is_sensitive(byte_slice_from_cstr("Sec-WebSocket-Version")));
	assert_true(redact_header_is_sensitive(byte_slice_from_cstr("cookie")));
}

static void test_redact_subprotocols(void **state)
{
	static const char jwt[] = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
				  "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
	static const char *const ordinary[] = {
		"v12.stomp", "v11.stomp", "graphql-transport-ws", "graphql-ws", "chat",
		"wamp.2.json", "mqtt", "actioncable-v1-json", "mqtt-over-websocket-3.1.1", "xmpp",
	};
	uint8_t out[512];
	char value[256];
	struct redact_result r;

	for (size_t i = 0; i < sizeof(ordinary) / sizeof(ordinary[0]); i++) {
		r = redact("Sec-WebSocket-Protocol", ordinary[i], out, sizeof(out));
		assert_false(r.redacted);
		assert_string_equal((char *)out, ordinary[i]);
	}
	snprintf(value, sizeof(value), "v12.stomp, %s, graphql-ws", jwt);
	r = redact("Sec-WebSocket-Protocol", value, out, sizeof(out));
	assert_true(r.redacted);
	assert_string_equal((char *)out, "v12.stomp, <redacted>, graphql-ws");
	/* long random tokens, hex secrets, Kubernetes' bearer subprotocol */
	redact("Sec-WebSocket-Protocol", "access_token, Zk9xR2a7LmQw3Tz8Yp1NcVb5", out, sizeof(out));
	assert_string_equal((char *)out, "access_token, <redacted>");
	redact("Sec-WebSocket-Protocol", "0123456789abcdef0123456789abcdef", out, sizeof(out));
	assert_string_equal((char *)out, "<redacted>");
	snprintf(value, sizeof(value), "base64url.bearer.authorization.k8s.io.%s", jwt);
	redact("Sec-WebSocket-Protocol", value, out, sizeof(out));
	assert_string_equal((char *)out, "<redacted>");
	assert_true(redact_token_looks_secret(byte_slice_from_cstr(jwt)));
	assert_false(redact_token_looks_secret(byte_slice_from_cstr("v10.stomp")));
}

static struct redact_result target(const char *t, uint8_t *out, size_t cap)
{
	return redact_target(byte_slice_from_cstr(t), out, cap);
}

static void test_redact_target(void **state)
{
	uint8_t out[256];
	struct redact_result r;

	r = target("/ws?token=" CANARY "&room=5", out, sizeof(out));
	assert_string_equal((char *)out, "/ws?token=<redacted>&room=5");
	assert_true(r.redacted);
	target("/ws?access_token=" CANARY "&API_KEY=" CANARY "&client_secret=" CANARY, out,
	       sizeof(out));
	assert_string_equal((char *)out,
			    "/ws?access_token=<redacted>&API_KEY=<redacted>&client_secret=<redacted>");
	target("/ws?password=" CANARY "&passwd=" CANARY "&Auth=" CANARY "&sig=" CANARY, out,
	       sizeof(out));
	assert_null(strstr((char *)out, CANARY));
	target("/ws?X-Amz-Signature=" CANARY "&JSESSIONID=" CANARY "&session_id=" CANARY, out,
	       sizeof(out));
	assert_null(strstr((char *)out, CANARY));
	target("/socket.io/?EIO=4&transport=websocket&sid=" CANARY, out, sizeof(out));
	assert_string_equal((char *)out, "/socket.io/?EIO=4&transport=websocket&sid=<redacted>");
	/* no query, flags, empty values, repeated separators */
	r = target("/ws/chat", out, sizeof(out));
	assert_false(r.redacted);
	assert_string_equal((char *)out, "/ws/chat");
	target("/ws?debug&token=&&x==y", out, sizeof(out));
	assert_string_equal((char *)out, "/ws?debug&token=<redacted>&&x==y");
	/* fragment and userinfo */
	target("/cb#access_token=" CANARY "&state=9", out, sizeof(out));
	assert_string_equal((char *)out, "/cb#access_token=<redacted>&state=9");
	target("http://user:" CANARY "@example.com/ws?room=1", out, sizeof(out));
	assert_string_equal((char *)out, "http://<redacted>@example.com/ws?room=1");
	target("http://example.com/ws?next=http://a:b@c", out, sizeof(out));
	assert_string_equal((char *)out, "http://example.com/ws?next=http://a:b@c");
	/* path parameters: the servlet session id, others kept, then the query */
	r = target("/app/ws;jsessionid=" CANARY "?room=1", out, sizeof(out));
	assert_string_equal((char *)out, "/app/ws;jsessionid=<redacted>?room=1");
	assert_true(r.redacted);
	target("/a;v=2;token=" CANARY ";x/b;JSESSIONID=" CANARY "/c;", out, sizeof(out));
	assert_string_equal((char *)out, "/a;v=2;token=<redacted>;x/b;JSESSIONID=<redacted>/c;");
	r = target("/a;b=c;d/e", out, sizeof(out));
	assert_false(r.redacted);
	assert_string_equal((char *)out, "/a;b=c;d/e");
}

static void test_redact_cut_never_leaks(void **state)
{
	uint8_t out[64];

	for (size_t cap = 0; cap < sizeof(out); cap++) {
		struct redact_result r = target("/ws?room=5&token=" CANARY "&x=1", out, cap);

		if (cap)
			assert_int_equal(strlen((char *)out), r.len);
		assert_true(r.len < cap || cap == 0);
		assert_true(cap == 0 || !memmem(out, r.len, CANARY, strlen(CANARY)));
		r = redact("Cookie", "a=" CANARY "; b=" CANARY, out, cap);
		assert_true(cap == 0 || !memmem(out, r.len, CANARY, strlen(CANARY)));
		r = redact("Authorization", "Bearer " CANARY, out, cap);
		assert_true(cap == 0 || !memmem(out, r.len, CANARY, strlen(CANARY)));
		if (cap < 18)
			assert_true(r.cut);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_terminal_controls),
		cmocka_unit_test(test_terminal_cap),
		cmocka_unit_test(test_json_basics),
		cmocka_unit_test(test_json_invalid_utf8),
		cmocka_unit_test(test_json_cap),
		cmocka_unit_test(test_random_bytes_stay_safe),
		cmocka_unit_test(test_cut_is_longest_whole_prefix),
		cmocka_unit_test(test_redact_authorization),
		cmocka_unit_test(test_redact_cookies),
		cmocka_unit_test(test_redact_key_and_named_secrets),
		cmocka_unit_test(test_redact_subprotocols),
		cmocka_unit_test(test_redact_target),
		cmocka_unit_test(test_redact_cut_never_leaks),
	};

	return cmocka_run_group_tests_name("escape", tests, NULL, NULL);
}
