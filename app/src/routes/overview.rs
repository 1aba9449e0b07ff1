//! The usage overview: the usage over the last 30 days of every subscription the viewer may see
//! (all of them for an operator, their own for a tenant user), by meter category, and a chart of
//! one meter's daily totals.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use meterbook_core::overview::Overview;
use serde::{Deserialize, Serialize};

use crate::chart::RenderedChart;
use crate::format::{amount, day_label};

/// Days the overview covers, ending with today (UTC).
pub const OVERVIEW_DAYS: i64 = 30;

/// What the overview page gets from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverviewResponse {
    pub overview: Box<Overview>,
    pub chart: Option<RenderedChart>,
    /// Subscriptions with usage in the period; the table holds the first [`TABLE_ROWS`] of them
    /// unless all were asked for.
    pub subscription_count: usize,
}

/// Rows of the subscription table before "Show all" (a large cloud has a thousand tenants).
pub const TABLE_ROWS: usize = 50;

/// Loads the overview; `meter` picks the charted meter (any ID form), `sort` orders the table
/// (`usage`, `records`, `subscription`; `-` in front for descending), `all` lists every
/// subscription in the table rather than the first [`TABLE_ROWS`].
#[server(endpoint = "load_overview")]
pub async fn load_overview(
    meter: Option<String>,
    sort: Option<String>,
    all: Option<String>,
) -> Result<OverviewResponse, ServerFnError> {
    use chrono::{Duration, Utc};
    use meterbook_core::time::floor_day;

    use crate::portal::{portal, signed_in};

    let viewer = signed_in()?;
    let to = floor_day(Utc::now()) + Duration::days(1);
    let from = to - Duration::days(OVERVIEW_DAYS);
    let portal = portal()?;
    let rows = portal.daily_totals(&viewer, from, to).await?;
    let previous = portal
        .daily_totals(&viewer, from - Duration::days(OVERVIEW_DAYS), from)
        .await?;
    let mut overview = Overview::build(&rows, &previous, from, to, meter.as_deref());
    let ids = overview
        .subscriptions
        .iter()
        .map(|s| s.subscription_id.clone())
        .collect();
    overview.names = portal.subscription_names(&viewer, ids).await?;
    let (by, descending) = meterbook_core::overview::OverviewSort::parse(sort.as_deref());
    overview.sort(by, descending);
    let chart = crate::chart::daily_usage_chart(&overview);
    let subscription_count = overview.subscriptions.len();
    if all.as_deref() != Some("1") {
        overview.subscriptions.truncate(TABLE_ROWS);
    }
    Ok(OverviewResponse {
        overview: Box::new(overview),
        chart,
        subscription_count,
    })
}

#[component]
pub fn OverviewPage() -> impl IntoView {
    let (meter, sort, all) = {
        let q = use_query_map().get_untracked();
        (q.get("meter"), q.get("sort"), q.get("all"))
    };
    view! {
        <h1>"Usage overview"</h1>
        <Suspense fallback=|| view! { <p class="loading" role="status">"Loading usage…"</p> }>
            {Suspend::new(async move {
                match load_overview(meter, sort, all).await {
                    Ok(OverviewResponse { overview, chart, subscription_count }) => {
                        view! { <OverviewBody overview=*overview chart subscription_count/> }.into_any()
                    }
                    Err(e) => view! {
                        <p class="error" role="alert">"The overview could not be loaded: " {crate::portal::message(&e)}</p>
                    }
                    .into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn OverviewBody(
    overview: Overview,
    chart: Option<RenderedChart>,
    subscription_count: usize,
) -> impl IntoView {
    let period = format!(
        "{} to {} (UTC, by usage time)",
        day_label(&overview.from),
        day_label(&(overview.to - chrono::Duration::days(1)))
    );
    if overview.subscriptions.is_empty() {
        return view! {
            <p class="period">{period}</p>
            <section class="notice empty">
                <h2>"No usage yet"</h2>
                <p>
                    "No usage records were used in this period. Resource providers submit them to "
                    <code>"POST /api/v1/usage-records"</code> "; " <code>"meterbook demo"</code>
                    " writes realistic demo data."
                </p>
            </section>
        }
        .into_any();
    }
    view! {
        <p class="period">{period}</p>
        <ChartSection overview=overview.clone() chart/>
        <TopConsumers overview=overview.clone()/>
        <SubscriptionTable overview subscription_count/>
    }
    .into_any()
}

#[component]
fn ChartSection(overview: Overview, chart: Option<RenderedChart>) -> impl IntoView {
    let current = overview
        .chart_meter
        .as_ref()
        .map(|m| m.id.clone())
        .unwrap_or_default();
    let title = overview
        .chart_meter
        .as_ref()
        .map(|m| format!("Daily {} ({}), by subscription", m.name, m.unit))
        .unwrap_or_default();
    view! {
        <section class="card chart-card" aria-labelledby="chart-title">
            <div class="card-head">
                <h2 id="chart-title">{title.clone()}</h2>
                <form method="get" action="/">
                    <label for="meter">"Meter"</label>
                    <select id="meter" name="meter">
                        {overview
                            .meters
                            .iter()
                            .map(|m| {
                                let selected = m.meter.id == current;
                                view! {
                                    <option value=m.meter.id.clone() selected=selected>
                                        {format!("{} — {} ({})", m.meter.category, m.meter.name, m.meter.unit)}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                    <button type="submit">"Show"</button>
                </form>
            </div>
            {match chart {
                Some(chart) => view! {
                    <div class="chart" role="img" aria-label=title inner_html=chart.svg></div>
                    <ul class="legend" aria-label="Subscriptions in the chart">
                        {chart
                            .legend
                            .into_iter()
                            .map(|entry| view! {
                                <li>
                                    <span class="swatch" style=format!("background:{}", entry.color)></span>
                                    {entry.label}
                                </li>
                            })
                            .collect_view()}
                    </ul>
                }
                .into_any(),
                None => view! { <p class="empty">"No data to chart for this meter."</p> }.into_any(),
            }}
        </section>
    }
}

/// A change against the previous period, as people read it: "+12%", "−3%", or "new".
fn change_text(percent: Option<f64>) -> (String, &'static str) {
    match percent {
        None => ("new".to_owned(), "change new"),
        Some(p) if p.abs() < 0.5 => ("±0%".to_owned(), "change flat"),
        Some(p) if p > 0.0 => (format!("+{}%", amount(p.round())), "change up"),
        Some(p) => (format!("−{}%", amount(p.abs().round())), "change down"),
    }
}

#[component]
fn TopConsumers(overview: Overview) -> impl IntoView {
    let Some(meter) = overview.chart_meter.clone() else {
        return ().into_any();
    };
    let top: Vec<_> = overview.top_consumers(5).into_iter().cloned().collect();
    if top.is_empty() {
        return ().into_any();
    }
    view! {
        <section class="card" aria-labelledby="top-title">
            <h2 id="top-title">{format!("Top consumers of {} ({})", meter.name, meter.unit)}</h2>
            <ol class="top-consumers">
                {top
                    .into_iter()
                    .map(|s| {
                        let (change, class) = change_text(
                            meterbook_core::overview::change_percent(s.chart_total, s.chart_previous),
                        );
                        view! {
                            <li>
                                <a href=format!("/usage?subscription={}", s.subscription_id) title=s.subscription_id.clone()>
                                    {overview.name_of(&s.subscription_id)}
                                </a>
                                " " <span class="amount">{amount(s.chart_total)}</span>
                                " " <span class=class title="Against the 30 days before">{change}</span>
                            </li>
                        }
                    })
                    .collect_view()}
            </ol>
        </section>
    }
    .into_any()
}

/// A column header that sorts the subscription table by `key` (largest first, then reversed),
/// keeping the charted meter.
fn sort_link(
    label: String,
    key: &'static str,
    current: Option<String>,
    meter: &str,
    num: bool,
    all: bool,
) -> impl IntoView {
    let descending_now = current.as_deref() == Some(format!("-{key}").as_str())
        || (current.is_none() && key == "usage");
    let ascending_now = current.as_deref() == Some(key);
    let next = if descending_now {
        key.to_owned()
    } else {
        format!("-{key}")
    };
    let aria = if descending_now {
        "descending"
    } else if ascending_now {
        "ascending"
    } else {
        "none"
    };
    view! {
        <th scope="col" class:num=num aria-sort=aria>
            <a href=format!("?meter={meter}&sort={next}{}", if all { "&all=1" } else { "" })>{label}</a>
        </th>
    }
}

#[component]
fn SubscriptionTable(overview: Overview, subscription_count: usize) -> impl IntoView {
    let categories = overview.categories.clone();
    let sort = use_query_map().read_untracked().get("sort");
    let shown = overview.subscriptions.len();
    let all = use_query_map().read_untracked().get("all").as_deref() == Some("1");
    let usage_label = overview
        .chart_meter
        .as_ref()
        .map(|m| format!("{} ({})", m.name, m.unit))
        .unwrap_or_else(|| "Usage".to_owned());
    let meter = overview
        .chart_meter
        .as_ref()
        .map(|m| m.id.clone())
        .unwrap_or_default();
    view! {
        <section class="card" aria-labelledby="subs-title">
            <h2 id="subs-title">"Subscriptions"</h2>
            <div class="table-scroll">
                <table class="usage-table">
                    <caption class="visually-hidden">"Usage per subscription and meter category"</caption>
                    <thead>
                        <tr>
                            {sort_link("Subscription".to_owned(), "subscription", sort.clone(), &meter, false, all)}
                            {sort_link("Records".to_owned(), "records", sort.clone(), &meter, true, all)}
                            {sort_link(usage_label, "usage", sort.clone(), &meter, true, all)}
                            {categories.iter().map(|c| view! { <th scope="col">{c.clone()}</th> }).collect_view()}
                        </tr>
                    </thead>
                    <tbody>
                        {overview
                            .subscriptions
                            .iter()
                            .map(|s| {
                                let cells = categories
                                    .iter()
                                    .map(|c| {
                                        let amounts = s.categories.get(c).cloned().unwrap_or_default();
                                        view! {
                                            <td>
                                                {amounts
                                                    .into_iter()
                                                    .map(|a| {
                                                        let (change, class) = change_text(a.change_percent());
                                                        view! {
                                                            <div class="amount">
                                                                {amount(a.quantity)} " " <span class="unit">{a.unit.clone()}</span>
                                                                " " <span class=class title="Against the 30 days before">{change}</span>
                                                            </div>
                                                        }
                                                    })
                                                    .collect_view()}
                                            </td>
                                        }
                                    })
                                    .collect_view();
                                view! {
                                    <tr>
                                        <th scope="row">
                                            <a href=format!("/usage?subscription={}", s.subscription_id) title="Explore this subscription's usage">
                                                {overview.name_of(&s.subscription_id)}
                                            </a>
                                            <br/>
                                            <code class="subscription-id">{s.subscription_id.clone()}</code>
                                        </th>
                                        <td class="num">{amount(s.records as f64)}</td>
                                        <td class="num">{amount(s.chart_total)}</td>
                                        {cells}
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </div>
            {(shown < subscription_count).then(|| {
                let all = format!(
                    "?meter={meter}&sort={}&all=1",
                    sort.clone().unwrap_or_else(|| "-usage".to_owned())
                );
                view! {
                    <p class="table-more">
                        {format!("The first {shown} of {subscription_count} subscriptions. ")}
                        <a href=all>{format!("Show all {subscription_count}")}</a>
                    </p>
                }
            })}
        </section>
    }
}
