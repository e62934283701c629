#!/usr/bin/env python3
"""refimapd --sandbox, as README "Testing your IMAP client" shows it.

- The README's shell script and Python unittest fixture are taken from
  README.md as they are and run against the build (refimapd and refimapctl
  first on PATH): both must pass.
- --preload of an mbox file (into INBOX) and of a Maildir (Archive=PATH):
  every message fetched back byte for byte as import defines it (LF line
  ends become CRLF, mboxrd ">From " unquoted), Maildir flags kept.
- The ready line, then SIGTERM: the directory and every process are gone.
- --stdin-lifetime: end of file on stdin stops it the same way.
- A harness killed with SIGKILL while a client session is logged in: the
  sandbox, its session and its directory are gone within a few seconds."""

import imaplib
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "protocol"))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

READY_RE = re.compile(r"^refimapd ready host=(127\.0\.0\.1) port=(\d+) "
                      r"data=(/.+)$")
SECTION = "## Testing your IMAP client against refimapd"
GONE_WAIT = 8.0


def env_with_path(tag):
    bindir = os.path.dirname(lib.refimapd_path())
    return lib.tagged_env(tag, {"PATH": bindir + os.pathsep +
                                os.environ.get("PATH", "")})


def readme_block(lang):
    """The first ```lang block of the README's testing section."""
    text = (lib.ROOT / "README.md").read_text()
    start = text.find(SECTION)
    check(start >= 0, "README has no section %r", SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start:end if end > 0 else len(text)]
    m = re.search(r"```%s\n(.*?)```" % re.escape(lang), section, re.S)
    check(m is not None, "README section has no ```%s block", lang)
    return m.group(1)


def read_ready(stream, what, timeout=15):
    ready, _, _ = select.select([stream], [], [], timeout)
    line = stream.readline().decode() if ready else ""
    m = READY_RE.match(line.strip())
    check(m is not None, "%s: no ready line, got %r", what, line)
    return m.group(1), int(m.group(2)), m.group(3)


def wait_gone(path, tag, what):
    deadline = time.monotonic() + GONE_WAIT
    while os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    check(not os.path.exists(path), "%s: %s still there after %g s", what,
          path, GONE_WAIT)
    lib.check_leftovers(tag, what, grace=GONE_WAIT)


MBOX = (b"From alice@example.org Mon Jan  1 00:00:00 2024\n"
        b"From: alice@example.org\n"
        b"Subject: one\n"
        b"\n"
        b"first body\n"
        b">From the quoted line\n"
        b"\n"
        b"From bob@example.org Tue Jan  2 00:00:00 2024\n"
        b"From: bob@example.org\n"
        b"Subject: two\n"
        b"\n"
        b"second body\n")
MBOX_WANT = [
    b"From: alice@example.org\r\nSubject: one\r\n\r\nfirst body\r\n"
    b"From the quoted line\r\n",
    b"From: bob@example.org\r\nSubject: two\r\n\r\nsecond body\r\n",
]
MAILDIR = {
    "cur/1700000000.M1P1.host:2,S": b"From: c@example.org\nSubject: three"
                                    b"\n\nthird body\n",
    "new/1700000001.M2P2.host": b"From: d@example.org\r\nSubject: four\r\n"
                                b"\r\nfourth body\r\n",
}
MAILDIR_WANT = {
    b"From: c@example.org\r\nSubject: three\r\n\r\nthird body\r\n":
        {b"\\Seen"},
    b"From: d@example.org\r\nSubject: four\r\n\r\nfourth body\r\n": set(),
}


def make_sources(tmp):
    mbox = os.path.join(tmp, "in.mbox")
    with open(mbox, "wb") as f:
        f.write(MBOX)
    md = os.path.join(tmp, "Maildir")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(md, sub))
    for name, data in MAILDIR.items():
        with open(os.path.join(md, name), "wb") as f:
            f.write(data)
    return mbox, md


def fetch_all(imap, mailbox):
    typ, _ = imap.select(mailbox, readonly=True)
    check_eq(typ, "OK", "SELECT %s" % mailbox)
    typ, data = imap.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
    check_eq(typ, "OK", "UID FETCH in %s" % mailbox)
    out = []
    for item in data:
        if isinstance(item, tuple):
            flags = set(re.search(rb"FLAGS \(([^)]*)\)",
                                  item[0]).group(1).split())
            flags.discard(b"\\Recent")
            out.append((item[1], flags))
    return out


def test_preload(tmp):
    mbox, md = make_sources(tmp)
    tag = "sandbox-preload-%d" % os.getpid()
    proc = subprocess.Popen(
        [lib.refimapd_path(), "--sandbox", "--user", "alice:secret",
         "--preload", mbox, "--preload", "Archive=" + md],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=lib.tagged_env(tag))
    try:
        host, port, data = read_ready(proc.stdout, "preload")
        check(os.path.isdir(data), "data dir %s missing", data)
        imap = imaplib.IMAP4(host, port, timeout=lib.READ_TIMEOUT)
        imap.login("alice", "secret")
        got = fetch_all(imap, "INBOX")
        check_eq([b for b, _ in got], MBOX_WANT, "INBOX from the mbox")
        got = fetch_all(imap, "Archive")
        check_eq({b: f for b, f in got}, MAILDIR_WANT,
                 "Archive from the Maildir")
        imap.logout()
    finally:
        proc.send_signal(signal.SIGTERM)
        lib.wait_bounded(proc, 10, "sandbox after SIGTERM")
        err = proc.stderr.read().decode("utf-8", "replace")
        proc.stdout.close()
        proc.stderr.close()
    check_eq(proc.returncode, 0, "exit status after SIGTERM")
    report = lib.sanitizer_report(err)
    check(report is None, "sanitizer report:\n%s", report)
    wait_gone(data, tag, "sandbox after SIGTERM")


def test_stdin_eof(tmp):
    """Also: TMPDIR with a space in it; data= runs to the end of the line."""
    tag = "sandbox-eof-%d" % os.getpid()
    spaced = os.path.join(tmp, "with space")
    os.makedirs(spaced)
    proc = subprocess.Popen(
        [lib.refimapd_path(), "--sandbox", "--stdin-lifetime"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=lib.tagged_env(tag, {"TMPDIR": spaced}))
    host, port, data = read_ready(proc.stdout, "stdin-lifetime")
    check(os.path.dirname(data) == spaced and os.path.isdir(data),
          "data= %r is not a directory in %r", data, spaced)
    imap = imaplib.IMAP4(host, port, timeout=lib.READ_TIMEOUT)
    imap.login("test", "test")         # the default user
    imap.select("INBOX")
    proc.stdin.write(b"anything written is ignored\n")
    proc.stdin.flush()
    time.sleep(0.2)
    check(proc.poll() is None, "sandbox ended on input that is not EOF")
    proc.stdin.close()
    lib.wait_bounded(proc, 10, "sandbox after EOF on stdin")
    proc.stdout.close()
    try:
        typ, _ = imap.noop()
        check(False, "session still answers after the sandbox stopped")
    except (imaplib.IMAP4.abort, OSError):
        pass
    wait_gone(data, tag, "sandbox after EOF on stdin")


HARNESS = r"""
import subprocess, sys, time
p = subprocess.Popen([sys.argv[1], "--sandbox", "--stdin-lifetime"],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.DEVNULL)
sys.stdout.write(p.stdout.readline().decode())
sys.stdout.flush()
time.sleep(3600)
"""


def test_harness_killed():
    tag = "sandbox-kill9-%d" % os.getpid()
    harness = subprocess.Popen([sys.executable, "-c", HARNESS,
                                lib.refimapd_path()],
                               stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE,
                               env=lib.tagged_env(tag))
    try:
        host, port, data = read_ready(harness.stdout, "harness")
        imap = imaplib.IMAP4(host, port, timeout=lib.READ_TIMEOUT)
        imap.login("test", "test")
        imap.select("INBOX")
    finally:
        harness.kill()                  # SIGKILL: no chance to clean up
        harness.wait()
        harness.stdout.close()
    # The session we hold open must go too, not only the master.
    wait_gone(data, tag, "sandbox whose harness was killed")
    try:
        imap.noop()
        check(False, "session still answers after its harness was killed")
    except (imaplib.IMAP4.abort, OSError):
        pass


def test_readme_shell(tmp):
    script = os.path.join(tmp, "client-test.sh")
    with open(script, "w") as f:
        f.write(readme_block("bash"))
    mbox, _ = make_sources(os.path.join(tmp, "sh"))
    tag = "sandbox-readme-sh-%d" % os.getpid()
    r = subprocess.run(["bash", script, mbox], capture_output=True,
                       timeout=60, env=env_with_path(tag))
    check(r.returncode == 0, "README shell example: exit %d\n%s%s",
          r.returncode, r.stdout.decode("utf-8", "replace"),
          r.stderr.decode("utf-8", "replace"))
    out = r.stdout.decode()
    check(out.count("* 2 EXISTS") == 2, "README shell example output:\n%s",
          out)
    lib.check_leftovers(tag, "README shell example", grace=GONE_WAIT)


def test_readme_python(tmp):
    path = os.path.join(tmp, "test_client.py")
    with open(path, "w") as f:
        f.write(readme_block("python"))
    tag = "sandbox-readme-py-%d" % os.getpid()
    r = subprocess.run([sys.executable, path, "-v"], capture_output=True,
                       timeout=60, env=env_with_path(tag))
    text = r.stdout.decode("utf-8", "replace") + \
        r.stderr.decode("utf-8", "replace")
    check(r.returncode == 0 and "Ran 2 tests" in text,
          "README unittest example: exit %d\n%s", r.returncode, text)
    lib.check_leftovers(tag, "README unittest example", grace=GONE_WAIT)


def main():
    lib.check_binaries()
    with tempfile.TemporaryDirectory(prefix="sbx-test-") as tmp:
        os.makedirs(os.path.join(tmp, "sh"))
        test_preload(os.path.join(tmp))
        test_stdin_eof(tmp)
        test_harness_killed()
        test_readme_shell(tmp)
        test_readme_python(tmp)


if __name__ == "__main__":
    lib.main(main)
