#!/usr/bin/env python3
"""A recovery killed half-way is finished by the next process, and nothing
committed is lost.

A commit writes the log, not the pages: right after an APPEND the changed
pages may exist only in the shared cache, inside the region files. Recovery
removes those regions and rebuilds the pages from the log. If the process
recovering is killed after the regions went (a recovery run for `deliver`
dies with it), a process that then simply created fresh regions would lose
those commits for good. So recovery leaves DATA_DIR/db/recovery.pending
until it has finished, and a store whose regions are gone while its log
remains is recovered before anyone attaches.

Each case: a session APPENDs messages (acknowledged), then the session and
the daemon are killed with SIGKILL, so the pages stay unwritten; the
register of Berkeley DB processes is emptied (as a recovery that panicked
the environment leaves it), and then:
  - "mark, no regions": the mark is made and the regions are removed, as a
    recovery killed after removing them leaves the store;
  - "no mark, no regions": the regions are removed, no mark;
  - "mark, regions": the mark alone, as a recovery killed before it removed
    anything leaves the store.
A new daemon must serve every acknowledged message, byte for byte, with
UIDNEXT above them, remove the mark, and go on giving new UIDs; and
`refimapctl` (which recovers by itself) must do the same for a store left
the same way."""

import imaplib
import os
import re
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "protocol"))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

MARK = "recovery.pending"
PID_EMPTY = b"X" + b" " * 22 + b"0\n"
CONFIG = [("fsync", "yes")]
COUNT = 5


def message(i):
    return (b"From: mark@test\r\nTo: test@test\r\nSubject: pending %d\r\n"
            b"Message-ID: <mark-%d@test>\r\n\r\nbody %d\r\n" % (i, i, i)
            + b"x" * (200 * i) + b"\r\n")


def session_children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def uidnext(c):
    typ, data = c.status("INBOX", "(UIDNEXT MESSAGES)")
    check_eq(typ, "OK", "STATUS INBOX")
    m = re.search(rb"UIDNEXT (\d+)", data[0])
    n = re.search(rb"MESSAGES (\d+)", data[0])
    return int(m.group(1)), int(n.group(1))


def bodies(c):
    typ, _ = c.select("INBOX", readonly=True)
    check_eq(typ, "OK", "EXAMINE INBOX")
    typ, data = c.uid("FETCH", "1:*", "(BODY.PEEK[])")
    check_eq(typ, "OK", "UID FETCH")
    got = {}
    for item in data:
        if isinstance(item, tuple):
            uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
            got[uid] = item[1]
    return got


def kill_all(store):
    """SIGKILL every process of this store's daemon that is still there (a
    store check it had just forked survives its parent's death), and wait
    until they are gone."""
    deadline = time.monotonic() + lib.READ_TIMEOUT
    while True:
        pids = lib.live_pids_with_env(lib.TAG_VAR, store.tag)
        if not pids:
            return
        check(time.monotonic() < deadline, "processes %r do not die", pids)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


def leave_half_recovered(store, mark, regions):
    """The store as a killed recovery leaves it (every process dead)."""
    kill_all(store)
    db = os.path.join(store.data_dir, "db")
    reg = os.path.join(db, "__db.register")
    with open(reg, "rb") as f:
        size = len(f.read())
    with open(reg, "wb") as f:
        f.write(PID_EMPTY * (size // len(PID_EMPTY)))
    if mark:
        open(os.path.join(db, MARK), "w").close()
    if not regions:
        for name in os.listdir(db):
            if re.fullmatch(r"__db\.\d+", name):
                os.unlink(os.path.join(db, name))


def daemon(store, name):
    """A daemon logging to a file of its own (the listen line is looked for
    in it)."""
    d = lib.Daemon(store)
    d.log = store.new_log(name)
    return d.start()


def crash_after_appends(store):
    """APPENDs COUNT messages through a session, then SIGKILLs the session
    and the daemon before anything writes the pages. Returns the UIDs."""
    d = daemon(store, "refimapd-crash.log")
    uids = {}
    try:
        c = imaplib.IMAP4("127.0.0.1", d.port, timeout=lib.READ_TIMEOUT)
        c.login("test", "test")
        for i in range(1, COUNT + 1):
            typ, data = c.append("INBOX", None, None, message(i))
            check_eq(typ, "OK", "APPEND %d" % i)
            uid = int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))
            uids[uid] = message(i)
        check_eq(sorted(uids), list(range(1, COUNT + 1)), "APPENDUIDs")
        for pid in session_children(d.proc.pid):
            os.kill(pid, signal.SIGKILL)
        d.kill()
        c.sock.close()
    finally:
        d.kill()
    return uids


def check_served(store, uids, who):
    d = daemon(store, "refimapd-after.log")
    try:
        c = imaplib.IMAP4("127.0.0.1", d.port, timeout=lib.READ_TIMEOUT)
        typ, _ = c.login("test", "test")
        check_eq(typ, "OK", "%s: LOGIN after the crash" % who)
        check_eq(uidnext(c), (COUNT + 1, COUNT), "%s: UIDNEXT, MESSAGES" % who)
        check_eq(bodies(c), uids, "%s: the acknowledged messages" % who)
        typ, data = c.append("INBOX", None, None, message(COUNT + 1))
        check_eq(typ, "OK", "%s: APPEND after recovery" % who)
        m = re.search(rb"\[APPENDUID \d+ (\d+)\]", data[0])
        check(m is not None and int(m.group(1)) == COUNT + 1,
              "%s: the next UID is %d: %r" % (who, COUNT + 1, data[0]))
        c.logout()
    finally:
        d.stop()
    check(not os.path.exists(os.path.join(store.data_dir, "db", MARK)),
          "%s: the recovery mark is gone" % who)


def run_case(mark, regions):
    who = "%s, %s" % ("mark" if mark else "no mark",
                      "regions" if regions else "no regions")
    store = lib.Store(config=CONFIG)
    try:
        uids = crash_after_appends(store)
        leave_half_recovered(store, mark, regions)
        check_served(store, uids, "daemon (%s)" % who)
        store.check_logs()
    finally:
        store.cleanup()


def run_ctl_case():
    """refimapctl recovers by itself (no daemon): a delivered message gets
    the next UID after the acknowledged ones, and the mark is gone."""
    store = lib.Store(config=CONFIG)
    try:
        uids = crash_after_appends(store)
        leave_half_recovered(store, True, False)
        store.ctl("deliver", "test", input=message(COUNT + 1).decode())
        uids[COUNT + 1] = message(COUNT + 1)
        check(not os.path.exists(os.path.join(store.data_dir, "db", MARK)),
              "refimapctl: the recovery mark is gone")
        d = daemon(store, "refimapd-after.log")
        try:
            c = imaplib.IMAP4("127.0.0.1", d.port, timeout=lib.READ_TIMEOUT)
            c.login("test", "test")
            check_eq(bodies(c), uids, "refimapctl: every message")
            c.logout()
        finally:
            d.stop()
        store.check_logs()
    finally:
        store.cleanup()


def run():
    for mark, regions in ((True, False), (False, False), (True, True)):
        run_case(mark, regions)
    run_ctl_case()


if __name__ == "__main__":
    lib.main(run)
