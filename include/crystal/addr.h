/* Peer addresses.
 *
 * A peer is named by IP:port: its TCP listener and its UDP socket are both
 * bound there.  cr_addr is a small value type (compare with cr_addr_eq, copy
 * freely) that holds an IPv4 or IPv6 address in network byte order.
 */
#ifndef CRYSTAL_ADDR_H
#define CRYSTAL_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cr_addr {
	uint8_t family; /* 4 or 6 */
	uint8_t pad_;
	uint16_t port;	/* host byte order */
	uint8_t ip[16]; /* IPv4 uses the first 4 bytes, the rest are 0 */
} cr_addr;

/* Longest text form: "[ffff:...:ffff]:65535" and a NUL. */
#define CR_ADDR_STRLEN 48

/* Parses "1.2.3.4:5" or "[::1]:5".  Returns 0 or -CR_EINVAL. */
int cr_addr_parse(cr_addr *out, const char *text);

/* Writes the text form into buf (at least CR_ADDR_STRLEN bytes); returns buf. */
const char *cr_addr_format(const cr_addr *a, char *buf, size_t len);

bool cr_addr_eq(const cr_addr *a, const cr_addr *b);

/* A well-mixed hash, for hash tables keyed by address. */
uint64_t cr_addr_hash(const cr_addr *a);

#ifdef __cplusplus
}
#endif
#endif
