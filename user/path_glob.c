// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* path_glob.c - WebSocket endpoint patterns; see path_glob.h for the promise. */
#include "path_glob.h"

#include <errno.h>
#include <string.h>

const char *const path_glob_defaults[] = {
	"/ws",		"/ws/**",	  "/websocket",	   "/websocket/**", "/**/websocket",
	"/**/sockjs/**", "/socket.io/**", "/engine.io/**", "/graphql",	    "/subscriptions",
	NULL,
};

struct segment {
	const uint8_t *ptr;
	size_t len;
	size_t next; /* offset just past this segment */
};

/* The segment at or after offset pos, skipping empty ones; false at the end. */
static bool segment_at(const uint8_t *s, size_t len, size_t pos, struct segment *seg)
{
	size_t start;

	while (pos < len && s[pos] == '/')
		pos++;
	if (pos >= len)
		return false;
	start = pos;
	while (pos < len && s[pos] != '/')
		pos++;
	seg->ptr = s + start;
	seg->len = pos - start;
	seg->next = pos;
	return true;
}

static bool is_globstar(const struct segment *seg)
{
	return seg->len == 2 && seg->ptr[0] == '*' && seg->ptr[1] == '*';
}

/* '*' within one segment; greedy with one backtrack point, so linear-ish. */
static bool segment_match(const struct segment *pat, const struct segment *txt)
{
	size_t p = 0, t = 0, star_p = SIZE_MAX, star_t = 0;

	while (t < txt->len) {
		if (p < pat->len && pat->ptr[p] == '*') {
			star_p = ++p;
			star_t = t;
		} else if (p < pat->len && pat->ptr[p] == txt->ptr[t]) {
			p++;
			t++;
		} else if (star_p != SIZE_MAX) {
			p = star_p;
			t = ++star_t;
		} else {
			return false;
		}
	}
	while (p < pat->len && pat->ptr[p] == '*')
		p++;
	return p == pat->len;
}

/* The same algorithm one level up: "**" absorbs whole segments. */
static bool match_path(const uint8_t *pattern, size_t pattern_len, const uint8_t *path,
		       size_t path_len)
{
	size_t p = 0, t = 0, star_p = SIZE_MAX, star_t = 0;
	struct segment ps, ts;

	while (segment_at(path, path_len, t, &ts)) {
		bool have_p = segment_at(pattern, pattern_len, p, &ps);

		if (have_p && is_globstar(&ps)) {
			star_p = p = ps.next;
			star_t = t;
		} else if (have_p && segment_match(&ps, &ts)) {
			p = ps.next;
			t = ts.next;
		} else if (star_p != SIZE_MAX) {
			struct segment absorbed;

			/* star_t always starts a segment here: the loop saw one. */
			segment_at(path, path_len, star_t, &absorbed);
			star_t = absorbed.next;
			p = star_p;
			t = star_t;
		} else {
			return false;
		}
	}
	while (segment_at(pattern, pattern_len, p, &ps) && is_globstar(&ps))
		p = ps.next;
	return !segment_at(pattern, pattern_len, p, &ps);
}

static size_t path_end(const uint8_t *s, size_t from, size_t len)
{
	while (from < len && s[from] != '?' && s[from] != '#')
		from++;
	return from;
}

void path_of_target(const uint8_t *target, size_t target_len, const uint8_t **path,
		    size_t *path_len)
{
	size_t i = 0;

	*path = target;
	*path_len = 0;
	if (!target || target_len == 0)
		return;
	if (target[0] == '/') {
		*path_len = path_end(target, 0, target_len);
		return;
	}
	/* Absolute form: scheme "://" authority path. */
	while (i < target_len && ((target[i] >= 'a' && target[i] <= 'z') ||
				  (target[i] >= 'A' && target[i] <= 'Z') ||
				  (i > 0 && ((target[i] >= '0' && target[i] <= '9') ||
					     target[i] == '+' || target[i] == '-' || target[i] == '.'))))
		i++;
	if (i == 0 || target_len - i < 3 || memcmp(target + i, "://", 3) != 0)
		return;
	i += 3;
	while (i < target_len && target[i] != '/' && target[i] != '?' && target[i] != '#')
		i++;
	if (i < target_len && target[i] == '/') {
		*path = target + i;
		*path_len = path_end(target, i, target_len) - i;
	}
}

bool path_glob_match(const char *pattern, const uint8_t *target, size_t target_len)
{
	const uint8_t *path;
	size_t path_len;

	if (!pattern || pattern[0] != '/')
		return false;
	path_of_target(target, target_len, &path, &path_len);
	return match_path((const uint8_t *)pattern, strlen(pattern), path, path_len);
}

void path_set_init(struct path_set *set)
{
	set->count = 0;
}

int path_set_add(struct path_set *set, const char *pattern)
{
	size_t len;

	if (!pattern || pattern[0] != '/')
		return -EINVAL;
	len = strlen(pattern);
	if (len > PATH_PATTERN_MAX_LEN)
		return -ENAMETOOLONG;
	if (set->count >= PATH_SET_MAX_PATTERNS)
		return -ENOSPC;
	memcpy(set->patterns[set->count], pattern, len + 1);
	set->count++;
	return 0;
}

void path_set_load_defaults(struct path_set *set)
{
	path_set_init(set);
	for (size_t i = 0; path_glob_defaults[i]; i++)
		path_set_add(set, path_glob_defaults[i]);
}

int path_set_match(const struct path_set *set, const uint8_t *target, size_t target_len)
{
	const uint8_t *path;
	size_t path_len;

	path_of_target(target, target_len, &path, &path_len);
	for (unsigned i = 0; i < set->count; i++)
		if (match_path((const uint8_t *)set->patterns[i], strlen(set->patterns[i]), path,
			       path_len))
			return (int)i;
	return -1;
}
