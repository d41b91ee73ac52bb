#!/usr/bin/env python3
"""The report of benches/load.sh: per-run measurements in, one table and the
targets out (plain text for the terminal, Markdown for docs/performance.md).

    benches/report.py --raw RAW.tsv [--conns CONNS.txt] [--profile PROFILE.txt]
                      [--meta "k=v ..."] [--format text|markdown]

RAW.tsv has one line per redis-benchmark run (see `bench` in load.sh). Per case
and target: ops/s median and min-max over the rounds; the ratio to direct as the
median (and min-max) of each round's slotway/direct pair, which were run back to
back; latencies and CPU per request as medians; peak RSS as the maximum.

Targets named "slotway ..." are slotways; any other but "direct" is a peer proxy
(load.sh --peers: predixy, corvus, twemproxy), compared with the slotways on CPU
per request, and shown beside them in a second table (one line per case).
"""

import argparse
import csv
import statistics
import sys

TARGETS_P1 = 0.90  # P1, 50 clients: slotway >= 90% of direct
TARGETS_P16_T1 = 0.75  # P16, 50 clients, one worker thread: >= 75% of direct
ADDED_P99_US = 100  # P1 latency slotway adds at p99 (idle machine)
IDLE_KIB = 10  # memory per idle connection


def fnum(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    cases = {}  # (case, p, c) -> target -> [row per round]
    order = []
    for r in rows:
        key = (r["case"], int(r["pipeline"]), int(r["clients"]))
        if key not in cases:
            cases[key] = {}
            order.append(key)
        cases[key].setdefault(r["target"], []).append(r)
    return order, cases


def summarize(order, cases):
    """One summary dict per (case, target), in run order."""
    out = []
    for key in order:
        targets = cases[key]
        direct = {r["round"]: fnum(r["rps"]) for r in targets.get("direct", [])}
        for target, runs in targets.items():
            rps = [fnum(r["rps"]) for r in runs]
            ratios = []
            if target != "direct":
                for r in runs:
                    d = direct.get(r["round"])
                    s = fnum(r["rps"])
                    if d and s:
                        ratios.append(s / d)
            peaks = [fnum(r["peak_rss_kib"]) for r in runs if fnum(r["peak_rss_kib"])]
            out.append({
                "case": key[0], "p": key[1], "c": key[2], "target": target, "rounds": len(runs),
                "requests": int(runs[0]["requests"]),
                "rps": med(rps), "rps_min": min(rps), "rps_max": max(rps),
                "ratio": med(ratios) if ratios else None,
                "ratio_min": min(ratios) if ratios else None,
                "ratio_max": max(ratios) if ratios else None,
                "p50": med(fnum(r["p50_ms"]) for r in runs),
                "p99": med(fnum(r["p99_ms"]) for r in runs),
                "p999": med(fnum(r["p999_ms"]) for r in runs),
                # proxy_cpu_s_per_m was slotway_cpu_s_per_m before load.sh had peers.
                "sw_cpu": med(fnum(r.get("proxy_cpu_s_per_m", r.get("slotway_cpu_s_per_m"))) for r in runs),
                "nodes_cpu": med(fnum(r["nodes_cpu_s_per_m"]) for r in runs),
                "all_cpu": med(fnum(r.get("all_cpu_s_per_m")) for r in runs),
                "others": max((fnum(r.get("others_pct")) or 0) for r in runs) if any(r.get("others_pct") for r in runs) else None,
                "peak_mib": max(peaks) / 1024 if peaks else None,
                "errors": sum(int(r["errors"] or 0) for r in runs),
            })
    return out


def k(v):
    """ops/s in thousands."""
    return "-" if v is None else f"{v / 1000:.0f}k" if v >= 10000 else f"{v / 1000:.1f}k"


def ms(v):
    return "-" if v is None else f"{v:.3f}"


def opt(v, fmt):
    return "-" if v is None else fmt.format(v)


def table(summary):
    head = ["case", "-P", "-c", "target", "ops/s median (min-max)", "vs direct (min-max)",
            "p50 ms", "p99 ms", "p99.9 ms", "proxy CPU us/req", "nodes CPU us/req", "all CPU us/req",
            "proxy peak RSS MiB", "others' CPU %"]
    rows = []
    for s in summary:
        ratio = "-"
        if s["ratio"] is not None:
            ratio = f"{s['ratio']:.2f}"
            if s["rounds"] > 1:
                ratio += f" ({s['ratio_min']:.2f}-{s['ratio_max']:.2f})"
        rows.append([
            s["case"], str(s["p"]), str(s["c"]), s["target"],
            k(s["rps"]) + (f" ({k(s['rps_min'])}-{k(s['rps_max'])})" if s["rounds"] > 1 else ""), ratio,
            ms(s["p50"]), ms(s["p99"]), ms(s["p999"]),
            opt(s["sw_cpu"], "{:.2f}") if s["target"] != "direct" else "-",
            opt(s["nodes_cpu"], "{:.2f}"),
            opt(s["all_cpu"], "{:.2f}"),
            opt(s["peak_mib"], "{:.1f}") if s["target"] != "direct" else "-",
            opt(s["others"], "{:.0f}"),
        ])
    return head, rows


def proxies(summary):
    """The proxy targets in run order: slotways first, then peers."""
    names = []
    for s in summary:
        if s["target"] != "direct" and s["target"] not in names:
            names.append(s["target"])
    return [t for t in names if t.startswith("slotway ")] + [t for t in names if not t.startswith("slotway ")]


def side_by_side(summary):
    """One row per case: direct's ops/s, then per proxy its CPU per request, ops/s
    as a share of direct, and p50/p99 (ms)."""
    names = proxies(summary)
    head = ["case", "-P", "-c", "direct ops/s"] + [f"{t}: CPU us/req, vs direct, p50/p99 ms" for t in names]
    rows = []
    seen = []
    for s in summary:
        key = (s["case"], s["p"], s["c"])
        if key in seen:
            continue
        seen.append(key)
        d = find(summary, *key, "direct")
        row = [key[0], str(key[1]), str(key[2]), k(d["rps"]) if d else "-"]
        for t in names:
            q = find(summary, *key, t)
            if q is None:
                row.append("-")
                continue
            ratio = f"{q['ratio']:.2f}x" if q["ratio"] is not None else k(q["rps"]) + " ops/s"
            row.append(f"{opt(q['sw_cpu'], '{:.2f}')}, {ratio}, {ms(q['p50'])}/{ms(q['p99'])}")
        rows.append(row)
    return head, rows


NOTES = {
    "MSET 10 keys": "MSET 10 keys: through a proxy ten random `key:N` (across slots: the proxy splits"
                    " it per slot and merges the replies); direct, `redis-benchmark --cluster` sends its"
                    " ten keys as `key:{tag}:N`, all in one slot, so the ratio sets a cross-slot MSET"
                    " through a proxy against a one-slot MSET straight at a node.",
    "MGET 10 keys, 10 slots": "MGET 10 keys, 10 slots: no direct run (no Redis Cluster node answers a"
                              " cross-slot MGET).",
}


def find(summary, case, p, c, target):
    for s in summary:
        if s["case"] == case and s["p"] == p and s["c"] == c and s["target"] == target:
            return s
    return None


def verdict(ok):
    return "met" if ok else "NOT met"


def targets(summary, conns):
    """(target, measured, verdict) lines."""
    lines = []
    slotways, peers = [], []
    for s in summary:
        group = slotways if s["target"].startswith("slotway ") else peers if s["target"] != "direct" else None
        if group is not None and s["target"] not in group:
            group.append(s["target"])
    clients = sorted({s["c"] for s in summary if s["c"] > 1})
    c = 50 if 50 in clients else (clients[0] if clients else None)
    for test in ("GET", "SET"):
        for t in slotways:
            s = find(summary, test, 1, c, t)
            if s and s["ratio"] is not None:
                lines.append((f"{test} -P 1 -c {c}: >= {TARGETS_P1:.0%} of direct ({t})",
                              f"{s['ratio']:.0%}", verdict(s["ratio"] >= TARGETS_P1)))
    for test in ("GET", "SET"):
        t1 = next((t for t in slotways if t.endswith(" t1")), None)
        if t1:
            s = find(summary, test, 16, c, t1)
            if s and s["ratio"] is not None:
                lines.append((f"{test} -P 16 -c {c}: >= {TARGETS_P16_T1:.0%} of direct on one thread ({t1})",
                              f"{s['ratio']:.0%}", verdict(s["ratio"] >= TARGETS_P16_T1)))
                for t in slotways:
                    if t == t1:
                        continue
                    s2 = find(summary, test, 16, c, t)
                    if s2 and s2["ratio"] is not None:
                        lines.append((f"{test} -P 16 -c {c}: more with {t} than with {t1}",
                                      f"{s2['ratio']:.0%} vs {s['ratio']:.0%}", verdict(s2["ratio"] > s["ratio"])))
    for test in ("GET", "SET"):
        for p in (1, 16):
            d = find(summary, test, p, c, "direct")
            for t in slotways:
                s = find(summary, test, p, c, t)
                if s and s["sw_cpu"] is not None and d and d["nodes_cpu"]:
                    lines.append((f"{test} -P {p} -c {c}: slotway CPU per request ({t})",
                                  f"{s['sw_cpu']:.2f} us/req (= CPU s per 1M); the nodes"
                                  f" spend {d['nodes_cpu']:.2f} us/req direct, {s['nodes_cpu']:.2f} behind slotway",
                                  "(no threshold)"))
    for test in ("GET", "SET", "MSET 10 keys", "MGET 10 keys, 10 slots"):
        for p in (1, 16):
            for peer in peers:
                q = find(summary, test, p, c, peer)
                for t in slotways:
                    s = find(summary, test, p, c, t)
                    if s and q and s["sw_cpu"] is not None and q["sw_cpu"] is not None:
                        lines.append((f"{test} -P {p} -c {c}: slotway CPU per request lower than {peer}'s ({t})",
                                      f"{s['sw_cpu']:.2f} vs {q['sw_cpu']:.2f} us/req"
                                      f" ({k(s['rps'])} vs {k(q['rps'])} ops/s)",
                                      verdict(s["sw_cpu"] < q["sw_cpu"])))
    d = find(summary, "GET latency", 1, 1, "direct")
    for t in slotways:
        s = find(summary, "GET latency", 1, 1, t)
        if s and d and s["p99"] is not None and d["p99"] is not None:
            added99 = (s["p99"] - d["p99"]) * 1000
            added50 = (s["p50"] - d["p50"]) * 1000
            lines.append((f"GET -P 1 -c 1: p99 latency added < {ADDED_P99_US} us ({t})",
                          f"{added99:.0f} us (p50 {added50:.0f} us; p99 {d['p99'] * 1000:.0f} -> {s['p99'] * 1000:.0f} us)",
                          verdict(added99 < ADDED_P99_US)))
    if conns:
        idle = fnum(conns.get("idle_kib_per_conn"))
        if idle is not None:
            lines.append((f"idle connection < {IDLE_KIB} KiB ({conns.get('conns')} connections)",
                          f"{idle:.2f} KiB", verdict(idle < IDLE_KIB)))
    return lines


def read_kv(path):
    out = {}
    if path:
        with open(path) as f:
            for line in f:
                key, sep, value = line.strip().partition("=")
                if sep:
                    out[key] = value
    return out


def conns_lines(c):
    if not c:
        return []
    n = int(c["conns"])
    mib = lambda kib: f"{int(kib) / 1024:.1f} MiB"  # noqa: E731
    return [
        f"{n} connections, slotway with {c.get('threads')} threads (OS threads, runtime included):",
        f"before: {mib(c['base_rss_kib'])} RSS",
        f"{n} idle (each sent one PING): {mib(c['idle_rss_kib'])} RSS = {c['idle_kib_per_conn']} KiB per connection"
        f" (opened in {c['connect_s']} s)",
        f"{n} active ({c['active_rate']} GET/s in all, one per connection per second, for {c['active_seconds']} s;"
        f" {c.get('active_unanswered', '?')} unanswered, {c.get('active_errors', '?')} errors):"
        f" {mib(c['active_rss_kib'])} RSS, peak {mib(c['active_hwm_kib'])}"
        f" = {c['active_kib_per_conn']} KiB per connection at peak, {c['active_cpu_s']} CPU s",
        f"after they all closed: {mib(c['closed_rss_kib'])} RSS",
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", required=True)
    ap.add_argument("--conns")
    ap.add_argument("--profile")
    ap.add_argument("--instructions")
    ap.add_argument("--meta", default="")
    ap.add_argument("--format", choices=("text", "markdown"), default="text")
    args = ap.parse_args()

    order, cases = load(args.raw)
    summary = summarize(order, cases)
    conns = read_kv(args.conns)
    head, rows = table(summary)
    shead, srows = side_by_side(summary)
    notes = [n for case, n in NOTES.items() if any(s["case"] == case for s in summary)]
    tlines = targets(summary, conns)
    errors = [(s["case"], s["p"], s["c"], s["target"], s["errors"]) for s in summary if s["errors"]]
    profile = open(args.profile).read().rstrip() if args.profile else ""
    instructions = open(args.instructions).read().rstrip() if args.instructions else ""
    w = sys.stdout.write

    if args.format == "markdown":
        w(f"Measured by `benches/load.sh`: {args.meta}\n\n")
        w("| " + " | ".join(head) + " |\n")
        w("|" + "|".join("---" if i in (0, 3) else "---:" for i in range(len(head))) + "|\n")
        for r in rows:
            w("| " + " | ".join(r) + " |\n")
        w("\n")
        if errors:
            w("redis-benchmark reported errors: " + "; ".join(f"{a} -P {b} -c {c} {d}: {e} lines" for a, b, c, d, e in errors) + "\n\n")
        else:
            w("redis-benchmark reported no errors.\n\n")
        if len(shead) > 4:
            w("The proxies side by side (from the table above):\n\n")
            w("| " + " | ".join(shead) + " |\n")
            w("|" + "|".join("---" if i == 0 else "---:" for i in range(len(shead))) + "|\n")
            for r in srows:
                w("| " + " | ".join(r) + " |\n")
            w("\n")
        for n in notes:
            w(n + "\n\n")
        w("| target | measured | |\n|---|---|---|\n")
        for name, measured, v in tlines:
            w(f"| {name} | {measured} | {v} |\n")
        if conns:
            w("\nConnections:\n\n")
            for line in conns_lines(conns):
                w(f"- {line}\n")
        if instructions:
            w("\nInstructions (callgrind):\n\n```\n" + instructions + "\n```\n")
        if profile:
            w("\nProfile:\n\n```\n" + profile + "\n```\n")
    else:
        w(args.meta + "\n\n")
        widths = [max(len(x) for x in col) for col in zip(head, *rows)]
        for r in [head] + rows:
            w("  ".join(x.ljust(widths[i]) if i < 4 else x.rjust(widths[i]) for i, x in enumerate(r)) + "\n")
        w("\n")
        if errors:
            w("redis-benchmark reported errors:\n")
            for a, b, c, d, e in errors:
                w(f"  {a} -P {b} -c {c} {d}: {e} lines\n")
        else:
            w("redis-benchmark reported no errors.\n")
        if len(shead) > 4:
            w("\nthe proxies side by side:\n")
            widths = [max(len(x) for x in col) for col in zip(shead, *srows)]
            for r in [shead] + srows:
                w("  ".join(x.ljust(widths[i]) if i == 0 else x.rjust(widths[i]) for i, x in enumerate(r)) + "\n")
        for n in notes:
            w("\n" + n.replace("`", "") + "\n")
        w("\ntargets:\n")
        for name, measured, v in tlines:
            w(f"  [{v}] {name}: {measured}\n")
        if conns:
            w("\nconnections:\n")
            for line in conns_lines(conns):
                w(f"  {line}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
