/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for cluster documents (control/cluster/cluster_json.c): the JSON state a node
 * accepts from a peer's push (cluster_node.c on_push) or reads from its state file.
 *
 * Input: the document's bytes, loaded as on_push loads them. Checked: a refusal says why; an
 * accepted state survives the trip out and back (to_json, dump, load, from_json gives the
 * same JSON), is not newer than itself, and the views the admin commands print from it can
 * be built.
 * Built as fuzz.h says (corpus: tests/fuzz/corpus/cluster/). Single-threaded.
 */
#include <jansson.h>
#include <string.h>

#include "cluster.h"
#include "fuzz.h"

static void
check_round_trip(const struct rc_cluster *c)
{
	static struct rc_cluster again;
	json_t *j = rc_cluster_to_json(c), *j2, *back;
	char err[512] = "", *text;

	CHECK(j != NULL);
	text = json_dumps(j, JSON_COMPACT);
	CHECK(text != NULL);
	back = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	CHECK(back != NULL);
	if (rc_cluster_from_json(back, &again, err, sizeof(err)) != 0) {
		fprintf(stderr, "re-read refused: %s\n%s\n", err, text);
		CHECK(!"an accepted state re-reads");
	}
	j2 = rc_cluster_to_json(&again);
	CHECK(j2 != NULL && json_equal(j, j2));
	free(text);
	json_decref(j);
	json_decref(j2);
	json_decref(back);
}

static void
check_views(const struct rc_cluster *c)
{
	json_t *v[] = { rc_cluster_describe_topology(c), rc_cluster_describe_chat(c),
			rc_cluster_describe_dbs(c), rc_cluster_describe_merges(c) };

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		json_decref(v[i]);
	for (unsigned i = 0; i < c->n_clusters; i++)
		for (unsigned g = 0; g < c->clusters[i].n_groups; g++)
			json_decref(rc_cluster_describe_group(c, c->clusters[i].groups[g].name));
	for (unsigned i = 0; i < c->n_merges; i++)
		json_decref(rc_cluster_describe_merge(c, c->merges[i].id));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rc_cluster c;
	char err[512] = "";
	json_error_t je;
	json_t *j = json_loadb((const char *)data, size, 0, &je);
	int rc;

	if (j == NULL)
		return 0;
	rc = rc_cluster_from_json(j, &c, err, sizeof(err));
	if (rc != 0) {
		CHECK(rc < 0 && err[0] != '\0');
	} else {
		CHECK(!rc_cluster_newer(&c, &c));
		check_round_trip(&c);
		check_views(&c);
	}
	json_decref(j);
	return 0;
}
