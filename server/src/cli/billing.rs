//! `meterbook rates import|export` and `meterbook chargeback` (show, record, close, push).

use meterbook_core::audit::AuditAction;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use chrono::Utc;
use clap::{Args, Subcommand};
use meterbook_core::rating::period::{parse_time_zone, BillingPeriod};
use meterbook_core::rating::statement::{statement_csv, GroupBy};
use meterbook_core::rating::{read_rate_card, write_rate_card, RateCardFormat};
use meterbook_core::SubscriptionId;

use crate::chargeback::{self, ChargebackRequest};
use crate::store::Store;

use super::accounts::cli_audit;
use super::Format;

/// Who the audit log names for changes made at the command line.
const CLI_ACTOR: &str = "cli";

#[derive(Subcommand, Debug)]
pub enum RatesCommand {
    /// Check a rate card file and make it the rate card in effect (the earlier one is kept as a
    /// revision). A refused card changes nothing; the message names the row at fault.
    Import {
        /// A .csv or .json file, or - for standard input (then --format says which).
        file: PathBuf,
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// Write the rate card in effect to a file (.csv or .json), or - for standard output.
    Export {
        file: PathBuf,
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
}

impl From<Format> for RateCardFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::Csv => Self::Csv,
            Format::Json => Self::Json,
        }
    }
}

#[derive(Args, Debug)]
pub struct ChargebackArgs {
    /// A month (2026-10) or local days (2026-10-03..2026-10-17, end exclusive); the current
    /// month when left out.
    #[arg(long)]
    period: Option<String>,
    /// Group by subscription, by the directory's offer or plans (offer, plan), or by a tag's value
    /// (tag:Department, tag:CostCenter, any key).
    #[arg(long, default_value = "subscription")]
    by: String,
    /// Only these subscriptions (repeat for several); every subscription when left out.
    #[arg(long = "subscription")]
    subscriptions: Vec<String>,
    /// The operator's IANA time zone, in which months start and end.
    #[arg(long, env = "MB_TIME_ZONE", default_value = "UTC")]
    time_zone: String,
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,
    /// Keep this run of the statement (every subscription) and list what changed since the
    /// previous run (on standard error).
    #[arg(long, conflicts_with_all = ["subscriptions", "close"])]
    record: bool,
    /// Close the period: record a final run of each of its statements, freeze them, and queue
    /// them for every webhook.
    #[arg(long, requires = "period", conflicts_with = "subscriptions")]
    close: bool,
    /// Queue the statement (a closed period's frozen one, else a run recorded now) for every
    /// webhook; a running server sends it.
    #[arg(long, conflicts_with_all = ["subscriptions", "close", "record"])]
    push: bool,
}

/// The format a file is in: `--format`, else its extension.
fn format_of(file: &Path, format: Option<Format>) -> anyhow::Result<RateCardFormat> {
    if let Some(format) = format {
        return Ok(format.into());
    }
    RateCardFormat::of_file_name(&file.to_string_lossy()).with_context(|| {
        format!(
            "{}: name a .csv or .json file, or say which with --format",
            file.display()
        )
    })
}

pub async fn rates(store: &dyn Store, command: RatesCommand) -> anyhow::Result<()> {
    match command {
        RatesCommand::Import { file, format } => {
            let format = format_of(&file, format)?;
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading standard input")?
            } else {
                std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?
            };
            let card = read_rate_card(&text, format).map_err(|e| {
                anyhow::anyhow!("{}: {e}; the rate card was not changed", file.display())
            })?;
            let mut changes = store.begin().await?;
            let revision = changes.save_rate_card(&card, CLI_ACTOR).await?;
            cli_audit(
                &mut changes,
                AuditAction::RatesImport,
                &format!("revision {revision}"),
                &file.display().to_string(),
            )
            .await?;
            changes.commit().await?;
            let prices: usize = card.versions().iter().map(|v| v.rates.len()).sum();
            println!(
                "rate card revision {revision} is in effect: {} version(s), {prices} meter price(s), {} discount(s), in {}",
                card.versions().len(),
                card.discounts().len(),
                card.currency()
            );
            Ok(())
        }
        RatesCommand::Export { file, format } => {
            let format = if file.as_os_str() == "-" {
                format.unwrap_or(Format::Csv).into()
            } else {
                format_of(&file, format)?
            };
            let Some(stored) = store.rate_card().await? else {
                bail!("no rate card has been saved yet (import one with `meterbook rates import FILE`)");
            };
            let text = write_rate_card(&stored.card, format);
            if file.as_os_str() == "-" {
                std::io::stdout().write_all(text.as_bytes())?;
            } else {
                std::fs::write(&file, text)
                    .with_context(|| format!("writing {}", file.display()))?;
                eprintln!(
                    "wrote rate card revision {} (saved {} by {}) to {}",
                    stored.revision,
                    stored.saved_at.to_rfc3339(),
                    stored.saved_by,
                    file.display()
                );
            }
            Ok(())
        }
    }
}

pub async fn chargeback(store: &dyn Store, args: ChargebackArgs) -> anyhow::Result<()> {
    let zone = parse_time_zone(&args.time_zone).map_err(|e| anyhow::anyhow!("--time-zone: {e}"))?;
    let period = match &args.period {
        Some(text) => BillingPeriod::parse(text, zone),
        None => Ok(BillingPeriod::month_of(Utc::now(), zone)),
    }
    .map_err(|e| anyhow::anyhow!("--period: {e}"))?;
    let group_by = GroupBy::parse(&args.by).map_err(|e| anyhow::anyhow!("--by: {e}"))?;
    let subscriptions = args
        .subscriptions
        .iter()
        .map(|s| SubscriptionId::parse(s).map_err(|e| anyhow::anyhow!("--subscription: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if args.close {
        let mut changes = store.begin().await?;
        let closed =
            chargeback::close_period(store, &mut changes, &period, zone, CLI_ACTOR).await?;
        cli_audit(
            &mut changes,
            AuditAction::ChargebackClose,
            &period.label,
            "",
        )
        .await?;
        changes.commit().await?;
        for run in &closed.frozen {
            eprintln!(
                "froze {} {}: total {} {} ({} lines changed since the previous run)",
                run.statement.period.label,
                run.statement.group_by,
                run.statement.total,
                run.statement.currency,
                run.changes.len()
            );
        }
        println!(
            "period {} ({}) is closed; {} webhook deliveries queued",
            closed.period, closed.time_zone, closed.deliveries_queued
        );
        return Ok(());
    }
    if args.push {
        let mut changes = store.begin().await?;
        let pushed =
            chargeback::push_statement(store, &mut changes, &period, zone, &group_by, CLI_ACTOR)
                .await?;
        cli_audit(
            &mut changes,
            AuditAction::ChargebackPush,
            &period.label,
            &format!(
                "{group_by}: run {}, {} webhook deliveries queued",
                pushed.run_id, pushed.deliveries_queued
            ),
        )
        .await?;
        changes.commit().await?;
        println!(
            "run {} of {} by {} queued for {} webhook(s); a running server sends it",
            pushed.run_id, pushed.period, pushed.group_by, pushed.deliveries_queued
        );
        return Ok(());
    }
    let statement = if args.record {
        let mut changes = store.begin().await?;
        let run = chargeback::record_run(store, &mut changes, &period, zone, &group_by, CLI_ACTOR)
            .await?;
        cli_audit(
            &mut changes,
            AuditAction::ChargebackRun,
            &period.label,
            &group_by.to_string(),
        )
        .await?;
        changes.commit().await?;
        match run.previous_run_at {
            None => eprintln!("first recorded run of this statement"),
            Some(at) => eprintln!(
                "{} lines changed since the run of {}",
                run.changes.len(),
                at.to_rfc3339()
            ),
        }
        for c in &run.changes {
            let text =
                |d: Option<rust_decimal::Decimal>| d.map_or("-".to_owned(), |d| d.to_string());
            eprintln!(
                "  {} {} {}: quantity {} -> {}, amount {} -> {}",
                c.group.as_deref().unwrap_or("(untagged)"),
                c.subscription_id,
                c.meter_name,
                text(c.was_quantity),
                text(c.quantity),
                text(c.was_amount),
                text(c.amount)
            );
        }
        run.statement
    } else {
        let request = ChargebackRequest {
            period,
            zone,
            group_by,
            subscriptions: (!subscriptions.is_empty()).then_some(subscriptions.as_slice()),
        };
        chargeback::statement(store, &request).await?
    };
    let text = match args.format {
        Format::Csv => statement_csv(&statement),
        Format::Json => {
            let mut json = serde_json::to_string_pretty(&statement)?;
            json.push('\n');
            json
        }
    };
    std::io::stdout().write_all(text.as_bytes())?;
    eprintln!(
        "{} {}: total {} {} over {} group(s)",
        statement.period.label,
        statement.group_by,
        statement.total,
        statement.currency,
        statement.groups.len()
    );
    Ok(())
}
