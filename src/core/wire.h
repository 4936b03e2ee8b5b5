/* The wire format of a frame's header (docs/wire-format.md), shared by
 * message buffers (which encode it) and the network (which decodes it).
 */
#ifndef CRYSTAL_CORE_WIRE_H
#define CRYSTAL_CORE_WIRE_H

#include "common.h"

/* Every frame starts with this 40-byte header, in network byte order:
 *   0  magic     u16  0x4352 ("CR")
 *   2  version   u8   1
 *   3  type      u8   0..15 engine, 16..127 control, 128..255 data
 *   4  flags     u8
 *   5  family    u8   4 or 6: the source peer's address family
 *   6  session   u16
 *   8  length    u32  payload bytes
 *   12 src_port  u16  source peer's port
 *   14 exp_tag   u16  the experiment id's four 16-bit words XORed
 *   16 created   i64  creation time, experiment ns
 *   24 src_ip    16 bytes
 */
#define CR__HDR_SIZE 40
#define CR__MAGIC 0x4352
#define CR__VERSION 1

enum cr__type {
	CR__T_HELLO = 1,
	CR__T_GOODBYE = 2,
	CR__T_TRACKER_REGISTER = 3,
	CR__T_TRACKER_PEERS = 4,
	CR__T_TRACKER_REPORT = 5,
	CR__T_TRACKER_PROBE = 6,
	CR__T_TRACKER_QUERY = 7,
};

struct cr__hdr {
	uint8_t version;
	uint8_t type;
	uint8_t flags;
	uint8_t family;
	uint16_t magic;
	uint16_t session;
	uint32_t length;
	uint16_t src_port;
	uint16_t exp_tag;
	int64_t created_ns;
	uint8_t src_ip[16];
};

void cr__hdr_encode(uint8_t *out, const struct cr__hdr *h);
void cr__hdr_decode(const uint8_t *in, struct cr__hdr *h);
/* 0 when the header is acceptable; else -CR_EPROTO with a reason. */
int cr__hdr_check(const struct cr__hdr *h, uint32_t max_len,
		  const char **reason);
bool cr__type_known(uint8_t type);

/* Hello payload: experiment id (u64). */
#define CR__HELLO_LEN 8

#endif
