//! Hash slots as the Redis Cluster spec defines them: CRC16 (XMODEM) of the key,
//! or of its hash tag, modulo 16384.

/// Number of hash slots in a Redis Cluster.
pub const SLOT_COUNT: usize = 16384;

/// The part of `key` that is hashed: the bytes between the first `{` and the
/// first `}` after it, if that is non-empty; otherwise the whole key.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{')
        && let Some(rest) = key.get(open + 1..)
        && let Some(close) = rest.iter().position(|&b| b == b'}')
        && close > 0
        && let Some(tag) = rest.get(..close)
    {
        return tag;
    }
    key
}

/// The hash slot that owns `key`.
pub fn hash_slot(key: &[u8]) -> u16 {
    crc16::State::<crc16::XMODEM>::calculate(hash_tag(key)) % SLOT_COUNT as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn spec_vectors() {
        assert_eq!(crc16::State::<crc16::XMODEM>::calculate(b"123456789"), 0x31C3);
        assert_eq!(hash_slot(b"{user1000}.following"), hash_slot(b"{user1000}.followers"));
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
        // Known values from `CLUSTER KEYSLOT` on Redis 7.
        assert_eq!(hash_slot(b"foo"), 12182);
        assert_eq!(hash_slot(b"bar"), 5061);
        assert_eq!(hash_slot(b""), 0);
    }

    proptest! {
        #[test]
        fn slot_is_in_range(key in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert!((hash_slot(&key) as usize) < SLOT_COUNT);
        }

        #[test]
        fn tag_decides_slot(tag in "[a-z0-9]{1,10}", a in "[^{}]{0,10}", b in "[^{]{0,10}") {
            let key = format!("{a}{{{tag}}}{b}");
            prop_assert_eq!(hash_slot(key.as_bytes()), hash_slot(tag.as_bytes()));
        }

        #[test]
        fn no_braces_means_whole_key(key in "[^{]{0,20}") {
            prop_assert_eq!(hash_tag(key.as_bytes()), key.as_bytes());
        }

        #[test]
        fn empty_tag_means_whole_key(a in "[^{]{0,10}", b in ".{0,10}") {
            let key = format!("{a}{{}}{b}");
            prop_assert_eq!(hash_tag(key.as_bytes()), key.as_bytes());
        }
    }
}
