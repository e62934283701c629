#!/usr/bin/env python3
"""refimapd -i under Debian's openbsd-inetd (/usr/sbin/inetd).

inetd runs in the foreground (-d debug, -i no daemon, -E keeps the
environment) with its own config file in a temp dir, never the system's
/etc/inetd.conf, listening on 127.0.0.1 and a free port; imaplib logs in,
creates and lists; inetd is stopped by pid. openbsd-inetd hands the
connection to the service on fds 0, 1 and 2, so anything refimapd writes to
stderr in inetd mode would reach the client: the exact LIST data checks that
it does not."""

import imaplib
import os
import pwd
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

INETD = "/usr/sbin/inetd"


def start_inetd(store, port):
    conf = os.path.join(store.tmp, "inetd.conf")
    user = pwd.getpwuid(os.getuid()).pw_name
    with open(conf, "w") as f:
        f.write("# refimapd test: written by tests/inetd/test_inetd.py\n")
        f.write("127.0.0.1:%d stream tcp nowait %s %s refimapd -i -c %s\n"
                % (port, user, lib.refimapd_path(), store.conf))
    log = store.new_log("inetd.log")
    logf = open(log, "ab")
    try:
        proc = subprocess.Popen([INETD, "-d", "-i", "-E", conf],
                                stdin=subprocess.DEVNULL, stdout=logf,
                                stderr=logf, env=store.env())
    finally:
        logf.close()
    deadline = time.monotonic() + lib.READ_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return proc, log, False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, log, True
        except OSError:
            time.sleep(0.05)
    return proc, log, False


def stop_inetd(proc, log):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    lib.wait_bounded(proc, lib.STOP_TIMEOUT, "inetd after SIGTERM")


def run():
    if not os.access(INETD, os.X_OK):
        raise lib.TestSkip("%s is missing (apt-get install openbsd-inetd)" % INETD)
    store = lib.Store()
    proc = None
    try:
        for attempt in range(3):
            port = lib.free_port()
            proc, log, up = start_inetd(store, port)
            if up:
                break
            stop_inetd(proc, log)
            proc = None
        check(proc is not None, "inetd did not listen on 127.0.0.1:%d:\n%s",
              port, lib.tail(lib.read_text(log)))

        # The probe connection above started one refimapd -i already; it
        # sees EOF at once and must exit.
        m = imaplib.IMAP4("127.0.0.1", port, timeout=lib.READ_TIMEOUT)
        check(m.welcome.startswith(b"* OK [CAPABILITY IMAP4rev1 "),
              "greeting %r", m.welcome)
        check_eq(m.login("test", "test")[0], "OK", "LOGIN")
        check_eq(m.create("FromInetd")[0], "OK", "CREATE")
        typ, data = m.list('""', "*")
        check_eq(typ, "OK", "LIST")
        check_eq(sorted(data), sorted([b'(\\HasNoChildren) "/" FromInetd',
                                       b'(\\HasNoChildren) "/" INBOX']), "LIST data")
        check_eq(m.logout()[0], "BYE", "LOGOUT")

        # A second connection sees what the first one made.
        m = imaplib.IMAP4("127.0.0.1", port, timeout=lib.READ_TIMEOUT)
        check_eq(m.login("test", "test")[0], "OK", "LOGIN (2)")
        typ, data = m.status("FromInetd", "(MESSAGES)")
        check_eq((typ, data), ("OK", [b"FromInetd (MESSAGES 0)"]), "STATUS (2)")
        check_eq(m.logout()[0], "BYE", "LOGOUT (2)")

        stop_inetd(proc, log)
        proc = None
        # The refimapd -i processes inetd started carry the store's tag.
        lib.check_leftovers(store.tag, "refimapd -i under inetd")
        store.check_logs()
    except BaseException:
        if proc is not None:
            try:
                stop_inetd(proc, log)
            except lib.TestFailure:
                pass
        for path in store.logs:
            sys.stdout.write("--- %s ---\n%s\n" % (os.path.basename(path),
                                                   lib.tail(lib.read_text(path))))
        try:
            lib.check_leftovers(store.tag, "refimapd -i under inetd", grace=0)
        except lib.TestFailure as e:
            print(e)
        raise
    finally:
        store.cleanup()


if __name__ == "__main__":
    lib.main(run)
