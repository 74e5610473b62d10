// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* http_head.c - tolerant HTTP/1.x head parsing; see http_head.h for the promise. */
#include "http_head.h"

#include <stddef.h>
#include <string.h>
#include "byte_block.h"

/* The HTTP/2 connection preface (RFC 9113 3.4); 12 bytes are enough to tell. */
static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define H2_PREFACE_LEN (sizeof(h2_preface) - 1)
#define H2_PREFACE_MIN 12 /* "PRI * HTTP/2" */
/* Longest method token the classifier waits for before calling bytes not HTTP. */
#define METHOD_TOKEN_MAX 24

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

static bool is_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/* RFC 9110 tchar. */
static bool is_tchar(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c))
		return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static struct byte_slice slice(const uint8_t *buf, size_t from, size_t to)
{
	return (struct byte_slice){ buf + from, to - from };
}

static struct byte_slice trim_ows(struct byte_slice s)
{
	while (s.len && is_ows(s.ptr[0])) {
		s.ptr++;
		s.len--;
	}
	while (s.len && is_ows(s.ptr[s.len - 1]))
		s.len--;
	return s;
}

/*
 * Where the first line starts: past the empty lines (CRLF or LF) before it.
 * RFC 9112 2.2 lets a server ignore them; clients send one after a body on
 * a persistent connection. *lf_only tells whether one ended with LF alone.
 */
static size_t skip_empty_lines(const uint8_t *buf, size_t len, bool *lf_only)
{
	size_t pos = 0;

	*lf_only = false;
	for (;;) {
		if (pos < len && buf[pos] == '\n') {
			*lf_only = true;
			pos++;
		} else if (pos + 1 < len && buf[pos] == '\r' && buf[pos + 1] == '\n') {
			pos += 2;
		} else {
			return pos;
		}
	}
}

enum stream_kind http_classify_start(const uint8_t *buf, size_t len)
{
	size_t n;
	bool lf_only;

	if (len == 0)
		return STREAM_NEED_MORE;

	/* A few empty lines before a request line are skipped (parse_head()
	 * notes them): what follows them decides, and only a request may. */
	if (buf[0] == '\r' || buf[0] == '\n') {
		enum stream_kind kind;

		n = skip_empty_lines(buf, len, &lf_only);
		if (n > HTTP_LEADING_EMPTY_MAX)
			return STREAM_NOT_HTTP;
		if (n == len || (n + 1 == len && buf[n] == '\r'))
			return STREAM_NEED_MORE;
		if (!n)
			return STREAM_NOT_HTTP;
		kind = http_classify_start(buf + n, len - n);
		return kind == STREAM_HTTP_REQUEST || kind == STREAM_NEED_MORE ? kind : STREAM_NOT_HTTP;
	}

	if (buf[0] == 0x16) {
		if (len < 2)
			return STREAM_NEED_MORE;
		if (buf[1] != 0x03)
			return STREAM_NOT_HTTP;
		if (len < 3)
			return STREAM_NEED_MORE;
		return buf[2] <= 0x04 ? STREAM_TLS : STREAM_NOT_HTTP;
	}

	/* The first byte says which of these can match: every head passes here. */
	n = min_size(len, H2_PREFACE_MIN); /* 12 bytes decide: more never undo it */
	if (buf[0] == 'P' && memcmp(buf, h2_preface, n) == 0)
		return len >= H2_PREFACE_MIN ? STREAM_HTTP2_PREFACE : STREAM_NEED_MORE;

	n = min_size(len, 5);
	if (buf[0] == 'H' && memcmp(buf, "HTTP/", n) == 0)
		return len >= 5 ? STREAM_HTTP_RESPONSE : STREAM_NEED_MORE;

	/* Methods are case-sensitive and, in practice, upper-case: a looser test
	 * would take e.g. an SSH banner ("SSH-2.0-OpenSSH_9.2p1 Debian") for one. */
	for (size_t i = 0; i < len; i++) {
		uint8_t c = buf[i];

		if (c == ' ')
			return i > 0 ? STREAM_HTTP_REQUEST : STREAM_NOT_HTTP;
		if (!((c >= 'A' && c <= 'Z') || c == '-' || c == '_') || i >= METHOD_TOKEN_MAX)
			return STREAM_NOT_HTTP;
	}
	return STREAM_NEED_MORE;
}

const char *stream_kind_name(enum stream_kind kind)
{
	switch (kind) {
	case STREAM_NEED_MORE:
		return "need-more";
	case STREAM_HTTP_REQUEST:
		return "http-request";
	case STREAM_HTTP_RESPONSE:
		return "http-response";
	case STREAM_TLS:
		return "tls";
	case STREAM_HTTP2_PREFACE:
		return "http2-preface";
	case STREAM_NOT_HTTP:
		return "not-http";
	}
	return "?";
}

/* Does either word start at buf[i]? */
static bool upgrade_word_at(const uint8_t *buf, size_t len, size_t i)
{
	const char *word;

	switch (buf[i] | 0x20) {
	case 'u': word = "upgrade"; break;
	case 'w': word = "websocket"; break;
	default: return false;
	}
	return len - i >= strlen(word) && byte_slice_eq_nocase((struct byte_slice){buf + i, strlen(word)}, word);
}

/* Places i to i + 15 where "up" or "we" starts, one bit a place (OR 0x20
 * folds exactly the letters onto themselves here); 17 bytes are read. */
static unsigned pair_hits(const uint8_t *buf, size_t i)
{
	byte_block a = load_block(buf + i) | 0x20, b = load_block(buf + i + 1) | 0x20;

	return lane_bits(((a == 'u') & (b == 'p')) | ((a == 'w') & (b == 'e')));
}

/*
 * Thirty-two places at a time, a place being a candidate only where its two
 * bytes read "up" or "we" (pair_hits()), which a head's text rarely has; a
 * test for the first letter alone stopped at most words of a browser's head
 * ("User-Agent", "Linux", "gzip", "www"), and cost as much as parsing the
 * head. Every request head on a watched port passes here, most to the end.
 */
bool http_mentions_upgrade(const uint8_t *buf, size_t len)
{
	/* Thirty-two places need thirty-three bytes: the second byte of the
	 * last. The last block overlaps the one before rather than leave a tail;
	 * the place it leaves out, the last byte, starts no word. */
	const size_t last = len - (2 * BLOCK_LEN + 1);

	if (len <= 2 * BLOCK_LEN) {
		for (size_t i = 0; i < len; i++)
			if (upgrade_word_at(buf, len, i))
				return true;
		return false;
	}
	for (size_t i = 0;; i += 2 * BLOCK_LEN) {
		unsigned hits;

		if (i > last)
			i = last;
		hits = pair_hits(buf, i) | pair_hits(buf, i + BLOCK_LEN) << BLOCK_LEN;
		for (; hits; hits &= hits - 1)
			if (upgrade_word_at(buf, len, i + (size_t)__builtin_ctz(hits)))
				return true;
		if (i == last)
			return false;
	}
}

bool http_find_head_end(const uint8_t *buf, size_t len, size_t *head_len)
{
	bool lf_only;
	size_t pos = buf ? skip_empty_lines(buf, len, &lf_only) : 0;

	while (pos < len) {
		const uint8_t *lf = memchr(buf + pos, '\n', len - pos);
		size_t i;

		if (!lf)
			break;
		i = (size_t)(lf - buf);
		/* An empty line follows this LF: "\n\n" or "\n\r\n". */
		if (i + 1 < len && buf[i + 1] == '\n') {
			*head_len = i + 2;
			return true;
		}
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n') {
			*head_len = i + 3;
			return true;
		}
		pos = i + 1;
	}
	return false;
}

/* "HTTP/d.d" exactly. */
static bool parse_version(struct byte_slice v, struct http_head *out)
{
	if (v.len != 8 || memcmp(v.ptr, "HTTP/", 5) != 0 || !is_digit(v.ptr[5]) || v.ptr[6] != '.' ||
	    !is_digit(v.ptr[7]))
		return false;
	out->has_version = true;
	out->version_major = (uint8_t)(v.ptr[5] - '0');
	out->version_minor = (uint8_t)(v.ptr[7] - '0');
	return true;
}

/* Index of the first space at or after i in line, or line.len. */
static size_t next_space(struct byte_slice line, size_t i)
{
	const uint8_t *sp = i < line.len ? memchr(line.ptr + i, ' ', line.len - i) : NULL;

	return sp ? (size_t)(sp - line.ptr) : line.len;
}

/* Index of the first byte at or after i in line that is not a space. */
static size_t skip_spaces(struct byte_slice line, size_t i)
{
	while (i < line.len && line.ptr[i] == ' ')
		i++;
	return i;
}

static void parse_request_line(struct byte_slice line, struct http_head *out)
{
	size_t method_end = next_space(line, 0);
	size_t target_start = skip_spaces(line, method_end);
	size_t target_end = next_space(line, target_start);
	size_t version_start = skip_spaces(line, target_end);
	bool method_ok = method_end > 0;

	for (size_t i = 0; i < method_end && method_ok; i++)
		method_ok = is_tchar(line.ptr[i]);

	out->method = slice(line.ptr, 0, method_end);
	out->target = slice(line.ptr, target_start, target_end);
	out->version = trim_ows(slice(line.ptr, version_start, line.len));
	out->start_line_ok = method_ok && out->target.len > 0;
	if (!parse_version(out->version, out) || !out->start_line_ok)
		out->anomalies |= HTTP_ANOM_BAD_START_LINE;
}

static void parse_status_line(struct byte_slice line, struct http_head *out)
{
	size_t version_end = next_space(line, 0);
	size_t status_start = skip_spaces(line, version_end);
	size_t status_end = next_space(line, status_start);
	struct byte_slice status = slice(line.ptr, status_start, status_end);

	out->version = slice(line.ptr, 0, version_end);
	out->reason = trim_ows(slice(line.ptr, skip_spaces(line, status_end), line.len));
	/* Exactly three digits, and a class RFC 9110 15 defines: "050" is no 50. */
	if (status.len == 3 && status.ptr[0] >= '1' && status.ptr[0] <= '5' &&
	    is_digit(status.ptr[1]) && is_digit(status.ptr[2]))
		out->status = (uint16_t)((status.ptr[0] - '0') * 100 + (status.ptr[1] - '0') * 10 +
					 (status.ptr[2] - '0'));
	out->start_line_ok = parse_version(out->version, out) && out->status != 0;
	if (!out->start_line_ok)
		out->anomalies |= HTTP_ANOM_BAD_START_LINE;
}

/* Lower-case spellings of enum http_name. */
static const char *const name_texts[HTTP_NAME_COUNT] = {
	[HTTP_NAME_HOST] = "host",
	[HTTP_NAME_CONNECTION] = "connection",
	[HTTP_NAME_UPGRADE] = "upgrade",
	[HTTP_NAME_SEC_WEBSOCKET_KEY] = "sec-websocket-key",
	[HTTP_NAME_SEC_WEBSOCKET_VERSION] = "sec-websocket-version",
	[HTTP_NAME_SEC_WEBSOCKET_ACCEPT] = "sec-websocket-accept",
	[HTTP_NAME_SEC_WEBSOCKET_PROTOCOL] = "sec-websocket-protocol",
	[HTTP_NAME_SEC_WEBSOCKET_EXTENSIONS] = "sec-websocket-extensions",
	[HTTP_NAME_HTTP2_SETTINGS] = "http2-settings",
	[HTTP_NAME_USER_AGENT] = "user-agent",
	[HTTP_NAME_ORIGIN] = "origin",
	[HTTP_NAME_VIA] = "via",
	[HTTP_NAME_FORWARDED] = "forwarded",
	[HTTP_NAME_X_FORWARDED_FOR] = "x-forwarded-for",
	[HTTP_NAME_X_FORWARDED_PROTO] = "x-forwarded-proto",
	[HTTP_NAME_X_FORWARDED_PORT] = "x-forwarded-port",
	[HTTP_NAME_X_FORWARDED_HOST] = "x-forwarded-host",
	[HTTP_NAME_X_REAL_IP] = "x-real-ip",
	[HTTP_NAME_X_AMZN_TRACE_ID] = "x-amzn-trace-id",
	[HTTP_NAME_X_REQUEST_ID] = "x-request-id",
	[HTTP_NAME_CONTENT_LENGTH] = "content-length",
};

/*
 * Word-at-a-time name comparison: every header name is classified, and a
 * byte loop over names was most of the parsing cost. Loads go through
 * memcpy, so alignment does not matter, and never reach past the n bytes
 * given.
 */
#define BYTES_ONES 0x0101010101010101ull
#define BYTES_HIGHS 0x8080808080808080ull

static uint64_t load_word(const uint8_t *p)
{
	uint64_t word;

	memcpy(&word, p, sizeof(word));
	return word;
}

/* The 4 to 7 bytes at p in one word, some of them twice. */
static uint64_t load_short(const uint8_t *p, size_t n)
{
	uint32_t head, tail;

	memcpy(&head, p, sizeof(head));
	memcpy(&tail, p + n - 4, sizeof(tail));
	return head | (uint64_t)tail << 32;
}

/* The word with ASCII upper-case letters made lower-case, other bytes kept. */
static uint64_t lower_word(uint64_t word)
{
	uint64_t seven_bits = word & ~BYTES_HIGHS; /* no carry between bytes below */
	uint64_t from_a = seven_bits + BYTES_ONES * (0x80 - 'A');
	uint64_t past_z = seven_bits + BYTES_ONES * (0x7f - 'Z');
	uint64_t upper = from_a & ~past_z & ~word & BYTES_HIGHS;

	return word | upper >> 2; /* 0x80 >> 2 is the case bit 0x20 */
}

/* 0x20 in each byte of a lower-case word that is a letter: the bit that
 * case-folding may set there. */
static inline uint64_t letter_case_bits(uint64_t lower)
{
	uint64_t seven_bits = lower & ~BYTES_HIGHS;
	uint64_t from_a = seven_bits + BYTES_ONES * (0x80 - 'a');
	uint64_t past_z = seven_bits + BYTES_ONES * (0x7f - 'z');

	return (from_a & ~past_z & ~lower & BYTES_HIGHS) >> 2;
}

/* The word of p equals the lower-case word want, ignoring ASCII case: where
 * want has a letter, p may have either case; elsewhere the same byte. */
static inline bool word_equal_to_lower(uint64_t p, uint64_t want)
{
	return (p | letter_case_bits(want)) == want;
}

/*
 * n bytes of p equal the lower-case lower, ignoring ASCII case. Inline, so
 * that called with string literals (NAME_IS) the words of lower and their
 * case bits become constants; token_match() passes a list token.
 */
static inline bool equal_to_lower(const uint8_t *p, const char *lower, size_t n)
{
	const uint8_t *want = (const uint8_t *)lower;
	size_t i;

	if (n < 4) {
		for (i = 0; i < n; i++)
			if (ascii_lower(p[i]) != want[i])
				return false;
		return true;
	}
	if (n < 8)
		return word_equal_to_lower(load_short(p, n), load_short(want, n));
	for (i = 0; i + 8 <= n; i += 8)
		if (!word_equal_to_lower(load_word(p + i), load_word(want + i)))
			return false;
	/* The last word overlaps the one before: checking bytes twice is cheaper
	 * than a byte loop. */
	return i == n || word_equal_to_lower(load_word(p + n - 8), load_word(want + n - 8));
}

#define NAME_IS(name, lower) equal_to_lower((name).ptr, lower, sizeof(lower) - 1)


/* A line's name stop not found yet (see next_line_byte()). */
#define NO_STOP SIZE_MAX

static bool is_name_stop(uint8_t c)
{
	return c == ':' || is_ows(c);
}

/*
 * The first byte at or after pos that may end a line or make an anomaly, or
 * len: every CR, LF and NUL, and some other control bytes, which one compare
 * takes in too (line_end_at() passes over them). While *stop is NO_STOP, the
 * same loads look for where a header name would stop, the first ':', SP or
 * HT: a header line is scanned once for both. The stop found may lie past
 * the line's end (then the line has none).
 */
static size_t next_line_byte(const uint8_t *buf, size_t pos, size_t len, size_t *stop)
{
	/* Both while the stop is unknown (the first block of a line, mostly),
	 * then the line bytes alone: the loop most blocks take tests nothing else. */
	for (; *stop == NO_STOP && pos + BLOCK_LEN <= len; pos += BLOCK_LEN) {
		byte_block block = load_block(buf + pos);
		unsigned stops = lane_bits((block == ':') | (block == ' ') | (block == '\t'));
		unsigned ends = lane_bits(block <= '\r');

		if (stops)
			*stop = pos + (size_t)__builtin_ctz(stops);
		if (ends)
			return pos + (size_t)__builtin_ctz(ends);
	}
	for (; pos + BLOCK_LEN <= len; pos += BLOCK_LEN) {
		unsigned ends = lane_bits(load_block(buf + pos) <= '\r');

		if (ends)
			return pos + (size_t)__builtin_ctz(ends);
	}
	for (; pos < len; pos++) {
		if (*stop == NO_STOP && is_name_stop(buf[pos]))
			*stop = pos;
		if (buf[pos] <= '\r')
			return pos;
	}
	return len;
}

/*
 * The LF that ends the line starting at pos, or len when none does; *content_end
 * is where the line's content ends (its CR, or the LF of a line that ends with
 * LF alone). NUL and bare CR (a CR not followed by LF; one that ends the bytes
 * given may yet be) met on the way are recorded: every byte up to the end of
 * the head passes here once, so the head needs no second pass for them. A
 * CR-only head has no lines at all, and its CRs are found all the same.
 * *stop: as for next_line_byte(), from pos on.
 */
static size_t line_end_at(const uint8_t *buf, size_t pos, size_t len, uint32_t *anomalies, size_t *content_end,
			  size_t *stop)
{
	*stop = NO_STOP;
	for (;;) {
		size_t at = next_line_byte(buf, pos, len, stop);

		*content_end = at;
		if (at == len)
			return at;
		if (buf[at] == '\r') {
			if (at + 1 < len && buf[at + 1] == '\n')
				return at + 1;
			if (at + 1 < len)
				*anomalies |= HTTP_ANOM_BARE_CR;
		} else if (buf[at] == '\n') {
			*anomalies |= HTTP_ANOM_LF_ONLY;
			return at;
		} else if (buf[at] == '\0') {
			*anomalies |= HTTP_ANOM_NUL;
		}
		pos = at + 1;
	}
}

#define SEC_WEBSOCKET_PREFIX_LEN (sizeof("sec-websocket-") - 1)

/* Sec-WebSocket-* names; *sec_websocket tells whether the prefix was there. */
static enum http_name classify_sec_websocket(struct byte_slice name, bool *sec_websocket)
{
	struct byte_slice rest;

	*sec_websocket = name.len >= SEC_WEBSOCKET_PREFIX_LEN && NAME_IS(name, "sec-websocket-");
	if (!*sec_websocket)
		return HTTP_NAME_OTHER;
	rest = slice(name.ptr, SEC_WEBSOCKET_PREFIX_LEN, name.len);
	switch (rest.len) {
	case 3:
		return NAME_IS(rest, "key") ? HTTP_NAME_SEC_WEBSOCKET_KEY : HTTP_NAME_OTHER;
	case 6:
		return NAME_IS(rest, "accept") ? HTTP_NAME_SEC_WEBSOCKET_ACCEPT : HTTP_NAME_OTHER;
	case 7:
		return NAME_IS(rest, "version") ? HTTP_NAME_SEC_WEBSOCKET_VERSION : HTTP_NAME_OTHER;
	case 8:
		return NAME_IS(rest, "protocol") ? HTTP_NAME_SEC_WEBSOCKET_PROTOCOL : HTTP_NAME_OTHER;
	case 10:
		return NAME_IS(rest, "extensions") ? HTTP_NAME_SEC_WEBSOCKET_EXTENSIONS
						   : HTTP_NAME_OTHER;
	}
	return HTTP_NAME_OTHER;
}

/* Which indexed name this is: the length leaves two candidates at most. */
static enum http_name classify_name(struct byte_slice name, bool *sec_websocket)
{
	*sec_websocket = false;
	if (name.len == 0)
		return HTTP_NAME_OTHER;
	/* No other indexed name starts with an s. */
	if (ascii_lower(name.ptr[0]) == 's')
		return classify_sec_websocket(name, sec_websocket);
	switch (name.len) {
	case 3:
		if (NAME_IS(name, "via"))
			return HTTP_NAME_VIA;
		break;
	case 4:
		if (NAME_IS(name, "host"))
			return HTTP_NAME_HOST;
		break;
	case 6:
		if (NAME_IS(name, "origin"))
			return HTTP_NAME_ORIGIN;
		break;
	case 7:
		if (NAME_IS(name, "upgrade"))
			return HTTP_NAME_UPGRADE;
		break;
	case 9:
		if (NAME_IS(name, "forwarded"))
			return HTTP_NAME_FORWARDED;
		if (NAME_IS(name, "x-real-ip"))
			return HTTP_NAME_X_REAL_IP;
		break;
	case 10:
		if (NAME_IS(name, "connection"))
			return HTTP_NAME_CONNECTION;
		if (NAME_IS(name, "user-agent"))
			return HTTP_NAME_USER_AGENT;
		break;
	case 12:
		if (NAME_IS(name, "x-request-id"))
			return HTTP_NAME_X_REQUEST_ID;
		break;
	case 14:
		if (NAME_IS(name, "content-length"))
			return HTTP_NAME_CONTENT_LENGTH;
		if (NAME_IS(name, "http2-settings"))
			return HTTP_NAME_HTTP2_SETTINGS;
		break;
	case 15:
		if (NAME_IS(name, "x-forwarded-for"))
			return HTTP_NAME_X_FORWARDED_FOR;
		if (NAME_IS(name, "x-amzn-trace-id"))
			return HTTP_NAME_X_AMZN_TRACE_ID;
		break;
	case 16:
		if (NAME_IS(name, "x-forwarded-port"))
			return HTTP_NAME_X_FORWARDED_PORT;
		if (NAME_IS(name, "x-forwarded-host"))
			return HTTP_NAME_X_FORWARDED_HOST;
		break;
	case 17:
		if (NAME_IS(name, "x-forwarded-proto"))
			return HTTP_NAME_X_FORWARDED_PROTO;
		break;
	}
	return HTTP_NAME_OTHER;
}

enum http_name http_name_of(struct byte_slice name)
{
	bool sec_websocket;

	return classify_name(name, &sec_websocket);
}

const char *http_name_text(enum http_name name)
{
	return (unsigned)name < HTTP_NAME_COUNT ? name_texts[name] : "?";
}

static void store_header(struct byte_slice name, struct byte_slice value, struct http_head *out)
{
	uint32_t i = out->header_count++;
	bool sec_websocket;
	enum http_name known = classify_name(name, &sec_websocket);

	out->headers[i].name = name;
	out->headers[i].value = value;
	out->header_names[i] = (uint8_t)known;
	if (known != HTTP_NAME_OTHER) {
		if (!out->name_count[known]++)
			out->name_first[known] = (uint8_t)i;
		out->names_seen |= 1u << known;
	}
	out->has_sec_websocket |= sec_websocket;
}

/* Returns whether the line became (or extended) a stored header, so that a
 * folded continuation knows whether it has something to extend. stop is the
 * index of the line's first ':', SP or HT, or line.len (line_end_at()). */
static bool parse_header_line(struct byte_slice line, size_t stop, bool prev_stored,
			      struct http_head *out)
{
	size_t colon;
	struct byte_slice name, value;

	if (is_ows(line.ptr[0])) {
		struct byte_slice cont = trim_ows(line);
		struct http_header *prev;

		out->anomalies |= HTTP_ANOM_OBS_FOLD;
		if (!prev_stored)
			return false;
		prev = &out->headers[out->header_count - 1];
		if (cont.len == 0)
			return true;
		if (prev->value.len == 0)
			prev->value = cont;
		else
			prev->value.len = (size_t)(cont.ptr + cont.len - prev->value.ptr);
		return true;
	}

	colon = stop;
	if (stop < line.len && line.ptr[stop] != ':') {
		/* Whitespace first: the colon, if any, lies further on. */
		const uint8_t *found = memchr(line.ptr + stop, ':', line.len - stop);

		colon = found ? (size_t)(found - line.ptr) : line.len;
	}
	if (colon == line.len) {
		out->anomalies |= HTTP_ANOM_NO_COLON;
		return false;
	}
	if (colon == 0) {
		out->anomalies |= HTTP_ANOM_EMPTY_NAME;
		return false;
	}
	name = slice(line.ptr, 0, colon);
	if (stop < colon) {
		out->anomalies |= HTTP_ANOM_SPACE_IN_NAME;
		name = trim_ows(name);
	}
	value = slice(line.ptr, colon + 1, line.len);
	/* "Name: value", one space and no more, is how nearly all are sent. */
	if (value.len >= 2 && value.ptr[0] == ' ' && !is_ows(value.ptr[1]) &&
	    !is_ows(value.ptr[value.len - 1]))
		value = slice(value.ptr, 1, value.len);
	else
		value = trim_ows(value);
	if (out->header_count >= HTTP_HEAD_MAX_HEADERS) {
		out->headers_dropped++;
		out->anomalies |= HTTP_ANOM_HEADERS_DROPPED;
		return false;
	}
	store_header(name, value, out);
	return true;
}

/*
 * One pass over the lines: the first empty line after the start line is the
 * end of the head, the same one http_find_head_end() finds, so the head is
 * not searched twice.
 */
static bool parse_head(const uint8_t *buf, size_t len, enum http_head_kind kind,
		       struct http_head *out)
{
	size_t pos = 0;
	bool first = true, prev_stored = false, lf_only;

	/* The header array is only valid up to header_count: skip clearing it. */
	memset(out, 0, offsetof(struct http_head, headers));
	out->kind = kind;
	if (!buf)
		len = 0;
	if (len && (buf[0] == '\r' || buf[0] == '\n')) {
		pos = skip_empty_lines(buf, len, &lf_only);
		if (pos)
			out->anomalies |= HTTP_ANOM_LEADING_EMPTY_LINE |
					  (lf_only ? HTTP_ANOM_LF_ONLY : 0);
	}

	while (pos < len) {
		size_t stop, content_end, line_end = line_end_at(buf, pos, len, &out->anomalies, &content_end, &stop);
		struct byte_slice line;

		if (line_end == len)
			break; /* a cut last line says nothing reliable */
		line = slice(buf, pos, content_end);
		pos = line_end + 1;

		if (first) {
			first = false;
			out->start_line = line;
			if (kind == HTTP_HEAD_REQUEST)
				parse_request_line(line, out);
			else
				parse_status_line(line, out);
			continue;
		}
		if (line.len == 0) {
			out->complete = true;
			out->head_len = pos;
			break;
		}
		stop -= (size_t)(line.ptr - buf); /* NO_STOP stays past the line */
		prev_stored = parse_header_line(line, stop < line.len ? stop : line.len, prev_stored, out);
	}
	if (!out->complete) {
		out->head_len = len;
		out->anomalies |= HTTP_ANOM_TRUNCATED;
	}
	if (first)
		out->anomalies |= HTTP_ANOM_BAD_START_LINE;

	return out->start_line_ok;
}

bool http_parse_request(const uint8_t *buf, size_t len, struct http_head *out)
{
	return parse_head(buf, len, HTTP_HEAD_REQUEST, out);
}

bool http_parse_response(const uint8_t *buf, size_t len, struct http_head *out)
{
	return parse_head(buf, len, HTTP_HEAD_RESPONSE, out);
}

const struct http_header *http_header_get(const struct http_head *head, enum http_name name,
					  unsigned *count)
{
	bool seen = http_head_has_name(head, name);

	if (count)
		*count = seen ? head->name_count[name] : 0;
	return seen ? &head->headers[head->name_first[name]] : NULL;
}

const struct http_header *http_header_find(const struct http_head *head, const char *name,
					   unsigned *count)
{
	struct byte_slice wanted = byte_slice_from_cstr(name);
	enum http_name known = http_name_of(wanted);
	const struct http_header *first = NULL;
	unsigned n = 0;

	if (known != HTTP_NAME_OTHER)
		return http_header_get(head, known, count);
	for (uint32_t i = 0; i < head->header_count; i++) {
		if (!byte_slice_eq_nocase(head->headers[i].name, name))
			continue;
		if (!first)
			first = &head->headers[i];
		n++;
	}
	if (count)
		*count = n;
	return first;
}

static bool is_list_space(uint8_t c)
{
	/* CR/LF appear inside folded values. */
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The n bytes at p against token (n == strlen(token), in lower case, as
 * http_list_has_token() takes it): enum http_token_match bits. Exact case
 * allows a capital first letter ("Upgrade" for "upgrade"), which is all the
 * case-insensitive match leaves the first byte. */
static unsigned token_match(const uint8_t *p, const char *token, size_t n)
{
	if (!equal_to_lower(p, token, n))
		return 0;
	return HTTP_TOKEN_PRESENT |
	       (memcmp(p + 1, token + 1, n - 1) == 0 ? HTTP_TOKEN_EXACT_CASE : 0);
}

unsigned http_list_has_token(struct byte_slice value, const char *token)
{
	size_t tlen = strlen(token);
	const uint8_t *element, *end;
	unsigned found = 0;

	if (!tlen || !value.len)
		return 0;
	end = value.ptr + value.len;
	for (element = value.ptr;;) {
		const uint8_t *comma = memchr(element, ',', (size_t)(end - element));
		const uint8_t *a = element, *b = comma ? comma : end;

		while (a < b && is_list_space(*a))
			a++;
		while (b > a && is_list_space(b[-1]))
			b--;
		if ((size_t)(b - a) == tlen)
			found |= token_match(a, token, tlen);
		if (!comma)
			return found;
		element = comma + 1;
	}
}

unsigned http_head_name_has_token(const struct http_head *head, enum http_name name,
				  const char *token)
{
	unsigned found = 0, left;

	if (!http_head_has_name(head, name))
		return 0;
	left = head->name_count[name];
	for (uint32_t i = head->name_first[name]; i < head->header_count && left; i++) {
		if (head->header_names[i] != name)
			continue;
		found |= http_list_has_token(head->headers[i].value, token);
		left--;
	}
	return found;
}

unsigned http_head_has_token(const struct http_head *head, const char *name, const char *token)
{
	enum http_name known = http_name_of(byte_slice_from_cstr(name));
	unsigned found = 0;

	if (known != HTTP_NAME_OTHER)
		return http_head_name_has_token(head, known, token);
	for (uint32_t i = 0; i < head->header_count; i++)
		if (byte_slice_eq_nocase(head->headers[i].name, name))
			found |= http_list_has_token(head->headers[i].value, token);
	return found;
}

/* Whether a name has an ASCII upper-case letter: a word has one when
 * lowering it changes it. */
static bool has_upper(struct byte_slice s)
{
	size_t k;

	if (s.len < 4) {
		for (k = 0; k < s.len; k++)
			if (s.ptr[k] >= 'A' && s.ptr[k] <= 'Z')
				return true;
		return false;
	}
	if (s.len < 8)
		return lower_word(load_short(s.ptr, s.len)) != load_short(s.ptr, s.len);
	for (k = 0; k + 8 <= s.len; k += 8)
		if (lower_word(load_word(s.ptr + k)) != load_word(s.ptr + k))
			return true;
	return k < s.len &&
	       lower_word(load_word(s.ptr + s.len - 8)) != load_word(s.ptr + s.len - 8);
}

bool http_head_names_lowercase(const struct http_head *head, const char *const *ignore)
{
	unsigned considered = 0;

	for (uint32_t i = 0; i < head->header_count; i++) {
		struct byte_slice name = head->headers[i].name;
		bool skip = false;

		for (const char *const *ig = ignore; ig && *ig && !skip; ig++)
			skip = byte_slice_eq_nocase(name, *ig);
		if (skip)
			continue;
		if (has_upper(name))
			return false;
		considered++;
	}
	return considered > 0;
}

bool http_head_names_lowercase_except(const struct http_head *head, uint32_t ignore_names)
{
	unsigned considered = 0;

	for (uint32_t i = 0; i < head->header_count; i++) {
		enum http_name known = (enum http_name)head->header_names[i];

		if (known != HTTP_NAME_OTHER && (ignore_names & (1u << known)))
			continue;
		if (has_upper(head->headers[i].name))
			return false;
		considered++;
	}
	return considered > 0;
}

const char *http_anomaly_name(enum http_anomaly anomaly)
{
	switch (anomaly) {
	case HTTP_ANOM_LF_ONLY:
		return "lf-only";
	case HTTP_ANOM_BARE_CR:
		return "bare-cr";
	case HTTP_ANOM_OBS_FOLD:
		return "obs-fold";
	case HTTP_ANOM_NO_COLON:
		return "no-colon";
	case HTTP_ANOM_NUL:
		return "nul";
	case HTTP_ANOM_TRUNCATED:
		return "truncated";
	case HTTP_ANOM_BAD_START_LINE:
		return "bad-start-line";
	case HTTP_ANOM_SPACE_IN_NAME:
		return "space-in-name";
	case HTTP_ANOM_EMPTY_NAME:
		return "empty-name";
	case HTTP_ANOM_HEADERS_DROPPED:
		return "headers-dropped";
	case HTTP_ANOM_LEADING_EMPTY_LINE:
		return "leading-empty-line";
	}
	return "?";
}
