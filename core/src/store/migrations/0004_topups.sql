-- Top-ups: each card load, stored before every step that can tear (the platform's answer,
-- the card's CREDIT FOR LOAD), so a tap after a kill or a card pulled away settles it once.

CREATE TABLE topups (
    topup_id      TEXT    PRIMARY KEY,
    idempotency_key TEXT  NOT NULL UNIQUE,
    card_serial   TEXT    NOT NULL,             -- hex, 10 bytes
    amount_fen    INTEGER NOT NULL,
    terminal      TEXT    NOT NULL,             -- hex, 6 bytes
    old_balance   INTEGER NOT NULL,
    counter       INTEGER NOT NULL,
    request       TEXT    NOT NULL,             -- the signed authorisation request, exact bytes
    state         TEXT    NOT NULL CHECK (state IN
                    ('prepared', 'authorised', 'credited', 'completed', 'failed', 'reversed', 'unknown',
                     'needs_reconciliation')),
    order_id      TEXT,
    mac2          TEXT,
    stamp         TEXT,                         -- YYYYMMDDhhmmss of the authorisation
    tac           TEXT,
    failure       TEXT,
    receipt_seq   INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- One unfinished top-up per card: the next tap settles it before anything else.
CREATE UNIQUE INDEX topups_one_open_per_card ON topups (card_serial)
    WHERE state IN ('prepared', 'authorised', 'credited', 'unknown');
