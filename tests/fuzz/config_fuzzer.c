/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the node's configuration file (control/admin/config.c + config_check.c):
 * libconfig's parser, then every key's parser and the checks across keys.
 *
 * Input: the file's bytes. They are written to "node.conf" in a scratch directory made once,
 * which also holds two secret files the input may name ("secret" and "relay", 0600, 32 and
 * 48 bytes) and "extra.conf" for @include, so that an input can pass the secret checks and
 * reach what follows them. Checked: a refusal is -errno with a message; an accepted file
 * has the values the checks promise (a node id, a secret of legal length).
 * Built as fuzz.h says (corpus: tests/fuzz/corpus/config/). Single-threaded.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

static char dir[64], conf_path[128];

static void
put_file(const char *name, const void *data, size_t len)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, data, len) == (ssize_t)len);
	close(fd);
}

/* The scratch directory goes when the process ends (libFuzzer exits through exit()). */
static void
remove_dir(void)
{
	const char *names[] = { "node.conf", "secret", "relay", "extra.conf" };
	char path[128];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char extra[] = "chat = { max_fetch = 100; };\n";
	uint8_t secret[48];

	(void)argc, (void)argv;
	snprintf(dir, sizeof(dir), "/tmp/rc-cfgfuzz-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	atexit(remove_dir);
	for (size_t i = 0; i < sizeof(secret); i++)
		secret[i] = (uint8_t)(i * 7 + 1);
	put_file("secret", secret, 32);
	put_file("relay", secret + 8, 40);
	put_file("extra.conf", extra, sizeof(extra) - 1);
	snprintf(conf_path, sizeof(conf_path), "%s/node.conf", dir);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rc_config c;
	char err[1024] = "";
	int rc;

	put_file("node.conf", data, size);
	rc = rc_config_load(conf_path, &c, err, sizeof(err));
	if (rc != 0) {
		CHECK(rc < 0 && err[0] != '\0');
		return 0;
	}
	CHECK(c.node_id[0] != '\0');
	CHECK(memchr(c.node_id, '\0', sizeof(c.node_id)) != NULL);
	CHECK(c.secret_len >= 32 && c.secret_len <= sizeof(c.secret));
	return 0;
}
