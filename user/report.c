// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * report.c - judge an exchange and print it as a text line or a JSON object.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include "escape.h"
#include "http_head.h"
#include "proc.h"
#include "report.h"

#define FIELD_MAX 8192

/* A growing output buffer: one event is written in one fwrite. */
struct out_buf {
	char *p;
	size_t len, cap;
};

static void ob_reserve(struct out_buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 4096;
	char *p;

	if (b->len + more + 1 <= b->cap)
		return;
	while (cap < b->len + more + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		abort();
	b->p = p;
	b->cap = cap;
}

static void ob_add(struct out_buf *b, const char *s, size_t n)
{
	ob_reserve(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void ob_puts(struct out_buf *b, const char *s)
{
	ob_add(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void ob_printf(struct out_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	ob_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Escaped wire bytes: at most 6 output bytes per input byte in JSON. */
static void ob_escaped(struct out_buf *b, const uint8_t *s, size_t n, bool json)
{
	size_t cap = n * 6 + 1;

	ob_reserve(b, cap);
	if (json)
		escape_json(s, n, b->p + b->len, cap);
	else
		escape_terminal(s, n, b->p + b->len, cap);
	b->len += strlen(b->p + b->len);
}

static void ob_json_str(struct out_buf *b, const char *key, const uint8_t *s, size_t n)
{
	ob_printf(b, ",\"%s\":\"", key);
	ob_escaped(b, s, n, true);
	ob_puts(b, "\"");
}

static void ob_json_cstr(struct out_buf *b, const char *key, const char *s)
{
	if (!s) {
		ob_printf(b, ",\"%s\":null", key);
		return;
	}
	ob_json_str(b, key, (const uint8_t *)s, strlen(s));
}

void report_init(struct reporter *r, const struct report_opts *opts)
{
	memset(r, 0, sizeof(*r));
	r->opts = *opts;
}

static const char *owner_source_name(unsigned source)
{
	switch (source) {
	case WS_OWNER_SOCK_TP: return "sock-tracepoint";
	case WS_OWNER_EGRESS: return "egress";
	case WS_OWNER_SYSCALL: return "syscall";
	case WS_OWNER_PROC: return "proc";
	case WS_OWNER_TCP_TP: return "tcp-tracepoint";
	default: return "unknown";
	}
}

static void format_addr(const struct conn_meta *m, bool local, char *out, size_t cap, bool with_port)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	const uint8_t *addr = local ? m->local_addr : m->remote_addr;
	unsigned port = local ? m->local_port : m->remote_port;

	if (m->family == AF_INET6)
		inet_ntop(AF_INET6, addr, ip, sizeof(ip));
	else if (m->family == AF_INET)
		inet_ntop(AF_INET, addr, ip, sizeof(ip));
	if (!with_port)
		snprintf(out, cap, "%s", ip);
	else if (m->family == AF_INET6)
		snprintf(out, cap, "[%s]:%u", ip, port);
	else
		snprintf(out, cap, "%s:%u", ip, port);
}

/* A process or thread name for a text column: anyone can name a thread, so
 * it is escaped like wire bytes, and cut to the column. */
static void column_name(const char *name, char out[13])
{
	char escaped[4 * WS_COMM_LEN + 1];

	size_t n;

	escape_terminal((const uint8_t *)name, strnlen(name, WS_COMM_LEN), escaped, sizeof(escaped));
	n = strlen(escaped);
	n = n > 12 ? 12 : n;
	memcpy(out, escaped, n);
	out[n] = 0;
}

/* The first bytes of something that is not HTTP/1.x, for the JSON's
 * first_bytes and -v: redacted like a target (a lower-case method or a
 * stray prefix can carry a query with a token). */
static void add_first_bytes(const struct reporter *r, struct out_buf *b, const uint8_t *p, size_t n, bool json)
{
	uint8_t tmp[256];
	struct redact_result rr;

	const uint8_t *lf = memchr(p, '\n', n);

	/* The first line at most: header values (cookies, credentials) follow it. */
	if (lf)
		n = (size_t)(lf - p);
	if (n > 64)
		n = 64;
	if (r->opts.show_secrets) {
		ob_escaped(b, p, n, json);
		return;
	}
	rr = redact_target((struct byte_slice){p, n}, tmp, sizeof(tmp));
	ob_escaped(b, tmp, rr.len, json);
}

/* What one exchange turned into, with everything the outputs need. */
struct judged {
	const struct exchange *x;
	enum stream_kind kind;
	struct http_head req, resp;
	bool have_resp;
	struct judgement j;
	uint32_t tgid, tid;
	unsigned owner_source;
	struct proc_info proc;
	char comm[WS_COMM_LEN + 1];
};

static void format_time(const struct reporter *r, uint64_t mono_ns, bool iso, char *out, size_t cap)
{
	int64_t real = (int64_t)mono_ns + r->opts.mono_to_real_ns;
	time_t secs = (time_t)(real / 1000000000LL);
	struct tm tm;

	if (iso) {
		gmtime_r(&secs, &tm);
		snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1,
			 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)((real / 1000) % 1000000));
	} else {
		localtime_r(&secs, &tm);
		strftime(out, cap, "%H:%M:%S", &tm);
	}
}

/* Who and where, the same in every JSON record: from "pid" to "rport". */
static void add_identity_json(struct out_buf *b, const struct conn_meta *m, uint32_t tgid, uint32_t tid,
			      unsigned owner_source, const char *comm, const struct proc_info *proc)
{
	char addr[INET6_ADDRSTRLEN];

	ob_printf(b, ",\"pid\":%u,\"tid\":%u", tgid, tid);
	ob_json_cstr(b, "comm", comm);
	ob_json_cstr(b, "thread", proc->thread);
	ob_json_cstr(b, "owner", owner_source_name(owner_source));
	ob_printf(b, ",\"cgroup_id\":%llu", (unsigned long long)m->cgroup_id);
	ob_json_cstr(b, "container", proc->container[0] ? proc->container : NULL);
	ob_printf(b, ",\"netns\":%llu,\"family\":\"%s\"", (unsigned long long)proc->netns,
		  m->family == AF_INET6 ? "ipv6" : "ipv4");
	format_addr(m, true, addr, sizeof(addr), false);
	ob_printf(b, ",\"laddr\":\"%s\",\"lport\":%u", addr, m->local_port);
	format_addr(m, false, addr, sizeof(addr), false);
	ob_printf(b, ",\"raddr\":\"%s\",\"rport\":%u", addr, m->remote_port);
}

/* The columns every text line starts with, as report_header() names them. */
static void add_columns(const struct reporter *r, struct out_buf *b, uint64_t mono_ns, uint32_t tgid,
			const char *comm, const struct proc_info *proc, const struct conn_meta *m, const char *status,
			const char *verdict)
{
	char when[16], local[64], remote[64], name[13];
	int w = r->opts.wide ? 47 : 21;

	format_time(r, mono_ns, false, when, sizeof(when));
	format_addr(m, true, local, sizeof(local), true);
	format_addr(m, false, remote, sizeof(remote), true);
	column_name(proc->thread[0] ? proc->thread : comm, name);
	ob_printf(b, "%-8s %-7u %-12s %-*s %-*s %4s %-11s ", when, tgid, name, w, local, w, remote, status, verdict);
}

/* The request target, redacted unless secrets are shown. */
static void add_target(const struct reporter *r, struct out_buf *b, const struct http_head *req, bool json)
{
	uint8_t tmp[FIELD_MAX];
	struct redact_result rr;

	if (r->opts.show_secrets) {
		ob_escaped(b, req->target.ptr, req->target.len, json);
		return;
	}
	rr = redact_target(req->target, tmp, sizeof(tmp));
	ob_escaped(b, tmp, rr.len, json);
}

static void add_header_value(const struct reporter *r, struct out_buf *b, const struct http_header *h, bool json)
{
	uint8_t tmp[FIELD_MAX];
	struct redact_result rr;

	if (r->opts.show_secrets) {
		ob_escaped(b, h->value.ptr, h->value.len, json);
		return;
	}
	rr = redact_header_value(h->name, h->value, tmp, sizeof(tmp));
	ob_escaped(b, tmp, rr.len, json);
}

static void print_json(struct reporter *r, const struct judged *d, struct out_buf *b)
{
	const struct exchange *x = d->x;
	const struct conn_meta *m = x->conn;
	char when[64];
	char evidence[512];
	bool first;

	format_time(r, x->request_ns, true, when, sizeof(when));
	ob_printf(b, "{\"type\":\"handshake\",\"time\":\"%s\",\"verdict\":\"%s\",\"rules\":[", when,
		  verdict_name(d->j.verdict));
	first = true;
	for (int i = mask_next(d->j.rules, 0); i >= 0; i = mask_next(d->j.rules, i + 1)) {
		ob_printf(b, "%s\"%s\"", first ? "" : ",", rule_id(i));
		first = false;
	}
	ob_puts(b, "],\"reasons\":[");
	first = true;
	for (int i = mask_next(d->j.rules, 0); i >= 0; i = mask_next(d->j.rules, i + 1)) {
		ob_printf(b, "%s{\"rule\":\"%s\"", first ? "" : ",", rule_id(i));
		ob_json_cstr(b, "text", rule_words(i));
		ob_json_cstr(b, "servers", rule_servers(i));
		ob_puts(b, "}");
		first = false;
	}
	ob_puts(b, "],\"hints\":[");
	first = true;
	for (int i = mask_next(d->j.hints, 0); i >= 0; i = mask_next(d->j.hints, i + 1)) {
		ob_printf(b, "%s{\"id\":\"%s\"", first ? "" : ",", hint_id(i));
		ob_json_cstr(b, "text", hint_text(i));
		if (hint_evidence(i, d->kind == STREAM_HTTP_REQUEST ? &d->req : NULL, evidence, sizeof(evidence)))
			ob_json_cstr(b, "evidence", evidence);
		ob_puts(b, "}");
		first = false;
	}
	ob_puts(b, "]");
	add_identity_json(b, m, d->tgid, d->tid, d->owner_source, d->comm, &d->proc);
	ob_json_cstr(b, "request_kind", stream_kind_name(d->kind));
	if (d->kind == STREAM_HTTP_REQUEST) {
		ob_json_str(b, "method", d->req.method.ptr, d->req.method.len);
		ob_puts(b, ",\"path\":\"");
		add_target(r, b, &d->req, true);
		ob_puts(b, "\"");
		ob_json_str(b, "version", d->req.version.ptr, d->req.version.len);
	} else {
		ob_puts(b, ",\"method\":null,\"path\":null,\"version\":null");
		ob_puts(b, ",\"first_bytes\":\"");
		add_first_bytes(r, b, x->request, x->request_len, true);
		ob_puts(b, "\"");
	}
	if (d->have_resp && d->resp.start_line_ok) {
		ob_printf(b, ",\"status\":%u", d->resp.status);
		ob_json_str(b, "status_line", d->resp.start_line.ptr, d->resp.start_line.len);
	} else {
		ob_puts(b, ",\"status\":null,\"status_line\":null");
	}
	ob_printf(b, ",\"request_index\":%u", x->request_index);
	ob_printf(b, ",\"request_time\":\"%s\"", when);
	if (x->end == EXCHANGE_ANSWERED && x->answer_ns >= x->request_ns) {
		format_time(r, x->answer_ns, true, when, sizeof(when));
		ob_printf(b, ",\"answer_time\":\"%s\",\"latency_ms\":%.3f", when,
			  (double)(x->answer_ns - x->request_ns) / 1e6);
	} else {
		ob_puts(b, ",\"answer_time\":null,\"latency_ms\":null");
	}
	ob_printf(b, ",\"truncated\":%s", judgement_has_rule(&d->j, RULE_TRUNCATED) ? "true" : "false");
	if (d->j.status == 101)
		ob_printf(b, ",\"accept_ok\":%s",
			  judgement_has_rule(&d->j, RULE_ACCEPT_MISMATCH) || judgement_has_rule(&d->j, RULE_ACCEPT_MISSING)
				  ? "false"
				  : "true");
	else
		ob_puts(b, ",\"accept_ok\":null");
	ob_puts(b, ",\"headers\":[");
	if (d->kind == STREAM_HTTP_REQUEST) {
		for (uint32_t i = 0; i < d->req.header_count; i++) {
			const struct http_header *h = &d->req.headers[i];

			ob_puts(b, i ? ",[\"" : "[\"");
			ob_escaped(b, h->name.ptr, h->name.len, true);
			ob_puts(b, "\",\"");
			add_header_value(r, b, h, true);
			ob_puts(b, "\"]");
		}
	}
	ob_puts(b, "]}\n");
}

static void print_text(struct reporter *r, const struct judged *d, struct out_buf *b)
{
	const struct exchange *x = d->x;
	const struct conn_meta *m = x->conn;
	char status[8], evidence[512];

	if (d->have_resp && d->resp.start_line_ok)
		snprintf(status, sizeof(status), "%u", d->resp.status);
	else
		snprintf(status, sizeof(status), "-");
	add_columns(r, b, x->request_ns, d->tgid, d->comm, &d->proc, m, status, verdict_name(d->j.verdict));
	if (d->kind == STREAM_HTTP_REQUEST) {
		ob_escaped(b, d->req.method.ptr, d->req.method.len, false);
		ob_puts(b, " ");
		add_target(r, b, &d->req, false);
	} else {
		ob_printf(b, "(%s)", stream_kind_name(d->kind));
	}
	ob_puts(b, "\n");
	for (int i = mask_next(d->j.rules, 0); i >= 0; i = mask_next(d->j.rules, i + 1))
		ob_printf(b, "    %s: %s\n", rule_id(i), rule_words(i));
	for (int i = mask_next(d->j.hints, 0); i >= 0; i = mask_next(d->j.hints, i + 1)) {
		ob_printf(b, "    hint %s: %s", hint_id(i), hint_text(i));
		if (hint_evidence(i, d->kind == STREAM_HTTP_REQUEST ? &d->req : NULL, evidence, sizeof(evidence))) {
			ob_puts(b, " [");
			ob_escaped(b, (const uint8_t *)evidence, strlen(evidence), false);
			ob_puts(b, "]");
		}
		ob_puts(b, "\n");
	}
	if (r->opts.verbose && d->kind == STREAM_HTTP_REQUEST) {
		ob_puts(b, "    | ");
		ob_escaped(b, d->req.method.ptr, d->req.method.len, false);
		ob_puts(b, " ");
		add_target(r, b, &d->req, false);
		ob_puts(b, " ");
		ob_escaped(b, d->req.version.ptr, d->req.version.len, false);
		ob_puts(b, "\n");
		for (uint32_t i = 0; i < d->req.header_count; i++) {
			const struct http_header *h = &d->req.headers[i];

			ob_puts(b, "    | ");
			ob_escaped(b, h->name.ptr, h->name.len, false);
			ob_puts(b, ": ");
			add_header_value(r, b, h, false);
			ob_puts(b, "\n");
		}
		if (d->have_resp) {
			ob_puts(b, "    > ");
			ob_escaped(b, d->resp.start_line.ptr, d->resp.start_line.len, false);
			ob_puts(b, "\n");
		}
	} else if (r->opts.verbose) {
		ob_puts(b, "    | ");
		add_first_bytes(r, b, x->request, x->request_len, false);
		ob_puts(b, "\n");
	}
}

void report_header(struct reporter *r)
{
	int w = r->opts.wide ? 47 : 21;

	if (r->opts.json)
		return;
	fprintf(r->opts.out, "%-8s %-7s %-12s %-*s %-*s %4s %-11s %s\n", "TIME", "PID", "THREAD", w, "LOCAL", w,
		"REMOTE", "ST", "VERDICT", "REQUEST");
	fflush(r->opts.out);
}

/* A head that never completed a line (CR-only line ends, or cut in its
 * first line) still has a method and a target: parse them from the first
 * line alone, so that the attempt is recognised by its path. Its headers
 * stay unknown, and the truncated rule keeps the judge from claiming any
 * missing. */
static void parse_partial_request_line(const uint8_t *p, size_t n, struct http_head *req)
{
	static __thread uint8_t line[1024];
	size_t len = 0;

	while (len < n && len < sizeof(line) - 4 && p[len] != '\r' && p[len] != '\n')
		len++;
	memcpy(line, p, len);
	memcpy(line + len, "\r\n\r\n", 4);
	http_parse_request(line, len + 4, req); /* req's slices point into line until the next call */
}

void report_exchange(struct reporter *r, const struct exchange *x)
{
	struct judged d = {.x = x};
	struct out_buf b = {0};

	r->counts.exchanges++;
	d.kind = x->first_on_conn ? http_classify_start(x->request, x->request_len) : STREAM_HTTP_REQUEST;
	if (d.kind == STREAM_NEED_MORE)
		d.kind = x->request_len ? STREAM_NOT_HTTP : STREAM_NEED_MORE;
	if (d.kind == STREAM_HTTP_REQUEST && !http_parse_request(x->request, x->request_len, &d.req) &&
	    (x->request_truncated || x->request_gap))
		parse_partial_request_line(x->request, x->request_len, &d.req);
	if (!ws_is_attempt(d.kind, d.kind == STREAM_HTTP_REQUEST ? &d.req : NULL, r->opts.paths))
		return;
	judge_request(&d.j, d.kind, d.kind == STREAM_HTTP_REQUEST ? &d.req : NULL,
		      x->request_truncated || x->request_gap);
	if (x->end == EXCHANGE_ANSWERED) {
		http_parse_response(x->answer, x->answer_len, &d.resp);
		d.have_resp = true;
		judge_answer(&d.j, d.kind == STREAM_HTTP_REQUEST ? &d.req : NULL, &d.resp);
	} else {
		judge_no_answer(&d.j, x->end == EXCHANGE_CLOSED);
	}
	d.tgid = x->conn->tgid;
	d.tid = x->conn->tid;
	d.owner_source = x->conn->owner_source;
	if (d.owner_source == WS_OWNER_PROC)
		r->counts.owner_inferred++;
	else if (!d.tgid)
		r->counts.owner_unknown++;
	proc_lookup(d.tgid, d.tid, x->request_ns, &d.proc);
	if ((r->opts.pid && d.tgid != r->opts.pid) || (r->opts.netns && d.proc.netns != r->opts.netns)) {
		r->counts.out_of_scope++;
		return;
	}
	r->counts.attempts++;
	r->counts.verdicts[d.j.verdict]++;
	for (int i = mask_next(d.j.rules, 0); i >= 0; i = mask_next(d.j.rules, i + 1))
		r->counts.rules[i]++;
	if (r->opts.on_judged) {
		struct handshake_summary hs = {
			.verdict = d.j.verdict,
			.port = x->conn->local_port,
			.rules = d.j.rules,
			.latency_s = x->end == EXCHANGE_ANSWERED && x->answer_ns >= x->request_ns
					     ? (double)(x->answer_ns - x->request_ns) / 1e9
					     : -1,
		};
		int match = d.kind == STREAM_HTTP_REQUEST && r->opts.paths
				    ? path_set_match(r->opts.paths, d.req.target.ptr, d.req.target.len)
				    : -1;

		hs.pattern = match >= 0 ? r->opts.paths->patterns[match] : NULL;
		r->opts.on_judged(r->opts.ctx, &hs);
	}
	if (r->opts.failed_only && d.j.verdict == VERDICT_UPGRADED)
		return;
	snprintf(d.comm, sizeof(d.comm), "%s", d.proc.comm[0] ? d.proc.comm : x->conn->comm);

	if (r->opts.json)
		print_json(r, &d, &b);
	else
		print_text(r, &d, &b);
	fwrite(b.p, 1, b.len, r->opts.out);
	fflush(r->opts.out);
	free(b.p);
	r->counts.printed++;
}

/* The usual idle timeouts of the hops in front of WebSocket servers. */
static const char *idle_timeout_match(double idle_s)
{
	if (idle_s >= 59 && idle_s <= 61)
		return "60 s: the default idle timeout of AWS ALB and Classic ELB, and nginx proxy_read_timeout";
	if (idle_s >= 99 && idle_s <= 101)
		return "100 s: Cloudflare's idle timeout";
	return NULL;
}

void lifetime_facts(const struct lifetime_report *l, uint64_t now_ns, struct lifetime_facts *f)
{
	const struct ws_lifetime *life = l->life;
	uint64_t end_ns = l->closed_ns ? l->closed_ns : now_ns;
	uint64_t last = 0;

	memset(f, 0, sizeof(*f));
	f->idle_s = -1;
	f->close_frame_dir = WS_DIR_NONE;
	f->closer = WS_DIR_NONE;
	f->ping_interval_s[0] = f->ping_interval_s[1] = -1;
	if (life && life->first_close_ns)
		end_ns = life->first_close_ns;
	f->lifetime_s = end_ns > l->upgraded_ns ? (double)(end_ns - l->upgraded_ns) / 1e9 : 0;
	for (int d = 0; life && d < 2; d++)
		if (life->pings[d] >= 2 && life->last_ping_ns[d] > life->prev_ping_ns[d])
			f->ping_interval_s[d] = (double)(life->last_ping_ns[d] - life->prev_ping_ns[d]) / 1e9;
	if (l->still_open)
		return;
	f->close_code = 1006;
	if (!life)
		return;
	for (int d = 0; d < 2; d++) {
		if (life->close_frame_ns[d] &&
		    (f->close_frame_dir == WS_DIR_NONE || life->close_frame_ns[d] < life->close_frame_ns[!d])) {
			f->close_frame_dir = d;
			f->close_code = life->close_code[d];
		}
		if (life->last_data_ns[d] > last)
			last = life->last_data_ns[d];
	}
	if (life->closer == WS_DIR_IN || life->closer == WS_DIR_OUT) {
		f->closer = life->closer;
		f->rst = life->closed_by_rst;
	}
	if (!last)
		last = life->upgraded_ns;
	if (life->first_close_ns && life->first_close_ns >= last)
		f->idle_s = (double)(life->first_close_ns - last) / 1e9;
	f->idle_timeout = f->close_frame_dir == WS_DIR_NONE && f->idle_s >= 1.0;
	f->idle_match = f->idle_timeout ? idle_timeout_match(f->idle_s) : NULL;
}

static const char *side_name(int dir)
{
	return dir == WS_DIR_IN ? "remote" : dir == WS_DIR_OUT ? "local" : NULL;
}

static void idle_hint_text(const struct lifetime_facts *f, char *out, size_t cap)
{
	snprintf(out, cap,
		 "closed by the %s side after %.1f s without data and without a Close frame: a hop's idle timeout "
		 "(nginx proxy_read_timeout, a load balancer's idle timeout)%s%s; send pings more often than every "
		 "%.0f s, or raise the timeout",
		 f->closer == WS_DIR_OUT ? "local" : "remote", f->idle_s, f->idle_match ? "; the gap matches " : "",
		 f->idle_match ? f->idle_match : "", f->idle_s > 2 ? f->idle_s / 2 : 1);
}

void report_lifetime(struct reporter *r, const struct lifetime_report *l)
{
	const struct conn_meta *m = l->conn;
	const struct ws_lifetime *life = l->life;
	struct lifetime_facts f;
	struct http_head req;
	struct proc_info proc;
	struct out_buf b = {0};
	char when[64], hint[512], comm[WS_COMM_LEN + 1];
	uint64_t now = l->closed_ns ? l->closed_ns : l->upgraded_ns;
	bool have_req = false;
	struct timespec ts;

	if (l->still_open) {
		/* Open at exit: its age is now. */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	}

	if (r->opts.pid && m->tgid != r->opts.pid)
		return;
	proc_lookup(m->tgid, m->tid, l->upgraded_ns, &proc);
	if (r->opts.netns && proc.netns != r->opts.netns)
		return;
	lifetime_facts(l, life && life->first_close_ns ? life->first_close_ns : now, &f);
	if (l->still_open) {
		r->counts.still_open++;
	} else {
		r->counts.closes++;
		r->counts.closes_1006 += f.close_code == 1006;
		r->counts.idle_timeouts += f.idle_timeout;
		if (r->opts.on_closed) {
			struct close_summary cs = {
				.port = m->local_port,
				.code = f.close_code,
				.closer = side_name(f.closer) ? side_name(f.closer) : "unknown",
				.lifetime_s = f.lifetime_s,
			};

			r->opts.on_closed(r->opts.ctx, &cs);
		}
	}
	if (l->request && l->request_len && http_classify_start(l->request, l->request_len) == STREAM_HTTP_REQUEST)
		have_req = http_parse_request(l->request, l->request_len, &req);
	snprintf(comm, sizeof(comm), "%s", proc.comm[0] ? proc.comm : m->comm);
	if (f.idle_timeout)
		idle_hint_text(&f, hint, sizeof(hint));

	if (r->opts.json) {
		format_time(r, now, true, when, sizeof(when));
		ob_printf(&b, "{\"type\":\"lifetime\",\"time\":\"%s\",\"state\":\"%s\"", when,
			  l->still_open ? "open" : "closed");
		add_identity_json(&b, m, m->tgid, m->tid, m->owner_source, comm, &proc);
		if (have_req) {
			ob_json_str(&b, "method", req.method.ptr, req.method.len);
			ob_puts(&b, ",\"path\":\"");
			add_target(r, &b, &req, true);
			ob_puts(&b, "\"");
		} else {
			ob_puts(&b, ",\"method\":null,\"path\":null");
		}
		format_time(r, l->upgraded_ns, true, when, sizeof(when));
		ob_printf(&b, ",\"request_index\":%u,\"upgraded_time\":\"%s\",\"lifetime_s\":%.3f", l->request_index, when,
			  f.lifetime_s);
		if (l->still_open) {
			ob_puts(&b, ",\"idle_s\":null,\"close_code\":null,\"close_frame\":null,\"closer\":null,\"closed_by\":null");
		} else {
			if (f.idle_s >= 0)
				ob_printf(&b, ",\"idle_s\":%.3f", f.idle_s);
			else
				ob_puts(&b, ",\"idle_s\":null");
			ob_printf(&b, ",\"close_code\":%d", f.close_code);
			ob_json_cstr(&b, "close_frame", side_name(f.close_frame_dir));
			ob_json_cstr(&b, "closer", side_name(f.closer));
			ob_json_cstr(&b, "closed_by", f.closer == WS_DIR_NONE ? NULL : f.rst ? "rst" : "fin");
		}
		if (life) {
			ob_printf(&b,
				  ",\"bytes_in\":%llu,\"bytes_out\":%llu,\"frames_in\":%u,\"frames_out\":%u,\"pings_in\":%u,"
				  "\"pings_out\":%u,\"pongs_in\":%u,\"pongs_out\":%u,\"unclassified_in\":%u,"
				  "\"unclassified_out\":%u",
				  (unsigned long long)life->bytes[WS_DIR_IN], (unsigned long long)life->bytes[WS_DIR_OUT],
				  life->frames[WS_DIR_IN], life->frames[WS_DIR_OUT], life->pings[WS_DIR_IN],
				  life->pings[WS_DIR_OUT], life->pongs[WS_DIR_IN], life->pongs[WS_DIR_OUT],
				  life->unclassified[WS_DIR_IN], life->unclassified[WS_DIR_OUT]);
			for (int d = 0; d < 2; d++) {
				if (f.ping_interval_s[d] >= 0)
					ob_printf(&b, ",\"ping_interval_%s_s\":%.3f", d == WS_DIR_IN ? "in" : "out",
						  f.ping_interval_s[d]);
				else
					ob_printf(&b, ",\"ping_interval_%s_s\":null", d == WS_DIR_IN ? "in" : "out");
			}
		}
		ob_puts(&b, ",\"hints\":[");
		if (f.idle_timeout) {
			ob_puts(&b, "{\"id\":\"idle-timeout\"");
			ob_json_cstr(&b, "text", hint);
			ob_puts(&b, "}");
		}
		ob_puts(&b, "]}\n");
	} else {
		char code[8];

		snprintf(code, sizeof(code), "%d", f.close_code);
		add_columns(r, &b, now, m->tgid, comm, &proc, m, l->still_open ? "-" : code,
			    l->still_open ? "open" : "ws-closed");
		if (have_req) {
			ob_escaped(&b, req.method.ptr, req.method.len, false);
			ob_puts(&b, " ");
			add_target(r, &b, &req, false);
		}
		ob_printf(&b, "\n    lifetime %.1f s", f.lifetime_s);
		if (!l->still_open) {
			if (f.idle_s >= 0)
				ob_printf(&b, ", idle %.1f s", f.idle_s);
			if (f.close_frame_dir != WS_DIR_NONE)
				ob_printf(&b, ", Close %d from %s", f.close_code, side_name(f.close_frame_dir));
			else
				ob_puts(&b, ", no Close frame (1006)");
			if (f.closer != WS_DIR_NONE)
				ob_printf(&b, ", %s closed first (%s)", side_name(f.closer), f.rst ? "RST" : "FIN");
		}
		if (life)
			ob_printf(&b, "; in %u frames/%llu B, out %u frames/%llu B, pings %u/%u", life->frames[WS_DIR_IN],
				  (unsigned long long)life->bytes[WS_DIR_IN], life->frames[WS_DIR_OUT],
				  (unsigned long long)life->bytes[WS_DIR_OUT], life->pings[WS_DIR_IN],
				  life->pings[WS_DIR_OUT]);
		ob_puts(&b, "\n");
		if (f.idle_timeout)
			ob_printf(&b, "    hint idle-timeout: %s\n", hint);
	}
	fwrite(b.p, 1, b.len, r->opts.out);
	fflush(r->opts.out);
	free(b.p);
}
