/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * path_glob.h - which request targets count as WebSocket endpoints.
 *
 * Promise: matching reads only the bytes given, allocates nothing, and runs in
 * O(pattern x path) time whatever the input; a pattern set is a fixed-size
 * value the caller owns.
 *
 * Pattern syntax: patterns start with '/'; "*" matches any run of characters
 * within one segment, "**" as a whole segment matches zero or more segments.
 * Nothing else is special. Empty segments are ignored on both sides ("/ws/"
 * and "//ws" are "/ws"). The target's query ("?...") and fragment ("#...")
 * are ignored; an absolute-form target ("http://host:port/p") matches by its
 * path; percent-encoding is not decoded.
 */
// Default set (path_set_load_defaults), used when the operator gives none:
//   /ws  /ws/**  /websocket  /websocket/**   generic endpoints, Spring STOMP
//   /**/websocket                            SockJS {prefix}/websocket and
//                                            {prefix}/{server}/{session}/websocket
//   /**/sockjs/**                            SockJS mounted under a "sockjs" prefix
//   /socket.io/**  /engine.io/**             Socket.IO / Engine.IO
//   /graphql  /subscriptions                 GraphQL subscriptions
// SockJS "{prefix}/info" is left out on purpose: "/**/info" would catch every
// info page of an application. Whatever the patterns, a request carrying
// Upgrade or Sec-WebSocket-* is an attempt anyway (rules.h).
#ifndef WSSNOOP_PATH_GLOB_H
#define WSSNOOP_PATH_GLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PATH_SET_MAX_PATTERNS 64
#define PATH_PATTERN_MAX_LEN 255

/*
 * What path_set_add() learns of a pattern once, so that matching a target
 * against the set can pass over most patterns at once: a first or last
 * segment without '*' must be the target's own first or last segment.
 */
struct path_pattern_facts {
	uint16_t len;
	uint8_t first_start, first_len; /* the first segment */
	uint8_t last_start, last_len;	/* the last segment */
	bool first_literal;		/* the first segment has no '*' */
	bool last_literal;		/* the last segment has no '*' */
};

struct path_set {
	unsigned count;
	char patterns[PATH_SET_MAX_PATTERNS][PATH_PATTERN_MAX_LEN + 1];
	struct path_pattern_facts facts[PATH_SET_MAX_PATTERNS]; /* of patterns[i] */
};

/* The built-in default patterns, NULL-terminated. */
extern const char *const path_glob_defaults[];

/* Match one pattern against a request target (origin or absolute form). */
bool path_glob_match(const char *pattern, const uint8_t *target, size_t target_len);

/* The path part of a target: absolute form stripped to its path, query and
 * fragment removed. A target without a path ("http://h", "*") gives "" . */
void path_of_target(const uint8_t *target, size_t target_len, const uint8_t **path,
		    size_t *path_len);

void path_set_init(struct path_set *set);
/*
 * Add a pattern (copied). Returns 0, -EINVAL if it does not start with '/',
 * -ENAMETOOLONG if longer than PATH_PATTERN_MAX_LEN, -ENOSPC if the set is full.
 */
int path_set_add(struct path_set *set, const char *pattern);
/* Replace the set's contents with the built-in defaults. */
void path_set_load_defaults(struct path_set *set);
/* Index of the first pattern matching the target, or -1. */
int path_set_match(const struct path_set *set, const uint8_t *target, size_t target_len);

#endif /* WSSNOOP_PATH_GLOB_H */
