/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * rules.h - the WebSocket handshake judge: which RFC 6455 rules a request
 * breaks, which hop the bytes point at, and what became of the handshake.
 *
 * Promise: one table of rules and one of hints, with stable ids, serve text,
 * JSON and metrics alike; judging is pure, reads only the parsed heads, and
 * fills a small fixed-size struct judgement (bitmasks, no pointers).
 *
 * A request's rule violations are listed whatever the verdict: a lenient
 * server may upgrade a request that breaks a rule, and then the verdict stays
 * "upgraded" and the rules are warnings. When the request sample was cut
 * ("truncated"), rules and hints that rest on a header being absent are not
 * claimed: the header may lie beyond the cut.
 */
#ifndef WSSNOOP_RULES_H
#define WSSNOOP_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_head.h"
#include "path_glob.h"

/* Rules, in the order a server checks them. Ids: rule_id(). */
enum ws_rule {
	RULE_METHOD_NOT_GET = 0,    /* "method-not-get" */
	RULE_HTTP_VERSION,	    /* "http-version": not HTTP/1.1 or a later 1.x */
	RULE_HOST_MISSING,	    /* "host-missing" */
	RULE_UPGRADE_MISSING,	    /* "upgrade-missing" */
	RULE_UPGRADE_NOT_WEBSOCKET, /* "upgrade-not-websocket": e.g. h2c */
	RULE_CONNECTION_NO_UPGRADE, /* "connection-no-upgrade" */
	RULE_KEY_MISSING,	    /* "key-missing" */
	RULE_KEY_MALFORMED,	    /* "key-malformed": not base64 of 16 bytes, or repeated */
	RULE_VERSION_MISSING,	    /* "version-missing" */
	RULE_VERSION_NOT_13,	    /* "version-not-13": other value, or repeated */
	RULE_HTTP2_PREFACE,	    /* "http2-preface" */
	RULE_TLS_ON_PLAINTEXT,	    /* "tls-on-plaintext" */
	RULE_NOT_HTTP,		    /* "not-http" */
	RULE_TRUNCATED,		    /* "truncated": a head sample cut before its end */
	RULE_ACCEPT_MISMATCH,	    /* "accept-mismatch": 101 with a wrong (or repeated) accept */
	RULE_ACCEPT_MISSING,	    /* "accept-missing": 101 without Sec-WebSocket-Accept */
	RULE_COUNT,
};

/* Hints: the hop at fault, drawn from the bytes. Ids: hint_id(). */
enum ws_hint {
	HINT_PROXY_HTTP10 = 0,	   /* "proxy-http10" */
	HINT_HTTP2_CLIENT,	   /* "http2-client": Sec-WebSocket-* without Upgrade, and every
				      name a proxy does not add itself (Host, Connection,
				      X-Forwarded-*, Via, ...) arrived lower-case */
	HINT_CONNECTION_HARDCODED, /* "connection-hardcoded" */
	HINT_NGINX_STRIPPED,	   /* "nginx-stripped" */
	HINT_UPGRADE_LOST,	   /* "upgrade-lost": only when none of the four above explains it */
	HINT_HEALTH_CHECK,	   /* "health-check" */
	HINT_NO_WEBSOCKET_CLIENT,  /* "no-websocket-client" */
	HINT_FORWARDED,		   /* "forwarded" */
	HINT_VIA,		   /* "via" */
	HINT_AWS_ALB,		   /* "aws-alb" */
	HINT_H2C_UPGRADE,	   /* "h2c-upgrade" */
	HINT_CONNECTION_CASE,	   /* "connection-case": Spring accepts only Upgrade/upgrade */
	HINT_COUNT,
};

enum ws_verdict {
	VERDICT_PENDING = 0, /* "pending": no answer judged yet */
	VERDICT_UPGRADED,    /* "upgraded": 101 with a matching accept */
	VERDICT_REJECTED,    /* "rejected": a non-101 answer */
	VERDICT_INVALID,     /* "invalid": request not HTTP/1.x, or a broken 101, or an answer not HTTP */
	VERDICT_NO_RESPONSE, /* "no-response": nothing within the timeout */
	VERDICT_CLOSED,	     /* "closed": connection closed before any answer */
	VERDICT_COUNT,
};

_Static_assert(RULE_COUNT <= 32 && HINT_COUNT <= 32, "rule and hint sets are 32-bit masks");

struct judgement {
	uint32_t rules;	      /* 1u << enum ws_rule */
	uint32_t hints;	      /* 1u << enum ws_hint */
	uint8_t verdict;      /* enum ws_verdict */
	uint8_t request_kind; /* enum stream_kind of the request's first bytes */
	uint16_t status;      /* the answer's status code, 0 when there was none */
};

/*
 * Is this a WebSocket attempt worth judging? True for TLS, HTTP/2 preface,
 * HTTP response and not-HTTP first bytes on the watched port; for an HTTP
 * request when its target matches a pattern (patterns may be NULL) or it
 * carries Upgrade, Sec-WebSocket-Key or Sec-WebSocket-Version.
 */
bool ws_is_attempt(enum stream_kind kind, const struct http_head *req,
		   const struct path_set *patterns);

/*
 * Judge a request: resets *j, then sets rule and hint bits. kind is what
 * http_classify_start() said of the first bytes; req (NULL unless kind is
 * STREAM_HTTP_REQUEST) the parsed head; truncated whether the capture cut the
 * sample (an incomplete req counts as truncated too). Non-HTTP/1.x bytes set
 * the verdict to invalid at once.
 */
void judge_request(struct judgement *j, enum stream_kind kind, const struct http_head *req,
		   bool truncated);

/*
 * Judge the answer: status, verdict and the accept check against the key of
 * req (NULL when the request was not captured: the accept is then not
 * checked). resp is a parsed response head; one whose status line did not
 * parse is "not HTTP" and makes the verdict invalid. An invalid request
 * keeps its verdict.
 */
void judge_answer(struct judgement *j, const struct http_head *req, const struct http_head *resp);

/* No answer came: the connection closed (closed) or the timeout passed. */
void judge_no_answer(struct judgement *j, bool closed);

bool judgement_has_rule(const struct judgement *j, enum ws_rule rule);
bool judgement_has_hint(const struct judgement *j, enum ws_hint hint);
/* Next set bit at or after from in a rules or hints mask, or -1:
 *   for (int r = mask_next(j.rules, 0); r >= 0; r = mask_next(j.rules, r + 1)) */
int mask_next(uint32_t mask, int from);

/* The rules table. */
const char *rule_id(enum ws_rule rule);	     /* stable id, e.g. "upgrade-missing" */
const char *rule_words(enum ws_rule rule);   /* short words for a text line */
const char *rule_servers(enum ws_rule rule); /* what common servers log or answer */

/* The hints table. */
const char *hint_id(enum ws_hint hint);	  /* stable id, e.g. "proxy-http10" */
const char *hint_text(enum ws_hint hint); /* one sentence: the hop and the fix */
/*
 * The bytes that show it (e.g. "Via: 1.1 squid", "User-Agent: kube-probe/1.29"),
 * written with a NUL into out; length returned, 0 when the hint has none or req
 * is NULL. Raw request bytes: escape before printing.
 */
size_t hint_evidence(enum ws_hint hint, const struct http_head *req, char *out, size_t cap);
/* hint_text() followed by " [evidence]" when there is some; same caveats. */
size_t hint_format(enum ws_hint hint, const struct http_head *req, char *out, size_t cap);

const char *verdict_name(enum ws_verdict verdict); /* "upgraded", "rejected", ... */

#endif /* WSSNOOP_RULES_H */
