// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * capture.c - the load sequence: check, probe, open, configure, load,
 * attach, poll. Kernel differences are decided here, once, by probing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <sys/capability.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "batch.h"
#include "capture.h"
#include "reorder.h"
#include "ring.h"
#include "wssnoop.skel.h"
#include "syscall.skel.h"

#define MAX_PROGS 32

struct capture {
	struct capture_opts opts;
	struct wssnoop_bpf *skb_skel;
	struct syscall_bpf *sys_skel;
	struct bpf_object *obj; /* whichever skeleton was loaded */
	__u8 *watched;		/* the programs' .bss watched_ports[] */
	volatile __u8 *stage_dirty; /* the programs' .bss stage_dirty[] */
	struct ring *ring;
	uint64_t ring_tag;	 /* of the ring record being read */
	struct bpf_link *links[MAX_PROGS];
	int n_links;
	int cgroup_fd;
	char mounted_cgroup[64]; /* where we mounted cgroup2, to unmount at exit */
	const char *attribution; /* how reads are attributed */
	bool egress_writes;	 /* writes attributed by the egress path */
	char *log_buf;
	/* Staging (the socket-level capture where the kernel allows it): each
	 * CPU's records come in batches, which the loader flushes on a timer
	 * and puts back in time order before anyone sees them. */
	struct reorder *reorder;
	int flush_fd;		 /* wssnoop_flush, run on each CPU */
	int n_cpus;
	uint64_t last_kick_ns;
	uint64_t delivered_ns;	 /* every record stamped before this has been handed on */
	struct capture_stats stats;
};

/* How often each CPU's stage is flushed; with the poll loop's 20 ms timer,
 * a record waits at most about twice this long plus the slack. Shorter holds
 * fewer records at once: measured, 50 ms with a 100 ms timer cost the reader
 * about half as much CPU again (copies that fell out of the cache). */
#define KICK_NS (20ULL * 1000 * 1000)
/* A run stamps its record before it stages it: records stamped this little
 * before a flush may still be on their way. */
#define KICK_SLACK_NS (2ULL * 1000 * 1000)
/* Flush sooner when this many records wait to be put in order. */
#define KICK_HELD 8192

uint64_t capture_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int verbose_level;

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list args)
{
	/* Errors come back as wssnoop's own one-line reasons; libbpf's words
	 * are there for -v and up. */
	if (level == LIBBPF_DEBUG && verbose_level < 3)
		return 0;
	if (level == LIBBPF_INFO && verbose_level < 2)
		return 0;
	if (level == LIBBPF_WARN && verbose_level < 1)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static bool has_cap(cap_t caps, cap_value_t cap)
{
	cap_flag_value_t v = CAP_CLEAR;

	if (!CAP_IS_SUPPORTED(cap))
		return false;
	cap_get_flag(caps, cap, CAP_EFFECTIVE, &v);
	return v == CAP_SET;
}

/* Name the first capability missing, so the message says what to grant. */
static const char *missing_capability(enum capture_kind kind)
{
	cap_t caps = cap_get_proc();
	const char *missing = NULL;
	bool admin;

	if (!caps)
		return NULL;
	admin = has_cap(caps, CAP_SYS_ADMIN);
	if (!admin && !has_cap(caps, CAP_BPF))
		missing = "CAP_BPF (or CAP_SYS_ADMIN)";
	else if (!admin && !has_cap(caps, CAP_PERFMON))
		missing = "CAP_PERFMON (or CAP_SYS_ADMIN)";
	else if (kind == CAPTURE_SOCKET && !has_cap(caps, CAP_NET_ADMIN))
		missing = "CAP_NET_ADMIN (attaching to a cgroup)";
	cap_free(caps);
	return missing;
}

static bool is_fs(const char *path, long magic)
{
	struct statfs st;

	return statfs(path, &st) == 0 && st.f_type == magic;
}

int capture_cgroup2_root(char *path, size_t size)
{
	static const char *const candidates[] = {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"};
	char dev[256], dir[4096], type[64];
	FILE *f;
	size_t i;

	for (i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
		if (is_fs(candidates[i], CGROUP2_SUPER_MAGIC))
			return snprintf(path, size, "%s", candidates[i]) < (int)size ? 0 : -1;
	f = fopen("/proc/self/mounts", "r");
	while (f && fscanf(f, "%255s %4095s %63s %*[^\n]", dev, dir, type) == 3) {
		if (strcmp(type, "cgroup2") == 0) {
			fclose(f);
			return snprintf(path, size, "%s", dir) < (int)size ? 0 : -1;
		}
	}
	if (f)
		fclose(f);
	return -1;
}

/* The cgroup v2 hierarchy: --cgroup, else the one mounted
 * (capture_cgroup2_root()), else one of our own (removed at exit). */
static int open_cgroup(struct capture *c, char *err, size_t errlen)
{
	char path[4096] = "";
	const char *root = NULL;

	if (c->opts.cgroup_path) {
		if (!is_fs(c->opts.cgroup_path, CGROUP2_SUPER_MAGIC))
			return fail(err, errlen, "%s is not a cgroup v2 directory: give --cgroup a path under the cgroup2 mount",
				    c->opts.cgroup_path);
		root = c->opts.cgroup_path;
	} else if (capture_cgroup2_root(path, sizeof(path)) == 0) {
		root = path;
	}
	if (!root) {
		snprintf(c->mounted_cgroup, sizeof(c->mounted_cgroup), "/tmp/wssnoop-cgroup2.XXXXXX");
		if (!mkdtemp(c->mounted_cgroup) || mount("cgroup2", c->mounted_cgroup, "cgroup2", 0, NULL)) {
			int e = errno;

			if (c->mounted_cgroup[0])
				rmdir(c->mounted_cgroup);
			c->mounted_cgroup[0] = 0;
			return fail(err, errlen, "no cgroup v2 hierarchy, and mounting one failed (%s)", strerror(e));
		}
		root = c->mounted_cgroup;
	}
	c->cgroup_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->cgroup_fd < 0)
		return fail(err, errlen, "cannot open cgroup %s: %s", root, strerror(errno));
	if (c->opts.verbose)
		fprintf(stderr, "wssnoop: cgroup %s\n", root);
	return 0;
}

/* Syscall tracepoints are found through tracefs; mount it when absent. It
 * stays mounted at exit, where distributions mount it anyway: another
 * wssnoop may be attaching through it at that moment. */
static int ensure_tracefs(char *err, size_t errlen)
{
	/* AT_EACCESS: what counts is the effective ids and capabilities, not
	 * the real uid of a capability-only service. */
	if (faccessat(AT_FDCWD, "/sys/kernel/tracing/events/syscalls", F_OK, AT_EACCESS) == 0 ||
	    faccessat(AT_FDCWD, "/sys/kernel/debug/tracing/events/syscalls", F_OK, AT_EACCESS) == 0)
		return 0;
	if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL))
		return fail(err, errlen, "tracefs is not mounted and mounting it on /sys/kernel/tracing failed: %s",
			    strerror(errno));
	return 0;
}

static bool kernel_has_btf_type(struct btf *vmlinux, const char *name, __u32 kind)
{
	return vmlinux && btf__find_by_name_kind(vmlinux, name, kind) >= 0;
}

static int attach_link(struct capture *c, struct bpf_program *prog, struct bpf_link *link, char *err,
		       size_t errlen)
{
	if (!link)
		return fail(err, errlen, "attaching %s failed: %s", bpf_program__name(prog), strerror(errno));
	if (c->n_links >= (int)(sizeof(c->links) / sizeof(c->links[0]))) {
		bpf_link__destroy(link);
		return fail(err, errlen, "too many programs to attach");
	}
	c->links[c->n_links++] = link;
	return 0;
}

/* Verifier statistics for -vv and the kernel matrix: bpf_prog_info's
 * verified_insns where the kernel has it (5.16), else the load log's line. */
static void report_verifier(struct capture *c)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, c->obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		long insns = -1;
		size_t log_size = 0;
		const char *log;
		int fd = bpf_program__fd(prog);

		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) && len > offsetof(struct bpf_prog_info, verified_insns) &&
		    info.verified_insns)
			insns = info.verified_insns;
		log = bpf_program__log_buf(prog, &log_size);
		if (insns < 0 && log) {
			const char *p = strstr(log, "processed ");

			if (p)
				insns = strtol(p + strlen("processed "), NULL, 10);
		}
		fprintf(stderr, "wssnoop: prog %s insns=%ld\n", bpf_program__name(prog), insns);
	}
}

/* Ask the verifier for its statistics (log level 4) into a buffer per program. */
static void ask_verifier_stats(struct capture *c)
{
	struct bpf_program *prog;
	int i = 0;

	/* The full log of -vvv needs room; the statistics line does not. */
	size_t size = verbose_level >= 3 ? 16 << 20 : 64 << 10;

	c->log_buf = calloc(MAX_PROGS, size);
	if (!c->log_buf)
		return;
	bpf_object__for_each_program(prog, c->obj) {
		if (i == MAX_PROGS)
			break;
		bpf_program__set_log_buf(prog, c->log_buf + (size_t)i++ * size, size);
		bpf_program__set_log_level(prog, verbose_level >= 3 ? 1 : 4);
	}
}

/* With our own log buffers libbpf does not print the verifier's words. */
static void print_verifier_logs(struct capture *c)
{
	struct bpf_program *prog;

	if (verbose_level < 3 || !c->log_buf)
		return;
	bpf_object__for_each_program(prog, c->obj) {
		size_t log_size = 0;
		const char *log = bpf_program__log_buf(prog, &log_size);

		if (log && log[0])
			fprintf(stderr, "wssnoop: verifier log of %s:\n%s\n", bpf_program__name(prog), log);
	}
}

/* What the kernel's BTF says it has, read once and then let go: libbpf
 * parses the same BTF again while loading, and holding both at once is the
 * largest part of the process's peak memory. */
struct kernel_probes {
	bool sock_tp; /* sock:sock_recv_length and sock_send_length (6.3) */
	bool tcp_tp;  /* tcp:tcp_rcv_space_adjust */
};

static void probe_kernel(struct btf *vmlinux, struct kernel_probes *p)
{
	p->sock_tp = kernel_has_btf_type(vmlinux, "btf_trace_sock_recv_length", BTF_KIND_TYPEDEF) &&
		     kernel_has_btf_type(vmlinux, "btf_trace_sock_send_length", BTF_KIND_TYPEDEF);
	p->tcp_tp = kernel_has_btf_type(vmlinux, "btf_trace_tcp_rcv_space_adjust", BTF_KIND_TYPEDEF);
}

/* Staged records are flushed by running wssnoop_flush through the bpf()
 * system call after wssnoop has given up CAP_BPF and CAP_SYS_ADMIN. Kernels
 * before 5.19 refuse every bpf() command to such a process when
 * kernel.unprivileged_bpf_disabled is set: ask a child without capabilities
 * whether it is refused (EPERM) or merely has no such program (EBADF). */
static bool flush_works_unprivileged(void)
{
	pid_t pid = fork();
	int status = 0;

	if (pid < 0)
		return false;
	if (pid == 0) {
		/* System calls only: the parent may have threads (no malloc here). */
		struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
		struct __user_cap_data_struct none[2] = {{0}};
		union bpf_attr attr;

		memset(&attr, 0, sizeof(attr));
		attr.test.prog_fd = -1;
		if (syscall(SYS_capset, &hdr, none))
			_exit(1);
		_exit(syscall(__NR_bpf, BPF_PROG_TEST_RUN, &attr, sizeof(attr)) < 0 && errno == EPERM ? 1 : 0);
	}
	if (waitpid(pid, &status, 0) != pid)
		return false;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int emit_held(void *ctx, const struct ws_event *ev, size_t size)
{
	struct capture *c = ctx;

	return c->opts.on_event(c->opts.ctx, ev, size);
}

/* A record handed on: the room of its ring record may go back to the kernel. */
static void held_done(void *ctx, uint64_t tag)
{
	struct capture *c = ctx;

	ring_unref(c->ring, tag);
}

static int start_staging(struct capture *c, int flush_fd, char *err, size_t errlen)
{
	int n = libbpf_num_possible_cpus();

	if (n <= 0)
		return fail(err, errlen, "cannot count the CPUs: %s", strerror(-n));
	c->n_cpus = n;
	c->flush_fd = flush_fd;
	/* Records wait to be put in order where the kernel wrote them (the
	 * ring's room bounds them: see capture_poll()); the headers the merge
	 * keeps of them are bounded like the ring. */
	c->reorder = reorder_new(c->opts.ringbuf_bytes > (1u << 20) ? c->opts.ringbuf_bytes : 1u << 20, emit_held,
				 held_done, c);
	if (!c->reorder)
		return fail(err, errlen, "out of memory");
	return 0;
}

static int open_socket_capture(struct capture *c, const struct kernel_probes *probes, char *err, size_t errlen)
{
	struct wssnoop_bpf *skel;
	bool sock_tp = probes->sock_tp;
	bool tcp_tp = probes->tcp_tp;
	bool egress = libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SKB, BPF_FUNC_get_current_pid_tgid, NULL) == 1;
	bool send_tp;
	const char *force = getenv("WSSNOOP_ATTRIBUTION"); /* tests: take a path another kernel would */
	const char *stage_env = getenv("WSSNOOP_STAGING"); /* "0": as --no-staging */
	bool staging = c->opts.staging && !(stage_env && strcmp(stage_env, "0") == 0) && flush_works_unprivileged();

	/* Where the egress path may ask for the current task, it attributes
	 * every answer and every close the server's threads send, and nothing
	 * runs on the host's other sockets. A read tracepoint runs on every
	 * socket read of the host (measured: 90-130 ns each, a third of what
	 * watching another port costs), so it is used only where the egress
	 * path cannot ask, or when asked for: it also names the reading thread
	 * of requests that go unanswered. */
	bool reads = c->opts.attribute_reads || !egress;

	if (force) {
		sock_tp = sock_tp && strcmp(force, "sock-tracepoint") == 0;
		tcp_tp = tcp_tp && strcmp(force, "tcp-tracepoint") == 0;
		egress = egress && strcmp(force, "proc") != 0;
		reads = true;
	}
	/* Reads are attributed by the best tracepoint the kernel has; writes by
	 * the egress path where it may ask for the current task (it runs in the
	 * writer's context), which makes sock_send_length, a run on every
	 * socket write of the host, unnecessary. */
	sock_tp = sock_tp && reads;
	tcp_tp = tcp_tp && reads && !sock_tp;
	send_tp = sock_tp && !egress;
	skel = wssnoop_bpf__open();
	if (!skel)
		return fail(err, errlen, "opening the BPF object failed: %s", strerror(errno));
	c->skb_skel = skel;
	c->obj = skel->obj;
	skel->rodata->request_budget = c->opts.request_budget;
	skel->rodata->answer_budget = c->opts.answer_budget;
	skel->rodata->wakeup_bytes = c->opts.ringbuf_bytes / 8;
	skel->rodata->egress_owner = egress;
	c->egress_writes = egress && (sock_tp || tcp_tp);
	skel->rodata->track_lifetime = c->opts.lifetime;
	skel->rodata->staging = staging;
	bpf_map__set_max_entries(skel->maps.events, c->opts.ringbuf_bytes);
	/* Only the tracepoints remember who last read or wrote: without them
	 * the owners map would hold 64k entries for nothing. */
	if (!sock_tp && !tcp_tp)
		bpf_map__set_max_entries(skel->maps.owners, 64);
	bpf_program__set_autoload(skel->progs.wssnoop_flush, staging);
	bpf_program__set_autoload(skel->progs.wssnoop_sock_recv, sock_tp);
	bpf_program__set_autoload(skel->progs.wssnoop_sock_send, send_tp);
	bpf_program__set_autoload(skel->progs.wssnoop_tcp_rcv, tcp_tp);
	c->attribution = sock_tp ? "sock-tracepoint" : tcp_tp ? "tcp-tracepoint" : egress ? "egress" : "proc";
	if (c->opts.verbose >= 2)
		ask_verifier_stats(c);
	if (wssnoop_bpf__load(skel)) {
		print_verifier_logs(c);
		return fail(err, errlen, "loading the BPF programs failed (%s): run with -vvv for the verifier log",
			    strerror(errno));
	}
	c->watched = skel->bss->watched_ports;
	c->stage_dirty = skel->bss->stage_dirty;
	if (staging && start_staging(c, bpf_program__fd(skel->progs.wssnoop_flush), err, errlen))
		return -1;

	if (attach_link(c, skel->progs.wssnoop_ingress,
			bpf_program__attach_cgroup(skel->progs.wssnoop_ingress, c->cgroup_fd), err, errlen) ||
	    attach_link(c, skel->progs.wssnoop_egress,
			bpf_program__attach_cgroup(skel->progs.wssnoop_egress, c->cgroup_fd), err, errlen) ||
	    attach_link(c, skel->progs.wssnoop_set_state, bpf_program__attach(skel->progs.wssnoop_set_state), err,
			errlen))
		return -1;
	if (sock_tp && (attach_link(c, skel->progs.wssnoop_sock_recv, bpf_program__attach(skel->progs.wssnoop_sock_recv),
				    err, errlen) ||
			(send_tp && attach_link(c, skel->progs.wssnoop_sock_send,
						bpf_program__attach(skel->progs.wssnoop_sock_send), err, errlen))))
		return -1;
	if (tcp_tp && attach_link(c, skel->progs.wssnoop_tcp_rcv, bpf_program__attach(skel->progs.wssnoop_tcp_rcv), err,
				  errlen))
		return -1;
	return 0;
}

static int open_syscall_capture(struct capture *c, char *err, size_t errlen)
{
	struct syscall_bpf *skel;
	struct bpf_program *prog;

	if (ensure_tracefs(err, errlen))
		return -1;
	skel = syscall_bpf__open();
	if (!skel)
		return fail(err, errlen, "opening the BPF object failed: %s", strerror(errno));
	c->sys_skel = skel;
	c->obj = skel->obj;
	skel->rodata->request_budget = c->opts.request_budget;
	skel->rodata->answer_budget = c->opts.answer_budget;
	skel->rodata->wakeup_bytes = c->opts.ringbuf_bytes / 8;
	bpf_map__set_max_entries(skel->maps.events, c->opts.ringbuf_bytes);
	if (c->opts.verbose >= 2)
		ask_verifier_stats(c);
	if (syscall_bpf__load(skel)) {
		print_verifier_logs(c);
		return fail(err, errlen, "loading the BPF programs failed (%s): run with -vvv for the verifier log",
			    strerror(errno));
	}
	c->watched = skel->bss->watched_ports;
	bpf_object__for_each_program(prog, skel->obj) {
		if (attach_link(c, prog, bpf_program__attach(prog), err, errlen))
			return -1;
	}
	c->attribution = "syscall";
	return 0;
}

static struct bpf_map *events_map(struct capture *c)
{
	return bpf_object__find_map_by_name(c->obj, "events");
}

static void on_ring_record(void *ctx, void *data, size_t size, uint64_t tag);

int capture_open(const struct capture_opts *opts, struct capture **out, char *err, size_t errlen)
{
	struct capture *c;
	struct kernel_probes probes;
	struct btf *vmlinux;
	const char *missing;
	int ret = -1;

	*out = NULL;
	verbose_level = opts->verbose;
	libbpf_set_print(print_libbpf);
	missing = missing_capability(opts->kind);
	if (missing)
		return fail(err, errlen, "missing capability %s: run as root (sudo wssnoop ...)", missing);
	if (faccessat(AT_FDCWD, "/sys/kernel/btf/vmlinux", R_OK, AT_EACCESS))
		return fail(err, errlen,
			    "kernel BTF not found (/sys/kernel/btf/vmlinux): wssnoop needs a kernel built with "
			    "CONFIG_DEBUG_INFO_BTF=y");
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) != 1)
		return fail(err, errlen, "this kernel has no BPF ring buffer (Linux 5.8 or later is needed)");
	vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux)
		return fail(err, errlen,
			    "kernel BTF unreadable (/sys/kernel/btf/vmlinux): wssnoop needs a kernel built with "
			    "CONFIG_DEBUG_INFO_BTF=y");
	probe_kernel(vmlinux, &probes);
	btf__free(vmlinux);
	c = calloc(1, sizeof(*c));
	if (!c)
		return fail(err, errlen, "out of memory");
	c->opts = *opts;
	c->cgroup_fd = -1;
	c->flush_fd = -1;

	if (c->opts.kind == CAPTURE_SOCKET && open_cgroup(c, err, errlen)) {
		if (opts->cgroup_path)
			goto cleanup;
		/* No cgroup v2 and none can be mounted: the syscall capture needs none. */
		fprintf(stderr, "wssnoop: %s; falling back to --capture syscall\n", err);
		c->opts.kind = CAPTURE_SYSCALL;
	}
	if (c->opts.kind == CAPTURE_SOCKET)
		ret = open_socket_capture(c, &probes, err, errlen);
	else
		ret = open_syscall_capture(c, err, errlen);
	if (ret)
		goto cleanup;
	c->ring = ring_open(bpf_map__fd(events_map(c)), c->reorder != NULL, on_ring_record, c);
	if (!c->ring) {
		ret = fail(err, errlen, "creating the ring buffer reader failed: %s", strerror(errno));
		goto cleanup;
	}
	if (opts->verbose)
		fprintf(stderr, "wssnoop: capture=%s attribution=%s%s staging=%s\n", capture_name(c), c->attribution,
			c->egress_writes ? " writes=egress" : "", c->reorder ? "per-cpu" : "off");
	if (opts->verbose >= 2)
		report_verifier(c);
	*out = c;
cleanup:
	if (ret)
		capture_close(c);
	return ret;
}

void capture_watch_port(struct capture *c, unsigned port, bool on)
{
	if (port < 65536)
		__atomic_store_n(&c->watched[port], on ? 1 : 0, __ATOMIC_RELAXED);
}

static void deliver(void *ctx, const struct ws_event *ev, size_t size)
{
	struct capture *c = ctx;

	if (c->reorder) {
		ring_ref(c->ring, c->ring_tag);
		reorder_hold(c->reorder, ev, size, c->ring_tag);
	} else {
		c->opts.on_event(c->opts.ctx, ev, size);
	}
}

/* One ring record: an event, or a batch of them from one CPU's stage. A
 * batch that does not add up (it never should) is counted, and what of it
 * can be read is read. */
static void on_ring_record(void *ctx, void *data, size_t size, uint64_t tag)
{
	struct capture *c = ctx;
	bool complete;

	c->ring_tag = tag;
	if (!batch_is(data, size)) {
		deliver(c, data, size);
		return;
	}
	c->stats.batches++;
	batch_walk(data, size, deliver, c, &complete);
	if (!complete)
		c->stats.batch_errors++;
}

/* Run the flush on one CPU; false when its stage stayed taken by the run the
 * flush interrupted. An offline CPU has nothing staged; an error (not
 * expected once probed) is counted, as waiting would not bring the records
 * any sooner. */
static bool flush_cpu(struct capture *c, int cpu)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		struct bpf_test_run_opts run = {.sz = sizeof(run), .flags = BPF_F_TEST_RUN_ON_CPU, .cpu = cpu};
		int err = bpf_prog_test_run_opts(c->flush_fd, &run);

		if (err == -ENXIO || (!err && run.retval == 0))
			return true;
		if (err) {
			c->stats.flush_errors++;
			return true;
		}
		c->stats.flush_busy++;
	}
	return false;
}

/* Flush the stage of every CPU that staged something since its last flush
 * (the flag is cleared first, so that a record staged after the flush sets
 * it again). Records stamped before this round, less the slack, are then
 * all in; if a stage stayed taken, delivery waits for a round that gets
 * them all. */
static void kick_stages(struct capture *c)
{
	uint64_t t = capture_clock_ns();
	bool all = true;

	for (int cpu = 0; cpu < c->n_cpus; cpu++) {
		bool flagged = cpu < WS_STAGE_DIRTY_CPUS;

		if (flagged) {
			if (!c->stage_dirty[cpu])
				continue;
			c->stage_dirty[cpu] = 0;
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
		}
		if (flush_cpu(c, cpu))
			continue;
		all = false;
		if (flagged)
			c->stage_dirty[cpu] = 1; /* still staged: again next round */
	}
	c->last_kick_ns = t;
	c->stats.flushes++;
	if (all && t > KICK_SLACK_NS && t - KICK_SLACK_NS > c->delivered_ns)
		c->delivered_ns = t - KICK_SLACK_NS;
}

/* Records held in place keep their room in the ring from the kernel: past
 * half of it, the oldest are handed on before their flush (counted forced)
 * rather than the kernel losing what comes next. */
static void bound_held(struct capture *c)
{
	while (ring_held_bytes(c->ring) > ring_size(c->ring) / 2 && reorder_force_one(c->reorder))
		;
}

int capture_poll(struct capture *c, int timeout_ms)
{
	int n = ring_poll(c->ring, timeout_ms);
	int more;

	if (n < 0)
		return n;
	if (c->reorder && (capture_clock_ns() - c->last_kick_ns >= KICK_NS || reorder_held(c->reorder) >= KICK_HELD))
		kick_stages(c);
	/* Records written with BPF_RB_NO_WAKEUP do not wake epoll: take them too. */
	more = ring_consume(c->ring);
	if (c->reorder) {
		reorder_release(c->reorder, c->delivered_ns);
		bound_held(c);
	}
	return n + more;
}

int capture_drain(struct capture *c)
{
	int n;

	if (c->reorder)
		kick_stages(c);
	n = ring_consume(c->ring);
	if (c->reorder)
		reorder_drain(c->reorder);
	return n;
}

uint64_t capture_delivered_until(const struct capture *c, uint64_t now_ns)
{
	return c->reorder && c->delivered_ns < now_ns ? c->delivered_ns : now_ns;
}

void capture_stats(const struct capture *c, struct capture_stats *out)
{
	*out = c->stats;
	if (c->reorder) {
		const struct reorder_stats *r = reorder_stats(c->reorder);

		out->late = r->late;
		out->forced = r->forced;
	}
}

void capture_counters(struct capture *c, uint64_t out[WS_CNT__MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	struct bpf_map *map = bpf_object__find_map_by_name(c->obj, "counters");
	__u64 *values;
	__u32 key;

	memset(out, 0, sizeof(uint64_t) * WS_CNT__MAX);
	if (ncpu <= 0)
		return;
	values = calloc(ncpu, sizeof(*values));
	if (!values)
		return;
	for (key = 0; key < WS_CNT__MAX; key++) {
		if (bpf_map_lookup_elem(bpf_map__fd(map), &key, values))
			continue;
		for (int cpu = 0; cpu < ncpu; cpu++)
			out[key] += values[cpu];
	}
	free(values);
}

int capture_drop_privileges(struct capture *c)
{
	/* Reading /proc of other users' processes (names, namespaces, and the
	 * socket owners of the last-resort attribution) still needs these;
	 * unmounting what we mounted needs CAP_SYS_ADMIN at exit. */
	cap_value_t keep[] = {CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH, CAP_SYS_ADMIN};
	int n_keep = c->mounted_cgroup[0] ? 3 : 2;
	cap_t now = cap_get_proc(), next = cap_init();
	int ret = -1;

	if (!now || !next)
		goto out;
	for (int i = 0; i < n_keep; i++) {
		cap_flag_value_t have = CAP_CLEAR;

		cap_get_flag(now, keep[i], CAP_PERMITTED, &have);
		if (have != CAP_SET)
			continue;
		cap_set_flag(next, CAP_PERMITTED, 1, &keep[i], CAP_SET);
		cap_set_flag(next, CAP_EFFECTIVE, 1, &keep[i], CAP_SET);
	}
	ret = cap_set_proc(next);
out:
	cap_free(now);
	cap_free(next);
	return ret;
}

/* A loaded program's info; false if the kernel gives none. A kernel older
 * than a field leaves it zero. */
static bool prog_info(const struct bpf_program *prog, struct bpf_prog_info *info)
{
	__u32 len = sizeof(*info);
	int fd = bpf_program__fd(prog);

	memset(info, 0, sizeof(*info));
	return fd >= 0 && !bpf_obj_get_info_by_fd(fd, info, &len);
}

void capture_prog_totals(struct capture *c, const char *name, struct capture_prog_totals *out)
{
	struct bpf_program *prog;
	struct bpf_prog_info info;

	*out = (struct capture_prog_totals){0};
	bpf_object__for_each_program(prog, c->obj) {
		if ((!name || strcmp(bpf_program__name(prog), name) == 0) && prog_info(prog, &info)) {
			out->run_ns += info.run_time_ns;
			out->run_cnt += info.run_cnt;
			out->skipped += info.recursion_misses;
		}
	}
}

int capture_prog_fd(struct capture *c, const char *name)
{
	struct bpf_program *prog = bpf_object__find_program_by_name(c->obj, name);

	return prog ? bpf_program__fd(prog) : -1;
}

void capture_print_skipped(struct capture *c, FILE *f)
{
	struct bpf_program *prog;
	struct bpf_prog_info info;

	bpf_object__for_each_program(prog, c->obj) {
		if (prog_info(prog, &info) && info.recursion_misses)
			fprintf(f, "wssnoop: prog %s: %llu runs skipped by the kernel\n", bpf_program__name(prog),
				(unsigned long long)info.recursion_misses);
	}
}

const char *capture_name(const struct capture *c)
{
	return c->opts.kind == CAPTURE_SOCKET ? "cgroup_skb" : "syscall";
}

const char *capture_attribution(const struct capture *c)
{
	return c->attribution;
}

void capture_close(struct capture *c)
{
	if (!c)
		return;
	ring_close(c->ring);
	for (int i = 0; i < c->n_links; i++)
		bpf_link__destroy(c->links[i]);
	wssnoop_bpf__destroy(c->skb_skel);
	syscall_bpf__destroy(c->sys_skel);
	if (c->cgroup_fd >= 0)
		close(c->cgroup_fd);
	if (c->mounted_cgroup[0]) {
		umount2(c->mounted_cgroup, MNT_DETACH);
		rmdir(c->mounted_cgroup);
	}
	free(c->log_buf);
	reorder_free(c->reorder);
	free(c);
}
