/* Crystal error codes.
 *
 * Every call of the public API returns 0 (or a non-negative count) on
 * success and a negative CR_E* code on failure; nothing is reported through
 * errno.  cr_strerror() turns a code into a sentence for a person.
 */
#ifndef CRYSTAL_ERROR_H
#define CRYSTAL_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
	CR_OK = 0,
	CR_EINVAL = 1,	  /* an argument is out of range or malformed */
	CR_ENOMEM = 2,	  /* out of memory */
	CR_ENOTCONN = 3,  /* no connection to that peer */
	CR_EMSGSIZE = 4,  /* message larger than the transport or limit allows */
	CR_ENOENT = 5,	  /* no such algorithm, parameter, peer or file */
	CR_EIO = 6,	  /* a system call failed; see the log for which */
	CR_EMFILE = 7,	  /* the descriptor table is full */
	CR_EADDRINUSE = 8,/* a peer address is already bound by someone else */
	CR_ESTATE = 9,	  /* the call does not fit the object's state */
	CR_EPROTO = 10,	  /* a peer broke the wire protocol */
	CR_EAGAIN = 11,	  /* not now: a rate limit, or an answer pending */
	CR_ENOSPC = 12,	  /* a table of fixed size is full */
	CR_ECANCELED = 13, /* cancelled, or its peer's life ended first */
	CR_ETIMEDOUT = 14, /* the time to wait ran out */
	CR__ECOUNT
};

/* A static, human-readable description of a (negative or positive) code. */
const char *cr_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif
