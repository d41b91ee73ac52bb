"""A plain `redis.Redis()` (cluster-unaware) against slotway, in RESP2 or RESP3: the
commands and helpers apps use, each reply as a single redis-server 7.0 gives it
(checked by hand against one), except where Redis Cluster answers differently.
Flushes the database.
"""

import os
import sys
import time

import redis


def check(what, got, want):
    if got != want:
        sys.exit(f"{what}: got {got!r}, want {want!r}")


def error_of(call):
    try:
        return f"no error, but {call()!r}"
    except redis.ResponseError as e:
        return str(e)


def plain_sweep(host, port, protocol):
    # redis-py 5+ sends HELLO (RESP3) and CLIENT SETINFO on connect; the pool is
    # bounded and idle connections are checked with PING after a second.
    r = redis.Redis(host=host, port=port, protocol=protocol, decode_responses=True,
                    max_connections=4, health_check_interval=1, client_name="py-sweep")
    at = f"RESP{protocol}"
    check(f"{at} PING", r.ping(), True)
    check(f"{at} FLUSHDB", r.flushdb(), True)
    check(f"{at} ECHO", r.echo("hi"), "hi")
    check(f"{at} CLIENT GETNAME", r.client_getname(), "py-sweep")
    me = r.client_info()
    # Redis 7.2's CLIENT SETINFO, which slotway answers (a 7.0 server refuses it).
    check(f"{at} CLIENT INFO after connect", (me.get("lib-name", "redis-py"), me["resp"]), ("redis-py", str(protocol)))
    clients = r.client_list()
    check(f"{at} CLIENT LIST parses", all("id" in c and "addr" in c for c in clients) and len(clients) >= 1, True)
    keys_and_types(r, at)
    data_types(r, at, protocol)
    transactions(r, at)
    scripts_and_locks(r, at)
    pubsub(r, at)
    server(r, at)
    time.sleep(1.1)  # past health_check_interval: the next command PINGs first
    check(f"{at} after a health check", r.get("sw:s"), "v")
    r.close()


def keys_and_types(r, at):
    check(f"{at} SET", r.set("sw:s", "v"), True)
    check(f"{at} SET int", r.set("sw:i", 12), True)
    check(f"{at} TYPE", [r.type("sw:s"), r.type("sw:none")], ["string", "none"])
    check(f"{at} OBJECT ENCODING", [r.object("encoding", "sw:s"), r.object("encoding", "sw:i")], ["embstr", "int"])
    check(f"{at} MEMORY USAGE", isinstance(r.memory_usage("sw:s"), int), True)
    check(f"{at} DUMP missing", r.dump("sw:none"), None)
    dump = r.dump("sw:s")  # redis-py never decodes DUMP's payload
    check(f"{at} RESTORE", r.restore("sw:s2", 0, dump), "OK")
    check(f"{at} RESTORE busy", error_of(lambda: r.restore("sw:s2", 0, dump)), "BUSYKEY Target key name already exists.")
    check(f"{at} GET restored", r.get("sw:s2"), "v")
    check(f"{at} COPY", [r.copy("{sw:c}a", "{sw:c}b"), r.set("{sw:c}a", 1), r.copy("{sw:c}a", "{sw:c}b"), r.get("{sw:c}b")],
          [False, True, True, "1"])
    check(f"{at} EXISTS across slots", r.exists("sw:s", "sw:none", "sw:s"), 2)
    check(f"{at} WRONGTYPE", error_of(lambda: r.lpush("sw:s", "x")),
          "WRONGTYPE Operation against a key holding the wrong kind of value")
    for i in range(120):
        r.set(f"sw:scan:{i}", i)
    found = list(r.scan_iter(match="sw:scan:*", count=17))
    check(f"{at} scan_iter: each key once", (len(found), len(set(found))), (120, 120))
    check(f"{at} scan_iter _type", len(list(r.scan_iter(match="sw:scan:*", _type="string", count=50))), 120)
    check(f"{at} KEYS", len(r.keys("sw:scan:*")), 120)


def data_types(r, at, protocol):
    check(f"{at} HSET mapping", r.hset("sw:h", mapping={"a": 1, "b": 2}), 2)
    check(f"{at} HGETALL", r.hgetall("sw:h"), {"a": "1", "b": "2"})
    check(f"{at} ZADD", r.zadd("sw:z", {"a": 1.5, "b": 2}), 2)
    check(f"{at} ZSCORE", r.zscore("sw:z", "a"), 1.5)
    check(f"{at} ZRANGE WITHSCORES", [tuple(p) for p in r.zrange("sw:z", 0, -1, withscores=True)], [("a", 1.5), ("b", 2.0)])
    check(f"{at} SMEMBERS", [r.sadd("sw:set", "a"), r.smembers("sw:set")], [1, {"a"}])
    check(f"{at} SORT", [r.rpush("sw:l", 3, 1, 2), r.sort("sw:l"), r.sort("sw:l", desc=True, alpha=True)],
          [3, ["1", "2", "3"], ["3", "2", "1"]])
    check(f"{at} BITFIELD", r.bitfield("sw:bf").incrby("u8", 0, 200).get("u4", 0).execute(), [200, 12])
    check(f"{at} PFADD/PFCOUNT/PFMERGE", [r.pfadd("{sw:h}1", "a", "b"), r.pfadd("{sw:h}2", "b", "c"),
                                         r.pfcount("{sw:h}1", "{sw:h}2"), r.pfmerge("{sw:h}3", "{sw:h}1", "{sw:h}2"),
                                         r.pfcount("{sw:h}3")], [1, 1, 3, True, 3])
    check(f"{at} GEOADD", r.geoadd("sw:g", [13.361389, 38.115556, "Palermo", 15.087269, 37.502669, "Catania"]), 2)
    near = r.geosearch("sw:g", longitude=15, latitude=37, radius=200, unit="km", withdist=True, sort="ASC")
    check(f"{at} GEOSEARCH", [(name, round(float(dist))) for name, dist in near], [("Catania", 56), ("Palermo", 190)])
    check(f"{at} XADD", [r.xadd("sw:x", {"a": "1"}, id="1-0"), r.xadd("sw:x", {"b": "2"}, id="2-0")], ["1-0", "2-0"])
    entries = [("1-0", {"a": "1"}), ("2-0", {"b": "2"})]

    # RESP3: a map of stream to [entries]; RESP2: a list of [stream, entries].
    def streams(reply):
        return {k: v[0] for k, v in reply.items()} if protocol == 3 else dict(reply)

    check(f"{at} XREAD", streams(r.xread({"sw:x": "0"})), {"sw:x": entries})
    check(f"{at} XGROUP CREATE", r.xgroup_create("sw:x", "g", id="0"), True)
    check(f"{at} XREADGROUP", streams(r.xreadgroup("g", "c", {"sw:x": ">"}, count=1)), {"sw:x": entries[:1]})
    check(f"{at} XPENDING", r.xpending("sw:x", "g")["pending"], 1)
    check(f"{at} XREAD BLOCK times out", streams(r.xread({"sw:x": "$"}, block=100)), {})
    check(f"{at} BLPOP times out", r.blpop(["sw:bl"], timeout=0.2), None)


def transactions(r, at):
    check(f"{at} pipeline(transaction=True)", r.pipeline(transaction=True).set("{sw:p}a", 1).incr("{sw:p}a").get("{sw:p}a").execute(),
          [True, 2, "2"])
    # Redis Cluster's refusal (one redis-server runs it).
    try:
        r.pipeline(transaction=True).set("sw:pa", 1).set("sw:pb", 2).execute()
        sys.exit(f"{at} MULTI across slots: no error")
    except redis.ResponseError as e:
        check(f"{at} MULTI across slots", "Keys in request don't hash to the same slot" in str(e), True)
    check(f"{at} nothing of it ran", r.mget("sw:pa", "sw:pb"), [None, None])

    def bump(pipe):
        value = int(pipe.get("{sw:w}n") or 0)
        pipe.multi()
        pipe.set("{sw:w}n", value + 1)

    check(f"{at} transaction() with WATCH", [r.transaction(bump, "{sw:w}n"), r.transaction(bump, "{sw:w}n"), r.get("{sw:w}n")],
          [[True], [True], "2"])


def scripts_and_locks(r, at):
    lock = r.lock("sw:lock", timeout=5)
    check(f"{at} Lock.acquire", lock.acquire(blocking=False), True)
    check(f"{at} a second Lock.acquire", r.lock("sw:lock").acquire(blocking=False), False)
    check(f"{at} Lock.extend", lock.extend(5), True)
    check(f"{at} Lock.locked/owned", (lock.locked(), lock.owned()), (True, True))
    check(f"{at} Lock.release", lock.release(), None)
    check(f"{at} Lock.locked after release", lock.locked(), False)
    double = r.register_script("return redis.call('incrby', KEYS[1], ARGV[1] * 2)")
    check(f"{at} register_script (EVALSHA, then EVAL)", [double(keys=["sw:n"], args=[2]), double(keys=["sw:n"], args=[3])], [4, 10])


def pubsub(r, at):
    p = r.pubsub()
    p.subscribe("sw:c1")
    p.psubscribe("sw:c*")
    confirmations = [p.get_message(timeout=2) for _ in range(2)]
    check(f"{at} pubsub confirmations", [(m["type"], m["channel"], m["data"]) for m in confirmations],
          [("subscribe", "sw:c1", 1), ("psubscribe", "sw:c*", 2)])
    check(f"{at} PUBLISH receivers", r.publish("sw:c1", "hi"), 2)
    got = [p.get_message(timeout=2) for _ in range(2)]
    check(f"{at} messages", [(m["type"], m["pattern"], m["channel"], m["data"]) for m in got if m],
          [("message", None, "sw:c1", "hi"), ("pmessage", "sw:c*", "sw:c1", "hi")])
    check(f"{at} PUBSUB NUMSUB", r.pubsub_numsub("sw:c1"), [("sw:c1", 1)])
    p.unsubscribe("sw:c1")
    p.punsubscribe("sw:c*")
    done = [p.get_message(timeout=2) for _ in range(2)]
    check(f"{at} unsubscribed", [(m["type"], m["data"]) for m in done if m], [("unsubscribe", 1), ("punsubscribe", 0)])
    p.close()


def server(r, at):
    info = r.info()
    # The server behind slotway's version (the test says which; by hand, a 7.x).
    version = os.environ.get("SLOTWAY_TEST_REDIS_VERSION")
    got = str(info["redis_version"])
    check(f"{at} INFO parses", (got if version else got[:2], info["loading"], "connected_clients" in info),
          (version or "7.", 0, True))
    check(f"{at} INFO all parses", len(r.info("all")) > 10, True)
    every = r.info("everything")
    check(
        f"{at} INFO everything parses, with numbers as numbers",
        [type(every[k]).__name__ for k in ("used_memory", "mem_fragmentation_ratio", "used_cpu_sys", "cluster_enabled", "maxmemory_policy")],
        ["int", "float", "float", "int", "str"],
    )
    check(f"{at} INFO keyspace", r.info("keyspace")["db0"]["keys"] > 100, True)
    config = r.config_get("*")
    check(f"{at} CONFIG GET *", (len(config) > 100, config.get("maxmemory-policy")), (True, "noeviction"))
    check(f"{at} COMMAND COUNT", r.command_count() > 200, True)
    check(f"{at} TIME", [type(v) for v in r.time()], [int, int])
    check(f"{at} LASTSAVE", type(r.lastsave()).__name__, "datetime")
    check(f"{at} ACL WHOAMI", r.acl_whoami(), "default")
    check(f"{at} ROLE", r.role()[0], "master")
    check(f"{at} SELECT 0", r.execute_command("SELECT", 0), True)
    check(f"{at} DBSIZE", r.dbsize(), len(r.keys("*")))
