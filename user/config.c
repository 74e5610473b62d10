// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * config.c - configuration file to command-line arguments.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"

#define CONFIG_MAX_BYTES (1 << 20)

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = 0;
	return s;
}

static int push(struct config_args *out, const char *key, const char *value)
{
	char **argv = realloc(out->argv, sizeof(char *) * (size_t)(out->argc + 2));
	size_t n = strlen(key) + (value ? strlen(value) + 1 : 0) + 3;
	char *arg;

	if (!argv)
		return -1;
	out->argv = argv;
	arg = malloc(n);
	if (!arg)
		return -1;
	if (value)
		snprintf(arg, n, "--%s=%s", key, value);
	else
		snprintf(arg, n, "--%s", key);
	out->argv[out->argc++] = arg;
	out->argv[out->argc] = NULL;
	return 0;
}

int config_parse(const char *text, const char *name, struct config_args *out, char *err, size_t errlen)
{
	char *copy = strdup(text), *line;
	int lineno = 0, ret = 0;

	memset(out, 0, sizeof(*out));
	if (!copy)
		return fail(err, errlen, "%s: out of memory", name);
	/* strsep keeps empty lines, so line numbers stay right. */
	for (char *rest = copy; (line = strsep(&rest, "\n")) != NULL;) {
		char *hash, *eq, *key, *value = NULL;

		lineno++;
		hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		line = trim(line);
		if (!*line)
			continue;
		eq = strchr(line, '=');
		if (eq) {
			*eq = 0;
			value = trim(eq + 1);
		}
		key = trim(line);
		if (!*key || strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(key)) {
			ret = fail(err, errlen, "%s:%d: '%s' is not an option name", name, lineno, key);
			break;
		}
		if (value && (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0))
			value = NULL;
		else if (value && (strcmp(value, "false") == 0 || strcmp(value, "no") == 0))
			continue;
		else if (value && !*value) {
			ret = fail(err, errlen, "%s:%d: '%s' has no value", name, lineno, key);
			break;
		}
		if (push(out, key, value)) {
			ret = fail(err, errlen, "%s: out of memory", name);
			break;
		}
	}
	free(copy);
	if (ret)
		config_free(out);
	return ret;
}

int config_read(const char *path, struct config_args *out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *text;
	size_t n;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!f)
		return fail(err, errlen, "cannot read config %s: %s", path, strerror(errno));
	text = malloc(CONFIG_MAX_BYTES + 1);
	if (!text) {
		fclose(f);
		return fail(err, errlen, "out of memory");
	}
	n = fread(text, 1, CONFIG_MAX_BYTES + 1, f);
	fclose(f);
	if (n > CONFIG_MAX_BYTES) {
		free(text);
		return fail(err, errlen, "config %s is larger than %d bytes", path, CONFIG_MAX_BYTES);
	}
	text[n] = 0;
	ret = config_parse(text, path, out, err, errlen);
	free(text);
	return ret;
}

void config_free(struct config_args *args)
{
	for (int i = 0; i < args->argc; i++)
		free(args->argv[i]);
	free(args->argv);
	memset(args, 0, sizeof(*args));
}
