/* SPDX-License-Identifier: MIT */
/*
 * The syncer (see mgmt.h): a thread that delivers the control thread's pushes to peers.
 *
 * One entry per (peer, path), holding the newest body. The thread picks the entry due
 * first, sends it with the lock released (the entry is marked in flight), and then:
 * 2xx -> done, the entry is freed; a permanent refusal -> dropped; otherwise the next
 * attempt waits retry_min_ms, doubling up to retry_max_ms. A body enqueued while its entry
 * is in flight waits in `next` and is sent right after the attempt, whatever its outcome.
 *
 *   enqueue ---> [entry: body, next] ---> thread: PUT ---> 2xx: free
 *                        ^                          \---> else: back off, retry
 *                        +-- newer body replaces the waiting one (superseded++)
 *
 * Threads: the lock guards the entries and the stats and is never held across a transfer;
 * the thread waits on a condition variable (CLOCK_MONOTONIC) for work or the next retry.
 */
#include "mgmt.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "clock.h"

#define PEER_MAX 24  /* "255.255.255.255:65535" */
#define PATH_MAX_LEN 128

struct entry {
	bool used, in_flight;
	char peer[PEER_MAX], path[PATH_MAX_LEN];
	char *body, *next; /* next: newer body that arrived during the attempt */
	size_t len, next_len;
	bool has_next;
	uint64_t due_ms;   /* monotonic */
	unsigned backoff_ms;
};

struct rc_syncer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop; /* also the cancel flag of the transfer in flight */
	uint8_t *secret;
	size_t secret_len;
	char node_id[RC_MGMT_NODE_MAX + 1];
	unsigned min_ms, max_ms, n_entries;
	struct entry *e;
	struct rc_syncer_stats st;
};

static bool
permanent(long status)
{
	return status == 400 || status == 404 || status == 405 || status == 413;
}

/* The entry due first (not in flight), or NULL; *wait_ms until it is due. */
static struct entry *
next_due(struct rc_syncer *s, uint64_t now, uint64_t *wait_ms)
{
	struct entry *best = NULL;
	unsigned i;

	for (i = 0; i < s->n_entries; i++) {
		struct entry *e = &s->e[i];

		if (e->used && !e->in_flight && (best == NULL || e->due_ms < best->due_ms))
			best = e;
	}
	*wait_ms = best == NULL ? UINT64_MAX : best->due_ms > now ? best->due_ms - now : 0;
	return best;
}

static void
entry_free(struct rc_syncer *s, struct entry *e)
{
	free(e->body);
	free(e->next);
	memset(e, 0, sizeof(*e));
	s->st.pending--;
}

/* After an attempt, with the lock held. */
static void
settle(struct rc_syncer *s, struct entry *e, int rc, long status)
{
	bool ok = rc == 0 && status >= 200 && status < 300;

	e->in_flight = false;
	if (ok)
		s->st.pushes_ok++;
	else
		s->st.pushes_failed++;
	if (rc == 0 && status == 401)
		s->st.auth_failures++;
	if (rc == 0 && permanent(status))
		s->st.pushes_dropped++;
	if (e->has_next) { /* a newer body: send it now */
		free(e->body);
		e->body = e->next;
		e->len = e->next_len;
		e->next = NULL;
		e->has_next = false;
		e->backoff_ms = 0;
		e->due_ms = 0;
		return;
	}
	if (ok || (rc == 0 && permanent(status))) {
		entry_free(s, e);
		return;
	}
	e->backoff_ms = e->backoff_ms == 0 ? s->min_ms : e->backoff_ms * 2;
	if (e->backoff_ms > s->max_ms)
		e->backoff_ms = s->max_ms;
	e->due_ms = rc_mono_ms_precise() + e->backoff_ms;
}

static void
wait_for(struct rc_syncer *s, uint64_t wait_ms)
{
	struct timespec ts;
	uint64_t ns;

	if (wait_ms == UINT64_MAX) {
		pthread_cond_wait(&s->cond, &s->lock);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ns = (uint64_t)ts.tv_nsec + wait_ms % 1000 * 1000000;
	ts.tv_sec += wait_ms / 1000 + ns / 1000000000;
	ts.tv_nsec = ns % 1000000000;
	pthread_cond_timedwait(&s->cond, &s->lock, &ts);
}

static void *
syncer_main(void *arg)
{
	struct rc_syncer *s = arg;
	uint8_t key[RC_KEY_MAX];
	struct rc_mgmt_cred cred = { key, 0, s->node_id, NULL };
	uint64_t wait_ms;
	struct entry *e;
	long status;
	int rc;

	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		e = next_due(s, rc_mono_ms_precise(), &wait_ms);
		if (e == NULL || wait_ms > 0) {
			wait_for(s, wait_ms);
			continue;
		}
		e->in_flight = true;
		/* a copy: rc_syncer_set_key may replace the key meanwhile */
		memcpy(key, s->secret, s->secret_len);
		cred.secret_len = s->secret_len;
		pthread_mutex_unlock(&s->lock);
		/* The entry's peer, path and body do not change while it is in flight. */
		status = 0;
		rc = rc_mgmt_push(&cred, e->peer, e->path, e->body, e->len, &status, &s->stop);
		pthread_mutex_lock(&s->lock);
		settle(s, e, rc, status);
	}
	pthread_mutex_unlock(&s->lock);
	OPENSSL_cleanse(key, sizeof(key));
	return NULL;
}

int
rc_syncer_set_key(struct rc_syncer *s, const uint8_t *key, size_t len)
{
	if (s == NULL || key == NULL || len == 0 || len > RC_KEY_MAX)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	memcpy(s->secret, key, len);
	s->secret_len = len;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* With the lock held: the entry of (peer, path), else a free one (used = false), or NULL. */
static struct entry *
find_entry(struct rc_syncer *s, const char *peer, const char *path)
{
	struct entry *free_e = NULL;
	unsigned i;

	for (i = 0; i < s->n_entries; i++) {
		struct entry *e = &s->e[i];

		if (e->used && strcmp(e->peer, peer) == 0 && strcmp(e->path, path) == 0)
			return e;
		if (!e->used && free_e == NULL)
			free_e = e;
	}
	return free_e;
}

/* With the lock held: store the copied body in e, replacing what waits. */
static void
store(struct rc_syncer *s, struct entry *e, const char *peer, const char *path, char *copy,
      size_t len)
{
	if (!e->used) {
		e->used = true;
		snprintf(e->peer, sizeof(e->peer), "%s", peer);
		snprintf(e->path, sizeof(e->path), "%s", path);
		s->st.pending++;
	} else if (e->in_flight) {
		if (e->has_next)
			s->st.superseded++;
		free(e->next);
		e->next = copy;
		e->next_len = len;
		e->has_next = true;
		return;
	} else {
		s->st.superseded++;
	}
	free(e->body);
	e->body = copy;
	e->len = len;
	e->backoff_ms = 0;
	e->due_ms = 0;
}

int
rc_syncer_enqueue(struct rc_syncer *s, const char *peer, const char *path, const void *body,
		  size_t len)
{
	uint32_t ip;
	uint16_t port;
	struct entry *e;
	char *copy;

	if (rc_mgmt_parse_addr(peer, &ip, &port) != 0 || port == 0 || strlen(peer) >= PEER_MAX ||
	    path == NULL || path[0] != '/' || strlen(path) >= PATH_MAX_LEN ||
	    (body == NULL && len != 0))
		return -EINVAL;
	if (len > RC_MGMT_BODY_MAX)
		return -EMSGSIZE;
	if ((copy = malloc(len + 1)) == NULL)
		return -ENOMEM;
	if (len != 0)
		memcpy(copy, body, len);
	copy[len] = '\0';
	pthread_mutex_lock(&s->lock);
	e = find_entry(s, peer, path);
	if (e == NULL) {
		pthread_mutex_unlock(&s->lock);
		free(copy);
		return -ENOBUFS;
	}
	store(s, e, peer, path, copy, len);
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void
rc_syncer_get_stats(struct rc_syncer *s, struct rc_syncer_stats *st)
{
	pthread_mutex_lock(&s->lock);
	*st = s->st;
	pthread_mutex_unlock(&s->lock);
}

#define SS(f) offsetof(struct rc_syncer_stats, f)

static const struct rc_metric_row syncer_rows[] = {
	{ "roomcast_mgmt_sync_pushes_total",
	  "Pushes of documents to the peer, by outcome (failed attempts are retried).",
	  RC_LABELS("result", "ok"), SS(pushes_ok) },
	{ "roomcast_mgmt_sync_pushes_total", NULL, RC_LABELS("result", "failed"),
	  SS(pushes_failed) },
	{ "roomcast_mgmt_sync_pushes_total", NULL, RC_LABELS("result", "dropped"),
	  SS(pushes_dropped) },
	{ "roomcast_mgmt_sync_auth_failures_total",
	  "Pushes the peer refused 401 (do the cluster secrets differ?).", NULL,
	  SS(auth_failures) },
	{ "roomcast_mgmt_sync_superseded_total",
	  "Waiting pushes replaced by a newer document before delivery.", NULL, SS(superseded) },
	{ "roomcast_mgmt_sync_pending", "Pushes waiting for delivery to the peer.", NULL,
	  SS(pending), RC_METRIC_GAUGE },
};

int
rc_syncer_write_metrics(struct rc_syncer *s, struct rc_metrics_buf *b)
{
	struct rc_syncer_stats st;

	rc_syncer_get_stats(s, &st);
	return rc_metric_rows(b, syncer_rows, sizeof(syncer_rows) / sizeof(syncer_rows[0]), &st);
}

static void
syncer_free(struct rc_syncer *s)
{
	unsigned i;

	for (i = 0; s->e != NULL && i < s->n_entries; i++) {
		free(s->e[i].body);
		free(s->e[i].next);
	}
	free(s->e);
	if (s->secret != NULL)
		OPENSSL_cleanse(s->secret, RC_KEY_MAX);
	free(s->secret);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

struct rc_syncer *
rc_syncer_start(const struct rc_syncer_conf *conf)
{
	const struct rc_mgmt_cred *c = &conf->cred;
	struct rc_syncer *s;
	pthread_condattr_t ca;
	sigset_t all, old;
	int rc;

	if (c->secret == NULL || c->secret_len == 0 || c->secret_len > RC_KEY_MAX ||
	    !rc_mgmt_node_id_ok(c->node_id)) {
		errno = EINVAL;
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	s->min_ms = conf->retry_min_ms != 0 ? conf->retry_min_ms : 200;
	s->max_ms = conf->retry_max_ms != 0 ? conf->retry_max_ms : 5000;
	s->n_entries = conf->max_entries != 0 ? conf->max_entries : 64;
	snprintf(s->node_id, sizeof(s->node_id), "%s", c->node_id);
	s->e = calloc(s->n_entries, sizeof(*s->e));
	s->secret = malloc(RC_KEY_MAX);
	if (s->e == NULL || s->secret == NULL) {
		syncer_free(s);
		errno = ENOMEM;
		return NULL;
	}
	memcpy(s->secret, c->secret, c->secret_len);
	s->secret_len = c->secret_len;
	/* The thread blocks every signal: they stay the main thread's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&s->thread, NULL, syncer_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		syncer_free(s);
		errno = rc;
		return NULL;
	}
	pthread_setname_np(s->thread, "rc-mgmt-sync");
	return s;
}

void
rc_syncer_stop(struct rc_syncer *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	__atomic_store_n(&s->stop, true, __ATOMIC_RELEASE);
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	syncer_free(s);
}
