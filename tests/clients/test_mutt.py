#!/usr/bin/env python3
"""Debian's mutt against the daemon, driven without a person.

Five messages are stored (three by `refimapctl deliver`, two by imaplib's
APPEND). mutt runs on a pseudo-terminal (Python's pty module) with a
muttrc written to the test's temp dir (no header or body cache, no TLS)
and a `push` of index commands given with -e: it reads one message, flags
one, copies one to another mailbox, deletes one, syncs and quits. The
whole run is bounded (MUTT_TIMEOUT); mutt is killed by pid otherwise.

Then imaplib checks the server side: the message read is \\Seen (RFC 3501
6.4.5: BODY[] sets \\Seen), the flagged one \\Flagged (6.4.6), the copy is
in Saved byte for byte (6.4.7), the deleted one is gone (6.4.3) and the
others are untouched. Skips (77) when mutt is not installed."""

import errno
import imaplib
import os
import pty
import re
import select
import shutil
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "protocol"))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

MUTT_TIMEOUT = 40.0
SUBJECTS = ["README", "FLAGME", "COPYME", "DELETEME", "KEEPME"]


def message(subject, i, crlf):
    nl = "\r\n" if crlf else "\n"
    return nl.join([
        "From: Sender %d <sender%d@example.org>" % (i, i),
        "To: test@example.org",
        "Subject: %s" % subject,
        "Date: Mon, 0%d Jan 2024 10:00:00 +0000" % (i + 1),
        "Message-ID: <mutt-%d@example.org>" % i,
        "",
        "Body of %s, line one." % subject,
        "Line two.",
        ""]).encode()


MUTTRC = """\
set imap_user = "test"
set imap_pass = "test"
set folder = "imap://127.0.0.1:{port}/"
set spoolfile = "+INBOX"
set header_cache = ""
set message_cachedir = ""
set ssl_starttls = no
set ssl_force_tls = no
set imap_check_subscribed = no
set imap_passive = yes
set imap_idle = no
set mail_check = 60
set timeout = 0
set tmpdir = "{tmp}"
set record = ""
set postponed = "{tmp}/postponed"
set mbox = "+INBOX"
set move = no
set mark_old = no
set confirmcreate = no
set confirmappend = no
set delete = yes
set quit = yes
set wait_key = no
set beep = no
set sort = mailbox-order
set pager_stop = yes
set editor = "/bin/true"
set save_history = 0
"""

# Index commands, one step per push: read, flag, copy, delete, sync, quit.
PUSH = ("<search>~s README<enter><display-message><exit>"
        "<tag-pattern>~s FLAGME<enter><tag-prefix><flag-message>"
        "<untag-pattern>~A<enter>"
        "<tag-pattern>~s COPYME<enter><tag-prefix><copy-message>=Saved<enter>"
        "<untag-pattern>~A<enter>"
        "<delete-pattern>~s DELETEME<enter>"
        "<sync-mailbox><quit>")


def run_mutt(argv, env, transcript_path):
    """Run argv on a pty; (exit status, transcript). Bounded by
    MUTT_TIMEOUT: on timeout mutt is killed by pid and the test fails."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    out = bytearray()
    deadline = time.monotonic() + MUTT_TIMEOUT
    status = None
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    data = os.read(fd, 65536)
                except OSError as e:
                    if e.errno != errno.EIO:
                        raise
                    data = b""
                if not data:
                    break
                out += data
            else:
                done, st = os.waitpid(pid, os.WNOHANG)
                if done:
                    status = st
                    break
        if status is None:
            end = time.monotonic() + 5
            while time.monotonic() < end:
                done, st = os.waitpid(pid, os.WNOHANG)
                if done:
                    status = st
                    break
                time.sleep(0.05)
    finally:
        if status is None:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            os.waitpid(pid, 0)
        os.close(fd)
        with open(transcript_path, "wb") as f:
            f.write(out)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]|\r", " ",
                  out.decode("utf-8", "replace"))
    if status is None:
        raise lib.TestFailure("mutt did not finish within %g s (killed); its"
                              " screen:\n%s" % (MUTT_TIMEOUT, lib.tail(text, 15)))
    return os.waitstatus_to_exitcode(status), text


def flags_by_subject(m):
    """{subject: (uid, flags bytes)} of the selected mailbox."""
    typ, data = m.fetch("1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    check_eq(typ, "OK", "FETCH status")
    out = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        head, hdr = item
        subj = hdr.decode().strip().split(":", 1)[1].strip()
        uid = int(re.search(rb"UID (\d+)", head).group(1))
        flags = re.search(rb"FLAGS \(([^)]*)\)", head).group(1)
        out[subj] = (uid, flags.split())
    return out


def run():
    mutt = shutil.which("mutt")
    if mutt is None:
        raise lib.TestSkip("mutt is not installed (Debian package mutt)")
    with lib.Server() as srv:
        # Three by delivery (LF line ends, made CRLF), two by APPEND.
        for i, subj in enumerate(SUBJECTS[:3]):
            srv.ctl("deliver", "test", input=message(subj, i, False).decode())
        m = imaplib.IMAP4(srv.host, srv.port, timeout=lib.READ_TIMEOUT)
        m.login("test", "test")
        for i, subj in enumerate(SUBJECTS[3:], 3):
            typ, data = m.append("INBOX", None, None, message(subj, i, True))
            check_eq(typ, "OK", "APPEND %s (%r)" % (subj, data))
        typ, data = m.create("Saved")
        check_eq(typ, "OK", "CREATE Saved (%r)" % data)
        m.select("INBOX")
        before = flags_by_subject(m)
        check_eq(sorted(before), sorted(SUBJECTS), "subjects stored")
        typ, data = m.fetch(str(SUBJECTS.index("COPYME") + 1), "(BODY.PEEK[])")
        check_eq(typ, "OK", "FETCH COPYME")
        copyme = data[0][1]
        m.logout()

        home = os.path.join(srv.store.tmp, "home")
        os.mkdir(home)
        muttrc = os.path.join(srv.store.tmp, "muttrc")
        with open(muttrc, "w") as f:
            f.write(MUTTRC.format(port=srv.port, tmp=home))
        env = srv.store.env()
        env.update({"HOME": home, "TERM": "vt100", "LANG": "C.UTF-8",
                    "LC_ALL": "C.UTF-8", "COLUMNS": "120", "LINES": "40"})
        env.pop("MAIL", None)
        env.pop("MAILCAP", None)
        rc, screen = run_mutt([mutt, "-n", "-F", muttrc, "-e", "push '%s'" % PUSH],
                              env, os.path.join(srv.store.tmp, "mutt.screen"))
        if rc != 0 or "README" not in screen:
            raise lib.TestFailure("mutt exited %d; its screen:\n%s"
                                  % (rc, lib.tail(screen, 15)))

        m = imaplib.IMAP4(srv.host, srv.port, timeout=lib.READ_TIMEOUT)
        m.login("test", "test")
        typ, data = m.select("INBOX")
        check_eq(typ, "OK", "SELECT INBOX")
        after = flags_by_subject(m)
        check_eq(sorted(after), sorted(set(SUBJECTS) - {"DELETEME"}),
                 "INBOX subjects after mutt (DELETEME deleted and expunged)")
        for subj, (uid, flags) in after.items():
            check_eq(uid, before[subj][0], "UID of %s" % subj)
        check(b"\\Seen" in after["README"][1], "README not \\Seen: %r",
              after["README"][1])
        check(b"\\Flagged" in after["FLAGME"][1], "FLAGME not \\Flagged: %r",
              after["FLAGME"][1])
        for subj in ("COPYME", "KEEPME"):
            check(b"\\Flagged" not in after[subj][1] and b"\\Deleted" not in after[subj][1],
                  "%s has flags %r", subj, after[subj][1])
        typ, data = m.select("Saved")
        check_eq(typ, "OK", "SELECT Saved")
        check_eq(data, [b"1"], "messages in Saved")
        typ, data = m.fetch("1", "(BODY.PEEK[])")
        check_eq(typ, "OK", "FETCH Saved 1")
        check_eq(data[0][1], copyme, "the copy in Saved")
        m.logout()


if __name__ == "__main__":
    lib.main(run)
