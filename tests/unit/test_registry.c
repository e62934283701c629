/*
 * Unit tests for the session registry and fault files (lib/registry.c).
 */
#include <CUnit/CUnit.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../lib/registry.h"

static int
rm_cb(const char *path, const struct stat *sb, int type, struct FTW *f)
{
	(void)sb;
	(void)f;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

static void
rm_tree(const char *dir)
{
	(void)nftw(dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

static bool
take_one(void *ctx, struct registry_fault *f)
{
	bool *took = ctx;

	*took = f->no > 0;
	if (f->no == 0)
		return false;
	f->no--;
	return true;
}

static bool
set_faults(void *ctx, struct registry_fault *f)
{
	(void)ctx;
	f->no = 2;
	f->delay_ms = 0;
	(void)snprintf(f->code, sizeof(f->code), "SERVERBUG");
	return true;
}

void
test_registry_no_counter_runs_out_and_file_goes(void)
{
	char dir[] = "/tmp/refimapd-reg-XXXXXX", path[128];
	struct registry_fault f;
	bool took;
	int i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	CU_ASSERT_EQUAL_FATAL(registry_mkdirs(dir), 0);
	CU_ASSERT_EQUAL(registry_fault_read(dir, "alice", &f), 0);
	CU_ASSERT_EQUAL(f.no, 0);
	CU_ASSERT_EQUAL(registry_fault_update(dir, "alice", set_faults, NULL),
	    0);
	CU_ASSERT_EQUAL(registry_fault_read(dir, "alice", &f), 0);
	CU_ASSERT_EQUAL(f.no, 2);
	CU_ASSERT_STRING_EQUAL(f.code, "SERVERBUG");
	for (i = 0; i < 3; i++) {
		took = false;
		CU_ASSERT_EQUAL(registry_fault_update(dir, "alice", take_one,
		    &took), 0);
		CU_ASSERT_EQUAL(took, i < 2);
	}
	(void)snprintf(path, sizeof(path), "%s/run/faults/alice", dir);
	CU_ASSERT_EQUAL(access(path, F_OK), -1);
	/* A user name that could leave the directory is refused. */
	CU_ASSERT_EQUAL(registry_fault_update(dir, "../x", set_faults, NULL),
	    -1);
	rm_tree(dir);
}

static int
collect(void *ctx, const struct registry_entry *e)
{
	struct registry_entry *out = ctx;

	out[out[0].pid == 0 ? 0 : 1] = *e;
	return 0;
}

void
test_registry_lists_live_sessions_and_drops_stale_ones(void)
{
	char dir[] = "/tmp/refimapd-reg-XXXXXX", path[128];
	struct registry_entry e, got[2];
	pid_t dead;
	int status;

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	CU_ASSERT_EQUAL_FATAL(registry_mkdirs(dir), 0);
	dead = fork();
	if (dead == 0)
		_exit(0);
	CU_ASSERT_EQUAL_FATAL(waitpid(dead, &status, 0), dead);

	memset(&e, 0, sizeof(e));
	e.pid = dead;
	(void)snprintf(e.user, sizeof(e.user), "gone");
	CU_ASSERT_EQUAL(registry_write(dir, &e), 0);
	e.pid = getpid();
	e.start = registry_proc_start(e.pid);
	(void)snprintf(e.user, sizeof(e.user), "alice");
	(void)snprintf(e.peer, sizeof(e.peer), "127.0.0.1");
	(void)snprintf(e.state, sizeof(e.state), "selected");
	(void)snprintf(e.mailbox, sizeof(e.mailbox), "a\nb");
	CU_ASSERT_EQUAL(registry_write(dir, &e), 0);

	memset(got, 0, sizeof(got));
	CU_ASSERT_EQUAL(registry_list(dir, collect, got), 0);
	CU_ASSERT_EQUAL(got[0].pid, getpid());
	CU_ASSERT_EQUAL(got[1].pid, 0);
	CU_ASSERT_STRING_EQUAL(got[0].user, "alice");
	CU_ASSERT_STRING_EQUAL(got[0].state, "selected");
	/* A line break cannot forge another field. */
	CU_ASSERT_STRING_EQUAL(got[0].mailbox, "a?b");
	(void)snprintf(path, sizeof(path), "%s/run/sessions/%ld", dir,
	    (long)dead);
	CU_ASSERT_EQUAL(access(path, F_OK), -1);

	/* A reused pid (another start time) is stale too. */
	e.start += 1;
	CU_ASSERT_EQUAL(registry_write(dir, &e), 0);
	memset(got, 0, sizeof(got));
	CU_ASSERT_EQUAL(registry_list(dir, collect, got), 0);
	CU_ASSERT_EQUAL(got[0].pid, 0);
	registry_remove(dir, getpid());
	rm_tree(dir);
}

void
test_registry_actions_are_taken_once(void)
{
	char dir[] = "/tmp/refimapd-reg-XXXXXX", buf[32];

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	CU_ASSERT_EQUAL_FATAL(registry_mkdirs(dir), 0);
	CU_ASSERT_FALSE(registry_action_take(dir, 4242, buf, sizeof(buf)));
	CU_ASSERT_EQUAL(registry_action_put(dir, 4242, "bye"), 0);
	CU_ASSERT_TRUE(registry_action_take(dir, 4242, buf, sizeof(buf)));
	CU_ASSERT_STRING_EQUAL(buf, "bye");
	CU_ASSERT_FALSE(registry_action_take(dir, 4242, buf, sizeof(buf)));
	rm_tree(dir);
}
