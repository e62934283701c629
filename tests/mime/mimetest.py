"""Helpers shared by the MIME corpus tests (Python 3 standard library only):
a minimal IMAP client that returns logical lines with literals inlined, the
corpus listing and a printable escaping of responses for golden files.

Used by tests/clients/test_mime_corpus.py, test_dovecot_mime.py and
test_fetch_partial_reads.py."""

import os
import re
import socket
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
GOLDEN = os.path.join(HERE, "golden")
LITERAL_END_RE = re.compile(rb"\{(\d+)\+?\}$")


class ImapError(Exception):
    pass


def corpus(well_formed_only=False):
    """[(stem, bytes)] in name order; stem is "NNN-name"."""
    out = []
    for name in sorted(os.listdir(CORPUS)):
        if not name.endswith(".eml"):
            continue
        stem = name[:-4]
        if well_formed_only and stem.split("-", 1)[1].startswith("bad-"):
            continue
        with open(os.path.join(CORPUS, name), "rb") as f:
            out.append((stem, f.read()))
    return out


def escape(data):
    """Bytes -> printable ASCII text: backslash and anything outside
    0x20-0x7e as \\xNN (so CR LF NUL and 8-bit bytes stay visible)."""
    out = []
    for b in data:
        if 0x20 <= b <= 0x7e and b != 0x5c:
            out.append(chr(b))
        else:
            out.append("\\x%02x" % b)
    return "".join(out)


class Client:
    """One IMAP connection; command() returns (untagged lines, tagged line),
    each a logical line (literals inlined with their {N} and CRLF kept)."""

    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self.buf = b""
        self.ntag = 0
        self.greeting = self.read_line()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ImapError("connection closed by the server")
        self.buf += chunk

    def _raw_line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._fill()

    def read_line(self):
        logical = b""
        while True:
            part = self._raw_line()
            logical += part
            m = LITERAL_END_RE.search(part)
            if not m:
                return logical
            n = int(m.group(1))
            while len(self.buf) < n:
                self._fill()
            logical += b"\r\n" + self.buf[:n]
            self.buf = self.buf[n:]

    def tag(self):
        self.ntag += 1
        return b"t%d" % self.ntag

    def command(self, text, literal=None, literal_plus=False):
        """Sends "TAG text" (text may end in a literal given separately:
        then text must not hold the {N}); returns (untagged, tagged)."""
        tag = self.tag()
        if literal is None:
            self.sock.sendall(tag + b" " + text + b"\r\n")
        elif literal_plus:
            self.sock.sendall(tag + b" " + text + b" {%d+}\r\n" % len(literal)
                              + literal + b"\r\n")
        else:
            self.sock.sendall(tag + b" " + text + b" {%d}\r\n" % len(literal))
            line = self.read_line()
            if not line.startswith(b"+"):
                return [], line
            self.sock.sendall(literal + b"\r\n")
        untagged = []
        while True:
            line = self.read_line()
            if line.startswith(tag + b" "):
                return untagged, line[len(tag) + 1:]
            untagged.append(line)

    def ok(self, text, **kw):
        untagged, tagged = self.command(text, **kw)
        if not tagged.startswith(b"OK"):
            raise ImapError("%r: %r" % (text[:60], tagged))
        return untagged


def fetch_items(client, seq, items):
    """{item name: raw value bytes} for FETCH seq (ITEM...) where each item
    is ENVELOPE, BODY or BODYSTRUCTURE (parsed by balancing parentheses,
    skipping strings and literals)."""
    untagged = client.ok(b"FETCH %d (%s)" % (seq, b" ".join(items)))
    lines = [l for l in untagged if re.match(rb"\* %d FETCH \(" % seq, l)]
    if len(lines) != 1:
        raise ImapError("FETCH %d: %r" % (seq, untagged))
    data = lines[0][lines[0].index(b"(") + 1:]
    out = {}
    pos = 0
    while pos < len(data) and data[pos:pos + 1] != b")":
        m = re.match(rb" ?([A-Z.0-9\[\]]+) ", data[pos:])
        if not m:
            raise ImapError("cannot parse FETCH data at %r" % data[pos:pos + 40])
        name = m.group(1)
        pos += m.end()
        end = skip_value(data, pos)
        out[name] = data[pos:end]
        pos = end
    return out


def skip_value(data, pos):
    """End offset of the IMAP value (atom, string, literal or list)
    starting at pos."""
    depth = 0
    while pos < len(data):
        c = data[pos:pos + 1]
        if c == b"(":
            depth += 1
            pos += 1
        elif c == b")":
            if depth == 0:
                return pos
            depth -= 1
            pos += 1
            if depth == 0:
                return pos
        elif c == b'"':
            pos += 1
            while data[pos:pos + 1] != b'"':
                if data[pos:pos + 1] == b"\\":
                    pos += 1
                pos += 1
            pos += 1
            if depth == 0:
                return pos
        elif c == b"{":
            m = re.match(rb"\{(\d+)\+?\}\r\n", data[pos:])
            pos += m.end() + int(m.group(1))
            if depth == 0:
                return pos
        elif c == b" ":
            if depth == 0:
                return pos
            pos += 1
        else:
            while pos < len(data) and data[pos:pos + 1] not in b" ()":
                pos += 1
            if depth == 0:
                return pos
    return pos


def wait_port(host, port, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False
