/*
 * hashmem.h: huge pages for the scratch memory of a password hash.
 *
 * yescrypt, libcrypt's default method, maps fresh scratch memory for
 * every hash (16 MiB at the default cost) and releases it after. Faulted
 * in 4 KiB at a time, that memory costs about 4,100 page faults a hash,
 * and their page allocation and zeroing took 40% of the hash's CPU time.
 * Between hashmem_begin and hashmem_end, on the calling thread only, a
 * private anonymous mapping of at least one transparent huge page is
 * placed on a huge-page boundary and advised MADV_HUGEPAGE, so the kernel
 * fills it with a few 2 MiB pages instead.
 *
 * This works by defining mmap in the program, which the dynamic linker
 * then also binds libcrypt's calls to; every other mapping, and every
 * mapping made outside a begin/end pair, goes to the C library's mmap
 * unchanged. The hash, its cost and its result are the same; where the
 * kernel has no transparent huge pages, or the system setting is never,
 * nothing changes but the alignment.
 */
#ifndef REFIMAPD_HASHMEM_H
#define REFIMAPD_HASHMEM_H

#include <stddef.h>

void hashmem_begin(void);
void hashmem_end(void);

/* Mappings placed since the process started (for tests). */
size_t hashmem_count(void);

#endif
