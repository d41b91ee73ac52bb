//! Settings that belong to slotway, not to the nodes behind it: `CONFIG SET` of
//! `requirepass`, `maxclients` or `timeout` changes slotway's own, as a server
//! changes its own, and never reaches the nodes (whose logins stay slotway's
//! business: a client must not be able to lock slotway out of its cluster);
//! `CONFIG GET` shows slotway's values for them.

use bytes::Bytes;

use crate::config::Config;
use crate::error::CommandError;
use crate::protocol::request::Args;
use crate::proxy::Proxy;

/// The parameters slotway keeps for itself.
const OWN: &[&str] = &["requirepass", "maxclients", "timeout"];

/// Slotway's values of its own parameters, as `CONFIG GET` shows them.
pub fn own_values(config: &Config) -> Vec<(&'static str, String)> {
    vec![
        ("requirepass", config.requirepass.clone().unwrap_or_default()),
        ("maxclients", config.maxclients.to_string()),
        ("timeout", config.timeout.to_string()),
    ]
}

fn is_own(name: &[u8]) -> bool {
    OWN.iter().any(|own| own.as_bytes().eq_ignore_ascii_case(name))
}

/// `CONFIG SET name value ...` when it names slotway's own parameters: the reply,
/// the settings applied. `None`: none of them is named (the nodes answer).
pub fn config_set(args: Args<'_>, proxy: &Proxy) -> Option<Bytes> {
    let pairs: Vec<(&[u8], &[u8])> = (2..args.len()).step_by(2).map(|i| (args.get(i), args.get(i + 1))).collect();
    if !args.len().is_multiple_of(2) || !pairs.iter().any(|(name, _)| is_own(name)) {
        return None;
    }
    let reply = match pairs.iter().all(|(name, _)| is_own(name)) {
        true => apply(&pairs, proxy).map(|()| Bytes::from_static(b"+OK\r\n")),
        false => Err(CommandError::MixedConfigSet),
    };
    Some(reply.unwrap_or_else(|e| e.to_reply()))
}

/// Checks every pair first (as Redis, nothing changes when one is bad), then
/// applies them all as a reload would.
fn apply(pairs: &[(&[u8], &[u8])], proxy: &Proxy) -> Result<(), CommandError> {
    let mut new = Config::clone(&proxy.live.load());
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in pairs {
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        if seen.contains(&name) {
            return Err(CommandError::ConfigSetFailed { param: name, why: "duplicate parameter" });
        }
        let value = String::from_utf8_lossy(value).into_owned();
        match name.as_str() {
            "requirepass" => new.requirepass = (!value.is_empty()).then_some(value),
            "maxclients" => new.maxclients = integer(&name, &value, 1, u32::MAX as i64)? as usize,
            _ => new.timeout = integer(&name, &value, 0, i32::MAX as i64)? as u64,
        }
        seen.push(name);
    }
    crate::reload::apply(proxy, new);
    Ok(())
}

/// `value` as an integer in `min..=max`, or Redis's error for `name`.
fn integer(name: &str, value: &str, min: i64, max: i64) -> Result<i64, CommandError> {
    let failed = |why| CommandError::ConfigSetFailed { param: name.to_string(), why };
    let n: i64 = value.parse().map_err(|_| failed("argument couldn't be parsed into an integer"))?;
    if !(min..=max).contains(&n) {
        return Err(CommandError::ConfigSetOutOfRange { param: name.to_string(), min, max });
    }
    Ok(n)
}
