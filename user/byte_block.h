/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * byte_block.h - sixteen bytes at a time through GCC vector extensions (SSE2
 * on x86-64, NEON on arm64, plain code elsewhere): a comparison of blocks
 * gives a lane mask, 0xff where it holds, and lane_bits() folds it to one bit
 * a lane. The scans of untrusted heads (http_head.c) and keys (wsaccept.c)
 * share these.
 *
 * Promise: a load reads the BLOCK_LEN bytes at p and no others, at any
 * alignment.
 */
#ifndef WSSNOOP_BYTE_BLOCK_H
#define WSSNOOP_BYTE_BLOCK_H

#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

typedef uint8_t byte_block __attribute__((vector_size(16)));
typedef int8_t lane_mask __attribute__((vector_size(16))); /* a comparison's result */
#define BLOCK_LEN 16

static inline byte_block load_block(const uint8_t *p)
{
	byte_block block;

	memcpy(&block, p, sizeof(block));
	return block;
}

/* Bit i set where lane i is: one instruction on x86-64, a multiply per half
 * elsewhere (each 0x01 byte carried to its own bit of the top byte). */
static inline unsigned lane_bits(lane_mask hits)
{
#ifdef __SSE2__
	return (unsigned)_mm_movemask_epi8((__m128i)hits);
#else
	typedef uint64_t word_pair __attribute__((vector_size(16)));
	word_pair words = (word_pair)hits;
	unsigned bits[2];

	for (int half = 0; half < 2; half++) {
		uint64_t w = words[half];
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		w = __builtin_bswap64(w);
#endif
		bits[half] = (unsigned)(((w & 0x0101010101010101ull) * 0x0102040810204080ull) >> 56);
	}
	return bits[0] | bits[1] << 8;
#endif
}

#endif /* WSSNOOP_BYTE_BLOCK_H */
