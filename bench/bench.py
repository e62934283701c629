#!/usr/bin/env python3
"""bench.py: refimapd side by side with Dovecot, on one generated corpus.

Python 3 standard library only. Run through bench/run.sh or `make bench`:

    python3 bench/bench.py [-n N] [--reps R] [--seed S] [--no-dovecot]
                           [--imapbench-n M]

It builds a corpus of N varied messages in memory (plain text, multipart
with attachments of a few KB, a few large ones), starts refimapd and a
private loopback Dovecot on temporary stores and free ports, loads the same
messages into both through IMAP APPEND with fsync off, restarts both with
their durable defaults, runs the same phases against each, and prints a
table of both figures with their ratio refimapd/Dovecot. The client's own
CPU time (this process, all threads) and the server's CPU time (the server
process tree, from /proc) are reported next to every figure. The results
also go to bench/results/bench-<time>.json and bench/results/latest.json.

Then, unless --imapbench-n 0, the team's client (../shared/bench/
imapbench.py beside the project, or $IMAPBENCH) is run against both durable instances as a second,
independent measurement, and its table is printed too.

Dovecot needs root (its master binds and switches users); without root, or
without the dovecot binary, only refimapd is measured and every ratio is
n/a. Every process started here is stopped by its pid at the end.
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
IMAPBENCH = Path(os.environ.get("IMAPBENCH") or
                 ROOT.parent / "shared" / "bench" / "imapbench.py")
USER = "bench"
PASSWORD = "bench-secret-1"
SEARCH_WORD = "quarterly"
CLK_TCK = os.sysconf("SC_CLK_TCK")
RECV = 262144
LITERAL = re.compile(rb"\{(\d+)\}\r\n")


def note(msg):
    print("# " + msg, flush=True)


# ---------------------------------------------------------------------------
# A small IMAP client: raw socket, skips literals by length, counts bytes.

class IMAPError(Exception):
    pass


class Resp:
    __slots__ = ("status", "line", "nbytes", "litbytes", "data")

    def __init__(self, status, line, nbytes, litbytes, data):
        self.status = status        # b"OK", b"NO", b"BAD"
        self.line = line            # the tagged line
        self.nbytes = nbytes        # bytes of the whole response
        self.litbytes = litbytes    # bytes inside literals
        self.data = data            # the whole response, if kept

    @property
    def ok(self):
        return self.status == b"OK"

    def text(self):
        return self.line.decode("utf-8", "replace").strip()


class Conn:
    def __init__(self, port, timeout=120.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.ntag = 0
        self.greeting = self.readline()
        self.caps = set()

    def _fill(self):
        data = self.sock.recv(RECV)
        if not data:
            raise IMAPError("connection closed by the server")
        self.buf += data

    def readline(self):
        while True:
            nl = self.buf.find(b"\r\n")
            if nl >= 0:
                line = bytes(self.buf[:nl + 2])
                del self.buf[:nl + 2]
                return line
            self._fill()

    def send(self, data):
        self.sock.sendall(data)

    def newtag(self):
        self.ntag += 1
        return b"a%d" % self.ntag

    def cmd(self, text, keep=False):
        if isinstance(text, str):
            text = text.encode()
        tag = self.newtag()
        self.send(tag + b" " + text + b"\r\n")
        return self.response(tag, keep)

    def response(self, tag, keep=False):
        """Reads up to and including the tagged line of tag.

        The scan runs over whole received chunks with bytes.find and one
        regular expression, not line by line in Python: a 10,000-line
        FETCH response would otherwise cost the client more than the
        server. Literals are skipped by their length, so their contents
        are never taken for a tagged line or for another literal."""
        tagsp = tag + b" "
        nltag = b"\r\n" + tagsp
        buf = self.buf
        pos = 0             # where the scan resumes
        line0 = True        # pos is at the start of a line
        total = 0
        lit = 0
        kept = bytearray() if keep else None
        while True:
            # The next literal first: the tagged line is looked for only
            # before it, so each byte is scanned about once.
            m = LITERAL.search(buf, pos)
            lim = m.start() if m is not None else len(buf)
            if line0 and buf.startswith(tagsp, pos) and pos < lim:
                t = pos
            else:
                t = buf.find(nltag, pos, lim)
                if t >= 0:
                    t += 2
            if t >= 0:
                m = None
            if m is None and t >= 0:
                nl = buf.find(b"\r\n", t)
                if nl >= 0:
                    end = nl + 2
                    line = bytes(buf[t:end])
                    if keep:
                        kept += buf[:end]
                    total += end
                    del buf[:end]
                    st = line[len(tagsp):].split(b" ", 1)[0].upper()
                    return Resp(st, line, total, lit,
                                bytes(kept) if keep else None)
                pos, line0 = t, True        # the tagged line is not all here
            elif m is not None:
                n = int(m.group(1))
                lit += n
                pos, line0 = m.end() + n, False
                if pos <= len(buf):
                    continue
                need = pos - len(buf)
                if keep:
                    kept += buf
                total += len(buf)
                buf.clear()
                while need > 0:
                    data = self.sock.recv(RECV)
                    if not data:
                        raise IMAPError("connection closed")
                    take = min(need, len(data))
                    if keep:
                        kept += data[:take]
                    total += take
                    need -= take
                    if take < len(data):
                        buf += data[take:]
                pos = 0
                continue
            else:
                # Nothing complete: go on from the last line start, which
                # may hold the first half of a tag or a literal's length.
                last = buf.rfind(b"\r\n", pos)
                if last >= 0:
                    pos, line0 = last + 2, True
            if pos:
                if keep:
                    kept += buf[:pos]
                total += pos
                del buf[:pos]
                pos = 0
            self._fill()

    def login(self):
        r = self.cmd('LOGIN %s "%s"' % (USER, PASSWORD), keep=True)
        if not r.ok:
            raise IMAPError("LOGIN failed: " + r.text())
        m = re.search(rb"\[CAPABILITY ([^\]]*)\]", r.data)
        if not m:
            c = self.cmd("CAPABILITY", keep=True)
            m = re.search(rb"\* CAPABILITY ([^\r\n]*)", c.data)
        if m:
            self.caps = set(m.group(1).decode().upper().split())
        return self

    def close(self):
        try:
            self.cmd("LOGOUT")
        except (OSError, IMAPError):
            pass
        try:
            self.sock.close()
        except OSError:
            pass


def append_cmd(tag, mbox, msg):
    flags, date, body = msg
    return (b"%s APPEND %s (%s) \"%s\" {%d+}\r\n" % (
        tag, mbox.encode(), flags.encode(), date.encode(), len(body))
        + body + b"\r\n")


# ---------------------------------------------------------------------------
# The corpus: deterministic, varied, realistic enough.

WORDS = (
    "the of and to in is that for it as was with be by on not he this are or"
    " his from at which but have an they you were her she there one all we"
    " their can has more when will would if so no what up out about who get"
    " which go me meeting project report budget review draft schedule team"
    " customer invoice server release deadline update notes agenda minutes"
    " contract proposal design test results migration backup network office"
    " travel expense holiday training support ticket question answer thanks"
    " please attached see below regards tomorrow monday friday week month"
    " plan figures numbers summary status issue fix patch build deploy").split()
FIRST = ("Alice Bob Carol Dave Erin Frank Grace Heidi Ivan Judy Mallory Niaj"
         " Olivia Peggy Rupert Sybil Trent Victor Walter Yvonne").split()
LAST = ("Smith Jones Brown Miller Davis Garcia Wilson Moore Taylor Anderson"
        " Thomas Jackson White Harris Martin Thompson Young King").split()
DOMAINS = ("example.com example.org example.net mail.example.com"
           " corp.example").split()
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
DAYS = "Mon Tue Wed Thu Fri Sat Sun".split()


def person(rng):
    f, l = rng.choice(FIRST), rng.choice(LAST)
    return "%s %s <%s.%s@%s>" % (f, l, f.lower(), l.lower(),
                                rng.choice(DOMAINS))


def text_block(rng, nbytes, word=False):
    words = []
    size = 0
    while size < nbytes:
        w = rng.choice(WORDS)
        words.append(w)
        size += len(w) + 1
    if word:
        words.insert(rng.randrange(len(words)), SEARCH_WORD)
    lines, cur = [], []
    n = 0
    for w in words:
        if n + len(w) > 72 and cur:
            lines.append(" ".join(cur))
            cur, n = [], 0
        cur.append(w)
        n += len(w) + 1
    if cur:
        lines.append(" ".join(cur))
    return "\r\n".join(lines) + "\r\n"


def b64_block(rng, nbytes):
    import base64
    data = base64.b64encode(rng.randbytes(nbytes))
    return b"\r\n".join(data[i:i + 76]
                        for i in range(0, len(data), 76)) + b"\r\n"


def make_message(rng, i):
    """(flags, internaldate, bytes) of message i."""
    t = 1704067200 + rng.randrange(365 * 86400)
    tm = time.gmtime(t)
    date_hdr = "%s, %d %s %d %02d:%02d:%02d +0000" % (
        DAYS[tm.tm_wday], tm.tm_mday, MONTHS[tm.tm_mon - 1], tm.tm_year,
        tm.tm_hour, tm.tm_min, tm.tm_sec)
    idate = "%02d-%s-%d %02d:%02d:%02d +0000" % (
        tm.tm_mday, MONTHS[tm.tm_mon - 1], tm.tm_year,
        tm.tm_hour, tm.tm_min, tm.tm_sec)
    subj = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8)))
    if rng.random() < 0.03:
        subj += " " + SEARCH_WORD
    if rng.random() < 0.3:
        subj = "Re: " + subj
    hdr = [
        "Return-Path: <bounce-%d@%s>" % (i, rng.choice(DOMAINS)),
        "Received: from mx%d.example.net (mx%d.example.net [192.0.2.%d])\r\n"
        "\tby mail.example.com with ESMTPS id %08x; %s" % (
            i % 7, i % 7, i % 250 + 1, rng.getrandbits(32), date_hdr),
        "Message-ID: <%d.%08x@%s>" % (i, rng.getrandbits(32),
                                      rng.choice(DOMAINS)),
        "Date: " + date_hdr,
        "From: " + person(rng),
        "To: " + ", ".join(person(rng) for _ in range(rng.randint(1, 3))),
    ]
    if rng.random() < 0.3:
        hdr.append("Cc: " + person(rng))
    hdr.append("Subject: " + subj)
    if subj.startswith("Re:"):
        hdr.append("In-Reply-To: <%d.ref@example.com>" % rng.randrange(i + 1))
    hdr.append("X-Mailer: bench-corpus 1.0")
    hdr.append("MIME-Version: 1.0")
    inbody = rng.random() < 0.03
    r = rng.random()
    if r < 0.60:
        kind = "plain"
    elif r < 0.75:
        kind = "alternative"
    elif r < 0.995:
        kind = "attachment"
    else:
        kind = "large"
    if kind == "plain":
        hdr.append("Content-Type: text/plain; charset=us-ascii")
        body = text_block(rng, rng.randint(300, 4000), inbody).encode()
    else:
        bnd = "=_bench_%d_%08x" % (i, rng.getrandbits(32))
        sub = "alternative" if kind == "alternative" else "mixed"
        hdr.append('Content-Type: multipart/%s; boundary="%s"' % (sub, bnd))
        txt = text_block(rng, rng.randint(300, 3000), inbody)
        parts = [("Content-Type: text/plain; charset=us-ascii\r\n"
                  "Content-Transfer-Encoding: 7bit\r\n\r\n" + txt).encode()]
        if kind == "alternative":
            html = "<html><body><p>%s</p></body></html>\r\n" % (
                txt.replace("\r\n", "<br>\r\n"))
            parts.append(("Content-Type: text/html; charset=us-ascii\r\n"
                          "Content-Transfer-Encoding: 7bit\r\n\r\n"
                          + html).encode())
        else:
            n = (rng.randint(1, 8) * 1024 if kind == "attachment"
                 else rng.randint(200, 800) * 1024)
            ext, ctype = rng.choice([("pdf", "application/pdf"),
                                     ("png", "image/png"),
                                     ("zip", "application/zip")])
            parts.append(("Content-Type: %s; name=\"file%d.%s\"\r\n"
                          "Content-Transfer-Encoding: base64\r\n"
                          "Content-Disposition: attachment; "
                          "filename=\"file%d.%s\"\r\n\r\n"
                          % (ctype, i, ext, i, ext)).encode()
                         + b64_block(rng, n))
        body = b"This is a multi-part message in MIME format.\r\n"
        for p in parts:
            body += b"\r\n--" + bnd.encode() + b"\r\n" + p
        body += b"\r\n--" + bnd.encode() + b"--\r\n"
    msg = ("\r\n".join(hdr) + "\r\n\r\n").encode() + body
    flags = []
    if rng.random() < 0.7:
        flags.append("\\Seen")
    if rng.random() < 0.05:
        flags.append("\\Flagged")
    if rng.random() < 0.02:
        flags.append("\\Answered")
    return (" ".join(flags), idate, msg)


def make_corpus(n, seed):
    rng = random.Random(seed)
    return [make_message(rng, i) for i in range(n)]


# ---------------------------------------------------------------------------
# Processes: /proc helpers.

def children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def descendants(pid):
    kids = children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in kids.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def proc_cpu(pid):
    """utime+stime+cutime+cstime of pid, seconds (0 if gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            f2 = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in f2[11:15]) / CLK_TCK


def tree_cpu(pid):
    """CPU of a server: its tree, reaped children included (cutime)."""
    if not pid:
        return 0.0
    return proc_cpu(pid) + sum(proc_cpu(p) for p in descendants(pid))


def tree_sched(pid):
    """(on-CPU ms, run-queue wait ms) of the live process tree of pid, from
    /proc/PID/schedstat (nanoseconds): the server's own cost of a command,
    and how long it was kept off the CPU by other work on the machine."""
    if not pid:
        return 0.0, 0.0
    on = wait = 0
    for p in [pid] + descendants(pid):
        try:
            with open("/proc/%d/schedstat" % p) as f:
                a = f.read().split()
        except OSError:
            continue
        on += int(a[0])
        wait += int(a[1])
    return on / 1e6, wait / 1e6


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def pss_kb(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, secs):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def wait_gone(pid, secs):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


# ---------------------------------------------------------------------------
# The two servers.

class Refimapd:
    name = "refimapd"

    def __init__(self, tmp, build):
        self.dir = os.path.join(tmp, "refimapd")
        self.data = os.path.join(self.dir, "data")
        self.conf = os.path.join(self.dir, "refimapd.conf")
        self.log = os.path.join(self.dir, "refimapd.log")
        self.bin = os.path.join(build, "refimapd")
        self.ctl = os.path.join(build, "refimapctl")
        self.proc = None
        self.port = None
        self.pid = None
        self.session_comm = None     # every new child is a session
        os.makedirs(self.dir)
        # Private copies: a rebuild during the run must not change them.
        for b in ("bin", "ctl"):
            dst = os.path.join(self.dir, os.path.basename(getattr(self, b)))
            shutil.copy2(getattr(self, b), dst)
            setattr(self, b, dst)
        subprocess.run([self.ctl, "-d", self.data, "init"], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([self.ctl, "-d", self.data, "user", "add", USER],
                       input=(PASSWORD + "\n").encode(), check=True,
                       stdout=subprocess.DEVNULL)
        with open(os.path.join(self.data, "passwd")) as f:
            for line in f:
                if line.startswith(USER + ":"):
                    self.hash = line.split(":", 2)[1].strip()

    def describe(self, durable):
        return "refimapd, fsync = %s" % ("yes" if durable else "no")

    def config_text(self, durable):
        return ("# written by bench/bench.py\n"
                "data_dir = %s\nfsync = %s\nmax_sessions = 1000\n"
                "max_sessions_per_ip = 1000\nlog_level = notice\n"
                "literal_max = 67108864\n%s"
                % (self.data, "yes" if durable else "no",
                   # refimapd refuses root unless told (a bench run as
                   # root on a private store)
                   "allow_root = yes\n" if os.geteuid() == 0 else ""))

    def start(self, durable, profile="default", wait=30):
        with open(self.conf, "w") as f:
            f.write(self.config_text(durable))
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [self.bin, "-c", self.conf, "-f", "-l", "127.0.0.1", "-p", "0",
             ], stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        logf.close()
        self.pid = self.proc.pid
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with open(self.log, "rb") as f:
                m = re.findall(rb"listening on 127\.0\.0\.1 port (\d+)",
                               f.read())
            if m:
                self.port = int(m[-1])
                if wait_port(self.port, 5):
                    return
            if self.proc.poll() is not None:
                raise RuntimeError("refimapd exited %d; see %s"
                                   % (self.proc.returncode, self.log))
            time.sleep(0.05)
        raise RuntimeError("refimapd did not start; see %s" % self.log)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                note("refimapd pid %d did not stop after SIGTERM: SIGKILL"
                     % self.proc.pid)
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.pid = None


class Dovecot:
    name = "Dovecot"

    def __init__(self, tmp, hashed, mail="maildir"):
        self.mail = mail
        self.dir = os.path.join(tmp, "dovecot")
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self.pid = None
        self.port = None
        self.session_comm = "imap"
        os.makedirs(os.path.join(self.dir, "mail"))
        os.makedirs(os.path.join(self.dir, "run"))
        os.makedirs(os.path.join(self.dir, "state"))
        # The mail processes run as nobody; the auth process as dovecot.
        os.chmod(tmp, 0o755)
        os.chmod(self.dir, 0o755)
        os.chown(os.path.join(self.dir, "mail"), 65534, 65534)
        users = os.path.join(self.dir, "users")
        with open(users, "w") as f:
            f.write("%s:{CRYPT}%s::::::\n" % (USER, hashed))
        os.chmod(users, 0o644)
        self.version = subprocess.run(
            ["dovecot", "--version"], stdout=subprocess.PIPE,
            text=True).stdout.strip()

    def describe(self, durable, profile="default"):
        return ("Dovecot %s, mail_location %s, mail_fsync = %s, %s process"
                " profile" % (self.version, self.mail, "optimized" if durable
                              else "never", profile))

    def start(self, durable, profile="default"):
        self.port = free_port()
        tpl = (BENCH / "dovecot" / "dovecot.conf.in").read_text()
        extra = ""
        if profile == "performance":
            extra = (BENCH / "dovecot" / "performance.conf.in").read_text()
            extra = extra.replace("@NCPU@", str(os.cpu_count() or 1))
        conf = (tpl.replace("@DIR@", self.dir)
                .replace("@PORT@", str(self.port))
                .replace("@UID@", "65534").replace("@GID@", "65534")
                .replace("@MAIL@", self.mail)
                .replace("@FSYNC@", "optimized" if durable else "never")
                .replace("@PROFILE@", extra))
        with open(self.conf, "w") as f:
            f.write(conf)
        pidfile = os.path.join(self.dir, "run", "master.pid")
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        # The master daemonizes; its children keep stdout open, so the
        # output goes to a file, not a pipe.
        start_log = os.path.join(self.dir, "start.log")
        with open(start_log, "ab") as out:
            r = subprocess.run(["dovecot", "-c", self.conf],
                               stdin=subprocess.DEVNULL, stdout=out,
                               stderr=out, timeout=30)
        if r.returncode != 0:
            with open(start_log) as f:
                raise RuntimeError("dovecot failed to start: %s" % f.read())
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with open(pidfile) as f:
                    self.pid = int(f.read().strip())
                break
            except (OSError, ValueError):
                time.sleep(0.05)
        if not self.pid or not wait_port(self.port, 10):
            raise RuntimeError("dovecot did not start; see %s/dovecot.log"
                               % self.dir)
        if profile == "performance":
            time.sleep(0.5)      # let it pre-fork process_min_avail

    def stop(self):
        if not self.pid:
            return
        if comm(self.pid) == "dovecot":
            os.kill(self.pid, signal.SIGTERM)
            if not wait_gone(self.pid, 15):
                note("dovecot pid %d did not stop: SIGKILL" % self.pid)
                os.kill(self.pid, signal.SIGKILL)
                wait_gone(self.pid, 5)
        self.pid = None


# ---------------------------------------------------------------------------
# Phases. Each returns a dict: value (None = n/a), unit, and extras.

class Runner:
    def __init__(self, srv, corpus, args):
        self.srv = srv
        self.corpus = corpus
        self.args = args
        self.res = {}

    def record(self, key, fn, settle=True):
        """Runs fn, timing client and server CPU around it."""
        c0 = time.process_time()
        base = set(descendants(self.srv.pid))
        s0 = tree_cpu(self.srv.pid)
        w0 = time.perf_counter()
        try:
            r = fn()
        except (OSError, IMAPError) as e:
            r = {"value": None, "why": "error: %s" % e}
        r["wall_s"] = round(time.perf_counter() - w0, 3)
        r["client_cpu_s"] = round(time.process_time() - c0, 3)
        # Session processes that are still exiting: wait (bounded) until
        # they are reaped, so that their CPU time is counted.
        deadline = time.monotonic() + 2
        while (settle and time.monotonic() < deadline and
               set(descendants(self.srv.pid)) - base):
            time.sleep(0.05)
        r["server_cpu_s"] = round(tree_cpu(self.srv.pid) - s0, 3)
        self.res[key] = r
        v = r.get("value")
        note("%-9s %-22s %s %s  (client cpu %.2f s, server cpu %.2f s)%s"
             % (self.srv.name, key, "n/a" if v is None else fmt(v),
                r.get("unit", ""), r["client_cpu_s"], r["server_cpu_s"],
                "  " + r["why"] if r.get("why") else ""))
        return r

    def conn(self):
        return Conn(self.srv.port).login()

    def timed_cmd(self, c, text, reps, pre=None):
        """Median wall ms of text over reps (one warm-up run first).
        Per-run client/server CPU are averaged."""
        if pre:
            pre()
        t0 = time.perf_counter()
        r = c.cmd(text)
        first = (time.perf_counter() - t0) * 1000
        if not r.ok:
            return None, r
        times, ccpu, scpu, son, swait = [], [], [], [], []
        for _ in range(reps):
            if pre:
                pre()
            c0 = time.process_time()
            s0 = tree_cpu(self.srv.pid)
            q0 = tree_sched(self.srv.pid)
            t0 = time.perf_counter()
            r = c.cmd(text)
            times.append((time.perf_counter() - t0) * 1000)
            q1 = tree_sched(self.srv.pid)
            ccpu.append(time.process_time() - c0)
            scpu.append(tree_cpu(self.srv.pid) - s0)
            son.append(q1[0] - q0[0])
            swait.append(q1[1] - q0[1])
            if not r.ok:
                return None, r
        return {"value": round(statistics.median(times), 2), "unit": "ms",
                "min_ms": round(min(times), 2),
                "first_ms": round(first, 2),
                "runs_ms": [round(t, 2) for t in times],
                "client_cpu_per_run_s": round(statistics.mean(ccpu), 4),
                "server_oncpu_ms": round(statistics.median(son), 2),
                "server_runq_wait_ms": round(statistics.median(swait), 2),
                "server_cpu_per_run_s": round(statistics.mean(scpu), 4),
                "bytes": r.nbytes, "literal_bytes": r.litbytes}, r

    # -- loading (fsync off) ------------------------------------------------
    def load(self):
        c = self.conn()
        n = 0
        batch = 64
        t0 = time.perf_counter()
        for i in range(0, len(self.corpus), batch):
            tags = []
            out = []
            for m in self.corpus[i:i + batch]:
                tag = c.newtag()
                tags.append(tag)
                out.append(append_cmd(tag, "INBOX", m))
            c.send(b"".join(out))
            for tag in tags:
                r = c.response(tag)
                if not r.ok:
                    raise IMAPError("APPEND failed: " + r.text())
                n += 1
        dt = time.perf_counter() - t0
        c.close()
        return {"value": round(n / dt, 1), "unit": "msg/s", "messages": n}

    # -- read phases ---------------------------------------------------------
    def read_phases(self):
        """A generator: yields after each phase, so that the two servers'
        phases can be interleaved."""
        reps = self.args.reps
        c = self.conn()
        self.caps = c.caps
        sel = {}

        def select():
            d, r = self.timed_cmd(c, "SELECT INBOX", reps)
            if d is None:
                return {"value": None, "why": r.text()}
            r = c.cmd("SELECT INBOX", keep=True)
            m = re.search(rb"\* (\d+) EXISTS", r.data)
            sel["exists"] = int(m.group(1)) if m else None
            d["exists"] = sel["exists"]
            return d
        self.record("select", select)
        yield

        def one(text, check=None):
            def fn():
                d, r = self.timed_cmd(c, text, reps)
                if d is None:
                    return {"value": None, "unit": "ms", "why": r.text()}
                if check:
                    check(d)
                return d
            return fn

        self.record("fetch_flags", one("UID FETCH 1:* (UID FLAGS)"))
        yield
        self.record("fetch_envelope", one("FETCH 1:* (ENVELOPE)"))
        yield
        self.record("fetch_bodystructure", one("FETCH 1:* (BODYSTRUCTURE)"))
        yield

        def mbs(d):
            d["MB_per_s"] = round(d["literal_bytes"] / 1e6
                                  / (d["value"] / 1000), 1)
        self.record("fetch_body", one("FETCH 1:* BODY.PEEK[]", mbs))
        yield

        def hits(text):
            def fn():
                d, r = self.timed_cmd(c, text, reps)
                if d is None:
                    return {"value": None, "unit": "ms", "why": r.text()}
                r = c.cmd(text, keep=True)
                m = re.search(rb"\* SEARCH([ 0-9]*)\r\n", r.data)
                d["hits"] = len(m.group(1).split()) if m else None
                return d
            return fn
        self.record("search_header",
                    hits("UID SEARCH HEADER Subject %s" % SEARCH_WORD))
        yield
        self.record("search_body", hits("UID SEARCH BODY %s" % SEARCH_WORD))
        yield
        self.record("search_unseen", hits("UID SEARCH UNSEEN"))
        yield

        r = c.cmd("UID SEARCH ALL", keep=True)
        m = re.search(rb"\* SEARCH([ 0-9]*)\r\n", r.data)
        self.uids = [int(x) for x in m.group(1).split()] if m else []

        def store():
            uids = self.uids[:self.args.stores]
            t0 = time.perf_counter()
            for u in uids:
                r = c.cmd("UID STORE %d +FLAGS (\\Flagged)" % u)
                if not r.ok:
                    return {"value": None, "unit": "op/s", "why": r.text()}
            dt = time.perf_counter() - t0
            return {"value": round(len(uids) / dt, 1), "unit": "op/s",
                    "ops": len(uids)}
        self.record("store_rt", store)
        yield
        c.close()

    def phases(self):
        """Every durable phase, yielding between them."""
        yield from self.read_phases()
        self.qresync()
        yield
        self.append_rate("append_1", 1, self.args.append_secs, "durable1")
        yield
        self.append_rate("append_8", 8, self.args.append_secs, "durable8")
        yield
        self.memory(self.args.mem_sessions)
        yield
        self.login_rate("login_1", 1, self.args.login_secs)
        yield
        self.login_rate("login_4", 4, self.args.login_secs)
        yield

    # -- QRESYNC -------------------------------------------------------------
    def qresync(self):
        def fn():
            c = self.conn()
            if "QRESYNC" not in c.caps:
                c.close()
                return {"value": None, "unit": "bytes",
                        "why": "QRESYNC not advertised"}
            c.cmd("ENABLE QRESYNC")
            r = c.cmd("SELECT INBOX", keep=True)
            uv = re.search(rb"UIDVALIDITY (\d+)", r.data)
            hm = re.search(rb"HIGHESTMODSEQ (\d+)", r.data)
            if not (uv and hm):
                c.close()
                return {"value": None, "unit": "bytes",
                        "why": "no UIDVALIDITY/HIGHESTMODSEQ"}
            step = 100
            changed = self.uids[::step]
            r = c.cmd("UID STORE %s +FLAGS.SILENT (\\Answered)"
                      % ",".join(str(u) for u in changed))
            c.close()
            c = self.conn()
            c.cmd("ENABLE QRESYNC")
            t0 = time.perf_counter()
            r = c.cmd("SELECT INBOX (QRESYNC (%s %s))"
                      % (uv.group(1).decode(), hm.group(1).decode()),
                      keep=True)
            ms = (time.perf_counter() - t0) * 1000
            c.close()
            if not r.ok:
                return {"value": None, "unit": "bytes", "why": r.text()}
            c = self.conn()
            t0 = time.perf_counter()
            r1 = c.cmd("SELECT INBOX")
            r2 = c.cmd("UID FETCH 1:* (FLAGS)")
            cms = (time.perf_counter() - t0) * 1000
            c.close()
            return {"value": r.nbytes, "unit": "bytes", "ms": round(ms, 2),
                    "changed": len(changed),
                    "fetched": r.data.count(b" FETCH "),
                    "classic_bytes": r1.nbytes + r2.nbytes,
                    "classic_ms": round(cms, 2)}
        self.record("qresync", fn)

    # -- durable APPEND ------------------------------------------------------
    def append_rate(self, key, nclients, secs, mbox):
        def fn():
            c = self.conn()
            c.cmd("CREATE %s" % mbox)
            c.close()
            conns = [self.conn() for _ in range(nclients)]
            counts = [0] * nclients
            errors = []
            lat = [[] for _ in range(nclients)]
            start = threading.Event()
            deadline = [0.0]

            def worker(k):
                cc = conns[k]
                i = k * 997
                start.wait()
                while time.perf_counter() < deadline[0]:
                    m = self.corpus[i % len(self.corpus)]
                    i += 1
                    tag = cc.newtag()
                    t0 = time.perf_counter()
                    cc.send(append_cmd(tag, mbox, m))
                    r = cc.response(tag)
                    lat[k].append(time.perf_counter() - t0)
                    if not r.ok:
                        errors.append(r.text())
                        return
                    counts[k] += 1
            ths = [threading.Thread(target=worker, args=(k,))
                   for k in range(nclients)]
            for t in ths:
                t.start()
            t0 = time.perf_counter()
            deadline[0] = t0 + secs
            start.set()
            for t in ths:
                t.join()
            dt = time.perf_counter() - t0
            for cc in conns:
                cc.close()
            if errors:
                return {"value": None, "unit": "msg/s", "why": errors[0]}
            alll = sorted(x for l in lat for x in l)
            return {"value": round(sum(counts) / dt, 1), "unit": "msg/s",
                    "messages": sum(counts), "clients": nclients,
                    "median_latency_ms":
                        round(alll[len(alll) // 2] * 1000, 2) if alll else None}
        self.record(key, fn)

    # -- logins --------------------------------------------------------------
    def login_rate(self, key, nclients, secs):
        def fn():
            counts = [0] * nclients
            errors = []
            start = threading.Event()
            deadline = [0.0]
            login = ('LOGIN %s "%s"' % (USER, PASSWORD)).encode()

            def worker(k):
                start.wait()
                while time.perf_counter() < deadline[0]:
                    try:
                        s = socket.create_connection(
                            ("127.0.0.1", self.srv.port), 30)
                        s.setsockopt(socket.IPPROTO_TCP,
                                     socket.TCP_NODELAY, 1)
                        cc = Conn.__new__(Conn)
                        cc.sock, cc.buf, cc.ntag = s, bytearray(), 0
                        cc.readline()
                        tag = cc.newtag()
                        cc.send(tag + b" " + login + b"\r\n")
                        r = cc.response(tag)
                        if not r.ok:
                            errors.append(r.text())
                            s.close()
                            return
                        tag = cc.newtag()
                        cc.send(tag + b" LOGOUT\r\n")
                        cc.response(tag)
                        s.close()
                        counts[k] += 1
                    except (OSError, IMAPError) as e:
                        errors.append(str(e))
                        return
            ths = [threading.Thread(target=worker, args=(k,))
                   for k in range(nclients)]
            for t in ths:
                t.start()
            t0 = time.perf_counter()
            deadline[0] = t0 + secs
            start.set()
            for t in ths:
                t.join()
            dt = time.perf_counter() - t0
            if errors and not sum(counts):
                return {"value": None, "unit": "login/s", "why": errors[0]}
            d = {"value": round(sum(counts) / dt, 1), "unit": "login/s",
                 "logins": sum(counts), "clients": nclients}
            if errors:
                d["errors"] = len(errors)
                d["first_error"] = errors[0]
            return d
        return self.record(key, fn)

    # -- memory --------------------------------------------------------------
    def memory(self, nsess):
        out = {}

        def sessions(before):
            pids = [p for p in descendants(self.srv.pid) if p not in before]
            if self.srv.session_comm:
                pids = [p for p in pids if comm(p) == self.srv.session_comm]
            return pids

        def measure(pids):
            vals = [pss_kb(p) for p in pids]
            vals = [v for v in vals if v is not None]
            return vals

        def fn_idle():
            before = set(descendants(self.srv.pid))
            conns = [self.conn() for _ in range(nsess)]
            time.sleep(0.5)
            pids = sessions(before)
            vals = measure(pids)
            out["conns"] = conns
            out["pids"] = pids
            if not vals:
                return {"value": None, "unit": "KiB", "why": "no session "
                        "processes found"}
            return {"value": round(sum(vals) / nsess, 1), "unit": "KiB",
                    "sessions": nsess, "processes": len(vals),
                    "pss_sum_kb": sum(vals)}

        def fn_sel():
            conns = out.get("conns") or []
            if not conns:
                return {"value": None, "unit": "KiB", "why": "no sessions"}
            for cc in conns:
                cc.cmd("SELECT INBOX")
            time.sleep(0.5)
            vals = measure(out["pids"])
            for cc in conns:
                cc.close()
            if not vals:
                return {"value": None, "unit": "KiB", "why": "no processes"}
            return {"value": round(sum(vals) / nsess, 1), "unit": "KiB",
                    "sessions": nsess, "processes": len(vals),
                    "pss_sum_kb": sum(vals)}
        self.record("mem_idle", fn_idle, settle=False)
        self.record("mem_selected", fn_sel)


# ---------------------------------------------------------------------------
# Output.

def fmt(v):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return "%.1f" % v if abs(v) >= 100 else "%.2f" % v
    return str(v)


ROWS = [
    ("load", "load: APPEND pipelined, fsync off", "msg/s", "high"),
    ("select", "SELECT INBOX", "ms", "low"),
    ("fetch_flags", "UID FETCH 1:* (UID FLAGS)", "ms", "low"),
    ("fetch_envelope", "FETCH 1:* (ENVELOPE)", "ms", "low"),
    ("fetch_bodystructure", "FETCH 1:* (BODYSTRUCTURE)", "ms", "low"),
    ("fetch_body", "FETCH 1:* BODY.PEEK[]", "ms", "low"),
    ("search_header", "UID SEARCH HEADER Subject x", "ms", "low"),
    ("search_body", "UID SEARCH BODY x", "ms", "low"),
    ("search_unseen", "UID SEARCH UNSEEN", "ms", "low"),
    ("store_rt", "UID STORE +FLAGS, 1 at a time", "op/s", "high"),
    ("qresync", "QRESYNC resync after 1% changes", "bytes", "low"),
    ("append_1", "durable APPEND, 1 client", "msg/s", "high"),
    ("append_8", "durable APPEND, 8 clients", "msg/s", "high"),
    ("login_1", "LOGIN+LOGOUT, 1 client", "login/s", "high"),
    ("login_4", "LOGIN+LOGOUT, 4 clients", "login/s", "high"),
    ("login_1_perf", "  Dovecot performance profile, 1", "login/s", "high"),
    ("login_4_perf", "  Dovecot performance profile, 4", "login/s", "high"),
    ("mem_idle", "PSS per idle session", "KiB", "low"),
    ("mem_selected", "PSS per selected session", "KiB", "low"),
]


def ratio(a, b):
    if a is None or b is None or not b:
        return None
    return a / b


def print_table(results, has_dovecot):
    r, d = results.get("refimapd", {}), results.get("Dovecot", {})
    hdr = ("%-34s %-7s %9s %9s %6s %-7s %13s %17s" % (
        "phase", "unit", "refimapd", "Dovecot", "r/D", "verdict",
        "client cpu r/D", "server on-cpu r/D"))
    print()
    print(hdr)
    print("-" * len(hdr))
    for key, label, unit, better in ROWS:
        rv = r.get(key, {}).get("value")
        dkey = key
        if key.endswith("_perf") and key not in r:
            rv = r.get(key[:-5], {}).get("value")
        dv = d.get(dkey, {}).get("value")
        if key not in r and key not in d and not key.endswith("_perf"):
            continue
        if key.endswith("_perf") and dkey not in d:
            continue
        q = ratio(rv, dv)
        verdict = ""
        if q is not None:
            good = q <= 1.0 if better == "low" else q >= 1.0
            if 0.9 <= q <= 1.1:
                verdict = "par"
            else:
                verdict = "better" if good else "WORSE"
        rc = r.get(key[:-5] if key.endswith("_perf") and key not in r
                   else key, {})
        dc = d.get(dkey, {})
        cpu = "%s/%s" % (fmt(rc.get("client_cpu_s")),
                         fmt(dc.get("client_cpu_s")) if has_dovecot else "-")
        son = ""
        if "server_oncpu_ms" in rc or "server_oncpu_ms" in dc:
            son = "%s/%s ms" % (fmt(rc.get("server_oncpu_ms")),
                                fmt(dc.get("server_oncpu_ms")))
        print("%-34s %-7s %9s %9s %6s %-7s %13s %17s" % (
            label[:34], unit, fmt(rv), fmt(dv) if has_dovecot else "-",
            "n/a" if q is None else "%.2f" % q, verdict, cpu, son))
    print()
    print("r/D = refimapd / Dovecot (ms, bytes, KiB: lower is better; "
          "rates: higher is better); verdict par = within 10%.\n"
          "client cpu: seconds of this client's CPU for the whole phase "
          "(all reps). server on-cpu: median per run of the server\n"
          "tree's time on a CPU (/proc/PID/schedstat), which other load "
          "on the machine does not inflate as it does wall time.")
    for key in ("select", "fetch_flags", "fetch_body", "search_header",
                "search_body",
                "search_unseen", "qresync"):
        line = []
        for s in ("refimapd", "Dovecot"):
            x = results.get(s, {}).get(key)
            if not x:
                continue
            extra = {k: x[k] for k in ("hits", "first_ms", "min_ms",
                                       "server_runq_wait_ms",
                                       "literal_bytes", "MB_per_s",
                                       "classic_bytes", "fetched",
                                       "changed", "why") if k in x}
            line.append("%s %s" % (s, extra))
        if line:
            print("  %-14s %s" % (key, "; ".join(line)))


def print_imapbench(ib):
    r, d = ib.get("refimapd"), ib.get("Dovecot")
    if not r:
        return
    rr = r.get("results", {})
    dd = (d or {}).get("results", {})
    keys = list(rr.keys()) + [k for k in dd if k not in rr]
    hdr = "%-34s %-8s %12s %12s %7s" % ("imapbench phase", "unit",
                                        "refimapd", "Dovecot", "r/D")
    print()
    print(hdr)
    print("-" * len(hdr))
    for k in keys:
        a, b = rr.get(k, {}), dd.get(k, {})
        av, bv = a.get("value"), b.get("value")
        num = (isinstance(av, (int, float)) or av is None) and \
            (isinstance(bv, (int, float)) or bv is None)
        if not num:
            continue
        q = ratio(av, bv)
        print("%-34s %-8s %12s %12s %7s" % (
            k[:34], (a.get("unit") or b.get("unit") or "")[:8], fmt(av),
            fmt(bv), "n/a" if q is None else "%.2f" % q))
    for s, x in (("refimapd", r), ("Dovecot", d)):
        if x and x.get("errors"):
            print("  imapbench errors against %s: %s" % (
                s, "; ".join("%s: %s" % (k, str(v)[:100])
                             for k, v in list(x["errors"].items())[:6])))


def run_imapbench(srv, args, outdir, stamp):
    if args.imapbench_n <= 0 or not IMAPBENCH.exists():
        return None
    jf = os.path.join(outdir, "imapbench-%s-%s.json" % (srv.name, stamp))
    cmd = [sys.executable, str(IMAPBENCH), "--port", str(srv.port),
           "--user", USER, "--password", PASSWORD, "--messages",
           str(args.imapbench_n), "--reps", "3", "--secs", "4",
           "--login-secs", "3", "--server-pid", str(srv.pid),
           "--store-count", "1000", "--phase-timeout", "90",
           "--timeout", "60", "--json-out", jf]
    note("imapbench against %s: %s" % (srv.name, " ".join(cmd[1:])))
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True,
                           timeout=args.imapbench_timeout)
        out = p.stdout
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"")
        if isinstance(out, bytes):
            out = out.decode("utf-8", "replace")
        note("imapbench against %s timed out after %d s"
             % (srv.name, args.imapbench_timeout))
    lines = out.splitlines()
    for line in lines:
        if not line.startswith("{"):
            print("  [imapbench %s] %s" % (srv.name, line), flush=True)
    try:
        with open(jf) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------------------

def run_all(servers, corpus, args, info, results, ib, outdir, stamp):
    """Loads each server with fsync off and restarts it durable; then runs
    the phases against both, interleaved phase by phase (refimapd, Dovecot,
    refimapd, ...), so that load from elsewhere on the machine falls on
    both alike; then the team's client against each; last, Dovecot's
    performance profile for logins."""
    runs = []
    for srv in servers:
        run = Runner(srv, corpus, args)
        results[srv.name] = run.res
        try:
            srv.start(durable=False)
            info[srv.name] = {"load": srv.describe(False)}
            run.record("load", run.load)
            srv.stop()
            srv.start(durable=True)
        except (OSError, IMAPError, RuntimeError,
                subprocess.SubprocessError) as e:
            note("%s: not measured: %s" % (srv.name, e))
            srv.stop()
            continue
        info[srv.name]["measured"] = srv.describe(True)
        note("%s: %s on port %d, pid %d" % (srv.name,
             srv.describe(True), srv.port, srv.pid))
        runs.append(run)
    gens = [(run, run.phases()) for run in runs]
    while gens:
        for run, g in list(gens):
            try:
                next(g)
            except StopIteration:
                gens.remove((run, g))
            except (OSError, IMAPError, RuntimeError) as e:
                note("%s: phases stopped: %s" % (run.srv.name, e))
                gens.remove((run, g))
    for run in runs:
        ib[run.srv.name] = run_imapbench(run.srv, args, outdir, stamp)
    perf = []
    for run in runs:
        srv = run.srv
        if isinstance(srv, Dovecot):
            srv.stop()
            srv.start(durable=True, profile="performance")
            info[srv.name]["logins_perf"] = srv.describe(
                True, "performance")
        perf.append(run)
    # Logins against Dovecot's performance profile, with refimapd measured
    # again in the same minutes: the two alternate in short slices, so
    # that load from elsewhere falls on both alike.
    if any(isinstance(run.srv, Dovecot) for run in perf):
        for key, nclients in (("login_1_perf", 1), ("login_4_perf", 4)):
            login_slices(perf, key, nclients, args.login_secs, 3)
    for srv in servers:
        srv.stop()


def login_slices(runs, key, nclients, secs, rounds):
    """Runs each server's login_rate in rounds of secs / rounds seconds,
    alternating between servers, and records their sum under key."""
    parts = {run: [] for run in runs}
    for _ in range(rounds):
        for run in runs:
            parts[run].append(run.login_rate(key, nclients, secs / rounds))
    for run, rs in parts.items():
        ok = [r for r in rs if r.get("value") is not None]
        if not ok:
            run.res[key] = rs[-1]
            continue
        logins = sum(r["logins"] for r in ok)
        wall = sum(r["logins"] / r["value"] for r in ok)
        run.res[key] = {
            "value": round(logins / wall, 1), "unit": "login/s",
            "logins": logins, "clients": nclients, "slices": len(ok),
            "slice_rates": [r["value"] for r in ok],
            "client_cpu_s": round(sum(r["client_cpu_s"] for r in rs), 3),
            "server_cpu_s": round(sum(r["server_cpu_s"] for r in rs), 3)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-n", "--messages", type=int,
                   default=int(os.environ.get("N") or 10000))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--stores", type=int, default=1000)
    p.add_argument("--append-secs", type=float, default=5.0)
    p.add_argument("--login-secs", type=float, default=3.0)
    p.add_argument("--mem-sessions", type=int, default=20)
    p.add_argument("--build", default=str(ROOT / "build"))
    p.add_argument("--no-dovecot", action="store_true")
    p.add_argument("--dovecot-mail", default="maildir",
                   choices=("maildir", "sdbox", "mdbox"),
                   help="Dovecot's mailbox format (default maildir)")
    p.add_argument("--imapbench-n", type=int, default=int(
        os.environ.get("IMAPBENCH_N") or 2000))
    p.add_argument("--imapbench-timeout", type=int, default=150)
    p.add_argument("--keep", action="store_true",
                   help="keep the temporary stores")
    args = p.parse_args()

    # SIGTERM (run.sh's timeout) unwinds like Ctrl-C: servers are stopped.
    signal.signal(signal.SIGTERM, lambda sig, frm: sys.exit(143))
    t_start = time.monotonic()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    outdir = str(BENCH / "results")
    os.makedirs(outdir, exist_ok=True)
    use_dovecot = not args.no_dovecot
    if use_dovecot and os.geteuid() != 0:
        note("not root: Dovecot is not run (its master needs root)")
        use_dovecot = False
    if use_dovecot and shutil.which("dovecot") is None:
        note("dovecot is not installed (apt-get install dovecot-imapd): "
             "measuring refimapd only")
        use_dovecot = False

    load0 = open("/proc/loadavg").read().split()[:3]
    note("%d cpus, loadavg at start %s (other work on the machine skews "
         "both servers' figures)" % (os.cpu_count(), " ".join(load0)))
    t0 = time.perf_counter()
    corpus = make_corpus(args.messages, args.seed)
    size = sum(len(m[2]) for m in corpus)
    note("corpus: %d messages, %.1f MB, seed %d, built in %.1f s"
         % (len(corpus), size / 1e6, args.seed, time.perf_counter() - t0))

    tmp = tempfile.mkdtemp(prefix="refimapd-bench-")
    servers = []
    results = {}
    info = {}
    ib = {}
    try:
        rs = Refimapd(tmp, args.build)
        servers.append(rs)
        if use_dovecot:
            servers.append(Dovecot(tmp, rs.hash, args.dovecot_mail))
        run_all(servers, corpus, args, info, results, ib, outdir, stamp)
    finally:
        for srv in servers:
            try:
                srv.stop()
            except Exception as e:      # keep stopping the others
                note("stopping %s: %s" % (srv.name, e))
        if args.keep:
            note("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print_table(results, use_dovecot)
    print_imapbench(ib)
    total = time.monotonic() - t_start
    load1 = open("/proc/loadavg").read().split()[:3]
    out = {"loadavg_start": load0, "loadavg_end": load1,"tool": "refimapd bench/bench.py", "version": 1,
           "started": stamp, "wall_s": round(total, 1),
           "params": vars(args), "cpus": os.cpu_count(),
           "corpus": {"messages": len(corpus), "bytes": size,
                      "seed": args.seed},
           "servers": info, "results": results,
           "imapbench": {k: v for k, v in ib.items() if v}}
    for name in ("bench-%s.json" % stamp, "latest.json"):
        with open(os.path.join(outdir, name), "w") as f:
            json.dump(out, f, indent=1, sort_keys=True, default=str)
            f.write("\n")
    print()
    note("results: %s/bench-%s.json (also latest.json); total %.0f s; "
         "loadavg at end %s" % (outdir, stamp, total, " ".join(load1)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
