#!/usr/bin/env python3
"""Debian's offlineimap (offlineimap3) syncing a Maildir with the daemon.

The same rounds as test_mbsync.py (whose helpers this test uses), with an
offlineimaprc written to the test's temp dir (Maildir repository in the
temp dir, IMAP repository on the daemon: no TLS, auth_mechanisms LOGIN,
metadata in the temp dir), `offlineimap -c RC -o -u basic` bounded by
SYNC_TIMEOUT (killed by pid otherwise):

  1. messages delivered on the server reach the Maildir;
  2. a message written into new/ reaches the server, a local ",S" shows as
     \\Seen on the server, a server STORE \\Flagged shows in the file name;
  3. a delete on either side (server EXPUNGE, local unlink) propagates;
  4. Work deleted and re-created on the server (new UIDVALIDITY) with its
     old messages plus one: offlineimap must notice ("UID validity
     problem"), double and lose nothing on either side, and
     after its documented recovery (remove the local folder and its
     metadata) sync both sides to the same messages.

After every successful round both sides hold the same messages (Message-ID
and body digest, duplicates counted) with the same flags. Skips (77) when
offlineimap is not installed."""

import os
import shutil
import signal
import subprocess
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "protocol"))
sys.path.insert(0, HERE)
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402
import test_mbsync as t  # noqa: E402

SYNC_TIMEOUT = 30.0

RC = """\
[general]
accounts = test
metadata = {meta}
ui = basic
maxsyncaccounts = 1

[Account test]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {maildir}

[Repository remote]
type = IMAP
remotehost = 127.0.0.1
remoteport = {port}
remoteuser = test
remotepass = test
ssl = no
starttls = no
auth_mechanisms = LOGIN
maxconnections = 1
holdconnectionopen = no
"""


class Sync(t.Sync):
    def __init__(self, srv, prog):
        super().__init__(srv, prog)
        self.meta = os.path.join(self.tmp, "offlineimap-meta")
        self.rc = os.path.join(self.tmp, "offlineimaprc")
        with open(self.rc, "w") as f:
            f.write(RC.format(port=srv.port, maildir=self.maildir,
                              meta=self.meta))

    def out_path(self):
        return os.path.join(self.tmp, "mbsync-%d.out" % self.runs)

    def run(self, what, expect_ok=True):
        self.runs += 1
        argv = [self.mbsync, "-c", self.rc, "-o", "-u", "basic"]
        if os.environ.get("OFFLINEIMAP_DEBUG"):
            argv += ["-d", "imap,maildir"]
        with open(self.out_path(), "wb") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT,
                                    env=self.env, cwd=self.home)
            try:
                rc = proc.wait(SYNC_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                rc = None
        text = lib.read_text(self.out_path())
        bad = rc is None or (expect_ok and (rc != 0 or "ERROR" in text))
        if bad:
            raise lib.TestFailure(
                "%s: offlineimap %s; its output:\n%s\n--- refimapd log ---\n%s"
                % (what, "timed out after %g s (killed)" % SYNC_TIMEOUT
                   if rc is None else "exited %d" % rc,
                   lib.tail(text, 40), lib.tail(self.srv.log_text(), 40)))
        return text


def run():
    prog = shutil.which("offlineimap")
    if prog is None:
        raise lib.TestSkip("offlineimap is not installed (Debian package"
                           " offlineimap3)")
    with lib.Server() as srv:
        m = t.imap_connect(srv)
        typ, data = m.create("Work")
        check_eq(typ, "OK", "CREATE Work (%r)" % data)
        m.logout()
        sync = Sync(srv, prog)
        inbox = {n: t.message("inbox", n) for n in range(1, 5)}
        work = {n: t.message("work", n) for n in range(1, 4)}
        flags = {}

        for raw in inbox.values():
            srv.ctl("deliver", "test", input=raw.decode())
        for raw in work.values():
            srv.ctl("deliver", "test", "Work", input=raw.decode())

        def expected():
            return {"INBOX": sorted(t.entry(r, flags.get(("INBOX", n), ()))
                                    for n, r in inbox.items()),
                    "Work": sorted(t.entry(r, flags.get(("Work", n), ()))
                                   for n, r in work.items())}

        sync.run("round 1")
        sync.check_same("round 1 (delivered on the server)", expected())

        # Round 2.
        inbox[10] = t.message("inbox", 10)
        name = "1700000000.R42.localhost"
        d = os.path.join(sync.maildir, "INBOX")
        with open(os.path.join(d, "tmp", name), "wb") as f:
            f.write(inbox[10])
        os.rename(os.path.join(d, "tmp", name), os.path.join(d, "new", name))
        path = t.find_local(sync.maildir, "INBOX", "<mbsync-inbox-1@example.org>")
        stem, _, info = os.path.basename(path).partition(":2,")
        check("S" not in info, "inbox-1 already seen locally: %r", path)
        os.rename(path, os.path.join(d, "cur",
                                     stem + ":2," + "".join(sorted(info + "S"))))
        flags[("INBOX", 1)] = {"\\Seen"}
        m = t.imap_connect(srv)
        uid = t.uid_of(m, "Work", "<mbsync-work-2@example.org>")
        typ, data = m.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Flagged)")
        check_eq(typ, "OK", "UID STORE +FLAGS \\Flagged (%r)" % data)
        m.logout()
        flags[("Work", 2)] = {"\\Flagged"}
        sync.run("round 2")
        sync.check_same("round 2 (local APPEND, local \\Seen, server \\Flagged)",
                        expected())
        path = t.find_local(sync.maildir, "Work", "<mbsync-work-2@example.org>")
        check("F" in os.path.basename(path).split(":2,")[-1],
              "server \\Flagged not in the Maildir file name %r",
              os.path.basename(path))

        # Round 3.
        m = t.imap_connect(srv)
        uid = t.uid_of(m, "INBOX", "<mbsync-inbox-2@example.org>")
        typ, data = m.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted)")
        check_eq(typ, "OK", "UID STORE +FLAGS \\Deleted (%r)" % data)
        typ, data = m.expunge()
        check_eq(typ, "OK", "EXPUNGE (%r)" % data)
        m.logout()
        del inbox[2]
        os.unlink(t.find_local(sync.maildir, "INBOX", "<mbsync-inbox-3@example.org>"))
        del inbox[3]
        sync.run("round 3")
        sync.check_same("round 3 (server EXPUNGE, local unlink)", expected())

        # Round 4: Work re-created on the server with a new UIDVALIDITY.
        m = t.imap_connect(srv)
        typ, data = m.select("Work")
        check_eq(typ, "OK", "SELECT Work")
        typ, old_uv = m.response("UIDVALIDITY")
        m.close()
        check_eq(m.delete("Work")[0], "OK", "DELETE Work")
        check_eq(m.create("Work")[0], "OK", "CREATE Work")
        before_local = t.local_state(sync.maildir)["Work"]
        work[7] = t.message("work", 7, crlf=True)
        for n in sorted(work):
            fl = "(%s)" % " ".join(sorted(flags.get(("Work", n), ())))
            typ, data = m.append("Work", fl, None,
                                 work[n].replace(b"\r\n", b"\n")
                                 .replace(b"\n", b"\r\n"))
            check_eq(typ, "OK", "APPEND Work (%r)" % data)
        typ, data = m.select("Work")
        typ, new_uv = m.response("UIDVALIDITY")
        m.logout()
        check(new_uv != old_uv, "UIDVALIDITY did not change (%r)", new_uv)
        text = sync.run("round 4", expect_ok=False)
        check("UID validity problem" in text,
              "round 4: offlineimap did not report the new UIDVALIDITY;"
              " its output:\n%s", lib.tail(text, 30))
        loc, far = t.local_state(sync.maildir), t.server_state(srv)
        # offlineimap 8.0.0 says "skipping it" yet still copies the far
        # side's messages above its saved highest UID (here work 7, UID 4)
        # into the Maildir: allowed, as long as nothing is doubled or lost.
        mids = [x[0] for x in loc["Work"]]
        check_eq(len(mids), len(set(mids)), "round 4: distinct messages in"
                 " local Work after the refused sync (%r)" % mids)
        check(set(before_local) <= set(loc["Work"]) <= set(expected()["Work"]),
              "round 4: local Work after the refused sync:\n%s\nbefore:\n%s",
              loc["Work"], before_local)
        check_eq(far, expected(), "round 4: the server after the refused sync")
        # The recovery the manual gives: drop the local folder and its state.
        shutil.rmtree(os.path.join(sync.maildir, "Work"))
        for root, dirs, files in os.walk(sync.meta):
            for n in dirs + files:
                if n == "Work":
                    p = os.path.join(root, n)
                    (shutil.rmtree if os.path.isdir(p) else os.unlink)(p)
        sync.run("round 4 (after recovery)")
        sync.check_same("round 4 (Work re-created, after recovery)", expected())

        sync.run("round 5")
        sync.check_same("round 5 (nothing to do)", expected())


if __name__ == "__main__":
    lib.main(run)
