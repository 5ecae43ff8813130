//! `gridsync-center`: serve, administer, or run the field-day demo.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gridsync_center::admin::{self, AdminCommand};
use gridsync_center::{Center, demo, http};

#[derive(Debug, Parser)]
#[command(name = "gridsync-center", version, about = "The gridsync township center")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serves the sync protocol.
    Serve {
        /// The center database: a file (embedded SQLite, created with its key file
        /// `<db>.key` if missing) or a `postgres://user@host/dbname` URL.
        #[arg(long)]
        db: String,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// PEM certificate chain for TLS (see `admin init-tls`); required off loopback.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key for TLS.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// The folder of photo blobs (default: `<db>.blobs` beside an embedded database;
        /// for PostgreSQL this or `GRIDSYNC_BLOB_DIR`, shared by every center process).
        #[arg(long)]
        blobs: Option<PathBuf>,
    },
    /// Administers workers, devices and exports.
    Admin {
        /// The center database: a file or a `postgres://` URL, as for `serve` (every
        /// command but `migrate`, which names its own).
        #[arg(long)]
        db: Option<String>,
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Plays a field day: a center on an embedded database, several phones, real HTTP
    /// on loopback, and a report. Exits non-zero if the replicas did not converge.
    Demo(demo::DemoArgs),
}

fn main() -> ExitCode {
    // Structured logs: `RUST_LOG=info` for requests and refusals, `GRIDSYNC_LOG=json` for
    // one JSON object per line. Nothing logged names a person.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("GRIDSYNC_LOG").is_ok_and(|v| v == "json") {
        logs.json().init();
    } else {
        logs.init();
    }
    let result = match Cli::parse().command {
        Command::Serve { db, listen, tls_cert, tls_key, blobs } => serve(db, &listen, tls_cert.zip(tls_key), blobs),
        Command::Admin { db: Some(db), command } => {
            Center::open_url(&db).and_then(|center| admin::run(&center, command))
        }
        Command::Admin { db: None, command } => admin::run_standalone(command),
        Command::Demo(args) => demo::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("gridsync-center: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(db: String, listen: &str, tls: Option<(PathBuf, PathBuf)>, blobs: Option<PathBuf>) -> Result<(), String> {
    let addr: std::net::SocketAddr = listen.parse().map_err(|_| format!("--listen {listen} is not an address"))?;
    let tls = tls.map(|(cert, key)| gridsync_center::tls::load(&cert, &key)).transpose()?;
    if tls.is_none() && !addr.ip().is_loopback() {
        return Err(format!(
            "refusing to serve plain HTTP on {addr}: give --tls-cert and --tls-key (see `admin init-tls`), or listen \
             on loopback"
        ));
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut center = Center::open_url(&db)?;
    if let Some(dir) = blobs {
        let folder = gridsync_center::blobs::FsBlobStore::open(&dir)
            .map_err(|e| format!("cannot open the photo folder {}: {e}", dir.display()))?;
        center = center.with_blobs(Box::new(folder));
    }
    eprintln!("gridsync-center keeps photos in {}", center.photo_folder());
    let center = std::sync::Arc::new(center);
    let kept = center.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(gridsync_center::serve::MAX_BLOCKING_THREADS)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let served = runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        eprintln!("gridsync-center serving {} on {scheme}://{addr}", shown_db(&db));
        http::serve_on(center, listener, tls, gridsync_center::limits::Rates::default(), async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
    });
    // The refusals of the last second, written off the runtime.
    kept.flush_refusals();
    served
}

/// The database as logs show it: a PostgreSQL URL without its password.
fn shown_db(db: &str) -> String {
    match (db.find("://"), db.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user = &db[scheme + 3..at];
            let user = user.split(':').next().unwrap_or_default();
            format!("{}{user}{}", &db[..scheme + 3], &db[at..])
        }
        _ => db.to_owned(),
    }
}
