//! `meterbook webhooks add|list|remove|deliveries|retry`: where statements are pushed, and how
//! their deliveries went. A running server sends what is queued (it looks every few seconds).

use anyhow::bail;
use chrono::Utc;
use clap::Subcommand;
use meterbook_core::audit::AuditAction;

use crate::store::{DeliveryStatus, Store};
use crate::webhook_targets::TargetPolicy;
use crate::webhooks::{check_url, new_secret};

use super::accounts::cli_audit;

#[derive(Subcommand, Debug)]
pub enum WebhookCommand {
    /// Push statements to this URL; prints the webhook's signing secret (shown only this once).
    Add {
        url: String,
        /// Internal hosts and ranges webhooks may reach (as `serve --webhook-allow`).
        #[arg(long, env = "MB_WEBHOOK_ALLOW", default_value = "")]
        webhook_allow: String,
    },
    /// List the webhooks statements are pushed to.
    List,
    /// Stop pushing to a webhook, by ID (its pending deliveries fail; its log stays).
    Remove { id: i64 },
    /// Show the delivery log, newest first.
    Deliveries {
        /// Only deliveries that are pending, delivered or failed.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1_000))]
        limit: u32,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Give a failed delivery another attempt, by ID.
    Retry { id: i64 },
}

pub async fn webhooks(store: &dyn Store, command: WebhookCommand) -> anyhow::Result<()> {
    match command {
        WebhookCommand::Add { url, webhook_allow } => {
            let targets = TargetPolicy::parse(&webhook_allow)
                .map_err(|e| anyhow::anyhow!("--webhook-allow: {e}"))?;
            let url = check_url(url.trim(), &targets).map_err(anyhow::Error::msg)?;
            let secret = new_secret()?;
            let mut changes = store.begin().await?;
            let id = changes.add_webhook(&url, &secret, "cli").await?;
            cli_audit(
                &mut changes,
                AuditAction::WebhookAdd,
                &format!("webhook {id}"),
                &url,
            )
            .await?;
            changes.commit().await?;
            println!("webhook {id}: {url}");
            println!("signing secret (shown only now): {secret}");
        }
        WebhookCommand::List => {
            println!("{:>4}  {:<20}  {:<12}  url", "id", "created", "by");
            for hook in store.webhooks().await? {
                println!(
                    "{:>4}  {:<20}  {:<12}  {}",
                    hook.id,
                    hook.created_at.format("%Y-%m-%d %H:%M:%S"),
                    hook.created_by,
                    hook.url
                );
            }
        }
        WebhookCommand::Remove { id } => {
            let mut changes = store.begin().await?;
            if !changes.remove_webhook(id).await? {
                bail!("no webhook {id} is configured");
            }
            cli_audit(
                &mut changes,
                AuditAction::WebhookRemove,
                &format!("webhook {id}"),
                "",
            )
            .await?;
            changes.commit().await?;
            println!("webhook {id} removed");
        }
        WebhookCommand::Deliveries {
            status,
            limit,
            json,
        } => {
            let status = status
                .as_deref()
                .map(DeliveryStatus::parse)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--status: {e}"))?;
            let log = store.deliveries(status, limit).await?;
            if json {
                for line in &log {
                    println!("{}", serde_json::to_string(line)?);
                }
                return Ok(());
            }
            println!(
                "{:>5}  {:<16}  {:<9}  {:>8}  {:<20}  outcome",
                "id", "event", "status", "attempts", "last attempt"
            );
            for d in &log {
                let last = d.last_attempt_at.map_or("-".to_owned(), |t| {
                    t.format("%Y-%m-%d %H:%M:%S").to_string()
                });
                let outcome = match (&d.last_error, d.last_status, d.next_attempt_at) {
                    (Some(error), _, Some(next)) => format!("{error}; next {}", next.to_rfc3339()),
                    (Some(error), _, None) => error.clone(),
                    (None, Some(status), _) => format!("{status} from {}", d.url),
                    (None, None, _) => format!("to {}", d.url),
                };
                println!(
                    "{:>5}  {:<16}  {:<9}  {:>8}  {:<20}  {outcome}",
                    d.id,
                    d.event,
                    d.status.as_str(),
                    d.attempts,
                    last
                );
            }
        }
        WebhookCommand::Retry { id } => {
            let mut changes = store.begin().await?;
            if !changes.retry_delivery(id, Utc::now()).await? {
                bail!("delivery {id} is not a failed delivery to a webhook still configured");
            }
            cli_audit(
                &mut changes,
                AuditAction::WebhookRetry,
                &format!("delivery {id}"),
                "",
            )
            .await?;
            changes.commit().await?;
            println!("delivery {id} will be attempted again by a running server");
        }
    }
    Ok(())
}
