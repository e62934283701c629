#!/usr/bin/env python3
"""IDLE latency (RFC 2177): what another session or a delivery changes in
the selected mailbox reaches an idling client within one second.

One session idles on INBOX; a reader thread stamps each line it receives.
Another session (and `refimapctl deliver`) then, ROUNDS times each, in a
shuffled order and at random moments relative to the server's polling:

  append    APPEND to INBOX            -> "* N EXISTS"
  flag      UID STORE +/-FLAGS         -> "* n FETCH (FLAGS (...))"
  expunge   UID EXPUNGE of a \\Deleted  -> "* n EXPUNGE"
  deliver   refimapctl deliver test    -> "* N EXISTS"

Each latency runs from just before the change is started (command sent,
process spawned) to the moment the idling client has the line; any one
above LIMIT seconds fails the test. The figures are printed."""

import os
import queue
import random
import re
import socket
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "protocol"))
sys.path.insert(0, os.path.join(HERE, "..", "fault"))
import lib  # noqa: E402
from lib import check, TestFailure  # noqa: E402
import rawimap  # noqa: E402

LIMIT = 1.0
ROUNDS = 6
WAIT = 5.0      # how long to wait for a line before calling it lost


class Idler:
    """A session in IDLE on INBOX; lines go to a queue with their times."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.lines = queue.Queue()
        self.exists = 0
        self.read_line()                        # greeting
        self.command(b"a LOGIN test test")
        for line in self.command(b"b SELECT INBOX"):
            m = re.match(rb"\* (\d+) EXISTS$", line)
            if m:
                self.exists = int(m.group(1))
        self.sock.sendall(b"c IDLE\r\n")
        line = self.read_line()
        check(line == b"+ idling", "IDLE answered %r", line)
        self.sock.settimeout(None)
        self.thread = threading.Thread(target=self.reader, daemon=True)
        self.thread.start()

    def read_line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise TestFailure("idling session: connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def command(self, text):
        self.sock.sendall(text + b"\r\n")
        tag = text.split()[0]
        out = []
        while True:
            line = self.read_line()
            if line.startswith(tag + b" "):
                check(line.startswith(tag + b" OK"), "%r: %r", text, line)
                return out
            out.append(line)

    def reader(self):
        try:
            while True:
                line = self.read_line()
                self.lines.put((time.monotonic(), line))
        except (OSError, TestFailure) as e:
            self.lines.put((time.monotonic(), ("closed: %s" % e).encode()))

    def expect(self, pattern, t0, what):
        """Waits for a line matching pattern; returns (seconds since t0,
        match). Lines before it must be ones the test expects in passing
        (FETCH of \\Deleted before EXPUNGE is consumed by the caller)."""
        deadline = time.monotonic() + WAIT
        while True:
            left = deadline - time.monotonic()
            try:
                t, line = self.lines.get(timeout=max(left, 0.01))
            except queue.Empty:
                raise TestFailure("%s: no %r within %g s" % (what, pattern, WAIT))
            m = re.fullmatch(pattern, line)
            if m:
                return t - t0, m
            raise TestFailure("%s: expected %r, the idling client got %r"
                              % (what, pattern, line))

    def done(self):
        self.sock.sendall(b"DONE\r\n")
        t, line = self.lines.get(timeout=WAIT)
        check(line == b"c OK IDLE terminated", "DONE answered %r", line)
        self.sock.close()


def run():
    rnd = random.Random(int(os.environ.get("IDLE_SEED", "0")) or None)
    lat = {"append": [], "flag": [], "expunge": [], "deliver": []}
    with lib.Server() as srv:
        w = rawimap.Conn(srv.port)
        w.login()
        st, text, _ = w.cmd("SELECT INBOX")
        check(st == "OK", "writer SELECT: %s %r", st, text)
        n = 0
        for i in range(4):      # something to flag and expunge from the start
            st, text, _ = w.append("INBOX", b"Subject: seed %d\r\n\r\nx\r\n" % i)
            check(st == "OK", "APPEND: %s %r", st, text)
        uids = list(range(1, 5))
        top = 4
        idler = Idler(srv.port)
        check(idler.exists == 4, "idling client saw %d messages, not 4", idler.exists)
        n = 4
        flagged = set()
        kinds = [k for k in lat for _ in range(ROUNDS)]
        rnd.shuffle(kinds)
        for k in kinds:
            time.sleep(rnd.uniform(0.05, 0.45))     # any phase of the poll
            if k == "append":
                t0 = time.monotonic()
                st, text, _ = w.append("INBOX", b"Subject: append\r\n\r\nx\r\n")
                check(st == "OK", "APPEND: %s %r", st, text)
                uids.append(int(rawimap.APPENDUID_RE.search(text).group(2)))
                top = uids[-1]
                n += 1
                d, _ = idler.expect(rb"\* %d EXISTS" % n, t0, "APPEND")
                # RECENT follows EXISTS in the same wake-up.
                idler.expect(rb"\* \d+ RECENT", t0, "APPEND")
            elif k == "deliver":
                t0 = time.monotonic()
                r = srv.ctl("deliver", "test", input="Subject: deliver\n\nx\n")
                check(r.returncode == 0, "deliver exited %d", r.returncode)
                n += 1
                top += 1        # UIDs are never reused: above every earlier one
                uids.append(top)
                d, _ = idler.expect(rb"\* %d EXISTS" % n, t0, "deliver")
                idler.expect(rb"\* \d+ RECENT", t0, "deliver")
            elif k == "flag":
                i = rnd.randrange(len(uids))
                uid = uids[i]
                on = uid not in flagged
                t0 = time.monotonic()
                st, text, _ = w.cmd("UID STORE %d %sFLAGS.SILENT (\\Flagged)"
                                    % (uid, "+" if on else "-"))
                check(st == "OK", "STORE: %s %r", st, text)
                (flagged.add if on else flagged.discard)(uid)
                d, m = idler.expect(rb"\* %d FETCH \(FLAGS \(([^)]*)\)\)" % (i + 1),
                                    t0, "flag change")
                check((b"\\Flagged" in m.group(1).split()) == on,
                      "FETCH after STORE: flags %r", m.group(1))
            else:
                if len(uids) < 2:
                    continue
                i = rnd.randrange(len(uids))
                uid = uids[i]
                st, text, _ = w.cmd("UID STORE %d +FLAGS.SILENT (\\Deleted)" % uid)
                check(st == "OK", "STORE \\Deleted: %s %r", st, text)
                idler.expect(rb"\* %d FETCH \(FLAGS \([^)]*\)\)" % (i + 1),
                             time.monotonic(), "\\Deleted before EXPUNGE")
                t0 = time.monotonic()
                st, text, _ = w.cmd("UID EXPUNGE %d" % uid)
                check(st == "OK", "UID EXPUNGE: %s %r", st, text)
                del uids[i]
                flagged.discard(uid)
                n -= 1
                d, _ = idler.expect(rb"\* %d EXPUNGE" % (i + 1), t0, "EXPUNGE")
            lat[k].append(d)
        idler.done()
        w.cmd("LOGOUT")
        w.close()
    worst = max(max(v) for v in lat.values() if v)
    print("IDLE latency (s), %s; worst %.3f" % (", ".join(
        "%s: max %.3f median %.3f (%d)" % (k, max(v), sorted(v)[len(v) // 2], len(v))
        for k, v in lat.items() if v), worst))
    late = ["%s %.3f" % (k, x) for k, v in lat.items() for x in v if x > LIMIT]
    check(not late, "updates reached the idling client after more than %g s: %s",
          LIMIT, ", ".join(late))


if __name__ == "__main__":
    lib.main(run)
