/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * bench_clock.h - what the user-space micro-benchmarks time with: the
 * monotonic clock in ns, and the median of repeated runs (steadier than the
 * mean on a shared machine).
 */
#ifndef WSSNOOP_BENCH_CLOCK_H
#define WSSNOOP_BENCH_CLOCK_H

#include <stdlib.h>
#include <time.h>

static inline double bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline int bench_compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Sorts runs in place. */
static inline double bench_median(double *runs, size_t n)
{
	qsort(runs, n, sizeof(runs[0]), bench_compare_double);
	return runs[n / 2];
}

#endif /* WSSNOOP_BENCH_CLOCK_H */
