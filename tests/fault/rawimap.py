"""A small raw-socket IMAP client for the fault tests (stdlib only).

Unlike imaplib it keeps the untagged responses in the order they came, so a
test can follow EXISTS and EXPUNGE exactly, and it lets a test stop in the
middle of a literal (to kill the server's session there). Every read is
bounded by a timeout; a closed connection raises Dropped.

    c = Conn(port)                  # reads the greeting
    st, text, untagged = c.cmd("LOGIN test test")
    st, text, untagged = c.append("INBOX", data, flags="(\\Seen)")

An untagged response is a list of items: bytes (line text, CRLF removed)
and, where the line announced a literal, the literal's bytes, in order.
"""

import re
import socket
import time

LITERAL_RE = re.compile(rb"\{(\d+)\}\r\n$")
TAGGED_RE = re.compile(rb"^(\S+) (OK|NO|BAD)\b ?(.*)\r\n$", re.S)


class Dropped(Exception):
    """The server closed the connection (or the read timed out)."""


class Conn:
    def __init__(self, port, timeout=10.0, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.timeout = timeout
        self.buf = b""
        self.ntag = 0
        self.trace = None       # a list to append (direction, bytes) to
        self.greeting = self.read_response()

    # Reading ---------------------------------------------------------

    def _fill(self):
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise Dropped("no data within %g s" % self.timeout)
        except OSError as e:
            raise Dropped("recv: %s" % e)
        if not data:
            raise Dropped("connection closed by the server")
        self.buf += data

    def read_line(self):
        """One line, CRLF included."""
        deadline = time.monotonic() + self.timeout
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i + 2], self.buf[i + 2:]
                if self.trace is not None:
                    self.trace.append(b"S: " + line[:300])
                return line
            if time.monotonic() > deadline:
                raise Dropped("no complete line within %g s" % self.timeout)
            self._fill()

    def read_exact(self, n):
        deadline = time.monotonic() + self.timeout
        while len(self.buf) < n:
            if time.monotonic() > deadline:
                raise Dropped("literal of %d bytes not complete within %g s"
                              % (n, self.timeout))
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_response(self):
        """One whole response: [line, literal, line, ...] (lines w/o CRLF)."""
        items = []
        while True:
            line = self.read_line()
            m = LITERAL_RE.search(line)
            if m is None:
                items.append(line[:-2])
                return items
            items.append(line[:-2])
            items.append(self.read_exact(int(m.group(1))))

    # Writing ---------------------------------------------------------

    def send(self, data):
        if self.trace is not None:
            self.trace.append(b"C: " + data[:300])
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise Dropped("send: %s" % e)

    def next_tag(self):
        self.ntag += 1
        return "t%d" % self.ntag

    def finish(self, tag):
        """Read until the tagged response of tag: (status, text, untagged)."""
        untagged = []
        btag = tag.encode()
        while True:
            resp = self.read_response()
            first = resp[0]
            if first.startswith(b"* "):
                untagged.append(resp)
                continue
            m = TAGGED_RE.match(first + b"\r\n")
            if m is None or m.group(1) != btag:
                raise ProtocolError("unexpected response %r (waiting for %s)"
                                    % (resp, tag))
            return m.group(2).decode(), m.group(3), untagged

    def cmd(self, text):
        tag = self.next_tag()
        self.send(("%s %s\r\n" % (tag, text)).encode())
        return self.finish(tag)

    def append(self, mailbox, data, flags=None):
        """APPEND with a synchronizing literal; (status, text, untagged)."""
        tag = self.next_tag()
        head = "%s APPEND %s " % (tag, mailbox)
        if flags:
            head += flags + " "
        self.send(("%s{%d}\r\n" % (head, len(data))).encode())
        resp = self.read_response()
        if not resp[0].startswith(b"+"):
            m = TAGGED_RE.match(resp[0] + b"\r\n")
            if m is not None and m.group(1) == tag.encode():
                return m.group(2).decode(), m.group(3), []
            raise ProtocolError("APPEND: expected +, got %r" % resp)
        self.send(data + b"\r\n")
        return self.finish(tag)

    def login(self, user="test", password="test"):
        st, text, _ = self.cmd("LOGIN %s %s" % (user, password))
        if st != "OK":
            raise ProtocolError("LOGIN: %s %r" % (st, text))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class ProtocolError(Exception):
    """The server said something this client cannot place."""


APPENDUID_RE = re.compile(rb"\[APPENDUID (\d+) (\d+)\]")
COPYUID_RE = re.compile(rb"\[COPYUID (\d+) (\S+) (\S+)\]")
NUM_RE = re.compile(rb"^\* (\d+) (EXISTS|EXPUNGE|RECENT|FETCH)\b(.*)$", re.S)


def uid_set(text):
    """The numbers of an IMAP sequence set of numbers (no *), in order."""
    out = []
    for part in text.decode().split(","):
        if ":" in part:
            a, b = part.split(":")
            a, b = int(a), int(b)
            out.extend(range(min(a, b), max(a, b) + 1))
        else:
            out.append(int(part))
    return out


def fetch_items(resp):
    """For an untagged FETCH response: (seq, {item name: value}).

    Knows the items these tests ask for: UID n, FLAGS (...), RFC822.SIZE n,
    INTERNALDATE "...", BODY[...] literal or NIL."""
    line = resp[0]
    m = NUM_RE.match(line)
    seq = int(m.group(1))
    text = b"".join(x if i % 2 == 0 else b"\0LIT%d\0" % i
                    for i, x in enumerate(resp))
    items = {}
    u = re.search(rb"[( ]UID (\d+)", text)
    if u:
        items["UID"] = int(u.group(1))
    f = re.search(rb"[( ]FLAGS \(([^)]*)\)", text)
    if f:
        items["FLAGS"] = set(f.group(1).split())
    s = re.search(rb"[( ]RFC822\.SIZE (\d+)", text)
    if s:
        items["RFC822.SIZE"] = int(s.group(1))
    for b in re.finditer(rb"[( ](BODY\[[^\]]*\](?:<\d+>)?) (?:\{\d+\}\0LIT(\d+)\0|NIL|\"([^\"]*)\")",
                         text):
        if b.group(2):
            items[b.group(1).decode()] = resp[int(b.group(2))]
        elif b.group(3) is not None:
            items[b.group(1).decode()] = b.group(3)
        else:
            items[b.group(1).decode()] = None
    return seq, items
