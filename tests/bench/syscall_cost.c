// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * syscall_cost - what one socket read costs, in ns per call, so that the
 * bench can compare it with a tracer attached and without.
 *
 * A TCP connection over loopback on a port nobody watches; the reading end
 * is non-blocking. Three loops, each CPU-bound: recvfrom() on the empty
 * socket (EAGAIN), read() on it (EAGAIN), and recvfrom(MSG_PEEK) of 64 bytes
 * that stay queued (a read that returns data). Each loop runs for the given
 * time; one JSON line with ns per call (the median of 1000-call batches).
 *
 *   syscall_cost [MILLISECONDS_PER_LOOP]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum loop_kind { LOOP_RECVFROM_EMPTY, LOOP_READ_EMPTY, LOOP_RECVFROM_PEEK };

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* A connected pair over loopback: *reader accepted, *writer connected. */
static int connect_pair(int *reader, int *writer)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(listener, 1) < 0 || getsockname(listener, (struct sockaddr *)&addr, &len) < 0)
		return -1;
	*writer = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*writer < 0 || connect(*writer, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return -1;
	*reader = accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	close(listener);
	return *reader < 0 ? -1 : 0;
}

/* Calls per batch between clock reads; the median batch is reported, so that
 * a batch the scheduler interrupted does not count. */
#define BATCH 1000
#define MAX_BATCHES 100000

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double run_loop(enum loop_kind kind, int fd, double budget_ns)
{
	static double batches[MAX_BATCHES];
	char buf[64];
	double start = now_ns(), batch_start = start, now;
	size_t count = 0;
	ssize_t got;

	do {
		for (int i = 0; i < BATCH; i++) {
			if (kind == LOOP_RECVFROM_EMPTY)
				got = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, NULL, NULL);
			else if (kind == LOOP_READ_EMPTY)
				got = read(fd, buf, sizeof(buf));
			else
				got = recvfrom(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT, NULL, NULL);
			if (got < 0 && errno != EAGAIN)
				return -1;
		}
		now = now_ns();
		batches[count++] = (now - batch_start) / BATCH;
		batch_start = now;
	} while (now - start < budget_ns && count < MAX_BATCHES);
	qsort(batches, count, sizeof(batches[0]), compare_double);
	return batches[count / 2];
}

int main(int argc, char **argv)
{
	double budget_ns = (argc > 1 ? atof(argv[1]) : 1000) * 1e6;
	int empty_reader, empty_writer, full_reader, full_writer;
	double recvfrom_ns, read_ns, peek_ns;
	char data[64];

	memset(data, 'x', sizeof(data));
	if (budget_ns <= 0 || connect_pair(&empty_reader, &empty_writer) < 0 ||
	    connect_pair(&full_reader, &full_writer) < 0 ||
	    write(full_writer, data, sizeof(data)) != (ssize_t)sizeof(data)) {
		fprintf(stderr, "syscall_cost: cannot set up loopback sockets: %s\n", strerror(errno));
		return 1;
	}
	usleep(10000); /* let the 64 bytes arrive */
	recvfrom_ns = run_loop(LOOP_RECVFROM_EMPTY, empty_reader, budget_ns);
	read_ns = run_loop(LOOP_READ_EMPTY, empty_reader, budget_ns);
	peek_ns = run_loop(LOOP_RECVFROM_PEEK, full_reader, budget_ns);
	if (recvfrom_ns < 0 || read_ns < 0 || peek_ns < 0) {
		fprintf(stderr, "syscall_cost: a read failed: %s\n", strerror(errno));
		return 1;
	}
	printf("{\"type\":\"syscall_cost\",\"recvfrom_eagain_ns\":%.1f,\"read_eagain_ns\":%.1f,"
	       "\"recvfrom_peek64_ns\":%.1f}\n",
	       recvfrom_ns, read_ns, peek_ns);
	return 0;
}
