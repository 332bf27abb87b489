/* SPDX-License-Identifier: MIT */
/*
 * The admin command "token mint USER [--ttl SECONDS]": mints a login token (token.h) from the
 * configuration's tokens key. roomcastd registers it on its admin socket; roomcastctl calls the
 * same handler locally (-c CONFIG) when no daemon answers, so both print the same thing.
 *
 * Threads: the control thread (or roomcastctl's only thread). cfg must outlive the admin
 * server it is registered with.
 */
#ifndef RC_TOKEN_ADMIN_H
#define RC_TOKEN_ADMIN_H

#include "admin.h"
#include "config.h"

#define RC_TOKEN_ADMIN_PATH "token mint"
#define RC_TOKEN_ADMIN_ARGS "USER [--ttl SECONDS]"
#define RC_TOKEN_ADMIN_HELP "mint a login token for USER (default TTL: auth.token_ttl_s)"

/* Register "token mint" on a. 0 or -errno (-EEXIST if already registered). */
int rc_token_admin_register(struct rc_admin *a, const struct rc_config *cfg);

/* The handler itself (rc_admin_fn; arg is the const struct rc_config *). result gets
 * {"user", "expiry", "ttl", "key_id", "issued_ms", "token"}; text is the token and a newline. */
int rc_token_admin_mint(void *arg, int argc, char **argv, json_t *result, struct rc_text *text,
			char *err, size_t errlen);

#endif /* RC_TOKEN_ADMIN_H */
