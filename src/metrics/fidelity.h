/* The fidelity verdict (fidelity.c): the figures of a run's link
 * emulation it is judged on, as the engine gathers them over its peers and
 * workers, and the judge.  Only core types here: the engine fills the
 * struct, the judge knows nothing of the engine.
 */
#ifndef CRYSTAL_METRICS_FIDELITY_H
#define CRYSTAL_METRICS_FIDELITY_H

#include "../core/common.h"

/* The judge's own thresholds: links' achieved rates, sending or
 * receiving, off by more than these (on average; on the worst link), and
 * more than this share of the releases later than the late limit. */
#define CR_FID_LATE_SHARE 0.01
#define CR_FID_RATE_ERR_MEAN 0.01
#define CR_FID_RATE_ERR_WORST 0.02
/* A node of a run spanning hosts whose time 0 may be off the
 * coordinator's by more than this (the uncertainty of its measured clock
 * offset) is degraded: the same 1 ms as a late release. */
#define CR_FID_CLOCK_NS (1 * CR_MS)

struct cr_fidelity {
	bool shaped;		/* anything emulated at all */
	int64_t late_limit_ns;	/* a release later than this is late */
	/* sending: stamped frames written, those later than the limit, p99 */
	uint64_t late_samples, late_over;
	int64_t late_p99_ns;
	/* receiving: reads resumed after a download bucket's wait */
	uint64_t rx_late_samples, rx_late_over;
	int64_t rx_late_p99_ns;
	/* |achieved/configured - 1| on average, and signed on the worst
	 * link (named), sending and receiving */
	double rate_err_mean, rate_err_worst;
	const char *rate_worst_link;
	double rx_rate_err_mean, rx_rate_err_worst;
	const char *rx_rate_worst_link;
	uint64_t udp_rx_overflow; /* datagrams a full socket buffer dropped */
	/* not judged, but a cause: the workers held off their cores by other
	 * work (wake-ups later than the limit, that lateness summed) and the
	 * share of their time they waited for a core (< 0: not known) */
	uint64_t held;
	int64_t held_ns;
	double cpu_wait_share;
	uint64_t late_held, rx_late_held; /* late ones due while held off */
	/* a run spanning hosts: this node's clock against the coordinator's
	 * (judged whether or not anything was shaped) */
	bool clock_judged;
	int64_t clock_offset_ns, clock_uncertainty_ns;
};

/* Judges f: true when the run is degraded, and why (len bytes, "" when
 * it is not) says how. */
bool cr_fidelity_verdict(const struct cr_fidelity *f, char *why, size_t len);

/* Of a run whose releases or downloads were late: whether other work held
 * the workers off their cores (when at least half the late ones were due
 * while it did), or their own load made them late (len bytes of `cause`;
 * "" for a run whose lateness was within the limit). */
void cr_fidelity_cause(const struct cr_fidelity *f, char *cause, size_t len);

#endif
