/* Histograms of nanosecond values (8 buckets per power of two), for
 * lateness and lag figures that workers merge.
 */
#ifndef CRYSTAL_CORE_HIST_H
#define CRYSTAL_CORE_HIST_H

#include "common.h"

#define CR__HIST_BUCKETS 496 /* 8 per power of two, up to 2^63 ns */

struct cr__hist {
	uint64_t count[CR__HIST_BUCKETS];
	uint64_t n;
	double sum;
	int64_t max;
};

void cr__hist_add(struct cr__hist *h, int64_t v);
void cr__hist_merge(struct cr__hist *into, const struct cr__hist *from);
/* Upper bound of the q-quantile (0..1), within 12.5%, never above max. */
int64_t cr__hist_quantile(const struct cr__hist *h, double q);
double cr__hist_mean(const struct cr__hist *h);
void cr__hist_reset(struct cr__hist *h);
/* What was added to `now` since it was `mark` (max: now's, a bound). */
void cr__hist_since(struct cr__hist *out, const struct cr__hist *now,
		    const struct cr__hist *mark);

#endif
