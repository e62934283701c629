/*
 * lock.c: the recovery lock. Berkeley DB's recovery rebuilds the shared
 * regions from the log and must run while no other process is attached:
 * one still working from the old regions' cache could write back a stale
 * page over what recovery wrote (the log then no longer matches the
 * databases, and the store cannot be recovered again). So every process
 * holds a shared flock(2) on DATA_DIR/db/refimapd.lock while its
 * environment is open, and recovery runs under the exclusive lock.
 *
 * A process killed by a signal loses its lock with it. A process that
 * hangs with the store open (waiting on a mutex that a killed process
 * held, which only recovery releases) would hold recovery off forever:
 * after a while the recovering process kills the holders it may signal,
 * found in /proc/locks. Killing a process inside the store loses nothing
 * that was acknowledged; that is what recovery is for.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/log.h"
#include "store_int.h"

#define LOCK_FILE	"refimapd.lock"
#define LOCK_TICK_MS	10

static void
lock_sleep_ms(unsigned ms)
{
	struct timespec ts = { 0, (long)ms * 1000 * 1000 };

	(void)nanosleep(&ts, NULL);
}

int
store_lock_open(const char *home)
{
	char path[4096];
	int n, fd;

	n = snprintf(path, sizeof(path), "%s/" LOCK_FILE, home);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	return fd;
}

/* Tries the lock (LOCK_SH or LOCK_EX) for up to wait_ms. */
static bool
lock_try(int fd, int how, unsigned wait_ms)
{
	unsigned waited = 0;

	for (;;) {
		if (flock(fd, how | LOCK_NB) == 0)
			return true;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			log_msg(LOG_ERR, "store: flock: %s", strerror(errno));
			return false;
		}
		if (waited >= wait_ms)
			return false;
		lock_sleep_ms(LOCK_TICK_MS);
		waited += LOCK_TICK_MS;
	}
}

bool
store_lock_shared(int fd, unsigned wait_ms)
{
	return lock_try(fd, LOCK_SH, wait_ms);
}

void
store_lock_release(int fd)
{
	if (fd >= 0)
		(void)flock(fd, LOCK_UN);
}

/*
 * SIGKILL to every other process holding a flock on fd's file, from
 * /proc/locks ("1: FLOCK ADVISORY READ 1234 08:01:5678 0 EOF"). Returns
 * how many were signalled.
 */
static unsigned
lock_kill_holders(int fd)
{
	char line[256];
	struct stat sb;
	unsigned n = 0;
	FILE *f;

	if (fstat(fd, &sb) < 0 || (f = fopen("/proc/locks", "re")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		char kind[16], adv[16], mode[16];
		unsigned maj, min;
		unsigned long ino;
		long pid;

		/* "->" lines are waiters, not holders: their format differs,
		 * and sscanf fails on them. */
		if (sscanf(line, "%*d: %15s %15s %15s %ld %x:%x:%lu", kind, adv,
		    mode, &pid, &maj, &min, &ino) != 7 ||
		    strcmp(kind, "FLOCK") != 0 || ino != (unsigned long)sb.st_ino ||
		    maj != major(sb.st_dev) || min != minor(sb.st_dev) ||
		    pid <= 0 || pid == (long)getpid())
			continue;
		if (kill((pid_t)pid, SIGKILL) == 0) {
			log_msg(LOG_WARNING, "store: killed process %ld, which "
			    "kept the store open while it needed recovery",
			    pid);
			n++;
		}
	}
	fclose(f);
	return n;
}

bool
store_lock_exclusive(int fd, unsigned wait_ms)
{
	if (lock_try(fd, LOCK_EX, wait_ms))
		return true;
	/* Holders that never let go are stuck in the broken regions. */
	if (lock_kill_holders(fd) == 0)
		return false;
	return lock_try(fd, LOCK_EX, wait_ms);
}
