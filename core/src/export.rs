//! Exports of usage: CSV in the column order of Azure Stack Hub's `Usagesummary.ps1`, so sheets
//! and scripts built for that report read Meterbook's unchanged.

use crate::meter::catalog;
use crate::time::arm_time;
use crate::usage::{AggregateLine, ObjectText};

/// The columns of the usage CSV, in `Usagesummary.ps1` order.
pub const USAGE_CSV_COLUMNS: [&str; 14] = [
    "UsageStartTime",
    "UsageEndTime",
    "MeterName",
    "Quantity",
    "resourceType",
    "location",
    "resourceGroup",
    "resourceName",
    "subowner",
    "tags",
    "MeterId",
    "additionalInfo",
    "subscription",
    "resourceUri",
];

/// Resource type, group and name, read from an ARM resource URI
/// (`/subscriptions/{s}/resourceGroups/{g}/providers/{ns}/{type}/{name}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceParts {
    pub resource_type: String,
    pub resource_group: String,
    pub resource_name: String,
}

impl ResourceParts {
    pub fn from_uri(uri: &str) -> Self {
        let segments: Vec<&str> = uri.split('/').filter(|s| !s.is_empty()).collect();
        let after = |name: &str| {
            segments
                .iter()
                .position(|s| s.eq_ignore_ascii_case(name))
                .and_then(|i| segments.get(i + 1))
                .map(|s| s.to_string())
        };
        let resource_type = segments
            .iter()
            .position(|s| s.eq_ignore_ascii_case("providers"))
            .and_then(|i| Some(format!("{}/{}", segments.get(i + 1)?, segments.get(i + 2)?)))
            .unwrap_or_default();
        let has_resource = segments.iter().any(|s| s.eq_ignore_ascii_case("providers"));
        Self {
            resource_type,
            resource_group: after("resourceGroups").unwrap_or_default(),
            resource_name: if has_resource {
                segments.last().map(|s| s.to_string()).unwrap_or_default()
            } else {
                String::new()
            },
        }
    }
}

/// One CSV row (unescaped fields) for an aggregate line of a subscription `owner` owns (empty
/// when the directory does not say).
pub fn usage_csv_fields(line: &AggregateLine, owner: &str) -> [String; 14] {
    let meter = catalog().describe(&line.meter_id);
    let instance = line.instance.clone().unwrap_or_default();
    let parts = ResourceParts::from_uri(&instance.resource_uri);
    let json_or_empty = |o: &Option<ObjectText>| {
        o.as_ref()
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default()
    };
    [
        arm_time(line.usage_start),
        arm_time(line.usage_end),
        meter.name,
        format_quantity(line.quantity),
        parts.resource_type,
        instance.location.clone(),
        parts.resource_group,
        parts.resource_name,
        owner.to_owned(),
        json_or_empty(&instance.tags),
        line.meter_id.clone(),
        json_or_empty(&instance.additional_info),
        line.subscription_id.clone(),
        instance.resource_uri.clone(),
    ]
}

/// Quantities without float noise: at most 10 decimals, trailing zeros dropped.
pub fn format_quantity(q: f64) -> String {
    let s = format!("{q:.10}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::{parse_any_time, LineInstance};

    #[test]
    fn resource_parts_come_from_the_uri() {
        let p = ResourceParts::from_uri("/subscriptions/s/resourceGroups/web-rg/providers/Microsoft.Compute/virtualMachines/vm-01");
        assert_eq!(p.resource_type, "Microsoft.Compute/virtualMachines");
        assert_eq!(p.resource_group, "web-rg");
        assert_eq!(p.resource_name, "vm-01");
        assert_eq!(ResourceParts::from_uri(""), ResourceParts::default());
    }

    #[test]
    fn a_row_follows_the_usagesummary_column_order() {
        let line = AggregateLine {
            subscription_id: "sub".into(),
            meter_id: "6DAB500F-A4FD-49C4-956D-229BB9C8C793".into(),
            usage_start: parse_any_time("2026-10-01T00:00:00Z").unwrap(),
            usage_end: parse_any_time("2026-10-01T01:00:00Z").unwrap(),
            quantity: 0.1 + 0.2,
            instance: Some(LineInstance {
                resource_uri: "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm".into(),
                location: "local".into(),
                tags: ObjectText::parse(r#"{"Department":"Sales"}"#.into()),
                additional_info: None,
            }),
        };
        let row = usage_csv_fields(&line, "ops@contoso.example");
        assert_eq!(row[2], "VM size hours");
        assert_eq!(row[3], "0.3");
        assert_eq!(row[4], "Microsoft.Compute/virtualMachines");
        assert_eq!(row[6], "rg");
        assert_eq!(row[7], "vm");
        assert_eq!(row[9], r#"{"Department":"Sales"}"#);
        assert_eq!(row[11], "");
        assert_eq!(row[12], "sub");
    }
}
