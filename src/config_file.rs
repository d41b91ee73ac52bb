//! Reading the configuration: flags, then `SLOTWAY_*` environment variables, then
//! the TOML file named by `--config`, then defaults — the first that sets a value
//! wins. The file may set any flag (by its long name, `-` or `_`) plus `[[users]]`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use thiserror::Error;

use crate::config::Config;
use crate::net::tls::TlsError;

pub use crate::config::{Access, UserConfig};

/// Why the configuration cannot be used; names the file, key and line where it can.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A flag or environment variable clap refuses, in clap's words.
    #[error("{0}")]
    Args(#[from] clap::Error),
    #[error("cannot read {}: {source}", .path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// Not TOML (the message says where).
    #[error("{}: {source}", .path.display())]
    Toml { path: PathBuf, source: toml::de::Error },
    #[error("{}: `users` (line {line}): {source}", .path.display())]
    Users { path: PathBuf, line: usize, source: toml::de::Error },
    #[error("{}: unknown key `{key}` (line {line})", .path.display())]
    UnknownKey { path: PathBuf, key: String, line: usize },
    #[error("{}: key `{key}` (line {line}): unsupported value {value}", .path.display())]
    UnsupportedValue { path: PathBuf, key: String, line: usize, value: toml::Value },
    /// What is wrong with the settings a file gives (`--check-config`).
    #[error("{}: {source}", .path.display())]
    InFile { path: PathBuf, source: Box<ConfigError> },
    #[error("no cluster seeds: give --cluster HOST:PORT (or `cluster = [\"HOST:PORT\"]` in the config file)")]
    NoSeeds,
    #[error("nothing to listen on: --listen is empty and --tls-listen is not set")]
    NothingToListen,
    #[error("node-user is set but node-password is not: give both (or node-password alone for requirepass)")]
    NodeUserWithoutPassword,
    #[error("{0}")]
    Tls(#[from] TlsError),
    #[error("user `{0}`: password_sha256 must be 64 hex digits")]
    BadPasswordHash(String),
    #[error("user `{0}`: give exactly one of password, password_sha256")]
    PasswordChoice(String),
}

/// The configuration for this process: command line, environment, `--config` file.
pub fn load(args: Vec<OsString>) -> Result<Config, ConfigError> {
    let matches = Config::command().try_get_matches_from(&args)?;
    let first = Config::from_arg_matches(&matches)?;
    let Some(path) = first.config.clone() else { return validate(first) };
    let (file_args, users) = read_file(&path, Some(&matches))?;
    let mut merged: Vec<OsString> = args.iter().take(1).cloned().collect();
    merged.extend(file_args);
    merged.extend(args.into_iter().skip(1));
    let mut config = Config::try_parse_from_merged(merged)?;
    config.users = users;
    validate(config)
}

impl Config {
    fn try_parse_from_merged(args: Vec<OsString>) -> Result<Config, ConfigError> {
        let matches = Config::command().try_get_matches_from(args)?;
        Ok(Config::from_arg_matches(&matches)?)
    }
}

/// `--check-config FILE`: the settings it gives, or what is wrong with it.
pub fn check(path: &Path) -> Result<String, ConfigError> {
    let (args, users) = read_file(path, None)?;
    let mut argv: Vec<OsString> = vec!["slotway".into()];
    argv.extend(args);
    let in_file = |e| ConfigError::InFile { path: path.to_path_buf(), source: Box::new(e) };
    let mut config = Config::try_parse_from_merged(argv).map_err(in_file)?;
    config.users = users;
    let config = validate(config).map_err(in_file)?;
    Ok(format!(
        "{}: OK ({} seed(s), {} user(s){})",
        path.display(),
        config.seeds.len(),
        config.users.len(),
        if config.requirepass.is_some() { ", requirepass set" } else { "" }
    ))
}

fn validate(config: Config) -> Result<Config, ConfigError> {
    if config.seeds.is_empty() {
        return Err(ConfigError::NoSeeds);
    }
    if config.listen.is_empty() && config.tls_listen.is_none() {
        return Err(ConfigError::NothingToListen);
    }
    if config.node_user.is_some() && config.node_password.is_none() {
        // Redis's AUTH needs the password with a user name; without one slotway would
        // quietly log in as nobody and every node would answer NOAUTH.
        return Err(ConfigError::NodeUserWithoutPassword);
    }
    // Certificate and key files are read now, so a missing one stops the start (or
    // a reload) with the setting and file named, not the first client or node.
    crate::net::tls::check(&config)?;
    for user in &config.users {
        match (&user.password, &user.password_sha256) {
            (Some(_), None) => {}
            (None, Some(hash)) if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {}
            (None, Some(_)) => return Err(ConfigError::BadPasswordHash(user.name.clone())),
            _ => return Err(ConfigError::PasswordChoice(user.name.clone())),
        }
    }
    Ok(config)
}

/// The file's settings as command-line arguments (only those not already set on the
/// command line or in the environment), and its users.
fn read_file(path: &Path, given: Option<&clap::ArgMatches>) -> Result<(Vec<OsString>, Vec<UserConfig>), ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|source| ConfigError::Toml { path: path.to_path_buf(), source })?;
    let command = Config::command();
    let mut args = Vec::new();
    let mut users = Vec::new();
    for (key, value) in table {
        let line = line_of(&text, &key);
        if key == "users" {
            users = value.try_into::<Vec<UserConfig>>().map_err(|source| ConfigError::Users {
                path: path.to_path_buf(),
                line,
                source,
            })?;
            continue;
        }
        let long = key.replace('_', "-");
        let Some(arg) = command.get_arguments().find(|a| a.get_long() == Some(long.as_str())) else {
            return Err(ConfigError::UnknownKey { path: path.to_path_buf(), key, line });
        };
        let id = arg.get_id().as_str();
        if matches!(given.and_then(|m| m.value_source(id)), Some(ValueSource::CommandLine | ValueSource::EnvVariable)) {
            continue;
        }
        let values = match value {
            toml::Value::Array(items) => items,
            one => vec![one],
        };
        for v in values {
            let text = match v {
                toml::Value::String(s) => s,
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Float(f) => f.to_string(),
                value => {
                    return Err(ConfigError::UnsupportedValue { path: path.to_path_buf(), key, line, value });
                }
            };
            args.push(OsString::from(format!("--{long}")));
            args.push(OsString::from(text));
        }
    }
    Ok((args, users))
}

/// The line a top-level key is set on (for error messages).
fn line_of(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with('='))
                || l.starts_with(&format!("[[{key}]]"))
        })
        .map_or(0, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> tempfile_path::TempFile {
        tempfile_path::TempFile::new(text)
    }

    mod tempfile_path {
        pub struct TempFile(pub std::path::PathBuf);
        impl TempFile {
            pub fn new(text: &str) -> Self {
                let path =
                    std::env::temp_dir().join(format!("slotway-config-{}-{}.toml", std::process::id(), rand_suffix()));
                std::fs::write(&path, text).unwrap();
                TempFile(path)
            }
        }
        impl Drop for TempFile {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
        fn rand_suffix() -> u64 {
            use std::sync::atomic::{AtomicU64, Ordering};
            static N: AtomicU64 = AtomicU64::new(0);
            N.fetch_add(1, Ordering::Relaxed)
        }
    }

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn file_fills_what_flags_do_not_set() {
        let f = file(
            "cluster = [\"10.0.0.1:7000\", \"10.0.0.2:7000\"]\nmaxclients = 50\nlisten = \"0.0.0.0:7777\"\n\
             [[users]]\nname = \"app\"\npassword = \"s3cret\"\naccess = \"read-only\"\nkeys = [\"app:*\"]\n",
        );
        let path = f.0.to_str().unwrap();
        let c = load(args(&["slotway", "--config", path, "--maxclients", "9"])).unwrap();
        assert_eq!(c.seeds, vec!["10.0.0.1:7000", "10.0.0.2:7000"]);
        assert_eq!(c.maxclients, 9, "the flag wins over the file");
        assert_eq!(c.listen, "0.0.0.0:7777");
        assert_eq!(c.users.len(), 1);
        assert_eq!(c.users[0].access, Access::ReadOnly);
    }

    #[test]
    fn errors_name_the_key_and_line() {
        let f = file("cluster = [\"a:1\"]\n\nmaxclientz = 5\n");
        let e = check(&f.0).unwrap_err().to_string();
        assert!(e.contains("unknown key `maxclientz` (line 3)"), "{e}");
        let f = file("cluster = [\"a:1\"]\nmaxclients = \"many\"\n");
        assert!(check(&f.0).is_err());
        let f = file("cluster = [\"a:1\"\n");
        assert!(check(&f.0).unwrap_err().to_string().contains("line"), "syntax errors say where");
        let f = file("cluster = [\"a:1\"]\n[[users]]\nname = \"x\"\n");
        assert!(check(&f.0).unwrap_err().to_string().contains("exactly one of password"));
        assert!(load(args(&["slotway"])).unwrap_err().to_string().contains("no cluster seeds"));
        let e = load(args(&["slotway", "--cluster", "a:1", "--node-user", "proxy"])).unwrap_err().to_string();
        assert!(e.contains("node-password is not"), "{e}");
        assert!(
            load(args(&["slotway", "--cluster", "a:1", "--node-password", "pw"])).is_ok(),
            "requirepass: the password alone"
        );
    }
}

/// `docs/configuration.md`, rendered from the `Config` struct's own flags so the
/// reference cannot drift (a test compares; `SLOTWAY_BLESS=1` rewrites it).
pub fn reference() -> String {
    let mut out = String::from(
        "# Configuration reference\n\n\
         Generated from `src/config.rs` (`SLOTWAY_BLESS=1 cargo test --lib config_file` rewrites it; a test fails when it drifts).\n\n\
         Each setting can be given as a flag, as an environment variable, or as a key in the TOML file named by \
         `--config` (the flag's long name, with `-` or `_`). The first of flag, environment, file, default that \
         sets it wins.\n\n\
         | flag / file key | environment | default | meaning |\n|---|---|---|---|\n",
    );
    for arg in Config::command().get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if matches!(long, "help" | "version") {
            continue;
        }
        let env = arg.get_env().map_or(String::new(), |e| format!("`{}`", e.to_string_lossy()));
        let default: Vec<String> = arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
        let default = if default.is_empty() { "(none)".to_string() } else { format!("`{}`", default.join(",")) };
        let help = arg.get_help().map_or(String::new(), |h| h.to_string().replace('\n', " "));
        out.push_str(&format!("| `--{long}` | {env} | {default} | {help} |\n"));
    }
    out.push_str(
        "\n## Users (file only)\n\n\
         ```toml\n\
         requirepass = \"for-the-default-user\"   # AUTH <password>; the default user is admin\n\n\
         [[users]]\n\
         name = \"app\"\n\
         password = \"s3cret\"                    # or password_sha256 = \"<64 hex digits>\"\n\
         access = \"read-write\"                  # read-only | read-write (default) | admin\n\
         keys = [\"app:*\", \"session:*\"]          # Redis glob patterns; empty = every key\n\
         enabled = true\n\
         ```\n\n\
         `read-only` users may run commands Redis does not flag `write`; `read-write` users everything but \
         administrative commands (Redis's `admin` flag, and FLUSHALL, FLUSHDB, KEYS, SCRIPT FLUSH, FUNCTION \
         FLUSH/DELETE); `admin` users everything.\n",
    );
    out
}

#[cfg(test)]
mod reference_tests {
    #[test]
    fn configuration_md_matches_the_struct() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");
        let want = super::reference();
        if std::env::var_os("SLOTWAY_BLESS").is_some() {
            std::fs::write(path, &want).expect("write docs/configuration.md");
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(have == want, "docs/configuration.md is out of date: run SLOTWAY_BLESS=1 cargo test --lib config_file");
    }
}
