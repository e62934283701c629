/*
 * fault.h: the session's side of fault injection and of the session
 * registry (lib/registry.h), for client developers who test against
 * refimapd (refimapctl fault ..., status).
 *
 * A logged-in session records itself in DATA_DIR/run/sessions/PID and
 * keeps the record current (state, selected mailbox, last command). It
 * reads the faults injected for its user when it logs in and again
 * whenever REGISTRY_SIGNAL arrives: the signal is blocked except while the
 * session waits (ppoll), and before each command a pending one is taken
 * without waiting, so a fault is seen at once by an idle session and
 * before the next command by a busy one.
 */
#ifndef REFIMAPD_FAULT_H
#define REFIMAPD_FAULT_H

#include <signal.h>
#include <stdbool.h>

struct session;

/* Called once at the start of session_run: installs the signal handler,
 * blocks the signal and lets it through wait_mask (the ppoll mask). */
void fault_session_start(struct session *s, sigset_t *wait_mask);
/* After each round of input: writes or refreshes the registry entry. */
void fault_session_update(struct session *s);
/*
 * While waiting for input: acts on a signal that arrived (re-reads the
 * faults; a "bye" order queues BYE, a "disconnect" order drops what is
 * queued). -1: the session must end now, 0: go on.
 */
int fault_session_check(struct session *s);
/*
 * Before a complete command runs: true when a fault answered it instead
 * (tagged NO with the injected code, counted in the user's shared
 * counter; LOGOUT is never refused) or ended the session.
 */
bool fault_session_refuse(struct session *s);
/* Before responses are sent: waits the injected delay (a signal in
 * wait_mask cuts it short). */
void fault_session_delay(struct session *s, const sigset_t *wait_mask);
/* At the end of the session: removes the registry entry. */
void fault_session_end(struct session *s);

#endif
