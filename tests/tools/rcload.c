/* SPDX-License-Identifier: MIT */
/*
 * rcload: integration checker and load generator for a roomcast node.
 *
 *   rcload --server IP[:PORT] --secret FILE --users N --room ROOM --posts M [--prefix P]
 *          [--resend-every K] [--bind-ip IP]... [--timeout SEC] [--bundle]
 *          [--bundle-size K] [--window W] [--pad BYTES] [--rto MS] [--seed S] [--json]
 *   rcload --server ... --secret FILE --room ROOM --verify-history COUNT [--users N
 *          --posts M] [--prefix P]
 *   rcload --server ... --secret FILE --malformed N [--room ROOM] [--seed S]
 *
 * Users are P0..P{N-1}; their tokens are minted here with the tokens key derived from the
 * secret file (key id 1).
 * Output: "rcload: FAIL: reason" per failed check, then one summary line "rcload: k=v ..."
 * and one "rcload: info k=v ..." line (with --json: one JSON object on stdout instead,
 * the text lines on stderr). Exit 0 iff every check passed, 1 if one failed, 2 on usage.
 *
 * Single-threaded.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "rcload.h"
#include <openssl/crypto.h>

#include "token.h"

#define SECRET_MAX (1u << 20)

void
rl_fail(struct rl_report *r, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	if (r->nfail >= RL_MAX_REASONS) {
		r->nfail++;
		return;
	}
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	r->reason[r->nfail++] = s;
}

void
rl_field(struct rl_report *r, const char *key, uint64_t val)
{
	if (r->nfields < sizeof(r->field) / sizeof(r->field[0]))
		r->field[r->nfields++] = (typeof(r->field[0])){key, val};
}

void
rl_info(struct rl_report *r, const char *key, const char *fmt, ...)
{
	va_list ap;

	if (r->ninfo >= sizeof(r->info) / sizeof(r->info[0]))
		return;
	r->info[r->ninfo].key = key;
	va_start(ap, fmt);
	vsnprintf(r->info[r->ninfo].val, sizeof(r->info[0].val), fmt, ap);
	va_end(ap);
	r->ninfo++;
}

void
rl_stats_add(struct rc_client_stats *sum, const struct rc_client_stats *s)
{
	uint64_t *d = (uint64_t *)sum;
	const uint64_t *a = (const uint64_t *)s;

	_Static_assert(sizeof(*s) % sizeof(uint64_t) == 0, "stats are u64 only");
	for (size_t i = 0; i < sizeof(*s) / sizeof(uint64_t); i++)
		d[i] += a[i];
}

void
rl_info_stats(struct rl_report *r, const struct rc_client_stats *s)
{
	char codes[48] = "";
	size_t n = 0;

	rl_info(r, "retransmits", "%" PRIu64, s->retransmits);
	rl_info(r, "timeouts", "%" PRIu64, s->timeouts);
	rl_info(r, "late_acks", "%" PRIu64, s->late_acks);
	rl_info(r, "gaps_fetched", "%" PRIu64, s->gaps);
	rl_info(r, "gaps_filled", "%" PRIu64, s->gaps_filled);
	rl_info(r, "gap_skipped", "%" PRIu64, s->gap_skipped);
	rl_info(r, "reordered", "%" PRIu64, s->reordered);
	rl_info(r, "fetch_dups", "%" PRIu64, s->fetch_dups);
	rl_info(r, "relogins", "%" PRIu64, s->relogins);
	rl_info(r, "cookies", "%" PRIu64, s->cookies);
	rl_info(r, "decode_errors", "%" PRIu64, s->decode_errors);
	for (unsigned c = 0; c < RC_E_MAX && n < sizeof(codes) - 8; c++)
		if (s->errors[c])
			n += (size_t)snprintf(codes + n, sizeof(codes) - n, "%s%u:%" PRIu64,
					      n ? "," : "", c, s->errors[c]);
	rl_info(r, "error_replies", "%s", n ? codes : "none");
}

struct rc_client *
rl_client_new(const struct rl_opts *o, unsigned idx)
{
	const char *bind_ip = o->nbind ? o->bind_ip[idx % o->nbind] : NULL;
	struct rc_client *c = rc_client_new(o->server_ip, o->port, bind_ip);

	if (c)
		rc_client_set_retry(c, o->rto_ms, 10);
	return c;
}

int
rl_mint(const struct rl_opts *o, const char *user, char *tok, size_t cap)
{
	uint64_t expiry = (uint64_t)time(NULL) + o->timeout_s + 3600;
	struct rc_key k;
	int rc = rc_key_derive(o->secret, o->secret_len, RC_KEY_TOKENS, 1, &k);

	if (rc == 0)
		rc = rc_token_mint(&k, user, strlen(user), (uint64_t)time(NULL) * 1000, expiry, tok,
				   cap);
	OPENSSL_cleanse(&k, sizeof(k));

	return rc < 0 ? rc : 0;
}

static const char *
why(const struct rc_client *c, int rc)
{
	const char *text;
	uint16_t code = rc_client_last_error(c, &text);

	if (code != 0 && rc == -rc_client_errno(code))
		return rc_err_name(code);
	return strerror(-rc);
}

int
rl_login_join(const struct rl_opts *o, struct rc_client *c, const char *user, struct rl_report *r,
	      uint64_t *last_seq)
{
	char tok[RC_TOKEN_LEN_MAX];
	int rc = rl_mint(o, user, tok, sizeof(tok));

	if (rc < 0) {
		rl_fail(r, "cannot mint a token for %s: %s", user, strerror(-rc));
		return rc;
	}
	rc = rc_client_login(c, user, tok);
	if (rc < 0) {
		rl_fail(r, "login of %s failed: %s", user, why(c, rc));
		return rc;
	}
	rc = rc_client_join(c, o->room, 0, NULL, last_seq);
	if (rc < 0)
		rl_fail(r, "%s: join %s failed: %s", user, o->room, why(c, rc));
	return rc;
}

bool
rl_parse_body(const char *prefix, const char *body, unsigned *i, unsigned *j)
{
	size_t pl = strlen(prefix);
	unsigned long a, b;
	char *end;

	if (strncmp(body, prefix, pl) != 0 || body[pl] < '0' || body[pl] > '9')
		return false;
	a = strtoul(body + pl, &end, 10);
	if (end[0] != '-' || end[1] != 'm' || end[2] < '0' || end[2] > '9')
		return false;
	b = strtoul(end + 2, &end, 10);
	if (*end != '\0' && *end != ' ')
		return false;
	*i = (unsigned)a;
	*j = (unsigned)b;
	return a <= UINT32_MAX && b <= UINT32_MAX;
}

/* ---- report ---- */

static void
print_text(const struct rl_report *r, FILE *f)
{
	for (unsigned i = 0; i < r->nfail && i < RL_MAX_REASONS; i++)
		fprintf(f, "rcload: FAIL: %s\n", r->reason[i] ? r->reason[i] : "?");
	if (r->nfail > RL_MAX_REASONS)
		fprintf(f, "rcload: FAIL: ... and %u more\n", r->nfail - RL_MAX_REASONS);
	fprintf(f, "rcload:");
	if (strcmp(r->mode, "load") != 0)
		fprintf(f, " %s", r->mode);
	for (unsigned i = 0; i < r->nfields; i++)
		fprintf(f, " %s=%" PRIu64, r->field[i].key, r->field[i].val);
	fprintf(f, "\nrcload: info");
	for (unsigned i = 0; i < r->ninfo; i++)
		fprintf(f, " %s=%s", r->info[i].key, r->info[i].val);
	fprintf(f, "\nrcload: %s\n", r->nfail ? "FAILED" : "OK");
	fflush(f);
}

static void
print_json(const struct rl_report *r)
{
	json_t *o = json_object(), *fails = json_array(), *info = json_object();

	json_object_set_new(o, "mode", json_string(r->mode));
	json_object_set_new(o, "ok", json_boolean(r->nfail == 0));
	for (unsigned i = 0; i < r->nfields; i++)
		json_object_set_new(o, r->field[i].key, json_integer((json_int_t)r->field[i].val));
	for (unsigned i = 0; i < r->nfail && i < RL_MAX_REASONS; i++)
		json_array_append_new(fails, json_string(r->reason[i] ? r->reason[i] : "?"));
	for (unsigned i = 0; i < r->ninfo; i++)
		json_object_set_new(info, r->info[i].key, json_string(r->info[i].val));
	json_object_set_new(o, "failures", fails);
	json_object_set_new(o, "info", info);
	json_dumpf(o, stdout, JSON_COMPACT);
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(o);
}

/* ---- command line ---- */

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: rcload --server IP[:PORT] --secret FILE --users N --room ROOM --posts M\n"
		"              [--prefix P] [--resend-every K] [--bind-ip IP]... [--timeout SEC]\n"
		"              [--bundle] [--bundle-size K] [--window W] [--pad BYTES] [--rto MS]\n"
		"              [--seed S] [--json]\n"
		"       rcload --server ... --secret FILE --room ROOM --verify-history COUNT\n"
		"              [--users N --posts M] [--prefix P]\n"
		"       rcload --server ... --secret FILE --malformed N [--room ROOM] [--seed S]\n"
		"Default mode: users P0..P{N-1} join ROOM and post M messages each "
		"(\"P<i>-m<j>\"),\n"
		"round-robin; every K-th POST datagram is sent twice; all deliveries are checked.\n"
		"Exit 0 iff every check passed (1: a check failed, 2: usage).\n");
}

static int
parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno || end == s || *end || *out > max || s[0] == '-' ? -EINVAL : 0;
}

static int
parse_server(struct rl_opts *o, const char *arg)
{
	const char *colon = strchr(arg, ':');
	size_t n = colon ? (size_t)(colon - arg) : strlen(arg);
	unsigned long p = RC_DEFAULT_UDP_PORT;

	if (n == 0 || n >= sizeof(o->server_ip))
		return -EINVAL;
	memcpy(o->server_ip, arg, n);
	o->server_ip[n] = '\0';
	if (colon && (parse_uint(colon + 1, 65535, &p) < 0 || p == 0))
		return -EINVAL;
	o->port = (uint16_t)p;
	return 0;
}

static int
load_secret(struct rl_opts *o, const char *path)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		return -errno;
	o->secret = malloc(SECRET_MAX);
	n = o->secret ? fread(o->secret, 1, SECRET_MAX, f) : 0;
	fclose(f);
	if (n == 0 || n == SECRET_MAX)
		return -EINVAL;
	o->secret_len = n;
	return 0;
}

enum {
	OPT_SERVER = 256,
	OPT_SECRET,
	OPT_USERS,
	OPT_ROOM,
	OPT_POSTS,
	OPT_PREFIX,
	OPT_RESEND,
	OPT_BIND,
	OPT_TIMEOUT,
	OPT_VERIFY,
	OPT_MALFORMED,
	OPT_BUNDLE,
	OPT_BUNDLE_SIZE,
	OPT_WINDOW,
	OPT_PAD,
	OPT_RTO,
	OPT_SEED,
	OPT_JSON,
	OPT_HELP,
};

static const struct option long_opts[] = {
	{"server", required_argument, NULL, OPT_SERVER},
	{"secret", required_argument, NULL, OPT_SECRET},
	{"users", required_argument, NULL, OPT_USERS},
	{"room", required_argument, NULL, OPT_ROOM},
	{"posts", required_argument, NULL, OPT_POSTS},
	{"prefix", required_argument, NULL, OPT_PREFIX},
	{"resend-every", required_argument, NULL, OPT_RESEND},
	{"bind-ip", required_argument, NULL, OPT_BIND},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"verify-history", required_argument, NULL, OPT_VERIFY},
	{"malformed", required_argument, NULL, OPT_MALFORMED},
	{"bundle", no_argument, NULL, OPT_BUNDLE},
	{"bundle-size", required_argument, NULL, OPT_BUNDLE_SIZE},
	{"window", required_argument, NULL, OPT_WINDOW},
	{"pad", required_argument, NULL, OPT_PAD},
	{"rto", required_argument, NULL, OPT_RTO},
	{"seed", required_argument, NULL, OPT_SEED},
	{"json", no_argument, NULL, OPT_JSON},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

/* One option with a numeric argument; -EINVAL names it. */
static int
num_opt(int opt, const char *arg, struct rl_opts *o)
{
	unsigned long v;

	if (parse_uint(arg, opt == OPT_SEED ? ULONG_MAX : 100000000, &v) < 0)
		return -EINVAL;
	switch (opt) {
	case OPT_USERS:
		o->users = (unsigned)v;
		return v ? 0 : -EINVAL;
	case OPT_POSTS:
		o->posts = (unsigned)v;
		return 0;
	case OPT_RESEND:
		o->resend_every = (unsigned)v;
		return 0;
	case OPT_TIMEOUT:
		o->timeout_s = (unsigned)v;
		return v ? 0 : -EINVAL;
	case OPT_VERIFY:
		o->verify_count = (long)v;
		return 0;
	case OPT_MALFORMED:
		o->malformed = (unsigned)v;
		return v ? 0 : -EINVAL;
	case OPT_BUNDLE_SIZE:
		o->bundle = (unsigned)v;
		return v && v <= 64 ? 0 : -EINVAL;
	case OPT_WINDOW:
		o->window = (unsigned)v;
		return v && v <= 200 ? 0 : -EINVAL;
	case OPT_PAD:
		o->pad = (unsigned)v;
		return v <= RC_MAX_BODY ? 0 : -EINVAL;
	case OPT_RTO:
		o->rto_ms = (unsigned)v;
		return v ? 0 : -EINVAL;
	case OPT_SEED:
		o->seed = v;
		return 0;
	default:
		return -EINVAL;
	}
}

/* What each mode needs. */
static int
check_mode(const struct rl_opts *o)
{
	if (o->malformed == 0 && !o->room) {
		fprintf(stderr, "rcload: --room is required\n");
		return -EINVAL;
	}
	if (o->malformed == 0 && o->verify_count < 0 && (o->users == 0 || o->posts == 0)) {
		fprintf(stderr, "rcload: --users N and --posts M (both > 0) are required\n");
		return -EINVAL;
	}
	return 0;
}

/* One option without a numeric argument: 0 or -errno; 1 if it is a numeric one. */
static int
str_opt(int opt, const char *arg, struct rl_opts *o, const char **secret)
{
	switch (opt) {
	case OPT_SERVER:
		return parse_server(o, arg);
	case OPT_SECRET:
		*secret = arg;
		return 0;
	case OPT_ROOM:
		o->room = arg;
		return 0;
	case OPT_PREFIX:
		o->prefix = arg;
		return *arg ? 0 : -EINVAL;
	case OPT_BUNDLE:
		o->bundle = o->bundle > 1 ? o->bundle : 8;
		return 0;
	case OPT_JSON:
		o->json = true;
		return 0;
	case OPT_BIND:
		if (o->nbind >= RL_MAX_BIND)
			return -E2BIG;
		o->bind_ip[o->nbind++] = arg;
		return 0;
	default:
		return 1;
	}
}

static int
parse_args(int argc, char **argv, struct rl_opts *o)
{
	const char *secret = NULL;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		if (opt == '?')
			return -EINVAL;
		if (opt == OPT_HELP) {
			usage(stdout);
			exit(0);
		}
		rc = str_opt(opt, optarg, o, &secret);
		if (rc == 1)
			rc = num_opt(opt, optarg, o);
		if (rc < 0) {
			fprintf(stderr, "rcload: bad value for --%s: %s\n",
				long_opts[opt - OPT_SERVER].name, optarg ? optarg : "");
			return rc;
		}
	}
	if (optind != argc || !o->server_ip[0] || !secret) {
		fprintf(stderr, "rcload: --server and --secret are required\n");
		return -EINVAL;
	}
	rc = check_mode(o);
	if (rc < 0)
		return rc;
	rc = load_secret(o, secret);
	if (rc < 0)
		fprintf(stderr, "rcload: secret file %s: %s\n", secret,
			rc == -EINVAL ? "empty or larger than 1 MiB" : strerror(-rc));
	return rc;
}

int
main(int argc, char **argv)
{
	struct rl_opts o = {
		.prefix = "u",
		.timeout_s = 30,
		.verify_count = -1,
		.bundle = 1,
		.window = 32,
		.rto_ms = 200,
	};
	struct rl_report r = {.mode = "load"};
	int rc;

	if (parse_args(argc, argv, &o) < 0) {
		usage(stderr);
		return 2;
	}
	if (o.seed == 0)
		o.seed = (uint64_t)time(NULL) ^ ((uint64_t)rc_mono_ms_precise() << 20);
	if (o.verify_count >= 0)
		rc = rl_run_history(&o, &r);
	else if (o.malformed > 0)
		rc = rl_run_malformed(&o, &r);
	else
		rc = rl_run_load(&o, &r);
	if (rc < 0 && r.nfail == 0)
		rl_fail(&r, "%s", strerror(-rc));
	if (o.json) {
		print_text(&r, stderr);
		print_json(&r);
	} else {
		print_text(&r, stdout);
	}
	for (unsigned i = 0; i < r.nfail && i < RL_MAX_REASONS; i++)
		free(r.reason[i]);
	free(o.secret);
	return r.nfail ? 1 : 0;
}
