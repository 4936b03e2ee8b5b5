/* Link emulation: a peer's access link, as an algorithm sees it.
 *
 * Every peer has an emulated home-broadband access link: upload, download
 * and total (upload + download) rate limits, limits per TCP connection, a
 * one-way access delay (the delay of a link is the sender's access delay
 * plus the receiver's, unless a latency matrix says otherwise), jitter, and
 * random loss for UDP.  They are set for all peers on the command line or
 * per peer class in the experiment file; an algorithm may read and change
 * its own peer's at run time.  Rates are in bytes per second, 0 meaning
 * unlimited; times in nanoseconds.
 */
#ifndef CRYSTAL_LINK_H
#define CRYSTAL_LINK_H

#include <stdint.h>

#include "addr.h"
#include "message.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cr_link_limits {
	uint64_t upload_Bps;
	uint64_t download_Bps;
	uint64_t total_Bps;	    /* upload and download together */
	uint64_t link_upload_Bps;   /* each TCP connection, sending */
	uint64_t link_download_Bps; /* each TCP connection, receiving */
	int64_t access_delay_ns;    /* one way, added to the remote's */
	int64_t jitter_ns;	    /* extra delay, uniform in [0, jitter] */
	double loss;		    /* UDP datagrams lost, 0..1 */
} cr_link_limits;

/* This peer's current limits. */
void cr_link_get(const cr_peer *p, cr_link_limits *out);

/* Replaces this peer's limits; connections already open take the new
 * per-connection limits too.  Returns 0 or -CR_EINVAL (negative delay,
 * loss outside 0..1). */
int cr_link_set(cr_peer *p, const cr_link_limits *l);

/* Limits of the one connection to `to` (0: unlimited).  Returns 0 or
 * -CR_ENOTCONN. */
int cr_link_set_connection(cr_peer *p, const cr_addr *to,
			   uint64_t upload_Bps, uint64_t download_Bps);

#ifdef __cplusplus
}
#endif
#endif
