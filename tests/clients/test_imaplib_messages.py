#!/usr/bin/env python3
"""Python's imaplib against the daemon, with messages: APPEND, SELECT,
FETCH (RFC822, FLAGS, UID), STORE, COPY, EXPUNGE, checking the exact data
imaplib hands back (RFC 3501 6.3.11, 6.4.3, 6.4.5-6.4.8)."""

import imaplib
import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "protocol"))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

MSG1 = (b"From: alice@example.org\r\n"
        b"Subject: first\r\n"
        b"\r\n"
        b"Hello Bob.\r\n")
MSG2 = (b"From: carol@example.org\r\n"
        b"Subject: second\r\n"
        b"\r\n"
        b"Two lines\r\n"
        b"of text.\r\n")


def ok(resp, what):
    typ, data = resp
    check_eq(typ, "OK", "%s status (data %r)" % (what, data))
    return data


def appenduid(data, what):
    """The UID from "[APPENDUID uidvalidity uid] ..." (RFC 4315 3)."""
    mo = re.match(rb"\[APPENDUID ([0-9]+) ([0-9]+)\] APPEND completed$", data[0])
    check(mo is not None, "%s: tagged OK text %r", what, data[0])
    return int(mo.group(1)), int(mo.group(2))


def run():
    with lib.Server() as srv:
        m = imaplib.IMAP4(srv.host, srv.port, timeout=lib.READ_TIMEOUT)
        ok(m.login("test", "test"), "LOGIN")
        ok(m.create("Archive"), "CREATE Archive")

        # APPEND with flags and a date (6.3.11); the UIDs come back with
        # APPENDUID.
        v1, uid1 = appenduid(ok(m.append("INBOX", None,
                                          '"01-Feb-2024 10:20:30 +0100"', MSG1),
                                 "APPEND 1"), "APPEND 1")
        v2, uid2 = appenduid(ok(m.append("INBOX", r"(\Draft)",
                                          '"02-Feb-2024 11:00:00 -0500"', MSG2),
                                 "APPEND 2"), "APPEND 2")
        check_eq((uid1, uid2), (1, 2), "APPENDUID UIDs")
        check_eq(v1, v2, "APPENDUID UIDVALIDITY of one mailbox")

        # SELECT: imaplib returns the EXISTS count.
        check_eq(ok(m.select("INBOX"), "SELECT INBOX"), [b"2"], "SELECT data")
        check_eq(m.response("RECENT"), ("RECENT", [b"2"]), "RECENT of SELECT")
        check_eq(m.response("UIDVALIDITY"), ("UIDVALIDITY", [str(v1).encode()]),
                 "UIDVALIDITY of SELECT")

        # FETCH FLAGS, INTERNALDATE and RFC822.SIZE (7.4.2).
        check_eq(ok(m.fetch("1:2", "(FLAGS INTERNALDATE RFC822.SIZE)"), "FETCH FAST"), [
            b'1 (FLAGS (\\Recent) INTERNALDATE "01-Feb-2024 10:20:30 +0100" '
            b'RFC822.SIZE %d)' % len(MSG1),
            b'2 (FLAGS (\\Draft \\Recent) INTERNALDATE "02-Feb-2024 11:00:00 -0500" '
            b'RFC822.SIZE %d)' % len(MSG2),
        ], "FETCH 1:2 FAST items")
        check_eq(imaplib.Internaldate2tuple(
            b'1 (INTERNALDATE "01-Feb-2024 10:20:30 +0100")')[:6],
            (2024, 2, 1, 9, 20, 30), "imaplib reads INTERNALDATE (as UTC)")

        # BODY.PEEK[HEADER.FIELDS] leaves \Seen alone.
        check_eq(ok(m.fetch("2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"),
                    "FETCH PEEK"),
                 [(b"2 (BODY[HEADER.FIELDS (SUBJECT)] {19}",
                   b"Subject: second\r\n\r\n"), b")"], "FETCH header field")
        # RFC822 sets \Seen; the new FLAGS come with it (6.4.5).
        check_eq(ok(m.fetch("1", "(RFC822)"), "FETCH RFC822"),
                 [(b"1 (RFC822 {%d}" % len(MSG1), MSG1),
                  b" FLAGS (\\Seen \\Recent))"], "FETCH 1 RFC822")
        check_eq(ok(m.fetch("1:2", "(FLAGS)"), "FETCH FLAGS"),
                 [b"1 (FLAGS (\\Seen \\Recent))", b"2 (FLAGS (\\Draft \\Recent))"],
                 "FLAGS after RFC822")

        # STORE +FLAGS \Flagged answers with the new FLAGS (6.4.6).
        check_eq(ok(m.store("1:2", "+FLAGS", r"(\Flagged)"), "STORE +FLAGS"),
                 [b"1 (FLAGS (\\Flagged \\Seen \\Recent))",
                  b"2 (FLAGS (\\Flagged \\Draft \\Recent))"], "STORE +FLAGS data")
        check_eq(ok(m.store("2", "-FLAGS.SILENT", r"(\Draft)"), "STORE .SILENT"),
                 [None], "STORE -FLAGS.SILENT data")
        # UID FETCH includes the UID (6.4.8).
        check_eq(ok(m.uid("FETCH", "1:*", "(FLAGS)"), "UID FETCH"),
                 [b"1 (UID 1 FLAGS (\\Flagged \\Seen \\Recent))",
                  b"2 (UID 2 FLAGS (\\Flagged \\Recent))"], "UID FETCH data")

        # COPY keeps the flags (6.4.7); COPYUID names the new UIDs.
        data = ok(m.copy("1:2", "Archive"), "COPY")
        check_eq(data, [b"[COPYUID %d 1:2 1:2] COPY completed"
                        % int(ok(m.status("Archive", "(UIDVALIDITY)"),
                                 "STATUS")[0].split()[-1].rstrip(b")"))],
                 "COPY tagged OK")
        check_eq(ok(m.status("Archive", "(MESSAGES RECENT UNSEEN UIDNEXT)"),
                    "STATUS Archive"),
                 [b"Archive (MESSAGES 2 RECENT 2 UNSEEN 1 UIDNEXT 3)"],
                 "STATUS after COPY")
        typ, data = m.copy("1", "Nosuch")
        check_eq((typ, data), ("NO", [b"[TRYCREATE] Mailbox does not exist"]),
                 "COPY to a missing mailbox")

        # STORE \Deleted, then EXPUNGE: imaplib collects the EXPUNGE
        # responses (6.4.3).
        check_eq(ok(m.store("1", "+FLAGS", r"(\Deleted)"), "STORE \\Deleted"),
                 [b"1 (FLAGS (\\Flagged \\Deleted \\Seen \\Recent))"],
                 "STORE \\Deleted data")
        check_eq(ok(m.expunge(), "EXPUNGE"), [b"1"], "EXPUNGE data")
        check_eq(ok(m.fetch("1:*", "(UID FLAGS)"), "FETCH after EXPUNGE"),
                 [b"1 (UID 2 FLAGS (\\Flagged \\Recent))"], "what is left")
        check_eq(ok(m.expunge(), "EXPUNGE again"), [None], "nothing to expunge")
        check_eq(ok(m.status("INBOX", "(MESSAGES UIDNEXT)"), "STATUS INBOX"),
                 [b"INBOX (MESSAGES 1 UIDNEXT 3)"], "STATUS after EXPUNGE")

        # The copies in Archive, bodies and flags as they were; no session
        # has selected Archive, so EXAMINE shows them \Recent without
        # taking that from a later SELECT (RFC 3501 6.3.2).
        check_eq(ok(m.select("Archive", readonly=True), "EXAMINE"), [b"2"],
                 "EXAMINE data")
        check_eq(ok(m.fetch("1:2", "(FLAGS BODY[])"), "FETCH Archive"), [
            (b"1 (FLAGS (\\Flagged \\Seen \\Recent) BODY[] {%d}" % len(MSG1),
             MSG1), b")",
            (b"2 (FLAGS (\\Flagged \\Recent) BODY[] {%d}" % len(MSG2), MSG2),
            b")",
        ], "FETCH in Archive")
        # Read-only: BODY[] did not set \Seen, STORE is refused (6.3.2).
        check_eq(ok(m.fetch("2", "(FLAGS)"), "FETCH FLAGS"),
                 [b"2 (FLAGS (\\Flagged \\Recent))"], "no \\Seen in EXAMINE")
        check_eq(m.store("2", "+FLAGS", r"(\Seen)"),
                 ("NO", [b"[READ-ONLY] Mailbox is read-only"]),
                 "STORE in a read-only mailbox")
        ok(m.close(), "CLOSE")
        typ, data = m.logout()
        check_eq(typ, "BYE", "LOGOUT")


if __name__ == "__main__":
    lib.main(run)
