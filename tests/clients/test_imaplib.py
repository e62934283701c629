#!/usr/bin/env python3
"""Python's imaplib against the daemon: login, create, list, status, rename,
delete, logout, checking the exact data returned (RFC 3501 6.2.3, 6.3)."""

import imaplib
import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "protocol"))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402


def ok(resp, what):
    typ, data = resp
    check_eq(typ, "OK", "%s status (data %r)" % (what, data))
    return data


def listing(m, pattern="*"):
    data = ok(m.list('""', pattern), "LIST %s" % pattern)
    if data == [None]:
        return []
    return sorted(data)


def uidvalidity(m, name):
    data = ok(m.status(name, "(MESSAGES UIDNEXT UIDVALIDITY)"), "STATUS " + name)
    check_eq(len(data), 1, "STATUS %s data lines" % name)
    want = re.compile(rb'(%s) \(MESSAGES 0 UIDNEXT 1 UIDVALIDITY ([0-9]+)\)'
                      % re.escape(name.encode()))
    mo = want.fullmatch(data[0])
    check(mo is not None, "STATUS %s returned %r", name, data[0])
    v = int(mo.group(2))
    check(0 < v < 2 ** 32, "UIDVALIDITY %d out of range (RFC 3501 9: nz-number)", v)
    return v


def run():
    with lib.Server() as srv:
        m = imaplib.IMAP4(srv.host, srv.port, timeout=lib.READ_TIMEOUT)
        check(m.welcome.startswith(b"* OK [CAPABILITY IMAP4rev1 "),
              "greeting %r", m.welcome)
        check("IMAP4REV1" in m.capabilities, "capabilities %r", m.capabilities)

        try:
            m.login("test", "wrong")
            raise lib.TestFailure("LOGIN with a wrong password succeeded")
        except imaplib.IMAP4.error as e:
            check("[AUTHENTICATIONFAILED]" in str(e), "failed LOGIN: %s", e)
        ok(m.login("test", "test"), "LOGIN")
        check_eq(m.state, "AUTH", "imaplib state")

        check_eq(listing(m), [b'(\\HasNoChildren) "/" INBOX'], "LIST of a new store")
        ok(m.create("Work"), "CREATE Work")
        ok(m.create("Work/2024"), "CREATE Work/2024")
        ok(m.create('"Sent Items"'), "CREATE Sent Items")
        check_eq(listing(m), sorted([
            b'(\\HasNoChildren) "/" INBOX',
            b'(\\HasChildren) "/" Work',
            b'(\\HasNoChildren) "/" Work/2024',
            b'(\\HasNoChildren) "/" "Sent Items"',
        ]), "LIST after CREATE")
        check_eq(listing(m, "%"), sorted([
            b'(\\HasNoChildren) "/" INBOX',
            b'(\\HasChildren) "/" Work',
            b'(\\HasNoChildren) "/" "Sent Items"',
        ]), "LIST %")

        typ, data = m.create("Work")
        check_eq(typ, "NO", "CREATE of an existing name")
        check(data[0].startswith(b"[ALREADYEXISTS]"), "CREATE existing: %r", data)

        v_inbox = uidvalidity(m, "INBOX")
        v_work = uidvalidity(m, "Work")
        v_2024 = uidvalidity(m, "Work/2024")
        check(len({v_inbox, v_work, v_2024}) == 3,
              "UIDVALIDITY values not distinct: %d %d %d", v_inbox, v_work, v_2024)

        # RENAME keeps the mailboxes (and so their UIDVALIDITY); inferiors
        # follow (RFC 3501 6.3.5).
        ok(m.rename("Work", "Archive"), "RENAME Work Archive")
        check_eq(listing(m), sorted([
            b'(\\HasNoChildren) "/" INBOX',
            b'(\\HasChildren) "/" Archive',
            b'(\\HasNoChildren) "/" Archive/2024',
            b'(\\HasNoChildren) "/" "Sent Items"',
        ]), "LIST after RENAME")
        check_eq(uidvalidity(m, "Archive"), v_work, "UIDVALIDITY of a renamed mailbox")
        check_eq(uidvalidity(m, "Archive/2024"), v_2024,
                 "UIDVALIDITY of a renamed inferior")

        # A new mailbox under an old name gets a new, larger UIDVALIDITY.
        ok(m.create("Work"), "CREATE Work again")
        v_new = uidvalidity(m, "Work")
        check(v_new > max(v_inbox, v_work, v_2024),
              "UIDVALIDITY of a re-created name %d not above %d", v_new,
              max(v_inbox, v_work, v_2024))

        ok(m.delete("Archive/2024"), "DELETE Archive/2024")
        ok(m.delete("Archive"), "DELETE Archive")
        ok(m.delete('"Sent Items"'), "DELETE Sent Items")
        typ, data = m.delete("Archive")
        check_eq(typ, "NO", "DELETE of a deleted mailbox")
        check(data[0].startswith(b"[NONEXISTENT]"), "DELETE nonexistent: %r", data)
        typ, data = m.status("Archive", "(MESSAGES)")
        check_eq(typ, "NO", "STATUS of a deleted mailbox")
        check_eq(listing(m), sorted([
            b'(\\HasNoChildren) "/" INBOX',
            b'(\\HasNoChildren) "/" Work',
        ]), "LIST after DELETE")

        ok(m.noop(), "NOOP")
        typ, data = m.logout()
        check_eq(typ, "BYE", "LOGOUT")


if __name__ == "__main__":
    lib.main(run)
