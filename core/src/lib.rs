//! billtap-core: the shared Rust core of the billtap bill-payment app.
//!
//! Pure Rust, no FFI: the `billtap-ffi` crate adapts these types for Kotlin, Swift and Python.
//! One module per capability, each with its own error enum; see `docs/architecture.md`.

pub mod money;
pub mod platform;
pub mod ports;
pub mod scan;

pub use money::{Currency, Money, MoneyError};
