#!/usr/bin/env python3
"""Supervising the daemon: pid file, SIGHUP reload, session log lines.

- pid_file: written with the daemon's pid once it listens; a second daemon
  on the same pid file exits 69 (EX_UNAVAILABLE) naming the first one's
  pid, and the file still holds the first pid; SIGTERM removes the file.
- Detached (no -f): the pid file names the daemon when the command
  returns; SIGTERM to that pid stops it and removes the file.
- SIGTERM with a session logged in: it gets "* BYE Server shutting down"
  and EOF, and the daemon exits 0 within 3.5 s.
- SIGHUP re-reads the config: a new session gets the new
  idle_timeout_preauth (autologout after 1 s) while a session that was
  logged in before keeps working (FETCH, NOOP); a changed data_dir is
  logged as needing a restart and not applied; a config with an unknown
  key is logged and the running one kept (a later session still gets the
  reloaded setting, the daemon still serves).
- One "login" and one "logout" log line per session (run with -f, the log
  is stderr): user, peer, bytes in and out equal to what the client sent
  and received, and the count of commands; the password is in no log
  line."""

import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "protocol"))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

PASSWORD = "Pw-7q3zX-secret"
MESSAGE = (b"From: a@example.org\r\nTo: test@example.org\r\n"
           b"Subject: supervised\r\n\r\nhello\r\n")


class Client:
    """A raw IMAP client that counts every byte both ways."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=lib.READ_TIMEOUT)
        self.buf = b""
        self.sent = 0
        self.received = 0
        self.commands = 0

    def line(self, timeout=lib.READ_TIMEOUT):
        deadline = time.monotonic() + timeout
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
            self.received += len(chunk)
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def command(self, tag, text):
        """Sends one command, returns (untagged lines, tagged line)."""
        data = ("%s %s\r\n" % (tag, text)).encode()
        self.sock.sendall(data)
        self.sent += len(data)
        self.commands += 1
        untagged = []
        while True:
            ln = self.line()
            if ln.startswith(tag.encode() + b" "):
                return untagged, ln
            untagged.append(ln)

    def expect_eof(self):
        try:
            extra = self.line()
        except EOFError as e:
            check(not e.args[0], "data before EOF: %r", e.args[0])
            return
        raise lib.TestFailure("expected EOF, got %r" % extra)

    def close(self):
        self.sock.close()


def wait_log(daemon, pattern, what, start=0):
    """Waits until the daemon's log (from offset start) matches."""
    deadline = time.monotonic() + lib.READ_TIMEOUT
    rx = re.compile(pattern)
    while True:
        text = lib.read_text(daemon.log)[start:]
        m = rx.search(text)
        if m:
            return m
        check(time.monotonic() < deadline, "no log line for %s (%s):\n%s",
              what, pattern, lib.tail(text))
        time.sleep(0.05)


def check_autologout(port, seconds, what):
    """A new session that stays silent gets BYE Autologout in time."""
    c = Client(port)
    check(c.line().startswith(b"* OK "), "%s: greeting", what)
    t0 = time.monotonic()
    got = c.line(timeout=seconds + 3)
    check(got.startswith(b"* BYE Autologout"), "%s: got %r, expected "
          "* BYE Autologout", what, got)
    took = time.monotonic() - t0
    check(took < seconds + 2, "%s: autologout after %.1f s", what, took)
    c.expect_eof()
    c.close()


def alive(pid):
    """Running (a zombie that init has not reaped yet counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def check_detached(store, pid_file):
    """Without -f: when the command returns, the pid file names the
    detached daemon, which serves; SIGTERM to that pid removes the file."""
    store.set_config("data_dir", store.data_dir)
    store.write_config()
    port = lib.free_port()
    r = subprocess.run([str(lib.refimapd_path()), "-c", store.conf, "-l",
                        "127.0.0.1", "-p", str(port)],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, env=store.env(),
                       timeout=lib.STOP_TIMEOUT)
    check_eq(r.returncode, 0, "refimapd without -f (output %r)" % r.stdout)
    with open(pid_file) as f:
        text = f.read()
    check(re.fullmatch(r"\d+\n", text), "pid file after detaching: %r", text)
    pid = int(text)
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            check(store.tag.encode() in f.read(), "pid %d is not the daemon",
                  pid)
        c = Client(port)
        check(c.line().startswith(b"* OK "), "detached daemon's greeting")
        _, t = c.command("c1", "LOGOUT")
        check(t.startswith(b"c1 OK "), "LOGOUT: %r", t)
        c.close()
    finally:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + lib.STOP_TIMEOUT
    while alive(pid) or os.path.exists(pid_file):
        check(time.monotonic() < deadline, "detached daemon %d still there "
              "or its pid file left, %g s after SIGTERM", pid,
              lib.STOP_TIMEOUT)
        time.sleep(0.05)


def run():
    store = lib.Store(users=[("test", PASSWORD)])
    pid_file = os.path.join(store.tmp, "refimapd.pid")
    store.set_config("pid_file", pid_file)
    store.set_config("log_level", "info")
    store.write_config()
    store.ctl("deliver", "test", input=MESSAGE.decode())
    daemon = lib.Daemon(store)
    try:
        daemon.start()
        # Written after binding, before the daemon says it started.
        wait_log(daemon, r"refimapd \S+ started", "start")
        with open(pid_file) as f:
            check_eq(f.read(), "%d\n" % daemon.proc.pid, "pid file")

        # A second daemon on the same pid file is refused.
        log2 = store.new_log("second.log")
        with open(log2, "wb") as logf:
            r = subprocess.run([str(lib.refimapd_path()), "-c", store.conf,
                                "-f", "-l", "127.0.0.1", "-p", "0"],
                               stdin=subprocess.DEVNULL, stdout=logf,
                               stderr=logf, env=store.env(),
                               timeout=lib.STOP_TIMEOUT)
        check_eq(r.returncode, 69, "exit status of a second daemon")
        check(re.search(r"pid file .* is held by process %d: refimapd is "
                        r"already running" % daemon.proc.pid,
                        lib.read_text(log2)),
              "second daemon's message:\n%s", lib.read_text(log2))
        with open(pid_file) as f:
            check_eq(f.read(), "%d\n" % daemon.proc.pid,
                     "pid file after the refused start")

        # A session logged in before the reload.
        a = Client(daemon.port)
        check(a.line().startswith(b"* OK "), "greeting")
        _, t = a.command("a1", 'LOGIN test "%s"' % PASSWORD)
        check(t.startswith(b"a1 OK "), "LOGIN: %r", t)
        u, t = a.command("a2", "SELECT INBOX")
        check(t.startswith(b"a2 OK [READ-WRITE]"), "SELECT: %r", t)
        check(b"* 1 EXISTS" in u, "SELECT: %r", u)

        # Reload: idle_timeout_preauth 60 -> 1; data_dir needs a restart.
        mark = len(lib.read_text(daemon.log))
        store.set_config("idle_timeout_preauth", "1")
        store.set_config("data_dir", store.data_dir + "-elsewhere")
        store.set_config("allow_root", "no")
        store.write_config()
        os.kill(daemon.proc.pid, signal.SIGHUP)
        wait_log(daemon, r"reloaded %s" % re.escape(store.conf), "reload",
                 mark)
        wait_log(daemon, r"reload: 'data_dir' changed; it takes effect at "
                 r"the next restart", "data_dir warning", mark)
        wait_log(daemon, r"reload: 'allow_root' changed; it takes effect at "
                 r"the next restart", "allow_root warning", mark)
        store.set_config("allow_root", "yes")
        store.write_config()
        check_autologout(daemon.port, 1, "new session after the reload")

        # The older session still works, on the running data_dir.
        u, t = a.command("a3", "FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS "
                         "(SUBJECT)])")
        check(t.startswith(b"a3 OK "), "FETCH after the reload: %r", t)
        check(any(b"FETCH (FLAGS" in x for x in u), "FETCH data %r", u)
        check(b"Subject: supervised" in u, "FETCH data %r", u)
        _, t = a.command("a4", "NOOP")
        check(t.startswith(b"a4 OK "), "NOOP after the reload: %r", t)

        # A bad config: logged, the running one (timeout 1) is kept.
        mark = len(lib.read_text(daemon.log))
        with open(store.conf, "a") as f:
            f.write("no_such_key = 1\n")
        os.kill(daemon.proc.pid, signal.SIGHUP)
        wait_log(daemon, r"reload failed, running config kept: .*"
                 r"no_such_key", "failed reload", mark)
        check_autologout(daemon.port, 1, "new session after a bad reload")
        check(daemon.running(), "the daemon died after a bad config")

        # Logout: one logout line with what the client counted.
        _, t = a.command("a5", "LOGOUT")
        check(t.startswith(b"a5 OK "), "LOGOUT: %r", t)
        a.expect_eof()
        a.close()
        m = wait_log(daemon, r"session=(\d+) user=test peer=127\.0\.0\.1: "
                     r"logout: in=(\d+) out=(\d+) commands=(\d+)", "logout")
        check_eq((int(m.group(2)), int(m.group(3)), int(m.group(4))),
                 (a.sent, a.received, a.commands),
                 "logout line (bytes in, bytes out, commands)")
        text = lib.read_text(daemon.log)
        logins = re.findall(r"session=%s user=test peer=127\.0\.0\.1: "
                            r"login\n" % m.group(1), text)
        check_eq(len(logins), 1, "login lines of session %s" % m.group(1))
        logouts = re.findall(r"session=%s user=test peer=127\.0\.0\.1: "
                             r"logout\b" % m.group(1), text)
        check_eq(len(logouts), 1, "logout lines of session %s" % m.group(1))
        check(PASSWORD not in text, "the password is in the log")

        # SIGTERM: a logged-in session hears BYE, the daemon exits 0 well
        # within its 3 s bound, the pid file goes.
        b = Client(daemon.port)
        check(b.line().startswith(b"* OK "), "greeting")
        _, t = b.command("b1", 'LOGIN test "%s"' % PASSWORD)
        check(t.startswith(b"b1 OK "), "LOGIN: %r", t)
        t0 = time.monotonic()
        daemon.stop()
        took = time.monotonic() - t0
        check(took < 3.5, "SIGTERM took %.1f s", took)
        got = b.line()
        check(got == b"* BYE Server shutting down", "at SIGTERM: %r", got)
        b.expect_eof()
        b.close()
        check(not os.path.exists(pid_file), "pid file left after SIGTERM")
        check(PASSWORD not in lib.read_text(daemon.log),
              "the password is in the log")
        store.check_logs()
        check_detached(store, pid_file)
    except BaseException:
        daemon.kill()
        for path in store.logs:
            sys.stdout.write("--- %s ---\n%s\n" % (os.path.basename(path),
                             lib.tail(lib.read_text(path))))
        raise
    finally:
        lib.check_leftovers(store.tag, "refimapd", grace=0)
        store.cleanup()


if __name__ == "__main__":
    lib.main(run)
