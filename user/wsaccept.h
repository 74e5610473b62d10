/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * wsaccept.h - the RFC 6455 Sec-WebSocket-Key / Sec-WebSocket-Accept arithmetic.
 *
 * Promise: pure functions over (pointer, length) bytes, no allocation;
 * SHA-1 and base64 come from Debian's nettle, not from hand-written code.
 */
#ifndef WSSNOOP_WSACCEPT_H
#define WSSNOOP_WSACCEPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* base64 of a 20-byte SHA-1 digest. */
#define WS_ACCEPT_LEN 28
/* A well-formed key is base64 of exactly this many bytes (24 characters). */
#define WS_KEY_BYTES 16
#define WS_KEY_LEN 24

/* The GUID RFC 6455 appends to the key before hashing. */
#define WS_ACCEPT_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* Write base64(SHA-1(key + GUID)) and a NUL into out; the key is hashed as
 * given, well-formed or not, as servers that do not check it do. */
void ws_compute_accept(const uint8_t *key, size_t key_len, char out[WS_ACCEPT_LEN + 1]);

/* True when the key is base64 (standard alphabet, padded) of exactly 16 bytes. */
bool ws_key_is_wellformed(const uint8_t *key, size_t key_len);

/* True when accept is exactly the value a server must answer for key. */
bool ws_accept_matches(const uint8_t *key, size_t key_len, const uint8_t *accept,
		       size_t accept_len);

#endif /* WSSNOOP_WSACCEPT_H */
