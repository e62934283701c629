/*
 * fault.c: the session's side of fault injection and of the session
 * registry (see fault.h and lib/registry.h). Nothing here is reachable
 * over IMAP: faults come only from files under DATA_DIR/run that
 * refimapctl writes as the data directory's owner.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../lib/log.h"
#include "../lib/registry.h"
#include "../lib/xalloc.h"
#include "cmd.h"
#include "fault.h"
#include "resp.h"
#include "session.h"

struct fault_state {
	bool registered;	/* our file exists in run/sessions */
	bool failed;		/* the registry cannot be written: give up */
	enum session_state state;	/* as last written */
	char mailbox[REGISTRY_TEXT_MAX];
	time_t cmd_since;	/* the session's cmd_since last seen */
	time_t touched;		/* wall clock of the last write, touch */
	struct registry_fault f;	/* the faults as last read */
};

static volatile sig_atomic_t fault_signalled;

static void
fault_on_signal(int sig)
{
	(void)sig;
	fault_signalled = 1;
}

void
fault_session_start(struct session *s, sigset_t *wait_mask)
{
	struct sigaction sa;
	sigset_t set;

	s->fault = xcalloc(1, sizeof(*s->fault));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fault_on_signal;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(REGISTRY_SIGNAL, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, REGISTRY_SIGNAL);
	(void)sigprocmask(SIG_BLOCK, &set, NULL);
	sigdelset(wait_mask, REGISTRY_SIGNAL);
}

static const char *
fault_state_name(enum session_state st)
{
	return st == SESSION_SELECTED ? "selected" : "authenticated";
}

/* A response code we are willing to send: an atom of [A-Z0-9-]. */
static const char *
fault_code(const struct fault_state *f)
{
	const char *p;

	if (f->f.code[0] == '\0')
		return "UNAVAILABLE";
	for (p = f->f.code; *p != '\0'; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-'))
			return "UNAVAILABLE";
	return f->f.code;
}

/* Re-reads the user's faults and takes an order left for this session. */
static void
fault_reload(struct session *s)
{
	struct fault_state *f = s->fault;
	char action[32];

	if (registry_fault_read(s->cfg->data_dir, s->user, &f->f) < 0)
		log_msg(LOG_WARNING, "cannot read the faults of %s: %s",
		    s->user, strerror(errno));
	if (!registry_action_take(s->cfg->data_dir, getpid(), action,
	    sizeof(action)))
		return;
	if (strncmp(action, "bye", 3) == 0) {
		log_msg(LOG_NOTICE, "fault injected: BYE");
		resp_untagged(s, "BYE Disconnected by refimapctl fault bye");
		session_close(s);
	} else if (strncmp(action, "disconnect", 10) == 0) {
		log_msg(LOG_NOTICE, "fault injected: disconnect");
		/* At once and without a word: what is queued is dropped. */
		buf_reset(&s->out);
		session_close(s);
	}
}

void
fault_session_update(struct session *s)
{
	struct fault_state *f = s->fault;
	struct registry_entry e;
	const char *mbox = "";
	char esc[REGISTRY_TEXT_MAX];
	time_t now;

	if (f == NULL || f->failed || s->user == NULL ||
	    (s->state != SESSION_AUTH && s->state != SESSION_SELECTED))
		return;
	if (s->state == SESSION_SELECTED && s->selected != NULL)
		mbox = log_escape((const uint8_t *)s->selected,
		    strlen(s->selected), esc, sizeof(esc));
	now = time(NULL);
	if (f->registered && f->state == s->state &&
	    strcmp(f->mailbox, mbox) == 0) {
		/* Only the last command time: the file's mtime, at most
		 * once a second. */
		if (f->cmd_since != s->cmd_since && f->touched != now) {
			registry_touch(s->cfg->data_dir, getpid());
			f->touched = now;
		}
		f->cmd_since = s->cmd_since;
		return;
	}
	if (!f->registered) {
		if (registry_mkdirs(s->cfg->data_dir) < 0) {
			log_msg(LOG_WARNING, "session registry: %s/run: %s",
			    s->cfg->data_dir, strerror(errno));
			f->failed = true;
			return;
		}
		/* The faults that were set before we logged in. */
		fault_reload(s);
	}
	memset(&e, 0, sizeof(e));
	e.pid = getpid();
	e.start = registry_proc_start(e.pid);
	(void)snprintf(e.user, sizeof(e.user), "%s", s->user);
	(void)snprintf(e.peer, sizeof(e.peer), "%s", s->peer.addr);
	(void)snprintf(e.state, sizeof(e.state), "%s",
	    fault_state_name(s->state));
	(void)snprintf(e.mailbox, sizeof(e.mailbox), "%s", mbox);
	if (registry_write(s->cfg->data_dir, &e) < 0) {
		log_msg(LOG_WARNING, "session registry: %s", strerror(errno));
		f->failed = true;
		return;
	}
	f->registered = true;
	f->state = s->state;
	(void)snprintf(f->mailbox, sizeof(f->mailbox), "%s", mbox);
	f->cmd_since = s->cmd_since;
	f->touched = now;
}

int
fault_session_check(struct session *s)
{
	if (!fault_signalled)
		return 0;
	fault_signalled = 0;
	if (s->fault != NULL && s->fault->registered)
		fault_reload(s);
	return s->closing ? -1 : 0;
}

/* Takes one command from the shared "no" counter. */
static bool
fault_take_no(void *ctx, struct registry_fault *rf)
{
	struct fault_state *f = ctx;

	f->f = *rf;
	if (rf->no == 0)
		return false;
	rf->no--;
	f->f.no = UINT32_MAX;	/* marks "taken" for the caller */
	return true;
}

bool
fault_session_refuse(struct session *s)
{
	struct fault_state *f = s->fault;
	struct timespec zero = { 0, 0 };
	sigset_t set;

	if (f == NULL || !f->registered)
		return false;
	/* A signal that came while we were busy: blocked, so pending. */
	sigemptyset(&set);
	sigaddset(&set, REGISTRY_SIGNAL);
	if (sigtimedwait(&set, NULL, &zero) == REGISTRY_SIGNAL)
		fault_signalled = 1;
	if (fault_session_check(s) < 0)
		return true;
	if (f->f.no == 0 || strcasecmp(s->cmd->name, "LOGOUT") == 0)
		return false;
	if (registry_fault_update(s->cfg->data_dir, s->user, fault_take_no,
	    f) < 0) {
		log_msg(LOG_WARNING, "cannot update the faults of %s: %s",
		    s->user, strerror(errno));
		f->f.no = 0;
		return false;
	}
	if (f->f.no != UINT32_MAX)
		return false;	/* other sessions used them up */
	f->f.no = 1;		/* maybe more: look again next time */
	log_msg(LOG_NOTICE, "fault injected: NO to %s", s->cmd->name);
	resp_no(s, fault_code(f), "Refused by refimapctl fault no");
	return true;
}

static long long
fault_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void
fault_session_delay(struct session *s, const sigset_t *wait_mask)
{
	struct fault_state *f = s->fault;
	long long end;

	if (f == NULL || !f->registered || f->f.delay_ms == 0 ||
	    s->out.len == 0)
		return;
	end = fault_now_ms() + f->f.delay_ms;
	for (;;) {
		long long left = end - fault_now_ms();
		struct timespec ts;

		if (left <= 0)
			return;
		ts.tv_sec = (time_t)(left / 1000);
		ts.tv_nsec = (long)(left % 1000) * 1000000;
		if (ppoll(NULL, 0, &ts, wait_mask) == 0)
			return;
		if (errno != EINTR || !fault_signalled)
			return;	/* shutdown and the like: stop waiting */
		if (fault_session_check(s) < 0 || f->f.delay_ms == 0)
			return;
	}
}

void
fault_session_end(struct session *s)
{
	if (s->fault == NULL)
		return;
	if (s->fault->registered)
		registry_remove(s->cfg->data_dir, getpid());
	xfree(&s->fault);
}
