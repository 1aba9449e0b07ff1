//! A simulator of Azure Stack Hub resource providers: deterministic, realistic hourly usage for a
//! set of demo tenants, so a fresh Meterbook has something true-to-life to show.
//!
//! Each tenant has VMs of several sizes (with OS disks), storage accounts, public IPs, SQL and
//! MySQL databases and sometimes an App Service plan; resources are created and deleted over the
//! period; each record is reported a few hours after its usage hour, and records whose reported
//! time is still in the future are not emitted (they have not been reported yet).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, Utc};
use meterbook_core::directory::{DirectoryEntry, EntryDraft};
use meterbook_core::ids::hyphenate;
use meterbook_core::meter::catalog;
use meterbook_core::rating::csv::rate_card_from_csv;
use meterbook_core::rating::RateCard;
use meterbook_core::rng::SplitMix64;
use meterbook_core::time::{floor_hour, HOUR_SECONDS};
use meterbook_core::usage::{InstanceData, UsageRecord};
use meterbook_core::SubscriptionId;
use serde_json::{json, Map, Value};

/// The demo's sample rate card (USD): list prices for every meter the simulator emits, with a
/// tiered blob capacity price and included blob transactions and egress, and lower vCPU prices
/// for the Standard and Premium offers (Premium's blob capacity at the second tier's price).
pub const RATE_CARD_CSV: &str = include_str!("../data/demo-rate-card.csv");

/// The demo rate card, parsed.
pub fn rate_card() -> RateCard {
    rate_card_from_csv(RATE_CARD_CSV)
        .unwrap_or_else(|e| unreachable!("the embedded demo rate card is valid (tested): {e}"))
}

/// How much demo usage to make.
#[derive(Debug, Clone, Copy)]
pub struct DemoSpec {
    pub tenants: usize,
    pub days: u32,
    pub seed: u64,
    /// The simulated "now": usage runs up to the hour before it.
    pub now: DateTime<Utc>,
}

impl DemoSpec {
    /// What `serve --demo` seeds: 8 tenants, 30 days, seed 42 (the documented demo accounts are
    /// for these tenants).
    pub fn standard(now: DateTime<Utc>) -> Self {
        Self {
            tenants: 8,
            days: 30,
            seed: 42,
            now,
        }
    }
}

/// One demo tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoTenant {
    pub name: String,
    pub department: String,
    pub cost_center: String,
    pub subscription_id: SubscriptionId,
}

const NAMES: [&str; 10] = [
    "Contoso",
    "Fabrikam",
    "Northwind",
    "Tailspin",
    "Woodgrove",
    "Adatum",
    "Litware",
    "Proseware",
    "Wingtip",
    "Alpine",
];
const DEPARTMENTS: [&str; 6] = [
    "Finance",
    "Engineering",
    "Marketing",
    "Sales",
    "Operations",
    "Research",
];
/// (size, vCPUs)
const VM_SIZES: [(&str, u32); 6] = [
    ("Standard_A1_v2", 1),
    ("Standard_A2_v2", 2),
    ("Standard_D2_v2", 2),
    ("Standard_D4_v2", 8),
    ("Standard_F4s", 4),
    ("Standard_DS3_v2", 4),
];
const DISKS: [&str; 6] = ["S10", "S20", "S30", "P10", "P20", "P30"];

/// The demo tenants of a seed.
pub fn tenants(spec: &DemoSpec) -> Vec<DemoTenant> {
    let mut rng = SplitMix64::new(spec.seed);
    (0..spec.tenants)
        .map(|i| {
            let base = NAMES[i % NAMES.len()];
            let name = if i < NAMES.len() {
                base.to_owned()
            } else {
                format!("{base} {}", i / NAMES.len() + 1)
            };
            let hex = format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64());
            // Shape it as a version-4 GUID, as Azure's subscription IDs are.
            let guid = format!(
                "{}4{}{}{}",
                &hex[0..12],
                &hex[13..16],
                "89ab".as_bytes()[(rng.next_u64() % 4) as usize] as char,
                &hex[17..32]
            );
            DemoTenant {
                name,
                department: DEPARTMENTS[i % DEPARTMENTS.len()].to_owned(),
                cost_center: format!("CC-{}", 1000 + rng.range(0, 9000)),
                subscription_id: SubscriptionId::parse(&hyphenate(&guid))
                    .unwrap_or_else(|_| unreachable!("32 hex digits")),
            }
        })
        .collect()
}

/// The companies behind [`NAMES`], as the directory names them.
const COMPANIES: [&str; 10] = [
    "Contoso Ltd",
    "Fabrikam Inc",
    "Northwind Traders",
    "Tailspin Toys",
    "Woodgrove Bank",
    "Adatum Corporation",
    "Litware Inc",
    "Proseware Inc",
    "Wingtip Toys",
    "Alpine Ski House",
];

/// The demo offers, from the least to the most, and the plans each comes with.
const OFFERS: [(&str, &[&str]); 3] = [
    ("Basic", &["compute-basic"]),
    ("Standard", &["compute-standard", "storage-standard"]),
    (
        "Premium",
        &["compute-premium", "storage-premium", "sql-premium"],
    ),
];

/// The demo tenants' directory entries: company names, owners, offers and plans, the directory
/// tenant each signs in with, and their department tags.
pub fn directory(spec: &DemoSpec) -> Vec<DirectoryEntry> {
    let mut rng = SplitMix64::new(spec.seed ^ 0x5eed_d1c7);
    tenants(spec)
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let company = COMPANIES[i % COMPANIES.len()];
            let display_name = match i / COMPANIES.len() {
                0 => company.to_owned(),
                n => format!("{company} {}", n + 1),
            };
            let domain = NAMES[i % NAMES.len()].to_lowercase();
            let (offer, plans) = OFFERS[i % OFFERS.len()];
            let tenant_hex = format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64());
            let draft = EntryDraft {
                subscription_id: Some(t.subscription_id.to_string()),
                display_name: Some(display_name),
                owner: Some(format!("admin@{domain}.example")),
                state: Some("Enabled".to_owned()),
                offer: Some(offer.to_owned()),
                plans: Some(plans.iter().map(|p| (*p).to_owned()).collect()),
                tenant_id: Some(tenant_hex),
                delegated_provider: None,
                tags: Some(BTreeMap::from([
                    ("Department".to_owned(), t.department.clone()),
                    ("CostCenter".to_owned(), t.cost_center.clone()),
                ])),
            };
            draft
                .into_entry(None)
                .unwrap_or_else(|e| unreachable!("the demo's entries are valid: {e}"))
        })
        .collect()
}

/// What a simulated resource emits each hour it exists.
enum Kind {
    Vm {
        vcpus: u32,
        windows: bool,
        size: &'static str,
    },
    Disk {
        tier: &'static str,
    },
    Storage {
        gb: f64,
        growth_per_hour: f64,
    },
    PublicIp {
        static_ip: bool,
    },
    SqlDb {
        mb: f64,
    },
    MySqlDb {
        mb: f64,
    },
    AppServicePlan {
        cores: u32,
    },
}

struct Resource {
    uri: String,
    kind: Kind,
    tags: Option<Map<String, Value>>,
    /// Hours (from the start of the period) during which it exists: `[born, died)`.
    born: i64,
    died: i64,
}

fn meter_id(name: &str) -> String {
    catalog()
        .current_by_name(name)
        .map(|m| m.id.clone())
        .unwrap_or_else(|| unreachable!("meter '{name}' is in the embedded catalog (tested)"))
}

/// Every demo usage record of the spec, in time order per resource.
pub fn records(spec: &DemoSpec) -> Vec<UsageRecord> {
    let end = floor_hour(spec.now);
    let hours = i64::from(spec.days) * 24;
    let start = end - Duration::hours(hours);
    let mut out = Vec::new();
    for (t, tenant) in tenants(spec).iter().enumerate() {
        let mut rng =
            SplitMix64::new(spec.seed ^ (0xD1B5_4A32_D192_ED03u64.wrapping_mul(t as u64 + 1)));
        for resource in resources(tenant, hours, &mut rng) {
            for h in resource.born.max(0)..resource.died.min(hours) {
                let usage_start = start + Duration::hours(h);
                let reported = usage_start
                    + Duration::hours(1)
                    + Duration::seconds(rng.range(0, 5 * HOUR_SECONDS as u64) as i64);
                if reported > spec.now {
                    continue;
                }
                for (meter, quantity, info) in emissions(&resource, h, usage_start, &mut rng) {
                    out.push(UsageRecord {
                        subscription_id: tenant.subscription_id.clone(),
                        meter_id: meter,
                        instance: InstanceData {
                            resource_uri: resource.uri.clone(),
                            location: "local".to_owned(),
                            tags: resource.tags.clone(),
                            additional_info: info,
                        },
                        usage_start,
                        usage_end: usage_start + Duration::hours(1),
                        reported_time: Some(reported),
                        quantity,
                    });
                }
            }
        }
    }
    out
}

fn resources(tenant: &DemoTenant, hours: i64, rng: &mut SplitMix64) -> Vec<Resource> {
    let sub = tenant.subscription_id.as_str();
    let slug = tenant.name.to_lowercase().replace(' ', "-");
    let mut tags = Map::new();
    tags.insert("Department".into(), json!(tenant.department));
    tags.insert("CostCenter".into(), json!(tenant.cost_center));
    let mut out = Vec::new();
    let lifetime = |rng: &mut SplitMix64| -> (i64, i64) {
        // Most resources exist from before the period; some arrive later, some are deleted.
        let born = if rng.chance(0.6) {
            0
        } else {
            rng.range(0, (hours as u64 * 3 / 4).max(1)) as i64
        };
        let died = if rng.chance(0.2) {
            born + rng.range(24, hours.max(25) as u64) as i64
        } else {
            hours
        };
        (born, died)
    };
    let push = |out: &mut Vec<Resource>,
                rg: &str,
                provider_type: &str,
                name: String,
                kind: Kind,
                born: i64,
                died: i64,
                rng: &mut SplitMix64| {
        // Real records often carry no tags at all.
        let tags = (!rng.chance(0.15)).then(|| tags.clone());
        out.push(Resource {
            uri: format!(
                "/subscriptions/{sub}/resourceGroups/{rg}/providers/{provider_type}/{name}"
            ),
            kind,
            tags,
            born,
            died,
        });
    };
    let app_rg = format!("{slug}-app");
    let data_rg = format!("{slug}-data");
    for i in 0..rng.range(2, 7) {
        let (size, vcpus) = *rng.pick(&VM_SIZES);
        let windows = rng.chance(0.5);
        let (born, died) = lifetime(rng);
        let vm = format!("{slug}-vm{i:02}");
        push(
            &mut out,
            &app_rg,
            "Microsoft.Compute/virtualMachines",
            vm.clone(),
            Kind::Vm {
                vcpus,
                windows,
                size,
            },
            born,
            died,
            rng,
        );
        let tier = *rng.pick(&DISKS);
        push(
            &mut out,
            &app_rg,
            "Microsoft.Compute/disks",
            format!("{vm}-osdisk"),
            Kind::Disk { tier },
            born,
            died,
            rng,
        );
    }
    for i in 0..rng.range(1, 4) {
        let (born, died) = lifetime(rng);
        let gb = 20.0 + rng.unit() * 480.0;
        let growth = rng.unit() * 0.2;
        push(
            &mut out,
            &data_rg,
            "Microsoft.Storage/storageAccounts",
            format!("{}sa{i}", slug.replace('-', "")),
            Kind::Storage {
                gb,
                growth_per_hour: growth,
            },
            born,
            died,
            rng,
        );
    }
    for i in 0..rng.range(1, 4) {
        let (born, died) = lifetime(rng);
        let static_ip = rng.chance(0.5);
        push(
            &mut out,
            &app_rg,
            "Microsoft.Network/publicIPAddresses",
            format!("{slug}-ip{i}"),
            Kind::PublicIp { static_ip },
            born,
            died,
            rng,
        );
    }
    for i in 0..rng.range(0, 3) {
        let (born, died) = lifetime(rng);
        let mb = 256.0 * rng.range(1, 20) as f64;
        push(
            &mut out,
            &data_rg,
            "Microsoft.SQLAdapter/servers/databases",
            format!("sql1/db{i}"),
            Kind::SqlDb { mb },
            born,
            died,
            rng,
        );
    }
    if rng.chance(0.5) {
        let (born, died) = lifetime(rng);
        let mb = 128.0 * rng.range(1, 10) as f64;
        push(
            &mut out,
            &data_rg,
            "Microsoft.MySQLAdapter/servers/databases",
            "mysql1/app".into(),
            Kind::MySqlDb { mb },
            born,
            died,
            rng,
        );
    }
    if rng.chance(0.5) {
        let (born, died) = lifetime(rng);
        let cores = *rng.pick(&[1u32, 2, 4]);
        push(
            &mut out,
            &app_rg,
            "Microsoft.Web/serverfarms",
            format!("{slug}-plan"),
            Kind::AppServicePlan { cores },
            born,
            died,
            rng,
        );
    }
    out
}

fn days_in_month(t: DateTime<Utc>) -> f64 {
    let (y, m) = (t.year(), t.month());
    let next = if m == 12 {
        chrono::NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        chrono::NaiveDate::from_ymd_opt(y, m + 1, 1)
    };
    let first = chrono::NaiveDate::from_ymd_opt(y, m, 1);
    match (first, next) {
        (Some(a), Some(b)) => (b - a).num_days() as f64,
        _ => 30.0,
    }
}

type Emission = (String, f64, Option<Map<String, Value>>);

/// The records one resource emits for usage hour `h`.
fn emissions(
    resource: &Resource,
    h: i64,
    usage_start: DateTime<Utc>,
    rng: &mut SplitMix64,
) -> Vec<Emission> {
    match &resource.kind {
        Kind::Vm {
            vcpus,
            windows,
            size,
        } => {
            let mut info = Map::new();
            info.insert("ServiceType".into(), json!(size));
            info.insert(
                "ImageType".into(),
                if *windows {
                    json!("Windows Server 2022")
                } else {
                    json!("Linux")
                },
            );
            let mut out = vec![
                (meter_id("VM size hours"), 1.0, Some(info.clone())),
                (
                    meter_id("Base VM Size Hours"),
                    f64::from(*vcpus),
                    Some(info.clone()),
                ),
            ];
            if *windows {
                out.push((
                    meter_id("Windows VM Size Hours"),
                    f64::from(*vcpus),
                    Some(info),
                ));
            }
            out
        }
        Kind::Disk { tier } => vec![(
            meter_id(tier),
            1.0 / (days_in_month(usage_start) * 24.0),
            None,
        )],
        Kind::Storage {
            gb,
            growth_per_hour,
        } => {
            let size = gb + growth_per_hour * (h - resource.born.max(0)) as f64;
            let busy = if (8..18).contains(&((usage_start.timestamp() / HOUR_SECONDS) % 24)) {
                3.0
            } else {
                1.0
            };
            vec![
                (meter_id("BlockBlobCapacity"), size, None),
                (
                    meter_id("BlobTransactions"),
                    busy * (0.5 + rng.unit() * 4.0),
                    None,
                ),
                (meter_id("BlobDataTransIn"), busy * rng.unit() * 0.8, None),
                (meter_id("BlobDataTransOut"), busy * rng.unit() * 1.5, None),
                (meter_id("TableCapacity"), size * 0.02, None),
            ]
        }
        Kind::PublicIp { static_ip } => {
            let name = if *static_ip {
                "Static IP Address Usage"
            } else {
                "Dynamic IP Address Usage"
            };
            vec![(meter_id(name), 1.0, None)]
        }
        Kind::SqlDb { mb } => vec![(meter_id("DatabaseSizeHourSqlMeter"), *mb, None)],
        Kind::MySqlDb { mb } => vec![(meter_id("DatabaseSizeHourMySqlMeter"), *mb, None)],
        Kind::AppServicePlan { cores } => vec![
            (meter_id("App Service"), f64::from(*cores), None),
            (meter_id("Web Process"), 1.0 + rng.range(0, 3) as f64, None),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::collections::HashSet;

    fn spec() -> DemoSpec {
        DemoSpec {
            tenants: 3,
            days: 5,
            seed: 7,
            now: Utc.with_ymd_and_hms(2026, 11, 26, 10, 30, 0).unwrap(),
        }
    }

    #[test]
    fn the_demo_rate_card_prices_every_meter_the_simulator_emits() {
        let card = rate_card();
        let standard = DemoSpec::standard(Utc.with_ymd_and_hms(2026, 11, 26, 10, 30, 0).unwrap());
        let unpriced: std::collections::BTreeSet<String> = records(&standard)
            .into_iter()
            .filter(|r| {
                card.rate_at(&r.subscription_id, None, &r.meter_id, r.usage_start)
                    .is_none()
            })
            .map(|r| catalog().describe(&r.meter_id).name)
            .collect();
        assert!(unpriced.is_empty(), "unpriced demo meters: {unpriced:?}");
    }

    #[test]
    fn the_same_seed_makes_the_same_records() {
        assert_eq!(records(&spec()), records(&spec()));
        let other = DemoSpec { seed: 8, ..spec() };
        assert_ne!(records(&spec()), records(&other));
    }

    #[test]
    fn records_are_hourly_reported_after_use_and_never_in_the_future() {
        let s = spec();
        let all = records(&s);
        assert!(all.len() > 1_000, "{}", all.len());
        for r in &all {
            assert_eq!(r.usage_end - r.usage_start, Duration::hours(1));
            let reported = r.reported_time.unwrap();
            assert!(reported >= r.usage_end && reported <= s.now);
            assert!(r.usage_start >= s.now - Duration::days(5) - Duration::hours(1));
        }
    }

    #[test]
    fn keys_are_unique_and_every_meter_is_known() {
        let all = records(&spec());
        let keys: HashSet<_> = all
            .iter()
            .map(|r| {
                (
                    r.subscription_id.clone(),
                    r.meter_id.clone(),
                    r.instance.resource_uri.clone(),
                    r.usage_start,
                )
            })
            .collect();
        assert_eq!(keys.len(), all.len());
        assert!(all.iter().all(|r| catalog().get(&r.meter_id).is_some()));
        let tenants: HashSet<_> = all.iter().map(|r| r.subscription_id.clone()).collect();
        assert_eq!(tenants.len(), 3);
    }

    #[test]
    fn vms_report_one_hour_and_their_vcpus() {
        let all = records(&spec());
        let vm_hours = meter_id("VM size hours");
        let base = meter_id("Base VM Size Hours");
        let vm = all.iter().find(|r| r.meter_id == vm_hours).unwrap();
        assert_eq!(vm.quantity, 1.0);
        let size = vm.instance.additional_info.as_ref().unwrap()["ServiceType"]
            .as_str()
            .unwrap();
        let vcpus = VM_SIZES.iter().find(|(s, _)| *s == size).unwrap().1;
        let cores = all
            .iter()
            .find(|r| {
                r.meter_id == base
                    && r.instance.resource_uri == vm.instance.resource_uri
                    && r.usage_start == vm.usage_start
            })
            .unwrap();
        assert_eq!(cores.quantity, f64::from(vcpus));
    }

    #[test]
    fn tenants_have_department_and_cost_center_tags() {
        let all = records(&spec());
        assert!(all.iter().any(|r| r
            .instance
            .tags
            .as_ref()
            .is_some_and(|t| t.contains_key("Department") && t.contains_key("CostCenter"))));
        let t = tenants(&spec());
        assert_eq!(t[0].name, "Contoso");
        assert!(t[0].subscription_id.as_str().chars().nth(14) == Some('4'));
    }
}
