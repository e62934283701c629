#!/usr/bin/env python3
"""make install / make uninstall, the man pages, and the installed examples
serving mail under openbsd-inetd, xinetd and as the daemon.

- The man pages name every refimapctl verb that `refimapctl help` lists and
  every key of the config table (lib/config.c); the example refimapd.conf
  names every key too. Each page renders with `man --warnings` (or groff
  -ww) without a warning.
- `make O=BUILD install DESTDIR=D PREFIX=/usr/local` installs exactly the
  expected files with the expected modes (the binaries are the build's);
  the installed refimapd -V names the Berkeley DB and OpenSSL it runs with.
- Mail goes in through the Postfix example's command (refimapctl deliver,
  its argv from postfix-master.cf) and out through the installed refimapd
  started by openbsd-inetd from the example inetd.conf line, and by a
  private xinetd (-f CONFIG -dontfork) from the example xinetd service,
  both adapted only in paths, port, address and user: LOGIN, SELECT,
  FETCH of the whole message. The same through the installed refimapd as
  a daemon with the example config (root dropped to the service user, the
  pid file written, SIGTERM ends it with status 0).
- `make uninstall` removes every installed file and nothing else (files
  planted beside them stay)."""

import imaplib
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "protocol"))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

INETD = "/usr/sbin/inetd"
# Installed, or unpacked by make deps (the package excludes openbsd-inetd).
XINETD = next((p for p in ("/usr/sbin/xinetd",
                           str(lib.ROOT / ".deps/xinetd/usr/sbin/xinetd"))
               if os.access(p, os.X_OK)), None)
PREFIX = "/usr/local"
MAN_PAGES = ["share/man/man8/refimapd.8", "share/man/man8/refimapctl.8",
             "share/man/man5/refimapd.conf.5"]
EXAMPLES = ["refimapd.conf", "inetd.conf", "xinetd-imap", "refimapd.service",
            "refimapd.socket", "refimapd@.service", "postfix-master.cf"]
INSTALLED = {"sbin/refimapd": 0o755, "sbin/refimapctl": 0o755}
INSTALLED.update({p: 0o644 for p in MAN_PAGES})
INSTALLED.update({"share/doc/refimapd/" + e: 0o644 for e in EXAMPLES})
MESSAGE = (b"From: Postmaster <postmaster@example.org>\r\n"
           b"To: test@example.org\r\nSubject: installed\r\n"
           b"Message-ID: <install-1@example.org>\r\n\r\n"
           b"Delivered through the Postfix example's command.\r\n")


def make(*args):
    # O as the Makefile's own targets name it (relative to the top): the
    # dependency files record the objects by that name.
    build = str(lib.build_dir())
    if build.startswith(str(lib.ROOT) + os.sep):
        build = os.path.relpath(build, str(lib.ROOT))
    cmd = ["make", "-s", "-C", str(lib.ROOT), "O=" + build] + list(args)
    # install depends on all: with sources newer than the build, it would
    # rebuild the binaries other tests are using, maybe with other flags.
    q = subprocess.run(["make", "-q", "-C", str(lib.ROOT), "O=" + build,
                        "all"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=60)
    if q.returncode != 0:
        raise lib.TestSkip("%s is older than the sources: run make O=%s "
                           "all first" % (build, build))
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=300)
    check(r.returncode == 0, "%s exited %d:\n%s", " ".join(cmd),
          r.returncode, lib.tail(r.stdout.decode("utf-8", "replace")))


def files_under(top):
    found = set()
    for d, _, names in os.walk(top):
        for n in names:
            found.add(os.path.relpath(os.path.join(d, n), top))
    return found


def config_keys():
    text = (lib.ROOT / "lib" / "config.c").read_text()
    keys = re.findall(r'^\s*K\("([a-z_0-9]+)"', text, re.M)
    check(len(keys) > 20, "config keys not found in lib/config.c")
    return keys


def ctl_verbs():
    r = subprocess.run([str(lib.refimapctl_path()), "help"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=10)
    check_eq(r.returncode, 0, "refimapctl help exit status")
    text = r.stdout.decode()
    body = text.split("verbs:\n", 1)
    check(len(body) == 2, "no verbs in refimapctl help:\n%s", text)
    verbs = []
    for line in body[1].splitlines():
        # "  HEAD  help" with HEAD padded to a column, or "  HEAD help"
        # when longer; HEAD is the verb's words (lower case), then its
        # arguments (upper case, brackets, options).
        rest = line.strip()
        m = re.match(r"(.*?)\s{2,}", rest)
        head = m.group(1) if m else rest
        words = []
        for w in head.split():
            if not re.fullmatch(r"[a-z][a-z-]*", w):
                break
            words.append(w)
        if words:
            verbs.append(" ".join(words))
    check(len(verbs) > 5, "too few verbs in refimapctl help:\n%s", text)
    return verbs, text


def man_text(page):
    """The page as plain text (no formatting), failing on any warning."""
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="")
    if shutil.which("man"):
        cmd = ["man", "--warnings", "-l", page]
    elif shutil.which("groff"):
        cmd = ["groff", "-mdoc", "-ww", "-Tutf8", page]
    else:
        raise lib.TestSkip("neither man nor groff is installed")
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=30)
    err = r.stderr.decode("utf-8", "replace")
    check(r.returncode == 0 and not err.strip(),
          "%s exited %d with:\n%s", " ".join(cmd), r.returncode, err)
    text = r.stdout.decode("utf-8", "replace")
    text = re.sub(r".\x08", "", text)          # overstrike bold/underline
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # SGR escapes
    # Rejoin words hyphenated at a line end and normalise white space.
    text = re.sub(r"(\w)[\u2010-]\n\s*(\w)", r"\1\2", text)
    return re.sub(r"\s+", " ", text.replace("\u2010", "-"))


def check_docs():
    pages = {p: man_text(str(lib.ROOT / "man" / os.path.basename(p)))
             for p in MAN_PAGES}
    conf5 = pages["share/man/man5/refimapd.conf.5"]
    ctl8 = pages["share/man/man8/refimapctl.8"]
    example = (lib.ROOT / "docs" / "examples" / "refimapd.conf").read_text()
    for key in config_keys():
        check(re.search(r"\b%s\b" % key, conf5),
              "config key %s is not in refimapd.conf(5)", key)
        check(re.search(r"^#?%s = " % key, example, re.M),
              "config key %s is not in docs/examples/refimapd.conf", key)
    verbs, help_text = ctl_verbs()
    for verb in verbs:
        check(verb in ctl8, "refimapctl verb '%s' is not in refimapctl(8)",
              verb)
    # refimapd's options, as its usage lists them.
    r = subprocess.run([str(lib.refimapd_path()), "-h"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=10)
    usage = r.stderr.decode()
    d8 = pages["share/man/man8/refimapd.8"]
    opts = set(re.findall(r"(?:^\s+|\[)(--?[A-Za-z][\w-]*)", usage, re.M))
    check(len(opts) > 10, "refimapd -h listed too few options:\n%s", usage)
    for opt in sorted(opts):
        check(opt in d8, "refimapd option %s is not in refimapd(8)", opt)


def start_inetd(store, conf_line, port):
    conf = os.path.join(store.tmp, "inetd.conf")
    with open(conf, "w") as f:
        f.write(conf_line + "\n")
    log = store.new_log("inetd.log")
    with open(log, "ab") as logf:
        proc = subprocess.Popen([INETD, "-d", "-i", "-E", conf],
                                stdin=subprocess.DEVNULL, stdout=logf,
                                stderr=logf, env=store.env())
    return proc, log


def start_xinetd(store, service, port):
    conf = os.path.join(store.tmp, "xinetd.conf")
    pidfile = os.path.join(store.tmp, "xinetd.pid")
    with open(conf, "w") as f:
        f.write("defaults\n{\n\tinstances = 50\n}\n\n" + service)
    log = store.new_log("xinetd.log")
    with open(log, "ab") as logf:
        proc = subprocess.Popen([XINETD, "-f", conf, "-dontfork", "-pidfile",
                                 pidfile, "-filelog", log],
                                stdin=subprocess.DEVNULL, stdout=logf,
                                stderr=logf, env=store.env())
    return proc, log


def wait_listening(proc, port):
    deadline = time.monotonic() + lib.READ_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def stop(proc, what):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    lib.wait_bounded(proc, lib.STOP_TIMEOUT, "%s after SIGTERM" % what)


def imap_session(port, what):
    m = imaplib.IMAP4("127.0.0.1", port, timeout=lib.READ_TIMEOUT)
    check(m.welcome.startswith(b"* OK [CAPABILITY IMAP4rev1 "),
          "%s: greeting %r", what, m.welcome)
    check_eq(m.login("test", "test")[0], "OK", what + ": LOGIN")
    typ, data = m.select("INBOX")
    check_eq((typ, data), ("OK", [b"1"]), what + ": SELECT")
    typ, data = m.fetch("1", "(BODY.PEEK[])")
    check_eq(typ, "OK", what + ": FETCH")
    check_eq(data[0][1], MESSAGE, what + ": FETCH BODY[]")
    check_eq(m.logout()[0], "BYE", what + ": LOGOUT")


def serve(name, start, store, adapt):
    """Starts the super-server on a free port (three tries), runs one
    session through it, stops it."""
    proc = log = None
    for _ in range(3):
        port = lib.free_port()
        proc, log = start(store, adapt(port), port)
        if wait_listening(proc, port):
            break
        stop(proc, name)
        proc = None
    check(proc is not None, "%s did not listen:\n%s", name,
          lib.tail(lib.read_text(log)))
    try:
        imap_session(port, name)
    finally:
        stop(proc, name)
    lib.check_leftovers(store.tag, "refimapd -i under " + name)


def run():
    check_docs()
    store = lib.Store()
    dest = os.path.join(store.tmp, "dest")
    top = dest + PREFIX
    try:
        make("install", "DESTDIR=" + dest, "PREFIX=" + PREFIX)
        check_eq(sorted(files_under(dest)),
                 sorted(PREFIX.lstrip("/") + "/" + p for p in INSTALLED),
                 "installed files")
        for rel, mode in INSTALLED.items():
            got = os.stat(os.path.join(top, rel)).st_mode & 0o7777
            check_eq(oct(got), oct(mode), "mode of " + rel)
            if rel in MAN_PAGES:
                man_text(os.path.join(top, rel))
        for b in ("refimapd", "refimapctl"):
            with open(os.path.join(top, "sbin", b), "rb") as f1, \
                    open(str(lib.build_dir() / b), "rb") as f2:
                check(f1.read() == f2.read(), "installed %s is not the "
                      "build's", b)
        refimapd = os.path.join(top, "sbin", "refimapd")
        refimapctl = os.path.join(top, "sbin", "refimapctl")
        r = subprocess.run([refimapd, "-V"], stdout=subprocess.PIPE,
                           timeout=10)
        lines = r.stdout.decode().splitlines()
        check(r.returncode == 0 and len(lines) == 3 and
              re.fullmatch(r"refimapd \d+\.\d+\.\d+", lines[0]) and
              lines[1].startswith("Berkeley DB 5.3") and
              lines[2].startswith("OpenSSL "), "refimapd -V: %r", lines)

        # The service user: vmail in the examples; here nobody when we
        # are root (refimapd serves no mail as root), else ourselves.
        user = pwd.getpwuid(os.getuid()).pw_name
        if os.getuid() == 0:
            try:
                user = pwd.getpwnam("nobody").pw_name
            except KeyError:
                raise lib.TestSkip("root, and no user nobody to serve as")

        # The example config, with the store's data_dir and the user.
        doc = os.path.join(top, "share", "doc", "refimapd")
        with open(os.path.join(doc, "refimapd.conf")) as f:
            conf_text = f.read()
        for line in ("#data_dir = /var/lib/refimapd\n", "\nuser = vmail\n"):
            check(line in conf_text, "no %r in the example config", line)
        conf = os.path.join(store.tmp, "example.conf")
        with open(conf, "w") as f:
            f.write(conf_text.replace("#data_dir = /var/lib/refimapd",
                                      "data_dir = " + store.data_dir)
                    .replace("\nuser = vmail\n", "\nuser = %s\n" % user))

        # Delivery with the Postfix example's argv.
        with open(os.path.join(doc, "postfix-master.cf")) as f:
            pf = f.read()
        m = re.search(r"^\s+flags=\S+ user=\S+ argv=(.*)$", pf, re.M)
        check(m, "no argv in postfix-master.cf")
        argv = shlex.split(m.group(1).replace("/etc/refimapd.conf", conf)
                           .replace("${user}", "test"))
        check_eq(argv[0], PREFIX + "/sbin/refimapctl",
                 "the Postfix example's command")
        argv[0] = refimapctl    # installed under DESTDIR
        r = subprocess.run(argv, input=MESSAGE.replace(b"\r\n", b"\n"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=store.env(), timeout=30)
        check_eq(r.returncode, 0, "deliver (stderr %r)" % r.stderr)
        if os.getuid() == 0:
            # The store belongs to the service user, as refimapctl run by
            # Postfix as that user would have left it.
            pw = pwd.getpwnam(user)
            os.chmod(store.tmp, 0o711)
            for d, dirs, files in os.walk(store.data_dir):
                os.chown(d, pw.pw_uid, pw.pw_gid)
                for n in files:
                    os.chown(os.path.join(d, n), pw.pw_uid, pw.pw_gid)
        if os.access(INETD, os.X_OK):
            with open(os.path.join(doc, "inetd.conf")) as f:
                line = [x for x in f.read().splitlines()
                        if x.startswith("imap2")]
            check_eq(len(line), 1, "imap2 lines in the inetd example")
            fields = line[0].split("\t")
            check_eq(fields[5], PREFIX + "/sbin/refimapd",
                     "inetd example's server path")

            def adapt_inetd(port):
                f = list(fields)
                f[0] = "127.0.0.1:%d" % port
                f[4] = user
                f[5] = refimapd
                f[6] = f[6].replace("/etc/refimapd.conf", conf)
                return "\t".join(f)
            serve("openbsd-inetd", start_inetd, store, adapt_inetd)
        else:
            print("openbsd-inetd is missing: inetd part skipped")

        if XINETD is not None:
            with open(os.path.join(doc, "xinetd-imap")) as f:
                service = f.read()
            check("server\t\t= %s/sbin/refimapd\n" % PREFIX in service,
                  "xinetd example's server path:\n%s", service)

            def adapt_xinetd(port):
                s = service.replace("/etc/refimapd.conf", conf)
                s = s.replace(PREFIX + "/sbin/refimapd", refimapd)
                s = re.sub(r"\bport\t\t= 143\n",
                           # Not imap's port in /etc/services: xinetd
                           # wants such a service marked UNLISTED.
                           "port\t\t= %d\n\ttype\t\t= UNLISTED\n" % port, s)
                s = s.replace("bind\t\t= 0.0.0.0", "bind\t\t= 127.0.0.1")
                if os.getuid() == 0:
                    s = s.replace("user\t\t= vmail", "user\t\t= " + user)
                else:   # xinetd cannot switch users then
                    s = s.replace("\tuser\t\t= vmail\n", "")
                return s
            serve("xinetd", start_xinetd, store, adapt_xinetd)
        else:
            print("xinetd is missing (make deps unpacks it): xinetd part "
                  "skipped")

        # As the daemon: the installed binary with the example config,
        # on a free loopback port, dropping root to the service user;
        # its pid file is where the config says; SIGTERM stops it.
        pidfile = os.path.join(store.tmp, "refimapd.pid")
        with open(conf) as f:
            dconf_text = f.read()
        dconf = os.path.join(store.tmp, "example-daemon.conf")
        with open(dconf, "w") as f:
            f.write(dconf_text.replace("#pid_file = /run/refimapd.pid",
                                       "pid_file = " + pidfile))
        dlog = store.new_log("installed-daemon.log")
        with open(dlog, "ab") as logf:
            proc = subprocess.Popen([refimapd, "-c", dconf, "-f", "-l",
                                     "127.0.0.1", "-p", "0"],
                                    stdin=subprocess.DEVNULL, stdout=logf,
                                    stderr=logf, env=store.env())
        try:
            deadline = time.monotonic() + lib.READ_TIMEOUT
            m = None
            while m is None and time.monotonic() < deadline:
                m = lib.LISTEN_RE.search(lib.read_text(dlog))
                if m is None:
                    check(proc.poll() is None, "installed daemon exited:\n%s",
                          lib.tail(lib.read_text(dlog)))
                    time.sleep(0.05)
            check(m is not None, "installed daemon did not listen:\n%s",
                  lib.tail(lib.read_text(dlog)))
            imap_session(int(m.group(1)), "installed daemon")
            # Written once the daemon listens (poll: it may come a moment
            # after the log line).
            got = ""
            while time.monotonic() < deadline + lib.READ_TIMEOUT:
                with open(pidfile) as f:
                    got = f.read().strip()
                if got:
                    break
                time.sleep(0.05)
            check_eq(got, str(proc.pid), "daemon pid file")
        finally:
            stop(proc, "installed daemon")
        check_eq(proc.returncode, 0, "installed daemon's exit status")
        check(not os.path.exists(pidfile) or not open(pidfile).read().strip(),
              "pid file left with a pid after SIGTERM")

        # Uninstall: every installed file goes, planted ones stay.
        planted = ["sbin/other-tool", "share/man/man8/other.8",
                   "share/doc/other/README"]
        for p in planted:
            os.makedirs(os.path.dirname(os.path.join(top, p)), exist_ok=True)
            with open(os.path.join(top, p), "w") as f:
                f.write("not refimapd's\n")
        make("uninstall", "DESTDIR=" + dest, "PREFIX=" + PREFIX)
        check_eq(sorted(files_under(dest)),
                 sorted(PREFIX.lstrip("/") + "/" + p for p in planted),
                 "files left after make uninstall")
        check(not os.path.exists(doc), "%s left after make uninstall", doc)
        store.check_logs()
    except BaseException:
        for path in store.logs:
            sys.stdout.write("--- %s ---\n%s\n" % (os.path.basename(path),
                             lib.tail(lib.read_text(path))))
        raise
    finally:
        lib.check_leftovers(store.tag, "install test", grace=0)
        store.cleanup()


if __name__ == "__main__":
    lib.main(run)
