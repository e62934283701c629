/*
 * test_hashmem.c: auth/hashmem.c, huge-page placement of the hash's
 * scratch memory: which mappings it takes (only private anonymous ones of
 * at least a huge page, only on the hashing thread, only between begin
 * and end), their boundaries as /proc/self/maps shows them, and that
 * libcrypt's own mapping during a real yescrypt hash is one of them.
 */
#include <sys/mman.h>

#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../auth/hashmem.h"
#include "../../auth/passwd.h"

/*
 * Prototypes for -Wmissing-prototypes. "extern" keeps gen_registry.sh,
 * which registers lines starting "void test_", from counting them twice.
 */
extern void test_hashmem_places_between_begin_and_end(void);
extern void test_hashmem_leaves_other_mappings(void);
extern void test_hashmem_other_thread_unchanged(void);
extern void test_hashmem_libcrypt_hash_is_placed(void);

#define HASHMEM_TEST_LEN	((size_t)16 << 20)

/* The kernel's transparent huge page size, 0 when it has none. */
static size_t
hashmem_test_pmd(void)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size",
	    "r");
	unsigned long long v = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%llu", &v) != 1)
		v = 0;
	fclose(f);
	return (size_t)v;
}

/*
 * The mapping of /proc/self/smaps that holds p: its bounds, and whether
 * its VmFlags carry "hg" (MADV_HUGEPAGE). 0, or -1 when none holds p.
 */
static int
hashmem_test_vma(const void *p, uintptr_t *start, uintptr_t *end, int *hg)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int found = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long a, b;

		if (sscanf(line, "%lx-%lx ", &a, &b) == 2 &&
		    strchr(line, ' ') > strchr(line, '-')) {
			if (found)
				break;
			if ((uintptr_t)p >= a && (uintptr_t)p < b) {
				*start = a;
				*end = b;
				*hg = 0;
				found = 1;
			}
		} else if (found && strncmp(line, "VmFlags:", 8) == 0) {
			*hg = strstr(line, " hg") != NULL;
		}
	}
	fclose(f);
	return found ? 0 : -1;
}

/*
 * Bytes in unnamed mappings (not files, not the heap or stack), read with
 * read(2) into static memory so that reading them maps nothing.
 */
static size_t
hashmem_test_anon_total(void)
{
	static char text[1 << 18];
	size_t n = 0, total = 0;
	ssize_t r;
	char *line, *nl;
	int fd = open("/proc/self/maps", O_RDONLY);

	CU_ASSERT_FATAL(fd >= 0);
	while (n < sizeof(text) - 1 &&
	    (r = read(fd, text + n, sizeof(text) - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	CU_ASSERT_FATAL(n < sizeof(text) - 1);
	text[n] = '\0';
	for (line = text; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		unsigned long a, b, inode;
		int name = -1;

		*nl = '\0';
		if (sscanf(line, "%lx-%lx %*s %*s %*s %lu %n", &a, &b, &inode,
		    &name) >= 3 && inode == 0 && (name < 0 || line[name] ==
		    '\0'))
			total += b - a;
	}
	return total;
}

void
test_hashmem_places_between_begin_and_end(void)
{
	size_t pmd = hashmem_test_pmd(), before = hashmem_count();
	size_t len = HASHMEM_TEST_LEN + 24576;	/* yescrypt's odd size */
	size_t anon = hashmem_test_anon_total();
	uintptr_t start, end;
	int hg;
	char *p;

	hashmem_begin();
	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	hashmem_end();
	CU_ASSERT_PTR_NOT_EQUAL_FATAL(p, MAP_FAILED);
	p[0] = 1;
	p[len - 1] = 2;
	CU_ASSERT_EQUAL(hashmem_test_vma(p, &start, &end, &hg), 0);
	if (pmd == 0) {
		/* No THP in this kernel: nothing is placed. */
		CU_ASSERT_EQUAL(hashmem_count(), before);
	} else {
		CU_ASSERT_EQUAL(hashmem_count(), before + 1);
		CU_ASSERT_EQUAL((uintptr_t)p % pmd, 0);
		/* Exactly the caller's length is left mapped: the extra head
		 * and tail are gone, and munmap(p, len) frees it all. */
		CU_ASSERT_EQUAL(start, (uintptr_t)p);
		CU_ASSERT_EQUAL(end, (uintptr_t)p + len);
		CU_ASSERT_EQUAL(hg, 1);
	}
	CU_ASSERT_EQUAL(hashmem_test_anon_total(), anon + len);
	CU_ASSERT_EQUAL(munmap(p, len), 0);
	/* Nothing of the extra huge page is left behind. */
	CU_ASSERT_EQUAL(hashmem_test_anon_total(), anon);
}

void
test_hashmem_leaves_other_mappings(void)
{
	size_t before = hashmem_count(), pmd = hashmem_test_pmd();
	uintptr_t start, end;
	char path[] = "/tmp/refimapd-hashmem-XXXXXX";
	int hg, fd;
	char *p;

	/* Outside begin/end: the C library's mmap, no advice. */
	p = mmap(NULL, HASHMEM_TEST_LEN, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_PTR_NOT_EQUAL_FATAL(p, MAP_FAILED);
	p[0] = 1;
	CU_ASSERT_EQUAL(hashmem_test_vma(p, &start, &end, &hg), 0);
	CU_ASSERT_EQUAL(hg, 0);
	CU_ASSERT_EQUAL(munmap(p, HASHMEM_TEST_LEN), 0);

	hashmem_begin();
	/* Smaller than a huge page. */
	p = mmap(NULL, pmd > 4096 ? pmd - 4096 : 65536,
	    PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_PTR_NOT_EQUAL(p, MAP_FAILED);
	if (p != MAP_FAILED)
		munmap(p, pmd > 4096 ? pmd - 4096 : 65536);
	/* Shared memory. */
	p = mmap(NULL, HASHMEM_TEST_LEN, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_PTR_NOT_EQUAL(p, MAP_FAILED);
	if (p != MAP_FAILED)
		munmap(p, HASHMEM_TEST_LEN);
	/* A file, and errors passed through as they are. */
	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(ftruncate(fd, (off_t)HASHMEM_TEST_LEN), 0);
	p = mmap(NULL, HASHMEM_TEST_LEN, PROT_READ, MAP_PRIVATE, fd, 0);
	CU_ASSERT_PTR_NOT_EQUAL(p, MAP_FAILED);
	if (p != MAP_FAILED)
		munmap(p, HASHMEM_TEST_LEN);
	errno = 0;
	p = mmap(NULL, HASHMEM_TEST_LEN, PROT_READ, MAP_PRIVATE, fd, 1);
	CU_ASSERT_PTR_EQUAL(p, MAP_FAILED);
	CU_ASSERT_EQUAL(errno, EINVAL);
	hashmem_end();
	close(fd);
	unlink(path);
	CU_ASSERT_EQUAL(hashmem_count(), before);
}

static void *
hashmem_test_thread(void *arg)
{
	void *p = mmap(NULL, HASHMEM_TEST_LEN, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)arg;
	if (p != MAP_FAILED)
		munmap(p, HASHMEM_TEST_LEN);
	return p;
}

void
test_hashmem_other_thread_unchanged(void)
{
	size_t before = hashmem_count();
	pthread_t t;
	void *res;

	/* The store opens on another thread while this one hashes. */
	hashmem_begin();
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, hashmem_test_thread,
	    NULL), 0);
	CU_ASSERT_EQUAL(pthread_join(t, &res), 0);
	hashmem_end();
	CU_ASSERT_PTR_NOT_EQUAL(res, MAP_FAILED);
	CU_ASSERT_EQUAL(hashmem_count(), before);
}

void
test_hashmem_libcrypt_hash_is_placed(void)
{
	size_t before = hashmem_count();
	char hash[PASSWD_HASH_MAX];

	/* yescrypt ($y$, the default) maps its scratch through mmap: the
	 * definition in the program must catch that call. */
	CU_ASSERT_EQUAL_FATAL(passwd_hash("secret", NULL, hash,
	    sizeof(hash)), PASSWD_OK);
	CU_ASSERT_EQUAL(strncmp(hash, "$y$", 3), 0);
	if (hashmem_test_pmd() != 0)
		CU_ASSERT_EQUAL(hashmem_count(), before + 1);
}
