/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the admin command line (control/admin/admin_cmd.c): the request lines
 * roomcastctl (or anyone allowed on the admin socket) sends, {"argv": [...]}, decoded and
 * dispatched to the longest matching command path, with the built-in help and usage replies.
 *
 * The table has rows of every shape the daemon registers (one to three words, shared
 * prefixes, no/fixed/bounded/unlimited arguments, rows needing state); their handler checks
 * what the dispatcher promised it (the arity) and answers as the input's first byte says (0,
 * -EINVAL, -ENOENT, with or without a message). The rest of the input is split into lines
 * at '\n' as admin.c does, each one a request.
 *
 * Checked: every reply is an object with a boolean "ok", an "error" string when not ok, a
 * "usage" only with a usage error, and dumps to one line of JSON.
 * Built as fuzz.h says (corpus: tests/fuzz/corpus/admin/). Single-threaded.
 */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "admin.h"
#include "admin_cmd.h"
#include "fuzz.h"

static struct rc_admin_table table;
static uint8_t mode; /* the current input's first byte */

static RC_ADMIN_HANDLER(handler)
{
	const struct rc_admin_cmd *row = arg;
	static const int answers[] = { 0, -EINVAL, -ENOENT, 0 };
	int rc = answers[mode & 3];

	CHECK(argc >= row->min_args && argc <= row->max_args);
	for (int i = 0; i < argc; i++)
		CHECK(argv[i] != NULL && strlen(argv[i]) < (1u << 16));
	json_object_set_new(res, "argc", json_integer(argc));
	if (argc > 0)
		json_object_set_new(res, "first", json_string(argv[0]));
	rc_text_printf(t, "%d word(s)\n", argc);
	if (rc != 0 && (mode & 4))
		snprintf(err, errlen, "refused: %.40s", argc > 0 ? argv[0] : "");
	return rc;
}

static int
ready(void *ctx, char *err, size_t errlen)
{
	(void)ctx;
	if (mode & 8) {
		snprintf(err, errlen, "no cluster state here");
		return -ENOENT;
	}
	return 0;
}

static const struct rc_admin_cmd rows[] = {
	{ "status", "", "the node", handler, 0, 0, 0 },
	{ "room list", "", "rooms", handler, 0, 0, 0 },
	{ "room show", "ROOM", "one room", handler, 1, 1, 0 },
	{ "room members", "ROOM [MAX]", "members", handler, 1, 2, 0 },
	{ "ha", "", "HA summary", handler, 0, 0, 0 },
	{ "ha status", "[-v]", "HA state", handler, 0, 1, 0 },
	{ "cluster db add", "NAME HOST ...", "a database", handler, 2, RC_ADMIN_ANY,
	  RC_ADMIN_NEEDS_STATE },
	{ "cluster show", "[GROUP]", "the cluster", handler, 0, 1, RC_ADMIN_NEEDS_STATE },
	{ "log level", "LEVEL", "log level", handler, 1, 1, 0 },
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		CHECK(rc_admin_table_add(&table, &rows[i], (void *)&rows[i], ready) == 0);
	return 0;
}

static void
check_reply(json_t *r)
{
	json_t *ok, *error, *usage;
	char *line;

	CHECK(json_is_object(r));
	ok = json_object_get(r, "ok");
	error = json_object_get(r, "error");
	usage = json_object_get(r, "usage");
	CHECK(json_is_boolean(ok));
	CHECK(json_is_true(ok) == (error == NULL));
	CHECK(error == NULL || json_is_string(error));
	CHECK(usage == NULL || (json_is_string(usage) && json_is_false(ok)));
	line = json_dumps(r, JSON_COMPACT);
	CHECK(line != NULL && strchr(line, '\n') == NULL);
	free(line);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p, *end;

	if (size < 1)
		return 0;
	mode = data[0];
	p = (const char *)data + 1;
	end = (const char *)data + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);
		json_t *r = rc_admin_table_run(&table, p, len);

		check_reply(r);
		json_decref(r);
		p += len + 1;
	}
	return 0;
}
