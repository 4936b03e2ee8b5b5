/* Values with units: see units.c. */
#ifndef CRYSTAL_CORE_UNITS_H
#define CRYSTAL_CORE_UNITS_H

#include <stddef.h>
#include <stdint.h>

#define CR_RATE_FORMS "a rate such as 50000, 50KB/s, 1.5MB/s, 400kbit/s or 2Mbit/s (1 KB = 1000 B)"
#define CR_TIME_FORMS "a time such as 10, 2.5s, 500ms, 250us or 1000ns"
#define CR_SIZE_FORMS "a size such as 1024, 1KB, 64KiB or 1MiB"

int cr_parse_rate(const char *text, uint64_t *Bps);
/* A bare number is multiplied by bare_unit_ns (CR_SEC for seconds). */
int cr_parse_time(const char *text, double bare_unit_ns, int64_t *ns);
int cr_parse_size(const char *text, uint64_t *bytes);
int cr_parse_uint(const char *text, uint64_t max, uint64_t *out);

/* Bps as text for people: "1.50 MB/s" (two decimals, 1 KB = 1000 B). */
void cr__human_rate(double Bps, char *buf, size_t len);

#endif
