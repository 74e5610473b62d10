/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * fuzz_check.h - independent checkers the fuzz targets hold wssnoop's output to.
 *
 * Promise: each checker is written from the specification (RFC 3629 for
 * UTF-8, RFC 8259 for JSON), not from wssnoop's own code, so that the two can
 * disagree; none allocates. FUZZ_CHECK aborts with the failed condition, which
 * libFuzzer records as a crash with the input that caused it.
 */
#ifndef WSSNOOP_FUZZ_CHECK_H
#define WSSNOOP_FUZZ_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FUZZ_CHECK(cond, ...)                                                                                          \
	do {                                                                                                           \
		if (!(cond))                                                                                           \
			fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                                             \
	} while (0)

__attribute__((noreturn, format(printf, 4, 5))) void fuzz_fail(const char *file, int line, const char *cond,
							       const char *fmt, ...);

/*
 * Decode one UTF-8 sequence at in[0..len): returns its length (1-4) and the
 * code point, or 0 when in[0] does not start a well-formed sequence (bad lead
 * byte, missing continuation, overlong, surrogate, above U+10FFFF).
 */
size_t fuzz_utf8_decode(const uint8_t *in, size_t len, uint32_t *cp);
/* True when all of in[0..len) is well-formed UTF-8. */
bool fuzz_utf8_valid(const uint8_t *in, size_t len);

/* True when s[0..len) is exactly one JSON value (RFC 8259), whitespace around
 * it allowed; nesting is bounded at 64 levels (wssnoop nests three). */
bool fuzz_json_valid(const char *s, size_t len);

/* Does hay[0..hay_len) contain needle? (memmem without the libFuzzer hook, so
 * that checks do not steer the fuzzer). */
bool fuzz_contains(const void *hay, size_t hay_len, const char *needle);

#endif /* WSSNOOP_FUZZ_CHECK_H */
