/* SPDX-License-Identifier: MIT */
/*
 * The @include directives of a configuration file, checked before libconfig reads it:
 * libconfig 1.5's scanner exit()s the whole process ("input in flex scanner failed") when an
 * included path cannot be read as a file, e.g. a directory (`@include ""` names the include
 * directory itself, `@include "/"`, `@include "conf.d"`), so such a file must never reach it.
 *
 * The scan follows libconfig's rules: a line whose first non-blank text is @include, blanks,
 * then a name up to the next double quote (no escapes; a NUL ends it, as in C), relative to
 * the include directory unless absolute; included files are checked the same way, 10 deep
 * at most (libconfig's own limit, past which it refuses the file itself). A name that does
 * not exist is left to libconfig, which reports it as an error of its own.
 *
 * Threads: reentrant.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config_load.h"

#define INCLUDE_DEPTH_MAX 10
#define INCLUDE_FILE_MAX (4u << 20) /* a larger file is not scanned (libconfig reads it) */

static int check_file(const char *path, const char *dir, int depth, char *err, size_t errlen);

/* The file's bytes, NUL-terminated (also when it holds NULs: *len says how many), or NULL. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n <= INCLUDE_FILE_MAX &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
		*len = fread(buf, 1, (size_t)n, f);
		buf[*len] = '\0';
	}
	fclose(f);
	return buf;
}

/* The name of an @include directive starting at line p (end e), copied into name (C string,
 * cut at a NUL as libconfig's is); NULL when the line is no @include. */
static const char *
include_name(const char *p, const char *e, char *name, size_t cap)
{
	const char *q;
	size_t n;

	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	if ((size_t)(e - p) < 10 || memcmp(p, "@include", 8) != 0 || (p[8] != ' ' && p[8] != '\t'))
		return NULL;
	for (p += 8; p < e && (*p == ' ' || *p == '\t'); p++)
		;
	if (p == e || *p != '"' || (q = memchr(p + 1, '"', (size_t)(e - p - 1))) == NULL)
		return NULL; /* not libconfig's form: its own syntax error */
	n = strnlen(p + 1, (size_t)(q - p - 1));
	snprintf(name, cap, "%.*s", (int)n, p + 1);
	return name;
}

/* One directive: its target must be a regular file (checked in turn), or not exist. */
static int
check_include(const char *from, unsigned line, const char *name, const char *dir, int depth,
	      char *err, size_t errlen)
{
	char path[4096];
	struct stat st;

	if (name[0] == '/' || dir == NULL)
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (stat(path, &st) != 0)
		return 0;
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s:%u: @include \"%s\": %s is not a regular file", from, line,
			 name, path);
		return -EINVAL;
	}
	return depth < INCLUDE_DEPTH_MAX ? check_file(path, dir, depth + 1, err, errlen) : 0;
}

static int
check_file(const char *path, const char *dir, int depth, char *err, size_t errlen)
{
	size_t len = 0;
	char *buf = slurp(path, &len), name[1024];
	const char *p, *e, *nl;
	unsigned line = 1;
	int rc = 0;

	if (buf == NULL)
		return 0; /* unreadable or too large: libconfig says so, or reads it */
	for (p = buf, e = buf + len; rc == 0 && p < e; p = nl + 1, line++) {
		nl = memchr(p, '\n', (size_t)(e - p));
		if (nl == NULL)
			nl = e;
		/* a name may run over lines: hand the rest of the file to the parser */
		if (include_name(p, e, name, sizeof(name)) != NULL)
			rc = check_include(path, line, name, dir, depth, err, errlen);
	}
	free(buf);
	return rc;
}

int
rc_config_includes_ok(const char *path, const char *include_dir, char *err, size_t errlen)
{
	return check_file(path, include_dir, 0, err, errlen);
}
