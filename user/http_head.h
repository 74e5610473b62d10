/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * http_head.h - tolerant, diagnostic HTTP/1.x head parsing over sampled bytes.
 *
 * Promise: every function reads only [buf, buf + len), never writes into buf,
 * never allocates, and turns any bytes at all into a result plus anomaly flags
 * instead of an error; parsed fields are slices pointing into buf. Headers
 * the judge asks about are indexed by name while parsing, so that looking
 * one up costs no scan of the others.
 *
 * Why hand-written: wssnoop must keep the raw bytes, survive heads a server
 * would refuse (LF-only, bare CR, folding, NULs, truncation) and say what was
 * odd about them. Strict parsers stop at the first error, and no maintained
 * Debian 12 package offers tolerant diagnostic parsing (llhttp and
 * picohttpparser are not packaged there).
 */
#ifndef WSSNOOP_HTTP_HEAD_H
#define WSSNOOP_HTTP_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "byte_slice.h"

/* Headers kept per head; further ones are counted in headers_dropped. */
#define HTTP_HEAD_MAX_HEADERS 64

/* What the first bytes of a stream direction are. */
enum stream_kind {
	STREAM_NEED_MORE = 0,	 /* too few bytes to tell */
	STREAM_HTTP_REQUEST,	 /* an upper-case method token followed by SP */
	STREAM_HTTP_RESPONSE,	 /* "HTTP/" */
	STREAM_TLS,		 /* TLS handshake record: 0x16 0x03 0x00..0x04 */
	STREAM_HTTP2_PREFACE,	 /* "PRI * HTTP/2" (prefix of the 24-byte preface) */
	STREAM_NOT_HTTP,	 /* anything else */
};

/* Anomalies seen while parsing, as bit flags in http_head.anomalies. */
enum http_anomaly {
	HTTP_ANOM_LF_ONLY = 1u << 0,	     /* a line ended with LF alone */
	HTTP_ANOM_BARE_CR = 1u << 1,	     /* a CR not followed by LF */
	HTTP_ANOM_OBS_FOLD = 1u << 2,	     /* obsolete line folding (line starts with SP/HT) */
	HTTP_ANOM_NO_COLON = 1u << 3,	     /* a header line without ':' (skipped) */
	HTTP_ANOM_NUL = 1u << 4,	     /* a NUL byte inside the head */
	HTTP_ANOM_TRUNCATED = 1u << 5,	     /* no end of head within the bytes given */
	HTTP_ANOM_BAD_START_LINE = 1u << 6,  /* request/status line did not parse */
	HTTP_ANOM_SPACE_IN_NAME = 1u << 7,   /* whitespace inside or after a header name */
	HTTP_ANOM_EMPTY_NAME = 1u << 8,	     /* header line starting with ':' (skipped) */
	HTTP_ANOM_HEADERS_DROPPED = 1u << 9, /* more than HTTP_HEAD_MAX_HEADERS headers */
	HTTP_ANOM_LEADING_EMPTY_LINE = 1u << 10, /* empty lines before the start line (skipped) */
};

/*
 * Header names indexed while parsing: the ones rules.c asks about. Matching
 * is case-insensitive and exact, so the index answers what a scan over the
 * stored headers would. HTTP_NAME_OTHER stands for every other name.
 */
enum http_name {
	HTTP_NAME_HOST = 0,
	HTTP_NAME_CONNECTION,
	HTTP_NAME_UPGRADE,
	HTTP_NAME_SEC_WEBSOCKET_KEY,
	HTTP_NAME_SEC_WEBSOCKET_VERSION,
	HTTP_NAME_SEC_WEBSOCKET_ACCEPT,
	HTTP_NAME_SEC_WEBSOCKET_PROTOCOL,
	HTTP_NAME_SEC_WEBSOCKET_EXTENSIONS,
	HTTP_NAME_HTTP2_SETTINGS,
	HTTP_NAME_USER_AGENT,
	HTTP_NAME_ORIGIN,
	HTTP_NAME_VIA,
	HTTP_NAME_FORWARDED,
	HTTP_NAME_X_FORWARDED_FOR,
	HTTP_NAME_X_FORWARDED_PROTO,
	HTTP_NAME_X_FORWARDED_PORT,
	HTTP_NAME_X_FORWARDED_HOST,
	HTTP_NAME_X_REAL_IP,
	HTTP_NAME_X_AMZN_TRACE_ID,
	HTTP_NAME_X_REQUEST_ID,
	HTTP_NAME_CONTENT_LENGTH,
	HTTP_NAME_COUNT,
	HTTP_NAME_OTHER = HTTP_NAME_COUNT,
};

_Static_assert(HTTP_NAME_COUNT <= 32, "names_seen is a 32-bit mask");

struct http_header {
	struct byte_slice name;	 /* as sent, without trailing whitespace */
	struct byte_slice value; /* OWS-trimmed; a folded value spans its raw continuation lines */
};

enum http_head_kind {
	HTTP_HEAD_REQUEST = 0,
	HTTP_HEAD_RESPONSE,
};

struct http_head {
	enum http_head_kind kind;
	bool complete;	     /* the end of head (empty line) was found */
	bool start_line_ok;  /* request: method and target parsed; response: version and status */
	bool has_version;    /* a well-formed "HTTP/d.d" was present */
	uint8_t version_major;
	uint8_t version_minor;
	uint16_t status;     /* response only: 100-599, 0 when absent or not three such digits */
	uint32_t anomalies;  /* enum http_anomaly bits */
	size_t head_len;     /* bytes of the head including its terminator; == len if !complete */
	struct byte_slice start_line; /* first line without its line end */
	struct byte_slice method;     /* request only */
	struct byte_slice target;     /* request only */
	struct byte_slice version;    /* raw version token, as sent (may be empty) */
	struct byte_slice reason;     /* response only, may be empty (Tomcat sends "101 ") */
	uint32_t header_count;
	uint32_t headers_dropped;
	bool has_sec_websocket; /* a stored header's name starts with "Sec-WebSocket-" */
	uint32_t names_seen;	/* 1u << enum http_name of every indexed name stored */
	uint8_t name_first[HTTP_NAME_COUNT]; /* index in headers[] of the first; valid when seen */
	uint8_t name_count[HTTP_NAME_COUNT]; /* stored headers with that name */
	struct http_header headers[HTTP_HEAD_MAX_HEADERS];
	uint8_t header_names[HTTP_HEAD_MAX_HEADERS]; /* enum http_name of headers[i], below header_count */
};

_Static_assert(HTTP_HEAD_MAX_HEADERS <= 255, "name_first and name_count are bytes");

/* Bytes of empty lines (CRLF or LF) a request line may follow and still be
 * one: four CRLFs. RFC 9112 2.2 asks servers to ignore at least one. */
#define HTTP_LEADING_EMPTY_MAX 8

/* Classify the first bytes of a stream direction. */
enum stream_kind http_classify_start(const uint8_t *buf, size_t len);
/* Stable lower-case name of a stream kind ("http-request", "tls", ...). */
const char *stream_kind_name(enum stream_kind kind);

/*
 * Do the bytes spell "upgrade" or "websocket" anywhere, in any letter case?
 * Without either, no header can be named Upgrade, Sec-WebSocket-Key or
 * Sec-WebSocket-Version, nor carry such a token: names and tokens are runs
 * of the bytes, and the words are letters only, which every case-insensitive
 * comparison folds alike. The reporter's no-attempt test, on every request.
 */
bool http_mentions_upgrade(const uint8_t *buf, size_t len);

/*
 * Find the end of a head: an empty line after CRLF or LF line ends (mixed
 * allowed), empty lines before the start line not counting (RFC 9112 2.2).
 * Returns true and the head length including those lines and the terminator,
 * or false when no end lies within len.
 */
bool http_find_head_end(const uint8_t *buf, size_t len, size_t *head_len);

/*
 * Parse a request or response head from buf. Always fills *out (zeroed
 * first); returns out->start_line_ok. Only complete lines are used: a cut
 * last line is ignored and HTTP_ANOM_TRUNCATED set. Empty lines (CRLF or LF)
 * before the start line are skipped, as RFC 9112 2.2 lets a server do, and
 * HTTP_ANOM_LEADING_EMPTY_LINE set; head_len counts them.
 */
bool http_parse_request(const uint8_t *buf, size_t len, struct http_head *out);
bool http_parse_response(const uint8_t *buf, size_t len, struct http_head *out);

/* First header with this name (case-insensitive), or NULL; *count (may be
 * NULL) receives how many headers carry the name. */
const struct http_header *http_header_find(const struct http_head *head, const char *name,
					   unsigned *count);
/* The same for an indexed name, without a scan. */
const struct http_header *http_header_get(const struct http_head *head, enum http_name name,
					  unsigned *count);

static inline bool http_head_has_name(const struct http_head *head, enum http_name name)
{
	return (unsigned)name < HTTP_NAME_COUNT && (head->names_seen & (1u << name));
}

/* Which indexed name this is (case-insensitive), or HTTP_NAME_OTHER. */
enum http_name http_name_of(struct byte_slice name);
/* Its lower-case spelling ("sec-websocket-key"), or "?" for HTTP_NAME_OTHER. */
const char *http_name_text(enum http_name name);

/* Result bits of a comma-separated token test. */
enum http_token_match {
	HTTP_TOKEN_PRESENT = 1u << 0,	 /* token found, case-insensitively */
	HTTP_TOKEN_EXACT_CASE = 1u << 1, /* found spelled all lower-case or Capitalised
					    (e.g. "upgrade"/"Upgrade": the only ones Spring accepts) */
};

/* Test a comma-separated list value for a token (token given in lower case). */
unsigned http_list_has_token(struct byte_slice value, const char *token);
/* The same over every header named name (duplicates are one list, as RFC 9110 says). */
unsigned http_head_has_token(const struct http_head *head, const char *name, const char *token);
unsigned http_head_name_has_token(const struct http_head *head, enum http_name name,
				  const char *token);

/*
 * True when at least one header name is considered and none has an upper-case
 * letter: the sign of a request that crossed HTTP/2. ignore is a NULL-terminated
 * list of lower-case names to skip (headers a proxy adds itself), or NULL.
 */
bool http_head_names_lowercase(const struct http_head *head, const char *const *ignore);
/* The same with the names to skip given as a mask of 1u << enum http_name. */
bool http_head_names_lowercase_except(const struct http_head *head, uint32_t ignore_names);

/* Stable name of one anomaly bit ("lf-only", "bare-cr", ...), or "?". */
const char *http_anomaly_name(enum http_anomaly anomaly);

#endif /* WSSNOOP_HTTP_HEAD_H */
