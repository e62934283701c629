/*
 * ctl.h: what the refimapctl verbs share. Each verb is one function in
 * the table of admin/refimapctl.c; verbs that need more than a page live
 * in their own file under admin/ and use only these helpers.
 *
 * Conventions: a verb returns 0 or an exit code from <sysexits.h>;
 * messages go to stderr through ctl_err ("refimapctl: " prefix); stdout
 * carries only what the verb was asked to print.
 */
#ifndef REFIMAPD_CTL_H
#define REFIMAPD_CTL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "../auth/passwd.h"
#include "../lib/compat.h"
#include "../store/store.h"

#define CTL_DEFAULT_DATA_DIR	"/var/lib/refimapd"

struct ctl {
	const char *data_dir;
	char passwd_path[PATH_MAX];
	char db_path[PATH_MAX];
	bool special_use;	/* user add: Drafts, Sent, ... (RFC 6154) */
};

/* A verb gets the operands that follow its words (argc within range). */
typedef int ctl_verb_fn(struct ctl *ctl, int argc, char **argv);

struct ctl_verb {
	const char *name;	/* words separated by one space */
	int min_args, max_args;
	const char *args;	/* operands, for the usage text */
	const char *help;
	ctl_verb_fn *fn;
};

void ctl_err(const char *fmt, ...) ATTR_PRINTF(1, 2);
/* A printable, capped copy of an operand for messages. */
const char *ctl_esc(const char *s, char *out, size_t outlen);
/* Exit codes for store and passwd results. */
int ctl_store_exit(enum store_err e);
int ctl_passwd_exit(enum passwd_result r);
/* EX_DATAERR with a message if the name is not a valid user name. */
int ctl_check_name(const char *user);
/* EX_CONFIG with a message unless init has made the store. */
int ctl_need_store(const struct ctl *ctl);
/* Opens the existing store; an exit code with a message on failure. */
int ctl_store_open(const struct ctl *ctl, struct store **st_r);
/* Run as root, becomes the data directory's owner for good (0, or an
 * exit code with a message). */
int ctl_act_as_owner(const struct ctl *ctl);
/* Whether the passwd file has the user: 0 and *found_r, or an exit code. */
int ctl_user_exists(const struct ctl *ctl, const char *user, bool *found_r);
/* fsyncs a directory; 0 or -1 with errno. */
int ctl_sync_dir(const char *dir);
/* mkdir -p: missing parents 0755, dir itself mode. 0 or -1 with errno. */
int ctl_mkdirs(const char *dir, mode_t mode);

/* admin/fault.c: status and fault injection (owner of DATA_DIR only). */
ctl_verb_fn ctl_status, ctl_fault_uidvalidity, ctl_fault_disconnect,
    ctl_fault_bye, ctl_fault_delay, ctl_fault_no, ctl_fault_clear,
    ctl_expunge, ctl_flag, ctl_reset;

/* admin/import.c, admin/export.c: moving mail in and out. */
ctl_verb_fn ctl_import, ctl_export;
/* Moves the options (--format F, --mboxo, --all; NULL: not accepted) out
 * of argv; the number of operands left in argv, or -1 (message given). */
int ctl_mail_args(int argc, char **argv, const char **format_r,
    bool *mboxo_r, bool *all_r);
/* 0 if the user exists and the store too, else an exit code (EX_NOUSER). */
int ctl_mail_user(const struct ctl *ctl, const char *user);

/* admin/backup.c, admin/verify.c: hot backup, restore, consistency check. */
ctl_verb_fn ctl_backup, ctl_restore, ctl_verify;

/* admin/trace.c: reading protocol traces (server/trace.h). */
ctl_verb_fn ctl_trace_show;

#endif
