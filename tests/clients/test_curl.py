#!/usr/bin/env python3
"""curl's IMAP client against the daemon: a mailbox listing with the right
password, exit 67 (CURLE_LOGIN_DENIED) with a wrong one."""

import imaplib
import os
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "protocol"))
import lib  # noqa: E402
from lib import check_eq  # noqa: E402


def curl(srv, user, password):
    cmd = ["curl", "-s", "-S", "--max-time", "10", "--user",
           "%s:%s" % (user, password), "imap://127.0.0.1:%d/" % srv.port]
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=20)
    except subprocess.TimeoutExpired:
        raise lib.TestFailure("%s did not finish within 20 s" % " ".join(cmd))
    return r.returncode, r.stdout.decode("utf-8", "replace"), \
        r.stderr.decode("utf-8", "replace")


def run():
    if shutil.which("curl") is None:
        raise lib.TestSkip("curl is not installed (apt-get install curl)")
    with lib.Server() as srv:
        m = imaplib.IMAP4(srv.host, srv.port, timeout=lib.READ_TIMEOUT)
        check_eq(m.login("test", "test")[0], "OK", "imaplib LOGIN")
        check_eq(m.create("Projects")[0], "OK", "CREATE Projects")
        check_eq(m.create('"Old Mail"')[0], "OK", "CREATE Old Mail")
        m.logout()

        rc, out, err = curl(srv, "test", "test")
        check_eq(rc, 0, "curl exit status (stderr %r)" % err)
        lines = [l for l in out.splitlines() if l.strip()]
        want = {
            '* LIST (\\HasNoChildren) "/" INBOX',
            '* LIST (\\HasNoChildren) "/" Projects',
            '* LIST (\\HasNoChildren) "/" "Old Mail"',
        }
        check_eq(sorted(lines), sorted(want), "curl's listing")

        rc, out, err = curl(srv, "test", "wrong")
        check_eq(rc, 67, "curl exit status with a wrong password (stderr %r)" % err)


if __name__ == "__main__":
    lib.main(run)
