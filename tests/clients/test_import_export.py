#!/usr/bin/env python3
"""refimapctl import and export against the daemon.

A corpus is generated: an mbox (mboxrd quoting of "From " and ">From "
body lines, Status:/X-Status:/X-Keywords: flags, dates in 1970, in the far
future and in zones other than UTC, a message without Message-ID, a bare
CR, the same message twice), a Maildir++ tree (flags and Dovecot keywords
in the file names, odd mtimes, new/ and cur/, subfolders), a Dovecot
LAYOUT=fs tree and a folder of .eml files. Each is imported with
refimapctl while the daemon runs, and a real IMAP session checks the
messages (BODY[] bytes), FLAGS and INTERNALDATE. Then both export formats
are compared with the sources message by message (bytes, flags, dates),
importing again adds nothing, and an import interrupted with SIGINT and
run again stores every message exactly once. Progress is shown on a
terminal only.
"""

import datetime
import imaplib
import os
import pty
import re
import select
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "protocol"))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

EX_DATAERR, EX_NOUSER, EX_NOINPUT, EX_TEMPFAIL = 65, 67, 66, 75

# ---------------------------------------------------------------------------
# Formats, written independently of the C code.

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
          "Oct", "Nov", "Dec"]
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def local(t, tz):
    return (EPOCH + datetime.timedelta(seconds=t, minutes=tz)).replace(
        tzinfo=None)


def zone(tz):
    return "%s%02d%02d" % ("-" if tz < 0 else "+", abs(tz) // 60, abs(tz) % 60)


def from_date(t, tz):
    d = local(t, tz)
    s = "%s %s %2d %02d:%02d:%02d %04d" % (DAYS[d.weekday()],
                                           MONTHS[d.month - 1], d.day, d.hour,
                                           d.minute, d.second, d.year)
    return s + (" " + zone(tz) if tz else "")


def imap_date(t, tz):
    d = local(t, tz)
    return "%02d-%s-%04d %02d:%02d:%02d %s" % (d.day, MONTHS[d.month - 1],
                                                d.year, d.hour, d.minute,
                                                d.second, zone(tz))


def crlf(b):
    return re.sub(rb"(?<!\r)\n", b"\r\n", b)


def mboxrd_quote(msg):
    return re.sub(rb"(?m)^(>*From )", rb">\1", msg)


def mbox_write(path, msgs):
    with open(path, "wb") as f:
        for m in msgs:
            f.write(("From %s %s\n" % (m.get("sender", "someone@example.org"),
                                       from_date(m["t"], m["tz"]))).encode())
            f.write(mboxrd_quote(m["file"]))
            f.write(b"\n")


def mbox_read(path):
    """[(From_ line, message bytes as in the file, unquoted)]"""
    data = open(path, "rb").read()
    out = []
    starts = [mo.start() for mo in re.finditer(rb"(?m)^From ", data)]
    for i, s in enumerate(starts):
        e = starts[i + 1] if i + 1 < len(starts) else len(data)
        chunk = data[s:e]
        line, _, msg = chunk.partition(b"\n")
        check(msg.endswith(b"\n\n") or msg == b"\n",
              "exported mbox message %d lacks the blank line: %r", i, msg[-40:])
        msg = msg[:-1]
        out.append((line.decode(), re.sub(rb"(?m)^>(>*From )", rb"\1", msg)))
    return out


STATUS_RE = re.compile(rb"(?m)^(Status|X-Status|X-Keywords): .*\n")


def status_headers(flags, keywords):
    h = b""
    if "\\Seen" in flags:
        h += b"Status: RO\n"
    xs = "".join(c for c, f in (("A", "\\Answered"), ("F", "\\Flagged"),
                                ("T", "\\Draft"), ("D", "\\Deleted"))
                 if f in flags)
    if xs:
        h += b"X-Status: " + xs.encode() + b"\n"
    if keywords:
        h += b"X-Keywords: " + " ".join(keywords).encode() + b"\n"
    return h


def mk(n, t, tz, flags=(), keywords=(), msgid=True, body=None, extra=b""):
    """One mbox corpus message: "file" is its form in the file (status
    headers at the end of the header), "stored" what IMAP must return."""
    head = b"From: Sender %d <s%d@example.org>\nTo: rcpt@example.org\n" % (n, n)
    head += b"Subject: message %d\n" % n
    if msgid:
        head += b"Message-ID: <m%d@corpus.example>\n" % n
    head += extra
    body = body if body is not None else b"Body of message %d.\n" % n
    return {
        "t": t, "tz": tz, "flags": set(flags), "keywords": list(keywords),
        "file": head + status_headers(flags, keywords) + b"\n" + body,
        "stored": crlf(head + b"\n" + body),
    }


def mbox_corpus():
    tricky = (b"From the start of a line\n>From quoted once\n"
              b">>From quoted twice\nFrom: not a header here\n"
              b"  From indented\n\nFrom x@y Thu Jan  1 00:00:00 1970\n"
              b"end\n")
    dup = mk(7, 1600000000, 0, body=b"the same message twice\n")
    return [
        mk(1, 0, 0, ["\\Seen"], body=tricky),
        mk(2, 4102444800 + 3661, 330, ["\\Answered", "\\Flagged"],
           ["$Forwarded", "work"]),
        mk(3, 253402214400 - 3 * 86400 + 1, -480, ["\\Deleted", "\\Draft"]),
        mk(4, 1234567890, 0, msgid=False, body=b"bare\rCR and no id\n"),
        mk(5, 1700000000, 840, ["\\Seen", "\\Answered"], ["todo", "$Label1"],
           body=b"From me to you\n\n\n"),
        mk(6, 1000000000, -59, extra=b"X-Folded: a\n b\n"),
        dup, dict(dup),
        mk(9, 86399, 60, ["\\Seen"], body=b""),
    ]


LETTERS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen",
           "T": "\\Deleted"}


def maildir_flags(name, kwmap):
    flags, kws = set(), set()
    info = name.rsplit(":2,", 1)[1] if ":2," in name else ""
    for c in info:
        if c in LETTERS:
            flags.add(LETTERS[c])
        elif c == "P":
            kws.add("$Forwarded")
        elif c.islower() and (ord(c) - 97) in kwmap:
            kws.add(kwmap[ord(c) - 97])
    return flags, kws


def read_kwmap(folder):
    m = {}
    p = os.path.join(folder, "dovecot-keywords")
    if os.path.exists(p):
        for line in open(p).read().splitlines():
            i, _, name = line.partition(" ")
            m[int(i)] = name
    return m


def maildir_write(root, folders):
    """folders: {dir name ("" = root): [(subdir/name, bytes, mtime)]},
    keywords {dir: "0 a\\n..."}"""
    for d, spec in folders.items():
        msgs, kw = spec[0], spec[1]
        f = os.path.join(root, d) if d else root
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(f, sub), exist_ok=True)
        if kw:
            with open(os.path.join(f, "dovecot-keywords"), "w") as k:
                k.write(kw)
        if len(spec) > 2:
            with open(os.path.join(f, "dovecot-uidlist"), "w") as u:
                u.write(spec[2])
        for name, data, mtime in msgs:
            p = os.path.join(f, name)
            with open(p, "wb") as out:
                out.write(data)
            os.utime(p, (mtime, mtime))


def maildir_read(folder):
    """[(bytes, flags, keywords, mtime)] sorted by bytes."""
    kw = read_kwmap(folder)
    out = []
    for sub in ("cur", "new"):
        d = os.path.join(folder, sub)
        for name in sorted(os.listdir(d)):
            p = os.path.join(d, name)
            fl, kws = maildir_flags(name, kw)
            out.append((open(p, "rb").read(), fl, kws,
                        int(os.stat(p).st_mtime)))
    return sorted(out, key=lambda x: x[0])


def maildir_msg(n, body=None):
    body = body if body is not None else b"Maildir message %d\n" % n
    return (b"From: m%d@example.org\nSubject: maildir %d\n"
            b"Message-ID: <md%d@corpus.example>\n\n" % (n, n, n)) + body


def maildir_corpus():
    return {
        "": ([
            ("cur/1000000001.M1P1.host,S=10:2,S", maildir_msg(1,
             b"From the body\n>From quoted, stays as is\n"), 0),
            ("cur/1000000002.M2P1.host:2,FRPab", maildir_msg(2), 4102444800),
            ("cur/1000000003.M3P1.host:2,", maildir_msg(3), 1500000000),
            ("new/1000000004.M4P1.host", maildir_msg(4), 1600000000),
        ], "0 work\n1 $Label2\n"),
        # Dovecot's UID order (dovecot-uidlist) wins over the names'.
        ".Work": ([
            ("cur/2.M1P1.host:2,Sa", maildir_msg(6), 2),
            ("cur/1.M1P1.host:2,DT", maildir_msg(5), 1),
        ], "0 urgent\n", "3 V1 N3\n1 :2.M1P1.host\n2 G0f W9 :1.M1P1.host\n"),
        ".Work.2024": ([
            ("cur/3.M1P1.host:2,", maildir_msg(7), 3),
        ], ""),
    }


# ---------------------------------------------------------------------------
# IMAP side.

def ok(resp, what):
    typ, data = resp
    check_eq(typ, "OK", "%s status (data %r)" % (what, data))
    return data


FETCH_RE = re.compile(
    rb"\d+ \(UID (\d+) FLAGS \(([^)]*)\) INTERNALDATE \"([^\"]+)\" "
    rb"BODY\[\] \{(\d+)\}$")


def fetch_all(m, mailbox):
    """[(uid, flags set, INTERNALDATE, bytes)] in UID order."""
    data = ok(m.select('"%s"' % mailbox, readonly=True), "EXAMINE " + mailbox)
    if int(data[0]) == 0:
        return []
    data = ok(m.uid("FETCH", "1:*", "(FLAGS INTERNALDATE BODY.PEEK[])"),
              "FETCH " + mailbox)
    out = []
    for item in data:
        if not isinstance(item, tuple):
            continue
        head, body = item
        mo = FETCH_RE.match(head)
        check(mo is not None, "unexpected FETCH response %r", head)
        check_eq(len(body), int(mo.group(4)), "literal size")
        flags = set(mo.group(2).decode().split()) - {"\\Recent"}
        out.append((int(mo.group(1)), flags, mo.group(3).decode(), body))
    return out


def count(m, mailbox):
    data = ok(m.status('"%s"' % mailbox, "(MESSAGES)"), "STATUS " + mailbox)
    return int(re.search(rb"MESSAGES (\d+)", data[0]).group(1))


def summary(r):
    mo = re.match(r"imported (\d+) messages, skipped (\d+) duplicates, "
                  r"created (\d+) mailboxes", r.stdout.decode())
    check(mo is not None, "import printed %r", r.stdout)
    return tuple(int(x) for x in mo.groups())


# ---------------------------------------------------------------------------

def check_mbox_import(m, msgs):
    got = fetch_all(m, "Imported")
    check_eq(len(got), len(msgs), "messages in Imported")
    for i, (src, (uid, flags, idate, body)) in enumerate(zip(msgs, got)):
        check_eq(body, src["stored"], "BODY[] of mbox message %d" % (i + 1))
        check_eq(flags, src["flags"] | set(src["keywords"]),
                 "FLAGS of mbox message %d" % (i + 1))
        check_eq(idate, imap_date(src["t"], src["tz"]),
                 "INTERNALDATE of mbox message %d" % (i + 1))


def check_maildir_import(m, corpus):
    for folder, mailbox in (("", "INBOX"), (".Work", "Work"),
                            (".Work.2024", "Work/2024")):
        msgs, kw = corpus[folder][:2]
        kwmap = {int(x.split()[0]): x.split()[1] for x in kw.splitlines()}
        got = fetch_all(m, mailbox)
        check_eq(len(got), len(msgs), "messages in " + mailbox)
        # Files are read in UID order (dovecot-uidlist), else name order.
        for (name, data, mtime), (uid, flags, idate, body) in zip(msgs, got):
            fl, kws = maildir_flags(name, kwmap)
            check_eq(body, crlf(data), "BODY[] of %s/%s" % (mailbox, name))
            check_eq(flags, fl | kws, "FLAGS of %s/%s" % (mailbox, name))
            check_eq(idate, imap_date(mtime, 0),
                     "INTERNALDATE of %s/%s" % (mailbox, name))


def check_exports(srv, tmp, msgs, corpus, mdroot):
    # mbox: every message's bytes and From_ date as in the source.
    out = os.path.join(tmp, "out.mbox")
    r = srv.ctl("export", "test", "Imported", out, "--format", "mbox")
    check_eq(r.stdout.decode().strip(), "exported %d messages" % len(msgs),
             "export mbox output")
    got = mbox_read(out)
    check_eq(len(got), len(msgs), "messages in the exported mbox")
    for i, (src, (line, data)) in enumerate(zip(msgs, got)):
        check_eq(data, src["file"], "exported mbox message %d" % (i + 1))
        check(line.endswith(" " + from_date(src["t"], src["tz"])),
              "From_ line of message %d: %r, date %r", i + 1, line,
              from_date(src["t"], src["tz"]))
    r = srv.ctl("export", "test", "Imported", out, "--format", "mbox",
                check=False)
    check_eq(r.returncode, 73, "export onto an existing file (EX_CANTCREAT)")

    # Maildir: the whole account, INBOX as the root.
    outmd = os.path.join(tmp, "out.maildir")
    srv.ctl("export", "test", outmd, "--format", "maildir")
    for folder in ("", ".Work", ".Work.2024"):
        src = maildir_read(os.path.join(mdroot, folder) if folder else mdroot)
        dst = maildir_read(os.path.join(outmd, folder) if folder else outmd)
        check_eq(len(dst), len(src), "files in exported folder %r" % folder)
        for a, b in zip(src, dst):
            check_eq(b[0], a[0], "exported Maildir message bytes")
            check_eq((b[1], b[2]), (a[1], a[2]),
                     "exported Maildir flags of %r" % a[0][:60])
            check_eq(b[3], a[3], "exported Maildir mtime of %r" % a[0][:60])
    for name in os.listdir(os.path.join(outmd, "cur")):
        ts = int(name.split(".")[0])
        p = os.path.join(outmd, "cur", name)
        check_eq(ts, int(os.stat(p).st_mtime), "timestamp in name %s" % name)
    # The mbox-imported mailbox went out as a Maildir++ folder too: same
    # bytes as the mbox source without its status headers.
    imp = maildir_read(os.path.join(outmd, ".Imported"))
    want = sorted(STATUS_RE.sub(b"", s["file"]) for s in msgs)
    check_eq([x[0] for x in imp], want, "exported .Imported messages")
    # One mailbox with its children.
    outwork = os.path.join(tmp, "work.maildir")
    srv.ctl("export", "test", "Work", outwork, "--format", "maildir")
    check_eq(sorted(os.listdir(outwork)),
             [".2024", "cur", "dovecot-keywords", "new", "tmp"],
             "export of Work")


BIG = 8000


def write_big(path):
    with open(path, "wb") as f:
        for i in range(BIG):
            f.write(b"From big@example.org Thu Jan  1 00:00:00 1970\n"
                    b"Message-ID: <big%d@corpus.example>\nSubject: big %d\n\n"
                    % (i, i) + b">From line %d\n" % i + b"x" * 200 + b"\n\n")


def check_big(m):
    """Big holds each of the BIG messages exactly once."""
    check_eq(count(m, "Big"), BIG, "messages in Big")
    ok(m.select("Big", readonly=True), "EXAMINE Big")
    data = ok(m.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"),
              "FETCH Message-IDs")
    ids = [re.search(rb"<big(\d+)@", item[1]).group(1)
           for item in data if isinstance(item, tuple)]
    check_eq(len(ids), BIG, "Message-IDs fetched")
    check_eq(len(set(ids)), BIG, "distinct messages in Big")


def check_interrupt(srv, m, tmp):
    total = BIG
    big = os.path.join(tmp, "big.mbox")
    write_big(big)
    log = srv.store.new_log("import-big.log")
    cmd = [str(lib.refimapctl_path()), "-c", srv.conf, "-d", srv.data_dir,
           "import", "test", "Big", big]
    with open(log, "wb") as logf:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=logf,
                                env=srv.store.env())
    try:
        deadline = time.monotonic() + 20
        n = 0
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                n = count(m, "Big")
            except lib.TestFailure:
                n = 0
            if n >= 200:
                break
            time.sleep(0.01)
        check(proc.poll() is None, "the big import ended before it could "
              "be interrupted (%d messages seen)", n)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    check_eq(proc.returncode, EX_TEMPFAIL, "exit status after SIGINT")
    first = int(re.match(rb"imported (\d+)", out).group(1))
    check(0 < first < total, "interrupted import stored %d of %d", first, total)
    check(b"interrupted" in open(log, "rb").read(), "no 'interrupted' message")
    check_eq(count(m, "Big"), first, "messages in Big after the interruption")

    r = srv.ctl("import", "test", "Big", big, timeout=60)
    check_eq(summary(r), (total - first, first, 0), "import run again")
    check_big(m)


def check_kill9(tmp):
    """kill -9 in the middle of an import (no daemon running: the next
    open of the store recovers it), then the same import again."""
    big = os.path.join(tmp, "big.mbox")
    store = lib.Store()
    daemon = None
    try:
        cmd = [str(lib.refimapctl_path()), "-c", store.conf, "-d",
               store.data_dir, "import", "test", "Big", big]
        master, slave = pty.openpty()
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=slave,
                                    env=store.env())
            os.close(slave)
            seen, stored = b"", 0
            deadline = time.monotonic() + 20
            while stored < 300 and time.monotonic() < deadline:
                if not select.select([master], [], [], 0.5)[0]:
                    continue
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
                found = re.findall(rb"(\d+) stored", seen)
                stored = int(found[-1]) if found else 0
            proc.kill()
            proc.wait(timeout=10)
        finally:
            os.close(master)
        check(300 <= stored < BIG, "progress before kill -9: %r", seen[-200:])
        r = store.ctl("import", "test", "Big", big, timeout=60)
        got = summary(r)
        check(got[0] + got[1] == BIG and got[1] >= stored and got[2] == 0,
              "import after kill -9 at %d: %r", stored, got)
        daemon = lib.Daemon(store).start()
        m = imaplib.IMAP4("127.0.0.1", daemon.port, timeout=lib.READ_TIMEOUT)
        ok(m.login("test", "test"), "LOGIN")
        check_big(m)
        m.logout()
        daemon.stop()
        daemon = None
        store.check_logs()
    finally:
        if daemon is not None:
            daemon.kill()
        store.cleanup()


def check_progress(srv, tmp):
    src = os.path.join(tmp, "progress.mbox")
    mbox_write(src, [mk(100 + i, 1000 + i, 0) for i in range(50)])
    # stderr a pipe: no progress, nothing on stderr.
    r = srv.ctl("import", "test", "Progress", src)
    check_eq(r.stderr, b"", "stderr of an import without a terminal")
    # stderr a terminal: progress lines.
    master, slave = pty.openpty()
    try:
        cmd = [str(lib.refimapctl_path()), "-c", srv.conf, "-d",
               srv.data_dir, "import", "--all", "test", "Progress2", src]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=slave,
                                env=srv.store.env())
        os.close(slave)
        slave = -1
        out, _ = proc.communicate(timeout=30)
        seen = b""
        while select.select([master], [], [], 0.5)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    check_eq(proc.returncode, 0, "import with a terminal")
    check(b"\rimport: 50 stored, 0 skipped, Progress2" in seen,
          "no progress on the terminal: %r", seen[-300:])


DOVE_MSGS = [
    b"From: a@example.org\nSubject: dove 1\nMessage-ID: <dove1@x>\n\n"
    b"From the start\n>From quoted\n",
    b"From: b@example.org\nSubject: dove 2\nMessage-ID: <dove2@x>\n\nTwo\n",
    b"From: c@example.org\nSubject: dove 3\n\nno id\n",
]
DOVE_FLAGS = [{"\\Seen", "\\Answered", "mykw", "$Forwarded"},
              {"\\Flagged", "\\Draft"}, set()]


class Doveadm:
    """doveadm on a Maildir of its own, without a running Dovecot."""

    def __init__(self, tmp, name, maildir):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        if os.geteuid() == 0:
            who, self.uid, self.gid = "nobody", 65534, 65534
            os.chmod(tmp, 0o755)
            os.chmod(os.path.dirname(tmp), 0o755)
        else:
            who, self.uid, self.gid = None, os.getuid(), os.getgid()
        self.maildir = maildir
        os.makedirs(maildir, exist_ok=True)
        self.conf = os.path.join(self.dir, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write("mail_location = maildir:%s\n" % maildir)
            f.write("first_valid_uid = 0\nfirst_valid_gid = 0\n")
            if who:
                f.write("mail_uid = %d\nmail_gid = %d\n" % (self.uid,
                                                            self.gid))
            for k in ("base_dir", "state_dir"):
                f.write("%s = %s\n" % (k, os.path.join(self.dir, k)))
            f.write("log_path = %s\nssl = no\n"
                    % os.path.join(self.dir, "log"))
        self.env = dict(os.environ, HOME=self.dir, TZ="UTC",
                        USER=who or os.environ.get("USER", "user"))

    def own(self):
        for d, _, files in os.walk(self.dir):
            for x in [d] + [os.path.join(d, f) for f in files]:
                os.chown(x, self.uid, self.gid)
        for d, _, files in os.walk(self.maildir):
            for x in [d] + [os.path.join(d, f) for f in files]:
                os.chown(x, self.uid, self.gid)

    def run(self, *args, input=None):
        r = subprocess.run(["doveadm", "-c", self.conf] + list(args),
                           input=input, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=self.env, timeout=30)
        check(r.returncode == 0, "doveadm %s exited %d: %s", " ".join(args),
              r.returncode, r.stderr.decode("utf-8", "replace"))
        return r.stdout


def dovecot_files(maildir):
    """{bytes: mtime} of the message files of one Maildir folder."""
    out = {}
    for sub in ("cur", "new"):
        for name in os.listdir(os.path.join(maildir, sub)):
            p = os.path.join(maildir, sub, name)
            out[open(p, "rb").read()] = int(os.stat(p).st_mtime)
    return out


def check_dovecot(srv, m, tmp):
    """A Maildir written by Dovecot is imported with its flags and keywords;
    Dovecot reads an exported Maildir with the same messages, flags and
    received dates."""
    import json
    import shutil
    if shutil.which("doveadm") is None:
        print("note: doveadm not installed, Dovecot interplay not tested")
        return
    src = os.path.join(tmp, "dove-src")
    dv = Doveadm(tmp, "dove", src)
    dv.own()
    for msg in DOVE_MSGS:
        dv.run("save", "-m", "INBOX", input=msg)
    dv.run("mailbox", "create", "Lists.Debian")
    dv.run("save", "-m", "Lists.Debian", input=DOVE_MSGS[1])
    dv.run("flags", "add", "\\Seen \\Answered mykw $Forwarded", "mailbox",
           "INBOX", "uid", "1")
    dv.run("flags", "add", "\\Flagged \\Draft", "mailbox", "INBOX", "uid",
           "2")
    r = srv.ctl("import", "test", "Dove", src)
    check_eq(summary(r)[:2], (4, 0), "import of Dovecot's Maildir")
    mtimes = dovecot_files(src)
    got = fetch_all(m, "Dove")
    check_eq([x[3] for x in got], [crlf(x) for x in DOVE_MSGS],
             "messages of Dovecot's Maildir")
    check_eq([x[1] for x in got], DOVE_FLAGS, "flags of Dovecot's Maildir")
    check_eq([x[2] for x in got], [imap_date(mtimes[x], 0) for x in DOVE_MSGS],
             "INTERNALDATE from Dovecot's files")
    check_eq([x[3] for x in fetch_all(m, "Dove/Lists/Debian")],
             [crlf(DOVE_MSGS[1])], "Dovecot's Lists.Debian")

    out = os.path.join(tmp, "dove-out")
    srv.ctl("export", "test", "Dove", out, "--format", "maildir")
    dv2 = Doveadm(tmp, "dove2", out)
    dv2.own()
    res = json.loads(dv2.run("-f", "json", "fetch",
                             "mailbox flags date.received text", "all"))
    inbox = [x for x in res if x["mailbox"] == "INBOX"]
    check_eq([x["text"].encode() for x in inbox], DOVE_MSGS,
             "messages Dovecot reads from the export")
    check_eq([set(x["flags"].split()) - {"\\Recent"} for x in inbox],
             DOVE_FLAGS, "flags Dovecot reads from the export")
    check_eq([x["date.received"] for x in inbox],
             [time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(mtimes[x]))
              for x in DOVE_MSGS], "received dates Dovecot reads")
    check_eq([x["text"].encode() for x in res
              if x["mailbox"] == "Lists.Debian"], [DOVE_MSGS[1]],
             "Lists.Debian as Dovecot reads it")


def run():
    with lib.Server() as srv:
        tmp = tempfile.mkdtemp(prefix="import-", dir=srv.store.tmp)
        m = imaplib.IMAP4(srv.host, srv.port, timeout=lib.READ_TIMEOUT)
        ok(m.login("test", "test"), "LOGIN")

        # -- errors
        r = srv.ctl("import", "nobody", os.path.join(tmp, "x"), check=False)
        check_eq(r.returncode, EX_NOUSER, "import for an unknown user")
        r = srv.ctl("import", "test", os.path.join(tmp, "missing"),
                    check=False)
        check_eq(r.returncode, EX_NOINPUT, "import of a missing path")
        msgs = mbox_corpus()
        src = os.path.join(tmp, "corpus.mbox")
        mbox_write(src, msgs)
        r = srv.ctl("import", "test", "caf\u00e9", src, check=False)
        check_eq(r.returncode, EX_DATAERR, "import into a raw UTF-8 name")
        os.makedirs(os.path.join(tmp, "nomail", "sub"))
        r = srv.ctl("import", "test", os.path.join(tmp, "nomail"),
                    check=False)
        check_eq(r.returncode, EX_DATAERR, "import of a folder without mail")
        open(os.path.join(tmp, "empty.mbox"), "wb").close()
        check_eq(summary(srv.ctl("import", "test", "Empty",
                                 os.path.join(tmp, "empty.mbox"))),
                 (0, 0, 1), "import of an empty file")
        check_eq(count(m, "Empty"), 0, "messages in Empty")
        r = srv.ctl("export", "test", "Nope", os.path.join(tmp, "n"),
                    "--format", "mbox", check=False)
        check_eq(r.returncode, EX_NOINPUT, "export of a missing mailbox")
        r = srv.ctl("export", "test", os.path.join(tmp, "n"), check=False)
        check_eq(r.returncode, 64, "export without --format")

        # -- mbox
        r = srv.ctl("import", "test", "Imported", src)
        check_eq(summary(r), (len(msgs), 0, 1), "mbox import")
        check_mbox_import(m, msgs)

        # -- Maildir++ tree into INBOX: subfolders at the top level
        mdroot = os.path.join(tmp, "Maildir")
        corpus = maildir_corpus()
        maildir_write(mdroot, corpus)
        r = srv.ctl("import", "test", mdroot)
        check_eq(summary(r), (7, 0, 2), "Maildir import")
        check_maildir_import(m, corpus)

        # -- Dovecot LAYOUT=fs tree and a folder of .eml files
        fs = os.path.join(tmp, "fs")
        maildir_write(fs, {
            "": ([("cur/1.a:2,S", maildir_msg(20), 20)], ""),
            "Lists": ([("cur/1.b:2,", maildir_msg(21), 21)], ""),
            "Lists/Debian": ([("new/1.c", maildir_msg(22), 22)], ""),
        })
        r = srv.ctl("import", "test", "Fs", fs)
        check_eq(summary(r), (3, 0, 3), "LAYOUT=fs import")
        check_eq([x[3] for x in fetch_all(m, "Fs/Lists/Debian")],
                 [crlf(maildir_msg(22))], "Fs/Lists/Debian")
        emls = os.path.join(tmp, "emls")
        os.makedirs(emls)
        for i in (30, 31):
            with open(os.path.join(emls, "%d.eml" % i), "wb") as f:
                f.write(maildir_msg(i))
            os.utime(os.path.join(emls, "%d.eml" % i), (i, i))
        with open(os.path.join(emls, "notes.txt"), "wb") as f:
            f.write(b"not mail\n")
        r = srv.ctl("import", "test", "Emls", emls)
        check_eq(summary(r), (2, 0, 1), ".eml import")
        check_eq([(x[2], x[3]) for x in fetch_all(m, "Emls")],
                 [(imap_date(30, 0), crlf(maildir_msg(30))),
                  (imap_date(31, 0), crlf(maildir_msg(31)))], "Emls")

        # -- mboxo: only ">From " loses its '>' (mboxrd: one '>' of any)
        mo = os.path.join(tmp, "o.mbox")
        with open(mo, "wb") as f:
            f.write(b"From x Thu Jan  1 00:00:00 1970\nSubject: o\n\n"
                    b">From a\n>>From c\n\n")
        srv.ctl("import", "--mboxo", "test", "O", mo)
        srv.ctl("import", "test", "RD", mo)
        check_eq([x[3] for x in fetch_all(m, "O")],
                 [b"Subject: o\r\n\r\nFrom a\r\n>>From c\r\n"], "mboxo read")
        check_eq([x[3] for x in fetch_all(m, "RD")],
                 [b"Subject: o\r\n\r\nFrom a\r\n>From c\r\n"], "mboxrd read")
        srv.ctl("export", "test", "O", os.path.join(tmp, "o2.mbox"),
                "--format", "mboxo")
        check_eq(open(os.path.join(tmp, "o2.mbox"), "rb").read(),
                 b"From MAILER-DAEMON Thu Jan  1 00:00:00 1970\nSubject: o\n\n"
                 b">From a\n>>From c\n\n", "mboxo export")

        # -- export both ways, compare with the sources
        check_exports(srv, tmp, msgs, corpus, mdroot)

        # -- importing again adds nothing
        before = {b: count(m, b) for b in ("Imported", "INBOX", "Work",
                                           "Work/2024")}
        r = srv.ctl("import", "test", "Imported", src)
        check_eq(summary(r), (0, len(msgs), 0), "mbox import run again")
        r = srv.ctl("import", "test", "INBOX", mdroot)
        check_eq(summary(r), (0, 7, 0), "Maildir import run again")
        after = {b: count(m, b) for b in before}
        check_eq(after, before, "message counts after importing again")
        # The export imports back into a fresh mailbox with the same bytes.
        r = srv.ctl("import", "test", "Again", os.path.join(tmp, "out.mbox"))
        check_eq(summary(r), (len(msgs), 0, 1), "import of the export")
        check_eq([x[1:] for x in fetch_all(m, "Again")],
                 [x[1:] for x in fetch_all(m, "Imported")],
                 "Again and Imported (flags, dates, bytes)")

        check_dovecot(srv, m, tmp)
        check_progress(srv, tmp)
        check_interrupt(srv, m, tmp)
        m.logout()
        check_kill9(tmp)


if __name__ == "__main__":
    lib.main(run)
