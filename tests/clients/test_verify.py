#!/usr/bin/env python3
"""refimapctl verify: a healthy store passes, and each kind of damage is
found and named.

A store is filled through IMAP (APPEND with keywords, STORE, COPY, which
shares bodies, EXPUNGE, which writes the expunge log) and `refimapctl
deliver` (one message above 128 KiB, so its body has three chunks).
While a session is logged in, `verify` checks the records, says OK and
says on stderr that Berkeley DB's structure check was skipped; once the
daemon is stopped, `refimapctl verify` must print only "OK: ..." and exit
0.

Then copies of the stopped store are damaged by rewriting one database
with Berkeley DB's own tools (db5.3_dump / db5.3_load, package
db5.3-util): each copy is first made independent of the original's
environment (db5.3_recover, the log and region files removed, the LSNs
and file ids reset with db5.3_load -r), which a control copy shows
verify still accepts. Each damaged copy must make verify exit EX_DATAERR
(65) with a line naming the problem:
  - a body chunk deleted (chunk 1 of the three-chunk body, and the only
    chunk of another body);
  - a mailbox's UIDNEXT set below one of its UIDs;
  - a body's reference count doubled;
  - an orphan body chunk (no message uses it);
  - a MIME record deleted;
  - MESSAGES and UNSEEN of a mailbox wrong;
  - a message's MODSEQ above HIGHESTMODSEQ (and so out of the by_modseq
    index).
Every line of a report but the summary starts with "problem: "."""

import imaplib
import os
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "protocol"))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

EX_DATAERR = 65
TOOLS = ("db5.3_dump", "db5.3_load", "db5.3_recover")
CHUNK = 64 * 1024


def ok(resp, what):
    typ, data = resp
    check_eq(typ, "OK", "%s status (data %r)" % (what, data))
    return data


def message(i, size=0):
    body = ("line %d of the test message\r\n" % i) * max(1, size // 30)
    return ("From: a@example.org\r\nTo: b@example.org\r\n"
            "Subject: message %d\r\nMessage-ID: <m%d@test>\r\n\r\n%s"
            % (i, i, body)).encode()


def fill(port):
    m = imaplib.IMAP4("127.0.0.1", port)
    try:
        ok(m.login("test", "test"), "LOGIN")
        ok(m.create("Work"), "CREATE Work")
        for i in range(1, 7):
            flags = "(\\Seen $Label%d)" % (i % 3) if i % 2 else None
            ok(m.append("INBOX", flags, None, message(i)), "APPEND %d" % i)
        ok(m.select("INBOX"), "SELECT")
        ok(m.uid("STORE", "2:3", "+FLAGS", "(\\Flagged Urgent)"), "STORE")
        ok(m.uid("COPY", "1:4", "Work"), "COPY")
        ok(m.uid("STORE", "5", "+FLAGS", "(\\Deleted)"), "STORE Deleted")
        ok(m.expunge(), "EXPUNGE")
        m.logout()
    finally:
        try:
            m.shutdown()
        except OSError:
            pass


def run(cmd, cwd=None, what=None):
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    check(r.returncode == 0, "%s exited %d: %s", what or " ".join(cmd),
          r.returncode, r.stderr.decode("utf-8", "replace"))
    return r.stdout


def dump(dbdir, name):
    """The records of one database: a list of [key, value] bytes."""
    text = run(["db5.3_dump", name], cwd=dbdir).decode()
    lines = text.splitlines()
    start = lines.index("HEADER=END") + 1
    end = lines.index("DATA=END")
    data = [bytes.fromhex(x.strip()) for x in lines[start:end]]
    return lines[:start], [[data[i], data[i + 1]]
                           for i in range(0, len(data), 2)]


def load(dbdir, name, header, records):
    path = os.path.join(dbdir, name + ".dump")
    with open(path, "w") as f:
        f.write("\n".join(header) + "\n")
        for k, v in records:
            f.write(" %s\n %s\n" % (k.hex(), v.hex()))
        f.write("DATA=END\n")
    os.unlink(os.path.join(dbdir, name))
    run(["db5.3_load", "-f", path, name], cwd=dbdir)
    os.unlink(path)


def detached_copy(src, dst):
    """A copy of a stopped data dir whose databases stand alone: recovered,
    without log or region files, LSNs and file ids reset."""
    shutil.copytree(src, dst)
    dbdir = os.path.join(dst, "db")
    run(["db5.3_recover", "-h", dbdir])
    for name in os.listdir(dbdir):
        if name.startswith("__db") or name.startswith("log."):
            os.unlink(os.path.join(dbdir, name))
    return dbdir


def reset(dbdir):
    for name in sorted(os.listdir(dbdir)):
        if name.endswith(".db"):
            run(["db5.3_load", "-r", "lsn", name], cwd=dbdir)
            run(["db5.3_load", "-r", "fileid", name], cwd=dbdir)


def verify(store, data_dir):
    return subprocess.run([str(lib.refimapctl_path()), "-d", data_dir,
                           "verify"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=store.env(), timeout=60)


def be32(b, off):
    return int.from_bytes(b[off:off + 4], "big")


def put32(b, off, v):
    return b[:off] + v.to_bytes(4, "big") + b[off + 4:]


def put64(b, off, v):
    return b[:off] + v.to_bytes(8, "big") + b[off + 8:]


def inbox_key(records):
    for k, v in records:
        if k == b"test\0INBOX":
            return k, v
    raise lib.TestFailure("no INBOX record for test")


# Each damage: (name, database, edit(records) -> records, expected texts)

def drop_second_chunk(recs):
    out = [r for r in recs if not (len(r[0]) == 12 and be32(r[0], 8) == 1)]
    check(len(out) == len(recs) - 1, "no body with a second chunk")
    return out


def drop_small_body(recs):
    ids = {}
    for k, _ in recs:
        ids.setdefault(k[:8], []).append(k)
    victim = next(k for k, ks in ids.items() if len(ks) == 1)
    return [r for r in recs if r[0][:8] != victim]


def uidnext_low(recs):
    k, v = inbox_key(recs)
    return [[k, put32(v, 9, 2)] if r[0] == k else r for r in recs]


def counts_wrong(recs):
    k, v = inbox_key(recs)
    v = put32(put32(v, 21, be32(v, 21) + 5), 25, be32(v, 25) + 1)
    return [[k, v] if r[0] == k else r for r in recs]


def double_ref(recs):
    k, v = recs[0]
    return [[k, put32(v, 0, be32(v, 0) * 2)]] + recs[1:]


def orphan_chunk(recs):
    return recs + [[(999999).to_bytes(8, "big") + (0).to_bytes(4, "big"),
                    b"nobody's bytes\r\n"]]


def drop_mime(recs):
    return recs[1:]


def alter_head(recs):
    k, v = recs[0]
    return [[k, v[:5] + (b"X" if v[5:6] != b"X" else b"Y") + v[6:]]] + recs[1:]


def orphan_head(recs):
    return recs + [[(999999).to_bytes(8, "big"), b"Subject: nobody\r\n\r\n"]]


def modseq_high(recs):
    k, v = recs[0]
    return [[k, put64(v, 10, 10 ** 9)]] + recs[1:]


DAMAGE = [
    ("chunk 1 deleted", "bodies.db", drop_second_chunk,
     ["a chunk is missing", "the chunks hold", "the message's size is"]),
    ("a whole body deleted", "bodies.db", drop_small_body,
     ["has no chunks"]),
    ("UIDNEXT below a UID", "mailboxes.db", uidnext_low,
     ['mailbox test "INBOX"', "UIDNEXT 2 is not above UID"]),
    ("MESSAGES and UNSEEN wrong", "mailboxes.db", counts_wrong,
     ["MESSAGES says", "UNSEEN says"]),
    ("reference count doubled", "body_refs.db", double_ref,
     ["reference count 4, but 2 message(s) use it"]),
    ("orphan chunk", "bodies.db", orphan_chunk,
     ["body 999999 (1 chunk(s)) is an orphan"]),
    ("MIME record deleted", "mime.db", drop_mime, ["has no MIME record"]),
    ("header copy altered", "heads.db", alter_head,
     ["the header copy of body", "differs from its first bytes"]),
    ("orphan header copy", "heads.db", orphan_head,
     ["a header copy for body 999999, which is not stored"]),
    ("MODSEQ above HIGHESTMODSEQ", "messages.db", modseq_high,
     ["HIGHESTMODSEQ", "is below a message's MODSEQ 1000000000",
      "missing from the by_modseq index", "matches no message"]),
]


def test():
    for tool in TOOLS:
        if shutil.which(tool) is None:
            raise lib.TestSkip("%s not installed (Debian db5.3-util)" % tool)
    store = lib.Store(users=[("test", "test")])
    daemon = None
    try:
        daemon = lib.Daemon(store).start()
        fill(daemon.port)
        store.ctl("deliver", "test", input=message(100, 150000).decode())
        store.ctl("deliver", "test", "Work", input=message(101).decode())

        # With the daemon running: records checked, structure skipped
        # (a session keeps the store open meanwhile).
        m = imaplib.IMAP4("127.0.0.1", daemon.port)
        ok(m.login("test", "test"), "LOGIN")
        r = verify(store, store.data_dir)
        out = r.stdout.decode()
        err = r.stderr.decode()
        m.logout()
        check(r.returncode == 0 and out.startswith("OK:"),
              "verify of the live store: exit %d\n%s%s", r.returncode,
              out, err)
        check("structure check was skipped" in err,
              "live verify did not say the structure check was skipped: %r",
              err)
        daemon.stop()
        daemon = None

        r = verify(store, store.data_dir)
        out = r.stdout.decode()
        check(r.returncode == 0, "verify of the healthy store exited %d:\n%s%s",
              r.returncode, out, r.stderr.decode())
        check_eq(out.splitlines()[-1:], ["OK: 2 mailboxes, 11 messages, "
                                         "7 bodies"], "verify's summary")
        check(r.stderr == b"", "verify wrote to stderr: %r", r.stderr)

        control = os.path.join(store.tmp, "control")
        reset(detached_copy(store.data_dir, control))
        r = verify(store, control)
        check(r.returncode == 0, "verify of the detached control copy "
              "exited %d:\n%s%s", r.returncode, r.stdout.decode(),
              r.stderr.decode())

        for n, (what, db, edit, expect) in enumerate(DAMAGE):
            copy = os.path.join(store.tmp, "damaged%d" % n)
            dbdir = detached_copy(store.data_dir, copy)
            header, recs = dump(dbdir, db)
            load(dbdir, db, header, edit(recs))
            reset(dbdir)
            r = verify(store, copy)
            out = r.stdout.decode()
            check(r.returncode == EX_DATAERR, "%s: verify exited %d, not "
                  "%d:\n%s%s", what, r.returncode, EX_DATAERR, out,
                  r.stderr.decode())
            for text in expect:
                check(text in out, "%s: verify's report lacks %r:\n%s",
                      what, text, out)
            check(out.splitlines()[-1].endswith("bodies)") and
                  "problem(s) found" in out.splitlines()[-1],
                  "%s: no summary line:\n%s", what, out)
            for line in out.splitlines()[:-1]:
                check(line.startswith("problem: "), "%s: stray line %r",
                      what, line)
            shutil.rmtree(copy)
        store.check_logs()
    finally:
        # Only after a failure: killed, so as not to hide the failure.
        if daemon is not None:
            daemon.kill()
        store.cleanup()


if __name__ == "__main__":
    lib.main(test)
