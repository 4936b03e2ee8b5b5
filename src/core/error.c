/* Error codes to sentences. */
#include "common.h"

static const char *const messages[CR__ECOUNT] = {
	[CR_OK] = "success",
	[CR_EINVAL] = "invalid argument",
	[CR_ENOMEM] = "out of memory",
	[CR_ENOTCONN] = "no connection to that peer",
	[CR_EMSGSIZE] = "message too large",
	[CR_ENOENT] = "no such entry",
	[CR_EIO] = "system call failed",
	[CR_EMFILE] = "descriptor table full",
	[CR_EADDRINUSE] = "address already in use",
	[CR_ESTATE] = "not possible in this state",
	[CR_EPROTO] = "protocol violation",
	[CR_EAGAIN] = "not now: try again later",
	[CR_ENOSPC] = "no room left",
	[CR_ECANCELED] = "cancelled",
	[CR_ETIMEDOUT] = "timed out",
};

const char *cr_strerror(int err)
{
	if (err < 0)
		err = -err;
	if (err >= CR__ECOUNT)
		return "unknown error";
	return messages[err];
}
