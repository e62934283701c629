#!/usr/bin/env python3
"""kill -9 at random moments, with durable commits (fsync = yes): what was
acknowledged is there, intact; nothing half-written shows; the store keeps
serving without manual recovery.

LANES threads run side by side, each with its own mailboxes (lane 0 uses
INBOX, lane N LaneN, CopiesN, FlagboxN) and its own bookkeeping, so that one
recovery of the store serves several kills. Each iteration of a lane
(bounded: ITERATIONS in all or DURATION, whichever ends first) does one
operation and SIGKILLs the process doing it after a random delay:

  deliver  `refimapctl deliver test` with a message on stdin (sizes up to
           ~1.6 MiB, so that messages above 1 MiB are spooled);
           acknowledged = exit status 0
  append   APPEND to INBOX in a fresh session (literal up to ~1.6 MiB);
           the session's own process (the daemon's child) is killed;
           acknowledged = tagged OK
  copy     UID COPY of some INBOX messages to Copies; acknowledged = OK
           with COPYUID
  store    UID STORE 1:* +FLAGS or -FLAGS (\\Flagged) over all of Flagbox
  expunge  UID STORE +FLAGS.SILENT (\\Deleted), then UID EXPUNGE (killed)
           of some Copies messages

Every message carries a unique Message-ID. After every round (VERIFY_EVERY
iterations of each lane, all lanes stopped), at the end and again after a
restart of the daemon on the same store, a fresh session checks every
mailbox (RFC 3501 2.3.1.1, 6.4.3, 6.4.6-6.4.8,
RFC 4315):
  - every acknowledged message is there, byte for byte (deliver's LF ->
    CRLF conversion allowed for), once in INBOX;
  - every message present is one that was sent, intact (nothing
    half-written), and a message whose delivery was killed is there whole
    or not at all;
  - UIDs strictly ascending, never reused for another message, INBOX
    messages never vanish; UIDNEXT above every UID and never lower than at
    an earlier check; UIDVALIDITY unchanged;
  - an acknowledged COPY's new UIDs are in Copies (unless expunged since);
  - Flagbox's \\Flagged is the same on every message (a STORE is one
    transaction) and matches the last acknowledged STORE when no STORE was
    killed after it;
  - a killed UID EXPUNGE removed all of its messages or none, an
    acknowledged one all of them;
  - `refimapctl user list` works and DATA_DIR/tmp holds no spool file.
A session kept open across all the kills (an observer on INBOX) must keep
answering NOOP and FETCH with no BAD. When a kill lands inside one of
Berkeley DB's region locks the daemon logs "store needs recovery: ending all
sessions", ends every session, recovers and serves again; the observer
reconnects and the checks go on. A session left waiting on a lock that a
killed process held is found by the daemon's watchdog (store_stuck_timeout,
3 s here) and the store recovered; an observer that stays stuck for its
whole 15 s timeout without a recovery ending it fails the test. The figures
printed at the end count the kills that landed before an acknowledgement,
the recoveries and the checks."""

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "protocol"))
sys.path.insert(0, HERE)
import lib  # noqa: E402
from lib import check, TestFailure  # noqa: E402
import rawimap  # noqa: E402
from rawimap import Dropped, ProtocolError  # noqa: E402

LANES = int(os.environ.get("KILL9_LANES", "1"))
ITERATIONS = 400
DURATION = 60.0
VERIFY_EVERY = 12
FLAGBOX_SIZE = 150
MSGID_RE = re.compile(rb"\r\nMessage-ID: <([^>]+)>\r\n")
SELECT_RE = {
    "UIDVALIDITY": re.compile(rb"\[UIDVALIDITY (\d+)\]"),
    "UIDNEXT": re.compile(rb"\[UIDNEXT (\d+)\]"),
    "EXISTS": re.compile(rb"^\* (\d+) EXISTS"),
}
CONFIG = [("fsync", "yes"), ("literal_max", "4194304"), ("store_stuck_timeout", "3")]


def session_children(daemon_pid):
    try:
        with open("/proc/%d/task/%d/children" % (daemon_pid, daemon_pid)) as f:
            return {int(x) for x in f.read().split()}
    except OSError:
        return set()


def socket_inode(local_port, remote_port):
    """The inode of the server side of a loopback TCP connection, from
    /proc/net/tcp (ports as seen by the server)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            lport = int(fields[1].rsplit(":", 1)[1], 16)
            rport = int(fields[2].rsplit(":", 1)[1], 16)
            if lport == local_port and rport == remote_port:
                return int(fields[9])
    return None


def process_with_socket(pids, inode):
    want = "socket:[%d]" % inode
    for pid in pids:
        fd_dir = "/proc/%d/fd" % pid
        try:
            for fd in os.listdir(fd_dir):
                try:
                    if os.readlink(os.path.join(fd_dir, fd)) == want:
                        return pid
                except OSError:
                    pass
        except OSError:
            pass
    return None


def kill9(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


class Killer:
    """SIGKILL pid (or a Popen, which is never signalled once reaped) after
    delay seconds, from a timer thread."""

    def __init__(self, pid, delay):
        if isinstance(pid, subprocess.Popen):
            self.timer = threading.Timer(delay, pid.send_signal, (signal.SIGKILL,))
        else:
            self.timer = threading.Timer(delay, kill9, (pid,))
        self.timer.start()

    def cancel(self):
        self.timer.cancel()
        self.timer.join()


class Counts:
    """Figures shared by the lanes (thread-safe)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.lat = {}       # operation kind -> recent completion times

    def count(self, what):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + 1

    def took(self, kind, secs):
        with self.lock:
            self.lat.setdefault(kind, []).append(secs)
            del self.lat[kind][:-15]

    def median_top(self, kind):
        with self.lock:
            t = sorted(self.lat.get(kind, []))[-15:]
        return 1.5 * t[len(t) // 2] if len(t) >= 3 else None


class Lane:
    """One lane's mailboxes and what it knows they must hold."""

    def __init__(self, tester, k, seed):
        self.t = tester
        self.k = k
        self.rnd = random.Random(seed)
        self.inbox = "INBOX" if k == 0 else "Lane%d" % k
        self.copies = "Copies%d" % k
        self.flagbox = "Flagbox%d" % k
        self.boxes = (self.inbox, self.copies, self.flagbox)
        self.n = 0
        # Message-ID -> the bytes the store must hold for it.
        self.expected = {}
        self.acked_inbox = set()        # Message-IDs acknowledged into inbox
        self.acked_how = {}             # Message-ID -> how (for failures)
        self.unacked = set()            # Message-IDs whose storing was killed
        self.copies_made = []           # (cmd, {dest uid: src uid}) acknowledged
        self.expunges = []              # (uids, acked)
        self.flag_acked = None          # last acknowledged STORE: True/False
        self.flag_killed_after = False  # a STORE was killed after it
        self.uid_owner = {}             # (mailbox, uid) -> Message-ID
        self.inbox_seen = set()         # inbox UIDs seen at a check
        self.trash_gone = set()         # Copies UIDs seen, then gone
        self.trash_seen = set()
        self.last = {}                  # mailbox -> (uidvalidity, uidnext)
        self.iterations = 0
        self.error = None

    def count(self, what):
        self.t.counts.count(what)

    def new_message(self, rnd, lf=False):
        """(Message-ID, bytes to send, bytes the store must hold)."""
        self.n += 1
        mid = "kill9-%d-%d@test" % (self.k, self.n)
        r = rnd.random()
        if r < 0.07:
            size = rnd.randint(1100 * 1024, 1600 * 1024)
        elif r < 0.3:
            size = rnd.randint(20000, 200000)
        else:
            size = rnd.randint(50, 5000)
        line = ("%s %s\n" % (mid, "x" * 60))
        body = (line * (size // len(line) + 1))[:size]
        text = ("From: kill9@test\nTo: test@test\nSubject: message %d\n"
                "Message-ID: <%s>\n\n%s\n" % (self.n, mid, body))
        stored = text.replace("\n", "\r\n").encode()
        sent = text.encode() if lf else stored
        self.expected[mid] = stored
        return mid, sent, stored

    def delay(self, kind, default):
        """A random kill delay: up to 1.5 times the median time this kind of
        operation took when it completed (so that about half the kills land
        inside it), or up to default until there are 3 such times."""
        top = self.t.counts.median_top(kind)
        return self.rnd.uniform(0, top if top is not None else default)

    def killed_cmd(self, c, pid, kind, default, send):
        """Run send() (which returns (status, text, untagged)) while pid is
        SIGKILLed after a random delay. Returns (status, text) or None if
        the connection dropped before the tagged response."""
        k = Killer(pid, self.delay(kind, default))
        t0 = time.monotonic()
        try:
            status, text, _ = send()
            self.t.counts.took(kind, time.monotonic() - t0)
        except Dropped:
            return None
        except ProtocolError as e:
            # "* BYE" instead of "+": a recovery ended the session.
            if b"BYE" not in str(e).encode():
                raise
            return None
        finally:
            k.cancel()
            kill9(pid)      # ends the session either way
            c.close()
        if status == "BAD":
            raise TestFailure("BAD response: %r" % text)
        return status, text

    # Operations -------------------------------------------------------

    def op_deliver(self):
        mid, sent, stored = self.new_message(self.rnd, lf=True)
        kind = "deliver big" if len(sent) > 1024 * 1024 else "deliver"
        delay = self.delay(kind, 0.4 if kind == "deliver big" else 0.05)
        t0 = time.monotonic()
        srv = self.t.srv
        p = subprocess.Popen([str(lib.refimapctl_path()), "-d", srv.data_dir,
                              "deliver", "test", self.inbox],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, env=srv.store.env())
        k = Killer(p, delay)
        try:
            try:
                _, err = p.communicate(sent, timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                raise TestFailure("refimapctl deliver did not end within 60 s")
        finally:
            k.cancel()
        if p.returncode == 0:
            self.t.counts.took(kind, time.monotonic() - t0)
            self.acked_inbox.add(mid)
            self.acked_how[mid] = "deliver: %s" % err.decode("utf-8", "replace").strip()
            self.count("deliver acknowledged")
        elif p.returncode in (-signal.SIGKILL, 75):
            if p.returncode < 0:
                # The daemon finds a dead deliver by itself within 2 s;
                # SIGUSR1 asks it to look now, to keep the run short.
                os.kill(self.t.daemon_pid(), signal.SIGUSR1)
            self.unacked.add(mid)
            self.count("deliver killed" if p.returncode < 0 else "deliver 75")
        else:
            raise TestFailure("refimapctl deliver exited %d: %s" % (
                p.returncode, err.decode("utf-8", "replace").strip()))

    def op_append(self):
        mid, sent, stored = self.new_message(self.rnd)
        c, pid = self.t.session()
        big = len(sent) > 1024 * 1024
        r = self.killed_cmd(c, pid, "append big" if big else "append",
                            0.3 if big else 0.04,
                            lambda: c.append(self.inbox, sent))
        if r is not None and r[0] == "OK":
            check(rawimap.APPENDUID_RE.search(r[1]) is not None,
                  "APPEND OK without APPENDUID: %r", r[1])
            self.acked_inbox.add(mid)
            self.acked_how[mid] = "APPEND: %r" % r[1]
            self.count("append acknowledged")
        else:
            check(r is None or r[0] == "NO", "APPEND: %r", r)
            self.unacked.add(mid)
            self.count("append killed")

    def inbox_uids(self):
        return sorted(u for (box, u) in self.uid_owner if box == self.inbox)

    def op_copy(self):
        uids = self.inbox_uids()
        if not uids:
            return self.op_deliver()
        pick = sorted(self.rnd.sample(uids, min(len(uids), self.rnd.randint(1, 8))))
        c, pid = self.t.session(self.inbox)
        cmd = "UID COPY %s %s" % (",".join(map(str, pick)), self.copies)
        r = self.killed_cmd(c, pid, "copy", 0.03, lambda: c.cmd(cmd))
        if r is not None and r[0] == "OK":
            m = rawimap.COPYUID_RE.search(r[1])
            check(m is not None, "COPY OK without COPYUID: %r", r[1])
            src = rawimap.uid_set(m.group(2))
            dst = rawimap.uid_set(m.group(3))
            check(len(src) == len(dst), "COPYUID %r", r[1])
            self.copies_made.append((cmd, dict(zip(dst, src))))
            self.count("copy acknowledged")
        else:
            check(r is None or r[0] == "NO", "COPY: %r", r)
            self.count("copy killed")

    def op_store(self):
        on = self.rnd.random() < 0.5
        c, pid = self.t.session(self.flagbox)
        cmd = "UID STORE 1:* %sFLAGS.SILENT (\\Flagged)" % ("+" if on else "-")
        r = self.killed_cmd(c, pid, "store", 0.03, lambda: c.cmd(cmd))
        if r is not None and r[0] == "OK":
            self.flag_acked = on
            self.flag_killed_after = False
            self.count("store acknowledged")
        else:
            check(r is None or r[0] == "NO", "STORE: %r", r)
            self.flag_killed_after = True
            self.count("store killed")

    def op_expunge(self):
        present = sorted(self.trash_seen - self.trash_gone -
                         set(u for s, _ in self.expunges for u in s))
        if not present:
            return self.op_copy()
        pick = sorted(self.rnd.sample(present, min(len(present), self.rnd.randint(1, 5))))
        uset = ",".join(map(str, pick))
        for _ in range(20):
            c, pid = self.t.session(self.copies)
            try:
                status, text, _ = c.cmd("UID STORE %s +FLAGS.SILENT (\\Deleted)" % uset)
            except Dropped:
                # Ended by a recovery that another lane's kill caused.
                c.close()
                continue
            if status == "NO" and b"[UNAVAILABLE]" in text:
                c.close()       # the store is being recovered
                continue
            check(status == "OK", "UID STORE \\Deleted: %s %r", status, text)
            break
        else:
            raise TestFailure("UID STORE \\Deleted: dropped 20 times")
        r = self.killed_cmd(c, pid, "expunge", 0.03,
                            lambda: c.cmd("UID EXPUNGE %s" % uset))
        acked = r is not None and r[0] == "OK"
        check(r is None or r[0] in ("OK", "NO"), "UID EXPUNGE: %r", r)
        self.expunges.append((pick, acked))
        self.count("expunge acknowledged" if acked else "expunge killed")

    def run(self, n):
        """n operations; an error is kept for the main thread."""
        ops = ([self.op_deliver] * 7 + [self.op_append] * 5 + [self.op_copy] * 3 +
               [self.op_store] * 2 + [self.op_expunge] * 3)
        try:
            for _ in range(n):
                self.rnd.choice(ops)()
                self.iterations += 1
        except BaseException as e:      # reported by the main thread
            self.error = e

    # Checks -----------------------------------------------------------

    def verify(self, c, boxes, when):
        for box in self.boxes:
            val, nxt, msgs = boxes[box]
            uids = [u for u, _, _ in msgs]
            check(uids == sorted(set(uids)), "%s %s: UIDs not strictly ascending: %r",
                  when, box, uids)
            check(not uids or nxt > uids[-1], "%s %s: UIDNEXT %d not above UID %d",
                  when, box, nxt, uids[-1] if uids else 0)
            if box in self.last:
                v0, n0 = self.last[box]
                check(val == v0, "%s %s: UIDVALIDITY changed from %d to %d",
                      when, box, v0, val)
                check(nxt >= n0, "%s %s: UIDNEXT went down from %d to %d",
                      when, box, n0, nxt)
            self.last[box] = (val, nxt)
            for uid, flags, body in msgs:
                m = MSGID_RE.search(body)
                mid = m.group(1).decode() if m else None
                check(mid in self.expected, "%s %s: UID %d holds %d bytes that are"
                      " no message sent (half-written?): %r...", when, box, uid,
                      len(body), body[:120])
                check(body == self.expected[mid], "%s %s: UID %d (%s) is %d bytes,"
                      " %d were sent (differs from byte %d)", when, box, uid, mid,
                      len(body), len(self.expected[mid]),
                      next((i for i, (a, b) in enumerate(zip(body, self.expected[mid]))
                            if a != b), min(len(body), len(self.expected[mid]))))
                old = self.uid_owner.setdefault((box, uid), mid)
                check(old == mid, "%s %s: UID %d now holds %s, earlier %s (UID"
                      " reused)", when, box, uid, mid, old)
        # Inbox: acknowledged ones all there, once; none ever vanish.
        inbox = boxes[self.inbox][2]
        mids = [MSGID_RE.search(b).group(1).decode() for _, _, b in inbox]
        dups = sorted(set(x for x in mids if mids.count(x) > 1))
        check(not dups, "%s %s: messages stored twice: %r", when, self.inbox, dups)
        missing = sorted(self.acked_inbox - set(mids))
        check(not missing, "%s %s: acknowledged messages missing: %r", when,
              self.inbox, [(m, self.acked_how.get(m)) for m in missing])
        now = set(u for u, _, _ in inbox)
        gone = sorted(self.inbox_seen - now)
        check(not gone, "%s %s: UIDs %r vanished (nothing expunges it)", when,
              self.inbox, gone)
        self.inbox_seen |= now
        # Copies: copies, expunges, no resurrection.
        trash = set(u for u, _, _ in boxes[self.copies][2])
        back = sorted(trash & self.trash_gone)
        check(not back, "%s %s: UIDs %r came back after they were gone", when,
              self.copies, back)
        self.trash_gone |= self.trash_seen - trash
        self.trash_seen |= trash
        for cmd, m in self.copies_made:
            for dst, src in m.items():
                if dst in trash:
                    check(self.uid_owner[(self.copies, dst)] ==
                          self.uid_owner.get((self.inbox, src)),
                          "%s %s: UID %d is not a copy of %s UID %d (%s)",
                          when, self.copies, dst, self.inbox, src, cmd)
                else:
                    expunged = any(dst in s for s, _ in self.expunges)
                    check(expunged, "%s %s: UID %d of acknowledged %s (COPYUID)"
                          " missing", when, self.copies, dst, cmd)
        for uids, acked in self.expunges:
            left = [u for u in uids if u in trash]
            if acked:
                check(not left, "%s %s: acknowledged UID EXPUNGE %r left %r",
                      when, self.copies, uids, left)
            else:
                check(not left or left == uids, "%s %s: killed UID EXPUNGE %r"
                      " removed only some: %r left (not one transaction)",
                      when, self.copies, uids, left)
        # Flagbox: STORE is all or nothing.
        fl = [b"\\Flagged" in f for _, f, _ in boxes[self.flagbox][2]]
        check(len(fl) == FLAGBOX_SIZE, "%s %s: %d messages, not %d", when,
              self.flagbox, len(fl), FLAGBOX_SIZE)
        check(len(set(fl)) <= 1, "%s %s: \\Flagged on %d of %d messages (a"
              " killed STORE applied in part)", when, self.flagbox, sum(fl), len(fl))
        if self.flag_acked is not None and not self.flag_killed_after:
            check(fl[0] == self.flag_acked, "%s %s: \\Flagged is %s, the last"
                  " acknowledged STORE made it %s", when, self.flagbox, fl[0],
                  self.flag_acked)

    def setup(self, c):
        for box in self.boxes:
            if box == "INBOX":
                continue
            status, text, _ = c.cmd("CREATE %s" % box)
            check(status == "OK", "CREATE %s: %s %r", box, status, text)
        for i in range(FLAGBOX_SIZE):
            mid, sent, _ = self.new_message(random.Random(i))
            status, text, _ = c.append(self.flagbox, sent)
            check(status == "OK", "APPEND %s: %s %r", self.flagbox, status, text)

    def seed_messages(self):
        for _ in range(5):
            mid, sent, stored = self.new_message(self.rnd, lf=True)
            self.t.srv.ctl("deliver", "test", self.inbox, input=sent.decode())
            self.acked_inbox.add(mid)


class Tester:
    def __init__(self, srv):
        self.srv = srv
        self.counts = Counts()
        seed = int(os.environ.get("KILL9_SEED", "0")) or random.randrange(1 << 30)
        self.seed = seed
        self.lanes = [Lane(self, k, seed * 100 + k) for k in range(LANES)]
        self.observer = None
        self.recoveries_seen = 0
        self.checks = 0

    # Sessions ---------------------------------------------------------

    def daemon_pid(self):
        return self.srv.daemon.proc.pid

    def login(self, c):
        """LOGIN; True, or False when the server asked to come back later
        (NO [UNAVAILABLE] while it recovers the store, or a connection it
        ended for that recovery)."""
        try:
            status, text, _ = c.cmd("LOGIN test test")
        except Dropped:
            return False
        if status == "NO" and b"[UNAVAILABLE]" in text:
            self.counts.count("login during a recovery")
            return False
        check(status == "OK", "LOGIN: %s %r", status, text)
        return True

    def connect(self, timeout):
        """A logged-in session, retrying (bounded) while the daemon
        recovers the store after a kill inside one of its locks."""
        for _ in range(60):
            try:
                c = rawimap.Conn(self.srv.port, timeout=timeout)
            except (Dropped, OSError):
                time.sleep(0.05)
                continue
            if self.login(c):
                return c
            c.close()
            time.sleep(0.05)
        raise TestFailure("no session could log in after 60 tries")

    def session_pid(self, c):
        """The daemon's child serving connection c (found by its socket)."""
        client_port = c.sock.getsockname()[1]
        for _ in range(200):
            inode = socket_inode(self.srv.port, client_port)
            if inode is not None:
                pid = process_with_socket(session_children(self.daemon_pid()), inode)
                if pid is not None:
                    return pid
            time.sleep(0.005)
        return None

    def session(self, select=None):
        """(Conn, its session process pid): a fresh logged-in session with
        select SELECTed, retrying while a recovery ends sessions."""
        for _ in range(60):
            try:
                c = rawimap.Conn(self.srv.port, timeout=30)
            except (Dropped, OSError):
                time.sleep(0.05)
                continue
            pid = self.session_pid(c)
            if pid is not None and self.login(c):
                if not select:
                    return c, pid
                try:
                    status, text, _ = c.cmd("SELECT %s" % select)
                except Dropped:
                    status, text = None, b"dropped"
                if status == "OK":
                    return c, pid
                check(status in (None, "NO"), "SELECT %s: %s %r", select,
                      status, text)
            c.close()
            time.sleep(0.05)
        raise TestFailure("no session could log in and select for 60 tries")

    # Checks -----------------------------------------------------------

    def fetch_box(self, c, box):
        """(uidvalidity, uidnext, [(uid, flags, body)]) of box."""
        status, text, un = c.cmd("EXAMINE %s" % box)
        if status == "NO" and b"[UNAVAILABLE]" in text:
            raise Dropped("EXAMINE %s: the store is being recovered" % box)
        check(status == "OK", "EXAMINE %s: %s %r", box, status, text)
        vals = {}
        for r in un:
            for k, rx in SELECT_RE.items():
                m = rx.search(r[0])
                if m:
                    vals[k] = int(m.group(1))
        check(set(vals) == set(SELECT_RE), "EXAMINE %s: missing data in %r", box, un)
        out = []
        if vals["EXISTS"]:
            status, text, un = c.cmd("FETCH 1:* (UID FLAGS BODY.PEEK[])")
            if status == "NO" and b"[UNAVAILABLE]" in text:
                raise Dropped("FETCH %s: the store is being recovered" % box)
            check(status == "OK", "FETCH %s: %s %r", box, status, text)
            seqs = []
            for r in un:
                if not r[0].startswith(b"* ") or b" FETCH " not in r[0]:
                    raise TestFailure("%s: unexpected %r during FETCH" % (box, r[0][:100]))
                seq, items = rawimap.fetch_items(r)
                seqs.append(seq)
                check("UID" in items and "FLAGS" in items and "BODY[]" in items,
                      "%s: FETCH response %r lacks items", box, r[0][:200])
                out.append((items["UID"], items["FLAGS"], items["BODY[]"]))
            check(seqs == list(range(1, vals["EXISTS"] + 1)),
                  "%s: FETCH 1:* answered for %r, %d messages exist", box,
                  seqs, vals["EXISTS"])
        return vals["UIDVALIDITY"], vals["UIDNEXT"], out

    def verify(self, when):
        """Every lane's mailboxes, read in one session while no lane runs
        (a recovery that a kill started just before may end it: then the
        whole read starts again)."""
        for _ in range(10):
            c = self.connect(60)
            try:
                boxes = {}
                for lane in self.lanes:
                    for box in lane.boxes:
                        boxes[box] = self.fetch_box(c, box)
                c.cmd("LOGOUT")
                break
            except Dropped:
                self.counts.count("check restarted after a recovery")
            finally:
                c.close()
        else:
            raise TestFailure("%s: the check was dropped 10 times" % when)
        for lane in self.lanes:
            lane.verify(c, boxes, when)
        r = self.srv.ctl("user", "list", check=False)
        check(r.returncode == 0 and r.stdout.split() == [b"test"],
              "%s: refimapctl user list exited %d: %r %r", when, r.returncode,
              r.stdout, r.stderr)
        self.checks += 1

    def recoveries(self):
        return lib.read_text(self.srv.daemon.log).count(
            "store needs recovery: ending all sessions")

    def observe(self):
        """The long-lived session must keep answering, or be ended by a
        recovery of the store (never stay stuck)."""
        c = self.observer
        if c is None:
            return
        try:
            for cmd in ("NOOP", "FETCH 1:* (UID FLAGS)"):
                status, text, _ = c.cmd(cmd)
                check(status in ("OK", "NO"), "observer %s: %s %r", cmd, status, text)
                self.counts.count("observer %s %s" % (cmd.split()[0], status))
        except (Dropped, ProtocolError) as e:
            n = self.recoveries()
            check(n > self.recoveries_seen, "the observer session got stuck"
                  " and no recovery ended it: %s", e)
            self.counts.count("observer ended by a recovery")
            self.recoveries_seen = n
            c.close()
            self.open_observer()

    def open_observer(self):
        for _ in range(20):
            self.observer = self.connect(15)
            try:
                status, text, _ = self.observer.cmd("SELECT INBOX")
            except Dropped:
                self.observer.close()
                continue
            check(status == "OK", "observer SELECT: %s %r", status, text)
            return
        raise TestFailure("the observer could not SELECT INBOX 20 times")

    # The run ----------------------------------------------------------

    def setup(self):
        c = self.connect(30)
        for lane in self.lanes:
            lane.setup(c)
        c.cmd("LOGOUT")
        c.close()
        for lane in self.lanes:
            lane.seed_messages()     # some messages to copy from the start
        self.verify("after setup")
        if os.environ.get("KILL9_OBSERVER") == "0":     # for debugging
            return
        self.open_observer()

    def run(self):
        self.setup()
        t_end = time.monotonic() + DURATION
        rounds = 0
        while (sum(l.iterations for l in self.lanes) < ITERATIONS and
               time.monotonic() < t_end):
            rounds += 1
            threads = [threading.Thread(target=l.run, args=(VERIFY_EVERY,))
                       for l in self.lanes]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            for l in self.lanes:
                if l.error is not None:
                    raise l.error
            self.observe()
            check(self.srv.daemon.running(), "the daemon died in round %d", rounds)
            self.verify("after round %d" % rounds)
        if self.observer is not None:
            try:
                self.observer.cmd("LOGOUT")
            except Dropped:
                pass
            self.observer.close()
        tmp = os.path.join(self.srv.data_dir, "tmp")
        left = os.listdir(tmp) if os.path.isdir(tmp) else []
        check(not left, "spool files left in %s: %r", tmp, left)
        return sum(l.iterations for l in self.lanes)


def run():
    t0 = time.monotonic()
    with lib.Server(config=CONFIG) as srv:
        t = Tester(srv)
        try:
            n = t.run()
        except BaseException as e:
            # Said now: a failure while stopping the daemon would hide it.
            print("FAIL (KILL9_SEED=%d): %s: %s" % (t.seed, type(e).__name__, e))
            raise
        recoveries = t.recoveries()
        # The store must open again without manual recovery.
        srv.daemon.stop()
        d = lib.Daemon(srv.store)
        # Its own log: Daemon.start() takes the first port logged.
        d.log = srv.store.new_log("refimapd-restarted.log")
        srv.daemon = d.start()
        t.verify("after a daemon restart")
        c = t.counts.counts
        killed = sum(v for k, v in c.items() if k.endswith(" killed"))
        print("%d iterations in %d lanes (seed %d): %d processes killed before"
              " their acknowledgement, %d recoveries, %d checks, %d messages"
              " (%.1f s)" % (n, LANES, t.seed, killed, recoveries, t.checks,
                             sum(l.n for l in t.lanes), time.monotonic() - t0))
        print(", ".join("%s: %d" % kv for kv in sorted(c.items())))
        print("median completion times (ms): %s" % ", ".join(
            "%s %.1f" % (k, 1000 * sorted(v)[len(v) // 2])
            for k, v in sorted(t.counts.lat.items())))
        check(killed >= 100 or n < ITERATIONS // 2,
              "only %d kills landed before an acknowledgement" % killed)


if __name__ == "__main__":
    lib.main(run)
