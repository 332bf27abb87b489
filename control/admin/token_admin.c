/* SPDX-License-Identifier: MIT */
/*
 * "token mint USER [--ttl SECONDS]": see token_admin.h. Bad arguments return -EINVAL with a
 * message, so the admin server answers with the command's usage.
 *
 * Threads: the control thread (or roomcastctl); no state of its own.
 */
#include "token_admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "token.h"

#define TTL_MIN 1
#define TTL_MAX 315360000ULL /* ten years */

static int
parse_ttl(const char *s, uint64_t *ttl, char *err, size_t errlen)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 || v < TTL_MIN || v > TTL_MAX) {
		snprintf(err, errlen, "--ttl: \"%s\" is not a number of seconds in %d..%llu", s,
			 TTL_MIN, TTL_MAX);
		return -EINVAL;
	}
	*ttl = v;
	return 0;
}

/* USER and --ttl in any order; --ttl=S accepted too. */
static int
parse_args(int argc, char **argv, const char **user, uint64_t *ttl, char *err, size_t errlen)
{
	*user = NULL;
	for (int i = 0; i < argc; i++) {
		int rc = 0;

		if (strcmp(argv[i], "--ttl") == 0) {
			if (++i == argc) {
				snprintf(err, errlen, "--ttl needs a value");
				return -EINVAL;
			}
			rc = parse_ttl(argv[i], ttl, err, errlen);
		} else if (strncmp(argv[i], "--ttl=", 6) == 0) {
			rc = parse_ttl(argv[i] + 6, ttl, err, errlen);
		} else if (argv[i][0] == '-' || *user != NULL) {
			snprintf(err, errlen, "unexpected argument \"%s\"", argv[i]);
			return -EINVAL;
		} else {
			*user = argv[i];
		}
		if (rc < 0)
			return rc;
	}
	if (*user == NULL) {
		snprintf(err, errlen, "USER is missing");
		return -EINVAL;
	}
	return 0;
}

int
rc_token_admin_mint(void *arg, int argc, char **argv, json_t *result, struct rc_text *text,
		    char *err, size_t errlen)
{
	const struct rc_config *cfg = arg;
	char token[RC_TOKEN_LEN_MAX];
	uint64_t ttl = cfg->token_ttl_s, expiry;
	const char *user;
	json_t *juser;
	int rc = parse_args(argc, argv, &user, &ttl, err, errlen);

	if (rc < 0)
		return rc;
	juser = json_string(user); /* NULL unless UTF-8, as LOGIN requires */
	if (juser == NULL) {
		snprintf(err, errlen, "bad user name: not UTF-8");
		return -EINVAL;
	}
	expiry = (uint64_t)time(NULL) + ttl;
	rc = rc_token_mint(cfg->secret, cfg->secret_len, user, strlen(user), expiry, token,
			   sizeof(token));
	if (rc < 0) {
		json_decref(juser);
		if (rc == -EINVAL)
			snprintf(err, errlen, "bad user name \"%s\": 1..64 bytes, no control "
					      "characters", user);
		else
			snprintf(err, errlen, "cannot mint a token: %s", strerror(-rc));
		return rc;
	}
	json_object_set_new(result, "user", juser);
	json_object_set_new(result, "expiry", json_integer((json_int_t)expiry));
	json_object_set_new(result, "ttl", json_integer((json_int_t)ttl));
	json_object_set_new(result, "token", json_string(token));
	rc_text_printf(text, "%s\n", token);
	return 0;
}

static const struct rc_admin_cmd rows[] = {
	{ RC_TOKEN_ADMIN_PATH, RC_TOKEN_ADMIN_ARGS, RC_TOKEN_ADMIN_HELP, rc_token_admin_mint, 0,
	  RC_ADMIN_ANY },
};

int
rc_token_admin_register(struct rc_admin *a, const struct rc_config *cfg)
{
	return rc_admin_register_table(a, rows, sizeof(rows) / sizeof(rows[0]), (void *)cfg, NULL);
}
