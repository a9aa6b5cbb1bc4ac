//! billtap-sandbox: a real HTTP server implementing the bill-payment platform API
//! (`docs/api/openapi.yaml`) — in the spirit of stripe-mock — for tests, `billtap demo` and
//! app developers. Deterministic seed data (51 sub-categories × 8 cities = 408 billers, demo
//! accounts with bills), every response signed, faults injectable per request.
//!
//! Run it with `billtap sandbox`, or embed it: [`Sandbox::start`] serves on a loopback port
//! from its own thread until the handle is dropped.

mod catalog;
mod db;
mod issuer;
mod keep;
mod ledger;
mod meter;
mod model;
mod server;

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use billtap_core::platform::{ResponseSigner, TrustError};

pub use model::{Biller, FaultRule, NewBill};

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address tried.
        addr: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The database could not be opened or seeded.
    #[error("sandbox database: {0}")]
    Db(#[from] rusqlite::Error),
    /// The signing key could not be made.
    #[error("sandbox signing key: {0}")]
    Key(#[from] TrustError),
    /// The server thread failed to start.
    #[error("sandbox thread: {0}")]
    Thread(String),
    /// An issuer key is not `VERSION:LOAD_MK:TAC_MK`.
    #[error("issuer key: {0}")]
    IssuerKey(String),
}

/// How to start a sandbox.
#[derive(Debug, Clone, Default)]
pub struct SandboxOptions {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// SQLite file for the state; `None` keeps it in memory.
    pub db_path: Option<String>,
    /// Key id of the signing key (a fresh key is generated at every start); empty (the
    /// default): `sandbox-` and 8 hex digits of the key's hash, unique per key.
    pub key_id: String,
    /// Bearer token for `/admin/*`; `None`: a random one (see [`Sandbox::admin_token`]).
    pub admin_token: Option<String>,
    /// The card issuer's master keys, `VERSION:LOAD_MK:TAC_MK` (hex); none: the documented
    /// test keys as key version 1.
    pub issuer_keys: Vec<String>,
}

/// A running sandbox; stops when dropped.
pub struct Sandbox {
    addr: SocketAddr,
    app: Arc<server::App>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sandbox {
    /// Starts a sandbox on 127.0.0.1 in a thread of its own (works from sync and async code).
    pub fn start(opts: SandboxOptions) -> Result<Sandbox, SandboxError> {
        let addr = format!("127.0.0.1:{}", opts.port);
        let listener = std::net::TcpListener::bind(&addr).map_err(|source| SandboxError::Bind {
            addr: addr.clone(),
            source,
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| SandboxError::Bind {
                addr: addr.clone(),
                source,
            })?;
        let local = listener
            .local_addr()
            .map_err(|source| SandboxError::Bind { addr, source })?;
        let base_url = format!("http://{local}");
        let billers = model::billers(&base_url);
        let db = db::Db::open(opts.db_path.as_deref(), &billers)?;
        // Every generated key gets its own id (`sandbox-` and 8 hex of its public key's hash):
        // ids name keys for good — a receipt verified offline next year finds its key by id.
        let signer = if opts.key_id.is_empty() {
            let s = ResponseSigner::generate("sandbox")?;
            let hash = ring::digest::digest(&ring::digest::SHA256, &s.pinned().public_key);
            let id = format!(
                "sandbox-{}",
                hex::encode(hash.as_ref().get(..4).unwrap_or_default())
            );
            s.renamed(&id)?
        } else {
            ResponseSigner::generate(&opts.key_id)?
        };
        let issuer_keys = if opts.issuer_keys.is_empty() {
            vec![issuer::IssuerKeys::test()]
        } else {
            opts.issuer_keys
                .iter()
                .map(|k| issuer::IssuerKeys::parse(k))
                .collect::<Result<Vec<_>, _>>()
                .map_err(SandboxError::IssuerKey)?
        };
        let app = Arc::new(server::App {
            issuer_keys,
            billers,
            db,
            keys: std::sync::RwLock::new(server::SigningKeys {
                current: Arc::new(signer),
                next: None,
            }),
            faults: Mutex::new(Vec::new()),
            counter: AtomicU64::new(1),
            admin_token: match opts.admin_token {
                Some(t) if !t.trim().is_empty() => t.trim().to_string(),
                _ => billtap_core::platform::new_nonce()?,
            },
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let served = app.clone();
        let thread = std::thread::Builder::new()
            .name("billtap-sandbox".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    let _ = axum::serve(listener, server::router(served))
                        .with_graceful_shutdown(async {
                            let _ = rx.await;
                        })
                        .await;
                });
            })
            .map_err(|e| SandboxError::Thread(e.to_string()))?;
        ready_rx
            .recv()
            .map_err(|e| SandboxError::Thread(e.to_string()))?
            .map_err(SandboxError::Thread)?;
        Ok(Sandbox {
            addr: local,
            app,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The public key apps must pin, as `KEY_ID:BASE64`: the one signing now (after
    /// `POST /admin/keys/rotate`, the new one).
    pub fn pinned_key(&self) -> String {
        self.app.signer().pinned().to_entry()
    }

    /// The bearer token `/admin/*` calls must carry (`Authorization: Bearer TOKEN`).
    pub fn admin_token(&self) -> String {
        self.app.admin_token.clone()
    }

    /// The static UnionPay merchant QR payload a registered biller displays (EMV tag 15 with
    /// the account the sandbox registers for it); `None` for an unknown biller.
    pub fn merchant_qr_payload(&self, biller_id: &str) -> Option<String> {
        server::merchant_payload(&self.app, biller_id)
    }

    /// Blocks until the server stops (for `billtap sandbox`).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sandbox({}, {})", self.url(), self.pinned_key())
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
