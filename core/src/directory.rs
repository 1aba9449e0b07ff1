//! The tenant directory: what a person reads instead of a subscription's GUID. A subscription
//! has a display name, an owner (a user principal name), a state, an offer and plans, a directory
//! tenant and perhaps a delegated provider (a reseller), as in Azure Stack Hub.
//!
//! Every way in (the command line, CSV and JSON imports, the admin API) is parsed here into a
//! [`DirectoryEntry`] or refused with a message that names the field and, for files, the row.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::csv::read_csv;
use crate::SubscriptionId;

/// Longest display name, as Azure Stack Hub's portal allows.
pub const MAX_DISPLAY_NAME: usize = 128;
/// Longest owner (a user principal name).
pub const MAX_OWNER: usize = 256;
/// Longest offer or plan name.
pub const MAX_NAME: usize = 64;
/// Most plans of one subscription.
pub const MAX_PLANS: usize = 20;
/// Most tags of one subscription, and the longest tag name and value, as in Azure.
pub const MAX_TAGS: usize = 50;
pub const MAX_TAG_NAME: usize = 512;
pub const MAX_TAG_VALUE: usize = 256;
/// Most entries one import takes.
pub const MAX_IMPORT: usize = 100_000;

/// A subscription's state, as the admin API (2015-11-01) and ARM (2016-06-01) both spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SubscriptionState {
    Enabled,
    Warned,
    PastDue,
    Disabled,
    Deleted,
}

impl SubscriptionState {
    pub const ALL: [SubscriptionState; 5] = [
        Self::Enabled,
        Self::Warned,
        Self::PastDue,
        Self::Disabled,
        Self::Deleted,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "Enabled",
            Self::Warned => "Warned",
            Self::PastDue => "PastDue",
            Self::Disabled => "Disabled",
            Self::Deleted => "Deleted",
        }
    }

    /// Any case. "Suspended" is the Azure Stack Hub portal's word for Disabled; the admin API's
    /// passing states read as where they lead (Deleting and PartiallyDeleted as Deleted, NotDefined
    /// as Disabled), so a hub's list always imports.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if let Some(state) = Self::ALL
            .iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(raw))
        {
            return Ok(*state);
        }
        match raw.to_ascii_lowercase().as_str() {
            "suspended" | "notdefined" => Ok(Self::Disabled),
            "deleting" | "partiallydeleted" => Ok(Self::Deleted),
            _ => Err(format!(
                "state '{raw}' is not one of {}",
                Self::ALL.map(Self::as_str).join(", ")
            )),
        }
    }
}

impl fmt::Display for SubscriptionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A directory tenant's ID (an Entra ID or AD FS tenant): a GUID, kept lower case and hyphenated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DirectoryTenantId(String);

impl DirectoryTenantId {
    /// Written as subscription IDs may be (hyphenated or bare, any case, optional braces).
    pub fn parse(raw: &str) -> Result<Self, String> {
        SubscriptionId::parse(raw)
            .map(|guid| Self(guid.as_str().to_owned()))
            .map_err(|_| format!("tenant ID '{}' is not a GUID", raw.trim()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name of an offer or a plan: 1 to [`MAX_NAME`] letters, digits, `.`, `_` or `-`, starting
/// with a letter or digit (names are keys; what people read is the display name). Read from JSON
/// (a rate card's offer) through [`CatalogName::parse`] too.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct CatalogName(String);

impl TryFrom<String> for CatalogName {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw)
    }
}

impl CatalogName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        let valid = (1..=MAX_NAME).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(format!(
                "'{name}' is not a name: 1 to {MAX_NAME} letters, digits, '.', '_' or '-', starting with a letter or digit"
            ))
        }
    }

    /// An offer named by Azure Stack Hub's `offerId`, a resource ID
    /// (`/delegatedProviders/default/offers/Basic`, `/subscriptions/.../offers/Basic`), or by
    /// its name alone.
    pub fn of_offer_id(raw: &str) -> Result<Self, String> {
        Self::parse(
            raw.trim()
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or(""),
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CatalogName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the directory knows of one subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryEntry {
    pub subscription_id: SubscriptionId,
    pub display_name: String,
    /// The owner's user principal name; empty when unknown.
    pub owner: String,
    pub state: SubscriptionState,
    pub offer: Option<CatalogName>,
    /// Base and add-on plans, sorted and without repeats.
    pub plans: Vec<CatalogName>,
    pub tenant_id: Option<DirectoryTenantId>,
    /// The reseller's (delegated provider's) subscription, when a reseller sold this one.
    pub delegated_provider: Option<SubscriptionId>,
    pub tags: BTreeMap<String, String>,
}

/// The name a person reads for `id`: its display name, or that the directory does not know it
/// (its usage is kept all the same).
pub fn shown_name(id: &SubscriptionId, entry: Option<&DirectoryEntry>) -> String {
    match entry {
        Some(entry) => entry.display_name.clone(),
        None => unknown_name(id.as_str()),
    }
}

/// What a subscription the directory does not know is called.
pub fn unknown_name(id: &str) -> String {
    format!("Unknown subscription {id}")
}

/// The name of `id` in `names` (ID -> display name, as a page holds them), or that the directory
/// does not know it.
pub fn name_in(names: &BTreeMap<String, String>, id: &str) -> String {
    names.get(id).cloned().unwrap_or_else(|| unknown_name(id))
}

/// The directory entries of some subscriptions, found by ID: what a statement, a price or a
/// grouping reads of the directory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Directory(BTreeMap<SubscriptionId, DirectoryEntry>);

impl Directory {
    pub fn new(entries: impl IntoIterator<Item = DirectoryEntry>) -> Self {
        Self(
            entries
                .into_iter()
                .map(|e| (e.subscription_id.clone(), e))
                .collect(),
        )
    }

    pub fn get(&self, id: &SubscriptionId) -> Option<&DirectoryEntry> {
        self.0.get(id)
    }

    /// The offer `id` is on (`None` when it has none, or the directory does not know it).
    pub fn offer(&self, id: &SubscriptionId) -> Option<&CatalogName> {
        self.get(id).and_then(|e| e.offer.as_ref())
    }

    /// What `id` is grouped under by plan: its plans joined with " + " (a subscription's usage
    /// goes whole to one group, so groups add up to the total); `None` without plans.
    pub fn plans_label(&self, id: &SubscriptionId) -> Option<String> {
        self.get(id)
            .map(|e| plans_label(&e.plans))
            .filter(|l| !l.is_empty())
    }

    /// The offers of `ids`, once each.
    pub fn offers_of(&self, ids: &[SubscriptionId]) -> Vec<CatalogName> {
        let mut offers: Vec<CatalogName> = ids
            .iter()
            .filter_map(|id| self.offer(id))
            .cloned()
            .collect();
        offers.sort();
        offers.dedup();
        offers
    }
}

/// Plans as one grouping value: sorted, joined with " + " (empty without plans).
pub fn plans_label(plans: &[CatalogName]) -> String {
    plans
        .iter()
        .map(CatalogName::as_str)
        .collect::<Vec<_>>()
        .join(" + ")
}

impl DirectoryEntry {
    /// What a granted subscription the directory does not know is shown as.
    pub fn unknown(id: &SubscriptionId) -> Self {
        Self {
            subscription_id: id.clone(),
            display_name: shown_name(id, None),
            owner: String::new(),
            state: SubscriptionState::Enabled,
            offer: None,
            plans: Vec::new(),
            tenant_id: None,
            delegated_provider: None,
            tags: BTreeMap::new(),
        }
    }

    /// The entry as ARM's subscriptions API (2016-06-01) answers `GET /subscriptions/{id}`.
    pub fn to_arm(&self) -> ArmSubscription {
        ArmSubscription {
            id: format!("/subscriptions/{}", self.subscription_id),
            subscription_id: self.subscription_id.clone(),
            display_name: self.display_name.clone(),
            state: self.state,
            tenant_id: self.tenant_id.clone(),
            subscription_policies: SubscriptionPolicies {
                location_placement_id: "AzureStack",
                quota_id: self
                    .offer
                    .as_ref()
                    .map_or("Default", |o| o.as_str())
                    .to_owned(),
                spending_limit: "Off",
            },
            authorization_source: "RoleBased",
        }
    }

    /// The entry as Azure Stack Hub's admin API (2015-11-01) answers it, under the cloud's
    /// provider subscription `provider`.
    pub fn to_admin(&self, provider: &SubscriptionId) -> AdminSubscription {
        AdminSubscription {
            id: format!(
                "/subscriptions/{provider}/providers/{ADMIN_NAMESPACE}/subscriptions/{}",
                self.subscription_id
            ),
            name: self.subscription_id.to_string(),
            kind: "Microsoft.Subscriptions.Admin/subscriptions",
            subscription_id: self.subscription_id.clone(),
            display_name: self.display_name.clone(),
            owner: self.owner.clone(),
            state: self.state,
            offer_id: self
                .offer
                .as_ref()
                .map(|o| format!("/delegatedProviders/default/offers/{o}")),
            plans: self.plans.iter().map(|p| p.as_str().to_owned()).collect(),
            tenant_id: self.tenant_id.clone(),
            delegated_provider_subscription_id: self.delegated_provider.clone(),
            routing_resource_manager_type: "Default",
            tags: self.tags.clone(),
        }
    }
}

/// The resource provider of Azure Stack Hub's admin subscriptions API.
pub const ADMIN_NAMESPACE: &str = "Microsoft.Subscriptions.Admin";
/// Its collection of subscriptions.
pub const ADMIN_COLLECTION: &str = "subscriptions";

/// A subscription in ARM's shape (what `Get-AzSubscription` and Azure SDKs read).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArmSubscription {
    pub id: String,
    pub subscription_id: SubscriptionId,
    pub display_name: String,
    pub state: SubscriptionState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<DirectoryTenantId>,
    pub subscription_policies: SubscriptionPolicies,
    pub authorization_source: &'static str,
}

/// ARM's subscription policies; Azure Stack Hub names the quota after the offer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionPolicies {
    pub location_placement_id: &'static str,
    pub quota_id: String,
    pub spending_limit: &'static str,
}

/// A subscription in the admin API's shape, with Meterbook's `plans` and `tags` beside it
/// (which [`drafts_from_json`] reads back).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminSubscription {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub subscription_id: SubscriptionId,
    pub display_name: String,
    pub owner: String,
    pub state: SubscriptionState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer_id: Option<String>,
    pub plans: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<DirectoryTenantId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delegated_provider_subscription_id: Option<SubscriptionId>,
    pub routing_resource_manager_type: &'static str,
    pub tags: BTreeMap<String, String>,
}

/// An ARM list: a page of `value`, and the link to the next page while there is one.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArmList<T> {
    pub value: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}

/// An entry as given, every field text and optional: parsed whole by [`EntryDraft::into_entry`],
/// over an existing entry for a change of some fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryDraft {
    pub subscription_id: Option<String>,
    pub display_name: Option<String>,
    pub owner: Option<String>,
    pub state: Option<String>,
    /// An offer's name or Azure Stack Hub `offerId`; empty for none.
    pub offer: Option<String>,
    pub plans: Option<Vec<String>>,
    /// Empty for none.
    pub tenant_id: Option<String>,
    /// Empty for none.
    pub delegated_provider: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
}

impl EntryDraft {
    /// The entry this draft makes: over `base` (the stored entry, for a change), fields the
    /// draft leaves out keep their values; without one, a display name is required and the state
    /// is Enabled.
    pub fn into_entry(self, base: Option<&DirectoryEntry>) -> Result<DirectoryEntry, String> {
        let subscription_id = match (&self.subscription_id, base) {
            (Some(raw), _) => SubscriptionId::parse(raw)?,
            (None, Some(base)) => base.subscription_id.clone(),
            (None, None) => return Err("a subscription ID is required".to_owned()),
        };
        let display_name = match (self.display_name, base) {
            (Some(raw), _) => display_name(&raw)?,
            (None, Some(base)) => base.display_name.clone(),
            (None, None) => return Err("a display name is required".to_owned()),
        };
        let optional = |raw: Option<String>| raw.map(|r| r.trim().to_owned());
        Ok(DirectoryEntry {
            subscription_id,
            display_name,
            owner: match optional(self.owner) {
                Some(raw) => owner(&raw)?,
                None => base.map(|b| b.owner.clone()).unwrap_or_default(),
            },
            state: match self.state {
                Some(raw) => SubscriptionState::parse(&raw)?,
                None => base.map_or(SubscriptionState::Enabled, |b| b.state),
            },
            offer: match optional(self.offer) {
                Some(raw) if raw.is_empty() => None,
                Some(raw) => {
                    Some(CatalogName::of_offer_id(&raw).map_err(|e| format!("offer: {e}"))?)
                }
                None => base.and_then(|b| b.offer.clone()),
            },
            plans: match self.plans {
                Some(raw) => plans(&raw)?,
                None => base.map(|b| b.plans.clone()).unwrap_or_default(),
            },
            tenant_id: match optional(self.tenant_id) {
                Some(raw) if raw.is_empty() => None,
                Some(raw) => Some(DirectoryTenantId::parse(&raw)?),
                None => base.and_then(|b| b.tenant_id.clone()),
            },
            delegated_provider: match optional(self.delegated_provider) {
                Some(raw) if raw.is_empty() => None,
                Some(raw) => Some(
                    SubscriptionId::parse(&raw).map_err(|e| format!("delegated provider: {e}"))?,
                ),
                None => base.and_then(|b| b.delegated_provider.clone()),
            },
            tags: match self.tags {
                Some(raw) => tags(raw)?,
                None => base.map(|b| b.tags.clone()).unwrap_or_default(),
            },
        })
    }
}

fn printable(what: &str, raw: &str, max: usize) -> Result<String, String> {
    let text = raw.trim();
    if text.chars().count() > max {
        return Err(format!("{what} is longer than {max} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{what} holds a control character"));
    }
    Ok(text.to_owned())
}

fn display_name(raw: &str) -> Result<String, String> {
    let name = printable("the display name", raw, MAX_DISPLAY_NAME)?;
    if name.is_empty() {
        return Err("the display name is empty".to_owned());
    }
    Ok(name)
}

fn owner(raw: &str) -> Result<String, String> {
    let owner = printable("the owner", raw, MAX_OWNER)?;
    if owner.contains(char::is_whitespace) {
        return Err(format!(
            "owner '{owner}' is not a user principal name (it holds a space)"
        ));
    }
    Ok(owner)
}

fn plans(raw: &[String]) -> Result<Vec<CatalogName>, String> {
    let mut plans = raw
        .iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| CatalogName::parse(p).map_err(|e| format!("plan: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    plans.sort();
    plans.dedup();
    if plans.len() > MAX_PLANS {
        return Err(format!("more than {MAX_PLANS} plans"));
    }
    Ok(plans)
}

fn tags(raw: BTreeMap<String, String>) -> Result<BTreeMap<String, String>, String> {
    if raw.len() > MAX_TAGS {
        return Err(format!("more than {MAX_TAGS} tags"));
    }
    raw.into_iter()
        .map(|(name, value)| {
            let name = printable("a tag name", &name, MAX_TAG_NAME)?;
            if name.is_empty() || name.contains(['<', '>', '%', '&', '\\', '?', '/']) {
                return Err(format!(
                    "tag name '{name}' is empty or holds one of < > % & \\ ? /"
                ));
            }
            Ok((name, printable("a tag value", &value, MAX_TAG_VALUE)?))
        })
        .collect()
}

/// The columns of a directory CSV, in the order `meterbook subscriptions list --csv` writes them.
/// Plans are separated by `;`, tags written `name=value;name=value`.
pub const DIRECTORY_CSV_COLUMNS: [&str; 9] = [
    "subscription_id",
    "display_name",
    "owner",
    "state",
    "offer",
    "plans",
    "tenant_id",
    "delegated_provider",
    "tags",
];

/// A directory CSV (a header row naming columns of [`DIRECTORY_CSV_COLUMNS`] in any order and
/// case; `subscription_id` required) as drafts, each with its line. A column left out leaves that
/// field as it is on entries already stored.
pub fn drafts_from_csv(text: &str) -> Result<Vec<(usize, EntryDraft)>, String> {
    let records = read_csv(text)?;
    let Some(((_, header), rows)) = records.split_first() else {
        return Err("the file is empty; its first line names the columns".to_owned());
    };
    let mut columns = Vec::with_capacity(header.len());
    for name in header {
        let known = DIRECTORY_CSV_COLUMNS
            .iter()
            .find(|c| c.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| {
                format!(
                    "line 1: unknown column '{name}'; the columns are {}",
                    DIRECTORY_CSV_COLUMNS.join(", ")
                )
            })?;
        if columns.contains(known) {
            return Err(format!("line 1: column '{known}' is named twice"));
        }
        columns.push(*known);
    }
    if !columns.contains(&"subscription_id") {
        return Err("line 1: the subscription_id column is required".to_owned());
    }
    if rows.len() > MAX_IMPORT {
        return Err(format!("more than {MAX_IMPORT} rows"));
    }
    rows.iter()
        .map(|(line, fields)| {
            if fields.len() != columns.len() {
                return Err(format!(
                    "line {line}: {} fields, but the header names {}",
                    fields.len(),
                    columns.len()
                ));
            }
            let mut draft = EntryDraft::default();
            for (column, value) in columns.iter().zip(fields) {
                let value = value.clone();
                match *column {
                    "subscription_id" => draft.subscription_id = Some(value),
                    "display_name" => draft.display_name = Some(value),
                    "owner" => draft.owner = Some(value),
                    "state" => draft.state = Some(value),
                    "offer" => draft.offer = Some(value),
                    "plans" => draft.plans = Some(split_list(&value)),
                    "tenant_id" => draft.tenant_id = Some(value),
                    "delegated_provider" => draft.delegated_provider = Some(value),
                    _ => {
                        draft.tags =
                            Some(tags_of_text(&value).map_err(|e| format!("line {line}: {e}"))?)
                    }
                }
            }
            Ok((*line, draft))
        })
        .collect()
}

/// `a;b c,d` as `[a, b, c, d]`.
pub fn split_list(text: &str) -> Vec<String> {
    text.split([';', ',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `name=value;name=value` as tags.
pub fn tags_of_text(text: &str) -> Result<BTreeMap<String, String>, String> {
    text.split(';')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .ok_or_else(|| format!("tag '{}' is not name=value", pair.trim()))
        })
        .collect()
}

/// Tags as [`tags_of_text`] reads them.
pub fn tags_as_text(tags: &BTreeMap<String, String>) -> String {
    tags.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// A directory JSON: an array of entries, or an ARM list (`{"value": [...]}`, what the admin API
/// answers), each entry in the admin API's names (`subscriptionId`, `displayName`, `owner`,
/// `state`, `offerId`, `tenantId`, `delegatedProviderSubscriptionId`) plus `plans` and `tags`.
/// Other fields (`id`, `type`, ...) are ignored. Each draft comes with its place in the file
/// (1-based).
pub fn drafts_from_json(text: &str) -> Result<Vec<(usize, EntryDraft)>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let entries = match value {
        Value::Array(entries) => entries,
        Value::Object(mut list) => match list.remove("value") {
            Some(Value::Array(entries)) => entries,
            _ => return Err("an object must hold the entries as an array in 'value'".to_owned()),
        },
        _ => return Err("expected an array of entries or {\"value\": [...]}".to_owned()),
    };
    if entries.len() > MAX_IMPORT {
        return Err(format!("more than {MAX_IMPORT} entries"));
    }
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            draft_of_json(entry)
                .map(|draft| (i + 1, draft))
                .map_err(|e| format!("entry {}: {e}", i + 1))
        })
        .collect()
}

/// One entry of [`drafts_from_json`]; also the body of the admin API's PUT.
pub fn draft_of_json(entry: &Value) -> Result<EntryDraft, String> {
    let Value::Object(fields) = entry else {
        return Err("not an object".to_owned());
    };
    let text = |name: &str| -> Result<Option<String>, String> {
        match fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{name} is not text")),
        }
    };
    let plans = match fields.get("plans") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|p| {
                    p.as_str()
                        .map(str::to_owned)
                        .ok_or("plans holds a non-text item")
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err("plans is not an array of names".to_owned()),
    };
    let tags = match fields.get("tags") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(crate::usage::tags_as_text(map.clone())),
        Some(_) => return Err("tags is not an object".to_owned()),
    };
    Ok(EntryDraft {
        subscription_id: text("subscriptionId")?,
        display_name: text("displayName")?,
        owner: text("owner")?,
        state: text("state")?,
        offer: match text("offerId")? {
            Some(offer) => Some(offer),
            None => text("offer")?,
        },
        plans,
        tenant_id: text("tenantId")?,
        delegated_provider: text("delegatedProviderSubscriptionId")?,
        tags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "09bc585a-2c4a-4e1b-9a4b-0d5d7b3c1e2f";

    fn draft(name: &str) -> EntryDraft {
        EntryDraft {
            subscription_id: Some(SUB.to_owned()),
            display_name: Some(name.to_owned()),
            ..EntryDraft::default()
        }
    }

    #[test]
    fn a_draft_needs_an_id_and_a_name_and_defaults_the_rest() {
        let entry = draft(" Fabrikam ").into_entry(None).unwrap();
        assert_eq!(entry.display_name, "Fabrikam");
        assert_eq!(entry.state, SubscriptionState::Enabled);
        assert!(entry.owner.is_empty() && entry.offer.is_none() && entry.plans.is_empty());
        let no_name = EntryDraft {
            subscription_id: Some(SUB.to_owned()),
            ..EntryDraft::default()
        };
        assert!(no_name
            .into_entry(None)
            .unwrap_err()
            .contains("display name"));
        assert!(EntryDraft::default().into_entry(None).is_err());
    }

    #[test]
    fn a_change_keeps_what_it_leaves_out_and_clears_what_it_empties() {
        let base = EntryDraft {
            owner: Some("ops@fabrikam.example".to_owned()),
            offer: Some("/delegatedProviders/default/offers/Standard".to_owned()),
            plans: Some(vec![
                "compute".to_owned(),
                "storage".to_owned(),
                "compute".to_owned(),
            ]),
            tenant_id: Some("{2B0C1D6E-7F8A-4B9C-8D0E-1F2A3B4C5D6E}".to_owned()),
            ..draft("Fabrikam")
        }
        .into_entry(None)
        .unwrap();
        assert_eq!(
            base.offer.as_ref().map(CatalogName::as_str),
            Some("Standard")
        );
        assert_eq!(base.plans.len(), 2);
        assert_eq!(
            base.tenant_id.as_ref().map(DirectoryTenantId::as_str),
            Some("2b0c1d6e-7f8a-4b9c-8d0e-1f2a3b4c5d6e")
        );
        let changed = EntryDraft {
            state: Some("suspended".to_owned()),
            offer: Some(String::new()),
            ..EntryDraft::default()
        }
        .into_entry(Some(&base))
        .unwrap();
        assert_eq!(changed.state, SubscriptionState::Disabled);
        assert_eq!(changed.offer, None);
        assert_eq!(changed.owner, base.owner);
        assert_eq!(changed.plans, base.plans);
    }

    #[test]
    fn bad_fields_are_refused_by_name() {
        let refused = |d: EntryDraft| d.into_entry(None).unwrap_err();
        assert!(refused(draft(&"x".repeat(129))).contains("longer than 128"));
        assert!(refused(draft("a\u{7}b")).contains("control"));
        assert!(refused(EntryDraft {
            owner: Some("a b@c".into()),
            ..draft("F")
        })
        .contains("owner"));
        assert!(refused(EntryDraft {
            state: Some("Gone".into()),
            ..draft("F")
        })
        .contains("Enabled"));
        assert!(refused(EntryDraft {
            offer: Some("bad name!".into()),
            ..draft("F")
        })
        .contains("offer"));
        assert!(refused(EntryDraft {
            plans: Some(vec!["-x".into()]),
            ..draft("F")
        })
        .contains("plan"));
        assert!(refused(EntryDraft {
            tenant_id: Some("nope".into()),
            ..draft("F")
        })
        .contains("GUID"));
        let many: BTreeMap<_, _> = (0..51).map(|i| (format!("t{i}"), String::new())).collect();
        assert!(refused(EntryDraft {
            tags: Some(many),
            ..draft("F")
        })
        .contains("50 tags"));
        let slash = BTreeMap::from([("a/b".to_owned(), "x".to_owned())]);
        assert!(refused(EntryDraft {
            tags: Some(slash),
            ..draft("F")
        })
        .contains("tag name"));
    }

    #[test]
    fn csv_rows_become_drafts_and_errors_name_the_line() {
        let csv = format!(
            "Subscription_ID,display_name,owner,offer,plans,tags\n\
             {SUB},Fabrikam,ops@fabrikam.example,Basic,compute;storage,Department=Finance;CostCenter=42\n"
        );
        let drafts = drafts_from_csv(&csv).unwrap();
        assert_eq!(drafts.len(), 1);
        let (line, draft) = &drafts[0];
        assert_eq!(*line, 2);
        let entry = draft.clone().into_entry(None).unwrap();
        assert_eq!(entry.plans.len(), 2);
        assert_eq!(entry.tags["CostCenter"], "42");
        assert!(draft.state.is_none(), "a column left out changes nothing");

        assert!(drafts_from_csv("display_name\nx\n")
            .unwrap_err()
            .contains("subscription_id"));
        assert!(drafts_from_csv("subscription_id,colour\n")
            .unwrap_err()
            .contains("colour"));
        let short = format!("subscription_id,display_name\n{SUB},a\n{SUB}\n");
        assert!(drafts_from_csv(&short).unwrap_err().contains("line 3"));
        let bad_tags = format!("subscription_id,tags\n{SUB},oops\n");
        assert!(drafts_from_csv(&bad_tags).unwrap_err().contains("line 2"));
    }

    #[test]
    fn json_reads_arrays_and_the_admin_apis_own_list() {
        let list = format!(
            r#"{{"value": [{{"id": "/subscriptions/x/providers/Microsoft.Subscriptions.Admin/subscriptions/{SUB}",
                "subscriptionId": "{SUB}", "displayName": "Fabrikam", "owner": "ops@fabrikam.example",
                "state": "Enabled", "offerId": "/delegatedProviders/default/offers/Premium",
                "routingResourceManagerType": "Default"}}]}}"#
        );
        let drafts = drafts_from_json(&list).unwrap();
        let entry = drafts[0].1.clone().into_entry(None).unwrap();
        assert_eq!(
            entry.offer.as_ref().map(CatalogName::as_str),
            Some("Premium")
        );
        let array = format!(r#"[{{"subscriptionId": "{SUB}", "displayName": 7}}]"#);
        assert_eq!(
            drafts_from_json(&array).unwrap_err(),
            "entry 1: displayName is not text"
        );
        assert!(drafts_from_json("{\"items\": []}").is_err());
        assert!(drafts_from_json("[1]").unwrap_err().contains("entry 1"));
    }

    #[test]
    fn what_the_admin_api_answers_imports_back() {
        let entry = EntryDraft {
            owner: Some("ops@fabrikam.example".to_owned()),
            offer: Some("Premium".to_owned()),
            plans: Some(vec!["compute".to_owned()]),
            tags: Some(BTreeMap::from([(
                "Department".to_owned(),
                "Finance".to_owned(),
            )])),
            ..draft("Fabrikam")
        }
        .into_entry(None)
        .unwrap();
        let provider = SubscriptionId::parse("00000000-0000-0000-0000-000000000000").unwrap();
        let json = serde_json::to_value(entry.to_admin(&provider)).unwrap();
        assert_eq!(json["type"], "Microsoft.Subscriptions.Admin/subscriptions");
        assert_eq!(
            json["offerId"],
            "/delegatedProviders/default/offers/Premium"
        );
        let back = draft_of_json(&json).unwrap().into_entry(None).unwrap();
        assert_eq!(back, entry);
        let arm = serde_json::to_value(entry.to_arm()).unwrap();
        assert_eq!(arm["id"], format!("/subscriptions/{SUB}"));
        assert_eq!(arm["state"], "Enabled");
        assert_eq!(arm["subscriptionPolicies"]["quotaId"], "Premium");
    }

    #[test]
    fn an_unknown_subscription_is_named_as_unknown() {
        let id = SubscriptionId::parse(SUB).unwrap();
        assert_eq!(shown_name(&id, None), format!("Unknown subscription {SUB}"));
        let entry = draft("Fabrikam").into_entry(None).unwrap();
        assert_eq!(shown_name(&id, Some(&entry)), "Fabrikam");
    }
}
