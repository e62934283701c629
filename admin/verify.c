/*
 * verify.c: refimapctl's verify verb.
 *
 *   verify    checks the store's databases and the invariants between
 *             their records (store_verify in store/admin.h)
 *
 * Prints each problem on a line of its own and a summary; exits 0 when
 * there is none ("OK"), EX_DATAERR when there are. With a server running
 * the record checks still run, but Berkeley DB's structure check, which
 * must not race with writers, is skipped (said on stderr).
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "../store/admin.h"
#include "ctl.h"

/* Problems printed in full; the rest are only counted. */
#define CTL_VERIFY_SHOW		1000

static void
ctl_verify_cb(void *ctx, const char *problem)
{
	unsigned long long *shown = ctx;

	if (*shown < CTL_VERIFY_SHOW)
		printf("problem: %s\n", problem);
	(*shown)++;
}

int
ctl_verify(struct ctl *ctl, int argc, char **argv)
{
	struct store_verify_stats stats;
	unsigned long long shown = 0;
	struct store *st = NULL;
	enum store_err e;
	pid_t pid = 0;
	int ret;

	if ((ret = ctl_need_store(ctl)) != 0)
		return ret;
	(void)store_in_use(ctl->data_dir, &pid);
	if ((ret = ctl_store_open(ctl, &st)) != 0)
		return ret;
	e = store_verify(st, ctl_verify_cb, &shown, &stats);
	store_close(&st);
	if (e != STORE_OK) {
		ctl_err("cannot read the store in %s: %s", ctl->data_dir,
		    store_strerror(e));
		return ctl_store_exit(e);
	}
	if (!stats.structure_checked)
		ctl_err("the store is in use (pid %ld): Berkeley DB's "
		    "structure check was skipped, and records that changed "
		    "during the check may show as problems; stop the server "
		    "for a full check", (long)pid);
	if (stats.problems > CTL_VERIFY_SHOW)
		printf("... %llu more problem(s) not shown\n",
		    stats.problems - CTL_VERIFY_SHOW);
	if (stats.problems > 0) {
		printf("%llu problem(s) found in %s (%llu mailboxes, %llu "
		    "messages, %llu bodies)\n", stats.problems, ctl->data_dir,
		    stats.mailboxes, stats.messages, stats.bodies);
		fflush(stdout);
		return EX_DATAERR;
	}
	printf("OK: %llu mailboxes, %llu messages, %llu bodies%s\n",
	    stats.mailboxes, stats.messages, stats.bodies,
	    stats.structure_checked ? "" : " (records only)");
	if (fflush(stdout) != 0)
		return EX_IOERR;
	return 0;
}
