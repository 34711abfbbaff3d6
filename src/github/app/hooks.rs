//! The App's webhook deliveries (`GET /app/hook/deliveries`) and asking GitHub to deliver one
//! again — what automatic redelivery (`crate::server::redeliver`) works from.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::auth::GitHubApp;
use super::error::Failure;
use super::http::{Caller, Verb, MAX_PAGES, PER_PAGE};

/// One delivery of the App's webhook, as `GET /app/hook/deliveries` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookDelivery {
    /// The delivery's own id (what a redelivery request names).
    pub id: u64,
    /// The event's id, shared by the original delivery and every redelivery of it: the
    /// `X-GitHub-Delivery` header patchgate's intake dedupes on.
    pub guid: String,
    pub delivered_at: DateTime<Utc>,
    /// Whether this delivery is a redelivery (asked for through the API or the App's settings).
    pub redelivery: bool,
    /// The HTTP status patchgate answered with (`0`: no answer, e.g. it could not connect).
    pub status_code: u16,
    pub event: String,
    pub action: Option<String>,
}

impl HookDelivery {
    /// Whether patchgate accepted this delivery (a 2xx answer).
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status_code)
    }
}

impl GitHubApp {
    /// The App's webhook deliveries from `since` on (`GET /app/hook/deliveries`, App JWT),
    /// newest first. GitHub lists newest first with cursor pagination (`Link: rel="next"`), so
    /// paging stops at the first page that reaches back past `since`; older items are dropped.
    /// At most 100 pages (10,000 deliveries) are read: the flag is `true` when the listing was
    /// cut there, before reaching `since` (the newest deliveries are the ones returned).
    pub async fn hook_deliveries_since(
        &self,
        since: DateTime<Utc>,
    ) -> anyhow::Result<(Vec<HookDelivery>, bool)> {
        #[derive(Deserialize)]
        struct Item {
            id: u64,
            guid: String,
            delivered_at: String,
            redelivery: bool,
            status_code: Option<i64>,
            event: String,
            action: Option<String>,
        }
        let action = "list the App's webhook deliveries";
        let mut route = format!("/app/hook/deliveries?{PER_PAGE}");
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let reply = Caller::App(self)
                .send(action, Verb::Get, &route, None)
                .await?;
            let page: Vec<Item> = serde_json::from_str(&reply.body)
                .map_err(|e| Failure::decode(e).into_error(action.to_string(), None))?;
            let mut reached_since = page.is_empty();
            for item in page {
                let delivered_at = DateTime::parse_from_rfc3339(&item.delivered_at)
                    .map_err(|_| {
                        Failure::permanent("malformed delivered_at in a webhook delivery")
                            .into_error(action.to_string(), None)
                    })?
                    .with_timezone(&Utc);
                if delivered_at < since {
                    reached_since = true;
                    continue;
                }
                out.push(HookDelivery {
                    id: item.id,
                    guid: item.guid,
                    delivered_at,
                    redelivery: item.redelivery,
                    // GitHub reports 0 when it got no answer; anything outside u16 is no answer.
                    status_code: item
                        .status_code
                        .and_then(|c| u16::try_from(c).ok())
                        .unwrap_or(0),
                    event: item.event,
                    action: item.action,
                });
            }
            match reply.next {
                Some(next) if !reached_since => route = next,
                _ => return Ok((out, false)),
            }
        }
        Ok((out, true))
    }

    /// Ask GitHub to deliver delivery `delivery_id` again
    /// (`POST /app/hook/deliveries/{delivery_id}/attempts`, App JWT; GitHub answers `202` and
    /// delivers it with the same `X-GitHub-Delivery` guid and `redelivery: true`).
    pub async fn redeliver_hook_delivery(&self, delivery_id: u64) -> anyhow::Result<()> {
        let action = format!("redeliver webhook delivery {delivery_id}");
        let route = format!("/app/hook/deliveries/{delivery_id}/attempts");
        Caller::App(self)
            .send(&action, Verb::Post, &route, None)
            .await?;
        Ok(())
    }
}
