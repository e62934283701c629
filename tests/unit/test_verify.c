/*
 * test_verify.c: store_verify, store_backup and store_restore
 * (store/admin.h) against a real Berkeley DB environment: a store filled
 * through the store API passes; records damaged through the database
 * handles are each reported; a backup restores into a store that passes
 * and holds the same messages; log removal leaves log files alone while a
 * backup holds the lock.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <CUnit/CUnit.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/buf.h"
#include "../../store/admin.h"
#include "../../store/store.h"
#include "../../store/store_int.h"

extern int verify_suite_init(void);
extern int verify_suite_clean(void);
extern void test_verify_healthy(void);
extern void test_verify_damage(void);
extern void test_verify_backup_restore(void);
extern void test_verify_prune_waits_for_backup(void);

static char verify_tmp[] = "/tmp/refimapd-test-verify-XXXXXX";
static unsigned verify_dirs;

int verify_suite_init(void)
{
	return mkdtemp(verify_tmp) == NULL ? -1 : 0;
}

static int
vt_rm(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

int verify_suite_clean(void)
{
	return nftw(verify_tmp, vt_rm, 16, FTW_DEPTH | FTW_PHYS);
}

static void
vt_dir(char *path, size_t len)
{
	int n = snprintf(path, len, "%s/d%u", verify_tmp, verify_dirs++);

	CU_ASSERT_FATAL(n > 0 && (size_t)n < len);
}

static struct store *
vt_open(const char *dir, bool create)
{
	struct store_options opt = { .create = create, .nosync = true };
	struct store *st = NULL;
	const char *error;

	CU_ASSERT_EQUAL_FATAL(store_open(dir, &opt, &st, &error), STORE_OK);
	return st;
}

static uint32_t
vt_append(struct store *st, const char *box, size_t size, uint32_t flags)
{
	struct store_append *ap = NULL;
	uint8_t *p = malloc(size + 1);
	uint32_t uid = 0, uidv = 0;
	size_t i;

	CU_ASSERT_FATAL(p != NULL);
	for (i = 0; i < size; i++)
		p[i] = (uint8_t)('a' + i % 26);
	if (size >= 2)
		memcpy(p + size - 2, "\r\n", 2);
	CU_ASSERT_EQUAL_FATAL(store_append_begin(st, size, &ap), STORE_OK);
	CU_ASSERT_EQUAL_FATAL(store_append_data(ap, p, size), STORE_OK);
	CU_ASSERT_EQUAL_FATAL(store_append_commit(ap, "u", box, 0, flags, 0,
	    1700000000, 0, &uid, &uidv), STORE_OK);
	store_append_free(&ap);
	free(p);
	return uid;
}

/* INBOX with 5 messages (one of three chunks), 2 copied to Work, one
 * expunged. */
static void
vt_fill(struct store *st)
{
	uint32_t uids[2] = { 1, 2 }, del = 4, first = 0, uidv = 0;
	size_t copied = 0;

	CU_ASSERT_EQUAL_FATAL(store_user_init(st, "u"), STORE_OK);
	CU_ASSERT_EQUAL_FATAL(store_mbox_create(st, "u", "Work", 0, NULL),
	    STORE_OK);
	vt_append(st, "INBOX", 300, STORE_FLAG_SEEN);
	vt_append(st, "INBOX", 150000, 0);
	vt_append(st, "INBOX", 10, 0);
	vt_append(st, "INBOX", 2000, 0);
	vt_append(st, "INBOX", 0, 0);
	CU_ASSERT_EQUAL_FATAL(store_msg_copy(st, "u", "INBOX", 0, uids, 2,
	    "Work", &uidv, &first, &copied), STORE_OK);
	CU_ASSERT_EQUAL_FATAL(store_msg_set_flags(st, "u", "INBOX", 0, &del,
	    1, STORE_FLAGS_ADD, STORE_FLAG_DELETED, 0, 0, NULL, NULL),
	    STORE_OK);
	CU_ASSERT_EQUAL_FATAL(store_msg_expunge(st, "u", "INBOX", 0, NULL, 0,
	    NULL, NULL), STORE_OK);
}

struct vt_report {
	struct buf text;
};

static void
vt_cb(void *ctx, const char *problem)
{
	struct vt_report *r = ctx;

	CU_ASSERT(buf_adds(&r->text, problem) == 0);
	CU_ASSERT(buf_adds(&r->text, "\n") == 0);
}

/* Runs store_verify; the report (caller frees) and the stats. */
static void
vt_verify(struct store *st, struct vt_report *r,
    struct store_verify_stats *stats)
{
	buf_init(&r->text, 1 << 20);
	CU_ASSERT_EQUAL_FATAL(store_verify(st, vt_cb, r, stats), STORE_OK);
}

static void
vt_expect(struct vt_report *r, const char *what)
{
	const char *text = buf_cstr(&r->text);

	if (strstr(text, what) == NULL) {
		fprintf(stderr, "\nexpected \"%s\" in:\n%s\n", what, text);
		CU_FAIL("problem not reported");
	}
}

void test_verify_healthy(void)
{
	struct store_verify_stats stats;
	struct vt_report r;
	char dir[256];
	struct store *st;

	vt_dir(dir, sizeof(dir));
	st = vt_open(dir, true);
	vt_fill(st);
	vt_verify(st, &r, &stats);
	if (stats.problems != 0)
		fprintf(stderr, "\n%s\n", buf_cstr(&r.text));
	CU_ASSERT_EQUAL(stats.problems, 0);
	CU_ASSERT_EQUAL(stats.mailboxes, 2);
	CU_ASSERT_EQUAL(stats.messages, 6);
	CU_ASSERT_EQUAL(stats.bodies, 3);	/* the empty one has no chunk */
	CU_ASSERT(stats.structure_checked);
	buf_free(&r.text);
	store_close(&st);
}

static void
vt_put(struct store *st, DB *db, const void *k, size_t kn, const void *v,
    size_t vn)
{
	DBT kd, vd;

	memset(&kd, 0, sizeof(kd));
	memset(&vd, 0, sizeof(vd));
	kd.data = (void *)(uintptr_t)k;
	kd.size = (u_int32_t)kn;
	vd.data = (void *)(uintptr_t)v;
	vd.size = (u_int32_t)vn;
	CU_ASSERT_EQUAL(db->put(db, NULL, &kd, &vd, DB_AUTO_COMMIT), 0);
}

static void
vt_del(DB *db, const void *k, size_t kn)
{
	DBT kd;

	memset(&kd, 0, sizeof(kd));
	kd.data = (void *)(uintptr_t)k;
	kd.size = (u_int32_t)kn;
	CU_ASSERT_EQUAL(db->del(db, NULL, &kd, DB_AUTO_COMMIT), 0);
}

void test_verify_damage(void)
{
	struct store_verify_stats stats;
	struct store_mbox mb;
	struct store_msg m;
	struct vt_report r;
	uint8_t k[16], v[64];
	char dir[256];
	struct store *st;

	vt_dir(dir, sizeof(dir));
	st = vt_open(dir, true);
	vt_fill(st);
	CU_ASSERT_EQUAL_FATAL(store_mbox_get(st, "u", "INBOX", &mb),
	    STORE_OK);
	CU_ASSERT_EQUAL_FATAL(store_msg_get(st, "u", "INBOX", 0, 2, &m),
	    STORE_OK);
	/* The middle chunk of the three-chunk body. */
	store_be_put64(k, m.body_id);
	store_be_put32(k + 8, 1);
	vt_del(st->bodies, k, 12);
	/* A reference count off by one. */
	store_be_put32(v, 3);
	vt_put(st, st->body_refs, k, 8, v, 4);
	/* An orphan chunk and counter below it. */
	store_be_put64(k, 777777);
	store_be_put32(k + 8, 0);
	vt_put(st, st->bodies, k, 12, "xyz", 3);
	/* A by_modseq entry without its message. */
	store_be_put32(k, mb.id);
	store_be_put64(k + 4, 999);
	store_be_put32(v, 55);
	vt_put(st, st->by_modseq, k, 12, v, 4);
	/* A message of a mailbox that does not exist. */
	store_be_put32(k, 4242);
	store_be_put32(k + 4, 1);
	memset(v, 0, 46);
	v[0] = 1;
	vt_put(st, st->messages, k, 8, v, 46);
	/* UIDNEXT below a UID: rewrite INBOX's record (version 2). */
	{
		uint8_t rec[41];
		const char key[] = "u\0INBOX";

		memset(rec, 0, sizeof(rec));
		rec[0] = 2;
		store_be_put32(rec + 1, mb.id);
		store_be_put32(rec + 5, mb.uidvalidity);
		store_be_put32(rec + 9, 2);
		store_be_put64(rec + 13, mb.highestmodseq);
		store_be_put32(rec + 21, mb.messages);
		store_be_put32(rec + 25, mb.unseen);
		store_be_put32(rec + 29, mb.recent);
		store_be_put32(rec + 37, 1);
		vt_put(st, st->mailboxes, key, sizeof(key) - 1, rec,
		    sizeof(rec));
	}
	vt_verify(st, &r, &stats);
	vt_expect(&r, "a chunk is missing");
	vt_expect(&r, "the chunks hold 84464 bytes, the message's size is "
	    "150000");
	vt_expect(&r, "reference count 3, but 2 message(s) use it");
	vt_expect(&r, "body 777777 (1 chunk(s)) is an orphan");
	vt_expect(&r, "counter body_id is");
	vt_expect(&r, "MODSEQ 999 -> UID 55 matches no message");
	vt_expect(&r, "message UID 1 belongs to mailbox id 4242, which does "
	    "not exist");
	vt_expect(&r, "mailbox u \"INBOX\" (id 1): UIDNEXT 2 is not above "
	    "UID 5");
	CU_ASSERT(stats.problems >= 8);
	buf_free(&r.text);
	store_close(&st);
}

static unsigned
vt_count_logs(const char *dbdir)
{
	struct dirent *de;
	unsigned n = 0;
	DIR *d = opendir(dbdir);

	CU_ASSERT_FATAL(d != NULL);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "log.", 4) == 0)
			n++;
	closedir(d);
	return n;
}

void test_verify_backup_restore(void)
{
	struct store_backup_info info;
	struct store_verify_stats stats;
	struct vt_report r;
	struct store_msg m;
	struct buf body = BUF_INITIALIZER(1 << 20);
	char dir[256], bdir[300], dir2[256], replaced[512];
	const char *why = NULL;
	struct store *st;
	struct stat sb;

	vt_dir(dir, sizeof(dir));
	st = vt_open(dir, true);
	vt_fill(st);
	snprintf(bdir, sizeof(bdir), "%s.backup", dir);
	CU_ASSERT_EQUAL_FATAL(store_backup(st, bdir, &info, &why), STORE_OK);
	CU_ASSERT_EQUAL(info.db_files, STORE_NDBS);
	CU_ASSERT(info.log_files >= 1);
	CU_ASSERT_EQUAL(info.first_log, 1);
	/* Written after the backup: not in it. */
	vt_append(st, "INBOX", 50, 0);
	/* The target must be new. */
	CU_ASSERT_EQUAL(store_backup(st, bdir, &info, &why),
	    STORE_ERR_EXISTS);
	store_close(&st);

	vt_dir(dir2, sizeof(dir2));
	CU_ASSERT_EQUAL_FATAL(store_restore(bdir, dir2, false, replaced,
	    sizeof(replaced), &why), STORE_OK);
	CU_ASSERT_STRING_EQUAL(replaced, "");
	/* Again: the store exists now. */
	CU_ASSERT_EQUAL(store_restore(bdir, dir2, false, replaced,
	    sizeof(replaced), &why), STORE_ERR_EXISTS);
	CU_ASSERT_EQUAL_FATAL(store_restore(bdir, dir2, true, replaced,
	    sizeof(replaced), &why), STORE_OK);
	CU_ASSERT(strstr(replaced, "/db.replaced.") != NULL);
	CU_ASSERT(stat(replaced, &sb) == 0 && S_ISDIR(sb.st_mode));

	st = vt_open(dir2, false);
	vt_verify(st, &r, &stats);
	if (stats.problems != 0)
		fprintf(stderr, "\n%s\n", buf_cstr(&r.text));
	CU_ASSERT_EQUAL(stats.problems, 0);
	CU_ASSERT_EQUAL(stats.messages, 6);
	buf_free(&r.text);
	CU_ASSERT_EQUAL(store_msg_get(st, "u", "INBOX", 0, 2, &m), STORE_OK);
	CU_ASSERT_EQUAL(m.size, 150000);
	CU_ASSERT_EQUAL(store_body_read(st, m.body_id, 0, 150000, &body),
	    STORE_OK);
	CU_ASSERT_EQUAL(body.len, 150000);
	CU_ASSERT(body.len == 150000 && body.data[65536] ==
	    (uint8_t)('a' + 65536 % 26));
	CU_ASSERT_EQUAL(store_msg_get(st, "u", "INBOX", 0, 6, &m),
	    STORE_ERR_NOTFOUND);
	buf_free(&body);
	/* The restored store takes writes. */
	CU_ASSERT_EQUAL(vt_append(st, "INBOX", 20, 0), 6);
	store_close(&st);
}

void test_verify_prune_waits_for_backup(void)
{
	char dir[256], dbdir[300], lock[300];
	struct store *st;
	unsigned held, i;
	int fd;

	vt_dir(dir, sizeof(dir));
	snprintf(dbdir, sizeof(dbdir), "%s/db", dir);
	snprintf(lock, sizeof(lock), "%s/%s", dir, STORE_BACKUP_LOCK);
	/* Small log files (from the first one on), so that a few writes
	 * fill several. */
	CU_ASSERT_FATAL(mkdir(dir, 0700) == 0 && mkdir(dbdir, 0700) == 0);
	{
		char conf[400];
		FILE *f;

		snprintf(conf, sizeof(conf), "%s/DB_CONFIG", dbdir);
		CU_ASSERT_FATAL((f = fopen(conf, "w")) != NULL);
		fputs("set_lg_max 65536\n", f);
		fclose(f);
	}
	st = vt_open(dir, true);
	CU_ASSERT_EQUAL_FATAL(store_user_init(st, "u"), STORE_OK);
	for (i = 0; i < 40; i++)
		vt_append(st, "INBOX", 20000, 0);
	CU_ASSERT(vt_count_logs(dbdir) >= 2);
	fd = open(lock, O_RDONLY | O_CREAT, 0644);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(flock(fd, LOCK_SH), 0);
	CU_ASSERT_EQUAL(store_checkpoint(st), STORE_OK);
	CU_ASSERT_EQUAL(st->env->txn_checkpoint(st->env, 0, 0, DB_FORCE), 0);
	held = vt_count_logs(dbdir);
	store_log_prune(st);
	CU_ASSERT_EQUAL(vt_count_logs(dbdir), held);
	close(fd);
	store_log_prune(st);
	CU_ASSERT(vt_count_logs(dbdir) < held);
	store_close(&st);
}
