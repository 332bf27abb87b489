#!/usr/bin/env python3
"""login_share: how many of N genuine LOGINs a node answers LOGIN_OK, one try each.

Users P0..P{N-1} (tokens minted from --secret), one socket each from --bind-ip, all LOGINs
sent at once; each waits up to --wait seconds for its answer. A COOKIE (the node under a
LOGIN flood, PROTOCOL.md 7.1) is answered with the LOGIN_COOKIE it asks for, as the client
library does; nothing is retransmitted. Prints "login_share: ok=K of N" (and how many were
refused or answered COOKIE). For tests/bench/floods; no timing is judged here.
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
    p.add_argument("--wait", type=float, default=2.0)
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
        s.sendto(rcproto.msg(rcproto.T["LOGIN"], body[s], 0, i + 1), server)
        socks.append(s)
        state[s] = "lost"
    cookies = 0
    end = time.monotonic() + a.wait
    pending = set(socks)
    while pending and time.monotonic() < end:
        ready, _, _ = select.select(list(pending), [], [], max(0.0, end - time.monotonic()))
        for s in ready:
            for m in rcproto.decode(s.recv(2048)):
                if m.type == rcproto.T["COOKIE"] and len(m.body) == 12:
                    cookies += 1
                    s.sendto(rcproto.msg(rcproto.T["LOGIN_COOKIE"], body[s] + m.body, 0, m.rid),
                             server)
                elif m.type in (rcproto.T["LOGIN_OK"], rcproto.T["ERROR"]):
                    state[s] = "ok" if m.type == rcproto.T["LOGIN_OK"] else "refused"
                    pending.discard(s)
    ok = sum(1 for v in state.values() if v == "ok")
    refused = sum(1 for v in state.values() if v == "refused")
    print("login_share: ok=%d of %d refused=%d cookies=%d" % (ok, a.users, refused, cookies))


if __name__ == "__main__":
    main()
