//! Chargeback's usage totals on PostgreSQL: one grouped read, which PostgreSQL aggregates by
//! hashing (a few hundred groups) in parallel workers.

use chrono::{DateTime, Utc};
use meterbook_core::rating::statement::TaggedUsage;
use meterbook_core::SubscriptionId;
use sqlx::{Postgres, QueryBuilder, Row};

use super::PostgresStore;
use crate::store::portable::reads::tagged_usage;
use crate::store::StoreError;

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
        let mut sql = QueryBuilder::<Postgres>::new(
            "SELECT s.subscription_id, m.meter_id, t.span, t.tag_value, t.quantity
             FROM (SELECT u.subscription, u.meter, ",
        );
        // The number of the span each record falls in.
        if spans.len() > 1 {
            sql.push("CASE");
            for (i, start) in spans.iter().enumerate().skip(1).rev() {
                sql.push(" WHEN u.usage_start >= ")
                    .push_bind(start.timestamp())
                    .push(format!(" THEN {i}"));
            }
            sql.push(" ELSE 0 END");
        } else {
            sql.push("0");
        }
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
