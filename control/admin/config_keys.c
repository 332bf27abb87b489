/* SPDX-License-Identifier: MIT */
/*
 * The keys section of the node configuration (keyring.h): per purpose, the key files listed
 * (keys.tokens, keys.ha, keys.cluster; the first signs) or, for a purpose not listed, a key
 * derived from auth.secret_file. The rules: key ids unique within a purpose, every file read
 * with the checks of every secret file (config_check.c), and no bytes shared by two
 * purposes, nor with a relay secret. Also the token lifetimes (auth.token_ttl_s within
 * auth.token_ttl_max_s).
 *
 * Threads: as config.c (one loader per call).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_load.h"

#define fail rc_config_fail
#define at   rc_config_at

/* A purpose not listed: its key derived from the auth secret, id 1 (ha: ha.key_id). */
static int
derive_ring(struct rc_config_loader *ld, enum rc_key_purpose p)
{
	struct rc_config *c = ld->c;
	struct rc_keyring *r = &c->keys[p];
	uint8_t id = p == RC_KEY_HA ? (uint8_t)c->ha.key_id : 1;
	char key[32];

	snprintf(key, sizeof(key), "keys.%s", rc_key_purpose_name(p));
	if (c->secret_len == 0)
		return fail(ld, at(ld, "keys"), key, "not listed, and no auth.secret_file to "
			    "derive it from");
	if (rc_key_derive(c->secret, c->secret_len, p, id, &r->k[0]) != 0)
		return fail(ld, at(ld, "auth.secret_file"), key, "cannot derive the key");
	r->n = 1;
	r->derived = true;
	return 0;
}

/* A listed purpose: each file read into the ring, ids unique. */
static int
read_ring(struct rc_config_loader *ld, enum rc_key_purpose p)
{
	struct rc_config *c = ld->c;
	struct rc_key_files *kf = &c->key_files[p];
	struct rc_keyring *r = &c->keys[p];
	char key[48];

	for (unsigned i = 0; i < kf->n; i++) {
		const config_setting_t *g = ld->key_set[p][i];
		struct rc_key *k = &r->k[i];
		int rc;

		snprintf(key, sizeof(key), "keys.%s[%u].id", rc_key_purpose_name(p), i);
		if (kf->f[i].id == 0 || kf->f[i].file[0] == '\0')
			return fail(ld, g, key, "every key needs an id and a file");
		if (rc_keyring_find(r, kf->f[i].id) != NULL)
			return fail(ld, config_setting_lookup((config_setting_t *)g, "id"), key,
				    "key id %u is listed twice", kf->f[i].id);
		snprintf(key, sizeof(key), "keys.%s[%u].file", rc_key_purpose_name(p), i);
		rc = rc_config_read_key(ld, config_setting_lookup((config_setting_t *)g, "file"),
					key, kf->f[i].file, sizeof(kf->f[i].file), k->key,
					sizeof(k->key), &k->len);
		if (rc < 0)
			return rc;
		k->id = (uint8_t)kf->f[i].id;
		r->n = i + 1;
	}
	return 0;
}

int
rc_config_check_keys(struct rc_config_loader *ld)
{
	struct rc_config *c = ld->c;
	int rc;

	if (c->token_ttl_s > c->token_ttl_max_s)
		return fail(ld, at(ld, "auth.token_ttl_s"), "auth.token_ttl_s",
			    "%u is more than auth.token_ttl_max_s (%u)", c->token_ttl_s,
			    c->token_ttl_max_s);
	for (unsigned p = 0; p < RC_KEY_PURPOSE_MAX; p++) {
		rc = c->key_files[p].n == 0 ? derive_ring(ld, p) : read_ring(ld, p);
		if (rc < 0)
			return rc;
	}
	for (unsigned p = 0; p < RC_KEY_PURPOSE_MAX; p++)
		for (unsigned q = p + 1; q < RC_KEY_PURPOSE_MAX; q++)
			if (rc_keyring_overlap(&c->keys[p], &c->keys[q]))
				return fail(ld, at(ld, "keys"), "keys",
					    "the %s and %s keys share a key: every purpose needs "
					    "keys of its own", rc_key_purpose_name(p),
					    rc_key_purpose_name(q));
	return 0;
}

/* s's bytes are a key of some purpose: its name, else NULL. */
static const char *
relay_clash(const struct rc_config *c, const struct rc_relay_secret *s)
{
	struct rc_keyring one = { .n = 1 };

	if (s->len == 0)
		return NULL;
	one.k[0].len = s->len;
	memcpy(one.k[0].key, s->key, s->len);
	for (unsigned p = 0; p < RC_KEY_PURPOSE_MAX; p++)
		if (rc_keyring_overlap(&one, &c->keys[p])) {
			rc_keyring_wipe(&one);
			return rc_key_purpose_name(p);
		}
	rc_keyring_wipe(&one);
	return NULL;
}

int
rc_config_check_keys_relay(struct rc_config_loader *ld)
{
	const struct rc_config *c = ld->c;
	const char *p = relay_clash(c, &c->relay.secret);

	if (p != NULL)
		return fail(ld, at(ld, "relay.secret_file"), "relay.secret_file",
			    "%s holds the %s key: the relay needs a secret of its own",
			    c->relay.secret.file, p);
	for (unsigned i = 0; i < c->relay.n_intercluster; i++) {
		p = relay_clash(c, &c->relay.intercluster[i].secret);
		if (p != NULL)
			return fail(ld, ld->ic_set[i], "relay.intercluster",
				    "%s holds the %s key: the relay needs a secret of its own",
				    c->relay.intercluster[i].secret.file, p);
	}
	return 0;
}

int
rc_config_load_keys(const char *path, struct rc_keyring rings[RC_KEY_PURPOSE_MAX], char *err,
		    size_t errlen)
{
	struct rc_config *c = malloc(sizeof(*c));
	int rc;

	if (c == NULL)
		return -ENOMEM;
	rc = rc_config_load(path, c, err, errlen);
	if (rc == 0)
		memcpy(rings, c->keys, sizeof(c->keys));
	explicit_bzero(c, sizeof(*c));
	free(c);
	return rc;
}
