//! `patchgate event`: send a signed policy event (or NDJSON lines) to a server's /webhook/meta.

use anyhow::{bail, Context, Result};

use super::args::EventArgs;
use super::env_var;

pub(crate) async fn cmd_event(args: EventArgs) -> Result<u8> {
    use patchgate::policy::send::{event_from_args, send};
    use patchgate::policy::signing::EventsSecret;
    let url = args
        .url
        .or_else(|| env_var("PATCHGATE_EVENTS_URL").filter(|v| !v.is_empty()))
        .context("--url (or PATCHGATE_EVENTS_URL) names the server's /webhook/meta endpoint")?;
    let secret = env_var("PATCHGATE_EVENTS_SECRET")
        .filter(|v| !v.trim().is_empty())
        .context(
            "PATCHGATE_EVENTS_SECRET is not set: events are signed with the server's events secret",
        )?;
    let secret = EventsSecret::parse(&secret)
        .map_err(|e| anyhow::anyhow!("PATCHGATE_EVENTS_SECRET: {e}"))?;
    let (body, ndjson) = match &args.ndjson {
        Some(path) => {
            let bytes = if path.as_os_str() == "-" {
                let mut b = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)?;
                b
            } else {
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
            };
            (bytes, true)
        }
        None => {
            let (Some(repo), Some(commit), Some(metric), Some(value)) =
                (&args.repo, &args.commit, &args.metric, args.value)
            else {
                bail!("--repo, --commit, --metric and --value are required without --ndjson");
            };
            let ev = event_from_args(
                repo,
                commit,
                metric,
                value,
                args.at.as_deref(),
                args.check.as_deref(),
            )?;
            (serde_json::to_vec(&ev)?, false)
        }
    };
    let out = send(&url, &secret, body, ndjson).await?;
    println!("{}", out.body.trim_end());
    if let Some(h) = &out.audit_hash {
        println!("X-Audit-Hash: {h}");
    }
    if !out.is_success() {
        bail!("the server answered {}", out.status);
    }
    let rejected = serde_json::from_str::<serde_json::Value>(&out.body)
        .ok()
        .and_then(|v| v.get("rejected").and_then(|r| r.as_array()).map(Vec::len))
        .unwrap_or(0);
    Ok(u8::from(rejected > 0))
}
