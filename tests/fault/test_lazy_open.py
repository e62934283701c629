#!/usr/bin/env python3
"""A logged-in session opens the store's databases when it first needs
them (store_ready), not at LOGIN.

After LOGIN, CAPABILITY, NOOP and NAMESPACE, the session process has one
database file open (mailboxes.db: LOGIN looks for the user's INBOX); after
LIST it has all eleven. A session that only logs in and waits keeps no
handle, cursor or mutex of the other ten. The first LOGIN of a user the
store has never seen, which creates the INBOX, works too (it opens
everything first).

Exit 0 on success, 77 if the binaries are missing or the session's file
descriptors cannot be read here, 1 on failure."""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "protocol"))
import lib  # noqa: E402
from lib import check  # noqa: E402
from rawimap import Conn  # noqa: E402

ALL = {"mailboxes.db", "subscriptions.db", "counters.db", "messages.db",
       "by_modseq.db", "expunged.db", "bodies.db", "body_refs.db",
       "keywords.db", "mime.db", "heads.db"}


def session_pid(daemon_pid, known):
    """The daemon's child that is not in known (waits a little)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        new = [p for p in lib.child_pids(daemon_pid) if p not in known]
        if new:
            return new[0]
        time.sleep(0.02)
    raise lib.TestFailure("no session process appeared")


def open_dbs(pid):
    names = set()
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except PermissionError as e:
        raise lib.TestSkip("cannot read the session's fds: %s" % e)
    for fd in fds:
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        base = os.path.basename(target)
        if base.endswith(".db"):
            names.add(base)
    return names


def login(srv, user, password, known):
    c = Conn(srv.port)
    pid = session_pid(srv.daemon.proc.pid, known)
    c.login(user, password)
    return c, pid


def run():
    with lib.Server(users=[("test", "test")]) as srv:
        known = set()
        c, pid = login(srv, "test", "test", known)
        known.add(pid)
        for text in ("CAPABILITY", "NOOP", "NAMESPACE"):
            st, resp, _ = c.cmd(text)
            check(st == "OK", "%s: %s %r", text, st, resp)
        got = open_dbs(pid)
        check(got == {"mailboxes.db"},
              "after LOGIN, CAPABILITY, NOOP, NAMESPACE: open %r",
              sorted(got))
        st, resp, _ = c.cmd('LIST "" *')
        check(st == "OK", "LIST: %s %r", st, resp)
        got = open_dbs(pid)
        check(got == ALL, "after LIST: open %r", sorted(got))
        st, resp, _ = c.cmd("SELECT INBOX")
        check(st == "OK", "SELECT: %s %r", st, resp)
        c.cmd("LOGOUT")
        c.close()

        # A user the store has never seen (a passwd line copied from
        # test's): LOGIN creates the INBOX.
        path = os.path.join(srv.data_dir, "passwd")
        with open(path) as f:
            line = [ln for ln in f if ln.startswith("test:")][0]
        with open(path, "a") as f:
            f.write("fresh:" + line.split(":", 1)[1])
        c, pid = login(srv, "fresh", "test", known)
        st, resp, _ = c.cmd("SELECT INBOX")
        check(st == "OK", "new user's SELECT: %s %r", st, resp)
        st, resp, _ = c.append("INBOX", b"hello")
        check(st == "OK", "APPEND: %s %r", st, resp)
        c.cmd("LOGOUT")
        c.close()

if __name__ == "__main__":
    lib.main(run)
