// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* rules.c - the handshake judge; see rules.h for the promise. */
#include "rules.h"

#include <string.h>

#include "wsaccept.h"

struct rule_info {
	const char *id;
	const char *words;
	const char *servers;
};

/* What servers do, from their sources and this project's measurements
 * (/work/shared/HANDSHAKE.md); "measured" marks what was seen on the wire. */
static const struct rule_info rule_table[RULE_COUNT] = {
	[RULE_METHOD_NOT_GET] = {
		"method-not-get", "method is not GET",
		"Spring 405 + Allow: GET (log: unexpected HTTP method); Tomcat passes it to the "
		"app (measured 404); Node ws 405; Python websockets 400 (measured); gorilla 405",
	},
	[RULE_HTTP_VERSION] = {
		"http-version", "not HTTP/1.1 or later",
		"Python websockets refuses (measured 400); Jetty 12 does not upgrade; Spring, "
		"Tomcat and Node ws do not check the version",
	},
	[RULE_HOST_MISSING] = {
		"host-missing", "no Host header",
		"RFC 6455 and RFC 9112 require Host; HTTP/1.1 servers answer 400",
	},
	[RULE_UPGRADE_MISSING] = {
		"upgrade-missing", "no Upgrade header",
		"Spring 400 (log: Handshake failed due to invalid Upgrade header: null); Tomcat "
		"passes it to the app (measured 404); Undertow hands it to the next handler; "
		"Node ws 400; Python websockets 426; gorilla 426",
	},
	[RULE_UPGRADE_NOT_WEBSOCKET] = {
		"upgrade-not-websocket", "Upgrade is not websocket",
		"Spring 400 (log: Handshake failed due to invalid Upgrade header: <value>, e.g. "
		"h2c); Tomcat passes it to the app (measured 404); Node ws 400; Python "
		"websockets 426; gorilla 426",
	},
	[RULE_CONNECTION_NO_UPGRADE] = {
		"connection-no-upgrade", "Connection lacks upgrade",
		"Spring 400 (only the tokens Upgrade/upgrade pass); Tomcat 400; Node 426 (never "
		"reaches ws); Python websockets 426; gorilla 400",
	},
	[RULE_KEY_MISSING] = {
		"key-missing", "no Sec-WebSocket-Key",
		"Spring 400; Tomcat 400; Node ws 400; Python websockets 400; gorilla 400",
	},
	[RULE_KEY_MALFORMED] = {
		"key-malformed", "Sec-WebSocket-Key is not base64 of 16 bytes",
		"Spring does not check the format; Tomcat 400; Node ws 400; Python websockets "
		"400; gorilla 400",
	},
	[RULE_VERSION_MISSING] = {
		"version-missing", "no Sec-WebSocket-Version",
		"Spring 426 + Sec-WebSocket-Version: 13; Tomcat 426; Node ws 400; Python "
		"websockets 400; gorilla 400",
	},
	[RULE_VERSION_NOT_13] = {
		"version-not-13", "Sec-WebSocket-Version is not 13",
		"Spring 426 + Sec-WebSocket-Version: 13; Tomcat 426 (measured); Node ws 400 + "
		"Sec-WebSocket-Version: 13, 8; Python websockets 400; gorilla 400",
	},
	[RULE_HTTP2_PREFACE] = {
		"http2-preface", "HTTP/2 preface on an HTTP/1.1 port",
		"HTTP/1.1 servers answer 400 or close (Python websockets: measured 400); a client "
		"or balancer speaks prior-knowledge HTTP/2 to the target: use HTTP/1.1",
	},
	[RULE_TLS_ON_PLAINTEXT] = {
		"tls-on-plaintext", "TLS ClientHello on a plaintext port",
		"the server reads garbage and answers 400 or closes (Python websockets: measured "
		"400); wrong port or scheme (wss:// aimed at a ws:// port)",
	},
	[RULE_NOT_HTTP] = {
		"not-http", "first bytes are not an HTTP/1.x request",
		"servers answer 400 or close the connection",
	},
	[RULE_TRUNCATED] = {
		"truncated", "head sample cut before its end",
		"not the server: wssnoop's sample budget ended first; headers beyond the cut are "
		"unknown (raise the sample size)",
	},
	[RULE_ACCEPT_MISMATCH] = {
		"accept-mismatch", "101 with a wrong Sec-WebSocket-Accept",
		"clients fail the connection (browsers: Incorrect 'Sec-WebSocket-Accept' header "
		"value); a hop changed the key or the answer",
	},
	[RULE_ACCEPT_MISSING] = {
		"accept-missing", "101 without Sec-WebSocket-Accept",
		"clients fail the connection (browsers: 'Sec-WebSocket-Accept' header is missing)",
	},
};

struct hint_info {
	const char *id;
	const char *text;
};

static const struct hint_info hint_table[HINT_COUNT] = {
	[HINT_PROXY_HTTP10] = {
		"proxy-http10",
		"HTTP/1.0 with Connection: close and no Upgrade: a proxy (typically nginx without "
		"WebSocket settings) downgraded the request; add proxy_http_version 1.1; "
		"proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "
		"$connection_upgrade;",
	},
	[HINT_HTTP2_CLIENT] = {
		"http2-client",
		"Lower-case header names and no Upgrade: an HTTP/2 client came through an "
		"HTTP/2-terminating hop; make the client use HTTP/1.1 (curl --http1.1) or the "
		"hop support RFC 8441",
	},
	[HINT_CONNECTION_HARDCODED] = {
		"connection-hardcoded",
		"Connection: upgrade without Upgrade: a proxy hard-codes Connection \"upgrade\" "
		"for a client that sent no Upgrade; use map $http_upgrade $connection_upgrade "
		"and have the client speak HTTP/1.1",
	},
	[HINT_NGINX_STRIPPED] = {
		"nginx-stripped",
		"HTTP/1.1 with Sec-WebSocket-* but neither Upgrade nor Connection: nginx 1.29.7+ "
		"without WebSocket settings, or a hop dropping hop-by-hop headers; add "
		"proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "
		"$connection_upgrade;",
	},
	[HINT_UPGRADE_LOST] = {
		"upgrade-lost",
		"Sec-WebSocket-* arrived without Upgrade: a hop stripped the hop-by-hop headers "
		"or the client spoke HTTP/2; make every hop pass Upgrade and Connection (or use "
		"a TCP listener, or wss://)",
	},
	[HINT_HEALTH_CHECK] = {
		"health-check",
		"A health check probes the WebSocket path without Upgrade or Sec-WebSocket-*; "
		"give checks their own path",
	},
	[HINT_NO_WEBSOCKET_CLIENT] = {
		"no-websocket-client",
		"No Upgrade and no Sec-WebSocket-* headers: a browser page load, scanner or "
		"crawler, not a WebSocket client; nothing to fix",
	},
	[HINT_FORWARDED] = {
		"forwarded",
		"The request crossed a proxy or load balancer; check that this hop passes Upgrade "
		"and Connection, or give it a TCP listener",
	},
	[HINT_VIA] = {
		"via",
		"A proxy announced itself in Via; it must pass Upgrade and Connection, or use "
		"wss:// so it cannot interfere",
	},
	[HINT_AWS_ALB] = {
		"aws-alb",
		"An AWS load balancer is in front; it handles WebSocket itself, so look at the "
		"next hop, and mind its 60 s idle timeout",
	},
	[HINT_H2C_UPGRADE] = {
		"h2c-upgrade",
		"The client asked for an h2c (cleartext HTTP/2) upgrade, not WebSocket; nothing "
		"to fix on the WebSocket side",
	},
	[HINT_CONNECTION_CASE] = {
		"connection-case",
		"Connection carries upgrade in a spelling other than Upgrade/upgrade: valid, but "
		"Spring answers 400 to it; fix the spelling at the client or proxy",
	},
};

static const char *const verdict_names[VERDICT_COUNT] = {
	[VERDICT_PENDING] = "pending",	       [VERDICT_UPGRADED] = "upgraded",
	[VERDICT_REJECTED] = "rejected",       [VERDICT_INVALID] = "invalid",
	[VERDICT_NO_RESPONSE] = "no-response", [VERDICT_CLOSED] = "closed",
};

/* Headers a proxy adds itself: they keep their canonical case even when the
 * client's own headers crossed HTTP/2 and arrive lower-case. */
static const uint32_t hop_added_names =
	(1u << HTTP_NAME_HOST) | (1u << HTTP_NAME_CONNECTION) | (1u << HTTP_NAME_X_FORWARDED_FOR) |
	(1u << HTTP_NAME_X_FORWARDED_PROTO) | (1u << HTTP_NAME_X_FORWARDED_PORT) |
	(1u << HTTP_NAME_X_FORWARDED_HOST) | (1u << HTTP_NAME_X_REAL_IP) | (1u << HTTP_NAME_FORWARDED) |
	(1u << HTTP_NAME_VIA) | (1u << HTTP_NAME_X_AMZN_TRACE_ID) | (1u << HTTP_NAME_X_REQUEST_ID) |
	(1u << HTTP_NAME_CONTENT_LENGTH);

static const uint32_t forwarded_names =
	(1u << HTTP_NAME_X_FORWARDED_FOR) | (1u << HTTP_NAME_X_FORWARDED_PROTO) |
	(1u << HTTP_NAME_X_FORWARDED_PORT) | (1u << HTTP_NAME_X_FORWARDED_HOST) |
	(1u << HTTP_NAME_FORWARDED) | (1u << HTTP_NAME_X_REAL_IP);

/* User-Agent fragments of load balancer and monitoring probes. */
static const char *const health_check_agents[] = {
	"ELB-HealthChecker", "kube-probe",	"GoogleHC",	"Consul Health", "Pingdom",
	"UptimeRobot",	     "StatusCake",	"Site24x7",	"HealthCheck",	 "health-check",
	"health_check",	     "Envoy/HC",	"nagios",	"check_http",	 "Blackbox Exporter",
	"Zabbix",	     "Datadog/Synthetics", "Amazon-Route53-Health-Check", NULL,
};

static bool has_header(const struct http_head *req, enum http_name name)
{
	return http_head_has_name(req, name);
}

/* User-Agent values up to this long are lowered once and searched with memchr;
 * longer ones, which no probe sends, fragment by fragment as before. */
#define AGENT_LOWERED_MAX 512

/* Whether lit occurs in text, a lower-case copy, ignoring ASCII case. */
static bool lowered_contains(const uint8_t *text, size_t len, const char *lit)
{
	size_t n = strlen(lit);
	const uint8_t *p = text, *end = text + len;

	if (n == 0)
		return true;
	while ((size_t)(end - p) >= n &&
	       (p = memchr(p, ascii_lower((uint8_t)lit[0]), (size_t)(end - p) - n + 1))) {
		size_t k = 1;

		while (k < n && p[k] == ascii_lower((uint8_t)lit[k]))
			k++;
		if (k == n)
			return true;
		p++;
	}
	return false;
}

static bool is_health_check(const struct http_head *req)
{
	const struct http_header *ua = http_header_get(req, HTTP_NAME_USER_AGENT, NULL);
	uint8_t lowered[AGENT_LOWERED_MAX];

	if (!ua)
		return false;
	if (ua->value.len > sizeof(lowered)) {
		for (const char *const *agent = health_check_agents; *agent; agent++)
			if (byte_slice_contains_nocase(ua->value, *agent))
				return true;
		return false;
	}
	for (size_t i = 0; i < ua->value.len; i++)
		lowered[i] = ascii_lower(ua->value.ptr[i]);
	for (const char *const *agent = health_check_agents; *agent; agent++)
		if (lowered_contains(lowered, ua->value.len, *agent))
			return true;
	return false;
}

bool ws_is_attempt(enum stream_kind kind, const struct http_head *req,
		   const struct path_set *patterns)
{
	switch (kind) {
	case STREAM_TLS:
	case STREAM_HTTP2_PREFACE:
	case STREAM_HTTP_RESPONSE:
	case STREAM_NOT_HTTP:
		return true;
	case STREAM_NEED_MORE:
		return false;
	case STREAM_HTTP_REQUEST:
		break;
	}
	if (!req)
		return false;
	if (has_header(req, HTTP_NAME_UPGRADE) || has_header(req, HTTP_NAME_SEC_WEBSOCKET_KEY) ||
	    has_header(req, HTTP_NAME_SEC_WEBSOCKET_VERSION))
		return true;
	return patterns && req->start_line_ok &&
	       path_set_match(patterns, req->target.ptr, req->target.len) >= 0;
}

static void set_rule(struct judgement *j, enum ws_rule rule)
{
	j->rules |= 1u << rule;
}

static void set_hint(struct judgement *j, enum ws_hint hint)
{
	j->hints |= 1u << hint;
}

/* connection: what http_head_name_has_token() says of Connection and "upgrade". */
static void judge_request_rules(struct judgement *j, const struct http_head *req, bool cut,
				unsigned connection)
{
	const struct http_header *key, *version;
	unsigned key_count, version_count;

	if (!byte_slice_eq(req->method, "GET"))
		set_rule(j, RULE_METHOD_NOT_GET);
	if (!req->has_version || req->version_major != 1 || req->version_minor < 1)
		set_rule(j, RULE_HTTP_VERSION);
	if (!cut && !has_header(req, HTTP_NAME_HOST))
		set_rule(j, RULE_HOST_MISSING);

	if (has_header(req, HTTP_NAME_UPGRADE)) {
		if (!(http_head_name_has_token(req, HTTP_NAME_UPGRADE, "websocket") & HTTP_TOKEN_PRESENT))
			set_rule(j, RULE_UPGRADE_NOT_WEBSOCKET);
	} else if (!cut) {
		set_rule(j, RULE_UPGRADE_MISSING);
	}

	/* A Connection seen without upgrade is a fact even in a cut sample. */
	if (!(connection & HTTP_TOKEN_PRESENT) && (!cut || has_header(req, HTTP_NAME_CONNECTION)))
		set_rule(j, RULE_CONNECTION_NO_UPGRADE);

	/* Repeated keys or versions: servers refuse them (or join them into a
	 * value that no longer parses), so they count as malformed. */
	key = http_header_get(req, HTTP_NAME_SEC_WEBSOCKET_KEY, &key_count);
	if (!key) {
		if (!cut)
			set_rule(j, RULE_KEY_MISSING);
	} else if (key_count > 1 || !ws_key_is_wellformed(key->value.ptr, key->value.len)) {
		set_rule(j, RULE_KEY_MALFORMED);
	}

	version = http_header_get(req, HTTP_NAME_SEC_WEBSOCKET_VERSION, &version_count);
	if (!version) {
		if (!cut)
			set_rule(j, RULE_VERSION_MISSING);
	} else if (version_count > 1 || !byte_slice_eq(version->value, "13")) {
		set_rule(j, RULE_VERSION_NOT_13);
	}
}

static void judge_request_hints(struct judgement *j, const struct http_head *req, bool cut,
				unsigned conn_upgrade)
{
	bool has_upgrade = has_header(req, HTTP_NAME_UPGRADE);
	bool upgrade_known_absent = !has_upgrade && !cut;
	bool has_sec = req->has_sec_websocket;
	bool has_key_or_version = has_header(req, HTTP_NAME_SEC_WEBSOCKET_KEY) ||
				  has_header(req, HTTP_NAME_SEC_WEBSOCKET_VERSION);
	bool http10 = req->has_version && req->version_major == 1 && req->version_minor == 0;
	bool http11 = req->has_version && req->version_major == 1 && req->version_minor == 1;
	bool explained = false;

	/* Connection: close matters only here: test it last. */
	if (http10 && upgrade_known_absent &&
	    (http_head_name_has_token(req, HTTP_NAME_CONNECTION, "close") & HTTP_TOKEN_PRESENT)) {
		set_hint(j, HINT_PROXY_HTTP10);
		explained = true;
	}
	if (has_key_or_version && upgrade_known_absent &&
	    http_head_names_lowercase_except(req, hop_added_names)) {
		set_hint(j, HINT_HTTP2_CLIENT);
		explained = true;
	}
	if ((conn_upgrade & HTTP_TOKEN_PRESENT) && upgrade_known_absent) {
		set_hint(j, HINT_CONNECTION_HARDCODED);
		explained = true;
	}
	if (has_key_or_version && upgrade_known_absent && http11 &&
	    !has_header(req, HTTP_NAME_CONNECTION) && !explained) {
		set_hint(j, HINT_NGINX_STRIPPED);
		explained = true;
	}
	if (has_key_or_version && upgrade_known_absent && !explained)
		set_hint(j, HINT_UPGRADE_LOST);

	if (!has_sec && !cut && is_health_check(req))
		set_hint(j, HINT_HEALTH_CHECK);
	else if (!has_sec && upgrade_known_absent)
		set_hint(j, HINT_NO_WEBSOCKET_CLIENT);

	if (req->names_seen & forwarded_names)
		set_hint(j, HINT_FORWARDED);
	if (has_header(req, HTTP_NAME_VIA))
		set_hint(j, HINT_VIA);
	if (has_header(req, HTTP_NAME_X_AMZN_TRACE_ID))
		set_hint(j, HINT_AWS_ALB);
	if ((http_head_name_has_token(req, HTTP_NAME_UPGRADE, "h2c") & HTTP_TOKEN_PRESENT) ||
	    has_header(req, HTTP_NAME_HTTP2_SETTINGS))
		set_hint(j, HINT_H2C_UPGRADE);
	if ((conn_upgrade & HTTP_TOKEN_PRESENT) && !(conn_upgrade & HTTP_TOKEN_EXACT_CASE))
		set_hint(j, HINT_CONNECTION_CASE);
}

void judge_request(struct judgement *j, enum stream_kind kind, const struct http_head *req,
		   bool truncated)
{
	unsigned connection;
	bool cut;

	memset(j, 0, sizeof(*j));
	j->request_kind = (uint8_t)kind;
	switch (kind) {
	case STREAM_TLS:
		set_rule(j, RULE_TLS_ON_PLAINTEXT);
		j->verdict = VERDICT_INVALID;
		return;
	case STREAM_HTTP2_PREFACE:
		set_rule(j, RULE_HTTP2_PREFACE);
		j->verdict = VERDICT_INVALID;
		return;
	case STREAM_HTTP_RESPONSE:
	case STREAM_NOT_HTTP:
		set_rule(j, RULE_NOT_HTTP);
		j->verdict = VERDICT_INVALID;
		return;
	case STREAM_NEED_MORE:
		set_rule(j, RULE_TRUNCATED);
		return;
	case STREAM_HTTP_REQUEST:
		break;
	}
	if (!req) {
		set_rule(j, RULE_TRUNCATED);
		return;
	}
	cut = truncated || !req->complete;
	if (cut)
		set_rule(j, RULE_TRUNCATED);
	if (!req->start_line_ok) {
		/* A whole first line that is no request line is not HTTP; a first
		 * line cut short says nothing yet. */
		if (req->start_line.ptr) {
			set_rule(j, RULE_NOT_HTTP);
			j->verdict = VERDICT_INVALID;
		}
		return;
	}
	connection = http_head_name_has_token(req, HTTP_NAME_CONNECTION, "upgrade");
	judge_request_rules(j, req, cut, connection);
	judge_request_hints(j, req, cut, connection);
}

void judge_answer(struct judgement *j, const struct http_head *req, const struct http_head *resp)
{
	const struct http_header *accept, *key = NULL;
	unsigned accept_count, key_count = 0;

	j->status = (resp && resp->start_line_ok) ? resp->status : 0;
	if (j->verdict == VERDICT_INVALID)
		return;
	if (!resp || !resp->start_line_ok) {
		j->verdict = VERDICT_INVALID;
		return;
	}
	if (resp->status != 101) {
		j->verdict = VERDICT_REJECTED;
		return;
	}

	accept = http_header_get(resp, HTTP_NAME_SEC_WEBSOCKET_ACCEPT, &accept_count);
	if (!accept) {
		if (resp->complete) {
			set_rule(j, RULE_ACCEPT_MISSING);
			j->verdict = VERDICT_INVALID;
		} else {
			set_rule(j, RULE_TRUNCATED); /* the accept may lie beyond the cut */
			j->verdict = VERDICT_UPGRADED;
		}
		return;
	}
	if (req)
		key = http_header_get(req, HTTP_NAME_SEC_WEBSOCKET_KEY, &key_count);
	/* Without exactly one key there is nothing to check the accept against. */
	if (accept_count > 1 ||
	    (key && key_count == 1 &&
	     !ws_accept_matches(key->value.ptr, key->value.len, accept->value.ptr,
				accept->value.len))) {
		set_rule(j, RULE_ACCEPT_MISMATCH);
		j->verdict = VERDICT_INVALID;
		return;
	}
	j->verdict = VERDICT_UPGRADED;
}

void judge_no_answer(struct judgement *j, bool closed)
{
	if (j->verdict == VERDICT_INVALID)
		return;
	j->verdict = closed ? VERDICT_CLOSED : VERDICT_NO_RESPONSE;
}

bool judgement_has_rule(const struct judgement *j, enum ws_rule rule)
{
	return (unsigned)rule < RULE_COUNT && (j->rules & (1u << rule));
}

bool judgement_has_hint(const struct judgement *j, enum ws_hint hint)
{
	return (unsigned)hint < HINT_COUNT && (j->hints & (1u << hint));
}

int mask_next(uint32_t mask, int from)
{
	for (int bit = from < 0 ? 0 : from; bit < 32; bit++)
		if (mask & (1u << bit))
			return bit;
	return -1;
}

const char *rule_id(enum ws_rule rule)
{
	return (unsigned)rule < RULE_COUNT ? rule_table[rule].id : "?";
}

const char *rule_words(enum ws_rule rule)
{
	return (unsigned)rule < RULE_COUNT ? rule_table[rule].words : "?";
}

const char *rule_servers(enum ws_rule rule)
{
	return (unsigned)rule < RULE_COUNT ? rule_table[rule].servers : "?";
}

const char *hint_id(enum ws_hint hint)
{
	return (unsigned)hint < HINT_COUNT ? hint_table[hint].id : "?";
}

const char *hint_text(enum ws_hint hint)
{
	return (unsigned)hint < HINT_COUNT ? hint_table[hint].text : "?";
}

const char *verdict_name(enum ws_verdict verdict)
{
	return (unsigned)verdict < VERDICT_COUNT ? verdict_names[verdict] : "?";
}

/* Bounded string building for the hint texts; cut silently at cap. */
struct text {
	char *out;
	size_t cap;
	size_t len;
};

/* Header values quoted as evidence are shortened to this many bytes. */
#define EVIDENCE_VALUE_MAX 80

static void text_put(struct text *t, const void *bytes, size_t n)
{
	if (t->cap == 0 || n == 0) /* also: bytes may be NULL when n is 0 */
		return;
	if (n > t->cap - 1 - t->len)
		n = t->cap - 1 - t->len;
	memcpy(t->out + t->len, bytes, n);
	t->len += n;
	t->out[t->len] = '\0';
}

static void text_str(struct text *t, const char *s)
{
	text_put(t, s, strlen(s));
}

/* "Name: value" of the first header called name, value shortened. */
static void text_header(struct text *t, const struct http_head *req, enum http_name name)
{
	const struct http_header *h = http_header_get(req, name, NULL);

	if (!h)
		return;
	text_put(t, h->name.ptr, h->name.len);
	text_str(t, ": ");
	text_put(t, h->value.ptr,
		 h->value.len < EVIDENCE_VALUE_MAX ? h->value.len : EVIDENCE_VALUE_MAX);
}

static void evidence(struct text *t, enum ws_hint hint, const struct http_head *req)
{
	switch (hint) {
	case HINT_PROXY_HTTP10:
		text_put(t, req->version.ptr, req->version.len);
		text_str(t, ", ");
		text_header(t, req, HTTP_NAME_CONNECTION);
		break;
	case HINT_CONNECTION_HARDCODED:
	case HINT_CONNECTION_CASE:
		text_header(t, req, HTTP_NAME_CONNECTION);
		break;
	case HINT_HEALTH_CHECK:
		text_header(t, req, HTTP_NAME_USER_AGENT);
		break;
	case HINT_FORWARDED:
		/* Name them all: which ones are there tells which kind of hop it is. */
		for (uint32_t i = 0; i < req->header_count; i++) {
			enum http_name known = (enum http_name)req->header_names[i];

			if (known == HTTP_NAME_OTHER || !(forwarded_names & (1u << known)))
				continue;
			if (t->len)
				text_str(t, ", ");
			text_put(t, req->headers[i].name.ptr, req->headers[i].name.len);
		}
		break;
	case HINT_VIA:
		text_header(t, req, HTTP_NAME_VIA);
		break;
	case HINT_AWS_ALB:
		text_header(t, req, HTTP_NAME_X_AMZN_TRACE_ID);
		break;
	case HINT_H2C_UPGRADE:
		if (has_header(req, HTTP_NAME_UPGRADE))
			text_header(t, req, HTTP_NAME_UPGRADE);
		else
			text_str(t, "HTTP2-Settings");
		break;
	case HINT_HTTP2_CLIENT:
	case HINT_NGINX_STRIPPED:
	case HINT_UPGRADE_LOST:
	case HINT_NO_WEBSOCKET_CLIENT:
	case HINT_COUNT:
		break;
	}
}

size_t hint_evidence(enum ws_hint hint, const struct http_head *req, char *out, size_t cap)
{
	struct text t = { out, cap, 0 };

	if (cap)
		out[0] = '\0';
	if (req && (unsigned)hint < HINT_COUNT)
		evidence(&t, hint, req);
	return t.len;
}

size_t hint_format(enum ws_hint hint, const struct http_head *req, char *out, size_t cap)
{
	struct text t = { out, cap, 0 };
	char found[192];

	if (cap)
		out[0] = '\0';
	text_str(&t, hint_text(hint));
	if (hint_evidence(hint, req, found, sizeof(found))) {
		text_str(&t, " [");
		text_str(&t, found);
		text_str(&t, "]");
	}
	return t.len;
}
