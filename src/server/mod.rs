//! `patchgate serve`: the GitHub App's webhook service.

pub mod events;
pub mod intake;
pub mod logging;
pub mod metrics;
