/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * byte_slice.h - a borrowed (pointer, length) view of untrusted bytes.
 *
 * Promise: nothing here reads outside [ptr, ptr + len) or writes anywhere;
 * comparisons are ASCII-only, so hostile bytes (NUL, >= 0x80) are just bytes.
 */
#ifndef WSSNOOP_BYTE_SLICE_H
#define WSSNOOP_BYTE_SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct byte_slice {
	const uint8_t *ptr; /* NULL only when len == 0 */
	size_t len;
};

static inline struct byte_slice byte_slice_from_cstr(const char *s)
{
	return (struct byte_slice){ (const uint8_t *)s, s ? strlen(s) : 0 };
}

static inline uint8_t ascii_lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* Case-insensitive (ASCII) equality of a slice and a C string. */
static inline bool byte_slice_eq_nocase(struct byte_slice s, const char *lit)
{
	size_t n = strlen(lit);

	if (s.len != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (ascii_lower(s.ptr[i]) != ascii_lower((uint8_t)lit[i]))
			return false;
	return true;
}

/* Exact (case-sensitive) equality of a slice and a C string. */
static inline bool byte_slice_eq(struct byte_slice s, const char *lit)
{
	size_t n = strlen(lit);

	return s.len == n && (n == 0 || memcmp(s.ptr, lit, n) == 0);
}

/* Case-insensitive (ASCII) test that lit occurs somewhere in s. */
static inline bool byte_slice_contains_nocase(struct byte_slice s, const char *lit)
{
	size_t n = strlen(lit);

	if (n == 0)
		return true;
	for (size_t i = 0; i + n <= s.len; i++) {
		size_t k = 0;

		while (k < n && ascii_lower(s.ptr[i + k]) == ascii_lower((uint8_t)lit[k]))
			k++;
		if (k == n)
			return true;
	}
	return false;
}

#endif /* WSSNOOP_BYTE_SLICE_H */
