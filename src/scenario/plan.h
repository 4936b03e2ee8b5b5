/* From an experiment file (and its events and topology files) to a node
 * configuration: the peers of every class with their links and lives, the
 * sessions' sources, the tracker, the algorithm's parameters.
 */
#ifndef CRYSTAL_PLAN_H
#define CRYSTAL_PLAN_H

#include "../engine/node.h"
#include "events.h"

struct cr_plan {
	struct cr_node_config cfg; /* points into the arrays below */
	struct cr_node_peer *peers;
	struct cr_node_event *events;
	cr_addr *boot;
	struct cr__source_cfg *sources;
	struct cr_node_param *params;
	struct cr_latency *matrix;
	size_t nevents_file; /* events read from the events file */
	/* Events after the duration are not run: how many, and the line
	 * and time of the earliest of them. */
	size_t events_skipped;
	unsigned skipped_line;
	int64_t skipped_ns;
	bool has_events;
	char idtext[512];
};

/* Builds the plan; the experiment must outlive it.  extra_params (-D on
 * the command line) override the file's [algorithm] keys.  Returns 0 or a
 * negative error with err saying what and where. */
int cr_plan_build(struct cr_plan *pl, const struct cr_experiment *e,
		  const cr_algorithm *algo,
		  const struct cr_node_param *extra_params, size_t nextra,
		  char *err, size_t errlen);
void cr_plan_free(struct cr_plan *pl);

#endif
