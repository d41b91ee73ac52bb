//! Hot keys: the keys clients ask for most, estimated from a sample of commands
//! with Space-Saving sketches (Metwally et al.): a few dozen counters that always
//! hold every key more frequent than 1/capacity of the sample, with counts that
//! overestimate by at most the smallest counter.
//!
//! Cheap on the data path: each client counts down to its next sample on its own
//! (one decrement per command, no shared state); a sampled key goes into one of a
//! few sketches, picked by client, with `try_lock`: a sketch busy with another
//! client (or a reader) skips that sample rather than wait. Reads merge the sketches.
//!
//! Counts decay: each sketch halves its counters every `DECAY_EVERY` samples, so a
//! key that stopped being hot sinks instead of holding its place for ever.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

use crate::command::table::CommandSpec;
use crate::protocol::request::Args;

/// Sketches; several so that clients on different threads rarely meet on one.
const STRIPES: usize = 8;
/// Keys each sketch tracks.
const CAPACITY: usize = 64;
/// Bytes of a key kept (longer keys are told apart by these first bytes only).
const MAX_KEY: usize = 128;
/// Samples after which a sketch halves its counts.
const DECAY_EVERY: u64 = 1 << 16;

#[derive(Debug)]
pub struct HotKeys {
    /// One command in this many is sampled (on average); 0: off.
    sample_rate: AtomicU32,
    sketches: [Mutex<SpaceSaving>; STRIPES],
}

/// Each client's countdown to its next sample.
#[derive(Debug, Default)]
pub struct Sampler {
    countdown: u32,
    /// xorshift state: the gaps between samples vary, so a client cycling through
    /// keys in step with the rate does not always hit the same key.
    rng: u64,
}

impl HotKeys {
    pub fn new(sample_rate: u32) -> Self {
        HotKeys { sample_rate: AtomicU32::new(sample_rate), sketches: Default::default() }
    }

    pub fn set_sample_rate(&self, rate: u32) {
        self.sample_rate.store(rate, Ordering::Relaxed);
    }

    /// Counts the command's first key, if this command is the client's next sample.
    pub fn sample(&self, sampler: &mut Sampler, client_id: u64, spec: &CommandSpec, args: Args<'_>) {
        if sampler.countdown > 1 {
            sampler.countdown -= 1;
            return;
        }
        let rate = self.sample_rate.load(Ordering::Relaxed);
        if rate == 0 {
            sampler.countdown = u32::MAX; // off: look again much later
            return;
        }
        if sampler.rng == 0 {
            sampler.rng = client_id.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        }
        sampler.rng ^= sampler.rng << 13;
        sampler.rng ^= sampler.rng >> 7;
        sampler.rng ^= sampler.rng << 17;
        // Uniform in 1..2*rate: on average one command in `rate`.
        sampler.countdown = 1 + (sampler.rng % (2 * u64::from(rate) - 1).max(1)) as u32;
        let Ok(first) = usize::try_from(spec.first_key) else { return };
        if first == 0 || first >= args.len() {
            return;
        }
        let key = args.get(first);
        let sketch = self.sketches.get((client_id as usize) % STRIPES);
        let mut sketch = match sketch.map(Mutex::try_lock) {
            Some(Ok(s)) => s,
            Some(Err(TryLockError::Poisoned(e))) => e.into_inner(),
            _ => return, // busy: skip this sample
        };
        sketch.add(key.get(..MAX_KEY).unwrap_or(key), u64::from(rate));
    }

    /// The `n` hottest keys with their estimated request counts, hottest first.
    pub fn top(&self, n: usize) -> Vec<(Vec<u8>, u64)> {
        let mut merged: std::collections::HashMap<Vec<u8>, u64> = Default::default();
        for sketch in &self.sketches {
            for slot in &lock(sketch).slots {
                *merged.entry(slot.key.clone()).or_default() += slot.count;
            }
        }
        let mut top: Vec<_> = merged.into_iter().filter(|(_, c)| *c > 0).collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        top.truncate(n);
        top
    }
}

fn lock(sketch: &Mutex<SpaceSaving>) -> MutexGuard<'_, SpaceSaving> {
    sketch.lock().unwrap_or_else(|e| e.into_inner())
}

/// One Space-Saving sketch: `CAPACITY` (key, count) slots.
#[derive(Debug, Default)]
struct SpaceSaving {
    slots: Vec<Slot>,
    samples: u64,
}

#[derive(Debug)]
struct Slot {
    /// Compared before the key: most slots are ruled out by one integer compare.
    hash: u64,
    key: Vec<u8>,
    count: u64,
}

impl SpaceSaving {
    fn add(&mut self, key: &[u8], weight: u64) {
        let hash = fnv1a(key);
        if let Some(slot) = self.slots.iter_mut().find(|s| s.hash == hash && s.key == key) {
            slot.count += weight;
        } else if self.slots.len() < CAPACITY {
            self.slots.push(Slot { hash, key: key.to_vec(), count: weight });
        } else if let Some(min) = self.slots.iter_mut().min_by_key(|s| s.count) {
            // Space-Saving: the new key takes the smallest counter's place and count,
            // so its estimate is never below its true count. The slot's buffer is reused.
            min.hash = hash;
            min.key.clear();
            min.key.extend_from_slice(key);
            min.count += weight;
        }
        self.samples += 1;
        if self.samples.is_multiple_of(DECAY_EVERY) {
            for slot in &mut self.slots {
                slot.count /= 2;
            }
        }
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::table;

    #[test]
    fn space_saving_keeps_the_frequent_keys() {
        let mut s = SpaceSaving::default();
        // 1,000 distinct cold keys, each once, around a hot one every tenth time.
        for i in 0..1000u32 {
            s.add(format!("cold:{i}").as_bytes(), 1);
            if i % 10 == 0 {
                s.add(b"hot", 1);
            }
        }
        assert_eq!(s.slots.len(), CAPACITY, "bounded");
        let hot = s.slots.iter().find(|x| x.key == b"hot").expect("the hot key is kept");
        assert!(hot.count >= 100, "never underestimated: {}", hot.count);
        assert!(s.slots.iter().all(|x| x.key == b"hot" || x.count <= hot.count));
    }

    #[test]
    fn counts_decay() {
        let mut s = SpaceSaving::default();
        for _ in 0..DECAY_EVERY {
            s.add(b"k", 1);
        }
        assert_eq!(s.slots[0].count, DECAY_EVERY / 2);
    }

    fn request(args: &[&str]) -> (bytes::Bytes, Vec<std::ops::Range<usize>>) {
        let raw = crate::protocol::encode::command(&args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>());
        let mut parser = crate::protocol::request::RequestParser::new(usize::MAX);
        let framed = parser.next(&mut bytes::BytesMut::from(&raw[..])).unwrap().unwrap();
        (framed, parser.args().to_vec())
    }

    #[test]
    fn every_command_at_rate_one_and_estimates_scaled_by_rate() {
        let get = table::lookup(b"get").unwrap();
        let ping = table::lookup(b"ping").unwrap();
        let hot = HotKeys::new(1);
        let mut sampler = Sampler::default();
        let (raw, ranges) = request(&["GET", "a"]);
        for _ in 0..5 {
            hot.sample(&mut sampler, 1, get, Args::new(&raw, &ranges));
        }
        let (raw, ranges) = request(&["PING"]);
        hot.sample(&mut sampler, 1, ping, Args::new(&raw, &ranges));
        assert_eq!(hot.top(10), [(b"a".to_vec(), 5)]);

        // At 1 in 16, about 16,000 GETs are estimated at about 16,000.
        let hot = HotKeys::new(16);
        let (raw, ranges) = request(&["GET", "b"]);
        for client in 0..16 {
            let mut sampler = Sampler::default();
            for _ in 0..1000 {
                hot.sample(&mut sampler, client, get, Args::new(&raw, &ranges));
            }
        }
        let estimate = hot.top(1)[0].1;
        assert!((12_000..=20_000).contains(&estimate), "{estimate}");
        hot.set_sample_rate(0);
        let mut sampler = Sampler::default();
        hot.sample(&mut sampler, 1, get, Args::new(&raw, &ranges));
        assert_eq!(hot.top(1)[0].1, estimate, "off");
    }
}
