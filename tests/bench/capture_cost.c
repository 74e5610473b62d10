// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * capture_cost - what the socket capture's programs cost per segment, in ns
 * per run, measured with BPF_PROG_TEST_RUN: steadier than BPF time per
 * request under wrk, because the machine's noise (other guests, the load
 * generator) stays out of it, and precise enough to tell one change to the
 * programs from another.
 *
 * wssnoop's own loader (capture.h) loads and attaches the programs to an
 * empty cgroup made for the run (under the cgroup2 mount, removed at exit),
 * with the defaults the CLI uses (staging where the kernel
 * allows it); then the ingress and egress programs are run on segments built
 * here, the same bytes as make bench's keep-alive load: wrk's request, and
 * nginx's 200 with its 512-byte page. The kernel gives a test run a socket of
 * its own, with local port 0: port 0 is watched, and each segment is sampled
 * as a request or an answer of an open connection is (its socket storage,
 * its stage, the ring). The loader reads the ring between batches of runs,
 * as it does under load. Rows:
 *
 *   request    the ingress program on the request (a sampled head)
 *   answer     the egress program on the answer (a sampled status line)
 *   ack        the ingress program on a pure ACK of a watched port
 *   unwatched  the ingress program on the request, port 0 not watched
 *
 * Each row is the median of batches of RUNS runs, in ns per run, with the
 * records the loader received (a row that samples must deliver one per run:
 * a capture that stopped sampling would look cheap), and the ns per run that
 * bpf_stats reports for the same segment (run_time_ns / run_cnt), which is
 * what make bench's BPF ns per request is made of.
 *
 *   capture_cost [MILLISECONDS_PER_ROW [CGROUP2_MOUNT]]   one JSON line
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "bench_clock.h"
#include "bench_load.h"
#include "capture.h"

#define RUNS 4000 /* per batch: 4000 answers of ~360 staged bytes fit the 4 MiB ring */
#define MAX_BATCHES 2000
#define PROG_IN "wssnoop_ingress"
#define PROG_OUT "wssnoop_egress"


static unsigned long long delivered;

static int on_event(void *ctx, const struct ws_event *ev, size_t size)
{
	(void)ctx;
	(void)size;
	if (ev->type == WS_EV_DATA)
		delivered++;
	return 0;
}

/* An Ethernet frame as a test run takes it (the program sees it from the IP
 * header on): IPv4, TCP with ACK (and PSH when there is payload). */
static size_t build_segment(unsigned char *buf, size_t room, const char *payload, size_t len)
{
	size_t ip_len = 20 + 20 + len;
	unsigned char *ip = buf + 14, *tcp = ip + 20;

	if (14 + ip_len > room)
		return 0;
	memset(buf, 0, 14 + 40);
	buf[12] = 0x08; /* ETH_P_IP */
	ip[0] = 0x45;
	ip[2] = ip_len >> 8;
	ip[3] = ip_len & 0xff;
	ip[8] = 64;
	ip[9] = 6; /* TCP */
	ip[12] = 127, ip[15] = 1;
	ip[16] = 127, ip[19] = 1;
	tcp[0] = 18480 >> 8, tcp[1] = 18480 & 0xff;
	tcp[2] = 40000 >> 8, tcp[3] = 40000 & 0xff;
	tcp[4] = 0x12, tcp[5] = 0x34, tcp[6] = 0x56, tcp[7] = 0x78;
	tcp[12] = 5 << 4;
	tcp[13] = len ? 0x18 : 0x10;
	tcp[14] = 0xff, tcp[15] = 0xff;
	memcpy(tcp + 20, payload, len);
	return 14 + ip_len;
}

struct row {
	double ns;       /* median ns per run, bpf_stats off */
	double stats_ns; /* run_time_ns / run_cnt with bpf_stats on: what make bench's BPF ns/req adds up */
	double records;  /* records the loader received per run */
};

/* Median ns per run over batches of RUNS for ms milliseconds. */
static double batches(struct capture *c, int prog, const unsigned char *pkt, size_t len, double ms, size_t *runs)
{
	static double batch_ns[MAX_BATCHES];
	double end = bench_now_ns() + ms * 1e6;
	size_t n = 0;

	while (n < MAX_BATCHES && (n < 3 || bench_now_ns() < end)) {
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = (__u32)len, .repeat = RUNS);

		if (bpf_prog_test_run_opts(prog, &opts) < 0) {
			perror("capture_cost: BPF_PROG_TEST_RUN");
			exit(1);
		}
		batch_ns[n++] = opts.duration;
		*runs += RUNS;
		/* As the loader's poll loop does: flush the stages, read the ring. */
		capture_drain(c);
	}
	return bench_median(batch_ns, n);
}

/* One row: ms milliseconds of runs with bpf_stats off, then a third of that
 * with it on (the kernel's BPF_ENABLE_STATS, undone when its descriptor
 * closes), whose run_time_ns tells what the stats-on figure of make bench
 * makes of the same run: the two clock reads around each run count in it. */
static struct row row(struct capture *c, const char *prog_name, const unsigned char *pkt, size_t len, double ms)
{
	struct capture_prog_totals t0, t1;
	int prog = capture_prog_fd(c, prog_name);
	struct row r = {0};
	unsigned long long before;
	size_t runs = 0, stats_runs = 0;
	int stats;

	capture_drain(c);
	before = delivered;
	r.ns = batches(c, prog, pkt, len, ms, &runs);
	r.records = (double)(delivered - before) / (double)runs;
	stats = bpf_enable_stats(BPF_STATS_RUN_TIME);
	capture_prog_totals(c, prog_name, &t0);
	if (stats >= 0)
		batches(c, prog, pkt, len, ms / 3, &stats_runs);
	capture_prog_totals(c, prog_name, &t1);
	if (stats >= 0)
		close(stats);
	r.stats_ns = t1.run_cnt > t0.run_cnt ? (double)(t1.run_ns - t0.run_ns) / (double)(t1.run_cnt - t0.run_cnt) : -1;
	return r;
}

static char cgroup[512];

/* At exit, by any path: the attached programs go with the process, then the empty cgroup. */
static void remove_cgroup(void)
{
	rmdir(cgroup);
}

int main(int argc, char **argv)
{
	char mount[256];
	struct capture_opts opts = {
		.kind = CAPTURE_SOCKET,
		.cgroup_path = cgroup,
		.request_budget = WS_REQUEST_SAMPLE_DEFAULT,
		.answer_budget = WS_ANSWER_SAMPLE_DEFAULT,
		.ringbuf_bytes = 4u << 20,
		.lifetime = true,
		.staging = true,
		.on_event = on_event,
	};
	double ms = argc > 1 ? atof(argv[1]) : 300;
	static unsigned char request[2048], answer[2048], ack[128];
	static char answer_bytes[1024];
	size_t request_len, answer_len, ack_len, head = strlen(NGINX_HEAD);
	static const char *const names[] = {"request", "answer", "ack", "unwatched"};
	struct row rows[4];
	struct capture *c;
	char err[256];

	if (argc > 2)
		snprintf(mount, sizeof(mount), "%s", argv[2]);
	else if (capture_cgroup2_root(mount, sizeof(mount)) < 0) {
		fprintf(stderr, "capture_cost: no cgroup v2 hierarchy is mounted (give one as the second argument)\n");
		return 1;
	}
	/* Empty, so that nothing but the test runs meets the programs. */
	snprintf(cgroup, sizeof(cgroup), "%s/wssnoop-capture-cost.%d", mount, (int)getpid());
	if (mkdir(cgroup, 0755) < 0) {
		fprintf(stderr, "capture_cost: mkdir %s: %s\n", cgroup, strerror(errno));
		return 1;
	}
	atexit(remove_cgroup);
	memcpy(answer_bytes, NGINX_HEAD, head);
	memset(answer_bytes + head, 'x', NGINX_PAGE_BYTES);
	request_len = build_segment(request, sizeof(request), WRK_REQUEST, strlen(WRK_REQUEST));
	answer_len = build_segment(answer, sizeof(answer), answer_bytes, head + NGINX_PAGE_BYTES);
	ack_len = build_segment(ack, sizeof(ack), "", 0);
	if (capture_open(&opts, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "capture_cost: %s\n", err);
		return 1;
	}
	if (capture_prog_fd(c, PROG_IN) < 0 || capture_prog_fd(c, PROG_OUT) < 0) {
		fprintf(stderr, "capture_cost: the socket capture's programs are not loaded\n");
		capture_close(c);
		return 1;
	}
	capture_watch_port(c, 0, true);
	rows[0] = row(c, PROG_IN, request, request_len, ms);
	rows[1] = row(c, PROG_OUT, answer, answer_len, ms);
	rows[2] = row(c, PROG_IN, ack, ack_len, ms);
	capture_watch_port(c, 0, false);
	rows[3] = row(c, PROG_IN, request, request_len, ms);
	for (int i = 0; i < 4; i++)
		printf("%s\"%s_ns\": %.1f, \"%s_stats_ns\": %.1f, \"%s_records\": %.3f", i ? ", " : "{", names[i],
		       rows[i].ns, names[i], rows[i].stats_ns, names[i], rows[i].records);
	printf("}\n");
	capture_close(c);
	return 0;
}
