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

/* Path segments kept per split; further ones are found by scanning, as before. */
#define SEGMENTS_KEPT 16

/*
 * The segments of a path, found once: a path is matched against every
 * pattern of a set, and a match steps back over segments, so finding them
 * again at each step was most of the cost of matching. Patterns are short
 * and most fail at their first segment: they are scanned as they go.
 */
struct split {
	const uint8_t *s;
	size_t len;
	size_t kept;   /* segments in seg[] */
	bool all_kept; /* there are no others */
	struct segment seg[SEGMENTS_KEPT];
};

/* A place in a split: the number of a segment and the offset it lies at or after. */
struct split_pos {
	size_t index;
	size_t offset;
};

static void split_init(struct split *sp, const uint8_t *s, size_t len)
{
	struct segment more;
	size_t pos = 0;

	sp->s = s;
	sp->len = len;
	sp->kept = 0;
	while (sp->kept < SEGMENTS_KEPT && segment_at(s, len, pos, &sp->seg[sp->kept]))
		pos = sp->seg[sp->kept++].next;
	sp->all_kept = sp->kept < SEGMENTS_KEPT || !segment_at(s, len, pos, &more);
}

/* The segment at pos; false past the last one. */
static bool split_segment(const struct split *sp, struct split_pos pos, struct segment *seg)
{
	if (pos.index < sp->kept) {
		*seg = sp->seg[pos.index];
		return true;
	}
	return !sp->all_kept && segment_at(sp->s, sp->len, pos.offset, seg);
}

static struct split_pos after(struct split_pos pos, const struct segment *seg)
{
	return (struct split_pos){ pos.index + 1, seg->next };
}

/* The same algorithm one level up: "**" absorbs whole segments. */
static bool match_path(const uint8_t *pattern, size_t pattern_len, const struct split *path)
{
	size_t p = 0, star_p = SIZE_MAX;
	struct split_pos t = { 0, 0 }, star_t = { 0, 0 };
	struct segment ps, ts;

	while (split_segment(path, t, &ts)) {
		bool have_p = segment_at(pattern, pattern_len, p, &ps);

		if (have_p && is_globstar(&ps)) {
			star_p = p = ps.next;
			star_t = t;
		} else if (have_p && segment_match(&ps, &ts)) {
			p = ps.next;
			t = after(t, &ts);
		} else if (star_p != SIZE_MAX) {
			struct segment absorbed;

			/* star_t always starts a segment here: the loop saw one. */
			split_segment(path, star_t, &absorbed);
			star_t = after(star_t, &absorbed);
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
	struct split path_split;

	if (!pattern || pattern[0] != '/')
		return false;
	path_of_target(target, target_len, &path, &path_len);
	split_init(&path_split, path, path_len);
	return match_path((const uint8_t *)pattern, strlen(pattern), &path_split);
}

static bool is_literal(const struct segment *seg)
{
	return !memchr(seg->ptr, '*', seg->len);
}

static void learn_pattern(const uint8_t *pattern, size_t len, struct path_pattern_facts *facts)
{
	struct segment seg, last;
	size_t pos = 0;
	bool any = false;

	memset(facts, 0, sizeof(*facts));
	facts->len = (uint16_t)len;
	while (segment_at(pattern, len, pos, &seg)) {
		if (!any) {
			facts->first_start = (uint8_t)(seg.ptr - pattern);
			facts->first_len = (uint8_t)seg.len;
			facts->first_literal = is_literal(&seg);
		}
		any = true;
		last = seg;
		pos = seg.next;
	}
	if (any) {
		facts->last_start = (uint8_t)(last.ptr - pattern);
		facts->last_len = (uint8_t)last.len;
		facts->last_literal = is_literal(&last);
	}
}

static bool segment_is(const struct segment *seg, const char *pattern, uint8_t start, uint8_t len)
{
	return seg->len == len && memcmp(seg->ptr, pattern + start, len) == 0;
}

/*
 * Whether the pattern cannot match the path, from its facts alone. A segment
 * without '*' matches only itself, and a match can neither skip the first
 * segments of a pattern nor end before its last: so a literal first (last)
 * segment must be the path's first (last) segment. A path longer than the
 * split keeps is not told its last segment.
 */
static bool cannot_match(const char *pattern, const struct path_pattern_facts *facts,
			 const struct split *path)
{
	if (facts->first_literal &&
	    (path->kept == 0 || !segment_is(&path->seg[0], pattern, facts->first_start, facts->first_len)))
		return true;
	return facts->last_literal && path->all_kept &&
	       (path->kept == 0 ||
		!segment_is(&path->seg[path->kept - 1], pattern, facts->last_start, facts->last_len));
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
	learn_pattern((const uint8_t *)set->patterns[set->count], len, &set->facts[set->count]);
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
	struct split path_split;

	path_of_target(target, target_len, &path, &path_len);
	split_init(&path_split, path, path_len);
	for (unsigned i = 0; i < set->count; i++)
		if (!cannot_match(set->patterns[i], &set->facts[i], &path_split) &&
		    match_path((const uint8_t *)set->patterns[i], set->facts[i].len, &path_split))
			return (int)i;
	return -1;
}
