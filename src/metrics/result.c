/* What is made of a node's result (result.h) once the engine has filled
 * it: the fidelity verdict on its figures, and distributions over peers.
 */
#include "fidelity.h"
#include "result.h"

#include <stdlib.h>
#include <string.h>

void cr_fidelity_judge(struct cr_node_result *r)
{
	const struct cr_fidelity f = {
		.shaped = r->shaped,
		.late_limit_ns = r->late_limit_ns,
		.late_samples = r->late_samples,
		.late_over = r->late_over,
		.late_p99_ns = r->late_p99_ns,
		.rx_late_samples = r->rx_late_samples,
		.rx_late_over = r->rx_late_over,
		.rx_late_p99_ns = r->rx_late_p99_ns,
		.rate_err_mean = r->rate_err_mean,
		.rate_err_worst = r->rate_err_worst,
		.rate_worst_link = r->rate_worst_link,
		.rx_rate_err_mean = r->rx_rate_err_mean,
		.rx_rate_err_worst = r->rx_rate_err_worst,
		.rx_rate_worst_link = r->rx_rate_worst_link,
		.udp_rx_overflow = r->udp_rx_overflow,
		.clock_judged = r->hosts != NULL,
		.clock_offset_ns = r->hosts ? r->hosts->clock_offset_ns : 0,
		.clock_uncertainty_ns =
			r->hosts ? r->hosts->clock_uncertainty_ns : 0,
		.held = r->held,
		.held_ns = r->held_ns,
		.cpu_wait_share = r->cpu_wait_share,
		.late_held = r->late_held,
		.rx_late_held = r->rx_late_held,
	};

	r->degraded = cr_fidelity_verdict(&f, r->degraded_reason,
					  sizeof(r->degraded_reason));
	cr_fidelity_cause(&f, r->degraded_cause, sizeof(r->degraded_cause));
	if (!r->degraded)
		r->degraded_cause[0] = 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

void cr_result_dist(double *v, size_t n, struct cr_node_dist *d)
{
	double sum = 0;

	memset(d, 0, sizeof(*d));
	d->n = n;
	if (!n)
		return;
	qsort(v, n, sizeof(*v), cmp_double);
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	d->mean = sum / (double)n;
	d->min = v[0];
	d->p5 = v[(size_t)(0.05 * (double)(n - 1) + 0.5)];
	d->p50 = v[(size_t)(0.50 * (double)(n - 1) + 0.5)];
	d->p95 = v[(size_t)(0.95 * (double)(n - 1) + 0.5)];
}
