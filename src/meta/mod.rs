//! The meta hash audit: canonical forms, hashes and the decision record.
