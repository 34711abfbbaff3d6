//! Unified-diff patches: parsing and applying them to a base.
