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

/// One CSV row (unescaped fields) for an aggregate line.
pub fn usage_csv_fields(line: &AggregateLine) -> [String; 14] {
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
        String::new(),
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

/// Whether a spreadsheet would read a text field as a formula: anything starting with `=`, `+`,
/// `-`, `@`, tab or CR that is not a plain number (`-2+3+cmd|...` is a formula, `-5` is not). Such
/// fields get a leading `'`, so opening an export cannot run anything a tenant put in a resource
/// name or tag.
fn looks_like_formula(f: &str) -> bool {
    f.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_plain_number(f)
}

/// Whether a field gets the defusing `'`: a formula, or a field that would read back as one once
/// [`crate::csv::read_csv`] took a `'` off it (`'+1` is written `''+1`), so that what Meterbook
/// writes reads back exactly.
fn needs_guard(f: &str) -> bool {
    looks_like_formula(f) || guarded_formula(f)
}

/// A field that, past its leading `'`s, is a formula: the reader takes one `'` off it.
pub(crate) fn guarded_formula(f: &str) -> bool {
    f.starts_with('\'') && looks_like_formula(f.trim_start_matches('\''))
}

/// `-12`, `3.5`, `-0.25`, `1e-7`: an optional minus, digits with an optional fraction, an optional
/// exponent, and nothing else.
fn is_plain_number(f: &str) -> bool {
    fn digits(s: &str) -> (usize, &str) {
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        (n, &s[n..])
    }
    let (whole, rest) = digits(f.strip_prefix('-').unwrap_or(f));
    let (fraction, rest) = match rest.strip_prefix('.') {
        Some(r) => digits(r),
        None => (0, rest),
    };
    if whole + fraction == 0 {
        return false;
    }
    match rest.strip_prefix(['e', 'E']) {
        None => rest.is_empty(),
        Some(exp) => {
            let (n, rest) = digits(exp.strip_prefix(['-', '+']).unwrap_or(exp));
            n > 0 && rest.is_empty()
        }
    }
}

/// Appends one CSV record (RFC 4180: quoted when needed, quotes doubled, CRLF line end).
pub fn write_csv_record<S: AsRef<str>>(out: &mut String, fields: &[S]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let guarded;
        let mut f = field.as_ref();
        if needs_guard(f) {
            guarded = format!("'{f}");
            f = &guarded;
        }
        if f.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&f.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(f);
        }
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::{parse_any_time, LineInstance};

    #[test]
    fn fields_a_spreadsheet_would_run_are_defused() {
        let mut out = String::new();
        write_csv_record(
            &mut out,
            &["=HYPERLINK(\"x\")", "+1", "@SUM", "-x", "-5", "vm-1", "1.5"],
        );
        assert_eq!(
            out,
            "\"'=HYPERLINK(\"\"x\"\")\",'+1,'@SUM,'-x,-5,vm-1,1.5\r\n"
        );
        let mut out = String::new();
        write_csv_record(&mut out, &["'+1", "''=x", "'abc", "'-5", "'"]);
        assert_eq!(out, "''+1,'''=x,'abc,'-5,'\r\n");
        let mut out = String::new();
        write_csv_record(
            &mut out,
            &[
                "-2+3+cmd|' /C calc'!A0",
                "-1.5e-3",
                "-1.",
                "-.5",
                "-1e",
                "\tx",
                "-",
            ],
        );
        assert_eq!(
            out,
            "'-2+3+cmd|' /C calc'!A0,-1.5e-3,-1.,-.5,'-1e,'\tx,'-\r\n"
        );
    }

    #[test]
    fn resource_parts_come_from_the_uri() {
        let p = ResourceParts::from_uri("/subscriptions/s/resourceGroups/web-rg/providers/Microsoft.Compute/virtualMachines/vm-01");
        assert_eq!(p.resource_type, "Microsoft.Compute/virtualMachines");
        assert_eq!(p.resource_group, "web-rg");
        assert_eq!(p.resource_name, "vm-01");
        assert_eq!(ResourceParts::from_uri(""), ResourceParts::default());
    }

    #[test]
    fn csv_fields_are_escaped() {
        let mut out = String::new();
        write_csv_record(&mut out, &["a", "b,c", "say \"hi\""]);
        assert_eq!(out, "a,\"b,c\",\"say \"\"hi\"\"\"\r\n");
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
        let row = usage_csv_fields(&line);
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
