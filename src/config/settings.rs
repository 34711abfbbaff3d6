//! The effective settings of one run: flags, the environment, the server config file and the
//! defaults resolved in that order, each value with its origin (`patchgate config explain`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{AuditMode, AuditorKind, ConfigError, ServerConfig};

/// What the command line said (each `None` falls through to the environment).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub config: Option<PathBuf>,
    pub threshold_percent: Option<f64>,
    pub audit_mode: Option<AuditMode>,
}

/// Where the server config came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigOrigin {
    File(PathBuf),
    EmbeddedDefault,
}

/// Where one effective value came from (`patchgate config explain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Flag(&'static str),
    Env(&'static str),
    File(PathBuf),
    Default,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Flag(name) => write!(f, "flag {name}"),
            Origin::Env(name) => write!(f, "env {name}"),
            Origin::File(p) => write!(f, "file {}", p.display()),
            Origin::Default => f.write_str("default"),
        }
    }
}

/// The effective settings of one run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub threshold_percent: f64,
    /// Whether a flag or the environment set the threshold (else a repository may).
    pub threshold_explicit: bool,
    pub daily_budget_usd: f64,
    pub audit_mode: AuditMode,
    pub source: ConfigOrigin,
    pub server: ServerConfig,
    /// Where each setting came from, by name (`data_dir`, `threshold_percent`, …).
    pub origins: BTreeMap<&'static str, Origin>,
}

impl Settings {
    /// Which store a run opens, for an error's context: PostgreSQL and where its URL was set
    /// (the URL itself, password masked, is in the store's own error), else the embedded
    /// store's data directory — never the data directory when records go to PostgreSQL.
    pub fn store_place(&self) -> String {
        match (&self.database_url, self.origins.get("database_url")) {
            (Some(_), Some(origin)) => format!("PostgreSQL, the database URL from {origin}"),
            (Some(_), None) => "PostgreSQL".to_string(),
            (None, _) => format!("SQLite in {}", self.data_dir.display()),
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The OS data directory + `patchgate` (`$XDG_DATA_HOME`, else `~/.local/share`).
fn default_data_dir(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(x) = env("XDG_DATA_HOME").filter(|s| !s.is_empty()) {
        return Path::new(&x).join("patchgate");
    }
    if let Some(home) = env("HOME").filter(|s| !s.is_empty()) {
        return Path::new(&home).join(".local/share/patchgate");
    }
    PathBuf::from(".patchgate")
}

/// Resolve flags, the environment (`env`), the config file and the defaults.
pub fn resolve(
    flags: &Flags,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigError> {
    let mut origins: BTreeMap<&'static str, Origin> = BTreeMap::new();
    let set = |v: Option<String>| v.filter(|s| !s.is_empty());
    let data_dir = if let Some(d) = flags.data_dir.clone() {
        origins.insert("data_dir", Origin::Flag("--data-dir"));
        d
    } else if let Some(d) = set(env("PATCHGATE_DATA_DIR")) {
        origins.insert("data_dir", Origin::Env("PATCHGATE_DATA_DIR"));
        PathBuf::from(d)
    } else {
        origins.insert("data_dir", Origin::Default);
        default_data_dir(env)
    };
    let database_url = if let Some(u) = flags.database_url.clone() {
        origins.insert("database_url", Origin::Flag("--database-url"));
        Some(u)
    } else if let Some(u) = set(env("DATABASE_URL")) {
        origins.insert("database_url", Origin::Env("DATABASE_URL"));
        Some(u)
    } else {
        origins.insert("database_url", Origin::Default);
        None
    };
    let config_path = if let Some(p) = flags.config.clone() {
        origins.insert("config", Origin::Flag("--config"));
        Some(p)
    } else if let Some(p) = set(env("PATCHGATE_CONFIG")) {
        origins.insert("config", Origin::Env("PATCHGATE_CONFIG"));
        Some(PathBuf::from(p))
    } else {
        None
    };
    let (server, source) = match config_path {
        Some(p) => (load_file(&p)?, ConfigOrigin::File(p)),
        None => {
            let p = data_dir.join("patchgate.yml");
            if p.is_file() {
                origins.insert("config", Origin::File(p.clone()));
                (load_file(&p)?, ConfigOrigin::File(p))
            } else {
                origins.insert("config", Origin::Default);
                (
                    ServerConfig::embedded_default(),
                    ConfigOrigin::EmbeddedDefault,
                )
            }
        }
    };
    let file_origin = match &source {
        ConfigOrigin::File(p) => Origin::File(p.clone()),
        ConfigOrigin::EmbeddedDefault => Origin::Default,
    };
    for key in [
        "auditors",
        "quorum.required",
        "prices",
        "rule_guard.severity",
        "builders",
    ] {
        origins.insert(key, file_origin.clone());
    }
    let parse_f64 = |name: &str| -> Result<Option<f64>, ConfigError> {
        match set(env(name)) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .map(Some)
                .ok_or(ConfigError::Env {
                    name: name.to_string(),
                    detail: format!("`{v}` is not a non-negative number"),
                }),
        }
    };
    let (threshold_percent, threshold_explicit) = match flags.threshold_percent {
        Some(t) => {
            origins.insert("threshold_percent", Origin::Flag("--threshold"));
            (t, true)
        }
        None => match parse_f64("PATCHGATE_THRESHOLD_PERCENT")? {
            Some(t) => {
                origins.insert(
                    "threshold_percent",
                    Origin::Env("PATCHGATE_THRESHOLD_PERCENT"),
                );
                (t, true)
            }
            None => {
                origins.insert("threshold_percent", Origin::Default);
                (3.0, false)
            }
        },
    };
    let daily_budget_usd = match parse_f64("PATCHGATE_COST_DAILY_LIMIT_USD")? {
        Some(b) => {
            origins.insert(
                "budget.daily_usd",
                Origin::Env("PATCHGATE_COST_DAILY_LIMIT_USD"),
            );
            b
        }
        None => {
            origins.insert("budget.daily_usd", file_origin);
            server.budget.daily_usd
        }
    };
    let audit_mode = match flags.audit_mode {
        Some(m) => {
            origins.insert("audit_mode", Origin::Flag("--audit-mode"));
            m
        }
        None => match set(env("PATCHGATE_AUDIT_MODE")) {
            None => {
                origins.insert("audit_mode", Origin::Default);
                AuditMode::Normal
            }
            Some(v) => {
                origins.insert("audit_mode", Origin::Env("PATCHGATE_AUDIT_MODE"));
                v.parse().map_err(|detail| ConfigError::Env {
                    name: "PATCHGATE_AUDIT_MODE".into(),
                    detail,
                })?
            }
        },
    };
    Ok(Settings {
        data_dir,
        database_url,
        threshold_percent,
        threshold_explicit,
        daily_budget_usd,
        audit_mode,
        source,
        server,
        origins,
    })
}

/// The effective configuration, one line per setting with where it came from.
pub fn explain(s: &Settings) -> String {
    let origin = |k: &str| {
        s.origins
            .get(k)
            .map(|o| o.to_string())
            .unwrap_or_else(|| "default".into())
    };
    let kind = |k: AuditorKind| {
        serde_json::to_value(k)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let auditors: Vec<String> = s
        .server
        .auditors
        .iter()
        .map(|a| format!("{} ({})", a.name, kind(a.kind)))
        .collect();
    let sev = &s.server.rule_guard.severity;
    let rows: Vec<(&str, String)> = vec![
        ("data_dir", s.data_dir.display().to_string()),
        (
            "database_url",
            s.database_url
                .as_deref()
                .map(redact_url)
                .unwrap_or_else(|| {
                    format!(
                        "(unset: SQLite {})",
                        s.data_dir.join("patchgate.db").display()
                    )
                }),
        ),
        (
            "config",
            match &s.source {
                ConfigOrigin::File(p) => p.display().to_string(),
                ConfigOrigin::EmbeddedDefault => "(embedded default)".into(),
            },
        ),
        ("threshold_percent", s.threshold_percent.to_string()),
        ("budget.daily_usd", s.daily_budget_usd.to_string()),
        ("audit_mode", format!("{:?}", s.audit_mode).to_lowercase()),
        ("quorum.required", s.server.quorum.required.to_string()),
        ("auditors", auditors.join(", ")),
        (
            "prices",
            s.server
                .prices
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        ),
        (
            "builders",
            if s.server.builders.is_empty() {
                "(none)".to_string()
            } else {
                s.server
                    .builders
                    .iter()
                    .map(|b| format!("{} ({})", b.name, b.kind.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        ),
        (
            "rule_guard.severity",
            format!(
                "error: {}, warning: {}, info: {}",
                sev.error, sev.warning, sev.info
            ),
        ),
    ];
    rows.iter()
        .map(|(k, v)| format!("{k:<20} {v:<52} ({})\n", origin(k)))
        .collect()
}

fn load_file(path: &Path) -> Result<ServerConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.display().to_string(),
        detail: e.to_string(),
    })?;
    ServerConfig::from_yaml(&text, &path.display().to_string())
}
