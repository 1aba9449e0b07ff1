//! The meter catalog: what each Azure Stack Hub meter ID means.
//!
//! The facts come from `core/data/azure-stack-meters.csv`, embedded at build time. Azure Stack Hub
//! emits meter IDs in upper or lower case, with or without hyphens, so every look-up goes through
//! [`meter_key`]. A meter that is not in the catalog is still a meter: it is kept and shown by ID.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::ids::{canonical_guid_hex, hyphenate};

const CATALOG_CSV: &str = include_str!("../data/azure-stack-meters.csv");

/// One meter of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meter {
    /// The ID as Microsoft documents it (some without hyphens).
    pub id: String,
    pub name: String,
    pub unit: String,
    pub category: String,
    pub resource_provider: String,
    pub deprecated: bool,
    pub notes: String,
}

/// All known meters, indexed by [`meter_key`].
#[derive(Debug)]
pub struct MeterCatalog {
    meters: Vec<Meter>,
    by_key: HashMap<String, usize>,
}

/// The key a meter ID is compared by: hex digits only, upper case. Non-GUID IDs are trimmed and
/// upper-cased, so they still compare case-insensitively.
pub fn meter_key(raw: &str) -> String {
    let trimmed = raw.trim();
    match canonical_guid_hex(trimmed) {
        Some(hex) => hex.to_ascii_uppercase(),
        None => trimmed.to_ascii_uppercase(),
    }
}

/// The form in which Meterbook stores and answers a meter ID: the catalog's documented form for
/// known meters, upper-case hyphenated for other GUIDs, and the trimmed input otherwise.
pub fn canonical_meter_id(raw: &str) -> String {
    if let Some(meter) = catalog().get(raw) {
        return meter.id.clone();
    }
    let trimmed = raw.trim();
    match canonical_guid_hex(trimmed) {
        Some(hex) => hyphenate(&hex.to_ascii_uppercase()),
        None => trimmed.to_owned(),
    }
}

/// The embedded catalog, parsed on first use.
pub fn catalog() -> &'static MeterCatalog {
    static CATALOG: OnceLock<MeterCatalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        MeterCatalog::parse(CATALOG_CSV).expect("the embedded meter catalog is valid (tested)")
    })
}

impl MeterCatalog {
    /// Parses the catalog CSV: `meter_id,meter_name,unit,category,resource_provider,status,notes`.
    /// Notes may contain commas; no other field does.
    pub fn parse(csv: &str) -> Result<Self, String> {
        let mut meters = Vec::new();
        let mut by_key = HashMap::new();
        for (line_no, line) in csv.lines().enumerate().skip(1) {
            if line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.splitn(7, ',').collect();
            let [id, name, unit, category, provider, status, rest @ ..] = fields.as_slice() else {
                return Err(format!("line {}: expected 7 fields", line_no + 1));
            };
            let deprecated = match *status {
                "current" => false,
                "deprecated" => true,
                other => return Err(format!("line {}: unknown status '{other}'", line_no + 1)),
            };
            let key = meter_key(id);
            if by_key.insert(key, meters.len()).is_some() {
                return Err(format!("line {}: duplicate meter ID {id}", line_no + 1));
            }
            meters.push(Meter {
                id: id.trim().to_owned(),
                name: name.trim().to_owned(),
                unit: unit.trim().to_owned(),
                category: category.trim().to_owned(),
                resource_provider: provider.trim().to_owned(),
                deprecated,
                notes: rest
                    .first()
                    .map(|n| n.trim().to_owned())
                    .unwrap_or_default(),
            });
        }
        Ok(Self { meters, by_key })
    }

    /// The meter with this ID, in any case, with or without hyphens.
    pub fn get(&self, id: &str) -> Option<&Meter> {
        self.by_key.get(&meter_key(id)).map(|&i| &self.meters[i])
    }

    /// Every meter, in catalog order.
    pub fn all(&self) -> &[Meter] {
        &self.meters
    }

    /// The current (not deprecated) meter with this exact name.
    pub fn current_by_name(&self, name: &str) -> Option<&Meter> {
        self.meters.iter().find(|m| !m.deprecated && m.name == name)
    }

    /// What to show people for a meter ID: the catalog entry, or an "unknown meter" stand-in that
    /// keeps the ID visible.
    pub fn describe(&self, id: &str) -> MeterInfo {
        match self.get(id) {
            Some(m) => MeterInfo {
                id: m.id.clone(),
                name: m.name.clone(),
                unit: m.unit.clone(),
                category: m.category.clone(),
                known: true,
            },
            None => MeterInfo {
                id: id.to_owned(),
                name: format!("Unknown meter {id}"),
                unit: "units".to_owned(),
                category: UNKNOWN_CATEGORY.to_owned(),
                known: false,
            },
        }
    }
}

/// The category under which meters missing from the catalog are grouped.
pub const UNKNOWN_CATEGORY: &str = "Unknown";

/// A meter as people see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterInfo {
    pub id: String,
    pub name: String,
    pub unit: String,
    pub category: String,
    pub known: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_catalog_holds_every_meter_of_the_csv() {
        let rows = CATALOG_CSV
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .count();
        assert_eq!(catalog().all().len(), rows);
        assert_eq!(rows, 84);
    }

    #[test]
    fn look_up_ignores_case_and_hyphens() {
        let vm = catalog()
            .get("6dab500f-a4fd-49c4-956d-229bb9c8c793")
            .unwrap();
        assert_eq!(vm.name, "VM size hours");
        assert_eq!(
            catalog().get("6DAB500FA4FD49C4956D229BB9C8C793").unwrap(),
            vm
        );
        let ip = catalog()
            .get("f271a8a3-88c4-4d93-956a-063e1d2fa80b")
            .unwrap();
        assert_eq!(ip.name, "Static IP Address Usage");
        assert_eq!(ip.id, "F271A8A388C44D93956A063E1D2FA80B");
    }

    #[test]
    fn deprecated_meters_are_flagged() {
        let old = catalog()
            .get("5D76E09F-4567-452A-94CC-7D1F097761F0")
            .unwrap();
        assert!(old.deprecated);
        assert_eq!(old.unit, "disks x hours");
        assert!(!catalog().current_by_name("S4").unwrap().deprecated);
    }

    #[test]
    fn unknown_meters_are_kept_and_shown_by_id() {
        let id = canonical_meter_id("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
        assert_eq!(id, "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE");
        let info = catalog().describe(&id);
        assert!(!info.known);
        assert!(info.name.contains(&id));
        assert_eq!(canonical_meter_id(" custom-meter "), "custom-meter");
    }

    #[test]
    fn known_meters_are_stored_in_their_documented_form() {
        assert_eq!(
            canonical_meter_id("f271a8a3-88c4-4d93-956a-063e1d2fa80b"),
            "F271A8A388C44D93956A063E1D2FA80B"
        );
        assert_eq!(
            canonical_meter_id("fab6eb84500b4a09a8ca7358f8bbaea5"),
            "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5"
        );
    }

    #[test]
    fn a_malformed_catalog_is_refused_with_its_line() {
        let err = MeterCatalog::parse("header\nA,B,C\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
    }
}
