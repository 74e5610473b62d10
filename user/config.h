/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * config.h - the daemon's configuration file.
 *
 * Promise: reads a file of `key = value` lines (`#` starts a comment; keys
 * are the long command-line options without their dashes; a key alone, or
 * `= true`, is a flag; `= false` leaves it off; list keys such as `port` and
 * `path` may repeat) and turns it into command-line arguments, so that the
 * file and the flags share one parser and one meaning.
 */
#ifndef WSSNOOP_CONFIG_H
#define WSSNOOP_CONFIG_H

#include <stddef.h>

struct config_args {
	char **argv; /* "--key=value" strings, malloc'd */
	int argc;
};

/* Returns 0, or -1 with a one-line reason ("FILE:LINE: ...") in err. */
int config_read(const char *path, struct config_args *out, char *err, size_t errlen);
/* The same over text in memory (name is used in messages). */
int config_parse(const char *text, const char *name, struct config_args *out, char *err, size_t errlen);
void config_free(struct config_args *args);

#endif /* WSSNOOP_CONFIG_H */
