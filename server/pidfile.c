/*
 * pidfile.c: the daemon's pid file, held by a lock for the daemon's life
 * (see pidfile.h).
 */
#include <sys/file.h>
#include <sys/types.h>

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/buf.h"
#include "../lib/log.h"
#include "../lib/xalloc.h"
#include "pidfile.h"

static int pidfile_fd = -1;
static char *pidfile_path;
static pid_t pidfile_owner;	/* the process that may remove it */

/* Reads the pid written in the file, for the message; 0 when unknown. */
static long
pidfile_read_pid(int fd)
{
	char text[32];
	ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
	char *end;
	long pid;

	if (n <= 0)
		return 0;
	text[n] = '\0';
	pid = strtol(text, &end, 10);
	return end != text && pid > 0 ? pid : 0;
}

int
pidfile_open(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);

	if (fd < 0) {
		log_msg(LOG_ERR, "pid file %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK) {
			long pid = pidfile_read_pid(fd);

			if (pid > 0)
				log_msg(LOG_ERR, "pid file %s is held by "
				    "process %ld: refimapd is already running",
				    path, pid);
			else
				log_msg(LOG_ERR, "pid file %s is held by "
				    "another process: refimapd is already "
				    "running", path);
		} else {
			log_msg(LOG_ERR, "pid file %s: lock: %s", path,
			    strerror(errno));
		}
		close(fd);
		return -1;
	}
	pidfile_fd = fd;
	/* The daemon leaves its directory (chdir "/"): remember where. */
	if (path[0] != '/') {
		char cwd[4096];
		struct buf abs;

		buf_init(&abs, SIZE_MAX);
		if (getcwd(cwd, sizeof(cwd)) != NULL)
			(void)!buf_addf(&abs, "%s/", cwd);
		(void)!buf_addf(&abs, "%s", path);
		pidfile_path = xstrdup(buf_cstr(&abs));
		buf_free(&abs);
	} else {
		pidfile_path = xstrdup(path);
	}
	pidfile_owner = getpid();
	(void)atexit(pidfile_remove);
	return 0;
}

int
pidfile_write(pid_t pid)
{
	char text[32];
	int n;

	if (pidfile_fd < 0)
		return 0;
	pidfile_owner = pid;
	n = snprintf(text, sizeof(text), "%ld\n", (long)pid);
	if (ftruncate(pidfile_fd, 0) < 0 ||
	    pwrite(pidfile_fd, text, (size_t)n, 0) != (ssize_t)n) {
		log_msg(LOG_ERR, "pid file %s: write: %s", pidfile_path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

void
pidfile_forget(void)
{
	if (pidfile_fd >= 0)
		close(pidfile_fd);	/* the lock stays with the master's fd */
	pidfile_fd = -1;
	pidfile_owner = 0;
	xfree(&pidfile_path);
}

void
pidfile_remove(void)
{
	if (pidfile_fd < 0 || pidfile_owner != getpid())
		return;
	/* Running as `user`, the daemon may not unlink from a directory
	 * such as /run: an empty file then tells that no daemon runs. */
	if (unlink(pidfile_path) < 0 && errno != ENOENT)
		(void)!ftruncate(pidfile_fd, 0);
	close(pidfile_fd);
	pidfile_fd = -1;
	xfree(&pidfile_path);
}
