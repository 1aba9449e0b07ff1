//! `meterbook-server`: the ARM-compatible usage API, the ingest API, storage, the portal's host,
//! and the `meterbook` command line.

pub mod api;
pub mod api_error;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod chargeback;
pub mod cli;
pub mod demo;
pub mod directory_import;
pub mod directory_sync;
pub mod explore;
pub mod health;
pub mod identity;
pub mod limits;
pub mod metrics;
pub mod owners;
pub mod people;
pub mod portal;
pub mod request_id;
pub mod serve;
pub mod source;
pub mod state;
pub mod store;
pub mod webhook_targets;
pub mod webhooks;
pub mod widget;

/// A page of usage allocates a few strings per line and frees them all a moment later; mimalloc
/// does that several times faster than the system allocator. Declared here, it serves the
/// `meterbook` binary, its tests and its benchmarks alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::MatchedPath;
use axum::extract::State;
use axum::http::{header, HeaderValue, Request, Uri};
use axum::Router;
use leptos::config::{Env, LeptosOptions};
use leptos_axum::{generate_route_list, LeptosRoutes};
use meterbook_app::portal::SharedPortalData;
use meterbook_app::{shell, App};
use meterbook_core::page::TokenSigner;
use meterbook_core::rating::period::Tz;
use meterbook_core::usage::IngestWindow;
use meterbook_core::SubscriptionId;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::source::{StoreSource, UpstreamConfig, UpstreamSource, UsageSource};
use crate::state::AppState;
use crate::state::SessionPolicy;
use crate::store::Store;
use crate::webhook_targets::TargetPolicy;

/// The provider subscription when none is configured: Azure Stack Hub's default provider
/// subscription is the all-zero GUID in development kits.
pub const DEFAULT_PROVIDER_SUBSCRIPTION: &str = "00000000-0000-0000-0000-000000000000";

/// Everything needed to start a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub addr: SocketAddr,
    pub public_url: Option<String>,
    pub provider_subscription: SubscriptionId,
    /// Read usage from this upstream Azure Stack Hub instead of the store.
    pub upstream: Option<UpstreamConfig>,
    /// Session lifetimes; the cookie is marked `Secure` when `public_url` is https.
    pub sessions: SessionPolicy,
    /// Take the client address from `X-Forwarded-For` (only behind a reverse proxy that sets it).
    pub trust_forwarded_for: bool,
    /// Origins allowed to embed usage widgets (validated by `widget::parse_origins`).
    pub widget_origins: Vec<String>,
    /// Where cargo-leptos wrote the site (JS, WASM, CSS).
    pub site_root: String,
    /// Overrides the stored token-signing secret (`MB_SECRET`).
    pub secret: Option<String>,
    /// The operator's time zone: billing months start at its local midnight.
    pub time_zone: Tz,
    /// How statements are pushed to webhooks and retried.
    pub webhooks: webhooks::DeliveryPolicy,
    /// The usage times ingest accepts.
    pub ingest_window: IngestWindow,
    /// The internal hosts and ranges webhooks may deliver to.
    pub webhook_targets: TargetPolicy,
    /// How long slow clients may take to send headers and bodies.
    pub timeouts: serve::Timeouts,
    /// After SIGTERM, how long to keep serving while `/readyz` says not ready (so a load balancer
    /// can move traffic away) before refusing new connections.
    pub shutdown_delay: std::time::Duration,
    /// Record metrics and tag requests with ARM request IDs. On in every real server; off only
    /// to measure what they cost.
    pub telemetry: bool,
    /// Also serve `/metrics`, without authentication, on this address (an internal interface).
    pub metrics_addr: Option<SocketAddr>,
    /// The OpenID Connect issuers whose bearer tokens the API accepts.
    pub identity: identity::IdentityConfig,
}

/// The base of absolute links: the public URL, else the address this server listens on (an
/// unspecified address such as 0.0.0.0 is named by loopback, with a warning to set the URL).
fn public_base(public_url: Option<&str>, local: SocketAddr) -> String {
    if let Some(url) = public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let mut addr = local;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
        tracing::warn!(
            "listening on {local} without --public-url: links in API answers (nextLink) name \
             http://{addr}; set --public-url to the address clients use"
        );
    }
    format!("http://{addr}")
}

/// A server bound to its port, ready to run: tests bind port 0 and read the port back.
pub struct Application {
    listener: tokio::net::TcpListener,
    router: Router,
    sender: webhooks::Sender,
    header_read_timeout: std::time::Duration,
    health: health::Health,
    shutdown_delay: std::time::Duration,
    /// `--metrics-addr`'s listener and what it serves.
    metrics_listener: Option<(tokio::net::TcpListener, Router)>,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

impl Application {
    pub async fn build(config: ServerConfig, store: Arc<dyn Store>) -> anyhow::Result<Self> {
        let secret = match &config.secret {
            Some(s) if !s.is_empty() => s.as_bytes().to_vec(),
            _ => store.signing_secret().await?,
        };
        let metrics = if config.telemetry {
            metrics::install()
        } else {
            None
        };
        let metrics_listener = match (&metrics, config.metrics_addr) {
            (Some(handle), Some(addr)) => Some((
                tokio::net::TcpListener::bind(addr).await?,
                metrics::listener_router(handle.clone(), store.clone()),
            )),
            (None, Some(_)) => anyhow::bail!("--metrics-addr needs metrics, which are off"),
            _ => None,
        };
        // Bound after the metrics address: once the main port answers, both do.
        let listener = tokio::net::TcpListener::bind(config.addr).await?;
        let site = assets::Site::read(&config.site_root);
        let leptos_options = LeptosOptions::builder()
            .output_name("meterbook")
            .site_root(config.site_root.as_str())
            .site_pkg_dir("pkg")
            .site_addr(listener.local_addr()?)
            .env(Env::PROD)
            .hash_files(site.hash_file().is_some())
            // An absolute path: Leptos joins it to the binary's directory, which it then replaces.
            .hash_file(
                site.hash_file()
                    .map(|p| Arc::<str>::from(p.to_string_lossy()))
                    .unwrap_or_else(|| Arc::from("hash.txt")),
            )
            .build();
        let source: Arc<dyn UsageSource> = match &config.upstream {
            Some(upstream) => Arc::new(UpstreamSource::new(upstream.clone())?),
            None => Arc::new(StoreSource {
                store: store.clone(),
            }),
        };
        if let Some(every) = config.upstream.as_ref().and_then(|u| u.directory_sync) {
            directory_sync::spawn_periodic(store.clone(), source.clone(), every);
        }
        let health = health::Health {
            store: store.clone(),
            draining: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        };
        let webhook_wake = Arc::new(tokio::sync::Notify::new());
        let webhook_targets = Arc::new(config.webhook_targets.clone());
        let sender = webhooks::Sender::new(
            store.clone(),
            config.webhooks,
            webhook_targets.clone(),
            webhook_wake.clone(),
        )?;
        let mut sessions = config.sessions;
        sessions.secure_cookie |= config
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"));
        let state = AppState {
            store: store.clone(),
            source: source.clone(),
            upstream: config.upstream.is_some(),
            signer: Arc::new(TokenSigner::new(&secret)),
            provider_subscription: config.provider_subscription.clone(),
            public_url: config.public_url.clone(),
            public_base: public_base(config.public_url.as_deref(), listener.local_addr()?),
            trust_forwarded_for: config.trust_forwarded_for,
            widget_frame_ancestors: widget::frame_ancestors(&config.widget_origins),
            sessions,
            time_zone: config.time_zone,
            ingest_window: config.ingest_window,
            webhook_targets,
            webhook_wake,
            metrics: metrics.clone(),
            leptos_options: leptos_options.clone(),
            identity: Arc::new(identity::Identity::new(&config.identity)?),
        };
        let portal: SharedPortalData = Arc::new(portal::Portal {
            identity: state.identity.clone(),
            store,
            source,
            signer: state.signer.clone(),
            public_base: state.public_base.clone(),
            upstream: config.upstream.is_some(),
            time_zone: config.time_zone,
            sign_in: meterbook_app::portal::views::SignInOptions {
                directories: config
                    .identity
                    .issuers
                    .iter()
                    .filter(|i| i.signs_in())
                    .map(|i| {
                        let label = i.display_name.clone().unwrap_or_else(|| i.name.clone());
                        (i.name.clone(), label)
                    })
                    .collect(),
                local_accounts: config.identity.local_accounts,
                origins: config
                    .identity
                    .issuers
                    .iter()
                    .filter(|i| i.signs_in())
                    .filter_map(|i| url::Url::parse(&i.url).ok())
                    .map(|u| u.origin().ascii_serialization())
                    .collect(),
            },
        });
        let routes = generate_route_list(App);
        let files_and_pages = leptos_axum::file_and_error_handler::<AppState, _>(shell);
        let fallback = move |uri: Uri, state: State<AppState>, request: Request<Body>| {
            let files_and_pages = files_and_pages.clone();
            async move {
                if auth::guard::is_api_path(uri.path()) {
                    api::not_found(&uri)
                } else {
                    files_and_pages(uri, state, request).await
                }
            }
        };
        let router = Router::new()
            .merge(api::router(state.upstream))
            .merge(auth::sign_in::router())
            .merge(auth::oidc::router())
            .merge(widget::router())
            .merge(assets::router(&config.site_root, site))
            .route("/metrics", axum::routing::get(api::scrape::scrape))
            .route(
                "/costs/rate-card",
                axum::routing::post(portal::upload_rate_card)
                    .layer(axum::extract::DefaultBodyLimit::max(5 * 1024 * 1024)),
            )
            .route(
                "/costs/deliveries/retry",
                axum::routing::post(portal::retry_delivery),
            )
            .route(
                "/tenants/save",
                axum::routing::post(portal::save_subscription),
            )
            .route(
                "/identity/rules/add",
                axum::routing::post(portal::add_claim_rule),
            )
            .route(
                "/identity/rules/remove",
                axum::routing::post(portal::remove_claim_rule),
            )
            .route(
                "/tenants/import",
                axum::routing::post(portal::import_directory)
                    .layer(axum::extract::DefaultBodyLimit::max(9 * 1024 * 1024)),
            )
            .leptos_routes_with_context(
                &state,
                routes,
                move || leptos::context::provide_context(portal.clone()),
                {
                    let options = leptos_options.clone();
                    move || shell(options.clone())
                },
            )
            .fallback(fallback)
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                auth::guard::guard,
            ))
            // Pages and API answers are the viewer's own and current: a browser asks again each
            // time and nothing shared keeps them (ARM answers say `no-cache` too). Only the
            // hashed code and stylesheet are cached for long (`assets.rs`).
            .layer(SetResponseHeaderLayer::if_not_present(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-cache"),
            ))
            .layer(SetResponseHeaderLayer::if_not_present(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ))
            // Only the widget may be framed (it sets its own policy); nothing else, against
            // clickjacking.
            .layer(SetResponseHeaderLayer::if_not_present(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("frame-ancestors 'none'"),
            ))
            .layer(SetResponseHeaderLayer::if_not_present(
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            ))
            .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
                config.timeouts.body_idle,
            ))
            .layer(axum::middleware::from_fn(limits::refuse_declared_oversize));
        let router = if config.telemetry {
            router
                .layer(axum::middleware::from_fn(request_id::request_ids))
                .layer(axum::middleware::from_fn(metrics::track_requests))
        } else {
            router
        };
        let router = router
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
            )
            .with_state(state);
        Ok(Self {
            metrics_listener,
            metrics,
            listener,
            router,
            sender,
            header_read_timeout: config.timeouts.header_read,
            health,
            shutdown_delay: config.shutdown_delay,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves (and sends webhook deliveries) until the process receives Ctrl-C or SIGTERM; then
    /// `/readyz` says not ready for the shutdown delay while everything is still served, and
    /// then new connections are refused and in-flight requests and delivery attempts finish.
    pub async fn run(self) -> std::io::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let sender = tokio::spawn(self.sender.run(stopped));
        // ARM paths are normalised before routing, so the outer router only hands every request
        // on; it is there to give handlers the client's address.
        let normalized = tower::ServiceBuilder::new()
            .map_request(api::normalize_arm_path::<Body>)
            .service(self.router);
        let app = Router::new()
            .merge(health::router(self.health.clone()))
            .fallback_service(normalized);
        if let Some((listener, router)) = self.metrics_listener {
            let mut stopped = stop.subscribe();
            let until_stopped = async move {
                let _ = stopped.changed().await;
            };
            let timeout = self.header_read_timeout;
            tokio::spawn(serve::serve(listener, router, timeout, until_stopped));
        }
        if let Some(handle) = self.metrics {
            // Folds histogram samples between scrapes, so memory stays bounded without them.
            tokio::spawn(async move {
                let mut every = tokio::time::interval(metrics::UPKEEP_EVERY);
                loop {
                    every.tick().await;
                    handle.run_upkeep();
                }
            });
        }
        let draining = self.health.draining.clone();
        let delay = self.shutdown_delay;
        let shutdown = async move {
            shutdown_signal().await;
            draining.store(true, std::sync::atomic::Ordering::Relaxed);
            if !delay.is_zero() {
                tracing::info!(
                    "draining: /readyz says not ready; still serving for {delay:?} before \
                     refusing new connections"
                );
                tokio::time::sleep(delay).await;
            }
        };
        let served = serve::serve(self.listener, app, self.header_read_timeout, shutdown).await;
        // The sender's attempts under way end within their timeout; one cut short is retried by
        // a server that runs on, once its claim runs out.
        let _ = stop.send(true);
        let _ = sender.await;
        served
    }
}

/// One span per request, named by the route it matched (not the raw path, which holds IDs).
fn request_span(request: &Request<Body>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .unwrap_or("(unmatched)");
    tracing::info_span!(
        "request",
        method = %request.method(),
        route,
        request.id = tracing::field::Empty,
        client_request.id = tracing::field::Empty,
        correlation.id = tracing::field::Empty,
        token.id = tracing::field::Empty,
        user.id = tracing::field::Empty
    )
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
