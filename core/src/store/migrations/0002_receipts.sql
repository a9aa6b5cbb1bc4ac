-- Receipts: append-only, hash-chained. Each entry carries the SHA-256 of its receipt and the
-- link of the entry before it; `link` = SHA-256("billtap-history-v1" | seq | prev_link |
-- receipt_hash). A succeeded payment names its receipt, so a deleted last entry shows too.

CREATE TABLE receipts (
    seq            INTEGER PRIMARY KEY,
    payment_id     TEXT    NOT NULL UNIQUE,   -- the platform's transaction id
    local_payment  TEXT,                      -- billtap's payment id, when paid from here
    cose           BLOB    NOT NULL,          -- the signed COSE_Sign1 receipt, as received
    key_id         TEXT    NOT NULL,
    biller_id      TEXT    NOT NULL,
    bill_id        TEXT,
    payee_name     TEXT    NOT NULL,
    amount         TEXT    NOT NULL,
    currency       TEXT    NOT NULL,
    paid_at        INTEGER NOT NULL,
    receipt_hash   BLOB    NOT NULL,
    prev_link      BLOB    NOT NULL,
    link           BLOB    NOT NULL
);

CREATE INDEX receipts_by_time ON receipts (paid_at DESC, seq DESC);
CREATE INDEX receipts_by_biller ON receipts (biller_id, paid_at DESC);

CREATE TRIGGER receipts_are_append_only_update BEFORE UPDATE ON receipts
BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;
CREATE TRIGGER receipts_are_append_only_delete BEFORE DELETE ON receipts
BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;

-- The platform keys receipts were verified with, so the history verifies offline later
-- (after a key rotation, or from an embedded sandbox that is gone).
CREATE TABLE platform_keys (
    key_id     TEXT PRIMARY KEY,
    public_key BLOB NOT NULL
);

ALTER TABLE payments ADD COLUMN receipt_seq INTEGER;
