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
	const config_setting_t *key_set[RC_KEY_PURPOSE_MAX][RC_KEYRING_MAX]; /* keys.P[i] */
};

/* Write "FILE:LINE: KEY: problem" (the line of `at`; "FILE: KEY: problem" when at is NULL
 * or has no line) into ld->err. Returns -EINVAL. */
int rc_config_vfail(struct rc_config_loader *ld, const config_setting_t *at, const char *key,
		    const char *fmt, va_list ap);

/* The rules over the whole struct, after every key was parsed: required keys, derived
 * defaults (admin_socket, data_dir, tx_queues, port names), lcores against the EAL
 * arguments, ports, chat limits, and the secret file (read into c->secret). 0 or -EINVAL. */
int rc_config_check(struct rc_config_loader *ld);

/* rc_config_vfail with its arguments; and the setting at path ("node.id") or NULL. */
int rc_config_fail(struct rc_config_loader *ld, const config_setting_t *at, const char *key,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
const config_setting_t *rc_config_at(struct rc_config_loader *ld, const char *path);

/* Resolve path (in place, cap bytes; relative to the configuration file's directory) and
 * read the secret file it names into out (32..outcap bytes, length in *len), with the
 * checks every secret file gets. s and key name the setting in messages. 0 or -EINVAL. */
int rc_config_read_key(struct rc_config_loader *ld, const config_setting_t *s, const char *key,
		       char *path, size_t cap, uint8_t *out, size_t outcap, unsigned *len);

/* The keys section (config_keys.c): every purpose's ring, read from its files or derived
 * from the auth secret; ids unique per purpose; no bytes shared between two purposes.
 * After the auth secret is read. 0 or -EINVAL. */
int rc_config_check_keys(struct rc_config_loader *ld);

/* No key ring shares bytes with a relay secret. After the relay secrets are read. */
int rc_config_check_keys_relay(struct rc_config_loader *ld);

#endif /* RC_CONFIG_LOAD_H */
