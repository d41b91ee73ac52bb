"""redis-py against slotway: `RedisCluster` (a cluster-aware client, which reads
CLUSTER SLOTS and finds one node owning every slot) and plain `Redis`.

    python3 tests/clients/redis_py.py HOST PORT
    python3 tests/clients/redis_py.py HOST PORT sweep

The second form runs `plain_sweep` (tests/clients/redis_py_sweep.py) in RESP2 and
RESP3 instead, and flushes the database.

Writes `py:cluster:{0..199}` = `v{i}`, `py:counter:{0..4}` and `py:plain:{0..49}`
= `p{i}`, so the Rust test can read them back from the nodes themselves. Exits
non-zero with a message on the first wrong answer.
"""

import sys

import redis
from redis.cluster import RedisCluster
from redis_py_sweep import check, plain_sweep


def cluster_client(host, port):
    rc = RedisCluster(host=host, port=port, decode_responses=True)
    nodes = [(n.host, n.port) for n in rc.get_nodes()]
    check("RedisCluster's view of the nodes", nodes, [(host, port)])

    keys = [f"py:cluster:{i}" for i in range(200)]
    for i, k in enumerate(keys):
        check(f"SET {k}", rc.set(k, f"v{i}"), True)
    for i, k in enumerate(keys):
        check(f"GET {k}", rc.get(k), f"v{i}")
    check(
        "mget_nonatomic",
        rc.mget_nonatomic(keys + ["py:cluster:missing"]),
        [f"v{i}" for i in range(200)] + [None],
    )

    pipe = rc.pipeline()
    for i in range(50):
        pipe.incr(f"py:counter:{i % 5}")
    for k in keys[:20]:
        pipe.get(k)
    pipe.delete("py:cluster:missing")
    got = pipe.execute()
    want = [i // 5 + 1 for i in range(50)] + [f"v{i}" for i in range(20)] + [0]
    check("RedisCluster pipeline", got, want)
    check("EXISTS across slots", rc.exists(*keys[:30]), 30)
    rc.close()


def plain_client(host, port):
    r = redis.Redis(host=host, port=port, decode_responses=True)
    check("PING", r.ping(), True)
    for i in range(50):
        check(f"SET py:plain:{i}", r.set(f"py:plain:{i}", f"p{i}"), True)
    check("GET", r.get("py:plain:7"), "p7")
    keys = [f"py:plain:{i}" for i in range(50)]
    check("MGET across slots", r.mget(keys), [f"p{i}" for i in range(50)])

    pipe = r.pipeline(transaction=False)
    for k in keys:
        pipe.get(k)
    pipe.set("py:plain:extra", "x")
    pipe.get("py:plain:extra")
    pipe.delete("py:plain:extra")
    pipe.mget(keys[:10])
    got = pipe.execute()
    want = [f"p{i}" for i in range(50)] + [True, "x", 1, [f"p{i}" for i in range(10)]]
    check("pipeline(transaction=False)", got, want)
    check("DBSIZE", r.dbsize(), 200 + 5 + 50)
    r.close()


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    if sys.argv[3:] == ["sweep"]:
        for protocol in (2, 3):
            plain_sweep(host, port, protocol)
    else:
        cluster_client(host, port)
        plain_client(host, port)
    print(f"redis-py {redis.__version__}: all checks passed")


if __name__ == "__main__":
    main()
