/*
 * test_store_fault.c: store_fault_uidvalidity (store/fault.c) against a
 * real Berkeley DB environment: a new, larger UIDVALIDITY, UIDs from 1 in
 * the old order, flags, keywords and bodies kept, counters and the change
 * log consistent, the old mailbox id gone.
 */
#include <sys/stat.h>

#include <CUnit/CUnit.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/buf.h"
#include "../../store/fault.h"
#include "../../store/store.h"

#define FU	"fu"

static int
fault_rm(const char *path, const struct stat *sb, int type, struct FTW *f)
{
	(void)sb;
	(void)type;
	(void)f;
	return remove(path);
}

static uint32_t
fault_append(struct store *st, const char *text, uint32_t flags,
    uint64_t keywords)
{
	struct store_append *ap = NULL;
	uint32_t uid = 0, uv = 0;

	CU_ASSERT_EQUAL_FATAL(store_append_begin(st, strlen(text), &ap),
	    STORE_OK);
	CU_ASSERT_EQUAL_FATAL(store_append_data(ap, (const uint8_t *)text,
	    strlen(text)), STORE_OK);
	CU_ASSERT_EQUAL_FATAL(store_append_commit(ap, FU, "Box", 0, flags,
	    keywords, 1700000000, 60, &uid, &uv), STORE_OK);
	store_append_free(&ap);
	return uid;
}

struct fault_seen {
	struct store_msg m[8];
	size_t n;
	size_t expunged;
};

static int
fault_msg_cb(void *ctx, const struct store_msg *m)
{
	struct fault_seen *s = ctx;

	if (s->n < 8)
		s->m[s->n++] = *m;
	return 0;
}

static int
fault_uid_cb(void *ctx, uint32_t uid)
{
	struct fault_seen *s = ctx;

	(void)uid;
	s->expunged++;
	return 0;
}

static int
fault_kw_cb(void *ctx, unsigned index, const char *keyword)
{
	int *found = ctx;

	if (strcmp(keyword, "$Work") == 0)
		*found = (int)index;
	return 0;
}

void
test_store_fault_uidvalidity_renumbers(void)
{
	static const char *texts[] = { "Subject: a\r\n\r\n1\r\n",
	    "Subject: b\r\n\r\n22\r\n", "Subject: c\r\n\r\n333\r\n",
	    "Subject: d\r\n\r\n4444\r\n" };
	char dir[] = "/tmp/refimapd-test-sfault-XXXXXX";
	struct store_options opt = { .create = true, .nosync = true };
	struct store *st = NULL;
	struct store_mbox before, after;
	struct fault_seen seen;
	const char *why = NULL;
	uint32_t old_uv = 0, new_uv = 0, uid;
	unsigned kw;
	int found = -1;
	size_t i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	CU_ASSERT_EQUAL_FATAL(store_open(dir, &opt, &st, &why), STORE_OK);
	CU_ASSERT_EQUAL_FATAL(store_user_init(st, FU), STORE_OK);
	CU_ASSERT_EQUAL_FATAL(store_mbox_create(st, FU, "Box", 0, &before),
	    STORE_OK);
	CU_ASSERT_EQUAL_FATAL(store_keyword_index(st, FU, "Box", before.id,
	    "$Work", true, &kw), STORE_OK);
	for (i = 0; i < 4; i++)
		(void)fault_append(st, texts[i], i == 2 ? STORE_FLAG_SEEN : 0,
		    i == 3 ? (uint64_t)1 << kw : 0);
	/* UID 1 goes, so the renumbering has a gap to close. */
	uid = 1;
	CU_ASSERT_EQUAL(store_msg_set_flags(st, FU, "Box", before.id, &uid, 1,
	    STORE_FLAGS_ADD, STORE_FLAG_DELETED, 0, 0, NULL, NULL), STORE_OK);
	CU_ASSERT_EQUAL(store_msg_expunge(st, FU, "Box", before.id, &uid, 1,
	    NULL, NULL), STORE_OK);
	CU_ASSERT_EQUAL_FATAL(store_mbox_get(st, FU, "Box", &before),
	    STORE_OK);

	CU_ASSERT_EQUAL_FATAL(store_fault_uidvalidity(st, FU, "Box", &old_uv,
	    &new_uv), STORE_OK);
	CU_ASSERT_EQUAL(old_uv, before.uidvalidity);
	CU_ASSERT_TRUE(new_uv > old_uv);
	CU_ASSERT_EQUAL_FATAL(store_mbox_get(st, FU, "Box", &after), STORE_OK);
	CU_ASSERT_EQUAL(after.uidvalidity, new_uv);
	CU_ASSERT_NOT_EQUAL(after.id, before.id);
	CU_ASSERT_EQUAL(after.messages, 3);
	CU_ASSERT_EQUAL(after.unseen, 2);
	CU_ASSERT_EQUAL(after.uidnext, 4);
	CU_ASSERT_EQUAL(after.highestmodseq, 4);

	/* Every message is a change since MODSEQ 1; nothing is expunged. */
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(store_changes(st, FU, "Box", after.id, 0,
	    fault_msg_cb, fault_uid_cb, &seen), STORE_OK);
	CU_ASSERT_EQUAL(seen.n, 3);
	CU_ASSERT_EQUAL(seen.expunged, 0);

	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(store_msg_list(st, FU, "Box", after.id, 1,
	    fault_msg_cb, &seen), STORE_OK);
	CU_ASSERT_EQUAL_FATAL(seen.n, 3);
	CU_ASSERT_EQUAL(store_keyword_list(st, FU, "Box", after.id,
	    fault_kw_cb, &found), STORE_OK);
	CU_ASSERT_EQUAL(found, (int)kw);
	for (i = 0; i < 3; i++) {
		struct buf b = BUF_INITIALIZER(SIZE_MAX);

		CU_ASSERT_EQUAL(seen.m[i].uid, i + 1);
		CU_ASSERT_EQUAL(seen.m[i].modseq, i + 2);
		CU_ASSERT_EQUAL(seen.m[i].internaldate, 1700000000);
		CU_ASSERT_EQUAL(store_body_read(st, seen.m[i].body_id, 0, 4096,
		    &b), STORE_OK);
		CU_ASSERT_EQUAL(b.len, strlen(texts[i + 1]));
		CU_ASSERT_TRUE(b.len == strlen(texts[i + 1]) &&
		    memcmp(b.data, texts[i + 1], b.len) == 0);
		buf_free(&b);
	}
	CU_ASSERT_EQUAL(seen.m[1].flags, STORE_FLAG_SEEN);
	CU_ASSERT_EQUAL(seen.m[2].keywords, (uint64_t)1 << kw);

	/* The old id holds nothing any more; a new message goes on at 4. */
	CU_ASSERT_EQUAL(store_msg_list(st, FU, "Box", before.id, 1,
	    fault_msg_cb, &seen), STORE_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fault_append(st, "Subject: e\r\n\r\n5\r\n", 0, 0), 4);
	CU_ASSERT_EQUAL(store_fault_uidvalidity(st, FU, "Nope", NULL, NULL),
	    STORE_ERR_NOTFOUND);
	store_close(&st);
	(void)nftw(dir, fault_rm, 16, FTW_DEPTH | FTW_PHYS);
}
