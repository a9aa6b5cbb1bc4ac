//! What the host platform must supply, in one place: read this file to know what a new
//! platform (Android, iOS, desktop, a test) must provide. Implementations live in the shells
//! or, for desktop and tests, next to each trait.

/// The current time. A trait so tests can move time (stale responses, expiring quotes) and
/// hosts can supply a trusted clock.
#[cfg_attr(feature = "uniffi", uniffi::export(with_foreign))]
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch.
    fn now_unix(&self) -> i64;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// One HTTP header as sent or received (names compared case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct HttpHeader {
    /// Header name.
    pub name: String,
    /// Header value.
    pub value: String,
}

/// One request for the host's HTTP stack. The transport sends exactly this: it must not follow
/// redirects (a 3xx is returned as it came), and must stop reading a body longer than
/// `max_response_bytes` and fail with [`TransportError::TooLarge`] instead of buffering it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct HttpRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// Absolute URL: scheme, host, path and query.
    pub url: String,
    /// Headers to send (the transport may add its own, e.g. `User-Agent`, never replace these).
    pub headers: Vec<HttpHeader>,
    /// Body bytes (empty for GET).
    pub body: Vec<u8>,
    /// The largest response body the caller accepts.
    pub max_response_bytes: u64,
    /// Whole-request timeout in milliseconds.
    pub timeout_ms: u64,
}

/// What came back, before any check: core verifies signatures and limits itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: Vec<HttpHeader>,
    /// Body bytes, at most the request's `max_response_bytes`.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header with this name, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }
}

/// Why the host's HTTP stack could not deliver a response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Error))]
pub enum TransportError {
    /// No answer within the timeout.
    #[error("no answer in time")]
    Timeout,
    /// The connection could not be made or broke (DNS, TCP, TLS, reset).
    #[error("network: {reason}")]
    Network {
        /// What the stack said (no URLs: they may carry account numbers).
        reason: String,
    },
    /// The response body is longer than the request allowed; it was not read to the end.
    #[error("the response is larger than {limit} bytes")]
    TooLarge {
        /// The limit that was exceeded.
        limit: u64,
    },
}

/// The host's HTTP stack: a bank app's gateway SDK, the OS trust store, proxies and
/// certificate pinning. billtap's own (reqwest + rustls) is [`crate::platform::ReqwestTransport`];
/// signature checks stay in core whichever transport carries the bytes.
#[cfg_attr(feature = "uniffi", uniffi::export(with_foreign))]
#[async_trait::async_trait]
pub trait HttpTransport: Send + Sync {
    /// Sends one request and returns the response as received (no redirects followed).
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}

/// A host exception thrown through a port UniFFI did not expect (a Kotlin `RuntimeException`,
/// a Swift error of another type): a network failure, never a panic.
#[cfg(feature = "uniffi")]
impl From<uniffi::UnexpectedUniFFICallbackError> for TransportError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        TransportError::Network {
            reason: format!("the app's HTTP stack threw: {}", e.reason),
        }
    }
}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum LogLevel {
    /// Very detailed tracing.
    Trace,
    /// Diagnostics for developers.
    Debug,
    /// Normal events.
    Info,
    /// Something unexpected that billtap handled.
    Warn,
    /// A failure.
    Error,
}

/// Why a host service failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Error))]
pub enum HostError {
    /// The host reported a failure.
    #[error("host service failed: {reason}")]
    Failed {
        /// What the host said.
        reason: String,
    },
    /// The host threw something its interface does not declare.
    #[error("host callback threw unexpectedly: {reason}")]
    Unexpected {
        /// What the host said.
        reason: String,
    },
}

#[cfg(feature = "uniffi")]
impl From<uniffi::UnexpectedUniFFICallbackError> for HostError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        HostError::Unexpected { reason: e.reason }
    }
}

/// The host's log (Logcat, os_log, Python logging), called from any thread. billtap logs
/// formats, codes and counts, never payload content, keys or card and account numbers.
#[cfg_attr(feature = "uniffi", uniffi::export(with_foreign))]
pub trait Logger: Send + Sync {
    /// Writes one log line. A failure is ignored by billtap: logging never breaks a payment.
    fn log(&self, level: LogLevel, target: String, message: String) -> Result<(), HostError>;
}

/// Why the device's signer gave no signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Error))]
pub enum SignerError {
    /// The user dismissed the biometric or PIN prompt: nothing was signed, nothing sent.
    #[error("the payment was not signed: cancelled by the user")]
    Cancelled,
    /// No key, a locked keystore, hardware not available.
    #[error("the device key is not available: {reason}")]
    Unavailable {
        /// What the host said.
        reason: String,
    },
    /// The signer failed otherwise (or returned something that is not a valid signature).
    #[error("signing failed: {reason}")]
    Failed {
        /// What went wrong.
        reason: String,
    },
}

#[cfg(feature = "uniffi")]
impl From<uniffi::UnexpectedUniFFICallbackError> for SignerError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        SignerError::Failed {
            reason: format!("the app's signer threw: {}", e.reason),
        }
    }
}

/// The device's payment key: ECDSA P-256 with SHA-256, in hardware on phones (Android
/// Keystore, StrongBox where present; the iOS Secure Enclave), where the key never leaves it.
/// billtap checks every signature it gets back against `public_key` before sending it.
#[cfg_attr(feature = "uniffi", uniffi::export(with_foreign))]
#[async_trait::async_trait]
pub trait Signer: Send + Sync {
    /// The public key: an uncompressed SEC1 point (65 bytes, `04 || X || Y`, what iOS
    /// `SecKeyCopyExternalRepresentation` gives) or the X.509 `SubjectPublicKeyInfo` DER
    /// (what Java's `PublicKey.getEncoded()` gives).
    fn public_key(&self) -> Result<Vec<u8>, SignerError>;
    /// Signs `message` (SHA-256 inside, as `SHA256withECDSA` and
    /// `ecdsaSignatureMessageX962SHA256` do); returns the ASN.1 DER signature. May ask for
    /// user presence, and so may take seconds.
    async fn sign(&self, message: Vec<u8>) -> Result<Vec<u8>, SignerError>;
}

/// Why a card exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Error))]
pub enum CardError {
    /// The card left the field (the user moved the phone): a command may or may not have run.
    #[error("the card was moved away; hold it still against the phone and tap again")]
    TagLost,
    /// The card did not answer in time.
    #[error("the card did not answer in time; tap again")]
    Timeout,
    /// The reader failed otherwise.
    #[error("the card reader failed: {reason}")]
    Io {
        /// What the host said.
        reason: String,
    },
}

#[cfg(feature = "uniffi")]
impl From<uniffi::UnexpectedUniFFICallbackError> for CardError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        CardError::Io {
            reason: format!("the app's card transport threw: {}", e.reason),
        }
    }
}

/// The NFC card in the field: Android `IsoDep`, iOS `NFCISO7816Tag`, a desktop reader, or
/// billtap's simulated card. One command APDU in, its response (data ‖ SW1 SW2) out.
#[cfg_attr(feature = "uniffi", uniffi::export(with_foreign))]
#[async_trait::async_trait]
pub trait CardTransport: Send + Sync {
    /// Sends one command APDU and returns the card's response bytes.
    async fn transceive(&self, apdu: Vec<u8>) -> Result<Vec<u8>, CardError>;
    /// The longest command the reader sends in one exchange (`IsoDep.getMaxTransceiveLength`).
    fn max_transceive_length(&self) -> u32;
}

/// A step of a top-up, for the screen to show as it happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum TopupStep {
    /// Waiting for the card in the field (a reader may block here until one is tapped).
    WaitingForCard,
    /// Reading which card it is and where it stands.
    Reading,
    /// The platform is authorising the load (the account is debited).
    Authorising,
    /// Writing the value to the card.
    Writing,
    /// The platform is checking the card's proof of the load; the card may be taken away.
    Verifying,
    /// Finished: the record says how.
    Done,
}

impl TopupStep {
    /// What to tell the user at this step; while the card is being used, "keep it still".
    pub fn hint(self) -> &'static str {
        match self {
            TopupStep::WaitingForCard => "Hold the card flat against the back of the phone",
            TopupStep::Reading => "Reading the card: keep it still",
            TopupStep::Authorising => "Authorising the payment: keep the card still",
            TopupStep::Writing => "Writing to the card: keep it still",
            TopupStep::Verifying => "Checking the card's proof of the load: you may remove it",
            TopupStep::Done => "Done",
        }
    }
}

/// Where the app hears a top-up's progress (called on billtap's worker, as each step starts:
/// hop to the UI thread to show it).
#[cfg_attr(feature = "uniffi", uniffi::export(with_foreign))]
pub trait TopupProgress: Send + Sync {
    /// A step starts; `hint` is what to show ("keep the card still").
    fn on_step(&self, step: TopupStep, hint: String);
}
