//! Top-up: loading value onto NFC cards by tapping — transit cards (T-Union, city cards) and
//! CPU prepaid meter cards through the PBOC / JR/T 0025 electronic-purse load. This first part
//! holds the APDU layer, the e-purse's commands and cryptography (checked against the public
//! vectors) and a simulated card that speaks the real APDUs; the card transport port, the
//! tear-safe load flow, the issuer in the sandbox, STS tokens and the exports follow.

pub mod apdu;
pub mod meter_card;
pub mod pboc;
mod read;
pub mod sim;

pub use read::{CardState, CardTransaction, exchange, read_card};

/// Why a top-up step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopupError {
    /// Bytes that are not a well-formed APDU or card answer.
    #[error("{0}")]
    Apdu(String),
    /// The card refused a command.
    #[error("the card refused {step}: {sw:04X} ({meaning})")]
    Card {
        /// The step (`INITIALIZE FOR LOAD`).
        step: String,
        /// Its status word.
        sw: u16,
        /// What the status word means.
        meaning: String,
    },
    /// A card of a kind this version cannot load (an SM4 purse): nothing was taken.
    #[error("{0}")]
    Unsupported(String),
    /// A MAC or TAC does not check: the card or the issuer is not who it claims.
    #[error("{0}")]
    Crypto(String),
    /// The exchange with the card failed (moved away, timed out, reader error).
    #[error(transparent)]
    Transport(#[from] crate::ports::CardError),
}
