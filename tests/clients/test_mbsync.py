#!/usr/bin/env python3
"""Debian's mbsync (isync) syncing a Maildir with the daemon, both ways.

An mbsyncrc written to the test's temp dir pairs an IMAPStore on the
daemon (no TLS, AuthMechs LOGIN) with a MaildirStore in the temp dir
(Inbox plus SubFolders Verbatim); the Channel has Patterns *, Create Both,
Expunge Both and SyncState *. `mbsync -V -c RC -a` runs, bounded
(MBSYNC_TIMEOUT; killed by pid otherwise), after each of these rounds:

  1. messages delivered on the server (refimapctl deliver) into INBOX and
     Work reach the Maildir;
  2. a message written into the Maildir's new/ reaches the server (APPEND),
     a flag set locally (",S" in the file name) shows as \\Seen on the
     server, a flag set on the server (STORE) shows in the file name;
  3. a delete on either side (server: STORE \\Deleted + EXPUNGE; local:
     the file removed) reaches the other side;
  4. Work is deleted and re-created on the server (a new UIDVALIDITY, RFC
     3501 2.3.1.1) holding the same messages plus one: mbsync must notice
     and recover with neither duplicates nor losses.

Note on round 4: isync 1.4.4 recovers from a new UIDVALIDITY by matching
Message-IDs, but keeps the old MaxPulledUid in its sync state, so a far-side
message whose new UID is not above the old highest pulled UID is taken as
already seen and never pulled (seen against this server: Work re-created
with 2 old messages and 1 new one, UIDs 1-3, old MaxPulledUid 3; the new
one stayed on the server only). The server is right to number the new
mailbox from 1 (RFC 3501 2.3.1.1 only asks for a greater UIDVALIDITY), so
the re-created Work here holds all 3 of its old messages and the new one
gets UID 4. The old messages keep their order (so their UIDs): isync only
recovers when every paired UID holds the same Message-ID as before; in
another order it stops with "UIDVALIDITY genuinely changed (at UID 1)"
and exit 1 (seen against this server), which is isync's design.

After every round both sides must hold the same messages per mailbox
(Message-ID and a digest of the body, duplicates counted) with the same
flags. Skips (77) when mbsync is not installed."""

import hashlib
import imaplib
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "protocol"))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

MBSYNC_TIMEOUT = 20.0

MBSYNCRC = """\
IMAPAccount refimapd
Host 127.0.0.1
Port {port}
User test
Pass test
SSLType None
AuthMechs LOGIN
Timeout 10

IMAPStore remote
Account refimapd

MaildirStore local
Path {maildir}/
Inbox {maildir}/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
"""

# Maildir info letters and the IMAP system flags they stand for.
MAILDIR_FLAGS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered",
                 "S": "\\Seen", "T": "\\Deleted"}


def message(tag, n, crlf=False):
    nl = "\r\n" if crlf else "\n"
    return nl.join([
        "From: Sender <sender@example.org>",
        "To: test@example.org",
        "Subject: %s %d" % (tag, n),
        "Date: Mon, 01 Jan 2024 10:%02d:00 +0000" % (n % 60),
        "Message-ID: <mbsync-%s-%d@example.org>" % (tag, n),
        "",
        "Body of %s %d." % (tag, n),
        "A second line, %s." % ("x" * n),
        ""]).encode()


def ident(raw):
    """(Message-ID, body digest) of a message; line ends normalized."""
    raw = raw.replace(b"\r\n", b"\n")
    head, _, body = raw.partition(b"\n\n")
    m = re.search(rb"(?im)^message-id:\s*(<[^>\r\n]*>)", head)
    mid = m.group(1).decode() if m else "(none)"
    return mid, hashlib.sha256(body.rstrip(b"\n")).hexdigest()[:16]


# ---------------------------------------------------------------------------
# The two sides, as {mailbox: sorted [(message-id, digest, flags)]}.

def local_files(maildir, box):
    """[(path, basename)] of the messages of a Maildir folder."""
    d = os.path.join(maildir, box)
    out = []
    for sub in ("cur", "new"):
        p = os.path.join(d, sub)
        if os.path.isdir(p):
            out += [(os.path.join(p, n), n) for n in sorted(os.listdir(p))
                    if not n.startswith(".")]
    return out


def local_boxes(maildir):
    return sorted(n for n in os.listdir(maildir)
                  if os.path.isdir(os.path.join(maildir, n, "cur")))


def local_state(maildir):
    state = {}
    for box in local_boxes(maildir):
        msgs = []
        for path, name in local_files(maildir, box):
            with open(path, "rb") as f:
                mid, dig = ident(f.read())
            info = name.split(":2,", 1)[1] if ":2," in name else ""
            flags = tuple(sorted(MAILDIR_FLAGS[c] for c in info
                                 if c in MAILDIR_FLAGS))
            msgs.append((mid, dig, flags))
        state[box] = sorted(msgs)
    return state


def imap_connect(srv):
    m = imaplib.IMAP4(srv.host, srv.port, timeout=lib.READ_TIMEOUT)
    typ, data = m.login("test", "test")
    check_eq(typ, "OK", "LOGIN (%r)" % data)
    return m


def server_boxes(m):
    typ, data = m.list()
    check_eq(typ, "OK", "LIST")
    boxes = []
    for line in data:
        mm = re.match(rb'\(([^)]*)\) (NIL|"[^"]*") (.*)$', line)
        check(mm is not None, "unparsed LIST line %r", line)
        if b"\\noselect" in mm.group(1).lower():
            continue
        name = mm.group(3).decode()
        if name.startswith('"'):
            name = name[1:-1]
        boxes.append(name)
    return sorted(boxes)


def server_messages(m, box):
    """[(uid, message-id, digest, flags)] of a mailbox (selected now)."""
    typ, data = m.select('"%s"' % box)
    check_eq(typ, "OK", "SELECT %s (%r)" % (box, data))
    if int(data[0]) == 0:
        return []
    typ, data = m.fetch("1:*", "(UID FLAGS BODY.PEEK[])")
    check_eq(typ, "OK", "FETCH %s" % box)
    out = []
    for item in data:
        if not isinstance(item, tuple):
            continue
        head, raw = item
        uid = int(re.search(rb"UID (\d+)", head).group(1))
        flags = re.search(rb"FLAGS \(([^)]*)\)", head).group(1).decode().split()
        flags = tuple(sorted(f for f in flags if f != "\\Recent"))
        mid, dig = ident(raw)
        out.append((uid, mid, dig, flags))
    return out


def server_state(srv):
    m = imap_connect(srv)
    try:
        return {box: sorted(x[1:] for x in server_messages(m, box))
                for box in server_boxes(m)}
    finally:
        m.logout()


def show(state):
    lines = []
    for box in sorted(state):
        lines.append("  %s:" % box)
        lines += ["    %s %s %s" % (mid, dig, " ".join(fl) or "-")
                  for mid, dig, fl in state[box]]
    return "\n".join(lines)


# ---------------------------------------------------------------------------

class Sync:
    def __init__(self, srv, mbsync):
        self.srv = srv
        self.tmp = srv.store.tmp
        self.maildir = os.path.join(self.tmp, "Mail")
        os.mkdir(self.maildir)
        self.home = os.path.join(self.tmp, "home")
        os.mkdir(self.home)
        self.rc = os.path.join(self.tmp, "mbsyncrc")
        with open(self.rc, "w") as f:
            f.write(MBSYNCRC.format(port=srv.port, maildir=self.maildir))
        self.mbsync = mbsync
        self.env = srv.store.env()
        self.env.update({"HOME": self.home, "LANG": "C.UTF-8",
                         "LC_ALL": "C.UTF-8"})
        self.runs = 0

    def run(self, what):
        """mbsync -V -c RC -a, bounded; fails with its output and the
        server log's tail when it does not exit 0."""
        self.runs += 1
        out_path = os.path.join(self.tmp, "mbsync-%d.out" % self.runs)
        with open(out_path, "wb") as out:
            argv = [self.mbsync, "-V", "-c", self.rc, "-a"]
            if os.environ.get("MBSYNC_DEBUG"):
                argv.insert(1, "-D")
            proc = subprocess.Popen(argv,
                                    stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, env=self.env,
                                    cwd=self.home)
            try:
                rc = proc.wait(MBSYNC_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                rc = None
        text = lib.read_text(out_path)
        if rc != 0:
            raise lib.TestFailure(
                "%s: mbsync %s; its output:\n%s\n--- refimapd log ---\n%s"
                % (what, "timed out after %g s (killed)" % MBSYNC_TIMEOUT
                   if rc is None else "exited %d" % rc,
                   lib.tail(text, 40), lib.tail(self.srv.log_text(), 40)))
        return text

    def check_same(self, what, expect=None):
        """Both sides hold the same messages and flags (and, when given,
        exactly `expect`: {box: sorted [(mid, digest, flags)]})."""
        loc = local_state(self.maildir)
        srv = server_state(self.srv)
        out = lib.read_text(os.path.join(self.tmp, "mbsync-%d.out" % self.runs))
        if loc != srv:
            raise lib.TestFailure(
                "%s: the sides differ\nMaildir:\n%s\nserver:\n%s\n"
                "--- mbsync -V ---\n%s" % (what, show(loc), show(srv),
                                           lib.tail(out, 40)))
        if expect is not None and srv != expect:
            raise lib.TestFailure(
                "%s: both sides hold\n%s\nexpected\n%s\n--- mbsync -V ---\n%s"
                % (what, show(srv), show(expect), lib.tail(out, 40)))
        return srv


def find_local(maildir, box, mid):
    """The one path in box holding Message-ID mid."""
    hits = []
    for path, _ in local_files(maildir, box):
        with open(path, "rb") as f:
            if ident(f.read())[0] == mid:
                hits.append(path)
    check_eq(len(hits), 1, "local copies of %s in %s" % (mid, box))
    return hits[0]


def uid_of(m, box, mid):
    hits = [x[0] for x in server_messages(m, box) if x[1] == mid]
    check_eq(len(hits), 1, "server copies of %s in %s" % (mid, box))
    return hits[0]


def entry(raw, flags=()):
    mid, dig = ident(raw)
    return (mid, dig, tuple(sorted(flags)))


def run():
    mbsync = shutil.which("mbsync")
    if mbsync is None:
        raise lib.TestSkip("mbsync is not installed (Debian package isync)")
    t0 = time.monotonic()
    with lib.Server() as srv:
        m = imap_connect(srv)
        typ, data = m.create("Work")
        check_eq(typ, "OK", "CREATE Work (%r)" % data)
        m.logout()
        sync = Sync(srv, mbsync)
        inbox = {n: message("inbox", n) for n in range(1, 5)}
        work = {n: message("work", n) for n in range(1, 4)}
        flags = {}          # (box, n) -> set of flags

        # Round 1: server -> Maildir.
        for n, raw in inbox.items():
            srv.ctl("deliver", "test", input=raw.decode())
        for n, raw in work.items():
            srv.ctl("deliver", "test", "Work", input=raw.decode())

        def expected():
            return {"INBOX": sorted(entry(r, flags.get(("INBOX", n), ()))
                                    for n, r in inbox.items()),
                    "Work": sorted(entry(r, flags.get(("Work", n), ()))
                                   for n, r in work.items())}

        sync.run("round 1")
        sync.check_same("round 1 (delivered on the server)", expected())

        # Round 2: a new local message, a local flag, a server flag.
        inbox[10] = message("inbox", 10)
        name = "1700000000.R42.localhost"
        with open(os.path.join(sync.maildir, "INBOX", "tmp", name), "wb") as f:
            f.write(inbox[10])
        os.rename(os.path.join(sync.maildir, "INBOX", "tmp", name),
                  os.path.join(sync.maildir, "INBOX", "new", name))
        path = find_local(sync.maildir, "INBOX", "<mbsync-inbox-1@example.org>")
        base = os.path.basename(path)
        stem, _, info = base.partition(":2,")
        check("S" not in info, "inbox-1 already seen locally: %r", base)
        newbase = stem + ":2," + "".join(sorted(info + "S"))
        os.rename(path, os.path.join(sync.maildir, "INBOX", "cur", newbase))
        flags[("INBOX", 1)] = {"\\Seen"}
        m = imap_connect(srv)
        uid = uid_of(m, "Work", "<mbsync-work-2@example.org>")
        typ, data = m.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Flagged)")
        check_eq(typ, "OK", "UID STORE +FLAGS \\Flagged (%r)" % data)
        m.logout()
        flags[("Work", 2)] = {"\\Flagged"}
        sync.run("round 2")
        sync.check_same("round 2 (local APPEND, local \\Seen, server \\Flagged)",
                        expected())
        path = find_local(sync.maildir, "Work", "<mbsync-work-2@example.org>")
        check("F" in os.path.basename(path).split(":2,")[-1],
              "server \\Flagged not in the Maildir file name %r",
              os.path.basename(path))

        # Round 3: a delete on each side.
        m = imap_connect(srv)
        uid = uid_of(m, "INBOX", "<mbsync-inbox-2@example.org>")
        typ, data = m.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted)")
        check_eq(typ, "OK", "UID STORE +FLAGS \\Deleted (%r)" % data)
        typ, data = m.expunge()
        check_eq(typ, "OK", "EXPUNGE (%r)" % data)
        m.logout()
        del inbox[2]
        os.unlink(find_local(sync.maildir, "INBOX", "<mbsync-inbox-3@example.org>"))
        del inbox[3]
        sync.run("round 3")
        sync.check_same("round 3 (server EXPUNGE, local unlink)", expected())

        # Round 4: Work deleted and re-created on the server, a new
        # UIDVALIDITY, the same messages (and flags) plus one more.
        m = imap_connect(srv)
        typ, data = m.select("Work")
        check_eq(typ, "OK", "SELECT Work")
        typ, old_uv = m.response("UIDVALIDITY")
        m.close()
        typ, data = m.delete("Work")
        check_eq(typ, "OK", "DELETE Work (%r)" % data)
        typ, data = m.create("Work")
        check_eq(typ, "OK", "CREATE Work (%r)" % data)
        # The new message is appended last: see the note on isync above.
        work[7] = message("work", 7, crlf=True)
        for n in sorted(work):      # the old order: see the note above
            fl = "(%s)" % " ".join(sorted(flags.get(("Work", n), ())))
            typ, data = m.append("Work", fl, None,
                                 work[n].replace(b"\r\n", b"\n")
                                 .replace(b"\n", b"\r\n"))
            check_eq(typ, "OK", "APPEND Work (%r)" % data)
        typ, data = m.select("Work")
        check_eq(typ, "OK", "SELECT Work")
        typ, new_uv = m.response("UIDVALIDITY")
        m.logout()
        check(new_uv != old_uv, "UIDVALIDITY of the re-created Work did not"
              " change (%r)", new_uv)
        sync.run("round 4")
        sync.check_same("round 4 (Work re-created with a new UIDVALIDITY)",
                        expected())

        # A last run must change nothing.
        sync.run("round 5")
        sync.check_same("round 5 (nothing to do)", expected())
    check(time.monotonic() - t0 < 60, "the test took %.1f s",
          time.monotonic() - t0)


if __name__ == "__main__":
    lib.main(run)
