//! The embeddable usage widget. `GET /widget?token=…` answers a small, self-contained HTML page
//! (no script, no navigation): one subscription's usage this month so far by meter category, a
//! small chart and when the usage was last updated. `GET /widget.js` is a script that inserts
//! that page as an `<iframe>` where it is placed.
//!
//! Other sites may frame the widget only if the operator allowed their origins
//! (`--widget-origins`, sent as CSP `frame-ancestors`); every other page refuses to be framed.
//! A token that is unknown, expired or revoked, or whose creator can no longer read the
//! subscription, gets a page that says so and holds no usage.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use leptos::prelude::*;
use meterbook_app::chart::{explorer_chart, RenderedChart};
use meterbook_app::format::amount;
use meterbook_app::static_html::to_html;
use meterbook_core::access::{Access, Role};
use meterbook_core::explore::{
    DirectoryGroups, ExploreQuery, Filters, PageFrom, Period, SortColumn, Step, TimeBasis,
};

use crate::auth::tokens::hash_secret;
use crate::state::AppState;
use crate::store::WidgetInfo;

/// What a widget token looks like: a prefix people recognise, then 256 random bits.
pub const WIDGET_TOKEN_PREFIX: &str = "mbw_";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/widget", get(widget_page))
        .route("/widget.js", get(widget_script))
}

/// The CSP `frame-ancestors` sources for a list of allowed embedding origins.
pub fn frame_ancestors(origins: &[String]) -> String {
    let mut sources = vec!["'self'".to_owned()];
    sources.extend(origins.iter().cloned());
    sources.join(" ")
}

/// Reads `--widget-origins`: origins (`https://intranet.example.com`, `http://host:8080`) or `*`,
/// separated by spaces or commas. Anything else is refused, so nothing can be injected into the
/// CSP header.
pub fn parse_origins(raw: &str) -> Result<Vec<String>, String> {
    raw.split([' ', ',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|origin| {
            if origin == "*" {
                return Ok("*".to_owned());
            }
            if !origin
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:/[]".contains(c))
            {
                return Err(format!("'{origin}' is not an origin like https://intranet.example.com"));
            }
            let url = reqwest::Url::parse(origin)
                .map_err(|_| format!("'{origin}' is not an origin like https://intranet.example.com"))?;
            let plain = matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some()
                && url.path() == "/"
                && url.query().is_none()
                && url.fragment().is_none()
                && url.username().is_empty()
                && url.password().is_none();
            if !plain || origin.trim_end_matches('/').len() != url.origin().ascii_serialization().len() {
                return Err(format!(
                    "'{origin}' is not an origin: give scheme, host and port only, like https://intranet.example.com"
                ));
            }
            Ok(url.origin().ascii_serialization())
        })
        .collect()
}

#[derive(serde::Deserialize)]
struct WidgetParams {
    token: Option<String>,
}

const STYLE: &str = "body{margin:0;font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1d2433;background:#fff}\
main{padding:12px 14px}h1{font-size:16px;margin:0}.sub,.updated{color:#5b6475;margin:2px 0 8px;font-size:12px}\
table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:left;padding:3px 4px;border-bottom:1px solid #e3e7ee}\
td.num{text-align:right;font-variant-numeric:tabular-nums}svg{width:100%;height:auto}figure{margin:0 0 8px}\
figcaption{font-size:12px;color:#5b6475}.legend{display:flex;flex-wrap:wrap;gap:2px 10px;font-size:12px;list-style:none;padding:0;margin:4px 0 0}\
.sw{display:inline-block;width:9px;height:9px;margin-right:4px;border-radius:2px}.notice{padding:16px;color:#5b6475}";

/// A whole widget document around `body`, rendered by Leptos on the server (which escapes every
/// text and attribute value). Nothing hydrates it: the widget runs no script.
fn document(title: String, body: AnyView) -> String {
    to_html(move || {
        view! {
            <!DOCTYPE html>
            <html lang="en">
                <head>
                    <meta charset="utf-8"/>
                    <meta name="viewport" content="width=device-width, initial-scale=1"/>
                    <meta name="robots" content="noindex"/>
                    <title>{title}</title>
                    // Text is escaped for `&`, `<` and `>` only, none of which the style holds
                    // (a test checks), so it reaches the browser as written.
                    <style>{STYLE}</style>
                </head>
                <body>
                    <main>{body}</main>
                </body>
            </html>
        }
        .into_any()
    })
}

/// The widget's answer, with the headers every widget response carries.
fn respond(state: &AppState, status: StatusCode, html: String) -> Response {
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; \
         form-action 'none'; frame-ancestors {}",
        state.widget_frame_ancestors
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // Origins were validated at start-up, so the header value is always valid.
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The token is in the URL: never send it on.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn notice(state: &AppState, status: StatusCode, message: &str) -> Response {
    let message = message.to_owned();
    let body = view! { <p class="notice" role="status">{message}</p> }.into_any();
    respond(state, status, document("Usage widget".to_owned(), body))
}

/// Why a widget shows no usage, if it does not.
fn refusal(widget: &WidgetInfo, now: DateTime<Utc>) -> Option<(StatusCode, String)> {
    if let Some(at) = widget.revoked_at {
        return Some((
            StatusCode::GONE,
            format!(
                "This usage widget was revoked on {}. Ask its owner for a new one.",
                at.format("%b %d, %Y")
            ),
        ));
    }
    if widget.expires_at <= now {
        return Some((
            StatusCode::GONE,
            format!(
                "This usage widget expired on {}. Ask its owner for a new one.",
                widget.expires_at.format("%b %d, %Y")
            ),
        ));
    }
    if !widget.creator_can_read {
        return Some((
            StatusCode::FORBIDDEN,
            "This usage widget no longer works: its owner cannot read this subscription any more."
                .to_owned(),
        ));
    }
    None
}

#[tracing::instrument(name = "widget", skip_all)]
async fn widget_page(
    State(state): State<AppState>,
    Query(params): Query<WidgetParams>,
) -> Response {
    let Some(token) = params.token.filter(|t| t.starts_with(WIDGET_TOKEN_PREFIX)) else {
        return notice(
            &state,
            StatusCode::BAD_REQUEST,
            "This widget link has no valid token. Copy the embed code again from Meterbook.",
        );
    };
    let widget = match state.store.widget_by_hash(&hash_secret(&token)).await {
        Ok(Some(widget)) => widget,
        Ok(None) => {
            return notice(
                &state,
                StatusCode::NOT_FOUND,
                "This widget link is not valid. Copy the embed code again from Meterbook.",
            )
        }
        Err(e) => {
            tracing::error!(error = ?e, "widget lookup failed");
            return notice(
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                "Usage cannot be shown right now; try again shortly.",
            );
        }
    };
    let now = Utc::now();
    if let Some((status, message)) = refusal(&widget, now) {
        return notice(&state, status, &message);
    }
    match summary(&state, &widget, now).await {
        Ok(html) => respond(&state, StatusCode::OK, html),
        Err(message) => notice(&state, StatusCode::SERVICE_UNAVAILABLE, &message),
    }
}

/// This month's usage of the widget's subscription (and categories), as the widget's document.
async fn summary(
    state: &AppState,
    widget: &WidgetInfo,
    now: DateTime<Utc>,
) -> Result<String, String> {
    let access = Access {
        role: Role::Tenant,
        subscriptions: vec![widget.subscription.clone()],
    };
    let scope = access
        .read_scope(Some(&widget.subscription))
        .map_err(|e| e.to_string())?;
    // The store aggregates: the month daily by category, and the latest hour of usage (the
    // first of its hourly rows newest first), so the widget costs one tenant's aggregates.
    let view = ExploreQuery {
        period: Period::ThisMonth,
        basis: TimeBasis::Usage,
        subscription: Some(widget.subscription.clone()),
        filters: Filters {
            categories: widget.categories.clone(),
            ..Filters::default()
        },
        page_size: 1,
        ..ExploreQuery::default()
    };
    let newest = ExploreQuery {
        step: Step::Hourly,
        sort: SortColumn::Time,
        descending: true,
        ..view.clone()
    };
    let window = view.period.window(now);
    let from = window.0;
    let source = state.source.as_ref();
    // Only the newest row is read: the stream is dropped after it, so no totals, chart or
    // options are computed twice.
    let newest_row = async {
        let mut rows = source.explore_rows(&scope, &newest, window).await?;
        rows.next().await.transpose()
    };
    let ungrouped = DirectoryGroups::new();
    let (page, newest) = futures::try_join!(
        source.explore(&scope, &view, window, &PageFrom::First, &ungrouped),
        newest_row,
    )
    .map_err(|e| {
        tracing::error!(error = ?e, "widget usage query failed");
        "Usage cannot be shown right now; try again shortly.".to_owned()
    })?;
    let latest = newest.map(|row| row.start);

    let mut by_category: BTreeMap<(String, String), f64> = BTreeMap::new();
    for total in &page.totals {
        *by_category
            .entry((total.meter.category.clone(), total.meter.unit.clone()))
            .or_default() += total.quantity;
    }
    let chart = page
        .chart
        .as_ref()
        .and_then(|data| Some((explorer_chart(data)?, data.unit.clone())));
    let latest = latest
        .map(|t| {
            format!(
                "{} UTC",
                (t + chrono::Duration::hours(1)).format("%b %d, %H:%M")
            )
        })
        .unwrap_or_else(|| "none yet".to_owned());
    let directory = state
        .store
        .directory_entry(&widget.subscription)
        .await
        .map_err(|e| {
            tracing::error!(error = ?e, "widget directory read failed");
            "Usage cannot be shown right now; try again shortly.".to_owned()
        })?;
    let summary = WidgetSummary {
        name: widget.name.clone(),
        subscription: widget.subscription.as_str().to_owned(),
        subscription_name: meterbook_core::directory::shown_name(
            &widget.subscription,
            directory.as_ref(),
        ),
        month: from.format("%B %Y").to_string(),
        chart,
        by_category,
        latest,
        shown: now.format("%b %d, %H:%M").to_string(),
    };
    Ok(document(
        format!("{} – usage", widget.name),
        summary_view(summary),
    ))
}

/// What the widget shows, formatted.
struct WidgetSummary {
    name: String,
    subscription: String,
    /// The subscription's display name, from the tenant directory.
    subscription_name: String,
    month: String,
    /// The daily chart and its unit, when there is usage to draw.
    chart: Option<(RenderedChart, String)>,
    by_category: BTreeMap<(String, String), f64>,
    latest: String,
    shown: String,
}

fn summary_view(summary: WidgetSummary) -> AnyView {
    let WidgetSummary {
        name,
        subscription,
        subscription_name,
        month,
        chart,
        by_category,
        latest,
        shown,
    } = summary;
    let usage = if by_category.is_empty() {
        view! { <p class="notice" role="status">"No usage yet this month."</p> }.into_any()
    } else {
        let figure = chart.map(|(chart, unit)| {
            let caption = format!("Daily {unit} by meter category");
            let label = caption.clone();
            view! {
                <figure role="img" aria-label=label>
                    // plotters' SVG, drawn on this server from numbers and escaped labels.
                    <div inner_html=chart.svg></div>
                    <figcaption>{caption}</figcaption>
                    <ul class="legend">
                        {chart.legend.into_iter().map(|entry| view! {
                            <li>
                                <span class="sw" style=format!("background:{}", entry.color)></span>
                                {entry.label}
                            </li>
                        }).collect_view()}
                    </ul>
                </figure>
            }
        });
        view! {
            {figure}
            <table>
                <caption class="sub">"Usage this month by meter category"</caption>
                <thead><tr><th scope="col">"Category"</th><th scope="col">"Quantity"</th></tr></thead>
                <tbody>
                    {by_category.into_iter().map(|((category, unit), quantity)| view! {
                        <tr>
                            <th scope="row">{category.clone()}</th>
                            <td class="num" data-category=category>{format!("{} {unit}", amount(quantity))}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        }
        .into_any()
    };
    view! {
        <header>
            <h1>{name}</h1>
            <p class="sub">
                <span title=subscription>{subscription_name}</span> {format!(" · {month} so far (UTC)")}
            </p>
        </header>
        {usage}
        <p class="updated">{format!("Latest usage: {latest} · shown {shown} UTC")}</p>
    }
    .into_any()
}

/// Inserts the widget as an iframe after the script element that loads it:
/// `<script src="https://meterbook.example/widget.js" data-token="mbw_…" async></script>`.
const WIDGET_SCRIPT: &str = r#"// Meterbook usage widget. Place where the widget should appear:
// <script src="https://METERBOOK/widget.js" data-token="mbw_..." async></script>
// Optional: data-width, data-height, data-title.
(function () {
  var script = document.currentScript;
  if (!script) { return; }
  var token = script.getAttribute("data-token");
  if (!token) { console.error("Meterbook widget: the script tag needs a data-token attribute"); return; }
  var frame = document.createElement("iframe");
  frame.src = new URL("/widget?token=" + encodeURIComponent(token), script.src).href;
  frame.title = script.getAttribute("data-title") || "Cloud usage this month";
  frame.width = script.getAttribute("data-width") || "380";
  frame.height = script.getAttribute("data-height") || "600";
  frame.style.border = "0";
  frame.referrerPolicy = "no-referrer";
  script.parentNode.insertBefore(frame, script.nextSibling);
})();
"#;

async fn widget_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        WIDGET_SCRIPT,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_plain_origins_or_a_star() {
        assert_eq!(
            parse_origins("https://intranet.example.com, http://127.0.0.1:8080/ *").unwrap(),
            vec![
                "https://intranet.example.com".to_owned(),
                "http://127.0.0.1:8080".to_owned(),
                "*".to_owned()
            ]
        );
        assert!(parse_origins("").unwrap().is_empty());
        for bad in [
            "intranet.example.com",
            "https://a.example/path",
            "https://a.example?x=1",
            "javascript:alert(1)",
            "https://a.example;script-src",
            "ftp://a.example",
            "https://user@a.example",
        ] {
            assert!(parse_origins(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_escaped_and_the_style_is_sent_as_written() {
        let summary = WidgetSummary {
            name: "<script>alert(1)</script> & co".to_owned(),
            subscription: "\"><img src=x>".to_owned(),
            subscription_name: "<i>Contoso</i> Ltd".to_owned(),
            month: "December 2026".to_owned(),
            chart: None,
            by_category: BTreeMap::from([(("<b>Compute</b>".to_owned(), "Hours".to_owned()), 2.5)]),
            latest: "none yet".to_owned(),
            shown: "Dec 02, 10:00".to_owned(),
        };
        let html = document("A <title>".to_owned(), summary_view(summary));
        assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"),
            "{html}"
        );
        assert!(!html.contains("<script") && !html.contains("<img") && !html.contains("<b>"));
        assert!(html.contains("&lt;i&gt;Contoso&lt;/i&gt; Ltd") && !html.contains("<i>"));
        assert!(html.contains("<title>A &lt;title&gt;</title>"), "{html}");
        assert!(html.contains(&format!("<style>{STYLE}</style>")), "{html}");
        assert!(html.contains("2.5 Hours"), "{html}");
        assert!(!STYLE.contains(['&', '<', '>']));
    }
}
