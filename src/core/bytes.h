/* Byte order: big-endian (network order) stores and loads of 16 and 32-bit
 * integers, for frame headers and the payloads of engine and stream
 * messages.
 */
#ifndef CRYSTAL_CORE_BYTES_H
#define CRYSTAL_CORE_BYTES_H

#include <stdint.h>

static inline void cr__put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static inline void cr__put32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

static inline uint16_t cr__get16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static inline uint32_t cr__get32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

#endif
