//! billtap-core: the shared Rust core of the billtap bill-payment app.
//!
//! Pure Rust. Its records, enums and host ports are the types Kotlin, Swift and Python see:
//! with the `uniffi` feature they derive UniFFI, and `billtap-ffi` exports them as they are.
//! One module per capability, each with its own error enum; see `docs/architecture.md`.

#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();

pub mod dates;
pub mod money;
pub mod pay;
pub mod platform;
pub mod ports;
pub mod receipts;
pub mod scan;
pub mod store;
pub mod topup;

pub use money::{Currency, Money, MoneyError};
