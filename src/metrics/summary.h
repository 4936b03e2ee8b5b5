/* summary.json of a run (summary.c): its whole interface. */
#ifndef CRYSTAL_METRICS_SUMMARY_H
#define CRYSTAL_METRICS_SUMMARY_H

#include "result.h"

#include <stdbool.h>
#include <stddef.h>

struct cr_json;

struct cr__summary {
	const struct cr_node_result *r;	  /* what the node did */
	const char *experiment_file;	  /* NULL for a built-in experiment */
	const char *started_utc;	  /* "2025-01-31T12:00:00Z" */
	double cpu_s;			  /* CPU time of the experiment */
	size_t events_skipped;		  /* events after its end, not run */
	/* every link has the same access delay (the built-ins): the
	 * configured and achieved delays are reported */
	bool one_delay;
	int64_t access_delay_ns;
	/* writes the members of "parameters" */
	void (*params)(struct cr_json *j, const void *ctx);
	const void *params_ctx;
};

/* DIR/summary.json, whole or not at all; 0, or -1 said on stderr. */
int cr__summary_write(const char *dir, const struct cr__summary *s);

#endif
