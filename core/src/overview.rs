//! The operator overview: per-subscription totals by meter category and a daily series of one
//! meter, computed from daily per-meter totals. Shared by the server (which computes it) and the
//! portal (which shows it).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::meter::{catalog, MeterInfo};

/// The total of one meter for one subscription on one UTC day (by usage time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailyMeterTotal {
    pub subscription_id: String,
    pub meter_id: String,
    pub day: NaiveDate,
    pub quantity: f64,
    pub records: u64,
}

/// A quantity with its unit (quantities of different units are never added together), and the
/// quantity of the same length of time before the period, for the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitAmount {
    pub unit: String,
    pub quantity: f64,
    #[serde(default)]
    pub previous: f64,
}

impl UnitAmount {
    /// The change against the previous period, in percent; `None` when there was none before.
    pub fn change_percent(&self) -> Option<f64> {
        change_percent(self.quantity, self.previous)
    }
}

/// The rows of `previous` (the period of the same length before `[from, to)`) of subscriptions
/// with usage on its first day. A subscription that started during that period would show a
/// change of thousands of percent against a few days of usage, which says nothing; it shows none.
fn whole_previous(
    previous: &[DailyMeterTotal],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<DailyMeterTotal> {
    let first_day = (from - (to - from)).date_naive();
    let covered: BTreeSet<&str> = previous
        .iter()
        .filter(|r| r.day <= first_day)
        .map(|r| r.subscription_id.as_str())
        .collect();
    previous
        .iter()
        .filter(|r| covered.contains(r.subscription_id.as_str()))
        .cloned()
        .collect()
}

/// `now` against `before`, in percent; `None` when `before` is zero.
pub fn change_percent(now: f64, before: f64) -> Option<f64> {
    (before > 0.0).then(|| (now - before) / before * 100.0)
}

/// One subscription's usage in the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionSummary {
    pub subscription_id: String,
    pub records: u64,
    /// The charted meter's total in the period and in the one before.
    pub chart_total: f64,
    pub chart_previous: f64,
    /// Category name -> amounts per unit; categories follow [`Overview::categories`].
    pub categories: BTreeMap<String, Vec<UnitAmount>>,
}

/// A meter that has usage in the period, with how many records it has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeterUsage {
    pub meter: MeterInfo,
    pub records: u64,
}

/// Daily quantities of the chart's meter, one series per subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailySeries {
    pub subscription_id: String,
    /// One value per day of [`Overview::days`].
    pub values: Vec<f64>,
}

/// Everything the overview page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub categories: Vec<String>,
    pub subscriptions: Vec<SubscriptionSummary>,
    pub meters: Vec<MeterUsage>,
    pub chart_meter: Option<MeterInfo>,
    pub days: Vec<NaiveDate>,
    pub series: Vec<DailySeries>,
    /// Subscription ID -> display name, from the tenant directory (see [`Overview::name_of`]).
    #[serde(default)]
    pub names: BTreeMap<String, String>,
}

/// Category -> unit -> (quantity, previous quantity), while totals are being added up.
type CategoryUnits = BTreeMap<String, BTreeMap<String, (f64, f64)>>;

/// What the subscription table can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OverviewSort {
    Subscription,
    Records,
    /// The charted meter's total.
    Usage,
}

impl OverviewSort {
    pub fn key(self) -> &'static str {
        match self {
            Self::Subscription => "subscription",
            Self::Records => "records",
            Self::Usage => "usage",
        }
    }

    /// `usage`, `-records`, …: a leading `-` sorts descending. Unknown values sort by usage,
    /// largest first (the default).
    pub fn parse(raw: Option<&str>) -> (Self, bool) {
        let raw = raw.unwrap_or("-usage");
        let (key, descending) = match raw.strip_prefix('-') {
            Some(k) => (k, true),
            None => (raw, false),
        };
        match key {
            "subscription" => (Self::Subscription, descending),
            "records" => (Self::Records, descending),
            "usage" => (Self::Usage, descending),
            _ => (Self::Usage, true),
        }
    }
}

/// The meter charted when none is asked for: VM hours, the first thing operators look at.
pub const DEFAULT_CHART_METER: &str = "6DAB500F-A4FD-49C4-956D-229BB9C8C793";

impl Overview {
    /// Builds the overview of `[from, to)` from daily totals. `chart_meter` picks the charted meter
    /// (any ID form); by default VM hours, or the meter with the most records.
    pub fn build(
        rows: &[DailyMeterTotal],
        previous: &[DailyMeterTotal],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        chart_meter: Option<&str>,
    ) -> Self {
        let catalog = catalog();
        let mut per_sub: BTreeMap<&str, (u64, CategoryUnits)> = BTreeMap::new();
        let mut meters: BTreeMap<String, u64> = BTreeMap::new();
        let mut categories = BTreeSet::new();
        for row in rows {
            let info = catalog.describe(&row.meter_id);
            categories.insert(info.category.clone());
            *meters.entry(info.id.clone()).or_default() += row.records;
            let (records, cats) = per_sub.entry(&row.subscription_id).or_default();
            *records += row.records;
            cats.entry(info.category)
                .or_default()
                .entry(info.unit)
                .or_default()
                .0 += row.quantity;
        }
        // The period before counts only where the period has usage: a change is shown next to
        // an amount, and a subscription or unit that stopped has nothing to show it next to.
        let previous = whole_previous(previous, from, to);
        for row in &previous {
            let info = catalog.describe(&row.meter_id);
            if let Some(amount) = per_sub
                .get_mut(row.subscription_id.as_str())
                .and_then(|(_, cats)| cats.get_mut(&info.category))
                .and_then(|units| units.get_mut(&info.unit))
            {
                amount.1 += row.quantity;
            }
        }
        let subscriptions: Vec<SubscriptionSummary> = per_sub
            .into_iter()
            .map(|(id, (records, cats))| SubscriptionSummary {
                subscription_id: id.to_owned(),
                records,
                chart_total: 0.0,
                chart_previous: 0.0,
                categories: cats
                    .into_iter()
                    .map(|(cat, units)| {
                        (
                            cat,
                            units
                                .into_iter()
                                .map(|(unit, (quantity, previous))| UnitAmount {
                                    unit,
                                    quantity,
                                    previous,
                                })
                                .collect(),
                        )
                    })
                    .collect(),
            })
            .collect();
        let mut meter_list: Vec<MeterUsage> = meters
            .into_iter()
            .map(|(id, records)| MeterUsage {
                meter: catalog.describe(&id),
                records,
            })
            .collect();
        meter_list.sort_by(|a, b| {
            a.meter
                .category
                .cmp(&b.meter.category)
                .then(a.meter.name.cmp(&b.meter.name))
        });

        let wanted = chart_meter
            .map(|m| catalog.describe(&crate::meter::canonical_meter_id(m)).id)
            .filter(|id| meter_list.iter().any(|m| &m.meter.id == id))
            .or_else(|| {
                meter_list
                    .iter()
                    .find(|m| m.meter.id == DEFAULT_CHART_METER)
                    .map(|m| m.meter.id.clone())
            })
            .or_else(|| {
                meter_list
                    .iter()
                    .max_by_key(|m| m.records)
                    .map(|m| m.meter.id.clone())
            });

        let days: Vec<NaiveDate> = from
            .date_naive()
            .iter_days()
            .take_while(|d| *d < to.date_naive())
            .collect();
        let mut series_map: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        if let Some(meter_id) = &wanted {
            for row in rows
                .iter()
                .filter(|r| catalog.describe(&r.meter_id).id == *meter_id)
            {
                if let Some(i) = days.iter().position(|d| *d == row.day) {
                    series_map
                        .entry(&row.subscription_id)
                        .or_insert_with(|| vec![0.0; days.len()])[i] += row.quantity;
                }
            }
        }
        let mut subscriptions = subscriptions;
        if let Some(meter_id) = &wanted {
            for (rows, current) in [(rows, true), (previous.as_slice(), false)] {
                for row in rows
                    .iter()
                    .filter(|r| catalog.describe(&r.meter_id).id == *meter_id)
                {
                    if let Some(s) = subscriptions
                        .iter_mut()
                        .find(|s| s.subscription_id == row.subscription_id)
                    {
                        if current {
                            s.chart_total += row.quantity;
                        } else {
                            s.chart_previous += row.quantity;
                        }
                    }
                }
            }
        }
        Self {
            from,
            to,
            categories: categories.into_iter().collect(),
            subscriptions,
            chart_meter: wanted.map(|id| catalog.describe(&id)),
            meters: meter_list,
            series: series_map
                .into_iter()
                .map(|(id, values)| DailySeries {
                    subscription_id: id.to_owned(),
                    values,
                })
                .collect(),
            days,
            names: BTreeMap::new(),
        }
    }
}

impl Overview {
    /// The name a person reads for a subscription of the overview: its display name, or that the
    /// directory does not know it.
    pub fn name_of(&self, subscription_id: &str) -> String {
        crate::directory::name_in(&self.names, subscription_id)
    }

    /// Orders the subscription table (by name, for [`OverviewSort::Subscription`]); ties keep
    /// subscription order.
    pub fn sort(&mut self, by: OverviewSort, descending: bool) {
        let names = &self.names;
        let name = |id: &str| names.get(id).map_or(id, String::as_str).to_lowercase();
        self.subscriptions.sort_by(|a, b| {
            let order = match by {
                OverviewSort::Subscription => {
                    name(&a.subscription_id).cmp(&name(&b.subscription_id))
                }
                OverviewSort::Records => a.records.cmp(&b.records),
                OverviewSort::Usage => a.chart_total.total_cmp(&b.chart_total),
            };
            let order = if descending { order.reverse() } else { order };
            order.then_with(|| a.subscription_id.cmp(&b.subscription_id))
        });
    }

    /// The `n` subscriptions that used the most of the charted meter.
    pub fn top_consumers(&self, n: usize) -> Vec<&SubscriptionSummary> {
        let mut top: Vec<&SubscriptionSummary> = self
            .subscriptions
            .iter()
            .filter(|s| s.chart_total > 0.0)
            .collect();
        top.sort_by(|a, b| b.chart_total.total_cmp(&a.chart_total));
        top.truncate(n);
        top
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn row(sub: &str, meter: &str, day: u32, q: f64) -> DailyMeterTotal {
        DailyMeterTotal {
            subscription_id: sub.into(),
            meter_id: meter.into(),
            day: NaiveDate::from_ymd_opt(2026, 10, day).unwrap(),
            quantity: q,
            records: 24,
        }
    }

    #[test]
    fn totals_are_kept_per_category_and_unit_and_the_chart_defaults_to_vm_hours() {
        let vm_hours = DEFAULT_CHART_METER;
        let vcpu = "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5";
        let rows = vec![
            row("a", vm_hours, 1, 24.0),
            row("a", vm_hours, 2, 24.0),
            row("a", vcpu, 1, 48.0),
            row("b", vm_hours, 2, 12.0),
            row("b", "BLOB-UNKNOWN", 2, 3.0),
        ];
        let from = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
        let to = Utc.with_ymd_and_hms(2026, 10, 4, 0, 0, 0).unwrap();
        let o = Overview::build(&rows, &[], from, to, None);
        assert_eq!(
            o.categories,
            vec!["Compute".to_string(), "Unknown".to_string()]
        );
        let a = &o.subscriptions[0];
        assert_eq!(a.records, 72);
        let compute = &a.categories["Compute"];
        assert!(compute.contains(&UnitAmount {
            unit: "VM hours".into(),
            quantity: 48.0,
            previous: 0.0
        }));
        assert!(compute.contains(&UnitAmount {
            unit: "virtual core hours".into(),
            quantity: 48.0,
            previous: 0.0
        }));
        assert_eq!(o.chart_meter.as_ref().unwrap().name, "VM size hours");
        assert_eq!(o.days.len(), 3);
        assert_eq!(o.series[0].values, vec![24.0, 24.0, 0.0]);
        assert_eq!(o.series[1].values, vec![0.0, 12.0, 0.0]);
        let vcpu_chart = Overview::build(&rows, &[], from, to, Some(&vcpu.to_lowercase()));
        assert_eq!(vcpu_chart.chart_meter.unwrap().name, "Base VM Size Hours");
        assert_eq!(vcpu_chart.series.len(), 1);
    }

    #[test]
    fn changes_compare_with_the_period_before_and_the_table_sorts() {
        let vm_hours = DEFAULT_CHART_METER;
        let rows = vec![
            row("a", vm_hours, 10, 30.0),
            row("b", vm_hours, 10, 10.0),
            row("c", vm_hours, 10, 20.0),
        ];
        let previous = vec![
            row("a", vm_hours, 1, 20.0),
            row("b", vm_hours, 1, 20.0),
            row("gone", vm_hours, 1, 99.0),
            // Started on the last day of the period before: too little to compare with.
            row("c", vm_hours, 7, 1.0),
        ];
        let from = Utc.with_ymd_and_hms(2026, 10, 8, 0, 0, 0).unwrap();
        let to = Utc.with_ymd_and_hms(2026, 10, 15, 0, 0, 0).unwrap();
        let mut o = Overview::build(&rows, &previous, from, to, None);
        let a = &o.subscriptions[0].categories["Compute"][0];
        assert_eq!(a.change_percent(), Some(50.0));
        let c = &o.subscriptions[2].categories["Compute"][0];
        assert_eq!(
            c.change_percent(),
            None,
            "usage on only part of the period before: no change to show"
        );
        assert_eq!(o.subscriptions[2].chart_previous, 0.0);
        assert_eq!(
            o.subscriptions.len(),
            3,
            "a subscription without usage now is not listed"
        );
        let top: Vec<&str> = o
            .top_consumers(2)
            .iter()
            .map(|s| s.subscription_id.as_str())
            .collect();
        assert_eq!(top, vec!["a", "c"]);
        o.sort(OverviewSort::Usage, false);
        let order: Vec<&str> = o
            .subscriptions
            .iter()
            .map(|s| s.subscription_id.as_str())
            .collect();
        assert_eq!(order, vec!["b", "c", "a"]);
        assert_eq!(
            OverviewSort::parse(Some("-records")),
            (OverviewSort::Records, true)
        );
        assert_eq!(OverviewSort::parse(None), (OverviewSort::Usage, true));
        assert_eq!(
            OverviewSort::parse(Some("bogus")),
            (OverviewSort::Usage, true)
        );
    }
}
