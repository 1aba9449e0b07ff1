//! Costs (`/costs`): a billing period's chargeback in the viewer's scope (every tenant for an
//! operator, their own subscriptions for a tenant user), grouped by tenant or by a tag such as
//! Department, with the cost of the months before it as a chart. Operators also see the rate
//! card in effect and upload a new one here.
//!
//! The page is read-only but for plain forms (a GET for the statement, multipart and form POSTs
//! for operators that redirect back here), so nothing of it runs in the browser.

use leptos::prelude::*;
use leptos_router::hooks::use_location;

use crate::portal::views::{CostsRequest, CostsView};
use crate::portal::PortalError;

/// Groupings offered in the form; the API takes any tag key.
pub const GROUPINGS: [(&str, &str); 5] = [
    ("subscription", "Tenant (subscription)"),
    ("offer", "Offer"),
    ("plan", "Plan"),
    ("tag:Department", "Department tag"),
    ("tag:CostCenter", "Cost center tag"),
];

/// The page's parameters: the statement asked for, and what the last form post did.
#[derive(Debug, Default, serde::Deserialize)]
struct CostsQuery {
    period: Option<String>,
    by: Option<String>,
    /// Text the groups and lines shown must contain.
    find: Option<String>,
    /// `all`: every group, not only the largest.
    groups: Option<String>,
    /// The rate card revision an upload saved.
    saved: Option<String>,
    /// The webhook delivery a retry queued again.
    retried: Option<String>,
    /// Why a form post was refused.
    error: Option<String>,
}

/// The page's parameters from the URL query string `search`, and the statement they ask for in
/// the signed-in viewer's scope (or why there is none).
async fn load(search: &str) -> Result<(CostsQuery, Result<CostsView, PortalError>), PortalError> {
    use crate::portal::{portal, signed_in};
    let viewer = signed_in()?;
    let query: CostsQuery =
        serde_urlencoded::from_str(search.trim_start_matches('?')).unwrap_or_default();
    let non_empty = |text: &Option<String>| text.clone().filter(|t| !t.trim().is_empty());
    let request = CostsRequest {
        period: non_empty(&query.period),
        by: non_empty(&query.by),
        find: non_empty(&query.find).map(|f| f.trim().to_owned()),
        all_groups: query.groups.as_deref() == Some("all"),
    };
    let costs = portal()?.costs(&viewer, request).await;
    Ok((query, costs))
}

#[component]
pub fn CostsPage() -> impl IntoView {
    let search = use_location().search.get_untracked();
    view! {
        <h1>"Costs"</h1>
        <Suspense fallback=|| view! { <p class="loading" role="status">"Pricing usage…"</p> }>
            {Suspend::new(async move {
                match load(&search).await {
                    Ok((query, costs)) => statement::page(query, costs),
                    Err(e) => e.into_alert(),
                }
            })}
        </Suspense>
    }
}

/// The statement and the forms around it.
mod statement {
    use leptos::prelude::*;

    use super::{CostsQuery, GROUPINGS};
    use crate::portal::views::{CostsView, RateCardView, WebhooksView};
    use crate::portal::PortalError;

    /// The page for `query`: the form, the outcome of the last form post, then `costs` or why
    /// there are none.
    pub(super) fn page(query: CostsQuery, costs: Result<CostsView, PortalError>) -> AnyView {
        let notice = match (&query.saved, &query.retried, &query.error) {
            (Some(revision), _, _) => Some(format!("Rate card revision {revision} is in effect.")),
            (_, Some(delivery), _) => Some(format!(
                "Delivery {delivery} will be attempted again shortly."
            )),
            _ => None,
        };
        let period = query.period.unwrap_or_default();
        let by = query.by.unwrap_or_default();
        let find = query.find.unwrap_or_default();
        view! {
            {notice.map(|n| view! { <p class="notice" role="status">{n}</p> })}
            {query.error.map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <form method="get" action="/costs" class="card query-form">
                <fieldset>
                    <legend>"Statement"</legend>
                    <div class="field">
                        <label for="costs-period">"Billing period"</label>
                        <input id="costs-period" name="period" type="text" value=period
                            placeholder="2026-10 or 2026-10-03..2026-10-17"/>
                    </div>
                    <div class="field">
                        <label for="costs-by">"Group by"</label>
                        <select id="costs-by" name="by">
                            {GROUPINGS
                                .into_iter()
                                .map(|(value, label)| view! {
                                    <option value=value selected=by == value>{label}</option>
                                })
                                .collect_view()}
                        </select>
                    </div>
                    <div class="field">
                        <label for="costs-find">"Find"</label>
                        <input id="costs-find" name="find" type="search" value=find
                            placeholder="Tenant, subscription or meter"/>
                    </div>
                </fieldset>
                <div class="actions"><button type="submit">"Show"</button></div>
            </form>
            {match costs {
                Ok(costs) => view! { <CostsBody costs/> }.into_any(),
                Err(e) => e.into_alert(),
            }}
        }
        .into_any()
    }

    #[component]
    fn CostsBody(costs: CostsView) -> impl IntoView {
        let query = serde_urlencoded::to_string([
            ("period", costs.period.as_str()),
            ("by", costs.grouping.as_str()),
        ])
        .unwrap_or_default();
        let csv = format!("/api/v1/chargeback?{query}&format=csv");
        let json = format!("/api/v1/chargeback?{query}&format=json");
        let shown = costs.lines.len();
        let more = (costs.line_count > shown).then(|| {
            format!(
                "The first {shown} of {} lines; the CSV has all of them.",
                costs.line_count
            )
        });
        let found = costs.find.as_ref().map(|find| {
            format!(
                "Groups containing \u{201c}{find}\u{201d}: {}; lines: {}. The total is the whole \
                 statement's.",
                costs.group_count, costs.line_count
            )
        });
        let more_groups = (costs.group_count > costs.groups.len()).then(|| {
            let mut all = vec![
                ("period", costs.period.clone()),
                ("by", costs.grouping.clone()),
                ("groups", "all".to_owned()),
            ];
            if let Some(find) = &costs.find {
                all.push(("find", find.clone()));
            }
            let href = format!("/costs?{}", serde_urlencoded::to_string(all).unwrap_or_default());
            view! {
                <p class="table-more">
                    {format!("The {} largest of {} groups. ", costs.groups.len(), costs.group_count)}
                    <a href=href>{format!("Show all {}", costs.group_count)}</a>
                </p>
            }
        });
        view! {
            <section class="card totals" aria-label="Total">
                <p class="total">
                    <span class="label">{format!("Total for {} ({})", costs.period, costs.time_zone)}</span>
                    <strong>{costs.total} " " {costs.currency.clone()}</strong>
                </p>
                <p class="muted">{costs.status}</p>
                <p class="downloads">
                    <a class="button" href=csv rel="external" download="">"Download CSV"</a>
                    " "
                    <a class="button secondary" href=json rel="external">"JSON"</a>
                </p>
            </section>
            {costs.chart.map(|chart| view! {
                <section class="card chart" aria-label="Cost by month">
                    <h2>"Cost by month (" {costs.currency.clone()} ")"</h2>
                    <div class="chart-svg" inner_html=chart.svg></div>
                    <ul class="legend">
                        {chart.legend.into_iter().map(|l| view! {
                            <li><span class="swatch" style=format!("background:{}", l.color)></span>{l.label}</li>
                        }).collect_view()}
                    </ul>
                </section>
            })}
            <section class="card">
                <h2>{match costs.grouping.as_str() {
                    "subscription" => "By tenant".to_owned(),
                    "offer" => "By offer".to_owned(),
                    "plan" => "By plan".to_owned(),
                    other => format!("By {}", other.trim_start_matches("tag:")),
                }}</h2>
                {found.map(|f| view! { <p class="muted" role="status">{f}</p> })}
                <div class="table-scroll">
                    <table class="usage-table costs">
                        <thead>
                            <tr>
                                <th scope="col">"Group"</th>
                                <th scope="col" class="num">"Subtotal"</th>
                                <th scope="col" class="num">"Share"</th>
                                <th scope="col" class="num">"Unpriced lines"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {costs.groups.into_iter().map(|g| view! {
                                <tr>
                                    <td>{g.name}</td>
                                    <td class="num">{g.subtotal}</td>
                                    <td class="num">{g.share}</td>
                                    <td class="num">{g.unpriced_lines}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
                {more_groups}
            </section>
            // Lines run to hundreds: folded until asked for, so the totals stay in view.
            <details class="card lines">
                <summary>{format!("Lines ({})", costs.line_count)}</summary>
                {more.map(|m| view! { <p class="muted">{m}</p> })}
                <div class="table-scroll">
                    <table class="usage-table costs">
                        <thead>
                            <tr>
                                <th scope="col">"Group"</th>
                                <th scope="col">"Subscription"</th>
                                <th scope="col">"Meter"</th>
                                <th scope="col" class="num">"Quantity"</th>
                                <th scope="col">"Unit"</th>
                                <th scope="col" class="num">"Unit price"</th>
                                <th scope="col" class="num">"Discount"</th>
                                <th scope="col" class="num">"Amount"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {costs.lines.into_iter().map(|l| view! {
                                <tr>
                                    <td>{l.group}</td>
                                    <td title=l.subscription_id>{l.subscription}</td>
                                    <td>{l.meter}</td>
                                    <td class="num">{l.quantity}</td>
                                    <td>{l.unit}</td>
                                    <td class="num">{l.price}</td>
                                    <td class="num">{l.discount}</td>
                                    <td class="num">{l.amount}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            </details>
            {costs.rate_card.map(|card| view! { <RateCardSection card/> })}
            {costs.webhooks.map(|hooks| view! { <WebhooksSection hooks/> })}
        }
    }

    /// The rate card in effect, its download, and a plain form to replace it: the upload is an
    /// ordinary multipart POST, so it works before (and without) the WebAssembly.
    #[component]
    fn RateCardSection(card: RateCardView) -> impl IntoView {
        view! {
            <section class="card" aria-label="Rate card">
                <h2>"Rate card"</h2>
                <p>{card.summary}</p>
                <p class="downloads">
                    <a class="button secondary" href="/api/v1/rates?format=csv" rel="external" download="">"Download CSV"</a>
                </p>
                <form method="post" action="/costs/rate-card" enctype="multipart/form-data" class="query-form">
                    <input type="hidden" name="csrf" value=card.csrf_token/>
                    <div class="field">
                        <label for="rate-card-file">"New rate card (.csv or .json)"</label>
                        <input id="rate-card-file" name="card" type="file" accept=".csv,.json,text/csv,application/json" required/>
                    </div>
                    <div class="actions"><button type="submit">"Upload and put in effect"</button></div>
                </form>
                <p class="muted">"A card with an error is refused whole, naming the row; the one in effect stays."</p>
            </section>
        }
    }

    /// Where statements are pushed and the delivery log; a failed delivery can be retried with
    /// a plain form.
    #[component]
    fn WebhooksSection(hooks: WebhooksView) -> impl IntoView {
        let csrf = hooks.csrf_token;
        view! {
            <section class="card" aria-label="Webhook deliveries">
                <h2>"Webhook deliveries"</h2>
                {if hooks.urls.is_empty() {
                    view! {
                        <p class="muted">"No webhook is configured: statements are pushed to none. Add one with "
                            <code>"meterbook webhooks add URL"</code> " or POST /api/v1/webhooks."</p>
                    }.into_any()
                } else {
                    view! {
                        <p>"Statements are pushed to: "
                            {hooks.urls.into_iter().map(|u| view! { <code class="url">{u}</code> " " }).collect_view()}
                        </p>
                    }.into_any()
                }}
                {(!hooks.deliveries.is_empty()).then(|| view! {
                <div class="table-scroll">
                    <table class="usage-table deliveries">
                        <thead>
                            <tr>
                                <th scope="col" class="num">"ID"</th>
                                <th scope="col">"Event"</th>
                                <th scope="col">"Status"</th>
                                <th scope="col" class="num">"Attempts"</th>
                                <th scope="col">"Last attempt (UTC)"</th>
                                <th scope="col">"Outcome"</th>
                                <th scope="col"></th>
                            </tr>
                        </thead>
                        <tbody>
                            {hooks.deliveries.into_iter().map(|d| {
                                let retry = (d.status == "failed").then(|| view! {
                                    <form method="post" action="/costs/deliveries/retry">
                                        <input type="hidden" name="csrf" value=csrf.clone()/>
                                        <input type="hidden" name="id" value=d.id/>
                                        <button type="submit">"Retry"</button>
                                    </form>
                                });
                                let class = format!("delivery {}", d.status);
                                view! {
                                    <tr class=class>
                                        <td class="num">{d.id}</td>
                                        <td><code>{d.event}</code></td>
                                        <td>{d.status}</td>
                                        <td class="num">{d.attempts}</td>
                                        <td>{d.last_attempt}</td>
                                        <td title=d.url>{d.outcome}</td>
                                        <td>{retry}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
                })}
            </section>
        }
    }
}
