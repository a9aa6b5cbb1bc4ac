-- Keep: receipt categories and English payee names (signed, from receipts of format 1 with
-- the optional fields), amounts in 1/10000 units for amount filters and totals without floats,
-- the payee-name search table, the offline response cache, invoices, saved bill accounts.

ALTER TABLE receipts ADD COLUMN category TEXT;       -- the signed sub-category (`utilities.water`)
ALTER TABLE receipts ADD COLUMN payee_name_en TEXT;  -- the signed English payee name
ALTER TABLE receipts ADD COLUMN amount_e4 INTEGER;   -- amount × 10^4 (ISO 4217 has at most 4 decimals)

-- Filling the new amount column is the one update receipts ever get, inside this migration.
DROP TRIGGER receipts_are_append_only_update;
UPDATE receipts SET amount_e4 = CASE
    WHEN instr(amount, '.') > 0 THEN
        CAST(substr(amount, 1, instr(amount, '.') - 1) AS INTEGER) * 10000
        + CAST(substr(substr(amount, instr(amount, '.') + 1) || '0000', 1, 4) AS INTEGER)
    ELSE CAST(amount AS INTEGER) * 10000 END;
CREATE TRIGGER receipts_are_append_only_update BEFORE UPDATE ON receipts
BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;

CREATE INDEX receipts_by_payee ON receipts (payee_name, paid_at DESC, seq DESC);
CREATE INDEX receipts_by_category ON receipts (category, paid_at DESC, seq DESC);

-- One row per distinct payee: search matches names here (a few thousand at most), then reads
-- each matching payee's newest receipts through receipts_by_payee.
CREATE TABLE receipt_payees (
    name    TEXT PRIMARY KEY,
    name_en TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
INSERT OR IGNORE INTO receipt_payees (name) SELECT DISTINCT payee_name FROM receipts;

-- The sub-categories in the history (a few dozen): a category filter reads each one's newest
-- receipts through receipts_by_category, as search does per payee.
CREATE TABLE receipt_categories (category TEXT PRIMARY KEY) WITHOUT ROWID;
INSERT OR IGNORE INTO receipt_categories SELECT DISTINCT category FROM receipts WHERE category IS NOT NULL;

-- Running sums per month (China time), sub-category ('' for none) and currency, kept as
-- receipts are appended: totals over the whole history without reading it.
CREATE TABLE receipt_sums (
    month    TEXT    NOT NULL,
    category TEXT    NOT NULL,
    currency TEXT    NOT NULL,
    sum_e4   INTEGER NOT NULL,
    count    INTEGER NOT NULL,
    PRIMARY KEY (month, category, currency)
) WITHOUT ROWID;
INSERT INTO receipt_sums
    SELECT strftime('%Y-%m', paid_at + 28800, 'unixepoch'), COALESCE(category, ''), currency,
           SUM(amount_e4), COUNT(*)
    FROM receipts GROUP BY 1, 2, 3;

-- Signed platform responses kept for offline use (the catalog), verified again on every load.
CREATE TABLE cached_responses (
    name     TEXT PRIMARY KEY,
    body     BLOB NOT NULL,
    saved_at INTEGER NOT NULL
);

-- Invoice requests and their latest platform-signed state (JSON of the platform's record).
CREATE TABLE invoices (
    invoice_id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL,                -- the platform's transaction id
    record     TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX invoices_by_payment ON invoices (payment_id, updated_at DESC);

-- "My accounts": the bill accounts a family pays, synced with the platform. `pending` holds a
-- change made offline until the platform has it ('save' or 'remove').
CREATE TABLE saved_accounts (
    account_id TEXT PRIMARY KEY,
    biller_id  TEXT NOT NULL,
    account    TEXT NOT NULL,
    nickname   TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    pending    TEXT CHECK (pending IN ('save', 'remove')),
    UNIQUE (biller_id, account)
);

-- The latest bills fetched for each saved account (JSON list), for offline reminders.
CREATE TABLE account_bills (
    account_id TEXT PRIMARY KEY,
    bills      TEXT NOT NULL,
    fetched_at INTEGER NOT NULL
);
