#!/usr/bin/env python3
"""The daemon's master: max_sessions and SIGTERM with sessions open.

- With max_sessions = 2, a third connection is refused with an untagged BYE
  as its greeting (RFC 3501 7.1.5) and closed; once a session ends, a new
  connection is accepted again.
- SIGTERM to the master (by pid) while sessions are open: every session says
  "* BYE" and closes, the master exits 0 within 5 s, and no session process
  is left behind (DESIGN "Processes")."""

import os
import re
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "protocol"))
import lib  # noqa: E402
from lib import check  # noqa: E402

GREETING = re.compile(rb"\* OK \[CAPABILITY IMAP4rev1 .*\] refimapd ready")


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=lib.READ_TIMEOUT)
        self.buf = b""

    def line(self):
        deadline = time.monotonic() + lib.READ_TIMEOUT
        while b"\r\n" not in self.buf:
            left = deadline - time.monotonic()
            check(left > 0, "timeout; received so far %r", self.buf)
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(4096)
            except socket.timeout:
                raise lib.TestFailure("timeout; received so far %r" % self.buf)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def send(self, text):
        self.sock.sendall(text.encode() + b"\r\n")

    def expect_eof(self):
        try:
            extra = self.line()
        except EOFError as e:
            check(not e.args[0], "data before EOF: %r", e.args[0])
            return
        raise lib.TestFailure("expected EOF, got %r" % extra)

    def close(self):
        self.sock.close()


def run():
    with lib.Server(config=[("max_sessions", "2")]) as srv:
        a = Client(srv.port)
        check(GREETING.fullmatch(a.line()), "greeting of the first session")
        b = Client(srv.port)
        check(GREETING.fullmatch(b.line()), "greeting of the second session")
        b.send("b1 LOGIN test test")
        check(b.line().startswith(b"b1 OK "), "LOGIN")

        c = Client(srv.port)
        first = c.line()
        check(first.startswith(b"* BYE "),
              "a connection over max_sessions got %r, expected * BYE", first)
        c.expect_eof()
        c.close()

        # A session ends: its slot is free again (the master reaps it).
        a.send("a1 LOGOUT")
        check(a.line().startswith(b"* BYE "), "LOGOUT's BYE")
        check(a.line().startswith(b"a1 OK "), "LOGOUT's OK")
        a.expect_eof()
        a.close()
        deadline = time.monotonic() + lib.READ_TIMEOUT
        while True:
            d = Client(srv.port)
            first = d.line()
            if GREETING.fullmatch(first):
                break
            d.close()
            check(time.monotonic() < deadline,
                  "no session slot came free after a LOGOUT: %r", first)
            time.sleep(0.1)

        # SIGTERM with two sessions open (one logged in, one not).
        srv.daemon.stop()
        for name, cl in (("logged-in", b), ("not-authenticated", d)):
            got = cl.line()
            check(got.startswith(b"* BYE "),
                  "%s session got %r at shutdown, expected * BYE", name, got)
            cl.expect_eof()
            cl.close()


if __name__ == "__main__":
    lib.main(run)
