/*
 * admin.h: the store-side work behind refimapctl's backup, restore and
 * verify verbs (admin/backup.c, admin/verify.c). Nothing in the server
 * uses these; they are kept out of store.h on purpose.
 *
 * Layout of a backup directory (made by store_backup, read by
 * store_restore):
 *
 *   BACKUP/db/NAME.db  the database files, each page read through the
 *                      environment's cache (Berkeley DB's DB_ENV->backup),
 *                      so no page is ever copied half written
 *   BACKUP/db/log.*    every log file, copied after the database files
 *
 * The copies are taken while sessions write: they are consistent only
 * together with the log, which catastrophic recovery (DB_RECOVER_FATAL)
 * replays on restore. Every transaction that committed before the backup
 * began is in the copied log.
 *
 * Log files and backups: log files the last checkpoint made unnecessary
 * are removed only by store_log_prune (after a checkpoint, see env.c),
 * and only while no backup holds DATA_DIR/backup.lock; a backup holds it
 * (shared) from before the first database page is read until the last
 * log file is copied.
 */
#ifndef REFIMAPD_STORE_ADMIN_H
#define REFIMAPD_STORE_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../lib/compat.h"
#include "store.h"

/* The lock file, relative to DATA_DIR, that backups and log removal
 * share (flock: backups shared, removal exclusive and never waiting). */
#define STORE_BACKUP_LOCK	"backup.lock"

/* What a backup copied. */
struct store_backup_info {
	unsigned db_files;	/* database files */
	unsigned log_files;	/* log files */
	unsigned first_log;	/* their numbers, log.FIRST .. log.LAST */
	unsigned last_log;
	uint64_t bytes;		/* total size of the copies */
};

/*
 * Hot backup of the open store into target_db (a directory that must not
 * exist yet; created 0700): a checkpoint, then every database file, then
 * every log file, under the shared backup lock. The store keeps serving
 * meanwhile. On failure *error_r says why (static text) and target_db
 * may hold a partial copy that the caller removes.
 */
enum store_err store_backup(struct store *st, const char *target_db,
    struct store_backup_info *info_r, const char **error_r) ATTR_WUR;

/*
 * Restores the backup whose db directory is backup_db into data_dir (made
 * 0700 if missing): copies its database and log files into a new
 * directory data_dir/db.restore.PID, runs catastrophic recovery there
 * (DB_RECOVER_FATAL: the whole log replayed into the database files,
 * unfinished transactions undone), and renames it to data_dir/db. An
 * existing data_dir/db is refused with STORE_ERR_EXISTS unless replace,
 * when it is renamed to data_dir/db.replaced.TIMESTAMP (its name in
 * replaced_r, "" if there was none) rather than removed. Run as root,
 * the new files get the owner of data_dir. The caller makes sure no
 * process uses the store (store_in_use). *error_r on failure.
 */
enum store_err store_restore(const char *backup_db, const char *data_dir,
    bool replace, char *replaced_r, size_t replaced_len,
    const char **error_r) ATTR_WUR;

/*
 * Whether some process has the store in data_dir/db open right now (a
 * slot of Berkeley DB's DB_REGISTER file locked by a live process): true
 * with its pid in *pid_r. A store that does not exist is not in use.
 */
bool store_in_use(const char *data_dir, pid_t *pid_r);

/*
 * Removes the log files that the last checkpoint made unnecessary for
 * recovery (db_archive -d), unless a backup is running (then it leaves
 * them for the next call). Called after checkpoints.
 */
void store_log_prune(struct store *st);

/* ---- verify ---- */

/* A problem found by store_verify, as one line of text (no newline). */
typedef void store_verify_cb(void *ctx, const char *problem);

struct store_verify_stats {
	unsigned long long mailboxes;
	unsigned long long messages;
	unsigned long long bodies;
	unsigned long long problems;
	bool structure_checked;	/* DB->verify ran (store not in use) */
};

/*
 * Checks the store: each database file with Berkeley DB's DB->verify
 * (only when no other process has the store open; the file must not
 * change under it), then, inside one transaction, every invariant the
 * store keeps:
 *   - every record decodes;
 *   - per mailbox: UIDs ascending and unique, UIDNEXT above every UID
 *     (also every expunged one), MESSAGES, UNSEEN and the \Recent count
 *     equal to what the message records say, HIGHESTMODSEQ at least the
 *     MODSEQ of every message and every expunge record; mailbox ids
 *     unique; superiors exist; \Noselect mailboxes hold no messages;
 *   - the by_modseq index holds exactly one entry per message, under
 *     its MODSEQ;
 *   - every message's body exists: chunks 0..n-1, full-sized but the
 *     last, in total the message's size; every body has a MIME record;
 *   - each body's reference count equals the number of messages that
 *     point at it; no body, chunk, count or MIME record without one;
 *   - messages, index entries, expunge records and keywords belong to
 *     existing mailboxes; keywords used by messages are defined;
 *   - the site-wide counters are at least the largest id handed out.
 * Each problem goes to cb. Returns STORE_OK when the check ran (problems
 * or not; see stats_r->problems), an error when the store could not be
 * read.
 */
enum store_err store_verify(struct store *st, store_verify_cb *cb, void *ctx,
    struct store_verify_stats *stats_r) ATTR_WUR;

#endif
