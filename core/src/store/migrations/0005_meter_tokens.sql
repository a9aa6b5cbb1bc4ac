-- Keypad-meter (STS) tokens: the 20 digits a signed receipt carries, kept beside it so the
-- token list and a receipt's token show offline without decoding every receipt.

ALTER TABLE receipts ADD COLUMN sts_token TEXT;
CREATE INDEX receipts_sts_token ON receipts (seq) WHERE sts_token IS NOT NULL;
