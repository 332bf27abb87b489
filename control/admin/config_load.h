/* SPDX-License-Identifier: MIT */
/*
 * Private to config.c (the file -> struct loader) and config_check.c (the rules that look at
 * the whole struct): the loading state they share and the error formatter.
 *
 * Threads: a loader lives on one thread for one rc_config_load() call.
 */
#ifndef RC_CONFIG_LOAD_H
#define RC_CONFIG_LOAD_H

#include <libconfig.h>
#include <stdarg.h>
#include <stddef.h>

#include "config.h"

#define RC_LCORE_MAX 128 /* RTE_MAX_LCORE of the DPDK build; config stays DPDK-free */
#define RC_SECRET_MIN 32
#define RC_DEFAULT_RUN_DIR "/run/roomcast"
#define RC_DEFAULT_DATA_DIR "/var/lib/roomcast"

struct rc_config_loader {
	const char *path;        /* the file, for messages */
	struct rc_config *c;     /* the fresh struct being filled */
	char *err;
	size_t errlen;
	const config_setting_t *root;
	const config_setting_t *port_set[RC_MAX_PORTS]; /* each port's group */
	const config_setting_t *ic_set[RC_MAX_INTERCLUSTER]; /* each relay.intercluster group */
};

/* Write "FILE:LINE: KEY: problem" (the line of `at`; "FILE: KEY: problem" when at is NULL
 * or has no line) into ld->err. Returns -EINVAL. */
int rc_config_vfail(struct rc_config_loader *ld, const config_setting_t *at, const char *key,
		    const char *fmt, va_list ap);

/* The rules over the whole struct, after every key was parsed: required keys, derived
 * defaults (admin_socket, data_dir, tx_queues, port names), lcores against the EAL
 * arguments, ports, chat limits, and the secret file (read into c->secret). 0 or -EINVAL. */
int rc_config_check(struct rc_config_loader *ld);

#endif /* RC_CONFIG_LOAD_H */
