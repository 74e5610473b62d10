// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* fuzz_check.c - UTF-8 and JSON checkers for the fuzz targets; see fuzz_check.h. */
#include "fuzz_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "\n%s:%d: invariant broken: %s\n  ", file, line, cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

size_t fuzz_utf8_decode(const uint8_t *in, size_t len, uint32_t *cp)
{
	static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
	size_t n;
	uint32_t v;

	if (len == 0)
		return 0;
	if (in[0] < 0x80) {
		*cp = in[0];
		return 1;
	}
	if ((in[0] & 0xe0) == 0xc0) {
		n = 2;
		v = in[0] & 0x1f;
	} else if ((in[0] & 0xf0) == 0xe0) {
		n = 3;
		v = in[0] & 0x0f;
	} else if ((in[0] & 0xf8) == 0xf0) {
		n = 4;
		v = in[0] & 0x07;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t k = 1; k < n; k++) {
		if ((in[k] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (in[k] & 0x3f);
	}
	if (v < min_cp[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

bool fuzz_utf8_valid(const uint8_t *in, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint32_t cp;
		size_t n = fuzz_utf8_decode(in + i, len - i, &cp);

		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

bool fuzz_contains(const void *hay, size_t hay_len, const char *needle)
{
	const uint8_t *h = hay;
	size_t n = strlen(needle);

	if (n == 0)
		return true;
	for (size_t i = 0; i + n <= hay_len; i++)
		if (h[i] == (uint8_t)needle[0] && memcmp(h + i + 1, needle + 1, n - 1) == 0)
			return true;
	return false;
}

/* ---- a small recursive-descent JSON recogniser (RFC 8259) ------------------ */

struct json_in {
	const char *s;
	size_t len, pos;
	int depth;
};

static bool json_value(struct json_in *in);

static int peek(const struct json_in *in)
{
	return in->pos < in->len ? (unsigned char)in->s[in->pos] : -1;
}

static void skip_ws(struct json_in *in)
{
	while (peek(in) == ' ' || peek(in) == '\t' || peek(in) == '\n' || peek(in) == '\r')
		in->pos++;
}

static bool literal(struct json_in *in, const char *word)
{
	size_t n = strlen(word);

	if (in->len - in->pos < n || memcmp(in->s + in->pos, word, n) != 0)
		return false;
	in->pos += n;
	return true;
}

static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool hex4(struct json_in *in, uint32_t *out)
{
	uint32_t v = 0;

	for (int k = 0; k < 4; k++) {
		int h = hex_value(peek(in));

		if (h < 0)
			return false;
		v = (v << 4) | (uint32_t)h;
		in->pos++;
	}
	*out = v;
	return true;
}

static bool json_string(struct json_in *in)
{
	if (peek(in) != '"')
		return false;
	in->pos++;
	for (;;) {
		int c = peek(in);
		uint32_t cp;
		size_t n;

		if (c < 0 || c < 0x20)
			return false; /* unterminated, or a raw control character */
		if (c == '"') {
			in->pos++;
			return true;
		}
		if (c == '\\') {
			in->pos++;
			c = peek(in);
			in->pos++;
			if (c == 'u') {
				if (!hex4(in, &cp))
					return false;
				if (cp >= 0xdc00 && cp <= 0xdfff)
					return false; /* lone low surrogate */
				if (cp >= 0xd800 && cp <= 0xdbff) {
					if (!literal(in, "\\u") || !hex4(in, &cp) || cp < 0xdc00 || cp > 0xdfff)
						return false;
				}
			} else if (!c || !strchr("\"\\/bfnrt", c)) {
				return false;
			}
			continue;
		}
		n = fuzz_utf8_decode((const uint8_t *)in->s + in->pos, in->len - in->pos, &cp);
		if (n == 0)
			return false;
		in->pos += n;
	}
}

static size_t digits(struct json_in *in)
{
	size_t n = 0;

	while (peek(in) >= '0' && peek(in) <= '9') {
		in->pos++;
		n++;
	}
	return n;
}

static bool json_number(struct json_in *in)
{
	if (peek(in) == '-')
		in->pos++;
	if (peek(in) == '0')
		in->pos++;
	else if (digits(in) == 0)
		return false;
	if (peek(in) == '.') {
		in->pos++;
		if (digits(in) == 0)
			return false;
	}
	if (peek(in) == 'e' || peek(in) == 'E') {
		in->pos++;
		if (peek(in) == '+' || peek(in) == '-')
			in->pos++;
		if (digits(in) == 0)
			return false;
	}
	return true;
}

/* Members or elements up to the closing bracket; the opening one is consumed. */
static bool json_container(struct json_in *in, int close, bool object)
{
	if (++in->depth > 64)
		return false;
	skip_ws(in);
	if (peek(in) == close) {
		in->pos++;
		in->depth--;
		return true;
	}
	for (;;) {
		skip_ws(in);
		if (object) {
			if (!json_string(in))
				return false;
			skip_ws(in);
			if (peek(in) != ':')
				return false;
			in->pos++;
		}
		if (!json_value(in))
			return false;
		skip_ws(in);
		if (peek(in) == ',') {
			in->pos++;
			continue;
		}
		if (peek(in) != close)
			return false;
		in->pos++;
		in->depth--;
		return true;
	}
}

static bool json_value(struct json_in *in)
{
	skip_ws(in);
	switch (peek(in)) {
	case '{': in->pos++; return json_container(in, '}', true);
	case '[': in->pos++; return json_container(in, ']', false);
	case '"': return json_string(in);
	case 't': return literal(in, "true");
	case 'f': return literal(in, "false");
	case 'n': return literal(in, "null");
	default: return json_number(in);
	}
}

bool fuzz_json_valid(const char *s, size_t len)
{
	struct json_in in = {s, len, 0, 0};

	if (!json_value(&in))
		return false;
	skip_ws(&in);
	return in.pos == len;
}
