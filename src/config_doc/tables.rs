//! The described settings and config keys: every setting's variable, flag, default and places
//! ([`settings`]), and the descriptions of the server and repository config keys.

use super::*;

/// Where a setting may be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A command-line flag.
    Flag,
    /// An environment variable.
    Env,
    /// The server config file (`--config`, `PATCHGATE_CONFIG`, `patchgate.yml` in the data dir).
    ServerFile,
    /// A repository's `.github/patchgate.yml`, read from the base branch.
    RepoFile,
    /// Set by `action.yml` from the action's inputs (for `check --github-actions`).
    Action,
}

impl Place {
    pub(super) fn label(self) -> &'static str {
        match self {
            Place::Flag => "flag",
            Place::Env => "env",
            Place::ServerFile => "server file",
            Place::RepoFile => "repo file",
            Place::Action => "action input",
        }
    }
}

/// One setting of the process (not a file key).
#[derive(Debug, Clone)]
pub struct Setting {
    /// The name `patchgate config explain` shows, or a short name.
    pub key: &'static str,
    /// Environment variable, or empty.
    pub env: &'static str,
    /// Flag (with the command when it belongs to one), or empty.
    pub flag: &'static str,
    pub default: String,
    pub places: &'static [Place],
    pub meaning: &'static str,
}

/// Every setting, in the order of the reference.
pub fn settings() -> Vec<Setting> {
    use Place::*;
    // What `config::resolve` gives with nothing set (a data dir that has no patchgate.yml).
    let none = config::resolve(&Flags::default(), &|k: &str| {
        (k == "PATCHGATE_DATA_DIR").then(|| "/nonexistent/patchgate-config-doc".to_string())
    })
    .expect("the defaults resolve");
    let audit_mode = format!("`{:?}`", none.audit_mode).to_lowercase();
    vec![
        Setting {
            key: "data_dir",
            env: "PATCHGATE_DATA_DIR",
            flag: "--data-dir",
            default: "`$XDG_DATA_HOME/patchgate`, else `~/.local/share/patchgate`".into(),
            places: &[Flag, Env],
            meaning: "The data directory: the embedded store `patchgate.db` (SQLite) and the repository mirrors `mirrors/` of `serve`.",
        },
        Setting {
            key: "database_url",
            env: "DATABASE_URL",
            flag: "--database-url",
            default: "unset: SQLite in the data directory".into(),
            places: &[Flag, Env],
            meaning: "PostgreSQL (`postgres://…`) shared by several processes or `serve` replicas. Its password never appears in output (`config explain` shows `***`).",
        },
        Setting {
            key: "config",
            env: "PATCHGATE_CONFIG",
            flag: "--config",
            default: "`patchgate.yml` in the data directory if present, else the embedded default".into(),
            places: &[Flag, Env],
            meaning: "The server config file (YAML, keys below). Never read from a repository.",
        },
        Setting {
            key: "threshold_percent",
            env: "PATCHGATE_THRESHOLD_PERCENT",
            flag: "--threshold",
            default: format!("`{:.1}`", none.threshold_percent),
            places: &[Flag, Env, RepoFile, Action],
            meaning: "Dual-render variance (percent) at or under which two renders agree. A flag or the environment wins over the repository's `threshold_percent`.",
        },
        Setting {
            key: "budget.daily_usd",
            env: "PATCHGATE_COST_DAILY_LIMIT_USD",
            flag: "",
            default: format!("`{:.2}`", none.daily_budget_usd),
            places: &[Env, ServerFile],
            meaning: "Daily budget of the model auditors, USD (midnight to midnight UTC). Past it, they abstain.",
        },
        Setting {
            key: "audit_mode",
            env: "PATCHGATE_AUDIT_MODE",
            flag: "--audit-mode",
            default: audit_mode,
            places: &[Flag, Env],
            meaning: "`normal`, or `degraded`: model auditors off (they abstain). Agreeing renders pass when Rule-Guard and every non-model auditor approve; anything else needs the configured quorum or a maintainer's approval (docs/decisions.md).",
        },
        Setting {
            key: "listen",
            env: "PATCHGATE_LISTEN",
            flag: "serve --listen",
            default: "`127.0.0.1:8080`".into(),
            places: &[Flag, Env],
            meaning: "Address `serve` binds (`0.0.0.0:8080` in the container image).",
        },
        Setting {
            key: "workers",
            env: "",
            flag: "serve --workers",
            default: "see `patchgate serve --help`".into(),
            places: &[Flag],
            meaning: "Job workers of one `serve` process (each takes one job at a time under a lease).",
        },
        Setting {
            key: "log_format",
            env: "",
            flag: "serve --log-format",
            default: "`text`".into(),
            places: &[Flag],
            meaning: "`text` or `json` (one object per line; one span per delivery, with its id). Verbosity: `RUST_LOG`.",
        },
        Setting {
            key: "builder request",
            env: "PATCHGATE_REQUEST_FILE",
            flag: "render --request-file, check --request-file",
            default: "—".into(),
            places: &[Flag],
            meaning: "The request a render B builder is given. patchgate SETS this variable (the request file's path) for a `kind: command` builder, with `PATCHGATE_BASE` (the base commit); it never reads them. See docs/render-b.md.",
        },
        Setting {
            key: "builder base",
            env: "PATCHGATE_BASE",
            flag: "",
            default: "—".into(),
            places: &[Env],
            meaning: "Set by patchgate for a `kind: command` builder: the base commit it builds on (never read).",
        },
        Setting {
            key: "otlp_endpoint",
            env: "OTEL_EXPORTER_OTLP_ENDPOINT",
            flag: "serve --otlp-endpoint",
            default: "— (unset: no traces are exported)".into(),
            places: &[Flag, Env],
            meaning: "OpenTelemetry traces over OTLP/HTTP with JSON bodies: the collector's base URL (`/v1/traces` is appended; `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is used as it is). Also read: `OTEL_EXPORTER_OTLP_[TRACES_]HEADERS`, `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL` (`http/json` only), `OTEL_SERVICE_NAME`, `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_SDK_DISABLED`. Spans and attributes: docs/operations.md.",
        },
        Setting {
            key: "reconcile_interval",
            env: "",
            flag: "serve --reconcile-interval",
            default: "see `patchgate serve --help`".into(),
            places: &[Flag],
            meaning: "How often `serve` looks for open PRs whose head has no patchgate check run (a missed webhook) and gates them.",
        },
        Setting {
            key: "job_retention_days",
            env: "PATCHGATE_JOB_RETENTION_DAYS",
            flag: "serve --job-retention-days",
            default: format!("`{}`", crate::server::DEFAULT_RETENTION_DAYS),
            places: &[Flag, Env],
            meaning: "Days done jobs are kept (their delivery ids make redeliveries duplicates; GitHub redelivers for up to 3 days), then deleted in the background in batches of 1,000. `0` keeps them forever; 1 and 2 are refused. Parked jobs are never deleted automatically.",
        },
        Setting {
            key: "webhook limits",
            env: "",
            flag: "serve --max-webhook-requests, --max-webhook-body-mib, --body-timeout-secs, --request-timeout-secs, --header-timeout-secs, --max-connections, --max-connections-per-peer, --max-webhook-requests-per-peer, --max-webhook-body-mib-per-peer, --trusted-proxy",
            default: "`256`, `256`, `10`, `30`, `10`, `1024`, `128`, `64`, `64`, none".into(),
            places: &[Flag],
            meaning: "Limits of `/webhook/github` and `/webhook/meta`: requests in flight and MiB of body bytes held, counted as they arrive (more are answered `503` with `Retry-After`), seconds for the whole body to arrive (else `408`, nothing queued) and for the answer (else `503`). Limits of every connection: seconds for a request head to arrive (also the idle keep-alive timeout; else the connection is closed), and connections served at once (lowered to fit the open-file limit; 32 more serve only `/healthz`, `/readyz`, `/metrics`). Per peer address (an IPv6 /64): connections held at once (further ones are closed at once; lowered with the connection cap), webhook requests in flight and MiB of body bytes held (more are answered `503`), so one address cannot starve the others. `--trusted-proxy IP` (repeatable): a load balancer in front of `serve`; its connections are not held to the per-peer cap and requests through it are charged to the client it names in `X-Forwarded-For` (ignored from any other peer); without it the budgets are per TCP peer.",
        },
        Setting {
            key: "redeliver_interval",
            env: "",
            flag: "serve --redeliver-interval",
            default: "see `patchgate serve --help`".into(),
            places: &[Flag],
            meaning: "How often `serve` lists the App's webhook deliveries (up to 3 days back) and asks GitHub to redeliver each failed one, once; `0` turns it off.",
        },
        Setting {
            key: "webhook_secret",
            env: "PATCHGATE_WEBHOOK_SECRET",
            flag: "",
            default: "— (required by `serve`)".into(),
            places: &[Env],
            meaning: "The GitHub App's webhook secret: `X-Hub-Signature-256` of `POST /webhook/github` is checked with it.",
        },
        Setting {
            key: "events_secret",
            env: "PATCHGATE_EVENTS_SECRET",
            flag: "",
            default: "— (unset: `serve` has no `/webhook/meta`)".into(),
            places: &[Env],
            meaning: "Secret of `POST /webhook/meta` and `patchgate event` (Standard Webhooks signatures: `whsec_<base64>`, or text of at least 16 bytes).",
        },
        Setting {
            key: "signing_key",
            env: "PATCHGATE_SIGNING_KEY",
            flag: "",
            default: "— (unset: records are not signed)".into(),
            places: &[Env],
            meaning: "The deployment's record-signing key: an unencrypted OpenSSH Ed25519 private key (its text, or the path of its file). `check` and `serve` sign each decision record's note with it (SSH signature, namespace `patchgate-record`, in `refs/notes/patchgate-signatures`; `meta.yaml.sig` beside `--write-meta`) anchor the ledger head in `refs/patchgate/ledger` (a signed commit), and sign revert commits; `patchgate meta verify --key ALLOWED_SIGNERS`, `patchgate ledger verify --anchor REPO --key ALLOWED_SIGNERS`, `ssh-keygen -Y verify` and `git verify-commit` check them. See docs/security.md.",
        },
        Setting {
            key: "events_url",
            env: "PATCHGATE_EVENTS_URL",
            flag: "--url",
            default: "—".into(),
            places: &[Flag, Env],
            meaning: "`patchgate event`: the server's `/webhook/meta` URL.",
        },
        Setting {
            key: "github_app_id",
            env: "PATCHGATE_GITHUB_APP_ID",
            flag: "",
            default: "— (required by `serve` with workers or an events secret)".into(),
            places: &[Env],
            meaning: "The GitHub App's numeric ID.",
        },
        Setting {
            key: "github_private_key",
            env: "PATCHGATE_GITHUB_PRIVATE_KEY",
            flag: "",
            default: "— (required by `serve` with workers or an events secret)".into(),
            places: &[Env],
            meaning: "The App's private key: a path to the PEM file, or the PEM text itself.",
        },
        Setting {
            key: "oauth_client_id",
            env: "PATCHGATE_OAUTH_CLIENT_ID",
            flag: "",
            default: "none: no web view".into(),
            places: &[Env],
            meaning: "The App's OAuth client id: with it (and the secret and `PATCHGATE_PUBLIC_URL`) `serve` hosts the web view on `/ui`, behind a GitHub sign-in (docs/github-app.md, \"The web view\").",
        },
        Setting {
            key: "oauth_client_secret",
            env: "PATCHGATE_OAUTH_CLIENT_SECRET",
            flag: "",
            default: "none".into(),
            places: &[Env],
            meaning: "Secret. The App's OAuth client secret (set together with the client id).",
        },
        Setting {
            key: "public_url",
            env: "PATCHGATE_PUBLIC_URL",
            flag: "",
            default: "none (required with the OAuth client)".into(),
            places: &[Env],
            meaning: "Where people reach `serve` (`https://…`); the sign-in callback is `<it>/ui/oauth/callback`, registered in `app.yml`. Cookies are `Secure` when it is `https://`.",
        },
        Setting {
            key: "github_web_url",
            env: "PATCHGATE_GITHUB_WEB_URL",
            flag: "",
            default: "`https://github.com`".into(),
            places: &[Env],
            meaning: "GitHub's web address, where people sign in (GitHub Enterprise Server: `https://HOST`).",
        },
        Setting {
            key: "github_api_url",
            env: "PATCHGATE_GITHUB_API_URL",
            flag: "",
            default: "`https://api.github.com`".into(),
            places: &[Env],
            meaning: "GitHub's REST API base (GitHub Enterprise Server: `https://HOST/api/v3`).",
        },
        Setting {
            key: "model API keys",
            env: "OPENAI_API_KEY, ANTHROPIC_API_KEY",
            flag: "",
            default: "unset: that auditor abstains (not configured)".into(),
            places: &[Env, Action],
            meaning: "The keys of the embedded default's model auditors. A server config names its own variables with `api_key_env`; the key itself is never in a file.",
        },
        Setting {
            key: "fail_on",
            env: "PATCHGATE_FAIL_ON",
            flag: "",
            default: "`quorum`".into(),
            places: &[Action],
            meaning: "`check --github-actions`: `quorum` fails the step when `quorum_passed` is false, `never` only reports (input `fail-on`).",
        },
        Setting {
            key: "render_b",
            env: "PATCHGATE_RENDER_B",
            flag: "",
            default: "unset: one render".into(),
            places: &[Action],
            meaning: "`check --github-actions`: render B, a revision or a `.patch`/`.diff` file in the workspace (input `render-b`).",
        },
        Setting {
            key: "record_path",
            env: "PATCHGATE_RECORD_PATH",
            flag: "",
            default: "`meta.yaml` in the runner's temporary directory".into(),
            places: &[Action],
            meaning: "`check --github-actions`: where the decision record is written (output `record-path`).",
        },
        Setting {
            key: "test database",
            env: "PATCHGATE_TEST_DATABASE_URL",
            flag: "",
            default: "`postgres://postgres@127.0.0.1:5432/test`".into(),
            places: &[Env],
            meaning: "Development only: the PostgreSQL the test suite uses.",
        },
        Setting {
            key: "failpoint",
            env: "PATCHGATE_FAILPOINT",
            flag: "",
            default: "unset".into(),
            places: &[Env],
            meaning: "Testing only: `PATCHGATE_FAILPOINT=<step>` aborts the process at that step of an automatic rollback (`after-planned`, `after-commit`, …), to prove a restart ends with one revert. Never set it in production.",
        },
        Setting {
            key: "bless",
            env: "PATCHGATE_BLESS",
            flag: "",
            default: "unset".into(),
            places: &[Env],
            meaning: "Development only: `PATCHGATE_BLESS=1 cargo test --test config_doc` rewrites this page.",
        },
    ]
}

/// Descriptions of the server config file's keys. A path is dotted; `[]` marks a list's
/// entries and `<name>` a map's keys. Keys the types lack are left out of the page.
pub(super) const SERVER_KEYS: &[(&str, &str)] = &[
    ("auditors", "The auditors that vote, in order. At least one; names unique."),
    ("auditors[].name", "The auditor's name, as votes and records show it."),
    ("auditors[].kind", "`rules` (Rule-Guard), `openai` (any OpenAI-compatible chat-completions endpoint), `anthropic` (the Messages API), or `command` (a program: the change as JSON on stdin, a vote as JSON on stdout)."),
    ("auditors[].base_url", "Model auditors: the endpoint, `http(s)://…` (required)."),
    ("auditors[].model", "Model auditors: the model (required; it needs a price under `prices`)."),
    ("auditors[].fallback_models", "Model auditors: cheaper models tried, in order, before a call would pass the daily budget (each needs a price)."),
    ("auditors[].api_key_env", "Model auditors: the environment variable holding the API key (required). The key itself is never in the file."),
    ("auditors[].timeout_s", "Seconds before the auditor's vote becomes an abstention (at least 1)."),
    ("auditors[].command", "`kind: command`: the program and its arguments, `[program, args…]` (required)."),
    ("auditors[].max_output_bytes", "`kind: command`: the most bytes read from the program's output."),
    ("auditors[].max_output_tokens", "Model auditors: the most tokens asked for in an answer."),
    ("quorum", "The quorum."),
    ("quorum.required", "Approvals needed on the agreed and one-render paths (at least 1, at most the number of auditors). Abstentions never count. See docs/decisions.md."),
    ("escalation", "What renders or explanations that differ (the escalated path) need to pass; see docs/decisions.md."),
    ("escalation.quorum", "`all` (every configured auditor approves, command auditors included) or a number of approvals, at least `quorum.required`. An outage, a timeout or a spent budget is an abstention and fails it; a Rule-Guard rejection blocks it."),
    ("agreement", "What agreeing renders may stand in for, only when Rule-Guard approves (both off by default)."),
    ("agreement.counts_as_vote", "`true`: the renders' agreement counts as one approving vote."),
    ("agreement.skip_paid_auditors", "`true`: when the renders agree and Rule-Guard approves, the model auditors are not asked; every auditor that is asked must approve."),
    ("judge", "The model that judges two renders' explanations by meaning (score in [0, 1], agreement at `threshold`). Without it, explanations that are not identical are `not judged`: neither a pass nor a block."),
    ("judge.auditor", "Reuse this model auditor's endpoint, model, key variable and timeout."),
    ("judge.kind", "Or an endpoint of its own: `openai` or `anthropic`."),
    ("judge.base_url", "Its own endpoint, `http(s)://…`."),
    ("judge.model", "Its own model (it needs a price under `prices`; calls count against the daily budget)."),
    ("judge.fallback_models", "Cheaper models tried, in order, before a call would pass the daily budget."),
    ("judge.api_key_env", "The environment variable holding its API key."),
    ("judge.timeout_s", "Seconds before the judge abstains (the explanations are then not judged)."),
    ("judge.max_output_tokens", "The most tokens asked for in an answer (default 300)."),
    ("judge.threshold", "The score at which the explanations agree, in (0, 1] (default 0.85)."),
    ("human_votes", "Who may decide a change with `/patchgate approve|block <reason>`."),
    ("human_votes.permission", "The lowest repository permission that may: `read`, `triage`, `write`, `maintain` or `admin` (default `maintain`)."),
    ("budget", "The model auditors' budget."),
    ("budget.daily_usd", "Daily cap across all model auditors, USD (`PATCHGATE_COST_DAILY_LIMIT_USD` wins)."),
    ("prices", "USD per million tokens, per model. Every model and fallback model needs one: a model is never free."),
    ("prices.<model>.input", "USD per million input tokens."),
    ("prices.<model>.output", "USD per million output tokens."),
    ("rule_guard", "How Rule-Guard findings become its vote."),
    ("rule_guard.severity", "The vote a finding of each severity gives. Secret findings always reject."),
    ("rule_guard.severity.error", "Vote on a finding of severity `error`."),
    ("rule_guard.severity.warning", "Vote on a finding of severity `warning`."),
    ("rule_guard.severity.info", "Vote on a finding of severity `info`."),
    ("builders", "Builders patchgate may ask for a render B on demand, when a repository's `render_b.builder` names one (see docs/render-b.md). Names unique."),
    ("builders[].name", "The builder's name, as a repository's `render_b.builder`, the record and the check run show it (letters, digits, `-`, `_`, `.`)."),
    ("builders[].kind", "`command` (a program, such as an agent CLI, run in a fresh temporary worktree of the base commit), `openai` or `anthropic` (a model answering whole-file replacements as JSON)."),
    ("builders[].command", "`kind: command`: the program and its arguments, `[program, args…]` (required); `{request_file}` and `{base}` in an argument become the request's file and the base commit."),
    ("builders[].env", "`kind: command`: the environment variables passed through; every other variable is cleared."),
    ("builders[].timeout_s", "Wall-clock limit of one build, seconds (default 900); a command's whole process group is killed at it."),
    ("builders[].max_output_bytes", "`kind: command`: the most bytes kept of its stdout (its explanation) and of its stderr (default 262144); the rest is read and dropped."),
    ("builders[].max_change_bytes", "The most bytes of added or modified files a render B may hold (default 1048576); more leaves render B unavailable."),
    ("builders[].max_change_files", "The most files a render B may add, modify or delete (default 50); more leaves render B unavailable."),
    ("builders[].model", "Model builders: the model (required; it needs a price under `prices`, and calls count against the daily budget)."),
    ("builders[].base_url", "Model builders: the endpoint, `http(s)://…` (required)."),
    ("builders[].api_key_env", "Model builders: the environment variable holding the API key (required)."),
    ("builders[].max_output_tokens", "Model builders: the most tokens asked for in an answer (default 16000)."),
    ("builders[].price_usd", "`kind: command`: what one run costs, USD, reserved against the daily budget before it starts (default 0)."),
    ("render_b", "Where command builders run and what is done with the render B they make (a repository's `render_b:` only names a builder and when to ask it; see docs/render-b.md)."),
    ("render_b.scratch_dir", "Where command builders' scratch worktrees of the base are made: `auto` (the system's temporary directory, `/dev/shm` or `$XDG_RUNTIME_DIR`, the first that is a tmpfs with room for twice the base plus 256 MiB, else the system's temporary directory, and the log says why) or an absolute path, used as it is. Never inside the mirrors or the data directory."),
    ("render_b.push_branch", "`true`: a pull request's render B is also pushed to the repository as the branch `patchgate/render-b/<pr>` (through the mirror, with the installation token, as reverts are pushed), and the check run links to it. A branch of that name that holds anything but a render B patchgate made is never overwritten."),
];

/// Descriptions of `.github/patchgate.yml`'s keys (same notation as [`SERVER_KEYS`]).
pub(super) const REPO_KEYS: &[(&str, &str)] = &[
    ("_extends", "Inherit another repository's config first (the Probot convention): `.github` takes the organisation's `.github` repository, `repo` or `owner/repo` another one. This file's keys win."),
    ("threshold_percent", "Dual-render variance threshold, percent (0–100). A flag or `PATCHGATE_THRESHOLD_PERCENT` on the server wins."),
    ("advisory", "`true`: the check run concludes `neutral` instead of `failure` when the quorum does not pass (it informs, it does not block)."),
    ("rules", "Changes to the Rule-Guard rule pack."),
    ("rules.disable", "Rule ids to switch off. A secret rule can never be disabled."),
    ("rules.add", "Rules of the repository's own, in the format of `rules/*.yaml` (each with examples, checked by `patchgate config check`). A secret rule can never be replaced."),
    ("render_b", "Whether a change needs a second rendering."),
    ("render_b.required", "`true`: a change without a render B does not pass (also when the builder asked for one fails: the check run says why)."),
    ("render_b.builder", "The server's builder (its `builders[].name`) asked for a render B when the change has none. A repository names a builder, never what it runs."),
    ("render_b.when", "When the builder is asked: `always`, `label` (a pull request carrying `render_b.label`) or `paths` (a change touching `render_b.paths`)."),
    ("render_b.label", "`when: label`: the label that asks (default `patchgate:render-b`)."),
    ("render_b.paths", "`when: paths`: globs (as `diff.exclude`); a change touching one of them asks."),
    ("diff", "The dual-render comparison."),
    ("diff.exclude", "Globs of paths (from the repository root, `/`-separated; `*` stays within a directory, `**/` is any directory) whose changes do not count in the renders' variance: they are reported apart, never dropped silently. Unset: scratch scripts at the root (`reproduce*`, `repro_*`, `replicate*`, `*_reproduction*`, `bug_reproduction*`, `test_*.py`, `run_test*`, `simulate*`) and backups or build copies anywhere (`**/*.bak`, `**/*.orig`, `**/*.rej`, `**/*~`, `**/__pycache__/**`, `**/*.pyc`). `[]`: every file counts."),
    ("rollback", "What happens when a merge is rolled back."),
    ("rollback.action", "`push` (revert straight onto the default branch), `pull-request` (open a revert PR) or `comment` (only report)."),
    ("rollback.labels", "Labels put on a revert PR."),
    ("rollback.window_hours", "Same as `policy.window_hours` (this one wins): automatic reverts only this many hours after the merge."),
    ("rollback.max_per_day", "Same as `policy.max_reverts_per_day` (this one wins): automatic reverts per day, then only reports."),
    ("rollback.freeze_exempt_label", "Same as `policy.freeze_label` (this one wins): a PR with this label is never reverted automatically."),
    ("policy", "Post-merge policy: overrides of `rules/policy.yaml` (below), every key optional."),
    ("policy.failure_limit", "Violating events it takes (per merge and metric) before acting; at least 1."),
    ("policy.window_hours", "Merges are reverted automatically only this many hours after the merge; at least 1."),
    ("policy.max_reverts_per_day", "Automatic reverts per repository per day; past it patchgate only reports (0: always only report)."),
    ("policy.freeze_label", "A PR carrying this label is never reverted automatically."),
    ("policy.dry_run", "Shadow mode: record what would have been done, do nothing."),
    ("policy.inconclusive", "Without the data to decide: `pause` (pause and report). There is no other value: no data never reverts."),
    ("policy.required_checks", "Metric `ci`: these checks must stay green on the default branch."),
    ("policy.metrics", "Per metric name: its bounds. `null` drops a metric's rule."),
    ("policy.metrics.<metric>.max", "The value must not exceed this."),
    ("policy.metrics.<metric>.min", "The value must not fall below this."),
    ("policy.metrics.<metric>.max_increase", "The most the value may rise above the merge's parent: a number in the metric's unit, or a percentage such as `\"10%\"`."),
    ("policy.metrics.<metric>.max_drop", "The most the value may fall below the merge's parent: absolute or `\"N%\"`."),
];
