/*
 * import.h: moving mail from files on disk into the store.
 *
 * The format readers live in lib/mailsrc.h (no store dependency); this is
 * the loop that walks a source, turns each message into the store's form
 * (CRLF line ends, flags, keywords, INTERNALDATE) and appends it with
 * store_append_*. Used by `refimapctl import` and by anything else that
 * fills a store from files (refimapd --sandbox --preload).
 *
 * Sources (detected, in this order):
 *   - a regular file that begins with an mbox "From " line: an mbox
 *     (mboxrd quoting unless opts->mboxo; Status:, X-Status: and
 *     X-Keywords: headers become flags and are removed);
 *   - any other regular file: one message (an .eml file);
 *   - a directory with cur/ (or new/): a Maildir; its ".a.b"
 *     subdirectories are Maildir++ folders ("a/b"), its other
 *     subdirectories Dovecot LAYOUT=fs folders; flags from ":2,"
 *     names, keywords from dovecot-keywords, INTERNALDATE from the mtime;
 *   - any other directory: its *.eml files are the messages of the
 *     mailbox, and its subdirectories and mbox files are child mailboxes.
 *
 * Each message is one store transaction, so an import that is interrupted
 * leaves whole messages behind, and running it again with skip_duplicates
 * adds exactly the ones that are missing.
 */
#ifndef REFIMAPD_IMPORT_H
#define REFIMAPD_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct import_opts {
	bool skip_duplicates;	/* skip a message whose Message-ID and digest are already in the target mailbox */
	bool progress;		/* print progress to stderr */
	/*
	 * Added after the first two so that {a, b} initialisers still work:
	 * read mbox files with mboxo quoting (">From " -> "From ") instead of
	 * mboxrd (one '>' less on every ">...>From " line).
	 */
	bool mboxo;
};

struct import_stats {
	uint64_t messages;	/* stored */
	uint64_t skipped;	/* duplicates */
	uint64_t mailboxes;	/* created */
};

/*
 * Duplicates: the messages already in a target mailbox are a multiset
 * keyed by (Message-ID or none, size); a source message whose stored form
 * has the same key and the same bytes as one of them (compared in full,
 * which is stronger than comparing digests) consumes it and is skipped. So
 * a source holding the same message twice imports it twice the first time
 * and never again, and an interrupted import run again completes it with
 * each message exactly once. Messages without a Message-ID are matched by
 * their bytes alone.
 */

/* Imports PATH (an mbox file, a Maildir, a Maildir++ or Dovecot Maildir tree, or a directory of .eml files; format detected) into user's store; mailbox is the target for a single-mailbox source (NULL = "INBOX"; Maildir subfolders go below it, or at top level when it is INBOX). Creates missing mailboxes. 0, or -1 with a message in err. */
int import_path(struct store *st, const char *user, const char *mailbox, const char *path, const struct import_opts *o, struct import_stats *stats, char *err, size_t errlen);

/*
 * Why the last import_path failed, for exit codes: IMPORT_ERR_NOINPUT (a
 * path that does not exist or cannot be read), IMPORT_ERR_FORMAT (bad
 * data), IMPORT_ERR_STORE (with the store's error in *store_err_r),
 * IMPORT_ERR_INTERRUPTED (import_interrupt was called).
 */
enum import_err {
	IMPORT_OK = 0,
	IMPORT_ERR_NOINPUT,
	IMPORT_ERR_FORMAT,
	IMPORT_ERR_STORE,
	IMPORT_ERR_INTERRUPTED,
};
enum import_err import_last_error(enum store_err *store_err_r);

/*
 * Asks a running import to stop after the message it is storing (safe
 * from a signal handler). import_path then fails with
 * IMPORT_ERR_INTERRUPTED.
 */
void import_interrupt(void);

#endif
