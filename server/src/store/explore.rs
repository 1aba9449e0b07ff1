//! The usage explorer computed by the database: totals, chart series, filter options and keyset
//! pages of rows are each one grouping query over the usage table, so the server holds what a
//! view shows and never the period's records. Both stores run the same SQL; [`Dialect`](super::dialect::Dialect) names the
//! few places where SQLite and PostgreSQL differ (placeholders, text order, tags).
//!
//! Names are numbered in the usage table; meters are few, so their catalog descriptions (name,
//! unit, category) are applied here, and filters on them become lists of meter numbers.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use meterbook_core::explore::{
    build_chart, chart_unit, dimension_name, ordered_totals, Dimension, DirectoryGroups,
    Exploration, ExploreQuery, MeterTotal, OptionTally, PageFrom, RowKey, RowPosition, SortColumn,
    SortValue, Step, TimeBasis, UsageRow,
};
use meterbook_core::export::ResourceParts;
use meterbook_core::meter::{catalog, meter_key, MeterInfo};
use meterbook_core::time::{from_epoch, DAY_SECONDS, HOUR_SECONDS};
use meterbook_core::SubscriptionId;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Type};

use super::dialect::{arguments, in_list, Bind, Dialect, Statement};
use super::reads::tag_map;
use super::StoreError;

/// One explorer view to compute.
pub struct ExploreRequest<'a> {
    /// The reader's subscriptions (`None`: all), narrowed by the query's offer and plan filters.
    pub subscriptions: Option<&'a [SubscriptionId]>,
    pub query: &'a ExploreQuery,
    /// Each subscription's group when the query groups by offer or plan.
    pub groups: &'a DirectoryGroups,
    /// The period, `[from, to)` on the query's time basis.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub page: &'a PageFrom,
}

#[derive(FromRow)]
pub(crate) struct NameRow {
    id: i64,
    name: String,
}

#[derive(FromRow)]
pub(crate) struct SpanRow {
    first: Option<i64>,
    last: Option<i64>,
}

/// A meter's usage in one column of time: its sum, rows and records.
#[derive(FromRow)]
pub(crate) struct TotalRow {
    bucket: i64,
    meter: i64,
    quantity: f64,
    row_count: i64,
    facts: i64,
}

#[derive(FromRow)]
pub(crate) struct ChartRow {
    bucket: i64,
    meter: i64,
    value: Option<String>,
    quantity: f64,
}

#[derive(FromRow)]
pub(crate) struct OptionRow {
    subscription_id: String,
    meter: i64,
    resource_uri: String,
    location: String,
    /// The rows' tags as JSON text, or NULL.
    tags: Option<String>,
    facts: i64,
}

#[derive(FromRow)]
pub(crate) struct TableRow {
    bucket: i64,
    subscription_id: String,
    meter: i64,
    resource_uri: String,
    location: String,
    quantity: f64,
}

/// Where a view's usage rows come from, as SQL over the alias `u`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct UsageRows {
    table: &'static str,
    /// A row's usage start.
    start: &'static str,
    /// The records a row stands for.
    count: &'static str,
    /// Its tags as JSON text, or NULL.
    tags: &'static str,
}

/// The hourly usage rows themselves.
const USAGE: UsageRows = UsageRows {
    table: "usage_records u",
    start: "u.usage_start",
    count: "COUNT(*)",
    tags: "u.tags",
};

/// The per-resource daily rollup, for daily and monthly views of usage time.
const DAILY: UsageRows = UsageRows {
    table: "usage_daily_resources u",
    start: "u.day_start",
    count: "CAST(SUM(u.records) AS BIGINT)",
    tags: "NULLIF(u.tags, '')",
};

/// A usage row's subscription and resource as one number, which tells a meter's rows in one
/// column apart: resources are numbered from 1 by the store, far below 2^32.
const ROW_OF_METER: &str = "(u.subscription * 4294967296 + u.resource)";

/// The per-resource monthly rollup's record counts, for the filter options of whole days.
const MONTHLY_OPTIONS: &str = "usage_monthly_resources u";

/// A meter of the store: its number, stored ID and catalog description, and where it sorts.
#[derive(Debug, Clone)]
struct Meter {
    info: MeterInfo,
    /// Rank of its lowercased name, and of its catalog ID, among the store's meters (equal
    /// values, equal ranks), so SQL sorts meters as the catalog names them.
    name_rank: i64,
    id_rank: i64,
}

/// Everything about a request resolved to the store's numbers: what every query of the view
/// filters on. Owns its parts, so a streaming export can carry it into a task.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    dialect: Dialect,
    query: ExploreQuery,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// The hourly rows, or the daily rollup where the query allows.
    rows: UsageRows,
    /// The period is whole UTC days of usage time: the rollups hold its filter options.
    whole_days: bool,
    /// Usage starts to scan, `[start, end)`.
    usage: (i64, i64),
    /// Reported times to keep, on the reported basis.
    reported: Option<(i64, i64)>,
    /// The reader's subscription numbers (`None`: all).
    scope: Option<Vec<i64>>,
    meters: HashMap<i64, Meter>,
    /// The meters' lowercased names and catalog IDs, sorted and distinct: what ranks count in.
    meter_names: Vec<String>,
    meter_ids: Vec<String>,
    /// Meter and resource numbers the filters keep (`None`: no such filter).
    filter_meters: Option<Vec<i64>>,
    filter_resources: Option<Vec<i64>>,
    /// The period or the scope holds no usage at all.
    empty: bool,
    /// The filters keep nothing (the options still show what the period holds).
    filtered_out: bool,
}

/// How much a key's text sorts before or among `ranked` (sorted, distinct): even ranks are the
/// values themselves, odd ones fall between, so a key whose meter is gone still pages correctly.
fn rank_of(ranked: &[String], value: &str) -> i64 {
    match ranked.binary_search_by(|v| v.as_str().cmp(value)) {
        Ok(i) => 2 * i as i64,
        Err(i) => 2 * i as i64 - 1,
    }
}

fn dense_ranks(values: impl Iterator<Item = String>) -> Vec<String> {
    let mut all: Vec<String> = values.collect();
    all.sort();
    all.dedup();
    all
}

/// The SQL that numbers the column of time of a usage row starting at `start` (a column).
fn bucket_sql(step: Step, start: &str, usage: (i64, i64)) -> String {
    match step {
        Step::Hourly => format!("({start} - {start} % {HOUR_SECONDS})"),
        Step::Daily => format!("({start} - {start} % {DAY_SECONDS})"),
        Step::Monthly => {
            // Months differ in length: a CASE over the month starts the scanned span covers.
            let mut starts = Vec::new();
            let mut t = step.bucket(from_epoch(usage.0));
            while t.timestamp() < usage.1 {
                starts.push(t.timestamp());
                t = step.next(t);
            }
            let first = starts.first().copied().unwrap_or(usage.0);
            if starts.len() <= 1 {
                return format!("({first})");
            }
            let mut sql = String::from("(CASE");
            for month in starts.iter().skip(1).rev() {
                sql.push_str(&format!(" WHEN {start} >= {month} THEN {month}"));
            }
            sql.push_str(&format!(" ELSE {first} END)"));
            sql
        }
    }
}

/// How the rollups count the whole days of usage `[from, to)`: each whole month from the
/// monthly rollup; a month the period shares at most half of by its shared days from the daily
/// rollup (`added`); a month it shares more of as the whole month less its other days (`removed`).
/// So no month costs more than half its days of daily rows.
#[derive(Debug, Default, PartialEq)]
struct RollupSpans {
    months: Vec<i64>,
    added: Vec<(i64, i64)>,
    removed: Vec<(i64, i64)>,
}

impl RollupSpans {
    fn of((from, to): (i64, i64)) -> Self {
        let mut spans = Self::default();
        let mut month = Step::Monthly.bucket(from_epoch(from));
        while month.timestamp() < to {
            let next = Step::Monthly.next(month);
            let (first, end) = (month.timestamp(), next.timestamp());
            let shared = (from.max(first), to.min(end));
            if shared == (first, end) {
                spans.months.push(first);
            } else if 2 * (shared.1 - shared.0) <= end - first {
                spans.added.push(shared);
            } else {
                spans.months.push(first);
                spans.removed.extend(
                    [(first, shared.0), (shared.1, end)]
                        .into_iter()
                        .filter(|(a, b)| a < b),
                );
            }
            month = next;
        }
        spans
    }

    fn is_empty(&self) -> bool {
        self.months.is_empty() && self.added.is_empty()
    }
}

impl Plan {
    fn meter(&self, number: i64) -> MeterInfo {
        self.meters
            .get(&number)
            .map(|m| m.info.clone())
            .unwrap_or_else(|| catalog().describe(""))
    }

    /// The column of time of a usage row, as BIGINT in both stores (a literal alone is INTEGER).
    fn bucket(&self) -> String {
        // The rollup's days are the daily columns: bare, so grouping follows its key's order
        // instead of sorting (0.68 s against 1.15 s for a 1,000-tenant month on SQLite).
        if self.rows == DAILY && self.query.step == Step::Daily {
            return DAILY.start.to_owned();
        }
        format!(
            "CAST({} AS BIGINT)",
            bucket_sql(self.query.step, self.rows.start, self.usage)
        )
    }

    /// The value of the tag `name` on a usage row (the first key equal to it without ASCII case,
    /// as the explorer reads tags), or NULL. Text is lowercased in ASCII only on both sides
    /// (PostgreSQL's lower() under the C collation), as Rust's `eq_ignore_ascii_case` compares.
    fn push_tag_value(&self, sql: &mut Statement, name: &str) {
        match self.dialect {
            Dialect::Sqlite => {
                // json_each gives numbers and booleans as SQL values; written back as JSON text,
                // as the explorer reads non-text tags.
                sql.push(
                    "(SELECT CASE j.type WHEN 'text' THEN j.value WHEN 'true' THEN 'true' \
                     WHEN 'false' THEN 'false' WHEN 'null' THEN 'null' ELSE CAST(j.value AS TEXT) END \
                     FROM json_each(",
                )
                .push(self.rows.tags)
                .push(") j WHERE lower(j.key) = ")
                .bind_text(&name.to_ascii_lowercase())
                .push(" ORDER BY j.key LIMIT 1)");
            }
            Dialect::Postgres => {
                sql.push("(SELECT j.value FROM jsonb_each_text(CAST(")
                    .push(self.rows.tags)
                    .push(" AS jsonb)) j WHERE lower(j.key COLLATE \"C\") = ")
                    .bind_text(&name.to_ascii_lowercase())
                    .push(" ORDER BY j.key COLLATE \"C\" LIMIT 1)");
            }
        }
    }

    /// ` AND` the reader's subscriptions, if the reader is scoped.
    fn scope_sql(&self) -> String {
        match &self.scope {
            Some(scope) => format!(" AND u.subscription{}", in_list(scope)),
            None => String::new(),
        }
    }

    /// ` WHERE` of the period and scope and, when `filtered`, of the query's filters.
    fn push_where(&self, sql: &mut Statement, filtered: bool) {
        self.push_where_in(sql, filtered, self.usage);
    }

    /// [`Self::push_where`] with usage starts in `usage`, a part of the period.
    fn push_where_in(&self, sql: &mut Statement, filtered: bool, usage: (i64, i64)) {
        let start = self.rows.start;
        sql.push(&format!(" WHERE {start} >= "))
            .bind_int(usage.0)
            .push(&format!(" AND {start} < "))
            .bind_int(usage.1);
        if self.rows == DAILY {
            // A correction can leave an emptied rollup row behind until it is removed.
            sql.push(" AND u.records > 0");
        }
        if let Some((from, to)) = self.reported {
            sql.push(" AND u.reported_time >= ")
                .bind_int(from)
                .push(" AND u.reported_time < ")
                .bind_int(to);
        }
        sql.push(&self.scope_sql());
        if !filtered {
            return;
        }
        if let Some(meters) = &self.filter_meters {
            sql.push(" AND u.meter").numbers(meters);
        }
        if let Some(resources) = &self.filter_resources {
            sql.push(" AND u.resource").numbers(resources);
        }
        let filters = &self.query.filters;
        if let Some(location) = &filters.location {
            sql.push(&format!(
                " AND lower(u.location{}) = ",
                self.dialect.bytewise()
            ))
            .bind_text(&location.to_ascii_lowercase());
        }
        if let Some((name, value)) = &filters.tag {
            if value == "*" {
                sql.push(" AND ");
                self.push_tag_value(sql, name);
                sql.push(" IS NOT NULL");
            } else {
                // Tag values compare without ASCII case, as Azure's do.
                sql.push(" AND lower(");
                self.push_tag_value(sql, name);
                sql.push(&format!("{}) = ", self.dialect.bytewise()))
                    .bind_text(&value.to_ascii_lowercase());
            }
        }
    }

    /// The query's rows before paging: usage summed per column of time, subscription, meter and
    /// resource, with the row's least location and its count of records, of usage starting in
    /// `usage`.
    fn push_row_groups(&self, sql: &mut Statement, usage: (i64, i64)) {
        sql.push(&format!(
            "SELECT {} AS bucket, u.subscription, u.meter, u.resource, \
             MIN(u.location{}) AS location, SUM(u.quantity) AS quantity, {} AS facts \
             FROM {}",
            self.bucket(),
            self.dialect.bytewise(),
            self.rows.count,
            self.rows.table,
        ));
        self.push_where_in(sql, true, usage);
        // Column and meter first, as the daily rollup's key runs.
        sql.push(" GROUP BY 1, 3, 2, 4");
    }

    /// Each meter's rows per column of time: the totals, and the chart's cells when the chart
    /// groups by meter or category (one scan of the period for both). A row is a column's
    /// subscription, meter and resource, so a cell counts its distinct subscriptions and
    /// resources; in the daily rollup the days and meters lead the key, so a daily view groups
    /// the period in the order it reads it.
    fn totals_sql(&self) -> Statement {
        let mut sql = Statement::new(self.dialect);
        sql.push(&format!(
            "SELECT {} AS bucket, u.meter, SUM(u.quantity) AS quantity, \
             COUNT(DISTINCT {ROW_OF_METER}) AS row_count, {} AS facts FROM {}",
            self.bucket(),
            self.rows.count,
            self.rows.table,
        ));
        self.push_where(&mut sql, true);
        sql.push(" GROUP BY 1, 2");
        sql
    }

    /// The chart's cells of the meters measured in `unit`: usage per column and group value.
    fn chart_sql(&self, unit_meters: &[i64]) -> Statement {
        let mut sql = Statement::new(self.dialect);
        sql.push(&format!("SELECT {} AS bucket, u.meter, ", self.bucket()));
        let join = match &self.query.group_by {
            // Offers and plans are the directory's: the cells come per subscription, and each
            // goes to its subscription's group.
            Dimension::Subscription | Dimension::Offer | Dimension::Plan => {
                sql.push("s.subscription_id");
                " JOIN subscriptions s ON s.id = u.subscription"
            }
            Dimension::Category | Dimension::Meter => {
                sql.push("NULL");
                ""
            }
            Dimension::ResourceGroup | Dimension::Resource => {
                sql.push("r.resource_uri");
                " JOIN resources r ON r.id = u.resource"
            }
            Dimension::Location => {
                sql.push("u.location");
                ""
            }
            Dimension::Tag(name) => {
                self.push_tag_value(&mut sql, name);
                ""
            }
        };
        sql.push(" AS value, SUM(u.quantity) AS quantity FROM ")
            .push(self.rows.table)
            .push(join);
        self.push_where(&mut sql, true);
        sql.push(" AND u.meter").numbers(unit_meters);
        sql.push(" GROUP BY 1, 2, 3");
        sql
    }

    /// What the period holds before filtering, per subscription, meter, resource, location and
    /// tags: every filter's options (tags included) from one grouping, of the rollups when the
    /// period is whole days of usage time (`None`: the period holds no day).
    fn options_sql(&self) -> Option<Statement> {
        let mut sql = Statement::new(self.dialect);
        sql.push(
            "SELECT s.subscription_id, g.meter, r.resource_uri, g.location, g.tags, g.facts FROM (",
        );
        if self.whole_days {
            let spans = RollupSpans::of(self.usage);
            if spans.is_empty() {
                return None;
            }
            self.push_rollup_options(&mut sql, &spans);
        } else {
            sql.push(&format!(
                "SELECT u.subscription, u.meter, u.resource, u.location, u.tags, \
                 COUNT(*) AS facts FROM {}",
                USAGE.table
            ));
            self.push_where(&mut sql, false);
            sql.push(" GROUP BY u.subscription, u.meter, u.resource, u.location, u.tags");
        }
        sql.push(
            ") g JOIN subscriptions s ON s.id = g.subscription \
             JOIN resources r ON r.id = g.resource",
        );
        Some(sql)
    }

    /// The records of whole days per subscription, meter, resource, location and tags, counted
    /// from the rollups as `spans` says. Its numbers are the store's and the period's own.
    fn push_rollup_options(&self, sql: &mut Statement, spans: &RollupSpans) {
        let columns = "u.subscription, u.meter, u.resource, u.location, u.tags";
        let scope = self.scope_sql();
        let mut parts: Vec<String> = Vec::new();
        if !spans.months.is_empty() {
            parts.push(format!(
                "SELECT {columns}, u.records AS facts FROM {MONTHLY_OPTIONS} \
                 WHERE u.month_start{}{scope}",
                in_list(&spans.months)
            ));
        }
        for (days, sign) in [(&spans.added, ""), (&spans.removed, "-")] {
            if days.is_empty() {
                continue;
            }
            let days: Vec<String> = days
                .iter()
                .map(|(from, to)| format!("(u.day_start >= {from} AND u.day_start < {to})"))
                .collect();
            parts.push(format!(
                "SELECT {columns}, {sign}u.records AS facts FROM {} WHERE ({}){scope}",
                DAILY.table,
                days.join(" OR ")
            ));
        }
        sql.push(&format!(
            "SELECT u.subscription, u.meter, u.resource, u.location, NULLIF(u.tags, '') AS tags, \
             CAST(SUM(u.facts) AS BIGINT) AS facts FROM ({}) u \
             GROUP BY {columns} HAVING SUM(u.facts) > 0",
            parts.join(" UNION ALL ")
        ));
    }

    /// The SQL of the sort column's value of a grouped row `g`.
    fn primary_sql(&self) -> String {
        let c = self.dialect.bytewise();
        match self.query.sort {
            SortColumn::Time => "g.bucket".to_owned(),
            SortColumn::Subscription => format!("s.subscription_id{c}"),
            SortColumn::Meter => self.meter_rank_sql(|m| m.name_rank),
            SortColumn::Resource => format!("lower(r.resource_uri{c})"),
            SortColumn::Location => format!("lower(g.location{c})"),
            SortColumn::Quantity => "g.quantity".to_owned(),
        }
    }

    fn meter_rank_sql(&self, rank: impl Fn(&Meter) -> i64) -> String {
        if self.meters.is_empty() {
            // No meters, no rows; a constant would be read as a column number in ORDER BY.
            return "g.meter".to_owned();
        }
        let mut sql = String::from("(CASE g.meter");
        let mut numbers: Vec<&i64> = self.meters.keys().collect();
        numbers.sort();
        for number in numbers {
            sql.push_str(&format!(
                " WHEN {number} THEN {}",
                rank(&self.meters[number])
            ));
        }
        sql.push_str(" ELSE -1 END)");
        sql
    }

    /// The rest of a row's order, its identity: column, subscription, meter (by catalog ID) and
    /// resource.
    fn identity_sql(&self) -> [String; 4] {
        let c = self.dialect.bytewise();
        [
            "g.bucket".to_owned(),
            format!("s.subscription_id{c}"),
            self.meter_rank_sql(|m| m.id_rank),
            format!("r.resource_uri{c}"),
        ]
    }

    fn push_primary_value(&self, sql: &mut Statement, key: &RowKey) {
        let bind = match (&key.sort, self.query.sort) {
            (SortValue::Text(name), SortColumn::Meter) => {
                Bind::Int(rank_of(&self.meter_names, name))
            }
            (SortValue::Text(text), _) => Bind::Text(text.clone()),
            (SortValue::Number(n), _) => Bind::Real(*n),
            (SortValue::Time(t), _) => Bind::Int(*t),
        };
        sql.bind(bind);
    }

    fn push_identity_value(&self, sql: &mut Statement, key: &RowKey) {
        sql.push("(")
            .bind_int(key.start)
            .push(", ")
            .bind_text(&key.subscription)
            .push(", ")
            .bind_int(rank_of(&self.meter_ids, &key.meter))
            .push(", ")
            .bind_text(&key.resource)
            .push(")");
    }

    /// A page of rows: `limit` of them after (`forward`) or before `key`, in the query's order
    /// (before: in reverse), or from the first with no key, among the rows of usage starting in
    /// `usage`.
    fn rows_sql(
        &self,
        key: Option<&RowKey>,
        forward: bool,
        limit: Option<usize>,
        usage: (i64, i64),
    ) -> Statement {
        let mut sql = Statement::new(self.dialect);
        let primary = self.primary_sql();
        let identity = self.identity_sql();
        sql.push(
            "SELECT g.bucket, s.subscription_id, g.meter, r.resource_uri, g.location, g.quantity \
             FROM (",
        );
        self.push_row_groups(&mut sql, usage);
        sql.push(
            ") g JOIN subscriptions s ON s.id = g.subscription \
             JOIN resources r ON r.id = g.resource",
        );
        // Ascending in the query's order is "after"; the primary column may run the other way.
        let primary_up = forward != self.query.descending;
        let identity_up = forward;
        if let Some(key) = key {
            let (p, i) = (
                if primary_up { ">" } else { "<" },
                if identity_up { ">" } else { "<" },
            );
            sql.push(&format!(" WHERE ({primary} {p} "));
            self.push_primary_value(&mut sql, key);
            sql.push(&format!(" OR ({primary} = "));
            self.push_primary_value(&mut sql, key);
            sql.push(&format!(" AND ({}) {i} ", identity.join(", ")));
            self.push_identity_value(&mut sql, key);
            sql.push("))");
        }
        let dir = |up: bool| if up { "ASC" } else { "DESC" };
        let identity_order: Vec<String> = identity
            .iter()
            .map(|part| format!("{part} {}", dir(identity_up)))
            .collect();
        sql.push(&format!(
            " ORDER BY {primary} {}, {}",
            dir(primary_up),
            identity_order.join(", ")
        ));
        if let Some(limit) = limit {
            sql.push(&format!(" LIMIT {limit}"));
        }
        sql
    }

    /// An explorer row of a grouped row.
    fn usage_row(&self, row: TableRow) -> UsageRow {
        let start = from_epoch(row.bucket);
        let parts = ResourceParts::from_uri(&row.resource_uri);
        UsageRow {
            start,
            end: self.query.step.next(start),
            subscription_id: row.subscription_id,
            meter: self.meter(row.meter),
            resource_group: parts.resource_group,
            resource_name: parts.resource_name,
            resource_uri: row.resource_uri,
            location: row.location,
            quantity: row.quantity,
        }
    }
}

/// A meter's usage over the whole period: what its cells add up to.
#[derive(Default)]
struct MeterSum {
    quantity: f64,
    rows: i64,
    facts: i64,
}

/// Each meter's sums over the columns of time of `cells`.
fn meter_totals(cells: &[TotalRow]) -> BTreeMap<i64, MeterSum> {
    let mut totals: BTreeMap<i64, MeterSum> = BTreeMap::new();
    for cell in cells {
        let total = totals.entry(cell.meter).or_default();
        total.quantity += cell.quantity;
        total.rows += cell.row_count;
        total.facts += cell.facts;
    }
    totals
}

/// The explorer's queries run on one store's pool.
pub(crate) struct Sql<'p, DB: Database> {
    pub pool: &'p Pool<DB>,
    pub dialect: Dialect,
}

/// Rows of an explorer query as the store streams them.
pub type RowReceiver = tokio::sync::mpsc::Receiver<Result<UsageRow, StoreError>>;

/// How many rows a streaming export reads ahead of its client.
const STREAM_AHEAD: usize = 256;

impl<DB> Sql<'_, DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> DB::Arguments<'a>: IntoArguments<'a, DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
    for<'a> f64: Encode<'a, DB> + Type<DB>,
    for<'a> String: Encode<'a, DB> + Type<DB>,
    for<'r> NameRow: FromRow<'r, DB::Row>,
    for<'r> SpanRow: FromRow<'r, DB::Row>,
    for<'r> TotalRow: FromRow<'r, DB::Row>,
    for<'r> ChartRow: FromRow<'r, DB::Row>,
    for<'r> OptionRow: FromRow<'r, DB::Row>,
    for<'r> TableRow: FromRow<'r, DB::Row>,
{
    async fn fetch<T>(&self, sql: Statement) -> Result<Vec<T>, StoreError>
    where
        T: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
    {
        let query = sqlx::query_as_with::<DB, T, _>(&sql.text, arguments(&sql.binds)?);
        Ok(query.fetch_all(self.pool).await?)
    }

    /// Sends every row of `plan`'s query, in its order, until the receiver goes away or the
    /// database fails (the failure is sent too). Memory stays one read-ahead of rows.
    pub(crate) async fn send_rows(
        &self,
        plan: Plan,
        rows: tokio::sync::mpsc::Sender<Result<UsageRow, StoreError>>,
    ) {
        use futures::StreamExt;
        if plan.empty || plan.filtered_out {
            return;
        }
        let sql = plan.rows_sql(None, true, None, plan.usage);
        let arguments = match arguments(&sql.binds) {
            Ok(arguments) => arguments,
            Err(e) => {
                let _ = rows.send(Err(e.into())).await;
                return;
            }
        };
        let mut stream =
            sqlx::query_as_with::<DB, TableRow, _>(&sql.text, arguments).fetch(self.pool);
        while let Some(row) = stream.next().await {
            let row = row.map(|r| plan.usage_row(r)).map_err(StoreError::from);
            let failed = row.is_err();
            if rows.send(row).await.is_err() || failed {
                return;
            }
        }
    }

    /// Every row of `request`'s query, read by a task as the receiver takes them.
    pub(crate) async fn rows_channel(
        &self,
        request: &ExploreRequest<'_>,
    ) -> Result<RowReceiver, StoreError>
    where
        DB: 'static,
    {
        let plan = self.plan(request).await?;
        let (send, receive) = tokio::sync::mpsc::channel(STREAM_AHEAD);
        let pool = self.pool.clone();
        let dialect = self.dialect;
        tokio::spawn(async move {
            Sql {
                pool: &pool,
                dialect,
            }
            .send_rows(plan, send)
            .await
        });
        Ok(receive)
    }

    fn statement(&self, text: &str) -> Statement {
        let mut sql = Statement::new(self.dialect);
        sql.push(text);
        sql
    }

    /// Resolves `request` to the store's numbers.
    pub(crate) async fn plan(&self, request: &ExploreRequest<'_>) -> Result<Plan, StoreError> {
        let query = request.query;
        let mut empty = false;
        let (usage, reported) = match query.basis {
            TimeBasis::Usage => ((request.from.timestamp(), request.to.timestamp()), None),
            TimeBasis::Reported => {
                // Records reported in the period were used within the spans the store keeps.
                let mut sql = self.statement(
                    "SELECT MIN(first_usage) AS first, MAX(last_usage) AS last \
                     FROM reported_spans WHERE reported_hour >= ",
                );
                sql.bind_int(request.from.timestamp().div_euclid(HOUR_SECONDS))
                    .push(" AND reported_hour < ")
                    .bind_int((request.to.timestamp() + HOUR_SECONDS - 1).div_euclid(HOUR_SECONDS));
                let span = self.fetch::<SpanRow>(sql).await?;
                let reported = Some((request.from.timestamp(), request.to.timestamp()));
                match span.first() {
                    Some(SpanRow {
                        first: Some(first),
                        last: Some(last),
                    }) => ((*first, *last + 1), reported),
                    _ => {
                        empty = true;
                        ((0, 0), reported)
                    }
                }
            }
        };
        let scope = match request.subscriptions {
            None => None,
            Some([]) => {
                empty = true;
                Some(Vec::new())
            }
            Some(subscriptions) => {
                let mut sql =
                    self.statement("SELECT id, subscription_id AS name FROM subscriptions WHERE subscription_id IN (");
                for (i, sub) in subscriptions.iter().enumerate() {
                    if i > 0 {
                        sql.push(", ");
                    }
                    sql.bind_text(sub.as_str());
                }
                sql.push(")");
                let numbers: Vec<i64> = self
                    .fetch::<NameRow>(sql)
                    .await?
                    .into_iter()
                    .map(|r| r.id)
                    .collect();
                empty |= numbers.is_empty();
                Some(numbers)
            }
        };
        let described: Vec<(i64, MeterInfo)> = self
            .fetch::<NameRow>(self.statement("SELECT id, meter_id AS name FROM meters"))
            .await?
            .into_iter()
            .map(|r| (r.id, catalog().describe(&r.name)))
            .collect();
        let names = dense_ranks(described.iter().map(|(_, m)| m.name.to_ascii_lowercase()));
        let ids = dense_ranks(described.iter().map(|(_, m)| m.id.clone()));
        let meters: HashMap<i64, Meter> = described
            .into_iter()
            .map(|(number, info)| {
                let meter = Meter {
                    name_rank: rank_of(&names, &info.name.to_ascii_lowercase()),
                    id_rank: rank_of(&ids, &info.id),
                    info,
                };
                (number, meter)
            })
            .collect();
        let filters = &query.filters;
        let filter_meters = if !filters.categories.is_empty() || filters.meter.is_some() {
            let wanted_meter = filters.meter.as_deref().map(meter_key);
            let mut kept: Vec<i64> = meters
                .iter()
                .filter(|(_, m)| {
                    (filters.categories.is_empty()
                        || filters
                            .categories
                            .iter()
                            .any(|c| c.eq_ignore_ascii_case(&m.info.category)))
                        && wanted_meter
                            .as_deref()
                            .is_none_or(|w| meter_key(&m.info.id) == w)
                })
                .map(|(number, _)| *number)
                .collect();
            kept.sort_unstable();
            Some(kept)
        } else {
            None
        };
        let filter_resources = self.filter_resources(query).await?;
        let filtered_out = filter_meters.as_ref().is_some_and(Vec::is_empty)
            || filter_resources.as_ref().is_some_and(Vec::is_empty);
        // Whole days of usage time in columns of days or months: the daily rollup holds them.
        let whole_day = |t: DateTime<Utc>| t.timestamp().rem_euclid(DAY_SECONDS) == 0;
        let whole_days =
            query.basis == TimeBasis::Usage && whole_day(request.from) && whole_day(request.to);
        let rows = if whole_days && query.step != Step::Hourly {
            DAILY
        } else {
            USAGE
        };
        Ok(Plan {
            dialect: self.dialect,
            query: query.clone(),
            from: request.from,
            to: request.to,
            rows,
            whole_days,
            usage,
            reported,
            scope,
            meters,
            meter_names: names,
            meter_ids: ids,
            filter_meters,
            filter_resources,
            empty,
            filtered_out,
        })
    }

    /// The resources the resource and resource group filters keep (`None`: no such filter).
    async fn filter_resources(&self, query: &ExploreQuery) -> Result<Option<Vec<i64>>, StoreError> {
        let filters = &query.filters;
        if filters.resource.is_none() && filters.resource_group.is_none() {
            return Ok(None);
        }
        // A narrowing search in SQL (the URI contains the names), then the explorer's own rule.
        let mut sql = self.statement("SELECT id, resource_uri AS name FROM resources WHERE true");
        for part in [&filters.resource, &filters.resource_group]
            .into_iter()
            .flatten()
        {
            let escaped = part
                .to_ascii_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            sql.push(&format!(
                " AND lower(resource_uri{}) LIKE ",
                self.dialect.bytewise()
            ))
            .bind_text(&format!("%{escaped}%"))
            .push(" ESCAPE '\\'");
        }
        let mut kept: Vec<i64> = self
            .fetch::<NameRow>(sql)
            .await?
            .into_iter()
            .filter(|r| {
                filters
                    .resource
                    .as_deref()
                    .is_none_or(|want| want.eq_ignore_ascii_case(&r.name))
                    && filters.resource_group.as_deref().is_none_or(|want| {
                        want.eq_ignore_ascii_case(&ResourceParts::from_uri(&r.name).resource_group)
                    })
            })
            .map(|r| r.id)
            .collect();
        kept.sort_unstable();
        Ok(Some(kept))
    }

    /// The view `request` asks for.
    pub(crate) async fn explore(
        &self,
        request: &ExploreRequest<'_>,
    ) -> Result<Exploration, StoreError> {
        let plan = self.plan(request).await?;
        let mut exploration = Exploration {
            query: plan.query.clone(),
            from: plan.from,
            to: plan.to,
            rows: Vec::new(),
            first_row: 0,
            total_rows: 0,
            totals: Vec::new(),
            chart: None,
            options: Default::default(),
            next: None,
            previous: None,
            names: Default::default(),
        };
        if plan.empty {
            return Ok(exploration);
        }
        if plan.filtered_out {
            exploration.options = self.options(&plan).await?;
            return Ok(exploration);
        }
        // The view's queries are independent but for the chart's unit: they run side by side.
        let (options, cells, (rows, first_row)) = futures::try_join!(
            self.options(&plan),
            self.fetch::<TotalRow>(plan.totals_sql()),
            self.page(&plan, request.page),
        )?;
        exploration.options = options;
        let totals = meter_totals(&cells);
        let mut weights: BTreeMap<String, usize> = BTreeMap::new();
        for (meter, total) in &totals {
            *weights.entry(plan.meter(*meter).unit).or_default() += total.facts.max(0) as usize;
        }
        exploration.total_rows = totals.values().map(|t| t.rows.max(0) as usize).sum();
        exploration.totals = ordered_totals(totals.iter().map(|(meter, t)| MeterTotal {
            meter: plan.meter(*meter),
            quantity: t.quantity,
            rows: t.rows.max(0) as usize,
        }));
        if let Some(unit) = chart_unit(&plan.query, &weights) {
            exploration.chart = Some(
                self.chart(&plan, &unit, &weights, &cells, request.groups)
                    .await?,
            );
        }
        exploration.first_row = first_row.min(exploration.total_rows.saturating_sub(rows.len()));
        exploration.rows = rows;
        Ok(exploration)
    }

    async fn options(
        &self,
        plan: &Plan,
    ) -> Result<meterbook_core::explore::FilterOptions, StoreError> {
        let mut tally = OptionTally::default();
        // Tags repeat across a resource's meters: each distinct text is read once.
        let mut tagged: HashMap<String, usize> = HashMap::new();
        let Some(sql) = plan.options_sql() else {
            return Ok(tally.finish());
        };
        for row in self.fetch::<OptionRow>(sql).await? {
            let meter = plan.meter(row.meter);
            let count = row.facts.max(0) as usize;
            tally.add_usage(
                &row.subscription_id,
                &meter,
                &row.resource_uri,
                &row.location,
                count,
            );
            if let Some(tags) = row.tags {
                *tagged.entry(tags).or_default() += count;
            }
        }
        for (tags, count) in tagged {
            tally.add_tags(&tag_map(Some(&tags)), count);
        }
        Ok(tally.finish())
    }

    async fn chart(
        &self,
        plan: &Plan,
        unit: &str,
        weights: &BTreeMap<String, usize>,
        totals: &[TotalRow],
        groups: &DirectoryGroups,
    ) -> Result<meterbook_core::explore::ChartData, StoreError> {
        let in_unit = |meter: i64| plan.meter(meter).unit == unit;
        let group_by = &plan.query.group_by;
        let cells: Vec<ChartRow> = if matches!(group_by, Dimension::Category | Dimension::Meter) {
            // Meters come by number: the totals' cells are the chart's.
            totals
                .iter()
                .filter(|t| in_unit(t.meter))
                .map(|t| ChartRow {
                    bucket: t.bucket,
                    meter: t.meter,
                    value: None,
                    quantity: t.quantity,
                })
                .collect()
        } else {
            let mut unit_meters: Vec<i64> = totals
                .iter()
                .map(|t| t.meter)
                .filter(|m| in_unit(*m))
                .collect();
            unit_meters.sort_unstable();
            unit_meters.dedup();
            self.fetch::<ChartRow>(plan.chart_sql(&unit_meters)).await?
        };
        let named = cells.into_iter().map(|cell| {
            // The cell's value is whichever of subscription, resource, location or tag value
            // the grouping reads (meters come by number).
            let value = cell.value.as_deref();
            let text = value.unwrap_or("");
            let meter = plan.meter(cell.meter);
            let name = dimension_name(group_by, text, &meter, text, text, value, groups);
            (from_epoch(cell.bucket), name, cell.quantity)
        });
        Ok(build_chart(
            &plan.query,
            plan.from,
            plan.to,
            unit,
            weights.keys().cloned().collect(),
            named,
        ))
    }

    /// The page's rows and the index of its first row.
    async fn page(
        &self,
        plan: &Plan,
        from: &PageFrom,
    ) -> Result<(Vec<UsageRow>, usize), StoreError> {
        let size = plan.query.page_size.max(1);
        let first_page = || self.rows(plan, None, true, size);
        match from {
            PageFrom::First => Ok((first_page().await?, 0)),
            PageFrom::After(RowPosition { key, index }) => {
                Ok((self.rows(plan, Some(key), true, size).await?, index + 1))
            }
            PageFrom::Before(RowPosition { key, index }) => {
                let mut before = self.rows(plan, Some(key), false, size).await?;
                if before.len() < size {
                    // Fewer rows than a page come before: that is the first page.
                    return Ok((first_page().await?, 0));
                }
                before.reverse();
                Ok((before, index.saturating_sub(size)))
            }
        }
    }

    /// `limit` rows after (`forward`) or before `key` (or from the first), as
    /// [`Plan::rows_sql`] orders them. In time order they are grouped from the columns of time
    /// next to the key only, widening (1, 2, 4... columns) until the page is full or the period
    /// ends: a page of a long period groups a few columns, not all of them.
    async fn rows(
        &self,
        plan: &Plan,
        key: Option<&RowKey>,
        forward: bool,
        limit: usize,
    ) -> Result<Vec<UsageRow>, StoreError> {
        let mut window = match plan.query.sort {
            SortColumn::Time => TimeWindow::new(plan, key, forward),
            _ => None,
        };
        loop {
            let usage = window.as_ref().map_or(plan.usage, TimeWindow::usage);
            let sql = plan.rows_sql(key, forward, Some(limit), usage);
            let rows = self.fetch::<TableRow>(sql).await?;
            let widened = rows.len() < limit && window.as_mut().is_some_and(TimeWindow::widen);
            if !widened {
                return Ok(rows.into_iter().map(|r| plan.usage_row(r)).collect());
            }
        }
    }
}

/// Whole columns of time a page of rows in time order is read from: `columns` of them from the
/// key's (or the period's first, or last), in the direction the page runs, within the period.
struct TimeWindow {
    step: Step,
    /// The period's usage starts.
    period: (i64, i64),
    /// The column the page starts in.
    anchor: DateTime<Utc>,
    /// Whether the page runs toward later columns.
    later: bool,
    columns: u32,
}

impl TimeWindow {
    fn new(plan: &Plan, key: Option<&RowKey>, forward: bool) -> Option<Self> {
        let step = plan.query.step;
        let later = forward != plan.query.descending;
        let (first, end) = plan.usage;
        if first >= end {
            return None;
        }
        let anchor = match key {
            Some(key) => key.start,
            None if later => first,
            None => end - 1,
        };
        Some(Self {
            step,
            period: plan.usage,
            anchor: step.bucket(from_epoch(anchor)),
            later,
            columns: 1,
        })
    }

    /// The usage starts of the window's columns, within the period.
    fn usage(&self) -> (i64, i64) {
        let (mut start, mut end) = (self.anchor, self.step.next(self.anchor));
        for _ in 1..self.columns {
            if self.later {
                end = self.step.next(end);
            } else {
                start = self.step.bucket(start - chrono::Duration::seconds(1));
            }
        }
        (
            start.timestamp().max(self.period.0),
            end.timestamp().min(self.period.1),
        )
    }

    /// Doubles the window; `false` when it already reaches the period's end that way.
    fn widen(&mut self) -> bool {
        let (start, end) = self.usage();
        let reached = if self.later {
            end >= self.period.1
        } else {
            start <= self.period.0
        };
        if reached {
            return false;
        }
        self.columns = self.columns.saturating_mul(2);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn day(year: i32, month: u32, day: u32) -> i64 {
        Utc.with_ymd_and_hms(year, month, day, 0, 0, 0)
            .single()
            .map_or(0, |t| t.timestamp())
    }

    #[test]
    fn whole_months_come_from_the_monthly_rollup() {
        let spans = RollupSpans::of((day(2026, 10, 1), day(2026, 12, 1)));
        assert_eq!(spans.months, vec![day(2026, 10, 1), day(2026, 11, 1)]);
        assert!(spans.added.is_empty() && spans.removed.is_empty());
    }

    #[test]
    fn a_rolling_month_is_a_month_less_a_day_and_a_day_more() {
        // The last 30 days on 2 December: 2 November to 1 December.
        let spans = RollupSpans::of((day(2026, 11, 2), day(2026, 12, 2)));
        assert_eq!(
            spans,
            RollupSpans {
                months: vec![day(2026, 11, 1)],
                added: vec![(day(2026, 12, 1), day(2026, 12, 2))],
                removed: vec![(day(2026, 11, 1), day(2026, 11, 2))],
            }
        );
    }

    #[test]
    fn a_few_days_inside_a_month_are_read_as_days() {
        let spans = RollupSpans::of((day(2026, 2, 10), day(2026, 2, 24)));
        assert_eq!(spans.added, vec![(day(2026, 2, 10), day(2026, 2, 24))]);
        assert!(spans.months.is_empty() && spans.removed.is_empty());
        // More than half of February: the month less both ends.
        let spans = RollupSpans::of((day(2026, 2, 3), day(2026, 2, 27)));
        assert_eq!(spans.months, vec![day(2026, 2, 1)]);
        assert_eq!(
            spans.removed,
            vec![
                (day(2026, 2, 1), day(2026, 2, 3)),
                (day(2026, 2, 27), day(2026, 3, 1))
            ]
        );
    }

    #[test]
    fn an_empty_period_has_no_spans() {
        assert!(RollupSpans::of((day(2026, 5, 1), day(2026, 5, 1))).is_empty());
    }
}
