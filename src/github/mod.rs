//! GitHub: the App's identity and API calls (octocrab), repository mirrors (git2), and the
//! comment-command language. Everything that talks to GitHub goes through here.

pub mod app;
pub mod commands;
pub mod mirror;
