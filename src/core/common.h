/* Core definitions every module of Crystal shares: the public API's
 * types, and the few macros the internals use.
 */
#ifndef CRYSTAL_CORE_COMMON_H
#define CRYSTAL_CORE_COMMON_H

#include <crystal/crystal.h>
#include <crystal/link.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CR__UNUSED(x) (void)(x)
#define cr__container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#endif
