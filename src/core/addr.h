/* Addresses of peers (cr_addr) to and from the socket API's.
 */
#ifndef CRYSTAL_CORE_ADDR_H
#define CRYSTAL_CORE_ADDR_H

#include "common.h"

#include <sys/socket.h>

int cr__sockaddr_from(const cr_addr *a, struct sockaddr_storage *ss,
		      socklen_t *len);
void cr__addr_from_sockaddr(cr_addr *a, const struct sockaddr *sa);
/* Whether a peer could bind a here, by a trial bind(): 0, or the errno
 * that says it never can (EADDRNOTAVAIL: no interface has the IP;
 * EAFNOSUPPORT: the host has no IPv6; EACCES: a port the process may not
 * bind).  Anything else is 0, a port in use too: that may pass, and the
 * run says so when it binds. */
int cr__addr_bindable(const cr_addr *a);

#endif
