#!/usr/bin/env python3
"""Three clients CREATE, RENAME and DELETE overlapping mailbox names at once.

Each client does a bounded number of operations. NO answers are expected
(another client got there first); a BAD, an exception or a dropped
connection is a failure. Afterwards a fresh client checks that the hierarchy
is consistent: INBOX present, no duplicate names, every listed name's
superiors listed too, STATUS working on every selectable mailbox and all
UIDVALIDITY values distinct (RFC 3501 2.3.1.1, 6.3.3-6.3.5, DESIGN
invariants)."""

import imaplib
import os
import random
import re
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "protocol"))
import lib  # noqa: E402
from lib import check  # noqa: E402

CLIENTS = 3
OPS = 100
NAMES = ["f1", "f1/a", "f1/a/x", "f2", "f2/b", "g", "g/a", "h/i/j"]
LIST_RE = re.compile(rb'\(([^)]*)\) "/" (.+)')


def unquote(raw):
    if raw.startswith(b'"'):
        check(raw.endswith(b'"') and len(raw) >= 2, "bad quoted name %r", raw)
        return re.sub(rb'\\(.)', rb'\1', raw[1:-1])
    return raw


def quote(name):
    return '"%s"' % name.decode().replace("\\", "\\\\").replace('"', '\\"')


def worker(port, seed, barrier, errors, counts):
    rnd = random.Random(seed)
    try:
        m = imaplib.IMAP4("127.0.0.1", port, timeout=30)
        m.login("test", "test")
        barrier.wait(30)    # all clients start their loops together
        for _ in range(OPS):
            op = rnd.choice(["create", "create", "rename", "delete"])
            a = rnd.choice(NAMES)
            if op == "create":
                typ, data = m.create(a)
            elif op == "delete":
                typ, data = m.delete(a)
            else:
                typ, data = m.rename(a, rnd.choice(NAMES))
            counts[typ] = counts.get(typ, 0) + 1
            if typ not in ("OK", "NO"):
                errors.append("client %d: %s %s -> %s %r" % (seed, op, a, typ, data))
                return
        m.logout()
    except threading.BrokenBarrierError:
        errors.append("client %d: another client failed to start" % seed)
    except (imaplib.IMAP4.error, OSError, EOFError) as e:
        barrier.abort()
        # imaplib raises IMAP4.error for BAD, IMAP4.abort for a dropped link.
        errors.append("client %d: %s: %s" % (seed, type(e).__name__, e))


def run():
    with lib.Server() as srv:
        errors = []
        counts = {}
        barrier = threading.Barrier(CLIENTS)
        threads = [threading.Thread(target=worker,
                                    args=(srv.port, i, barrier, errors, counts))
                   for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
            check(not t.is_alive(), "a client is still running after 120 s")
        check(not errors, "errors:\n  %s", "\n  ".join(errors))
        check(counts.get("OK", 0) > 0, "no operation succeeded: %r", counts)

        m = imaplib.IMAP4("127.0.0.1", srv.port, timeout=lib.READ_TIMEOUT)
        m.login("test", "test")
        typ, data = m.list('""', "*")
        check(typ == "OK", "LIST: %s %r", typ, data)
        names = []
        attrs = {}
        for line in data:
            check(isinstance(line, bytes), "LIST line with a literal: %r", line)
            mo = LIST_RE.fullmatch(line)
            check(mo is not None, "LIST line %r", line)
            name = unquote(mo.group(2))
            names.append(name)
            attrs[name] = mo.group(1).lower().split()
        check(len(names) == len(set(names)), "duplicate names in LIST: %r", names)
        check(b"INBOX" in names, "INBOX missing from LIST: %r", names)
        for n in names:
            parts = n.split(b"/")
            for i in range(1, len(parts)):
                sup = b"/".join(parts[:i])
                check(sup in names, "%r listed without its superior %r (all: %r)",
                      n, sup, names)
            kids = any(o.startswith(n + b"/") for o in names)
            want = b"\\haschildren" if kids else b"\\hasnochildren"
            check(want in attrs[n], "%r has attributes %r, expected %s", n, attrs[n], want)
        seen = {}
        for n in names:
            if b"\\noselect" in attrs[n]:
                typ, data = m.status(quote(n), "(MESSAGES)")
                check(typ == "NO", "STATUS of \\Noselect %r: %s %r", n, typ, data)
                continue
            typ, data = m.status(quote(n), "(MESSAGES UIDVALIDITY)")
            check(typ == "OK", "STATUS %r: %s %r", n, typ, data)
            mo = re.search(rb"UIDVALIDITY ([0-9]+)", data[0])
            check(mo is not None, "STATUS %r: %r", n, data)
            v = int(mo.group(1))
            check(v not in seen, "UIDVALIDITY %d of %r also belongs to %r", v, n,
                  seen.get(v))
            seen[v] = n
        m.logout()
        print("ops: %r; final mailboxes: %s" % (counts, b" ".join(sorted(names)).decode()))


if __name__ == "__main__":
    lib.main(run)
