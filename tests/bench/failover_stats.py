#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The figures of tests/bench/failover, from what the run left behind.

Inputs:
  --cycles FILE   one line per kill (tab-separated, realtime seconds as `date +%s.%N`):
                  n victim survivor t_kill t_restart t_fallback t_normal
  --log ID=FILE   each node's roomcastd log (ISO UTC timestamps with ms, "ha: ..." lines)
  --pauses FILE   rcha's pauses.tsv (user, start_ms, length_ms; ms since rcha's start)
  --t0 SECONDS    realtime just before `rcha run` started (its ms 0, within a few ms)
  --servers IDS   the node ids in rcha's --server order (user i talks to IDS[i % len])
  --run FILE / --verify FILE   rcha run's and rcha verify's "key: value" output

Per kill, from the survivor's log: detection = "ha: peer VICTIM is silent ... dead" - kill,
takeover = "Taking Over -> Running in Backup Mode" - kill (the first of each after the kill
and before the restart). Pause of a client = the longest gap between two of its events
(ACK or delivery) that starts within [kill - 1 s, min(kill + 5 s, restart)): one sample per
client of the victim's address per kill (the survivor's own clients are shown apart, and so
are the pauses when the victim comes back and at fallback).

Prints a per-kill table, a summary table, then the "key: value" lines for scripts.
Percentiles: nearest rank (p99 of fewer than 100 samples is the maximum).
"""
import argparse
import math
import re
import sys
from datetime import datetime, timezone

LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z \S+ \w+: (.*)$")


def parse_log(path):
    """[(realtime seconds, message)] of a roomcastd log, in file order."""
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            t = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
            out.append((t.replace(tzinfo=timezone.utc).timestamp(), m.group(2)))
    return out


def first(log, pattern, lo, hi):
    """Realtime of the first message matching pattern with lo <= t < hi, or None."""
    rx = re.compile(pattern)
    for t, msg in log:
        if lo <= t < hi and rx.search(msg):
            return t
    return None


def kv(path):
    """The "key: value" lines of a file."""
    d = {}
    try:
        with open(path) as f:
            for line in f:
                k, sep, v = line.partition(": ")
                if sep:
                    d[k.strip()] = v.strip()
    except OSError:
        pass
    return d


def pct(xs, p):
    if not xs:
        return None
    s = sorted(xs)
    return s[max(0, math.ceil(p * len(s)) - 1)]


def fmt(x):
    return "n/a" if x is None else ("%d" % round(x))


def ms(t, t_kill):
    return None if t is None else (t - t_kill) * 1000.0


def load_pauses(path, t0):
    """{user: [(start realtime, length ms)]}"""
    out = {}
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            user, start, length = line.split("\t")[:3]
            out.setdefault(user, []).append((t0 + int(start) / 1000.0, int(length)))
    return out


def user_index(user):
    m = re.search(r"(\d+)$", user)
    return int(m.group(1)) if m else None


def longest(pauses, users, lo, hi):
    """{user: longest pause starting in [lo, hi)} for each of users (0 when none > pause-ms)."""
    return {u: max([ln for st, ln in pauses.get(u, []) if lo <= st < hi], default=0)
            for u in users}


def show_events(path):
    """rcha's events other than the expected RESUMEs and re-joins, counted by kind."""
    if not path:
        return
    seen = {}
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            kind = line.split("\t")[2]
            if kind not in ("resumed", "rejoined"):
                seen[kind] = seen.get(kind, 0) + 1
    print("client events besides resumed/rejoined: %s" % (
        ", ".join("%s %d" % kv for kv in sorted(seen.items())) or "none"))


def show_acked(path, t0, limit=5):
    """What the clients saw that the invariants forbid (rcha verify counts it, this shows
    it): one message at two seqs, or one seq acknowledged or delivered as two messages."""
    if not path:
        return
    seqs, msgs = {}, {}
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                continue
            x = line.rstrip("\n").split("\t")
            room, cmid, seq, t = x[2], x[3], int(x[4]), int(x[5])
            sender = x[1] if x[0] == "A" else x[6]
            seqs.setdefault((room, sender, cmid), {}).setdefault(seq, t)
            msgs.setdefault((room, seq), {}).setdefault((sender, cmid), t)
    bad = []
    for (room, sender, cmid), at in seqs.items():
        if len(at) > 1:
            bad.append((min(at.values()), "%s: %s's cmid %s at seqs %s" % (
                room, sender, cmid, ", ".join("%d (t_ms %d)" % kv for kv in sorted(at.items())))))
    for (room, seq), who in msgs.items():
        if len(who) > 1:
            bad.append((min(who.values()), "%s seq %d holds %s" % (room, seq, ", ".join(
                "%s's cmid %s (t_ms %d)" % (u, c, t) for (u, c), t in sorted(who.items())))))
    bad.sort()
    print("seen by clients: %d message(s) at two seqs or seq(s) holding two messages%s" % (
        len(bad), " (t_ms 0 = %s UTC)" % datetime.fromtimestamp(t0, timezone.utc).strftime(
            "%H:%M:%S.%f")[:-3] if bad else ""))
    for _, text in bad[:limit]:
        print("  " + text)
    if len(bad) > limit:
        print("  ... (%d more)" % (len(bad) - limit))


def show_alarms(logs, limit=10):
    """The nodes' ALARM and fencing lines (the first few)."""
    rx = re.compile(r"ALARM|fencing|STALLED|handing over anyway")
    hits = sorted((t, node, msg) for node, log in logs.items() for t, msg in log if rx.search(msg))
    print("log alarms: %d" % len(hits))
    for t, node, msg in hits[:limit]:
        stamp = datetime.fromtimestamp(t, timezone.utc).strftime("%H:%M:%S.%f")[:-3]
        print("  %s %s %s" % (stamp, node, msg))
    if len(hits) > limit:
        print("  ... (%d more)" % (len(hits) - limit))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", required=True)
    ap.add_argument("--log", action="append", default=[], required=True)
    ap.add_argument("--pauses", required=True)
    ap.add_argument("--t0", type=float, required=True)
    ap.add_argument("--servers", required=True)
    ap.add_argument("--users", type=int, required=True)
    ap.add_argument("--user-prefix", default="ha")
    ap.add_argument("--pause-ms", type=int, required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--verify", required=True)
    ap.add_argument("--events", help="rcha's events.tsv (re-logins, lost sessions, failures)")
    ap.add_argument("--acked", help="rcha's acked.tsv (ACKs and deliveries)")
    ap.add_argument("--drain-alarms", default="n/a", help="rows in the drain_alarms table")
    a = ap.parse_args()

    logs = {}
    for spec in a.log:
        node, _, path = spec.partition("=")
        logs[node] = parse_log(path)
    servers = a.servers.split(",")
    clients = {s: [] for s in servers}
    for i in range(a.users):
        clients[servers[i % len(servers)]].append("%s%d" % (a.user_prefix, i))
    pauses = load_pauses(a.pauses, a.t0)

    cycles = []
    with open(a.cycles) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            n, victim, surv, tk, tr, tf, tn = line.split("\t")[:7]
            cycles.append((int(n), victim, surv, float(tk), float(tr), float(tf), float(tn)))

    det, tko, back, fbk = [], [], [], []
    p_victim, p_surv, p_rejoin, p_fallback = [], [], [], []
    missing = []
    print("%-4s %-6s %-8s %9s %11s %10s %11s %12s %14s %13s" % (
        "kill", "victim", "survivor", "detect_ms", "takeover_ms", "pause_ms", "surv_pause",
        "restart_ms", "rejoin_pause", "fallback_ms"))
    for i, (n, victim, surv, tk, tr, tf, tn) in enumerate(cycles):
        nxt = cycles[i + 1][3] - 1.0 if i + 1 < len(cycles) else float("inf")
        slog, vlog = logs[surv], logs[victim]
        d = ms(first(slog, r"ha: peer %s is silent .*: dead" % re.escape(victim), tk, tr), tk)
        t = ms(first(slog, r"ha: Taking Over -> Running in Backup Mode", tk, tr), tk)
        # the victim's restart: from the start command to its "-> Failed Over"
        b = ms(first(vlog, r"ha: \S.* -> Failed Over \(", tr, tf + 1), tr)
        # fallback: from `ha fallback` to the victim's "Taking Back -> Normal"
        fb = ms(first(vlog, r"ha: Taking Back -> Normal", tf, tn + 1), tf)
        for name, x in (("detection", d), ("takeover", t), ("restart", b), ("fallback", fb)):
            if x is None:
                missing.append("kill %d (%s): no %s line in the log" % (n, victim, name))
        pv = longest(pauses, clients[victim], tk - 1.0, min(tk + 5.0, tr))
        ps = longest(pauses, clients[surv], tk - 1.0, min(tk + 5.0, tr))
        pr = longest(pauses, clients[victim] + clients[surv], tr, tf)
        pf = longest(pauses, clients[victim] + clients[surv], tf, nxt)
        for lst, x in ((det, d), (tko, t), (back, b), (fbk, fb)):
            if x is not None:
                lst.append(x)
        p_victim += pv.values()
        p_surv += ps.values()
        p_rejoin += pr.values()
        p_fallback += pf.values()
        print("%-4d %-6s %-8s %9s %11s %10s %11s %12s %14s %13s" % (
            n, victim, surv, fmt(d), fmt(t), fmt(max(pv.values(), default=None)),
            fmt(max(ps.values(), default=None)), fmt(b), fmt(max(pr.values(), default=None)),
            fmt(fb)))
    for m in missing:
        print("warning: %s" % m)
    if 0 in p_victim:
        print("note: %d of %d victim-client samples had no pause > %d ms (counted as 0)"
              % (p_victim.count(0), len(p_victim), a.pause_ms))

    run, ver = kv(a.run), kv(a.verify)
    print()
    print("%-44s %8s %8s %8s %8s" % ("figure (ms)", "samples", "p50", "p99", "max"))
    rows = (
        ("detection (kill -> peer dead)", det),
        ("takeover (kill -> Running in Backup Mode)", tko),
        ("client pause, victim's clients", p_victim),
        ("client pause, survivor's clients", p_surv),
        ("victim restart (start -> Failed Over)", back),
        ("client pause while the victim rejoins", p_rejoin),
        ("fallback (ha fallback -> Normal)", fbk),
        ("client pause around fallback", p_fallback),
    )
    for name, xs in rows:
        print("%-44s %8d %8s %8s %8s" % (name, len(xs), fmt(pct(xs, 0.5)), fmt(pct(xs, 0.99)),
                                       fmt(max(xs, default=None))))
    print()
    print("rcha run: posts %s, acked %s, unacked %s, failed %s, resumes %s, relogins %s" % tuple(
        run.get(k, "?") for k in ("posts", "acked", "unacked", "failed", "resumes", "relogins")))
    print("rcha verify: rows %s, acked %s, lost_acked %s, duplicates %s, gaps %s, relogins %s"
          % tuple(ver.get(k, "?") for k in ("rows", "acked", "lost_acked", "duplicates", "gaps",
                                             "relogins")))
    print("drain_alarms rows: %s" % a.drain_alarms)
    show_events(a.events)
    show_acked(a.acked, a.t0)
    show_alarms(logs)
    print()
    print("kills: %d" % len(cycles))
    print("lost_acked: %s" % ver.get("lost_acked", "n/a"))
    print("duplicates: %s" % ver.get("duplicates", "n/a"))
    print("detect_p50_ms: %s" % fmt(pct(det, 0.5)))
    print("detect_p99_ms: %s" % fmt(pct(det, 0.99)))
    print("takeover_p50_ms: %s" % fmt(pct(tko, 0.5)))
    print("takeover_p99_ms: %s" % fmt(pct(tko, 0.99)))
    print("pause_p50_ms: %s" % fmt(pct(p_victim, 0.5)))
    print("pause_p99_ms: %s" % fmt(pct(p_victim, 0.99)))
    print("pause_max_ms: %s" % fmt(max(p_victim, default=None)))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
