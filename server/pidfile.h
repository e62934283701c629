/*
 * pidfile.h: the daemon's pid file (config key pid_file).
 *
 * The file is opened and locked (flock) after the listening sockets are
 * bound and before privileges are dropped; the lock, not the text, says
 * whether a daemon is alive, so a file left by a crash never blocks a
 * start, and a second daemon on the same file is refused. The pid is
 * written once the process has its final pid (after detaching). At exit
 * the file is removed, or emptied when the daemon, now running as `user`,
 * may not remove it from its directory.
 */
#ifndef REFIMAPD_PIDFILE_H
#define REFIMAPD_PIDFILE_H

#include <sys/types.h>

/*
 * Creates or opens path and takes its lock. 0; -1 when another process
 * holds it (logged with that process's pid) or on an I/O error (logged).
 * Registers pidfile_remove with atexit.
 */
int pidfile_open(const char *path);
/* Writes pid into the file, replacing what was there; the process pid
 * becomes the one that removes it. */
int pidfile_write(pid_t pid);
/* In a forked child: forgets the file without touching it. */
void pidfile_forget(void);
/* Removes (or empties) the file; only in the process that wrote it. */
void pidfile_remove(void);

#endif
