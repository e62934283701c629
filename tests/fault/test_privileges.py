#!/usr/bin/env python3
"""Least privilege, as root (skipped otherwise):

- the daemon started as root with no `user` and no `allow_root` refuses to
  start: exit 78 (EX_CONFIG) and a message that says what to set;
- `refimapd -i` run by root the same way greets with "* BYE" and exits 78;
- with `user = nobody` (the store owned by nobody), the daemon binds as
  root and then its master and every session process run as nobody, as
  `ps` would show; LOGIN and SELECT work;
- under inetd, root with `user = nobody` serves the session as nobody;
- refimapctl run by root on that store makes its files as nobody, so the
  daemon can still open the store."""

import os
import pwd
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "protocol"))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

EX_CONFIG = 78
REFUSAL = b"refusing to run sessions as root"


def uids(pid):
    """(real, effective) uid of pid, from /proc."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                f = line.split()
                return int(f[1]), int(f[2])
    raise lib.TestFailure("no Uid line for pid %d" % pid)


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def chown_tree(path, uid, gid):
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for name in files:
            os.chown(os.path.join(root, name), uid, gid)


class Lines:
    """Reads CRLF lines from a socket, each bounded in time."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def line(self):
        deadline = time.monotonic() + lib.READ_TIMEOUT
        while b"\r\n" not in self.buf:
            check(time.monotonic() < deadline, "no line; got %r", self.buf)
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            chunk = self.sock.recv(4096)
            if not chunk:
                line, self.buf = self.buf, b""
                return line
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line + b"\r\n"

    def tagged(self, tag):
        """Skips untagged lines; returns the tagged one."""
        while True:
            line = self.line()
            if not line.startswith(b"* "):
                check(line.startswith(tag + b" "), "expected %r, got %r",
                      tag, line)
                return line


def refused_as_root(store):
    store.set_config("allow_root", "no")
    store.write_config()
    # The daemon.
    r = subprocess.run([str(lib.refimapd_path()), "-c", store.conf, "-f",
                        "-l", "127.0.0.1", "-p", "0"],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       env=store.env(), timeout=10)
    check_eq(r.returncode, EX_CONFIG, "daemon as root: exit status")
    check(REFUSAL in r.stderr and b"user =" in r.stderr,
          "daemon as root: stderr %r lacks the refusal", r.stderr)
    # Under inetd.
    ours, theirs = socket.socketpair()
    try:
        p = subprocess.Popen([str(lib.refimapd_path()), "-c", store.conf, "-i"],
                             stdin=theirs.fileno(), stdout=theirs.fileno(),
                             stderr=subprocess.DEVNULL, env=store.env(),
                             close_fds=True)
        theirs.close()
        line = Lines(ours).line()
        rc = p.wait(timeout=10)
    finally:
        ours.close()
    check(line.startswith(b"* BYE "), "inetd as root: greeting %r", line)
    check_eq(rc, EX_CONFIG, "inetd as root: exit status")


def login_select(port):
    c = socket.create_connection(("127.0.0.1", port), timeout=lib.READ_TIMEOUT)
    try:
        r = Lines(c)
        check(r.line().startswith(b"* OK"), "no greeting")
        c.sendall(b"a LOGIN test test\r\n")
        line = r.tagged(b"a")
        check(line.startswith(b"a OK"), "LOGIN: %r", line)
        c.sendall(b"b SELECT INBOX\r\n")
        line = r.tagged(b"b")
        check(line.startswith(b"b OK"), "SELECT: %r", line)
        return c
    except BaseException:
        c.close()
        raise


def daemon_as_nobody(store, nobody):
    store.set_config("allow_root", "no")
    store.set_config("user", "nobody")
    store.write_config()
    chown_tree(store.tmp, nobody.pw_uid, nobody.pw_gid)
    d = lib.Daemon(store).start()
    try:
        c1 = login_select(d.port)
        c2 = login_select(d.port)
        try:
            master = d.proc.pid
            check_eq(uids(master), (nobody.pw_uid, nobody.pw_uid),
                     "the master's uids after binding")
            kids = children(master)
            check(len(kids) >= 2, "expected 2 session processes, found %r", kids)
            for pid in kids:
                check_eq(uids(pid), (nobody.pw_uid, nobody.pw_uid),
                         "session process %d's uids" % pid)
        finally:
            c1.close()
            c2.close()
    finally:
        d.stop()


def inetd_as_nobody(store, nobody):
    ours, theirs = socket.socketpair()
    try:
        p = subprocess.Popen([str(lib.refimapd_path()), "-c", store.conf, "-i"],
                             stdin=theirs.fileno(), stdout=theirs.fileno(),
                             stderr=subprocess.DEVNULL, env=store.env(),
                             close_fds=True)
        theirs.close()
        r = Lines(ours)
        check(r.line().startswith(b"* OK"), "inetd: no greeting")
        ours.sendall(b"a LOGIN test test\r\n")
        line = r.tagged(b"a")
        check(line.startswith(b"a OK"), "inetd LOGIN: %r", line)
        check_eq(uids(p.pid), (nobody.pw_uid, nobody.pw_uid),
                 "inetd session's uids")
        ours.sendall(b"b LOGOUT\r\n")
        r.tagged(b"b")
        check_eq(p.wait(timeout=10), 0, "inetd session exit status")
    finally:
        ours.close()


def ctl_as_root_acts_as_owner(store, nobody):
    """refimapctl run by root on a store that nobody owns makes its files
    as nobody: the lock file and the regions it has to create (removed
    here, so that it must), and a delivery; the daemon, running as nobody,
    then still serves the store."""
    db = os.path.join(store.data_dir, "db")
    for name in os.listdir(db):
        if name == "refimapd.lock" or name.startswith("__db.0"):
            os.unlink(os.path.join(db, name))
    store.ctl("deliver", "test",
              input="From: root@test\nSubject: as root\n\nhello\n")
    for root, dirs, files in os.walk(store.data_dir):
        for name in dirs + files:
            path = os.path.join(root, name)
            check_eq(os.lstat(path).st_uid, nobody.pw_uid,
                     "owner of %s after refimapctl as root" % path)
    d = lib.Daemon(store)
    d.log = store.new_log("refimapd-after-ctl.log")
    d.start()
    try:
        login_select(d.port).close()
    finally:
        d.stop()


def run():
    if os.geteuid() != 0:
        raise lib.TestSkip("needs root (to start as root and drop)")
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        raise lib.TestSkip("no user nobody")
    store = lib.Store()
    try:
        refused_as_root(store)
        daemon_as_nobody(store, nobody)
        inetd_as_nobody(store, nobody)
        ctl_as_root_acts_as_owner(store, nobody)
    finally:
        store.cleanup()


if __name__ == "__main__":
    lib.main(run)
