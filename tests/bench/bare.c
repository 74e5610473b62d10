// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bare.c - loader of the bench's reference arm (bare.bpf.c): attach to the
 * root cgroup v2, watch one port, read the ring every 20 ms (records are
 * submitted without a wakeup, as wssnoop's are until 64 KiB wait) and count the
 * records, until SIGINT or SIGTERM; then one JSON summary line on stdout.
 *
 * usage: bare PORT      (bare.bpf.o is looked for next to this binary)
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mntent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static volatile sig_atomic_t stop;
static unsigned long long records;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int count_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	(void)size;
	records++;
	return 0;
}

/* Where cgroup v2 is mounted: /sys/fs/cgroup on a unified host, the
 * "unified" directory below it on a hybrid one. */
static int cgroup2_path(char *out, size_t len)
{
	FILE *f = setmntent("/proc/self/mounts", "r");
	struct mntent *m;
	int found = -1;

	if (!f)
		return -1;
	while ((m = getmntent(f))) {
		if (strcmp(m->mnt_type, "cgroup2") == 0) {
			snprintf(out, len, "%s", m->mnt_dir);
			found = 0;
			break;
		}
	}
	endmntent(f);
	return found;
}

int main(int argc, char **argv)
{
	char obj_path[PATH_MAX], cg_path[PATH_MAX], *slash;
	struct bpf_link *in = NULL, *out = NULL;
	struct ring_buffer *rb = NULL;
	struct bpf_object *obj;
	struct bpf_map *bss;
	__u8 *watched, *bss_now = NULL;
	size_t bss_size = 0;
	unsigned long long lost = 0;
	__u32 zero = 0;
	int port, cg = -1, rc = 1;
	ssize_t n;

	if (argc != 2 || (port = atoi(argv[1])) <= 0 || port > 65535) {
		fprintf(stderr, "usage: bare PORT\n");
		return 2;
	}
	/* A background job of a non-interactive shell starts with SIGINT ignored. */
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	n = readlink("/proc/self/exe", obj_path, sizeof(obj_path) - 16);
	if (n <= 0 || !(obj_path[n] = 0, slash = strrchr(obj_path, '/'))) {
		fprintf(stderr, "bare: cannot find my own path\n");
		return 1;
	}
	strcpy(slash + 1, "bare.bpf.o");
	obj = bpf_object__open_file(obj_path, NULL);
	if (!obj) {
		fprintf(stderr, "bare: cannot open %s: %s\n", obj_path, strerror(errno));
		return 1;
	}
	/* The port goes into .bss's initial value, which the load copies in. */
	bss = bpf_object__find_map_by_name(obj, ".bss");
	watched = bss ? (__u8 *)bpf_map__initial_value(bss, &bss_size) : NULL;
	if (!watched || bss_size < 65536 + sizeof(__u64)) {
		fprintf(stderr, "bare: no .bss map in %s\n", obj_path);
		goto out;
	}
	watched[port] = 1;
	if (bpf_object__load(obj)) {
		fprintf(stderr, "bare: cannot load %s: %s\n", obj_path, strerror(errno));
		goto out;
	}
	bss_now = calloc(1, bss_size);
	if (!bss_now)
		goto out;
	if (cgroup2_path(cg_path, sizeof(cg_path)) || (cg = open(cg_path, O_RDONLY | O_DIRECTORY)) < 0) {
		fprintf(stderr, "bare: no cgroup v2 mount\n");
		goto out;
	}
	in = bpf_program__attach_cgroup(bpf_object__find_program_by_name(obj, "bare_ingress"), cg);
	out = bpf_program__attach_cgroup(bpf_object__find_program_by_name(obj, "bare_egress"), cg);
	rb = ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "ring")), count_record, NULL, NULL);
	if (!in || !out || !rb) {
		fprintf(stderr, "bare: cannot attach to %s: %s\n", cg_path, strerror(errno));
		goto out;
	}
	fprintf(stderr, "bare: tracing port %d\n", port);
	while (!stop) {
		/* Records are submitted without a wakeup: take what waits. */
		int err = ring_buffer__poll(rb, 20);

		if (err >= 0)
			err = ring_buffer__consume(rb);

		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "bare: ring: %s\n", strerror(-err));
			goto out;
		}
	}
	ring_buffer__consume(rb);
	if (bpf_map_lookup_elem(bpf_map__fd(bss), &zero, bss_now) == 0)
		memcpy(&lost, bss_now + 65536, sizeof(lost));
	printf("{\"type\":\"summary\",\"records\":%llu,\"events_lost\":%llu}\n", records, lost);
	rc = 0;
out:
	ring_buffer__free(rb);
	bpf_link__destroy(in);
	bpf_link__destroy(out);
	if (cg >= 0)
		close(cg);
	bpf_object__close(obj);
	free(bss_now);
	return rc;
}
