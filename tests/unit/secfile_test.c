/* SPDX-License-Identifier: MIT */
/*
 * control/lib/secfile: the one reader of secrets and passwords. Each attack of the review's
 * rows S4/S18 (a group-readable file, a root file outside the secrets directory, a symbolic
 * link, a "..", a file of another user, a directory others can write) is refused; a good
 * file is read, a password's first line only.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "secfile.h"

static char dir[64];
static char other[64]; /* a directory outside the secrets directory */

static void
put(const char *where, const char *name, const char *text, mode_t mode)
{
	char p[256];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", where, name);
	unlink(p);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(chmod(p, mode), 0);
}

static int
rd(const char *path, unsigned flags, char *out, size_t cap, size_t *len, char *err)
{
	return rc_secfile_read(dir, path, (uint8_t *)out, cap, len, flags, err, 256);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/rc-secfile.XXXXXX");
	snprintf(other, sizeof(other), "/tmp/rc-secother.XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_non_null(mkdtemp(other));
	return 0;
}

static int
teardown(void **state)
{
	char cmd[200];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", dir, other);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_good(void **state)
{
	char out[64], err[256], p[128];
	size_t len;

	(void)state;
	put(dir, "pw", "s3cret\nsecond line\n", 0600);
	assert_int_equal(rd("pw", RC_SECFILE_LINE, out, sizeof(out), &len, err), 0);
	assert_string_equal(out, "s3cret");
	assert_int_equal(len, 6);
	snprintf(p, sizeof(p), "%s/pw", dir); /* absolute, inside */
	assert_int_equal(rd(p, 0, out, sizeof(out), &len, err), 0);
	assert_int_equal(len, strlen("s3cret\nsecond line\n"));
	assert_int_equal(chmod(p, 0400), 0);
	assert_int_equal(rd(p, RC_SECFILE_LINE, out, sizeof(out), &len, err), 0);
	assert_int_equal(mkdir(strcat(strcpy(p, dir), "/sub"), 0700), 0);
	put(p, "k", "key", 0600);
	assert_int_equal(rd("sub/k", 0, out, sizeof(out), &len, err), 0);
	assert_int_equal(len, 3);
}

/* A group-readable (0640) or world-readable password file: refused, whoever owns it. */
static void
test_modes(void **state)
{
	static const mode_t bad[] = { 0640, 0644, 0660, 0604, 0700, 04600 };
	char out[64], err[256];
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put(dir, "pw", "x\n", bad[i]);
		assert_int_equal(rd("pw", RC_SECFILE_LINE, out, sizeof(out), &len, err), -EPERM);
		assert_non_null(strstr(err, "mode"));
	}
}

/* A root-owned 0600 file outside the secrets directory (/etc/shadow, or one of ours). */
static void
test_outside(void **state)
{
	char out[64], err[256], p[200];
	size_t len;

	(void)state;
	put(other, "root-only", "root:hash\n", 0600);
	snprintf(p, sizeof(p), "%s/root-only", other);
	assert_int_equal(rd(p, RC_SECFILE_LINE, out, sizeof(out), &len, err), -EPERM);
	assert_non_null(strstr(err, "outside the secrets directory"));
	assert_int_equal(rd("/etc/shadow", RC_SECFILE_LINE, out, sizeof(out), &len, err), -EPERM);
	/* a sibling whose name starts with the directory's */
	snprintf(p, sizeof(p), "%sX/pw", dir);
	assert_int_equal(rd(p, 0, out, sizeof(out), &len, err), -EPERM);
	snprintf(p, sizeof(p), "../%s/root-only", strrchr(other, '/') + 1);
	assert_int_equal(rd(p, RC_SECFILE_LINE, out, sizeof(out), &len, err), -EINVAL);
	snprintf(p, sizeof(p), "%s/../%s/root-only", dir, strrchr(other, '/') + 1);
	assert_int_equal(rd(p, RC_SECFILE_LINE, out, sizeof(out), &len, err), -EINVAL);
}

/* A symbolic link inside the directory to a root file: the link, or a linked directory. */
static void
test_symlink(void **state)
{
	char out[64], err[256], p[200], t[200];
	size_t len;

	(void)state;
	put(other, "root-only", "root:hash\n", 0600);
	snprintf(t, sizeof(t), "%s/root-only", other);
	snprintf(p, sizeof(p), "%s/link", dir);
	unlink(p);
	assert_int_equal(symlink(t, p), 0);
	assert_int_equal(rd("link", RC_SECFILE_LINE, out, sizeof(out), &len, err), -ELOOP);
	assert_non_null(strstr(err, "symbolic link"));
	snprintf(p, sizeof(p), "%s/dlink", dir);
	assert_int_equal(symlink(other, p), 0);
	assert_int_equal(rd("dlink/root-only", RC_SECFILE_LINE, out, sizeof(out), &len, err),
			 -ENOTDIR);
}

/* A file of another user (nobody), a hard link to a root file, a FIFO. */
static void
test_owner_links_type(void **state)
{
	char out[64], err[256], p[200], t[200];
	size_t len;

	(void)state;
	put(dir, "theirs", "x\n", 0600);
	snprintf(p, sizeof(p), "%s/theirs", dir);
	assert_int_equal(chown(p, 65534, 65534), 0);
	assert_int_equal(rd("theirs", RC_SECFILE_LINE, out, sizeof(out), &len, err), -EPERM);
	assert_non_null(strstr(err, "owned by root"));
	put(other, "root-only", "root:hash\n", 0600);
	snprintf(t, sizeof(t), "%s/root-only", other);
	snprintf(p, sizeof(p), "%s/hard", dir);
	assert_int_equal(link(t, p), 0);
	assert_int_equal(rd("hard", RC_SECFILE_LINE, out, sizeof(out), &len, err), -EPERM);
	snprintf(p, sizeof(p), "%s/fifo", dir);
	assert_int_equal(mkfifo(p, 0600), 0);
	assert_int_equal(rd("fifo", 0, out, sizeof(out), &len, err), -EPERM);
}

/* The directory itself: group- or other-writable, or another user's, is refused. */
static void
test_directory(void **state)
{
	char out[64], err[256];
	size_t len;

	(void)state;
	put(dir, "pw", "x\n", 0600);
	assert_int_equal(chmod(dir, 0770), 0);
	assert_int_equal(rd("pw", RC_SECFILE_LINE, out, sizeof(out), &len, err), -EPERM);
	assert_non_null(strstr(err, "writable by nobody else"));
	assert_int_equal(rc_secfile_check_dir(dir, err, sizeof(err)), -EPERM);
	assert_int_equal(chmod(dir, 0700), 0);
	assert_int_equal(chown(dir, 65534, 65534), 0);
	assert_int_equal(rd("pw", RC_SECFILE_LINE, out, sizeof(out), &len, err), -EPERM);
	assert_int_equal(chown(dir, 0, 0), 0);
	assert_int_equal(rc_secfile_check_dir("/tmp", err, sizeof(err)), -EPERM);
	assert_int_equal(rc_secfile_check_dir("relative", err, sizeof(err)), -EINVAL);
	assert_int_equal(rc_secfile_check_dir(dir, err, sizeof(err)), 0);
}

/* Sizes: a secret larger than cap says its size; a password line too long; a NUL. */
static void
test_sizes(void **state)
{
	char out[8], err[256];
	size_t len;

	(void)state;
	put(dir, "big", "0123456789", 0600);
	assert_int_equal(rd("big", 0, out, sizeof(out), &len, err), -EFBIG);
	assert_int_equal(len, 10);
	assert_int_equal(rd("big", RC_SECFILE_LINE, out, sizeof(out), &len, err), -EFBIG);
	put(dir, "short", "0123456\n", 0600);
	assert_int_equal(rd("short", RC_SECFILE_LINE, out, sizeof(out), &len, err), 0);
	assert_string_equal(out, "0123456");
	put(dir, "nul", "ab", 0600);
	{
		char p[200];
		int fd;

		snprintf(p, sizeof(p), "%s/nul", dir);
		fd = open(p, O_WRONLY | O_APPEND);
		assert_int_equal(write(fd, "\0c\n", 3), 3);
		close(fd);
	}
	assert_int_equal(rd("nul", RC_SECFILE_LINE, out, sizeof(out), &len, err), -EINVAL);
	assert_int_equal(rd("missing", 0, out, sizeof(out), &len, err), -ENOENT);
	assert_non_null(strstr(err, "cannot open"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_links_type, setup, teardown),
		cmocka_unit_test_setup_teardown(test_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sizes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
