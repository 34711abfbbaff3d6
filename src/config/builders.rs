//! The server config's `builders:` — the programs and models patchgate may ask for a second,
//! independent render of a change (render B on demand, see `docs/render-b.md`).
//!
//! Server config only: a repository names a builder (`render_b.builder`) but can never say what
//! it runs, where it calls, with which key or at what price.

use serde::{Deserialize, Serialize};

use super::ServerConfig;

/// Default wall-clock limit of one build, seconds.
pub const DEFAULT_BUILDER_TIMEOUT_S: u64 = 900;
/// Default cap on a command builder's output (stdout and stderr, each).
pub const DEFAULT_BUILDER_OUTPUT_BYTES: usize = 256 * 1024;
/// Default cap on the bytes of the files a render B adds or modifies.
pub const DEFAULT_MAX_CHANGE_BYTES: u64 = 1024 * 1024;
/// Default cap on the files a render B adds, modifies or deletes.
pub const DEFAULT_MAX_CHANGE_FILES: usize = 50;

/// `render_b.scratch_dir`'s default: a tmpfs with room, else the system's temporary directory.
pub const SCRATCH_AUTO: &str = "auto";

/// The server config's `render_b:` — where command builders run and what is done with a render
/// B once it is built. (A repository's `render_b:` only names a builder and when to ask it.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenderBServer {
    /// Where command builders' scratch worktrees are made: `auto` (a tmpfs with room for the
    /// base, else the system's temporary directory, and the log says so) or an absolute path.
    #[serde(default = "scratch_auto")]
    pub scratch_dir: String,
    /// Push a pull request's render B to the repository as the branch
    /// `patchgate/render-b/<pr>` (default off: it stays under the mirror's hidden refs).
    #[serde(default)]
    pub push_branch: bool,
}

fn scratch_auto() -> String {
    SCRATCH_AUTO.to_string()
}

impl Default for RenderBServer {
    fn default() -> Self {
        RenderBServer {
            scratch_dir: scratch_auto(),
            push_branch: false,
        }
    }
}

impl RenderBServer {
    /// The configured scratch directory, `None` for `auto`.
    pub fn scratch_path(&self) -> Option<std::path::PathBuf> {
        (self.scratch_dir != SCRATCH_AUTO).then(|| std::path::PathBuf::from(&self.scratch_dir))
    }
}

/// What kind of builder an entry configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuilderKind {
    /// A program (an agent CLI) run in a fresh temporary worktree of the base commit.
    Command,
    /// An OpenAI-compatible chat-completions endpoint answering whole-file replacements.
    Openai,
    /// The Anthropic Messages API answering whole-file replacements.
    Anthropic,
}

impl BuilderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BuilderKind::Command => "command",
            BuilderKind::Openai => "openai",
            BuilderKind::Anthropic => "anthropic",
        }
    }
}

/// One `builders:` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuilderConfig {
    pub name: String,
    pub kind: BuilderKind,
    /// `kind: command`: the program and its arguments; `{request_file}` and `{base}` in an
    /// argument are replaced by the request's file and the base commit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// `kind: command`: the environment variables passed through (everything else is cleared).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// Wall-clock limit of one build, seconds (default 900).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u64>,
    /// `kind: command`: the most bytes kept of stdout (its explanation) and of stderr.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_bytes: Option<usize>,
    /// The most bytes of added or modified files a render B may hold (default 1 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_change_bytes: Option<u64>,
    /// The most files a render B may add, modify or delete (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_change_files: Option<usize>,
    /// Model builders: the model (it needs a price under `prices`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Model builders: the endpoint, `http(s)://…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Model builders: the environment variable holding the API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// Model builders: the most tokens asked for in an answer (default 16 000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// `kind: command`: what one run costs, USD, counted against the daily budget (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_usd: Option<f64>,
}

impl BuilderConfig {
    pub fn timeout_s(&self) -> u64 {
        self.timeout_s.unwrap_or(DEFAULT_BUILDER_TIMEOUT_S)
    }
    pub fn max_output_bytes(&self) -> usize {
        self.max_output_bytes
            .unwrap_or(DEFAULT_BUILDER_OUTPUT_BYTES)
    }
    pub fn max_change_bytes(&self) -> u64 {
        self.max_change_bytes.unwrap_or(DEFAULT_MAX_CHANGE_BYTES)
    }
    pub fn max_change_files(&self) -> usize {
        self.max_change_files.unwrap_or(DEFAULT_MAX_CHANGE_FILES)
    }
    /// What the record names: the model, or the command line.
    pub fn what(&self) -> String {
        match self.kind {
            BuilderKind::Command => self.command.join(" "),
            _ => self.model.clone().unwrap_or_default(),
        }
    }
}

/// The problems of `builders:` and `render_b:`, with their paths.
pub(super) fn problems(cfg: &ServerConfig, p: &mut dyn FnMut(String, &str)) {
    let dir = cfg.render_b.scratch_dir.as_str();
    if dir != SCRATCH_AUTO && !std::path::Path::new(dir).is_absolute() {
        p(
            "render_b.scratch_dir".into(),
            "`auto` or an absolute path (a directory outside the data directory)",
        );
    }
    let mut names = std::collections::BTreeSet::new();
    for (i, b) in cfg.builders.iter().enumerate() {
        let at = |f: &str| format!("builders[{i}].{f}");
        if b.name.trim().is_empty() {
            p(at("name"), "must not be empty");
        } else if !b
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            p(at("name"), "only letters, digits, `-`, `_` and `.`");
        } else if !names.insert(b.name.as_str()) {
            p(at("name"), "two builders share this name");
        }
        if b.timeout_s == Some(0) {
            p(at("timeout_s"), "must be at least 1");
        }
        if b.max_output_bytes == Some(0) {
            p(at("max_output_bytes"), "must be at least 1");
        }
        if b.max_change_bytes == Some(0) {
            p(at("max_change_bytes"), "must be at least 1");
        }
        if b.max_change_files == Some(0) {
            p(at("max_change_files"), "must be at least 1");
        }
        let model_only = |p: &mut dyn FnMut(String, &str), set: bool, key: &str| {
            if set {
                p(at(key), "only for model builders (openai, anthropic)");
            }
        };
        let command_only = |p: &mut dyn FnMut(String, &str), set: bool, key: &str| {
            if set {
                p(at(key), "only for `kind: command`");
            }
        };
        match b.kind {
            BuilderKind::Command => {
                if b.command.is_empty() || b.command[0].trim().is_empty() {
                    p(
                        at("command"),
                        "required for a command builder: [program, args…]",
                    );
                }
                for (j, v) in b.env.iter().enumerate() {
                    if v.is_empty() || v.contains('=') {
                        p(format!("builders[{i}].env[{j}]"), "a variable's name");
                    }
                }
                match b.price_usd {
                    Some(x) if !(x.is_finite() && x >= 0.0) => {
                        p(at("price_usd"), "must be a non-negative amount")
                    }
                    _ => {}
                }
                model_only(p, b.model.is_some(), "model");
                model_only(p, b.base_url.is_some(), "base_url");
                model_only(p, b.api_key_env.is_some(), "api_key_env");
                model_only(p, b.max_output_tokens.is_some(), "max_output_tokens");
            }
            BuilderKind::Openai | BuilderKind::Anthropic => {
                match b.base_url.as_deref() {
                    None => p(at("base_url"), "required for a model builder"),
                    Some(u) if !(u.starts_with("https://") || u.starts_with("http://")) => {
                        p(at("base_url"), "must be an http(s) URL")
                    }
                    Some(_) => {}
                }
                match b.model.as_deref() {
                    None => p(at("model"), "required for a model builder"),
                    Some(m) if !cfg.prices.contains_key(m) => p(
                        at("model"),
                        &format!(
                            "no price for model `{m}` under `prices:` (a model is never free)"
                        ),
                    ),
                    Some(_) => {}
                }
                if b.api_key_env.is_none() {
                    p(
                        at("api_key_env"),
                        "required: the environment variable holding the API key",
                    );
                }
                if b.max_output_tokens == Some(0) {
                    p(at("max_output_tokens"), "must be at least 1");
                }
                command_only(p, !b.command.is_empty(), "command");
                command_only(p, !b.env.is_empty(), "env");
                command_only(p, b.price_usd.is_some(), "price_usd");
                command_only(p, b.max_output_bytes.is_some(), "max_output_bytes");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_are_checked_with_their_paths() {
        let text = "auditors: [{name: r, kind: rules}]\nquorum: {required: 1}\nbuilders:\n  - {name: a, kind: command, command: [sh, x.sh], env: [PATH, 'X=1'], timeout_s: 0}\n  - {name: a, kind: openai, command: [x]}\n  - {name: 'b c', kind: anthropic, base_url: ftp://x, model: m, api_key_env: K}\n";
        let err = ServerConfig::from_yaml(text, "t").unwrap_err().to_string();
        for needle in [
            "builders[0].env[1]: a variable's name",
            "builders[0].timeout_s: must be at least 1",
            "builders[1].name: two builders share this name",
            "builders[1].base_url: required",
            "builders[1].model: required",
            "builders[1].api_key_env: required",
            "builders[1].command: only for `kind: command`",
            "builders[2].name: only letters",
            "builders[2].base_url: must be an http(s) URL",
            "builders[2].model: no price for model `m`",
        ] {
            assert!(err.contains(needle), "missing `{needle}` in:\n{err}");
        }
        let ok = ServerConfig::from_yaml(
            "auditors: [{name: r, kind: rules}]\nquorum: {required: 1}\nbuilders: [{name: b, kind: command, command: [sh, b.sh], env: [PATH], price_usd: 0.2}]\n",
            "t",
        )
        .unwrap();
        assert_eq!(ok.builders[0].timeout_s(), DEFAULT_BUILDER_TIMEOUT_S);
        assert_eq!(ok.builders[0].what(), "sh b.sh");
        assert!(ServerConfig::from_yaml(
            "auditors: [{name: r, kind: rules}]\nquorum: {required: 1}\nbuilders: [{name: b, kind: command, command: [x], colour: red}]\n",
            "t"
        )
        .is_err());
    }

    #[test]
    fn render_b_server_section_defaults_and_checks() {
        let base = "auditors: [{name: r, kind: rules}]\nquorum: {required: 1}\n";
        let d = ServerConfig::from_yaml(base, "t").unwrap();
        assert_eq!(d.render_b, RenderBServer::default());
        assert_eq!(d.render_b.scratch_path(), None);
        assert!(!d.render_b.push_branch);
        let set = ServerConfig::from_yaml(
            &format!("{base}render_b: {{scratch_dir: /srv/scratch, push_branch: true}}\n"),
            "t",
        )
        .unwrap();
        assert_eq!(
            set.render_b.scratch_path(),
            Some(std::path::PathBuf::from("/srv/scratch"))
        );
        assert!(set.render_b.push_branch);
        let err = ServerConfig::from_yaml(&format!("{base}render_b: {{scratch_dir: tmp}}\n"), "t")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("render_b.scratch_dir: `auto` or an absolute path"),
            "{err}"
        );
        assert!(
            ServerConfig::from_yaml(&format!("{base}render_b: {{builder: x}}\n"), "t").is_err()
        );
    }
}
