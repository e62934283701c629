"""Shared helpers of refimapd's end-to-end tests (Python 3 standard library only).

What is here:
  - where the binaries are (REFIMAPD_BUILD names the build directory, default
    "build", relative to the top of the repository);
  - Store: a fresh temporary data dir made with `refimapctl init` and users,
    and its config file;
  - Daemon: `refimapd -f -l 127.0.0.1 -p 0` started on a free port, stopped
    by pid with SIGTERM (bounded; SIGKILL and a failure otherwise);
  - Server: Store + Daemon as a context manager, for the standalone tests;
  - Script: the runner of the protocol scripts (tests/protocol/*.imap), whose
    format is described in tests/protocol/README;
  - main(): the exit-code convention of the standalone tests (0 pass,
    77 skip, anything else fail).

Every process started here carries an environment variable naming the
server instance it belongs to (TAG_VAR), which its children inherit; after a
server is stopped, any process still carrying its tag is a leftover: it is
killed by pid and the test fails.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READ_TIMEOUT = 5.0      # every read from a server
STOP_TIMEOUT = 5.0      # a server must exit this soon after SIGTERM / EOF
LEFTOVER_GRACE = 2.0    # session processes may outlive their master this long
TAG_VAR = "REFIMAPD_TEST_TAG"
RUN_VAR = "REFIMAPD_TEST_RUN"
EXIT_SKIP = 77

BASE_CONFIG = [
    ("fsync", "no"),
    # The tests run as root in CI, on stores root made.
    ("allow_root", "yes"),
    ("auth_fail_delay_ms", "50"),
    ("auth_max_failures", "3"),
    ("idle_timeout_preauth", "60"),
    ("idle_timeout", "1800"),
    ("log_level", "debug"),
    ("line_max", "8192"),
    ("literal_max", "1048576"),
    ("max_sessions", "50"),
    # RFC 6154 mailboxes for new users would change every LIST; the
    # special-use script turns them on.
    ("special_use_mailboxes", "no"),
]

SANITIZER_RE = re.compile(
    r"ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:|"
    r"SUMMARY: (Address|Undefined|Leak)")
LISTEN_RE = re.compile(r"listening on 127\.0\.0\.1 port (\d+)")


class TestFailure(Exception):
    """A test's expectation was not met; the message says what and where."""


class TestSkip(Exception):
    """The test cannot run here (a tool is missing); the message says why."""


def build_dir():
    b = Path(os.environ.get("REFIMAPD_BUILD", "build"))
    return b if b.is_absolute() else ROOT / b


def refimapd_path():
    return build_dir() / "refimapd"


def refimapctl_path():
    return build_dir() / "refimapctl"


def check_binaries():
    """Raise TestFailure when the binaries have not been built."""
    for p in (refimapd_path(), refimapctl_path()):
        if not os.access(p, os.X_OK):
            raise TestFailure("%s is missing: run `make all` first" % p)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(text, lines=25):
    parts = text.splitlines()
    if len(parts) > lines:
        parts = ["... (%d lines before)" % (len(parts) - lines)] + parts[-lines:]
    return "\n".join(parts)


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def sanitizer_report(text):
    """The first lines of a sanitizer report in text, or None."""
    m = SANITIZER_RE.search(text)
    if not m:
        return None
    start = text.rfind("\n", 0, m.start()) + 1
    return "\n".join(text[start:].splitlines()[:30])


# ---------------------------------------------------------------------------
# Processes: tagging, finding leftovers, bounded stops.

def tagged_env(tag, extra=None):
    env = dict(os.environ)
    env[TAG_VAR] = tag
    if extra:
        env.update(extra)
    return env


def pids_with_env(var, value):
    """Pids (other than ours) whose environment holds var=value."""
    needle = ("%s=%s" % (var, value)).encode()
    found = []
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open("/proc/%s/environ" % d, "rb") as f:
                env = f.read()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            found.append(int(d))
    return found


def child_pids(ppid):
    """The pids whose parent is ppid, ascending."""
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces
        if int(st.rsplit(")", 1)[1].split()[1]) == ppid:
            kids.append(int(d))
    return sorted(kids)


def proc_desc(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return "pid %d [%s] %s" % (pid, state, cmd.strip())
    except OSError:
        return "pid %d (gone)" % pid


def live_pids_with_env(var, value):
    live = []
    for pid in pids_with_env(var, value):
        try:
            with open("/proc/%d/stat" % pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X"):
            live.append(pid)
    return live


def check_leftovers(tag, what, grace=LEFTOVER_GRACE):
    """Fail when processes tagged `tag` are still alive after `grace` s.

    They are killed by pid (SIGKILL) first, so nothing is left behind."""
    deadline = time.monotonic() + grace
    while True:
        pids = live_pids_with_env(TAG_VAR, tag)
        if not pids or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    if not pids:
        return
    descs = [proc_desc(p) for p in pids]
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    raise TestFailure("%s left processes behind (killed now):\n  %s"
                      % (what, "\n  ".join(descs)))


def wait_bounded(proc, timeout, what):
    """Wait for proc; on timeout SIGKILL it and fail."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise TestFailure("%s (pid %d) did not exit within %g s; killed"
                          % (what, proc.pid, timeout))


# ---------------------------------------------------------------------------
# Store and daemon.

class Store:
    """A fresh data dir with its config file and users, in a temp dir."""

    def __init__(self, users=None, config=None):
        check_binaries()
        self.tmp = tempfile.mkdtemp(prefix="refimapd-test-")
        self.data_dir = os.path.join(self.tmp, "data")
        self.conf = os.path.join(self.tmp, "refimapd.conf")
        self.tag = uuid.uuid4().hex
        self.logs = []
        self.config = [("data_dir", self.data_dir)] + list(BASE_CONFIG)
        for k, v in (config or []):
            self.set_config(k, v)
        self.write_config()
        self.ctl("init")
        if users is None:
            users = [("test", "test")]
        for name, password in users:
            self.ctl("user", "add", name, input=password + "\n")

    def set_config(self, key, value):
        for i, (k, _) in enumerate(self.config):
            if k == key:
                self.config[i] = (key, value)
                return
        self.config.append((key, value))

    def write_config(self):
        with open(self.conf, "w") as f:
            f.write("# written by tests/protocol/lib.py\n")
            for k, v in self.config:
                f.write("%s = %s\n" % (k, v))

    def env(self):
        return tagged_env(self.tag, {
            "DATA_DIR": self.data_dir,
            "REFIMAPCTL": str(refimapctl_path()),
            "REFIMAPD": str(refimapd_path()),
            "REFIMAPD_CONF": self.conf,
        })

    def ctl(self, *args, input=None, check=True, timeout=30):
        """Run refimapctl -c CONF -d DATA_DIR args...; returns
        CompletedProcess. The config gives refimapctl special_use_mailboxes
        (user add)."""
        cmd = [str(refimapctl_path()), "-c", self.conf, "-d",
               self.data_dir] + list(args)
        try:
            r = subprocess.run(cmd, input=(input or "").encode(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=self.env(), timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure("%s timed out after %d s" % (" ".join(cmd), timeout))
        if check and r.returncode != 0:
            raise TestFailure("%s exited %d\nstdout: %s\nstderr: %s" % (
                " ".join(cmd), r.returncode,
                r.stdout.decode("utf-8", "replace").strip(),
                r.stderr.decode("utf-8", "replace").strip()))
        return r

    def shell(self, command, timeout=60):
        r = subprocess.run(command, shell=True, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=self.env(),
                           timeout=timeout, cwd=str(ROOT))
        return r.returncode, r.stdout.decode("utf-8", "replace")

    def new_log(self, name):
        path = os.path.join(self.tmp, name)
        self.logs.append(path)
        return path

    def check_logs(self):
        for path in self.logs:
            rep = sanitizer_report(read_text(path))
            if rep:
                raise TestFailure("sanitizer report in %s:\n%s"
                                  % (os.path.basename(path), rep))

    def cleanup(self):
        if os.environ.get("REFIMAPD_TEST_KEEP"):
            print("kept %s" % self.tmp, file=sys.stderr)
            return
        shutil.rmtree(self.tmp, ignore_errors=True)


class Daemon:
    """refimapd in the foreground on 127.0.0.1, a free port (-p 0)."""

    def __init__(self, store, extra_args=()):
        self.store = store
        self.extra_args = list(extra_args)
        self.proc = None
        self.port = None
        self.log = store.new_log("refimapd.log")

    def start(self):
        cmd = [str(refimapd_path()), "-c", self.store.conf, "-f",
               "-l", "127.0.0.1", "-p", "0"] + self.extra_args
        logf = open(self.log, "ab")
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=logf,
                                         env=self.store.env())
        finally:
            logf.close()
        deadline = time.monotonic() + READ_TIMEOUT
        while time.monotonic() < deadline:
            m = LISTEN_RE.search(read_text(self.log))
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                raise TestFailure("refimapd exited %d before listening:\n%s"
                                  % (self.proc.returncode,
                                     tail(read_text(self.log))))
            time.sleep(0.02)
        self.proc.kill()
        self.proc.wait()
        raise TestFailure("refimapd logged no 'listening on 127.0.0.1 port N'"
                          " within %g s (killed):\n%s"
                          % (READ_TIMEOUT, tail(read_text(self.log))))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM by pid; must exit 0 within STOP_TIMEOUT, leaving nothing."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            rc = wait_bounded(proc, STOP_TIMEOUT, "refimapd daemon after SIGTERM")
        else:
            rc = proc.returncode
            raise TestFailure("refimapd daemon had already exited (status %d)"
                              " before it was stopped:\n%s"
                              % (rc, tail(read_text(self.log))))
        if rc != 0:
            raise TestFailure("refimapd daemon exited with status %d after"
                              " SIGTERM:\n%s" % (rc, tail(read_text(self.log))))
        check_leftovers(self.store.tag, "refimapd daemon")

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class Server:
    """A daemon on a fresh store, for the standalone tests:

        with lib.Server(users=[("test", "test")]) as srv:
            imaplib.IMAP4("127.0.0.1", srv.port)

    On leaving, the daemon is stopped (failures raise TestFailure), the
    logs are checked for sanitizer reports and the store is removed."""

    def __init__(self, users=None, config=None):
        self.users = users
        self.config = config
        self.store = None
        self.daemon = None

    def __enter__(self):
        self.store = Store(self.users, self.config)
        try:
            self.daemon = Daemon(self.store).start()
        except BaseException:
            self.store.cleanup()
            raise
        return self

    def __exit__(self, etype, exc, tb):
        try:
            try:
                self.daemon.stop()
            except TestFailure:
                if etype is None:
                    raise
            finally:
                self.daemon.kill()
                check_leftovers(self.store.tag, "refimapd", grace=0)
            if etype is None:
                self.store.check_logs()
        finally:
            if etype is not None:
                sys.stderr.write("--- refimapd log ---\n%s\n"
                                 % tail(read_text(self.daemon.log), 40))
            self.store.cleanup()
        return False

    host = "127.0.0.1"

    @property
    def port(self):
        return self.daemon.port

    @property
    def data_dir(self):
        return self.store.data_dir

    @property
    def conf(self):
        return self.store.conf

    @property
    def tag(self):
        return self.store.tag

    def ctl(self, *args, **kw):
        return self.store.ctl(*args, **kw)

    def log_text(self):
        return read_text(self.daemon.log)


def main(func):
    """Run func() as a standalone test: exit 0 on success, 77 on TestSkip
    (printing why), 1 on anything else (printing why)."""
    try:
        func()
    except TestSkip as e:
        print("SKIP: %s" % e)
        sys.exit(EXIT_SKIP)
    except TestFailure as e:
        print("FAIL: %s" % e)
        sys.exit(1)
    except Exception:
        print("FAIL: unexpected exception")
        traceback.print_exc(file=sys.stdout)
        sys.exit(1)
    sys.exit(0)


def check(cond, fmt, *args):
    """Fail with the formatted message unless cond."""
    if not cond:
        raise TestFailure(fmt % args if args else fmt)


def check_eq(got, want, what):
    if got != want:
        raise TestFailure("%s: expected %r, got %r" % (what, want, got))


# ---------------------------------------------------------------------------
# Protocol scripts.

ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "\\": b"\\"}
REPEAT_RE = re.compile(r"\{\{repeat:(\\x[0-9A-Fa-f]{2}|\\.|.):(\d+)\}\}")
LITERAL_END_RE = re.compile(rb"\{(\d+)\+?\}$")


def unescape(text):
    """Bytes of text with \\r \\n \\t \\\\ \\xNN decoded."""
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        nxt = text[i + 1:i + 2]
        if nxt in ESCAPES:
            out += ESCAPES[nxt]
            i += 2
        elif nxt == "x" and re.match(r"[0-9A-Fa-f]{2}$", text[i + 2:i + 4]):
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
        else:
            raise ValueError("bad escape \\%s" % nxt)
    return bytes(out)


def expand_send(text, escaped):
    """The bytes a C: or C< line sends (before the CRLF of C:)."""
    out = bytearray()
    pos = 0
    for m in REPEAT_RE.finditer(text):
        seg = text[pos:m.start()]
        out += unescape(seg) if escaped else seg.encode("utf-8")
        ch = m.group(1)
        chb = unescape(ch) if ch.startswith("\\") else ch.encode("utf-8")
        out += chb * int(m.group(2))
        pos = m.end()
    seg = text[pos:]
    out += unescape(seg) if escaped else seg.encode("utf-8")
    return bytes(out)


def compile_pattern(raw):
    """A compiled byte regex from an expected line ({*}, {#} wildcards,
    {$NAME}: digits kept under NAME for later C: lines)."""
    parts = re.split(rb"(\{\*\}|\{#\}|\{\$[A-Za-z_][A-Za-z0-9_]*\})", raw)
    rx = b""
    for p in parts:
        if p == b"{*}":
            rx += b".*?"
        elif p == b"{#}":
            rx += b"[0-9]+"
        elif p.startswith(b"{$") and p.endswith(b"}"):
            rx += b"(?P<" + p[2:-1] + b">[0-9]+)"
        else:
            rx += re.escape(p)
    return re.compile(rx, re.DOTALL)


def show(data, limit=300):
    """A printable form of received/sent bytes, long runs shortened."""
    s = data.decode("latin-1")
    s = s.replace("\r", "\\r").replace("\n", "\\n")
    s = "".join(c if 32 <= ord(c) < 127 else "\\x%02x" % ord(c) for c in s)
    if len(s) > limit:
        s = "%s...[%d bytes]...%s" % (s[:limit // 2], len(data), s[-60:])
    return s


class Directive:
    def __init__(self, lineno, kind, text):
        self.lineno = lineno
        self.kind = kind      # "C:", "C<", "S:", "S<", "S?", "S|", "@xxx"
        self.text = text
        self.conn = "1"
        self.alts = []        # S| alternatives of an S:/S< line
        self.group = []       # S? group: the directives of the group

    def where(self):
        return "line %d (%s %s)" % (self.lineno, self.kind, self.text)


class ScriptError(Exception):
    pass


def parse_script(path):
    """Parse a .imap file into (header dict, list of Directive)."""
    hdr = {"users": None, "config": [], "modes": ["inetd", "daemon"]}
    out = []
    conn = "1"
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for lineno, line in enumerate(lines, 1):
        line = line.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith("@"):
            word, _, rest = line.partition(" ")
            rest = rest.strip()
            if word == "@users":
                hdr["users"] = hdr["users"] or []
                for u in rest.split():
                    name, sep, pw = u.partition(":")
                    if not sep:
                        raise ScriptError("line %d: user without :password" % lineno)
                    hdr["users"].append((name, pw))
            elif word == "@config":
                k, sep, v = rest.partition("=")
                if not sep:
                    raise ScriptError("line %d: @config needs key = value" % lineno)
                hdr["config"].append((k.strip(), v.strip()))
            elif word == "@modes":
                modes = rest.split()
                for m in modes:
                    if m not in ("inetd", "daemon"):
                        raise ScriptError("line %d: unknown mode %s" % (lineno, m))
                hdr["modes"] = modes
            elif word == "@conn":
                if not rest or " " in rest:
                    raise ScriptError("line %d: @conn NAME" % lineno)
                conn = rest
            elif word in ("@closed", "@sleep", "@shell"):
                if word == "@sleep" and not rest.isdigit():
                    raise ScriptError("line %d: @sleep MS" % lineno)
                if word == "@shell" and not rest:
                    raise ScriptError("line %d: @shell CMD" % lineno)
                d = Directive(lineno, word, rest)
                d.conn = conn
                out.append(d)
            else:
                raise ScriptError("line %d: unknown directive %s" % (lineno, word))
            continue
        kind = line[:2]
        if kind not in ("C:", "C<", "S:", "S<", "S?", "S|"):
            raise ScriptError("line %d: cannot parse %r" % (lineno, line))
        text = line[2:]
        if text.startswith(" "):
            text = text[1:]
        d = Directive(lineno, kind, text)
        d.conn = conn
        try:
            if kind in ("C:", "C<"):
                d.data = expand_send(text, kind == "C<")
                if kind == "C:":
                    d.data += b"\r\n"
            else:
                raw = unescape(text) if kind == "S<" else text.encode("utf-8")
                d.pattern = compile_pattern(raw)
        except ValueError as e:
            raise ScriptError("line %d: %s" % (lineno, e))
        if kind == "S|":
            prev = out[-1] if out else None
            if prev is None or prev.kind not in ("S:", "S<") or prev.conn != conn:
                raise ScriptError("line %d: S| must follow an S: or S< line" % lineno)
            prev.alts.append(d)
            continue
        if kind == "S?":
            prev = out[-1] if out else None
            if prev is not None and prev.kind == "S?" and prev.conn == conn:
                prev.group.append(d)
                continue
            d.group = [d]
        out.append(d)
    return hdr, out


class Eof(Exception):
    pass


class ReadTimeout(Exception):
    def __init__(self, partial):
        Exception.__init__(self)
        self.partial = partial


class Conn:
    """One client connection of a script, over a socket."""

    def __init__(self, name, sock, transcript, proc=None, log=None):
        self.name = name
        self.sock = sock
        self.proc = proc
        self.log = log
        self.buf = b""
        self.transcript = transcript
        self.closed = False

    def note(self, direction, data):
        self.transcript.append("%s%s %s" % (direction, self.name, show(data)))

    def send(self, data):
        self.note("C", data)
        self.sock.settimeout(READ_TIMEOUT)
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            raise TestFailure("connection %s: the server closed the connection"
                              " while we were sending" % self.name)
        except socket.timeout:
            raise TestFailure("connection %s: the server read nothing for %g s"
                              % (self.name, READ_TIMEOUT))

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ReadTimeout(self.buf)
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise ReadTimeout(self.buf)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise Eof()
        self.buf += chunk

    def _raw_line(self, deadline):
        while b"\n" not in self.buf:
            self._fill(deadline)
        i = self.buf.index(b"\n")
        line, self.buf = self.buf[:i + 1], self.buf[i + 1:]
        if not line.endswith(b"\r\n"):
            self.note("S", line)
            raise TestFailure("connection %s: line ends in a bare LF (no CR): %s"
                              % (self.name, show(line)))
        return line[:-2]

    def read_line(self):
        """The next logical line: literals inlined, without the CRLF."""
        deadline = time.monotonic() + READ_TIMEOUT
        logical = b""
        got = b""
        try:
            while True:
                part = self._raw_line(deadline)
                logical += part
                m = LITERAL_END_RE.search(part)
                if not m:
                    break
                n = int(m.group(1))
                while len(self.buf) < n:
                    self._fill(deadline)
                logical += self.buf[:n]
                self.buf = self.buf[n:]
        except ReadTimeout as e:
            raise ReadTimeout(logical + e.partial)
        except Eof:
            got = logical + self.buf
            if got:
                self.note("S", got)
            raise Eof()
        self.note("S", logical)
        return logical

    def expect_eof(self, timeout):
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._fill(deadline)
        except Eof:
            pass
        if self.buf:
            self.note("S", self.buf)
            raise TestFailure("connection %s: expected the server to close"
                              " the connection, got more data: %s"
                              % (self.name, show(self.buf)))
        self.note("S", b"<EOF>")
        self.closed = True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Script:
    """Runs one parsed protocol script in one mode."""

    def __init__(self, path, mode, hdr, directives):
        self.path = path
        self.mode = mode
        self.hdr = hdr
        self.directives = directives
        self.transcript = []
        self.conns = {}
        self.old_conns = []
        self.store = None
        self.daemon = None
        self.nconn = 0
        self.vars = {}      # {$NAME} captures: name -> bytes

    # Connections -----------------------------------------------------

    def conn(self, name):
        c = self.conns.get(name)
        if c is not None and not c.closed:
            return c
        if c is not None:
            self.old_conns.append(c)
        self.nconn += 1
        if self.mode == "daemon":
            try:
                sock = socket.create_connection(("127.0.0.1", self.daemon.port),
                                                timeout=READ_TIMEOUT)
            except OSError as e:
                raise TestFailure("cannot connect to the daemon on port %d: %s"
                                  % (self.daemon.port, e))
            c = Conn(name, sock, self.transcript)
        else:
            log = self.store.new_log("inetd-%d-%s.log" % (self.nconn, name))
            ours, theirs = socket.socketpair()
            logf = open(log, "ab")
            try:
                proc = subprocess.Popen(
                    [str(refimapd_path()), "-c", self.store.conf, "-i"],
                    stdin=theirs.fileno(), stdout=theirs.fileno(), stderr=logf,
                    env=self.store.env(), close_fds=True)
            finally:
                logf.close()
                theirs.close()
            c = Conn(name, ours, self.transcript, proc, log)
        self.transcript.append("-- connection %s opened" % name)
        self.conns[name] = c
        return c

    def finish_conn(self, c):
        """Close one connection; in inetd mode its process must exit."""
        c.close()
        if c.proc is not None:
            rc = wait_bounded(c.proc, STOP_TIMEOUT,
                              "refimapd -i (connection %s) after EOF" % c.name)
            if rc < 0:
                raise TestFailure("refimapd -i (connection %s) was killed by"
                                  " signal %d:\n%s" % (c.name, -rc,
                                                       tail(read_text(c.log))))

    # Directives ------------------------------------------------------

    def expect(self, d):
        c = self.conn(d.conn)
        try:
            got = c.read_line()
        except ReadTimeout as e:
            raise TestFailure("%s: timeout after %g s; expected `%s`; received"
                              " so far: %s" % (d.where(), READ_TIMEOUT, d.text,
                                               show(e.partial) or "(nothing)"))
        except Eof:
            c.closed = True
            raise TestFailure("%s: the server closed connection %s; expected `%s`"
                              % (d.where(), d.conn, d.text))
        for alt in [d] + d.alts:
            m = alt.pattern.fullmatch(got)
            if m:
                self.vars.update(m.groupdict())
                return
        want = "` or `".join(a.text for a in [d] + d.alts)
        raise TestFailure("%s: expected `%s`\n  got: %s" % (d.where(), want, show(got)))

    def expect_group(self, d):
        c = self.conn(d.conn)
        group = d.group
        got = []
        for _ in group:
            try:
                got.append(c.read_line())
            except ReadTimeout as e:
                raise TestFailure(
                    "%s: timeout after %g s reading the unordered group of %d"
                    " lines; received so far: %s; partial line: %s"
                    % (d.where(), READ_TIMEOUT, len(group),
                       [show(g) for g in got], show(e.partial) or "(nothing)"))
            except Eof:
                c.closed = True
                raise TestFailure("%s: the server closed connection %s in an"
                                  " unordered group; got %s"
                                  % (d.where(), d.conn, [show(g) for g in got]))
        # Bipartite matching of received lines to patterns.
        match_of = {}

        def place(i, seen):
            for j, pat in enumerate(group):
                if j in seen or not pat.pattern.fullmatch(got[i]):
                    continue
                seen.add(j)
                if j not in match_of or place(match_of[j], seen):
                    match_of[j] = i
                    return True
            return False

        unmatched = [i for i in range(len(got)) if not place(i, set())]
        if unmatched:
            missing = [group[j].text for j in range(len(group)) if j not in match_of]
            raise TestFailure(
                "%s: unordered group (lines %d-%d) does not match\n"
                "  unexpected: %s\n  not seen: %s"
                % (d.where(), group[0].lineno, group[-1].lineno,
                   "; ".join(show(got[i]) for i in unmatched),
                   "; ".join(missing)))

    def run_directive(self, d):
        if d.kind in ("C:", "C<"):
            data = d.data
            for name, value in self.vars.items():
                data = data.replace(b"{$" + name.encode() + b"}", value)
            self.conn(d.conn).send(data)
        elif d.kind in ("S:", "S<"):
            self.expect(d)
        elif d.kind == "S?":
            self.expect_group(d)
        elif d.kind == "@closed":
            c = self.conn(d.conn)
            try:
                c.expect_eof(STOP_TIMEOUT)
            except ReadTimeout as e:
                raise TestFailure("%s: connection %s still open after %g s;"
                                  " received: %s" % (d.where(), d.conn,
                                                     STOP_TIMEOUT,
                                                     show(e.partial) or "(nothing)"))
            self.transcript.append("-- connection %s closed by the server" % d.conn)
        elif d.kind == "@sleep":
            time.sleep(int(d.text) / 1000.0)
        elif d.kind == "@shell":
            try:
                rc, out = self.store.shell(d.text)
            except subprocess.TimeoutExpired:
                raise TestFailure("%s: timed out" % d.where())
            self.transcript.append("-- shell: %s -> %d %s" % (d.text, rc, out.strip()))
            if rc != 0:
                raise TestFailure("%s: exited %d\n%s" % (d.where(), rc, out))
        else:
            raise TestFailure("internal: unknown directive %s" % d.kind)

    # Whole script ----------------------------------------------------

    def logs_tail(self):
        out = []
        if self.store is None:
            return ""
        for path in self.store.logs:
            text = read_text(path)
            if text.strip():
                out.append("--- %s ---\n%s" % (os.path.basename(path), tail(text, 20)))
        return "\n".join(out)

    def run(self):
        """Returns None on success, else the failure message."""
        errors = []
        try:
            self.store = Store(self.hdr["users"], self.hdr["config"])
            if self.mode == "daemon":
                self.daemon = Daemon(self.store).start()
            for d in self.directives:
                self.run_directive(d)
        except TestFailure as e:
            errors.append(str(e))
        except Exception:
            errors.append("harness error:\n" + traceback.format_exc())
        # Teardown: every step runs, the first failure is reported.
        for c in self.old_conns + list(self.conns.values()):
            try:
                self.finish_conn(c)
            except TestFailure as e:
                errors.append(str(e))
        if self.daemon is not None:
            try:
                self.daemon.stop()
            except TestFailure as e:
                errors.append(str(e))
            finally:
                self.daemon.kill()
        if self.store is not None:
            try:
                check_leftovers(self.store.tag, "refimapd", grace=LEFTOVER_GRACE)
                self.store.check_logs()
            except TestFailure as e:
                errors.append(str(e))
        result = None
        if errors:
            result = "\n".join(errors)
            result += "\n--- transcript (last lines) ---\n" + tail(
                "\n".join(self.transcript), 20)
            logs = self.logs_tail()
            if logs:
                result += "\n" + logs
        if self.store is not None:
            self.store.cleanup()
        return result


def run_script(path, mode, hdr=None, directives=None):
    """Run one script in one mode: (failure message or None, transcript)."""
    if directives is None:
        hdr, directives = parse_script(path)
    s = Script(path, mode, hdr, directives)
    return s.run(), s.transcript
