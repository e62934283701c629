#!/usr/bin/env python3
"""TLS: STARTTLS on the plain port (RFC 3501 6.2.1, RFC 2595) and implicit
TLS on tls_port and under `refimapd -i --tls` (RFC 8314), with a throw-away
self-signed certificate made by the `openssl` tool in a temp dir.

Clients: Python's ssl and imaplib (IMAP4_SSL, IMAP4.starttls), `openssl
s_client` (-starttls imap and -connect), curl (--ssl-reqd imap://, imaps://).
Also: plaintext command injection after STARTTLS is discarded, STARTTLS
inside TLS or after login is BAD, TLS 1.1 is refused, the capability list
changes after TLS (no STARTTLS, no LOGINDISABLED, AUTH=PLAIN), a stalled
handshake does not block the master, and the startup errors for a missing,
unreadable or mismatched certificate or key."""

import fcntl
import imaplib
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import warnings

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "protocol"))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

EX_CONFIG = 78
PLAIN_RE = re.compile(r"listening on (\S+) port (\d+)$", re.M)
TLS_RE = re.compile(r"listening on (\S+) port (\d+) \(tls\)$", re.M)
MESSAGE = (b"From: Alice <alice@example.org>\r\n"
           b"To: test@example.org\r\n"
           b"Subject: over TLS\r\n"
           b"Message-ID: <tls-1@example.org>\r\n"
           b"\r\n"
           b"Sent through an encrypted channel.\r\n")


# ---------------------------------------------------------------------------
# Certificates and the daemon.

def openssl(*args, timeout=30):
    r = subprocess.run(["openssl"] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    check(r.returncode == 0, "openssl %s failed:\n%s", " ".join(args),
          r.stdout.decode("utf-8", "replace"))


def make_cert(d, name, ips):
    """A self-signed certificate for localhost and ips; (cert, key)."""
    cert = os.path.join(d, name + "-cert.pem")
    key = os.path.join(d, name + "-key.pem")
    san = ",".join(["DNS:localhost"] + ["IP:%s" % ip for ip in ips])
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
            "-days", "2", "-subj", "/CN=localhost", "-addext",
            "subjectAltName=" + san, "-keyout", key, "-out", cert)
    os.chmod(key, 0o600)
    return cert, key


def non_loopback_ipv4():
    """An IPv4 address of this host that is not loopback, or None."""
    for _, name in socket.if_nameindex():
        if name == "lo":
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                req = struct.pack("256s", name.encode()[:15])
                res = fcntl.ioctl(s.fileno(), 0x8915, req)   # SIOCGIFADDR
            except OSError:
                continue
        ip = socket.inet_ntoa(res[20:24])
        if not ip.startswith("127."):
            return ip
    return None


class TlsDaemon:
    """refimapd -f on `listen`, plain port 0 and tls_port 0 (from the
    config); both ports are read from its log."""

    def __init__(self, store, listen="127.0.0.1"):
        self.store = store
        self.listen = listen
        self.log = store.new_log("refimapd-%s.log" % listen)
        self.proc = None
        cmd = [str(lib.refimapd_path()), "-c", store.conf, "-f",
               "-l", listen, "-p", "0"]
        logf = open(self.log, "ab")
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=logf,
                                         env=store.env())
        finally:
            logf.close()
        deadline = time.monotonic() + lib.READ_TIMEOUT
        while time.monotonic() < deadline:
            text = lib.read_text(self.log)
            p, t = PLAIN_RE.search(text), TLS_RE.search(text)
            if p and t:
                self.port, self.tls_port = int(p.group(2)), int(t.group(2))
                return
            if self.proc.poll() is not None:
                raise lib.TestFailure("refimapd exited %d before listening:"
                                      "\n%s" % (self.proc.returncode,
                                                lib.tail(text)))
            time.sleep(0.02)
        self.proc.kill()
        self.proc.wait()
        raise lib.TestFailure("refimapd did not log both listeners:\n%s"
                              % lib.tail(lib.read_text(self.log)))

    def log_text(self):
        return lib.read_text(self.log)

    def stop(self):
        proc, self.proc = self.proc, None
        if proc is None:
            return
        check(proc.poll() is None, "refimapd died (status %s):\n%s",
              proc.returncode, lib.tail(self.log_text()))
        proc.send_signal(signal.SIGTERM)
        rc = lib.wait_bounded(proc, lib.STOP_TIMEOUT, "refimapd after SIGTERM")
        check_eq(rc, 0, "refimapd exit status after SIGTERM")
        lib.check_leftovers(self.store.tag, "refimapd")

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def client_ctx(cert, **kw):
    ctx = ssl.create_default_context(cafile=cert)
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def ok(resp, what):
    typ, data = resp
    check_eq(typ, "OK", "%s status (data %r)" % (what, data))
    return data


# ---------------------------------------------------------------------------
# A raw line-oriented client, plain or TLS.

class Raw:
    def __init__(self, sock):
        self.sock = sock
        self.sock.settimeout(lib.READ_TIMEOUT)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise lib.TestFailure("connection closed; partial %r"
                                      % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def until(self, tag):
        """Lines up to and including the tagged one for tag."""
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    def eof_within(self, secs):
        """True if the server closes the connection within secs."""
        self.sock.settimeout(secs)
        try:
            while True:
                if not self.sock.recv(4096):
                    return True
        except (socket.timeout, TimeoutError):
            return False
        except (ConnectionResetError, ssl.SSLError):
            return True


def caps_of(line):
    m = re.search(rb"CAPABILITY ([^\]]*)", line)
    check(m is not None, "no capability list in %r", line)
    return m.group(1).decode().split()


# ---------------------------------------------------------------------------
# The tests.

def test_implicit_imaplib(d, cert):
    """IMAP4_SSL on tls_port: LOGIN, LIST, APPEND, SELECT, FETCH."""
    m = imaplib.IMAP4_SSL("127.0.0.1", d.tls_port, ssl_context=client_ctx(cert),
                          timeout=lib.READ_TIMEOUT)
    caps = caps_of(m.welcome)
    check("STARTTLS" not in caps, "STARTTLS offered inside TLS: %r", caps)
    check("LOGINDISABLED" not in caps, "LOGINDISABLED inside TLS: %r", caps)
    check("AUTH=PLAIN" in caps, "AUTH=PLAIN not offered inside TLS: %r", caps)
    ok(m.login("test", "test"), "LOGIN over TLS")
    names = ok(m.list('""', "*"), "LIST over TLS")
    check(any(n.endswith(b'"/" INBOX') for n in names), "LIST: %r", names)
    data = ok(m.append("INBOX", None, None, MESSAGE), "APPEND over TLS")
    check(b"APPENDUID" in data[0], "APPEND response %r", data)
    check_eq(ok(m.select("INBOX"), "SELECT")[0], b"1", "EXISTS after APPEND")
    data = ok(m.fetch("1", "(BODY.PEEK[])"), "FETCH over TLS")
    check_eq(data[0][1], MESSAGE, "FETCH BODY[] over TLS")
    # A large response: several TLS records in one flush.
    big = b"Subject: big\r\n\r\n" + b"0123456789abcdef" * 8192 + b"\r\n"
    ok(m.append("INBOX", None, None, big), "APPEND of 128 KiB over TLS")
    data = ok(m.fetch("2", "(BODY.PEEK[])"), "FETCH 128 KiB over TLS")
    check_eq(data[0][1], big, "FETCH of 128 KiB over TLS")
    m.logout()


def test_starttls_imaplib(d, cert):
    m = imaplib.IMAP4("127.0.0.1", d.port, timeout=lib.READ_TIMEOUT)
    check("STARTTLS" in m.capabilities, "STARTTLS not advertised: %r",
          m.capabilities)
    ok(m.starttls(ssl_context=client_ctx(cert)), "STARTTLS")
    caps = ok(m.capability(), "CAPABILITY after STARTTLS")[0].split()
    check(b"STARTTLS" not in caps, "STARTTLS still offered: %r", caps)
    check(b"AUTH=PLAIN" in caps, "AUTH=PLAIN not offered: %r", caps)
    ok(m.login("test", "test"), "LOGIN after STARTTLS")
    ok(m.select("INBOX"), "SELECT after STARTTLS")
    data = ok(m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"), "FETCH")
    check_eq(data[0][1], b"Subject: over TLS\r\n\r\n", "FETCH after STARTTLS")
    m.logout()


def test_injection(d, cert):
    """Bytes sent with STARTTLS, before the handshake, are never run."""
    raw = Raw(socket.create_connection(("127.0.0.1", d.port),
                                       timeout=lib.READ_TIMEOUT))
    raw.line()
    raw.send(b"a STARTTLS\r\nb CAPABILITY\r\n")
    check_eq(raw.until(b"a"), [b"a OK Begin TLS negotiation now"],
             "answer to STARTTLS")
    check_eq(raw.buf, b"", "plaintext after the STARTTLS OK")
    tls = client_ctx(cert).wrap_socket(raw.sock, server_hostname="localhost")
    t = Raw(tls)
    t.send(b"c CAPABILITY\r\n")
    lines = t.until(b"c")
    check(not any(l.startswith(b"b ") for l in lines),
          "the injected command was answered: %r", lines)
    check_eq(len(lines), 2, "lines for CAPABILITY (%r)" % lines)
    caps = lines[0].split()[2:]
    check_eq(lines[0].split()[:2], [b"*", b"CAPABILITY"], "untagged line")
    check(b"STARTTLS" not in caps and b"LOGINDISABLED" not in caps and
          b"AUTH=PLAIN" in caps, "capabilities after STARTTLS: %r", caps)
    check_eq(lines[1], b"c OK CAPABILITY completed", "tagged line")
    # STARTTLS inside TLS.
    t.send(b"d STARTTLS\r\n")
    line = t.until(b"d")[-1]
    check(line.startswith(b"d BAD "), "STARTTLS inside TLS: %r", line)
    t.send(b"e NOOP\r\n")
    check_eq(t.until(b"e")[-1], b"e OK NOOP completed", "NOOP after it")
    t.send(b"f LOGOUT\r\n")
    t.until(b"f")
    tls.close()
    check("discarded" in d.log_text(), "no log line about discarded bytes")


def test_starttls_after_login(d):
    raw = Raw(socket.create_connection(("127.0.0.1", d.port),
                                       timeout=lib.READ_TIMEOUT))
    raw.line()
    raw.send(b"a LOGIN test test\r\n")
    check(raw.until(b"a")[-1].startswith(b"a OK"), "LOGIN on loopback")
    raw.send(b"b STARTTLS\r\n")
    line = raw.until(b"b")[-1]
    check(line.startswith(b"b BAD "), "STARTTLS after login: %r", line)
    raw.send(b"c CAPABILITY\r\n")
    caps = raw.until(b"c")[0].split()
    check(b"STARTTLS" not in caps, "STARTTLS offered after login: %r", caps)
    raw.send(b"d LOGOUT\r\n")
    raw.until(b"d")
    raw.sock.close()


def run_tool(cmd, stdin=b"", timeout=30):
    try:
        r = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise lib.TestFailure("%s did not finish within %d s"
                              % (" ".join(cmd), timeout))
    return r.returncode, r.stdout.decode("utf-8", "replace")


def test_s_client(d, cert):
    script = (b"a LOGIN test test\n"
              b"b SELECT INBOX\n"
              b"c FETCH 1 (BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])\n"
              b"d LOGOUT\n")
    for what, args in (
            ("-starttls imap", ["-starttls", "imap", "-connect",
                                "127.0.0.1:%d" % d.port]),
            ("-connect (implicit TLS)", ["-connect",
                                         "127.0.0.1:%d" % d.tls_port])):
        rc, out = run_tool(["openssl", "s_client", "-quiet", "-crlf",
                            "-ign_eof", "-verify_return_error", "-CAfile",
                            cert, "-verify_hostname", "localhost"] + args,
                           script)
        check_eq(rc, 0, "openssl s_client %s exit status (output %r)"
                 % (what, out))
        check(re.search(r"^a OK .*Logged in", out, re.M) is not None,
              "s_client %s: no LOGIN OK in %r", what, out)
        check("Message-ID: <tls-1@example.org>" in out,
              "s_client %s: FETCH data missing in %r", what, out)
        check(re.search(r"^d OK LOGOUT completed", out, re.M) is not None,
              "s_client %s: no LOGOUT in %r", what, out)


def test_curl(d, cert):
    if shutil.which("curl") is None:
        print("note: curl is not installed; curl cases skipped")
        return
    base = ["curl", "-s", "-S", "--max-time", "15", "--cacert", cert,
            "--user", "test:test"]
    rc, out = run_tool(base + ["--ssl-reqd",
                               "imap://127.0.0.1:%d/INBOX;UID=1" % d.port])
    check_eq(rc, 0, "curl --ssl-reqd imap:// exit status (output %r)" % out)
    check_eq(out.encode(), MESSAGE, "curl STARTTLS fetch of UID 1")
    rc, out = run_tool(base + ["imaps://127.0.0.1:%d/" % d.tls_port])
    check_eq(rc, 0, "curl imaps:// exit status (output %r)" % out)
    check('* LIST (\\HasNoChildren) "/" INBOX' in out.splitlines(),
          "curl imaps:// listing %r", out)


def test_versions(d, cert):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = client_ctx(cert, minimum_version=ssl.TLSVersion.TLSv1,
                         maximum_version=ssl.TLSVersion.TLSv1_1)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    sock = socket.create_connection(("127.0.0.1", d.tls_port),
                                    timeout=lib.READ_TIMEOUT)
    try:
        ctx.wrap_socket(sock, server_hostname="localhost").close()
        raise lib.TestFailure("a TLS 1.1 handshake succeeded")
    except ssl.SSLError:
        pass
    finally:
        sock.close()
    deadline = time.monotonic() + lib.READ_TIMEOUT
    while "TLS handshake failed: unsupported protocol" not in d.log_text():
        check(time.monotonic() < deadline, "the server did not log the "
              "refused TLS 1.1 handshake:\n%s", lib.tail(d.log_text()))
        time.sleep(0.05)
    ctx = client_ctx(cert, maximum_version=ssl.TLSVersion.TLSv1_2)
    with socket.create_connection(("127.0.0.1", d.tls_port),
                                  timeout=lib.READ_TIMEOUT) as sock:
        with ctx.wrap_socket(sock, server_hostname="localhost") as t:
            check_eq(t.version(), "TLSv1.2", "negotiated version")
            r = Raw(t)
            check(r.line().startswith(b"* OK [CAPABILITY "), "greeting")
            r.send(b"a LOGOUT\r\n")
            r.until(b"a")


def test_stalled_handshake(d, cert):
    """A client that never says hello, and one that sends garbage: neither
    blocks anyone else; the garbage one is dropped at once."""
    idle = socket.create_connection(("127.0.0.1", d.tls_port), timeout=5)
    junk = Raw(socket.create_connection(("127.0.0.1", d.tls_port), timeout=5))
    junk.send(b"a LOGIN test test\r\n")
    check(junk.eof_within(5), "plaintext on the TLS port: not dropped")
    junk.sock.close()
    start = time.monotonic()
    m = imaplib.IMAP4_SSL("127.0.0.1", d.tls_port, ssl_context=client_ctx(cert),
                          timeout=lib.READ_TIMEOUT)
    ok(m.login("test", "test"), "LOGIN while a handshake is stalled")
    m.logout()
    check(time.monotonic() - start < 3, "a stalled handshake slowed others")
    idle.close()


def test_logindisabled(store, cert, ip):
    """From a non-loopback address: LOGINDISABLED until STARTTLS, then
    AUTH=PLAIN and LOGIN works."""
    d = TlsDaemon(store, listen=ip)
    try:
        raw = Raw(socket.create_connection((ip, d.port),
                                           timeout=lib.READ_TIMEOUT))
        caps = caps_of(raw.line())
        check("STARTTLS" in caps and "LOGINDISABLED" in caps and
              "AUTH=PLAIN" not in caps, "capabilities before TLS: %r", caps)
        raw.send(b"a LOGIN test test\r\n")
        line = raw.until(b"a")[-1]
        check(line.startswith(b"a NO [PRIVACYREQUIRED]"),
              "LOGIN before TLS: %r", line)
        raw.send(b"b STARTTLS\r\n")
        raw.until(b"b")
        ctx = client_ctx(cert)
        ctx.check_hostname = False
        t = Raw(ctx.wrap_socket(raw.sock))
        t.send(b"c CAPABILITY\r\n")
        caps = t.until(b"c")[0].decode().split()
        check("STARTTLS" not in caps and "LOGINDISABLED" not in caps and
              "AUTH=PLAIN" in caps, "capabilities after TLS: %r", caps)
        t.send(b"d LOGIN test test\r\n")
        check(t.until(b"d")[-1].startswith(b"d OK"), "LOGIN after STARTTLS")
        t.send(b"e LOGOUT\r\n")
        t.until(b"e")
        t.sock.close()
        d.stop()
    finally:
        d.kill()


def test_inetd_tls(store, cert):
    """refimapd -i --tls on a socketpair: the handshake, then IMAP."""
    ours, theirs = socket.socketpair()
    proc = subprocess.Popen([str(lib.refimapd_path()), "-c", store.conf, "-f",
                             "-i", "--tls"], stdin=theirs, stdout=theirs,
                            stderr=subprocess.PIPE, env=store.env())
    theirs.close()
    try:
        ctx = client_ctx(cert)
        ctx.check_hostname = False
        t = Raw(ctx.wrap_socket(ours))
        caps = caps_of(t.line())
        check("STARTTLS" not in caps and "AUTH=PLAIN" in caps,
              "capabilities of -i --tls: %r", caps)
        t.send(b"a LOGIN test test\r\n")
        check(t.until(b"a")[-1].startswith(b"a OK"), "LOGIN over -i --tls")
        t.send(b"b SELECT INBOX\r\nc FETCH 1 (RFC822.SIZE)\r\n")
        t.until(b"b")
        lines = t.until(b"c")
        check_eq(lines[0], b"* 1 FETCH (RFC822.SIZE %d)" % len(MESSAGE),
                 "FETCH over -i --tls")
        t.send(b"d LOGOUT\r\n")
        t.until(b"d")
        t.sock.close()
        rc = lib.wait_bounded(proc, lib.STOP_TIMEOUT, "refimapd -i --tls")
        err = proc.stderr.read().decode("utf-8", "replace")
        check_eq(rc, 0, "refimapd -i --tls exit status (stderr %r)" % err)
        rep = lib.sanitizer_report(err)
        check(rep is None, "sanitizer report:\n%s", rep)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def test_handshake_timeout(store):
    """A client that never starts the handshake is dropped after the
    bound (here idle_timeout_preauth = 2 s, under the 30 s maximum)."""
    conf = os.path.join(store.tmp, "short-preauth.conf")
    with open(conf, "w") as f:
        f.write(lib.read_text(store.conf) + "idle_timeout_preauth = 2\n")
    ours, theirs = socket.socketpair()
    try:
        start = time.monotonic()
        proc = subprocess.Popen([str(lib.refimapd_path()), "-c", conf,
                                 "-f", "-i", "--tls"], stdin=theirs,
                                stdout=theirs, stderr=subprocess.PIPE,
                                env=store.env())
    finally:
        theirs.close()
    try:
        rc = lib.wait_bounded(proc, 10, "refimapd -i --tls, stalled handshake")
        took = time.monotonic() - start
        err = proc.stderr.read().decode("utf-8", "replace")
        check_eq(rc, 0, "exit status after a stalled handshake (%r)" % err)
        check(1.5 < took < 8, "stalled handshake dropped after %.1f s", took)
        check("TLS handshake failed: no progress in 2 s" in err,
              "log of the stalled handshake: %r", err)
        ours.settimeout(1)
        check_eq(ours.recv(100), b"", "bytes sent to a stalled client")
        rep = lib.sanitizer_report(err)
        check(rep is None, "sanitizer report:\n%s", rep)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
        ours.close()


def startup(store, what, settings, want_re):
    """refimapd with settings must exit EX_CONFIG with want_re in stderr."""
    saved = list(store.config)
    for k, v in settings:
        if v is None:
            store.config = [(a, b) for a, b in store.config if a != k]
        else:
            store.set_config(k, v)
    store.write_config()
    try:
        rc, out = run_tool([str(lib.refimapd_path()), "-c", store.conf, "-f",
                            "-l", "127.0.0.1", "-p", "0"], timeout=10)
    finally:
        store.config = saved
        store.write_config()
    check_eq(rc, EX_CONFIG, "exit status with %s (output %r)" % (what, out))
    check(re.search(want_re, out) is not None,
          "message for %s: %r does not match %r", what, out, want_re)
    check("listening" not in out, "listened with %s: %r", what, out)


def test_startup_errors(store, d, cert, key):
    other_cert, other_key = make_cert(d, "other", [])
    missing = os.path.join(d, "missing-key.pem")
    startup(store, "a missing key", [("tls_key", missing)],
            r"tls_key %s: No such file or directory" % re.escape(missing))
    startup(store, "a missing certificate", [("tls_cert", missing)],
            r"tls_cert %s: No such file or directory" % re.escape(missing))
    startup(store, "a key that does not match",
            [("tls_key", other_key)],
            r"tls_key %s does not match the certificate in tls_cert %s"
            % (re.escape(other_key), re.escape(cert)))
    startup(store, "a certificate that is not PEM", [("tls_cert", key)],
            r"tls_cert %s: cannot load the certificate" % re.escape(key))
    startup(store, "a certificate without a key", [("tls_key", None)],
            r"TLS needs both tls_cert and tls_key")
    # --tls without any TLS configured.
    plain = lib.Store()
    try:
        rc, out = run_tool([str(lib.refimapd_path()), "-c", plain.conf, "-f",
                            "-i", "--tls"], timeout=10)
        check_eq(rc, EX_CONFIG, "refimapd -i --tls without a certificate")
        check("TLS needs both tls_cert and tls_key" in out, "message %r", out)
    finally:
        plain.cleanup()


def test_not_configured():
    """Without tls_cert: no STARTTLS in CAPABILITY, STARTTLS is BAD, no
    TLS listener."""
    with lib.Server() as srv:
        raw = Raw(socket.create_connection(("127.0.0.1", srv.port),
                                           timeout=lib.READ_TIMEOUT))
        caps = caps_of(raw.line())
        check("STARTTLS" not in caps, "STARTTLS advertised: %r", caps)
        raw.send(b"a STARTTLS\r\nb NOOP\r\n")
        line = raw.until(b"a")[-1]
        check(line.startswith(b"a BAD "), "STARTTLS without TLS: %r", line)
        check_eq(raw.until(b"b")[-1], b"b OK NOOP completed", "NOOP after")
        raw.send(b"c LOGOUT\r\n")
        raw.until(b"c")
        raw.sock.close()
        check("(tls)" not in srv.log_text(), "a TLS listener without a cert")


def step(fn, *args):
    fn(*args)
    print("ok %s" % fn.__name__[len("test_"):])


def run():
    if shutil.which("openssl") is None:
        raise lib.TestSkip("the openssl tool is missing (apt-get install openssl)")
    certdir = tempfile.mkdtemp(prefix="refimapd-tls-")
    try:
        ip = non_loopback_ipv4()
        cert, key = make_cert(certdir, "server",
                              ["127.0.0.1"] + ([ip] if ip else []))
        store = lib.Store(config=[("tls_cert", cert), ("tls_key", key),
                                  ("tls_port", "0")])
        try:
            d = TlsDaemon(store)
            try:
                step(test_implicit_imaplib, d, cert)
                step(test_starttls_imaplib, d, cert)
                step(test_injection, d, cert)
                step(test_starttls_after_login, d)
                step(test_s_client, d, cert)
                step(test_curl, d, cert)
                step(test_versions, d, cert)
                step(test_stalled_handshake, d, cert)
                d.stop()
            except BaseException:
                sys.stderr.write("--- refimapd log ---\n%s\n"
                                 % lib.tail(d.log_text(), 40))
                raise
            finally:
                d.kill()
            if ip:
                step(test_logindisabled, store, cert, ip)
            else:
                print("note: no non-loopback IPv4 address; LOGINDISABLED "
                      "case skipped")
            step(test_inetd_tls, store, cert)
            step(test_handshake_timeout, store)
            step(test_startup_errors, store, certdir, cert, key)
            store.check_logs()
        finally:
            store.cleanup()
        step(test_not_configured)
    finally:
        shutil.rmtree(certdir, ignore_errors=True)


if __name__ == "__main__":
    lib.main(run)
