/* Messages.
 *
 * A message is a fixed header (type, session, source peer, creation time)
 * and a payload.  It is reference counted: sending one message to many
 * peers queues one buffer, not copies.  A message belongs to the worker of
 * the peer that made or received it and must not be handed to another
 * thread.
 *
 * Types: 16..127 are control messages (delivered to the algorithm's
 * process callback), 128..255 are data messages (delivered to
 * process_data).  0..15 belong to the engine and never reach an algorithm.
 */
#ifndef CRYSTAL_MESSAGE_H
#define CRYSTAL_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cr_peer cr_peer;
typedef struct cr_msg cr_msg;

#define CR_MSG_CONTROL_MIN 16
#define CR_MSG_DATA_MIN 128

/* Creates a message of the given type, session and payload length, with a
 * reference held by the caller.  The source is the calling peer and the
 * creation time is now.  Returns NULL when type is below
 * CR_MSG_CONTROL_MIN (the engine's), when payload_len is above the node's
 * largest message (--max-message, an experiment file's max_message; 16 MiB
 * by default), or when out of memory. */
cr_msg *cr_msg_new(cr_peer *p, uint8_t type, uint16_t session,
		   size_t payload_len);

/* Reference counting.  A message handed to process or process_data is
 * borrowed: retain it to keep it past the callback. */
cr_msg *cr_msg_retain(cr_msg *m);
void cr_msg_release(cr_msg *m);

uint8_t cr_msg_type(const cr_msg *m);
uint16_t cr_msg_session(const cr_msg *m);
/* The peer that created the message (not the one that relayed it). */
const cr_addr *cr_msg_source(const cr_msg *m);
/* Experiment time (ns) at which the source created the message. */
int64_t cr_msg_created_ns(const cr_msg *m);

size_t cr_msg_len(const cr_msg *m);
const void *cr_msg_payload(const cr_msg *m);
/* Writable payload: only for a message the caller created and has not yet
 * sent; NULL otherwise (a sent or received message is shared). */
void *cr_msg_payload_mut(cr_msg *m);

#ifdef __cplusplus
}
#endif
#endif
