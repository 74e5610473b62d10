// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* http_head.c - tolerant HTTP/1.x head parsing; see http_head.h for the promise. */
#include "http_head.h"

#include <stddef.h>
#include <string.h>

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

enum stream_kind http_classify_start(const uint8_t *buf, size_t len)
{
	size_t n;

	if (len == 0)
		return STREAM_NEED_MORE;

	if (buf[0] == 0x16) {
		if (len < 2)
			return STREAM_NEED_MORE;
		if (buf[1] != 0x03)
			return STREAM_NOT_HTTP;
		if (len < 3)
			return STREAM_NEED_MORE;
		return buf[2] <= 0x04 ? STREAM_TLS : STREAM_NOT_HTTP;
	}

	n = min_size(len, H2_PREFACE_MIN); /* 12 bytes decide: more never undo it */
	if (memcmp(buf, h2_preface, n) == 0)
		return len >= H2_PREFACE_MIN ? STREAM_HTTP2_PREFACE : STREAM_NEED_MORE;

	n = min_size(len, 5);
	if (memcmp(buf, "HTTP/", n) == 0)
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

bool http_find_head_end(const uint8_t *buf, size_t len, size_t *head_len)
{
	size_t pos = 0;

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

/* Index of the first byte at or after i in line that is (or is not) a space. */
static size_t skip_to(struct byte_slice line, size_t i, bool want_space)
{
	while (i < line.len && (line.ptr[i] == ' ') != want_space)
		i++;
	return i;
}

static void parse_request_line(struct byte_slice line, struct http_head *out)
{
	size_t method_end = skip_to(line, 0, true);
	size_t target_start = skip_to(line, method_end, false);
	size_t target_end = skip_to(line, target_start, true);
	size_t version_start = skip_to(line, target_end, false);
	bool method_ok = method_end > 0;

	for (size_t i = 0; i < method_end; i++)
		method_ok = method_ok && is_tchar(line.ptr[i]);

	out->method = slice(line.ptr, 0, method_end);
	out->target = slice(line.ptr, target_start, target_end);
	out->version = trim_ows(slice(line.ptr, version_start, line.len));
	out->start_line_ok = method_ok && out->target.len > 0;
	if (!parse_version(out->version, out) || !out->start_line_ok)
		out->anomalies |= HTTP_ANOM_BAD_START_LINE;
}

static void parse_status_line(struct byte_slice line, struct http_head *out)
{
	size_t version_end = skip_to(line, 0, true);
	size_t status_start = skip_to(line, version_end, false);
	size_t status_end = skip_to(line, status_start, true);
	struct byte_slice status = slice(line.ptr, status_start, status_end);

	out->version = slice(line.ptr, 0, version_end);
	out->reason = trim_ows(slice(line.ptr, skip_to(line, status_end, false), line.len));
	if (status.len == 3 && is_digit(status.ptr[0]) && is_digit(status.ptr[1]) &&
	    is_digit(status.ptr[2]))
		out->status = (uint16_t)((status.ptr[0] - '0') * 100 + (status.ptr[1] - '0') * 10 +
					 (status.ptr[2] - '0'));
	out->start_line_ok = parse_version(out->version, out) && out->status != 0;
	if (!out->start_line_ok)
		out->anomalies |= HTTP_ANOM_BAD_START_LINE;
}

/* Returns whether the line became (or extended) a stored header, so that a
 * folded continuation knows whether it has something to extend. */
static bool parse_header_line(struct byte_slice line, bool prev_stored, struct http_head *out)
{
	const uint8_t *colon;
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

	colon = memchr(line.ptr, ':', line.len);
	if (!colon) {
		out->anomalies |= HTTP_ANOM_NO_COLON;
		return false;
	}
	if (colon == line.ptr) {
		out->anomalies |= HTTP_ANOM_EMPTY_NAME;
		return false;
	}
	name = slice(line.ptr, 0, (size_t)(colon - line.ptr));
	for (size_t i = 0; i < name.len; i++)
		if (is_ows(name.ptr[i]))
			out->anomalies |= HTTP_ANOM_SPACE_IN_NAME;
	name = trim_ows(name);
	value = trim_ows(slice(line.ptr, (size_t)(colon - line.ptr) + 1, line.len));
	if (out->header_count >= HTTP_HEAD_MAX_HEADERS) {
		out->headers_dropped++;
		out->anomalies |= HTTP_ANOM_HEADERS_DROPPED;
		return false;
	}
	out->headers[out->header_count].name = name;
	out->headers[out->header_count].value = value;
	out->header_count++;
	return true;
}

static bool parse_head(const uint8_t *buf, size_t len, enum http_head_kind kind,
		       struct http_head *out)
{
	size_t limit, pos = 0;
	bool first = true, prev_stored = false;

	/* The header array is only valid up to header_count: skip clearing it. */
	memset(out, 0, offsetof(struct http_head, headers));
	out->kind = kind;
	if (!buf)
		len = 0;
	out->complete = http_find_head_end(buf, len, &out->head_len);
	if (!out->complete) {
		out->head_len = len;
		out->anomalies |= HTTP_ANOM_TRUNCATED;
	}
	limit = out->head_len;
	if (limit && memchr(buf, '\0', limit))
		out->anomalies |= HTTP_ANOM_NUL;
	/* Whole region, not per line: a CR-only head has no lines at all. A CR
	 * that ends the bytes given may yet be followed by LF. */
	for (const uint8_t *cr = limit ? memchr(buf, '\r', limit) : NULL; cr;
	     cr = memchr(cr + 1, '\r', limit - (size_t)(cr + 1 - buf))) {
		if ((size_t)(cr + 1 - buf) < len && cr[1] != '\n') {
			out->anomalies |= HTTP_ANOM_BARE_CR;
			break;
		}
	}

	while (pos < limit) {
		const uint8_t *lf = memchr(buf + pos, '\n', limit - pos);
		size_t line_end, content_end;
		struct byte_slice line;

		if (!lf)
			break; /* a cut last line says nothing reliable */
		line_end = (size_t)(lf - buf);
		content_end = line_end;
		if (content_end > pos && buf[content_end - 1] == '\r')
			content_end--;
		else
			out->anomalies |= HTTP_ANOM_LF_ONLY;
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
		if (line.len == 0)
			break;
		prev_stored = parse_header_line(line, prev_stored, out);
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

const struct http_header *http_header_find(const struct http_head *head, const char *name,
					   unsigned *count)
{
	const struct http_header *first = NULL;
	unsigned n = 0;

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

unsigned http_list_has_token(struct byte_slice value, const char *token)
{
	size_t tlen = strlen(token), pos = 0;
	unsigned found = 0;

	while (pos <= value.len && tlen) {
		const uint8_t *comma = value.len > pos ? memchr(value.ptr + pos, ',', value.len - pos)
						       : NULL;
		size_t end = comma ? (size_t)(comma - value.ptr) : value.len;
		size_t a = pos, b = end;

		while (a < b && is_list_space(value.ptr[a]))
			a++;
		while (b > a && is_list_space(value.ptr[b - 1]))
			b--;
		if (byte_slice_eq_nocase(slice(value.ptr, a, b), token)) {
			bool exact = true;

			found |= HTTP_TOKEN_PRESENT;
			for (size_t i = 0; i < tlen; i++) {
				uint8_t want = (uint8_t)token[i];

				if (value.ptr[a + i] != want &&
				    !(i == 0 && value.ptr[a] == (uint8_t)(want - ('a' - 'A')) &&
				      want >= 'a' && want <= 'z'))
					exact = false;
			}
			if (exact)
				found |= HTTP_TOKEN_EXACT_CASE;
		}
		if (!comma)
			break;
		pos = end + 1;
	}
	return found;
}

unsigned http_head_has_token(const struct http_head *head, const char *name, const char *token)
{
	unsigned found = 0;

	for (uint32_t i = 0; i < head->header_count; i++)
		if (byte_slice_eq_nocase(head->headers[i].name, name))
			found |= http_list_has_token(head->headers[i].value, token);
	return found;
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
		for (size_t k = 0; k < name.len; k++)
			if (name.ptr[k] >= 'A' && name.ptr[k] <= 'Z')
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
	}
	return "?";
}
