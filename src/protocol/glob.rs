//! Redis's glob patterns, as `stringmatchlen` matches them: for ACL key patterns,
//! `PSUBSCRIBE` patterns and `KEYS`-like filters.

/// Redis's glob (`stringmatchlen`): `*`, `?`, `[abc]`, `[^a-z]`, `\x`.
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let (mut star_p, mut star_t) = (None, 0);
    while let Some(&tc) = text.get(t) {
        if let Some(&pc) = pattern.get(p) {
            // Where the pattern continues if it matches `tc` here.
            let next = match pc {
                b'*' => {
                    star_p = Some(p);
                    star_t = t;
                    p += 1;
                    continue;
                }
                b'?' => Some(p + 1),
                b'[' => class_match(pattern, p, tc).and_then(|(matched, next)| matched.then_some(next)),
                // Not folded into the guard: a `\` that fails to match must not be
                // tried as a literal by the arm below.
                b'\\' if p + 1 < pattern.len() => (pattern.get(p + 1) == Some(&tc)).then_some(p + 2),
                c => (c == tc).then_some(p + 1),
            };
            if let Some(next) = next {
                p = next;
                t += 1;
                continue;
            }
        }
        match star_p {
            Some(sp) => {
                p = sp + 1;
                star_t += 1;
                t = star_t;
            }
            None => return false,
        }
    }
    pattern.iter().skip(p).all(|&c| c == b'*')
}

/// Matches `c` against the class starting at `pattern[start] == '['`; returns whether
/// it matched and where the pattern continues.
fn class_match(pattern: &[u8], start: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = pattern.get(i) == Some(&b'^');
    if negate {
        i += 1;
    }
    let mut matched = false;
    loop {
        match pattern.get(i..).unwrap_or_default() {
            // Unterminated class: Redis treats '[' literally then; so do we.
            [] => return None,
            [b']', ..] => break,
            [b'\\', escaped, ..] => {
                matched |= *escaped == c;
                i += 2;
            }
            &[a, b'-', b, ..] if b != b']' => {
                matched |= (a.min(b)..=a.max(b)).contains(&c);
                i += 3;
            }
            [other, ..] => {
                matched |= *other == c;
                i += 1;
            }
        }
    }
    Some((matched != negate, i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_like_redis() {
        for (p, t, m) in [
            ("app:*", "app:1", true),
            ("app:*", "other", false),
            ("h?llo", "hello", true),
            ("h[ae]llo", "hallo", true),
            ("h[^e]llo", "hello", false),
            ("h[a-b]llo", "hbllo", true),
            ("*", "", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("a\\*", "a*", true),
        ] {
            assert_eq!(glob_match(p.as_bytes(), t.as_bytes()), m, "{p} {t}");
        }
    }
}
