//! Pushing statements to billing systems: each configured webhook is POSTed every statement
//! pushed (when a period closes, or when an operator asks), as JSON, signed with the webhook's
//! secret (see [`meterbook_core::webhook`]), with an `Idempotency-Key` that stays the same for the
//! same statement.
//!
//! Pushes are queued in the store (in the transaction that closes the period), and every server
//! runs a [`Sender`] that claims due deliveries from that queue, so any number of servers share
//! the work, none sends a delivery twice at once, and nothing queued is lost when a server stops:
//! a delivery it had claimed is retried once its claim runs out. A failed attempt is retried with
//! exponential backoff until it succeeds or runs out of attempts; the store keeps each delivery's
//! state as the delivery log operators read.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use meterbook_core::rating::statement::Statement;
use meterbook_core::webhook::{sign, SIGNATURE_HEADER};
use serde::Serialize;
use tokio::sync::{watch, Notify};

use crate::auth::tokens::random_secret;
use crate::store::{AttemptResult, DueDelivery, Push, Store, StoreError};
use crate::webhook_targets::{CheckedResolver, TargetPolicy};

/// Event of a push made by closing a period.
pub const PERIOD_CLOSED: &str = "period.closed";
/// Event of a push an operator asked for.
pub const STATEMENT_PUSHED: &str = "statement.pushed";

/// Longest webhook URL accepted.
const MAX_URL_LEN: usize = 2_048;
/// Longest error kept in the delivery log (a transport error's words; receivers' answers are
/// logged by status code only, so the log cannot be used to read internal services).
const MAX_ERROR_LEN: usize = 300;
/// Deliveries one sender claims at a time (and sends concurrently).
const CLAIM_BATCH: u32 = 8;

/// How deliveries are attempted and retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// The wait before the first retry; each later retry waits twice as long as the one before.
    pub first_backoff: Duration,
    /// The longest wait between retries.
    pub max_backoff: Duration,
    /// Attempts before a delivery is marked failed (an operator can then retry it).
    pub max_attempts: u32,
    /// How long a receiver has to answer.
    pub timeout: Duration,
    /// How often a server looks for due deliveries when nothing wakes it sooner.
    pub poll: Duration,
}

impl Default for DeliveryPolicy {
    /// Ten attempts over about four and a half hours: 30 s, 1, 2, 4, 8, 16, 32 min, then hourly.
    fn default() -> Self {
        Self {
            first_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(3_600),
            max_attempts: 10,
            timeout: Duration::from_secs(10),
            poll: Duration::from_secs(5),
        }
    }
}

impl DeliveryPolicy {
    /// The wait after the `attempts`-th failed attempt.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(30);
        self.first_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff)
    }

    /// How long a claim lasts: past the attempt's timeout, so only a sender that died lets it
    /// run out.
    fn lease(&self) -> Duration {
        self.timeout + Duration::from_secs(30)
    }
}

/// A new webhook's signing secret, shown once to the operator who adds it.
pub fn new_secret() -> Result<String, getrandom::Error> {
    Ok(format!("whsec_{}", random_secret()?))
}

/// Checks a webhook URL: absolute http(s), with a host that is not an internal address (unless
/// `targets` allows it; names are checked again at every delivery), no credentials (they would
/// show in the delivery log; receivers check the signature instead).
pub fn check_url(url: &str, targets: &TargetPolicy) -> Result<String, String> {
    if url.len() > MAX_URL_LEN {
        return Err(format!("a webhook URL is at most {MAX_URL_LEN} characters"));
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("'{url}' is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("'{url}' is not an http:// or https:// URL"));
    }
    match parsed.host() {
        None => return Err(format!("'{url}' names no host")),
        Some(host) => targets.check_literal(&host)?,
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(
            "a webhook URL may not carry credentials: receivers check the Meterbook-Signature \
             header instead"
                .to_owned(),
        );
    }
    Ok(parsed.to_string())
}

/// What a receiver is sent.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PushBody<'a> {
    event: &'a str,
    /// The chargeback run the statement is: the same run is the same statement.
    run_id: i64,
    statement: &'a Statement,
}

/// The push of run `run_id`, whose statement is `statement`.
pub fn statement_push(event: &'static str, run_id: i64, statement: &Statement) -> Push {
    let body = PushBody {
        event,
        run_id,
        statement,
    };
    Push {
        event,
        key_prefix: format!("meterbook-run-{run_id}-webhook-"),
        // A statement is plain data: serialising it cannot fail.
        payload: serde_json::to_string(&body).unwrap_or_else(|_| unreachable!()),
    }
}

/// Sends due deliveries; one per server.
pub struct Sender {
    store: Arc<dyn Store>,
    client: reqwest::Client,
    policy: DeliveryPolicy,
    targets: Arc<TargetPolicy>,
    /// Woken when this server queues a push, so it goes out at once rather than at the next poll.
    wake: Arc<Notify>,
}

impl Sender {
    pub fn new(
        store: Arc<dyn Store>,
        policy: DeliveryPolicy,
        targets: Arc<TargetPolicy>,
        wake: Arc<Notify>,
    ) -> reqwest::Result<Self> {
        let client = reqwest::Client::builder()
            // A redirected POST would arrive as a GET, or somewhere the operator did not name.
            .redirect(reqwest::redirect::Policy::none())
            // Every name is resolved here and only allowed addresses are connected to; a proxy
            // would connect on its own terms.
            .dns_resolver(Arc::new(CheckedResolver {
                policy: targets.clone(),
            }))
            .no_proxy()
            .timeout(policy.timeout)
            .user_agent(concat!("Meterbook/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            store,
            client,
            policy,
            targets,
            wake,
        })
    }

    /// Sends due deliveries until `stop` turns true; attempts under way then finish.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        while !*stop.borrow() {
            let sent = match self.send_due().await {
                Ok(sent) => sent,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook deliveries could not be read");
                    0
                }
            };
            if sent == CLAIM_BATCH as usize {
                continue;
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.policy.poll) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Claims the deliveries due now and attempts each; returns how many were attempted.
    pub async fn send_due(&self) -> Result<usize, StoreError> {
        let now = Utc::now();
        let lease = chrono::Duration::from_std(self.policy.lease()).unwrap_or_default();
        let due = self
            .store
            .claim_deliveries(now, now + lease, CLAIM_BATCH)
            .await?;
        let attempts = due.iter().map(|delivery| async move {
            let result = self.attempt(delivery).await;
            if let Err(e) = self.store.record_attempt(delivery, &result).await {
                // The claim runs out and the delivery is attempted again: sent twice at worst,
                // with the same idempotency key.
                tracing::warn!(delivery = delivery.id, error = %e, "a delivery's result was not saved");
            }
        });
        futures::future::join_all(attempts).await;
        Ok(due.len())
    }

    async fn attempt(&self, delivery: &DueDelivery) -> AttemptResult {
        let sent_at = Utc::now();
        // Names are checked as they resolve; an address in the URL is checked here (a URL added
        // before the policy changed, or by an older version).
        let literal = reqwest::Url::parse(&delivery.url)
            .map_err(|e| e.to_string())
            .and_then(|u| match u.host() {
                Some(host) => self.targets.check_literal(&host),
                None => Err("the URL names no host".to_owned()),
            });
        if let Err(refused) = literal {
            crate::metrics::webhook_attempt("refused");
            return self.result(delivery, sent_at, None, Some(truncate(refused)));
        }
        let answer = self
            .client
            .post(&delivery.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", &delivery.idempotency_key)
            .header("Meterbook-Event", &delivery.event)
            .header("Meterbook-Delivery", delivery.id.to_string())
            .header(
                SIGNATURE_HEADER,
                sign(
                    &delivery.secret,
                    sent_at.timestamp(),
                    delivery.payload.as_bytes(),
                ),
            )
            .body(delivery.payload.clone())
            .send()
            .await;
        let (http_status, error) = match answer {
            Ok(response) if response.status().is_success() => {
                (Some(response.status().as_u16()), None)
            }
            Ok(response) => {
                let status = response.status();
                let mut error = format!("the receiver answered {status}");
                if status.is_redirection() {
                    error.push_str(" (redirects are not followed: configure the final URL)");
                }
                (Some(status.as_u16()), Some(error))
            }
            Err(e) => (None, Some(truncate(describe(&e)))),
        };
        crate::metrics::webhook_attempt(if error.is_none() {
            "delivered"
        } else {
            "failed"
        });
        self.result(delivery, sent_at, http_status, error)
    }

    /// An attempt's outcome, with its retry time when it failed and attempts are left.
    fn result(
        &self,
        delivery: &DueDelivery,
        sent_at: chrono::DateTime<Utc>,
        http_status: Option<u16>,
        error: Option<String>,
    ) -> AttemptResult {
        let retry_at = match &error {
            Some(_) if delivery.attempts < self.policy.max_attempts => {
                let wait = chrono::Duration::from_std(self.policy.backoff(delivery.attempts))
                    .unwrap_or_default();
                Some(Utc::now() + wait)
            }
            _ => None,
        };
        if let Some(error) = &error {
            tracing::info!(delivery = delivery.id, attempts = delivery.attempts, %error, "webhook delivery failed");
        }
        AttemptResult {
            at: sent_at,
            http_status,
            error,
            retry_at,
        }
    }
}

/// A transport error in words an operator can act on.
fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    let what = if e.is_timeout() {
        "the receiver did not answer in time"
    } else if e.is_connect() {
        "could not connect to the receiver"
    } else {
        "the request failed"
    };
    // The deepest cause says most (for a refused address, the refusal itself).
    let mut deepest = None;
    let mut cause = e.source();
    while let Some(c) = cause {
        deepest = Some(c);
        cause = c.source();
    }
    match deepest {
        Some(cause) => format!("{what}: {cause}"),
        None => what.to_owned(),
    }
}

fn truncate(mut text: String) -> String {
    if text.len() > MAX_ERROR_LEN {
        let mut end = MAX_ERROR_LEN;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = DeliveryPolicy::default();
        let waits: Vec<u64> = (1..=10).map(|n| policy.backoff(n).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        assert_eq!(policy.backoff(u32::MAX).as_secs(), 3600);
    }

    #[test]
    fn webhook_urls_are_http_with_a_public_host_and_no_credentials() {
        let public = TargetPolicy::default();
        let check = |url: &str| check_url(url, &public);
        assert_eq!(
            check("https://billing.example.com/hooks/meterbook"),
            Ok("https://billing.example.com/hooks/meterbook".to_owned())
        );
        assert!(check("http://127.0.0.1:8080/in").is_err());
        assert!(check("http://169.254.169.254/latest/meta-data").is_err());
        assert!(check("http://[fd00::1]/").is_err());
        assert!(check("ftp://billing.example.com/").is_err());
        assert!(check("billing.example.com/hook").is_err());
        assert!(check("https://user:pw@billing.example.com/").is_err());
        assert!(check(&format!("https://a.example/{}", "x".repeat(3_000))).is_err());
        let loopback = TargetPolicy::parse("127.0.0.0/8").unwrap();
        assert!(check_url("http://127.0.0.1:8080/in", &loopback).is_ok());
    }

    #[test]
    fn long_errors_are_cut_at_a_character_boundary() {
        let cut = truncate("é".repeat(400));
        assert!(cut.len() <= MAX_ERROR_LEN + '…'.len_utf8());
        assert!(cut.ends_with('…'));
    }
}
