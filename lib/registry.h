/*
 * registry.h: the session registry and the fault files, shared by the
 * sessions (server/fault.c) and refimapctl (admin/fault.c).
 *
 * Everything lives under DATA_DIR/run, mode 0700, owned by whoever runs
 * the sessions (the data directory's owner):
 *
 *   run/sessions/PID   one logged-in session: "key=value" lines (pid,
 *                      start, user, peer, state, mailbox), mode 0600,
 *                      replaced atomically (temporary file, rename) when
 *                      the state changes; its mtime is the time of the
 *                      session's last command. Removed when the session
 *                      ends; a file whose process is gone (or whose pid
 *                      now belongs to another process) is stale, and
 *                      registry_list removes it.
 *   run/faults/USER    the faults injected for a user's sessions (delay_ms,
 *                      no, code), read and changed only under flock(2),
 *                      so that "the next N commands" is one counter shared
 *                      by all of the user's sessions.
 *   run/actions/PID    a one-shot order for one session ("bye" or
 *                      "disconnect"), taken (read and removed) by it.
 *
 * After writing a fault or an action, refimapctl sends REGISTRY_SIGNAL to
 * the sessions concerned; they re-read their faults when it arrives (at
 * once while waiting for input or idling, otherwise before their next
 * command).
 */
#ifndef REFIMAPD_REGISTRY_H
#define REFIMAPD_REGISTRY_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "compat.h"

#define REGISTRY_SIGNAL		SIGUSR2
#define REGISTRY_USER_MAX	128
/* Mailbox names are stored escaped, cut to this size. */
#define REGISTRY_TEXT_MAX	256
#define REGISTRY_CODE_MAX	32

struct registry_entry {
	pid_t pid;
	unsigned long long start;	/* process start time (Linux clock
					   ticks since boot), 0 = unknown */
	char user[REGISTRY_USER_MAX + 1];
	char peer[64];
	char state[16];			/* "authenticated", "selected" */
	char mailbox[REGISTRY_TEXT_MAX];	/* "" when none is selected */
	time_t last;			/* last command (wall clock) */
};

struct registry_fault {
	unsigned delay_ms;	/* every response waits this long */
	unsigned no;		/* commands still to answer NO */
	char code[REGISTRY_CODE_MAX];	/* response code of that NO */
};

/* Creates DATA_DIR/run and its subdirectories (0700) if missing. 0 or -1
 * with errno. */
int registry_mkdirs(const char *data_dir) ATTR_WUR;

/* The start time of a process (0 if it cannot be read). */
unsigned long long registry_proc_start(pid_t pid);

/* Writes (replaces atomically) the entry of e->pid. 0 or -1 with errno. */
int registry_write(const char *data_dir, const struct registry_entry *e)
    ATTR_WUR;
/* Sets the entry's last command time to now (its mtime). */
void registry_touch(const char *data_dir, pid_t pid);
/* Removes the entry of pid (and any action left for it). */
void registry_remove(const char *data_dir, pid_t pid);

/* Called for each live session; return nonzero to stop. */
typedef int registry_cb(void *ctx, const struct registry_entry *e);
/* Walks the live sessions in pid order, removing stale files. 0, or -1
 * with errno when the directory cannot be read (a missing one is empty). */
int registry_list(const char *data_dir, registry_cb *cb, void *ctx) ATTR_WUR;

/* Reads the user's faults (all zero when there is no file). 0 or -1. */
int registry_fault_read(const char *data_dir, const char *user,
    struct registry_fault *f) ATTR_WUR;
/*
 * Read-modify-write of the user's faults under an exclusive lock: fn gets
 * the current values and returns true to write them back. A fault set
 * that becomes all zero removes the file. 0 or -1 with errno.
 */
typedef bool registry_fault_fn(void *ctx, struct registry_fault *f);
int registry_fault_update(const char *data_dir, const char *user,
    registry_fault_fn *fn, void *ctx) ATTR_WUR;

/* Leaves a one-shot order ("bye", "disconnect") for session pid. */
int registry_action_put(const char *data_dir, pid_t pid, const char *action)
    ATTR_WUR;
/* Takes (reads and removes) the order for pid; false when there is none. */
bool registry_action_take(const char *data_dir, pid_t pid, char *out,
    size_t outlen);

#endif
