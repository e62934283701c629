/*
 * import.c: refimapctl import USER [MAILBOX] PATH [--mboxo] [--all]
 *
 * Reads an mbox file, a Maildir (with Maildir++ or Dovecot LAYOUT=fs
 * subfolders) or a folder of .eml files into the user's mailboxes; the
 * loop is store/import.c, the formats lib/mailsrc.c. Messages already in
 * the target mailbox (same Message-ID, same bytes) are skipped unless
 * --all, so an import that was interrupted (SIGINT, SIGTERM, SIGHUP stop
 * it after the message being stored) can simply be run again. Progress
 * goes to stderr when stderr is a terminal; the summary to stdout.
 *
 * Exit codes: 0; EX_NOUSER unknown user; EX_NOINPUT missing or
 * unreadable PATH; EX_DATAERR bad data or mailbox name; EX_TEMPFAIL store
 * busy or interrupted (run it again); EX_USAGE bad options.
 */
#include <sys/stat.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "../store/import.h"
#include "ctl.h"

static void
ctl_import_on_signal(int signo)
{
	(void)signo;
	import_interrupt();
}

/*
 * Splits argv into operands (kept in argv, count returned) and the options
 * the verbs share. -1 on an unknown option.
 */
int
ctl_mail_args(int argc, char **argv, const char **format_r, bool *mboxo_r,
    bool *all_r)
{
	int i, n = 0;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--mboxo") == 0 && mboxo_r != NULL) {
			*mboxo_r = true;
		} else if (strcmp(argv[i], "--all") == 0 && all_r != NULL) {
			*all_r = true;
		} else if (strcmp(argv[i], "--format") == 0 &&
		    format_r != NULL && i + 1 < argc) {
			*format_r = argv[++i];
		} else if (strncmp(argv[i], "--format=", 9) == 0 &&
		    format_r != NULL) {
			*format_r = argv[i] + 9;
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			ctl_err("unknown option %s", argv[i]);
			return -1;
		} else {
			argv[n++] = argv[i];
		}
	}
	return n;
}

/* Checks the user: 0 or an exit code (EX_NOUSER for an unknown one). */
int
ctl_mail_user(const struct ctl *ctl, const char *user)
{
	bool found = false;
	int ret;

	if (!passwd_valid_user(user)) {
		ctl_err("no such user");
		return EX_NOUSER;
	}
	if ((ret = ctl_user_exists(ctl, user, &found)) != 0)
		return ret;
	if (!found) {
		ctl_err("no such user: %s", user);
		return EX_NOUSER;
	}
	return ctl_need_store(ctl);
}

int
ctl_import(struct ctl *ctl, int argc, char **argv)
{
	struct import_opts o = { .skip_duplicates = true };
	struct import_stats stats;
	struct sigaction sa, old[3];
	static const int sigs[3] = { SIGINT, SIGTERM, SIGHUP };
	const char *user, *mailbox = NULL, *path;
	struct store *st = NULL;
	enum store_err se;
	enum import_err ie;
	struct stat sb;
	char err[1024];
	bool all = false;
	int n, ret, i;

	if ((n = ctl_mail_args(argc, argv, NULL, &o.mboxo, &all)) < 0)
		return EX_USAGE;
	if (n < 2 || n > 3) {
		ctl_err("usage: refimapctl import USER [MAILBOX] PATH "
		    "[--mboxo] [--all]");
		return EX_USAGE;
	}
	user = argv[0];
	if (n == 3)
		mailbox = argv[1];
	path = argv[n - 1];
	o.skip_duplicates = !all;
	o.progress = isatty(STDERR_FILENO) == 1;
	if ((ret = ctl_mail_user(ctl, user)) != 0)
		return ret;
	if (stat(path, &sb) < 0) {
		ctl_err("%s: %s", path, strerror(errno));
		return EX_NOINPUT;
	}
	if ((ret = ctl_store_open(ctl, &st)) != 0)
		return ret;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = ctl_import_on_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < 3; i++)
		sigaction(sigs[i], &sa, &old[i]);
	ret = import_path(st, user, mailbox, path, &o, &stats, err,
	    sizeof(err));
	ie = import_last_error(&se);
	store_close(&st);
	for (i = 0; i < 3; i++)
		sigaction(sigs[i], &old[i], NULL);

	printf("imported %llu messages, skipped %llu duplicates, created "
	    "%llu mailboxes\n", (unsigned long long)stats.messages,
	    (unsigned long long)stats.skipped,
	    (unsigned long long)stats.mailboxes);
	fflush(stdout);
	if (ret == 0)
		return 0;
	ctl_err("%s", err);
	switch (ie) {
	case IMPORT_ERR_NOINPUT:
		return EX_NOINPUT;
	case IMPORT_ERR_FORMAT:
		return EX_DATAERR;
	case IMPORT_ERR_INTERRUPTED:
		ctl_err("interrupted: run the same import again to finish it");
		return EX_TEMPFAIL;
	case IMPORT_ERR_STORE:
		return se == STORE_ERR_INVALID || se == STORE_ERR_NOTFOUND ?
		    EX_DATAERR : ctl_store_exit(se);
	case IMPORT_OK:
		break;
	}
	return EX_SOFTWARE;
}
