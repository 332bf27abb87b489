/* SPDX-License-Identifier: MIT */
/*
 * The EAL of a test program, started so that it leaves nothing behind: the EAL's runtime
 * directory (/var/run/dpdk/PREFIX for root) is removed when the program ends, however main()
 * returns or exit() is called, after rte_eal_cleanup. tests/run fails the unit suite when a
 * test leaves one (a crash still does: nothing runs after an abort): it sets RC_TEST_RUN,
 * which fx_eal_prefix puts in the directory's name, so that it finds its own tests' only.
 * Header-only, for the main thread of a test.
 */
#ifndef RC_EAL_FIXTURE_H
#define RC_EAL_FIXTURE_H

#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>

static char fx_eal_run_dir[PATH_MAX];

/* "--file-prefix=rc-TAG-PID", or "--file-prefix=rc-TAG-rRUN-PID" under tests/run (RUN: its
 * RC_TEST_RUN, digits only). */
static inline void
fx_eal_prefix(char *buf, size_t len, const char *tag)
{
	const char *run = getenv("RC_TEST_RUN");
	bool digits = run != NULL && run[0] != '\0' && strspn(run, "0123456789") == strlen(run);

	if (digits)
		snprintf(buf, len, "--file-prefix=rc-%s-r%s-%d", tag, run, (int)getpid());
	else
		snprintf(buf, len, "--file-prefix=rc-%s-%d", tag, (int)getpid());
}
static bool fx_eal_up;

/* Remove the runtime directory (flat: sockets, the config and fbarray files). */
static inline void
fx_eal_remove_run_dir(void)
{
	struct dirent *de;
	DIR *d;

	if (fx_eal_run_dir[0] == '\0' || (d = opendir(fx_eal_run_dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	rmdir(fx_eal_run_dir);
	fx_eal_run_dir[0] = '\0';
}

/* rte_eal_cleanup (once) and the runtime directory removed. Called at exit as well. */
static inline void
fx_eal_stop(void)
{
	if (fx_eal_up) {
		fx_eal_up = false;
		rte_eal_cleanup();
	}
	fx_eal_remove_run_dir();
}

/* rte_eal_init(argc, argv), with fx_eal_stop registered to run at exit. An EAL that failed
 * to start may have made its directory already: it goes too. */
static inline int
fx_eal_start(int argc, char **argv)
{
	static bool registered;
	int rc = rte_eal_init(argc, argv);

	snprintf(fx_eal_run_dir, sizeof(fx_eal_run_dir), "%s", rte_eal_get_runtime_dir());
	if (!registered) {
		registered = true;
		atexit(fx_eal_stop);
	}
	fx_eal_up = rc >= 0;
	if (rc < 0)
		fx_eal_remove_run_dir();
	return rc;
}

#endif /* RC_EAL_FIXTURE_H */
