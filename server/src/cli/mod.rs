//! The `meterbook` command line: `serve` (default), `demo`, `ingest`, `usage`, `rates`,
//! `chargeback`, `webhooks`, `user`, `token`, `audit` and `migrate`.

mod accounts;
mod billing;
mod config;
mod identity;
mod subscriptions;
mod webhooks;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use chrono::Utc;
use clap::{Args, Parser, Subcommand, ValueEnum};
use meterbook_core::audit::AuditAction;
use meterbook_core::csv::write_csv_record;
use meterbook_core::export::{usage_csv_fields, USAGE_CSV_COLUMNS};
use meterbook_core::page::PAGE_SIZE;
use meterbook_core::query::{AggregateQuery, UsageQuery, API_VERSION};
use meterbook_core::rating::period::parse_time_zone;
use meterbook_core::usage::{parse_batch, AggregateApi, AggregateView, IngestWindow};
use meterbook_core::SubscriptionId;

use crate::audit;
use crate::demo::{self, DemoSpec};
use crate::source::credential::{ClientCertificate, UpstreamCredential};
use crate::source::UpstreamConfig;
use crate::state::SessionPolicy;
use crate::store::{self, AggregateRequest, Store, UsageStore};
use crate::{Application, ServerConfig, DEFAULT_PROVIDER_SUBSCRIPTION};
use accounts::{AuditArgs, TokenCommand, UserCommand};
use billing::{ChargebackArgs, RatesCommand};
use webhooks::WebhookCommand;

#[derive(Parser, Debug)]
#[command(
    name = "meterbook",
    version,
    about = "Usage and chargeback for Azure Stack Hub-style private clouds"
)]
struct Cli {
    /// The store: sqlite://FILE (created if absent), or postgres://USER@HOST/DATABASE shared by
    /// any number of servers (add ?options=-c%20search_path%3DSCHEMA for a schema of its own).
    #[arg(
        long,
        global = true,
        env = "MB_DATABASE_URL",
        default_value = "sqlite://meterbook.db"
    )]
    database: String,
    /// How log lines are written to standard error: text for people, JSON lines for a log
    /// collector (each with the request's span fields: route, request IDs, token and user).
    #[arg(long, global = true, env = "MB_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// A TOML file setting any of these flags and serve's (keys are flag names: `public-url =
    /// "https://..."`); flags and environment variables override it.
    #[arg(long, global = true, env = "MB_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the API and the portal (the default command).
    Serve(Box<ServeArgs>),
    /// Write simulated resource-provider usage into the store.
    Demo(DemoArgs),
    /// Ingest usage records from files (JSON array, ARM page or NDJSON; `-` reads stdin).
    Ingest {
        files: Vec<PathBuf>,
        #[command(flatten)]
        window: WindowArgs,
    },
    /// Read usage aggregates, like Get-UsageAggregates (filters by reported time).
    Usage(UsageArgs),
    /// Import or export the rate card that prices usage (CSV or JSON).
    #[command(subcommand)]
    Rates(RatesCommand),
    /// Print a billing period's chargeback statement, by subscription or by tag.
    Chargeback(ChargebackArgs),
    /// Manage the tenant directory: subscriptions' names, owners, states, offers and plans.
    #[command(subcommand)]
    Subscriptions(subscriptions::SubscriptionCommand),
    /// Manage the webhooks statements are pushed to, and read their delivery log.
    #[command(subcommand)]
    Webhooks(WebhookCommand),
    /// Manage the people who sign in to the portal.
    #[command(subcommand)]
    User(UserCommand),
    /// Map the cloud directory's tokens (Entra ID, AD FS) to roles: claim rules.
    #[command(subcommand)]
    Identity(identity::IdentityCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Show the audit log: sign-ins, sign-outs, token and user changes, exports.
    Audit(AuditArgs),
    /// Copy a SQLite store into an empty PostgreSQL database, then check that both hold the
    /// same (row counts, and the count and sum of usage).
    Migrate(MigrateArgs),
    /// Write a consistent copy of the SQLite store to a new file, while servers keep serving
    /// (PostgreSQL: use pg_dump; the message says how).
    Backup {
        /// The file to write; it must not exist.
        #[arg(long)]
        to: PathBuf,
    },
    /// Check a configuration (`--config FILE`) or print an example of one.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Replace the SQLite store with a backup (stop the servers first).
    Restore {
        /// The backup `meterbook backup` wrote.
        #[arg(long)]
        from: PathBuf,
        /// Replace a store that already exists.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Check the configuration `serve` would run with (file, environment and flags), and print
    /// each value with where it came from.
    Check,
    /// Print a configuration file with every key, its help and its default, commented out.
    Example,
}

#[derive(Args, Debug)]
struct MigrateArgs {
    /// The store to copy: sqlite://FILE.
    #[arg(long)]
    from: String,
    /// The empty PostgreSQL database to copy into: postgres://USER@HOST/DATABASE.
    #[arg(long)]
    to: String,
}

#[derive(Args, Debug, Clone)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "MB_ADDR", default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    /// A TOML file naming the OpenID Connect issuers (Entra ID, AD FS, ...) whose bearer tokens
    /// the API accepts, mapped to roles by `meterbook identity rules`.
    #[arg(long, env = "MB_IDENTITY_CONFIG")]
    identity_config: Option<PathBuf>,
    /// The URL clients reach this server at, when behind a proxy (used in nextLink).
    #[arg(long, env = "MB_PUBLIC_URL")]
    public_url: Option<String>,
    /// Seed demo data into an empty store, create the documented demo accounts and print demo
    /// API tokens.
    #[arg(long, env = "MB_DEMO")]
    demo: bool,
    /// The provider subscription of the provider usage API's path.
    #[arg(long, env = "MB_PROVIDER_SUBSCRIPTION", default_value = DEFAULT_PROVIDER_SUBSCRIPTION)]
    provider_subscription: String,
    /// Where the built site (JS, WASM, CSS) is.
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    site_root: String,
    /// Front this upstream Azure Stack Hub (https://adminmanagement.<region>.<domain>): usage is
    /// read from it with Meterbook's own credential, in each caller's scope.
    #[arg(long, env = "MB_UPSTREAM")]
    upstream: Option<String>,
    /// A file holding the bearer token for the upstream (re-read on every call), kept fresh by
    /// another job; or use --upstream-client-id.
    #[arg(
        long,
        env = "MB_UPSTREAM_TOKEN_FILE",
        conflicts_with = "upstream_client_id"
    )]
    upstream_token_file: Option<PathBuf>,
    /// A service principal's client ID: Meterbook gets and renews its own upstream tokens by
    /// client credentials from the identity provider the hub's /metadata/endpoints names.
    #[arg(long, env = "MB_UPSTREAM_CLIENT_ID")]
    upstream_client_id: Option<String>,
    /// A file holding that service principal's secret (read once, at start).
    #[arg(
        long,
        env = "MB_UPSTREAM_CLIENT_SECRET_FILE",
        requires = "upstream_client_id",
        conflicts_with = "upstream_client_certificate_file"
    )]
    upstream_client_secret_file: Option<PathBuf>,
    /// Or a PEM file holding that service principal's certificate and unencrypted RSA private
    /// key (read once, at start): token requests carry an assertion signed with the key.
    #[arg(
        long,
        env = "MB_UPSTREAM_CLIENT_CERTIFICATE_FILE",
        requires = "upstream_client_id"
    )]
    upstream_client_certificate_file: Option<PathBuf>,
    /// The Entra ID directory (tenant ID or domain) of a hub that signs in with Entra ID; not
    /// needed for AD FS.
    #[arg(long, env = "MB_UPSTREAM_TENANT")]
    upstream_tenant: Option<String>,
    /// A CA certificate (PEM) to trust for the hub and its identity provider.
    #[arg(long, env = "MB_UPSTREAM_CA_FILE")]
    upstream_ca_file: Option<PathBuf>,
    /// The upstream's provider subscription.
    #[arg(long, env = "MB_UPSTREAM_SUBSCRIPTION", default_value = DEFAULT_PROVIDER_SUBSCRIPTION)]
    upstream_subscription: String,
    /// How often, in minutes, the tenant directory is read from the upstream's admin API (also
    /// at start, and on demand with POST /api/v1/directory/sync); 0 only on demand.
    #[arg(long, env = "MB_UPSTREAM_DIRECTORY_SYNC_MINUTES", default_value_t = 15)]
    upstream_directory_sync_minutes: u64,
    /// Behind a reverse proxy that sets X-Forwarded-For: take the client address (for sign-in
    /// limits and the audit log) from its last entry. Do not set it otherwise: clients could
    /// then choose their own address.
    #[arg(long, env = "MB_TRUST_FORWARDED_FOR")]
    trust_forwarded_for: bool,
    /// Origins whose pages may embed usage widgets (CSP frame-ancestors), separated by spaces or
    /// commas: `https://intranet.example.com`, or `*` for any. Without it, only Meterbook's own
    /// pages may frame a widget.
    #[arg(long, env = "MB_WIDGET_ORIGINS", default_value = "")]
    widget_origins: String,
    /// Minutes a portal session may sit unused before it ends.
    #[arg(long, env = "MB_SESSION_IDLE_MINUTES", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=10_080))]
    session_idle_minutes: u64,
    /// The operator's IANA time zone (Europe/Berlin, UTC): billing months start and end at its
    /// local midnight.
    #[arg(long, env = "MB_TIME_ZONE", default_value = "UTC")]
    time_zone: String,
    /// Hours after sign-in a portal session ends, however active.
    #[arg(long, env = "MB_SESSION_MAX_HOURS", default_value_t = 12, value_parser = clap::value_parser!(u64).range(1..=720))]
    session_max_hours: u64,
    #[command(flatten)]
    window: WindowArgs,
    /// Internal hosts and CIDR ranges webhooks may deliver to (`billing.corp 10.20.0.0/16`,
    /// space-separated). Without it, webhooks reach public addresses only.
    #[arg(long, env = "MB_WEBHOOK_ALLOW", default_value = "")]
    webhook_allow: String,
    /// After SIGTERM, keep serving this long with /readyz answering 503, so a load balancer stops
    /// sending traffic before connections are refused (0: refuse them at once).
    #[arg(long, env = "MB_SHUTDOWN_DELAY_SECONDS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=300))]
    shutdown_delay_seconds: u64,
    /// Also serve Prometheus metrics at /metrics on this address, without authentication (bind
    /// it to an internal interface). On the main address, /metrics takes an operator token.
    #[arg(long, env = "MB_METRICS_ADDR")]
    metrics_addr: Option<SocketAddr>,
}

/// The usage times ingest accepts (`serve` and `ingest` alike).
#[derive(Args, Debug, Clone)]
struct WindowArgs {
    /// The earliest usage start accepted (a date or RFC 3339 time); older records are refused.
    #[arg(long, env = "MB_EARLIEST_USAGE", default_value = IngestWindow::DEFAULT_EARLIEST)]
    earliest_usage: String,
}

impl WindowArgs {
    fn parse(&self) -> anyhow::Result<IngestWindow> {
        let raw = &self.earliest_usage;
        let earliest = meterbook_core::time::parse_date_input(raw)
            .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
            .or_else(|_| meterbook_core::time::parse_time_input(raw).map(|t| t.to_utc()))
            .map_err(|e| anyhow::anyhow!("--earliest-usage: {e}"))?;
        Ok(IngestWindow { earliest })
    }
}

#[derive(Args, Debug, Clone, Copy)]
struct DemoArgs {
    #[arg(long, default_value_t = 8)]
    tenants: usize,
    #[arg(long, default_value_t = 30)]
    days: u32,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

#[derive(Args, Debug)]
struct UsageArgs {
    /// The subscription to read.
    #[arg(long, conflicts_with = "all", required_unless_present = "all")]
    subscription: Option<String>,
    /// Read every subscription.
    #[arg(long)]
    all: bool,
    /// Reported start time (RFC 3339, UTC, on the hour).
    #[arg(long)]
    from: String,
    /// Reported end time (RFC 3339, UTC, on the hour, not in the future).
    #[arg(long)]
    to: String,
    #[arg(long, value_enum, default_value_t = GranularityArg::Daily)]
    granularity: GranularityArg,
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
enum GranularityArg {
    Hourly,
    Daily,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
pub(crate) enum Format {
    Csv,
    Json,
}

/// Runs the command line; errors are printed for people, with a non-zero exit code.
pub fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Before parsing: the file's values reach clap as environment variables.
    let loaded = match config::load(&args) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(&args);
    init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, &loaded, &args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => logs.try_init(),
        LogFormat::Json => logs.json().try_init(),
    };
}

async fn run(cli: Cli, loaded: &config::Loaded, args: &[std::ffi::OsString]) -> anyhow::Result<()> {
    if let Some(path) = &loaded.path {
        tracing::info!(file = %path.display(), keys = loaded.from_file.len(), "configuration file read");
    }
    let command = cli
        .command
        .unwrap_or_else(|| Command::Serve(Box::new(ServeArgs::parse_default())));
    if let Command::Migrate(args) = &command {
        // Names its own two databases; --database plays no part.
        return migrate(args).await;
    }
    if let Command::Config(what) = &command {
        return match what {
            ConfigCommand::Check => config::check(loaded, args),
            ConfigCommand::Example => {
                use std::io::Write;
                Ok(std::io::stdout().write_all(config::example().as_bytes())?)
            }
        };
    }
    if let Command::Restore { from, force } = &command {
        // Replaces the store rather than opening it.
        return restore(&cli.database, from, *force).await;
    }
    let store = store::open(&cli.database)
        .await
        .with_context(|| format!("opening {}", cli.database))?;
    match command {
        Command::Serve(args) => serve(*args, store).await,
        Command::Demo(args) => {
            let spec = DemoSpec {
                tenants: args.tenants,
                days: args.days,
                seed: args.seed,
                now: Utc::now(),
            };
            seed_demo(store.as_ref(), &spec).await?;
            Ok(())
        }
        Command::Ingest { files, window } => {
            ingest_files(store.as_ref(), &files, window.parse()?).await
        }
        Command::Usage(args) => print_usage(store.clone(), args).await,
        Command::Rates(cmd) => billing::rates(store.as_ref(), cmd).await,
        Command::Chargeback(args) => billing::chargeback(store.as_ref(), args).await,
        Command::Webhooks(cmd) => webhooks::webhooks(store.as_ref(), cmd).await,
        Command::Subscriptions(cmd) => subscriptions::subscriptions(store.as_ref(), cmd).await,
        Command::User(cmd) => accounts::user(store.as_ref(), cmd).await,
        Command::Identity(cmd) => identity::identity(store.as_ref(), cmd).await,
        Command::Token(cmd) => accounts::token(store.as_ref(), cmd).await,
        Command::Audit(args) => accounts::audit(store.as_ref(), args).await,
        Command::Migrate(args) => migrate(&args).await,
        Command::Backup { to } => backup(store.as_ref(), &to).await,
        Command::Restore { .. } | Command::Config(_) => {
            unreachable!("handled before the store is opened")
        }
    }
}

async fn backup(store: &dyn Store, to: &std::path::Path) -> anyhow::Result<()> {
    if to.exists() {
        bail!("{} exists; a backup is written to a new file", to.display());
    }
    store.backup_to(to).await?;
    let size = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    println!(
        "Backed up the store to {} ({size} bytes). Restore it with \
         `meterbook restore --from {}` while no server runs.",
        to.display(),
        to.display()
    );
    Ok(())
}

/// Checks a backup (by opening a copy of it as a store) and then puts the copy in the store's
/// place in one rename, so a failed restore leaves the store as it was.
async fn restore(database: &str, from: &std::path::Path, force: bool) -> anyhow::Result<()> {
    let Some(target) = database
        .strip_prefix("sqlite://")
        .or_else(|| database.strip_prefix("sqlite:"))
        .map(|rest| PathBuf::from(rest.split('?').next().unwrap_or(rest)))
    else {
        bail!(
            "restore replaces a SQLite store; a PostgreSQL store is restored with pg_restore \
             (see the README)"
        );
    };
    if !from.is_file() {
        bail!("{} is not a backup file", from.display());
    }
    if target.exists() && !force {
        bail!(
            "{} exists; stop every server using it, then restore with --force to replace it",
            target.display()
        );
    }
    let staged = target.with_extension("restoring");
    let _ = std::fs::remove_file(&staged);
    std::fs::copy(from, &staged).with_context(|| format!("copying {}", from.display()))?;
    // Opening checks it is a Meterbook store and brings an older backup's schema up to date.
    let checked = async {
        let copy = store::SqliteStore::open(&format!("sqlite://{}", staged.display())).await?;
        let records = copy.record_count().await?;
        copy.close().await?;
        anyhow::Ok(records)
    }
    .await;
    let records = match checked {
        Ok(records) => records,
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            return Err(e.context(format!("{} is not a Meterbook store", from.display())));
        }
    };
    for stale in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{stale}", target.display()));
        let _ = std::fs::remove_file(format!("{}{stale}", staged.display()));
    }
    std::fs::rename(&staged, &target)
        .with_context(|| format!("putting the backup in place of {}", target.display()))?;
    println!(
        "Restored {} from {}: {records} usage records.",
        target.display(),
        from.display()
    );
    Ok(())
}

async fn migrate(args: &MigrateArgs) -> anyhow::Result<()> {
    let report = store::copy::sqlite_to_postgres(&args.from, &args.to, |copied| {
        eprintln!("copied {copied} usage records");
    })
    .await
    .with_context(|| format!("copying {} to {}", args.from, args.to))?;
    println!("{:<26} {:>12} {:>12}", "table", "source", "target");
    for (table, source, target) in &report.tables {
        println!("{table:<26} {source:>12} {target:>12}");
    }
    let ((n_from, sum_from), (n_to, sum_to)) = report.usage;
    println!("{:<26} {n_from:>12} {n_to:>12}", "usage records");
    println!(
        "{:<26} {sum_from:>12.3} {sum_to:>12.3}",
        "usage quantity (sum)"
    );
    if !report.matches() {
        bail!(
            "the copy does not match its source (see the counts above); the target is incomplete"
        );
    }
    println!("the copy matches its source");
    Ok(())
}

impl ServeArgs {
    /// `meterbook` with no command: serve with every default (and its environment variables).
    fn parse_default() -> Self {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            serve: ServeArgs,
        }
        Only::parse_from(["meterbook"]).serve
    }
}

/// The upstream service principal `client_id`, with the secret or certificate its flags name.
fn service_principal(args: &ServeArgs, client_id: &str) -> anyhow::Result<UpstreamCredential> {
    let read = |flag: &str, path: &PathBuf| {
        let text =
            std::fs::read(path).map_err(|e| anyhow::anyhow!("{flag} {}: {e}", path.display()))?;
        if text.iter().all(u8::is_ascii_whitespace) {
            bail!("{flag} {} is empty", path.display());
        }
        Ok(text)
    };
    let client_id = client_id.to_owned();
    let tenant = args.upstream_tenant.clone();
    match (
        &args.upstream_client_secret_file,
        &args.upstream_client_certificate_file,
    ) {
        (Some(path), _) => {
            let text = read("--upstream-client-secret-file", path)?;
            let secret = String::from_utf8(text)
                .map_err(|_| anyhow::anyhow!("--upstream-client-secret-file is not UTF-8 text"))?
                .trim()
                .to_owned();
            Ok(UpstreamCredential::ClientSecret {
                client_id,
                secret,
                tenant,
            })
        }
        (None, Some(path)) => {
            let text = read("--upstream-client-certificate-file", path)?;
            let certificate = ClientCertificate::from_pem(&text).map_err(|e| {
                anyhow::anyhow!("--upstream-client-certificate-file {}: {e}", path.display())
            })?;
            Ok(UpstreamCredential::ClientCertificate {
                client_id,
                certificate,
                tenant,
            })
        }
        (None, None) => bail!(
            "--upstream-client-id needs --upstream-client-secret-file or \
             --upstream-client-certificate-file"
        ),
    }
}

impl ServeArgs {
    /// The server these flags describe, after every check `serve` makes before it opens the
    /// store (also what `config check` runs).
    fn server_config(&self) -> anyhow::Result<ServerConfig> {
        let args = self;
        let provider_subscription = SubscriptionId::parse(&args.provider_subscription)
            .map_err(|e| anyhow::anyhow!("--provider-subscription: {e}"))?;
        let public_url = args
            .public_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_owned());
        if let Some(url) = &public_url {
            if !(url.starts_with("http://") || url.starts_with("https://"))
                || url::Url::parse(url).is_err()
            {
                bail!("--public-url must be an http:// or https:// URL, got '{url}'");
            }
        }
        let credential = match (&args.upstream_token_file, &args.upstream_client_id) {
            (Some(file), _) => Some(UpstreamCredential::TokenFile(file.clone())),
            (None, Some(client_id)) => Some(service_principal(args, client_id)?),
            (None, None) => None,
        };
        let upstream = match (&args.upstream, credential) {
            (Some(_), None) => bail!(
                "--upstream needs a credential: --upstream-token-file, or --upstream-client-id \
                 with --upstream-client-secret-file or --upstream-client-certificate-file"
            ),
            (Some(url), Some(credential)) => {
                if !(url.starts_with("http://") || url.starts_with("https://"))
                    || url::Url::parse(url).is_err()
                {
                    bail!("--upstream must be an https:// (or http://) URL, got '{url}'");
                }
                let subscription = SubscriptionId::parse(&args.upstream_subscription)
                    .map_err(|e| anyhow::anyhow!("--upstream-subscription: {e}"))?;
                let mut config = UpstreamConfig::new(url, credential, subscription);
                config.ca_file = args.upstream_ca_file.clone();
                config.directory_sync = (args.upstream_directory_sync_minutes > 0).then(|| {
                    std::time::Duration::from_secs(args.upstream_directory_sync_minutes * 60)
                });
                Some(config)
            }
            _ => None,
        };
        if upstream.is_some() && args.demo {
            bail!("--demo seeds the embedded store; it cannot be combined with --upstream");
        }
        Ok(ServerConfig {
            addr: args.addr,
            public_url,
            provider_subscription,
            upstream,
            trust_forwarded_for: args.trust_forwarded_for,
            widget_origins: crate::widget::parse_origins(&args.widget_origins)
                .map_err(|e| anyhow::anyhow!("--widget-origins: {e}"))?,
            sessions: SessionPolicy {
                idle: std::time::Duration::from_secs(args.session_idle_minutes * 60),
                absolute: std::time::Duration::from_secs(args.session_max_hours * 3_600),
                secure_cookie: false,
            },
            site_root: args.site_root.clone(),
            secret: std::env::var("MB_SECRET").ok(),
            time_zone: parse_time_zone(&args.time_zone)
                .map_err(|e| anyhow::anyhow!("--time-zone: {e}"))?,
            webhooks: crate::webhooks::DeliveryPolicy::default(),
            ingest_window: args.window.parse()?,
            webhook_targets: crate::webhook_targets::TargetPolicy::parse(&args.webhook_allow)
                .map_err(|e| anyhow::anyhow!("--webhook-allow: {e}"))?,
            timeouts: crate::serve::Timeouts::default(),
            shutdown_delay: std::time::Duration::from_secs(args.shutdown_delay_seconds),
            telemetry: true,
            metrics_addr: args.metrics_addr,
            identity: match &args.identity_config {
                Some(path) => crate::identity::IdentityConfig::load(path)?,
                None => Default::default(),
            },
        })
    }
}

async fn serve(args: ServeArgs, store: Arc<dyn Store>) -> anyhow::Result<()> {
    let config = args.server_config()?;
    if args.demo {
        if store.record_count().await? == 0 {
            seed_demo(store.as_ref(), &DemoSpec::standard(Utc::now())).await?;
        } else {
            ensure_demo_rate_card(store.as_ref()).await?;
            ensure_demo_directory(store.as_ref()).await?;
        }
        accounts::ensure_demo_accounts(store.as_ref()).await?;
        accounts::print_demo_tokens(store.as_ref()).await?;
    } else {
        accounts::ensure_first_operator(store.as_ref()).await?;
    }
    let public_url = config.public_url.clone();
    let upstream = config.upstream.clone();
    let app = Application::build(config, store).await?;
    let url = public_url.unwrap_or_else(|| format!("http://{}:{}", args.addr.ip(), app.port()));
    println!("Meterbook is serving at {url}  (Ctrl-C to stop)");
    if let Some(upstream) = &upstream {
        println!(
            "Usage is read from the upstream Azure Stack Hub at {}",
            upstream.base_url
        );
    }
    app.run().await?;
    Ok(())
}

/// Writes the demo records (idempotently: re-running adds nothing) and, when no rate card is
/// saved yet, the demo rate card; reports what was written.
async fn seed_demo(store: &dyn Store, spec: &DemoSpec) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let records = demo::records(spec);
    let mut total = crate::store::IngestOutcome::default();
    for batch in records.chunks(20_000) {
        let o = store.ingest(batch, spec.now).await?;
        total.accepted += o.accepted;
        total.duplicates += o.duplicates;
        total.corrected += o.corrected;
    }
    println!(
        "Demo data: {} tenants x {} days, seed {}: {} records ({} new, {} already present) in {:.1}s",
        spec.tenants,
        spec.days,
        spec.seed,
        records.len(),
        total.accepted,
        total.duplicates + total.corrected,
        started.elapsed().as_secs_f64()
    );
    for t in demo::tenants(spec) {
        println!(
            "  {:<12} {}  Department={} CostCenter={}",
            t.name, t.subscription_id, t.department, t.cost_center
        );
    }
    ensure_demo_rate_card(store).await?;
    ensure_demo_directory(store).await
}

/// Saves the demo rate card when no rate card is saved yet (a store seeded before Meterbook had
/// rate cards gets one too).
async fn ensure_demo_rate_card(store: &dyn Store) -> anyhow::Result<()> {
    if store.rate_card().await?.is_none() {
        let mut changes = store.begin().await?;
        let revision = changes.save_rate_card(&demo::rate_card(), "demo").await?;
        changes.commit().await?;
        println!("Demo rate card (USD) saved as revision {revision}");
    }
    Ok(())
}

/// Names the demo tenants the directory does not know yet (a store seeded before Meterbook had a
/// directory gets them too), with one audit entry.
async fn ensure_demo_directory(store: &dyn Store) -> anyhow::Result<()> {
    let demo = demo::directory(&DemoSpec::standard(Utc::now()));
    let ids: Vec<SubscriptionId> = demo.iter().map(|e| e.subscription_id.clone()).collect();
    let known = store.directory_entries(&ids).await?;
    let missing: Vec<_> = demo
        .into_iter()
        .filter(|e| !known.iter().any(|k| k.subscription_id == e.subscription_id))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut changes = store.begin().await?;
    for entry in &missing {
        changes
            .put_directory_entry(entry, crate::store::EntrySource::Local)
            .await?;
    }
    {
        let added = missing.len();
        let detail = format!("{added} demo subscriptions named");
        audit::record(
            &mut changes,
            audit::Event {
                actor: "demo",
                action: AuditAction::SubscriptionImport,
                target: "",
                address: "",
                detail: &detail,
            },
        )
        .await?;
        println!("Demo directory: {added} subscriptions named, with owners, offers and plans");
    }
    changes.commit().await?;
    Ok(())
}

async fn ingest_files(
    store: &dyn UsageStore,
    files: &[PathBuf],
    window: IngestWindow,
) -> anyhow::Result<()> {
    if files.is_empty() {
        bail!("name at least one file to ingest (or - for standard input)");
    }
    for file in files {
        let text = if file.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin()).context("reading standard input")?
        } else {
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
        };
        let now = Utc::now();
        let parsed = parse_batch(&text, usize::MAX)
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        let mut records = Vec::with_capacity(parsed.len());
        let mut bad = Vec::new();
        for (i, item) in parsed.into_iter().enumerate() {
            match item.and_then(|r| r.check_received_at(now, window).map(|()| r)) {
                Ok(r) => records.push(r),
                Err(e) => bad.push(format!("  record [{i}]: {e}")),
            }
        }
        if !bad.is_empty() {
            bail!(
                "{}: {} invalid records, nothing written:\n{}",
                file.display(),
                bad.len(),
                bad.join("\n")
            );
        }
        let o = store.ingest(&records, now).await?;
        println!(
            "{}: accepted {}, duplicates {}, corrected {}",
            file.display(),
            o.accepted,
            o.duplicates,
            o.corrected
        );
    }
    Ok(())
}

async fn print_usage(store: Arc<dyn Store>, args: UsageArgs) -> anyhow::Result<()> {
    let granularity = match args.granularity {
        GranularityArg::Hourly => "Hourly",
        GranularityArg::Daily => "Daily",
    };
    // The same validation as the API's, so the CLI and the API agree on what a query is.
    let params: Vec<(String, String)> = vec![
        ("api-version".into(), API_VERSION.into()),
        ("reportedStartTime".into(), args.from.clone()),
        ("reportedEndTime".into(), args.to.clone()),
        ("aggregationGranularity".into(), granularity.into()),
    ];
    let query =
        UsageQuery::parse(&params, Utc::now()).map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let subscription = match (&args.subscription, args.all) {
        (Some(s), false) => {
            Some(SubscriptionId::parse(s).map_err(|e| anyhow::anyhow!("--subscription: {e}"))?)
        }
        _ => None,
    };
    let mut request = AggregateRequest {
        subscription,
        query: AggregateQuery {
            show_details: true,
            ..query.aggregate
        },
        after: None,
        limit: PAGE_SIZE,
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    use std::io::Write;
    let mut first = true;
    match args.format {
        Format::Csv => {
            let mut header = String::new();
            write_csv_record(&mut header, &USAGE_CSV_COLUMNS);
            out.write_all(header.as_bytes())?;
        }
        Format::Json => out.write_all(b"[")?,
    }
    let mut owners = crate::owners::Owners::new(store.clone());
    loop {
        let page = store.aggregates(&request).await?;
        owners.learn(&page.items).await?;
        for line in &page.items {
            match args.format {
                Format::Csv => {
                    let mut row = String::new();
                    let owner = owners.of(&line.subscription_id);
                    write_csv_record(&mut row, &usage_csv_fields(line, owner));
                    out.write_all(row.as_bytes())?;
                }
                Format::Json => {
                    if !first {
                        out.write_all(b",")?;
                    }
                    let aggregate = AggregateView {
                        line,
                        api: AggregateApi::Tenant,
                        path_subscription: &line.subscription_id,
                    };
                    out.write_all(b"\n")?;
                    serde_json::to_writer(&mut out, &aggregate)?;
                }
            }
            first = false;
        }
        match page.next {
            Some(key) => request.after = Some(key),
            None => break,
        }
    }
    if let Format::Json = args.format {
        out.write_all(b"\n]\n")?;
    }
    out.flush()?;
    Ok(())
}
