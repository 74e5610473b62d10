// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * wssnoop - why do WebSocket handshakes on this host fail, and which hop is
 * at fault? Command line, signals and the event loop.
 */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "capture.h"
#include "path_glob.h"
#include "proc.h"
#include "report.h"
#include "rules.h"
#include "tracker.h"

#define POLL_MS 100
#define MAX_PORTS 64

static struct env {
	unsigned ports[MAX_PORTS];
	int n_ports;
	struct path_set paths;
	bool json, failed_only, show_secrets, wide;
	int verbose;
	long duration_s;
	long timeout_s;
	uint32_t pid;
	uint32_t sample_bytes;
	uint32_t ringbuf_kib;
	enum capture_kind capture;
	const char *cgroup;
} env = {
	.timeout_s = 10,
	.sample_bytes = WS_REQUEST_SAMPLE_DEFAULT,
	.ringbuf_kib = 8192,
};

const char *argp_program_version = "wssnoop 0.1";
const char *argp_program_bug_address = "the project's issue tracker";
static const char doc[] =
	"Trace WebSocket handshakes on local TCP ports and tell why they fail.\n"
	"\n"
	"USAGE: wssnoop -p PORT[,PORT...] [--path GLOB]... [-v] [-j] [-x] [-d SECONDS]\n"
	"\n"
	"Each handshake attempt on a watched port is one line: time, process,\n"
	"local and remote address, status the server answered, verdict (upgraded,\n"
	"rejected, invalid, no-response, closed), the request, then the rules it\n"
	"broke and hints at the hop at fault. A request is an attempt when its path\n"
	"matches a --path glob (default: /ws, /websocket, SockJS, Socket.IO, ...)\n"
	"or it carries Upgrade or Sec-WebSocket-* headers.\n"
	"\n"
	"EXAMPLES:\n"
	"    wssnoop -p 8080                     # handshakes on port 8080\n"
	"    wssnoop -p 8080,9000 --path '/websocket/**' --path /ws\n"
	"    wssnoop -p 8080 -x -v               # failures only, with the request head\n"
	"    wssnoop -p 8080 -j -d 60            # JSON lines for one minute\n"
	"    wssnoop -p 8080 --pid 4242          # only process 4242's sockets\n"
	"    wssnoop -p 8080 --capture syscall   # where cgroup v2 is missing\n";

enum {
	OPT_PATH = 1000,
	OPT_PID,
	OPT_SAMPLE,
	OPT_SECRETS,
	OPT_TIMEOUT,
	OPT_CAPTURE,
	OPT_CGROUP,
	OPT_RINGBUF,
};

static const struct argp_option opts[] = {
	{"port", 'p', "PORTS", 0, "Local TCP ports to watch, comma-separated (required)", 0},
	{"path", OPT_PATH, "GLOB", 0,
	 "WebSocket path pattern: * within a segment, ** across; repeatable (default: a built-in list)", 0},
	{"verbose", 'v', NULL, 0, "Show the request head (redacted); -vv BPF details; -vvv libbpf debug", 0},
	{"json", 'j', NULL, 0, "One JSON object per line (fields in the README)", 0},
	{"failed", 'x', NULL, 0, "Show failed handshakes only", 0},
	{"duration", 'd', "SECONDS", 0, "Stop after this long", 0},
	{"wide", 'w', NULL, 0, "Wide address columns (IPv6)", 0},
	{"pid", OPT_PID, "PID", 0, "Only sockets of this process", 0},
	{"timeout", OPT_TIMEOUT, "SECONDS", 0, "Report a request unanswered after this long as no-response (10)", 0},
	{"sample-bytes", OPT_SAMPLE, "N", 0, "Bytes sampled from the start of each request head (4096, max 16384)", 0},
	{"show-secrets", OPT_SECRETS, NULL, 0, "Do not redact cookies, credentials, keys and token parameters", 0},
	{"capture", OPT_CAPTURE, "KIND", 0, "cgroup_skb (default: socket level) or syscall (syscall tracepoints)", 0},
	{"cgroup", OPT_CGROUP, "PATH", 0, "cgroup v2 directory to attach to (default: the root)", 0},
	{"ringbuf-kib", OPT_RINGBUF, "KIB", 0, "Ring buffer size in KiB, a power of two (8192)", 0},
	{NULL, 'h', NULL, OPTION_HIDDEN, "Show this help", 0},
	{0},
};

static long parse_number(const char *arg, long min, long max, struct argp_state *state, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < min || v > max)
		argp_error(state, "invalid %s '%s' (expected %ld..%ld)", what, arg, min, max);
	return v;
}

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case 'p': {
		char *copy = strdup(arg), *save = NULL;

		for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			if (env.n_ports == MAX_PORTS)
				argp_error(state, "at most %d ports", MAX_PORTS);
			env.ports[env.n_ports++] = (unsigned)parse_number(tok, 1, 65535, state, "port");
		}
		free(copy);
		break;
	}
	case OPT_PATH:
		if (path_set_add(&env.paths, arg))
			argp_error(state, "invalid or too many --path patterns: '%s'", arg);
		break;
	case 'v': env.verbose++; break;
	case 'j': env.json = true; break;
	case 'x': env.failed_only = true; break;
	case 'w': env.wide = true; break;
	case 'd': env.duration_s = parse_number(arg, 1, INT_MAX, state, "duration"); break;
	case OPT_PID: env.pid = (uint32_t)parse_number(arg, 1, INT_MAX, state, "pid"); break;
	case OPT_TIMEOUT: env.timeout_s = parse_number(arg, 1, 86400, state, "timeout"); break;
	case OPT_SAMPLE: env.sample_bytes = (uint32_t)parse_number(arg, 64, WS_SAMPLE_MAX, state, "sample size"); break;
	case OPT_SECRETS: env.show_secrets = true; break;
	case OPT_CGROUP: env.cgroup = arg; break;
	case OPT_RINGBUF: {
		long kib = parse_number(arg, 4, 1 << 20, state, "ring buffer size");

		if (kib & (kib - 1))
			argp_error(state, "the ring buffer size must be a power of two");
		env.ringbuf_kib = (uint32_t)kib;
		break;
	}
	case OPT_CAPTURE:
		if (strcmp(arg, "cgroup_skb") == 0 || strcmp(arg, "socket") == 0)
			env.capture = CAPTURE_SOCKET;
		else if (strcmp(arg, "syscall") == 0)
			env.capture = CAPTURE_SYSCALL;
		else
			argp_error(state, "unknown capture '%s' (cgroup_skb or syscall)", arg);
		break;
	case 'h': argp_state_help(state, stderr, ARGP_HELP_STD_HELP); break;
	case ARGP_KEY_END:
		if (!env.n_ports)
			argp_error(state, "give the ports to watch with -p PORT[,PORT...]");
		break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static volatile sig_atomic_t exiting;

static void on_signal(int sig)
{
	if (exiting)
		_exit(128 + sig); /* a second Ctrl-C: leave at once */
	exiting = 1;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int64_t mono_to_real(void)
{
	struct timespec real, mono;

	clock_gettime(CLOCK_REALTIME, &real);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	return ((int64_t)real.tv_sec - mono.tv_sec) * 1000000000LL + (real.tv_nsec - mono.tv_nsec);
}

struct app {
	struct tracker *tracker;
	struct reporter reporter;
};

static int on_event(void *ctx, const struct ws_event *ev, size_t size)
{
	struct app *app = ctx;

	tracker_event(app->tracker, ev, size);
	return 0;
}

static void on_exchange(void *ctx, const struct exchange *x)
{
	struct app *app = ctx;

	report_exchange(&app->reporter, x);
}

static void on_unowned(void *ctx, struct conn_meta *meta)
{
	(void)ctx;
	meta->tgid = proc_socket_owner(meta->family, meta->local_addr, meta->local_port, meta->remote_addr,
				       meta->remote_port);
	meta->tid = meta->tgid;
	if (meta->tgid)
		meta->owner_source = WS_OWNER_PROC;
}

static void print_summary(struct app *app, struct capture *cap, double seconds)
{
	const struct report_counts *rc = &app->reporter.counts;
	uint64_t k[WS_CNT__MAX];
	struct tracker_stats ts;
	FILE *out = app->reporter.opts.out;
	uint64_t failed = 0;

	capture_counters(cap, k);
	tracker_stats(app->tracker, &ts);
	for (int v = VERDICT_REJECTED; v < VERDICT_COUNT; v++)
		failed += rc->verdicts[v];
	if (env.json) {
		bool first = true;

		fprintf(out, "{\"type\":\"summary\",\"seconds\":%.3f,\"attempts\":%llu,\"upgraded\":%llu,\"failed\":%llu",
			seconds, (unsigned long long)rc->attempts, (unsigned long long)rc->verdicts[VERDICT_UPGRADED],
			(unsigned long long)failed);
		fputs(",\"verdicts\":{", out);
		for (int v = VERDICT_UPGRADED; v < VERDICT_COUNT; v++)
			fprintf(out, "%s\"%s\":%llu", v == VERDICT_UPGRADED ? "" : ",", verdict_name(v),
				(unsigned long long)rc->verdicts[v]);
		fputs("},\"rules\":{", out);
		for (int i = 0; i < RULE_COUNT; i++) {
			if (!rc->rules[i])
				continue;
			fprintf(out, "%s\"%s\":%llu", first ? "" : ",", rule_id(i), (unsigned long long)rc->rules[i]);
			first = false;
		}
		fprintf(out,
			"},\"events_lost\":%llu,\"samples_cut\":%llu,\"heads_truncated\":%llu,\"segments_unplaced\":%llu,"
			"\"segments\":%llu,\"segments_sampled\":%llu,\"answers_unmatched\":%llu,\"conns_evicted\":%llu,"
			"\"owner_inferred\":%llu,\"owner_unknown\":%llu}\n",
			(unsigned long long)k[WS_CNT_LOST], (unsigned long long)k[WS_CNT_CUT],
			(unsigned long long)ts.truncated, (unsigned long long)ts.unplaced,
			(unsigned long long)k[WS_CNT_SEGMENTS], (unsigned long long)k[WS_CNT_SAMPLED],
			(unsigned long long)ts.unmatched, (unsigned long long)ts.conns_evicted,
			(unsigned long long)rc->owner_inferred, (unsigned long long)rc->owner_unknown);
	} else {
		fprintf(out, "\n%llu handshake attempts in %.1f s: %llu upgraded, %llu failed\n",
			(unsigned long long)rc->attempts, seconds, (unsigned long long)rc->verdicts[VERDICT_UPGRADED],
			(unsigned long long)failed);
		for (int v = VERDICT_REJECTED; v < VERDICT_COUNT; v++)
			if (rc->verdicts[v])
				fprintf(out, "  %-22s %llu\n", verdict_name(v), (unsigned long long)rc->verdicts[v]);
		for (int i = 0; i < RULE_COUNT; i++)
			if (rc->rules[i])
				fprintf(out, "  %-22s %llu  (%s)\n", rule_id(i), (unsigned long long)rc->rules[i],
					rule_words(i));
		fprintf(out, "events lost %llu, samples cut %llu, heads truncated %llu, segments unplaced %llu\n",
			(unsigned long long)k[WS_CNT_LOST], (unsigned long long)k[WS_CNT_CUT],
			(unsigned long long)ts.truncated, (unsigned long long)ts.unplaced);
	}
	fflush(out);
}

int main(int argc, char **argv)
{
	static const struct argp argp = {opts, parse_arg, NULL, doc, NULL, NULL, NULL};
	struct capture *cap = NULL;
	struct app app = {0};
	struct capture_opts copts = {0};
	struct tracker_opts topts = {0};
	struct report_opts ropts = {0};
	struct sigaction sa = {0};
	char err[512];
	uint64_t start, deadline = 0;
	int ret = 1;

	argp_err_exit_status = 2;
	path_set_init(&env.paths);
	if (argp_parse(&argp, argc, argv, ARGP_NO_HELP, NULL, NULL))
		return 2;
	if (!env.paths.count)
		path_set_load_defaults(&env.paths);
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);

	ropts.out = stdout;
	ropts.json = env.json;
	ropts.verbose = env.verbose;
	ropts.failed_only = env.failed_only;
	ropts.show_secrets = env.show_secrets;
	ropts.wide = env.wide;
	ropts.pid = env.pid;
	ropts.paths = &env.paths;
	ropts.mono_to_real_ns = mono_to_real();
	report_init(&app.reporter, &ropts);

	topts.request_budget = env.sample_bytes;
	topts.answer_budget = WS_ANSWER_SAMPLE_DEFAULT;
	topts.timeout_ns = (uint64_t)env.timeout_s * 1000000000ULL;
	topts.idle_ns = 600ULL * 1000000000ULL;
	topts.max_conns = 65536;
	topts.on_exchange = on_exchange;
	topts.on_unowned = on_unowned;
	topts.ctx = &app;
	app.tracker = tracker_new(&topts);
	if (!app.tracker) {
		fprintf(stderr, "wssnoop: out of memory\n");
		return 1;
	}

	copts.kind = env.capture;
	copts.cgroup_path = env.cgroup;
	copts.request_budget = env.sample_bytes;
	copts.answer_budget = WS_ANSWER_SAMPLE_DEFAULT;
	copts.ringbuf_bytes = env.ringbuf_kib * 1024;
	copts.verbose = env.verbose;
	copts.on_event = on_event;
	copts.ctx = &app;
	if (capture_open(&copts, &cap, err, sizeof(err))) {
		fprintf(stderr, "wssnoop: %s\n", err);
		goto cleanup;
	}
	for (int i = 0; i < env.n_ports; i++)
		capture_watch_port(cap, env.ports[i], true);

	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	fprintf(stderr, "wssnoop: tracing port%s", env.n_ports > 1 ? "s" : "");
	for (int i = 0; i < env.n_ports; i++)
		fprintf(stderr, "%s%u", i ? "," : " ", env.ports[i]);
	fprintf(stderr, " (capture %s, attribution %s); Ctrl-C to stop\n", capture_name(cap),
		capture_attribution(cap));
	report_header(&app.reporter);

	start = mono_ns();
	if (env.duration_s)
		deadline = start + (uint64_t)env.duration_s * 1000000000ULL;
	while (!exiting) {
		int n = capture_poll(cap, POLL_MS);
		uint64_t now = mono_ns();

		if (n < 0 && n != -EINTR) {
			fprintf(stderr, "wssnoop: reading the ring buffer failed: %s\n", strerror(-n));
			goto cleanup;
		}
		tracker_tick(app.tracker, now);
		if (deadline && now >= deadline)
			break;
	}
	/* Drain what the kernel already wrote, then report what is still waiting. */
	capture_poll(cap, 0);
	tracker_flush(app.tracker);
	print_summary(&app, cap, (double)(mono_ns() - start) / 1e9);
	ret = 0;
cleanup:
	capture_close(cap);
	tracker_free(app.tracker);
	return ret;
}
