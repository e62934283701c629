#!/usr/bin/env python3
"""Writes the MIME test corpus, tests/mime/corpus/NNN-name.eml.

Every message is built here from literal text, so the corpus is the same
on every run (no clock, no randomness): run it again after a change and
commit what it writes. Names starting with "bad-" (after the number) are
malformed on purpose; the rest are well-formed RFC 5322 / MIME messages
(RFC 2045-2049, 2047, 2231), which tests/clients/test_dovecot_mime.py
compares with Dovecot.

  python3 tests/mime/make_corpus.py [OUTDIR]
"""

import base64
import os
import quopri
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MESSAGES = []


def add(name, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    MESSAGES.append((name, data))


def crlf(text):
    """Text with LF line ends -> CRLF."""
    if isinstance(text, str):
        text = text.encode("utf-8")
    return text.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def hdr(**kw):
    """A small header; keys with _ become -; order kept."""
    out = []
    for k, v in kw.items():
        out.append("%s: %s\n" % (k.replace("_", "-"), v))
    return "".join(out)


BASE = ("From: Alice Example <alice@example.org>\n"
        "To: Bob <bob@example.net>\n"
        "Date: Mon, 7 Feb 1994 21:52:25 -0800\n")


def std(subject, msgid, extra=""):
    return BASE + "Subject: %s\nMessage-ID: <%s@example.org>\n%s" % (
        subject, msgid, extra)


def b64(data, width=76):
    enc = base64.b64encode(data).decode()
    return "\n".join(enc[i:i + width] for i in range(0, len(enc), width)) + "\n"


def qp(data):
    return quopri.encodestring(data).decode("ascii")


def blob(n, seed):
    """n deterministic pseudo-random bytes (a linear congruential stream)."""
    x = seed & 0xffffffff
    out = bytearray()
    for _ in range(n):
        x = (1103515245 * x + 12345) & 0x7fffffff
        out.append((x >> 16) & 0xff)
    return bytes(out)


def multipart(subtype, boundary, parts, preamble="", epilogue="",
              params=""):
    """A multipart body (without the outer header) and its Content-Type."""
    body = preamble
    for p in parts:
        body += "--%s\n%s" % (boundary, p)
        if not p.endswith("\n"):
            body += "\n"
    body += "--%s--\n%s" % (boundary, epilogue)
    ctype = 'multipart/%s; boundary="%s"%s' % (subtype, boundary, params)
    return ctype, body


def part(ctype, body, extra="", cte=None):
    h = "Content-Type: %s\n" % ctype if ctype else ""
    if cte:
        h += "Content-Transfer-Encoding: %s\n" % cte
    return h + extra + "\n" + body


def msg_with(subject, msgid, ctype, body, extra=""):
    return std(subject, msgid, "MIME-Version: 1.0\nContent-Type: %s\n%s"
               % (ctype, extra)) + "\n" + body


# ---------------------------------------------------------------- plain
def plain():
    add("plain-minimal", crlf("From: a@b\n\nhi\n"))
    add("plain-standard", crlf(std("Plain text", "p1") + "\nHello Bob,\n\n"
                               "A plain message.\n-- \nAlice\n"))
    add("plain-charset-utf8", crlf(msg_with(
        "UTF-8 body", "p2", "text/plain; charset=utf-8", "Gr\u00fc\u00dfe aus "
        "K\u00f6ln \u2014 \u20ac 5\n", "Content-Transfer-Encoding: 8bit\n")))
    add("plain-latin1-qp", crlf(msg_with(
        "Latin-1 QP", "p3", "text/plain; charset=iso-8859-1",
        qp("Caf\xe9 cr\xe8me br\xfbl\xe9e, une tr\xe8s longue ligne qui "
           "d\xe9passe soixante-seize caract\xe8res pour forcer une "
           "coupure douce.\n".encode("latin-1")),
        "Content-Transfer-Encoding: quoted-printable\n")))
    add("plain-base64", crlf(msg_with(
        "Base64 text", "p4", 'text/plain; charset="utf-8"',
        b64("Base64-encoded text body.\nSecond line.\n".encode()),
        "Content-Transfer-Encoding: base64\n")))
    add("plain-no-body", crlf("From: a@b\nSubject: empty body\n\n"))
    add("plain-header-only", crlf("From: a@b\nSubject: no blank line\n"))
    add("plain-flowed", crlf(msg_with(
        "Flowed", "p5", "text/plain; charset=us-ascii; format=flowed; "
        "delsp=yes", "This is a flowed \nparagraph of text.\n")))
    add("plain-html-only", crlf(msg_with(
        "HTML only", "p6", "text/html; charset=utf-8",
        "<html><body><p>Hello <b>world</b></p></body></html>\n")))
    add("plain-content-id-desc", crlf(msg_with(
        "Id and description", "p7", "text/plain",
        "Body.\n", "Content-ID: <part1.p7@example.org>\n"
        "Content-Description: A short description\n"
        "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
        "Content-Language: en-US, fr\n"
        "Content-Location: http://example.org/p7.txt\n"
        "Content-Disposition: inline\n")))
    add("plain-uppercase-type", crlf(msg_with(
        "Upper case", "p8", "TEXT/PLAIN; CHARSET=US-ASCII", "Body.\n",
        "Content-Transfer-Encoding: 7BIT\n")))
    add("plain-long-lines", crlf(std("Long lines", "p9") + "\n" +
                                 ("x" * 990 + "\n") * 5))
    add("plain-many-lines", crlf(std("Many lines", "p10") + "\n" +
                                 "".join("line %d\n" % i for i in range(500))))
    add("plain-folded-headers", crlf(
        "From: Alice\n Example\n\t<alice@example.org>\n"
        "To: bob@example.net,\n carol@example.net\n"
        "Subject: a folded\n  subject line\n"
        "Date: Mon, 7 Feb 1994\n 21:52:25 -0800\n"
        "Message-ID:\n <folded@example.org>\n\nBody.\n"))
    add("plain-in-reply-to", crlf(std("Re: thread", "p11",
                                      "In-Reply-To: <p1@example.org>\n"
                                      "References: <p0@example.org> "
                                      "<p1@example.org>\n") + "\nReply.\n"))
    add("plain-cc-bcc", crlf(std("Cc and Bcc", "p12",
                                 "Cc: Carol <carol@example.net>, "
                                 "dave@example.net\n"
                                 "Bcc: eve@example.net\n") + "\nBody.\n"))
    add("plain-sender-replyto", crlf(std("Sender and Reply-To", "p13",
                                         "Sender: Secretary <sec@example.org>\n"
                                         "Reply-To: List <list@example.org>\n")
                                     + "\nBody.\n"))
    add("plain-comments-in-ctype", crlf(msg_with(
        "Comments", "p14", "text/plain (plain text); charset=us-ascii "
        "(ascii)", "Body.\n")))
    add("plain-7bit-explicit", crlf(msg_with(
        "7bit", "p15", "text/plain; charset=us-ascii", "Body.\n",
        "Content-Transfer-Encoding: 7bit\n")))
    add("plain-binary-cte", crlf(msg_with(
        "binary", "p16", "application/octet-stream",
        "raw\x01\x02 bytes\n", "Content-Transfer-Encoding: binary\n")))


# ----------------------------------------------------------- alternative
def alternative():
    for i, (cs, text) in enumerate([
            ("us-ascii", "Plain version.\n"),
            ("utf-8", "Version \u00e9l\u00e9gante.\n"),
            ("iso-8859-1", "Version simple.\n")]):
        ct, body = multipart("alternative", "alt-%d" % i, [
            part("text/plain; charset=%s" % cs, text),
            part("text/html; charset=%s" % cs,
                 "<p>%s</p>\n" % text.strip())])
        add("alt-simple-%s" % cs, crlf(msg_with("Alternative %d" % i,
                                                "a%d" % i, ct, body)))
    ct, body = multipart("alternative", "==alt-qp==", [
        part("text/plain; charset=utf-8", qp("Caf\u00e9 = coffee\n".encode()),
             cte="quoted-printable"),
        part("text/html; charset=utf-8",
             qp("<p>Caf\u00e9 =\n coffee</p>\n".encode()),
             cte="quoted-printable")],
        preamble="This is a multi-part message in MIME format.\n",
        epilogue="Epilogue text.\n")
    add("alt-qp-preamble-epilogue", crlf(msg_with("Alternative QP", "a10",
                                                  ct, body)))
    ct, body = multipart("alternative", "b3", [
        part("text/plain", "One.\n"),
        part("text/enriched", "<bold>Two</bold>\n"),
        part("text/html", "<b>Three</b>\n")])
    add("alt-three", crlf(msg_with("Three alternatives", "a11", ct, body)))
    ct, body = multipart("alternative", "b4", [
        part("text/plain; charset=utf-8", "Text.\n"),
        part("text/html; charset=utf-8", "<p>Text</p>\n",
             extra="Content-Language: en\n")],
        params="; charset=utf-8")
    add("alt-extra-params", crlf(msg_with("Params on multipart", "a12",
                                          ct, body)))
    ct, body = multipart("alternative", "b5", [
        part(None, "Default typed part.\n"),
        part("text/html", "<p>x</p>\n")])
    add("alt-part-no-ctype", crlf(msg_with("Part without type", "a13",
                                           ct, body)))
    inner_ct, inner = multipart("related", "rel-1", [
        part("text/html", '<p><img src="cid:img1@x"></p>\n'),
        part("image/png", b64(blob(300, 7)), cte="base64",
             extra="Content-ID: <img1@x>\n")],
        params='; type="text/html"')
    ct, body = multipart("alternative", "b6", [
        part("text/plain", "Text with an image.\n"),
        part(inner_ct, inner)])
    add("alt-related", crlf(msg_with("Alternative with related", "a14",
                                     ct, body)))
    ct, body = multipart("alternative", "b7", [
        part("text/plain", "")])
    add("alt-empty-part", crlf(msg_with("Empty part", "a15", ct, body)))
    ct, body = multipart("alternative", "b8", [
        part("text/plain", "Spaces after boundary.\n")])
    body = body.replace("--b8\n", "--b8  \t\n")
    add("alt-delimiter-trailing-space", crlf(msg_with("Delimiter space",
                                                      "a16", ct, body)))
    ct, body = multipart("alternative", "a" * 70, [
        part("text/plain", "Longest boundary.\n")])
    add("alt-long-boundary", crlf(msg_with("Long boundary", "a17", ct, body)))
    ct, body = multipart("alternative", "'()+_,-./:=? ", [
        part("text/plain", "Boundary with specials.\n")])
    add("alt-special-boundary", crlf(msg_with("Special boundary", "a18",
                                              ct, body)))


# ----------------------------------------------------------------- mixed
def mixed():
    pdf = blob(2000, 11)
    ct, body = multipart("mixed", "mix-1", [
        part("text/plain; charset=us-ascii", "See the attachment.\n"),
        part('application/pdf; name="report.pdf"', b64(pdf), cte="base64",
             extra='Content-Disposition: attachment; filename="report.pdf"\n')])
    add("mixed-pdf", crlf(msg_with("Report", "m1", ct, body)))
    ct, body = multipart("mixed", "mix-2", [
        part("text/plain", "Two attachments.\n"),
        part("image/jpeg", b64(blob(900, 3)), cte="base64",
             extra='Content-Disposition: inline; filename=photo.jpg\n'),
        part("text/csv; charset=utf-8", qp("a,b,c\n1,2,3\n\u00e9,\u00e8,=\n"
                                           .encode()),
             cte="quoted-printable",
             extra="Content-Disposition: attachment; filename=data.csv; "
                   "size=18\n")])
    add("mixed-image-csv", crlf(msg_with("Two files", "m2", ct, body)))
    ct, body = multipart("mixed", "mix-3", [
        part("text/plain", "Disposition with dates.\n"),
        part("application/octet-stream", b64(blob(100, 5)), cte="BASE64",
             extra='Content-Disposition: attachment;\n filename="a b.bin";\n'
                   ' creation-date="Wed, 12 Feb 1997 16:29:51 -0500";\n'
                   ' modification-date="Wed, 12 Feb 1997 16:29:51 -0500"\n')])
    add("mixed-disposition-dates", crlf(msg_with("Dates", "m3", ct, body)))
    ct, body = multipart("mixed", "mix-4", [
        part("text/plain", "QP attachment.\n"),
        part("text/plain; charset=iso-8859-1; name=notes.txt",
             qp("R\xe9sum\xe9 des notes\n".encode("latin-1")),
             cte="quoted-printable",
             extra="Content-Disposition: attachment; filename=notes.txt\n")])
    add("mixed-qp-attachment", crlf(msg_with("QP file", "m4", ct, body)))
    parts = [part("text/plain", "Many attachments.\n")]
    for i in range(12):
        parts.append(part("application/x-item-%d" % i, b64(blob(50 + i, i)),
                          cte="base64",
                          extra="Content-Disposition: attachment; "
                                "filename=item%02d.dat\n" % i))
    ct, body = multipart("mixed", "mix-5", parts)
    add("mixed-many", crlf(msg_with("Twelve files", "m5", ct, body)))
    ct, body = multipart("mixed", "mix-6", [
        part("text/plain", "Audio and video.\n"),
        part("audio/basic", b64(blob(400, 21)), cte="base64"),
        part("video/mpeg", b64(blob(400, 22)), cte="base64")])
    add("mixed-audio-video", crlf(msg_with("Media", "m6", ct, body)))
    ct, body = multipart("mixed", "mix-7", [
        part("application/pdf", b64(blob(300, 9)), cte="base64")])
    add("mixed-only-attachment", crlf(msg_with("No text", "m7", ct, body)))
    ct, body = multipart("mixed", "mix-8", [
        part("text/plain", "Disposition without parameters.\n",
             extra="Content-Disposition: inline\n"),
        part("text/x-diff", "--- a\n+++ b\n@@ -1 +1 @@\n-x\n+y\n",
             extra="Content-Disposition: ATTACHMENT\n")])
    add("mixed-bare-dispositions", crlf(msg_with("Patch", "m8", ct, body)))
    ct, body = multipart("mixed", "mix-9", [
        part("text/plain", "Boundary-like text inside:\n--mix-9x\n"
             "-- mix-9\nend\n")])
    # RFC 2046 5.1.1: a line that starts with "--" and the boundary is a
    # delimiter line, whatever follows; a sender must not write one.
    add("bad-boundary-prefix-lines", crlf(msg_with("Near boundaries", "m9",
                                                   ct, body)))
    ct, body = multipart("mixed", "mix-9b", [
        part("text/plain", "Lines that only look like boundaries:\n"
             "-- mix-9b\n --mix-9b\n--mix-9\n-mix-9b\nend\n")])
    add("mixed-boundary-lookalikes", crlf(msg_with("Lookalikes", "m9b",
                                                   ct, body)))
    ct, body = multipart("mixed", "mix-10", [
        part("text/plain", "Located.\n", extra="Content-Location: "
             "http://example.org/x\nContent-Language: de\n"),
        part("application/zip", b64(blob(200, 4)), cte="base64",
             extra="Content-ID: <zip@example.org>\nContent-Description: "
                   "an archive\nContent-MD5: MTIzNDU2Nzg5MDEyMzQ1Ng==\n")])
    add("mixed-extension-fields", crlf(msg_with("Extensions", "m10", ct,
                                                body)))
    ct, body = multipart("mixed", "mix-11", [
        part("text/plain", "Attachment with an odd type.\n"),
        part("application/vnd.openxmlformats-officedocument."
             "wordprocessingml.document; name=\"doc.docx\"",
             b64(blob(500, 12)), cte="base64",
             extra="Content-Disposition: attachment; filename=\"doc.docx\"\n")])
    add("mixed-long-subtype", crlf(msg_with("Word", "m11", ct, body)))
    ct, body = multipart("mixed", "mix-12", [
        part("text/plain", "Quoted parameter with escapes.\n"),
        part('application/octet-stream; name="we \\"quote\\" \\\\ it.bin"',
             b64(b"x" * 10), cte="base64",
             extra='Content-Disposition: attachment; '
                   'filename="we \\"quote\\" \\\\ it.bin"\n')])
    add("mixed-escaped-filename", crlf(msg_with("Escapes", "m12", ct, body)))
    ct, body = multipart("mixed", "mix-13", [
        part("text/plain; charset=utf-8",
             "Inline text with 8 bit: na\u00efve.\n", cte="8bit"),
        part("message/delivery-status", "Reporting-MTA: dns; example.org\n\n"
             "Final-Recipient: rfc822; x@example.org\nAction: failed\n"
             "Status: 5.0.0\n")])
    add("mixed-delivery-status", crlf(msg_with("DSN", "m13", ct, body)))
    ct, body = multipart("report", "rep-1", [
        part("text/plain", "Delivery failed.\n"),
        part("message/delivery-status", "Reporting-MTA: dns; example.org\n"),
        part("text/rfc822-headers", "From: a@b\nSubject: lost\n")],
        params="; report-type=delivery-status")
    add("mixed-report", crlf(msg_with("Undeliverable", "m14", ct, body)))
    ct, body = multipart("signed", "sig-1", [
        part("text/plain", "Signed text.\n"),
        part("application/pgp-signature; name=signature.asc",
             "-----BEGIN PGP SIGNATURE-----\n\nabc\n"
             "-----END PGP SIGNATURE-----\n")],
        params='; micalg=pgp-sha256; protocol="application/pgp-signature"')
    add("mixed-signed", crlf(msg_with("Signed", "m15", ct, body)))


# ---------------------------------------------------------------- nested
INNER = ("From: Inner Sender <inner@example.com>\n"
         "To: inner-to@example.com\n"
         "Subject: the inner message\n"
         "Date: Tue, 8 Feb 1994 10:00:00 +0000\n"
         "Message-ID: <inner@example.com>\n")


def nested():
    inner = INNER + "\nInner body.\nSecond line.\n"
    ct, body = multipart("mixed", "nest-1", [
        part("text/plain", "Forwarded message attached.\n"),
        part("message/rfc822", inner)])
    add("nested-rfc822", crlf(msg_with("Fwd", "n1", ct, body)))
    add("nested-rfc822-top", crlf(msg_with("Whole message is a message",
                                           "n2", "message/rfc822", inner)))
    ict, ibody = multipart("alternative", "inner-alt", [
        part("text/plain", "Inner plain.\n"),
        part("text/html", "<p>Inner html</p>\n")])
    inner2 = INNER + "MIME-Version: 1.0\nContent-Type: %s\n\n%s" % (ict,
                                                                       ibody)
    ct, body = multipart("mixed", "nest-2", [
        part("text/plain", "Inner is multipart.\n"),
        part("message/rfc822", inner2,
             extra="Content-Disposition: attachment; filename=fwd.eml\n")])
    add("nested-rfc822-multipart", crlf(msg_with("Fwd multipart", "n3", ct,
                                                 body)))
    # three levels of multipart
    c3, b3 = multipart("alternative", "lvl3", [
        part("text/plain", "Deep.\n"), part("text/html", "<p>Deep</p>\n")])
    c2, b2 = multipart("mixed", "lvl2", [part(c3, b3),
                                         part("image/gif", b64(blob(60, 2)),
                                              cte="base64")])
    ct, body = multipart("mixed", "lvl1", [part("text/plain", "Top.\n"),
                                           part(c2, b2)])
    add("nested-three-levels", crlf(msg_with("Three levels", "n4", ct, body)))
    # rfc822 inside rfc822
    innermost = INNER + "\nInnermost.\n"
    middle = ("From: middle@example.com\nSubject: middle\n"
              "MIME-Version: 1.0\nContent-Type: message/rfc822\n\n" + innermost)
    ct, body = multipart("mixed", "nest-3", [
        part("text/plain", "Double forward.\n"),
        part("message/rfc822", middle)])
    add("nested-rfc822-twice", crlf(msg_with("Fwd fwd", "n5", ct, body)))
    # inner message with base64 attachment
    ict, ibody = multipart("mixed", "inner-mix", [
        part("text/plain", "See file.\n"),
        part("application/octet-stream", b64(blob(120, 8)), cte="base64",
             extra="Content-Disposition: attachment; filename=f.bin\n")])
    inner3 = INNER + "MIME-Version: 1.0\nContent-Type: %s\n\n%s" % (ict,
                                                                       ibody)
    add("nested-rfc822-top-multipart", crlf(msg_with(
        "Message with attachment inside", "n6", "message/rfc822", inner3)))
    # inner message without its own header fields
    ct, body = multipart("mixed", "nest-4", [
        part("message/rfc822", "\nOnly a body.\n")])
    add("nested-rfc822-empty-header", crlf(msg_with("Empty inner header",
                                                    "n7", ct, body)))
    # encoded-word subject in the inner message
    inner4 = ("From: =?utf-8?q?J=C3=BCrgen?= <j@example.de>\n"
              "Subject: =?iso-8859-1?q?Gr=FC=DFe?=\n\nHallo.\n")
    ct, body = multipart("mixed", "nest-5", [
        part("text/plain", "x\n"), part("message/rfc822", inner4)])
    add("nested-rfc822-encoded", crlf(msg_with("Fwd encoded", "n8", ct, body)))
    # message/rfc822 with 7bit CTE and parameters
    ct, body = multipart("mixed", "nest-6", [
        part("message/rfc822; x-param=1", INNER + "\nBody.\n", cte="7bit",
             extra="Content-Description: forwarded\n")])
    add("nested-rfc822-params", crlf(msg_with("Fwd params", "n9", ct, body)))
    # a multipart holding another multipart as first part
    c2, b2 = multipart("alternative", "first", [
        part("text/plain", "A.\n"), part("text/html", "<p>A</p>\n")])
    ct, body = multipart("mixed", "outer", [part(c2, b2),
                                            part("text/plain", "B.\n")])
    add("nested-multipart-first", crlf(msg_with("Nested first", "n10", ct,
                                                body)))
    # message/partial and message/external-body (leaves per RFC 3501)
    add("nested-message-partial", crlf(msg_with(
        "Partial", "n11", 'message/partial; id="abc@x"; number=1; total=2',
        INNER + "\nPart one.\n")))
    ct, body = multipart("mixed", "nest-7", [
        part('message/external-body; access-type=URL; '
             'URL="http://example.org/file"',
             "Content-Type: text/plain\n\n")])
    add("nested-external-body", crlf(msg_with("External", "n12", ct, body)))


# ---------------------------------------------------------------- digest
def digest():
    msgs = []
    for i in range(3):
        msgs.append(part(None, "From: d%d@example.org\nSubject: digest "
                               "item %d\n\nItem %d.\n" % (i, i, i)))
    ct, body = multipart("digest", "dig-1", msgs)
    add("digest-simple", crlf(msg_with("Digest", "d1", ct, body)))
    msgs = [part(None, "From: x@example.org\nSubject: typed\n\nA.\n"),
            part("text/plain", "A text part in a digest.\n"),
            part("message/rfc822", "From: y@example.org\n\nB.\n")]
    ct, body = multipart("digest", "dig-2", msgs)
    add("digest-typed-parts", crlf(msg_with("Digest typed", "d2", ct, body)))
    inner_ct, inner = multipart("digest", "dig-3", [
        part(None, "From: z@example.org\nSubject: one\n\n1\n"),
        part(None, "From: z@example.org\nSubject: two\n\n2\n")])
    ct, body = multipart("mixed", "dig-outer", [
        part("text/plain", "Table of contents.\n"), part(inner_ct, inner)])
    add("digest-in-mixed", crlf(msg_with("Digest in mixed", "d3", ct, body)))
    m = (part(None, "From: w@example.org\nMIME-Version: 1.0\n"
                    "Content-Type: multipart/alternative; boundary=in\n\n"
                    "--in\n\nplain\n--in\nContent-Type: text/html\n\n"
                    "<p>html</p>\n--in--\n"))
    ct, body = multipart("digest", "dig-4", [m])
    add("digest-multipart-item", crlf(msg_with("Digest alt", "d4", ct, body)))
    ct, body = multipart("digest", "dig-5", [part(None, "")])
    add("digest-empty-item", crlf(msg_with("Digest empty", "d5", ct, body)))


# --------------------------------------------------------- encoded words
def encoded():
    ew = [
        ("utf8-b", "=?UTF-8?B?SGVsbG8gV8O2cmxk?="),
        ("utf8-q", "=?utf-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?="),
        ("latin1-q", "=?ISO-8859-1?Q?Caf=E9_cr=E8me?="),
        ("latin9-q", "=?iso-8859-15?q?Prix_=A4_10?="),
        ("koi8r-b", "=?koi8-r?B?8NLJ18XU?="),
        ("win1252-q", "=?windows-1252?Q?=93quoted=94_=96_dash?="),
        ("iso2022jp-b", "=?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?="),
        ("gb2312-b", "=?gb2312?B?xOO6ww==?="),
        ("big5-b", "=?big5?B?pl2m6A==?="),
        ("shiftjis-b", "=?shift_jis?B?g2WDWINn?="),
        ("adjacent", "=?utf-8?q?one?= =?utf-8?q?_two?=\n =?utf-8?b?IHRocmVl?="),
        ("mixed-plain", "Re: =?utf-8?q?caf=C3=A9?= and more"),
        ("language", "=?utf-8*en?q?English?="),
        ("invalid", "=?utf-8?x?bad?= =?nocharset?= =?utf-8?q?ok?"),
        ("unknown-charset", "=?x-unknown?q?abc?="),
    ]
    for i, (name, subj) in enumerate(ew):
        frm = "=?utf-8?q?Ren=C3=A9_Dupont?= <rene@example.fr>"
        if name == "koi8r-b":
            frm = "=?koi8-r?b?6dfBzg==?= <ivan@example.ru>"
        add("encoded-%s" % name, crlf(
            "From: %s\nTo: \"=?utf-8?q?quoted?=\" <q@example.org>\n"
            "Subject: %s\nDate: Wed, 1 Jan 2020 00:00:00 +0000\n"
            "Message-ID: <ew%d@example.org>\n\nBody.\n" % (frm, subj, i)))


# ---------------------------------------------------------------- RFC 2231
def rfc2231():
    cases = [
        ("simple", "attachment; filename*=utf-8''na%C3%AFve%20file.txt"),
        ("continuations", "attachment;\n filename*0=\"a very long file \";\n"
                          " filename*1=\"name that continues.txt\""),
        ("encoded-continuations",
         "attachment;\n filename*0*=iso-8859-1'fr'R%E9sum%E9;\n"
         " filename*1*=%20final.txt"),
        ("language", "attachment; filename*=us-ascii'en-us'This%20is%20it.txt"),
        ("mixed-forms", "attachment; filename=\"fallback.txt\";\n"
                        " filename*=utf-8''%E2%82%AC.txt"),
        ("unordered", "attachment; filename*1=\"two\"; filename*0=\"one\""),
    ]
    for i, (name, disp) in enumerate(cases):
        ct, body = multipart("mixed", "r2231-%d" % i, [
            part("text/plain", "RFC 2231 case %s.\n" % name),
            part("application/octet-stream", b64(blob(40, i)), cte="base64",
                 extra="Content-Disposition: %s\n" % disp)])
        add("rfc2231-%s" % name, crlf(msg_with("RFC 2231 %s" % name,
                                               "r%d" % i, ct, body)))
    ct, body = multipart("mixed", "r2231-ct", [
        part("text/plain", "x\n"),
        part("application/octet-stream;\n name*0*=utf-8''%C3%A9t%C3%A9;\n"
             " name*1=\".pdf\"", b64(b"pdf"), cte="base64")])
    add("rfc2231-ctype-name", crlf(msg_with("RFC 2231 name", "r9", ct, body)))
    add("rfc2231-charset-param", crlf(msg_with(
        "RFC 2231 charset", "r10", "text/plain; charset*=us-ascii''utf-8",
        "Body.\n")))


# ------------------------------------------------------------- addresses
def addresses():
    cases = [
        ("group", "To: A Group: a@example.org, Bob <b@example.org>;"),
        ("empty-group", "To: undisclosed-recipients:;"),
        ("group-and-address", "To: Friends: f1@example.org;, "
                              "solo@example.org"),
        ("two-groups", "To: G1: x@a.example;, G2: y@b.example, "
                       "z@b.example;"),
        ("quoted-name", "To: \"Doe, John\" <john@example.org>"),
        ("quoted-escapes", "To: \"A \\\"nick\\\" B\" <ab@example.org>"),
        ("comment-name", "To: john@example.org (John Doe)"),
        ("route", "To: <@route1.example,@route2.example:user@example.org>"),
        ("no-domain", "To: localonly"),
        ("quoted-local", "To: \"odd local\"@example.org"),
        ("many", "To: " + ", ".join("u%d@example.org" % i
                                    for i in range(30))),
        ("ip-literal", "To: user@[192.0.2.1]"),
        ("name-encoded", "To: =?utf-8?q?Jos=C3=A9?= <jose@example.es>"),
        ("empty-to", "To:"),
        ("angle-only", "To: <angle@example.org>"),
        ("dotted-name", "To: J. R. R. Tolkien <jrrt@example.org>"),
        ("trailing-comma", "To: a@example.org, , b@example.org,"),
        ("utf8-raw", "To: J\u00fcrgen <juergen@example.de>"),
    ]
    for i, (name, to) in enumerate(cases):
        add("addr-%s" % name, crlf(
            "From: sender@example.org\n%s\nSubject: address %s\n"
            "Message-ID: <addr%d@example.org>\n\nBody.\n" % (to, name, i)))
    add("addr-from-group", crlf("From: Group: a@example.org;\n"
                                "Subject: group in From\n\nx\n"))
    add("addr-sender-empty", crlf("From: a@example.org\nSender:\n"
                                  "Reply-To:\nSubject: empty sender\n\nx\n"))
    add("addr-no-from", crlf("To: b@example.org\nSubject: no From\n\nx\n"))
    add("addr-multiple-from", crlf("From: a@example.org, b@example.org\n"
                                   "Sender: a@example.org\n"
                                   "Subject: two authors\n\nx\n"))


# ---------------------------------------------------------------- malformed
def malformed():
    add("bad-missing-boundary", crlf(msg_with(
        "No boundary", "x1", "multipart/mixed",
        "--foo\nContent-Type: text/plain\n\nx\n--foo--\n")))
    add("bad-boundary-never-used", crlf(msg_with(
        "Boundary unused", "x2", "multipart/mixed; boundary=zzz",
        "No delimiter line in this body.\n")))
    add("bad-unterminated", crlf(msg_with(
        "Unterminated", "x3", "multipart/mixed; boundary=u",
        "--u\nContent-Type: text/plain\n\none\n--u\n"
        "Content-Type: text/html\n\n<p>two, never closed\n")))
    add("bad-bare-lf", ("From: a@b\nSubject: bare LF\nContent-Type: "
                        "multipart/mixed; boundary=lf\n\n--lf\n\nx\n--lf\n"
                        "Content-Type: text/html\n\n<p>y</p>\n--lf--\n")
        .encode())
    add("bad-mixed-line-ends", b"From: a@b\r\nSubject: mixed\nTo: c@d\r\n\n"
        b"line1\r\nline2\nline3\r")
    add("bad-header-no-colon", crlf("From: a@b\nThis line has no colon\n"
                                    "Subject: after junk\n\nBody.\n"))
    add("bad-nul-in-header", b"From: a@b\r\nSubject: nul\x00here\r\n"
        b"X-Nul: \x00\r\n\r\nBody.\r\n")
    add("bad-8bit-header", b"From: J\xfcrgen <j@example.de>\r\n"
        b"Subject: Gr\xfc\xdfe \xff\xfe\r\n\r\nBody \xe9.\r\n")
    deep = "Deepest.\n"
    ct = "text/plain"
    for i in range(30):
        deep = "--d%d\nContent-Type: %s\n\n%s--d%d--\n" % (i, ct, deep, i)
        ct = "multipart/mixed; boundary=d%d" % i
    add("bad-deep-nesting", crlf(msg_with("Deep", "x4", ct, deep)))
    deep = "From: bottom@example.org\n\nBottom.\n"
    for i in range(25):
        deep = ("From: level%d@example.org\nContent-Type: message/rfc822\n\n"
                % i) + deep
    add("bad-deep-rfc822", crlf(deep))
    params = "; ".join("p%d=v%d" % (i, i) for i in range(100))
    add("bad-many-params", crlf(msg_with("Many params", "x5",
                                         "text/plain; " + params, "x\n")))
    add("bad-long-param", crlf(msg_with(
        "Long param", "x6", "text/plain; charset=us-ascii; x=\"%s\""
        % ("v" * 5000), "x\n")))
    add("bad-param-syntax", crlf(msg_with(
        "Param syntax", "x7", "text/plain; ; =novalue; noequals; a=\"open; "
        "b==c", "x\n")))
    add("bad-no-subtype", crlf(msg_with("No subtype", "x8", "text", "x\n")))
    add("bad-empty-ctype", crlf(msg_with("Empty type", "x9", "", "x\n")))
    add("bad-garbage-ctype", crlf(msg_with("Garbage type", "x10",
                                           "@@@/!!!; charset", "x\n")))
    add("bad-multipart-no-parts", crlf(msg_with(
        "No parts", "x11", "multipart/mixed; boundary=e", "--e--\n")))
    add("bad-base64-garbage", crlf(msg_with(
        "Bad base64", "x12", "text/plain", "!!!not base64***\n====\n",
        "Content-Transfer-Encoding: base64\n")))
    add("bad-unknown-cte", crlf(msg_with(
        "Odd CTE", "x13", "text/plain", "x\n",
        "Content-Transfer-Encoding: x-uuencode\n")))
    add("bad-duplicate-headers", crlf(
        "From: first@example.org\nFrom: second@example.org\n"
        "Subject: one\nSubject: two\nContent-Type: text/html\n"
        "Content-Type: text/plain\n\nx\n"))
    add("bad-unbalanced-address", crlf(
        "From: \"unterminated <a@b>\nTo: <open@example.org\n"
        "Cc: (comment never closed a@b\nSubject: unbalanced\n\nx\n"))
    add("bad-header-continuation-first", crlf(
        " continuation first\nFrom: a@b\nSubject: cont\n\nx\n"))
    add("bad-empty-message", b"")
    add("bad-only-crlf", b"\r\n")
    add("bad-long-header-line", crlf("From: a@b\nSubject: " + "s" * 20000 +
                                     "\n\nx\n"))
    add("bad-ctrl-chars", b"From: a@b\r\nSubject: ctrl \x01\x07\x1b[0m\r\n"
        b"\r\nBody\x0c\r\n")
    add("bad-nested-boundary-reuse", crlf(msg_with(
        "Reused boundary", "x14", "multipart/mixed; boundary=same",
        "--same\nContent-Type: multipart/alternative; boundary=same\n\n"
        "--same\n\ninner\n--same--\n--same--\n")))
    add("bad-encoded-word-broken", crlf(
        "From: =?utf-8?q?broken <a@b>\nSubject: =?utf-8?b?!!!?= "
        "=?utf-8?q?=ZZ?= =?utf-8?b?w6k?=\n\nx\n"))
    add("bad-date", crlf("From: a@b\nDate: not a date at all\n"
                         "Subject: date\n\nx\n"))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    plain()
    alternative()
    mixed()
    nested()
    digest()
    encoded()
    rfc2231()
    addresses()
    malformed()
    os.makedirs(out, exist_ok=True)
    for old in os.listdir(out):
        if old.endswith(".eml"):
            os.unlink(os.path.join(out, old))
    names = set()
    for i, (name, data) in enumerate(MESSAGES, 1):
        assert name not in names, name
        names.add(name)
        with open(os.path.join(out, "%03d-%s.eml" % (i, name)), "wb") as f:
            f.write(data)
    print("%d messages in %s" % (len(MESSAGES), out))


if __name__ == "__main__":
    main()
