/* SPDX-License-Identifier: MIT */
/*
 * rcha: the HA traffic checker.
 *
 *   rcha run --server IP[:PORT] [--server IP[:PORT]] [--port P] --users N --room-prefix R
 *            --rooms K [--rooms-per-user M] --rate POSTS_PER_S --duration S
 *            (--secret FILE | --tokens FILE) --out DIR [--user-prefix U] [--drain S]
 *            [--window W] [--pause-ms MS] [--give-up S] [--bind-ip IP]...
 *            [--user NAME]... [--room NAME]...
 *   rcha verify --out DIR (--conninfo STR | --psql "PSQL COMMAND PREFIX")
 *
 * run: users U0..U{N-1}, each one rcclient (its own UDP socket) on server i % (number of
 * --server), log in once, join rooms R{(i + j) % K} (j < M) and post "user:cmid" bodies at
 * --rate until --duration, then wait up to --drain seconds for the outstanding ACKs. It
 * records to DIR (see rcha.h) and prints a summary; exit 0 iff no POST is left unacked or
 * failed and no client had to log in again, 1 otherwise, 2 on usage.
 * verify: every acknowledged (room, cmid, user) is exactly the row (room, seq) of messages,
 * no (room, cmid, sender) twice, seqs 1..max per room; prints lost_acked, duplicates, gaps,
 * relogins; exit 1 if any is non-zero.
 *
 * Tokens: --secret FILE mints them (with the tokens key derived from that auth secret, key
 * id 1, as rcload does); --tokens FILE gives one "user token" per line.
 * Single-threaded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "rcha.h"
#include <openssl/crypto.h>

#include "token.h"

#define SECRET_MAX (1u << 20)

static int
token_from_file(const char *path, const char *user, char *tok, size_t cap)
{
	char line[512], u[256], t[256];
	FILE *f = fopen(path, "r");
	int rc = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%255s %255s", u, t) == 2 && strcmp(u, user) == 0) {
			rc = snprintf(tok, cap, "%s", t) < (int)cap ? 0 : -ENOSPC;
			break;
		}
	fclose(f);
	return rc;
}

int
rh_token(const struct rh_opts *o, const char *user, char *tok, size_t cap)
{
	struct rc_key k;
	uint64_t expiry;
	int rc;

	if (o->tokens_file)
		return token_from_file(o->tokens_file, user, tok, cap);
	expiry = (uint64_t)time(NULL) + o->duration_s + o->drain_s + 3600;
	rc = rc_key_derive(o->secret, o->secret_len, RC_KEY_TOKENS, 1, &k);
	if (rc == 0)
		rc = rc_token_mint(&k, user, strlen(user), (uint64_t)time(NULL) * 1000, expiry, tok,
				   cap);
	OPENSSL_cleanse(&k, sizeof(k));
	return rc < 0 ? rc : 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: rcha run --server IP[:PORT] [--server IP[:PORT]] [--port P] --users N\n"
		"                --room-prefix R --rooms K [--rooms-per-user M] --rate POSTS_PER_S\n"
		"                --duration S (--secret FILE | --tokens FILE) --out DIR\n"
		"                [--user-prefix U] [--drain S] [--window W] [--pause-ms MS]\n"
		"                [--give-up S] [--bind-ip IP]...\n"
		"                [--user NAME]... [--room NAME]...\n"
		"       rcha verify --out DIR (--conninfo STR | --psql \"PSQL COMMAND PREFIX\")\n"
		"run: users split round-robin over the servers; each logs in once, joins its rooms\n"
		"and posts \"user:cmid\"; ACKs, deliveries, pauses, RESUMEs go to DIR.\n"
		"verify: acknowledged messages against the database (lost, duplicates, gaps).\n");
}

static int
parse_num(const char *s, double min, double max, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return errno || end == s || *end || *out < min || *out > max ? -EINVAL : 0;
}

static int
parse_server(struct rh_opts *o, const char *arg)
{
	const char *colon = strchr(arg, ':');
	size_t n = colon ? (size_t)(colon - arg) : strlen(arg);
	struct in_addr a;
	double port = 0;

	if (o->nservers == RH_MAX_SERVERS || n == 0 || n >= sizeof(o->server_ip[0]))
		return -EINVAL;
	memcpy(o->server_ip[o->nservers], arg, n);
	o->server_ip[o->nservers][n] = '\0';
	if (inet_pton(AF_INET, o->server_ip[o->nservers], &a) != 1)
		return -EINVAL;
	if (colon && parse_num(colon + 1, 1, 65535, &port) < 0)
		return -EINVAL;
	o->server_port[o->nservers++] = (uint16_t)port;
	return 0;
}

static int
read_secret(struct rh_opts *o, const char *path)
{
	FILE *f = fopen(path, "rb");

	if (!f)
		return -errno;
	o->secret = malloc(SECRET_MAX);
	o->secret_len = o->secret ? fread(o->secret, 1, SECRET_MAX, f) : 0;
	fclose(f);
	return o->secret_len > 0 ? 0 : -EINVAL;
}

enum { O_SERVER = 256, O_PORT, O_USERS, O_UPREFIX, O_RPREFIX, O_ROOMS, O_RPU, O_RATE, O_DUR,
       O_DRAIN, O_WINDOW, O_PAUSE, O_GIVEUP, O_SECRET, O_TOKENS, O_BIND, O_OUT, O_CONNINFO,
       O_PSQL, O_USER, O_ROOM };

static const struct option long_opts[] = {
	{ "server", 1, NULL, O_SERVER },	 { "port", 1, NULL, O_PORT },
	{ "users", 1, NULL, O_USERS },		 { "user-prefix", 1, NULL, O_UPREFIX },
	{ "room-prefix", 1, NULL, O_RPREFIX },	 { "rooms", 1, NULL, O_ROOMS },
	{ "rooms-per-user", 1, NULL, O_RPU },	 { "rate", 1, NULL, O_RATE },
	{ "duration", 1, NULL, O_DUR },		 { "drain", 1, NULL, O_DRAIN },
	{ "window", 1, NULL, O_WINDOW },	 { "pause-ms", 1, NULL, O_PAUSE },
	{ "give-up", 1, NULL, O_GIVEUP },	 { "secret", 1, NULL, O_SECRET },
	{ "tokens", 1, NULL, O_TOKENS },	 { "bind-ip", 1, NULL, O_BIND },
	{ "out", 1, NULL, O_OUT },		 { "conninfo", 1, NULL, O_CONNINFO },
	{ "psql", 1, NULL, O_PSQL },		 { "help", 0, NULL, 'h' },
	{ "user", 1, NULL, O_USER },		 { "room", 1, NULL, O_ROOM },
	{ NULL, 0, NULL, 0 },
};

/* --user / --room: one more name; the count becomes --users / --rooms. */
static int
add_name(const char **list, unsigned *n, unsigned *count, const char *arg)
{
	if (*n == RH_MAX_NAMES || !*arg)
		return -EINVAL;
	list[(*n)++] = arg;
	*count = *n;
	return 0;
}

/* One option into o; -EINVAL names the problem on stderr. */
static int
parse_opt(struct rh_opts *o, int opt, const char *arg)
{
	double v;
	int rc = 0;

	switch (opt) {
	case O_SERVER:
		rc = parse_server(o, arg);
		break;
	case O_PORT:
		rc = parse_num(arg, 1, 65535, &v);
		o->port = (uint16_t)v;
		break;
	case O_USERS:
		rc = parse_num(arg, 1, 100000, &v);
		o->users = (unsigned)v;
		break;
	case O_ROOMS:
		rc = parse_num(arg, 1, 100000, &v);
		o->rooms = (unsigned)v;
		break;
	case O_RPU:
		rc = parse_num(arg, 1, 64, &v);
		o->rooms_per_user = (unsigned)v;
		break;
	case O_RATE:
		rc = parse_num(arg, 0.01, 10000, &o->rate);
		break;
	case O_DUR:
		rc = parse_num(arg, 1, 86400, &v);
		o->duration_s = (unsigned)v;
		break;
	case O_DRAIN:
		rc = parse_num(arg, 0, 3600, &v);
		o->drain_s = (unsigned)v;
		break;
	case O_WINDOW:
		rc = parse_num(arg, 1, 200, &v);
		o->window = (unsigned)v;
		break;
	case O_PAUSE:
		rc = parse_num(arg, 1, 600000, &v);
		o->pause_ms = (unsigned)v;
		break;
	case O_GIVEUP:
		rc = parse_num(arg, 1, 3600, &v);
		o->give_up_s = (unsigned)v;
		break;
	case O_SECRET:
		rc = read_secret(o, arg);
		break;
	case O_TOKENS:
		o->tokens_file = arg;
		break;
	case O_BIND:
		if (o->nbind == RH_MAX_BIND)
			rc = -EINVAL;
		else
			o->bind_ip[o->nbind++] = arg;
		break;
	case O_UPREFIX:
		o->user_prefix = arg;
		break;
	case O_RPREFIX:
		o->room_prefix = arg;
		break;
	case O_USER:
		rc = add_name(o->user_name, &o->nuser_names, &o->users, arg);
		break;
	case O_ROOM:
		rc = add_name(o->room_name, &o->nroom_names, &o->rooms, arg);
		break;
	case O_OUT:
		o->out = arg;
		break;
	case O_CONNINFO:
		o->conninfo = arg;
		break;
	case O_PSQL:
		o->psql = arg;
		break;
	default:
		rc = -EINVAL;
	}
	return rc;
}

static const char *
check_opts(const struct rh_opts *o, bool run)
{
	if (!o->out)
		return "--out DIR is required";
	if (!run)
		return o->conninfo || o->psql ? NULL : "--conninfo or --psql is required";
	if (o->nservers == 0)
		return "--server is required";
	if (!o->users || !o->rooms || (!o->room_prefix && !o->nroom_names) || o->rate <= 0 ||
	    !o->duration_s)
		return "--users (or --user), --room-prefix and --rooms (or --room), --rate and "
		       "--duration are required";
	if ((o->nuser_names && o->users != o->nuser_names) ||
	    (o->nroom_names && o->rooms != o->nroom_names))
		return "--users / --rooms do not match the number of --user / --room names";
	if (!o->secret && !o->tokens_file)
		return "--secret FILE or --tokens FILE is required";
	if (o->rooms_per_user > o->rooms)
		return "--rooms-per-user exceeds --rooms";
	return NULL;
}

int
main(int argc, char **argv)
{
	struct rh_opts o = { .user_prefix = "ha", .rooms_per_user = 1, .drain_s = 5,
			     .window = 16, .pause_ms = 100, .give_up_s = 60 };
	const char *why;
	bool run;
	int opt, rc;

	if (argc < 2 || (strcmp(argv[1], "run") != 0 && strcmp(argv[1], "verify") != 0)) {
		usage(argc >= 2 && strcmp(argv[1], "help") == 0 ? stdout : stderr);
		return argc >= 2 && strcmp(argv[1], "help") == 0 ? 0 : 2;
	}
	run = strcmp(argv[1], "run") == 0;
	optind = 2;
	while ((opt = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		if (opt == 'h') {
			usage(stdout);
			return 0;
		}
		if (opt == '?' || parse_opt(&o, opt, optarg) < 0) {
			fprintf(stderr, "rcha: bad option %s%s%s\n", argv[optind - 1],
				opt == '?' ? "" : " ", opt == '?' ? "" : optarg ? optarg : "");
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc || (why = check_opts(&o, run)) != NULL) {
		fprintf(stderr, "rcha: %s\n", optind < argc ? "unexpected argument" : why);
		usage(stderr);
		return 2;
	}
	rc = run ? rh_run(&o) : rh_verify(&o);
	free(o.secret);
	return rc;
}
