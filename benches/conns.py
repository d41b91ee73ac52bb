#!/usr/bin/env python3
"""Many client connections to slotway: what each one costs in memory.

    benches/conns.py --port P --pid PID [--conns 10000] [--active-seconds 10]
                     [--interval 1.0] [--connect-timeout 60]

Phases, each followed by a reading of slotway's /proc/PID/status and CPU time:

  base    before any client connects (slotway has loaded the topology);
  idle    every connection open, each having sent one PING and read PONG, then
          nothing; slotway holds N idle sessions;
  active  every connection sends `GET key:<n>` once per --interval seconds (start
          times spread over the interval) for --active-seconds;
  closed  after every connection closed (what slotway gives back).

Prints `key=value` lines on stdout (for benches/report.py) and a readable summary
on stderr. Opening N sockets needs `ulimit -n` above N in this process and in
slotway; benches/load.sh raises it. Standard library only.
"""

import argparse
import asyncio
import os
import random
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def status(pid):
    """VmRSS and VmHWM of `pid` in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def cpu_seconds(pid):
    """utime + stime of `pid` (all threads) in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        # Fields after the command name, which may hold spaces: state is field 3.
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


class Client(asyncio.Protocol):
    """One connection; counts the replies it gets (status, error, integer or bulk string)."""

    def __init__(self):
        self.transport = None
        self.buf = b""
        self.replies = 0
        self.errors = 0
        self.first = None  # completes with the first reply (the PING's)
        self.closed = False

    def connection_made(self, transport):
        self.transport = transport
        self.first = asyncio.get_running_loop().create_future()

    def data_received(self, data):
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n")
            if end < 0:
                return
            kind = self.buf[:1]
            size = end + 2
            if kind == b"$":
                n = int(self.buf[1:end])
                if n >= 0:
                    size += n + 2
                    if len(self.buf) < size:
                        return
            elif kind == b"-":
                self.errors += 1
            self.buf = self.buf[size:]
            self.replies += 1
            if not self.first.done():
                self.first.set_result(None)

    def connection_lost(self, exc):
        self.closed = True
        if not self.first.done():
            self.first.set_exception(ConnectionError("closed by slotway"))


async def open_one(port, gate):
    async with gate:
        loop = asyncio.get_running_loop()
        _, client = await loop.create_connection(Client, "127.0.0.1", port)
        client.transport.write(b"*1\r\n$4\r\nPING\r\n")
        await client.first
        return client


async def active(clients, interval, seconds, keyspace):
    """Every client sends one GET per `interval`, the clients spread evenly over it;
    a 10 ms tick writes to the clients that are due. Returns the requests sent."""
    tick = 0.01
    per_tick = max(1, round(len(clients) * tick / interval))
    sent = 0
    i = 0
    started = time.monotonic()
    next_at = started
    while time.monotonic() < started + seconds:
        for _ in range(per_tick):
            c = clients[i]
            i = (i + 1) % len(clients)
            key = b"key:%012d" % random.randrange(keyspace)
            c.transport.write(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(key), key))
            sent += 1
        next_at += tick
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    # Let the last replies arrive.
    deadline = time.monotonic() + 5
    while sum(c.replies for c in clients) < sent + len(clients) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return sent


def reading(name, pid, extra=None):
    s = status(pid)
    r = {"rss_kib": s["VmRSS"], "hwm_kib": s["VmHWM"], "cpu_s": cpu_seconds(pid), "threads": threads(pid)}
    r.update(extra or {})
    print(f"  {name:7} RSS {r['rss_kib'] / 1024:8.1f} MiB  peak {r['hwm_kib'] / 1024:8.1f} MiB"
          f"  CPU {r['cpu_s']:7.2f} s  threads {r['threads']}", file=sys.stderr)
    return r


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True, help="slotway's pid, for /proc")
    ap.add_argument("--conns", type=int, default=10_000)
    ap.add_argument("--active-seconds", type=float, default=10.0)
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between one connection's GETs")
    ap.add_argument("--keyspace", type=int, default=100_000)
    ap.add_argument("--connect-timeout", type=float, default=60.0)
    ap.add_argument("--settle", type=float, default=2.0, help="seconds to wait before each reading")
    args = ap.parse_args()

    pid = args.pid
    results = {}
    await asyncio.sleep(args.settle)
    results["base"] = reading("base", pid)

    # Connect in bounded parallel batches: slotway's accept backlog is finite.
    gate = asyncio.Semaphore(256)
    started = time.monotonic()
    try:
        conns = await asyncio.wait_for(
            asyncio.gather(*(open_one(args.port, gate) for _ in range(args.conns))), args.connect_timeout
        )
    except (OSError, ConnectionError, asyncio.TimeoutError) as e:
        print(f"conns: could not open {args.conns} connections: {e!r}", file=sys.stderr)
        return 1
    connect_s = time.monotonic() - started
    await asyncio.sleep(args.settle)
    results["idle"] = reading("idle", pid, {"connect_s": connect_s})

    started = time.monotonic()
    sent = await active(conns, args.interval, args.active_seconds, args.keyspace)
    elapsed = time.monotonic() - started
    answered = sum(c.replies for c in conns) - len(conns)
    errors = sum(c.errors for c in conns)
    lost = sum(c.closed for c in conns)
    results["active"] = reading("active", pid, {"requests": answered, "rate": answered / elapsed})
    if answered < sent or errors or lost:
        print(f"conns: {sent} GETs sent, {answered} answered, {errors} errors, {lost} connections lost",
              file=sys.stderr)

    for c in conns:
        c.transport.close()
    await asyncio.sleep(args.settle)
    results["closed"] = reading("closed", pid)

    n = args.conns
    base, idle, act = results["base"], results["idle"], results["active"]
    per_idle = (idle["rss_kib"] - base["rss_kib"]) / n
    per_active = (max(act["rss_kib"], act["hwm_kib"]) - base["rss_kib"]) / n
    cpu_active = act["cpu_s"] - idle["cpu_s"]
    print(f"  {n} connections opened in {idle['connect_s']:.1f} s; idle: {per_idle:.2f} KiB each;"
          f" active ({act['rate']:.0f} GET/s): peak {per_active:.2f} KiB each,"
          f" {cpu_active:.2f} CPU s in {args.active_seconds:.0f} s", file=sys.stderr)
    out = {
        "conns": n,
        "base_rss_kib": base["rss_kib"],
        "idle_rss_kib": idle["rss_kib"],
        "idle_kib_per_conn": f"{per_idle:.2f}",
        "active_rss_kib": act["rss_kib"],
        "active_hwm_kib": act["hwm_kib"],
        "active_kib_per_conn": f"{per_active:.2f}",
        "active_rate": f"{act['rate']:.0f}",
        "active_requests": act["requests"],
        "active_unanswered": sent - answered,
        "active_errors": errors,
        "active_seconds": args.active_seconds,
        "active_cpu_s": f"{cpu_active:.2f}",
        "closed_rss_kib": results["closed"]["rss_kib"],
        "connect_s": f"{idle['connect_s']:.1f}",
        "threads": idle["threads"],
    }
    for k, v in out.items():
        print(f"{k}={v}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
