//! The usage explorer (`/usage`): a period, time basis, granularity, filters and grouping, kept in
//! the URL so a view can be bookmarked and shared; a stacked chart with its data as a table; the
//! whole query's totals per meter; and the usage rows, sortable and paged by continuation tokens.
//!
//! Every view is a page the server renders: the form is a plain GET, and the sort headers and the
//! pager are links, so each view has an address and nothing runs in the browser.

use leptos::prelude::*;
use leptos_router::hooks::use_location;
use meterbook_core::explore::query::{encode_pairs, PAGE_SIZES};
use meterbook_core::explore::{
    ChartData, Dimension, Exploration, ExploreQuery, OptionValue, Period, SortColumn, Step,
    TimeBasis, UsageRow,
};
use meterbook_core::SubscriptionId;

use crate::chart::RenderedChart;
use crate::format::{amount, day_label, iso_day, iso_hour, month_label};
use crate::portal::PortalError;

/// One explorer page and its chart drawn as SVG.
#[derive(Debug, Clone, PartialEq)]
pub struct ExploreAnswer {
    pub exploration: Exploration,
    pub chart_svg: Option<RenderedChart>,
}

/// Loads the explorer page a URL query string describes, with its chart drawn.
pub async fn fetch_exploration(search: String) -> Result<ExploreAnswer, PortalError> {
    let search = search.trim_start_matches('?');
    let viewer = crate::portal::signed_in()?;
    let portal = crate::portal::portal()?;
    let exploration = portal.explore(&viewer, search).await?;
    let chart_svg = exploration
        .chart
        .as_ref()
        .and_then(crate::chart::explorer_chart);
    Ok(ExploreAnswer {
        exploration,
        chart_svg,
    })
}

/// A link to the explorer with `query` and optional paging.
pub fn explorer_href(query: &ExploreQuery, paging: Option<(&str, &str)>) -> String {
    let pairs = query.to_pairs();
    let mut all: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend(paging);
    let qs = encode_pairs(all);
    if qs.is_empty() {
        "/usage".to_owned()
    } else {
        format!("/usage?{qs}")
    }
}

#[component]
pub fn ExplorerPage() -> impl IntoView {
    let search = use_location().search.get_untracked();
    view! {
        <div class="page-head">
            <h1>"Usage explorer"</h1>
        </div>
        <Suspense fallback=|| view! { <p class="loading" role="status">"Loading usage…"</p> }>
            {Suspend::new(async move {
                match fetch_exploration(search).await {
                    Ok(answer) => view! { <ExplorerBody answer/> }.into_any(),
                    Err(e) => {
                        e.set_status();
                        view! {
                            <section class="notice error" role="alert">
                                <h2>"This view cannot be shown"</h2>
                                <p>{e.to_string()}</p>
                                <p><a href="/usage">"Start again from this month's usage"</a></p>
                            </section>
                        }
                        .into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn ExplorerBody(answer: ExploreAnswer) -> impl IntoView {
    let e = answer.exploration;
    let period = period_text(&e);
    let empty = e.total_rows == 0;
    let filtered = e.query.subscription.is_some() || e.query.filters != Default::default();
    view! {
        <QueryForm e=e.clone()/>
        <p class="period">{period.clone()}</p>
        {if empty {
            view! { <EmptyState period filtered/> }.into_any()
        } else {
            view! {
                <ChartCard chart=e.chart.clone() svg=answer.chart_svg/>
                <TotalsCard e=e.clone()/>
                <RowsCard e/>
            }
            .into_any()
        }}
    }
}

fn period_text(e: &Exploration) -> String {
    let basis = match e.query.basis {
        TimeBasis::Usage => "by usage time",
        TimeBasis::Reported => "by reported time",
    };
    format!(
        "{} to {} (UTC, {basis})",
        day_label(&e.from),
        day_label(&(e.to - chrono::Duration::seconds(1)))
    )
}

#[component]
fn EmptyState(period: String, filtered: bool) -> impl IntoView {
    view! {
        <section class="notice empty" role="status">
            <h2>"No usage to show"</h2>
            {if filtered {
                view! {
                    <p>"No usage matches these filters in " {period} ". "
                        <a href="/usage">"Clear the filters"</a> "."</p>
                }
                .into_any()
            } else {
                view! {
                    <p>"No usage was recorded in " {period} ". Resource providers report usage hourly, "
                        "usually within a few hours; try " <a href="/usage?period=last-month">"last month"</a> "."</p>
                }
                .into_any()
            }}
        </section>
    }
}

/// Choices beyond this many are a search field with suggestions instead of a drop-down.
const SEARCH_ABOVE: usize = 25;

/// A labelled select whose options are `(value, label)`, or a search field suggesting them when
/// they are many; the current value is kept even when the period holds no usage for it, so the
/// form always shows the query as it is.
fn choice(
    name: &'static str,
    label: &'static str,
    any: Option<&'static str>,
    options: Vec<(String, String)>,
    current: Option<String>,
) -> impl IntoView {
    let current = current.unwrap_or_default();
    let mut options = options;
    if !current.is_empty()
        && !options
            .iter()
            .any(|(v, _)| v.eq_ignore_ascii_case(&current))
    {
        options.insert(0, (current.clone(), current.clone()));
    }
    let id = format!("f-{name}");
    if options.len() > SEARCH_ABOVE {
        // A long list (a large cloud's subscriptions or resources) is searched as one types;
        // any value may be typed, and an empty field means any.
        let list = format!("{id}-values");
        return view! {
            <div class="field">
                <label for=id.clone()>{label}</label>
                <input id=id name=name type="search" list=list.clone() value=current
                    placeholder=any.unwrap_or("Type to search") autocomplete="off"/>
                <datalist id=list>
                    {options
                        .into_iter()
                        .map(|(value, text)| view! { <option value=value>{text}</option> })
                        .collect_view()}
                </datalist>
            </div>
        }
        .into_any();
    }
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            <select id=id name=name>
                {any.map(|text| view! { <option value="" selected=current.is_empty()>{text}</option> })}
                {options
                    .into_iter()
                    .map(|(value, text)| {
                        let selected = value.eq_ignore_ascii_case(&current);
                        view! { <option value=value selected=selected>{text}</option> }
                    })
                    .collect_view()}
            </select>
        </div>
    }
    .into_any()
}

fn pairs(options: &[OptionValue]) -> Vec<(String, String)> {
    options
        .iter()
        .map(|o| (o.value.clone(), o.label.clone()))
        .collect()
}

#[component]
fn QueryForm(e: Exploration) -> impl IntoView {
    let q = e.query.clone();
    let o = e.options.clone();
    let (custom_from, custom_to) = match q.period {
        Period::Custom { from, to } => (from.to_string(), to.to_string()),
        _ => (String::new(), String::new()),
    };
    let mut periods: Vec<(String, String)> = Period::PRESETS
        .iter()
        .map(|(k, l)| ((*k).to_owned(), (*l).to_owned()))
        .collect();
    periods.push(("custom".into(), "Custom dates".into()));
    let steps = Step::ALL
        .iter()
        .map(|s| (s.key().to_owned(), s.label().to_owned()))
        .collect();
    let bases = vec![
        ("usage".to_owned(), "Usage time".to_owned()),
        (
            "reported".to_owned(),
            "Reported time (as Azure reports)".to_owned(),
        ),
    ];
    let mut groupings: Vec<(String, String)> = Dimension::FIXED
        .iter()
        .map(|(k, l)| ((*k).to_owned(), (*l).to_owned()))
        .collect();
    groupings.extend(
        o.tag_names
            .iter()
            .map(|t| (format!("tag:{t}"), format!("Tag: {t}"))),
    );
    let units: Vec<(String, String)> = e
        .chart
        .as_ref()
        .map(|c| c.units.iter().map(|u| (u.clone(), u.clone())).collect())
        .unwrap_or_default();
    let current_unit = e.chart.as_ref().map(|c| c.unit.clone());
    let rows = PAGE_SIZES
        .iter()
        .map(|n| (n.to_string(), n.to_string()))
        .collect();
    let sort = format!("{}{}", if q.descending { "-" } else { "" }, q.sort.key());
    let tag = q.filters.tag.as_ref().map(|(k, v)| format!("{k}={v}"));
    view! {
        <form method="get" action="/usage" class="card query-form" aria-label="Usage query">
            <fieldset>
                <legend>"Period"</legend>
                {choice("period", "Period", None, periods, Some(q.period.key().to_owned()))}
                <div class="field">
                    <label for="f-from">"From"</label>
                    <input id="f-from" type="date" name="from" value=custom_from/>
                </div>
                <div class="field">
                    <label for="f-to">"To"</label>
                    <input id="f-to" type="date" name="to" value=custom_to/>
                </div>
                {choice("basis", "Time basis", None, bases, Some(match q.basis {
                    TimeBasis::Usage => "usage".to_owned(),
                    TimeBasis::Reported => "reported".to_owned(),
                }))}
                {choice("granularity", "Granularity", None, steps, Some(q.step.key().to_owned()))}
            </fieldset>
            <fieldset>
                <legend>"Filters"</legend>
                {choice("subscription", "Subscription", Some("All subscriptions"), pairs(&o.subscriptions),
                    q.subscription.as_ref().map(|s| s.as_str().to_owned()))}
                {choice("category", "Meter category", Some("Any category"), pairs(&o.categories), q.filters.categories.first().cloned())}
                {choice("meter", "Meter", Some("Any meter"), pairs(&o.meters), q.filters.meter.clone())}
                {choice("resource-group", "Resource group", Some("Any group"), pairs(&o.resource_groups), q.filters.resource_group.clone())}
                {choice("resource", "Resource", Some("Any resource"), pairs(&o.resources), q.filters.resource.clone())}
                {choice("location", "Location", Some("Any location"), pairs(&o.locations), q.filters.location.clone())}
                {choice("tag", "Tag", Some("Any tags"), pairs(&o.tags), tag)}
                {choice("offer", "Offer", Some("Any offer"), pairs(&o.offers),
                    q.filters.offer.as_ref().map(|n| n.to_string()))}
                {choice("plan", "Plan", Some("Any plan"), pairs(&o.plans),
                    q.filters.plan.as_ref().map(|n| n.to_string()))}
            </fieldset>
            <fieldset>
                <legend>"View"</legend>
                {choice("by", "Group chart by", None, groupings, Some(q.group_by.key()))}
                {(units.len() > 1).then(|| choice("unit", "Chart unit", None, units, current_unit))}
                {choice("rows", "Rows per page", None, rows, Some(q.page_size.to_string()))}
                <input type="hidden" name="sort" value=sort/>
            </fieldset>
            <div class="actions">
                <button type="submit">"Apply"</button>
                <a href="/usage">"Reset"</a>
            </div>
        </form>
    }
}

fn column_label(step: Step, t: chrono::DateTime<chrono::Utc>) -> String {
    match step {
        Step::Hourly => iso_hour(&t),
        Step::Daily => iso_day(&t),
        Step::Monthly => month_label(&t),
    }
}

#[component]
fn ChartCard(chart: Option<ChartData>, svg: Option<RenderedChart>) -> impl IntoView {
    let Some(chart) = chart else {
        return ().into_any();
    };
    // Labels are Meterbook's own English words: ASCII lower-casing is all they need.
    let title = format!(
        "{} by {}, {}",
        chart.unit,
        chart.group_label.to_ascii_lowercase(),
        chart.step.label().to_ascii_lowercase()
    );
    let step = chart.step;
    view! {
        <section class="card chart-card" aria-labelledby="chart-title">
            <h2 id="chart-title">{title.clone()}</h2>
            {svg.map(|rendered| view! {
                <div class="chart" role="img" aria-label=title.clone() inner_html=rendered.svg></div>
                <ul class="legend" aria-label="Groups in the chart">
                    {rendered
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
            })}
            <details>
                <summary>"Chart data as a table"</summary>
                <div class="table-scroll">
                    <table class="usage-table">
                        <caption class="visually-hidden">{title}</caption>
                        <thead>
                            <tr>
                                <th scope="col">"Time"</th>
                                {chart.series.iter().map(|s| view! { <th scope="col" class="num">{s.name.clone()}</th> }).collect_view()}
                            </tr>
                        </thead>
                        <tbody>
                            {chart
                                .columns
                                .iter()
                                .enumerate()
                                .map(|(i, c)| view! {
                                    <tr>
                                        <th scope="row">{column_label(step, *c)}</th>
                                        {chart.series.iter().map(|s| view! {
                                            <td class="num">{amount(s.values.get(i).copied().unwrap_or(0.0))}</td>
                                        }).collect_view()}
                                    </tr>
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                </div>
            </details>
        </section>
    }
    .into_any()
}

#[component]
fn TotalsCard(e: Exploration) -> impl IntoView {
    let csv = {
        let pairs = e.query.to_pairs();
        let qs = encode_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())));
        format!("/api/v1/explore/export?{qs}")
    };
    view! {
        <section class="card" aria-labelledby="totals-title">
            <div class="card-head">
                <h2 id="totals-title">"Totals for the whole query"</h2>
                <a class="button" href=csv rel="external" download="">"Download CSV"</a>
            </div>
            <div class="table-scroll">
                <table class="usage-table totals">
                    <caption class="visually-hidden">"Total quantity per meter over every row of the query"</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Category"</th>
                            <th scope="col">"Meter"</th>
                            <th scope="col" class="num">"Quantity"</th>
                            <th scope="col">"Unit"</th>
                            <th scope="col" class="num">"Rows"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {e.totals
                            .iter()
                            .map(|t| view! {
                                <tr>
                                    <td>{t.meter.category.clone()}</td>
                                    <th scope="row">{t.meter.name.clone()}</th>
                                    <td class="num" data-total=t.meter.id.clone()>{amount(t.quantity)}</td>
                                    <td>{t.meter.unit.clone()}</td>
                                    <td class="num">{amount(t.rows as f64)}</td>
                                </tr>
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

/// A sortable column header: a link that sorts by the column, ascending first, then reversed.
fn sort_header(
    q: &ExploreQuery,
    column: SortColumn,
    label: &'static str,
    num: bool,
) -> impl IntoView {
    let active = q.sort == column;
    let descending = active && !q.descending;
    let href = explorer_href(
        &q.with(|q| {
            q.sort = column;
            q.descending = descending;
        }),
        None,
    );
    let aria = match (active, q.descending) {
        (false, _) => "none",
        (true, false) => "ascending",
        (true, true) => "descending",
    };
    let arrow = match (active, q.descending) {
        (false, _) => "",
        (true, false) => " ▲",
        (true, true) => " ▼",
    };
    view! {
        <th scope="col" class:num=num aria-sort=aria>
            <a href=href>{label}{arrow}</a>
        </th>
    }
}

#[component]
fn RowsCard(e: Exploration) -> impl IntoView {
    let q = e.query.clone();
    let pages = e.total_rows.div_ceil(q.page_size.max(1));
    let page = e.first_row / q.page_size.max(1) + 1;
    let status = format!(
        "Rows {}–{} of {} · page {page} of {pages}",
        amount((e.first_row + 1) as f64),
        amount((e.first_row + e.rows.len()) as f64),
        amount(e.total_rows as f64)
    );
    let previous = e
        .previous
        .as_deref()
        .map(|t| explorer_href(&q, Some(("before", t))));
    let next = e
        .next
        .as_deref()
        .map(|t| explorer_href(&q, Some(("after", t))));
    let step = q.step;
    view! {
        <section class="card" aria-labelledby="rows-title">
            <h2 id="rows-title">"Usage rows"</h2>
            <div class="table-scroll">
                <table class="usage-table rows">
                    <caption class="visually-hidden">"Usage per time, subscription, meter and resource; column headers sort"</caption>
                    <thead>
                        <tr>
                            {sort_header(&q, SortColumn::Time, "Time", false)}
                            {sort_header(&q, SortColumn::Subscription, "Subscription", false)}
                            {sort_header(&q, SortColumn::Meter, "Meter", false)}
                            {sort_header(&q, SortColumn::Resource, "Resource", false)}
                            <th scope="col">"Resource group"</th>
                            {sort_header(&q, SortColumn::Location, "Location", false)}
                            {sort_header(&q, SortColumn::Quantity, "Quantity", true)}
                        </tr>
                    </thead>
                    <tbody>
                        {e.rows.iter().map(|row| row_view(&q, step, row, e.name_of(&row.subscription_id))).collect_view()}
                    </tbody>
                </table>
            </div>
            <nav class="pager" aria-label="Pages of usage rows">
                {match previous {
                    Some(href) => view! { <a href=href rel="prev">"← Previous"</a> }.into_any(),
                    None => view! { <span class="disabled" aria-disabled="true">"← Previous"</span> }.into_any(),
                }}
                <span class="position" role="status">{status}</span>
                {match next {
                    Some(href) => view! { <a href=href rel="next">"Next →"</a> }.into_any(),
                    None => view! { <span class="disabled" aria-disabled="true">"Next →"</span> }.into_any(),
                }}
            </nav>
        </section>
    }
}

/// A table row; `subscription` is the name its subscription is shown by.
fn row_view(q: &ExploreQuery, step: Step, row: &UsageRow, subscription: String) -> impl IntoView {
    let drill = SubscriptionId::parse(&row.subscription_id).ok().map(|sub| {
        explorer_href(
            &q.with(|q| {
                q.subscription = Some(sub);
                q.filters.resource = Some(row.resource_uri.clone());
                q.group_by = Dimension::Meter;
            }),
            None,
        )
    });
    let resource = if row.resource_name.is_empty() {
        row.resource_uri.clone()
    } else {
        row.resource_name.clone()
    };
    view! {
        <tr>
            <td>{column_label(step, row.start)}</td>
            <td title=row.subscription_id.clone()>{subscription}</td>
            <td>{row.meter.name.clone()} <span class="muted">" · " {row.meter.category.clone()}</span></td>
            <td>
                {match drill {
                    Some(href) => view! { <a href=href title=row.resource_uri.clone()>{resource}</a> }.into_any(),
                    None => view! { <span title=row.resource_uri.clone()>{resource}</span> }.into_any(),
                }}
            </td>
            <td>{row.resource_group.clone()}</td>
            <td>{row.location.clone()}</td>
            <td class="num">{amount(row.quantity)} " " <span class="unit">{row.meter.unit.clone()}</span></td>
        </tr>
    }
}
