#!/usr/bin/env python3
"""The three values of `fsync` (README "Configuration", refimapd.conf(5)).

- `fsync = yes` (the default), `all` and `no` are accepted; the daemon
  starts with each and serves APPEND and STORE.
- With `yes` a flag change (STORE, and the \\Seen set by FETCH BODY[]) is
  committed without an fsync of its own but written to the operating system
  before the tagged OK: kill -9 of the session right after the OK, then of
  the daemon itself, loses none of it (the store is reopened and recovered
  by a new daemon). The same holds for `all`, where every flag change is
  fsynced.
- With `no` nothing is promised across a kill; the STORE is only checked
  to answer OK and to be seen by the same session.
- A value that is not yes, all or no is refused (tests/clients/test_config.py
  checks the message and the exit status).
"""

import os
import signal
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "protocol"))
sys.path.insert(0, HERE)
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402
import rawimap  # noqa: E402
from test_kill9 import session_children, socket_inode, process_with_socket  # noqa: E402

MESSAGES = 6


def message(i):
    return ("From: a@example.org\r\nTo: b@example.org\r\n"
            "Subject: fsync mode %d\r\nMessage-ID: <fsync-%d@test>\r\n\r\n"
            "body %d\r\n" % (i, i, i)).encode()


def session_pid(srv, c):
    """The daemon's child serving connection c (found by its socket)."""
    client_port = c.sock.getsockname()[1]
    for _ in range(400):
        inode = socket_inode(srv.port, client_port)
        if inode is not None:
            pid = process_with_socket(session_children(srv.daemon.proc.pid),
                                      inode)
            if pid is not None:
                return pid
        time.sleep(0.005)
    raise lib.TestFailure("no session process found for the connection")


def connect(srv):
    """A logged-in session with INBOX selected, retrying (bounded) while
    the daemon recovers the store after a kill."""
    for _ in range(100):
        try:
            c = rawimap.Conn(srv.port, timeout=15)
            st, text, _ = c.cmd("LOGIN test test")
        except (rawimap.Dropped, OSError):
            time.sleep(0.05)
            continue
        if st == "OK":
            st, text, _ = c.cmd("SELECT INBOX")
            check_eq(st, "OK", "SELECT INBOX (%r)" % text)
            return c
        check(st == "NO" and b"[UNAVAILABLE]" in text, "LOGIN: %s %r",
              st, text)
        c.close()
        time.sleep(0.05)
    raise lib.TestFailure("no session could log in after 100 tries")


def flags_by_uid(c):
    st, text, untagged = c.cmd("UID FETCH 1:* (UID FLAGS)")
    check_eq(st, "OK", "UID FETCH 1:* (UID FLAGS) (%r)" % text)
    out = {}
    for resp in untagged:
        if b" FETCH " not in resp[0]:
            continue
        _, items = rawimap.fetch_items(resp)
        out[items["UID"]] = items["FLAGS"]
    return out


def kill9(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def check_mode(value):
    what = "fsync = %s" % value
    with lib.Server(config=[("fsync", value)]) as srv:
        c = connect(srv)
        for i in range(MESSAGES):
            st, text, _ = c.append("INBOX", message(i))
            check_eq(st, "OK", "%s: APPEND %d (%r)" % (what, i, text))
        c.close()

        # One flag change per round trip, each acknowledged, then the
        # session is killed at once: no LOGOUT, no later commit.
        c = connect(srv)
        pid = session_pid(srv, c)
        want = {}
        for uid in range(1, MESSAGES + 1):
            flag = "\\Flagged" if uid % 2 else "\\Answered"
            st, text, _ = c.cmd("UID STORE %d +FLAGS.SILENT (%s)"
                                % (uid, flag))
            check_eq(st, "OK", "%s: UID STORE %d (%r)" % (what, uid, text))
            want[uid] = {flag.encode()}
        # \Seen by FETCH BODY[] is a flag change too.
        st, text, _ = c.cmd("UID FETCH 2 BODY[TEXT]")
        check_eq(st, "OK", "%s: UID FETCH 2 BODY[TEXT] (%r)" % (what, text))
        want[2].add(b"\\Seen")
        if value == "no":
            # Nothing is promised across a kill: a killed session makes
            # the daemon recover the store, and commits that were never
            # written to the log file go with the old regions.
            got = flags_by_uid(c)
            c.close()
            for uid, flags in want.items():
                check(flags <= got.get(uid, set()),
                      "%s: UID %d has FLAGS %r, want %r among them", what,
                      uid, got.get(uid), flags)
            return
        kill9(pid)
        c.close()

        c = connect(srv)
        got = flags_by_uid(c)
        c.close()
        for uid, flags in want.items():
            check(flags <= got.get(uid, set()),
                  "%s: after kill -9 of the session, UID %d has FLAGS %r,"
                  " want %r among them", what, uid, got.get(uid), flags)

        # Another flag change, then kill -9 of the session and of the
        # daemon: a new daemon on the same store still has every one.
        c = connect(srv)
        pid = session_pid(srv, c)
        st, text, _ = c.cmd("UID STORE 1:* +FLAGS.SILENT ($Done)")
        check_eq(st, "OK", "%s: UID STORE 1:* $Done (%r)" % (what, text))
        kill9(pid)
        c.close()
        srv.daemon.kill()
        d = lib.Daemon(srv.store)
        d.log = srv.store.new_log("refimapd-restarted.log")
        srv.daemon = d.start()
        c = connect(srv)
        got = flags_by_uid(c)
        c.cmd("LOGOUT")
        c.close()
        check_eq(sorted(got), list(range(1, MESSAGES + 1)),
                 "%s: UIDs after a restart" % what)
        for uid, flags in want.items():
            check(flags | {b"$Done"} <= got[uid],
                  "%s: after kill -9 of the session and the daemon, UID %d"
                  " has FLAGS %r, want %r among them", what, uid, got[uid],
                  flags | {b"$Done"})


def run():
    for value in ("yes", "all", "no"):
        check_mode(value)
    print("fsync = yes, all and no: flag changes acknowledged before kill -9"
          " kept (yes, all)")


if __name__ == "__main__":
    lib.main(run)
