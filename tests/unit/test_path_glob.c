// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests for user/path_glob.c: pattern matching, targets, sets, defaults. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include <cmocka.h>

#include "path_glob.h"

static bool match(const char *pattern, const char *target)
{
	return path_glob_match(pattern, (const uint8_t *)target, strlen(target));
}

static int set_match(const struct path_set *set, const char *target)
{
	return path_set_match(set, (const uint8_t *)target, strlen(target));
}

static void test_literal(void **state)
{
	assert_true(match("/ws", "/ws"));
	assert_true(match("/ws", "/ws/"));
	assert_true(match("/ws", "//ws"));
	assert_false(match("/ws", "/wsx"));
	assert_false(match("/ws", "/w"));
	assert_false(match("/ws", "/ws/x"));
	assert_false(match("/ws", "/WS")); /* paths are case-sensitive */
	assert_false(match("/a/b", "/a"));
	assert_true(match("/", "/"));
	assert_false(match("/", "/x"));
	assert_false(match("ws", "/ws")); /* a pattern must start with '/' */
	assert_false(match(NULL, "/ws"));
}

static void test_single_star(void **state)
{
	assert_true(match("/chat/*", "/chat/room1"));
	assert_false(match("/chat/*", "/chat/a/b"));
	assert_false(match("/chat/*", "/chat"));
	assert_true(match("/foo*bar", "/foobar"));
	assert_true(match("/foo*bar", "/fooXYZbar"));
	assert_false(match("/foo*bar", "/foo/bar"));
	assert_false(match("/foo*bar", "/foobarx"));
	assert_true(match("/*/ws", "/tenant/ws"));
	assert_false(match("/*/ws", "/ws"));
	assert_true(match("/a*b*c", "/abbbc"));
	assert_true(match("/a*b*c", "/aXbYbZc"));
	assert_false(match("/a*b*c", "/aXbYbZ"));
}

static void test_double_star(void **state)
{
	assert_true(match("/websocket/**", "/websocket"));
	assert_true(match("/websocket/**", "/websocket/"));
	assert_true(match("/websocket/**", "/websocket/a"));
	assert_true(match("/websocket/**", "/websocket/a/b/c"));
	assert_false(match("/websocket/**", "/websockets/a"));
	assert_false(match("/websocket/**", "/api/websocket"));
	assert_true(match("/**/websocket", "/websocket"));
	assert_true(match("/**/websocket", "/app/123/abcdef/websocket"));
	assert_false(match("/**/websocket", "/app/websocket/x"));
	assert_false(match("/**/websocket", "/app/websocketx"));
	assert_true(match("/a/**/b", "/a/b"));
	assert_true(match("/a/**/b", "/a/x/y/b"));
	assert_true(match("/a/**/b", "/a/b/b"));
	assert_false(match("/a/**/b", "/a/x/y/c"));
	assert_true(match("/**", "/"));
	assert_true(match("/**", "/anything/at/all"));
	assert_true(match("/**/**", "/x"));
	assert_true(match("/**/x/**/y", "/a/x/b/x/c/y"));
	assert_false(match("/**/x/**/y", "/a/x/b/c/z"));
}

static void test_query_fragment_absolute(void **state)
{
	assert_true(match("/socket.io/**", "/socket.io/?EIO=4&transport=websocket"));
	assert_true(match("/socket.io/**", "/socket.io/?EIO=4&transport=websocket&sid=ab/cd"));
	assert_true(match("/ws", "/ws?x=/y/z"));
	assert_true(match("/ws", "/ws#frag/ment"));
	assert_false(match("/ws", "/x?/ws"));
	assert_true(match("/ws", "http://example.com:8080/ws?token=1"));
	assert_true(match("/ws", "HTTPS://example.com/ws"));
	assert_false(match("/ws", "http://example.com"));
	assert_false(match("/ws", "http://ws"));
	assert_false(match("/ws", "*"));
	assert_false(match("/ws", "ws")); /* neither origin nor absolute form */
	assert_false(match("/ws", ""));
}

static void test_path_of_target(void **state)
{
	const uint8_t *path;
	size_t len;
	static const char abs[] = "http://h:1/p/q?x#y";

	path_of_target((const uint8_t *)abs, strlen(abs), &path, &len);
	assert_int_equal(len, 4);
	assert_memory_equal(path, "/p/q", 4);
	path_of_target((const uint8_t *)"/a?b", 4, &path, &len);
	assert_int_equal(len, 2);
	path_of_target((const uint8_t *)"h://", 4, &path, &len);
	assert_int_equal(len, 0);
	path_of_target(NULL, 0, &path, &len);
	assert_int_equal(len, 0);
}

static void test_defaults(void **state)
{
	static const char *const required[] = {
		"/ws",		 "/ws/**",	  "/websocket", "/websocket/**",
		"/socket.io/**", "/engine.io/**", "/graphql",	"/subscriptions",
	};
	struct path_set set;

	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		bool found = false;

		for (size_t k = 0; path_glob_defaults[k]; k++)
			found = found || strcmp(path_glob_defaults[k], required[i]) == 0;
		assert_true(found);
	}
	path_set_load_defaults(&set);
	assert_true(set.count >= 10);
	assert_true(set_match(&set, "/ws") >= 0);
	assert_true(set_match(&set, "/ws/chat") >= 0);
	assert_true(set_match(&set, "/websocket/server/s1/websocket") >= 0);
	assert_true(set_match(&set, "/app/stomp/123/abcd/websocket") >= 0);
	assert_true(set_match(&set, "/api/sockjs/info?t=1") >= 0);
	assert_true(set_match(&set, "/socket.io/?EIO=4&transport=websocket") >= 0);
	assert_true(set_match(&set, "/engine.io/?EIO=3") >= 0);
	assert_true(set_match(&set, "/graphql") >= 0);
	assert_true(set_match(&set, "/subscriptions") >= 0);
	/* ordinary pages stay out */
	assert_int_equal(set_match(&set, "/"), -1);
	assert_int_equal(set_match(&set, "/index.html"), -1);
	assert_int_equal(set_match(&set, "/api/info"), -1);
	assert_int_equal(set_match(&set, "/static/app.js"), -1);
	assert_int_equal(set_match(&set, "/graphql/schema"), -1);
	assert_int_equal(set_match(&set, "/wss"), -1);
}

static void test_set_add_and_index(void **state)
{
	struct path_set set;
	char long_pattern[PATH_PATTERN_MAX_LEN + 2];

	path_set_init(&set);
	assert_int_equal(set_match(&set, "/ws"), -1); /* empty set matches nothing */
	assert_int_equal(path_set_add(&set, "/chat/*"), 0);
	assert_int_equal(path_set_add(&set, "/**"), 0);
	assert_int_equal(set_match(&set, "/chat/x"), 0);
	assert_int_equal(set_match(&set, "/other"), 1);
	assert_int_equal(path_set_add(&set, "chat"), -EINVAL);
	assert_int_equal(path_set_add(&set, NULL), -EINVAL);
	memset(long_pattern, 'a', sizeof(long_pattern));
	long_pattern[0] = '/';
	long_pattern[sizeof(long_pattern) - 1] = '\0';
	assert_int_equal(path_set_add(&set, long_pattern), -ENAMETOOLONG);
	long_pattern[PATH_PATTERN_MAX_LEN] = '\0';
	assert_int_equal(path_set_add(&set, long_pattern), 0);

	path_set_init(&set);
	for (int i = 0; i < PATH_SET_MAX_PATTERNS; i++)
		assert_int_equal(path_set_add(&set, "/x"), 0);
	assert_int_equal(path_set_add(&set, "/y"), -ENOSPC);
	assert_int_equal(set.count, PATH_SET_MAX_PATTERNS);
}

/* A set passes over patterns by their literal first and last segments: it
 * must still say what each pattern alone says, past the segments it keeps. */
static void test_set_agrees_with_patterns(void **state)
{
	static const char *const patterns[] = {
		"/a/**/z", "/**/z", "/a/**", "/**/m/**", "/a*/**/z*", "/", "/**", "//a//z//", "/b/*/z",
	};
	static const char *const targets[] = {
		"/a/z", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/z", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/y",
		"/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/z", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/z",
		"/x/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/z/", "//a//z//", "/", "", "/z", "/a", "/b/q/z",
		"http://h/a/b/z?q=/y", "/ab/zz", "/a/m",
	};
	struct path_set set;

	for (size_t p = 0; p < sizeof(patterns) / sizeof(patterns[0]); p++) {
		path_set_init(&set);
		assert_int_equal(path_set_add(&set, patterns[p]), 0);
		for (size_t t = 0; t < sizeof(targets) / sizeof(targets[0]); t++)
			assert_int_equal(set_match(&set, targets[t]) == 0, match(patterns[p], targets[t]));
	}
	assert_true(match("/a/**/z", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/z"));
	assert_false(match("/a/**/z", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/y"));
	/* the first pattern that matches, whatever the filters passed over */
	path_set_init(&set);
	assert_int_equal(path_set_add(&set, "/ws"), 0);
	assert_int_equal(path_set_add(&set, "/**/z"), 0);
	assert_int_equal(path_set_add(&set, "/a/**"), 0);
	assert_int_equal(set_match(&set, "/a/z"), 1);
	assert_int_equal(set_match(&set, "/a/y"), 2);
	assert_int_equal(set_match(&set, "/ws/"), 0);
}

/* Hostile targets: thousands of segments against many "**" stay quick and right. */
static void test_pathological(void **state)
{
	const size_t n = 4000;
	uint8_t *target = malloc(2 * n + 2);
	size_t len = 0;

	assert_non_null(target);
	for (size_t i = 0; i < n; i++) {
		target[len++] = '/';
		target[len++] = 'a';
	}
	assert_false(path_glob_match("/**/**/**/**/b", target, len));
	assert_true(path_glob_match("/**/a/**/a", target, len));
	assert_true(path_glob_match("/a/**", target, len));
	target[len++] = '/';
	target[len++] = 'b';
	assert_true(path_glob_match("/**/**/**/**/b", target, len));
	assert_false(path_glob_match("/*a*a*a*a*a*a*b/**", target, len));
	free(target);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literal),
		cmocka_unit_test(test_single_star),
		cmocka_unit_test(test_double_star),
		cmocka_unit_test(test_query_fragment_absolute),
		cmocka_unit_test(test_path_of_target),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_set_add_and_index),
		cmocka_unit_test(test_set_agrees_with_patterns),
		cmocka_unit_test(test_pathological),
	};

	return cmocka_run_group_tests_name("path_glob", tests, NULL, NULL);
}
