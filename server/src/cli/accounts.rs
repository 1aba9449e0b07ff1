//! `meterbook user`, `token` and `audit`, and the accounts `serve` creates on first start.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use meterbook_core::access::Role;
use meterbook_core::audit::AuditAction;
use meterbook_core::SubscriptionId;

use crate::audit::{self, Event};
use crate::auth::passwords::generate_password;
use crate::auth::{issue_token, TokenRequest};
use crate::demo::{self, DemoSpec};
use crate::people::{self, Actor, TokensOnReset};
use crate::store::{Changes, Store, UserInfo};

/// The password of every documented demo account (see the README).
pub const DEMO_PASSWORD: &str = "meterbook-demo";
/// The documented demo operator.
pub const DEMO_OPERATOR: &str = "operator";

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a user; prints a generated password unless --password-stdin is given.
    Add {
        username: String,
        #[arg(long)]
        role: String,
        /// A subscription a tenant user may read (repeat for several).
        #[arg(long = "subscription")]
        subscriptions: Vec<String>,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users and their subscriptions.
    List,
    /// Stop a user signing in; ends their sessions and revokes the tokens they created.
    Disable { username: String },
    /// Let a disabled user sign in again.
    Enable { username: String },
    /// Set a new password (generated unless --password-stdin); ends the user's sessions and
    /// revokes their API tokens unless --keep-tokens.
    Passwd {
        username: String,
        #[arg(long)]
        password_stdin: bool,
        /// Leave the user's API tokens live (a forgotten password, not a compromise).
        #[arg(long)]
        keep_tokens: bool,
    },
    /// Add subscriptions to a tenant user.
    Grant {
        username: String,
        #[arg(long = "subscription", required = true)]
        subscriptions: Vec<String>,
    },
    /// Remove subscriptions from a tenant user (effective on their next request).
    Revoke {
        username: String,
        #[arg(long = "subscription", required = true)]
        subscriptions: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token and print it (it is shown only this once).
    Create {
        #[arg(long)]
        role: String,
        /// A subscription a tenant token may read (repeat for several).
        #[arg(long = "subscription")]
        subscriptions: Vec<String>,
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// List tokens (without their secrets).
    List,
    /// Revoke a token by ID.
    Revoke { id: i64 },
}

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// How many entries, latest first.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Only this action: `<object>.<verb>`, e.g. session.sign_in, token.create, user.add,
    /// usage.export, chargeback.close (an unknown name is refused with the whole list).
    #[arg(long)]
    action: Option<AuditAction>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

fn subscriptions(raw: &[String]) -> anyhow::Result<Vec<SubscriptionId>> {
    raw.iter()
        .map(|s| SubscriptionId::parse(s).map_err(|e| anyhow::anyhow!("--subscription '{s}': {e}")))
        .collect()
}

/// Adds a change made at the command line to the audit log, in the change's own `changes`.
pub(super) async fn cli_audit(
    changes: &mut Changes,
    action: AuditAction,
    target: &str,
    detail: &str,
) -> anyhow::Result<()> {
    audit::record(
        changes,
        Event {
            actor: "cli",
            action,
            target,
            address: "",
            detail,
        },
    )
    .await?;
    Ok(())
}

fn read_password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        Ok((line.trim_end_matches(['\r', '\n']).to_owned(), false))
    } else {
        Ok((generate_password()?, true))
    }
}

async fn find_user(store: &dyn Store, username: &str) -> anyhow::Result<UserInfo> {
    match store.user_by_name(username).await? {
        Some((user, _)) => Ok(user),
        None => bail!("there is no user '{username}' (see `meterbook user list`)"),
    }
}

/// Changes made on the command line are audited as `cli`.
const CLI: Actor<'static> = Actor {
    name: "cli",
    address: "",
};

/// Adds a user (audited); the error for a taken name says so.
pub async fn add_user(
    store: &dyn Store,
    username: &str,
    role: Role,
    password: &str,
    subs: &[SubscriptionId],
) -> anyhow::Result<i64> {
    Ok(people::add(store, CLI, username, role, password, subs).await?)
}

pub async fn user(store: &dyn Store, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            username,
            role,
            subscriptions: raw,
            password_stdin,
        } => {
            let role = Role::parse(&role).map_err(|e| anyhow::anyhow!(e))?;
            let subs = subscriptions(&raw)?;
            let (password, generated) = read_password(password_stdin)?;
            add_user(store, &username, role, &password, &subs).await?;
            println!("Added {role} '{username}'.");
            if generated {
                println!("Password (shown only now): {password}");
            }
        }
        UserCommand::List => {
            let users = store.list_users().await?;
            if users.is_empty() {
                println!("No users. `meterbook serve` creates the first operator; or: meterbook user add NAME --role operator");
            }
            for u in users {
                let state = match u.disabled_at {
                    Some(at) => format!("disabled {}", at.format("%Y-%m-%d %H:%M")),
                    None => "active".to_owned(),
                };
                let subs: Vec<&str> = u.subscriptions.iter().map(SubscriptionId::as_str).collect();
                println!(
                    "{:<24} {:<9} {:<24} {}",
                    u.username,
                    u.role,
                    state,
                    subs.join(",")
                );
            }
        }
        UserCommand::Disable { username } => {
            let user = find_user(store, &username).await?;
            people::set_disabled(store, CLI, &user, true).await?;
            println!(
                "Disabled '{}': their sessions ended and their tokens were revoked.",
                user.username
            );
        }
        UserCommand::Enable { username } => {
            let user = find_user(store, &username).await?;
            people::set_disabled(store, CLI, &user, false).await?;
            println!("Enabled '{}'.", user.username);
        }
        UserCommand::Passwd {
            username,
            password_stdin,
            keep_tokens,
        } => {
            let user = find_user(store, &username).await?;
            let (password, generated) = read_password(password_stdin)?;
            let tokens = if keep_tokens {
                TokensOnReset::Keep
            } else {
                TokensOnReset::Revoke
            };
            let revoked = people::set_password(store, CLI, &user, &password, tokens).await?;
            println!(
                "Password of '{}' changed; their sessions ended{}.",
                user.username,
                people::reset_tokens_said(tokens, revoked)
            );
            if generated {
                println!("New password (shown only now): {password}");
            }
        }
        UserCommand::Grant {
            username,
            subscriptions: raw,
        } => change_grants(store, &username, &raw, true).await?,
        UserCommand::Revoke {
            username,
            subscriptions: raw,
        } => change_grants(store, &username, &raw, false).await?,
    }
    Ok(())
}

async fn change_grants(
    store: &dyn Store,
    username: &str,
    raw: &[String],
    granted: bool,
) -> anyhow::Result<()> {
    let user = find_user(store, username).await?;
    let subs = subscriptions(raw)?;
    people::change_grants(store, CLI, &user, &subs, granted).await?;
    let user = find_user(store, username).await?;
    let now: Vec<&str> = user
        .subscriptions
        .iter()
        .map(SubscriptionId::as_str)
        .collect();
    println!(
        "'{}' now reads: {}",
        user.username,
        if now.is_empty() {
            "nothing".to_owned()
        } else {
            now.join(", ")
        }
    );
    Ok(())
}

pub async fn token(store: &dyn Store, cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create {
            role,
            subscriptions: raw,
            name,
        } => {
            let role = Role::parse(&role).map_err(|e| anyhow::anyhow!(e))?;
            let subs = subscriptions(&raw)?;
            let mut changes = store.begin().await?;
            let (id, token) = issue_token(
                &mut changes,
                &TokenRequest {
                    name: &name,
                    role,
                    subscriptions: &subs,
                    created_by: None,
                },
            )
            .await?;
            let ids: Vec<&str> = subs.iter().map(SubscriptionId::as_str).collect();
            cli_audit(
                &mut changes,
                AuditAction::TokenCreate,
                &format!("token:{id}"),
                &format!("{name} {role} {}", ids.join(",")),
            )
            .await?;
            changes.commit().await?;
            eprintln!("Created {role} token {id} '{name}'. It is shown only now; store it safely:");
            println!("{token}");
        }
        TokenCommand::List => {
            let tokens = store.list_tokens(None).await?;
            if tokens.is_empty() {
                println!("No tokens. Create one with: meterbook token create --role operator");
            }
            for t in tokens {
                let subs: Vec<&str> = t.subscriptions.iter().map(SubscriptionId::as_str).collect();
                let state = match t.revoked_at {
                    Some(at) => format!("revoked {}", at.format("%Y-%m-%d %H:%M")),
                    None => "active".to_owned(),
                };
                println!(
                    "{:>4}  {:<24} {:<9} {:<22} created {}  {}",
                    t.id,
                    t.name,
                    t.role,
                    state,
                    t.created_at.format("%Y-%m-%d %H:%M"),
                    subs.join(",")
                );
            }
        }
        TokenCommand::Revoke { id } => {
            let mut changes = store.begin().await?;
            if changes.revoke_token(id, None).await? {
                let target = format!("token:{id}");
                cli_audit(&mut changes, AuditAction::TokenRevoke, &target, "").await?;
                changes.commit().await?;
                println!("Token {id} revoked.");
            } else {
                bail!("there is no active token with ID {id} (see `meterbook token list`)");
            }
        }
    }
    Ok(())
}

pub async fn audit(store: &dyn Store, args: AuditArgs) -> anyhow::Result<()> {
    let entries = store.audit_entries(args.limit, args.action).await?;
    for e in entries {
        if args.json {
            println!("{}", serde_json::to_string(&e)?);
        } else {
            println!(
                "{}  {:<16} {:<18} {:<24} {:<15} {}",
                e.at.format("%Y-%m-%d %H:%M:%S"),
                e.action,
                e.actor,
                e.target,
                e.address,
                e.detail
            );
        }
    }
    Ok(())
}

/// On first start of a store with no users, creates `admin` (an operator) with a random password
/// and prints it once.
pub async fn ensure_first_operator(store: &dyn Store) -> anyhow::Result<()> {
    if store.user_count().await? > 0 {
        return Ok(());
    }
    let password = generate_password()?;
    add_user(store, "admin", Role::Operator, &password, &[]).await?;
    println!("Created the first operator account. Sign in to the portal with:");
    println!("  username: admin");
    println!(
        "  password: {password}   (shown only now; change it with `meterbook user passwd admin`)"
    );
    Ok(())
}

/// The documented demo accounts: `operator`, and one tenant user per demo tenant (its name in
/// lower case), all with [`DEMO_PASSWORD`]. Existing accounts are left as they are.
pub async fn ensure_demo_accounts(store: &dyn Store) -> anyhow::Result<()> {
    let spec = DemoSpec::standard(chrono::Utc::now());
    let mut accounts = vec![(DEMO_OPERATOR.to_owned(), Role::Operator, Vec::new())];
    for tenant in demo::tenants(&spec) {
        accounts.push((
            demo_username(&tenant.name),
            Role::Tenant,
            vec![tenant.subscription_id.clone()],
        ));
    }
    println!("Demo accounts (password '{DEMO_PASSWORD}' for each; for trying Meterbook only):");
    for (name, role, subs) in accounts {
        if store.user_by_name(&name).await?.is_none() {
            add_user(store, &name, role, DEMO_PASSWORD, &subs).await?;
        }
        let subs: Vec<&str> = subs.iter().map(SubscriptionId::as_str).collect();
        println!("  {name:<12} {role:<9} {}", subs.join(","));
    }
    Ok(())
}

/// A demo tenant's username: its name in lower case, spaces as hyphens.
pub fn demo_username(tenant_name: &str) -> String {
    tenant_name.to_lowercase().replace(' ', "-")
}

/// Rotates and prints the demo tokens: a token is only ever shown when it is created, so each
/// demo start makes fresh ones and revokes the previous ones.
pub async fn print_demo_tokens(store: &dyn Store) -> anyhow::Result<()> {
    let spec = DemoSpec::standard(chrono::Utc::now());
    println!("Demo API tokens (new each start; earlier demo tokens are revoked):");
    let issue = |name: String, role: Role, subs: Vec<SubscriptionId>| async move {
        let mut changes = store.begin().await?;
        changes.revoke_tokens_named(&name).await?;
        let (_, token) = issue_token(
            &mut changes,
            &TokenRequest {
                name: &name,
                role,
                subscriptions: &subs,
                created_by: None,
            },
        )
        .await?;
        changes.commit().await?;
        anyhow::Ok((name, token))
    };
    let (name, token) = issue("demo-operator".into(), Role::Operator, vec![]).await?;
    println!("  {name:<24} operator  {token}");
    let (name, token) = issue("demo-provider".into(), Role::Provider, vec![]).await?;
    println!("  {name:<24} provider  {token}");
    if let Some(first) = demo::tenants(&spec).into_iter().next() {
        let (name, token) = issue(
            format!("demo-tenant-{}", demo_username(&first.name)),
            Role::Tenant,
            vec![first.subscription_id.clone()],
        )
        .await?;
        println!(
            "  {name:<24} tenant    {token}  (subscription {})",
            first.subscription_id
        );
    }
    Ok(())
}
