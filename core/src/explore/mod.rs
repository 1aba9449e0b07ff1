//! The usage explorer: what one [`ExploreQuery`] finds in a set of usage facts. Rows of the table
//! (one per column of time, subscription, meter and resource), totals of the whole query, the
//! chart's series, and the values each filter can take.
//!
//! Pure and shared: the server computes it from any usage source; the portal shows it.

pub mod query;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::export::ResourceParts;
use crate::meter::{catalog, meter_key, MeterInfo};
pub use query::{
    Dimension, ExploreQuery, Filters, Period, QueryError, SortColumn, Step, TimeBasis,
};

/// Subscription ID -> its group when a query groups by a directory dimension (offer or plan,
/// [`Dimension::is_directory`]); a subscription left out has none.
pub type DirectoryGroups = BTreeMap<String, String>;

/// Groups the chart stacks before the rest are summed as "Other".
pub const CHART_GROUPS: usize = 8;
/// Values offered per filter (the busiest first); a filter can still be typed into the URL.
pub const MAX_OPTIONS: usize = 200;

/// An hour of usage of one resource and meter: what a usage source hands the explorer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageFact {
    pub usage_start: DateTime<Utc>,
    pub subscription_id: String,
    pub meter_id: String,
    pub resource_uri: String,
    pub location: String,
    pub tags: BTreeMap<String, String>,
    pub quantity: f64,
}

impl UsageFact {
    /// An aggregate line as the explorer reads it (tags as text; an aggregate without details
    /// has no resource).
    pub fn from_line(line: crate::usage::AggregateLine) -> Self {
        let instance = line.instance.unwrap_or_default();
        Self {
            usage_start: line.usage_start,
            subscription_id: line.subscription_id,
            meter_id: line.meter_id,
            resource_uri: instance.resource_uri,
            location: instance.location,
            tags: crate::usage::tags_as_text(instance.tags.map(|t| t.to_map()).unwrap_or_default()),
            quantity: line.quantity,
        }
    }
}

/// One row of the explorer's table: a resource's usage of a meter in one column of time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageRow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub subscription_id: String,
    pub meter: MeterInfo,
    pub resource_uri: String,
    pub resource_group: String,
    pub resource_name: String,
    pub location: String,
    pub quantity: f64,
}

/// The whole query's total of one meter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeterTotal {
    pub meter: MeterInfo,
    pub quantity: f64,
    pub rows: usize,
}

/// One stacked series of the chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub name: String,
    /// One value per column of [`ChartData::columns`].
    pub values: Vec<f64>,
}

/// What the chart draws: one unit's quantities per group and column of time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartData {
    pub unit: String,
    /// Every unit the query's usage has, so the viewer can switch.
    pub units: Vec<String>,
    pub group_label: String,
    pub step: Step,
    pub columns: Vec<DateTime<Utc>>,
    pub series: Vec<Series>,
}

/// A value a filter can take, with what people read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionValue {
    pub value: String,
    pub label: String,
}

/// The values of each filter present in the period's usage (before filtering), busiest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FilterOptions {
    pub subscriptions: Vec<OptionValue>,
    pub categories: Vec<OptionValue>,
    pub meters: Vec<OptionValue>,
    pub resource_groups: Vec<OptionValue>,
    pub resources: Vec<OptionValue>,
    pub locations: Vec<OptionValue>,
    /// Tag names, and `name=value` pairs.
    pub tag_names: Vec<String>,
    pub tags: Vec<OptionValue>,
    /// The offers and plans of the subscriptions in `subscriptions`, from the tenant directory
    /// (the server adds them: see [`FilterOptions::add_directory`]).
    #[serde(default)]
    pub offers: Vec<OptionValue>,
    #[serde(default)]
    pub plans: Vec<OptionValue>,
}

impl FilterOptions {
    /// Offers and plans to filter by: those of `entries` (the directory's entries of the
    /// subscriptions offered), each once, by name.
    pub fn add_directory(&mut self, entries: &[crate::directory::DirectoryEntry]) {
        let mut offers = BTreeSet::new();
        let mut plans = BTreeSet::new();
        for entry in entries {
            offers.extend(entry.offer.iter().map(|o| o.to_string()));
            plans.extend(entry.plans.iter().map(|p| p.to_string()));
        }
        let options = |names: BTreeSet<String>| {
            names
                .into_iter()
                .map(|n| OptionValue {
                    label: n.clone(),
                    value: n,
                })
                .collect()
        };
        self.offers = options(offers);
        self.plans = options(plans);
    }
}

/// Where a page of rows sits in the query's sorted rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageAt {
    First,
    After(usize),
    Before(usize),
}

/// A row's place in the query's order and its index among all rows: what a continuation token
/// carries. A store pages from the key (keyset) and numbers the page from the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowPosition {
    pub key: RowKey,
    pub index: usize,
}

/// Which page of rows to show.
#[derive(Debug, Clone, PartialEq)]
pub enum PageFrom {
    First,
    /// The page after the row at this position.
    After(RowPosition),
    /// The page before the row at this position (the first page if fewer rows come before).
    Before(RowPosition),
}

/// Everything an explorer view shows except the paging tokens, which the server adds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exploration {
    pub query: ExploreQuery,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub rows: Vec<UsageRow>,
    /// Index of the page's first row among all rows.
    pub first_row: usize,
    pub total_rows: usize,
    pub totals: Vec<MeterTotal>,
    pub chart: Option<ChartData>,
    pub options: FilterOptions,
    /// Continuation tokens of the next and previous pages (the server signs them).
    pub next: Option<String>,
    pub previous: Option<String>,
    /// Subscription ID -> display name, from the tenant directory (see [`Exploration::name_of`]).
    #[serde(default)]
    pub names: std::collections::BTreeMap<String, String>,
}

impl Exploration {
    /// The subscriptions the page shows: its rows, the subscription filter's options and, when
    /// the chart groups by subscription, its series.
    pub fn shown_subscriptions(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .rows
            .iter()
            .map(|r| r.subscription_id.clone())
            .chain(self.options.subscriptions.iter().map(|o| o.value.clone()))
            .collect();
        if self.query.group_by == Dimension::Subscription {
            if let Some(chart) = &self.chart {
                ids.extend(chart.series.iter().map(|s| s.name.clone()));
            }
        }
        ids.sort();
        ids.dedup();
        ids
    }

    /// Names the page's subscriptions from `names` (the directory's display names): the filter's
    /// options and the chart's series read them; rows through [`Exploration::name_of`].
    pub fn name_subscriptions(&mut self, names: std::collections::BTreeMap<String, String>) {
        let name_of = |id: &str| crate::directory::name_in(&names, id);
        for option in &mut self.options.subscriptions {
            option.label = name_of(&option.value);
        }
        if self.query.group_by == Dimension::Subscription {
            if let Some(chart) = &mut self.chart {
                for series in &mut chart.series {
                    // Only IDs are renamed: "Other" and the like stay as they are.
                    if crate::SubscriptionId::parse(&series.name).is_ok() {
                        series.name = name_of(&series.name);
                    }
                }
            }
        }
        self.names = names;
    }

    /// The name a person reads for a subscription of the page.
    pub fn name_of(&self, subscription_id: &str) -> String {
        crate::directory::name_in(&self.names, subscription_id)
    }
}

/// The position of a row in the query's order; a continuation token carries one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowKey {
    /// The sort column's value: text in ASCII lowercase where the column sorts without case.
    pub sort: SortValue,
    /// Then the row's identity: column start (Unix seconds), subscription, meter ID, resource URI.
    pub start: i64,
    pub subscription: String,
    pub meter: String,
    pub resource: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SortValue {
    Text(String),
    Number(f64),
    Time(i64),
}

impl SortValue {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Text(a), Self::Text(b)) => a.cmp(b),
            (Self::Number(a), Self::Number(b)) => a.total_cmp(b),
            (Self::Time(a), Self::Time(b)) => a.cmp(b),
            // Keys of one query are all of one kind; a foreign key sorts first, harmlessly.
            _ => Ordering::Less,
        }
    }
}

impl RowKey {
    pub fn of(row: &UsageRow, sort: SortColumn) -> Self {
        let sort = match sort {
            SortColumn::Time => SortValue::Time(row.start.timestamp()),
            SortColumn::Subscription => SortValue::Text(row.subscription_id.clone()),
            // Without ASCII case, as names compare everywhere (and as SQL's lower() works).
            SortColumn::Meter => SortValue::Text(row.meter.name.to_ascii_lowercase()),
            SortColumn::Resource => SortValue::Text(row.resource_uri.to_ascii_lowercase()),
            SortColumn::Location => SortValue::Text(row.location.to_ascii_lowercase()),
            SortColumn::Quantity => SortValue::Number(row.quantity),
        };
        Self {
            sort,
            start: row.start.timestamp(),
            subscription: row.subscription_id.clone(),
            meter: row.meter.id.clone(),
            resource: row.resource_uri.clone(),
        }
    }

    /// Order by the sort column, then by the row's identity, so the order is total and pages
    /// never overlap or skip, even with equal values.
    fn cmp(&self, other: &Self, descending: bool) -> Ordering {
        let primary = self.sort.cmp(&other.sort);
        let primary = if descending {
            primary.reverse()
        } else {
            primary
        };
        primary
            .then(self.start.cmp(&other.start))
            .then_with(|| self.subscription.cmp(&other.subscription))
            .then_with(|| self.meter.cmp(&other.meter))
            .then_with(|| self.resource.cmp(&other.resource))
    }
}

/// The position of `row` in `query`'s order: what a continuation token carries.
pub fn row_key(row: &UsageRow, query: &ExploreQuery) -> RowKey {
    RowKey::of(row, query.sort)
}

/// Facts already narrowed to the query's scope and period, reduced to what the query shows.
pub struct Explorer {
    query: ExploreQuery,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    rows: Vec<UsageRow>,
    keys: Vec<RowKey>,
    chart: Option<ChartData>,
    options: FilterOptions,
    totals: Vec<MeterTotal>,
}

impl Explorer {
    /// Filters, groups and sorts `facts` (which the source read for `[from, to)` on the query's
    /// time basis, of the subscriptions the query's directory filters keep); `groups` names each
    /// subscription's group when the query groups by offer or plan.
    pub fn new(
        query: ExploreQuery,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        facts: &[UsageFact],
        groups: &DirectoryGroups,
    ) -> Self {
        let meters = Meters::of(facts);
        let mut tally = OptionTally::default();
        for fact in facts {
            let meter = meters.get(&fact.meter_id);
            tally.add_usage(
                &fact.subscription_id,
                meter,
                &fact.resource_uri,
                &fact.location,
                1,
            );
            tally.add_tags(&fact.tags, 1);
        }
        let options = tally.finish();
        let matcher = Matcher::new(&query, &meters);
        let kept: Vec<&UsageFact> = facts.iter().filter(|f| matcher.keeps(f)).collect();
        let mut rows = table_rows(&kept, query.step, &meters);
        let mut keyed: Vec<(RowKey, UsageRow)> = rows
            .drain(..)
            .map(|r| (RowKey::of(&r, query.sort), r))
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0, query.descending));
        let (keys, rows): (Vec<_>, Vec<_>) = keyed.into_iter().unzip();
        let totals = meter_totals(&rows);
        let mut weights: BTreeMap<String, usize> = BTreeMap::new();
        for fact in &kept {
            *weights
                .entry(meters.get(&fact.meter_id).unit.clone())
                .or_default() += 1;
        }
        let chart = chart_unit(&query, &weights).map(|unit| {
            let cells = kept
                .iter()
                .filter(|f| meters.get(&f.meter_id).unit == unit)
                .map(|f| {
                    let name = dimension_name(
                        &query.group_by,
                        &f.subscription_id,
                        meters.get(&f.meter_id),
                        &f.resource_uri,
                        &f.location,
                        tag_value(&f.tags, query.group_by.tag_name().unwrap_or_default()),
                        groups,
                    );
                    (f.usage_start, name, f.quantity)
                });
            build_chart(
                &query,
                from,
                to,
                &unit,
                weights.keys().cloned().collect(),
                cells,
            )
        });
        Self {
            query,
            from,
            to,
            rows,
            keys,
            chart,
            options,
            totals,
        }
    }

    /// The period's `[from, to)`.
    pub fn from(&self) -> DateTime<Utc> {
        self.from
    }

    pub fn to(&self) -> DateTime<Utc> {
        self.to
    }

    /// Every row, in the query's order (for exports).
    pub fn rows(&self) -> &[UsageRow] {
        &self.rows
    }

    /// Where the page that continues from `key` starts (`after`) or ends (`before`).
    pub fn locate(&self, key: &RowKey, after: bool) -> usize {
        let descending = self.query.descending;
        self.keys.partition_point(|k| {
            let ord = k.cmp(key, descending);
            if after {
                ord != Ordering::Greater
            } else {
                ord == Ordering::Less
            }
        })
    }

    /// The page a continuation names.
    pub fn page_from(&self, from: &PageFrom) -> Exploration {
        self.page(match from {
            PageFrom::First => PageAt::First,
            PageFrom::After(position) => PageAt::After(self.locate(&position.key, true)),
            PageFrom::Before(position) => PageAt::Before(self.locate(&position.key, false)),
        })
    }

    /// One page of the view.
    pub fn page(&self, at: PageAt) -> Exploration {
        let size = self.query.page_size.max(1);
        let start = match at {
            PageAt::First => 0,
            PageAt::After(i) => i.min(self.rows.len()),
            // A page before the first full page is the first page.
            PageAt::Before(i) => i.saturating_sub(size),
        };
        let end = (start + size).min(self.rows.len());
        Exploration {
            query: self.query.clone(),
            from: self.from,
            to: self.to,
            rows: self.rows[start..end].to_vec(),
            first_row: start,
            total_rows: self.rows.len(),
            totals: self.totals.clone(),
            chart: self.chart.clone(),
            options: self.options.clone(),
            next: None,
            previous: None,
            names: Default::default(),
        }
    }
}

/// Columns of the explorer's CSV download.
pub const EXPLORE_CSV_COLUMNS: [&str; 13] = [
    "UsageStart",
    "UsageEnd",
    "SubscriptionId",
    "SubscriptionName",
    "MeterCategory",
    "MeterName",
    "MeterId",
    "Unit",
    "ResourceGroup",
    "ResourceName",
    "ResourceUri",
    "Location",
    "Quantity",
];

/// One CSV row (unescaped fields) of an explorer row; `names` holds the directory's display
/// names by subscription ID.
pub fn explore_csv_fields(row: &UsageRow, names: &BTreeMap<String, String>) -> [String; 13] {
    [
        crate::time::arm_time(row.start),
        crate::time::arm_time(row.end),
        row.subscription_id.clone(),
        crate::directory::name_in(names, &row.subscription_id),
        row.meter.category.clone(),
        row.meter.name.clone(),
        row.meter.id.clone(),
        row.meter.unit.clone(),
        row.resource_group.clone(),
        row.resource_name.clone(),
        row.resource_uri.clone(),
        row.location.clone(),
        crate::export::format_quantity(row.quantity),
    ]
}

/// The catalog's description of each meter the facts name, looked up once per meter rather than
/// once per fact at every step.
struct Meters<'f>(HashMap<&'f str, MeterInfo>);

impl<'f> Meters<'f> {
    fn of(facts: &'f [UsageFact]) -> Self {
        let mut described = HashMap::new();
        for fact in facts {
            described
                .entry(fact.meter_id.as_str())
                .or_insert_with(|| catalog().describe(&fact.meter_id));
        }
        Self(described)
    }

    /// A meter of the facts this was made from.
    fn get(&self, meter_id: &str) -> &MeterInfo {
        &self.0[meter_id]
    }
}

/// Decides which facts a query keeps.
struct Matcher<'q> {
    query: &'q ExploreQuery,
    meters: &'q Meters<'q>,
    meter: Option<String>,
}

impl<'q> Matcher<'q> {
    fn new(query: &'q ExploreQuery, meters: &'q Meters<'q>) -> Self {
        Self {
            query,
            meters,
            meter: query.filters.meter.as_deref().map(meter_key),
        }
    }

    fn keeps(&self, fact: &UsageFact) -> bool {
        let f = &self.query.filters;
        let same = |want: &Option<String>, have: &str| {
            want.as_deref().is_none_or(|w| w.eq_ignore_ascii_case(have))
        };
        if let Some(sub) = &self.query.subscription {
            if !sub.as_str().eq_ignore_ascii_case(&fact.subscription_id) {
                return false;
            }
        }
        if let Some(meter) = &self.meter {
            if meter_key(&fact.meter_id) != *meter {
                return false;
            }
        }
        if !f.categories.is_empty() {
            let category = &self.meters.get(&fact.meter_id).category;
            if !f
                .categories
                .iter()
                .any(|c| c.eq_ignore_ascii_case(category))
            {
                return false;
            }
        }
        if f.resource_group.is_some()
            && !same(
                &f.resource_group,
                &ResourceParts::from_uri(&fact.resource_uri).resource_group,
            )
        {
            return false;
        }
        if !same(&f.resource, &fact.resource_uri) || !same(&f.location, &fact.location) {
            return false;
        }
        if let Some((name, value)) = &f.tag {
            match tag_value(&fact.tags, name) {
                Some(v) => value == "*" || v.eq_ignore_ascii_case(value),
                None => false,
            }
        } else {
            true
        }
    }
}

/// A tag's value, its name compared case-insensitively as Azure does.
pub fn tag_value<'a>(tags: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    tags.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A usage's value along a dimension, as the chart's legend shows it: from its subscription,
/// meter, resource, location and the value of the dimension's tag (for a tag dimension).
pub fn dimension_name(
    dimension: &Dimension,
    subscription: &str,
    meter: &MeterInfo,
    resource_uri: &str,
    location: &str,
    tag: Option<&str>,
    groups: &DirectoryGroups,
) -> String {
    let group = |none: &str| {
        groups
            .get(subscription)
            .cloned()
            .unwrap_or_else(|| none.to_owned())
    };
    match dimension {
        Dimension::Subscription => subscription.to_owned(),
        Dimension::Offer => group("(no offer)"),
        Dimension::Plan => group("(no plan)"),
        Dimension::Category => meter.category.clone(),
        Dimension::Meter => meter.name.clone(),
        Dimension::ResourceGroup => non_empty(
            ResourceParts::from_uri(resource_uri).resource_group,
            "(none)",
        ),
        Dimension::Resource => non_empty(
            ResourceParts::from_uri(resource_uri).resource_name,
            "(no resource)",
        ),
        Dimension::Location => non_empty(location.to_owned(), "(no location)"),
        Dimension::Tag(_) => tag.map_or_else(|| "(no tag)".to_owned(), str::to_owned),
    }
}

fn non_empty(s: String, otherwise: &str) -> String {
    if s.is_empty() {
        otherwise.to_owned()
    } else {
        s
    }
}

/// Facts summed per column of time, subscription, meter and resource.
fn table_rows(facts: &[&UsageFact], step: Step, meters: &Meters) -> Vec<UsageRow> {
    // (column start, subscription, meter, resource) -> (quantity, a fact of the row).
    type RowSum<'f> = HashMap<(DateTime<Utc>, &'f str, &'f str, &'f str), (f64, &'f UsageFact)>;
    let mut sums: RowSum = HashMap::new();
    for fact in facts {
        let start = step.bucket(fact.usage_start);
        let entry = sums
            .entry((
                start,
                fact.subscription_id.as_str(),
                fact.meter_id.as_str(),
                fact.resource_uri.as_str(),
            ))
            .or_insert((0.0, fact));
        entry.0 += fact.quantity;
        // A row's location is its facts' least, so every source names the same one.
        if fact.location < entry.1.location {
            entry.1 = fact;
        }
    }
    sums.into_iter()
        .map(
            |((start, subscription, meter_id, resource), (quantity, fact))| {
                let meter = meters.get(meter_id).clone();
                let parts = ResourceParts::from_uri(resource);
                UsageRow {
                    start,
                    end: step.next(start),
                    subscription_id: subscription.to_owned(),
                    meter,
                    resource_uri: resource.to_owned(),
                    resource_group: parts.resource_group,
                    resource_name: parts.resource_name,
                    location: fact.location.clone(),
                    quantity,
                }
            },
        )
        .collect()
}

fn meter_totals(rows: &[UsageRow]) -> Vec<MeterTotal> {
    let mut by_meter: HashMap<&str, MeterTotal> = HashMap::new();
    for row in rows {
        let total = by_meter
            .entry(row.meter.id.as_str())
            .or_insert_with(|| MeterTotal {
                meter: row.meter.clone(),
                quantity: 0.0,
                rows: 0,
            });
        total.quantity += row.quantity;
        total.rows += 1;
    }
    ordered_totals(by_meter.into_values())
}

/// Meter totals in the order the explorer lists them: by category, name and ID.
pub fn ordered_totals(totals: impl IntoIterator<Item = MeterTotal>) -> Vec<MeterTotal> {
    let mut totals: Vec<MeterTotal> = totals.into_iter().collect();
    totals.sort_by(|a, b| {
        (&a.meter.category, &a.meter.name, &a.meter.id).cmp(&(
            &b.meter.category,
            &b.meter.name,
            &b.meter.id,
        ))
    });
    totals
}

/// The unit the chart draws: the query's, if its usage has it, else the unit most of the usage
/// (by `weights`, records per unit) is measured in.
pub fn chart_unit(query: &ExploreQuery, weights: &BTreeMap<String, usize>) -> Option<String> {
    query
        .unit
        .as_ref()
        .filter(|u| weights.contains_key(*u))
        .cloned()
        .or_else(|| {
            weights
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .map(|(u, _)| u.clone())
        })
}

/// The chart of `unit` from its usage as (usage start, group name, quantity) cells; usage outside
/// the period's columns is left out. The busiest [`CHART_GROUPS`] groups are drawn, the rest
/// summed as "Other".
pub fn build_chart(
    query: &ExploreQuery,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    unit: &str,
    units: Vec<String>,
    cells: impl IntoIterator<Item = (DateTime<Utc>, String, f64)>,
) -> ChartData {
    let mut columns = Vec::new();
    let mut t = query.step.bucket(from);
    while t < to {
        columns.push(t);
        t = query.step.next(t);
    }
    let column_of: HashMap<DateTime<Utc>, usize> =
        columns.iter().enumerate().map(|(i, c)| (*c, i)).collect();
    let mut groups: HashMap<String, Vec<f64>> = HashMap::new();
    for (start, name, quantity) in cells {
        let Some(&col) = column_of.get(&query.step.bucket(start)) else {
            continue;
        };
        let values = groups
            .entry(name)
            .or_insert_with(|| vec![0.0; columns.len()]);
        values[col] += quantity;
    }
    let mut series: Vec<Series> = groups
        .into_iter()
        .map(|(name, values)| Series { name, values })
        .collect();
    let total = |s: &Series| s.values.iter().sum::<f64>();
    series.sort_by(|a, b| total(b).total_cmp(&total(a)).then(a.name.cmp(&b.name)));
    if series.len() > CHART_GROUPS + 1 {
        let rest = series.split_off(CHART_GROUPS);
        let mut other = vec![0.0; columns.len()];
        for s in &rest {
            for (o, v) in other.iter_mut().zip(&s.values) {
                *o += v;
            }
        }
        series.push(Series {
            name: format!("Other ({} more)", rest.len()),
            values: other,
        });
    }
    ChartData {
        unit: unit.to_owned(),
        units,
        group_label: query.group_by.label(),
        step: query.step,
        columns,
        series,
    }
}

/// Counts how much usage each filter value has, to offer the busiest values.
#[derive(Default)]
pub struct OptionTally {
    subscriptions: Counter,
    categories: Counter,
    meters: Counter,
    resource_groups: Counter,
    resources: Counter,
    locations: Counter,
    tag_names: BTreeSet<String>,
    tags: Counter,
}

impl OptionTally {
    /// `count` records of one subscription, meter, resource and location.
    pub fn add_usage(
        &mut self,
        subscription: &str,
        meter: &MeterInfo,
        resource_uri: &str,
        location: &str,
        count: usize,
    ) {
        self.subscriptions
            .add(subscription, count, || subscription.to_owned());
        self.categories
            .add(&meter.category, count, || meter.category.clone());
        self.meters.add(&meter.id, count, || {
            format!("{} ({})", meter.name, meter.category)
        });
        let parts = ResourceParts::from_uri(resource_uri);
        self.resource_groups.add(&parts.resource_group, count, || {
            parts.resource_group.clone()
        });
        self.resources.add(resource_uri, count, || {
            non_empty(parts.resource_name.clone(), resource_uri)
        });
        self.locations.add(location, count, || location.to_owned());
    }

    /// `count` records with these tags.
    pub fn add_tags(&mut self, tags: &BTreeMap<String, String>, count: usize) {
        for (name, value) in tags {
            if !self.tag_names.contains(name) {
                self.tag_names.insert(name.clone());
            }
            let pair = format!("{name}={value}");
            self.tags.add(&pair, count, || pair.clone());
        }
    }

    pub fn finish(self) -> FilterOptions {
        FilterOptions {
            subscriptions: self.subscriptions.busiest(),
            categories: self.categories.busiest(),
            meters: self.meters.busiest(),
            resource_groups: self.resource_groups.busiest(),
            resources: self.resources.busiest(),
            locations: self.locations.busiest(),
            tag_names: self.tag_names.into_iter().take(MAX_OPTIONS).collect(),
            tags: self.tags.busiest(),
            offers: Vec::new(),
            plans: Vec::new(),
        }
    }
}

/// Values with their label and how many records have them.
#[derive(Default)]
struct Counter(HashMap<String, (String, usize)>);

impl Counter {
    fn add(&mut self, value: &str, count: usize, label: impl FnOnce() -> String) {
        if value.is_empty() {
            return;
        }
        match self.0.get_mut(value) {
            Some(entry) => entry.1 += count,
            None => {
                self.0.insert(value.to_owned(), (label(), count));
            }
        }
    }

    /// The [`MAX_OPTIONS`] values with the most records (ties by label, then value), listed by
    /// label (then value: resources of one name in several groups list in a fixed order).
    fn busiest(self) -> Vec<OptionValue> {
        let mut all: Vec<(String, (String, usize))> = self.0.into_iter().collect();
        all.sort_by(|a, b| {
            b.1 .1
                .cmp(&a.1 .1)
                .then_with(|| a.1 .0.cmp(&b.1 .0))
                .then_with(|| a.0.cmp(&b.0))
        });
        all.truncate(MAX_OPTIONS);
        all.sort_by_cached_key(|a| (a.1 .0.to_lowercase(), a.0.clone()));
        all.into_iter()
            .map(|(value, (label, _))| OptionValue { value, label })
            .collect()
    }
}

#[cfg(test)]
mod tests;
