/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * escape.h - making strangers' bytes safe to print, and keeping secrets out.
 *
 * Promise: escapers turn any bytes into plain printable ASCII for a terminal,
 * or into a valid UTF-8 JSON string body, always NUL-terminated within the
 * caller's cap and never cut inside an escape. Redactors replace secrets
 * (credentials, cookies, keys, token-like subprotocols and query values) with
 * "<redacted>" before anything is escaped; their output is still untrusted
 * bytes and must go through an escaper. No allocation, no global state.
 */
#ifndef WSSNOOP_ESCAPE_H
#define WSSNOOP_ESCAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "byte_slice.h"

/* Worst-case output bytes per input byte, to size a buffer that never cuts:
 * cap = len * ESCAPE_*_MAX_PER_BYTE + 1. */
#define ESCAPE_TERMINAL_MAX_PER_BYTE 4 /* "\xNN" */
#define ESCAPE_JSON_MAX_PER_BYTE 6     /* "\u00NN" for one byte */

/* What replaces a secret. */
#define REDACTED "<redacted>"

/*
 * Terminal: printable ASCII (0x20-0x7e) is kept except '\\' (written "\\\\");
 * CR, LF, TAB become "\r" "\n" "\t"; every other byte, including ESC, all C0
 * and C1 controls, DEL and every byte >= 0x80 (so no UTF-8, no bidi tricks),
 * becomes "\xNN". Writes at most cap bytes including the NUL (cap 0 writes
 * nothing). Returns true when all of in fit, false when the output was cut.
 */
bool escape_terminal(const uint8_t *in, size_t len, char *out, size_t cap);

/*
 * JSON string body (no surrounding quotes), RFC 8259: '"' and '\\' escaped,
 * C0 controls as \b \f \n \r \t or \u00XX, DEL and C1 code points as \u00XX,
 * U+2028/U+2029 as \u2028/\u2029; valid UTF-8 is kept; each byte of an
 * invalid sequence becomes \u00XX (its Latin-1 code point), so the output is
 * always valid UTF-8. Same cap/NUL/return rules as escape_terminal.
 */
bool escape_json(const uint8_t *in, size_t len, char *out, size_t cap);

/* Result of a redaction: out holds len bytes plus a NUL. */
struct redact_result {
	size_t len;
	bool redacted; /* something was replaced */
	bool cut;      /* out was too small; what is there is still free of secrets */
};

/* True when a header of this name is ever redacted (its value may be secret). */
bool redact_header_is_sensitive(struct byte_slice name);

/*
 * Redact a header value by its name:
 *   Authorization, Proxy-Authorization  "Bearer <redacted>" (scheme kept)
 *   Cookie, Set-Cookie                   "name=<redacted>; ..." (names and
 *                                        Set-Cookie attribute words kept)
 *   Sec-WebSocket-Key                    "<redacted>"
 *   Sec-WebSocket-Protocol               token-like entries (JWT triples,
 *                                        long high-entropy strings) replaced,
 *                                        ordinary subprotocols kept
 *   names containing token, secret, password, api-key, apikey, or
 *   X-Auth*, X-Api-Key, X-Amz-Security-Token                "<redacted>"
 * Other values are copied unchanged.
 */
struct redact_result redact_header_value(struct byte_slice name, struct byte_slice value,
					 uint8_t *out, size_t cap);

/*
 * Redact a request target: values of query parameters whose name contains
 * token, key, secret, password, passwd, pwd, auth, sig, session, credential,
 * or is sid/jwt/code (case-insensitive) become "<redacted>" ("?token=<redacted>&room=5");
 * userinfo of an absolute-form target ("http://user:pass@host/") too.
 */
struct redact_result redact_target(struct byte_slice target, uint8_t *out, size_t cap);

/* True when a Sec-WebSocket-Protocol entry looks like a credential. */
bool redact_token_looks_secret(struct byte_slice token);

#endif /* WSSNOOP_ESCAPE_H */
