#!/usr/bin/env python3
"""Protocol traces (trace_dir, refimapd -T; format in server/trace.h).

Against the daemon with trace_dir set (a directory that does not exist yet)
and trace_literal_max = 512:
  - one session per way of sending a password: LOGIN with a quoted
    password, an atom, a synchronizing literal, a non-synchronizing
    literal; AUTHENTICATE PLAIN with SASL-IR and with a continuation line.
    Each gets its own file (name with date, time and pid; mode 0600; the
    directory 0700) holding the exchange, and neither the password nor any
    base64 form of it appears in any file;
  - a 5000-byte APPEND literal appears as its first 512 bytes and a count
    of the 4488 left out;
  - `refimapctl trace show` prints a trace readably, --server keeps only
    the server's lines.
Then in inetd mode (-i -T DIR) the session is traced the same way; a
trace file that cannot grow (RLIMIT_FSIZE) stops the trace, with one log
line, while the session goes on; and under TLS (-i --tls) the trace holds
the decrypted exchange.
"""

import base64
import os
import re
import resource
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import time

import lib

USER = "tracer"
PASSWORD = "Tr4ce-Secr3t-pw"
NAME_RE = re.compile(r"^\d{8}-\d{6}-\d+(-\d+)?\.trace$")


def secret_forms():
    """The password and what base64 makes of it in a SASL PLAIN message,
    at every alignment."""
    forms = {PASSWORD}
    for msg in (b"\0" + USER.encode() + b"\0" + PASSWORD.encode(),
                USER.encode() + b"\0" + USER.encode() + b"\0"
                + PASSWORD.encode()):
        forms.add(base64.b64encode(msg).decode())
    pw = PASSWORD.encode()
    for pad in range(3):
        enc = base64.b64encode(b"x" * pad + pw).decode()
        # Leave out the characters that mix in the padding bytes and the
        # last group, which depends on what follows.
        start = (pad * 4 + 2) // 3 + 1
        forms.add(enc[start:len(enc) - 4])
    return sorted(f for f in forms if len(f) >= 8)


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.f = self.sock.makefile("rb")

    def line(self):
        data = self.f.readline()
        lib.check(data.endswith(b"\r\n"), "incomplete line %r", data)
        return data[:-2].decode("utf-8", "replace")

    def send(self, data):
        self.sock.sendall(data)

    def expect(self, prefix):
        got = self.line()
        lib.check(got.startswith(prefix), "expected %r..., got %r", prefix,
                  got)
        return got

    def close(self):
        self.f.close()
        self.sock.close()


def wait_files(tdir, n):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        files = sorted(os.listdir(tdir)) if os.path.isdir(tdir) else []
        done = [f for f in files
                if "-- end" in lib.read_text(os.path.join(tdir, f))]
        if len(done) >= n:
            return files
        time.sleep(0.05)
    raise lib.TestFailure("expected %d finished traces in %s, have %r"
                          % (n, tdir, os.listdir(tdir)))


def sessions(port):
    pw = PASSWORD.encode()
    plain = base64.b64encode(b"\0" + USER.encode() + b"\0" + pw)
    # 1. LOGIN, quoted password; a long APPEND literal; LITERAL+.
    c = Client(port)
    c.expect("* OK")
    c.send(b'q1 LOGIN ' + USER.encode() + b' "' + pw + b'"\r\n')
    c.expect("q1 OK")
    body = b"Subject: trace\r\n\r\n" + (b"0123456789" * 500)[:4982]
    lib.check_eq(len(body), 5000, "message size")
    c.send(b"q2 APPEND INBOX {5000}\r\n")
    c.expect("+ ")
    c.send(body + b"\r\n")
    c.expect("q2 OK")
    c.send(b"q3 APPEND INBOX {10+}\r\nhello\r\nyou\r\n")
    c.expect("q3 OK")
    c.send(b"q4 LOGOUT\r\n")
    c.expect("* BYE")
    c.expect("q4 OK")
    c.close()
    # 2. LOGIN, password as an atom.
    c = Client(port)
    c.expect("* OK")
    c.send(b"t1 LOGIN " + USER.encode() + b" " + pw + b"\r\n")
    c.expect("t1 OK")
    c.send(b"t2 LOGOUT\r\n")
    c.expect("* BYE")
    c.close()
    # 3. LOGIN, the user name and the password as synchronizing literals.
    c = Client(port)
    c.expect("* OK")
    c.send(b"l1 LOGIN {%d}\r\n" % len(USER))
    c.expect("+ ")
    c.send(USER.encode() + b" {%d}\r\n" % len(pw))
    c.expect("+ ")
    c.send(pw + b"\r\n")
    c.expect("l1 OK")
    c.send(b"l2 LOGOUT\r\n")
    c.expect("* BYE")
    c.close()
    # 4. LOGIN, password as a non-synchronizing literal (RFC 7888).
    c = Client(port)
    c.expect("* OK")
    c.send(b"n1 LOGIN " + USER.encode() + b" {%d+}\r\n" % len(pw) + pw
           + b"\r\n")
    c.expect("n1 OK")
    c.send(b"n2 LOGOUT\r\n")
    c.expect("* BYE")
    c.close()
    # 5. AUTHENTICATE PLAIN with an initial response (RFC 4959).
    c = Client(port)
    c.expect("* OK")
    c.send(b"i1 AUTHENTICATE PLAIN " + plain + b"\r\n")
    c.expect("i1 OK")
    c.send(b"i2 LOGOUT\r\n")
    c.expect("* BYE")
    c.close()
    # 6. AUTHENTICATE PLAIN with a continuation; a wrong password first.
    c = Client(port)
    c.expect("* OK")
    c.send(b"p1 AUTHENTICATE PLAIN\r\n")
    c.expect("+")
    c.send(base64.b64encode(b"\0" + USER.encode() + b"\0wrong-" + pw)
           + b"\r\n")
    c.expect("p1 NO")
    c.send(b"p2 AUTHENTICATE PLAIN\r\n")
    c.expect("+")
    c.send(plain + b"\r\n")
    c.expect("p2 OK")
    c.send(b"p3 NOOP\r\n")
    c.expect("p3 OK")
    c.send(b"p4 LOGOUT\r\n")
    c.expect("* BYE")
    c.close()
    return 6


def check_no_secret(tdir, files):
    forms = secret_forms()
    for f in files:
        text = lib.read_text(os.path.join(tdir, f))
        for form in forms:
            lib.check(form not in text, "%s holds %r:\n%s", f, form, text)


def by_first_tag(tdir, files):
    """{first client tag: trace text}."""
    out = {}
    for f in files:
        text = lib.read_text(os.path.join(tdir, f))
        m = re.search(r"^\S+ C: (\w+) ", text, re.M)
        lib.check(m is not None, "no client line in %s:\n%s", f, text)
        out[m.group(1)] = text
    return out


def has(text, pattern, what):
    lib.check(re.search(pattern, text, re.M) is not None,
              "%s: no line matching %r in:\n%s", what, pattern, text)


def check_daemon():
    top = tempfile.mkdtemp(prefix="refimapd-trace-")
    try:
        check_daemon_in(os.path.join(top, "traces"))
    finally:
        shutil.rmtree(top, ignore_errors=True)


def check_daemon_in(tdir):
    with lib.Server(users=[(USER, PASSWORD)],
                    config=[("trace_dir", tdir),
                            ("trace_literal_max", "512")]) as srv:
        n = sessions(srv.port)
        files = wait_files(tdir, n)
        lib.check_eq(len(files), n, "trace files (one per session)")
        lib.check_eq(stat.S_IMODE(os.stat(tdir).st_mode), 0o700,
                     "mode of the trace directory")
        for f in files:
            lib.check(NAME_RE.match(f), "file name %r", f)
            lib.check_eq(stat.S_IMODE(os.stat(os.path.join(tdir, f)).st_mode),
                         0o600, "mode of %s" % f)
        check_no_secret(tdir, files)
        t = by_first_tag(tdir, files)
        ts = r"^\d\d:\d\d:\d\d\.\d{3} "
        q = t["q1"]
        has(q, r"^# refimapd trace 1$", "header")
        has(q, ts + r"S: \* OK \[CAPABILITY IMAP4rev1 .*\] refimapd ready$",
            "greeting")
        has(q, ts + r'C: q1 LOGIN tracer \\\*$', "quoted password")
        has(q, ts + r"S: q1 OK \[CAPABILITY IMAP4rev1 .*\] Logged in$",
            "login answer")
        has(q, ts + r"C: q2 APPEND INBOX \{5000\}$", "APPEND line")
        has(q, ts + r"S: \+ Ready for literal data$", "continuation")
        has(q, ts + r"C= Subject: trace\\r\\n\\r\\n0123456789", "literal")
        has(q, ts + r"C~ 4488$", "bytes left out")
        shown = "".join(re.findall(r"^\S+ C= (.*)$", q, re.M))
        lib.check_eq(len(shown.replace("\\r", "\r").replace("\\n", "\n")),
                     512 + 10, "literal bytes shown (512 of q2, 10 of q3)")
        has(q, ts + r"C: q3 APPEND INBOX \{10\+\}$", "LITERAL+ line")
        has(q, ts + r"C= hello\\r\\nyou$", "short literal, whole")
        has(q, ts + r"S: q2 OK \[APPENDUID \d+ 1\] APPEND completed$",
            "APPEND answer")
        has(q, ts + r"-- end$", "end note")
        has(t["t1"], ts + r"C: t1 LOGIN tracer \\\*$", "atom password")
        has(t["l1"], ts + r"C: l1 LOGIN \{6\}$", "literal user name")
        has(t["l1"], ts + r"C= tracer$", "user name shown")
        has(t["l1"], ts + r"C:  \{%d\}$" % len(PASSWORD),
            "literal password announced")
        has(t["l1"], ts + r"C= \\\*$", "literal password masked")
        has(t["n1"], ts + r"C: n1 LOGIN tracer \{%d\+\}$" % len(PASSWORD),
            "LITERAL+ password announced")
        has(t["n1"], ts + r"C= \\\*$", "LITERAL+ password masked")
        has(t["i1"], ts + r"C: i1 AUTHENTICATE PLAIN \\\*$", "SASL-IR masked")
        p = t["p1"]
        has(p, ts + r"C: p1 AUTHENTICATE PLAIN$", "AUTHENTICATE")
        has(p, ts + r"S: \+ $", "SASL continuation")
        lib.check_eq(len(re.findall(r"^\S+ C: \\\*$", p, re.M)), 2,
                     "masked SASL response lines")
        has(p, ts + r"C: p3 NOOP$", "lines after the exchange unmasked")

        # refimapctl trace show: readable, masks as ***, filters.
        qf = [f for f in files if "C: q1 " in lib.read_text(
            os.path.join(tdir, f))][0]
        r = srv.ctl("trace", "show", os.path.join(tdir, qf))
        out = r.stdout.decode()
        print(out)
        for want in (r"^ +\+0\.000 S   \* OK \[CAPABILITY",
                     r"^ +\+\d+\.\d{3} C   q1 LOGIN tracer \*\*\*$",
                     r"^ +\+\d+\.\d{3} C     \| Subject: trace$",
                     r"^ +\| $",
                     r"^ +\+\d+\.\d{3} C     \| \[4488 more literal bytes "
                     r"not traced\]$",
                     r"^ +\+\d+\.\d{3} --  end$"):
            lib.check(re.search(want, out, re.M), "trace show: no %r in:\n%s",
                      want, out)
        lib.check(PASSWORD not in out, "trace show printed the password")
        r = srv.ctl("trace", "show", "--server", os.path.join(tdir, qf))
        out = r.stdout.decode()
        lib.check(" S   " in out and " C   " not in out,
                  "--server shows client lines:\n%s", out)
        r = srv.ctl("trace", "show", os.path.join(tdir, "nosuch"),
                    check=False)
        lib.check_eq(r.returncode, 66, "trace show of a missing file")


def inetd_session(store, extra, lines, preexec=None, tls=False):
    """Runs refimapd -i with extra args; sends lines one at a time, each
    answered before the next (over TLS with tls); returns what it said."""
    ours, theirs = socket.socketpair()
    log = store.new_log("inetd-trace.log")
    with open(log, "ab") as logf:
        proc = subprocess.Popen([str(lib.refimapd_path()), "-c", store.conf,
                                 "-i"] + extra, stdin=theirs.fileno(),
                                stdout=theirs.fileno(), stderr=logf,
                                env=store.env(), close_fds=True,
                                preexec_fn=preexec)
    theirs.close()
    ours.settimeout(5)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ours = ctx.wrap_socket(ours)
    f = ours.makefile("rb")
    got = [f.readline()]
    for tag, data in lines:
        ours.sendall(data)
        while True:
            line = f.readline()
            lib.check(line, "refimapd -i closed the connection; got %r", got)
            got.append(line)
            if line.startswith(tag + b" "):
                break
    f.close()
    ours.close()
    rc = lib.wait_bounded(proc, 5, "refimapd -i")
    lib.check_eq(rc, 0, "refimapd -i exit status")
    return got, log


def check_inetd():
    store = lib.Store(users=[(USER, PASSWORD)])
    try:
        tdir = os.path.join(store.tmp, "itraces")
        got, _ = inetd_session(store, ["-T", tdir], [
            (b"a", b'a LOGIN tracer "' + PASSWORD.encode() + b'"\r\n'),
            (b"b", b"b LOGOUT\r\n")])
        lib.check(got[-1].startswith(b"b OK"), "LOGOUT answer: %r", got)
        files = os.listdir(tdir)
        lib.check_eq(len(files), 1, "inetd trace files")
        text = lib.read_text(os.path.join(tdir, files[0]))
        has(text, r"^\S+ C: a LOGIN tracer \\\*$", "inetd trace")
        check_no_secret(tdir, files)

        # A trace that cannot grow: tracing stops, once logged, and the
        # session goes on.
        def small_files():
            resource.setrlimit(resource.RLIMIT_FSIZE, (1500, 1500))

        tdir2 = os.path.join(store.tmp, "ftraces")
        # The log file is under the same limit: only what matters in it.
        store.set_config("log_level", "warning")
        store.write_config()
        lines = [(b"c%d" % i, b"c%d CAPABILITY\r\n" % i) for i in range(20)]
        got, log = inetd_session(store, ["-T", tdir2, "-f"],
                                 lines + [(b"z", b"z LOGOUT\r\n")],
                                 preexec=small_files)
        lib.check_eq(sum(1 for g in got if g.startswith(b"* CAPABILITY")),
                     20, "CAPABILITY answers with a full trace file")
        logtext = lib.read_text(log)
        lib.check_eq(logtext.count("tracing stopped"), 1,
                     "log lines about the stopped trace:\n%s" % logtext)
        files = os.listdir(tdir2)
        size = os.path.getsize(os.path.join(tdir2, files[0]))
        lib.check(size <= 1500, "trace file grew to %d bytes" % size)
    finally:
        store.cleanup()


def check_tls():
    """Under TLS (refimapd -i --tls) the trace holds the decrypted
    exchange."""
    store = lib.Store(users=[(USER, PASSWORD)])
    try:
        cert = os.path.join(store.tmp, "cert.pem")
        key = os.path.join(store.tmp, "key.pem")
        r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                            "-nodes", "-days", "2", "-subj", "/CN=localhost",
                            "-keyout", key, "-out", cert],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        lib.check(r.returncode == 0, "openssl req: %s", r.stdout)
        store.set_config("tls_cert", cert)
        store.set_config("tls_key", key)
        store.write_config()
        tdir = os.path.join(store.tmp, "ttraces")
        got, _ = inetd_session(store, ["--tls", "-T", tdir], [
            (b"a", b'a LOGIN tracer "' + PASSWORD.encode() + b'"\r\n'),
            (b"b", b"b LOGOUT\r\n")], tls=True)
        lib.check(got[-1].startswith(b"b OK"), "LOGOUT answer: %r", got)
        files = os.listdir(tdir)
        lib.check_eq(len(files), 1, "TLS trace files")
        text = lib.read_text(os.path.join(tdir, files[0]))
        has(text, r"^\S+ -- tls TLSv1\.[23]", "TLS note")
        has(text, r"^\S+ S: \* OK \[CAPABILITY IMAP4rev1 .*\] refimapd "
            r"ready$", "decrypted greeting")
        has(text, r"^\S+ C: a LOGIN tracer \\\*$", "decrypted LOGIN")
        has(text, r"^\S+ C: b LOGOUT$", "decrypted LOGOUT")
        check_no_secret(tdir, files)
    finally:
        store.cleanup()


def main():
    check_daemon()
    check_inetd()
    check_tls()


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    lib.main(main)
