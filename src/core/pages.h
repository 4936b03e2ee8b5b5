/* Large buffers mapped from the kernel: see pages.c. */
#ifndef CRYSTAL_CORE_PAGES_H
#define CRYSTAL_CORE_PAGES_H

#include <stddef.h>

/* `size` bytes of zeroed, private memory, or NULL. */
void *cr__pages_alloc(size_t size);
/* Gives back what cr__pages_alloc(size) returned (NULL: nothing). */
void cr__pages_free(void *p, size_t size);

#endif
