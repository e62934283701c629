#!/usr/bin/env python3
"""refimapd's FETCH ENVELOPE and BODYSTRUCTURE (RFC 3501 7.4.2) against
Dovecot's, on every well-formed message of tests/mime/corpus (names without
"bad-").

A private Dovecot (Debian's dovecot-imapd) runs in the foreground on a free
loopback port with its own config, passwd-file users and maildir in this
test's temp dir, and is stopped by pid. The test exits 77 (skip), saying
why, when dovecot is not installed or does not start.

Both responses are parsed into trees, so the quoting form (atom, quoted
string, literal) does not matter, and case is folded where RFC 3501 and the
MIME RFCs leave it free: media type and subtype, parameter names, the
transfer encoding, the disposition type (RFC 2045 5.1, 6.1; RFC 2183 2).
Differences on purpose are listed in ALLOWED with the clause that makes
refimapd right.
"""

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "protocol"))
sys.path.insert(0, os.path.join(HERE, "..", "mime"))
import lib  # noqa: E402
import mimetest  # noqa: E402

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"

# (corpus name without its number, item) -> why refimapd's answer is the
# right one.
ALLOWED = {
    ("plain-folded-headers", "ENVELOPE"):
        "RFC 5322 2.2.3: unfolding removes only the CRLF, so the subject keeps"
        " both spaces (Dovecot collapses them); RFC 5322 3.6.4: the CFWS"
        " before a msg-id is no part of it (Dovecot keeps a space)",
    ("nested-rfc822-multipart", "BODYSTRUCTURE"):
        "RFC 2046 5.1.1: the CRLF before a delimiter line is attached to the"
        " delimiter, not to the preceding part; Dovecot counts it in the size"
        " of a message/rfc822 part whose message is a multipart",
    ("digest-multipart-item", "BODYSTRUCTURE"):
        "RFC 2046 5.1.1, as for nested-rfc822-multipart",
    ("rfc2231-continuations", "BODYSTRUCTURE"):
        "RFC 3501 7.4.2: body parameters as in the MIME header (RFC 2045"
        " 5.1 attribute tokens); refimapd passes RFC 2231 sections through"
        " as written (store/mime.h), Dovecot joins them",
    ("rfc2231-encoded-continuations", "BODYSTRUCTURE"):
        "RFC 3501 7.4.2 / RFC 2045 5.1, as for rfc2231-continuations",
    ("rfc2231-unordered", "BODYSTRUCTURE"):
        "RFC 3501 7.4.2 / RFC 2045 5.1, as for rfc2231-continuations",
    ("rfc2231-ctype-name", "BODYSTRUCTURE"):
        "RFC 3501 7.4.2 / RFC 2045 5.1, as for rfc2231-continuations",
    ("rfc2231-charset-param", "BODYSTRUCTURE"):
        "RFC 2231 4 and RFC 2045 5.2: charset*=us-ascii''utf-8 gives the"
        " charset (utf-8), so the us-ascii default does not apply; Dovecot"
        " adds a contradicting \"charset\" \"us-ascii\"",
    ("addr-comment-name", "ENVELOPE"):
        "RFC 5322 3.4: the meaning of a comment after an addr-spec is"
        " unspecified, it is no display name (Dovecot uses it as the name)",
    ("addr-no-domain", "ENVELOPE"):
        "RFC 3501 7.4.2: a NIL host marks group syntax, so a missing host is"
        " the empty string; Dovecot invents \"MISSING_DOMAIN\"",
    ("addr-trailing-comma", "ENVELOPE"):
        "RFC 5322 4.4: obs-addr-list null elements are no addresses; Dovecot"
        " makes one (\"MISSING_MAILBOX\" \"MISSING_DOMAIN\")",
}

# Text lines (RFC 3501 7.4.2 body-fld-lines) are not defined for a last
# line without its CRLF, which every part of a multipart has (RFC 2046
# 5.1.1: that CRLF belongs to the delimiter). refimapd counts it as a line
# (store/mime.h), Dovecot counts only line ends: a count one higher than
# Dovecot's is accepted as that choice, nothing else.
LINES_ONE_MORE = True


# ------------------------------------------------------------ parsing
def parse(data):
    """IMAP value bytes -> tree: list, bytes (strings, atoms) or None (NIL)."""
    pos = 0

    def value():
        nonlocal pos
        c = data[pos:pos + 1]
        if c == b"(":
            pos += 1
            out = []
            while True:
                while data[pos:pos + 1] == b" ":
                    pos += 1
                if data[pos:pos + 1] == b")":
                    pos += 1
                    return out
                out.append(value())
        if c == b'"':
            pos += 1
            s = bytearray()
            while data[pos:pos + 1] != b'"':
                if data[pos:pos + 1] == b"\\":
                    pos += 1
                s += data[pos:pos + 1]
                pos += 1
            pos += 1
            return bytes(s)
        if c == b"{":
            end = data.index(b"}", pos)
            n = int(data[pos + 1:end].rstrip(b"+"))
            pos = end + 3
            s = data[pos:pos + n]
            pos += n
            return s
        start = pos
        while pos < len(data) and data[pos:pos + 1] not in (b" ", b"(", b")"):
            pos += 1
        atom = data[start:pos]
        return None if atom.upper() == b"NIL" else atom

    v = value()
    if pos != len(data):
        raise ValueError("trailing data after %r" % data[:pos])
    return v


def low(v):
    return v.lower() if isinstance(v, bytes) else v


def norm_params(p):
    """Names are case-free (RFC 2045 5.1), and so are charset values
    (RFC 2046 4.1.2)."""
    if not isinstance(p, list):
        return p
    out = []
    for i, x in enumerate(p):
        if i % 2 == 0 or (i > 0 and low(p[i - 1]) == b"charset"):
            out.append(low(x))
        else:
            out.append(x)
    return out


def norm_disposition(d):
    if not isinstance(d, list) or len(d) != 2:
        return d
    return [low(d[0]), norm_params(d[1])]


def norm_body(b):
    """Case-folds the fields of a body structure that are case-free."""
    if not isinstance(b, list) or not b:
        return b
    if isinstance(b[0], list):                 # multipart
        i = 0
        out = []
        while i < len(b) and isinstance(b[i], list):
            out.append(norm_body(b[i]))
            i += 1
        rest = b[i:]
        if rest:
            out.append(low(rest[0]))           # subtype
        if len(rest) > 1:
            out.append(norm_params(rest[1]))
        if len(rest) > 2:
            out.append(norm_disposition(rest[2]))
        out.extend(rest[3:])
        return out
    out = [low(b[0]), low(b[1]), norm_params(b[2]), b[3], b[4], low(b[5]),
           b[6]]
    i = 7
    if (low(b[0]), low(b[1])) == (b"message", b"rfc822") and len(b) >= 10:
        out += [norm_envelope(b[7]), norm_body(b[8]), b[9]]
        i = 10
    elif low(b[0]) == b"text" and len(b) > 7:
        out.append(b[7])
        i = 8
    ext = b[i:]
    if ext:
        out.append(ext[0])                     # md5
    if len(ext) > 1:
        out.append(norm_disposition(ext[1]))
    out.extend(ext[2:])
    return out


def norm_envelope(e):
    return e


def same_body(ours, theirs):
    """Body structures equal, with the lines rule at the lines fields."""
    if not (isinstance(ours, list) and isinstance(theirs, list)) or \
            len(ours) != len(theirs) or not ours:
        return ours == theirs
    if isinstance(ours[0], list):
        for a, b in zip(ours, theirs):
            if isinstance(a, list) and a and isinstance(a[0], (list, bytes)) \
                    and isinstance(b, list) and len(a) > 6:
                if not same_body(a, b):
                    return False
            elif a != b:
                return False
        return True
    lines_at = None
    if ours[0] == b"text" and len(ours) > 7:
        lines_at = 7
    elif ours[:2] == [b"message", b"rfc822"] and len(ours) > 9:
        lines_at = 9
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if i == lines_at and LINES_ONE_MORE:
            if a != b and not (a.isdigit() and b.isdigit()
                               and int(a) == int(b) + 1):
                return False
        elif lines_at == 9 and i == 8:
            if not same_body(a, b):
                return False
        elif a != b:
            return False
    return True


def show(tree):
    if tree is None:
        return "NIL"
    if isinstance(tree, bytes):
        return '"%s"' % mimetest.escape(tree)
    return "(" + " ".join(show(x) for x in tree) + ")"


# ------------------------------------------------------------ dovecot
class Dovecot:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="refimapd-dovecot-")
        self.proc = None
        self.port = lib.free_port()
        self.log = os.path.join(self.tmp, "dovecot.log")

    def start(self):
        if not os.path.exists(DOVECOT):
            raise lib.TestSkip("dovecot is not installed (Debian: apt-get"
                               " install dovecot-imapd)")
        d = self.tmp
        for sub in ("run", "state", "mail"):
            os.mkdir(os.path.join(d, sub))
        if os.geteuid() == 0:
            uid = gid = 65534
            os.chown(os.path.join(d, "mail"), uid, gid)
            os.chmod(d, 0o755)
            users_mode = 0o644
            extra = ""
        else:
            uid, gid = os.getuid(), os.getgid()
            me = pwd.getpwuid(uid).pw_name
            users_mode = 0o600
            extra = ("default_internal_user = %s\ndefault_login_user = %s\n"
                     "default_internal_group = %s\n" % (me, me, me))
        users = os.path.join(d, "users")
        with open(users, "w") as f:
            f.write("test:{PLAIN}test::::::\n")
        os.chmod(users, users_mode)
        conf = os.path.join(d, "dovecot.conf")
        with open(conf, "w") as f:
            f.write("""# written by tests/clients/test_dovecot_mime.py
protocols = imap
listen = 127.0.0.1
instance_name = refimapd-test-%(port)d
base_dir = %(d)s/run
state_dir = %(d)s/state
log_path = %(d)s/dovecot.log
info_log_path = %(d)s/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
%(extra)s
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %(users)s
}
userdb {
  driver = passwd-file
  args = username_format=%%u %(users)s
  default_fields = uid=%(uid)d gid=%(gid)d home=%(d)s/mail/%%u
}
first_valid_uid = 1
mail_location = maildir:~/Maildir
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %(port)d
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
service imap-login {
  chroot =
}
""" % {"d": d, "port": self.port, "users": users, "uid": uid, "gid": gid,
       "extra": extra})
        logf = open(os.path.join(d, "dovecot.out"), "ab")
        try:
            self.proc = subprocess.Popen([DOVECOT, "-F", "-c", conf],
                                         stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=logf)
        finally:
            logf.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise lib.TestSkip("dovecot exited %d at start:\n%s" % (
                    self.proc.returncode, self.logs()))
            if mimetest.wait_port("127.0.0.1", self.port, 0.2):
                return self
        raise lib.TestSkip("dovecot did not listen within 10 s:\n%s"
                           % self.logs())

    def logs(self):
        return lib.tail(lib.read_text(os.path.join(self.tmp, "dovecot.out"))
                        + lib.read_text(self.log))

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.tmp, ignore_errors=True)


def fetch_all(host, port, msgs):
    """{stem: {item: tree}} after APPENDing msgs to INBOX of a fresh user."""
    c = mimetest.Client(host, port)
    c.ok(b"LOGIN test test")
    for stem, data in msgs:
        c.ok(b"APPEND INBOX", literal=data)
    c.ok(b"SELECT INBOX")
    out = {}
    for i, (stem, _) in enumerate(msgs, 1):
        items = mimetest.fetch_items(c, i, [b"ENVELOPE", b"BODYSTRUCTURE"])
        out[stem] = {k: parse(v) for k, v in items.items()}
    c.ok(b"LOGOUT")
    c.close()
    return out


def run():
    msgs = mimetest.corpus(well_formed_only=True)
    dc = Dovecot()
    try:
        dc.start()
        theirs = fetch_all("127.0.0.1", dc.port, msgs)
    finally:
        dc.stop()
    with lib.Server(config=[("literal_max", "4194304")]) as srv:
        ours = fetch_all(srv.host, srv.port, msgs)
    diffs = []
    used = set()
    for stem, _ in msgs:
        for item, fn in ((b"ENVELOPE", norm_envelope),
                         (b"BODYSTRUCTURE", norm_body)):
            a = fn(ours[stem][item])
            b = fn(theirs[stem][item])
            if (same_body(a, b) if item == b"BODYSTRUCTURE" else a == b):
                continue
            key = (stem.split("-", 1)[1], item.decode())
            if key in ALLOWED:
                used.add(key)
                continue
            diffs.append("%s %s:\n  refimapd %s\n  dovecot  %s"
                         % (stem, item.decode(), show(a), show(b)))
    stale = sorted(set(ALLOWED) - used)
    lib.check(not stale, "allow-list entries that no longer differ: %s",
              stale)
    lib.check(not diffs, "%d differences from Dovecot (of %d messages):\n%s",
              len(diffs), len(msgs), "\n".join(diffs))
    print("%d messages agree with Dovecot (%d allowed differences)"
          % (len(msgs), len(used)))


if __name__ == "__main__":
    lib.main(run)
