//! Who a client is and what it may run: `requirepass` (the default user) and the
//! config file's users, each with an access level and optional key patterns.
//! Replies are Redis's (`NOAUTH`, `WRONGPASS`, `NOPERM`). All users share the node
//! connections: authentication ends at slotway.

use std::collections::HashMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::command::table::{CommandSpec, flag};
use crate::config::Config;
use crate::config_file::Access;
use crate::error::CommandError;
use crate::protocol::glob::glob_match;

/// A user a client may be logged in as.
#[derive(Debug)]
pub struct User {
    pub name: String,
    password_sha256: [u8; 32],
    pub access: Access,
    keys: Vec<Vec<u8>>,
    enabled: bool,
}

/// Everyone who may log in; empty when slotway asks for no authentication.
#[derive(Debug, Default)]
pub struct Users {
    by_name: HashMap<String, Arc<User>>,
}

/// Commands only `admin` users may run, besides those Redis flags `admin`.
const DANGEROUS: &[&str] = &["flushall", "flushdb", "keys", "script|flush", "function|flush", "function|delete"];

impl Users {
    pub fn from_config(config: &Config) -> Users {
        let mut by_name = HashMap::new();
        if let Some(pass) = &config.requirepass {
            let user = User {
                name: "default".into(),
                password_sha256: Sha256::digest(pass.as_bytes()).into(),
                access: Access::Admin,
                keys: Vec::new(),
                enabled: true,
            };
            by_name.insert(user.name.clone(), Arc::new(user));
        }
        for u in &config.users {
            let hash = match (&u.password, &u.password_sha256) {
                (Some(p), _) => Sha256::digest(p.as_bytes()).into(),
                (None, Some(hex)) => decode_hex(hex).unwrap_or([0; 32]),
                (None, None) => continue, // refused by config validation
            };
            let user = User {
                name: u.name.clone(),
                password_sha256: hash,
                access: u.access,
                keys: u.keys.iter().map(|k| k.as_bytes().to_vec()).collect(),
                enabled: u.enabled,
            };
            by_name.insert(user.name.clone(), Arc::new(user));
        }
        Users { by_name }
    }

    /// Clients must log in before anything else.
    pub fn required(&self) -> bool {
        !self.by_name.is_empty()
    }
}

/// The users in force, swapped whole on reload, with whether any login is needed
/// kept beside them: every command asks that, and an atomic load is much cheaper
/// than loading the `ArcSwap` (about 100 instructions per request).
pub struct LiveUsers {
    current: arc_swap::ArcSwap<Users>,
    required: std::sync::atomic::AtomicBool,
}

impl LiveUsers {
    pub fn new(users: Users) -> Self {
        let required = std::sync::atomic::AtomicBool::new(users.required());
        LiveUsers { current: arc_swap::ArcSwap::from_pointee(users), required }
    }

    pub fn load(&self) -> arc_swap::Guard<Arc<Users>> {
        self.current.load()
    }

    pub fn store(&self, users: Users) {
        self.required.store(users.required(), std::sync::atomic::Ordering::Relaxed);
        self.current.store(Arc::new(users));
    }

    /// Clients must log in before anything else.
    pub fn required(&self) -> bool {
        self.required.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl User {
    /// The default user while no password is asked: what a client that connected
    /// then is logged in as (no password logs anyone in as it).
    pub fn nopass_default() -> Arc<User> {
        static DEFAULT: std::sync::LazyLock<Arc<User>> = std::sync::LazyLock::new(|| {
            Arc::new(User {
                name: "default".into(),
                password_sha256: [0; 32],
                access: Access::Admin,
                keys: Vec::new(),
                enabled: false,
            })
        });
        DEFAULT.clone()
    }
}

impl Users {
    /// `AUTH [user] password`: the user, if the pair is right and the user enabled.
    pub fn login(&self, user: &[u8], password: &[u8]) -> Option<Arc<User>> {
        let user = self.by_name.get(std::str::from_utf8(user).ok()?)?;
        let given: [u8; 32] = Sha256::digest(password).into();
        // Compare every byte: no early exit for a timing side channel to measure.
        let same = given.iter().zip(&user.password_sha256).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        (same && user.enabled).then(|| user.clone())
    }
}

impl User {
    /// `Some(error)` if this user may not run `spec`.
    pub fn refuse_command(&self, spec: &CommandSpec) -> Option<CommandError> {
        let allowed = match self.access {
            Access::Admin => true,
            Access::ReadWrite => !(spec.is(flag::ADMIN) || DANGEROUS.contains(&spec.name)),
            Access::ReadOnly => !(spec.is(flag::WRITE) || spec.is(flag::ADMIN) || DANGEROUS.contains(&spec.name)),
        };
        (!allowed).then_some(CommandError::NoPermCommand(spec.name))
    }

    /// `Some(error)` if this user may not touch `key`.
    pub fn refuse_key(&self, key: &[u8]) -> Option<CommandError> {
        if self.keys.is_empty() || self.keys.iter().any(|p| glob_match(p, key)) {
            return None;
        }
        Some(CommandError::NoPermKey)
    }
}

fn decode_hex(hex: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    for (i, chunk) in hex.as_bytes().chunks(2).enumerate() {
        let s = std::str::from_utf8(chunk).ok()?;
        *out.get_mut(i)? = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_and_permissions() {
        let mut config = Config::with_seeds(["a:1"]);
        config.requirepass = Some("pw".into());
        config.users.push(crate::config_file::UserConfig {
            name: "ro".into(),
            password: None,
            password_sha256: Some(hex(&Sha256::digest(b"secret"))),
            access: Access::ReadOnly,
            keys: vec!["app:*".into()],
            enabled: true,
        });
        let users = Users::from_config(&config);
        assert!(users.required());
        assert!(users.login(b"default", b"pw").is_some());
        assert!(users.login(b"default", b"nope").is_none());
        let ro = users.login(b"ro", b"secret").expect("hashed password");
        let set = crate::command::table::lookup(b"set").unwrap();
        let get = crate::command::table::lookup(b"get").unwrap();
        assert!(ro.refuse_command(set).is_some());
        assert!(ro.refuse_command(get).is_none());
        assert!(ro.refuse_key(b"app:1").is_none());
        assert!(ro.refuse_key(b"other").is_some());
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
