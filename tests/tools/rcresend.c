/* SPDX-License-Identifier: MIT */
/*
 * rcresend: one user's POST with a cmid of the caller's choosing, as a client that lost the
 * ACK would send it again (PROTOCOL.md 7.6). Logs in, joins the room, posts once, waits for
 * the ACK (the client library retransmits with the same cmid), prints "seq N" and exits 0;
 * an ERROR or no answer: the reason on stderr, exit 1. Usage errors exit 2.
 *
 *   rcresend --server IP[:PORT] --secret FILE --user U --room R --cmid C [--body TEXT]
 *            [--bind-ip IP] [--timeout-ms MS]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rcclient.h"
#include <openssl/crypto.h>

#include "token.h"

#define SECRET_MAX 4096

static int
usage(void)
{
	fprintf(stderr, "usage: rcresend --server IP[:PORT] --secret FILE --user U --room R "
			"--cmid C [--body TEXT] [--bind-ip IP] [--timeout-ms MS]\n");
	return 2;
}

static int
read_secret(const char *path, uint8_t *buf, size_t *len)
{
	FILE *f = fopen(path, "rb");

	if (f == NULL)
		return -errno;
	*len = fread(buf, 1, SECRET_MAX, f);
	fclose(f);
	return *len > 0 ? 0 : -EINVAL;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' }, { "secret", required_argument, NULL, 'k' },
		{ "user", required_argument, NULL, 'u' },   { "room", required_argument, NULL, 'r' },
		{ "cmid", required_argument, NULL, 'c' },   { "body", required_argument, NULL, 'b' },
		{ "bind-ip", required_argument, NULL, 'i' },
		{ "timeout-ms", required_argument, NULL, 't' }, { NULL, 0, NULL, 0 },
	};
	const char *server = NULL, *secret = NULL, *user = NULL, *room = NULL, *bind = NULL;
	const char *body = NULL;
	char ip[64], tok[1024], dflt[128], *colon, *end;
	unsigned long long cmid = 0, timeout_ms = 8000;
	uint8_t key[SECRET_MAX];
	size_t key_len = 0;
	struct rc_key tk;
	struct rc_client *c;
	uint16_t port = 6420;
	uint64_t seq = 0, last;
	uint32_t room_id;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 's': server = optarg; break;
		case 'k': secret = optarg; break;
		case 'u': user = optarg; break;
		case 'r': room = optarg; break;
		case 'b': body = optarg; break;
		case 'i': bind = optarg; break;
		case 'c':
			errno = 0;
			cmid = strtoull(optarg, &end, 0);
			if (errno != 0 || *end != '\0' || cmid == 0)
				return usage();
			break;
		case 't':
			timeout_ms = strtoull(optarg, &end, 0);
			if (*end != '\0' || timeout_ms == 0)
				return usage();
			break;
		default:
			return usage();
		}
	}
	if (server == NULL || secret == NULL || user == NULL || room == NULL || cmid == 0 ||
	    strlen(server) >= sizeof(ip))
		return usage();
	snprintf(ip, sizeof(ip), "%s", server);
	if ((colon = strchr(ip, ':')) != NULL) {
		*colon = '\0';
		port = (uint16_t)strtoul(colon + 1, NULL, 10);
	}
	if (read_secret(secret, key, &key_len) != 0) {
		fprintf(stderr, "rcresend: cannot read %s\n", secret);
		return 2;
	}
	rc = rc_key_derive(key, key_len, RC_KEY_TOKENS, 1, &tk);
	if (rc == 0)
		rc = rc_token_mint(&tk, user, strlen(user), (uint64_t)time(NULL) * 1000,
				   (uint64_t)time(NULL) + 3600, tok, sizeof(tok));
	OPENSSL_cleanse(&tk, sizeof(tk));
	if (rc < 0) {
		fprintf(stderr, "rcresend: cannot mint a token: %s\n", strerror(-rc));
		return 2;
	}
	if (body == NULL) {
		snprintf(dflt, sizeof(dflt), "%s:%llu", user, cmid);
		body = dflt;
	}
	c = rc_client_new(ip, port, bind);
	if (c == NULL) {
		fprintf(stderr, "rcresend: cannot open a socket: %s\n", strerror(errno));
		return 1;
	}
	rc_client_set_retry(c, 200, (unsigned)(timeout_ms / 200 + 1));
	rc = rc_client_login(c, user, tok);
	if (rc == 0)
		rc = rc_client_join(c, room, 0, &room_id, &last);
	if (rc == 0) {
		rc_client_set_next_cmid(c, cmid);
		rc = rc_client_post(c, room, body, strlen(body), &seq);
	}
	if (rc != 0) {
		const char *text = "";
		uint16_t code = rc_client_last_error(c, &text);

		fprintf(stderr, "rcresend: %s: %s (ERROR %u %s)\n", user, strerror(-rc), code,
			text != NULL ? text : "");
		rc_client_free(c);
		return 1;
	}
	printf("seq %" PRIu64 "\n", seq);
	rc_client_logout(c);
	rc_client_free(c);
	return 0;
}
