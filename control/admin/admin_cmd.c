/* SPDX-License-Identifier: MIT */
/*
 * The admin command table: see admin_cmd.h.
 *
 * A request's argv is matched against every command path word by word and the longest match
 * wins ("room show lobby" -> "room show" with argv ["lobby"]). Help works at every level:
 *   help                    every command
 *   help room | room help   the commands under "room"
 *   help room show          one command
 *   room show --help        one command (also "status help" for a command without args)
 * A handler gets copies of its words (it may modify them), a fresh result object and an
 * empty text, once its row's arity and precondition hold; it returns 0, -EINVAL (bad
 * arguments: the reply carries its usage) or another -errno with a message in err.
 *
 * Threads: the control thread only.
 */
#include "admin_cmd.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HELP_ARGS "[OBJECT [COMMAND]]"
#define HELP_HELP "list the commands (under OBJECT)"
#define ERR_MAX 512

struct rc_admin_entry {
	struct rc_admin_cmd cmd; /* path/args/help point to the copies below */
	void *ctx;
	rc_admin_ready_fn ready;
	char *path, *args, *help;
	char *words_buf; /* the path's words, NUL-separated */
	char *words[RC_ADMIN_MAX_WORDS];
	int n_words;
};

/* ---- registration ---- */

static void
entry_free(struct rc_admin_entry *e)
{
	free(e->path);
	free(e->args);
	free(e->help);
	free(e->words_buf);
}

/* The row's own consistency: a handler, an arity its usage agrees with, a precondition with
 * its check. */
static bool
row_ok(const struct rc_admin_cmd *cmd, rc_admin_ready_fn ready)
{
	bool has_args = cmd->args != NULL && cmd->args[0] != '\0';

	return cmd->path != NULL && cmd->fn != NULL && cmd->min_args <= cmd->max_args &&
	       has_args == (cmd->max_args > 0) &&
	       (ready != NULL || !(cmd->flags & RC_ADMIN_NEEDS_STATE));
}

/* Split path into words; rebuild it with single spaces. */
static int
entry_init(struct rc_admin_entry *e, const struct rc_admin_cmd *cmd, void *ctx,
	   rc_admin_ready_fn ready)
{
	char *save = NULL, *w;

	memset(e, 0, sizeof(*e));
	if (!row_ok(cmd, ready))
		return -EINVAL;
	e->words_buf = strdup(cmd->path);
	e->path = calloc(1, strlen(cmd->path) + 1);
	e->args = strdup(cmd->args ? cmd->args : "");
	e->help = strdup(cmd->help ? cmd->help : "");
	if (!e->words_buf || !e->path || !e->args || !e->help) {
		entry_free(e);
		return -ENOMEM;
	}
	for (w = strtok_r(e->words_buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (e->n_words == RC_ADMIN_MAX_WORDS || w[0] == '-') {
			entry_free(e);
			return -EINVAL;
		}
		if (e->n_words > 0)
			strcat(e->path, " ");
		strcat(e->path, w);
		e->words[e->n_words++] = w;
	}
	if (e->n_words == 0 || strcmp(e->words[0], "help") == 0) {
		entry_free(e);
		return e->n_words == 0 ? -EINVAL : -EEXIST;
	}
	e->cmd = *cmd;
	e->cmd.path = e->path;
	e->cmd.args = e->args;
	e->cmd.help = e->help;
	e->ctx = ctx;
	e->ready = ready;
	return 0;
}

int
rc_admin_table_add(struct rc_admin_table *t, const struct rc_admin_cmd *cmd, void *ctx,
		   rc_admin_ready_fn ready)
{
	struct rc_admin_entry e;
	size_t pos = 0;
	int rc = entry_init(&e, cmd, ctx, ready);

	if (rc < 0)
		return rc;
	while (pos < t->n && strcmp(t->cmds[pos].path, e.path) < 0)
		pos++;
	if (pos < t->n && strcmp(t->cmds[pos].path, e.path) == 0) {
		entry_free(&e);
		return -EEXIST;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		struct rc_admin_entry *c = realloc(t->cmds, cap * sizeof(*c));

		if (c == NULL) {
			entry_free(&e);
			return -ENOMEM;
		}
		t->cmds = c;
		t->cap = cap;
	}
	memmove(&t->cmds[pos + 1], &t->cmds[pos], (t->n - pos) * sizeof(*t->cmds));
	t->cmds[pos] = e;
	t->n++;
	return 0;
}

void
rc_admin_table_free(struct rc_admin_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		entry_free(&t->cmds[i]);
	free(t->cmds);
	memset(t, 0, sizeof(*t));
}

/* ---- matching ---- */

/* Are words[0..n) the first n words of e's path? */
static bool
has_prefix(const struct rc_admin_entry *e, int n, char **words)
{
	if (n > e->n_words)
		return false;
	for (int i = 0; i < n; i++)
		if (strcmp(e->words[i], words[i]) != 0)
			return false;
	return true;
}

static bool
any_has_prefix(const struct rc_admin_table *t, int n, char **words)
{
	for (size_t i = 0; i < t->n; i++)
		if (has_prefix(&t->cmds[i], n, words))
			return true;
	return false;
}

static struct rc_admin_entry *
longest_match(struct rc_admin_table *t, int argc, char **argv)
{
	struct rc_admin_entry *best = NULL;

	for (size_t i = 0; i < t->n; i++) {
		struct rc_admin_entry *e = &t->cmds[i];

		if (e->n_words <= argc && has_prefix(e, e->n_words, argv) &&
		    (best == NULL || e->n_words > best->n_words))
			best = e;
	}
	return best;
}

/* ---- replies ---- */

json_t *
rc_admin_reply_error(const char *msg, const char *usage)
{
	json_t *r = json_object();

	if (r == NULL)
		return NULL;
	json_object_set_new(r, "ok", json_false());
	json_object_set_new(r, "error", json_string(msg));
	if (usage != NULL)
		json_object_set_new(r, "usage", json_string(usage));
	return r;
}

static json_t *
reply_ok(json_t *result, const struct rc_text *text)
{
	json_t *r = json_object();

	if (r == NULL) {
		json_decref(result);
		return NULL;
	}
	json_object_set_new(r, "ok", json_true());
	json_object_set_new(r, "result", result);
	json_object_set_new(r, "text", json_string(text->buf ? text->buf : ""));
	return r;
}

/* "PATH ARGS" lines of the commands under words[0..n) (all when n == 0, help included). */
static char *
usage_of(const struct rc_admin_table *t, int n, char **words)
{
	struct rc_text u = { 0 };

	for (size_t i = 0; i < t->n; i++) {
		const struct rc_admin_entry *e = &t->cmds[i];

		if (has_prefix(e, n, words))
			rc_text_printf(&u, "%s%s%s\n", e->path, e->args[0] ? " " : "", e->args);
	}
	if (n == 0)
		rc_text_printf(&u, "help %s\n", HELP_ARGS);
	if (u.len > 0)
		u.buf[--u.len] = '\0'; /* no trailing newline */
	return u.buf ? u.buf : strdup("");
}

static void
help_line(json_t *list, struct rc_text *text, int width, const char *path, const char *args,
	  const char *help)
{
	json_t *c = json_object();
	char head[256];

	snprintf(head, sizeof(head), "%s%s%s", path, args[0] ? " " : "", args);
	rc_text_printf(text, "  %-*s  %s\n", width, head, help);
	json_object_set_new(c, "command", json_string(path));
	json_object_set_new(c, "args", json_string(args));
	json_object_set_new(c, "help", json_string(help));
	json_array_append_new(list, c);
}

static json_t *
reply_help(const struct rc_admin_table *t, int n, char **words)
{
	json_t *result = json_object(), *list = json_array();
	struct rc_text text = { 0 };
	int width = n == 0 ? (int)strlen("help " HELP_ARGS) : 0;
	json_t *r;

	for (size_t i = 0; i < t->n; i++) {
		const struct rc_admin_entry *e = &t->cmds[i];
		int w = strlen(e->path) + (e->args[0] ? 1 + strlen(e->args) : 0);

		if (has_prefix(e, n, words) && w > width)
			width = w < 40 ? w : 40;
	}
	rc_text_printf(&text, "Commands:\n");
	for (size_t i = 0; i < t->n; i++)
		if (has_prefix(&t->cmds[i], n, words))
			help_line(list, &text, width, t->cmds[i].path, t->cmds[i].args,
				  t->cmds[i].help);
	if (n == 0)
		help_line(list, &text, width, "help", HELP_ARGS, HELP_HELP);
	json_object_set_new(result, "commands", list);
	r = reply_ok(result, &text);
	free(text.buf);
	return r;
}

/* Join words with spaces, shortened to fit. */
static void
join_words(char *out, size_t cap, int argc, char **argv)
{
	size_t len = 0;

	out[0] = '\0';
	for (int i = 0; i < argc && len + 1 < cap; i++)
		len += snprintf(out + len, cap - len, "%s%s", i ? " " : "", argv[i]);
	if (len >= cap && cap > 4)
		strcpy(out + cap - 4, "...");
}

static json_t *
reply_unknown(const struct rc_admin_table *t, int argc, char **argv)
{
	char words[256], msg[ERR_MAX];
	int k = argc;
	char *usage;
	json_t *r;

	while (k > 0 && !any_has_prefix(t, k, argv))
		k--;
	usage = usage_of(t, k, argv);
	join_words(words, sizeof(words), argc, argv);
	if (argc == 0)
		snprintf(msg, sizeof(msg), "no command given");
	else
		snprintf(msg, sizeof(msg), "unknown command \"%s\"", words);
	r = rc_admin_reply_error(msg, usage);
	free(usage);
	return r;
}

static bool
is_help_word(const char *w, bool plain_ok)
{
	return strcmp(w, "--help") == 0 || strcmp(w, "-h") == 0 ||
	       (plain_ok && strcmp(w, "help") == 0);
}

/* The row's checks (its table's precondition, then the arity), then its handler. */
static int
call_entry(const struct rc_admin_entry *e, int argc, char **argv, json_t *result,
	   struct rc_text *text, char *err, size_t errlen)
{
	int ready = 0;

	if (e->cmd.flags & RC_ADMIN_NEEDS_STATE)
		ready = e->ready(e->ctx, err, errlen);
	if (argc < e->cmd.min_args || argc > e->cmd.max_args)
		return -EINVAL;
	if (ready != 0)
		return ready;
	return e->cmd.fn(e->ctx, argc, argv, result, text, err, errlen);
}

static json_t *
run_handler(struct rc_admin_table *t, struct rc_admin_entry *e, int argc, char **argv)
{
	json_t *result = json_object();
	struct rc_text text = { 0 };
	char err[ERR_MAX] = "";
	json_t *r;
	int rc;

	if (result == NULL)
		return NULL;
	rc = call_entry(e, argc, argv, result, &text, err, sizeof(err));
	if (rc >= 0) {
		r = reply_ok(result, &text);
	} else {
		char *usage = rc == -EINVAL ? usage_of(t, e->n_words, e->words) : NULL;

		json_decref(result);
		if (err[0] == '\0')
			snprintf(err, sizeof(err), "%s",
				 rc == -EINVAL ? "invalid arguments" : strerror(-rc));
		r = rc_admin_reply_error(err, usage);
		free(usage);
	}
	free(text.buf);
	return r;
}

json_t *
rc_admin_table_dispatch(struct rc_admin_table *t, int argc, char **argv)
{
	struct rc_admin_entry *e;

	if (argc > 0 && strcmp(argv[0], "help") == 0) {
		if (argc > 1 && !any_has_prefix(t, argc - 1, argv + 1))
			return reply_unknown(t, argc - 1, argv + 1);
		return reply_help(t, argc - 1, argv + 1);
	}
	e = longest_match(t, argc, argv);
	if (e != NULL) {
		int rest = argc - e->n_words;

		if (rest == 1 && is_help_word(argv[e->n_words], e->args[0] == '\0'))
			return reply_help(t, e->n_words, e->words);
		return run_handler(t, e, rest, argv + e->n_words);
	}
	if (argc > 1 && strcmp(argv[argc - 1], "help") == 0 && any_has_prefix(t, argc - 1, argv))
		return reply_help(t, argc - 1, argv);
	return reply_unknown(t, argc, argv);
}

/* Decode {"argv": [...]} into copies of the words. argc or -EINVAL with a message. */
static int
decode_request(const char *line, size_t len, char **argv, char *msg, size_t cap)
{
	json_error_t jerr;
	json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr), *words;
	int argc = 0;
	size_t i;
	json_t *w;

	words = req ? json_object_get(req, "argv") : NULL;
	if (req == NULL)
		snprintf(msg, cap, "bad request: %s", jerr.text);
	else if (!json_is_array(words) || json_array_size(words) > RC_ADMIN_MAX_ARGS)
		snprintf(msg, cap, "bad request: expected {\"argv\": [at most %d strings]}",
			 RC_ADMIN_MAX_ARGS);
	else
		json_array_foreach(words, i, w) {
			if (!json_is_string(w)) {
				snprintf(msg, cap, "bad request: argv[%zu] is not a string", i);
				break;
			}
			argv[argc++] = strdup(json_string_value(w));
		}
	json_decref(req);
	if (msg[0] == '\0')
		return argc;
	while (argc > 0)
		free(argv[--argc]);
	return -EINVAL;
}

json_t *
rc_admin_table_run(struct rc_admin_table *t, const char *line, size_t len)
{
	char *argv[RC_ADMIN_MAX_ARGS + 1] = { 0 };
	char msg[ERR_MAX] = "";
	int argc = decode_request(line, len, argv, msg, sizeof(msg));
	json_t *r;

	if (argc < 0)
		return rc_admin_reply_error(msg, NULL);
	for (int i = 0; i < argc; i++)
		if (argv[i] == NULL) {
			r = rc_admin_reply_error("out of memory", NULL);
			goto out_free;
		}
	r = rc_admin_table_dispatch(t, argc, argv);
out_free:
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	return r;
}
