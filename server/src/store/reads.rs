//! Reading usage in SQL that SQLite and PostgreSQL both run, on their own drivers (these reads
//! are the hot path): keyset pages of ARM aggregates, explorer facts and reported-time spans,
//! with the store's [`Dialect`] where the SQL differs; and the helpers ingest and totals share.

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use meterbook_core::explore::{TimeBasis, UsageFact};
use meterbook_core::page::{Page, PageKey};
use meterbook_core::time::{from_epoch, DAY_SECONDS, HOUR_SECONDS};
use meterbook_core::usage::{AggregateLine, LineInstance};
use meterbook_core::SubscriptionId;
use sqlx::{
    ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, QueryBuilder, Row, Type,
};

use super::dialect::{arguments, Dialect, Statement};
use super::{AggregateRequest, StoreError};

/// The first usage-time window a page scans (two hours hold a full page of a busy cloud); it
/// widens fourfold until the page is full.
pub(crate) const INITIAL_WINDOW_SECONDS: i64 = 2 * 3_600;

/// The most days a tenant's first window reaches by its daily counts (see `tenant_window`).
pub(crate) const TENANT_WINDOW_DAYS: i64 = 31;

/// Sets the store's "some usage starts off the hour" flag (see the `usage_off_hour` migrations).
/// Both stores run it in a batch's transaction when [`starts_off_hour`] says so; the flag is
/// never cleared, which is safe: it only costs hourly pages their fast plan.
pub(crate) const MARK_OFF_HOUR: &str =
    "INSERT INTO settings (name, value) VALUES ('usage_off_hour', $1) ON CONFLICT DO NOTHING";

/// Whether any of `records` starts off the hour (Azure Stack Hub's never do).
pub(crate) fn starts_off_hour(records: &[meterbook_core::usage::UsageRecord]) -> bool {
    records.iter().any(|r| {
        r.usage_start
            .timestamp()
            .rem_euclid(meterbook_core::time::HOUR_SECONDS)
            != 0
    })
}

/// A tags object as stored (JSON text) to name -> text; anything unreadable is "no tags" rather
/// than a failed page.
pub(crate) fn tag_map(tags: Option<&str>) -> std::collections::BTreeMap<String, String> {
    match tags.map(serde_json::from_str::<serde_json::Value>) {
        Some(Ok(serde_json::Value::Object(map))) => meterbook_core::usage::tags_as_text(map),
        _ => Default::default(),
    }
}

/// One row of a store's daily totals: day number (days since the epoch, UTC) and record count as
/// SQL answers them.
pub(crate) fn daily_total(
    subscription_id: String,
    meter_id: String,
    day: i64,
    quantity: f64,
    records: i64,
) -> meterbook_core::overview::DailyMeterTotal {
    meterbook_core::overview::DailyMeterTotal {
        subscription_id,
        meter_id,
        day: meterbook_core::time::from_epoch(day * meterbook_core::time::DAY_SECONDS).date_naive(),
        quantity,
        records: records.max(0) as u64,
    }
}

/// Appends the number (0, 1, ...) of the span of `spans` (ascending starts) that the usage row
/// `u` starts in, for chargeback's totals.
pub(crate) fn push_span_number<'args, DB: sqlx::Database>(
    sql: &mut sqlx::QueryBuilder<'args, DB>,
    spans: &[chrono::DateTime<chrono::Utc>],
) where
    i64: sqlx::Encode<'args, DB> + sqlx::Type<DB>,
{
    if spans.len() <= 1 {
        sql.push("0");
        return;
    }
    sql.push("CASE");
    for (i, start) in spans.iter().enumerate().skip(1).rev() {
        sql.push(" WHEN u.usage_start >= ")
            .push_bind(start.timestamp())
            .push(format!(" THEN {i}"));
    }
    sql.push(" ELSE 0 END");
}

/// One row of a store's usage totals for chargeback.
pub(crate) fn tagged_usage(
    subscription: String,
    meter_id: String,
    span: chrono::DateTime<chrono::Utc>,
    tag_value: Option<String>,
    quantity: f64,
) -> Result<meterbook_core::rating::statement::TaggedUsage, crate::store::StoreError> {
    // Only a hand-edited row holds these: ingest checks both.
    let corrupt = |what: &str| {
        crate::store::StoreError::Corrupt(format!("{what} of subscription {subscription}"))
    };
    Ok(meterbook_core::rating::statement::TaggedUsage {
        usage: meterbook_core::rating::UsageHour {
            subscription_id: meterbook_core::SubscriptionId::parse(&subscription)
                .map_err(|_| corrupt("the ID"))?,
            meter_id,
            usage_start: span,
            quantity: meterbook_core::rating::money::quantity_decimal(quantity)
                .ok_or_else(|| corrupt("a quantity"))?,
        },
        tag_value,
    })
}

/// A JSON object as the store keeps it: text, or NULL.
pub(crate) fn json_text(
    map: &Option<serde_json::Map<String, serde_json::Value>>,
) -> Option<String> {
    map.as_ref().and_then(|m| serde_json::to_string(m).ok())
}

/// Text the store wrote itself; anything unreadable is shown as "no tags" rather than failing a
/// page.
pub(crate) fn json_object(
    text: Option<String>,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

/// Stored object text for a page, validated but not parsed (see [`json_object`]).
pub(crate) fn object_text(text: Option<String>) -> Option<meterbook_core::usage::ObjectText> {
    text.and_then(meterbook_core::usage::ObjectText::parse)
}

/// The usage reads both stores run, on one store's pool, in its [`Dialect`].
pub(crate) struct UsageReads<'p, DB: Database> {
    pub pool: &'p Pool<DB>,
    pub dialect: Dialect,
}

/// Appends `(id, ...)` of bound subscription IDs. An empty list reads nothing rather
/// than producing invalid SQL.
pub(crate) fn push_list<'a, DB: Database>(
    sql: &mut QueryBuilder<'a, DB>,
    subscriptions: &[SubscriptionId],
) where
    String: Encode<'a, DB> + Type<DB>,
{
    sql.push("(");
    let mut list = sql.separated(", ");
    for sub in subscriptions {
        list.push_bind(sub.as_str().to_owned());
    }
    if subscriptions.is_empty() {
        list.push("NULL");
    }
    sql.push(")");
}

/// One row of `page_rows` as a line and its page key, read by position in the order
/// `page_rows` selects: looking each column up by name costs more than decoding it.
fn page_line<R: Row>(
    row: &R,
    request: &AggregateRequest,
    scan_end: i64,
) -> Result<(AggregateLine, PageKey), sqlx::Error>
where
    usize: ColumnIndex<R>,
    for<'a> i64: Decode<'a, R::Database> + Type<R::Database>,
    for<'a> f64: Decode<'a, R::Database> + Type<R::Database>,
    for<'a> String: Decode<'a, R::Database> + Type<R::Database>,
{
    let bucket: i64 = row.try_get(0)?;
    let instance = match request.query.show_details {
        true => Some(LineInstance {
            resource_uri: row.try_get(6)?,
            location: row.try_get(8)?,
            tags: object_text(row.try_get(9)?),
            additional_info: object_text(row.try_get(10)?),
        }),
        false => None,
    };
    let g = request.query.granularity.seconds();
    let line = AggregateLine {
        subscription_id: row.try_get(4)?,
        meter_id: row.try_get(5)?,
        usage_start: from_epoch(bucket),
        usage_end: from_epoch(bucket + g),
        quantity: row.try_get(7)?,
        instance,
    };
    let key = PageKey {
        bucket,
        subscription: row.try_get(1)?,
        meter: row.try_get(2)?,
        resource: row.try_get(3)?,
        scan_end,
    };
    Ok((line, key))
}

impl<DB> UsageReads<'_, DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> DB::Arguments<'a>: IntoArguments<'a, DB>,
    for<'a> i64: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
    for<'a> f64: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
    for<'a> String: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    pub(crate) async fn aggregates(
        &self,
        request: &AggregateRequest,
    ) -> Result<Page<AggregateLine>, StoreError> {
        let g = request.query.granularity.seconds();
        // While every record starts on the hour, an hourly bucket is the usage start
        // itself: the page groups by the key's own columns and streams the key index.
        // The flag that says otherwise is read beside the page's first statement, on
        // another connection, so it costs no round trip of its own.
        let hourly = g == HOUR_SECONDS;
        let ((start, scan_end), off_hour) = match &request.after {
            Some(after) => ((after.bucket, after.scan_end), None),
            // Every subscription's span: a tenant's lies within it.
            None => match futures::try_join!(
                self.reported_span(request.query.reported_start, request.query.reported_end),
                self.usage_off_hour()
            )? {
                (Some((first, last)), off_hour) => {
                    ((first.div_euclid(g) * g, last), Some(off_hour))
                }
                (None, _) => {
                    return Ok(Page {
                        items: Vec::new(),
                        next: None,
                    })
                }
            },
        };
        let mut bucket_is_start = hourly && off_hour != Some(true);
        let mut flag_unread = hourly && off_hour.is_none();
        // Scan a usage-time window after the cursor; widen it until it holds a full
        // page or reaches the end. Pages therefore cost the same at any depth.
        let mut width = g.max(INITIAL_WINDOW_SECONDS);
        if let Some(sub) = &request.subscription {
            // One tenant's two hours hold a few dozen records, not a page: start
            // from as many whole days as its daily rollup says a page needs.
            let days = self.tenant_window(sub, start, scan_end, request.limit);
            width = width.max(days.await?);
        }
        let rows = loop {
            let window_end = start.saturating_add(width);
            let page = self.page_rows(request, bucket_is_start, start, window_end, scan_end);
            let rows = if flag_unread {
                flag_unread = false;
                let (rows, off_hour) = futures::try_join!(page, self.usage_off_hour())?;
                if off_hour {
                    // Read as if all usage were on the hour, which it is not: read
                    // the window again, bucketed.
                    bucket_is_start = false;
                    continue;
                }
                rows
            } else {
                page.await?
            };
            if rows.len() > request.limit || window_end > scan_end {
                break rows;
            }
            width = width.saturating_mul(4);
        };
        let more = rows.len() > request.limit;
        let mut items = Vec::with_capacity(rows.len().min(request.limit));
        let mut last_key = None;
        for (line, key) in rows.into_iter().take(request.limit) {
            items.push(line);
            last_key = Some(key);
        }
        Ok(Page {
            items,
            next: last_key.filter(|_| more),
        })
    }

    /// How far from `start` (a bucket's start) the subscription's records first
    /// number more than `limit`, to the end of that UTC day, by the daily rollup; at
    /// most [`TENANT_WINDOW_DAYS`] days, and whole days, so whole buckets. The days
    /// before hold at most `limit` records (counting records before `start` and
    /// those the page's reported times leave out), so the page needs some of that
    /// day: the window overshoots by less than a day, and widens from there.
    async fn tenant_window(
        &self,
        sub: &SubscriptionId,
        start: i64,
        scan_end: i64,
        limit: usize,
    ) -> Result<i64, StoreError> {
        let first_day = start.div_euclid(DAY_SECONDS) * DAY_SECONDS;
        let last_day = (scan_end.div_euclid(DAY_SECONDS) * DAY_SECONDS)
            .min(first_day + (TENANT_WINDOW_DAYS - 1) * DAY_SECONDS);
        let mut sql = Statement::new(self.dialect);
        sql.push(
            "SELECT day_start FROM (SELECT day_start, \
             SUM(SUM(records)) OVER (ORDER BY day_start) AS upto \
             FROM usage_daily_resources \
             WHERE subscription = (SELECT id FROM subscriptions WHERE subscription_id = ",
        )
        .bind_text(sub.as_str())
        .push(") AND day_start >= ")
        .bind_int(first_day)
        .push(" AND day_start <= ")
        .bind_int(last_day)
        .push(" GROUP BY day_start) d WHERE upto > ")
        .bind_int(limit as i64)
        .push(" ORDER BY day_start LIMIT 1");
        let day: Option<i64> = sqlx::query_scalar_with(&sql.text, arguments::<DB>(&sql.binds)?)
            .fetch_optional(self.pool)
            .await?;
        Ok(day.unwrap_or(last_day) + DAY_SECONDS - start)
    }

    /// Whether some stored record starts off the hour (the flag ingest sets).
    async fn usage_off_hour(&self) -> Result<bool, StoreError> {
        let flags: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM settings WHERE name = 'usage_off_hour'")
                .fetch_one(self.pool)
                .await?;
        Ok(flags > 0)
    }

    /// Up to `limit + 1` aggregates after the request's cursor, from records whose
    /// usage starts in `[window_start, window_end)`. Aggregates are grouped by
    /// usage-time bucket, which never straddles a window edge because windows start
    /// on a bucket and span whole buckets. `bucket_is_start` says every bucket is
    /// its records' usage start (hourly, all on the hour), so no expression hides
    /// the index order from the planner.
    async fn page_rows(
        &self,
        request: &AggregateRequest,
        bucket_is_start: bool,
        window_start: i64,
        window_end: i64,
        scan_end: i64,
    ) -> Result<Vec<(AggregateLine, PageKey)>, StoreError> {
        let g = request.query.granularity.seconds();
        let bucket = if bucket_is_start {
            "u.usage_start".to_owned()
        } else {
            format!("((u.usage_start / {g}) * {g})")
        };
        let (resource, uri, join) = if request.query.show_details {
            (
                "u.resource",
                "MIN(r.resource_uri)",
                format!("{} resources r ON r.id = u.resource", self.dialect.join()),
            )
        } else {
            ("CAST(0 AS BIGINT)", "''", String::new())
        };
        // The names are functions of the numbers grouped by; MIN picks the one.
        // `page_line` reads these columns by position.
        let join_keyword = self.dialect.join();
        let mut sql = Statement::new(self.dialect);
        sql.push(&format!(
            "SELECT {bucket} AS bucket, u.subscription AS subscription_key, \
             u.meter AS meter_key, {resource} AS resource_key, \
             MIN(s.subscription_id) AS subscription_id, MIN(m.meter_id) AS meter_id, \
             {uri} AS uri, SUM(u.quantity) AS quantity, MAX(u.location) AS location, \
             MAX(u.tags) AS tags, MAX(u.additional_info) AS additional_info \
             FROM {usage} \
             {join_keyword} subscriptions s ON s.id = u.subscription \
             {join_keyword} meters m ON m.id = u.meter {join} \
             WHERE u.usage_start >= ",
            // A tenant's page walks its own rows, not every tenant's window.
            usage = self.dialect.usage(request.subscription.is_some()),
        ))
        .bind_int(window_start)
        .push(" AND u.usage_start < ")
        .bind_int(window_end)
        .push(" AND u.reported_time >= ")
        .bind_int(request.query.reported_start.timestamp())
        .push(" AND u.reported_time < ")
        .bind_int(request.query.reported_end.timestamp());
        if let Some(sub) = &request.subscription {
            sql.push(
                " AND u.subscription = (SELECT id FROM subscriptions WHERE subscription_id = ",
            )
            .bind_text(sub.as_str())
            .push(")");
        }
        if let Some(after) = &request.after {
            // The first condition lets the index seek to the cursor (every row of a later group
            // satisfies it, because a row starts no earlier than its bucket); the second is
            // exact, and the same when buckets are starts.
            let key = "u.usage_start, u.subscription, u.meter, u.resource".to_owned();
            let group = format!("{bucket}, u.subscription, u.meter, {resource}");
            let conditions = if group == key {
                vec![key]
            } else {
                vec![key, group]
            };
            for columns in conditions {
                sql.push(&format!(" AND ({columns}) > ("))
                    .bind_int(after.bucket)
                    .push(", ")
                    .bind_int(after.subscription)
                    .push(", ")
                    .bind_int(after.meter)
                    .push(", ")
                    .bind_int(after.resource)
                    .push(")");
            }
        }
        sql.push(" GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4 LIMIT ")
            .bind_int(request.limit as i64 + 1);
        // Rows are decoded as they arrive, while the database still produces the
        // rest of the page.
        let mut rows = sqlx::query_with(&sql.text, arguments::<DB>(&sql.binds)?).fetch(self.pool);
        let mut lines = Vec::with_capacity(request.limit + 1);
        while let Some(row) = rows.try_next().await? {
            lines.push(page_line(&row, request, scan_end)?);
        }
        Ok(lines)
    }

    pub(crate) async fn facts(
        &self,
        subscriptions: Option<&[SubscriptionId]>,
        basis: TimeBasis,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<UsageFact>, StoreError> {
        let (start, end) = match basis {
            TimeBasis::Usage => (from.timestamp(), to.timestamp()),
            // Records reported in the window were used within the span the spans
            // table knows.
            TimeBasis::Reported => match self.reported_span(from, to).await? {
                Some((first, last)) => (first, last + 1),
                None => return Ok(Vec::new()),
            },
        };
        let join = self.dialect.join();
        let mut sql = Statement::new(self.dialect);
        sql.push(&format!(
            "SELECT u.usage_start, s.subscription_id, m.meter_id, r.resource_uri, \
             u.location, u.tags, u.quantity \
             FROM {usage} \
             {join} subscriptions s ON s.id = u.subscription \
             {join} meters m ON m.id = u.meter \
             {join} resources r ON r.id = u.resource \
             WHERE u.usage_start >= ",
            // Some tenants' facts (the widget's) walk their own rows only.
            usage = self.dialect.usage(subscriptions.is_some()),
        ))
        .bind_int(start)
        .push(" AND u.usage_start < ")
        .bind_int(end);
        if basis == TimeBasis::Reported {
            sql.push(" AND u.reported_time >= ")
                .bind_int(from.timestamp())
                .push(" AND u.reported_time < ")
                .bind_int(to.timestamp());
        }
        if let Some(subscriptions) = subscriptions {
            sql.push(
                " AND u.subscription IN (SELECT id FROM subscriptions WHERE subscription_id IN (",
            );
            for (i, sub) in subscriptions.iter().enumerate() {
                sql.push(if i == 0 { "" } else { ", " })
                    .bind_text(sub.as_str());
            }
            // An empty list reads nothing rather than producing invalid SQL.
            sql.push(if subscriptions.is_empty() {
                "NULL))"
            } else {
                "))"
            });
        }
        sql.push(" LIMIT ").bind_int(limit as i64);
        let rows = sqlx::query_with(&sql.text, arguments::<DB>(&sql.binds)?)
            .fetch_all(self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                let tags: Option<String> = row.try_get("tags")?;
                Ok(UsageFact {
                    usage_start: from_epoch(row.try_get("usage_start")?),
                    subscription_id: row.try_get("subscription_id")?,
                    meter_id: row.try_get("meter_id")?,
                    resource_uri: row.try_get("resource_uri")?,
                    location: row.try_get("location")?,
                    tags: tag_map(tags.as_deref()),
                    quantity: row.try_get("quantity")?,
                })
            })
            .collect()
    }

    /// The first and last usage start among records reported in `[from, to)`.
    pub(crate) async fn reported_span(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        // Whole hours covering the window (queries are on the hour; this stays
        // right if not).
        let row = sqlx::query(
            "SELECT MIN(first_usage) AS first, MAX(last_usage) AS last
             FROM reported_spans WHERE reported_hour >= $1 AND reported_hour < $2",
        )
        .bind(from.timestamp().div_euclid(HOUR_SECONDS))
        .bind((to.timestamp() + HOUR_SECONDS - 1).div_euclid(HOUR_SECONDS))
        .fetch_one(self.pool)
        .await?;
        let first: Option<i64> = row.try_get("first")?;
        let last: Option<i64> = row.try_get("last")?;
        Ok(first.zip(last))
    }
}
