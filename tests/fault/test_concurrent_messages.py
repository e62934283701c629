#!/usr/bin/env python3
"""Four clients on one mailbox at once for a bounded time: APPEND, STORE
(flags and keywords, by sequence number and by UID), FETCH (bodies
included), EXPUNGE and UID EXPUNGE, NOOP, SEARCH.

Each client follows its own view of the mailbox from the untagged EXISTS,
EXPUNGE and FETCH responses, in the order they arrive (a sequence number ->
UID list), and checks every response against it: EXISTS never shrinks the
mailbox (RFC 3501 7.3.1), EXPUNGE names a message that exists (7.4.1), a
FETCH for sequence number n carries the UID the view holds for n and UIDs
ascend with sequence numbers (2.3.1.1), every body fetched is byte for byte
the one appended under that UID, and at the end of each session a full
FETCH 1:* (UID) and SEARCH ALL agree with the view. No BAD, no dropped
connection; NO is allowed only for a FETCH or STORE naming a message another
session expunged (RFC 3501 7.4.1 allows either answer).

A monitor session polls STATUS: UIDNEXT never goes down, UIDVALIDITY never
changes, MESSAGES never exceeds what was appended. Afterwards a fresh
session checks: the UIDs present are exactly those appended minus those
some session saw expunged, none reused, strictly ascending, every body
intact, UIDNEXT above every UID (RFC 3501 2.3.1.1)."""

import os
import random
import re
import sys
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "protocol"))
sys.path.insert(0, HERE)
import lib  # noqa: E402
from lib import check  # noqa: E402
import rawimap  # noqa: E402
from rawimap import Dropped, ProtocolError  # noqa: E402

CLIENTS = 4
DURATION = 15.0         # seconds of concurrent work
MAX_OPS = 3000          # per client, whatever the time
STATUS_RE = re.compile(rb"MESSAGES (\d+) UIDNEXT (\d+) UIDVALIDITY (\d+)")


class Shared:
    def __init__(self):
        self.lock = threading.Lock()
        self.sent = {}          # uid -> bytes appended
        self.expunged = {}      # uid -> the first session told it was expunged
        self.search_omitted = set()  # uids SEARCH ALL left out
        self.final_views = {}   # client name -> its final seq -> UID list
        self.errors = []
        self.counts = {}

    def count(self, what):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + 1

    def error(self, msg):
        with self.lock:
            self.errors.append(msg)


class ViewError(Exception):
    pass


class View:
    """One session's sequence number -> UID map (None: UID not yet known)."""

    def __init__(self, name, shared):
        self.name = name
        self.shared = shared
        self.uids = []
        self.log = []       # last responses, for failure messages

    def fail(self, fmt, *args):
        raise ViewError("%s: %s\n  last responses:\n    %s" % (
            self.name, fmt % args, "\n    ".join(repr(x) for x in self.log[-12:])))

    def check_order(self, i):
        """The known UIDs around index i ascend."""
        u = self.uids[i]
        for j in range(i - 1, -1, -1):
            if self.uids[j] is not None:
                if not self.uids[j] < u:
                    self.fail("UID %d at seq %d not above UID %d at seq %d",
                              u, i + 1, self.uids[j], j + 1)
                break
        for j in range(i + 1, len(self.uids)):
            if self.uids[j] is not None:
                if not u < self.uids[j]:
                    self.fail("UID %d at seq %d not below UID %d at seq %d",
                              u, i + 1, self.uids[j], j + 1)
                break

    def feed(self, resp):
        """Apply one untagged response; returns (kind, seq, items) or None."""
        self.log.append(resp[0][:200])
        del self.log[:-40]
        m = rawimap.NUM_RE.match(resp[0])
        if m is None:
            return None
        n = int(m.group(1))
        kind = m.group(2).decode()
        if kind == "EXISTS":
            if n < len(self.uids):
                self.fail("EXISTS %d below the %d messages known (RFC 3501"
                          " 7.3.1: only EXPUNGE shrinks a mailbox)", n,
                          len(self.uids))
            self.uids.extend([None] * (n - len(self.uids)))
        elif kind == "EXPUNGE":
            if not 1 <= n <= len(self.uids):
                self.fail("EXPUNGE %d with %d messages", n, len(self.uids))
            uid = self.uids.pop(n - 1)
            if uid is not None:
                with self.shared.lock:
                    self.shared.expunged.setdefault(uid, self.name)
            else:
                self.shared.count("expunge of an unknown uid")
        elif kind == "FETCH":
            if not 1 <= n <= len(self.uids):
                self.fail("FETCH for seq %d with %d messages", n, len(self.uids))
            seq, items = rawimap.fetch_items(resp)
            uid = items.get("UID")
            if uid is not None:
                old = self.uids[n - 1]
                if old is not None and old != uid:
                    self.fail("FETCH seq %d has UID %d, the view says %d",
                              n, uid, old)
                self.uids[n - 1] = uid
                self.check_order(n - 1)
                # A message another session expunged may still be fetched
                # until this session is told (RFC 2180 4.1); only its
                # bytes are checked.
                with self.shared.lock:
                    sent = self.shared.sent.get(uid)
                body = items.get("BODY[]")
                if body is not None and sent is not None and body != sent:
                    self.fail("BODY[] of UID %d (%d bytes) differs from the"
                              " %d bytes appended", uid, len(body), len(sent))
            return kind, n, items
        return kind, n, None

    def feed_all(self, untagged):
        return [self.feed(r) for r in untagged]


def message(name, k, rnd):
    size = rnd.choice([200, 1000, 5000, 40000])
    body = "".join("%s line %d of message %d\r\n" % (name, i, k)
                   for i in range(size // 30 + 1))
    return ("From: %s@test\r\nSubject: %s-%d\r\nMessage-ID: <%s-%d@test>\r\n\r\n%s"
            % (name, name, k, name, k, body)).encode()


def worker(port, idx, shared, barrier, done, stop_at):
    name = "c%d" % idx
    rnd = random.Random(1000 + idx)
    view = View(name, shared)
    last_append = 0
    c = None
    try:
        c = rawimap.Conn(port, timeout=20)
        if os.environ.get("TRACE_DIR"):
            c.trace = []
        c.login()
        st, text, un = c.cmd("SELECT INBOX")
        if st != "OK":
            raise ViewError("%s: SELECT: %s %r" % (name, st, text))
        view.feed_all(un)
        barrier.wait(30)

        def do(command, allow_no=False):
            st, text, un = c.cmd(command)
            view.feed_all(un)
            if st == "BAD" or (st == "NO" and not allow_no):
                view.fail("%s -> %s %r", command, st, text)
            shared.count("%s %s" % (command.split()[0] if not command.startswith("UID")
                                    else " ".join(command.split()[:2]), st))
            return st, text, un

        k = 0
        for _ in range(MAX_OPS):
            if time.monotonic() > stop_at:
                break
            op = rnd.choice(["append"] * 3 + ["store", "store", "uidstore",
                             "fetch", "fetch", "body", "expunge", "noop",
                             "fetchall", "search"])
            n = len(view.uids)
            if op == "append" or n == 0:
                k += 1
                data = message(name, k, rnd)
                flags = rnd.choice([None, "(\\Seen)", "(\\Flagged $Label1)"])
                st, text, un = c.append("INBOX", data, flags)
                view.feed_all(un)
                if st != "OK":
                    view.fail("APPEND -> %s %r", st, text)
                m = rawimap.APPENDUID_RE.search(text)
                if m is None:
                    view.fail("APPEND OK without APPENDUID: %r", text)
                uid = int(m.group(2))
                with shared.lock:
                    if uid in shared.sent:
                        view.fail("APPENDUID %d given twice", uid)
                    shared.sent[uid] = data
                if uid <= last_append:
                    view.fail("APPENDUID %d not above this session's last %d",
                              uid, last_append)
                last_append = uid
                shared.count("APPEND OK")
            elif op == "store":
                a = rnd.randint(1, n)
                flag = rnd.choice(["\\Flagged", "\\Seen", "\\Answered", "$Label2"])
                sign = rnd.choice("+-")
                do("STORE %d %sFLAGS (%s)" % (a, sign, flag), allow_no=True)
            elif op == "uidstore":
                known = [u for u in view.uids if u is not None]
                if known:
                    do("UID STORE %d +FLAGS.SILENT (\\Draft)" % rnd.choice(known),
                       allow_no=True)
            elif op == "fetch":
                a = rnd.randint(1, n)
                b = rnd.randint(a, n)
                do("FETCH %d:%d (UID FLAGS RFC822.SIZE)" % (a, b), allow_no=True)
            elif op == "body":
                a = rnd.randint(1, n)
                do("FETCH %d (UID BODY.PEEK[])" % a, allow_no=True)
            elif op == "expunge":
                known = [u for u in view.uids if u is not None]
                if not known:
                    continue
                u = rnd.choice(known)
                do("UID STORE %d +FLAGS.SILENT (\\Deleted)" % u, allow_no=True)
                if rnd.random() < 0.5:
                    do("UID EXPUNGE %d" % u)
                else:
                    do("EXPUNGE")
            elif op == "noop":
                do("NOOP")
            elif op == "fetchall":
                do("FETCH 1:* (UID)", allow_no=True)
            elif op == "search":
                st, text, un = c.cmd("SEARCH ALL")
                check_search(view, st, text, un, "SEARCH ALL")
        # End of session: once every client has stopped changing the
        # mailbox, the view must be exactly the server's.
        done.wait(60)
        do("NOOP")
        st, text, un = c.cmd("FETCH 1:* (UID)")
        answered = set(x[1] for x in view.feed_all(un) if x and x[0] == "FETCH")
        if st != "OK" or answered != set(range(1, len(view.uids) + 1)):
            lost = [(i + 1, u, shared.expunged.get(u)) for i, u in enumerate(view.uids)
                    if i + 1 not in answered]
            view.fail("with every client idle, after NOOP, FETCH 1:* (UID) -> %s %r"
                      " and no data for (seq, UID, expunge seen by): %r; this"
                      " session was never sent * EXPUNGE for them (RFC 3501"
                      " 7.4.1)", st, text, lost[:10])
        if None in view.uids:
            view.fail("UIDs still unknown after NOOP and FETCH 1:* (UID): %r",
                      [i + 1 for i, u in enumerate(view.uids) if u is None])
        if view.uids != sorted(set(view.uids)):
            view.fail("UIDs not strictly ascending: %r", view.uids)
        st, text, un = c.cmd("SEARCH ALL")
        check_search(view, st, text, un, "final SEARCH ALL", strict=True)
        with shared.lock:
            shared.final_views[name] = list(view.uids)
        st, text, un = c.cmd("LOGOUT")
        if st != "OK":
            view.fail("LOGOUT -> %s %r", st, text)
        shared.count("sessions ended")
    except threading.BrokenBarrierError:
        shared.error("%s: stopped: another client failed" % name)
    except ViewError as e:
        barrier.abort()
        done.abort()
        shared.error(str(e))
    except (Dropped, ProtocolError, OSError) as e:
        barrier.abort()
        done.abort()
        shared.error("%s: %s: %s\n  last responses: %r" % (
            name, type(e).__name__, e, view.log[-8:]))
    finally:
        if c is not None:
            c.close()
            if c.trace is not None:
                with open(os.path.join(os.environ["TRACE_DIR"], name), "wb") as f:
                    f.write(b"\n".join(c.trace))


def check_search(view, st, text, untagged, what, strict=False):
    """SEARCH ALL lists 1..n, n being the view's size when the SEARCH
    response came (EXISTS may follow it; EXPUNGE may not, RFC 3501 7.4.1),
    except that a message another session expunged and this one has not
    been told of may be left out (RFC 2180 4.1): its UID is kept, and must
    be gone at the end."""
    if st != "OK":
        view.fail("%s -> %s %r", what, st, text)
    seen = False
    for r in untagged:
        if r[0].startswith(b"* SEARCH"):
            nums = [int(x) for x in r[0][8:].split()]
            n = len(view.uids)
            if nums != sorted(set(nums)) or any(not 1 <= x <= n for x in nums) \
                    or (strict and nums != list(range(1, n + 1))):
                view.fail("%s returned %r, the view has %d messages", what,
                          nums, n)
            for x in sorted(set(range(1, n + 1)) - set(nums)):
                view.shared.count("SEARCH left out a message")
                if view.uids[x - 1] is not None:
                    with view.shared.lock:
                        view.shared.search_omitted.add(view.uids[x - 1])
            seen = True
        else:
            view.feed(r)
    if not seen:
        view.fail("%s: no * SEARCH response", what)


def monitor(port, shared, stop):
    """STATUS polls: UIDNEXT never decreases, UIDVALIDITY never changes."""
    last = None
    c = None
    try:
        c = rawimap.Conn(port, timeout=20)
        c.login()
        for _ in range(2000):
            if stop.is_set():
                break
            st, text, un = c.cmd("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY)")
            if st != "OK":
                raise ViewError("monitor: STATUS -> %s %r" % (st, text))
            m = None
            for r in un:
                m = m or STATUS_RE.search(r[0])
            if m is None:
                raise ViewError("monitor: no STATUS data in %r" % un)
            msgs, nxt, val = (int(x) for x in m.groups())
            if last is not None:
                if nxt < last[1]:
                    raise ViewError("monitor: UIDNEXT went down from %d to %d"
                                    % (last[1], nxt))
                if val != last[2]:
                    raise ViewError("monitor: UIDVALIDITY changed from %d to %d"
                                    % (last[2], val))
            with shared.lock:
                appended = len(shared.sent)
            if msgs > appended + CLIENTS:
                raise ViewError("monitor: MESSAGES %d but only %d appended"
                                % (msgs, appended))
            last = (msgs, nxt, val)
            shared.count("STATUS polls")
            stop.wait(0.1)
        c.cmd("LOGOUT")
    except (ViewError, Dropped, ProtocolError, OSError) as e:
        shared.error("monitor: %s: %s" % (type(e).__name__, e))
    finally:
        if c is not None:
            c.close()
    shared.monitor_last = last


def run():
    t0 = time.monotonic()
    with lib.Server() as srv:
        shared = Shared()
        shared.monitor_last = None
        barrier = threading.Barrier(CLIENTS)
        done = threading.Barrier(CLIENTS)
        stop = threading.Event()
        stop_at = time.monotonic() + DURATION
        mon = threading.Thread(target=monitor, args=(srv.port, shared, stop))
        mon.start()
        threads = [threading.Thread(target=worker,
                                    args=(srv.port, i, shared, barrier, done, stop_at))
                   for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(DURATION + 90)
        stop.set()
        mon.join(30)
        check(not any(t.is_alive() for t in threads + [mon]),
              "a client is still running long after its time")
        check(not shared.errors, "errors:\n  %s", "\n  ".join(shared.errors))

        # A fresh session: what is there is exactly what should be.
        c = rawimap.Conn(srv.port, timeout=30)
        c.login()
        st, text, un = c.cmd("SELECT INBOX")
        check(st == "OK", "SELECT: %s %r", st, text)
        view = View("final", Shared())
        view.shared.sent = shared.sent
        try:
            view.feed_all(un)
            n = len(view.uids)
            if n:
                st, text, un = c.cmd("FETCH 1:* (UID BODY.PEEK[])")
                check(st == "OK", "final FETCH: %s %r", st, text)
                view.feed_all(un)
        except ViewError as e:
            raise lib.TestFailure(str(e))
        uids = view.uids
        check(None not in uids, "final FETCH left UIDs unknown: %r", uids)
        check(uids == sorted(set(uids)), "final UIDs not strictly ascending: %r", uids)
        want = sorted(set(shared.sent) - set(shared.expunged))
        reused = sorted(set(uids) & set(shared.expunged))
        check(not reused, "UIDs expunged earlier are present again: %r", reused)
        check(uids == want, "final UIDs %r; expected appended - expunged %r"
              " (missing %r, extra %r)", uids, want,
              sorted(set(want) - set(uids)), sorted(set(uids) - set(want)))
        kept = sorted(set(uids) & shared.search_omitted)
        check(not kept, "SEARCH ALL left out UIDs %r, which were never expunged"
              " (RFC 3501 6.4.4)", kept)
        check(len(uids) == len(shared.sent) - len(shared.expunged),
              "message count %d != %d appended - %d expunged", len(uids),
              len(shared.sent), len(shared.expunged))
        st, text, un = c.cmd("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY)")
        check(st == "OK", "final STATUS: %s %r", st, text)
        m = STATUS_RE.search(b" ".join(r[0] for r in un))
        check(m is not None, "final STATUS data %r", un)
        msgs, nxt, val = (int(x) for x in m.groups())
        check(msgs == len(uids), "STATUS MESSAGES %d, FETCH saw %d", msgs, len(uids))
        top = max(list(shared.sent) or [0])
        check(nxt > top, "UIDNEXT %d not above the largest UID given, %d", nxt, top)
        last = shared.monitor_last
        if last is not None:
            check(nxt >= last[1], "UIDNEXT %d below the %d seen earlier", nxt, last[1])
            check(val == last[2], "UIDVALIDITY %d, earlier %d", val, last[2])
        for name, v in sorted(shared.final_views.items()):
            check(v == uids, "%s ended with the view %r, the mailbox holds %r",
                  name, v, uids)
        c.cmd("LOGOUT")
        c.close()
        print("%d appended, %d expunged, %d left, UIDNEXT %d; %s (%.1f s)" % (
            len(shared.sent), len(shared.expunged), len(uids), nxt,
            ", ".join("%s: %d" % kv for kv in sorted(shared.counts.items())),
            time.monotonic() - t0))


if __name__ == "__main__":
    lib.main(run)
