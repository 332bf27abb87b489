#!/usr/bin/env python3
"""login_share: how many of N genuine LOGINs a node answers LOGIN_OK within --wait seconds.

Users PREFIX0..PREFIX{N-1} (tokens minted from --secret), one socket each from --bind-ip,
all LOGINs sent at once and retransmitted as a client does (the same request id, after
--rto seconds, the interval doubling); a COOKIE (the node under a LOGIN flood, PROTOCOL.md
7.1) is answered at once with the LOGIN_COOKIE it asks for, which is what is retransmitted
from then on, as the client library does. Prints "login_share: ok=K of N" (and how many
were refused, the COOKIEs and the transmissions). For tests/bench/floods; no timing is
judged here.
"""
import argparse
import os
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import rcproto  # noqa: E402  (the protocol's encoders and the token minter)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", required=True)
    p.add_argument("--bind-ip", required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--prefix", default="share")
    p.add_argument("--wait", type=float, default=5.0)
    p.add_argument("--rto", type=float, default=0.25)
    a = p.parse_args()
    ip, _, port = a.server.partition(":")
    server = (ip, int(port or 6420))
    expiry = int(time.time()) + 3600
    socks, body, state = [], {}, {}
    for i in range(a.users):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((a.bind_ip, 0))
        s.setblocking(False)
        user = "%s%d" % (a.prefix, i)
        body[s] = rcproto.s8(user.encode()) + rcproto.s8(rcproto.mint(a.secret, user,
                                                                       expiry).encode())
        socks.append(s)
        state[s] = "lost"
    now = time.monotonic()
    out = {s: rcproto.msg(rcproto.T["LOGIN"], body[s], 0, i + 1) for i, s in enumerate(socks)}
    due = {s: now for s in socks}
    rto = {s: a.rto for s in socks}
    cookies = sends = 0
    end = now + a.wait
    pending = set(socks)
    while pending and time.monotonic() < end:
        now = time.monotonic()
        for s in pending:
            if due[s] <= now:
                s.sendto(out[s], server)
                sends += 1
                due[s], rto[s] = now + rto[s], rto[s] * 2
        wake = min(min(due[s] for s in pending), end)
        ready, _, _ = select.select(list(pending), [], [], max(0.0, wake - now))
        for s in ready:
            for m in rcproto.decode(s.recv(2048)):
                if m.type == rcproto.T["COOKIE"] and len(m.body) == 12:
                    cookies += 1
                    out[s] = rcproto.msg(rcproto.T["LOGIN_COOKIE"], body[s] + m.body, 0, m.rid)
                    due[s] = time.monotonic()
                elif m.type in (rcproto.T["LOGIN_OK"], rcproto.T["ERROR"]):
                    state[s] = "ok" if m.type == rcproto.T["LOGIN_OK"] else "refused"
                    pending.discard(s)
    ok = sum(1 for v in state.values() if v == "ok")
    refused = sum(1 for v in state.values() if v == "refused")
    print("login_share: ok=%d of %d refused=%d cookies=%d sends=%d" %
          (ok, a.users, refused, cookies, sends))


if __name__ == "__main__":
    main()
