-- The device's identity and its payments. One file, WAL, synchronous=FULL (store/mod.rs).

CREATE TABLE device (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    device_id     TEXT    NOT NULL,
    public_key    BLOB    NOT NULL,
    -- PKCS#8 of billtap's software key; NULL when the host's hardware key signs.
    software_key  BLOB,
    registered_at INTEGER,
    platform_url  TEXT
);

CREATE TABLE payments (
    payment_id          TEXT    PRIMARY KEY,
    idempotency_key     TEXT    NOT NULL UNIQUE,
    quote_id            TEXT    NOT NULL,
    bill_id             TEXT,
    biller_id           TEXT    NOT NULL,
    payee_name          TEXT    NOT NULL,
    payee_account       TEXT    NOT NULL,
    amount              TEXT    NOT NULL,
    fee                 TEXT    NOT NULL,
    currency            TEXT    NOT NULL,
    state               TEXT    NOT NULL CHECK (state IN
                            ('ready', 'submitted', 'succeeded', 'failed', 'unknown', 'needs_reconciliation')),
    -- The exact signed request (JSON of PreparedRequest): retries resend these bytes.
    request             TEXT    NOT NULL,
    request_timestamp   INTEGER NOT NULL,
    platform_payment_id TEXT,
    failure             TEXT,
    attempts            INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);

-- One payment in flight per bill: a second confirm while one is unsettled is refused.
CREATE UNIQUE INDEX payments_one_in_flight_per_bill ON payments (bill_id)
    WHERE bill_id IS NOT NULL AND state IN ('ready', 'submitted', 'unknown');

CREATE INDEX payments_by_state ON payments (state);
