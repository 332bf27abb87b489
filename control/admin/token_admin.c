/* SPDX-License-Identifier: MIT */
/*
 * "token mint USER [--ttl SECONDS]": see token_admin.h. Signed with the signing key of the
 * tokens ring (keyring.h), at most auth.token_ttl_max_s. Bad arguments return -EINVAL with a
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

/* --ttl up to auth.token_ttl_max_s (a longer token would be refused at LOGIN). */
static int
parse_ttl(const char *s, uint64_t max, uint64_t *ttl, char *err, size_t errlen)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 || v < TTL_MIN || v > max) {
		snprintf(err, errlen, "--ttl: \"%s\" is not a number of seconds in %d..%llu "
			 "(auth.token_ttl_max_s)", s, TTL_MIN, (unsigned long long)max);
		return -EINVAL;
	}
	*ttl = v;
	return 0;
}

/* USER and --ttl in any order; --ttl=S accepted too. */
static int
parse_args(int argc, char **argv, uint64_t max, const char **user, uint64_t *ttl, char *err,
	   size_t errlen)
{
	*user = NULL;
	for (int i = 0; i < argc; i++) {
		int rc = 0;

		if (strcmp(argv[i], "--ttl") == 0) {
			if (++i == argc) {
				snprintf(err, errlen, "--ttl needs a value");
				return -EINVAL;
			}
			rc = parse_ttl(argv[i], max, ttl, err, errlen);
		} else if (strncmp(argv[i], "--ttl=", 6) == 0) {
			rc = parse_ttl(argv[i] + 6, max, ttl, err, errlen);
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
	const struct rc_key *k = rc_keyring_signer(&cfg->keys[RC_KEY_TOKENS]);
	uint64_t ttl = cfg->token_ttl_s, expiry, issued_ms;
	struct timespec ts;
	const char *user;
	json_t *juser;
	int rc = parse_args(argc, argv, cfg->token_ttl_max_s, &user, &ttl, err, errlen);

	if (rc < 0)
		return rc;
	juser = json_string(user); /* NULL unless UTF-8, as LOGIN requires */
	if (juser == NULL) {
		snprintf(err, errlen, "bad user name: not UTF-8");
		return -EINVAL;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	issued_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	expiry = (uint64_t)ts.tv_sec + ttl;
	rc = rc_token_mint(k, user, strlen(user), issued_ms, expiry, token, sizeof(token));
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
	json_object_set_new(result, "key_id", json_integer(k->id));
	json_object_set_new(result, "issued_ms", json_integer((json_int_t)issued_ms));
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
