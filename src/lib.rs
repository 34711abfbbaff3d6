//! patchgate: a Git-integrated patch gatekeeper.
//!
//! The library behind the `patchgate` binary. Each module stands on its own; the binary is a
//! thin shell over them.

pub mod astdiff;
pub mod audit;
pub mod builder;
pub mod config;
pub mod config_doc;
pub mod gate;
pub mod gitcmd;
pub mod github;
pub mod meta;
pub mod policy;
pub mod rollback;
pub mod server;
pub mod store;
pub mod term;
pub mod util;
pub mod view;
pub mod webhook;
