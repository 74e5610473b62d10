// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * wspeer: a tiny WebSocket handshake server and scenario client, the peer that
 * wssnoop's kernel matrix (make vmtest) and host checks talk through.
 *
 * It is built with `gcc -static` and copied alone into the test VMs' initramfs,
 * so it has no dependency at all: the SHA-1 and base64 that the handshake's
 * Sec-WebSocket-Accept needs are written here (a few dozen lines) instead of
 * linking nettle or OpenSSL, whose static archives would drag in more than the
 * initramfs should carry. Addresses are numeric only (inet_pton), so the static
 * glibc never needs NSS.
 *
 *   wspeer server PORT [--v6]          answer handshakes on 127.0.0.1 (or ::1)
 *   wspeer client HOST PORT SCENARIO   send one scenario, print the status lines
 *   wspeer load HOST PORT RATE SECONDS a mix of handshakes at a fixed rate, one
 *                                      JSON line of counts (make bench)
 *   wspeer echo HOST PORT CONNS SECONDS [SIZE]
 *                                      upgraded connections echoing SIZE-byte
 *                                      frames in a closed loop, one JSON line
 *                                      of rate and latency (make bench)
 *
 * Server answers: a valid RFC 6455 handshake gets 101 with the right
 * Sec-WebSocket-Accept; a handshake without Upgrade: websocket gets 426; any
 * other broken handshake 400; a plain GET elsewhere 200 with a body
 * (keep-alive); path /close is closed without an answer. Several requests may
 * follow one another on a connection, an empty line before a request line
 * ignored as servers do (RFC 9112 2.2). After a 101 the server echoes every data
 * frame, answers Ping with Pong, and answers a Close with the same Close before
 * it closes the connection; otherwise it reads until EOF.
 * All connections are served by the one process (poll), so every socket
 * belongs to the server's pid, which the tests compare with wssnoop's report.
 *
 * Client scenarios: valid, no-upgrade, http10, keepalive, empty-line, close, split (see
 * scenarios[] below). Exit 0 when the answer is what the scenario expects,
 * 1 when it is not, 2 on a usage error, 3 when the connection itself failed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define HEAD_MAX 8192
#define MAX_CONNS 64
#define MAX_HEADERS 64
#define CLIENT_TIMEOUT_S 5

/* ---- SHA-1 (FIPS 180-4) and base64, just enough for Sec-WebSocket-Accept ---- */

struct sha1_ctx {
	uint32_t state[5];
	uint64_t length_bytes;
	uint8_t block[64];
	size_t block_used;
};

static uint32_t rotl32(uint32_t value, int bits)
{
	return (value << bits) | (value >> (32 - bits));
}

static void sha1_compress(struct sha1_ctx *ctx, const uint8_t *block)
{
	uint32_t w[80], a, b, c, d, e, f, k, temp;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 |
		       (uint32_t)block[4 * i + 2] << 8 | block[4 * i + 3];
	for (i = 16; i < 80; i++)
		w[i] = rotl32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);

	a = ctx->state[0];
	b = ctx->state[1];
	c = ctx->state[2];
	d = ctx->state[3];
	e = ctx->state[4];
	for (i = 0; i < 80; i++) {
		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5A827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ED9EBA1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8F1BBCDC;
		} else {
			f = b ^ c ^ d;
			k = 0xCA62C1D6;
		}
		temp = rotl32(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = rotl32(b, 30);
		b = a;
		a = temp;
	}
	ctx->state[0] += a;
	ctx->state[1] += b;
	ctx->state[2] += c;
	ctx->state[3] += d;
	ctx->state[4] += e;
}

static void sha1_init(struct sha1_ctx *ctx)
{
	static const uint32_t initial[5] = { 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476,
					     0xC3D2E1F0 };

	memcpy(ctx->state, initial, sizeof(initial));
	ctx->length_bytes = 0;
	ctx->block_used = 0;
}

static void sha1_update(struct sha1_ctx *ctx, const void *data, size_t len)
{
	const uint8_t *bytes = data;

	ctx->length_bytes += len;
	while (len > 0) {
		size_t take = 64 - ctx->block_used;

		if (take > len)
			take = len;
		memcpy(ctx->block + ctx->block_used, bytes, take);
		ctx->block_used += take;
		bytes += take;
		len -= take;
		if (ctx->block_used == 64) {
			sha1_compress(ctx, ctx->block);
			ctx->block_used = 0;
		}
	}
}

static void sha1_final(struct sha1_ctx *ctx, uint8_t digest[20])
{
	uint64_t length_bits = ctx->length_bytes * 8;
	uint8_t pad = 0x80, zero = 0, length_be[8];
	int i;

	sha1_update(ctx, &pad, 1);
	while (ctx->block_used != 56)
		sha1_update(ctx, &zero, 1);
	for (i = 0; i < 8; i++)
		length_be[i] = (uint8_t)(length_bits >> (56 - 8 * i));
	sha1_update(ctx, length_be, 8);
	for (i = 0; i < 20; i++)
		digest[i] = (uint8_t)(ctx->state[i / 4] >> (24 - 8 * (i % 4)));
}

static const char base64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Writes 4 * ceil(len / 3) characters and a NUL into out. */
static void base64_encode(const uint8_t *in, size_t len, char *out)
{
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		*out++ = base64_alphabet[in[i] >> 2];
		*out++ = base64_alphabet[(in[i] & 3) << 4 | in[i + 1] >> 4];
		*out++ = base64_alphabet[(in[i + 1] & 15) << 2 | in[i + 2] >> 6];
		*out++ = base64_alphabet[in[i + 2] & 63];
	}
	if (len - i == 1) {
		*out++ = base64_alphabet[in[i] >> 2];
		*out++ = base64_alphabet[(in[i] & 3) << 4];
		*out++ = '=';
		*out++ = '=';
	} else if (len - i == 2) {
		*out++ = base64_alphabet[in[i] >> 2];
		*out++ = base64_alphabet[(in[i] & 3) << 4 | in[i + 1] >> 4];
		*out++ = base64_alphabet[(in[i + 1] & 15) << 2];
		*out++ = '=';
	}
	*out = '\0';
}

/* Number of bytes the base64 text decodes to, or -1 when it is not canonical base64. */
static int base64_decoded_length(const char *text)
{
	size_t len = strlen(text), i, padding = 0;

	if (len == 0 || len % 4 != 0)
		return -1;
	for (i = 0; i < len; i++) {
		if (text[i] == '=') {
			if (i < len - 2)
				return -1;
			padding++;
		} else if (padding || !strchr(base64_alphabet, text[i])) {
			return -1;
		}
	}
	return (int)(len / 4 * 3 - padding);
}

/* accept must hold 29 bytes: base64 of a 20-byte digest plus NUL. */
static void websocket_accept(const char *key, char accept[29])
{
	struct sha1_ctx ctx;
	uint8_t digest[20];

	sha1_init(&ctx);
	sha1_update(&ctx, key, strlen(key));
	sha1_update(&ctx, WS_GUID, strlen(WS_GUID));
	sha1_final(&ctx, digest);
	base64_encode(digest, sizeof(digest), accept);
}

/* ---- HTTP heads ---- */

struct header {
	char *name;
	char *value;
};

struct request_head {
	char *method, *target, *version;
	struct header headers[MAX_HEADERS];
	int header_count;
};

static char *trim(char *text)
{
	char *end;

	while (*text == ' ' || *text == '\t')
		text++;
	end = text + strlen(text);
	while (end > text && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	return text;
}

/* Splits a head (NUL-terminated, CRLF lines, without the blank line) in place. */
static int parse_request_head(char *head, struct request_head *request)
{
	char *line, *next, *colon;

	memset(request, 0, sizeof(*request));
	next = strchr(head, '\n');
	if (next)
		*next++ = '\0';
	line = trim(head);
	request->method = strtok(line, " ");
	request->target = strtok(NULL, " ");
	request->version = strtok(NULL, " ");
	if (!request->method || !request->target || !request->version)
		return -1;
	while (next && *next) {
		line = next;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		colon = strchr(line, ':');
		if (!colon || request->header_count == MAX_HEADERS)
			continue;
		*colon = '\0';
		request->headers[request->header_count].name = trim(line);
		request->headers[request->header_count].value = trim(colon + 1);
		request->header_count++;
	}
	return 0;
}

static const char *header_value(const struct request_head *request, const char *name)
{
	int i;

	for (i = 0; i < request->header_count; i++)
		if (strcasecmp(request->headers[i].name, name) == 0)
			return request->headers[i].value;
	return NULL;
}

/* True when the comma-separated header value holds token (case-insensitive). */
static int header_has_token(const char *value, const char *token)
{
	size_t token_len = strlen(token);

	while (value && *value) {
		const char *end = strchr(value, ',');
		size_t len;

		while (*value == ' ' || *value == '\t')
			value++;
		len = end ? (size_t)(end - value) : strlen(value);
		while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
			len--;
		if (len == token_len && strncasecmp(value, token, len) == 0)
			return 1;
		value = end ? end + 1 : NULL;
	}
	return 0;
}

static int send_all(int fd, const void *buffer, size_t len, int flags)
{
	const char *data = buffer;

	while (len > 0) {
		ssize_t sent = send(fd, data, len, MSG_NOSIGNAL | flags);

		if (sent < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		data += sent;
		len -= (size_t)sent;
	}
	return 0;
}

static int write_all(int fd, const char *data, size_t len)
{
	return send_all(fd, data, len, 0);
}

/* ---- WebSocket frames (RFC 6455 5.2) ---- */

#define WS_FIN 0x80
#define WS_OPCODE_MASK 0x0f
#define WS_OP_TEXT 0x1
#define WS_OP_CONTROL 0x8 /* opcodes from 8 up are control frames */
#define WS_OP_CLOSE 0x8
#define WS_OP_PING 0x9
#define WS_OP_PONG 0xA
#define WS_CONTROL_MAX 125
#define WS_HEADER_MAX 14
#define WS_CLOSE_NORMAL 1000

struct frame_header {
	uint8_t first; /* FIN, RSV bits and opcode, as on the wire */
	int masked;
	uint8_t mask[4];
	uint64_t length;
	size_t size; /* of the header itself */
};

/* 1 with *header filled, 0 while the header is not complete. */
static int frame_header_parse(const uint8_t *data, size_t used, struct frame_header *header)
{
	size_t at = 2;
	int i;

	if (used < 2)
		return 0;
	header->first = data[0];
	header->masked = (data[1] & 0x80) != 0;
	header->length = data[1] & 0x7f;
	if (header->length == 126) {
		if (used < 4)
			return 0;
		header->length = (uint64_t)data[2] << 8 | data[3];
		at = 4;
	} else if (header->length == 127) {
		if (used < 10)
			return 0;
		header->length = 0;
		for (i = 0; i < 8; i++)
			header->length = header->length << 8 | data[2 + i];
		at = 10;
	}
	if (header->masked) {
		if (used < at + 4)
			return 0;
		memcpy(header->mask, data + at, 4);
		at += 4;
	}
	header->size = at;
	return 1;
}

/* Writes a frame header (at most WS_HEADER_MAX bytes) and returns its size;
 * mask is NULL for a server's frames, which are never masked. */
static size_t frame_header_write(uint8_t *out, uint8_t first, uint64_t length, const uint8_t *mask)
{
	size_t at = 2;
	int i;

	out[0] = first;
	if (length < 126) {
		out[1] = (uint8_t)length;
	} else if (length <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(length >> 8);
		out[3] = (uint8_t)length;
		at = 4;
	} else {
		out[1] = 127;
		for (i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)(length >> (56 - 8 * i));
		at = 10;
	}
	if (mask) {
		out[1] |= 0x80;
		memcpy(out + at, mask, 4);
		at += 4;
	}
	return at;
}

/* Masking and unmasking are the same XOR; offset is the position in the
 * payload, so that a payload can be handled in pieces as it arrives. */
static void frame_mask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset)
{
	size_t i;

	for (i = 0; i < len; i++)
		data[i] ^= mask[(offset + i) & 3];
}

/* ---- server ---- */

enum conn_state { CONN_HTTP, CONN_UPGRADED };

struct conn {
	int fd;
	enum conn_state state;
	size_t used;
	/* After the 101: the data frame whose payload is being echoed. */
	uint64_t echo_left, echo_done;
	int echo_masked;
	uint8_t echo_mask[4];
	char buffer[HEAD_MAX + 1];
};

enum reply_action { REPLY_KEEP, REPLY_CLOSE_AFTER, REPLY_CLOSE_SILENTLY, REPLY_UPGRADED };

static int is_websocket_path(const char *target)
{
	return strncmp(target, "/ws", 3) == 0 &&
	       (target[3] == '\0' || target[3] == '/' || target[3] == '?');
}

static int wants_close(const struct request_head *request)
{
	const char *connection = header_value(request, "Connection");

	if (header_has_token(connection, "close"))
		return 1;
	return strcmp(request->version, "HTTP/1.1") != 0 &&
	       !header_has_token(connection, "keep-alive");
}

static int send_status(int fd, int status, const char *reason, const char *extra_headers,
		       int close_after)
{
	char response[1024];
	int len;

	len = snprintf(response, sizeof(response),
		       "HTTP/1.1 %d %s\r\nServer: wspeer\r\nContent-Type: text/plain\r\n"
		       "Content-Length: %zu\r\n%s%s\r\n%s\n",
		       status, reason, strlen(reason) + 1, extra_headers ? extra_headers : "",
		       close_after ? "Connection: close\r\n" : "", reason);
	return write_all(fd, response, (size_t)len);
}

/*
 * Answers one request head. The checks follow RFC 6455 4.2.1 in the order
 * most servers apply them; the first broken rule decides the answer.
 */
static enum reply_action answer_request(int fd, struct request_head *request)
{
	const char *upgrade = header_value(request, "Upgrade");
	const char *key = header_value(request, "Sec-WebSocket-Key");
	const char *version = header_value(request, "Sec-WebSocket-Version");
	int close_after = wants_close(request);
	const char *problem = NULL;
	char extra[256], accept[29];

	if (strcmp(request->target, "/close") == 0)
		return REPLY_CLOSE_SILENTLY;

	if (!is_websocket_path(request->target) && !upgrade && !key && !version) {
		if (strcmp(request->method, "GET") != 0 && strcmp(request->method, "HEAD") != 0) {
			send_status(fd, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n",
				    close_after);
			return close_after ? REPLY_CLOSE_AFTER : REPLY_KEEP;
		}
		send_status(fd, 200, "OK", NULL, close_after);
		return close_after ? REPLY_CLOSE_AFTER : REPLY_KEEP;
	}

	if (!header_has_token(upgrade, "websocket")) {
		send_status(fd, 426, "Upgrade Required",
			    "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n", close_after);
		return close_after ? REPLY_CLOSE_AFTER : REPLY_KEEP;
	}
	if (strcmp(request->method, "GET") != 0)
		problem = "method is not GET";
	else if (strcmp(request->version, "HTTP/1.1") != 0)
		problem = "HTTP version is not 1.1";
	else if (!header_value(request, "Host"))
		problem = "Host missing";
	else if (!header_has_token(header_value(request, "Connection"), "upgrade"))
		problem = "Connection lacks upgrade";
	else if (!key || base64_decoded_length(key) != 16)
		problem = "Sec-WebSocket-Key missing or not 16 bytes";
	else if (!version || strcmp(version, "13") != 0)
		problem = "Sec-WebSocket-Version is not 13";
	if (problem) {
		fprintf(stderr, "wspeer: refused: %s\n", problem);
		send_status(fd, 400, "Bad Request", NULL, close_after);
		return close_after ? REPLY_CLOSE_AFTER : REPLY_KEEP;
	}

	websocket_accept(key, accept);
	snprintf(extra, sizeof(extra),
		 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		 accept);
	write_all(fd, extra, strlen(extra));
	return REPLY_UPGRADED;
}

/*
 * Never blocks: the one process serves every connection, so a peer that stops
 * reading its echoes is closed rather than allowed to stall the others.
 * more: the frame goes on, hold the bytes back so that a frame leaves in one
 * segment, which is where wssnoop reads frame headers.
 */
static int echo_send(int fd, const void *data, size_t len, int more)
{
	if (send_all(fd, data, len, MSG_DONTWAIT | (more ? MSG_MORE : 0)) == 0)
		return 0;
	fprintf(stderr, "wspeer: echo: %s; closing the connection\n",
		errno == EAGAIN ? "the peer does not read" : strerror(errno));
	return -1;
}

/*
 * After the 101 the server echoes data frames as they come (a payload is
 * passed on in pieces, unmasked: a server's frames carry no mask), answers a
 * Ping with a Pong and a Close with the same Close, then closes the TCP
 * connection first, as RFC 6455 7.1.1 asks of a server. Consumed bytes leave
 * the buffer; returns -1 when the connection must close.
 */
static int serve_frames(struct conn *conn)
{
	uint8_t *data = (uint8_t *)conn->buffer, reply[WS_HEADER_MAX + WS_CONTROL_MAX];
	size_t at = 0, reply_len;
	int result = 0;

	while (at < conn->used && result == 0) {
		struct frame_header header;
		uint8_t opcode, *payload;

		if (conn->echo_left) {
			size_t take = conn->used - at;

			if (take > conn->echo_left)
				take = (size_t)conn->echo_left;
			if (conn->echo_masked)
				frame_mask(data + at, take, conn->echo_mask, conn->echo_done);
			result = echo_send(conn->fd, data + at, take, take < conn->echo_left);
			at += take;
			conn->echo_left -= take;
			conn->echo_done += take;
			continue;
		}
		if (!frame_header_parse(data + at, conn->used - at, &header))
			break;
		opcode = header.first & WS_OPCODE_MASK;
		if (opcode < WS_OP_CONTROL) {
			reply_len = frame_header_write(reply, header.first, header.length, NULL);
			result = echo_send(conn->fd, reply, reply_len, header.length > 0);
			at += header.size;
			conn->echo_left = header.length;
			conn->echo_done = 0;
			conn->echo_masked = header.masked;
			memcpy(conn->echo_mask, header.mask, sizeof(conn->echo_mask));
			continue;
		}
		/* Control frames are short (RFC 6455 5.5) and taken whole. */
		if (header.length > WS_CONTROL_MAX)
			return -1;
		if (conn->used - at < header.size + header.length)
			break;
		payload = data + at + header.size;
		if (header.masked)
			frame_mask(payload, (size_t)header.length, header.mask, 0);
		at += header.size + (size_t)header.length;
		if (opcode == WS_OP_PING || opcode == WS_OP_CLOSE) {
			reply_len = frame_header_write(
				reply, WS_FIN | (opcode == WS_OP_PING ? WS_OP_PONG : WS_OP_CLOSE),
				header.length, NULL);
			memcpy(reply + reply_len, payload, (size_t)header.length);
			result = echo_send(conn->fd, reply, reply_len + (size_t)header.length, 0);
			if (opcode == WS_OP_CLOSE)
				result = -1;
		}
	}
	memmove(conn->buffer, conn->buffer + at, conn->used - at);
	conn->used -= at;
	return result;
}

/* Drops the empty lines (CRLF or LF) at the start of the buffer: what a
 * client may send before a request line. */
static void skip_empty_lines(struct conn *conn)
{
	size_t skip = 0;

	while (skip < conn->used) {
		if (conn->buffer[skip] == '\n')
			skip++;
		else if (skip + 1 < conn->used && conn->buffer[skip] == '\r' && conn->buffer[skip + 1] == '\n')
			skip += 2;
		else
			break;
	}
	memmove(conn->buffer, conn->buffer + skip, conn->used - skip + 1);
	conn->used -= skip;
}

/* Serves every complete head in the buffer; returns -1 when the connection must close. */
static int serve_buffer(struct conn *conn)
{
	for (;;) {
		struct request_head request;
		enum reply_action action;
		char *end;
		size_t head_len;

		conn->buffer[conn->used] = '\0';
		skip_empty_lines(conn);
		end = strstr(conn->buffer, "\r\n\r\n");
		if (!end)
			return conn->used >= HEAD_MAX ? -1 : 0;
		*end = '\0';
		head_len = (size_t)(end - conn->buffer) + 4;
		if (parse_request_head(conn->buffer, &request) < 0) {
			send_status(conn->fd, 400, "Bad Request", NULL, 1);
			return -1;
		}
		action = answer_request(conn->fd, &request);
		fprintf(stderr, "wspeer: %s %s %s -> %s\n", request.method, request.target,
			request.version,
			action == REPLY_UPGRADED	 ? "upgraded" :
			action == REPLY_CLOSE_SILENTLY ? "closed without answer" :
							   "answered");
		memmove(conn->buffer, conn->buffer + head_len, conn->used - head_len);
		conn->used -= head_len;
		if (action == REPLY_CLOSE_AFTER || action == REPLY_CLOSE_SILENTLY)
			return -1;
		if (action == REPLY_UPGRADED) {
			int one = 1;

			/* An echo must not wait for the peer's ACK of the one before. */
			setsockopt(conn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			conn->state = CONN_UPGRADED;
			conn->echo_left = 0;
			return serve_frames(conn); /* frames may have come with the head */
		}
	}
}

static int listen_on(int port, int v6)
{
	struct sockaddr_in6 addr6 = { .sin6_family = AF_INET6, .sin6_port = htons(port),
				      .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_in addr4 = { .sin_family = AF_INET, .sin_port = htons(port),
				     .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd, one = 1;

	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if ((v6 ? bind(fd, (struct sockaddr *)&addr6, sizeof(addr6)) :
		  bind(fd, (struct sockaddr *)&addr4, sizeof(addr4))) < 0 ||
	    listen(fd, 64) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int run_server(int port, int v6)
{
	static struct conn conns[MAX_CONNS];
	struct pollfd fds[MAX_CONNS + 1];
	int listen_fd, count = 0, i;

	listen_fd = listen_on(port, v6);
	if (listen_fd < 0) {
		fprintf(stderr, "wspeer: cannot listen on %s port %d: %s\n",
			v6 ? "[::1]" : "127.0.0.1", port, strerror(errno));
		return 3;
	}
	fprintf(stderr, "wspeer: listening on %s:%d pid %d\n", v6 ? "[::1]" : "127.0.0.1", port,
		(int)getpid());

	for (;;) {
		fds[0].fd = listen_fd;
		fds[0].events = count < MAX_CONNS ? POLLIN : 0;
		for (i = 0; i < count; i++) {
			fds[i + 1].fd = conns[i].fd;
			fds[i + 1].events = POLLIN;
		}
		if (poll(fds, (nfds_t)count + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "wspeer: poll: %s\n", strerror(errno));
			return 3;
		}
		for (i = count - 1; i >= 0; i--) {
			struct conn *conn = &conns[i];
			ssize_t got;
			int drop = 0;

			if (!fds[i + 1].revents)
				continue;
			got = recv(conn->fd, conn->buffer + conn->used, HEAD_MAX - conn->used, 0);
			if (got <= 0) {
				drop = !(got < 0 && errno == EINTR);
			} else {
				conn->used += (size_t)got;
				drop = (conn->state == CONN_UPGRADED ? serve_frames(conn) :
								       serve_buffer(conn)) < 0;
			}
			if (drop) {
				close(conn->fd);
				conns[i] = conns[--count];
			}
		}
		if (fds[0].revents & POLLIN) {
			int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0) {
				conns[count].fd = fd;
				conns[count].state = CONN_HTTP;
				conns[count].used = 0;
				count++;
			}
		}
	}
}

/* ---- client ---- */

struct response {
	int status;
	char status_line[256];
	char accept[64];
	long content_length;
};

struct client {
	int fd;
	char key[32];
	char buffer[HEAD_MAX + 1];
	size_t used;
};

static int connect_to(const char *host, int port)
{
	struct sockaddr_in6 addr6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	struct sockaddr_in addr4 = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct timeval timeout = { .tv_sec = CLIENT_TIMEOUT_S };
	int fd, v6 = strchr(host, ':') != NULL, one = 1;

	if (v6 ? inet_pton(AF_INET6, host, &addr6.sin6_addr) != 1 :
		 inet_pton(AF_INET, host, &addr4.sin_addr) != 1) {
		fprintf(stderr, "wspeer: '%s' is not a numeric IPv4 or IPv6 address\n", host);
		return -2;
	}
	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((v6 ? connect(fd, (struct sockaddr *)&addr6, sizeof(addr6)) :
		  connect(fd, (struct sockaddr *)&addr4, sizeof(addr4))) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void make_key(char key[32])
{
	uint8_t nonce[16];
	size_t i;

	if (getrandom(nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce)) {
		unsigned int seed = (unsigned int)time(NULL) ^ (unsigned int)getpid();

		for (i = 0; i < sizeof(nonce); i++)
			nonce[i] = (uint8_t)rand_r(&seed);
	}
	base64_encode(nonce, sizeof(nonce), key);
}

/*
 * Reads one response head (and its Content-Length body). Returns 1 when a
 * response was read, 0 on a clean EOF before any byte, -1 on error or timeout.
 */
static int read_response(struct client *client, struct response *response)
{
	char *end, *line, *next;
	size_t head_len;

	memset(response, 0, sizeof(*response));
	for (;;) {
		ssize_t got;

		client->buffer[client->used] = '\0';
		end = strstr(client->buffer, "\r\n\r\n");
		if (end)
			break;
		if (client->used >= HEAD_MAX)
			return -1;
		got = recv(client->fd, client->buffer + client->used, HEAD_MAX - client->used, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			fprintf(stderr, "wspeer: no answer: %s\n",
				errno == EAGAIN ? "timed out" : strerror(errno));
			return -1;
		}
		if (got == 0) {
			if (client->used == 0)
				return 0;
			fprintf(stderr, "wspeer: connection closed inside a response head\n");
			return -1;
		}
		client->used += (size_t)got;
	}
	*end = '\0';
	head_len = (size_t)(end - client->buffer) + 4;
	next = strchr(client->buffer, '\n');
	if (next)
		*next++ = '\0';
	snprintf(response->status_line, sizeof(response->status_line), "%s",
		 trim(client->buffer));
	if (sscanf(response->status_line, "HTTP/%*d.%*d %d", &response->status) != 1)
		return -1;
	while (next && *next) {
		char *colon;

		line = next;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		if (strcasecmp(trim(line), "Sec-WebSocket-Accept") == 0)
			snprintf(response->accept, sizeof(response->accept), "%s", trim(colon + 1));
		else if (strcasecmp(trim(line), "Content-Length") == 0)
			response->content_length = strtol(trim(colon + 1), NULL, 10);
	}
	memmove(client->buffer, client->buffer + head_len, client->used - head_len);
	client->used -= head_len;

	/* Skip the body so that the next response starts at the buffer's start. */
	while (response->status != 101 && response->content_length > 0) {
		size_t take = client->used < (size_t)response->content_length ?
				      client->used :
				      (size_t)response->content_length;
		ssize_t got;

		memmove(client->buffer, client->buffer + take, client->used - take);
		client->used -= take;
		response->content_length -= (long)take;
		if (response->content_length == 0)
			break;
		got = recv(client->fd, client->buffer, HEAD_MAX, 0);
		if (got <= 0)
			return -1;
		client->used = (size_t)got;
	}
	printf("%s\n", response->status_line);
	fflush(stdout);
	return 1;
}

static int send_text(struct client *client, const char *text)
{
	if (write_all(client->fd, text, strlen(text)) < 0) {
		fprintf(stderr, "wspeer: send: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static void format_handshake(char *out, size_t size, const char *path, const char *key,
			     const char *port)
{
	snprintf(out, size,
		 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nUser-Agent: wspeer\r\n"
		 "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
		 "Sec-WebSocket-Version: 13\r\n\r\n",
		 path, port, key);
}

/* True when response is a 101 whose Sec-WebSocket-Accept matches our key. */
static int is_good_upgrade(const struct client *client, const struct response *response)
{
	char expected[29];

	if (response->status != 101) {
		fprintf(stderr, "wspeer: expected 101, got '%s'\n", response->status_line);
		return 0;
	}
	websocket_accept(client->key, expected);
	if (strcmp(expected, response->accept) != 0) {
		fprintf(stderr, "wspeer: Sec-WebSocket-Accept '%s', expected '%s'\n",
			response->accept, expected);
		return 0;
	}
	return 1;
}

static int expect_refusal(struct client *client)
{
	struct response response;

	if (read_response(client, &response) != 1)
		return 1;
	if (response.status < 400 || response.status > 499) {
		fprintf(stderr, "wspeer: expected a 4xx refusal, got '%s'\n", response.status_line);
		return 1;
	}
	return 0;
}

/* A good handshake to /ws after the bytes before (none, or what a client
 * sends ahead of a request line), in one write; expects a 101 with the right
 * accept. */
static int upgrade_after(struct client *client, const char *port, const char *before)
{
	struct response response;
	char request[512];
	size_t n = strlen(before);

	memcpy(request, before, n);
	format_handshake(request + n, sizeof(request) - n, "/ws", client->key, port);
	if (send_text(client, request) < 0 || read_response(client, &response) != 1)
		return 1;
	return is_good_upgrade(client, &response) ? 0 : 1;
}

static int scenario_valid(struct client *client, const char *port)
{
	return upgrade_after(client, port, "");
}

static int scenario_no_upgrade(struct client *client, const char *port)
{
	char request[512];

	snprintf(request, sizeof(request),
		 "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nUser-Agent: wspeer\r\n"
		 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		 port, client->key);
	return send_text(client, request) < 0 ? 1 : expect_refusal(client);
}

/* What nginx sends upstream from a location without WebSocket settings. */
static int scenario_http10(struct client *client, const char *port)
{
	char request[512];

	snprintf(request, sizeof(request),
		 "GET /ws HTTP/1.0\r\nHost: backend\r\nConnection: close\r\n"
		 "User-Agent: wspeer\r\nSec-WebSocket-Key: %s\r\n"
		 "Sec-WebSocket-Version: 13\r\n\r\n",
		 client->key);
	(void)port;
	return send_text(client, request) < 0 ? 1 : expect_refusal(client);
}

/* GET /index.html on the connection, answered 200 and kept open. */
static int page_first(struct client *client, const char *port)
{
	struct response response;
	char request[512];

	snprintf(request, sizeof(request),
		 "GET /index.html HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nUser-Agent: wspeer\r\n\r\n",
		 port);
	if (send_text(client, request) < 0 || read_response(client, &response) != 1)
		return 1;
	if (response.status != 200) {
		fprintf(stderr, "wspeer: expected 200 first, got '%s'\n", response.status_line);
		return 1;
	}
	return 0;
}

static int scenario_keepalive(struct client *client, const char *port)
{
	return page_first(client, port) || upgrade_after(client, port, "");
}

/* As keepalive, with an empty line before the handshake's request line, in
 * the same write: what a client sends after a body. */
static int scenario_empty_line(struct client *client, const char *port)
{
	return page_first(client, port) || upgrade_after(client, port, "\r\n");
}

static int scenario_close(struct client *client, const char *port)
{
	struct response response;
	char request[512];
	int got;

	format_handshake(request, sizeof(request), "/close", client->key, port);
	if (send_text(client, request) < 0)
		return 1;
	got = read_response(client, &response);
	if (got == 0) {
		printf("(closed without answer)\n");
		return 0;
	}
	if (got > 0)
		fprintf(stderr, "wspeer: expected the server to close, got '%s'\n",
			response.status_line);
	return 1;
}

/* The handshake in five writes with pauses, so the head spans several segments. */
static int scenario_split(struct client *client, const char *port)
{
	struct response response;
	struct timespec pause = { .tv_nsec = 50 * 1000 * 1000 };
	char request[512];
	size_t len, cuts[] = { 0, 3, 21, 60, 0, 0 }, i;

	format_handshake(request, sizeof(request), "/ws", client->key, port);
	len = strlen(request);
	cuts[4] = len - 20;
	cuts[5] = len;
	for (i = 0; i + 1 < sizeof(cuts) / sizeof(cuts[0]); i++) {
		if (write_all(client->fd, request + cuts[i], cuts[i + 1] - cuts[i]) < 0)
			return 1;
		if (i + 2 < sizeof(cuts) / sizeof(cuts[0]))
			nanosleep(&pause, NULL);
	}
	if (read_response(client, &response) != 1)
		return 1;
	return is_good_upgrade(client, &response) ? 0 : 1;
}

static const struct {
	const char *name;
	int (*run)(struct client *client, const char *port);
	const char *summary;
} scenarios[] = {
	{ "valid", scenario_valid, "good handshake to /ws, expects 101 + right accept" },
	{ "no-upgrade", scenario_no_upgrade, "GET /ws with Sec-WebSocket-*, no Upgrade" },
	{ "http10", scenario_http10, "nginx default proxy: HTTP/1.0, Connection: close" },
	{ "keepalive", scenario_keepalive, "GET /index.html, then a handshake, one connection" },
	{ "empty-line", scenario_empty_line, "as keepalive, an empty line before the handshake" },
	{ "close", scenario_close, "handshake to /close, expects a close without answer" },
	{ "split", scenario_split, "handshake written in 5 pieces, 50 ms apart" },
};

static int run_client(const char *host, const char *port_text, const char *scenario)
{
	static struct client client;
	size_t i;
	int port = atoi(port_text), status;

	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		if (strcmp(scenarios[i].name, scenario) == 0)
			break;
	if (i == sizeof(scenarios) / sizeof(scenarios[0])) {
		fprintf(stderr, "wspeer: unknown scenario '%s'\n", scenario);
		return 2;
	}
	if (port <= 0 || port > 65535) {
		fprintf(stderr, "wspeer: bad port '%s'\n", port_text);
		return 2;
	}
	client.fd = connect_to(host, port);
	if (client.fd == -2)
		return 2;
	if (client.fd < 0) {
		fprintf(stderr, "wspeer: cannot connect to %s port %d: %s\n", host, port,
			strerror(errno));
		return 3;
	}
	make_key(client.key);
	status = scenarios[i].run(&client, port_text);
	close(client.fd);
	return status;
}

/* ---- timing, for load and echo ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Every sample is kept: percentiles are exact, and a run holds a few million at most. */
struct latencies {
	unsigned long long *ns;
	size_t count, cap;
};

static void latencies_add(struct latencies *latencies, uint64_t start_ns)
{
	if (latencies->count == latencies->cap) {
		size_t cap = latencies->cap ? latencies->cap * 2 : 65536;
		unsigned long long *grown = realloc(latencies->ns, cap * sizeof(*grown));

		if (!grown)
			return;
		latencies->ns = grown;
		latencies->cap = cap;
	}
	latencies->ns[latencies->count++] = now_ns() - start_ns;
}

static int compare_ull(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;

	return x < y ? -1 : x > y;
}

static void latencies_sort(struct latencies *latencies)
{
	qsort(latencies->ns, latencies->count, sizeof(*latencies->ns), compare_ull);
}

/* After latencies_sort; 0 when there is no sample. */
static unsigned long long latencies_percentile(const struct latencies *latencies, double fraction)
{
	size_t index;

	if (!latencies->count)
		return 0;
	index = (size_t)(fraction * (double)(latencies->count - 1) + 0.5);
	return latencies->ns[index];
}

/* xorshift64*: keys and masks need only look random, not be. */
static uint64_t next_random(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545F4914F6CDD1DULL;
}

static uint64_t random_seed(void)
{
	uint64_t seed;

	if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed) || !seed)
		seed = 0x9E3779B97F4A7C15ULL ^ (uint64_t)getpid();
	return seed;
}

/* ---- load: handshakes at a fixed rate (make bench) ---- */

/*
 * wspeer load HOST PORT RATE SECONDS opens RATE connections a second for
 * SECONDS, each carrying one handshake from a fixed mix, and prints one JSON
 * line with what it sent and what came back, so that a tracer's counts can be
 * compared with it exactly. Out of every ten connections: five valid
 * handshakes (101), one plain GET followed by a valid handshake on the same
 * connection (200, then 101), two without Upgrade (426), one HTTP/1.0 one as
 * nginx forwards it by default (426 and close), one with version 8 (400).
 * Connections start on schedule whatever the answers do, up to LOAD_INFLIGHT
 * at once; a start that finds no free slot waits and is counted as late.
 * LOAD_INFLIGHT stays below the server's MAX_CONNS and listen backlog (64): a
 * full accept queue makes the kernel drop handshakes' final ACKs, and the
 * retransmissions that follow are a different experiment.
 */
#define LOAD_INFLIGHT 48
#define LOAD_TIMEOUT_NS (5ULL * 1000000000ULL)
#define LOAD_REQUEST_MAX 512

enum load_kind { LOAD_VALID, LOAD_KEEPALIVE, LOAD_NO_UPGRADE, LOAD_HTTP10, LOAD_BAD_VERSION };

static const enum load_kind load_mix[10] = {
	LOAD_VALID,	 LOAD_NO_UPGRADE, LOAD_VALID, LOAD_HTTP10, LOAD_VALID,
	LOAD_KEEPALIVE, LOAD_VALID,	 LOAD_NO_UPGRADE, LOAD_VALID, LOAD_BAD_VERSION,
};

struct load_conn {
	int fd; /* -1 when the slot is free */
	enum load_kind kind;
	int step;	     /* answers read so far */
	int sent_request;    /* the current request has been written */
	uint64_t start_ns;
	char key[32];
	size_t used;
	char buffer[2048];
};

struct load_totals {
	unsigned long long connections, attempts, plain, upgraded, rejected, wrong, errors, late;
	struct latencies latencies;
};

static void load_request(const struct load_conn *conn, const char *port, char *out, size_t size)
{
	const char *key_headers = "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: %s\r\n";
	char keys[128];

	snprintf(keys, sizeof(keys), key_headers, conn->key,
		 conn->kind == LOAD_BAD_VERSION ? "8" : "13");
	if (conn->kind == LOAD_KEEPALIVE && conn->step == 0)
		snprintf(out, size,
			 "GET /index.html HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nUser-Agent: wspeer\r\n\r\n",
			 port);
	else if (conn->kind == LOAD_NO_UPGRADE)
		snprintf(out, size, "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nUser-Agent: wspeer\r\n%s\r\n",
			 port, keys);
	else if (conn->kind == LOAD_HTTP10)
		snprintf(out, size,
			 "GET /ws HTTP/1.0\r\nHost: backend\r\nConnection: close\r\n"
			 "User-Agent: wspeer\r\n%s\r\n",
			 keys);
	else
		snprintf(out, size,
			 "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nUser-Agent: wspeer\r\n"
			 "Upgrade: websocket\r\nConnection: Upgrade\r\n%s\r\n",
			 port, keys);
}

/* Parses the answer head at the start of buffer: 1 with *status, *head_len and
 * accept filled, 0 when it is not complete yet, -1 when it is not HTTP. */
static int load_parse_answer(char *buffer, size_t used, int *status, size_t *head_len,
			     long *content_length, char accept[64])
{
	char copy[2048], *end, *line, *next;

	/* Parsed from a copy: the head may be incomplete and read again later. */
	if (used >= sizeof(copy))
		return -1;
	memcpy(copy, buffer, used);
	copy[used] = '\0';
	buffer = copy;
	end = strstr(buffer, "\r\n\r\n");
	if (!end)
		return used >= 2047 ? -1 : 0;
	*head_len = (size_t)(end - buffer) + 4;
	*end = '\0';
	*content_length = 0;
	accept[0] = '\0';
	if (sscanf(buffer, "HTTP/%*d.%*d %d", status) != 1)
		return -1;
	for (line = strchr(buffer, '\n'); line; line = next) {
		char *colon;

		line++;
		next = strchr(line, '\n');
		if (next)
			*next = '\0';
		colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		if (strcasecmp(trim(line), "Sec-WebSocket-Accept") == 0)
			snprintf(accept, 64, "%s", trim(colon + 1));
		else if (strcasecmp(trim(line), "Content-Length") == 0)
			*content_length = strtol(trim(colon + 1), NULL, 10);
	}
	return 1;
}

static void load_finish(struct load_conn *conn, struct load_totals *totals, int error)
{
	if (error)
		totals->errors++;
	else
		latencies_add(&totals->latencies, conn->start_ns);
	close(conn->fd);
	conn->fd = -1;
}

/* Reads what the server sent; finishes the connection when its script is done. */
static void load_on_readable(struct load_conn *conn, struct load_totals *totals)
{
	char accept[64], expected[29];
	size_t head_len;
	long content_length;
	int status, got;
	ssize_t n;

	n = recv(conn->fd, conn->buffer + conn->used, sizeof(conn->buffer) - 1 - conn->used, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		load_finish(conn, totals, 1);
		return;
	}
	conn->used += (size_t)n;
	got = load_parse_answer(conn->buffer, conn->used, &status, &head_len, &content_length,
				accept);
	if (got == 0)
		return;
	if (got < 0 || head_len + (size_t)(content_length > 0 ? content_length : 0) > conn->used) {
		if (got < 0 || conn->used == sizeof(conn->buffer) - 1) {
			load_finish(conn, totals, 1);
			return;
		}
		return; /* the body is still coming: parse again later */
	}
	if (conn->kind == LOAD_KEEPALIVE && conn->step == 0) {
		if (status != 200) {
			totals->wrong++;
			load_finish(conn, totals, 0);
			return;
		}
		/* The handshake follows on the same connection. */
		conn->step = 1;
		conn->used = 0;
		conn->sent_request = 0;
		return;
	}
	totals->attempts++;
	if (conn->kind == LOAD_VALID || conn->kind == LOAD_KEEPALIVE) {
		websocket_accept(conn->key, expected);
		if (status == 101 && strcmp(accept, expected) == 0)
			totals->upgraded++;
		else
			totals->wrong++;
	} else if (status >= 400 && status <= 499) {
		totals->rejected++;
	} else {
		totals->wrong++;
	}
	load_finish(conn, totals, 0);
}

static int load_start(struct load_conn *conn, const struct sockaddr *addr, socklen_t addr_len,
		      enum load_kind kind, uint64_t *random_state)
{
	uint8_t nonce[16];
	uint64_t a = next_random(random_state), b = next_random(random_state);
	int one = 1;

	conn->fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (conn->fd < 0)
		return -1;
	setsockopt(conn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(conn->fd, addr, addr_len) < 0 && errno != EINPROGRESS) {
		close(conn->fd);
		conn->fd = -1;
		return -1;
	}
	memcpy(nonce, &a, 8);
	memcpy(nonce + 8, &b, 8);
	base64_encode(nonce, sizeof(nonce), conn->key);
	conn->kind = kind;
	conn->step = 0;
	conn->sent_request = 0;
	conn->used = 0;
	conn->start_ns = now_ns();
	return 0;
}

static int run_load(const char *host, const char *port_text, const char *rate_text,
		    const char *seconds_text)
{
	static struct load_conn conns[LOAD_INFLIGHT];
	struct pollfd fds[LOAD_INFLIGHT];
	int slot_of[LOAD_INFLIGHT];
	struct sockaddr_in6 addr6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in addr4 = { .sin_family = AF_INET };
	struct load_totals totals = { 0 };
	int port = atoi(port_text), v6 = strchr(host, ':') != NULL, i, active;
	double rate = atof(rate_text), seconds = atof(seconds_text);
	uint64_t start, stop, next_due, random_state, index = 0, now, last_start;
	char request[LOAD_REQUEST_MAX];

	if (port <= 0 || port > 65535 || rate <= 0 || seconds <= 0) {
		fprintf(stderr, "wspeer: load needs a port, a rate and seconds above 0\n");
		return 2;
	}
	if (v6 ? inet_pton(AF_INET6, host, &addr6.sin6_addr) != 1 :
		 inet_pton(AF_INET, host, &addr4.sin_addr) != 1) {
		fprintf(stderr, "wspeer: '%s' is not a numeric IPv4 or IPv6 address\n", host);
		return 2;
	}
	addr6.sin6_port = htons(port);
	addr4.sin_port = htons(port);
	random_state = random_seed();
	for (i = 0; i < LOAD_INFLIGHT; i++)
		conns[i].fd = -1;

	start = now_ns();
	stop = start + (uint64_t)(seconds * 1e9);
	next_due = start;
	last_start = start;
	for (;;) {
		struct timespec wait = { 0 };
		int nfds = 0, free_slot = -1;

		now = now_ns();
		/* Start every connection that is due, in free slots. */
		for (i = 0; i < LOAD_INFLIGHT && next_due <= now && next_due < stop; i++) {
			if (conns[i].fd >= 0)
				continue;
			if (now - next_due > 1000000)
				totals.late++;
			if (load_start(&conns[i], v6 ? (struct sockaddr *)&addr6 :
						       (struct sockaddr *)&addr4,
				       v6 ? sizeof(addr6) : sizeof(addr4), load_mix[index % 10],
				       &random_state) < 0)
				totals.errors++;
			totals.connections++;
			last_start = now;
			if (load_mix[index % 10] == LOAD_KEEPALIVE)
				totals.plain++;
			index++;
			next_due = start + (uint64_t)((double)index * 1e9 / rate);
		}
		active = 0;
		for (i = 0; i < LOAD_INFLIGHT; i++) {
			struct load_conn *conn = &conns[i];

			if (conn->fd < 0) {
				free_slot = i;
				continue;
			}
			active++;
			if (now > conn->start_ns + LOAD_TIMEOUT_NS) {
				load_finish(conn, &totals, 1);
				continue;
			}
			fds[nfds].fd = conn->fd;
			fds[nfds].events = conn->sent_request ? POLLIN : POLLOUT;
			slot_of[nfds++] = i;
		}
		if (next_due >= stop && active == 0)
			break;
		if (next_due < stop && free_slot >= 0) {
			uint64_t delta = next_due > now ? next_due - now : 0;

			wait.tv_sec = (time_t)(delta / 1000000000ULL);
			wait.tv_nsec = (long)(delta % 1000000000ULL);
		} else {
			wait.tv_nsec = 10 * 1000 * 1000;
		}
		if (ppoll(fds, (nfds_t)nfds, &wait, NULL) < 0 && errno != EINTR) {
			fprintf(stderr, "wspeer: poll: %s\n", strerror(errno));
			return 3;
		}
		for (i = 0; i < nfds; i++) {
			struct load_conn *conn = &conns[slot_of[i]];

			if (!fds[i].revents || conn->fd < 0)
				continue;
			if (!conn->sent_request) {
				load_request(conn, port_text, request, sizeof(request));
				if (write_all(conn->fd, request, strlen(request)) < 0) {
					load_finish(conn, &totals, 1);
					continue;
				}
				conn->sent_request = 1;
				continue;
			}
			load_on_readable(conn, &totals);
		}
	}
	now = now_ns();
	latencies_sort(&totals.latencies);
	printf("{\"type\":\"load\",\"seconds\":%.3f,\"rate\":%.1f,\"connections\":%llu,"
	       "\"attempts\":%llu,\"plain\":%llu,\"upgraded\":%llu,\"rejected\":%llu,"
	       "\"wrong\":%llu,\"errors\":%llu,\"late\":%llu,\"p50_us\":%llu,\"p99_us\":%llu}\n",
	       (double)(now - start) / 1e9,
	       (double)totals.connections /
		       ((double)(last_start - start) / 1e9 > seconds ? (double)(last_start - start) / 1e9 :
								       seconds),
	       totals.connections, totals.attempts, totals.plain, totals.upgraded,
	       totals.rejected, totals.wrong, totals.errors, totals.late,
	       latencies_percentile(&totals.latencies, 0.5) / 1000,
	       latencies_percentile(&totals.latencies, 0.99) / 1000);
	free(totals.latencies.ns);
	return totals.errors || totals.wrong ? 1 : 0;
}

/* ---- echo: a closed loop of frames over upgraded connections (make bench) ---- */

/*
 * wspeer echo HOST PORT CONNS SECONDS [SIZE] upgrades CONNS connections (one
 * after the other, each a valid handshake), then keeps one SIZE-byte text
 * frame in flight on each: a frame goes out, masked as RFC 6455 5.3 asks of
 * a client, and the next one leaves when its echo is back, for SECONDS. Each
 * connection then sends a Close with 1000 and waits for the server's Close
 * and its FIN. One JSON line: the messages echoed, their rate and round-trip
 * percentiles, and the messages of each connection by its local port, so
 * that a tracer's per-connection frame counts can be checked exactly.
 * One thread and epoll: one in-flight frame per connection needs no more.
 */
#define ECHO_MAX_CONNS 4096
#define ECHO_MAX_SIZE 65536 /* a bigger echo would fill socket buffers while we write */
#define ECHO_DRAIN_NS (5ULL * 1000000000ULL)

enum echo_state { ECHO_WAITING, ECHO_CLOSING, ECHO_CLOSED, ECHO_DONE };

struct echo_conn {
	int fd;
	enum echo_state state;
	int upgraded;
	int local_port;
	unsigned long long messages;
	uint64_t sent_ns;
	size_t used, cap;
	uint8_t *in;  /* what the server sent, not yet taken */
	uint8_t *out; /* the frame being sent */
};

struct echo_run {
	const uint8_t *payload;
	size_t size;
	uint64_t stop_ns, last_echo_ns, random_state;
	unsigned long long messages, errors, closes;
	struct latencies latencies;
};

static int echo_send_frame(struct echo_conn *conn, struct echo_run *run, uint8_t opcode,
			   const uint8_t *payload, size_t len)
{
	uint64_t random = next_random(&run->random_state);
	uint8_t mask[4];
	size_t header_len;

	memcpy(mask, &random, sizeof(mask));
	header_len = frame_header_write(conn->out, WS_FIN | opcode, len, mask);
	memcpy(conn->out + header_len, payload, len);
	frame_mask(conn->out + header_len, len, mask, 0);
	return write_all(conn->fd, (const char *)conn->out, header_len + len);
}

static void echo_finish(struct echo_conn *conn, struct echo_run *run, const char *error)
{
	if (error) {
		fprintf(stderr, "wspeer: echo: port %d: %s\n", conn->local_port, error);
		run->errors++;
	} else {
		run->closes++;
	}
	close(conn->fd);
	conn->fd = -1;
	conn->state = ECHO_DONE;
}

/* Sends the next message, or the Close once the time is up. */
static void echo_next(struct echo_conn *conn, struct echo_run *run)
{
	static const uint8_t close_normal[2] = { WS_CLOSE_NORMAL >> 8, WS_CLOSE_NORMAL & 0xff };
	int failed;

	if (now_ns() < run->stop_ns) {
		conn->sent_ns = now_ns();
		failed = echo_send_frame(conn, run, WS_OP_TEXT, run->payload, run->size) < 0;
	} else {
		conn->state = ECHO_CLOSING;
		failed = echo_send_frame(conn, run, WS_OP_CLOSE, close_normal, sizeof(close_normal)) < 0;
	}
	if (failed)
		echo_finish(conn, run, strerror(errno));
}

/* Takes one whole frame from the server; NULL when it was what the loop expects. */
static const char *echo_take_frame(struct echo_conn *conn, struct echo_run *run,
				   const struct frame_header *header, const uint8_t *payload)
{
	uint8_t opcode = header->first & WS_OPCODE_MASK;

	if (opcode == WS_OP_PING)
		return echo_send_frame(conn, run, WS_OP_PONG, payload, (size_t)header->length) < 0 ?
			       strerror(errno) :
			       NULL;
	if (opcode == WS_OP_PONG)
		return NULL;
	if (opcode == WS_OP_CLOSE) {
		if (conn->state != ECHO_CLOSING)
			return "the server sent a Close first";
		if (header->length < 2 || (payload[0] << 8 | payload[1]) != WS_CLOSE_NORMAL)
			return "the server's Close has no code 1000";
		conn->state = ECHO_CLOSED;
		return NULL;
	}
	if (header->first != (WS_FIN | WS_OP_TEXT) || conn->state != ECHO_WAITING)
		return "a frame that is not the echo";
	if (header->length != run->size || memcmp(payload, run->payload, run->size) != 0)
		return "the echo differs from the message";
	latencies_add(&run->latencies, conn->sent_ns);
	run->last_echo_ns = now_ns();
	conn->messages++;
	run->messages++;
	echo_next(conn, run);
	return NULL;
}

static void echo_on_readable(struct echo_conn *conn, struct echo_run *run)
{
	const char *error = NULL;
	size_t at = 0;
	ssize_t got;

	got = recv(conn->fd, conn->in + conn->used, conn->cap - conn->used, MSG_DONTWAIT);
	if (got < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (got <= 0) {
		echo_finish(conn, run, got < 0 ? strerror(errno) :
				       conn->state == ECHO_CLOSED ? NULL :
								    "the server closed without a Close");
		return;
	}
	conn->used += (size_t)got;
	while (!error && conn->state != ECHO_DONE) {
		struct frame_header header;

		if (!frame_header_parse(conn->in + at, conn->used - at, &header))
			break;
		if (header.masked) {
			error = "a masked frame from the server";
			break;
		}
		if (header.length > conn->cap - header.size) {
			error = "a frame longer than the message";
			break;
		}
		if (conn->used - at < header.size + header.length)
			break;
		error = echo_take_frame(conn, run, &header, conn->in + at + header.size);
		at += header.size + (size_t)header.length;
	}
	if (error) {
		echo_finish(conn, run, error);
		return;
	}
	memmove(conn->in, conn->in + at, conn->used - at);
	conn->used -= at;
}

/* Connects and upgrades; leaves any bytes after the 101 in conn->in. */
static const char *echo_upgrade(struct echo_conn *conn, const char *host, const char *port_text,
				uint64_t *random_state)
{
	struct sockaddr_storage local;
	socklen_t local_len = sizeof(local);
	char key[32], request[512], accept[64], expected[29];
	uint8_t nonce[16];
	uint64_t a = next_random(random_state), b = next_random(random_state);
	long content_length;
	size_t head_len;
	int status, got = 0;

	conn->fd = connect_to(host, atoi(port_text));
	if (conn->fd < 0)
		return conn->fd == -2 ? "bad address" : strerror(errno);
	if (getsockname(conn->fd, (struct sockaddr *)&local, &local_len) == 0)
		conn->local_port = ntohs(local.ss_family == AF_INET6 ?
						 ((struct sockaddr_in6 *)&local)->sin6_port :
						 ((struct sockaddr_in *)&local)->sin_port);
	memcpy(nonce, &a, 8);
	memcpy(nonce + 8, &b, 8);
	base64_encode(nonce, sizeof(nonce), key);
	format_handshake(request, sizeof(request), "/ws", key, port_text);
	if (write_all(conn->fd, request, strlen(request)) < 0)
		return strerror(errno);
	conn->used = 0;
	while (got == 0) {
		ssize_t n = recv(conn->fd, conn->in + conn->used, conn->cap - conn->used, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? strerror(errno) : "closed before the answer";
		conn->used += (size_t)n;
		got = load_parse_answer((char *)conn->in, conn->used, &status, &head_len,
					&content_length, accept);
	}
	websocket_accept(key, expected);
	if (got < 0 || status != 101 || strcmp(accept, expected) != 0)
		return "no 101 with the right Sec-WebSocket-Accept";
	memmove(conn->in, conn->in + head_len, conn->used - head_len);
	conn->used -= head_len;
	return NULL;
}

static int run_echo(const char *host, const char *port_text, const char *conns_text,
		    const char *seconds_text, const char *size_text)
{
	struct echo_run run = { 0 };
	struct echo_conn *conns = NULL;
	struct epoll_event events[64];
	uint8_t *payload = NULL;
	long count = strtol(conns_text, NULL, 10), size = size_text ? strtol(size_text, NULL, 10) : 64;
	double seconds = atof(seconds_text);
	int port = atoi(port_text), epoll_fd = -1, live = 0, upgraded = 0, status = 3;
	uint64_t start, deadline;
	long i;

	if (port <= 0 || port > 65535 || count <= 0 || count > ECHO_MAX_CONNS || seconds <= 0 ||
	    size < 1 || size > ECHO_MAX_SIZE) {
		fprintf(stderr, "wspeer: echo needs a port, 1 to %d connections, seconds above 0 "
				"and a size of 1 to %d bytes\n",
			ECHO_MAX_CONNS, ECHO_MAX_SIZE);
		return 2;
	}
	conns = calloc((size_t)count, sizeof(*conns));
	payload = malloc((size_t)size);
	epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (!conns || !payload || epoll_fd < 0) {
		fprintf(stderr, "wspeer: echo: %s\n", strerror(errno));
		goto cleanup;
	}
	for (i = 0; i < size; i++)
		payload[i] = (uint8_t)('a' + i % 26); /* a text frame must be UTF-8 */
	run.payload = payload;
	run.size = (size_t)size;
	run.random_state = random_seed();

	for (i = 0; i < count; i++) {
		struct echo_conn *conn = &conns[i];
		struct epoll_event event = { .events = EPOLLIN, .data.u64 = (uint64_t)i };
		const char *error;

		/* Room for one echo and a control frame, and for the 101's head. */
		conn->cap = 2 * WS_HEADER_MAX + WS_CONTROL_MAX + (size_t)size;
		if (conn->cap < 2048)
			conn->cap = 2048;
		conn->in = malloc(conn->cap);
		conn->out = malloc(WS_HEADER_MAX + (size_t)size);
		conn->state = ECHO_DONE;
		conn->fd = -1;
		if (!conn->in || !conn->out) {
			fprintf(stderr, "wspeer: echo: %s\n", strerror(errno));
			goto cleanup;
		}
		error = echo_upgrade(conn, host, port_text, &run.random_state);
		if (!error && epoll_ctl(epoll_fd, EPOLL_CTL_ADD, conn->fd, &event) < 0)
			error = strerror(errno);
		if (error) {
			fprintf(stderr, "wspeer: echo: connection %ld: %s\n", i + 1, error);
			run.errors++;
			if (conn->fd >= 0)
				close(conn->fd);
			conn->fd = -1;
			continue;
		}
		conn->state = ECHO_WAITING;
		conn->upgraded = 1;
		upgraded++;
	}

	start = now_ns();
	run.stop_ns = start + (uint64_t)(seconds * 1e9);
	run.last_echo_ns = start;
	deadline = run.stop_ns + ECHO_DRAIN_NS;
	for (i = 0; i < count; i++)
		if (conns[i].state == ECHO_WAITING)
			echo_next(&conns[i], &run);
	for (;;) {
		int ready, k;

		live = 0;
		for (i = 0; i < count; i++)
			live += conns[i].state != ECHO_DONE;
		if (!live || now_ns() > deadline)
			break;
		ready = epoll_wait(epoll_fd, events, (int)(sizeof(events) / sizeof(events[0])), 100);
		if (ready < 0 && errno != EINTR) {
			fprintf(stderr, "wspeer: epoll_wait: %s\n", strerror(errno));
			goto cleanup;
		}
		for (k = 0; k < ready; k++) {
			struct echo_conn *conn = &conns[events[k].data.u64];

			if (conn->state != ECHO_DONE)
				echo_on_readable(conn, &run);
		}
	}
	for (i = 0; i < count; i++)
		if (conns[i].state != ECHO_DONE)
			echo_finish(&conns[i], &run,
				    conns[i].state == ECHO_WAITING ? "no echo in time" :
				    conns[i].state == ECHO_CLOSING ? "no Close from the server in time" :
								     "no FIN after the Close in time");

	latencies_sort(&run.latencies);
	printf("{\"type\":\"echo\",\"conns\":%d,\"messages\":%llu,\"rate\":%.1f,\"p50_us\":%.1f,"
	       "\"p99_us\":%.1f,\"errors\":%llu,\"seconds\":%.3f,\"size\":%ld,\"closes\":%llu,"
	       "\"by_port\":{",
	       upgraded, run.messages,
	       run.last_echo_ns > start ? (double)run.messages * 1e9 / (double)(run.last_echo_ns - start) :
					  0.0,
	       (double)latencies_percentile(&run.latencies, 0.5) / 1e3,
	       (double)latencies_percentile(&run.latencies, 0.99) / 1e3, run.errors,
	       (double)(run.last_echo_ns - start) / 1e9, size, run.closes);
	for (i = 0, live = 0; i < count; i++)
		if (conns[i].upgraded)
			printf("%s\"%d\":%llu", live++ ? "," : "", conns[i].local_port,
			       conns[i].messages);
	printf("}}\n");
	status = run.errors ? 1 : 0;
cleanup:
	if (conns)
		for (i = 0; i < count; i++) {
			if (conns[i].fd >= 0)
				close(conns[i].fd);
			free(conns[i].in);
			free(conns[i].out);
		}
	if (epoll_fd >= 0)
		close(epoll_fd);
	free(conns);
	free(payload);
	free(run.latencies.ns);
	return status;
}

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: wspeer server PORT [--v6]\n"
		     "       wspeer client HOST PORT SCENARIO\n"
		     "       wspeer load HOST PORT RATE SECONDS   (handshake mix at RATE/s, JSON counts)\n"
		     "       wspeer echo HOST PORT CONNS SECONDS [SIZE]\n"
		     "                  (SIZE-byte text frames echoed in a closed loop, JSON rate)\n"
		     "scenarios:\n");
	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		fprintf(out, "  %-11s %s\n", scenarios[i].name, scenarios[i].summary);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 3 && strcmp(argv[1], "server") == 0) {
		int v6 = argc == 4 && strcmp(argv[3], "--v6") == 0;

		if (argc > 4 || (argc == 4 && !v6) || atoi(argv[2]) <= 0) {
			usage(stderr);
			return 2;
		}
		return run_server(atoi(argv[2]), v6);
	}
	if (argc == 5 && strcmp(argv[1], "client") == 0)
		return run_client(argv[2], argv[3], argv[4]);
	if (argc == 6 && strcmp(argv[1], "load") == 0)
		return run_load(argv[2], argv[3], argv[4], argv[5]);
	if ((argc == 6 || argc == 7) && strcmp(argv[1], "echo") == 0)
		return run_echo(argv[2], argv[3], argv[4], argv[5], argc == 7 ? argv[6] : NULL);
	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
