// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * report.c - judge an exchange and print it as a text line or a JSON object.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include "escape.h"
#include "http_head.h"
#include "proc.h"
#include "report.h"

#define FIELD_MAX 8192

/* An output buffer that starts on the stack and grows on the heap only for
 * a large record: one event is written in one fwrite. */
#define OUT_STACK_BYTES 16384

struct out_buf {
	char *p;
	size_t len, cap;
	char *stack;
};

#define OUT_BUF(name)                          \
	char name##_stack[OUT_STACK_BYTES];    \
	struct out_buf name = {name##_stack, 0, sizeof(name##_stack), name##_stack}

__attribute__((noinline)) static void ob_grow(struct out_buf *b, size_t more)
{
	size_t cap = b->cap;
	char *p;

	while (cap < b->len + more + 1)
		cap *= 2;
	if (b->p == b->stack) {
		p = malloc(cap);
		if (p)
			memcpy(p, b->p, b->len);
	} else {
		p = realloc(b->p, cap);
	}
	if (!p)
		abort();
	b->p = p;
	b->cap = cap;
}

static inline void ob_reserve(struct out_buf *b, size_t more)
{
	if (b->len + more + 1 > b->cap)
		ob_grow(b, more);
}

static void ob_release(struct out_buf *b)
{
	if (b->p != b->stack)
		free(b->p);
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

/* v in decimal at out, NUL-terminated (out: 21 bytes at least); its length. */
static size_t format_uint(unsigned long long v, char *out)
{
	size_t len = 1;

	for (unsigned long long rest = v; rest >= 10; rest /= 10)
		len++;
	out[len] = 0;
	for (size_t i = len; i-- > 0; v /= 10)
		out[i] = (char)('0' + v % 10);
	return len;
}

static void ob_uint(struct out_buf *b, unsigned long long v)
{
	char digits[24];

	ob_add(b, digits, format_uint(v, digits));
}

/* A process name (at most WS_COMM_LEN bytes, NUL-terminated or not). */
static void copy_name(char out[WS_COMM_LEN + 1], const char *name)
{
	size_t n = strnlen(name, WS_COMM_LEN);

	memcpy(out, name, n);
	out[n] = 0;
}

/* One formatting pass when the result fits, which it nearly always does. */
__attribute__((format(printf, 2, 3))) static void ob_printf(struct out_buf *b, const char *fmt, ...)
{
	size_t room = b->cap - b->len;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->p[b->len] = 0;
		return;
	}
	if ((size_t)n >= room) {
		ob_reserve(b, (size_t)n);
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
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

/* ,"key": */
static void ob_json_key(struct out_buf *b, const char *key)
{
	ob_add(b, ",\"", 2);
	ob_puts(b, key);
	ob_add(b, "\":", 2);
}

static void ob_json_str(struct out_buf *b, const char *key, const uint8_t *s, size_t n)
{
	ob_json_key(b, key);
	ob_add(b, "\"", 1);
	ob_escaped(b, s, n, true);
	ob_add(b, "\"", 1);
}

static void ob_json_cstr(struct out_buf *b, const char *key, const char *s)
{
	if (!s) {
		ob_json_key(b, key);
		ob_add(b, "null", 4);
		return;
	}
	ob_json_str(b, key, (const uint8_t *)s, strlen(s));
}

static void ob_json_uint(struct out_buf *b, const char *key, unsigned long long v)
{
	ob_json_key(b, key);
	ob_uint(b, v);
}

/* Write one record; flush unless the caller flushes after each batch. */
static void ob_write(struct reporter *r, struct out_buf *b)
{
	fwrite(b->p, 1, b->len, r->opts.out);
	if (!r->opts.batch_flush)
		fflush(r->opts.out);
	ob_release(b);
}

void report_init(struct reporter *r, const struct report_opts *opts)
{
	memset(r, 0, sizeof(*r));
	r->opts = *opts;
}

void report_set_paths(struct reporter *r, const struct path_set *paths)
{
	r->opts.paths = paths;
	memset(r->memo.paths, 0, sizeof(r->memo.paths));
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

/* An address, "[v6]:port" or "v4:port" with the port: into out, of at
 * least ADDR_PORT_MAX bytes. Returns its length. */
#define ADDR_PORT_MAX (INET6_ADDRSTRLEN + 8)

static size_t format_addr(const struct conn_meta *m, bool local, char *out, bool with_port)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	const uint8_t *addr = local ? m->local_addr : m->remote_addr;
	unsigned port = local ? m->local_port : m->remote_port;
	size_t n = 0, ip_len;

	if (m->family == AF_INET6) {
		inet_ntop(AF_INET6, addr, ip, sizeof(ip));
	} else if (m->family == AF_INET) {
		/* What inet_ntop writes, without its sprintf. */
		ip_len = 0;
		for (int i = 0; i < 4; i++) {
			if (i)
				ip[ip_len++] = '.';
			ip_len += format_uint(addr[i], ip + ip_len);
		}
	}
	ip_len = strlen(ip);
	if (with_port && m->family == AF_INET6)
		out[n++] = '[';
	memcpy(out + n, ip, ip_len);
	n += ip_len;
	if (with_port) {
		if (m->family == AF_INET6)
			out[n++] = ']';
		out[n++] = ':';
		n += format_uint(port, out + n);
	}
	out[n] = 0;
	return n;
}

static void ob_addr(struct out_buf *b, const struct conn_meta *m, bool local)
{
	char addr[ADDR_PORT_MAX];

	ob_add(b, addr, format_addr(m, local, addr, false));
}

/* s, then spaces up to width: printf's "%-*s". */
static void ob_left(struct out_buf *b, const char *s, size_t width)
{
	static const char spaces[] = "                                                ";
	size_t n = strlen(s);

	ob_add(b, s, n);
	for (; n < width; n += sizeof(spaces) - 1)
		ob_add(b, spaces, width - n < sizeof(spaces) - 1 ? width - n : sizeof(spaces) - 1);
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
	bool have_resp;
	struct judgement j;
	uint32_t tgid, tid;
	unsigned owner_source;
	struct proc_info proc;
	char comm[WS_COMM_LEN + 1];
	/* Last and not cleared with the rest: the parsers clear what they fill,
	 * and each is read only once filled (req for an HTTP request, resp
	 * with have_resp). */
	struct http_head req, resp;
};

/* Records come in bursts within the same second: its calendar text is
 * worked out once (gmtime_r and localtime_r are the dear part). */
static void format_time(struct reporter *r, uint64_t mono_ns, bool iso, char *out, size_t cap)
{
	struct report_memo *memo = &r->memo;
	int64_t real = (int64_t)mono_ns + r->opts.mono_to_real_ns;
	time_t secs = (time_t)(real / 1000000000LL);
	int micros = (int)((real / 1000) % 1000000);
	struct tm tm;
	size_t n;

	if (iso) {
		if (!memo->iso_valid || memo->iso_secs != (int64_t)secs) {
			gmtime_r(&secs, &tm);
			snprintf(memo->iso, sizeof(memo->iso), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
				 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
			memo->iso_secs = (int64_t)secs;
			memo->iso_valid = true;
		}
		n = strlen(memo->iso);
		if (micros < 0 || n + sizeof(".000000Z") > cap) {
			/* Out of the ordinary (before 1970, a year of many digits): as ever. */
			gmtime_r(&secs, &tm);
			snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1,
				 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros);
			return;
		}
		memcpy(out, memo->iso, n);
		out[n++] = '.';
		for (int i = 5; i >= 0; i--, micros /= 10)
			out[n + (size_t)i] = (char)('0' + micros % 10);
		n += 6;
		out[n++] = 'Z';
		out[n] = 0;
	} else {
		if (!memo->local_valid || memo->local_secs != (int64_t)secs) {
			localtime_r(&secs, &tm);
			if (!strftime(memo->local, sizeof(memo->local), "%H:%M:%S", &tm))
				memo->local[0] = 0;
			memo->local_secs = (int64_t)secs;
			memo->local_valid = true;
		}
		snprintf(out, cap, "%s", memo->local);
	}
}

/* Who and where, the same in every JSON record: from "pid" to "rport". */
static void add_identity_json(struct out_buf *b, const struct conn_meta *m, uint32_t tgid, uint32_t tid,
			      unsigned owner_source, const char *comm, const struct proc_info *proc)
{
	ob_json_uint(b, "pid", tgid);
	ob_json_uint(b, "tid", tid);
	ob_json_cstr(b, "comm", comm);
	ob_json_cstr(b, "thread", proc->thread);
	ob_json_cstr(b, "owner", owner_source_name(owner_source));
	ob_json_uint(b, "cgroup_id", m->cgroup_id);
	ob_json_cstr(b, "container", proc->container[0] ? proc->container : NULL);
	ob_json_uint(b, "netns", proc->netns);
	ob_puts(b, m->family == AF_INET6 ? ",\"family\":\"ipv6\",\"laddr\":\"" : ",\"family\":\"ipv4\",\"laddr\":\"");
	ob_addr(b, m, true);
	ob_add(b, "\"", 1);
	ob_json_uint(b, "lport", m->local_port);
	ob_puts(b, ",\"raddr\":\"");
	ob_addr(b, m, false);
	ob_add(b, "\"", 1);
	ob_json_uint(b, "rport", m->remote_port);
}

/* The columns every text line starts with, as report_header() names them. */
static void add_columns(struct reporter *r, struct out_buf *b, uint64_t mono_ns, uint32_t tgid,
			const char *comm, const struct proc_info *proc, const struct conn_meta *m, const char *status,
			const char *verdict)
{
	char when[16], local[ADDR_PORT_MAX], remote[ADDR_PORT_MAX], name[13], pid[24];
	size_t w = r->opts.wide ? 47 : 21, n = strlen(status);

	format_time(r, mono_ns, false, when, sizeof(when));
	format_addr(m, true, local, true);
	format_addr(m, false, remote, true);
	column_name(proc->thread[0] ? proc->thread : comm, name);
	format_uint(tgid, pid);
	/* The widths of report_header(). */
	ob_left(b, when, 8);
	ob_add(b, " ", 1);
	ob_left(b, pid, 7);
	ob_add(b, " ", 1);
	ob_left(b, name, 12);
	ob_add(b, " ", 1);
	ob_left(b, local, w);
	ob_add(b, " ", 1);
	ob_left(b, remote, w);
	ob_add(b, " ", 1);
	if (n < 4)
		ob_add(b, "    ", 4 - n);
	ob_puts(b, status);
	ob_add(b, " ", 1);
	ob_left(b, verdict, 11);
	ob_add(b, " ", 1);
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

/* The request head's breaks of HTTP syntax, as the parser noted them. A cut
 * sample is left out: the truncated rule and field say it. */
static uint32_t syntax_notes(const struct judged *d)
{
	return d->kind == STREAM_HTTP_REQUEST ? d->req.anomalies & ~(uint32_t)HTTP_ANOM_TRUNCATED : 0;
}

/* Their names, separated by sep. */
static void add_syntax(struct out_buf *b, const struct judged *d, const char *sep, bool quoted)
{
	uint32_t notes = syntax_notes(d);
	bool first = true;

	for (uint32_t bit = 1; notes; bit <<= 1) {
		if (!(notes & bit))
			continue;
		notes &= ~bit;
		if (!first)
			ob_puts(b, sep);
		ob_puts(b, quoted ? "\"" : "");
		ob_puts(b, http_anomaly_name((enum http_anomaly)bit));
		ob_puts(b, quoted ? "\"" : "");
		first = false;
	}
}

static void print_json(struct reporter *r, const struct judged *d, struct out_buf *b)
{
	const struct exchange *x = d->x;
	const struct conn_meta *m = x->conn;
	char when[64];
	char evidence[512];
	bool first;

	format_time(r, x->request_ns, true, when, sizeof(when));
	ob_puts(b, "{\"type\":\"handshake\",\"time\":\"");
	ob_puts(b, when);
	ob_puts(b, "\",\"verdict\":\"");
	ob_puts(b, verdict_name(d->j.verdict));
	ob_puts(b, "\",\"rules\":[");
	first = true;
	for (int i = mask_next(d->j.rules, 0); i >= 0; i = mask_next(d->j.rules, i + 1)) {
		ob_puts(b, first ? "\"" : ",\"");
		ob_puts(b, rule_id(i));
		ob_add(b, "\"", 1);
		first = false;
	}
	ob_puts(b, "],\"reasons\":[");
	first = true;
	for (int i = mask_next(d->j.rules, 0); i >= 0; i = mask_next(d->j.rules, i + 1)) {
		ob_puts(b, first ? "{\"rule\":\"" : ",{\"rule\":\"");
		ob_puts(b, rule_id(i));
		ob_add(b, "\"", 1);
		ob_json_cstr(b, "text", rule_words(i));
		ob_json_cstr(b, "servers", rule_servers(i));
		ob_puts(b, "}");
		first = false;
	}
	ob_puts(b, "],\"hints\":[");
	first = true;
	for (int i = mask_next(d->j.hints, 0); i >= 0; i = mask_next(d->j.hints, i + 1)) {
		ob_puts(b, first ? "{\"id\":\"" : ",{\"id\":\"");
		ob_puts(b, hint_id(i));
		ob_add(b, "\"", 1);
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
		ob_json_uint(b, "status", d->resp.status);
		ob_json_str(b, "status_line", d->resp.start_line.ptr, d->resp.start_line.len);
	} else {
		ob_puts(b, ",\"status\":null,\"status_line\":null");
	}
	ob_json_uint(b, "request_index", x->request_index);
	ob_puts(b, ",\"request_time\":\"");
	ob_puts(b, when);
	ob_add(b, "\"", 1);
	if (x->end == EXCHANGE_ANSWERED && x->answer_ns >= x->request_ns) {
		format_time(r, x->answer_ns, true, when, sizeof(when));
		ob_printf(b, ",\"answer_time\":\"%s\",\"latency_ms\":%.3f", when,
			  (double)(x->answer_ns - x->request_ns) / 1e6);
	} else {
		ob_puts(b, ",\"answer_time\":null,\"latency_ms\":null");
	}
	ob_puts(b, judgement_has_rule(&d->j, RULE_TRUNCATED) ? ",\"truncated\":true" : ",\"truncated\":false");
	ob_puts(b, ",\"syntax\":[");
	add_syntax(b, d, ",", true);
	ob_puts(b, "]");
	if (d->j.status == 101)
		ob_puts(b, judgement_has_rule(&d->j, RULE_ACCEPT_MISMATCH) ||
				   judgement_has_rule(&d->j, RULE_ACCEPT_MISSING)
			   ? ",\"accept_ok\":false"
			   : ",\"accept_ok\":true");
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
	char status[24], evidence[512];

	if (d->have_resp && d->resp.start_line_ok)
		format_uint(d->resp.status, status);
	else
		memcpy(status, "-", 2);
	add_columns(r, b, x->request_ns, d->tgid, d->comm, &d->proc, m, status, verdict_name(d->j.verdict));
	if (d->kind == STREAM_HTTP_REQUEST) {
		ob_escaped(b, d->req.method.ptr, d->req.method.len, false);
		ob_puts(b, " ");
		add_target(r, b, &d->req, false);
	} else {
		ob_add(b, "(", 1);
		ob_puts(b, stream_kind_name(d->kind));
		ob_add(b, ")", 1);
	}
	ob_puts(b, "\n");
	for (int i = mask_next(d->j.rules, 0); i >= 0; i = mask_next(d->j.rules, i + 1)) {
		ob_puts(b, "    ");
		ob_puts(b, rule_id(i));
		ob_puts(b, ": ");
		ob_puts(b, rule_words(i));
		ob_add(b, "\n", 1);
	}
	for (int i = mask_next(d->j.hints, 0); i >= 0; i = mask_next(d->j.hints, i + 1)) {
		ob_puts(b, "    hint ");
		ob_puts(b, hint_id(i));
		ob_puts(b, ": ");
		ob_puts(b, hint_text(i));
		if (hint_evidence(i, d->kind == STREAM_HTTP_REQUEST ? &d->req : NULL, evidence, sizeof(evidence))) {
			ob_puts(b, " [");
			ob_escaped(b, (const uint8_t *)evidence, strlen(evidence), false);
			ob_puts(b, "]");
		}
		ob_puts(b, "\n");
	}
	if (syntax_notes(d)) {
		ob_puts(b, "    syntax: ");
		add_syntax(b, d, ", ", false);
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

/* Longest request line the quick look below takes: well within what
 * parse_partial_request_line() keeps, so that both read the same target. */
#define PLAIN_LINE_MAX 1000

static bool is_ascii_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/*
 * The target of a request line that no reading can take otherwise: an
 * upper-case method, one space, printable bytes, one space, "HTTP/d.d" and
 * the end of the line (CRLF or LF), all within PLAIN_LINE_MAX bytes.
 */
static bool plain_request_line(const uint8_t *p, size_t n, struct byte_slice *target)
{
	size_t i = 0, start;

	while (i < n && p[i] >= 'A' && p[i] <= 'Z')
		i++;
	if (i == 0 || i >= n || p[i] != ' ')
		return false;
	start = ++i;
	while (i < n && p[i] > ' ' && p[i] < 0x7f)
		i++;
	if (i == start || i > PLAIN_LINE_MAX || n - i < 10)
		return false;
	if (p[i] != ' ' || memcmp(p + i + 1, "HTTP/", 5) != 0 || !is_ascii_digit(p[i + 6]) || p[i + 7] != '.' ||
	    !is_ascii_digit(p[i + 8]))
		return false;
	if (p[i + 9] != '\n' && !(p[i + 9] == '\r' && n - i >= 11 && p[i + 10] == '\n'))
		return false;
	*target = (struct byte_slice){p + start, i - start};
	return true;
}

/* Does a --path pattern match the target? Remembered by path (the query
 * does not count, path_glob.h): most requests on a port ask for a few. */
static bool paths_match(struct reporter *r, const uint8_t *target, size_t len)
{
	const uint8_t *path;
	size_t path_len;
	uint32_t hash = 2166136261u; /* FNV-1a */
	struct report_path_memo *slot;
	bool match;

	path_of_target(target, len, &path, &path_len);
	if (path_len > REPORT_PATH_MEMO_BYTES)
		return path_set_match(r->opts.paths, target, len) >= 0;
	for (size_t i = 0; i < path_len; i++)
		hash = (hash ^ path[i]) * 16777619u;
	slot = &r->memo.paths[hash % REPORT_PATH_MEMO_SLOTS];
	if (slot->len_plus_one == path_len + 1 && (!path_len || memcmp(slot->path, path, path_len) == 0))
		return slot->match;
	match = path_set_match(r->opts.paths, target, len) >= 0;
	slot->len_plus_one = (uint8_t)(path_len + 1);
	slot->match = match;
	if (path_len)
		memcpy(slot->path, path, path_len);
	return match;
}

/*
 * A request that is surely no WebSocket attempt, told from its bytes without
 * parsing them: what ws_is_attempt() says of the parsed head, for a head
 * plain enough to be sure. Any other head is parsed and asked.
 */
static bool surely_not_attempt(struct reporter *r, const uint8_t *request, size_t len)
{
	struct byte_slice target;

	if (http_mentions_upgrade(request, len) || !plain_request_line(request, len, &target))
		return false;
	return !r->opts.paths || !paths_match(r, target.ptr, target.len);
}

/* How report_exchange() takes the request's first bytes. */
static enum stream_kind request_kind(const uint8_t *request, size_t len, bool first)
{
	enum stream_kind kind = first ? http_classify_start(request, len) : STREAM_HTTP_REQUEST;

	if (kind == STREAM_NEED_MORE)
		kind = len ? STREAM_NOT_HTTP : STREAM_NEED_MORE;
	return kind;
}

bool report_not_attempt(struct reporter *r, const uint8_t *request, size_t len, bool first)
{
	return request_kind(request, len, first) == STREAM_HTTP_REQUEST && surely_not_attempt(r, request, len);
}

void report_exchange(struct reporter *r, const struct exchange *x)
{
	struct judged d;
	const struct conn_meta *owner = x->conn;
	struct conn_meta found;
	enum stream_kind kind;

	OUT_BUF(b);

	r->counts.exchanges++;
	/* Nearly every request on a busy port, cleared by report_not_attempt()
	 * as it completed (the tracker asks it): never parsed here. A request it
	 * did not clear is not asked again; a tracker that does not ask gets
	 * every request parsed, which decides the same. */
	if (x->not_attempt)
		return;
	kind = request_kind(x->request, x->request_len, x->first_on_conn);
	memset(&d, 0, offsetof(struct judged, req));
	d.x = x;
	d.kind = kind;
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
	/* The lookup fills a copy: the tracker's facts stay what the kernel said. */
	if (owner->owner_source == WS_OWNER_NONE && r->opts.find_owner) {
		found = *owner;
		r->opts.find_owner(r->opts.find_owner_ctx, &found, x->request_ns);
		owner = &found;
	}
	d.tgid = owner->tgid;
	d.tid = owner->tid;
	d.owner_source = owner->owner_source;
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
	copy_name(d.comm, d.proc.comm[0] ? d.proc.comm : owner->comm);

	if (r->opts.json)
		print_json(r, &d, &b);
	else
		print_text(r, &d, &b);
	ob_write(r, &b);
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
	char when[64], hint[512], comm[WS_COMM_LEN + 1];
	uint64_t now = l->closed_ns ? l->closed_ns : l->upgraded_ns;
	bool have_req = false;
	struct timespec ts;

	OUT_BUF(b);

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
	copy_name(comm, proc.comm[0] ? proc.comm : m->comm);
	if (f.idle_timeout)
		idle_hint_text(&f, hint, sizeof(hint));

	if (r->opts.json) {
		format_time(r, now, true, when, sizeof(when));
		ob_puts(&b, "{\"type\":\"lifetime\",\"time\":\"");
		ob_puts(&b, when);
		ob_puts(&b, l->still_open ? "\",\"state\":\"open\"" : "\",\"state\":\"closed\"");
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
			ob_json_uint(&b, "close_code", (unsigned)f.close_code);
			ob_json_cstr(&b, "close_frame", side_name(f.close_frame_dir));
			ob_json_cstr(&b, "closer", side_name(f.closer));
			ob_json_cstr(&b, "closed_by", f.closer == WS_DIR_NONE ? NULL : f.rst ? "rst" : "fin");
		}
		if (life) {
			ob_json_uint(&b, "bytes_in", life->bytes[WS_DIR_IN]);
			ob_json_uint(&b, "bytes_out", life->bytes[WS_DIR_OUT]);
			ob_json_uint(&b, "frames_in", life->frames[WS_DIR_IN]);
			ob_json_uint(&b, "frames_out", life->frames[WS_DIR_OUT]);
			ob_json_uint(&b, "pings_in", life->pings[WS_DIR_IN]);
			ob_json_uint(&b, "pings_out", life->pings[WS_DIR_OUT]);
			ob_json_uint(&b, "pongs_in", life->pongs[WS_DIR_IN]);
			ob_json_uint(&b, "pongs_out", life->pongs[WS_DIR_OUT]);
			ob_json_uint(&b, "unclassified_in", life->unclassified[WS_DIR_IN]);
			ob_json_uint(&b, "unclassified_out", life->unclassified[WS_DIR_OUT]);
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
	ob_write(r, &b);
}
