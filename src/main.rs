//! The slotway binary: parse the config, start logging, bind, serve until a signal.

use clap::Parser;
use tokio::net::TcpListener;
use tracing::info;

use slotway::Config;

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
    let config = match slotway::config_file::load(args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("slotway: {e}");
            std::process::exit(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&config.log).unwrap_or_else(|_| "info".into()))
        .init();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if config.threads > 0 {
        runtime.worker_threads(config.threads);
    }
    let runtime = match runtime.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("slotway: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run(config)) {
        eprintln!("slotway: {e}");
        std::process::exit(1);
    }
}

async fn run(config: Config) -> Result<(), slotway::Error> {
    let listener = TcpListener::bind(&config.listen)
        .await
        .map_err(|source| slotway::Error::Listen { addr: config.listen.clone(), source })?;
    slotway::serve(listener, config, shutdown_signal()).await
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
