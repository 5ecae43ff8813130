//! The core's logs in the app's log: Logcat on Android, OSLog on iOS, anything in Python.
//! The app hands over a sink once (`set_log_sink`); every `tracing` event of gridsync at
//! or above the chosen level reaches it as one line. gridsync's log lines carry ids,
//! codes and counts, never names, ID numbers or phone numbers (docs/security.md), so a
//! sink may write them where support staff read them.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Once, RwLock};

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

/// How much to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, uniffi::Enum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    fn of(level: tracing::Level) -> Self {
        match level {
            tracing::Level::ERROR => LogLevel::Error,
            tracing::Level::WARN => LogLevel::Warn,
            tracing::Level::INFO => LogLevel::Info,
            tracing::Level::DEBUG => LogLevel::Debug,
            tracing::Level::TRACE => LogLevel::Trace,
        }
    }
}

/// Where gridsync's log lines go: `android.util.Log`, `os.Logger`, Python's `logging`.
/// Called on the thread that logged; keep it quick.
#[uniffi::export(foreign)]
pub trait LogSink: Send + Sync {
    fn log(&self, level: LogLevel, target: String, message: String);
}

static SINK: RwLock<Option<Arc<dyn LogSink>>> = RwLock::new(None);
static MAX_LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Info as u8);
static INSTALL: Once = Once::new();

/// Sends gridsync's log lines at `max_level` and above (and the libraries' warnings and
/// errors) to `sink`, replacing any sink set before. The first call installs gridsync's
/// forwarding as the process's `tracing` subscriber (unless the app installed one of
/// its own, which then keeps the lines).
#[uniffi::export]
pub fn set_log_sink(sink: Arc<dyn LogSink>, max_level: LogLevel) {
    MAX_LEVEL.store(max_level as u8, Ordering::SeqCst);
    *SINK.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(sink);
    INSTALL.call_once(|| {
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Forward));
    });
}

/// The `tracing` layer that hands each event to the sink.
struct Forward;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Forward {
    /// Asked again at every event: the level can change at any time.
    fn register_callsite(&self, _: &'static tracing::Metadata<'static>) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }

    /// gridsync's own lines at the chosen level; the libraries' (HTTP, TLS) only when they
    /// warn or fail.
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        let level = LogLevel::of(*metadata.level());
        let ours = metadata.target().starts_with("gridsync");
        level <= LogLevel::Warn || (ours && level as u8 <= MAX_LEVEL.load(Ordering::Relaxed))
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let sink = SINK.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let Some(sink) = sink else { return };
        let mut line = Line::default();
        event.record(&mut line);
        let metadata = event.metadata();
        sink.log(LogLevel::of(*metadata.level()), metadata.target().to_owned(), line.0);
    }
}

/// An event as one line: its message, then `name=value` for each other field.
#[derive(Default)]
struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let separator = if self.0.is_empty() { "" } else { " " };
        let _ = if field.name() == "message" {
            write!(self.0, "{separator}{value:?}")
        } else {
            write!(self.0, "{separator}{}={value:?}", field.name())
        };
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let separator = if self.0.is_empty() { "" } else { " " };
        let _ = if field.name() == "message" {
            write!(self.0, "{separator}{value}")
        } else {
            write!(self.0, "{separator}{}={value}", field.name())
        };
    }
}
