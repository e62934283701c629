#!/usr/bin/env python3
"""Slow-loris before login (RFC 3501 5.4, 7.1.5; DESIGN "Auth and security").

With idle_timeout_preauth = 2, a client that sends one byte a second and
never finishes a line must not keep its session forever: the server ends it
with "* BYE Autologout..." and closes the connection within a bounded time
(10 s here), whether or not the trickle of bytes resets an idle timer.
Meanwhile another client connects, logs in and works normally: the slow
client holds nothing the others need.

Exit 0 on success, 77 if the binaries are missing, 1 on failure."""

import os
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "protocol"))
import lib  # noqa: E402
from lib import check  # noqa: E402

BOUND = 10.0        # seconds the slow client may live at most
TRICKLE = b"a LOGIN " + b"x" * 200     # never followed by CRLF


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=lib.READ_TIMEOUT)
        self.buf = b""

    def line(self, timeout=None):
        deadline = time.monotonic() + (timeout or lib.READ_TIMEOUT)
        while b"\r\n" not in self.buf:
            left = deadline - time.monotonic()
            check(left > 0, "timeout; received so far %r", self.buf)
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(4096)
            except socket.timeout:
                raise lib.TestFailure("timeout; received so far %r"
                                      % self.buf)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def cmd(self, tag, text):
        self.sock.sendall(("%s %s\r\n" % (tag, text)).encode())
        out = []
        while True:
            ln = self.line()
            out.append(ln)
            if ln.startswith(tag.encode() + b" "):
                return out

    def close(self):
        self.sock.close()


def poll_slow(slow):
    """Any complete line the server sent the slow client, without waiting;
    None if nothing yet, b"" on EOF."""
    slow.sock.setblocking(False)
    try:
        chunk = slow.sock.recv(4096)
    except (BlockingIOError, InterruptedError):
        chunk = None
    except ConnectionResetError:
        chunk = b""
    finally:
        slow.sock.setblocking(True)
    if chunk is None:
        return None
    slow.buf += chunk
    return chunk


def run():
    with lib.Server(users=[("test", "test")],
                    config=[("idle_timeout_preauth", "2")]) as srv:
        slow = Client(srv.port)
        greet = slow.line()
        check(greet.startswith(b"* OK [CAPABILITY IMAP4rev1 "),
              "slow client's greeting: %r", greet)
        start = time.monotonic()
        sent = 0
        closed = False
        worked = False
        while time.monotonic() - start < BOUND:
            # The other client's whole session happens while the slow one
            # is trickling (after its first byte, well within 2 s).
            if sent == 1 and not worked:
                fast = Client(srv.port)
                check(fast.line().startswith(b"* OK [CAPABILITY "),
                      "fast client's greeting")
                r = fast.cmd("f1", "LOGIN test test")
                check(r[-1].startswith(b"f1 OK "), "LOGIN: %r", r)
                r = fast.cmd("f2", "SELECT INBOX")
                check(r[-1] == b"f2 OK [READ-WRITE] SELECT completed",
                      "SELECT: %r", r)
                r = fast.cmd("f3", "LOGOUT")
                check(r == [b"* BYE Logging out", b"f3 OK LOGOUT completed"],
                      "LOGOUT: %r", r)
                fast.close()
                worked = True
            chunk = poll_slow(slow)
            if chunk == b"":
                closed = True
                break
            if sent < len(TRICKLE):
                try:
                    slow.sock.sendall(TRICKLE[sent:sent + 1])
                    sent += 1
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
            time.sleep(1.0)
        elapsed = time.monotonic() - start
        check(worked, "the other client did not get to work")
        if not closed:
            raise lib.TestFailure(
                "the slow client (%d bytes sent, one a second, no CRLF) "
                "was still connected after %.1f s with "
                "idle_timeout_preauth = 2; received %r"
                % (sent, elapsed, slow.buf))
        # Whatever else came before the EOF (poll_slow stopped at it).
        slow.sock.settimeout(2)
        try:
            while True:
                chunk = slow.sock.recv(4096)
                if not chunk:
                    break
                slow.buf += chunk
        except OSError:
            pass
        got = slow.buf
        check(got.startswith(b"* BYE Autologout"),
              "the slow client was closed after %.1f s without "
              "\"* BYE Autologout\"; received %r", elapsed, got)
        print("slow client closed after %.1f s (%d bytes sent); "
              "received %r" % (elapsed, sent, got))
        slow.close()
        print("slow client closed after %.1f s (%d bytes sent); "
              "received %r" % (elapsed, sent, slow.buf))


if __name__ == "__main__":
    lib.main(run)
