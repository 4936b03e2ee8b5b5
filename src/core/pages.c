/* Large buffers mapped from the kernel, and returned whole when freed.
 *
 * For buffers that live as long as a peer and die with it, such as a
 * playback buffer: from malloc, glibc maps the first ones but then raises
 * its mmap threshold to the size of each mapped block freed, so once peers
 * begin to die every later buffer comes from the heap, where small blocks
 * allocated between them split the holes the dead leave, and a run with
 * churn grows by half again with as many peers alive (bench/README.md,
 * Soak).  Not for what is allocated and freed many times a second: a
 * mapping costs system calls, page faults and, freed, TLB shootdowns on
 * every core (message slabs stay with malloc for that reason).
 *
 * Under AddressSanitizer these come from calloc, so that a write past the
 * end is caught.
 */
#include "pages.h"

#include <stdlib.h>
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#define CR__PAGES_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CR__PAGES_MALLOC 1
#endif
#endif

#ifdef CR__PAGES_MALLOC
void *cr__pages_alloc(size_t size)
{
	return calloc(1, size ? size : 1);
}

void cr__pages_free(void *p, size_t size)
{
	(void)size;
	free(p);
}
#else
void *cr__pages_alloc(size_t size)
{
	void *p = mmap(NULL, size ? size : 1, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void cr__pages_free(void *p, size_t size)
{
	if (p)
		munmap(p, size ? size : 1);
}
#endif
