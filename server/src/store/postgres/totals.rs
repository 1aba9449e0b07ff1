//! Chargeback's usage totals on PostgreSQL: one grouped read, which PostgreSQL aggregates by
//! hashing. Without a tag, whole UTC days come from the daily rollup (a month of a busy cloud is
//! thousands of rows there, not millions), and only the hours of a span's partial first and last
//! days from the usage table; a tag is only in the usage rows, so tag totals read those.

use chrono::{DateTime, Utc};
use meterbook_core::rating::statement::TaggedUsage;
use meterbook_core::time::DAY_SECONDS;
use meterbook_core::SubscriptionId;
use sqlx::{Postgres, QueryBuilder, Row};

use super::PostgresStore;
use crate::store::reads::{push_span_number, tagged_usage};
use crate::store::StoreError;

/// Where a part of a span's usage is read.
#[derive(Clone, Copy)]
enum Table {
    Daily,
    Hourly,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Self::Daily => "usage_daily",
            Self::Hourly => "usage_records",
        }
    }
}

impl PostgresStore {
    pub(super) async fn sum_usage(
        &self,
        subscriptions: Option<&[SubscriptionId]>,
        spans: &[DateTime<Utc>],
        end: DateTime<Utc>,
        tag_key: Option<&str>,
    ) -> Result<Vec<TaggedUsage>, StoreError> {
        let Some(first) = spans.first() else {
            return Ok(Vec::new());
        };
        if tag_key.is_none() {
            return self.sum_from_rollup(subscriptions, spans, end).await;
        }
        let mut sql = QueryBuilder::<Postgres>::new(
            "SELECT s.subscription_id, m.meter_id, t.span, t.tag_value, t.quantity
             FROM (SELECT u.subscription, u.meter, ",
        );
        push_span_number(&mut sql, spans);
        sql.push(" AS span, ");
        match tag_key {
            // `->>` answers any JSON value as text; tags are JSON the store wrote itself.
            Some(key) => sql
                .push("(u.tags::jsonb ->> ")
                .push_bind(key.to_owned())
                .push(")"),
            None => sql.push("CAST(NULL AS TEXT)"),
        };
        sql.push(" AS tag_value, SUM(u.quantity) AS quantity FROM usage_records u WHERE u.usage_start >= ")
            .push_bind(first.timestamp())
            .push(" AND u.usage_start < ")
            .push_bind(end.timestamp());
        if let Some(subscriptions) = subscriptions {
            let ids: Vec<&str> = subscriptions.iter().map(SubscriptionId::as_str).collect();
            sql.push(
                " AND u.subscription IN (SELECT id FROM subscriptions WHERE subscription_id = ANY(",
            )
            .push_bind(ids)
            .push("))");
        }
        sql.push(
            " GROUP BY u.subscription, u.meter, span, tag_value) t
             JOIN subscriptions s ON s.id = t.subscription
             JOIN meters m ON m.id = t.meter",
        );
        self.read_totals(sql, spans).await
    }

    /// Totals without a tag: each span's whole UTC days from `usage_daily`, its partial days'
    /// hours from `usage_records`.
    async fn sum_from_rollup(
        &self,
        subscriptions: Option<&[SubscriptionId]>,
        spans: &[DateTime<Utc>],
        end: DateTime<Utc>,
    ) -> Result<Vec<TaggedUsage>, StoreError> {
        let ids: Option<Vec<String>> =
            subscriptions.map(|subs| subs.iter().map(|s| s.as_str().to_owned()).collect());
        let mut sql = QueryBuilder::<Postgres>::new(
            "SELECT s.subscription_id, m.meter_id, t.span, CAST(NULL AS TEXT) AS tag_value,
                    t.quantity
             FROM (SELECT subscription, meter, span, SUM(quantity) AS quantity FROM (",
        );
        let mut union = false;
        let mut part = |sql: &mut QueryBuilder<'_, Postgres>, span: usize, table, from, to| {
            if union {
                sql.push(" UNION ALL ");
            }
            union = true;
            let (column, filter) = match table {
                Table::Daily => ("day", " AND records > 0"),
                Table::Hourly => ("usage_start", ""),
            };
            sql.push(format!(
                "SELECT subscription, meter, {span} AS span, quantity FROM {} WHERE {column} >= ",
                table.name()
            ))
            .push_bind(from)
            .push(format!(" AND {column} < "))
            .push_bind(to)
            .push(filter);
            if let Some(ids) = &ids {
                sql.push(" AND subscription IN (SELECT id FROM subscriptions WHERE subscription_id = ANY(")
                    .push_bind(ids.clone())
                    .push("))");
            }
        };
        for (i, start) in spans.iter().enumerate() {
            let (from, to) = (
                start.timestamp(),
                spans.get(i + 1).unwrap_or(&end).timestamp(),
            );
            // Whole UTC days inside [from, to), if any; hours before and after them.
            let (first_day, last_day) = (
                (from + DAY_SECONDS - 1).div_euclid(DAY_SECONDS),
                to.div_euclid(DAY_SECONDS),
            );
            if first_day < last_day {
                part(&mut sql, i, Table::Daily, first_day, last_day);
                if from < first_day * DAY_SECONDS {
                    part(&mut sql, i, Table::Hourly, from, first_day * DAY_SECONDS);
                }
                if last_day * DAY_SECONDS < to {
                    part(&mut sql, i, Table::Hourly, last_day * DAY_SECONDS, to);
                }
            } else {
                part(&mut sql, i, Table::Hourly, from, to);
            }
        }
        sql.push(
            ") p GROUP BY subscription, meter, span) t
             JOIN subscriptions s ON s.id = t.subscription
             JOIN meters m ON m.id = t.meter",
        );
        self.read_totals(sql, spans).await
    }

    /// Runs a totals query (`subscription_id, meter_id, span, tag_value, quantity`).
    async fn read_totals(
        &self,
        mut sql: QueryBuilder<'_, Postgres>,
        spans: &[DateTime<Utc>],
    ) -> Result<Vec<TaggedUsage>, StoreError> {
        let rows = sql.build().fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|row| {
                let span: i32 = row.try_get("span")?;
                let start = usize::try_from(span)
                    .ok()
                    .and_then(|i| spans.get(i))
                    .copied()
                    .ok_or_else(|| StoreError::Corrupt(format!("span {span}")))?;
                tagged_usage(
                    row.try_get("subscription_id")?,
                    row.try_get("meter_id")?,
                    start,
                    row.try_get("tag_value")?,
                    row.try_get("quantity")?,
                )
            })
            .collect()
    }
}
