// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * wssnoop - why do WebSocket handshakes on this host fail, and which hop is
 * at fault? Command line, configuration, signals and the event loop, for the
 * terminal tool and for the long-running daemon (`wssnoop daemon`).
 */
#include <argp.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "capture.h"
#include "config.h"
#include "exporter.h"
#include "metrics.h"
#include "path_glob.h"
#include "pipeline.h"
#include "report.h"
#include "rules.h"
#include "tracker.h"

#define POLL_MS 20
#define MAX_PORTS 64
#define DEFAULT_CONFIG "/etc/wssnoop/wssnoop.conf"
#define DEFAULT_METRICS "127.0.0.1:9464"
#define HEALTHY_WITHIN_S 5.0

/* Every setting, from the configuration file and then the command line. */
struct settings {
	unsigned ports[MAX_PORTS];
	int n_ports;
	struct path_set paths;
	bool json, failed_only, show_secrets, wide, daemon, no_lifetime, no_staging, attribute_reads;
	int verbose;
	long duration_s;
	long timeout_s;
	uint32_t pid;
	uint32_t sample_bytes;
	uint32_t ringbuf_kib;
	enum capture_kind capture;
	char cgroup[PATH_MAX];
	char netns[PATH_MAX];
	char output[PATH_MAX];
	char metrics[128];
	char config[PATH_MAX];
	/* Parsing state: list options given on the command line replace the
	 * file's lists instead of adding to them. */
	bool from_cli, cli_ports, cli_paths;
	char error[PATH_MAX + 512];
};

const char *argp_program_version = "wssnoop 0.2";
const char *argp_program_bug_address = "the project's issue tracker";
static const char doc[] =
	"Trace WebSocket handshakes on local TCP ports and tell why they fail.\n"
	"\n"
	"USAGE: wssnoop -p PORT[,PORT...] [--path GLOB]... [-v] [-j] [-x] [-d SECONDS]\n"
	"       wssnoop daemon [--config FILE] [OPTION...]\n"
	"\n"
	"Each handshake attempt on a watched port is one line: time, process,\n"
	"local and remote address, status the server answered, verdict (upgraded,\n"
	"rejected, invalid, no-response, closed), the request, then the rules it\n"
	"broke and hints at the hop at fault. A request is an attempt when its path\n"
	"matches a --path glob (default: /ws, /websocket, SockJS, Socket.IO, ...)\n"
	"or it carries Upgrade or Sec-WebSocket-* headers.\n"
	"\n"
	"`wssnoop daemon` runs in the foreground for days: settings from a file\n"
	"(" DEFAULT_CONFIG ", keys are the long options), JSON lines to stdout\n"
	"or --output, Prometheus metrics on --metrics (" DEFAULT_METRICS "),\n"
	"SIGHUP reloads the file and reopens the output.\n"
	"\n"
	"EXAMPLES:\n"
	"    wssnoop -p 8080                     # handshakes on port 8080\n"
	"    wssnoop -p 8080,9000 --path '/websocket/**' --path /ws\n"
	"    wssnoop -p 8080 -x -v               # failures only, with the request head\n"
	"    wssnoop -p 8080 -j -d 60            # JSON lines for one minute\n"
	"    wssnoop -p 8080 --pid 4242          # only process 4242's sockets\n"
	"    wssnoop -p 8080 --capture syscall   # where cgroup v2 is missing\n"
	"    wssnoop daemon --config deploy/wssnoop.conf\n";

enum {
	OPT_PATH = 1000,
	OPT_PID,
	OPT_SAMPLE,
	OPT_SECRETS,
	OPT_TIMEOUT,
	OPT_CAPTURE,
	OPT_CGROUP,
	OPT_RINGBUF,
	OPT_NETNS,
	OPT_OUTPUT,
	OPT_METRICS,
	OPT_CONFIG,
	OPT_DAEMON,
	OPT_CLI_BEGIN,
	OPT_NO_LIFETIME,
	OPT_NO_STAGING,
	OPT_ATTRIBUTE_READS,
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
	{"cgroup", OPT_CGROUP, "PATH", 0, "Only sockets of this cgroup v2 subtree (default: the whole host)", 0},
	{"netns", OPT_NETNS, "PATH", 0, "Only sockets of processes in this network namespace (e.g. /proc/PID/ns/net)",
	 0},
	{"ringbuf-kib", OPT_RINGBUF, "KIB", 0, "Ring buffer size in KiB, a power of two (4096)", 0},
	{"output", OPT_OUTPUT, "FILE", 0, "Write events to FILE (appended, reopened on SIGHUP) instead of stdout", 0},
	{"no-lifetime", OPT_NO_LIFETIME, NULL, 0,
	 "Do not follow upgraded connections to their end (Close code or 1006, who closed, idle gap)", 0},
	{"no-staging", OPT_NO_STAGING, NULL, 0,
	 "One ring-buffer record per event instead of per-CPU batches (less reader CPU, more BPF time)", 0},
	{"attribute-reads", OPT_ATTRIBUTE_READS, NULL, 0,
	 "Name the thread that reads each request, even unanswered (a tracepoint on every socket read of the host)",
	 0},
	{"daemon", OPT_DAEMON, NULL, 0, "Run as the daemon (the same as the `daemon` command)", 0},
	{"config", OPT_CONFIG, "FILE", 0, "Daemon configuration file (" DEFAULT_CONFIG ")", 0},
	{"metrics", OPT_METRICS, "ADDR:PORT", 0, "Serve Prometheus /metrics and /healthz here; `off` to disable (daemon: "
	 DEFAULT_METRICS ")", 0},
	{"cli-begin", OPT_CLI_BEGIN, NULL, OPTION_HIDDEN, "", 0},
	{NULL, 'h', NULL, OPTION_HIDDEN, "Show this help", 0},
	{0},
};

static error_t bad(struct settings *s, const char *fmt, const char *arg)
{
	snprintf(s->error, sizeof(s->error), fmt, arg);
	return EINVAL;
}

static int number(const char *arg, long min, long max, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(arg, &end, 10);
	return errno || end == arg || *end || *out < min || *out > max ? -1 : 0;
}

static error_t copy_path(struct settings *s, char *dst, size_t cap, const char *arg, const char *what)
{
	if (strlen(arg) >= cap)
		return bad(s, what, arg);
	snprintf(dst, cap, "%s", arg);
	return 0;
}

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	struct settings *s = state->input;
	long v;

	switch (key) {
	case 'p': {
		char *copy, *save = NULL;

		if (s->from_cli && !s->cli_ports) {
			s->n_ports = 0;
			s->cli_ports = true;
		}
		copy = strdup(arg);
		if (!copy)
			return ENOMEM;
		for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			if (number(tok, 1, 65535, &v) || s->n_ports == MAX_PORTS) {
				free(copy);
				return bad(s, "invalid port or too many ports in '%s' (1..65535, at most 64)", arg);
			}
			s->ports[s->n_ports++] = (unsigned)v;
		}
		free(copy);
		break;
	}
	case OPT_PATH:
		if (s->from_cli && !s->cli_paths) {
			path_set_init(&s->paths);
			s->cli_paths = true;
		}
		if (path_set_add(&s->paths, arg))
			return bad(s, "invalid or too many --path patterns: '%s'", arg);
		break;
	case 'v': s->verbose++; break;
	case 'j': s->json = true; break;
	case 'x': s->failed_only = true; break;
	case 'w': s->wide = true; break;
	case 'd':
		if (number(arg, 1, INT_MAX, &v))
			return bad(s, "invalid duration '%s' (seconds)", arg);
		s->duration_s = v;
		break;
	case OPT_PID:
		if (number(arg, 1, INT_MAX, &v))
			return bad(s, "invalid pid '%s'", arg);
		s->pid = (uint32_t)v;
		break;
	case OPT_TIMEOUT:
		if (number(arg, 1, 86400, &v))
			return bad(s, "invalid timeout '%s' (1..86400 seconds)", arg);
		s->timeout_s = v;
		break;
	case OPT_SAMPLE:
		if (number(arg, 64, WS_SAMPLE_MAX, &v))
			return bad(s, "invalid sample size '%s' (64..16384)", arg);
		s->sample_bytes = (uint32_t)v;
		break;
	case OPT_SECRETS: s->show_secrets = true; break;
	case OPT_RINGBUF:
		if (number(arg, 4, 1 << 20, &v) || (v & (v - 1)))
			return bad(s, "invalid ring buffer size '%s' (KiB, a power of two)", arg);
		s->ringbuf_kib = (uint32_t)v;
		break;
	case OPT_CAPTURE:
		if (strcmp(arg, "cgroup_skb") == 0 || strcmp(arg, "socket") == 0)
			s->capture = CAPTURE_SOCKET;
		else if (strcmp(arg, "syscall") == 0)
			s->capture = CAPTURE_SYSCALL;
		else
			return bad(s, "unknown capture '%s' (cgroup_skb or syscall)", arg);
		break;
	case OPT_CGROUP: return copy_path(s, s->cgroup, sizeof(s->cgroup), arg, "cgroup path too long: %s");
	case OPT_NETNS: return copy_path(s, s->netns, sizeof(s->netns), arg, "netns path too long: %s");
	case OPT_OUTPUT: return copy_path(s, s->output, sizeof(s->output), arg, "output path too long: %s");
	case OPT_CONFIG: return copy_path(s, s->config, sizeof(s->config), arg, "config path too long: %s");
	case OPT_METRICS: return copy_path(s, s->metrics, sizeof(s->metrics), arg, "metrics address too long: %s");
	case OPT_DAEMON: s->daemon = true; break;
	case OPT_NO_LIFETIME: s->no_lifetime = true; break;
	case OPT_NO_STAGING: s->no_staging = true; break;
	case OPT_ATTRIBUTE_READS: s->attribute_reads = true; break;
	case OPT_CLI_BEGIN: s->from_cli = true; break;
	case 'h': argp_state_help(state, stdout, ARGP_HELP_STD_HELP); break;
	case ARGP_KEY_ARG:
		if (state->arg_num == 0 && strcmp(arg, "daemon") == 0) {
			s->daemon = true;
			break;
		}
		return bad(s, "unexpected argument '%s'", arg);
	case ARGP_KEY_END:
		if (!s->n_ports)
			return bad(s, "%sgive the ports to watch with -p PORT[,PORT...]", s->daemon ? "(or `port = ...` in the config) " : "");
		break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp argp = {opts, parse_arg, NULL, doc, NULL, NULL, NULL};

static void settings_defaults(struct settings *s)
{
	memset(s, 0, sizeof(*s));
	s->timeout_s = 10;
	s->sample_bytes = WS_REQUEST_SAMPLE_DEFAULT;
	s->ringbuf_kib = 4096;
	path_set_init(&s->paths);
}

/* The config file named on the command line, if any, without parsing it all. */
static const char *config_on_cli(int argc, char **argv, bool *daemon)
{
	const char *path = NULL;

	*daemon = argc > 1 && strcmp(argv[1], "daemon") == 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--daemon") == 0)
			*daemon = true;
		else if (strncmp(argv[i], "--config=", 9) == 0)
			path = argv[i] + 9;
		else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			path = argv[++i];
	}
	return path;
}

/*
 * Settings from the configuration file (the daemon's default one, or the one
 * --config names), then the command line on top. Returns 0, 2 for a usage
 * error (message in s->error).
 */
static int load_settings(struct settings *s, int argc, char **argv)
{
	struct config_args file = {0};
	bool daemon;
	const char *config = config_on_cli(argc, argv, &daemon);
	char **all;
	int n = 0, ret;

	settings_defaults(s);
	if (config || (daemon && access(DEFAULT_CONFIG, F_OK) == 0)) {
		if (config_read(config ? config : DEFAULT_CONFIG, &file, s->error, sizeof(s->error)))
			return 2;
	}
	all = calloc((size_t)(argc + file.argc + 2), sizeof(char *));
	if (!all) {
		config_free(&file);
		snprintf(s->error, sizeof(s->error), "out of memory");
		return 2;
	}
	all[n++] = argv[0];
	for (int i = 0; i < file.argc; i++)
		all[n++] = file.argv[i];
	all[n++] = "--cli-begin";
	for (int i = 1; i < argc; i++)
		all[n++] = argv[i];
	ret = argp_parse(&argp, n, all, ARGP_NO_HELP | ARGP_NO_EXIT | ARGP_NO_ERRS, NULL, s);
	free(all);
	config_free(&file);
	if (ret) {
		if (!s->error[0])
			snprintf(s->error, sizeof(s->error), "invalid arguments (see --help)");
		return 2;
	}
	if (!s->paths.count)
		path_set_load_defaults(&s->paths);
	if (s->daemon) {
		s->json = true;
		if (!s->metrics[0])
			snprintf(s->metrics, sizeof(s->metrics), "%s", DEFAULT_METRICS);
	}
	if (strcmp(s->metrics, "off") == 0)
		s->metrics[0] = 0;
	return 0;
}

static uint64_t netns_inode(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (!path[0])
		return 0;
	if (stat(path, &st)) {
		snprintf(err, errlen, "cannot read network namespace %s: %s", path, strerror(errno));
		return (uint64_t)-1;
	}
	return st.st_ino;
}

static volatile sig_atomic_t exiting, reload_wanted;

static void on_signal(int sig)
{
	if (sig == SIGHUP) {
		reload_wanted = 1;
		return;
	}
	if (exiting)
		_exit(128 + sig); /* a second Ctrl-C: leave at once */
	exiting = 1;
}

static double real_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t mono_to_real(void)
{
	struct timespec real, mono;

	clock_gettime(CLOCK_REALTIME, &real);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	return ((int64_t)real.tv_sec - mono.tv_sec) * 1000000000LL + (real.tv_nsec - mono.tv_nsec);
}

struct app {
	struct settings set;
	int argc;
	char **argv;
	struct capture *cap;
	struct pipeline pipe; /* records in, reports out */
	FILE *out;
	/* The daemon's metrics, shared with the exporter's thread. */
	pthread_mutex_t lock;
	struct metrics *metrics;
	struct metrics_gauges gauges;
	struct exporter *exporter;
};

static void on_closed(void *ctx, const struct close_summary *s)
{
	struct app *app = ctx;

	pthread_mutex_lock(&app->lock);
	metrics_record_close(app->metrics, s);
	pthread_mutex_unlock(&app->lock);
}

static void on_judged(void *ctx, const struct handshake_summary *s)
{
	struct app *app = ctx;

	pthread_mutex_lock(&app->lock);
	metrics_record(app->metrics, s);
	pthread_mutex_unlock(&app->lock);
}

static size_t render_metrics(void *ctx, char **out)
{
	struct app *app = ctx;
	size_t n;

	pthread_mutex_lock(&app->lock);
	n = metrics_render(app->metrics, &app->gauges, out);
	pthread_mutex_unlock(&app->lock);
	return n;
}

static bool healthy(void *ctx)
{
	struct app *app = ctx;
	double last;

	pthread_mutex_lock(&app->lock);
	last = app->gauges.last_poll_s;
	pthread_mutex_unlock(&app->lock);
	return real_s() - last < HEALTHY_WITHIN_S;
}

static uint64_t rss_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (f) {
		if (fscanf(f, "%lu %lu", &size, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void update_gauges(struct app *app, bool full)
{
	struct metrics_gauges *g = &app->gauges;
	struct capture_prog_totals pt;
	uint64_t k[WS_CNT__MAX];
	struct tracker_stats ts;

	pthread_mutex_lock(&app->lock);
	g->last_poll_s = real_s();
	if (full) {
		capture_counters(app->cap, k);
		tracker_stats(app->pipe.tracker, &ts);
		g->events_lost = k[WS_CNT_LOST];
		g->samples_cut = k[WS_CNT_CUT];
		g->heads_truncated = ts.truncated;
		g->segments_unplaced = ts.unplaced;
		g->conns_evicted = ts.conns_evicted;
		g->conns_tracked = ts.conns;
		capture_prog_totals(app->cap, NULL, &pt);
		g->bpf_run_ns = pt.run_ns;
		g->bpf_run_cnt = pt.run_cnt;
		g->bpf_runs_skipped = pt.skipped;
		g->rss_bytes = rss_bytes();
	}
	pthread_mutex_unlock(&app->lock);
}

static int open_output(struct app *app, char *err, size_t errlen)
{
	FILE *f;

	if (!app->set.output[0]) {
		if (app->out && app->out != stdout)
			fclose(app->out);
		app->out = stdout;
		app->pipe.reporter.opts.out = stdout;
		return 0;
	}
	f = fopen(app->set.output, "ae");
	if (!f) {
		snprintf(err, errlen, "cannot open output %.256s: %s", app->set.output, strerror(errno));
		return -1;
	}
	setvbuf(f, NULL, _IOFBF, 1 << 16);
	if (app->out && app->out != stdout)
		fclose(app->out);
	app->out = f;
	app->pipe.reporter.opts.out = f;
	return 0;
}

static void apply_report_settings(struct app *app, uint64_t netns)
{
	struct report_opts *o = &app->pipe.reporter.opts;

	o->out = app->out;
	o->json = app->set.json;
	o->verbose = app->set.verbose;
	o->failed_only = app->set.failed_only;
	o->show_secrets = app->set.show_secrets;
	o->wide = app->set.wide;
	o->pid = app->set.pid;
	o->netns = netns;
	/* The set may have changed in place (a reload copies into it). */
	report_set_paths(&app->pipe.reporter, &app->set.paths);
}

/* SIGHUP: read the file again, apply what can change while running (ports,
 * paths, filters, redaction, the output file), keep the BPF programs and every
 * connection in flight; say what needs a restart. */
static void reload(struct app *app)
{
	struct settings next;
	char err[512] = "";
	uint64_t netns;

	if (load_settings(&next, app->argc, app->argv)) {
		fprintf(stderr, "wssnoop: reload failed, keeping the running settings: %s\n", next.error);
		return;
	}
	netns = netns_inode(next.netns, err, sizeof(err));
	if (netns == (uint64_t)-1) {
		fprintf(stderr, "wssnoop: reload failed, keeping the running settings: %s\n", err);
		return;
	}
	if (next.capture != app->set.capture || strcmp(next.cgroup, app->set.cgroup) ||
	    next.sample_bytes != app->set.sample_bytes || next.ringbuf_kib != app->set.ringbuf_kib ||
	    strcmp(next.metrics, app->set.metrics) || next.timeout_s != app->set.timeout_s ||
	    next.no_lifetime != app->set.no_lifetime || next.no_staging != app->set.no_staging ||
	    next.attribute_reads != app->set.attribute_reads)
		fprintf(stderr, "wssnoop: reload: capture, cgroup, sample-bytes, ringbuf-kib, timeout, metrics, "
				"no-lifetime, no-staging and attribute-reads take effect at the next start\n");
	/* New ports on first, then the dropped ones off: a port in both lists
	 * is never unwatched, not even for a moment. */
	for (int i = 0; i < next.n_ports; i++)
		capture_watch_port(app->cap, next.ports[i], true);
	for (int i = 0; i < app->set.n_ports; i++) {
		bool kept = false;

		for (int j = 0; j < next.n_ports; j++)
			kept |= next.ports[j] == app->set.ports[i];
		if (!kept)
			capture_watch_port(app->cap, app->set.ports[i], false);
	}
	fflush(app->out);
	memcpy(app->set.ports, next.ports, sizeof(next.ports));
	app->set.n_ports = next.n_ports;
	app->set.paths = next.paths;
	app->set.failed_only = next.failed_only;
	app->set.show_secrets = next.show_secrets;
	app->set.pid = next.pid;
	app->set.verbose = next.verbose;
	memcpy(app->set.netns, next.netns, sizeof(next.netns));
	memcpy(app->set.output, next.output, sizeof(next.output));
	if (open_output(app, err, sizeof(err)))
		fprintf(stderr, "wssnoop: reload: %s (keeping the old output)\n", err);
	apply_report_settings(app, netns);
	pthread_mutex_lock(&app->lock);
	app->gauges.reloads++;
	pthread_mutex_unlock(&app->lock);
	fprintf(stderr, "wssnoop: reloaded: %d port%s, %u path pattern%s\n", app->set.n_ports,
		app->set.n_ports == 1 ? "" : "s", app->set.paths.count, app->set.paths.count == 1 ? "" : "s");
}

static void print_summary(struct app *app, double seconds)
{
	const struct report_counts *rc = &app->pipe.reporter.counts;
	uint64_t k[WS_CNT__MAX];
	struct tracker_stats ts;
	struct capture_stats cs;
	struct capture_prog_totals pt;
	FILE *out = app->out;
	uint64_t failed = 0, disorder;

	capture_counters(app->cap, k);
	capture_stats(app->cap, &cs);
	capture_prog_totals(app->cap, NULL, &pt);
	/* Handed on out of time order: late from a CPU's stage, or early to
	 * bound memory. Either may mismatch a request and its answer. */
	disorder = cs.late + cs.forced;
	tracker_stats(app->pipe.tracker, &ts);
	for (int v = VERDICT_REJECTED; v < VERDICT_COUNT; v++)
		failed += rc->verdicts[v];
	if (app->set.json) {
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
			"\"owner_inferred\":%llu,\"owner_unknown\":%llu,\"out_of_scope\":%llu,\"ws_closed\":%llu,"
			"\"ws_closed_1006\":%llu,\"idle_timeouts\":%llu,\"ws_open\":%llu,\"frames_unclassified\":%llu,"
			"\"conns_pre_accept\":%llu,\"conns_closed_late\":%llu,\"events_out_of_order\":%llu,"
			"\"sends_unattributed\":%llu,\"bpf_runs_skipped\":%llu,"
			"\"events_sent\":%llu,\"events_received\":%llu}\n",
			(unsigned long long)k[WS_CNT_LOST], (unsigned long long)k[WS_CNT_CUT],
			(unsigned long long)ts.truncated, (unsigned long long)ts.unplaced,
			(unsigned long long)k[WS_CNT_SEGMENTS], (unsigned long long)k[WS_CNT_SAMPLED],
			(unsigned long long)ts.unmatched, (unsigned long long)ts.conns_evicted,
			(unsigned long long)rc->owner_inferred, (unsigned long long)rc->owner_unknown,
			(unsigned long long)rc->out_of_scope, (unsigned long long)rc->closes,
			(unsigned long long)rc->closes_1006, (unsigned long long)rc->idle_timeouts,
			(unsigned long long)rc->still_open, (unsigned long long)k[WS_CNT_UNCLASSIFIED],
			(unsigned long long)ts.pre_accept, (unsigned long long)ts.closed_late, (unsigned long long)disorder,
			(unsigned long long)k[WS_CNT_SENT_UNOWNED], (unsigned long long)pt.skipped,
			(unsigned long long)(k[WS_CNT_EMITTED] + k[WS_CNT_LOST]), (unsigned long long)app->pipe.records);
	} else {
		fprintf(out, "\n%llu handshake attempt%s in %.1f s: %llu upgraded, %llu failed\n",
			(unsigned long long)rc->attempts, rc->attempts == 1 ? "" : "s", seconds, (unsigned long long)rc->verdicts[VERDICT_UPGRADED],
			(unsigned long long)failed);
		for (int v = VERDICT_REJECTED; v < VERDICT_COUNT; v++)
			if (rc->verdicts[v])
				fprintf(out, "  %-22s %llu\n", verdict_name(v), (unsigned long long)rc->verdicts[v]);
		for (int i = 0; i < RULE_COUNT; i++)
			if (rc->rules[i])
				fprintf(out, "  %-22s %llu  (%s)\n", rule_id(i), (unsigned long long)rc->rules[i],
					rule_words(i));
		if (rc->closes || rc->still_open)
			fprintf(out, "upgraded connections: %llu ended (%llu without a Close frame, %llu idle timeouts), "
				     "%llu still open\n",
				(unsigned long long)rc->closes, (unsigned long long)rc->closes_1006,
				(unsigned long long)rc->idle_timeouts, (unsigned long long)rc->still_open);
		if (ts.pre_accept)
			fprintf(out, "%llu connection%s sent data before the server accepted %s (accept queue full: "
				     "raise the listen backlog, or accept faster)\n",
				(unsigned long long)ts.pre_accept, ts.pre_accept == 1 ? "" : "s",
				ts.pre_accept == 1 ? "it" : "them");
		fprintf(out, "events sent %llu, received %llu, lost %llu; samples cut %llu, heads truncated %llu, "
			     "segments unplaced %llu\n",
			(unsigned long long)(k[WS_CNT_EMITTED] + k[WS_CNT_LOST]), (unsigned long long)app->pipe.records,
			(unsigned long long)k[WS_CNT_LOST], (unsigned long long)k[WS_CNT_CUT],
			(unsigned long long)ts.truncated, (unsigned long long)ts.unplaced);
		if (disorder)
			fprintf(out, "%llu event%s handed on out of time order (the reader fell behind)\n",
				(unsigned long long)disorder, disorder == 1 ? "" : "s");
		if (pt.skipped)
			fprintf(out, "%llu run%s of wssnoop's BPF programs skipped by the kernel (a run it guards "
				     "against was in flight on the CPU): segments may be missing\n",
				(unsigned long long)pt.skipped, pt.skipped == 1 ? "" : "s");
	}
	fflush(out);
}

int main(int argc, char **argv)
{
	static struct app app = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct capture_opts copts = {0};
	struct pipeline_opts popts = {0};
	struct sigaction sa = {0};
	char err[512] = "";
	const char *attribution;
	uint64_t start, deadline = 0, netns, last_gauges = 0;
	int ret = 1;

	app.argc = argc;
	app.argv = argv;
	/* Help and version anywhere on the line: argp's own handling, exit 0. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "-?") == 0 ||
		    strcmp(argv[i], "--usage") == 0 || strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
			char *help_argv[] = {argv[0], argv[i], NULL};

			argp_parse(&argp, 2, help_argv, 0, NULL, &app.set);
			return 0;
		}
	}
	if (load_settings(&app.set, argc, argv)) {
		fprintf(stderr, "wssnoop: %s\nTry `wssnoop --help' for more information.\n", app.set.error);
		return 2;
	}
	netns = netns_inode(app.set.netns, err, sizeof(err));
	if (netns == (uint64_t)-1) {
		fprintf(stderr, "wssnoop: %s\n", err);
		return 2;
	}
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (open_output(&app, err, sizeof(err))) {
		fprintf(stderr, "wssnoop: %s\n", err);
		return 1;
	}

	app.metrics = metrics_new();

	copts.kind = app.set.capture;
	copts.cgroup_path = app.set.cgroup[0] ? app.set.cgroup : NULL;
	copts.request_budget = app.set.sample_bytes;
	copts.answer_budget = WS_ANSWER_SAMPLE_DEFAULT;
	copts.ringbuf_bytes = app.set.ringbuf_kib * 1024;
	copts.verbose = app.set.verbose;
	copts.lifetime = !app.set.no_lifetime;
	copts.staging = !app.set.no_staging;
	copts.attribute_reads = app.set.attribute_reads;
	copts.on_event = pipeline_record;
	copts.ctx = &app.pipe;
	if (capture_open(&copts, &app.cap, err, sizeof(err))) {
		fprintf(stderr, "wssnoop: %s\n", err);
		goto cleanup;
	}
	/* The pipeline exists before the first poll hands it records. A /proc
	 * lookup per request only where the kernel side cannot attribute: with
	 * a tracepoint the owner record comes right after the request; with the
	 * egress path only for exchanges that end without a word from the
	 * server's own context. */
	popts.request_budget = copts.request_budget;
	popts.answer_budget = copts.answer_budget;
	popts.timeout_ns = (uint64_t)app.set.timeout_s * 1000000000ULL;
	attribution = capture_attribution(app.cap);
	popts.owner_lookup = strcmp(attribution, "proc") == 0	  ? OWNER_LOOKUP_REQUEST
			     : strcmp(attribution, "egress") == 0 ? OWNER_LOOKUP_UNANSWERED
								   : OWNER_LOOKUP_NONE;
	popts.lifetime = !app.set.no_lifetime;
	popts.report.mono_to_real_ns = mono_to_real();
	popts.report.on_judged = on_judged;
	popts.report.on_closed = on_closed;
	popts.report.ctx = &app;
	if (pipeline_init(&app.pipe, &popts) || !app.metrics) {
		fprintf(stderr, "wssnoop: out of memory\n");
		goto cleanup;
	}
	apply_report_settings(&app, netns);
	for (int i = 0; i < app.set.n_ports; i++)
		capture_watch_port(app.cap, app.set.ports[i], true);

	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	app.gauges.start_time_s = real_s();
	update_gauges(&app, true);
	if (app.set.metrics[0]) {
		app.exporter = exporter_start(app.set.metrics, render_metrics, healthy, &app, err, sizeof(err));
		if (!app.exporter) {
			fprintf(stderr, "wssnoop: %s\n", err);
			goto cleanup;
		}
	}

	/* Loaded, attached, listening: the rest needs far fewer privileges. */
	if (capture_drop_privileges(app.cap) && app.set.verbose)
		fprintf(stderr, "wssnoop: could not drop capabilities: %s\n", strerror(errno));
	fprintf(stderr, "wssnoop: tracing port%s", app.set.n_ports > 1 ? "s" : "");
	for (int i = 0; i < app.set.n_ports; i++)
		fprintf(stderr, "%s%u", i ? "," : " ", app.set.ports[i]);
	fprintf(stderr, " (capture %s, attribution %s)", capture_name(app.cap), capture_attribution(app.cap));
	if (app.set.metrics[0])
		fprintf(stderr, ", metrics on http://%s/metrics", app.set.metrics);
	fprintf(stderr, "%s\n", app.set.daemon ? "" : "; Ctrl-C to stop");
	report_header(&app.pipe.reporter);

	start = capture_clock_ns();
	if (app.set.duration_s)
		deadline = start + (uint64_t)app.set.duration_s * 1000000000ULL;
	while (!exiting) {
		int n = capture_poll(app.cap, POLL_MS);
		uint64_t now = capture_clock_ns();

		if (n < 0 && n != -EINTR) {
			fprintf(stderr, "wssnoop: reading the ring buffer failed: %s\n", strerror(-n));
			goto cleanup;
		}
		pipeline_wake(&app.pipe, capture_delivered_until(app.cap, now));
		if (app.exporter) {
			bool full = now - last_gauges >= 1000000000ULL;

			update_gauges(&app, full);
			if (full)
				last_gauges = now;
		}
		if (reload_wanted) {
			reload_wanted = 0;
			reload(&app);
		}
		if (deadline && now >= deadline)
			break;
	}
	/* Stop watching, so that nothing more is written; drain what the kernel
	 * already wrote (sent = received + lost holds from here); then report
	 * what is still waiting. */
	for (int i = 0; i < app.set.n_ports; i++)
		capture_watch_port(app.cap, app.set.ports[i], false);
	capture_drain(app.cap);
	pipeline_finish(&app.pipe);
	print_summary(&app, (double)(capture_clock_ns() - start) / 1e9);
	if (app.set.verbose) {
		struct capture_stats cs;

		capture_stats(app.cap, &cs);
		fprintf(stderr,
			"wssnoop: staging: %llu batches (%llu did not add up), %llu flush rounds (%llu found a stage "
			"taken, %llu failed), %llu records late, %llu handed on early\n",
			(unsigned long long)cs.batches, (unsigned long long)cs.batch_errors, (unsigned long long)cs.flushes,
			(unsigned long long)cs.flush_busy, (unsigned long long)cs.flush_errors, (unsigned long long)cs.late,
			(unsigned long long)cs.forced);
		capture_print_skipped(app.cap, stderr);
	}
	ret = 0;
cleanup:
	exporter_stop(app.exporter);
	capture_close(app.cap);
	pipeline_free(&app.pipe);
	metrics_free(app.metrics);
	if (app.out && app.out != stdout)
		fclose(app.out);
	return ret;
}
