// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* wsaccept.c - Sec-WebSocket-Accept arithmetic; see wsaccept.h for the promise. */
#include "wsaccept.h"

#include <string.h>

#include <nettle/base64.h>
#include <nettle/sha1.h>

#include "byte_block.h"

_Static_assert(BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE) == WS_ACCEPT_LEN,
	       "accept length is base64 of a SHA-1 digest");

void ws_compute_accept(const uint8_t *key, size_t key_len, char out[WS_ACCEPT_LEN + 1])
{
	static const char guid[] = WS_ACCEPT_GUID;
	uint8_t digest[SHA1_DIGEST_SIZE];
	struct sha1_ctx ctx;

	sha1_init(&ctx);
	if (key_len)
		sha1_update(&ctx, key_len, key);
	sha1_update(&ctx, sizeof(guid) - 1, (const uint8_t *)guid);
	sha1_digest(&ctx, sizeof(digest), digest);
	base64_encode_raw(out, sizeof(digest), digest);
	out[WS_ACCEPT_LEN] = '\0';
}

/* The base64 alphabet tested a block at a time (byte_block.h), where a
 * table lookup a byte was most of judging a request's key: a bit a
 * character in the alphabet. */
static unsigned base64_bits(const uint8_t *p)
{
	byte_block c = load_block(p);

	/* c - 'A' < 26 without a borrow past 'A': unsigned lanes wrap below it. */
	return lane_bits((lane_mask)((byte_block)(c - 'A') < 26) | (lane_mask)((byte_block)(c - 'a') < 26) |
			 (lane_mask)((byte_block)(c - '0') < 10) | (c == '+') | (c == '/'));
}

bool ws_key_is_wellformed(const uint8_t *key, size_t key_len)
{
	/* 22 base64 characters then "==" is base64 of exactly 16 bytes. This is
	 * Node ws's test, and the set Python websockets accepts by decoding and
	 * counting (a decoder would also take non-zero trailing bits, so
	 * decoding adds nothing; nettle's would also skip whitespace). */
	if (key_len != WS_KEY_LEN || key[22] != '=' || key[23] != '=')
		return false;
	/* Characters 0-15 and 6-21: the blocks overlap rather than leave a tail. */
	return (base64_bits(key) & base64_bits(key + 6)) == 0xffff;
}

bool ws_accept_matches(const uint8_t *key, size_t key_len, const uint8_t *accept,
		       size_t accept_len)
{
	char want[WS_ACCEPT_LEN + 1];

	if (accept_len != WS_ACCEPT_LEN)
		return false;
	ws_compute_accept(key, key_len, want);
	return memcmp(want, accept, WS_ACCEPT_LEN) == 0;
}
