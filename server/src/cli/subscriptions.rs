//! `meterbook subscriptions`: the tenant directory at the command line. Every change is audited
//! and written with its audit entry; an import is checked whole first and written whole or not at
//! all.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use meterbook_core::directory::{
    split_list, tags_as_text, tags_of_text, DirectoryEntry, EntryDraft, DIRECTORY_CSV_COLUMNS,
};
use meterbook_core::SubscriptionId;

use super::accounts::cli_audit;
use crate::directory_import::{self, ImportError, ImportFormat};
use crate::store::{EntrySource, PutOutcome, Store};

/// Subscriptions per page of `list`.
const LIST_PAGE: usize = 1_000;

#[derive(Subcommand, Debug)]
pub enum SubscriptionCommand {
    /// Add a subscription the directory does not know yet.
    Add(EntryArgs),
    /// Change fields of a subscription the directory knows; fields left out keep their values.
    Set(EntryArgs),
    /// List the directory (a table, `--json` lines, or `--csv` that `import` reads back).
    List {
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        #[arg(long)]
        csv: bool,
    },
    /// Add or change subscriptions from a CSV file (a header row of column names) or a JSON
    /// file (an array, or the admin API's list); `-` reads standard input. All are checked
    /// first: one bad row changes nothing and names its line.
    Import {
        file: PathBuf,
        /// `csv` or `json`; by default from the file's extension.
        #[arg(long)]
        format: Option<String>,
    },
}

/// The fields of `add` and `set`; an empty value clears an optional field.
#[derive(Args, Debug)]
pub struct EntryArgs {
    /// The subscription ID (a GUID).
    #[arg(long = "id")]
    id: String,
    #[arg(long)]
    name: Option<String>,
    /// The owner's user principal name.
    #[arg(long)]
    owner: Option<String>,
    /// Enabled, Warned, PastDue, Disabled (or Suspended) or Deleted.
    #[arg(long)]
    state: Option<String>,
    /// The offer's name (or Azure Stack Hub offer ID).
    #[arg(long)]
    offer: Option<String>,
    /// Plans, separated by `;` or `,` (repeatable).
    #[arg(long = "plan")]
    plans: Vec<String>,
    /// The directory tenant (a GUID).
    #[arg(long)]
    tenant_id: Option<String>,
    /// The reseller's subscription ID.
    #[arg(long)]
    delegated_provider: Option<String>,
    /// A tag `name=value` (repeatable); `--tag ''` clears the tags.
    #[arg(long = "tag")]
    tags: Vec<String>,
}

impl EntryArgs {
    fn draft(&self) -> anyhow::Result<EntryDraft> {
        let tags = if self.tags.is_empty() {
            None
        } else {
            let mut all = BTreeMap::new();
            for tag in &self.tags {
                all.extend(tags_of_text(tag).map_err(|e| anyhow::anyhow!("--tag: {e}"))?);
            }
            Some(all)
        };
        Ok(EntryDraft {
            subscription_id: Some(self.id.clone()),
            display_name: self.name.clone(),
            owner: self.owner.clone(),
            state: self.state.clone(),
            offer: self.offer.clone(),
            plans: (!self.plans.is_empty())
                .then(|| self.plans.iter().flat_map(|p| split_list(p)).collect()),
            tenant_id: self.tenant_id.clone(),
            delegated_provider: self.delegated_provider.clone(),
            tags,
        })
    }
}

pub async fn subscriptions(store: &dyn Store, command: SubscriptionCommand) -> anyhow::Result<()> {
    match command {
        SubscriptionCommand::Add(args) => {
            let id = SubscriptionId::parse(&args.id).map_err(|e| anyhow::anyhow!("--id: {e}"))?;
            if store.directory_entry(&id).await?.is_some() {
                bail!("the directory knows {id} already; change it with `meterbook subscriptions set`");
            }
            let entry = args.draft()?.into_entry(None).map_err(anyhow::Error::msg)?;
            put_one(store, &entry).await?;
            println!("added {} '{}'", entry.subscription_id, entry.display_name);
        }
        SubscriptionCommand::Set(args) => {
            let id = SubscriptionId::parse(&args.id).map_err(|e| anyhow::anyhow!("--id: {e}"))?;
            let Some(stored) = store.directory_entry(&id).await? else {
                bail!(
                    "the directory does not know {id}; add it with `meterbook subscriptions add`"
                );
            };
            let entry = args
                .draft()?
                .into_entry(Some(&stored))
                .map_err(anyhow::Error::msg)?;
            if put_one(store, &entry).await? == PutOutcome::Unchanged {
                println!("{id} is unchanged");
            } else {
                println!("changed {id} '{}'", entry.display_name);
            }
        }
        SubscriptionCommand::List { json, csv } => list(store, json, csv).await?,
        SubscriptionCommand::Import { file, format } => import(store, &file, format).await?,
    }
    Ok(())
}

/// Writes one entry with its audit entry.
async fn put_one(store: &dyn Store, entry: &DirectoryEntry) -> anyhow::Result<PutOutcome> {
    let mut changes = store.begin().await?;
    let outcome = changes
        .put_directory_entry(entry, EntrySource::Local)
        .await?;
    if let Some(action) = outcome.audited_as() {
        cli_audit(
            &mut changes,
            action,
            entry.subscription_id.as_str(),
            &entry.display_name,
        )
        .await?;
    }
    changes.commit().await?;
    Ok(outcome)
}

async fn list(store: &dyn Store, json: bool, csv: bool) -> anyhow::Result<()> {
    let mut after: Option<SubscriptionId> = None;
    if csv {
        let mut header = String::new();
        meterbook_core::csv::write_csv_record(&mut header, &DIRECTORY_CSV_COLUMNS);
        print!("{header}");
    } else if !json {
        println!(
            "{:<36}  {:<28}  {:<28}  {:<8}  {:<12}  plans",
            "subscription", "name", "owner", "state", "offer"
        );
    }
    loop {
        let page = store
            .directory_page(None, after.as_ref(), LIST_PAGE)
            .await?;
        for e in &page {
            let offer = e.offer.as_ref().map_or("", |o| o.as_str());
            let plans: Vec<&str> = e.plans.iter().map(|p| p.as_str()).collect();
            if json {
                println!("{}", serde_json::to_string(e)?);
            } else if csv {
                let mut row = String::new();
                meterbook_core::csv::write_csv_record(
                    &mut row,
                    &[
                        e.subscription_id.as_str(),
                        &e.display_name,
                        &e.owner,
                        e.state.as_str(),
                        offer,
                        &plans.join(";"),
                        e.tenant_id.as_ref().map_or("", |t| t.as_str()),
                        e.delegated_provider.as_ref().map_or("", |p| p.as_str()),
                        &tags_as_text(&e.tags),
                    ],
                );
                print!("{row}");
            } else {
                println!(
                    "{:<36}  {:<28}  {:<28}  {:<8}  {:<12}  {}",
                    e.subscription_id,
                    e.display_name,
                    e.owner,
                    e.state,
                    offer,
                    plans.join(",")
                );
            }
        }
        if page.len() < LIST_PAGE {
            return Ok(());
        }
        after = page.last().map(|e| e.subscription_id.clone());
    }
}

async fn import(store: &dyn Store, file: &PathBuf, format: Option<String>) -> anyhow::Result<()> {
    let name = file.display().to_string();
    let format = match format.as_deref() {
        Some(f) => ImportFormat::parse(f),
        None => ImportFormat::of_file_name(&name),
    }
    .ok_or_else(|| anyhow::anyhow!("--format: say csv or json (the file's extension does not)"))?;
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading standard input")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {name}"))?
    };
    let imported = match directory_import::import(store, &text, format, &name, "cli", "").await {
        Ok(imported) => imported,
        Err(ImportError::Refused(e)) => bail!("{name}: {e}; the directory was not changed"),
        Err(ImportError::Store(e)) => return Err(e.into()),
    };
    println!(
        "{} subscriptions read: {} added, {} changed, {} unchanged",
        imported.read,
        imported.added,
        imported.changed,
        imported.read as u64 - imported.added - imported.changed
    );
    Ok(())
}
