#!/usr/bin/env python3
"""A logged-in session opens the store's databases when it first needs
them (store_ready), not at LOGIN.

After LOGIN, CAPABILITY, NOOP and NAMESPACE, the session process has one
database file open (mailboxes.db: LOGIN looks for the user's INBOX); after
LIST it has all ten. A session that only logs in and waits keeps no
handle, cursor or mutex of the other nine. The first LOGIN of a user the
store has never seen, which creates the INBOX, works too (it opens
everything first).

Exit 0 on success, 77 if the binaries are missing or the session's file
descriptors cannot be read here, 1 on failure."""

import os
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "protocol"))
import lib  # noqa: E402
from lib import check  # noqa: E402

ALL = {"mailboxes.db", "subscriptions.db", "counters.db", "messages.db",
       "by_modseq.db", "expunged.db", "bodies.db", "body_refs.db",
       "keywords.db", "mime.db"}


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=lib.READ_TIMEOUT)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            check(chunk, "connection closed; received %r", self.buf)
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


def session_pid(daemon_pid, known):
    """The daemon's child that is not in known (waits a little)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) in known:
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read()
            except OSError:
                continue
            if int(st.rsplit(")", 1)[1].split()[1]) == daemon_pid:
                return int(d)
        time.sleep(0.02)
    raise lib.TestFailure("no session process appeared")


def open_dbs(pid):
    names = set()
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except PermissionError as e:
        raise lib.TestSkip("cannot read the session's fds: %s" % e)
    for fd in fds:
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        base = os.path.basename(target)
        if base.endswith(".db"):
            names.add(base)
    return names


def login(srv, user, password, known):
    c = Client(srv.port)
    check(c.line().startswith(b"* OK "), "greeting")
    pid = session_pid(srv.daemon.proc.pid, known)
    r = c.cmd("a", "LOGIN %s %s" % (user, password))
    check(r[-1].startswith(b"a OK "), "LOGIN %s: %r", user, r)
    return c, pid


def run():
    with lib.Server(users=[("test", "test")]) as srv:
        known = set()
        c, pid = login(srv, "test", "test", known)
        known.add(pid)
        for tag, text in (("b", "CAPABILITY"), ("c", "NOOP"),
                          ("d", "NAMESPACE")):
            r = c.cmd(tag, text)
            check(r[-1].startswith(tag.encode() + b" OK "), "%s: %r",
                  text, r)
        got = open_dbs(pid)
        check(got == {"mailboxes.db"},
              "after LOGIN, CAPABILITY, NOOP, NAMESPACE: open %r",
              sorted(got))
        r = c.cmd("e", 'LIST "" *')
        check(r[-1] == b"e OK LIST completed", "LIST: %r", r)
        got = open_dbs(pid)
        check(got == ALL, "after LIST: open %r", sorted(got))
        r = c.cmd("f", "SELECT INBOX")
        check(r[-1].startswith(b"f OK [READ-WRITE]"), "SELECT: %r", r)
        c.cmd("z", "LOGOUT")
        c.sock.close()

        # A user the store has never seen (a passwd line copied from
        # test's): LOGIN creates the INBOX.
        path = os.path.join(srv.data_dir, "passwd")
        with open(path) as f:
            line = [ln for ln in f if ln.startswith("test:")][0]
        with open(path, "a") as f:
            f.write("fresh:" + line.split(":", 1)[1])
        c, pid = login(srv, "fresh", "test", known)
        r = c.cmd("b", "SELECT INBOX")
        check(r[-1].startswith(b"b OK [READ-WRITE]"), "new user's SELECT:"
              " %r", r)
        r = c.cmd("c", "APPEND INBOX {5+}\r\nhello")
        check(r[-1].startswith(b"c OK "), "APPEND: %r", r)
        c.cmd("z", "LOGOUT")
        c.sock.close()


if __name__ == "__main__":
    lib.main(run)
