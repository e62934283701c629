#!/usr/bin/env python3
"""refimapctl backup / restore / verify, and the removal of log files.

1. Hot backup under load. The daemon runs; one thread APPENDs messages
   over IMAP and sets \\Flagged on each one it appended (UID STORE), another
   stores messages with `refimapctl deliver`, each with a unique
   Message-ID. While both write, `refimapctl backup DIR` runs. The time
   before it starts divides the acknowledged writes into "before the
   backup began" and the rest.
2. The backup is restored (`refimapctl restore DIR`, catastrophic
   recovery) into a fresh data directory, `refimapctl verify` says OK, and
   a daemon started on the restored store serves, through IMAP:
     - every message acknowledged before the backup began, once, byte for
       byte (deliver's LF -> CRLF allowed for), with \\Flagged when that
       STORE was acknowledged before the backup began;
     - nothing else than messages that were sent, intact;
     - UIDs ascending and UIDNEXT above them (RFC 3501 2.3.1.1).
3. Refusals: restore while a daemon runs on the target store (EX_TEMPFAIL),
   over an existing store without --force (EX_CANTCREAT; with --force the
   old store is kept aside), from a directory that holds no complete
   backup (EX_NOINPUT); backup into a non-empty directory (EX_CANTCREAT).
4. Log files (small ones here, set_lg_max in DB_CONFIG): while a backup
   holds DATA_DIR/backup.lock (taken here with flock, as a long backup
   would), writes and checkpoints remove no log file; once it is released,
   the next process that closes the store after a checkpoint removes the
   ones recovery no longer needs, so the disk does not fill."""

import fcntl
import imaplib
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "protocol"))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

EX_NOINPUT = 66
EX_CANTCREAT = 73
EX_TEMPFAIL = 75
WRITE_BEFORE = 1.5      # seconds of writing before the backup starts
WRITE_AFTER = 0.5       # and after it ended
LOG_MAX = 256 * 1024    # log file size for this test (DB_CONFIG)
APPENDUID_RE = re.compile(rb"\[APPENDUID (\d+) (\d+)\]")
MSGID_RE = re.compile(rb"\r\nMessage-ID: <([^>]+)>\r\n")
FETCH_RE = re.compile(rb"UID (\d+) FLAGS \(([^)]*)\)")


def message(tag, n, size):
    rnd = random.Random("%s-%d" % (tag, n))
    lines = ["%s %d %08x" % (tag, n, rnd.getrandbits(32))
             for _ in range(max(1, size // 20))]
    return ("From: w@example.org\r\nSubject: %s %d\r\n"
            "Message-ID: <%s-%d@backup.test>\r\n\r\n%s\r\n"
            % (tag, n, tag, n, "\r\n".join(lines))).encode()


class Writers:
    """The two writers; each acknowledged write is (time, what)."""

    def __init__(self, store, port):
        self.store = store
        self.port = port
        self.stop = threading.Event()
        self.sent = {}          # msgid -> bytes as stored
        self.acked = {}         # msgid -> ack time
        self.flagged = {}       # msgid -> ack time of +FLAGS (\Flagged)
        self.errors = []
        self.lock = threading.Lock()

    def imap(self):
        try:
            m = imaplib.IMAP4("127.0.0.1", self.port)
            m.login("test", "test")
            m.select("INBOX")
            n = 0
            while not self.stop.is_set():
                n += 1
                body = message("imap", n, random.Random(n).randrange(
                    200, 40000))
                msgid = "imap-%d@backup.test" % n
                with self.lock:
                    self.sent[msgid] = body
                typ, data = m.append("INBOX", None, None, body)
                if typ != "OK":
                    raise lib.TestFailure("APPEND: %s %r" % (typ, data))
                t = time.monotonic()
                mo = APPENDUID_RE.search(data[0])
                check(mo is not None, "no APPENDUID in %r", data)
                with self.lock:
                    self.acked[msgid] = t
                typ, data = m.uid("STORE", mo.group(2).decode(), "+FLAGS",
                                  "(\\Flagged)")
                if typ != "OK":
                    raise lib.TestFailure("STORE: %s %r" % (typ, data))
                with self.lock:
                    self.flagged[msgid] = time.monotonic()
            m.logout()
        except Exception as e:  # reported by the main thread
            self.errors.append("imap writer: %r" % e)

    def deliver(self):
        try:
            n = 0
            while not self.stop.is_set():
                n += 1
                body = message("dlv", n, random.Random(-n).randrange(
                    200, 60000))
                msgid = "dlv-%d@backup.test" % n
                with self.lock:
                    self.sent[msgid] = body
                r = self.store.ctl("deliver", "test", input=body.decode()
                                   .replace("\r\n", "\n"), check=False)
                if r.returncode != 0:
                    raise lib.TestFailure("deliver exited %d: %s" % (
                        r.returncode, r.stderr.decode()))
                with self.lock:
                    self.acked[msgid] = time.monotonic()
        except Exception as e:
            self.errors.append("deliver writer: %r" % e)


def ctl(store, data_dir, *args):
    return subprocess.run([str(lib.refimapctl_path()), "-d", data_dir]
                          + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=store.env(),
                          timeout=60)


def fetch_all(port):
    """{msgid: (uid, flags, bytes)} of INBOX, and UIDNEXT."""
    m = imaplib.IMAP4("127.0.0.1", port)
    try:
        typ, _ = m.login("test", "test")
        check_eq(typ, "OK", "LOGIN on the restored store")
        typ, _ = m.select("INBOX")
        check_eq(typ, "OK", "SELECT INBOX on the restored store")
        uidnext = int(m.untagged_responses["UIDNEXT"][-1])
        typ, data = m.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
        check_eq(typ, "OK", "UID FETCH 1:*")
        got, uids = {}, []
        for item in data:
            if not isinstance(item, tuple):
                continue
            mo = FETCH_RE.search(item[0])
            check(mo is not None, "unexpected FETCH response %r", item[0])
            body = item[1]
            idm = MSGID_RE.search(body)
            check(idm is not None, "a message without Message-ID: %r",
                  body[:200])
            msgid = idm.group(1).decode()
            check(msgid not in got, "message %s is there twice", msgid)
            uid = int(mo.group(1))
            uids.append(uid)
            got[msgid] = (uid, mo.group(2).split(), body)
        check(uids == sorted(uids) and len(set(uids)) == len(uids),
              "UIDs not strictly ascending: %r", uids)
        check(not uids or uidnext > uids[-1], "UIDNEXT %d not above UID %d",
              uidnext, uids[-1] if uids else 0)
        m.logout()
        return got
    finally:
        try:
            m.shutdown()
        except OSError:
            pass


def log_files(dbdir):
    return sorted(n for n in os.listdir(dbdir) if n.startswith("log."))


def test_logs(store):
    """Step 4 on the original store, daemon stopped."""
    dbdir = os.path.join(store.data_dir, "db")
    before = log_files(dbdir)
    big = message("bulk", 0, 150000).decode().replace("\r\n", "\n")
    with open(os.path.join(store.data_dir, "backup.lock"), "a+") as lk:
        fcntl.flock(lk, fcntl.LOCK_SH)
        for _ in range(16):
            store.ctl("deliver", "test", input=big)
        held = log_files(dbdir)
        check(set(before) <= set(held), "log files removed while a backup "
              "held the lock: before %r, after %r", before, held)
        check(len(held) >= len(before) + 6, "the writes made too few log "
              "files to test with: %r", held)
        fcntl.flock(lk, fcntl.LOCK_UN)
    for _ in range(8):
        store.ctl("deliver", "test", input=big)
    after = log_files(dbdir)
    check(len(after) < len(held) and after[0] > held[0],
          "old log files were not removed once the backup lock was free: "
          "%d files (%s..) with the lock, %d (%s..) after", len(held),
          held[0], len(after), after[0])


def test():
    store = lib.Store(users=[("test", "test")])
    daemon = daemon2 = None
    try:
        dbdir = os.path.join(store.data_dir, "db")
        # Small log files, so that they turn over during the test. The
        # regions made by init go, so that the setting takes effect.
        with open(os.path.join(dbdir, "DB_CONFIG"), "w") as f:
            f.write("set_lg_max %d\n" % LOG_MAX)
        for name in os.listdir(dbdir):
            if name.startswith("__db."):
                os.unlink(os.path.join(dbdir, name))
        daemon = lib.Daemon(store).start()
        # The log file init made is 10 MiB: fill it, so that the next
        # ones have the small size. A large message to restore, too.
        filler = message("filler", 0, 10600000)
        store.ctl("deliver", "test",
                  input=filler.decode().replace("\r\n", "\n"))

        bdir = os.path.join(store.tmp, "backup")
        w = Writers(store, daemon.port)
        w.sent["filler-0@backup.test"] = filler
        w.acked["filler-0@backup.test"] = 0.0
        threads = [threading.Thread(target=w.imap),
                   threading.Thread(target=w.deliver)]
        for t in threads:
            t.start()
        try:
            time.sleep(WRITE_BEFORE)
            t0 = time.monotonic()
            r = ctl(store, store.data_dir, "backup", bdir)
            t1 = time.monotonic()
            check(r.returncode == 0, "backup exited %d: %s", r.returncode,
                  r.stderr.decode())
            check(b"database files" in r.stdout, "backup said %r", r.stdout)
            print(r.stdout.decode().strip())
            time.sleep(WRITE_AFTER)
        finally:
            w.stop.set()
            for t in threads:
                t.join(30)
        check(not w.errors, "writers failed: %s", w.errors)
        before = {k for k, t in w.acked.items() if t < t0}
        flagged_before = {k for k, t in w.flagged.items() if t < t0}
        check(len(before) >= 20 and any(k.startswith("imap") for k in before)
              and any(k.startswith("dlv") for k in before),
              "too few writes before the backup: %r", sorted(before))
        check(any(t > t1 for t in w.acked.values()),
              "no write was acknowledged after the backup")

        # Refusals while the daemon runs on the original store.
        r = ctl(store, store.data_dir, "restore", "--force", bdir)
        check_eq(r.returncode, EX_TEMPFAIL, "restore onto a running "
                 "server's store (stderr %r)" % r.stderr)
        check(b"stop the server" in r.stderr, "restore said %r", r.stderr)
        r = ctl(store, store.data_dir, "backup", bdir)
        check_eq(r.returncode, EX_CANTCREAT, "backup into a non-empty "
                 "directory (stderr %r)" % r.stderr)
        os.mkdir(os.path.join(store.tmp, "nothing"))
        r = ctl(store, os.path.join(store.tmp, "fresh0"), "restore",
                os.path.join(store.tmp, "nothing"))
        check_eq(r.returncode, EX_NOINPUT, "restore from a directory "
                 "without a backup (stderr %r)" % r.stderr)
        daemon.stop()
        daemon = None

        # Restore into a fresh data directory and check it.
        fresh = os.path.join(store.tmp, "restored")
        r = ctl(store, fresh, "restore", bdir)
        check(r.returncode == 0, "restore exited %d: %s", r.returncode,
              r.stderr.decode())
        r = ctl(store, fresh, "verify")
        check(r.returncode == 0 and r.stdout.startswith(b"OK:"),
              "verify of the restored store exited %d:\n%s%s", r.returncode,
              r.stdout.decode(), r.stderr.decode())
        store2 = lib.Store.__new__(lib.Store)
        store2.__dict__.update(store.__dict__)
        store2.data_dir = fresh
        store2.tmp = os.path.join(store.tmp, "restored-run")
        os.mkdir(store2.tmp)
        store2.conf = os.path.join(store2.tmp, "refimapd.conf")
        store2.config = [(k, fresh if k == "data_dir" else v)
                         for k, v in store.config]
        store2.logs = []
        store2.write_config()
        daemon2 = lib.Daemon(store2).start()
        got = fetch_all(daemon2.port)
        daemon2.stop()
        daemon2 = None
        store2.check_logs()
        for msgid in sorted(before):
            check(msgid in got, "message %s, acknowledged before the backup "
                  "began, is missing after the restore", msgid)
        for msgid, (uid, flags, body) in got.items():
            check(msgid in w.sent, "unknown message %s (UID %d)", msgid, uid)
            check(body == w.sent[msgid], "message %s (UID %d) differs from "
                  "what was sent (%d bytes, sent %d)", msgid, uid, len(body),
                  len(w.sent[msgid]))
        for msgid in sorted(flagged_before):
            check(b"\\Flagged" in got[msgid][1], "message %s lost the "
                  "\\Flagged acknowledged before the backup: %r", msgid,
                  got[msgid][1])
        print("%d writes acknowledged before the backup, %d messages "
              "restored, %d written in all" % (len(before), len(got),
                                               len(w.acked)))

        # Over an existing store: only with --force, the old one kept.
        r = ctl(store, fresh, "restore", bdir)
        check_eq(r.returncode, EX_CANTCREAT, "restore over an existing "
                 "store without --force (stderr %r)" % r.stderr)
        r = ctl(store, fresh, "restore", "--force", bdir)
        check(r.returncode == 0, "restore --force exited %d: %s",
              r.returncode, r.stderr.decode())
        kept = [n for n in os.listdir(fresh) if n.startswith("db.replaced.")]
        check(len(kept) == 1, "the replaced store was not kept: %r",
              os.listdir(fresh))
        r = ctl(store, fresh, "verify")
        check(r.returncode == 0, "verify after restore --force exited %d:\n"
              "%s%s", r.returncode, r.stdout.decode(), r.stderr.decode())

        test_logs(store)
        store.check_logs()
    finally:
        # Only after a failure: killed, so as not to hide the failure.
        for d in (daemon, daemon2):
            if d is not None:
                d.kill()
        store.cleanup()


if __name__ == "__main__":
    lib.main(test)
