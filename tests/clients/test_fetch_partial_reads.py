#!/usr/bin/env python3
"""FETCH of one part of a big message reads only that part from the store
(RFC 3501 6.4.5 section parts and partials; the MIME structure comes from
the blob computed at APPEND time, store/mime.h).

A message with a 2 KB text part and a 40 MB base64 attachment is APPENDed
with a LITERAL+ literal (RFC 7888); then FETCH BODY.PEEK[1], BODYSTRUCTURE
and BODY.PEEK[2]<0.100> must give the exact data, and the daemon's debug
line "fetch: N message bytes read from the store" must show that each read
only a little: N well under 1 MB for the text part and the structure, about
one 64 KB store chunk for the partial of the attachment.
"""

import base64
import os
import re
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "protocol"))
sys.path.insert(0, os.path.join(HERE, "..", "mime"))
import lib  # noqa: E402
import mimetest  # noqa: E402

READ_RE = re.compile(r"fetch: (\d+) message bytes read from the store")
ATTACH_RAW = 30 * 1024 * 1024 + 7      # 40 MB once base64-encoded


def make_message():
    text = b"".join((b"Line %03d of the small text part " % i).ljust(62, b".")
                    + b"\r\n" for i in range(32))
    assert len(text) == 2048
    att = base64.encodebytes(os.urandom(ATTACH_RAW)).replace(b"\n", b"\r\n")
    head = (b"From: big@example.org\r\n"
            b"Subject: forty megabytes\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"BIG\"\r\n\r\n"
            b"--BIG\r\n"
            b"Content-Type: text/plain; charset=us-ascii\r\n\r\n")
    mid = (b"\r\n--BIG\r\n"
           b"Content-Type: application/octet-stream\r\n"
           b"Content-Transfer-Encoding: base64\r\n"
           b"Content-Disposition: attachment; filename=big.bin\r\n\r\n")
    tail = b"\r\n--BIG--\r\n"
    # The text part's last CRLF belongs to the delimiter (RFC 2046 5.1.1).
    msg = head + text[:-2] + mid + att[:-2] + tail
    return msg, text[:-2], att[:-2]


def reads(srv, before):
    """The N of the next "fetch: N ..." log line after the first `before`
    ones (waits up to 5 s for it)."""
    deadline = time.monotonic() + lib.READ_TIMEOUT
    while True:
        found = READ_RE.findall(srv.log_text())
        if len(found) > before:
            return int(found[before])
        lib.check(time.monotonic() < deadline,
                  "no new 'fetch: N message bytes read' line in the log")
        time.sleep(0.02)


def run():
    msg, text, att = make_message()
    lib.check(len(att) > 40 * 1000 * 1000, "attachment only %d bytes", len(att))
    with lib.Server(config=[("literal_max", str(64 * 1024 * 1024))]) as srv:
        c = mimetest.Client(srv.host, srv.port, timeout=30)
        c.ok(b"LOGIN test test")
        t0 = time.monotonic()
        untagged, tagged = c.command(b"APPEND INBOX", literal=msg,
                                     literal_plus=True)
        took = time.monotonic() - t0
        lib.check(tagged.startswith(b"OK [APPENDUID "), "APPEND: %r", tagged)
        lib.check(took < 20, "APPEND of %d bytes took %.1f s", len(msg), took)
        c.ok(b"SELECT INBOX")
        n = len(READ_RE.findall(srv.log_text()))

        # BODY.PEEK[1]: the 2 KB text part, exactly (6.4.5).
        untagged = c.ok(b"FETCH 1 (BODY.PEEK[1])")
        lib.check_eq(untagged, [b"* 1 FETCH (BODY[1] {%d}\r\n" % len(text)
                                + text + b")"], "BODY.PEEK[1]")
        got = reads(srv, n)
        lib.check(got < 1024 * 1024, "BODY.PEEK[1] read %d bytes", got)
        lib.check(got >= len(text), "BODY.PEEK[1] read only %d bytes", got)

        # BODYSTRUCTURE comes from the blob: no message bytes at all.
        untagged = c.ok(b"FETCH 1 (BODYSTRUCTURE)")
        lib.check_eq(untagged, [
            b'* 1 FETCH (BODYSTRUCTURE (("text" "plain" ("charset" "us-ascii")'
            b' NIL NIL "7bit" %d 32 NIL NIL NIL NIL)("application" "octet-stream"'
            b' NIL NIL NIL "base64" %d NIL ("attachment" ("filename" "big.bin"))'
            b' NIL NIL) "mixed" ("boundary" "BIG") NIL NIL NIL))'
            % (len(text), len(att))], "BODYSTRUCTURE")
        got = reads(srv, n + 1)
        lib.check(got < 1024 * 1024, "BODYSTRUCTURE read %d bytes", got)

        # A partial of the attachment: about one 64 KB store chunk.
        untagged = c.ok(b"FETCH 1 (BODY.PEEK[2]<0.100>)")
        lib.check_eq(untagged, [b"* 1 FETCH (BODY[2]<0> {100}\r\n" + att[:100]
                                + b")"], "BODY.PEEK[2]<0.100>")
        got = reads(srv, n + 2)
        lib.check(100 <= got <= 2 * 64 * 1024,
                  "BODY.PEEK[2]<0.100> read %d bytes", got)

        # The end of the attachment, for good measure.
        off = len(att) - 50
        untagged = c.ok(b"FETCH 1 (BODY.PEEK[2]<%d.100>)" % off)
        lib.check_eq(untagged, [b"* 1 FETCH (BODY[2]<%d> {50}\r\n" % off
                                + att[off:] + b")"], "BODY.PEEK[2] tail")
        got = reads(srv, n + 3)
        lib.check(50 <= got <= 2 * 64 * 1024, "tail partial read %d bytes", got)
        c.ok(b"LOGOUT")
        c.close()


if __name__ == "__main__":
    lib.main(run)
