#!/usr/bin/env python3
"""refimapctl's fault verbs against real sessions of `refimapd --sandbox`.

Each verb is injected while client sessions are open, and the sessions are
shown to see it as README "Testing your IMAP client" says:
- status: a logged-in session with its selected mailbox;
- expunge: EXPUNGE (or VANISHED with QRESYNC) while IDLE and at NOOP;
- flag: FETCH FLAGS while IDLE, keywords included;
- fault uidvalidity: BYE to the session that has the mailbox selected
  (while IDLE too); a new session sees a larger UIDVALIDITY and the same
  messages (bytes, flags) with UIDs from 1, and UIDNEXT/HIGHESTMODSEQ that
  agree with them; a new APPEND continues the numbering;
- fault disconnect: the connection is closed without a word, while IDLE;
- fault bye: "* BYE" then the close, while IDLE;
- fault delay: every response waits, until fault clear;
- fault no: the next N commands of the user's sessions together get NO
  [CODE] (Python imaplib sees them), LOGOUT is never refused;
- reset: other mailboxes gone, INBOX empty, sessions told (BYE / EXPUNGE);
- the verbs refuse anyone but the data directory's owner (or root).
After the faults the store is checked for consistency (STATUS counts agree
with what FETCH lists)."""

import imaplib
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "protocol"))
sys.path.insert(0, HERE)
import lib  # noqa: E402
import rawimap  # noqa: E402
from lib import check, check_eq  # noqa: E402

READY_RE = re.compile(r"^refimapd ready host=(\S+) port=(\d+) data=(.+)$")
IDLE_WAIT = 4.0     # IDLE reports other sessions' changes within a second


class Sandbox:
    """refimapd --sandbox --stdin-lifetime, tagged for the leftover check."""

    def __init__(self, tag, args=()):
        self.tag = tag
        self.log = tempfile.NamedTemporaryFile(prefix="sbx-log-", delete=False)
        self.proc = subprocess.Popen(
            [lib.refimapd_path(), "--sandbox", "--stdin-lifetime"] +
            list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.log, env=lib.tagged_env(tag))
        ready, _, _ = select.select([self.proc.stdout], [], [], 15)
        line = self.proc.stdout.readline().decode() if ready else ""
        m = READY_RE.match(line.strip())
        if m is None:
            self.proc.kill()
            self.proc.wait()
            raise lib.TestFailure("no ready line (got %r); log:\n%s" % (
                line, lib.tail(lib.read_text(self.log.name))))
        self.host, self.port, self.data = m.group(1), int(m.group(2)), \
            m.group(3)

    def ctl(self, *args, expect=0):
        r = subprocess.run([lib.refimapctl_path(), "-d", self.data] +
                           list(args), capture_output=True, text=True,
                           timeout=20)
        check(r.returncode == expect, "refimapctl %s: exit %d (want %d): "
              "%s%s", " ".join(args), r.returncode, expect, r.stdout,
              r.stderr)
        return r.stdout

    def conn(self, user="test", password="test"):
        c = rawimap.Conn(self.port, timeout=lib.READ_TIMEOUT)
        c.login(user, password)
        return c

    def stop(self):
        self.proc.terminate()
        lib.wait_bounded(self.proc, 10, "sandbox")
        check(not os.path.exists(self.data), "sandbox left %s behind",
              self.data)
        lib.check_leftovers(self.tag, "sandbox")
        text = lib.read_text(self.log.name)
        os.unlink(self.log.name)
        report = lib.sanitizer_report(text)
        check(report is None, "sanitizer report:\n%s", report)


def ok(c, text):
    st, resp, untagged = c.cmd(text)
    check(st == "OK", "%s: %s %r", text, st, resp)
    return untagged


def message(n, extra=b""):
    return (b"From: a@example.org\r\nTo: b@example.org\r\nSubject: m%d\r\n"
            b"Message-ID: <m%d@example.org>\r\n\r\nbody %d\r\n%s"
            % (n, n, n, extra))


def append(c, mailbox, n, flags=None):
    st, text, _ = c.append(mailbox, message(n), flags=flags)
    check(st == "OK", "APPEND: %s %r", st, text)


def idle_start(c):
    c.send(b"i1 IDLE\r\n")
    line = c.read_line()
    check(line.startswith(b"+"), "IDLE: expected +, got %r", line)


def idle_until(c, pattern, what, wait=IDLE_WAIT):
    """Reads untagged lines while IDLE until one matches; the lines."""
    deadline = time.monotonic() + wait
    seen = []
    rx = re.compile(pattern)
    while time.monotonic() < deadline:
        c.sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            line = c.read_line()
        except rawimap.Dropped as e:
            raise lib.TestFailure("%s: dropped (%s) after %r" % (what, e,
                                                                  seen))
        seen.append(line)
        if rx.search(line):
            return seen
    raise lib.TestFailure("%s: not seen within %g s; got %r" % (what, wait,
                                                                seen))


def idle_done(c):
    c.send(b"DONE\r\n")
    st, text, untagged = c.finish("i1")
    check(st == "OK", "IDLE end: %s %r", st, text)
    c.sock.settimeout(lib.READ_TIMEOUT)
    return untagged


def expect_closed(c, what, bye):
    """The server closes the connection; with bye, after one * BYE line."""
    c.sock.settimeout(IDLE_WAIT)
    data = b""
    deadline = time.monotonic() + IDLE_WAIT
    while time.monotonic() < deadline:
        try:
            chunk = c.sock.recv(4096)
        except OSError:
            chunk = b""
        if not chunk:
            break
        data += chunk
    else:
        raise lib.TestFailure("%s: still open after %g s (got %r)" % (
            what, IDLE_WAIT, data))
    data = c.buf + data
    if bye:
        check(re.match(rb"^\* BYE [^\r\n]*\r\n$", data) is not None,
              "%s: expected one BYE line, got %r", what, data)
    else:
        check(data == b"", "%s: expected no data, got %r", what, data)


def uids_flags(c, mailbox=None):
    """UID -> flags of the selected mailbox (UID FETCH 1:* FLAGS)."""
    out = {}
    for resp in ok(c, "UID FETCH 1:* (FLAGS)"):
        if b" FETCH " in resp[0]:
            _, items = rawimap.fetch_items(resp)
            out[items["UID"]] = items["FLAGS"]
    return out


def status(c, mailbox):
    untagged = ok(c, "STATUS %s (MESSAGES UIDNEXT UIDVALIDITY UNSEEN "
                  "HIGHESTMODSEQ)" % mailbox)
    m = re.search(rb"\((.*)\)", untagged[0][0])
    parts = m.group(1).split()
    return {parts[i].decode(): int(parts[i + 1])
            for i in range(0, len(parts), 2)}


def check_consistent(c, mailbox):
    """STATUS agrees with what FETCH lists; UIDs below UIDNEXT."""
    st = status(c, mailbox)
    ok(c, "EXAMINE %s" % mailbox)
    got = uids_flags(c)
    check_eq(st["MESSAGES"], len(got), "%s MESSAGES" % mailbox)
    check_eq(st["UNSEEN"], sum(1 for f in got.values() if b"\\Seen" not in f),
             "%s UNSEEN" % mailbox)
    check(all(u < st["UIDNEXT"] for u in got), "%s: UIDs %r, UIDNEXT %d",
          mailbox, sorted(got), st["UIDNEXT"])
    ok(c, "UNSELECT")
    return st, got


def test_status(sb):
    a = sb.conn()
    ok(a, "SELECT INBOX")
    out = sb.ctl("status")
    lines = out.splitlines()
    check(lines[0].split()[:6] == ["PID", "USER", "PEER", "STATE", "IDLE",
                                    "MAILBOX"], "status header %r", lines[0])
    rows = [ln.split(None, 5) for ln in lines[1:]]
    mine = [r for r in rows if r[1] == "test"]
    check(len(mine) == 1, "status: one session of test expected: %r", out)
    pid, user, peer, state, idle, mbox = mine[0]
    check(peer == "127.0.0.1" and state == "selected" and mbox == "INBOX" and
          int(idle) < 10, "status row %r", mine[0])
    check(os.path.exists("/proc/%s" % pid), "status pid %s not alive", pid)
    a.cmd("LOGOUT")
    a.close()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if len(sb.ctl("status").splitlines()) == 1:
            break
        time.sleep(0.1)
    else:
        raise lib.TestFailure("status still lists the session after LOGOUT")


def test_expunge(sb):
    w = sb.conn()
    ok(w, "CREATE Exp")
    for n in range(1, 6):
        append(w, "Exp", n)
    a = sb.conn()
    ok(a, "SELECT Exp")
    idle_start(a)
    sb.ctl("expunge", "test", "Exp", "2")
    idle_until(a, rb"^\* 2 EXPUNGE\r\n$", "EXPUNGE while IDLE")
    idle_done(a)
    # QRESYNC: VANISHED, at NOOP.
    q = sb.conn()
    ok(q, "ENABLE QRESYNC")
    ok(q, "SELECT Exp")
    sb.ctl("expunge", "test", "Exp", "4:*")
    untagged = ok(q, "NOOP")
    check([b"* VANISHED 4:5"] in untagged, "VANISHED at NOOP: %r", untagged)
    untagged = ok(a, "NOOP")
    check(untagged.count([b"* 3 EXPUNGE"]) == 2, "EXPUNGE at NOOP: %r",
          untagged)
    st, got = check_consistent(w, "Exp")
    check_eq(sorted(got), [1, 3], "UIDs after expunge")
    for c in (w, a, q):
        c.close()


def test_flag(sb):
    w = sb.conn()
    ok(w, "CREATE Flg")
    for n in range(1, 4):
        append(w, "Flg", n)
    a = sb.conn()
    ok(a, "SELECT Flg")
    idle_start(a)
    sb.ctl("flag", "test", "Flg", "2:3", "+FLAGS", "(\\Flagged $Work)")
    seen = idle_until(a, rb"^\* 3 FETCH ", "FETCH while IDLE")
    fl = [ln for ln in seen if b" FETCH " in ln]
    check(len(fl) == 2 and all(b"\\Flagged" in ln and b"$Work" in ln
                               for ln in fl), "FETCH FLAGS: %r", seen)
    sb.ctl("flag", "test", "Flg", "2", "-FLAGS", "$Work")
    seen = idle_until(a, rb"^\* 2 FETCH ", "FETCH after -FLAGS")
    check(b"$Work" not in seen[-1] and b"\\Flagged" in seen[-1],
          "-FLAGS: %r", seen)
    idle_done(a)
    _, got = check_consistent(w, "Flg")
    check_eq(got, {1: set(), 2: {b"\\Flagged"},
                   3: {b"\\Flagged", b"$Work"}}, "flags in the store")
    sb.ctl("flag", "test", "Flg", "1", "+FLAGS", "\\Bogus", expect=64)
    for c in (w, a):
        c.close()


def test_uidvalidity(sb):
    w = sb.conn()
    ok(w, "CREATE Uv")
    for n in range(1, 5):
        append(w, "Uv", n, flags="(\\Seen)" if n == 3 else None)
    sb.ctl("expunge", "test", "Uv", "1")
    before = status(w, "Uv")
    ok(w, "EXAMINE Uv")
    bodies = {}
    for resp in ok(w, "UID FETCH 1:* (BODY.PEEK[])"):
        _, items = rawimap.fetch_items(resp)
        bodies[items["UID"]] = items["BODY[]"]
    ok(w, "UNSELECT")
    check_eq(sorted(bodies), [2, 3, 4], "UIDs before")
    a = sb.conn()                   # selected, not idling: BYE at NOOP
    ok(a, "SELECT Uv")
    b = sb.conn()                   # selected and idling: BYE at once
    ok(b, "SELECT Uv")
    idle_start(b)
    out = sb.ctl("fault", "uidvalidity", "test", "Uv").split()
    check(int(out[0]) == before["UIDVALIDITY"] and int(out[1]) > int(out[0]),
          "fault uidvalidity printed %r (was %d)", out,
          before["UIDVALIDITY"])
    expect_closed(b, "IDLE session after fault uidvalidity", bye=True)
    a.send(b"n1 NOOP\r\n")
    expect_closed(a, "session at NOOP after fault uidvalidity", bye=True)
    after, got = check_consistent(w, "Uv")
    check(after["UIDVALIDITY"] > before["UIDVALIDITY"],
          "UIDVALIDITY %d -> %d", before["UIDVALIDITY"],
          after["UIDVALIDITY"])
    check_eq(sorted(got), [1, 2, 3], "renumbered UIDs")
    check_eq(after["UIDNEXT"], 4, "UIDNEXT")
    check_eq(after["UNSEEN"], 2, "UNSEEN")
    check_eq(got[2], {b"\\Seen"}, "flags kept")
    ok(w, "EXAMINE Uv")
    for resp in ok(w, "UID FETCH 1:* (BODY.PEEK[] MODSEQ)"):
        _, items = rawimap.fetch_items(resp)
        check_eq(items["BODY[]"], bodies[items["UID"] + 1], "body of UID %d"
                 % items["UID"])
    ok(w, "UNSELECT")
    # Nothing under the new UIDVALIDITY was expunged; MODSEQs agree with
    # HIGHESTMODSEQ.
    q = sb.conn()
    ok(q, "ENABLE QRESYNC")
    ok(q, "EXAMINE Uv")
    untagged = ok(q, "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
    check(not any(r[0].startswith(b"* VANISHED") for r in untagged),
          "VANISHED after renumbering: %r", untagged)
    modseqs = [int(m.group(1)) for r in untagged
               for m in [re.search(rb"MODSEQ \((\d+)\)", r[0])] if m]
    check(len(modseqs) == 3 and max(modseqs) == after["HIGHESTMODSEQ"],
          "MODSEQs %r, HIGHESTMODSEQ %d", modseqs, after["HIGHESTMODSEQ"])
    q.close()
    append(w, "Uv", 9)
    _, got = check_consistent(w, "Uv")
    check_eq(sorted(got), [1, 2, 3, 4], "UIDs after a new APPEND")
    sb.ctl("fault", "uidvalidity", "test", "Nope", expect=65)
    w.close()


def test_disconnect_bye(sb):
    a = sb.conn()
    ok(a, "SELECT INBOX")
    idle_start(a)
    b = sb.conn()                   # authenticated, waiting for a command
    other = sb.conn("other", "pw")  # another user: untouched
    sb.ctl("fault", "disconnect", "test")
    expect_closed(a, "fault disconnect while IDLE", bye=False)
    expect_closed(b, "fault disconnect", bye=False)
    ok(other, "NOOP")
    a = sb.conn()
    ok(a, "SELECT INBOX")
    idle_start(a)
    sb.ctl("fault", "bye", "test")
    expect_closed(a, "fault bye while IDLE", bye=True)
    ok(other, "NOOP")
    c = sb.conn()                   # a new session is not affected
    ok(c, "NOOP")
    for x in (c, other):
        x.close()


def test_delay(sb):
    a = sb.conn()
    sb.ctl("fault", "delay", "test", "400")
    t = time.monotonic()
    ok(a, "NOOP")
    took = time.monotonic() - t
    check(took >= 0.39, "NOOP with a 400 ms delay took %.3f s", took)
    b = sb.conn()                   # logged in after the fault: delayed too
    t = time.monotonic()
    ok(b, "NOOP")
    check(time.monotonic() - t >= 0.39, "new session not delayed")
    sb.ctl("fault", "clear", "test")
    t = time.monotonic()
    ok(a, "NOOP")
    took = time.monotonic() - t
    check(took < 0.3, "NOOP after fault clear took %.3f s", took)
    for x in (a, b):
        x.close()


def test_no(sb):
    a = imaplib.IMAP4(sb.host, sb.port, timeout=lib.READ_TIMEOUT)
    a.login("test", "test")
    b = imaplib.IMAP4(sb.host, sb.port, timeout=lib.READ_TIMEOUT)
    b.login("test", "test")
    sb.ctl("fault", "no", "test", "3")
    typ, data = a.select("INBOX")
    check(typ == "NO" and data[0].startswith(b"[UNAVAILABLE]"),
          "imaplib select: %r %r", typ, data)
    typ, data = b.noop()
    check_eq(typ, "NO", "second NO (other session)")
    typ, data = a.noop()
    check_eq(typ, "NO", "third NO")
    typ, data = b.noop()
    check_eq(typ, "OK", "after N refusals")
    typ, data = a.select("INBOX")
    check_eq(typ, "OK", "select after the refusals")
    # The code, seen on the wire; LOGOUT is never refused.
    c = sb.conn()
    sb.ctl("fault", "no", "test", "5", "SERVERBUG")
    st, text, _ = c.cmd("NOOP")
    check(st == "NO" and text.startswith(b"[SERVERBUG]"), "NO [CODE]: %s %r",
          st, text)
    st, text, untagged = c.cmd("LOGOUT")
    check(st == "OK" and untagged and untagged[0][0].startswith(b"* BYE"),
          "LOGOUT under fault no: %s %r", st, text)
    sb.ctl("fault", "clear", "test")
    typ, _ = a.noop()
    check_eq(typ, "OK", "after fault clear")
    sb.ctl("fault", "no", "test", "1", "bad code", expect=64)
    a.logout()
    b.logout()


def test_reset(sb):
    w = sb.conn()
    for name in ("R1", "R1/sub", "R2"):
        ok(w, "CREATE %s" % name)
        ok(w, "SUBSCRIBE %s" % name)
    append(w, "INBOX", 1)
    append(w, "INBOX", 2)
    append(w, "R1/sub", 3)
    a = sb.conn()
    ok(a, "SELECT R1/sub")
    i = sb.conn()
    ok(i, "SELECT INBOX")
    n = len(uids_flags(i))
    check(n >= 2, "INBOX has %d messages", n)
    sb.ctl("reset", "test")
    a.send(b"n1 NOOP\r\n")
    expect_closed(a, "session on a mailbox removed by reset", bye=True)
    untagged = ok(i, "NOOP")
    check(sum(1 for r in untagged if r[0].endswith(b" EXPUNGE")) == n,
          "EXPUNGEs after reset: %r", untagged)
    names = [r[0] for r in ok(w, 'LIST "" "*"')]
    check(len(names) == 1 and names[0].endswith(b" INBOX"),
          "LIST after reset: %r", names)
    subs = [r[0] for r in ok(w, 'LSUB "" "*"')]
    check(all(b"R1" not in s and b"R2" not in s for s in subs),
          "LSUB after reset: %r", subs)
    st, got = check_consistent(w, "INBOX")
    check_eq(got, {}, "INBOX after reset")
    append(w, "INBOX", 4)
    for x in (w, i):
        x.close()


def test_owner_only(sb):
    if os.geteuid() != 0:
        return      # needs another uid to try it
    c = sb.conn()
    r = subprocess.run([lib.refimapctl_path(), "-d", sb.data, "fault", "bye",
                        "test"], capture_output=True, text=True, timeout=20,
                       preexec_fn=lambda: (os.setgid(65534),
                                           os.setuid(65534)))
    check(r.returncode != 0, "fault bye as nobody succeeded")
    ok(c, "NOOP")
    r = subprocess.run([lib.refimapctl_path(), "-d", sb.data, "status"],
                       capture_output=True, text=True, timeout=20,
                       preexec_fn=lambda: (os.setgid(65534),
                                           os.setuid(65534)))
    check(r.returncode != 0, "status as nobody succeeded")
    c.close()


def main():
    lib.check_binaries()
    tag = "fault-verbs-%d" % os.getpid()
    sb = Sandbox(tag, ["--user", "test:test", "--user", "other:pw"])
    try:
        for t in (test_status, test_expunge, test_flag, test_uidvalidity,
                  test_disconnect_bye, test_delay, test_no, test_reset,
                  test_owner_only):
            try:
                t(sb)
            except rawimap.Dropped as e:
                raise lib.TestFailure("%s: connection dropped: %s" % (
                    t.__name__, e))
            except lib.TestFailure as e:
                raise lib.TestFailure("%s: %s" % (t.__name__, e))
        status_out = sb.ctl("status")
        check(status_out.count("\n") >= 1, "status output %r", status_out)
    finally:
        data = sb.data
        try:
            sb.stop()
        finally:
            if os.path.exists(data):
                shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    lib.main(main)
