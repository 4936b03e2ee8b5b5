/* Time units.  All times in Crystal are signed 64-bit nanoseconds. */
#ifndef CRYSTAL_UNITS_H
#define CRYSTAL_UNITS_H

#define CR_NS 1LL
#define CR_US 1000LL
#define CR_MS 1000000LL
#define CR_SEC 1000000000LL

#endif
