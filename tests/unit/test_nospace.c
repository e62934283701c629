/*
 * test_nospace.c: the store when its file system cannot take more bytes.
 * An append that cannot write (here: a file size limit, RLIMIT_FSIZE,
 * with SIGXFSZ ignored, so writes fail with EFBIG) fails with
 * STORE_ERR_NOSPACE, which deliver turns into EX_TEMPFAIL, and leaves
 * nothing behind: no message, no spool file; the same append succeeds once
 * the limit is gone. The environment's region files have their blocks
 * allocated at open, so a full disk cannot SIGBUS a process that touches
 * a region page for the first time. The full-tmpfs case runs end to end
 * in tests/clients/test_postfix.py.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <CUnit/CUnit.h>
#include <dirent.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/xalloc.h"
#include "../../store/store.h"

/* Prototypes for -Wmissing-prototypes ("extern": see test_store.c). */
extern int nospace_suite_init(void);
extern int nospace_suite_clean(void);
extern void test_nospace_file_limit_append(void);
extern void test_nospace_regions_allocated(void);

#define NS_USER		"u"
#define NS_MSG_SIZE	(3u * 1024 * 1024)	/* spooled to a file */
#define NS_LIMIT	(256u * 1024)		/* RLIMIT_FSIZE in the child */

static char ns_tmp[] = "/tmp/refimapd-test-nospace-XXXXXX";
static unsigned ns_dirs;

int nospace_suite_init(void)
{
	return mkdtemp(ns_tmp) == NULL ? -1 : 0;
}

static int
ns_rm(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

int nospace_suite_clean(void)
{
	return nftw(ns_tmp, ns_rm, 16, FTW_DEPTH | FTW_PHYS);
}

static void
ns_new_dir(char *path, size_t len)
{
	int n = snprintf(path, len, "%s/d%u", ns_tmp, ns_dirs++);

	CU_ASSERT_FATAL(n > 0 && (size_t)n < len);
}

static enum store_err
ns_open(const char *dir, bool create, struct store **st_r)
{
	struct store_options opt = { .create = create, .nosync = true };
	const char *error;

	return store_open(dir, &opt, st_r, &error);
}

/* Appends NS_MSG_SIZE bytes to INBOX in 64 KiB pieces. */
static enum store_err
ns_append(struct store *st)
{
	static const char head[] = "Subject: big\r\n\r\n";
	struct store_append *ap = NULL;
	uint32_t uid, uidv;
	uint8_t *p = xmalloc(NS_MSG_SIZE);
	enum store_err e;
	size_t off;

	memset(p, 'x', NS_MSG_SIZE);
	memcpy(p, head, sizeof(head) - 1);
	e = store_append_begin(st, NS_MSG_SIZE, &ap);
	for (off = 0; e == STORE_OK && off < NS_MSG_SIZE; off += 65536)
		e = store_append_data(ap, p + off, 65536);
	if (e == STORE_OK)
		e = store_append_commit(ap, NS_USER, "INBOX", 0, 0, 0,
		    1700000000, 0, &uid, &uidv);
	store_append_free(&ap);
	free(p);
	return e;
}

static uint32_t
ns_messages(struct store *st)
{
	struct store_mbox mb;

	CU_ASSERT_EQUAL_FATAL(store_mbox_get(st, NS_USER, "INBOX", &mb),
	    STORE_OK);
	return mb.messages;
}

/* Entries of dir other than . and .. (0 when it does not exist). */
static unsigned
ns_entries(const char *dir)
{
	struct dirent *de;
	unsigned n = 0;
	DIR *d = opendir(dir);

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

void test_nospace_file_limit_append(void)
{
	char dir[512], tmp[600];
	struct store *st = NULL;
	struct store_mbox mb;
	int status;
	pid_t pid;

	ns_new_dir(dir, sizeof(dir));
	CU_ASSERT_EQUAL_FATAL(ns_open(dir, true, &st), STORE_OK);
	CU_ASSERT_EQUAL_FATAL(store_mbox_create(st, NS_USER, "INBOX", 0, &mb),
	    STORE_OK);
	store_close(&st);	/* nothing open across fork() */

	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = { NS_LIMIT, NS_LIMIT };
		enum store_err e;

		(void)signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0 ||
		    ns_open(dir, false, &st) != STORE_OK)
			_exit(100);
		e = ns_append(st);
		store_close(&st);
		_exit((int)e);
	}
	CU_ASSERT_EQUAL_FATAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT_FATAL(WIFEXITED(status));
	CU_ASSERT_EQUAL(WEXITSTATUS(status), STORE_ERR_NOSPACE);

	/* Nothing half-stored, no spool file; without the limit it fits. */
	CU_ASSERT_EQUAL_FATAL(ns_open(dir, false, &st), STORE_OK);
	CU_ASSERT_EQUAL(ns_messages(st), 0);
	CU_ASSERT_FATAL(snprintf(tmp, sizeof(tmp), "%s/tmp", dir) > 0);
	CU_ASSERT_EQUAL(ns_entries(tmp), 0);
	CU_ASSERT_EQUAL(ns_append(st), STORE_OK);
	CU_ASSERT_EQUAL(ns_messages(st), 1);
	CU_ASSERT_EQUAL(ns_entries(tmp), 0);
	store_close(&st);
}

void test_nospace_regions_allocated(void)
{
	char dir[512], db[600];
	struct store *st = NULL;
	struct dirent *de;
	unsigned regions = 0;
	DIR *d;

	/* The first open creates the regions, and grows them while it
	 * opens the databases; the next open finds them at full size. */
	ns_new_dir(dir, sizeof(dir));
	CU_ASSERT_EQUAL_FATAL(ns_open(dir, true, &st), STORE_OK);
	store_close(&st);
	CU_ASSERT_EQUAL_FATAL(ns_open(dir, false, &st), STORE_OK);
	CU_ASSERT_FATAL(snprintf(db, sizeof(db), "%s/db", dir) > 0);
	d = opendir(db);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	while ((de = readdir(d)) != NULL) {
		char path[1024];
		struct stat sb;

		if (strncmp(de->d_name, "__db.0", 6) != 0)
			continue;
		CU_ASSERT_FATAL(snprintf(path, sizeof(path), "%s/%s", db,
		    de->d_name) > 0);
		CU_ASSERT_EQUAL_FATAL(stat(path, &sb), 0);
		/* No holes: every byte has a block behind it. */
		CU_ASSERT((uint64_t)sb.st_blocks * 512 >= (uint64_t)sb.st_size);
		regions++;
	}
	closedir(d);
	CU_ASSERT(regions > 0);
	store_close(&st);
}
