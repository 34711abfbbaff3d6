-- patchgate store, SQLite: the explanation texts of each decision record, kept beside it
-- (src/meta/texts.rs). The record (the ledger row) holds only their hashes and never changes;
-- the web view's record page shows these texts and checks each against its recorded hash.
-- Secrets are masked before a text is written here.
-- Never edit an applied migration (its checksum is recorded): add a new file instead.

CREATE TABLE IF NOT EXISTS explanation_texts (
    seq   INTEGER PRIMARY KEY,   -- the ledger row's seq
    texts TEXT NOT NULL      -- JSON: {record_hash, a, b, votes: [{auditor, text, findings, masked}]}
);
