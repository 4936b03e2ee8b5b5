/* The fidelity verdict: whether a run's link emulation kept up, judged
 * from what it delivered (docs/link-emulation.md#fidelity).
 *
 * A run is degraded when shaped releases left late (sending: frames
 * written after their release times; receiving: reading resumed after a
 * download bucket's wait), at p99, by more than the late limit, or when
 * links' achieved rates, sending or receiving, are off by more than
 * CR_FID_RATE_ERR_MEAN on average or CR_FID_RATE_ERR_WORST on the worst
 * link.  Timer lag is not judged: a late timer that releases nothing costs
 * the emulation nothing, and a late one that releases something shows in
 * the releases.  Waiting for a link (its rate, or a receiver that does not
 * read) is queueing, part of what is emulated, and not judged either.
 * Datagrams the kernel dropped because a peer's socket buffer was full
 * were lost by the machine, not by the emulation: any of them degrades.
 *
 * A node of a run spanning hosts is judged on its clock too, shaped or
 * not: its time 0 is the coordinator's corrected by the offset it
 * measured, which is known to within the uncertainty of that measure
 * (half the round trip of its best sample).  An offset itself costs
 * nothing once corrected; an uncertainty above CR_FID_CLOCK_NS means the
 * nodes' experiment times may differ by more than a late release may,
 * and the reason "clock" says so.
 */
#include "fidelity.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* More than the allowed share of `samples` were late. */
static bool late_over_share(uint64_t over, uint64_t samples)
{
	return (double)over > CR_FID_LATE_SHARE * (double)samples;
}

bool cr_fidelity_verdict(const struct cr_fidelity *f, char *why, size_t len)
{
	size_t left = len;
	bool degraded = false;

	why[0] = 0;
#define DEGRADED(...)                                                          \
	do {                                                                   \
		int k = snprintf(why, left, "%s", degraded ? "; " : "");       \
		why += k, left -= (size_t)k;                                   \
		k = snprintf(why, left, __VA_ARGS__);                          \
		if (k > 0 && (size_t)k < left)                                 \
			why += k, left -= (size_t)k;                           \
		degraded = true;                                               \
	} while (0)
	if (f->clock_judged && f->clock_uncertainty_ns > CR_FID_CLOCK_NS)
		DEGRADED("clock: offset %+.0f us from the coordinator's, known "
			 "to +-%.0f us > %lld us",
			 (double)f->clock_offset_ns / 1e3,
			 (double)f->clock_uncertainty_ns / 1e3,
			 (long long)(CR_FID_CLOCK_NS / CR_US));
	if (!f->shaped)
		return degraded; /* no link was emulated: none to judge */
	if (late_over_share(f->late_over, f->late_samples))
		DEGRADED("releases late by %.0f us at p99 > %lld us (%.2f%% "
			 "later than that)",
			 (double)f->late_p99_ns / 1e3,
			 (long long)(f->late_limit_ns / CR_US),
			 100.0 * (double)f->late_over / (double)f->late_samples);
	if (late_over_share(f->rx_late_over, f->rx_late_samples))
		DEGRADED("downloads resumed late by %.0f us at p99 > %lld us "
			 "(%.2f%% later than that)",
			 (double)f->rx_late_p99_ns / 1e3,
			 (long long)(f->late_limit_ns / CR_US),
			 100.0 * (double)f->rx_late_over /
				 (double)f->rx_late_samples);
	if (f->rate_err_mean > CR_FID_RATE_ERR_MEAN)
		DEGRADED("link rates off by %.2f%% on average > %.0f%%",
			 100 * f->rate_err_mean, 100 * CR_FID_RATE_ERR_MEAN);
	if (fabs(f->rate_err_worst) > CR_FID_RATE_ERR_WORST)
		DEGRADED("link %s off by %+.2f%% > %.0f%%", f->rate_worst_link,
			 100 * f->rate_err_worst, 100 * CR_FID_RATE_ERR_WORST);
	if (f->rx_rate_err_mean > CR_FID_RATE_ERR_MEAN)
		DEGRADED("download rates off by %.2f%% on average > %.0f%%",
			 100 * f->rx_rate_err_mean, 100 * CR_FID_RATE_ERR_MEAN);
	if (fabs(f->rx_rate_err_worst) > CR_FID_RATE_ERR_WORST)
		DEGRADED("download of link %s off by %+.2f%% > %.0f%%",
			 f->rx_rate_worst_link, 100 * f->rx_rate_err_worst,
			 100 * CR_FID_RATE_ERR_WORST);
	if (f->udp_rx_overflow)
		DEGRADED("%llu datagrams dropped by full socket buffers, "
			 "not by the emulation",
			 (unsigned long long)f->udp_rx_overflow);
#undef DEGRADED
	return degraded;
}

/* A release is late when its worker runs late: either it could not run
 * (another thread, the kernel's own work or the host of a virtual machine
 * had its core) or it was busy with other deadlines.  The first shows as
 * wake-ups that came past the time the worker meant to be up, which no
 * amount of the worker's own work explains; it is named the cause when
 * at least half the late releases and reads were due in such a stretch. */
void cr_fidelity_cause(const struct cr_fidelity *f, char *cause, size_t len)
{
	bool late = late_over_share(f->late_over, f->late_samples) ||
		    late_over_share(f->rx_late_over, f->rx_late_samples);
	uint64_t over = f->late_over + f->rx_late_over;
	double share = over ? (double)(f->late_held + f->rx_late_held) /
				      (double)over
			    : 0;
	char wait[96] = "";

	cause[0] = 0;
	if (!f->shaped || !late)
		return;
	if (f->cpu_wait_share >= 0)
		snprintf(wait, sizeof(wait),
			 "; they waited for a core %.2f%% of the time",
			 100 * f->cpu_wait_share);
	if (f->held && share >= 0.5)
		snprintf(cause, len,
			 "other work held the workers off their cores: %llu "
			 "wake-ups later than %lld us (%.0f ms in all), when "
			 "%.0f%% of the late releases and reads were due%s",
			 (unsigned long long)f->held,
			 (long long)(f->late_limit_ns / CR_US),
			 (double)f->held_ns / 1e6, 100 * share, wait);
	else if (f->held)
		snprintf(cause, len,
			 "mostly the workers' own load: %.0f%% of the late "
			 "releases and reads were due while other work held "
			 "them off their cores (%llu wake-ups later than %lld "
			 "us, %.0f ms in all)%s",
			 100 * share, (unsigned long long)f->held,
			 (long long)(f->late_limit_ns / CR_US),
			 (double)f->held_ns / 1e6, wait);
	else
		snprintf(cause, len,
			 "no wake-up was held off: the workers' own load "
			 "made them late%s",
			 wait);
}
