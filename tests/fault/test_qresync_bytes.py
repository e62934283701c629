#!/usr/bin/env python3
"""QRESYNC resync after 1% changes sends O(changes) bytes (DESIGN, "Speed
and scale"; RFC 7162 3.2.5).

A mailbox of 5,000 messages is filled with pipelined LITERAL+ APPENDs. A
client with QRESYNC remembers UIDVALIDITY and HIGHESTMODSEQ; another
session then changes 1% of the mailbox (a flag on 40 messages, 10
expunged). The client comes back with SELECT INBOX (QRESYNC (...)): the
answer must hold exactly those 40 FETCH responses and a VANISHED (EARLIER)
with those 10 UIDs, and its size beyond a plain SELECT must stay under 60
bytes per changed message. The same for UID FETCH 1:* (FLAGS)
(CHANGEDSINCE m VANISHED). The figures are printed next to what a full
flag resync (UID FETCH 1:* (FLAGS)) costs."""

import os
import re
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "protocol"))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

MESSAGES = 5000
FLAGGED = 40
EXPUNGED = 10
PER_CHANGE_MAX = 60     # bytes per changed message, beyond the constant
BATCH = 500             # APPENDs sent before reading their answers


class Client:
    """A raw IMAP connection that counts the bytes it receives."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buf = b""
        self.received = 0
        self.n = 0
        self.line()                      # greeting

    def line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise lib.TestFailure("connection closed by the server")
            self.received += len(data)
            self.buf += data
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def send(self, data):
        self.sock.sendall(data)

    def tag(self):
        self.n += 1
        return b"t%d" % self.n

    def until(self, tag):
        """The untagged lines before tag's completion, and that line."""
        lines = []
        while True:
            ln = self.line()
            if ln.startswith(tag + b" "):
                return lines, ln
            lines.append(ln)

    def cmd(self, text, what=None):
        """Runs one command; returns (untagged lines, bytes received)."""
        tag = self.tag()
        before = self.received - len(self.buf)
        self.send(tag + b" " + text + b"\r\n")
        lines, done = self.until(tag)
        check(done.startswith(tag + b" OK"), "%s: %r", what or text, done)
        return lines, self.received - len(self.buf) - before

    def close(self):
        self.sock.close()


def login(port, qresync):
    c = Client(port)
    c.cmd(b"LOGIN test test")
    if qresync:
        lines, _ = c.cmd(b"ENABLE QRESYNC")
        check(b"* ENABLED QRESYNC" in lines, "ENABLE QRESYNC: %r", lines)
    return c


def fill(c):
    """MESSAGES appends with LITERAL+, BATCH at a time in one write."""
    done = 0
    while done < MESSAGES:
        n = min(BATCH, MESSAGES - done)
        tags = []
        out = bytearray()
        for i in range(done, done + n):
            body = b"Subject: message %d\r\n\r\nbody %d\r\n" % (i + 1, i + 1)
            t = c.tag()
            tags.append(t)
            out += b"%s APPEND INBOX {%d+}\r\n%s\r\n" % (t, len(body), body)
        c.send(bytes(out))
        for t in tags:
            _, ln = c.until(t)
            check(ln.startswith(t + b" OK"), "APPEND: %r", ln)
        done += n


def select_plain(c):
    lines, size = c.cmd(b"SELECT INBOX")
    return lines, size


def value(lines, rx, what):
    for ln in lines:
        m = re.search(rx, ln)
        if m:
            return int(m.group(1))
    raise lib.TestFailure("no %s in %r" % (what, lines[:12]))


def run():
    with lib.Server() as srv:
        c = login(srv.port, True)
        t0 = time.monotonic()
        fill(c)
        t_fill = time.monotonic() - t0
        lines, _ = select_plain(c)
        check_eq(value(lines, rb"^\* (\d+) EXISTS", "EXISTS"), MESSAGES,
                 "messages after filling")
        uidvalidity = value(lines, rb"UIDVALIDITY (\d+)", "UIDVALIDITY")
        modseq = value(lines, rb"HIGHESTMODSEQ (\d+)", "HIGHESTMODSEQ")
        c.cmd(b"LOGOUT")
        c.close()

        # Another session changes 1% of the mailbox, spread over it.
        step = MESSAGES // (FLAGGED + EXPUNGED)
        uids = [1 + i * step for i in range(FLAGGED + EXPUNGED)]
        flagged, gone = uids[:FLAGGED], uids[FLAGGED:]
        o = login(srv.port, False)
        select_plain(o)
        o.cmd(b"UID STORE " + b",".join(b"%d" % u for u in flagged) +
              b" +FLAGS.SILENT (\\Flagged)")
        gone_set = b",".join(b"%d" % u for u in gone)
        o.cmd(b"UID STORE " + gone_set + b" +FLAGS.SILENT (\\Deleted)")
        o.cmd(b"UID EXPUNGE " + gone_set)
        o.cmd(b"LOGOUT")
        o.close()

        # The constant part: what a SELECT says anyway.
        b = login(srv.port, True)
        _, base = select_plain(b)
        _, full = b.cmd(b"UID FETCH 1:* (FLAGS)")
        b.cmd(b"LOGOUT")
        b.close()

        q = login(srv.port, True)
        t0 = time.monotonic()
        lines, size = q.cmd(b"SELECT INBOX (QRESYNC (%d %d))"
                            % (uidvalidity, modseq))
        t_select = time.monotonic() - t0
        fetches = [ln for ln in lines if re.match(rb"\* \d+ FETCH ", ln)]
        vanished = [ln for ln in lines if ln.startswith(b"* VANISHED")]
        got_uids = sorted(int(re.search(rb"UID (\d+)", ln).group(1))
                          for ln in fetches)
        check_eq(got_uids, flagged, "UIDs of the FETCH responses")
        for ln in fetches:
            check(b"\\Flagged" in ln and b"MODSEQ (" in ln,
                  "FETCH without the flag or MODSEQ: %r", ln)
        check_eq(vanished, [b"* VANISHED (EARLIER) " +
                            b",".join(b"%d" % u for u in gone)],
                 "VANISHED (EARLIER)")
        changes = FLAGGED + EXPUNGED
        extra = size - base
        per = extra / changes
        check(extra < PER_CHANGE_MAX * changes,
              "QRESYNC SELECT sent %d bytes beyond a plain SELECT (%d) for "
              "%d changes: %.1f bytes per change, limit %d"
              % (extra, base, changes, per, PER_CHANGE_MAX))

        # The same through UID FETCH ... (CHANGEDSINCE m VANISHED).
        lines, fsize = q.cmd(b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d "
                             b"VANISHED)" % modseq)
        check_eq(len(lines), FLAGGED + 1, "lines of UID FETCH CHANGEDSINCE")
        check(fsize < PER_CHANGE_MAX * changes + 64,
              "UID FETCH CHANGEDSINCE VANISHED sent %d bytes" % fsize)
        q.cmd(b"LOGOUT")
        q.close()

        print("%d messages appended in %.1f s; %d changed (%d flagged, %d "
              "expunged)" % (MESSAGES, t_fill, changes, FLAGGED, EXPUNGED))
        print("plain SELECT: %d bytes; QRESYNC SELECT: %d bytes (+%d, %.1f "
              "bytes per change, %.3f s)" % (base, size, extra, per,
                                             t_select))
        print("UID FETCH (CHANGEDSINCE VANISHED): %d bytes; full UID FETCH "
              "1:* (FLAGS): %d bytes (%.0fx more)"
              % (fsize, full, full / max(fsize, 1)))


if __name__ == "__main__":
    lib.main(run)
