//! An upstream Azure Stack Hub as a usage source: Meterbook calls the provider usage API
//! (`subscriberUsageAggregates`) with its own credential, applies the caller's scope before the
//! call, follows continuation tokens, and retries the failures worth retrying.
//!
//! The credential is read from a file on every call, so whatever renews it (a cron job, a
//! sidecar) can replace the file without restarting Meterbook. It never leaves this module.
//! `nextLink` is never followed as a URL: only its continuation token is kept, and requests go to
//! the configured base URL alone, so a misbehaving upstream cannot redirect the credential.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meterbook_core::access::ReadScope;
use meterbook_core::directory::{draft_of_json, EntryDraft, ADMIN_COLLECTION, ADMIN_NAMESPACE};
use meterbook_core::error::ErrorEnvelope;
use meterbook_core::explore::{TimeBasis, UsageFact};
use meterbook_core::overview::DailyMeterTotal;
use meterbook_core::page::Cursor;
use meterbook_core::query::{AggregateQuery, Granularity, API_VERSION};
use meterbook_core::time::{arm_time, floor_day, floor_hour};
use meterbook_core::usage::{AggregateLine, UsageAggregatePage};
use meterbook_core::{ArmCode, SubscriptionId};
use reqwest::{StatusCode, Url};

use super::credential::{Credentials, UpstreamCredential};
use super::{page_subscription, SourceError, SourcePage, UsageSource, MAX_FACTS};

/// Usage reported this long after its day still counts towards the portal's daily totals.
const LATE_REPORTING_DAYS: i64 = 2;
/// Most upstream pages one portal query follows (10M aggregates), so an upstream that never
/// stops paging cannot hold a request forever.
const MAX_PAGES_PER_QUERY: usize = 10_000;

/// How to reach the upstream.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// `https://adminmanagement.<region>.<domain>`, without a trailing slash.
    pub base_url: String,
    /// How Meterbook gets the bearer token it presents upstream.
    pub credential: UpstreamCredential,
    /// A CA to trust for the hub and its identity provider (a private cloud's own CA).
    pub ca_file: Option<PathBuf>,
    /// The upstream's provider subscription.
    pub subscription: SubscriptionId,
    /// Attempts per request, counting the first, for 429/503/504 and network errors.
    pub attempts: u32,
    /// The first retry waits this long; each later one twice as long.
    pub first_retry_delay: Duration,
    pub timeout: Duration,
    /// How often the tenant directory is read from the hub (see `directory_sync`); `None` never
    /// (only on demand).
    pub directory_sync: Option<Duration>,
}

impl UpstreamConfig {
    pub fn new(
        base_url: &str,
        credential: UpstreamCredential,
        subscription: SubscriptionId,
    ) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            credential,
            ca_file: None,
            subscription,
            attempts: 4,
            first_retry_delay: Duration::from_millis(250),
            timeout: Duration::from_secs(60),
            directory_sync: Some(Duration::from_secs(15 * 60)),
        }
    }
}

pub struct UpstreamSource {
    config: UpstreamConfig,
    endpoint: Url,
    client: reqwest::Client,
    credentials: Credentials,
}

impl UpstreamSource {
    pub fn new(config: UpstreamConfig) -> anyhow::Result<Self> {
        let base = Url::parse(&config.base_url)
            .map_err(|e| anyhow::anyhow!("--upstream '{}': {e}", config.base_url))?;
        if !matches!(base.scheme(), "http" | "https") {
            anyhow::bail!("--upstream must be an http:// or https:// URL");
        }
        let endpoint = Url::parse(&format!(
            "{}/subscriptions/{}/providers/Microsoft.Commerce.Admin/subscriberUsageAggregates",
            config.base_url, config.subscription
        ))?;
        let mut client = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("meterbook/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("--upstream-ca-file {}: {e}", path.display()))?;
            client = client.add_root_certificate(
                reqwest::Certificate::from_pem(&pem)
                    .map_err(|e| anyhow::anyhow!("--upstream-ca-file {}: {e}", path.display()))?,
            );
        }
        let client = client.build()?;
        let credentials = Credentials::new(config.credential.clone(), client.clone());
        Ok(Self {
            config,
            endpoint,
            client,
            credentials,
        })
    }

    async fn credential(&self) -> Result<String, SourceError> {
        self.credentials
            .bearer(&self.config.base_url)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "no credential for the upstream");
                SourceError::upstream(ArmCode::UpstreamFailed, e.0)
            })
    }

    /// One upstream usage page.
    async fn fetch(&self, params: &[(&str, String)]) -> Result<UsageAggregatePage, SourceError> {
        self.get_json(self.endpoint.clone(), params, "a usage page")
            .await
    }

    /// One upstream answer from `url` read as JSON (`what` it should be, for errors), retried on
    /// 429, 503, 504 and network errors with doubling delays (or the upstream's `Retry-After`,
    /// up to 30 seconds).
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: Url,
        params: &[(&str, String)],
        what: &str,
    ) -> Result<T, SourceError> {
        let token = self.credential().await?;
        let mut delay = self.config.first_retry_delay;
        let attempts = self.config.attempts.max(1);
        for attempt in 1..=attempts {
            let last = attempt == attempts;
            let started = std::time::Instant::now();
            let sent = self
                .client
                .get(url.clone())
                .query(params)
                .bearer_auth(&token)
                .send()
                .await;
            crate::metrics::upstream_call(
                sent.as_ref().ok().map(reqwest::Response::status),
                started.elapsed(),
            );
            let response = match sent {
                Ok(r) => r,
                Err(e) if !last => {
                    tracing::warn!(attempt, error = %e, "upstream unreachable; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "upstream unreachable");
                    return Err(SourceError::upstream(
                        ArmCode::ServiceUnavailable,
                        format!("The upstream Azure Stack Hub could not be reached after {attempts} attempts; try again later"),
                    ));
                }
            };
            let status = response.status();
            if status.is_success() {
                let body = response.bytes().await.map_err(|e| {
                    tracing::error!(error = %e, "upstream body unreadable");
                    SourceError::upstream(
                        ArmCode::UpstreamFailed,
                        "The upstream Azure Stack Hub's answer was cut off",
                    )
                })?;
                return serde_json::from_slice(&body).map_err(|e| {
                    tracing::error!(error = %e, what, "upstream answer is not what was asked");
                    SourceError::upstream(
                        ArmCode::UpstreamFailed,
                        format!("The upstream Azure Stack Hub answered with something that is not {what}"),
                    )
                });
            }
            let retryable = matches!(
                status,
                StatusCode::TOO_MANY_REQUESTS
                    | StatusCode::SERVICE_UNAVAILABLE
                    | StatusCode::GATEWAY_TIMEOUT
            );
            if retryable && !last {
                let wait = retry_after(&response).unwrap_or(delay);
                tracing::warn!(attempt, %status, "upstream busy; retrying");
                tokio::time::sleep(wait).await;
                delay *= 2;
                continue;
            }
            let upstream_error = response
                .json::<ErrorEnvelope>()
                .await
                .map(|e| format!("{}: {}", e.error.code, e.error.message))
                .unwrap_or_else(|_| format!("HTTP {status}"));
            tracing::warn!(%status, upstream_error, "upstream refused");
            return Err(match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => SourceError::upstream(
                    ArmCode::UpstreamFailed,
                    "The upstream Azure Stack Hub refused Meterbook's credential; the operator should renew the token in --upstream-token-file",
                ),
                // The upstream's own words stay in the log: they can name its internals.
                _ if retryable || status.is_server_error() => SourceError::upstream(
                    ArmCode::ServiceUnavailable,
                    format!("The upstream Azure Stack Hub is unavailable (HTTP {}) after {attempts} attempts; try again later", status.as_u16()),
                ),
                _ => SourceError::upstream(
                    ArmCode::UpstreamFailed,
                    format!("The upstream Azure Stack Hub refused the query (HTTP {}); its answer is in Meterbook's log", status.as_u16()),
                ),
            });
        }
        unreachable!("the last attempt always returns")
    }

    /// One page for one subscription (or all), in the scope.
    async fn page(
        &self,
        scope: &ReadScope,
        subscriber: Option<&SubscriptionId>,
        query: &AggregateQuery,
        continuation: Option<String>,
    ) -> Result<SourcePage, SourceError> {
        let mut params: Vec<(&str, String)> = vec![
            ("api-version", API_VERSION.to_owned()),
            ("reportedStartTime", arm_time(query.reported_start)),
            ("reportedEndTime", arm_time(query.reported_end)),
            (
                "aggregationGranularity",
                query.granularity.as_str().to_owned(),
            ),
            ("showDetails", query.show_details.to_string()),
        ];
        if let Some(s) = subscriber {
            params.push(("subscriberId", s.as_str().to_owned()));
        }
        let sent = continuation.clone();
        if let Some(token) = continuation {
            params.push(("continuationToken", token));
        }
        let page = self.fetch(&params).await?;
        let mut items = Vec::with_capacity(page.value.len());
        for aggregate in &page.value {
            let line = AggregateLine::from_aggregate(aggregate).map_err(|e| {
                tracing::error!(error = %e, "upstream aggregate unreadable");
                SourceError::upstream(
                    ArmCode::UpstreamFailed,
                    format!(
                        "The upstream Azure Stack Hub sent an aggregate Meterbook cannot read: {e}"
                    ),
                )
            })?;
            // The upstream was asked for this scope only; anything else is dropped, not shown.
            match SubscriptionId::parse(&line.subscription_id) {
                Ok(s) if scope.covers(&s) => items.push(line),
                _ => {
                    tracing::warn!(subscription = %line.subscription_id, "upstream line outside the scope dropped")
                }
            }
        }
        let next = page.next_link.as_deref().and_then(continuation_token);
        // A page that continues at itself would loop forever; treat it as the last one.
        if next.is_some() && next == sent {
            tracing::warn!("upstream repeated its continuation token; stopping there");
        }
        let next = next
            .filter(|n| Some(n) != sent.as_ref())
            .map(Cursor::Upstream);
        Ok(SourcePage { items, next })
    }
}

/// The `continuationToken` of a `nextLink`, which is all Meterbook takes from it.
fn continuation_token(next_link: &str) -> Option<String> {
    link_param(next_link, "continuationToken")
}

/// A query parameter of a `nextLink`, matched without regard to case.
fn link_param(next_link: &str, name: &str) -> Option<String> {
    let url = Url::parse(next_link).ok()?;
    url.query_pairs()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

/// Most pages of the hub's subscription list one sync follows (a million subscriptions).
const MAX_DIRECTORY_PAGES: usize = 10_000;

impl UpstreamSource {
    /// Every subscription of the hub's directory, as its admin API lists them (2015-11-01),
    /// following `$skipToken`s (never the `nextLink` itself).
    pub(crate) async fn directory(&self) -> Result<Vec<EntryDraft>, SourceError> {
        let url = Url::parse(&format!(
            "{}/subscriptions/{}/providers/{ADMIN_NAMESPACE}/{ADMIN_COLLECTION}",
            self.config.base_url, self.config.subscription
        ))
        .map_err(|e| SourceError::upstream(ArmCode::UpstreamFailed, e.to_string()))?;
        let mut drafts = Vec::new();
        let mut skip: Option<String> = None;
        for _ in 0..MAX_DIRECTORY_PAGES {
            let mut params = vec![("api-version", "2015-11-01".to_owned())];
            if let Some(token) = &skip {
                params.push(("$skipToken", token.clone()));
            }
            let page: HubList = self
                .get_json(url.clone(), &params, "a list of subscriptions")
                .await?;
            for entry in &page.value {
                match draft_of_json(entry) {
                    Ok(draft) => drafts.push(draft),
                    Err(e) => {
                        tracing::warn!(error = e, "a hub subscription is unreadable; skipped")
                    }
                }
            }
            let next = page
                .next_link
                .as_deref()
                .and_then(|link| link_param(link, "$skipToken"));
            if next.is_none() || next == skip {
                return Ok(drafts);
            }
            skip = next;
        }
        tracing::warn!("the hub kept paging its subscriptions; stopped");
        Ok(drafts)
    }
}

/// A page of the hub's subscription list.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct HubList {
    #[serde(default)]
    value: Vec<serde_json::Value>,
    next_link: Option<String>,
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let seconds: u64 = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds.min(30)))
}

#[async_trait]
impl UsageSource for UpstreamSource {
    async fn hub_directory(&self) -> Result<Option<Vec<EntryDraft>>, SourceError> {
        Ok(Some(self.directory().await?))
    }

    async fn aggregates(
        &self,
        scope: &ReadScope,
        query: &AggregateQuery,
        after: Option<Cursor>,
    ) -> Result<SourcePage, SourceError> {
        let subscriber = page_subscription(scope)?;
        let continuation = match after {
            None => None,
            Some(Cursor::Upstream(token)) => Some(token),
            Some(Cursor::Key(_)) => return Err(SourceError::ForeignCursor),
        };
        self.page(scope, subscriber, query, continuation).await
    }

    /// Azure filters by reported time; the portal wants usage time. Usage is reported after it
    /// happens, so reading what was reported from `from` until [`LATE_REPORTING_DAYS`] after `to`
    /// (daily pages up to today, hourly pages for today) and keeping usage in `[from, to)` finds
    /// it all, except usage reported later than that. Record counts are not known upstream: they
    /// count aggregate lines (one per subscription, meter and day, and per hour for today).
    async fn daily_totals(
        &self,
        scope: &ReadScope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<DailyMeterTotal>, SourceError> {
        let now = Utc::now();
        let today = floor_day(now);
        let end = (to + chrono::Duration::days(LATE_REPORTING_DAYS)).min(floor_hour(now));
        let mut segments = Vec::new();
        if from < end.min(today) {
            segments.push((Granularity::Daily, from, end.min(today)));
        }
        if from.max(today) < end {
            segments.push((Granularity::Hourly, from.max(today), end));
        }
        let mut totals: BTreeMap<(String, String, chrono::NaiveDate), (f64, u64)> = BTreeMap::new();
        for &(granularity, start, end) in &segments {
            let query = AggregateQuery {
                reported_start: start,
                reported_end: end,
                granularity,
                show_details: false,
            };
            self.walk(scope, &query, |line| {
                if line.usage_start >= from && line.usage_start < to {
                    let entry = totals
                        .entry((
                            line.subscription_id,
                            line.meter_id,
                            line.usage_start.date_naive(),
                        ))
                        .or_default();
                    entry.0 += line.quantity;
                    entry.1 += 1;
                }
                Ok(())
            })
            .await?;
        }
        Ok(totals
            .into_iter()
            .map(
                |((subscription_id, meter_id, day), (quantity, records))| DailyMeterTotal {
                    subscription_id,
                    meter_id,
                    day,
                    quantity,
                    records,
                },
            )
            .collect())
    }

    /// Hourly aggregates with details. For usage time, reads what was reported until
    /// [`LATE_REPORTING_DAYS`] after `to` and keeps usage in `[from, to)`, as `daily_totals` does.
    async fn facts(
        &self,
        scope: &ReadScope,
        basis: TimeBasis,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<UsageFact>, SourceError> {
        let latest = floor_hour(Utc::now());
        let end = match basis {
            TimeBasis::Usage => (to + chrono::Duration::days(LATE_REPORTING_DAYS)).min(latest),
            TimeBasis::Reported => to.min(latest),
        };
        let mut facts = Vec::new();
        if from >= end {
            return Ok(facts);
        }
        let query = AggregateQuery {
            reported_start: from,
            reported_end: end,
            granularity: Granularity::Hourly,
            show_details: true,
        };
        self.walk(scope, &query, |line| {
            if basis == TimeBasis::Reported || (line.usage_start >= from && line.usage_start < to) {
                if facts.len() == MAX_FACTS {
                    return Err(SourceError::TooMany(MAX_FACTS));
                }
                facts.push(UsageFact::from_line(line));
            }
            Ok(())
        })
        .await?;
        Ok(facts)
    }

    fn describe(&self) -> String {
        format!("the upstream Azure Stack Hub at {}", self.config.base_url)
    }
}

impl UpstreamSource {
    /// Every aggregate of the query in the scope, page by page, each handed to `visit`: once per
    /// subscriber for a tenant's scope, once for an operator's.
    async fn walk(
        &self,
        scope: &ReadScope,
        query: &AggregateQuery,
        mut visit: impl FnMut(AggregateLine) -> Result<(), SourceError> + Send,
    ) -> Result<(), SourceError> {
        let subscribers: Vec<Option<&SubscriptionId>> = match scope.subscriptions() {
            None => vec![None],
            Some(subs) => subs.iter().map(Some).collect(),
        };
        for subscriber in subscribers {
            let mut continuation = None;
            for pages in 1.. {
                if pages > MAX_PAGES_PER_QUERY {
                    return Err(SourceError::upstream(
                        ArmCode::UpstreamFailed,
                        "The upstream Azure Stack Hub kept paging past Meterbook's limit; narrow the period",
                    ));
                }
                let page = self.page(scope, subscriber, query, continuation).await?;
                for line in page.items {
                    visit(line)?;
                }
                match page.next {
                    Some(Cursor::Upstream(token)) => continuation = Some(token),
                    _ => break,
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_continuation_token_is_taken_from_a_next_link() {
        assert_eq!(
            continuation_token("https://evil.example/x?api-version=1&continuationToken=abc%2Bdef"),
            Some("abc+def".into())
        );
        assert_eq!(
            continuation_token("https://h/x?ContinuationToken=t"),
            Some("t".into())
        );
        assert_eq!(continuation_token("https://h/x?a=1"), None);
        assert_eq!(continuation_token("not a url"), None);
    }
}
