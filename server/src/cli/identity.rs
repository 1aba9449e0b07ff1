//! `meterbook identity rules`: the claim rules that map a directory's tokens (Entra ID, AD FS,
//! ...) to roles and subscriptions. Every change is audited as the command line's.

use anyhow::bail;
use clap::Subcommand;
use meterbook_core::identity::{ClaimRule, RuleDraft, CLAIMS};

use crate::identity::rules::{self, Actor};
use crate::store::Store;

/// The command line in the audit log.
const CLI: Actor<'static> = Actor {
    name: "cli",
    address: "",
};

#[derive(Subcommand, Debug)]
pub enum IdentityCommand {
    /// Claim rules: which tokens of which issuer get which role.
    #[command(subcommand)]
    Rules(RulesCommand),
}

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Map a claim's value to a role: `--issuer adfs --claim groups --value tenant-contoso
    /// --role tenant --subscription <SUB-ID>`, or `--claim roles --value Meterbook.Operator
    /// --role operator`, or a service principal's `--claim appid --value <APP-ID> --role provider`.
    Add {
        /// The issuer's name in the identity configuration.
        #[arg(long)]
        issuer: String,
        /// groups, roles, upn, email, preferred_username, sub, oid, appid or azp.
        #[arg(long)]
        claim: String,
        #[arg(long)]
        value: String,
        /// The server's identity configuration: when given, the issuer must be one it names.
        #[arg(long, env = "MB_IDENTITY_CONFIG")]
        identity_config: Option<std::path::PathBuf>,
        /// operator, tenant or provider.
        #[arg(long)]
        role: String,
        /// What a tenant rule grants (repeat for several).
        #[arg(long = "subscription")]
        subscriptions: Vec<String>,
    },
    /// List the rules.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a rule by its ID.
    Remove { id: i64 },
}

pub async fn identity(store: &dyn Store, command: IdentityCommand) -> anyhow::Result<()> {
    let IdentityCommand::Rules(command) = command;
    match command {
        RulesCommand::Add {
            issuer,
            claim,
            value,
            role,
            subscriptions,
            identity_config,
        } => {
            let rule = ClaimRule::parse(RuleDraft {
                issuer,
                claim,
                value,
                role,
                subscriptions,
            })
            .map_err(|e| {
                anyhow::anyhow!(
                    "{e} (claims: {}; roles: operator, tenant, provider)",
                    CLAIMS.join(", ")
                )
            })?;
            // Only the issuers' names: not their client secrets, which this needs no more of.
            let config = match identity_config.as_deref() {
                Some(path) => {
                    let text = std::fs::read_to_string(path).map_err(|e| {
                        anyhow::anyhow!("--identity-config {}: {e}", path.display())
                    })?;
                    let config = crate::identity::IdentityConfig::parse(&text).map_err(|e| {
                        anyhow::anyhow!("--identity-config {}: {e}", path.display())
                    })?;
                    Some(config)
                }
                None => None,
            };
            let issuers = config.as_ref().map(|c| {
                c.issuers
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>()
            });
            let id = rules::add(store, issuers.as_deref(), CLI, &rule).await?;
            println!("added claim rule {id}: {rule}");
        }
        RulesCommand::List { json } => {
            for stored in store.claim_rules().await? {
                if json {
                    let mut line = serde_json::to_value(&stored.rule)?;
                    line["id"] = stored.id.into();
                    line["createdBy"] = stored.created_by.into();
                    println!("{line}");
                } else {
                    println!("{:>5}  {}", stored.id, stored.rule);
                }
            }
        }
        RulesCommand::Remove { id } => match rules::remove(store, CLI, id).await? {
            Some(rule) => println!("removed claim rule {id}: {rule}"),
            None => bail!("there is no claim rule {id}"),
        },
    }
    Ok(())
}
