/* SPDX-License-Identifier: MIT */
/*
 * The replay driver of a fuzz target (fuzz.h) when it is built without libFuzzer: runs each
 * file named, and each file of each directory named, through LLVMFuzzerTestOneInput once.
 * Exit status 0 when at least one input ran and none aborted; an empty corpus is a broken
 * test, not a pass.
 */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#define INPUT_MAX (1u << 20)

__attribute__((weak)) int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	return 0;
}

/* 1 when the file ran, or -errno. The input gets a buffer of its own exact size (fuzz_copy),
 * so that AddressSanitizer sees a read past its end as libFuzzer's build would. */
static int
replay_file(const char *path)
{
	static uint8_t buf[INPUT_MAX];
	FILE *f = fopen(path, "rb");
	uint8_t *copy;
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -errno;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	copy = fuzz_copy(buf, n);
	LLVMFuzzerTestOneInput(copy, n);
	free(copy);
	return 1;
}

/* The number of files replayed, or -errno. */
static int
replay_dir(const char *dir)
{
	char path[4096];
	struct dirent *e;
	int count = 0, rc = 0;
	DIR *d = opendir(dir);

	if (d == NULL) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return -errno;
	}
	while (rc >= 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		rc = replay_file(path);
		count += rc > 0;
	}
	closedir(d);
	return rc < 0 ? rc : count;
}

int
main(int argc, char **argv)
{
	int total = 0;

	LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat st;
		int rc;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		rc = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : replay_file(argv[i]);
		if (rc < 0)
			return 1;
		total += rc;
	}
	printf("replayed %d input(s)\n", total);
	return total > 0 ? 0 : 1;
}
