#!/usr/bin/env python3
"""Delivery from Postfix: a private Postfix instance (its own
config_directory, queue and data directories, smtpd on a free loopback
port, nothing delivered outside) routes the test domain to a pipe(8)
transport that runs `refimapctl deliver ${user}`, and the mail is read back
over IMAP from a running refimapd.

  1. Mail sent with smtplib to a user reaches INBOX: a session that has
     INBOX selected sees `* 1 EXISTS` at NOOP, another finds the message by
     Message-ID with its body intact.
  2. An unknown recipient: deliver exits EX_NOUSER (67), Postfix bounces,
     and the bounce (delivered through the same transport) reaches the
     sender's INBOX, naming the recipient and refimapctl's reason.
  3. A full store: the data directory is on a small tmpfs that the test
     fills; deliver exits EX_TEMPFAIL (75), Postfix keeps the mail in its
     deferred queue (postqueue -p), nothing is half-stored; once space is
     freed, postqueue -f delivers it, exactly once.  Where tmpfs cannot be
     mounted, the store is made unable to grow its files by a file size
     limit (`ulimit -f` in a small wrapper around refimapctl) instead.

Postfix's master must start as root and pipe(8) refuses to run commands as
root, so the store belongs to `nobody`: refimapd drops to it (`user =
nobody`) and the pipe transport runs refimapctl as that user.  Skips (77)
when not root or when postfix is not installed (Debian package postfix).
"""

import email
import imaplib
import os
import pwd
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "protocol"))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

DOMAIN = "example.test"
STORE_USER = "nobody"           # owns the store; pipe(8) runs deliver as it
TMPFS_SIZE = "160m"             # the regions (up to ~90 MB) and a log file (10 MB)
WAIT = 20.0                     # any one thing Postfix is expected to do
POSTFIX_CMD_TIMEOUT = 30

USERS = [("alice", "alice-pw"), ("carol", "carol-pw")]


def find_postfix():
    for d in ("/usr/sbin", "/usr/local/sbin", "/sbin"):
        p = os.path.join(d, "postfix")
        if os.access(p, os.X_OK):
            return d
    return None


def wait_for(what, fn, timeout=WAIT, interval=0.1):
    """Poll fn() until it returns something true (returned); fail after
    timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise lib.TestFailure("timed out after %g s waiting for %s"
                                  % (timeout, what))
        time.sleep(interval)


# ---------------------------------------------------------------------------
# The store: on a tmpfs (or a plain directory), owned by STORE_USER.

class FullableStore(lib.Store):
    """lib.Store, but world-traversable, with the data dir on its own
    tmpfs when one can be mounted, and handed to STORE_USER."""

    def __init__(self, users):
        lib.check_binaries()
        self.tmp = tempfile.mkdtemp(prefix="refimapd-postfix-")
        self.mounted = False
        try:
            self.setup(users)
        except BaseException:
            self.cleanup()
            raise

    def setup(self, users):
        os.chmod(self.tmp, 0o755)
        self.tag = uuid.uuid4().hex
        self.logs = []
        self.mount = os.path.join(self.tmp, "store")
        os.mkdir(self.mount)
        self.mount_error = None
        if not os.environ.get("REFIMAPD_TEST_NO_TMPFS"):
            r = subprocess.run(["mount", "-t", "tmpfs", "-o",
                                "size=%s,mode=0755" % TMPFS_SIZE, "tmpfs",
                                self.mount], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=30)
            self.mounted = r.returncode == 0
            if not self.mounted:
                self.mount_error = r.stdout.decode("utf-8", "replace").strip()
        else:
            self.mount_error = "REFIMAPD_TEST_NO_TMPFS is set"
        os.chmod(self.mount, 0o755)
        self.data_dir = os.path.join(self.mount, "data")
        self.conf = os.path.join(self.tmp, "refimapd.conf")
        self.config = ([("data_dir", self.data_dir)] + list(lib.BASE_CONFIG)
                       + [("user", STORE_USER)])
        self.write_config()
        os.chmod(self.conf, 0o644)
        # A copy of refimapctl that STORE_USER can surely execute, whatever
        # the permissions on the way to the build directory.
        self.bin = os.path.join(self.tmp, "bin")
        os.mkdir(self.bin, 0o755)
        self.refimapctl = os.path.join(self.bin, "refimapctl")
        shutil.copy2(str(lib.refimapctl_path()), self.refimapctl)
        os.chmod(self.refimapctl, 0o755)
        self.ctl("init")
        for name, password in users:
            self.ctl("user", "add", name, input=password + "\n")
        pw = pwd.getpwnam(STORE_USER)
        for dirpath, dirnames, filenames in os.walk(self.data_dir):
            for n in [dirpath] + [os.path.join(dirpath, f) for f in filenames]:
                os.lchown(n, pw.pw_uid, pw.pw_gid)

    def tmp_files(self):
        """Spool files left in DATA_DIR/tmp."""
        try:
            return os.listdir(os.path.join(self.data_dir, "tmp"))
        except FileNotFoundError:
            return []

    def cleanup(self):
        if self.mounted:
            r = subprocess.run(["umount", self.mount], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=30)
            if r.returncode != 0:
                subprocess.run(["umount", "-l", self.mount], timeout=30)
            self.mounted = False
        lib.Store.cleanup(self)


def fill(path):
    """Write zeros to path until the file system is full; returns bytes."""
    total = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 1 << 12, 1 << 9):
            chunk = b"\0" * size
            while True:
                try:
                    n = os.write(fd, chunk)
                except OSError:
                    break
                total += n
                if n < size:
                    break
    finally:
        os.close(fd)
    return total


# ---------------------------------------------------------------------------
# The private Postfix instance.

MAIN_CF = """\
# Written by tests/clients/test_postfix.py: a private instance that
# accepts mail for {domain} on {listen} only and hands it to refimapctl.
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
maillog_file = {maillog}
maillog_file_prefixes = {maillog}
syslog_name = postfix-refimapd-test
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C
    POSTLOG_SERVICE POSTLOG_HOSTNAME {tagvar}={tag}
export_environment = TZ MAIL_CONFIG LANG {tagvar}={tag}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.{domain}
mydomain = {domain}
myorigin = {domain}
mydestination = {domain}
mynetworks = 127.0.0.0/8
relay_domains =
relayhost =
# Every local recipient goes to refimapctl, which decides who exists.
local_transport = refimap
local_recipient_maps =
alias_maps =
alias_database =
refimap_destination_recipient_limit = 1
# Nothing leaves this machine, and nothing is looked up in the DNS.
default_transport = error:outside delivery is disabled in this test
relay_transport = error:outside delivery is disabled in this test
smtp_dns_support_level = disabled
smtp_host_lookup = native
lmtp_host_lookup = native
smtpd_peername_lookup = no
append_dot_mydomain = no
biff = no
notify_classes =
# A deferred message waits for postqueue -f, not for the clock.
queue_run_delay = 300s
minimal_backoff_time = 300s
maximal_backoff_time = 600s
"""

MASTER_CF = """\
# service type private unpriv chroot wakeup maxproc command
{listen} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
refimap   unix  -       n       n       -       -       pipe
  flags=DRXhu user={user} argv={argv} ${{user}}
"""


class Postfix:
    def __init__(self, base, store, deliver_argv):
        self.sbin = find_postfix()
        self.dir = os.path.join(base, "postfix")
        self.conf_dir = os.path.join(self.dir, "conf")
        self.queue = os.path.join(self.dir, "queue")
        self.data = os.path.join(self.dir, "data")
        self.maillog = os.path.join(self.dir, "maillog")
        self.tag = uuid.uuid4().hex
        self.port = lib.free_port()
        self.started = False
        for d in (self.dir, self.conf_dir, self.queue):
            os.mkdir(d, 0o755)
        os.mkdir(self.data, 0o700)
        pw = pwd.getpwnam("postfix")
        os.chown(self.data, pw.pw_uid, pw.pw_gid)
        listen = "127.0.0.1:%d" % self.port
        with open(os.path.join(self.conf_dir, "main.cf"), "w") as f:
            f.write(MAIN_CF.format(domain=DOMAIN, listen=listen,
                                   queue=self.queue, data=self.data,
                                   maillog=self.maillog, tagvar=lib.TAG_VAR,
                                   tag=self.tag))
        with open(os.path.join(self.conf_dir, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(listen=listen, user=STORE_USER,
                                     argv=" ".join(deliver_argv)))

    def cmd(self, name, *args, check=True):
        argv = [os.path.join(self.sbin, name), "-c", self.conf_dir] + list(args)
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env=lib.tagged_env(self.tag),
                               timeout=POSTFIX_CMD_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise lib.TestFailure("%s timed out" % " ".join(argv))
        out = r.stdout.decode("utf-8", "replace")
        if check and r.returncode != 0:
            raise lib.TestFailure("%s exited %d:\n%s\n--- maillog ---\n%s"
                                  % (" ".join(argv), r.returncode, out,
                                     lib.tail(self.log())))
        return r.returncode, out

    def log(self):
        return lib.read_text(self.maillog)

    def master_pid(self):
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def start(self):
        self.started = True
        self.cmd("postfix", "start")
        wait_for("Postfix's smtpd on 127.0.0.1:%d" % self.port,
                 self.smtp_ready)
        # Its processes carry the tag, so none can be left behind unseen.
        pid = self.master_pid()
        check(pid is not None and pid in lib.live_pids_with_env(lib.TAG_VAR,
                                                                 self.tag),
              "Postfix master (pid %s) does not carry %s", pid, lib.TAG_VAR)

    def smtp_ready(self):
        try:
            s = smtplib.SMTP("127.0.0.1", self.port, timeout=5)
        except OSError:
            return False
        try:
            s.quit()
        except smtplib.SMTPException:
            pass
        return True

    def queue_listing(self):
        return self.cmd("postqueue", "-p")[1]

    def queue_empty(self):
        out = self.queue_listing()
        return "Mail queue is empty" in out

    def stop(self):
        """postfix stop, then whatever is left is killed by pid."""
        if not self.started:
            return
        self.started = False
        pid = self.master_pid()
        try:
            self.cmd("postfix", "stop", check=False)
            if pid is not None:
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and alive(pid):
                    time.sleep(0.05)
        finally:
            if pid is not None and alive(pid):
                os.kill(pid, signal.SIGKILL)
            lib.check_leftovers(self.tag, "postfix")


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


# ---------------------------------------------------------------------------
# Mail and IMAP helpers.

def send(pf, sender, rcpt, subject, body):
    msgid = "<%s@%s>" % (uuid.uuid4().hex, DOMAIN)
    text = ("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: %s\r\n"
            "Date: Tue, 24 Nov 2026 05:00:00 +0000\r\n\r\n%s\r\n"
            % (sender, rcpt, subject, msgid, body))
    with smtplib.SMTP("127.0.0.1", pf.port, timeout=10) as s:
        refused = s.sendmail(sender, [rcpt], text.encode())
        check_eq(refused, {}, "recipients refused by smtpd")
    return msgid


def login(port, user, password):
    m = imaplib.IMAP4("127.0.0.1", port, timeout=lib.READ_TIMEOUT)
    typ, data = m.login(user, password)
    check_eq(typ, "OK", "LOGIN %s (%r)" % (user, data))
    return m


def ok(resp, what):
    typ, data = resp
    check_eq(typ, "OK", "%s status (data %r)" % (what, data))
    return data


def messages(port, user, password):
    """STATUS INBOX MESSAGES, from a fresh session."""
    m = login(port, user, password)
    try:
        data = ok(m.status("INBOX", "(MESSAGES)"), "STATUS INBOX")
        mo = re.search(rb"MESSAGES (\d+)", data[0])
        check(mo is not None, "STATUS reply %r", data)
        return int(mo.group(1))
    finally:
        m.logout()


def fetch_by_msgid(port, user, password, msgid):
    """The raw messages in user's INBOX whose Message-ID is msgid."""
    m = login(port, user, password)
    try:
        ok(m.select("INBOX", readonly=True), "SELECT INBOX")
        data = ok(m.uid("SEARCH", None, "HEADER", "Message-ID",
                        '"%s"' % msgid), "UID SEARCH")
        uids = data[0].split()
        out = []
        for uid in uids:
            data = ok(m.uid("FETCH", uid, "(BODY.PEEK[])"), "UID FETCH")
            out.append(data[0][1])
        return out
    finally:
        m.logout()


def fetch_all(port, user, password):
    m = login(port, user, password)
    try:
        data = ok(m.select("INBOX", readonly=True), "SELECT INBOX")
        n = int(data[0])
        out = []
        if n:
            data = ok(m.fetch("1:*", "(BODY.PEEK[])"), "FETCH 1:*")
            out = [d[1] for d in data if isinstance(d, tuple)]
        return out
    finally:
        m.logout()


def select_watcher(m):
    """SELECT INBOX; returns its EXISTS, leaving none pending in imaplib
    (whose select() keeps the untagged EXISTS)."""
    data = ok(m.select("INBOX"), "SELECT INBOX (watcher)")
    m.response("EXISTS")
    return int(data[0])


def exists_at_noop(m):
    """The last `* N EXISTS` a NOOP brought, or None."""
    ok(m.noop(), "NOOP")
    typ, data = m.response("EXISTS")
    vals = [int(x) for x in data if x is not None]
    return vals[-1] if vals else None


# ---------------------------------------------------------------------------
# The cases.

def case_deliver(srv, pf):
    watcher = login(srv.port, "alice", "alice-pw")
    try:
        check_eq(select_watcher(watcher), 0, "EXISTS of an empty INBOX")
        body = "Hello from Postfix %s.\r\nSecond line." % uuid.uuid4().hex
        msgid = send(pf, "carol@" + DOMAIN, "alice@" + DOMAIN,
                     "via postfix", body)
        n = wait_for("* 1 EXISTS at NOOP in a session with INBOX selected",
                     lambda: exists_at_noop(watcher))
        check_eq(n, 1, "EXISTS after one delivery")
        got = fetch_by_msgid(srv.port, "alice", "alice-pw", msgid)
        check_eq(len(got), 1, "messages with Message-ID %s" % msgid)
        msg = email.message_from_bytes(got[0])
        check_eq(msg["Message-ID"], msgid, "Message-ID")
        check_eq(msg["Subject"], "via postfix", "Subject")
        check_eq(msg["Delivered-To"], "alice@" + DOMAIN,
                 "Delivered-To (pipe flag D)")
        check_eq(msg["Return-Path"], "<carol@%s>" % DOMAIN,
                 "Return-Path (pipe flag R)")
        check(msg["Received"] is not None, "no Received header: %r", got[0])
        check(got[0].endswith(body.encode() + b"\r\n"),
              "body not intact: %r", got[0][-200:])
        check(b"\r\n" in got[0] and b"\n" not in got[0].replace(b"\r\n", b""),
              "bare LF in the stored message: %r", got[0][:300])
        ok(watcher.close(), "CLOSE")
    finally:
        watcher.logout()
    wait_for("an empty queue after delivery", pf.queue_empty)
    check(re.search(r"to=<alice@%s>.*relay=refimap.*status=sent"
                    % re.escape(DOMAIN), pf.log()),
          "no status=sent for alice in the Postfix log:\n%s",
          lib.tail(pf.log()))


def case_unknown(srv, pf):
    before = messages(srv.port, "carol", "carol-pw")
    msgid = send(pf, "carol@" + DOMAIN, "nosuchuser@" + DOMAIN,
                 "to nobody", "This one bounces.")
    bounce_re = re.compile(r"to=<nosuchuser@%s>.*relay=refimap.*"
                           r"status=bounced.*" % re.escape(DOMAIN))
    wait_for("status=bounced in the Postfix log",
             lambda: bounce_re.search(pf.log()))
    line = bounce_re.search(pf.log()).group(0)
    # pipe(8) reports EX_NOUSER (67) as "user unknown", 5.1.1.
    check("dsn=5.1.1" in line and "user unknown" in line
          and "no such user: nosuchuser" in line, "bounce reason: %s", line)
    # The bounce goes back to carol, through refimapctl as well.
    wait_for("the bounce in carol's INBOX",
             lambda: messages(srv.port, "carol", "carol-pw") > before)
    got = fetch_all(srv.port, "carol", "carol-pw")[before:]
    check_eq(len(got), 1, "bounces in carol's INBOX")
    b = got[0].decode("utf-8", "replace")
    check(re.search(r"^From: .*<MAILER-DAEMON@%s>" % re.escape(DOMAIN), b,
                    re.M), "bounce From: %s", b[:500])
    check(re.search(r"^Return-Path: <>", b, re.M | re.I)
          or re.search(r"^Return-Path: <MAILER-DAEMON>", b, re.M),
          "bounce Return-Path: %s", b[:500])
    check("Undelivered Mail Returned to Sender" in b, "bounce Subject: %s",
          b[:500])
    check("nosuchuser@" + DOMAIN in b, "bounce does not name the recipient")
    check("no such user: nosuchuser" in b,
          "bounce does not carry refimapctl's reason:\n%s", b[:2000])
    check(re.search(r"Status: 5\.\d+\.\d+", b),
          "bounce has no 5.x.x DSN status:\n%s", b[:2000])
    check(msgid in b, "bounce does not carry the original Message-ID")
    check_eq(fetch_by_msgid(srv.port, "alice", "alice-pw", msgid), [],
             "the bounced message in alice's INBOX")
    wait_for("an empty queue after the bounce", pf.queue_empty)


def case_full(srv, pf, store, limit_flag):
    watcher = login(srv.port, "alice", "alice-pw")
    try:
        start = select_watcher(watcher)
        filler = None
        if store.mounted:
            filler = os.path.join(store.mount, "filler")
            fill(filler)
        else:
            with open(limit_flag, "w"):
                pass
        try:
            # Over 1 MiB, so that deliver spools it to a file first.
            body = "\r\n".join("line %06d: waiting for space" % i
                               for i in range(50000))
            msgid = send(pf, "carol@" + DOMAIN, "alice@" + DOMAIN,
                         "while full", body)
            defer_re = re.compile(r"to=<alice@%s>.*relay=refimap.*"
                                  r"status=deferred.*" % re.escape(DOMAIN))
            wait_for("status=deferred in the Postfix log",
                     lambda: defer_re.search(pf.log()))
            line = defer_re.search(pf.log()).group(0)
            # EX_TEMPFAIL (75) is "temporary failure", 4.3.0 (a command
            # killed by a signal would be "Command died with signal").
            check("dsn=4.3.0" in line and "temporary failure" in line
                  and "mail store out of disk space" in line,
                  "deferral reason: %s", line)
            print("deferred while full: ...%s" % line[-160:])
            q = pf.queue_listing()
            check(re.search(r"alice@%s" % re.escape(DOMAIN), q)
                  and "temporary failure" in q,
                  "postqueue -p does not show the deferred mail:\n%s", q)
            check_eq(messages(srv.port, "alice", "alice-pw"), start,
                     "messages in INBOX while the store is full")
            check_eq(exists_at_noop(watcher), None,
                     "EXISTS at NOOP while the store is full")
            check_eq(store.tmp_files(), [], "spool files left in DATA_DIR/tmp")
        finally:
            if filler is not None:
                os.unlink(filler)
            else:
                os.unlink(limit_flag)
        pf.cmd("postqueue", "-f")
        n = wait_for("the deferred mail in INBOX after postqueue -f",
                     lambda: exists_at_noop(watcher))
        check_eq(n, start + 1, "EXISTS after the flush")
        wait_for("an empty queue after the flush", pf.queue_empty)
        got = fetch_by_msgid(srv.port, "alice", "alice-pw", msgid)
        check_eq(len(got), 1, "copies of the deferred message")
        check(got[0].endswith(b"\r\n\r\n" + body.encode() + b"\r\n"),
              "body of the deferred message not intact: %r", got[0][-300:])
        check_eq(messages(srv.port, "alice", "alice-pw"), start + 1,
                 "messages in INBOX after the flush")
        check_eq(store.tmp_files(), [], "spool files left in DATA_DIR/tmp")
        ok(watcher.close(), "CLOSE")
    finally:
        watcher.logout()


def run():
    if os.geteuid() != 0:
        raise lib.TestSkip("a private Postfix instance needs root (its "
                           "master starts as root)")
    if find_postfix() is None:
        raise lib.TestSkip("postfix is not installed (Debian package "
                           "postfix; `make deps` installs it)")
    for u in (STORE_USER, "postfix"):
        try:
            pwd.getpwnam(u)
        except KeyError:
            raise lib.TestSkip("no user %s on this system" % u)

    store = FullableStore(USERS)
    daemon = None
    pf = None
    ok_exit = False
    try:
        limit_flag = os.path.join(store.tmp, "store-full")
        if store.mounted:
            argv = [store.refimapctl, "-c", store.conf, "-d", store.data_dir,
                    "deliver"]
        else:
            # No tmpfs here: a wrapper puts a file size limit on refimapctl
            # while the flag file exists (SIGXFSZ ignored, so writes that
            # would grow a file past it fail with EFBIG).
            print("note: no tmpfs (%s); using a file size limit"
                  % store.mount_error)
            wrapper = os.path.join(store.bin, "deliver-limited")
            with open(wrapper, "w") as f:
                f.write("#!/bin/sh\n"
                        "if [ -e '%s' ]; then trap '' XFSZ; ulimit -f 1024; fi\n"
                        "exec '%s' -c '%s' -d '%s' deliver \"$@\"\n"
                        % (limit_flag, store.refimapctl, store.conf,
                           store.data_dir))
            os.chmod(wrapper, 0o755)
            argv = [wrapper]
        daemon = lib.Daemon(store).start()

        class Srv:
            port = daemon.port

        pf = Postfix(store.tmp, store, argv)
        pf.start()
        case_deliver(Srv, pf)
        case_unknown(Srv, pf)
        case_full(Srv, pf, store, limit_flag)
        check(not re.search(r"(fatal|panic):", pf.log()),
              "Postfix logged a fatal error:\n%s", lib.tail(pf.log()))
        rep = lib.sanitizer_report(pf.log())
        check(rep is None, "sanitizer report from refimapctl deliver:\n%s",
              rep)
        ok_exit = True
    finally:
        try:
            if pf is not None:
                try:
                    pf.stop()
                except lib.TestFailure:
                    if ok_exit:
                        raise
            if daemon is not None:
                try:
                    daemon.stop()
                except lib.TestFailure:
                    if ok_exit:
                        raise
                finally:
                    daemon.kill()
            if ok_exit:
                store.check_logs()
        finally:
            if not ok_exit:
                if pf is not None:
                    sys.stderr.write("--- postfix maillog ---\n%s\n"
                                     % lib.tail(pf.log(), 40))
                if daemon is not None:
                    sys.stderr.write("--- refimapd log ---\n%s\n"
                                     % lib.tail(lib.read_text(daemon.log), 40))
            store.cleanup()


if __name__ == "__main__":
    lib.main(run)
