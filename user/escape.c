// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* escape.c - output escaping and redaction; see escape.h for the promise. */
#include "escape.h"

#include <string.h>

/* A bounded output buffer: pieces go in whole or not at all, so no escape
 * sequence and no placeholder is ever cut in half. */
struct sink {
	char *out;
	size_t cap;
	size_t len;
	bool cut;
};

static void sink_put(struct sink *s, const void *piece, size_t n)
{
	if (s->cut || s->len + n + 1 > s->cap) {
		s->cut = true;
		return;
	}
	memcpy(s->out + s->len, piece, n);
	s->len += n;
}

/* Bytes that stand for themselves: as many as fit, just as if each were put
 * on its own, but copied at once. */
static void sink_plain(struct sink *s, const uint8_t *p, size_t n)
{
	size_t room;

	if (s->cut)
		return;
	room = s->cap > s->len ? s->cap - s->len - 1 : 0;
	if (n > room) {
		n = room;
		s->cut = true;
	}
	memcpy(s->out + s->len, p, n);
	s->len += n;
}

static void sink_str(struct sink *s, const char *str)
{
	sink_put(s, str, strlen(str));
}

static void sink_slice(struct sink *s, struct byte_slice b)
{
	if (b.len)
		sink_put(s, b.ptr, b.len);
}

static void sink_end(struct sink *s)
{
	if (s->cap)
		s->out[s->len] = '\0';
}

static const char hex_digits[] = "0123456789abcdef";

static bool terminal_plain(uint8_t c)
{
	return c >= 0x20 && c < 0x7f && c != '\\';
}

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Nonzero when some byte of w is below n (n <= 0x80), or equal to c. Exact
 * as to whether there is one, which is all that is asked. */
static uint64_t bytes_below(uint64_t w, uint8_t n)
{
	return (w - ONES * n) & ~w & HIGHS;
}

static uint64_t bytes_equal(uint64_t w, uint8_t c)
{
	return bytes_below(w ^ (ONES * c), 1);
}

/* Where the run of plain bytes from in[i] ends: eight bytes at a time while
 * none of them needs an escape (json: also '"'), then one at a time. */
static size_t plain_run_end(const uint8_t *in, size_t i, size_t len, bool json)
{
	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, in + i, sizeof(w));
		if ((w & HIGHS) | bytes_below(w, 0x20) | bytes_equal(w, 0x7f) | bytes_equal(w, '\\') |
		    (json ? bytes_equal(w, '"') : 0))
			break;
	}
	while (i < len && (json ? in[i] != '"' : true) && terminal_plain(in[i]))
		i++;
	return i;
}

bool escape_terminal(const uint8_t *in, size_t len, char *out, size_t cap)
{
	struct sink s = { out, cap, 0, false };

	for (size_t i = 0; i < len && !s.cut; i++) {
		uint8_t c = in[i];
		char esc[4] = { '\\', 'x', hex_digits[c >> 4], hex_digits[c & 0xf] };

		if (terminal_plain(c)) {
			size_t end = plain_run_end(in, i + 1, len, false);

			sink_plain(&s, in + i, end - i);
			i = end - 1;
		} else if (c == '\\')
			sink_str(&s, "\\\\");
		else if (c >= 0x20 && c < 0x7f)
			sink_put(&s, &c, 1);
		else if (c == '\r')
			sink_str(&s, "\\r");
		else if (c == '\n')
			sink_str(&s, "\\n");
		else if (c == '\t')
			sink_str(&s, "\\t");
		else
			sink_put(&s, esc, sizeof(esc));
	}
	if (len && cap == 0)
		s.cut = true;
	sink_end(&s);
	return !s.cut;
}

/* Length of the well-formed UTF-8 sequence at in[0..avail) (RFC 3629: no
 * overlongs, no surrogates, nothing above U+10FFFF) and its code point, or 0. */
static size_t utf8_sequence(const uint8_t *in, size_t avail, uint32_t *cp)
{
	uint8_t c = in[0], lo = 0x80, hi = 0xbf;
	size_t n;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (avail < n || in[1] < lo || in[1] > hi)
		return 0;
	*cp = c & (0x7f >> n);
	for (size_t k = 1; k < n; k++) {
		if ((in[k] & 0xc0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (in[k] & 0x3f);
	}
	return n;
}

static void sink_u_escape(struct sink *s, uint32_t cp)
{
	char esc[6] = { '\\', 'u', hex_digits[(cp >> 12) & 0xf], hex_digits[(cp >> 8) & 0xf],
			hex_digits[(cp >> 4) & 0xf], hex_digits[cp & 0xf] };

	sink_put(s, esc, sizeof(esc));
}

static bool json_plain(uint8_t c)
{
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

bool escape_json(const uint8_t *in, size_t len, char *out, size_t cap)
{
	struct sink s = { out, cap, 0, false };
	size_t i = 0;

	while (i < len && !s.cut) {
		uint8_t c = in[i];
		uint32_t cp;
		size_t n;

		if (json_plain(c)) {
			size_t end = plain_run_end(in, i + 1, len, true);

			sink_plain(&s, in + i, end - i);
			i = end;
			continue;
		}
		if (c < 0x80) {
			if (c == '"')
				sink_str(&s, "\\\"");
			else if (c == '\\')
				sink_str(&s, "\\\\");
			else if (c == '\n')
				sink_str(&s, "\\n");
			else if (c == '\r')
				sink_str(&s, "\\r");
			else if (c == '\t')
				sink_str(&s, "\\t");
			else if (c == '\b')
				sink_str(&s, "\\b");
			else if (c == '\f')
				sink_str(&s, "\\f");
			else if (c < 0x20 || c == 0x7f)
				sink_u_escape(&s, c);
			else
				sink_put(&s, &c, 1);
			i++;
			continue;
		}
		n = utf8_sequence(in + i, len - i, &cp);
		if (n == 0) {
			sink_u_escape(&s, c); /* invalid: the byte as its Latin-1 code point */
			i++;
		} else {
			if (cp <= 0x9f || cp == 0x2028 || cp == 0x2029)
				sink_u_escape(&s, cp); /* C1 controls and JS line breaks */
			else
				sink_put(&s, in + i, n);
			i += n;
		}
	}
	if (len && cap == 0)
		s.cut = true;
	sink_end(&s);
	return !s.cut;
}

/* ---- redaction ---------------------------------------------------------- */

static bool is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static struct byte_slice trim(struct byte_slice b)
{
	while (b.len && is_space(b.ptr[0])) {
		b.ptr++;
		b.len--;
	}
	while (b.len && is_space(b.ptr[b.len - 1]))
		b.len--;
	return b;
}

/* Split b at the first sep: *head gets what precedes it; returns false (and
 * the whole of b as head) when sep is absent. b advances past sep. */
static bool split_at(struct byte_slice *b, uint8_t sep, struct byte_slice *head)
{
	const uint8_t *at = b->len ? memchr(b->ptr, sep, b->len) : NULL;

	if (!at) {
		*head = *b;
		if (b->len) /* an empty slice's ptr may be NULL: no arithmetic on it */
			b->ptr += b->len;
		b->len = 0;
		return false;
	}
	head->ptr = b->ptr;
	head->len = (size_t)(at - b->ptr);
	b->len -= head->len + 1;
	b->ptr = at + 1;
	return true;
}

/* A word to look for in names, with its length worked out by the compiler. */
struct word {
	const char *text;
	size_t len;
};

#define WORD(s) { s, sizeof(s) - 1 }
#define WORDS_END { NULL, 0 }

/* n bytes at p equal the word, ignoring ASCII case. */
static bool equal_nocase(const uint8_t *p, const struct word *w)
{
	for (size_t k = 0; k < w->len; k++)
		if (ascii_lower(p[k]) != ascii_lower((uint8_t)w->text[k]))
			return false;
	return true;
}

/* Any of words within name, ignoring ASCII case. Every header name of a head
 * is tested: a position is compared with the words only when its letter
 * starts one of them. */
static bool name_contains_any(struct byte_slice name, const struct word *words)
{
	uint32_t starts = 0; /* a bit per letter that starts a word */
	bool filter = true;  /* false if some word starts with no letter */

	for (const struct word *w = words; w->text; w++) {
		uint8_t c = ascii_lower((uint8_t)w->text[0]);

		if (!w->len)
			return true;
		if (c >= 'a' && c <= 'z')
			starts |= 1u << (c - 'a');
		else
			filter = false;
	}
	for (size_t i = 0; i < name.len; i++) {
		uint8_t c = ascii_lower(name.ptr[i]);

		if (filter && (c < 'a' || c > 'z' || !(starts & (1u << (c - 'a')))))
			continue;
		for (const struct word *w = words; w->text; w++)
			if (w->len <= name.len - i && equal_nocase(name.ptr + i, w))
				return true;
	}
	return false;
}

static bool name_is_any(struct byte_slice name, const struct word *words)
{
	for (const struct word *w = words; w->text; w++)
		if (w->len == name.len && equal_nocase(name.ptr, w))
			return true;
	return false;
}

static const struct word secret_header_words[] = {
	WORD("token"),	 WORD("secret"), WORD("password"), WORD("passwd"), WORD("api-key"),
	WORD("apikey"), WORD("x-auth"), WORD("credential"), WORDS_END,
};
static const struct word auth_headers[] = { WORD("authorization"), WORD("proxy-authorization"), WORDS_END };
static const struct word cookie_headers[] = { WORD("cookie"), WORD("set-cookie"), WORDS_END };
static const struct word whole_value_headers[] = { WORD("sec-websocket-key"), WORDS_END };
/* Set-Cookie attributes (RFC 6265 and successors) whose values are not secret. */
static const struct word cookie_attributes[] = {
	WORD("path"),	  WORD("domain"), WORD("expires"),     WORD("max-age"),	 WORD("samesite"),
	WORD("secure"), WORD("httponly"), WORD("partitioned"), WORD("priority"), WORDS_END,
};

bool redact_header_is_sensitive(struct byte_slice name)
{
	return name_is_any(name, auth_headers) || name_is_any(name, cookie_headers) ||
	       name_is_any(name, whole_value_headers) ||
	       byte_slice_eq_nocase(name, "sec-websocket-protocol") ||
	       name_contains_any(name, secret_header_words);
}

static bool is_base64url_char(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

bool redact_token_looks_secret(struct byte_slice token)
{
	size_t upper = 0, lower = 0, digit = 0, hex = 0, dots = 0, part = 0, min_part = SIZE_MAX;
	bool base64url = true;

	if (token.len > 64)
		return true;
	for (size_t i = 0; i < token.len; i++) {
		uint8_t c = token.ptr[i];

		upper += c >= 'A' && c <= 'Z';
		lower += c >= 'a' && c <= 'z';
		digit += c >= '0' && c <= '9';
		hex += (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
		if (c == '.') {
			dots++;
			min_part = part < min_part ? part : min_part;
			part = 0;
		} else {
			part++;
			base64url = base64url && is_base64url_char(c);
		}
	}
	min_part = part < min_part ? part : min_part;
	/* A JWT: three base64url parts, none tiny ("wamp.2.json" is not one). */
	if (dots == 2 && base64url && min_part >= 4 && token.len >= 16)
		return true;
	/* Random base64: all three character classes, repeatedly. */
	if (token.len > 20 && upper >= 2 && lower >= 2 && digit >= 2)
		return true;
	/* A hex secret (session ids, API keys). */
	return token.len >= 32 && hex == token.len;
}

static void redact_auth(struct sink *s, struct byte_slice value)
{
	struct byte_slice scheme = value;
	size_t i = 0;

	while (i < value.len && !is_space(value.ptr[i]))
		i++;
	scheme.len = i;
	if (i < value.len && scheme.len) {
		sink_slice(s, scheme);
		sink_str(s, " ");
	}
	sink_str(s, REDACTED);
}

static void redact_cookie(struct sink *s, struct byte_slice value, bool set_cookie)
{
	struct byte_slice rest = value, item;
	bool first = true, more = true;

	while (more) {
		struct byte_slice name;
		bool has_eq;

		more = split_at(&rest, ';', &item);
		item = trim(item);
		if (item.len == 0)
			continue;
		if (!first)
			sink_str(s, "; ");
		has_eq = split_at(&item, '=', &name);
		name = trim(name);
		/* The cookie itself is the first item of a Set-Cookie, every item of a Cookie. */
		if (set_cookie && !first && name_is_any(name, cookie_attributes)) {
			sink_slice(s, name);
			if (has_eq) {
				sink_str(s, "=");
				sink_slice(s, trim(item));
			}
		} else if (has_eq) {
			sink_slice(s, name);
			sink_str(s, "=" REDACTED);
		} else {
			sink_str(s, REDACTED);
		}
		first = false;
	}
}

static void redact_protocols(struct sink *s, struct byte_slice value, bool *redacted)
{
	struct byte_slice rest = value, item;
	bool first = true, more = true;

	while (more) {
		more = split_at(&rest, ',', &item);
		item = trim(item);
		if (!first)
			sink_str(s, ", ");
		first = false;
		if (redact_token_looks_secret(item)) {
			sink_str(s, REDACTED);
			*redacted = true;
		} else {
			sink_slice(s, item);
		}
	}
}

static struct redact_result finish(struct sink *s, bool redacted)
{
	sink_end(s);
	return (struct redact_result){ s->len, redacted, s->cut };
}

struct redact_result redact_header_value(struct byte_slice name, struct byte_slice value,
					 uint8_t *out, size_t cap)
{
	struct sink s = { (char *)out, cap, 0, false };

	if (value.len == 0)
		return finish(&s, false);
	if (name_is_any(name, auth_headers)) {
		redact_auth(&s, trim(value));
	} else if (name_is_any(name, cookie_headers)) {
		redact_cookie(&s, value, byte_slice_eq_nocase(name, "set-cookie"));
	} else if (byte_slice_eq_nocase(name, "sec-websocket-protocol")) {
		bool redacted = false;

		redact_protocols(&s, value, &redacted);
		return finish(&s, redacted);
	} else if (name_is_any(name, whole_value_headers) ||
		   name_contains_any(name, secret_header_words)) {
		sink_str(&s, REDACTED);
	} else {
		sink_slice(&s, value);
		return finish(&s, false);
	}
	return finish(&s, true);
}

static const struct word secret_param_words[] = {
	WORD("token"), WORD("key"),	WORD("secret"),	 WORD("password"), WORD("passwd"),
	WORD("pwd"),   WORD("auth"), WORD("sig"),	 WORD("session"),  WORD("credential"), WORDS_END,
};
static const struct word secret_param_names[] = { WORD("sid"), WORD("jwt"), WORD("code"), WORDS_END };

static bool secret_param(struct byte_slice name)
{
	return name_contains_any(name, secret_param_words) || name_is_any(name, secret_param_names);
}

/* Copy "a=1&b=2" items, replacing secret values; true if one was replaced. */
static bool redact_params(struct sink *s, struct byte_slice params)
{
	struct byte_slice rest = params, item;
	bool more = true, first = true, redacted = false;

	while (more) {
		struct byte_slice name;
		bool has_value;

		more = split_at(&rest, '&', &item);
		if (!first)
			sink_str(s, "&");
		first = false;
		has_value = split_at(&item, '=', &name); /* item is now the value */
		sink_slice(s, name);
		if (!has_value)
			continue;
		if (secret_param(name)) {
			sink_str(s, "=" REDACTED);
			redacted = true;
		} else {
			sink_str(s, "=");
			sink_slice(s, item);
		}
	}
	return redacted;
}

/* Copy a path, replacing the secret values of its segments' parameters
 * ("/app;jsessionid=...", as servlet containers write the session into
 * URLs when cookies are off): ";name=value" up to the next ';' or '/'. */
static bool redact_path_params(struct sink *s, struct byte_slice path)
{
	bool redacted = false;
	size_t i = 0;

	while (i < path.len) {
		size_t start = i, eq = 0;

		if (path.ptr[i] != ';') {
			while (i < path.len && path.ptr[i] != ';')
				i++;
			sink_put(s, path.ptr + start, i - start);
			continue;
		}
		for (i++; i < path.len && path.ptr[i] != ';' && path.ptr[i] != '/'; i++)
			if (path.ptr[i] == '=' && !eq)
				eq = i;
		if (eq && secret_param((struct byte_slice){path.ptr + start + 1, eq - start - 1})) {
			sink_put(s, path.ptr + start, eq + 1 - start);
			sink_str(s, REDACTED);
			redacted = true;
		} else {
			sink_put(s, path.ptr + start, i - start);
		}
	}
	return redacted;
}

struct redact_result redact_target(struct byte_slice target, uint8_t *out, size_t cap)
{
	struct sink s = { (char *)out, cap, 0, false };
	struct byte_slice rest = target, before_query, query, fragment;
	bool redacted = false, has_query, has_fragment;
	size_t i = 0;

	/* Absolute form with userinfo: scheme://user:pass@host/... */
	while (i + 2 < target.len && target.ptr[i] != '/' && target.ptr[i] != '?' &&
	       target.ptr[i] != ':')
		i++;
	if (i + 2 < target.len && memcmp(target.ptr + i, "://", 3) == 0) {
		size_t auth_start = i + 3, auth_end = auth_start, at = SIZE_MAX;

		while (auth_end < target.len && target.ptr[auth_end] != '/' &&
		       target.ptr[auth_end] != '?' && target.ptr[auth_end] != '#') {
			if (target.ptr[auth_end] == '@')
				at = auth_end;
			auth_end++;
		}
		if (at != SIZE_MAX) {
			sink_put(&s, target.ptr, auth_start);
			sink_str(&s, REDACTED);
			rest.ptr = target.ptr + at;
			rest.len = target.len - at;
			redacted = true;
		}
	}

	/* The fragment is split off first: '?' may legally appear inside it. */
	has_fragment = split_at(&rest, '#', &before_query);
	fragment = rest;
	rest = before_query;
	has_query = split_at(&rest, '?', &before_query);
	query = rest;

	redacted |= redact_path_params(&s, before_query);
	if (has_query) {
		sink_str(&s, "?");
		redacted |= redact_params(&s, query);
	}
	if (has_fragment) {
		/* OAuth implicit flows put access_token=... in the fragment. */
		sink_str(&s, "#");
		redacted |= redact_params(&s, fragment);
	}
	return finish(&s, redacted);
}
