/* Log-linear histograms of non-negative nanosecond values: 8 sub-buckets
 * per power of two, so any quantile is known to within 12.5%, in a fixed
 * 4 KB with no allocation.  Used for timer lag and release lateness, the
 * numbers by which a run judges its own fidelity.
 */
#include "hist.h"

#include <math.h>
#include <string.h>

static int bucket_of(int64_t v)
{
	int e;

	if (v < 8)
		return v < 0 ? 0 : (int)v;
	e = 63 - __builtin_clzll((unsigned long long)v); /* v >= 8: e >= 3 */
	return (e - 2) * 8 + (int)((v >> (e - 3)) & 7);
}

/* The largest value that falls in bucket b. */
static int64_t bucket_top(int b)
{
	int e, sub;

	if (b < 8)
		return b;
	e = b / 8 + 2;
	sub = b % 8;
	if (e >= 62)
		return INT64_MAX;
	return ((int64_t)(8 + sub + 1) << (e - 3)) - 1;
}

void cr__hist_add(struct cr__hist *h, int64_t v)
{
	int b = bucket_of(v);

	if (b >= CR__HIST_BUCKETS)
		b = CR__HIST_BUCKETS - 1;
	h->count[b]++;
	h->n++;
	h->sum += v > 0 ? (double)v : 0;
	if (v > h->max)
		h->max = v;
}

void cr__hist_merge(struct cr__hist *into, const struct cr__hist *from)
{
	for (int b = 0; b < CR__HIST_BUCKETS; b++)
		into->count[b] += from->count[b];
	into->n += from->n;
	into->sum += from->sum;
	if (from->max > into->max)
		into->max = from->max;
}

int64_t cr__hist_quantile(const struct cr__hist *h, double q)
{
	uint64_t seen = 0, want;

	if (!h->n)
		return 0;
	/* nearest rank: the smallest value with at least q of the samples at
	 * or below it, so p99 of 100 samples is the 99th, not the worst */
	want = (uint64_t)ceil(q * (double)h->n);
	want = want ? want - 1 : 0;
	if (want >= h->n)
		want = h->n - 1;
	for (int b = 0; b < CR__HIST_BUCKETS; b++) {
		seen += h->count[b];
		if (seen > want) {
			int64_t top = bucket_top(b);
			return top < h->max ? top : h->max;
		}
	}
	return h->max;
}

double cr__hist_mean(const struct cr__hist *h)
{
	return h->n ? h->sum / (double)h->n : 0;
}

void cr__hist_reset(struct cr__hist *h)
{
	memset(h, 0, sizeof(*h));
}

void cr__hist_since(struct cr__hist *out, const struct cr__hist *now,
		    const struct cr__hist *mark)
{
	memset(out, 0, sizeof(*out));
	for (int b = 0; b < CR__HIST_BUCKETS; b++) {
		/* a reset since the mark leaves fewer: count what is there */
		uint64_t c = now->count[b] >= mark->count[b]
				     ? now->count[b] - mark->count[b]
				     : now->count[b];
		out->count[b] = c;
		out->n += c;
	}
	out->sum = now->sum >= mark->sum ? now->sum - mark->sum : now->sum;
	out->max = now->max;
}
