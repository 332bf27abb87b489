#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The figures of tests/bench/cluster_spread, from what each `rcha run` left behind.

  phase DIR...    load phases (one rcha run each, pooled): rcha's acked.tsv (A: ACKs,
                  D: deliveries, t_ms since rcha's start) and latency.tsv (POST -> delivery,
                  us). Prints, one per line:
                    messages N   (POSTs acknowledged)
                    deliveries N (DELIVERs handed to members)
                    deliveries_per_s X  (per run, the deliveries between the first ACK + 1 s
                                 and the last ACK; their sum over the sum of those times:
                                 the steady state, no log-in, no drain)
                    latency_p50_ms X / latency_p99_ms X / latency_max_ms X / latency_samples N
  pauses DIR --cycles FILE --users U,U...
                  the failover repetitions: FILE has "n t_fail t_back" lines (ms on rcha's
                  clock). A member's failover pause for a repetition = the longest gap
                  between two of its consecutive deliveries that ends after t_fail and
                  starts before t_fail + 1 s (what was in flight at the failure may still
                  arrive); its fallback pause = the same around t_back. Prints a line per
                  (repetition, member), then
                    failover_pause_p50_ms X / failover_pause_max_ms X / samples N
                    fallback_pause_p50_ms X / fallback_pause_max_ms X

Percentiles: nearest rank (p99 of fewer than 100 samples is the maximum).
"""
import argparse
import math
import sys


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = max(1, math.ceil(p / 100.0 * len(sorted_vals)))
    return sorted_vals[k - 1]


def read_acked(d):
    acks, dels = [], {}
    with open(f"{d}/acked.tsv") as f:
        for line in f:
            if line.startswith("#"):
                continue
            c = line.rstrip("\n").split("\t")
            if c[0] == "A":
                acks.append(int(c[5]))
            elif c[0] == "D":
                dels.setdefault(c[1], []).append(int(c[5]))
    return acks, dels


def phase(dirs):
    n_msgs, n_all, n_win, span, lat = 0, 0, 0, 0, []
    for d in dirs:
        acks, dels = read_acked(d)
        with open(f"{d}/latency.tsv") as f:
            for line in f:
                if not line.startswith("#"):
                    lat.append(int(line.split("\t")[4]) / 1000.0)
        alld = [t for ts in dels.values() for t in ts]
        n_msgs += len(acks)
        n_all += len(alld)
        if acks and max(acks) > min(acks) + 1000:
            lo, hi = min(acks) + 1000, max(acks)
            n_win += sum(1 for t in alld if lo <= t <= hi)
            span += hi - lo
    lat.sort()
    print(f"messages {n_msgs}")
    print(f"deliveries {n_all}")
    print(f"deliveries_per_s {n_win * 1000.0 / span if span else 0.0:.1f}")
    print(f"latency_p50_ms {pct(lat, 50):.2f}")
    print(f"latency_p99_ms {pct(lat, 99):.2f}")
    print(f"latency_max_ms {lat[-1] if lat else float('nan'):.2f}")
    print(f"latency_samples {len(lat)}")
    return 0 if n_msgs and lat else 1


def longest_gap(ts, end_after, start_before):
    best = None
    for a, b in zip(ts, ts[1:]):
        if b > end_after and a < start_before and (best is None or b - a > best):
            best = b - a
    return best


def pauses(d, cycles, users):
    _, dels = read_acked(d)
    fo, fb, rc = [], [], 0
    with open(cycles) as f:
        reps = [tuple(int(x) for x in line.split()) for line in f if line.strip()]
    for n, t_fail, t_back in reps:
        for u in users:
            ts = sorted(dels.get(u, []))
            p = longest_gap(ts, t_fail, min(t_fail + 1000, t_back))
            q = longest_gap(ts, t_back, t_back + 1000)
            print(f"rep {n} {u}: failover pause {p} ms, fallback pause {q} ms")
            if p is None:
                rc = 1  # no delivery after the failure: that member never resumed
            else:
                fo.append(p)
            if q is not None:
                fb.append(q)
    fo.sort()
    fb.sort()
    print(f"failover_pause_p50_ms {pct(fo, 50)}")
    print(f"failover_pause_max_ms {fo[-1] if fo else 'nan'}")
    print(f"samples {len(fo)}")
    print(f"fallback_pause_p50_ms {pct(fb, 50)}")
    print(f"fallback_pause_max_ms {fb[-1] if fb else 'nan'}")
    return rc if fo else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["phase", "pauses"])
    ap.add_argument("dir", nargs="+")
    ap.add_argument("--cycles")
    ap.add_argument("--users", default="")
    a = ap.parse_args()
    try:
        if a.what == "phase":
            return phase(a.dir)
        return pauses(a.dir[0], a.cycles, [u for u in a.users.split(",") if u])
    except OSError as e:
        print(f"cluster_spread_stats: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
