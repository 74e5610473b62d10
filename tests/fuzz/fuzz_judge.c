// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_judge.c - libFuzzer target over the parser, the judge and the output
 * escaping and redaction: everything wssnoop does to one request/answer pair.
 *
 * Input: two bytes of knobs, then the request head, then optionally
 * FUZZ_ANSWER_SEP and the answer head. Knob byte 0: bit 0 the "truncated"
 * argument of judge_request, bits 1-7 and byte 1 seed the output caps tried.
 *
 * Besides memory errors (ASan) and undefined behaviour (UBSan), it checks what
 * the headers promise: slices stay inside the buffer, a cut sample claims no
 * header missing, the verdict follows the answer, escapers write only
 * printable ASCII (terminal) or valid UTF-8 JSON without raw controls, are
 * NUL-terminated within any cap and cut only between whole escapes, and
 * redaction never lets out a canary planted where a secret goes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "fuzz_check.h"
#include "http_head.h"
#include "path_glob.h"
#include "rules.h"
#include "wsaccept.h"

#define FUZZ_ANSWER_SEP "\n--answer--\n"

/* The planted secret: '~' is stripped from the fuzzer's bytes around it, so any
 * '~' in a redactor's output is a piece of the canary. Longer than 64 bytes so
 * that it is a secret-looking Sec-WebSocket-Protocol entry by length alone. */
#define CANARY	  "~CANARY~4c4e4152~59~73~65~63~72~65~74~CANARY~4c4e4152~59~73~65~63~72~65~74~"
#define PLANT_MAX 256 /* fuzzer bytes used on each side of a canary */

static struct path_set default_paths;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	path_set_load_defaults(&default_paths);
	return 0;
}

/* ---- output caps ------------------------------------------------------- */

struct caps {
	uint32_t seed;
};

/* Next cap to try for an output whose uncut size is full: tiny caps, caps
 * around full, and caps in between, chosen by the input's knob bytes. */
static size_t next_cap(struct caps *c, size_t full)
{
	static const size_t tiny[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16, 17, 31};
	size_t pick;

	c->seed = c->seed * 1103515245u + 12345u;
	pick = (c->seed >> 16) % 8;
	switch (pick) {
	case 0:
	case 1:
	case 2: return tiny[(c->seed >> 8) % (sizeof(tiny) / sizeof(tiny[0]))];
	case 3: return full ? full - 1 : 0;
	case 4: return full + 1;
	default: return full ? (c->seed >> 4) % (full + 1) : 0;
	}
}

/* A buffer of exactly cap bytes on the heap, so that ASan sees one byte too far. */
static char *exact_buf(size_t cap)
{
	char *p = malloc(cap); /* cap 0: a zero-byte block, any write is caught */

	if (!p && cap)
		abort();
	return p;
}

/* ---- escaping ---------------------------------------------------------- */

/* Length of the escape unit at out[i] of terminal-escaped text, or 0 if malformed. */
static size_t terminal_unit(const char *out, size_t len, size_t i, uint8_t *decoded)
{
	uint8_t c = (uint8_t)out[i];

	if (c < 0x20 || c > 0x7e)
		return 0;
	if (c != '\\') {
		*decoded = c;
		return 1;
	}
	if (i + 1 >= len)
		return 0;
	switch (out[i + 1]) {
	case '\\': *decoded = '\\'; return 2;
	case 'r': *decoded = '\r'; return 2;
	case 'n': *decoded = '\n'; return 2;
	case 't': *decoded = '\t'; return 2;
	case 'x': {
		static const char hex[] = "0123456789abcdef";
		const char *hi, *lo;

		if (i + 3 >= len)
			return 0;
		hi = out[i + 2] ? strchr(hex, out[i + 2]) : NULL;
		lo = out[i + 3] ? strchr(hex, out[i + 3]) : NULL;
		if (!hi || !lo)
			return 0;
		*decoded = (uint8_t)(((hi - hex) << 4) | (lo - hex));
		/* Only what cannot be printed as itself is written \xNN. */
		if (*decoded >= 0x20 && *decoded < 0x7f)
			return 0;
		return 4;
	}
	}
	return 0;
}

static void check_escape_terminal(const uint8_t *in, size_t len, struct caps *caps)
{
	size_t full_cap = len * ESCAPE_TERMINAL_MAX_PER_BYTE + 1;
	char *full = exact_buf(full_cap);
	size_t full_len, pos = 0, n_in = 0;
	bool ok = escape_terminal(in, len, full, full_cap);

	FUZZ_CHECK(ok, "terminal escape cut with the documented worst-case cap %zu", full_cap);
	full_len = strnlen(full, full_cap);
	FUZZ_CHECK(full_len < full_cap, "terminal escape not NUL-terminated");
	/* Decode: every byte printable ASCII, every escape whole, input restored. */
	while (pos < full_len) {
		uint8_t b;
		size_t u = terminal_unit(full, full_len, pos, &b);

		FUZZ_CHECK(u != 0, "malformed terminal escape at %zu: 0x%02x", pos, (unsigned)(uint8_t)full[pos]);
		FUZZ_CHECK(n_in < len && b == in[n_in], "terminal escape does not decode to input at %zu", n_in);
		pos += u;
		n_in++;
	}
	FUZZ_CHECK(n_in == len, "terminal escape lost input bytes (%zu of %zu)", n_in, len);

	for (int round = 0; round < 2; round++) {
		size_t cap = next_cap(caps, full_len + 1);
		char *out = exact_buf(cap);
		bool fit = escape_terminal(in, len, out, cap);
		size_t out_len;

		if (cap == 0) {
			FUZZ_CHECK(!fit || len == 0, "cap 0 claimed to fit %zu bytes", len);
			free(out);
			continue;
		}
		out_len = strnlen(out, cap);
		FUZZ_CHECK(out_len < cap, "terminal escape not NUL-terminated within cap %zu", cap);
		FUZZ_CHECK(memcmp(out, full, out_len) == 0, "cut terminal output is not a prefix");
		FUZZ_CHECK(fit == (out_len == full_len), "fit=%d but %zu of %zu bytes written", fit, out_len, full_len);
		if (!fit) {
			/* Cut between escapes, and only when the next one would not fit. */
			uint8_t b;
			size_t at = 0, u = 0;

			while (at < out_len) {
				u = terminal_unit(full, full_len, at, &b);
				at += u;
			}
			FUZZ_CHECK(at == out_len, "terminal output cut inside an escape (cap %zu)", cap);
			u = terminal_unit(full, full_len, at, &b);
			FUZZ_CHECK(out_len + u + 1 > cap, "terminal output cut early (cap %zu, len %zu)", cap, out_len);
		}
		free(out);
	}
	free(full);
}

/* Length of the unit at out[i] of JSON-escaped text, and the code point it
 * stands for; 0 if malformed or if it is a character that must be escaped. */
static size_t json_unit(const char *out, size_t len, size_t i, uint32_t *cp)
{
	uint8_t c = (uint8_t)out[i];
	size_t n;

	if (c == '\\') {
		if (i + 1 >= len)
			return 0;
		switch (out[i + 1]) {
		case '"': *cp = '"'; return 2;
		case '\\': *cp = '\\'; return 2;
		case 'n': *cp = '\n'; return 2;
		case 'r': *cp = '\r'; return 2;
		case 't': *cp = '\t'; return 2;
		case 'b': *cp = '\b'; return 2;
		case 'f': *cp = '\f'; return 2;
		case 'u': {
			uint32_t v = 0;

			if (i + 5 >= len)
				return 0;
			for (int k = 2; k < 6; k++) {
				char h = out[i + k];

				if (h >= '0' && h <= '9')
					v = (v << 4) | (uint32_t)(h - '0');
				else if (h >= 'a' && h <= 'f')
					v = (v << 4) | (uint32_t)(h - 'a' + 10);
				else
					return 0;
			}
			*cp = v;
			return 6;
		}
		}
		return 0;
	}
	/* Raw: never a control (C0, DEL, C1), quote, or a JavaScript line break. */
	if (c < 0x20 || c == 0x7f || c == '"')
		return 0;
	n = fuzz_utf8_decode((const uint8_t *)out + i, len - i, cp);
	if (n == 0 || (*cp >= 0x80 && *cp <= 0x9f) || *cp == 0x2028 || *cp == 0x2029)
		return 0;
	return n;
}

static void check_escape_json(const uint8_t *in, size_t len, struct caps *caps)
{
	size_t full_cap = len * ESCAPE_JSON_MAX_PER_BYTE + 1;
	char *full = exact_buf(full_cap);
	char *quoted;
	size_t full_len, pos = 0, i = 0;
	bool ok = escape_json(in, len, full, full_cap);

	FUZZ_CHECK(ok, "JSON escape cut with the documented worst-case cap %zu", full_cap);
	full_len = strnlen(full, full_cap);
	FUZZ_CHECK(full_len < full_cap, "JSON escape not NUL-terminated");
	FUZZ_CHECK(fuzz_utf8_valid((const uint8_t *)full, full_len), "JSON escape is not UTF-8");
	quoted = exact_buf(full_len + 2);
	quoted[0] = '"';
	memcpy(quoted + 1, full, full_len);
	quoted[full_len + 1] = '"';
	FUZZ_CHECK(fuzz_json_valid(quoted, full_len + 2), "JSON escape is not a JSON string body");
	free(quoted);

	/* Decode and compare with the input read independently: valid UTF-8
	 * sequences as their code points, any other byte as its Latin-1 one. */
	while (pos < full_len) {
		uint32_t got, want;
		size_t u = json_unit(full, full_len, pos, &got);
		size_t n;

		FUZZ_CHECK(u != 0, "bad JSON escape unit at %zu: 0x%02x", pos, (unsigned)(uint8_t)full[pos]);
		FUZZ_CHECK(i < len, "JSON escape longer than its input");
		n = fuzz_utf8_decode(in + i, len - i, &want);
		if (n == 0) {
			want = in[i];
			n = 1;
		}
		FUZZ_CHECK(got == want, "JSON escape decodes to U+%04x, input has U+%04x at %zu", got, want, i);
		pos += u;
		i += n;
	}
	FUZZ_CHECK(i == len, "JSON escape lost input bytes (%zu of %zu)", i, len);

	for (int round = 0; round < 2; round++) {
		size_t cap = next_cap(caps, full_len + 1);
		char *out = exact_buf(cap);
		bool fit = escape_json(in, len, out, cap);
		size_t out_len;

		if (cap == 0) {
			FUZZ_CHECK(!fit || len == 0, "cap 0 claimed to fit %zu bytes", len);
			free(out);
			continue;
		}
		out_len = strnlen(out, cap);
		FUZZ_CHECK(out_len < cap, "JSON escape not NUL-terminated within cap %zu", cap);
		FUZZ_CHECK(memcmp(out, full, out_len) == 0, "cut JSON output is not a prefix");
		FUZZ_CHECK(fit == (out_len == full_len), "fit=%d but %zu of %zu bytes written", fit, out_len, full_len);
		if (!fit) {
			uint32_t cp;
			size_t at = 0, u = 0;

			while (at < out_len) {
				u = json_unit(full, full_len, at, &cp);
				at += u;
			}
			FUZZ_CHECK(at == out_len, "JSON output cut inside an escape (cap %zu)", cap);
			u = json_unit(full, full_len, at, &cp);
			FUZZ_CHECK(out_len + u + 1 > cap, "JSON output cut early (cap %zu, len %zu)", cap, out_len);
		}
		free(out);
	}
	free(full);
}

static void check_escapes(const uint8_t *in, size_t len, struct caps *caps)
{
	check_escape_terminal(in, len, caps);
	check_escape_json(in, len, caps);
}

/* ---- redaction --------------------------------------------------------- */

/* Worst case of a redactor's output: each 1-byte item may become "=<redacted>; ". */
static size_t redact_full_cap(size_t len)
{
	return (len + 1) * (sizeof(REDACTED) + 4) + 1;
}

typedef struct redact_result (*redactor_fn)(struct byte_slice name, struct byte_slice value, uint8_t *out, size_t cap);

static struct redact_result redact_target_as_header(struct byte_slice name, struct byte_slice value, uint8_t *out,
						    size_t cap)
{
	(void)name;
	return redact_target(value, out, cap);
}

/* Run a redactor with the full cap and some others; check the result shape
 * and that cut outputs are prefixes (and, planted, hold no canary piece).
 * Returns the full output (caller frees). */
static uint8_t *check_redactor(redactor_fn fn, struct byte_slice name, struct byte_slice value, bool planted,
			       struct caps *caps, struct redact_result *full_rr)
{
	size_t full_cap = redact_full_cap(value.len);
	uint8_t *full = (uint8_t *)exact_buf(full_cap);
	struct redact_result rr = fn(name, value, full, full_cap);

	FUZZ_CHECK(!rr.cut, "redaction cut with cap %zu for %zu bytes", full_cap, value.len);
	FUZZ_CHECK(rr.len < full_cap && full[rr.len] == 0, "redaction not NUL-terminated");
	*full_rr = rr;

	for (int round = 0; round < 2; round++) {
		size_t cap = next_cap(caps, rr.len + 1);
		uint8_t *out = (uint8_t *)exact_buf(cap);
		struct redact_result small = fn(name, value, out, cap);

		if (cap) {
			FUZZ_CHECK(small.len < cap && out[small.len] == 0,
				   "redaction not NUL-terminated within cap %zu", cap);
			FUZZ_CHECK(memcmp(out, full, small.len) == 0, "cut redaction is not a prefix");
		}
		FUZZ_CHECK(small.len <= rr.len, "smaller cap wrote more");
		FUZZ_CHECK(small.cut == (small.len < rr.len) || (small.cut && cap == 0),
			   "cut=%d with %zu of %zu bytes (cap %zu)", small.cut, small.len, rr.len, cap);
		FUZZ_CHECK(!planted || !fuzz_contains(out, cap ? small.len : 0, "~"), "canary piece in cut output");
		free(out);
	}
	return full;
}

/* Copy up to PLANT_MAX of the fuzzer's bytes, without '~' and without any byte in drop. */
static size_t plant_bytes(uint8_t *dst, const uint8_t *src, size_t len, const char *drop)
{
	size_t n = 0;

	for (size_t i = 0; i < len && n < PLANT_MAX; i++)
		if (src[i] != '~' && !(src[i] && strchr(drop, src[i])))
			dst[n++] = src[i];
	return n;
}

enum plant_shape {
	PLANT_WHOLE,	  /* a header whose whole value is secret: canary anywhere */
	PLANT_AUTH,	  /* credentials after an auth scheme */
	PLANT_COOKIE,	  /* a cookie value */
	PLANT_SET_COOKIE, /* the cookie of a Set-Cookie (first item) */
	PLANT_PROTOCOL,	  /* a token-like subprotocol entry */
	PLANT_QUERY,	  /* a secret query parameter of a target */
	PLANT_USERINFO,	  /* userinfo of an absolute-form target */
};

static void check_plant(enum plant_shape shape, struct byte_slice name, const uint8_t *pre, size_t pre_len,
			const uint8_t *post, size_t post_len, struct caps *caps)
{
	static const char scheme_drop[] = " \t\r\n";
	uint8_t buf[4 * PLANT_MAX + sizeof(CANARY) + 64];
	size_t n = 0;
	struct redact_result rr;
	uint8_t *full;

	switch (shape) {
	case PLANT_AUTH: {
		size_t s = plant_bytes(buf, pre, pre_len < 16 ? pre_len : 16, scheme_drop);

		if (s == 0) {
			memcpy(buf, "Bearer", 6);
			s = 6;
		}
		n = s;
		buf[n++] = ' ';
		n += plant_bytes(buf + n, pre, pre_len, "");
		break;
	}
	case PLANT_COOKIE:
		n = plant_bytes(buf, pre, pre_len, "");
		buf[n++] = '=';
		break;
	case PLANT_SET_COOKIE:
		n = plant_bytes(buf, pre, pre_len, ";");
		buf[n++] = '=';
		break;
	case PLANT_QUERY:
		n = plant_bytes(buf, pre, pre_len, "");
		memcpy(buf + n, "?&token=", 8);
		n += 8;
		break;
	case PLANT_USERINFO:
		memcpy(buf, "http://", 7);
		n = 7 + plant_bytes(buf + 7, pre, pre_len, "/?#@");
		buf[n++] = ':';
		break;
	case PLANT_WHOLE:
	case PLANT_PROTOCOL: n = plant_bytes(buf, pre, pre_len, shape == PLANT_PROTOCOL ? "," : ""); break;
	}
	memcpy(buf + n, CANARY, sizeof(CANARY) - 1);
	n += sizeof(CANARY) - 1;
	if (shape == PLANT_USERINFO) {
		memcpy(buf + n, "@host/", 6);
		n += 6;
	}
	n += plant_bytes(buf + n, post, post_len, shape == PLANT_PROTOCOL ? "," : "");

	full = check_redactor(shape == PLANT_QUERY || shape == PLANT_USERINFO ? redact_target_as_header
									      : redact_header_value,
			      name, (struct byte_slice){buf, n}, true, caps, &rr);
	FUZZ_CHECK(!fuzz_contains(full, rr.len, "~"), "redaction let the canary out (%.*s): %.*s", (int)name.len,
		   (const char *)name.ptr, (int)rr.len, (const char *)full);
	FUZZ_CHECK(rr.redacted, "a planted secret was not reported redacted (%.*s)", (int)name.len,
		   (const char *)name.ptr);
	free(full);
}

static bool name_is_special(struct byte_slice name)
{
	static const char *const special[] = {"authorization", "proxy-authorization",	 "cookie",
					      "set-cookie",    "sec-websocket-protocol", NULL};

	for (const char *const *s = special; *s; s++)
		if (byte_slice_eq_nocase(name, *s))
			return true;
	return false;
}

static void check_plants(const struct http_head *req, const uint8_t *raw, size_t raw_len, struct caps *caps)
{
	size_t half = raw_len / 2;
	const uint8_t *pre = raw, *post = raw + half;
	static const struct {
		const char *name;
		enum plant_shape shape;
	} fixed[] = {
	    {"Authorization", PLANT_AUTH},
	    {"proxy-authorization", PLANT_AUTH},
	    {"Cookie", PLANT_COOKIE},
	    {"Set-Cookie", PLANT_SET_COOKIE},
	    {"Sec-WebSocket-Key", PLANT_WHOLE},
	    {"X-Auth-Token", PLANT_WHOLE},
	    {"X-Api-Key", PLANT_WHOLE},
	    {"X-Amz-Security-Token", PLANT_WHOLE},
	    {"Sec-WebSocket-Protocol", PLANT_PROTOCOL},
	    {"", PLANT_QUERY},
	    {"", PLANT_USERINFO},
	};

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		check_plant(fixed[i].shape, byte_slice_from_cstr(fixed[i].name), pre, half, post, raw_len - half, caps);

	/* Names from the input that the redactor calls sensitive and that are
	 * not one of the special shapes: their whole value is secret. */
	for (uint32_t i = 0; i < req->header_count && i < 8; i++) {
		struct byte_slice name = req->headers[i].name;

		if (redact_header_is_sensitive(name) && !name_is_special(name))
			check_plant(PLANT_WHOLE, name, req->headers[i].value.ptr, req->headers[i].value.len, pre, half,
				    caps);
	}
}

/* ---- parsing ----------------------------------------------------------- */

static void check_slice(struct byte_slice s, const uint8_t *buf, size_t len, const char *what)
{
	if (s.len == 0)
		return;
	FUZZ_CHECK(s.ptr >= buf && s.ptr + s.len <= buf + len, "%s slice outside the buffer", what);
}

static bool is_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static void check_head(const struct http_head *h, const uint8_t *buf, size_t len, bool request)
{
	size_t end;
	bool found = http_find_head_end(buf, len, &end);

	FUZZ_CHECK(h->complete == found, "complete=%d but head end found=%d", h->complete, found);
	FUZZ_CHECK(h->head_len <= len, "head_len %zu > len %zu", h->head_len, len);
	FUZZ_CHECK(!found || h->head_len == end, "head_len disagrees with http_find_head_end");
	FUZZ_CHECK(h->complete || (h->anomalies & HTTP_ANOM_TRUNCATED), "incomplete, not flagged");
	FUZZ_CHECK(h->header_count <= HTTP_HEAD_MAX_HEADERS, "header_count %u", h->header_count);
	FUZZ_CHECK(!h->headers_dropped || (h->anomalies & HTTP_ANOM_HEADERS_DROPPED),
		   "headers dropped without the anomaly");
	check_slice(h->start_line, buf, h->head_len, "start line");
	check_slice(h->method, buf, h->head_len, "method");
	check_slice(h->target, buf, h->head_len, "target");
	check_slice(h->version, buf, h->head_len, "version");
	check_slice(h->reason, buf, h->head_len, "reason");
	if (request) {
		FUZZ_CHECK(h->status == 0, "a request with a status");
		FUZZ_CHECK(!h->start_line_ok || (h->method.len && h->target.len),
			   "start line ok without method and target");
	} else {
		/* "050" parses as 50: three digits are all http_head.c asks for. */
		FUZZ_CHECK(!h->start_line_ok || (h->status >= 1 && h->status <= 999 && h->has_version),
			   "status line ok with status %u", h->status);
	}
	if (h->has_version)
		FUZZ_CHECK(h->version_major <= 9 && h->version_minor <= 9, "version digits");
	for (uint32_t i = 0; i < h->header_count; i++) {
		const struct http_header *hd = &h->headers[i];

		FUZZ_CHECK(hd->name.len > 0, "empty header name kept");
		check_slice(hd->name, buf, h->head_len, "header name");
		check_slice(hd->value, buf, h->head_len, "header value");
		FUZZ_CHECK(!memchr(hd->name.ptr, ':', hd->name.len), "colon in header name");
		FUZZ_CHECK(!is_ows(hd->name.ptr[0]) && !is_ows(hd->name.ptr[hd->name.len - 1]),
			   "header name not trimmed");
		FUZZ_CHECK(!memchr(hd->name.ptr, '\n', hd->name.len), "LF in header name");
		if (hd->value.len)
			FUZZ_CHECK(!is_ows(hd->value.ptr[0]) && !is_ows(hd->value.ptr[hd->value.len - 1]),
				   "header value not trimmed");
	}
}

static void check_classify(const uint8_t *buf, size_t len, enum stream_kind kind)
{
	FUZZ_CHECK((unsigned)kind <= STREAM_NOT_HTTP, "kind %d", kind);
	FUZZ_CHECK(strcmp(stream_kind_name(kind), "?") != 0, "kind without a name");
	switch (kind) {
	case STREAM_NEED_MORE:
		FUZZ_CHECK(len <= 24 + HTTP_LEADING_EMPTY_MAX, "still undecided after %zu bytes", len);
		break;
	case STREAM_TLS: FUZZ_CHECK(len >= 3 && buf[0] == 0x16 && buf[1] == 3, "TLS without a record header"); break;
	case STREAM_HTTP2_PREFACE:
		FUZZ_CHECK(len >= 12 && memcmp(buf, "PRI * HTTP/2", 12) == 0, "not an h2 preface");
		break;
	case STREAM_HTTP_RESPONSE:
		FUZZ_CHECK(len >= 5 && memcmp(buf, "HTTP/", 5) == 0, "response without HTTP/");
		break;
	case STREAM_HTTP_REQUEST: {
		/* After the empty lines allowed before a request line. */
		size_t at = 0;

		while (at < len && at < HTTP_LEADING_EMPTY_MAX && (buf[at] == '\r' || buf[at] == '\n'))
			at++;
		FUZZ_CHECK(at < len && memchr(buf + at, ' ', len - at) &&
			       ((buf[at] >= 'A' && buf[at] <= 'Z') || buf[at] == '-' || buf[at] == '_'),
			   "request without a method token");
		break;
	}
	case STREAM_NOT_HTTP: break;
	}
	/* More bytes never change a decision, only make one. */
	for (size_t k = 1; k < len && k <= 40; k++) {
		enum stream_kind early = http_classify_start(buf, k);

		FUZZ_CHECK(early == STREAM_NEED_MORE || early == kind, "%zu bytes said %s, %zu bytes say %s", k,
			   stream_kind_name(early), len, stream_kind_name(kind));
	}
}

/* ---- judging ----------------------------------------------------------- */

static void check_request_judgement(const struct judgement *j, enum stream_kind kind, const struct http_head *req,
				    bool truncated)
{
	static const enum ws_rule absence_rules[] = {RULE_HOST_MISSING, RULE_UPGRADE_MISSING, RULE_KEY_MISSING,
						     RULE_VERSION_MISSING};
	static const enum ws_hint absence_hints[] = {
	    HINT_PROXY_HTTP10, HINT_HTTP2_CLIENT, HINT_CONNECTION_HARDCODED, HINT_NGINX_STRIPPED,
	    HINT_UPGRADE_LOST, HINT_HEALTH_CHECK, HINT_NO_WEBSOCKET_CLIENT,
	};

	FUZZ_CHECK(j->rules < (1u << RULE_COUNT) && j->hints < (1u << HINT_COUNT),
		   "bits beyond the tables: rules %#x hints %#x", j->rules, j->hints);
	FUZZ_CHECK(j->verdict == VERDICT_PENDING || j->verdict == VERDICT_INVALID, "request judged %s",
		   verdict_name(j->verdict));
	FUZZ_CHECK(j->request_kind == kind, "request_kind");
	FUZZ_CHECK(j->status == 0, "status before the answer");
	if (kind != STREAM_HTTP_REQUEST || !req) {
		FUZZ_CHECK(j->hints == 0, "hints without a request head");
		return;
	}
	if (truncated || !req->complete) {
		FUZZ_CHECK(judgement_has_rule(j, RULE_TRUNCATED), "cut sample without truncated");
		for (size_t i = 0; i < sizeof(absence_rules) / sizeof(absence_rules[0]); i++)
			FUZZ_CHECK(!judgement_has_rule(j, absence_rules[i]), "cut sample claims %s",
				   rule_id(absence_rules[i]));
		for (size_t i = 0; i < sizeof(absence_hints) / sizeof(absence_hints[0]); i++)
			FUZZ_CHECK(!judgement_has_hint(j, absence_hints[i]), "cut sample hints %s",
				   hint_id(absence_hints[i]));
	}
	if (judgement_has_hint(j, HINT_UPGRADE_LOST))
		FUZZ_CHECK(!(j->hints & ((1u << HINT_PROXY_HTTP10) | (1u << HINT_HTTP2_CLIENT) |
					 (1u << HINT_CONNECTION_HARDCODED) | (1u << HINT_NGINX_STRIPPED))),
			   "upgrade-lost alongside an explanation: %#x", j->hints);
	if (judgement_has_rule(j, RULE_UPGRADE_MISSING))
		FUZZ_CHECK(!http_header_find(req, "upgrade", NULL), "upgrade-missing with Upgrade");
	if (judgement_has_rule(j, RULE_KEY_MISSING))
		FUZZ_CHECK(!http_header_find(req, "sec-websocket-key", NULL), "key-missing with a key");
	if (judgement_has_rule(j, RULE_HOST_MISSING))
		FUZZ_CHECK(!http_header_find(req, "host", NULL), "host-missing with Host");
}

static void check_answer_judgement(const struct judgement *before, const struct judgement *j,
				   const struct http_head *req, const struct http_head *resp)
{
	const struct http_header *key, *accept;
	unsigned key_count = 0, accept_count = 0;
	uint32_t answer_rules = (1u << RULE_ACCEPT_MISMATCH) | (1u << RULE_ACCEPT_MISSING) | (1u << RULE_TRUNCATED);

	FUZZ_CHECK((j->rules & ~answer_rules) == (before->rules & ~answer_rules), "the answer changed request rules");
	FUZZ_CHECK(j->hints == before->hints, "the answer changed hints");
	FUZZ_CHECK(j->verdict < VERDICT_COUNT, "verdict %u", j->verdict);
	FUZZ_CHECK(j->status == (resp->start_line_ok ? resp->status : 0), "status %u", j->status);
	if (before->verdict == VERDICT_INVALID) {
		FUZZ_CHECK(j->verdict == VERDICT_INVALID, "an invalid request became %s", verdict_name(j->verdict));
		return;
	}
	if (!resp->start_line_ok) {
		FUZZ_CHECK(j->verdict == VERDICT_INVALID, "a broken answer judged %s", verdict_name(j->verdict));
		return;
	}
	if (resp->status != 101) {
		FUZZ_CHECK(j->verdict == VERDICT_REJECTED, "status %u judged %s", resp->status,
			   verdict_name(j->verdict));
		return;
	}
	FUZZ_CHECK(j->verdict == VERDICT_UPGRADED || j->verdict == VERDICT_INVALID, "101 judged %s",
		   verdict_name(j->verdict));
	FUZZ_CHECK(j->verdict == VERDICT_UPGRADED || judgement_has_rule(j, RULE_ACCEPT_MISMATCH) ||
		       judgement_has_rule(j, RULE_ACCEPT_MISSING),
		   "invalid 101 without a reason");

	/* Differential: the accept computed here, compared byte for byte. */
	key = req ? http_header_find(req, "sec-websocket-key", &key_count) : NULL;
	accept = http_header_find(resp, "sec-websocket-accept", &accept_count);
	if (key && key_count == 1 && accept && accept_count == 1) {
		char want[WS_ACCEPT_LEN + 1];
		bool same;

		ws_compute_accept(key->value.ptr, key->value.len, want);
		same = accept->value.len == WS_ACCEPT_LEN && memcmp(accept->value.ptr, want, WS_ACCEPT_LEN) == 0;
		FUZZ_CHECK(same == (j->verdict == VERDICT_UPGRADED), "accept %s but verdict %s",
			   same ? "matches" : "differs", verdict_name(j->verdict));
		FUZZ_CHECK(same ==
			       ws_accept_matches(key->value.ptr, key->value.len, accept->value.ptr, accept->value.len),
			   "ws_accept_matches disagrees with ws_compute_accept");
	}
}

static void check_hints_output(const struct http_head *req, struct caps *caps)
{
	for (int hint = 0; hint < HINT_COUNT; hint++) {
		char big[1024];
		size_t big_len = hint_format(hint, req, big, sizeof(big));
		size_t ev_len;
		char *out;
		size_t cap;

		FUZZ_CHECK(big_len < sizeof(big) && big[big_len] == 0, "hint_format length");
		FUZZ_CHECK(strncmp(big, hint_text(hint), strlen(hint_text(hint))) == 0,
			   "hint_format does not start with the hint text");
		for (int round = 0; round < 2; round++) {
			size_t n;

			cap = next_cap(caps, big_len + 1);
			out = exact_buf(cap);
			n = hint_format(hint, req, out, cap);
			FUZZ_CHECK(cap ? n < cap && out[n] == 0 : n == 0, "hint_format cap %zu", cap);
			FUZZ_CHECK(memcmp(out, big, n) == 0, "cut hint_format is not a prefix");
			free(out);

			cap = next_cap(caps, 200);
			out = exact_buf(cap);
			ev_len = hint_evidence(hint, req, out, cap);
			FUZZ_CHECK(cap ? ev_len < cap && out[ev_len] == 0 : ev_len == 0, "hint_evidence cap %zu", cap);
			FUZZ_CHECK(req || ev_len == 0, "evidence without a request");
			if (ev_len)
				check_escapes((const uint8_t *)out, ev_len, caps);
			free(out);
		}
	}
}

/* ---- the target -------------------------------------------------------- */

/* http_mentions_upgrade() agrees with a scan byte by byte, and a head that
 * mentions neither word has none of the headers the no-attempt test rules
 * out by it. */
static void check_mentions(const uint8_t *buf, size_t len, const struct http_head *req)
{
	bool found = false;

	for (size_t i = 0; i < len && !found; i++) {
		static const char *const words[] = {"upgrade", "websocket"};

		for (int w = 0; w < 2 && !found; w++) {
			size_t k, n = strlen(words[w]);

			for (k = 0; k < n && i + k < len; k++)
				if ((buf[i + k] | 0x20) != (uint8_t)words[w][k])
					break;
			found = k == n;
		}
	}
	FUZZ_CHECK(http_mentions_upgrade(buf, len) == found, "http_mentions_upgrade says %d, the byte scan %d",
		   !found, found);
	FUZZ_CHECK(found || (!http_header_get(req, HTTP_NAME_UPGRADE, NULL) &&
			     !http_header_get(req, HTTP_NAME_SEC_WEBSOCKET_KEY, NULL) &&
			     !http_header_get(req, HTTP_NAME_SEC_WEBSOCKET_VERSION, NULL)),
		   "a WebSocket header in a head that mentions neither word");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_head req, resp, req_as_resp;
	const uint8_t *request, *answer = NULL, *sep;
	size_t request_len, answer_len = 0;
	struct caps caps;
	enum stream_kind kind;
	struct judgement j, after;
	bool truncated;

	if (size < 2)
		return 0;
	truncated = data[0] & 1;
	caps.seed = ((uint32_t)data[0] << 8) | data[1];
	request = data + 2;
	request_len = size - 2;
	sep = memmem(request, request_len, FUZZ_ANSWER_SEP, sizeof(FUZZ_ANSWER_SEP) - 1);
	if (sep) {
		answer = sep + sizeof(FUZZ_ANSWER_SEP) - 1;
		answer_len = (size_t)(request + request_len - answer);
		request_len = (size_t)(sep - request);
	}

	kind = http_classify_start(request, request_len);
	check_classify(request, request_len, kind);

	http_parse_request(request, request_len, &req);
	check_head(&req, request, request_len, true);
	check_mentions(request, request_len, &req);
	http_parse_response(request, request_len, &req_as_resp);
	check_head(&req_as_resp, request, request_len, false);

	(void)ws_is_attempt(kind, kind == STREAM_HTTP_REQUEST ? &req : NULL, &default_paths);
	(void)ws_is_attempt(kind, kind == STREAM_HTTP_REQUEST ? &req : NULL, NULL);
	if (req.start_line_ok)
		(void)path_set_match(&default_paths, req.target.ptr, req.target.len);

	judge_request(&j, kind, kind == STREAM_HTTP_REQUEST ? &req : NULL, truncated);
	check_request_judgement(&j, kind, kind == STREAM_HTTP_REQUEST ? &req : NULL, truncated);
	/* The report judges a later request on a connection as HTTP whatever it is. */
	judge_request(&after, STREAM_HTTP_REQUEST, &req, truncated);
	check_request_judgement(&after, STREAM_HTTP_REQUEST, &req, truncated);

	if (answer) {
		http_parse_response(answer, answer_len, &resp);
		check_head(&resp, answer, answer_len, false);
		after = j;
		judge_answer(&after, kind == STREAM_HTTP_REQUEST ? &req : NULL, &resp);
		check_answer_judgement(&j, &after, kind == STREAM_HTTP_REQUEST ? &req : NULL, &resp);
		after = j;
		judge_answer(&after, NULL, &resp);
		check_answer_judgement(&j, &after, NULL, &resp);
	}
	after = j;
	judge_no_answer(&after, truncated);
	FUZZ_CHECK(after.verdict == (j.verdict == VERDICT_INVALID ? VERDICT_INVALID
				     : truncated		  ? VERDICT_CLOSED
								  : VERDICT_NO_RESPONSE),
		   "no answer judged %s", verdict_name(after.verdict));

	check_hints_output(kind == STREAM_HTTP_REQUEST ? &req : NULL, &caps);
	check_hints_output(&req, &caps);

	/* What the report escapes: the first bytes, the target, every header. */
	check_escapes(request, request_len < 4096 ? request_len : 4096, &caps);
	if (answer)
		check_escapes(answer, answer_len < 1024 ? answer_len : 1024, &caps);
	if (req.target.len) {
		struct redact_result rr;
		uint8_t *red =
		    check_redactor(redact_target_as_header, (struct byte_slice){0}, req.target, false, &caps, &rr);

		check_escapes(red, rr.len, &caps);
		free(red);
	}
	for (uint32_t i = 0; i < req.header_count; i++) {
		const struct http_header *h = &req.headers[i];
		struct redact_result rr;
		uint8_t *red = check_redactor(redact_header_value, h->name, h->value, false, &caps, &rr);

		if (!redact_header_is_sensitive(h->name))
			FUZZ_CHECK(!rr.redacted && rr.len == h->value.len && memcmp(red, h->value.ptr, rr.len) == 0,
				   "a value under an ordinary name was changed");
		check_escapes(h->name.ptr, h->name.len, &caps);
		check_escapes(red, rr.len, &caps);
		free(red);
	}

	check_plants(&req, request, request_len, &caps);
	return 0;
}
