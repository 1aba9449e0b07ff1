//! Usage records as resource providers report them, and usage aggregates as ARM serves them.
//!
//! Real records are messy: `instanceData` may be an object or a JSON string, `tags` may be JSON
//! null, the string `"null"`, `""` or an object, `additionalInfo` may be a JSON string nested inside
//! the instanceData string, and meter IDs come in any case. Parsing here accepts all of that and
//! produces one clean [`UsageRecord`]; anything it cannot make sense of is refused with a reason.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::ids::SubscriptionId;
use crate::meter::canonical_meter_id;

mod batch;
mod wire;
pub use batch::{parse_batch, BatchError, ParsedBatch};
pub use wire::{AggregatePageView, AggregateView};

/// Largest quantity one hourly record may carry: a trillion units (a petabyte-hour in GB, a
/// trillion transactions) is beyond any real meter. It keeps real statements inside what exact
/// decimal money can hold; sums of money are checked all the same, since many resources' records
/// add up in one line.
pub const MAX_QUANTITY: f64 = 1e12;

/// Longest accepted resource URI; ARM's own limit is far below this.
pub const MAX_RESOURCE_URI_LEN: usize = 2_048;
/// Longest accepted meter ID (GUIDs are 36; some providers emit other identifiers).
pub const MAX_METER_ID_LEN: usize = 128;

/// The `Microsoft.Resources` part of a record: which resource used what, where, with which tags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceData {
    /// Empty when the record has no instance (e.g. an aggregate exported with showDetails=false).
    pub resource_uri: String,
    pub location: String,
    pub tags: Option<Map<String, Value>>,
    pub additional_info: Option<Map<String, Value>>,
}

impl InstanceData {
    /// Parses instanceData in any form seen in the wild: absent, null, an object, or a JSON string
    /// holding an object; with or without the `Microsoft.Resources` wrapper.
    pub fn from_value(value: Option<&Value>) -> Result<Self, String> {
        let object = match value {
            None | Some(Value::Null) => return Ok(Self::default()),
            Some(Value::String(s)) if s.trim().is_empty() || s.trim() == "null" => {
                return Ok(Self::default())
            }
            Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(o)) => o,
                _ => return Err("instanceData is a string that does not hold a JSON object".into()),
            },
            Some(Value::Object(o)) => o.clone(),
            Some(_) => return Err("instanceData must be an object or a JSON string".into()),
        };
        let resources = object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("Microsoft.Resources"))
            .map(|(_, v)| v);
        match resources {
            Some(Value::Object(inner)) => Self::from_fields(inner),
            Some(_) => Err("instanceData.Microsoft.Resources must be an object".into()),
            None => Self::from_fields(&object),
        }
    }

    /// Reads `resourceUri`, `location`, `tags` and `additionalInfo` from one object.
    pub fn from_fields(fields: &Map<String, Value>) -> Result<Self, String> {
        let resource_uri = optional_string(fields, "resourceUri")?.unwrap_or_default();
        if resource_uri.len() > MAX_RESOURCE_URI_LEN {
            return Err(format!(
                "resourceUri is longer than {MAX_RESOURCE_URI_LEN} characters"
            ));
        }
        Ok(Self {
            resource_uri,
            location: optional_string(fields, "location")?.unwrap_or_default(),
            tags: loose_object(field(fields, "tags"), "tags")?,
            additional_info: loose_object(field(fields, "additionalInfo"), "additionalInfo")?,
        })
    }

    /// The ARM wire form: a JSON *string* holding `{"Microsoft.Resources":{...}}`, as Azure sends it.
    pub fn to_wire_string(&self) -> String {
        wire_instance(
            &self.resource_uri,
            &self.location,
            &self.tags,
            &self.additional_info,
        )
    }
}

/// instanceData as a page serves it: tags and additionalInfo stay the JSON text the store kept,
/// so a page of a thousand lines neither parses nor rewrites them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineInstance {
    /// Empty when the record has no instance.
    pub resource_uri: String,
    pub location: String,
    pub tags: Option<ObjectText>,
    pub additional_info: Option<ObjectText>,
}

impl LineInstance {
    /// The ARM wire form, exactly as [`InstanceData::to_wire_string`] writes the same instance.
    pub fn to_wire_string(&self) -> String {
        wire_instance(
            &self.resource_uri,
            &self.location,
            &self.tags,
            &self.additional_info,
        )
    }
}

impl From<&InstanceData> for LineInstance {
    fn from(instance: &InstanceData) -> Self {
        Self {
            resource_uri: instance.resource_uri.clone(),
            location: instance.location.clone(),
            tags: instance.tags.as_ref().map(ObjectText::from_map),
            additional_info: instance.additional_info.as_ref().map(ObjectText::from_map),
        }
    }
}

/// The one writer of instanceData's wire form, from borrowed fields (maps or stored text).
fn wire_instance<T: Serialize>(
    resource_uri: &str,
    location: &str,
    tags: &Option<T>,
    additional_info: &Option<T>,
) -> String {
    /// Fields in the order Azure writes them.
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Resources<'a, T> {
        resource_uri: &'a str,
        location: &'a str,
        tags: &'a Option<T>,
        additional_info: &'a Option<T>,
    }
    #[derive(Serialize)]
    struct Wire<'a, T> {
        #[serde(rename = "Microsoft.Resources")]
        resources: Resources<'a, T>,
    }
    let wire = Wire {
        resources: Resources {
            resource_uri,
            location,
            tags,
            additional_info,
        },
    };
    // Strings, maps of JSON values and validated JSON text always serialize.
    serde_json::to_string(&wire).unwrap_or_default()
}

/// A JSON object kept as its text. Tags and additionalInfo are stored as text and served as
/// text; only the few readers that look inside (explorer, chargeback) parse them.
#[derive(Debug, Clone)]
pub struct ObjectText(Box<RawValue>);

impl ObjectText {
    /// `None` unless `text` is exactly one JSON object: a stored value that cannot be read shows
    /// as "no tags" rather than failing, or corrupting, the page that holds it.
    pub fn parse(text: String) -> Option<Self> {
        if !text.starts_with('{') {
            return None;
        }
        RawValue::from_string(text).ok().map(Self)
    }

    pub fn from_map(map: &Map<String, Value>) -> Self {
        Self(serde_json::value::to_raw_value(map).expect("a map of JSON values serializes"))
    }

    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// The object's members (empty if the text were ever not an object).
    pub fn to_map(&self) -> Map<String, Value> {
        serde_json::from_str(self.as_str()).unwrap_or_default()
    }
}

/// The same object, however its text is spaced or escaped.
impl PartialEq for ObjectText {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str() || self.to_map() == other.to_map()
    }
}

impl Serialize for ObjectText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// A field looked up case-insensitively: exporters disagree on `resourceUri` vs `resourceURI`.
fn field<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    fields.get(name).or_else(|| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn optional_string(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match field(fields, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(_) => Err(format!("{name} must be a string")),
    }
}

/// `null`, `"null"`, `""` and `{}`-holding strings are all accepted for tags and additionalInfo.
fn loose_object(value: Option<&Value>, name: &str) -> Result<Option<Map<String, Value>>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o.clone())),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.is_empty() || s == "null" {
                return Ok(None);
            }
            match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(o)) => Ok(Some(o)),
                Ok(Value::Null) => Ok(None),
                _ => Err(format!(
                    "{name} is a string that does not hold a JSON object"
                )),
            }
        }
        Some(_) => Err(format!("{name} must be an object, null or a JSON string")),
    }
}

/// One hourly usage record of one meter for one resource instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageRecord {
    pub subscription_id: SubscriptionId,
    /// Canonical form (see [`canonical_meter_id`]).
    pub meter_id: String,
    pub instance: InstanceData,
    pub usage_start: DateTime<Utc>,
    pub usage_end: DateTime<Utc>,
    /// When the record entered the usage system; `None` means "now", decided at ingest.
    pub reported_time: Option<DateTime<Utc>>,
    pub quantity: f64,
}

impl UsageRecord {
    /// Parses one record: either Meterbook's flat shape or an ARM `UsageAggregate` (whose fields
    /// sit under `properties`).
    pub fn from_value(value: &Value) -> Result<Self, String> {
        let Value::Object(outer) = value else {
            return Err("a record must be a JSON object".into());
        };
        let fields = match field(outer, "properties") {
            Some(Value::Object(props)) => props,
            Some(_) => return Err("properties must be an object".into()),
            None => outer,
        };
        let subscription_id = match optional_string(fields, "subscriptionId")? {
            Some(s) => SubscriptionId::parse(&s).map_err(|e| format!("subscriptionId: {e}"))?,
            None => return Err("subscriptionId is missing".into()),
        };
        let meter_raw = optional_string(fields, "meterId")?.unwrap_or_default();
        if meter_raw.is_empty() {
            return Err("meterId is missing".into());
        }
        if meter_raw.len() > MAX_METER_ID_LEN || meter_raw.chars().any(char::is_control) {
            return Err("meterId is not a meter ID".into());
        }
        let usage_start = required_time(fields, "usageStartTime")?;
        let usage_end = required_time(fields, "usageEndTime")?;
        if usage_start >= usage_end {
            return Err("usageStartTime must be before usageEndTime".into());
        }
        let reported_time = match optional_string(fields, "reportedTime")? {
            Some(s) => Some(parse_any_time(&s).map_err(|e| format!("reportedTime: {e}"))?),
            None => None,
        };
        let quantity = match field(fields, "quantity") {
            Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
            Some(Value::String(s)) => s.trim().parse::<f64>().unwrap_or(f64::NAN),
            None | Some(Value::Null) => return Err("quantity is missing".into()),
            Some(_) => f64::NAN,
        };
        if !quantity.is_finite() || quantity < 0.0 {
            return Err("quantity must be a finite, non-negative number".into());
        }
        if quantity > MAX_QUANTITY {
            return Err(format!(
                "quantity {quantity} is larger than one record may carry ({MAX_QUANTITY:e})"
            ));
        }
        let instance = match field(fields, "instanceData") {
            Some(v) => InstanceData::from_value(Some(v)),
            None => InstanceData::from_fields(fields),
        }
        .map_err(|e| format!("instanceData: {e}"))?;
        Ok(Self {
            subscription_id,
            meter_id: canonical_meter_id(&meter_raw),
            instance,
            usage_start,
            usage_end,
            reported_time,
            quantity,
        })
    }
}

/// The usage times ingest accepts: usage starting from `earliest` until a few minutes past the
/// moment a record arrives (and ending at most a day after it, a daily record of today). Each month of usage is a partition of the PostgreSQL store, so records dated across
/// the calendar (year 1, year 9999) would bloat its catalog; real usage is neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestWindow {
    pub earliest: DateTime<Utc>,
}

impl IngestWindow {
    /// 2010-01-01: before any Azure Stack existed, so any real history fits.
    pub const DEFAULT_EARLIEST: &'static str = "2010-01-01T00:00:00Z";

    /// Clock skew tolerated between a resource provider and Meterbook.
    const SKEW: chrono::Duration = chrono::Duration::minutes(5);
}

impl Default for IngestWindow {
    fn default() -> Self {
        IngestWindow {
            earliest: parse_any_time(Self::DEFAULT_EARLIEST).unwrap_or_default(),
        }
    }
}

impl UsageRecord {
    /// Checks the record against the time it is received and the window: usage cannot start, nor
    /// be reported, after `now` (a few minutes of clock skew are tolerated), nor end more than a
    /// day after it (a daily record of today), nor start before the window.
    pub fn check_received_at(
        &self,
        now: DateTime<Utc>,
        window: IngestWindow,
    ) -> Result<(), String> {
        let latest = now + IngestWindow::SKEW;
        if self.usage_start > latest {
            return Err("usageStartTime is in the future".into());
        }
        if self.usage_end > latest + chrono::Duration::days(1) {
            return Err("usageEndTime is more than a day in the future".into());
        }
        if self.reported_time.is_some_and(|t| t > latest) {
            return Err("reportedTime is in the future".into());
        }
        if self.usage_start < window.earliest {
            return Err(format!(
                "usageStartTime is before {}, the earliest usage this Meterbook accepts",
                window.earliest.to_rfc3339()
            ));
        }
        Ok(())
    }

    /// The record in the ingest API's flat shape (what [`UsageRecord::from_value`] reads back).
    pub fn to_ingest_json(&self) -> Value {
        serde_json::json!({
            "subscriptionId": self.subscription_id.as_str(),
            "meterId": self.meter_id,
            "usageStartTime": self.usage_start.to_rfc3339(),
            "usageEndTime": self.usage_end.to_rfc3339(),
            "reportedTime": self.reported_time.map(|t| t.to_rfc3339()),
            "quantity": self.quantity,
            "instanceData": self.instance.to_wire_string(),
        })
    }

    /// The reported time, or `default` (the time of ingest) when the provider did not say.
    pub fn reported_or(&self, default: DateTime<Utc>) -> DateTime<Utc> {
        self.reported_time.unwrap_or(default)
    }
}

fn required_time(fields: &Map<String, Value>, name: &str) -> Result<DateTime<Utc>, String> {
    let raw = optional_string(fields, name)?.ok_or_else(|| format!("{name} is missing"))?;
    parse_any_time(&raw).map_err(|e| format!("{name}: {e}"))
}

/// RFC 3339 with any offset, converted to UTC, as strictly as every outside time
/// ([`crate::time::parse_time_input`]). Records are data, not queries: an offset other than UTC is
/// converted rather than refused.
pub fn parse_any_time(raw: &str) -> Result<DateTime<Utc>, String> {
    crate::time::parse_time_input(raw).map(|t| t.with_timezone(&Utc))
}

/// The ARM type of an aggregate: tenant and provider APIs name theirs differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateApi {
    Tenant,
    Provider,
}

impl AggregateApi {
    pub const ALL: [Self; 2] = [Self::Tenant, Self::Provider];

    pub const fn resource_type(self) -> &'static str {
        match self {
            Self::Tenant => "Microsoft.Commerce/UsageAggregate",
            Self::Provider => "Microsoft.Commerce.Admin/UsageAggregate",
        }
    }

    pub const fn provider_namespace(self) -> &'static str {
        match self {
            Self::Tenant => "Microsoft.Commerce",
            Self::Provider => "Microsoft.Commerce.Admin",
        }
    }

    /// The collection the request path names after the namespace
    /// (`/subscriptions/{id}/providers/{namespace}/{collection}`).
    pub const fn collection(self) -> &'static str {
        match self {
            Self::Tenant => "UsageAggregates",
            Self::Provider => "subscriberUsageAggregates",
        }
    }
}

/// One aggregated line as the store produces it, before it is put in ARM's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateLine {
    pub subscription_id: String,
    pub meter_id: String,
    pub usage_start: DateTime<Utc>,
    pub usage_end: DateTime<Utc>,
    pub quantity: f64,
    /// `None` for showDetails=false, where Azure omits instanceData.
    pub instance: Option<LineInstance>,
}

/// Tags as name -> text: strings as they are, numbers and booleans as their JSON text.
pub fn tags_as_text(tags: Map<String, Value>) -> std::collections::BTreeMap<String, String> {
    tags.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect()
}

impl AggregateLine {
    /// Reads an aggregate as an upstream Azure Stack Hub serves it, so Meterbook can serve it again
    /// in its own pages. Meter IDs are put in canonical form, like every record Meterbook stores.
    pub fn from_aggregate(aggregate: &UsageAggregate) -> Result<Self, String> {
        let p = &aggregate.properties;
        SubscriptionId::parse(&p.subscription_id).map_err(|e| format!("subscriptionId: {e}"))?;
        let instance = match &p.instance_data {
            Some(raw) => Some(LineInstance::from(
                &InstanceData::from_value(Some(&Value::String(raw.clone())))
                    .map_err(|e| format!("instanceData: {e}"))?,
            )),
            None => None,
        };
        Ok(Self {
            subscription_id: p.subscription_id.to_ascii_lowercase(),
            meter_id: canonical_meter_id(&p.meter_id),
            usage_start: parse_any_time(&p.usage_start_time)
                .map_err(|e| format!("usageStartTime: {e}"))?,
            usage_end: parse_any_time(&p.usage_end_time)
                .map_err(|e| format!("usageEndTime: {e}"))?,
            quantity: p.quantity,
            instance,
        })
    }
}

/// The ARM `UsageAggregate` wire shape.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageAggregate {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub properties: UsageAggregateProperties,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageAggregateProperties {
    pub subscription_id: String,
    pub usage_start_time: String,
    pub usage_end_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_data: Option<String>,
    pub quantity: f64,
    pub meter_id: String,
}

/// A page of the ARM usage API.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageAggregatePage {
    pub value: Vec<UsageAggregate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SUB: &str = "0f0a4a7b-1c2d-4e5f-8a9b-0c1d2e3f4a5b";

    /// A line as a page serves it, read back into ARM's typed shape.
    fn served(line: &AggregateLine, api: AggregateApi, path_subscription: &str) -> UsageAggregate {
        let view = AggregateView {
            line,
            api,
            path_subscription,
        };
        serde_json::from_value(serde_json::to_value(&view).unwrap()).unwrap()
    }

    fn base(instance: Value) -> Value {
        json!({
            "subscriptionId": SUB,
            "meterId": "6dab500fa4fd49c4956d229bb9c8c793",
            "usageStartTime": "2026-10-01T00:00:00+00:00",
            "usageEndTime": "2026-10-01T01:00:00+00:00",
            "quantity": 1.0,
            "instanceData": instance,
        })
    }

    #[test]
    fn tags_arrive_as_null_the_string_null_empty_or_an_object() {
        for (tags, expected) in [
            (json!(null), None),
            (json!("null"), None),
            (json!(""), None),
            (
                json!({"Department": "Sales"}),
                Some(json!({"Department": "Sales"})),
            ),
            (
                json!("{\"Department\":\"Sales\"}"),
                Some(json!({"Department": "Sales"})),
            ),
        ] {
            let inner = json!({"Microsoft.Resources": {"resourceUri": "/x", "location": "local", "tags": tags}});
            let record = UsageRecord::from_value(&base(Value::String(inner.to_string()))).unwrap();
            assert_eq!(record.instance.tags.map(Value::Object), expected, "{tags}");
        }
    }

    #[test]
    fn additional_info_nested_as_a_string_inside_the_instance_data_string_is_unpacked() {
        let inner = json!({"Microsoft.Resources": {
            "resourceUri": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1",
            "location": "local",
            "tags": null,
            "additionalInfo": "{\"ServiceType\":\"Standard_D2_v2\",\"ImageType\":\"Windows\"}"
        }});
        let record = UsageRecord::from_value(&base(Value::String(inner.to_string()))).unwrap();
        let info = record.instance.additional_info.unwrap();
        assert_eq!(info["ServiceType"], "Standard_D2_v2");
        assert_eq!(record.instance.location, "local");
        assert_eq!(record.meter_id, "6DAB500F-A4FD-49C4-956D-229BB9C8C793");
    }

    #[test]
    fn instance_data_as_an_object_without_the_wrapper_is_accepted() {
        let record =
            UsageRecord::from_value(&base(json!({"resourceUri": "/r", "location": "west"})))
                .unwrap();
        assert_eq!(record.instance.resource_uri, "/r");
        assert_eq!(record.instance.location, "west");
    }

    #[test]
    fn arm_usage_aggregates_are_accepted_as_records() {
        let aggregate = json!({
            "id": "/subscriptions/x/providers/Microsoft.Commerce/UsageAggregate/y",
            "name": "y",
            "type": "Microsoft.Commerce/UsageAggregate",
            "properties": base(Value::Null),
        });
        let record = UsageRecord::from_value(&aggregate).unwrap();
        assert_eq!(record.subscription_id.as_str(), SUB);
        assert_eq!(record.instance, InstanceData::default());
    }

    #[test]
    fn bad_records_are_refused_with_a_reason() {
        let cases = [
            (json!({"subscriptionId": "nope"}), "subscriptionId"),
            (json!({"subscriptionId": SUB}), "meterId"),
            (json!(5), "object"),
        ];
        for (value, needle) in cases {
            let err = UsageRecord::from_value(&value).unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
        let mut negative = base(Value::Null);
        negative["quantity"] = json!(-1);
        assert!(UsageRecord::from_value(&negative)
            .unwrap_err()
            .contains("quantity"));
        let mut backwards = base(Value::Null);
        backwards["usageEndTime"] = json!("2026-09-30T00:00:00Z");
        assert!(UsageRecord::from_value(&backwards)
            .unwrap_err()
            .contains("before"));
        let mut bad_tags = base(json!({"resourceUri": "/r", "tags": 5}));
        assert!(UsageRecord::from_value(&bad_tags)
            .unwrap_err()
            .contains("tags"));
        bad_tags["instanceData"] = json!("not json");
        assert!(UsageRecord::from_value(&bad_tags)
            .unwrap_err()
            .contains("instanceData"));
    }

    #[test]
    fn a_record_survives_the_trip_through_its_ingest_json() {
        let mut value = base(
            json!({"Microsoft.Resources": {"resourceUri": "/r", "location": "local", "tags": {"a": "b"}}}),
        );
        value["reportedTime"] = json!("2026-10-01T03:00:00Z");
        let record = UsageRecord::from_value(&value).unwrap();
        assert_eq!(
            UsageRecord::from_value(&record.to_ingest_json()).unwrap(),
            record
        );
    }

    #[test]
    fn records_from_the_future_are_refused() {
        let window = IngestWindow::default();
        let record = UsageRecord::from_value(&base(Value::Null)).unwrap();
        assert!(record
            .check_received_at(parse_any_time("2026-10-01T00:02:00Z").unwrap(), window)
            .is_ok());
        assert!(record
            .check_received_at(parse_any_time("2026-09-30T23:00:00Z").unwrap(), window)
            .is_err());
        let mut late = base(Value::Null);
        late["reportedTime"] = json!("2026-12-01T00:00:00Z");
        let record = UsageRecord::from_value(&late).unwrap();
        assert!(record
            .check_received_at(parse_any_time("2026-11-01T00:00:00Z").unwrap(), window)
            .unwrap_err()
            .contains("reportedTime"));
        let mut endless = base(Value::Null);
        endless["usageEndTime"] = json!("9999-12-31T23:00:00Z");
        let record = UsageRecord::from_value(&endless).unwrap();
        assert!(record
            .check_received_at(parse_any_time("2026-11-01T00:00:00Z").unwrap(), window)
            .unwrap_err()
            .contains("usageEndTime"));
    }

    #[test]
    fn usage_before_the_window_and_absurd_quantities_are_refused() {
        let window = IngestWindow::default();
        let now = parse_any_time("2026-11-01T00:00:00Z").unwrap();
        // Years no real usage has are refused as they are read; older than the window, after.
        for start in ["0000-01-01T00:00:00Z", "0001-06-01T00:00:00Z"] {
            let mut old = base(Value::Null);
            old["usageStartTime"] = json!(start);
            assert!(UsageRecord::from_value(&old)
                .unwrap_err()
                .contains("outside 1970 to 9999"));
        }
        let mut old = base(Value::Null);
        old["usageStartTime"] = json!("2009-12-31T23:00:00Z");
        old["usageEndTime"] = json!("2009-12-31T23:59:59Z");
        let record = UsageRecord::from_value(&old).unwrap();
        assert!(record
            .check_received_at(now, window)
            .unwrap_err()
            .contains("earliest"));
        let mut huge = base(Value::Null);
        huge["quantity"] = json!(5e28);
        assert!(UsageRecord::from_value(&huge)
            .unwrap_err()
            .contains("larger than"));
        huge["quantity"] = json!(MAX_QUANTITY);
        assert!(UsageRecord::from_value(&huge).is_ok());
    }

    #[test]
    fn instance_data_is_served_as_a_json_string_in_azure_form() {
        let line = AggregateLine {
            subscription_id: SUB.into(),
            meter_id: "6DAB500F-A4FD-49C4-956D-229BB9C8C793".into(),
            usage_start: parse_any_time("2026-10-01T00:00:00Z").unwrap(),
            usage_end: parse_any_time("2026-10-02T00:00:00Z").unwrap(),
            quantity: 24.0,
            instance: Some(LineInstance {
                resource_uri: "/r".into(),
                location: "local".into(),
                tags: None,
                additional_info: None,
            }),
        };
        let aggregate = served(&line, AggregateApi::Tenant, SUB);
        let json = serde_json::to_value(&aggregate).unwrap();
        assert_eq!(json["type"], "Microsoft.Commerce/UsageAggregate");
        assert_eq!(
            json["properties"]["usageStartTime"],
            "2026-10-01T00:00:00+00:00"
        );
        let instance: Value =
            serde_json::from_str(json["properties"]["instanceData"].as_str().unwrap()).unwrap();
        assert_eq!(
            instance,
            json!({"Microsoft.Resources": {"resourceUri": "/r", "location": "local", "tags": null, "additionalInfo": null}})
        );
        let mut tags = Map::new();
        tags.insert("Department".into(), json!("Finance"));
        let tagged = InstanceData {
            resource_uri: "/r".into(),
            location: "local".into(),
            tags: Some(tags),
            additional_info: None,
        };
        let wire = r#"{"Microsoft.Resources":{"resourceUri":"/r","location":"local","tags":{"Department":"Finance"},"additionalInfo":null}}"#;
        assert_eq!(
            tagged.to_wire_string(),
            wire,
            "Azure's field order, compact"
        );
        assert_eq!(LineInstance::from(&tagged).to_wire_string(), wire);
        let without = AggregateLine {
            instance: None,
            ..line
        };
        let json = serde_json::to_value(served(&without, AggregateApi::Provider, SUB)).unwrap();
        assert!(json["properties"].get("instanceData").is_none());
        assert_eq!(json["type"], "Microsoft.Commerce.Admin/UsageAggregate");
    }

    #[test]
    fn an_aggregate_read_back_from_an_upstream_serves_identically() {
        let line = AggregateLine {
            subscription_id: SUB.into(),
            meter_id: canonical_meter_id("6DAB500F-A4FD-49C4-956D-229BB9C8C793"),
            usage_start: parse_any_time("2026-10-01T00:00:00Z").unwrap(),
            usage_end: parse_any_time("2026-10-02T00:00:00Z").unwrap(),
            quantity: 24.5,
            instance: Some(LineInstance {
                resource_uri: "/subscriptions/x/resourceGroups/rg/providers/p/vm1".into(),
                location: "local".into(),
                tags: ObjectText::parse(r#"{"Department":"Sales"}"#.into()),
                additional_info: ObjectText::parse(r#"{"ServiceType":"A1"}"#.into()),
            }),
        };
        for api in [AggregateApi::Tenant, AggregateApi::Provider] {
            let aggregate = served(&line, api, SUB);
            let read = AggregateLine::from_aggregate(&aggregate).unwrap();
            assert_eq!(read, line);
            assert_eq!(served(&read, api, SUB), aggregate);
        }
        let mut broken = served(&line, AggregateApi::Tenant, SUB);
        broken.properties.usage_start_time = "yesterday".into();
        assert!(AggregateLine::from_aggregate(&broken).is_err());
    }

    #[test]
    fn object_text_holds_only_one_json_object() {
        for text in ["", "null", "[1]", "\"{}\"", "{", "{} {}", "{\"a\":}"] {
            assert!(ObjectText::parse(text.into()).is_none(), "{text}");
        }
        let tags = ObjectText::parse(r#"{"b":1,"a":"x"}"#.into()).unwrap();
        assert_eq!(tags.as_str(), r#"{"b":1,"a":"x"}"#, "kept as it was stored");
        assert_eq!(Value::Object(tags.to_map()), json!({"b": 1, "a": "x"}));
        assert_eq!(ObjectText::from_map(&tags.to_map()), tags);
    }

    #[test]
    fn a_page_is_written_in_arm_shape_and_reads_back() {
        let line = |meter: &str, instance: Option<LineInstance>| AggregateLine {
            subscription_id: SUB.into(),
            meter_id: meter.into(),
            usage_start: parse_any_time("2026-10-01T05:00:00Z").unwrap(),
            usage_end: parse_any_time("2026-10-01T06:00:00Z").unwrap(),
            quantity: 0.1 + 0.2,
            instance,
        };
        let lines = [
            line(
                "m1",
                Some(LineInstance {
                    resource_uri: "/r/\"quoted\"".into(),
                    location: "local".into(),
                    tags: ObjectText::parse(r#"{"Team":"Ops \u00e9"}"#.into()),
                    additional_info: None,
                }),
            ),
            line("m2", None),
        ];
        let page = AggregatePageView {
            lines: &lines,
            api: AggregateApi::Provider,
            path_subscription: "provider",
            next_link: Some("https://x/next?a=1&b=\"2\""),
        };
        let written = serde_json::to_string(&page).unwrap();
        let expected = concat!(
            r#"{"value":[{"id":"/subscriptions/provider/providers/Microsoft.Commerce.Admin/UsageAggregate/"#,
            "0f0a4a7b-1c2d-4e5f-8a9b-0c1d2e3f4a5b-m1",
            r#"","name":"0f0a4a7b-1c2d-4e5f-8a9b-0c1d2e3f4a5b-m1","type":"Microsoft.Commerce.Admin/UsageAggregate","#,
            r#""properties":{"subscriptionId":"0f0a4a7b-1c2d-4e5f-8a9b-0c1d2e3f4a5b","usageStartTime":"2026-10-01T05:00:00+00:00","#,
            r#""usageEndTime":"2026-10-01T06:00:00+00:00","instanceData":"{\"Microsoft.Resources\":{\"resourceUri\":\"/r/\\\"quoted\\\"\",\"location\":\"local\",\"tags\":{\"Team\":\"Ops \\u00e9\"},\"additionalInfo\":null}}","#,
            r#""quantity":0.30000000000000004,"meterId":"m1"}},"#,
            r#"{"id":"/subscriptions/provider/providers/Microsoft.Commerce.Admin/UsageAggregate/0f0a4a7b-1c2d-4e5f-8a9b-0c1d2e3f4a5b-m2","#,
            r#""name":"0f0a4a7b-1c2d-4e5f-8a9b-0c1d2e3f4a5b-m2","type":"Microsoft.Commerce.Admin/UsageAggregate","#,
            r#""properties":{"subscriptionId":"0f0a4a7b-1c2d-4e5f-8a9b-0c1d2e3f4a5b","usageStartTime":"2026-10-01T05:00:00+00:00","#,
            r#""usageEndTime":"2026-10-01T06:00:00+00:00","quantity":0.30000000000000004,"meterId":"m2"}}],"#,
            r#""nextLink":"https://x/next?a=1&b=\"2\""}"#,
        );
        assert_eq!(written, expected);
        let read: UsageAggregatePage = serde_json::from_str(&written).unwrap();
        assert_eq!(read.next_link.as_deref(), page.next_link);
        for (aggregate, line) in read.value.iter().zip(&lines) {
            assert_eq!(&AggregateLine::from_aggregate(aggregate).unwrap(), line);
        }
        let last = AggregatePageView {
            next_link: None,
            ..page
        };
        assert!(!serde_json::to_string(&last).unwrap().contains("nextLink"));
    }
}
