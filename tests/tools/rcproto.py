#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""rcproto: a raw client of the roomcast protocol, written from dataplane/wire/PROTOCOL.md alone,
for the protocol checks of tests/integration/test_protocol.sh.

    rcproto.py --server IP[:PORT] --bind-ip IP --user U --token T CHECK [ARGS]

Each CHECK logs in (its own UDP socket), does one thing the spec promises and prints
"rcproto: FAIL: why" for every broken promise, then "rcproto: CHECK ok" or exits 1.
Nothing here is timed: a check waits for an answer it expects (up to --wait seconds, then
fails), and proves that something was NOT answered by waiting for the answer to a later
request that the node serves after it (same socket, same flow, same worker queue).
"""

import argparse
import hashlib
import hmac
import os
import socket
import struct
import sys

MAGIC, VERSION, HDR = 0x5243, 1, 20
T = dict(LOGIN=1, LOGIN_OK=2, JOIN=3, JOINED=4, LEAVE=5, LEFT=6, POST=7, ACK=8, DELIVER=9,
         FETCH=10, FETCH_END=11, MEMBERS=12, MEMBER_LIST=13, PING=14, PONG=15, LOGOUT=16,
         BYE=17, ERROR=18, RESUME=19, REDIRECT=20, RJOIN=21, RJOINED=22, RPOST=23, RFETCH=24,
         RLEAVE=25, RMEMBERS=26, ROOMS=27, ROOM_LIST=28, COOKIE=29, LOGIN_COOKIE=30)
NAME = {v: k for k, v in T.items()}
MAX_DGRAM = 1472
# <linux/in.h>: not all Python builds export these
IP_MTU_DISCOVER, IP_PMTUDISC_DONT, IP_PMTUDISC_DO = 10, 0, 2
FAILS = []


def fail(msg):
    FAILS.append(msg)
    print("rcproto: FAIL: " + msg, flush=True)


def s8(b):
    return struct.pack("!B", len(b)) + b


def s16(b):
    return struct.pack("!H", len(b)) + b


def msg(mtype, body=b"", session=0, rid=0, flags=0):
    return struct.pack("!HBBBBHQI", MAGIC, VERSION, mtype, flags, 0, len(body), session,
                       rid) + body


def login(user, token, session=0, rid=1):
    return msg(T["LOGIN"], s8(user.encode()) + s8(token.encode()), session, rid)


def join(room, since, session, rid):
    return msg(T["JOIN"], s8(room.encode()) + struct.pack("!Q", since), session, rid)


def fetch(room, frm, mx, session, rid):
    return msg(T["FETCH"], s8(room.encode()) + struct.pack("!QH", frm, mx), session, rid)


def post(room, cmid, body, session, rid):
    return msg(T["POST"], s8(room.encode()) + struct.pack("!Q", cmid) + s16(body.encode()),
               session, rid)


def ping(nonce, session, rid):
    return msg(T["PING"], struct.pack("!Q", nonce), session, rid)


def logout(session, rid):
    return msg(T["LOGOUT"], b"", session, rid)


class Msg:
    def __init__(self, mtype, session, rid, body):
        self.type, self.session, self.rid, self.body = mtype, session, rid, body

    def __repr__(self):
        return "%s(rid=%d, session=%x, %d bytes)" % (NAME.get(self.type, self.type), self.rid,
                                                    self.session, len(self.body))

    def u(self, fmt, off):
        return struct.unpack_from("!" + fmt, self.body, off)[0]

    def str8(self, off):
        n = self.body[off]
        return self.body[off + 1:off + 1 + n], off + 1 + n

    # fields by name, for the replies used here
    def login_ok(self):
        return struct.unpack("!QI", self.body)

    def error(self):
        code, ref = struct.unpack_from("!HB", self.body)
        text, _ = self.str8(3)
        return code, ref, text.decode(errors="replace")

    def fetch_end(self):
        return struct.unpack("!IQQQH", self.body)

    def joined(self):
        room, off = self.str8(0)
        return (room,) + struct.unpack_from("!IQI", self.body, off)

    def room_list(self):
        """[(canonical name, last_seq)]; None when the count does not match the entries."""
        count, off, out = struct.unpack_from("!H", self.body)[0], 2, []
        while off < len(self.body):
            room, off = self.str8(off)
            out.append((room.decode(errors="replace"), struct.unpack_from("!Q", self.body, off)[0]))
            off += 8
        return out if len(out) == count and off == len(self.body) else None


def decode(dgram):
    out, off = [], 0
    while len(dgram) - off >= HDR:
        magic, ver, mtype, flags, _res, blen, session, rid = struct.unpack_from(
            "!HBBBBHQI", dgram, off)
        if magic != MAGIC or ver != VERSION or off + HDR + blen > len(dgram):
            break
        out.append(Msg(mtype, session, rid, dgram[off + HDR:off + HDR + blen]))
        out[-1].flags = flags
        off += HDR + blen
    return out


class Client:
    def __init__(self, args):
        self.args = args
        self.server = (args.server_ip, args.port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((args.bind_ip, 0))
        self.sock.settimeout(args.wait)
        self.port = self.sock.getsockname()[1]
        self.seen = []  # every message received, in order
        self.rid = 100
        self.session = 0

    def next_rid(self):
        self.rid += 1
        return self.rid

    def send(self, data):
        self.sock.sendto(data, self.server)

    def recv_until(self, pred, what):
        """Receive until a message satisfies pred; returns it (or None after failing)."""
        while True:
            try:
                data, _ = self.sock.recvfrom(65535)
            except socket.timeout:
                fail("no answer: waited %gs for %s; got %s" % (self.args.wait, what,
                                                              self.seen[-8:]))
                return None
            for m in decode(data):
                self.seen.append(m)
                if pred(m):
                    return m

    def login(self, rid=1):
        self.send(login(self.args.user, self.args.token, 0, rid))
        m = self.recv_until(lambda m: m.rid == rid and m.type in (T["LOGIN_OK"], T["ERROR"]),
                            "LOGIN_OK")
        if m is None or m.type != T["LOGIN_OK"]:
            fail("LOGIN refused: %s" % (m.error() if m else None,))
            sys.exit(1)
        self.session = m.login_ok()[0]
        return self.session

    def sync(self):
        """A PING after everything sent so far: once its PONG is here, the node has served
        (or dropped) every earlier datagram of this socket."""
        nonce = int.from_bytes(os.urandom(8), "big") | 1
        rid = self.next_rid()
        self.send(ping(nonce, self.session, rid))
        return self.recv_until(lambda m: m.type == T["PONG"] and m.rid == rid, "the sync PONG")

    def replies_to(self, rid):
        return [m for m in self.seen if m.rid == rid]


# ---- IPv4 fragments, crafted (the sender's kernel would not split a small datagram) --------

def ip_checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def send_fragments(src_ip, src_port, dst_ip, dst_port, payload, first_len):
    """The UDP datagram (checksum 0: optional in IPv4) as two IPv4 fragments, the first
    carrying first_len bytes (a multiple of 8) of the UDP header + payload."""
    udp = struct.pack("!HHHH", src_port, dst_port, 8 + len(payload), 0) + payload
    ident = int.from_bytes(os.urandom(2), "big") | 1
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    try:
        for off, part, more in ((0, udp[:first_len], 1), (first_len, udp[first_len:], 0)):
            frag = (more << 13) | (off // 8)
            hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(part), ident, frag, 64,
                              socket.IPPROTO_UDP, 0, socket.inet_aton(src_ip),
                              socket.inet_aton(dst_ip))
            hdr = hdr[:10] + struct.pack("!H", ip_checksum(hdr)) + hdr[12:]
            raw.sendto(hdr + part, (dst_ip, 0))
    finally:
        raw.close()


def pongs(c, nonces):
    got = set()
    for m in c.seen:
        if m.type == T["PONG"] and len(m.body) == 8:
            n = m.u("Q", 0)
            if n in nonces:
                got.add(n)
    return got


# ---- the checks ------------------------------------------------------------------------------

def check_frag_ping(c, a):
    """A PING in two crafted IP fragments: not answered (the node drops fragments)."""
    c.login()
    nonce = 0xF1A6F1A6F1A6F1A6
    send_fragments(a.bind_ip, c.port, a.server_ip, a.port, ping(nonce, c.session, 7), 16)
    c.sync()
    if pongs(c, {nonce}):
        fail("a PING sent as two IP fragments was answered (PROTOCOL.md 1: fragments are "
             "dropped)")


def ping_bundle(c, size):
    """A datagram of `size` bytes made of PINGs (28 bytes each) and their nonces."""
    assert size % 28 == 0
    nonces = [0xB16B00B500000000 + i for i in range(size // 28)]
    return b"".join(ping(n, c.session, 500 + i) for i, n in enumerate(nonces)), set(nonces)


def check_frag_big(c, a):
    """A 1484-byte datagram that the sender's kernel fragments on the wire (MTU 1500):
    not answered."""
    c.login()
    data, nonces = ping_bundle(c, 1484)
    c.sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
    c.send(data)
    c.sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
    c.sync()
    got = pongs(c, nonces)
    if got:
        fail("%d PINGs of a 1484-byte datagram fragmented on the wire were answered" % len(got))


def check_oversize(c, a):
    """A 1484-byte datagram NOT fragmented (the path MTU allows it, DF set): dropped, since a
    datagram is at most 1472 bytes (PROTOCOL.md 1)."""
    c.login()
    data, nonces = ping_bundle(c, 1484)
    c.sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
    c.send(data)
    c.sync()
    got = pongs(c, nonces)
    if got:
        fail("%d PINGs of an unfragmented 1484-byte datagram were answered" % len(got))
    # the largest datagram allowed (1472 bytes) is served whole: 50 PINGs + a 72-byte
    # MEMBERS for a room that does not exist (answered ERROR 1)
    data, nonces = ping_bundle(c, 1400)
    rid = c.next_rid()
    data += msg(T["MEMBERS"], s8(b"n" * 51), c.session, rid)
    if len(data) != MAX_DGRAM:
        fail("internal: built %d bytes, not %d" % (len(data), MAX_DGRAM))
    c.send(data)
    c.recv_until(lambda m: m.rid == rid, "the answer to the MEMBERS ending a 1472-byte datagram")
    c.sync()
    got = pongs(c, nonces)
    if len(got) != len(nonces):
        fail("a 1472-byte datagram of %d PINGs: %d answered" % (len(nonces), len(got)))


def check_bundle_new_room(c, a):
    """JOIN + FETCH + POST for a room that does not exist yet, in one datagram: each answered
    as if it had come alone (PROTOCOL.md 3)."""
    c.login()
    room = a.room
    rj, rf, rp = c.next_rid(), c.next_rid(), c.next_rid()
    c.send(join(room, 0, c.session, rj) + fetch(room, 0, 10, c.session, rf) +
           post(room, 0xC0FFEE, "bundled with its JOIN", c.session, rp))
    ok = {rj: T["JOINED"], rf: T["FETCH_END"], rp: T["ACK"]}
    names = {rj: "JOIN", rf: "FETCH", rp: "POST"}
    for rid, want in ok.items():
        m = c.recv_until(lambda m, rid=rid: m.rid == rid and m.type in (want, T["ERROR"]),
                         "the answer to the bundled %s" % names[rid])
        if m is not None and m.type == T["ERROR"]:
            fail("bundled %s answered ERROR %s" % (names[rid], m.error()))
    c.sync()
    for m in c.seen:
        if m.type == T["ERROR"] and m.rid in ok:
            fail("bundled %s answered ERROR %s" % (names[m.rid], m.error()))
    fe = [m for m in c.seen if m.rid == rf and m.type == T["FETCH_END"]]
    if fe and fe[0].fetch_end()[1] != 1:
        fail("FETCH from 0: FETCH_END.from_seq %d, expected 1" % fe[0].fetch_end()[1])


def check_login_dup(c, a):
    """The same LOGIN datagram twice: one session, answered twice (PROTOCOL.md 7.1)."""
    dg = login(a.user, a.token, 0, 4242)
    c.send(dg)
    c.send(dg)
    first = c.recv_until(lambda m: m.rid == 4242 and m.type in (T["LOGIN_OK"], T["ERROR"]),
                         "the first LOGIN_OK")
    second = c.recv_until(lambda m: m.rid == 4242 and m.type in (T["LOGIN_OK"], T["ERROR"]),
                          "the second LOGIN_OK")
    if first is None or second is None:
        return
    if first.type != T["LOGIN_OK"] or second.type != T["LOGIN_OK"]:
        fail("duplicated LOGIN: answers %s, %s" % (first, second))
        return
    s1, s2 = first.login_ok()[0], second.login_ok()[0]
    if s1 != s2:
        fail("a duplicated LOGIN datagram created two sessions: %x and %x" % (s1, s2))
    # a LOGIN with another request id from the same socket is a new login: a new session
    c.send(login(a.user, a.token, 0, 4243))
    third = c.recv_until(lambda m: m.rid == 4243 and m.type in (T["LOGIN_OK"], T["ERROR"]),
                         "the LOGIN_OK of a new LOGIN")
    if third is not None and (third.type != T["LOGIN_OK"] or third.login_ok()[0] == s1):
        fail("a LOGIN with a new request id: %s (expected a new session)" % third)
    # a non-zero header session in LOGIN is ignored
    c.send(login(a.user, a.token, s1, 4244))
    fourth = c.recv_until(lambda m: m.rid == 4244 and m.type in (T["LOGIN_OK"], T["ERROR"]),
                          "the LOGIN_OK of a LOGIN with a header session")
    if fourth is not None and (fourth.type != T["LOGIN_OK"] or
                               fourth.login_ok()[0] in (s1, third.login_ok()[0] if third
                                                        else 0)):
        fail("a LOGIN carrying a header session: %s (expected a new session)" % fourth)
    print("rcproto: sessions %x %x" % (s1, third.login_ok()[0] if third else 0))


def tokens_key(secret):
    """The tokens key derived from the auth secret: HKDF-SHA256 (RFC 5869, no salt, info
    "roomcast tokens"), 32 bytes."""
    prk = hmac.new(b"\0" * 32, secret, hashlib.sha256).digest()
    return hmac.new(prk, b"roomcast tokens\x01", hashlib.sha256).digest()


def check_session_caps(c, a):
    """One user logging in from --cap + 4 sockets: each gets LOGIN_OK, the first 4 sessions
    are ended with an unasked BYE (chat.max_sessions_per_user, PROTOCOL.md 7.1) and refused
    afterwards (ERROR 5); a new LOGIN from a socket replaces its session."""
    socks = []
    for i in range(a.cap + 4):
        k = Client(a)
        socks.append((k, k.login(1)))
    for k, sid in socks[:4]:
        bye = k.recv_until(lambda m: m.type == T["BYE"], "the BYE of an evicted session")
        if bye is not None and bye.session != sid:
            fail("BYE for session %x, expected %x" % (bye.session, sid))
        k.send(ping(7, sid, 9))
        e = k.recv_until(lambda m: m.rid == 9, "the answer to a PING of an evicted session")
        if e is not None and (e.type != T["ERROR"] or e.error()[0] != 5):
            fail("PING of an evicted session: %s (expected ERROR 5)" % e)
    k, old = socks[-1]
    new = k.login(2)
    k.send(ping(8, old, 10))
    e = k.recv_until(lambda m: m.rid == 10, "the answer to a PING of a replaced session")
    if new == old or e is None or e.type != T["ERROR"] or e.error()[0] != 5:
        fail("LOGIN from the socket of session %x: %x, its PING %s (expected a new "
             "session, ERROR 5)" % (old, new, e))
    k.send(ping(9, new, 11))
    if k.recv_until(lambda m: m.rid == 11, "PONG").type != T["PONG"]:
        fail("the replacing session does not answer PING")


def mint(secret_file, user, expiry):
    """A token as PROTOCOL.md 5 (LOGIN) defines it ("v2.KID.IAT.EXP.MAC", key id 1, issued a
    minute before expiry), from the tokens key derived from the secret file's bytes."""
    with open(secret_file, "rb") as f:
        key = tokens_key(f.read())
    text = "v2.1.%d.%d" % ((expiry - 60) * 1000, expiry)
    mac = hmac.new(key, b"roomcast-token-v2\0" + user.encode() + b"\0" + text.encode(),
                   hashlib.sha256).hexdigest()
    return "%s.%s" % (text, mac)


def check_bad_login(c, a):
    """LOGINs refused: a bad MAC and a genuine but expired token (--secret). Answered ERROR 5,
    counted by reason (the shell checks the counters)."""
    signed, mac = a.token.rsplit(".", 1)
    bad = signed + "." + ("0" if mac[0] != "0" else "1") + mac[1:]
    if not a.secret:
        fail("bad-login needs --secret")
        return
    expired = mint(a.secret, a.user, 1000000000)
    for rid, tok in ((11, bad), (12, expired)):
        c.send(login(a.user, tok, 0, rid))
        m = c.recv_until(lambda m, rid=rid: m.rid == rid, "the ERROR to a bad LOGIN")
        if m is not None and (m.type != T["ERROR"] or m.error()[0] != 5):
            fail("a bad LOGIN (%d) answered %s" % (rid, m))


def check_logout_twice(c, a):
    """LOGOUT, then the same LOGOUT again (its BYE was lost): BYE both times (PROTOCOL.md
    7.10); the session is gone (a PING gets ERROR 5)."""
    c.login()
    for rid in (21, 22):
        c.send(logout(c.session, rid))
        m = c.recv_until(lambda m, rid=rid: m.rid == rid, "the answer to LOGOUT %d" % rid)
        if m is not None and m.type != T["BYE"]:
            fail("LOGOUT #%d answered %s %s" % (rid - 20, m,
                                                m.error() if m.type == T["ERROR"] else ""))
    c.send(ping(5, c.session, 23))
    m = c.recv_until(lambda m: m.rid == 23, "the answer to a PING after LOGOUT")
    if m is not None and (m.type != T["ERROR"] or m.error()[0] != 5):
        fail("PING after LOGOUT answered %s" % m)


def check_overrun(c, a):
    """A message whose body_len runs past the end of the datagram cannot be delimited: it
    ends the datagram, with no answer even with a valid session (PROTOCOL.md 3); the messages
    before it in the datagram are served."""
    c.login()
    good = ping(0xAB, c.session, 31)
    bad = ping(0xCD, c.session, 32)
    bad = bad[:6] + struct.pack("!H", 40) + bad[8:]  # body_len 40, only 8 bytes follow
    c.send(good + bad)
    c.sync()
    if not any(m.rid == 31 and m.type == T["PONG"] for m in c.seen):
        fail("the PING before an overrunning message was not answered")
    if c.replies_to(32):
        fail("a message running past the datagram was answered: %s" % c.replies_to(32))


def check_join_history(c, a):
    """FETCH_END.from_seq after a JOIN with since_seq 0 is the first seq of the history sent
    (last_seq - history_on_join + 1, at least 1)."""
    c.login()
    room = a.room
    rid = c.next_rid()
    c.send(join(room, 0, c.session, rid))
    m = c.recv_until(lambda m: m.rid == rid and m.type == T["JOINED"], "JOINED")
    if m is None:
        return
    last = m.joined()[2]
    # more messages than a JOIN sends back, so that from_seq is not simply 1
    for i in range(last, a.history + 3):
        r = c.next_rid()
        c.send(post(room, 0x5EED0000 + i + 1, "history %d" % i, c.session, r))
        ack = c.recv_until(lambda m, r=r: m.rid == r and m.type in (T["ACK"], T["ERROR"]),
                           "ACK")
        if ack is None or ack.type != T["ACK"]:
            fail("POST %d: %s" % (i, ack.error() if ack else None))
            return
    rid = c.next_rid()
    c.send(join(room, 0, c.session, rid))
    fe = c.recv_until(lambda m: m.rid == rid and m.type == T["FETCH_END"], "FETCH_END")
    if fe is None:
        return
    _, frm, nxt, lst, count = fe.fetch_end()
    want = max(1, lst - a.history + 1)
    if frm != want or nxt != lst + 1 or count != lst - want + 1:
        fail("JOIN since 0: FETCH_END from %d next %d last %d count %d; expected from %d" %
             (frm, nxt, lst, count, want))


def check_fetch_flood(c, a):
    """One session FETCHes its room's whole history --count times, one datagram each, as
    fast as it can (review S15): the node serves what the session's request budget pays for
    (a FETCH costs 1 + the messages it returns, PROTOCOL.md 7.11) and refuses the rest with
    ERROR 4. The room gets --history messages first. Prints what was served and refused;
    fails if nothing was refused."""
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    c.login()
    join_room(c, a.room)
    for i in range(a.history):
        r = c.next_rid()
        c.send(post(a.room, 0xF1000000 + i + 1, "fetched %d" % i, c.session, r))
        ack = c.recv_until(lambda m, r=r: m.rid == r and m.type in (T["ACK"], T["ERROR"]),
                           "ACK")
        if ack is None or ack.type != T["ACK"]:
            fail("POST %d: %s" % (i, ack.error() if ack else None))
            return
    rids = set()
    for _ in range(a.count):
        rids.add(c.next_rid())
        c.send(fetch(a.room, 1, a.history, c.session, max(rids)))
    served = refused = 0
    c.sock.settimeout(1.5)
    while True:
        try:
            data, _ = c.sock.recvfrom(65535)
        except socket.timeout:
            break
        for m in decode(data):
            if m.rid not in rids:
                continue
            if m.type == T["FETCH_END"]:
                served += 1
            elif m.type == T["ERROR"] and m.error()[0] == 4:
                refused += 1
    print("rcproto: fetch-flood served=%d refused=%d of %d" % (served, refused, a.count))
    if refused == 0:
        fail("%d FETCHes of %d messages each: none refused over the request budget" %
             (a.count, a.history))


def join_room(c, room):
    rid = c.next_rid()
    c.send(join(room, 0, c.session, rid))
    m = c.recv_until(lambda m: m.rid == rid and m.type in (T["JOINED"], T["ERROR"]), "JOINED")
    if m is None or m.type != T["JOINED"]:
        fail("JOIN %s: %s" % (room, m.error() if m else None))
        sys.exit(1)
    return m


def post_wait(c, room, cmid, text):
    rid = c.next_rid()
    c.send(post(room, cmid, text, c.session, rid))
    return c.recv_until(lambda m: m.rid == rid and m.type in (T["ACK"], T["ERROR"]),
                        "the answer to POST cmid %d" % cmid)


def check_post(c, a):
    """Store one POST (--cmid) in --room; prints its seq."""
    c.login()
    join_room(c, a.room)
    m = post_wait(c, a.room, a.cmid, "stored before the storage filled up")
    if m is None or m.type != T["ACK"]:
        fail("POST: %s" % (m.error() if m else None))
        return
    print("rcproto: seq %d" % m.u("Q", 12))


def check_archived(c, a):
    """An archived room (--room, holding --seq messages): JOINED with last seq --seq, a new
    POST (--cmid) gets ERROR 11, a FETCH from 1 returns the --seq messages, MEMBERS answers."""
    c.login()
    m = join_room(c, a.room)
    if m.joined()[2] != a.seq:
        fail("JOINED last seq %d, expected %d" % (m.joined()[2], a.seq))
    m = post_wait(c, a.room, a.cmid, "into an archived room")
    if m is None or m.type != T["ERROR"] or m.error()[0] != 11:
        fail("a POST to an archived room: %s, expected ERROR 11" %
             (m.error() if m is not None and m.type == T["ERROR"] else m,))
    rid = c.next_rid()
    c.send(fetch(a.room, 1, 100, c.session, rid))
    fe = c.recv_until(lambda m: m.rid == rid and m.type == T["FETCH_END"], "FETCH_END")
    if fe is not None and fe.fetch_end()[4] != a.seq:
        fail("FETCH of an archived room: %d messages, expected %d" %
             (fe.fetch_end()[4], a.seq))
    rid = c.next_rid()
    c.send(msg(T["MEMBERS"], s8(a.room.encode()), c.session, rid))
    c.recv_until(lambda m: m.rid == rid and m.type == T["MEMBER_LIST"], "MEMBER_LIST")


def check_deleted(c, a):
    """A deleted room (--room): a POST to it gets ERROR 1 (unknown room); with --expect
    fresh a JOIN creates a new room of that name (JOINED: last seq 0, a FETCH from 1 brings
    nothing; it prints the room id); with --expect full the JOIN gets ERROR 10."""
    c.login()
    m = post_wait(c, a.room, a.cmid, "into a deleted room")
    if m is None or m.type != T["ERROR"] or m.error()[0] != 1:
        fail("a POST to a deleted room: %s, expected ERROR 1" %
             (m.error() if m is not None and m.type == T["ERROR"] else m,))
    rid = c.next_rid()
    c.send(join(a.room, 0, c.session, rid))
    m = c.recv_until(lambda m: m.rid == rid and m.type in (T["JOINED"], T["ERROR"]), "JOINED")
    if m is None:
        return
    if a.expect == "full":
        if m.type != T["ERROR"] or m.error()[0] != 10:
            fail("JOIN with every room id taken: %s, expected ERROR 10" %
                 (m.error() if m.type == T["ERROR"] else m.joined(),))
        return
    if m.type != T["JOINED"]:
        fail("JOIN of a deleted room's name: %s" % (m.error(),))
        return
    _, room_id, last, _ = m.joined()
    print("rcproto: room id %d" % room_id)
    if last != 0:
        fail("JOIN of a deleted room's name: last seq %d, expected a new room, empty" % last)
    rid = c.next_rid()
    c.send(fetch(a.room, 1, 100, c.session, rid))
    fe = c.recv_until(lambda m: m.rid == rid and m.type == T["FETCH_END"], "FETCH_END")
    if fe is not None and fe.fetch_end()[4] != 0:
        fail("FETCH of the new room: %d messages of the deleted one" % fe.fetch_end()[4])


def check_resend_full(c, a):
    """While storage is full: a resend of a stored POST (same user, --cmid) is acknowledged
    with its seq (--seq), from another session of the user too; a new POST gets ERROR 7
    (PROTOCOL.md 7.6, 7.11)."""
    c.login()
    join_room(c, a.room)
    m = post_wait(c, a.room, a.cmid, "stored before the storage filled up")
    if m is None or m.type != T["ACK"] or m.u("Q", 12) != a.seq:
        fail("a resend of a stored POST while storage is full: %s, expected ACK seq %d" %
             (m.error() if m is not None and m.type == T["ERROR"] else m, a.seq))
    m = post_wait(c, a.room, a.cmid ^ 0x5A5A0000, "new while full")
    if m is None or m.type != T["ERROR"] or m.error()[0] != 7:
        fail("a new POST while storage is full: %s, expected ERROR 7" %
             (m.error() if m is not None and m.type == T["ERROR"] else m,))


def check_redirect(c, a):
    """LOGIN of a user homed elsewhere: REDIRECT (node, ip, udp_port) as --expect-home says
    ("NODE IP PORT"), no session; --expect-home none: LOGIN_OK (served here)."""
    c.send(login(a.user, a.token, 0, 1))
    m = c.recv_until(lambda m: m.rid == 1 and m.type in (T["LOGIN_OK"], T["REDIRECT"],
                                                         T["ERROR"]), "the LOGIN's answer")
    if m is None:
        return
    if a.expect_home == "none":
        if m.type != T["LOGIN_OK"]:
            fail("LOGIN at the home node: %s, expected LOGIN_OK" % (m,))
        return
    if m.type != T["REDIRECT"]:
        fail("LOGIN away from the home node: %s, expected REDIRECT" % (m,))
        return
    node, off = m.str8(0)
    ip, port = struct.unpack_from("!IH", m.body, off)
    got = "%s %s %d" % (node.decode(), socket.inet_ntoa(struct.pack("!I", ip)), port)
    if got != a.expect_home:
        fail("REDIRECT to %s, expected %s" % (got, a.expect_home))
    if m.session != 0:
        fail("REDIRECT carries session %x: it is no session" % m.session)


def wait_resume(c, reason, secs):
    """The next RESUME of this session (a node took it over or gave it back): its node."""
    c.sock.settimeout(secs)
    m = c.recv_until(lambda m: m.type == T["RESUME"], "a RESUME (%s)" % reason)
    c.sock.settimeout(c.args.wait)
    if m is None:
        sys.exit(1)
    node, off = m.str8(0)
    got = ("failover", "fallback", "other")[m.body[off] - 1] if 1 <= m.body[off] <= 3 else "?"
    print("rcproto: resumed on %s (%s)" % (node.decode(errors="replace"), got), flush=True)
    if got != reason:
        fail("RESUME reason %s, expected %s" % (got, reason))


def expect_unavailable(c, room, node):
    """JOIN and POST in a room of --node while it is down (HA off): ERROR 8, "unavailable
    until NODE returns"."""
    want = "unavailable until %s returns" % node
    for what, data in (("JOIN", lambda rid: join(room, 0, c.session, rid)),
                       ("POST", lambda rid: post(room, 99, "while away", c.session, rid))):
        rid = c.next_rid()
        c.send(data(rid))
        m = c.recv_until(lambda m, rid=rid: m.rid == rid and m.type in (
            T["JOINED"], T["ACK"], T["ERROR"]), "the answer to " + what)
        if m is None or m.type != T["ERROR"] or m.error()[0] != 8 or m.error()[2] != want:
            fail("%s in %s while %s is down: %s, expected ERROR 8 \"%s\"" %
                 (what, room, node, m.error() if m is not None and m.type == T["ERROR"] else m,
                  want))
        else:
            print("rcproto: %s answered ERROR 8: %s" % (what, want), flush=True)


def check_ha_off(c, a):
    """HA off for the pair, a user of --node: joins and posts in --room (a room of --node);
    when --node dies the peer resumes the session (RESUME failover) but the room answers
    ERROR 8 "unavailable until NODE returns" to JOIN and POST; when --node returns it takes
    the session back (RESUME fallback) and the room works again, its history kept. Prints
    "rcproto: step N" lines for the test to act on; --resume-wait bounds each wait."""
    c.login()
    join_room(c, a.room)
    m = post_wait(c, a.room, a.cmid, "before the node dies")
    if m is None or m.type != T["ACK"]:
        fail("POST: %s" % (m.error() if m else None))
        return
    seq = m.u("Q", 12)
    print("rcproto: step 1: joined, seq %d" % seq, flush=True)
    wait_resume(c, "failover", a.resume_wait)
    expect_unavailable(c, a.room, a.node)
    print("rcproto: step 2: room unavailable", flush=True)
    wait_resume(c, "fallback", a.resume_wait)
    join_room(c, a.room)
    m = post_wait(c, a.room, a.cmid + 1, "after the node returned")
    if m is None or m.type != T["ACK"] or m.u("Q", 12) != seq + 1:
        fail("POST after the node returned: %s, expected ACK seq %d" %
             (m.error() if m is not None and m.type == T["ERROR"] else m, seq + 1))
    print("rcproto: step 3: the room is back", flush=True)


def check_rooms(c, a):
    """ROOMS(prefix): ROOM_LISTs (MORE on all but the last) naming the rooms that start with
    the prefix, with their last seq; a prefix nothing matches: one empty ROOM_LIST
    (PROTOCOL.md 11.2). Rooms --room-a and --room-b are joined first, one POST in the second."""
    c.login()
    join_room(c, a.room + "-a")
    join_room(c, a.room + "-b")
    m = post_wait(c, a.room + "-b", 0xD1, "listed")
    if m is None or m.type != T["ACK"]:
        fail("POST: %s" % (m.error() if m else None))
        return
    for prefix, want in ((a.room, {a.room + "-a": 0, a.room + "-b": 1}), ("zz-none", {})):
        rid = c.next_rid()
        c.send(msg(T["ROOMS"], s8(prefix.encode()), c.session, rid))
        got = {}
        while True:
            m = c.recv_until(lambda m, r=rid: m.rid == r and m.type in (T["ROOM_LIST"],
                                                                        T["ERROR"]), "ROOM_LIST")
            if m is None or m.type != T["ROOM_LIST"] or m.room_list() is None:
                fail("ROOMS %r: %s" % (prefix, m.error() if m and m.type == T["ERROR"] else m))
                return
            got.update(dict(m.room_list()))
            if not m.flags & 1:
                break
        # a node without services lists names as created; with them, NAME@SERVICE
        seen = {n.split("@")[0]: v for n, v in got.items()}
        if seen != want or any(not n.startswith(prefix) for n in got):
            fail("ROOMS %r listed %s, expected %s" % (prefix, got, want))


def check_rooms_list(c, a):
    """ROOMS(--room as the prefix) as a client sees it: every listed room, one "rcproto: room
    NAME LAST_SEQ" line each, in the order received (the test checks the rooms of the whole
    cluster are there, PROTOCOL.md 11)."""
    c.login()
    rid = c.next_rid()
    c.send(msg(T["ROOMS"], s8(a.room.encode()), c.session, rid))
    while True:
        m = c.recv_until(lambda m, r=rid: m.rid == r and m.type in (T["ROOM_LIST"], T["ERROR"]),
                         "ROOM_LIST")
        if m is None or m.type != T["ROOM_LIST"] or m.room_list() is None:
            fail("ROOMS: %s" % (m.error() if m and m.type == T["ERROR"] else m))
            return
        for name, seq in m.room_list():
            print("rcproto: room %s %d" % (name, seq), flush=True)
        if not m.flags & 1:
            break


def check_relay_refused(c, a):
    """The node-to-node types (and REDIRECT, ROOM_LIST) in a client's datagram, with a live
    session: dropped without an answer (PROTOCOL.md 5)."""
    c.login()
    join_room(c, a.room)
    bodies = {
        "RJOIN": struct.pack("!IQ", 1, 0) + s8(a.user.encode()) + s8(a.room.encode()),
        "RPOST": struct.pack("!IIQ", 1, 1, 0xBAD) + s8(a.user.encode()) + s16(b"forged"),
        "RFETCH": struct.pack("!IIQH", 1, 1, 1, 10),
        "RLEAVE": struct.pack("!II", 1, 1),
        "RMEMBERS": struct.pack("!II", 1, 1),
        "RJOINED": struct.pack("!IIQ", 1, 1, 0),
        "REDIRECT": s8(b"n9") + struct.pack("!IH", 0x7F000001, 6420),
        "ROOM_LIST": struct.pack("!H", 0),
    }
    rids = {}
    data = b""
    for name, body in bodies.items():
        rids[name] = c.next_rid()
        data += msg(T[name], body, c.session, rids[name])
    c.send(data)
    c.sync()
    for name, rid in rids.items():
        if c.replies_to(rid):
            fail("%s from a client was answered: %s" % (name, c.replies_to(rid)))
    print("rcproto: sent %d" % len(rids))


CHECKS = {
    "ha-off": check_ha_off,
    "rooms": check_rooms,
    "rooms-list": check_rooms_list,
    "relay-refused": check_relay_refused,
    "post": check_post,
    "archived": check_archived,
    "deleted": check_deleted,
    "resend-full": check_resend_full,
    "frag-ping": check_frag_ping,
    "frag-big": check_frag_big,
    "oversize": check_oversize,
    "bundle-new-room": check_bundle_new_room,
    "login-dup": check_login_dup,
    "session-caps": check_session_caps,
    "bad-login": check_bad_login,
    "logout-twice": check_logout_twice,
    "overrun": check_overrun,
    "join-history": check_join_history,
    "redirect": check_redirect,
    "fetch-flood": check_fetch_flood,
}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", required=True)
    p.add_argument("--bind-ip", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--secret", help="the node's secret file (to mint an expired token)")
    p.add_argument("--room", default="proto-room")
    p.add_argument("--history", type=int, default=20, help="the node's history_on_join")
    p.add_argument("--cmid", type=int, default=1)
    p.add_argument("--count", type=int, default=100, help="fetch-flood: FETCHes sent")
    p.add_argument("--cap", type=int, default=8, help="session-caps: max_sessions_per_user")
    p.add_argument("--seq", type=int, default=0)
    p.add_argument("--expect", choices=("fresh", "full"), default="fresh",
                   help="deleted: what a JOIN of the deleted room's name gets")
    p.add_argument("--expect-home", default="none",
                   help="redirect: \"NODE IP PORT\" of the REDIRECT expected, or none")


    p.add_argument("--node", default="n1", help="ha-off: the node whose room --room is")
    p.add_argument("--resume-wait", type=float, default=60.0,
                   help="ha-off: seconds to wait for each RESUME")
    p.add_argument("--wait", type=float, default=10.0,
                   help="seconds to wait for an expected answer before failing")
    p.add_argument("check", choices=sorted(CHECKS))
    a = p.parse_args()
    a.server_ip, _, port = a.server.partition(":")
    a.port = int(port or 6420)
    c = Client(a)
    CHECKS[a.check](c, a)
    if FAILS:
        sys.exit(1)
    print("rcproto: %s ok" % a.check)


if __name__ == "__main__":
    main()
