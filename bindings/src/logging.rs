//! Logging to the host: a `tracing` layer forwards billtap's events to a host `Logger`
//! (Logcat, os_log, Python logging). Core never logs payload content, keys or card numbers.

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock, RwLock};

use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

use billtap_core::ports::{HostError, LogLevel, Logger};

struct Sink {
    logger: Arc<dyn Logger>,
    min_level: LogLevel,
}

fn sink() -> &'static RwLock<Option<Sink>> {
    static SINK: OnceLock<RwLock<Option<Sink>>> = OnceLock::new();
    SINK.get_or_init(|| RwLock::new(None))
}

/// Routes billtap's logs at `min_level` and above to `logger`; `None` stops logging.
/// May be called again at any time to replace the logger.
#[uniffi::export]
pub fn set_logger(logger: Option<Arc<dyn Logger>>, min_level: LogLevel) -> Result<(), HostError> {
    install_layer();
    let mut slot = sink().write().map_err(|_| HostError::Failed {
        reason: "logger lock poisoned".into(),
    })?;
    *slot = logger.map(|logger| Sink { logger, min_level });
    Ok(())
}

/// Installs the forwarding layer as the process-wide subscriber once. If the host process
/// already installed a subscriber (e.g. a Rust host), billtap leaves it alone.
fn install_layer() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(HostLayer);
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

fn level_of(l: &tracing::Level) -> LogLevel {
    match *l {
        tracing::Level::TRACE => LogLevel::Trace,
        tracing::Level::DEBUG => LogLevel::Debug,
        tracing::Level::INFO => LogLevel::Info,
        tracing::Level::WARN => LogLevel::Warn,
        _ => LogLevel::Error,
    }
}

#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
}

struct HostLayer;

impl<S: tracing::Subscriber> Layer<S> for HostLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let Ok(guard) = sink().read() else { return };
        let Some(sink) = guard.as_ref() else { return };
        let level = level_of(event.metadata().level());
        if level < sink.min_level {
            return;
        }
        let mut line = Line::default();
        event.record(&mut line);
        // A host logger that fails or throws must not take billtap down with it.
        let _ = sink.logger.log(
            level,
            event.metadata().target().to_string(),
            format!("{}{}", line.message, line.fields),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    struct Recording(Mutex<Vec<(LogLevel, String)>>);
    impl Logger for Recording {
        fn log(&self, level: LogLevel, _target: String, message: String) -> Result<(), HostError> {
            self.0
                .lock()
                .map_err(|_| HostError::Failed {
                    reason: "poisoned".into(),
                })?
                .push((level, message));
            Ok(())
        }
    }

    struct Throwing;
    impl Logger for Throwing {
        fn log(&self, _: LogLevel, _: String, _: String) -> Result<(), HostError> {
            // What UniFFI hands back when a Kotlin/Swift/Python logger throws something undeclared.
            Err(uniffi::UnexpectedUniFFICallbackError {
                reason: "java.lang.IllegalStateException: boom".into(),
            }
            .into())
        }
    }

    #[test]
    fn host_logger_gets_lines_and_failing_or_threaded_calls_do_not_crash() {
        let rec = Arc::new(Recording(Mutex::new(Vec::new())));
        set_logger(Some(rec.clone()), LogLevel::Debug).unwrap();
        billtap_core::scan::parse_text("not a bill").unwrap_err();
        std::thread::spawn(|| billtap_core::scan::parse_text("upi://pay?pa=a@b").unwrap())
            .join()
            .unwrap();
        let lines = rec.0.lock().unwrap().clone();
        assert!(
            lines.iter().any(|(l, m)| *l == LogLevel::Info
                && m.contains("payload refused")
                && m.contains("error=not_payment")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|(l, m)| *l == LogLevel::Debug && m.contains("format=upi")),
            "{lines:?}"
        );
        // Payload content never reaches the host log.
        assert!(
            lines
                .iter()
                .all(|(_, m)| !m.contains("a@b") && !m.contains("not a bill")),
            "{lines:?}"
        );

        set_logger(Some(Arc::new(Throwing)), LogLevel::Trace).unwrap();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| billtap_core::scan::parse_text("upi://pay?pa=a@b").is_ok())
            })
            .collect();
        assert!(handles.into_iter().all(|h| h.join().unwrap()));
        set_logger(None, LogLevel::Info).unwrap();
    }
}
