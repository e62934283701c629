/*
 * hashmem.c: huge pages for the scratch memory of a password hash (see
 * hashmem.h).
 */
#include <sys/mman.h>
#include <sys/syscall.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "hashmem.h"

typedef void *(*hashmem_mmap_fn)(void *, size_t, int, int, int, off_t);

/* The huge page size while this thread hashes; 0 otherwise. */
static _Thread_local size_t hashmem_huge;
/* Read once: the size, 1 when the kernel offers none, 0 not yet read. */
static size_t hashmem_pmd;
static hashmem_mmap_fn hashmem_next;
static size_t hashmem_placed;

/* The transparent huge page size, or 1 when the kernel has none. */
static size_t
hashmem_pmd_size(void)
{
	size_t size = __atomic_load_n(&hashmem_pmd, __ATOMIC_RELAXED);
	char text[32];
	ssize_t n;
	int fd;

	if (size != 0)
		return size;
	size = 1;
	fd = open("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size",
	    O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, text, sizeof(text) - 1);
		if (n > 0) {
			unsigned long long v;
			char *end;

			text[n] = '\0';
			v = strtoull(text, &end, 10);
			/* A power of two of at least 64 KiB. */
			if (v >= 65536 && v <= SIZE_MAX / 4 &&
			    (v & (v - 1)) == 0)
				size = (size_t)v;
		}
		close(fd);
	}
	__atomic_store_n(&hashmem_pmd, size, __ATOMIC_RELAXED);
	return size;
}

void
hashmem_begin(void)
{
	size_t size = hashmem_pmd_size();

	hashmem_huge = size > 1 ? size : 0;
}

void
hashmem_end(void)
{
	hashmem_huge = 0;
}

size_t
hashmem_count(void)
{
	return __atomic_load_n(&hashmem_placed, __ATOMIC_RELAXED);
}

/* The mmap this program would have called: the C library's (or a
 * sanitizer's in front of it), found after this definition. */
static void *
hashmem_mmap_next(void *addr, size_t len, int prot, int flags, int fd,
    off_t off)
{
	hashmem_mmap_fn fn = __atomic_load_n(&hashmem_next, __ATOMIC_RELAXED);

	if (fn == NULL) {
		fn = (hashmem_mmap_fn)dlsym(RTLD_NEXT, "mmap");
		if (fn == NULL)
			return (void *)syscall(SYS_mmap, addr, len, prot,
			    flags, fd, off);
		__atomic_store_n(&hashmem_next, fn, __ATOMIC_RELAXED);
	}
	return fn(addr, len, prot, flags, fd, off);
}

/*
 * Maps len bytes starting on a huge-page boundary: one huge page more
 * than asked, then the unaligned head and the rest of the tail unmapped,
 * so the caller's munmap(p, len) releases exactly what is left.
 */
static void *
hashmem_place(size_t len, int prot, int flags, size_t huge)
{
	uintptr_t base, start;
	size_t head, tail;
	void *p;

	if (len > SIZE_MAX - huge ||
	    (p = hashmem_mmap_next(NULL, len + huge, prot, flags, -1, 0)) ==
	    MAP_FAILED)
		return hashmem_mmap_next(NULL, len, prot, flags, -1, 0);
	base = (uintptr_t)p;
	start = (base + huge - 1) & ~(uintptr_t)(huge - 1);
	head = start - base;
	tail = huge - head;
	if (head > 0)
		(void)munmap(p, head);
	if (tail > 0)
		(void)munmap((void *)(start + len), tail);
	/* Without THP in the kernel this fails: the memory is as before. */
	(void)madvise((void *)start, len, MADV_HUGEPAGE);
	__atomic_add_fetch(&hashmem_placed, 1, __ATOMIC_RELAXED);
	return (void *)start;
}

void *
mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	size_t huge = hashmem_huge;

	if (huge != 0 && addr == NULL && fd == -1 && off == 0 &&
	    flags == (MAP_PRIVATE | MAP_ANONYMOUS) && len >= huge) {
		int saved = errno;
		void *p = hashmem_place(len, prot, flags, huge);

		if (p != MAP_FAILED)
			errno = saved;
		return p;
	}
	return hashmem_mmap_next(addr, len, prot, flags, fd, off);
}
