//! The slotway binary: parse the config, start logging, bind, serve until a signal.

use clap::Parser;
use tracing::info;

use std::ffi::OsString;

use slotway::Config;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// jemalloc instead of glibc's malloc. The hot path still allocates (a reply channel
/// per request, a buffer per read); with glibc that was about 10% of slotway's
/// instructions per GET. Measured with `benches/load.sh --instructions` (callgrind,
/// one worker thread, GET -c 50): -P 16 4142 -> 3859 instructions per request, -P 1
/// 9051 -> 8594. Idle connections cost a little more (10,000: 5.25 KiB each against
/// 4.49). With its background thread (the `background_threads` feature) jemalloc
/// gives freed memory back about 10 s after a peak: 10,000 connections closed,
/// RSS 59 MiB 2 s later, 13 MiB 12 s later. mimalloc saved about as many
/// instructions but started at 15 MiB RSS instead of 6.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let pre = Config::try_parse_from(&args);
    if let Ok(Config { check_config: Some(path), .. }) = &pre {
        match slotway::config_file::check(path) {
            Ok(summary) => {
                println!("{summary}");
                std::process::exit(0);
            }
            Err(e) => {
                eprintln!("slotway: {e}");
                std::process::exit(1);
            }
        }
    }
    if let Err(e) = pre {
        e.exit(); // --help, --version, or a bad flag: clap's own message
    }
    let config = match slotway::config_file::load(args.clone()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("slotway: {e}");
            std::process::exit(2);
        }
    };
    // The filter sits behind a reload handle, so SIGHUP can change the log level.
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| "info".into());
    let (filter, log_handle) = reload::Layer::new(filter);
    tracing_subscriber::registry().with(filter).with(tracing_subscriber::fmt::layer()).init();
    raise_open_files_limit(config.maxclients);
    // The main thread is worker 0 of `--threads` single-threaded runtimes (see
    // slotway::workers); serve starts the others.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("slotway: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run(config, args, log_handle)) {
        eprintln!("slotway: {e}");
        std::process::exit(1);
    }
}

async fn run(
    config: Config,
    args: Vec<OsString>,
    log: reload::Handle<EnvFilter, Registry>,
) -> Result<(), slotway::Error> {
    let listeners = slotway::Listeners::bind(&config).await?;
    let (reloads_tx, reloads) = tokio::sync::mpsc::channel(4);
    tokio::spawn(reload_on_sighup(args, log, reloads_tx));
    slotway::serve_with_reload(listeners, config, shutdown_signal(), Some(reloads)).await
}

const RESERVED_FDS: u64 = 128;

/// As redis-server does: make room for `maxclients` clients plus node connections,
/// or say how many clients the limit the system allows leaves room for.
fn raise_open_files_limit(maxclients: usize) {
    // Node connections, subscriptions, listeners (leases for blocking commands come
    // on top, bounded by --max-leased-conns).
    let wanted = maxclients as u64 + RESERVED_FDS;
    match rlimit::increase_nofile_limit(wanted) {
        Ok(got) if got < wanted => tracing::warn!(
            maxclients,
            open_files_limit = got,
            "the open files limit is too low for maxclients: past about {} clients new connections will fail",
            got.saturating_sub(RESERVED_FDS)
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot raise the open files limit"),
    }
}

/// SIGHUP: read the command line, environment and config file again; a file with
/// errors is reported and the running configuration kept.
async fn reload_on_sighup(
    args: Vec<OsString>,
    log: reload::Handle<EnvFilter, Registry>,
    reloads: tokio::sync::mpsc::Sender<Config>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else { return };
    while hup.recv().await.is_some() {
        match slotway::config_file::load(args.clone()) {
            Ok(config) => {
                match EnvFilter::try_new(&config.log) {
                    Ok(filter) => {
                        let _ = log.reload(filter);
                    }
                    Err(e) => tracing::error!(log = %config.log, error = %e, "bad log filter: keeping the old one"),
                }
                let _ = reloads.send(config).await;
            }
            Err(e) => tracing::error!(error = %e, "SIGHUP: configuration not reloaded; keeping the running one"),
        }
    }
}

/// Completes on SIGTERM (graceful shutdown). SIGINT, or a second signal during the
/// grace period, exits at once.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {
            info!("SIGINT: exiting now");
            std::process::exit(0);
        }
        _ = term.recv() => {}
    }
    info!("SIGTERM: finishing in-flight requests, then exiting (signal again to exit now)");
    tokio::spawn(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        info!("second signal: exiting now");
        std::process::exit(0);
    });
}
