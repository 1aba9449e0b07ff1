//! Pages of the usage API written straight from the store's lines.
//!
//! A 1,000-line page is most of a megabyte of JSON. Serializing borrowed views, with ids, names
//! and times written in place, builds no per-line ARM struct: the only string a line allocates
//! is its instanceData, which ARM sends as a JSON string of its own.

use std::fmt::Display;

use serde::ser::{SerializeStruct, Serializer};
use serde::Serialize;

use super::{AggregateApi, AggregateLine};
use crate::time::ArmTime;

/// A page in ARM's shape (`{"value":[...],"nextLink":...}`), as [`super::UsageAggregatePage`]
/// reads it back.
pub struct AggregatePageView<'a> {
    pub lines: &'a [AggregateLine],
    pub api: AggregateApi,
    /// The subscription in the request path (the provider's own for the provider API), which
    /// Azure uses in each `id`.
    pub path_subscription: &'a str,
    pub next_link: Option<&'a str>,
}

/// One line in ARM's `UsageAggregate` shape, as [`super::UsageAggregate`] reads it back.
pub struct AggregateView<'a> {
    pub line: &'a AggregateLine,
    pub api: AggregateApi,
    pub path_subscription: &'a str,
}

impl Serialize for AggregatePageView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut page = serializer.serialize_struct("UsageAggregatePage", 2)?;
        page.serialize_field("value", &Lines(self))?;
        if let Some(link) = self.next_link {
            page.serialize_field("nextLink", link)?;
        }
        page.end()
    }
}

struct Lines<'a>(&'a AggregatePageView<'a>);

impl Serialize for Lines<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let page = self.0;
        serializer.collect_seq(page.lines.iter().map(|line| AggregateView {
            line,
            api: page.api,
            path_subscription: page.path_subscription,
        }))
    }
}

impl Serialize for AggregateView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let line = self.line;
        let (subscription, meter) = (&line.subscription_id, &line.meter_id);
        let mut aggregate = serializer.serialize_struct("UsageAggregate", 4)?;
        aggregate.serialize_field(
            "id",
            &Text(format_args!(
                "/subscriptions/{}/providers/{}/UsageAggregate/{subscription}-{meter}",
                self.path_subscription,
                self.api.provider_namespace()
            )),
        )?;
        aggregate.serialize_field("name", &Text(format_args!("{subscription}-{meter}")))?;
        aggregate.serialize_field("type", self.api.resource_type())?;
        aggregate.serialize_field("properties", &Properties(line))?;
        aggregate.end()
    }
}

/// `properties`, in the order Azure writes them.
struct Properties<'a>(&'a AggregateLine);

impl Serialize for Properties<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let line = self.0;
        let mut properties = serializer.serialize_struct("UsageAggregateProperties", 6)?;
        properties.serialize_field("subscriptionId", &line.subscription_id)?;
        properties.serialize_field("usageStartTime", &Text(ArmTime(line.usage_start)))?;
        properties.serialize_field("usageEndTime", &Text(ArmTime(line.usage_end)))?;
        match &line.instance {
            Some(instance) => {
                properties.serialize_field("instanceData", &instance.to_wire_string())?
            }
            // Azure omits instanceData from aggregates without details.
            None => properties.skip_field("instanceData")?,
        }
        properties.serialize_field("quantity", &line.quantity)?;
        properties.serialize_field("meterId", &line.meter_id)?;
        properties.end()
    }
}

/// Serializes as the string its `Display` writes, without building that string first.
struct Text<D>(D);

impl<D: Display> Serialize for Text<D> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}
