// ioredis (a plain, cluster-unaware `Redis`) against slotway: what apps do with it,
// each reply checked against what a single redis-server 7.0 gives the same script
// (checked by hand against one), except where Redis Cluster answers differently or
// the server behind slotway (SLOTWAY_TEST_SERVER_NAME, SLOTWAY_TEST_REDIS_VERSION)
// words it otherwise.
//
//     NODE_PATH=<dir with ioredis> node tests/clients/ioredis.js HOST PORT
//
// Exits non-zero with a message on the first wrong answer.

const assert = require("node:assert/strict");
const Redis = require("ioredis");

const [host, portText] = process.argv.slice(2);
const port = Number(portText);
// The server behind slotway (tests/cluster_clients.rs says which; by hand, Redis 7.x):
// where its replies differ from Redis 7.0's, the script expects its own.
const valkey = process.env.SLOTWAY_TEST_SERVER_NAME === "valkey";

async function check(what, got, want) {
  try {
    assert.deepStrictEqual(await got, want);
  } catch (e) {
    const shown = e.actual instanceof Error ? `error ${e.actual.message}` : JSON.stringify(e.actual);
    throw new Error(`${what}: got ${shown}, want ${JSON.stringify(want)}`);
  }
}

/** The message of the error `promise` rejects with (fails if it resolves). */
async function errorOf(promise) {
  try {
    const v = await promise;
    return `no error, but ${JSON.stringify(v)}`;
  } catch (e) {
    return e.message;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function basics(r) {
  await check("SET", r.set("io:a", "1"), "OK");
  await check("GET", r.get("io:a"), "1");
  await check("MSET across slots", r.mset("io:b", "2", "io:c", "3", "io:d", "4"), "OK");
  await check("MGET across slots", r.mget("io:a", "io:b", "io:c", "io:d", "io:none"), ["1", "2", "3", "4", null]);
  await check("EXISTS across slots", r.exists("io:a", "io:b", "io:none"), 2);
  await check("EXPIRE", r.expire("io:a", 100), 1);
  await check("TTL", r.ttl("io:a"), 100);
  await check("INCR", r.incr("io:n"), 1);
  await check("DEL across slots", r.del("io:b", "io:c", "io:none"), 2);
  await check("SET EX NX", r.set("io:e", "v", "EX", 10, "NX"), "OK");
  await check("GETDEL", r.getdel("io:e"), "v");
  await check("CLIENT GETNAME (connectionName)", r.client("GETNAME"), "io-sweep");
  await check("SELECT 0", r.select(0), "OK");
  await check("WRONGTYPE", errorOf(r.hset("io:a", "f", "v")), "WRONGTYPE Operation against a key holding the wrong kind of value");
  await check("unknown command", errorOf(r.call("nosuchcmd", "x")), "ERR unknown command 'nosuchcmd', with args beginning with: 'x' ");
  // Redis Cluster's refusal (a single redis-server accepts SELECT 1).
  await check("SELECT 1", errorOf(r.select(1)), "ERR SELECT is not allowed in cluster mode");
}

async function transactions(r) {
  await check("pipeline", r.pipeline().set("{io:t}1", "x").incr("{io:t}2").get("{io:t}1").exec(), [
    [null, "OK"],
    [null, 1],
    [null, "x"],
  ]);
  await check("pipeline across slots", r.pipeline().set("io:p1", "x").get("io:p2").get("io:p1").exec(), [
    [null, "OK"],
    [null, null],
    [null, "x"],
  ]);
  await check("multi on one hash tag", r.multi().set("{io:t}1", "y").incr("{io:t}2").get("{io:t}1").exec(), [
    [null, "OK"],
    [null, 2],
    [null, "y"],
  ]);
  // Redis Cluster's answer: the second key's slot is refused, so EXEC aborts.
  await check("multi across slots", errorOf(r.multi().set("io:m1", "y").set("io:m2", "z").exec()),
    "EXECABORT Transaction discarded because of previous errors.");
  await check("nothing of the aborted multi ran", r.mget("io:m1", "io:m2"), [null, null]);
}

async function types(r) {
  await check("HSET", r.hset("io:h", "f1", "v1", "f2", "v2"), 2);
  await check("HGETALL", r.hgetall("io:h"), { f1: "v1", f2: "v2" });
  await check("HMGET", r.hmget("io:h", "f1", "zz"), ["v1", null]);
  await check("HINCRBY", r.hincrby("io:h", "n", 3), 3);
  await check("RPUSH", r.rpush("io:l", "a", "b", "c"), 3);
  await check("LRANGE", r.lrange("io:l", 0, -1), ["a", "b", "c"]);
  await check("LPOP", r.lpop("io:l"), "a");
  await check("SADD", r.sadd("io:s", "a", "b"), 2);
  await check("SMEMBERS", r.smembers("io:s").then((m) => m.sort()), ["a", "b"]);
  await check("ZADD", r.zadd("io:z", 1, "a", 2, "b"), 2);
  await check("ZRANGE WITHSCORES", r.zrange("io:z", 0, -1, "WITHSCORES"), ["a", "1", "b", "2"]);
  await check("ZINCRBY", r.zincrby("io:z", 1.5, "a"), "2.5");
  await check("TYPE", Promise.all(["io:h", "io:l", "io:s", "io:z", "io:none"].map((k) => r.type(k))),
    ["hash", "list", "set", "zset", "none"]);
}

async function scan(r) {
  const keys = Array.from({ length: 300 }, (_, i) => `io:scan:${i}`);
  await check("MSET 300 keys", r.mset(...keys.flatMap((k) => [k, "v"])), "OK");
  const seen = await new Promise((resolve, reject) => {
    const found = [];
    const stream = r.scanStream({ match: "io:scan:*", count: 50 });
    stream.on("data", (batch) => found.push(...batch));
    stream.on("end", () => resolve(found));
    stream.on("error", reject);
  });
  await check("scanStream: each key once", [seen.length, new Set(seen).size], [300, 300]);
  await check("scanStream: every key", [...seen].sort(), [...keys].sort());
}

async function scripts(r) {
  await check("SCRIPT FLUSH", r.script("FLUSH"), "OK");
  r.defineCommand("ioEcho", { numberOfKeys: 1, lua: "return {KEYS[1], ARGV[1], redis.call('incr', KEYS[1])}" });
  // The first call meets NOSCRIPT on EVALSHA and falls back to EVAL; the second finds it.
  await check("defineCommand (EVAL fallback)", r.ioEcho("io:dc", "arg"), ["io:dc", "arg", 1]);
  await check("defineCommand (EVALSHA)", r.ioEcho("io:dc", "arg"), ["io:dc", "arg", 2]);
  await check("EVAL", r.eval("return {KEYS[1], ARGV[1]}", 1, "io:k", "v"), ["io:k", "v"]);
  // The node's own error, in the words of the server behind slotway.
  await check("EVALSHA unknown", errorOf(r.evalsha("0000000000000000000000000000000000000000", 0)),
    valkey ? "NOSCRIPT No matching script." : "NOSCRIPT No matching script. Please use EVAL.");
  const sha = await r.script("LOAD", "return 7");
  await check("EVALSHA", r.evalsha(sha, 0), 7);
}

async function blocking(r) {
  const started = Date.now();
  await check("BLPOP times out", r.blpop("io:bl", 0.2), null);
  const waited = Date.now() - started;
  if (waited < 150) throw new Error(`BLPOP with a 0.2 s timeout returned after ${waited} ms`);
  await r.rpush("io:bl2", "x");
  await check("BLPOP with data", r.blpop("io:bl2", 1), ["io:bl2", "x"]);
}

async function pubsub(r) {
  const sub = new Redis({ host, port });
  const got = [];
  sub.on("message", (channel, message) => got.push(["message", channel, message]));
  sub.on("pmessage", (pattern, channel, message) => got.push(["pmessage", pattern, channel, message]));
  await check("SUBSCRIBE", sub.subscribe("io:ch1", "io:ch2"), 2);
  await check("PSUBSCRIBE", sub.psubscribe("io:ch*"), 3);
  await check("PUBLISH (channel and pattern receivers)", r.publish("io:ch1", "hello"), 2);
  await check("PUBLISH (pattern only)", r.publish("io:chx", "hi"), 1);
  for (let i = 0; got.length < 3 && i < 100; i++) await sleep(20);
  await check("messages", got, [
    ["message", "io:ch1", "hello"],
    ["pmessage", "io:ch*", "io:ch1", "hello"],
    ["pmessage", "io:ch*", "io:chx", "hi"],
  ]);
  await check("UNSUBSCRIBE", sub.unsubscribe("io:ch1"), 2);
  await check("PUNSUBSCRIBE", sub.punsubscribe("io:ch*"), 1);
  // RESP2 subscribed mode: Redis answers PING with ["pong", ""] and ioredis 5 passes it on.
  await check("PING while subscribed", sub.ping(), ["pong", ""]);
  await check("QUIT (subscriber)", sub.quit(), "OK");
}

async function monitor() {
  // slotway refuses MONITOR (docs/status.md): the client gets the error, nothing hangs.
  await check("MONITOR", errorOf(new Redis({ host, port, lazyConnect: true }).monitor()),
    "ERR slotway does not support 'monitor': it acts on one node, and slotway hides the nodes");
}

async function main() {
  // connectionName: CLIENT SETNAME on connect; db: SELECT; INFO is the ready check.
  const r = new Redis({ host, port, connectionName: "io-sweep", db: 0, lazyConnect: true, maxRetriesPerRequest: 1 });
  await r.connect();
  await check("FLUSHDB", r.flushdb(), "OK");
  const info = await r.info();
  const version = info.match(/^redis_version:(.*?)\r?$/m)?.[1];
  const wantVersion = process.env.SLOTWAY_TEST_REDIS_VERSION;
  const versionOk = wantVersion ? version === wantVersion : version?.startsWith("7.");
  if (!versionOk || !/^loading:0/m.test(info)) throw new Error(`INFO for the ready check:\n${info}`);
  await basics(r);
  await transactions(r);
  await types(r);
  await scan(r);
  await scripts(r);
  await blocking(r);
  await pubsub(r);
  await monitor();
  await check("QUIT", r.quit(), "OK");
  console.log(`ioredis ${require("ioredis/package.json").version}: all checks passed`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`ioredis check failed: ${e.message}`);
    process.exit(1);
  },
);
