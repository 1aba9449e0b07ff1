//! What the pages show and what their forms send: the values that cross between the server's
//! [`PortalData`](super::PortalData) and the pages, already formatted for people to read
//! (dates, amounts, shares), so a page only lays them out.

use serde::{Deserialize, Serialize};

use crate::chart::RenderedChart;

// API tokens.

/// A token as the portal lists it, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub subscriptions: Vec<String>,
    /// `YYYY-MM-DD HH:MM` UTC.
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// What the create form sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTokenForm {
    pub name: String,
    pub role: String,
    /// Subscription IDs separated by commas, spaces or new lines.
    pub subscriptions: String,
}

/// A token just created: the only time its secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub token: String,
}

// Usage widgets.

/// Days a widget lasts unless the form says otherwise, and the most it may.
pub const DEFAULT_WIDGET_DAYS: u32 = 90;
pub const MAX_WIDGET_DAYS: u32 = 365;

/// A widget as the portal lists it, without its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WidgetView {
    pub id: i64,
    pub name: String,
    pub subscription: String,
    /// Empty: every category.
    pub categories: Vec<String>,
    pub created_by: String,
    /// `YYYY-MM-DD` UTC.
    pub created_at: String,
    pub expires_at: String,
    /// "active", "expired", "revoked …" or why it no longer works.
    pub state: String,
    pub live: bool,
}

/// What the create form sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewWidgetForm {
    pub name: String,
    pub subscription: String,
    /// Category names separated by commas; empty for all.
    pub categories: String,
    /// Days until it expires, as typed.
    pub days: String,
}

/// A widget just created: the only time its token and embed code are shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedWidget {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub iframe: String,
    pub script: String,
}

// People.

/// How people may sign in: the directories (name, what the button says), and whether
/// Meterbook's own passwords are still on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInOptions {
    pub directories: Vec<(String, String)>,
    pub local_accounts: bool,
    /// The directories' origins (`https://host:port`): forms may lead there, since signing in
    /// and out continue at the directory.
    pub origins: Vec<String>,
}

impl Default for SignInOptions {
    fn default() -> Self {
        Self {
            directories: Vec::new(),
            local_accounts: true,
            origins: Vec::new(),
        }
    }
}

/// The people page: everyone, and the subscriptions grants may name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeopleView {
    pub people: Vec<PersonView>,
    /// `(display name, ID)` of the directory's subscriptions, by name (at most
    /// [`MAX_GRANT_CHOICES`]): what the grant fields suggest as one types.
    pub choices: Vec<(String, String)>,
}

/// Subscriptions the people page suggests; past this many, one types the name or ID.
pub const MAX_GRANT_CHOICES: usize = 1_000;

/// A person as the portal lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonView {
    pub id: i64,
    pub username: String,
    pub role: String,
    pub subscriptions: Vec<String>,
    /// The display name of each of `subscriptions`, from the tenant directory.
    #[serde(default)]
    pub subscription_names: Vec<String>,
    pub created_at: String,
    pub disabled: bool,
}

/// One change to people, as the forms send it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PersonChange {
    Add {
        username: String,
        role: String,
        subscriptions: String,
    },
    Grant {
        id: i64,
        subscriptions: String,
    },
    Revoke {
        id: i64,
        subscriptions: String,
    },
    Disable {
        id: i64,
    },
    Enable {
        id: i64,
    },
    /// A generated password; their sessions end, and their API tokens are revoked unless
    /// `keep_tokens`.
    NewPassword {
        id: i64,
        keep_tokens: bool,
    },
}

/// What a change did; a generated password is shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeDone {
    pub message: String,
    pub password: Option<String>,
}

// Identity: the directories people and tokens come from, and the claim rules.

/// The identity page (operators): the issuers this server trusts, and the claim rules that map
/// their tokens to roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityView {
    pub issuers: Vec<IssuerView>,
    /// Whether Meterbook's own passwords still sign people in.
    pub local_accounts: bool,
    pub rules: Vec<ClaimRuleView>,
    /// The claims a rule may test, and the roles it may grant: the form's choices.
    pub claims: Vec<String>,
    pub roles: Vec<String>,
    pub csrf_token: String,
}

/// One configured issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerView {
    pub name: String,
    pub url: String,
    pub audiences: Vec<String>,
    /// People sign in with it (it has a client ID), beside its tokens on the API.
    pub signs_in: bool,
}

/// One claim rule as the page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRuleView {
    pub id: i64,
    pub issuer: String,
    pub claim: String,
    pub value: String,
    pub role: String,
    /// `(ID, display name)` of what a tenant rule grants.
    pub subscriptions: Vec<(String, String)>,
    /// `YYYY-MM-DD HH:MM` UTC.
    pub created_at: String,
    pub created_by: String,
}

// The audit log.

/// What the tenants page asks for: subscriptions whose name, owner, ID or offer holds `find`,
/// from after `after`, and the one to edit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectoryRequest {
    pub find: Option<String>,
    pub after: Option<String>,
    pub edit: Option<String>,
}

/// A page of the tenant directory (operators).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryView {
    pub rows: Vec<DirectoryRow>,
    /// The `after` of the next page, while there is one.
    pub next_after: Option<String>,
    pub find: Option<String>,
    /// The entry the edit form holds; an empty one adds a subscription.
    pub editing: DirectoryRow,
    /// Whether `editing` is a subscription the directory knows.
    pub editing_known: bool,
    pub states: Vec<String>,
    pub csrf_token: String,
}

/// One subscription as the tenants page shows and edits it: plans `;`-separated, tags
/// `name=value;...`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectoryRow {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub state: String,
    pub offer: String,
    pub plans: String,
    pub tags: String,
}

/// One entry as the portal shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditView {
    /// `YYYY-MM-DD HH:MM:SS` UTC.
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub address: String,
    pub detail: String,
    /// The subscriptions the target and detail name, as `(ID, display name)` from the tenant
    /// directory as it is now.
    pub subscriptions: Vec<(String, String)>,
}

// Costs.

/// Most statement lines the page lists; the CSV download has all of them.
pub const MAX_LINES_SHOWN: usize = 500;

/// Groups the page lists until asked for all: the largest, so a cloud of a thousand tenants
/// opens on the ones that matter.
pub const TOP_GROUPS: usize = 50;

/// What the page asks of the portal.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CostsRequest {
    /// A month or day range; the current month when `None`.
    pub period: Option<String>,
    /// `subscription` or `tag:KEY`; by subscription when `None`.
    pub by: Option<String>,
    /// Text (any case) the groups and lines shown contain in a name, subscription or meter.
    pub find: Option<String>,
    /// Every group, not only the [`TOP_GROUPS`] largest.
    pub all_groups: bool,
}

/// A billing period's costs as the page shows them.
#[derive(Debug, Clone, PartialEq)]
pub struct CostsView {
    /// `2026-10`, or `2026-10-03..2026-10-17`.
    pub period: String,
    pub time_zone: String,
    /// `subscription` or `tag:KEY`.
    pub grouping: String,
    pub currency: String,
    pub total: String,
    /// When the figures were computed, or that the period is closed and since when.
    pub status: String,
    /// The groups shown, largest first: those matching `find`, the [`TOP_GROUPS`] largest
    /// unless all were asked for.
    pub groups: Vec<CostGroup>,
    /// Groups matching `find` (all of the statement's without it).
    pub group_count: usize,
    /// The first [`MAX_LINES_SHOWN`] lines matching `find`.
    pub lines: Vec<CostLine>,
    /// Lines matching `find`.
    pub line_count: usize,
    /// The text the groups and lines were found by.
    pub find: Option<String>,
    /// The cost of this period and the months before it, stacked by group.
    pub chart: Option<RenderedChart>,
    /// Operators: the rate card in effect and the session's CSRF token for replacing it.
    pub rate_card: Option<RateCardView>,
    /// Operators: where statements are pushed, and how the latest deliveries went.
    pub webhooks: Option<WebhooksView>,
}

/// One tenant's or tag value's part.
#[derive(Debug, Clone, PartialEq)]
pub struct CostGroup {
    /// The tenant's display name or the tag value; `(untagged)` for usage without the tag.
    pub name: String,
    pub subtotal: String,
    /// Of the total, as `12.5%`.
    pub share: String,
    pub unpriced_lines: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CostLine {
    pub group: String,
    /// The subscription's display name (its ID in `subscription_id`).
    pub subscription: String,
    pub subscription_id: String,
    pub meter: String,
    pub quantity: String,
    pub unit: String,
    /// `0.10`, `included`, or `no price`.
    pub price: String,
    pub discount: String,
    pub amount: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RateCardView {
    /// `Revision 3, saved 2026-11-20 09:00 UTC by user:alice`, or that none is saved.
    pub summary: String,
    pub csrf_token: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebhooksView {
    pub urls: Vec<String>,
    /// The latest deliveries, newest first.
    pub deliveries: Vec<DeliveryRow>,
    pub csrf_token: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRow {
    pub id: i64,
    pub event: String,
    pub url: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: u32,
    /// `YYYY-MM-DD HH:MM` UTC, or empty before the first attempt.
    pub last_attempt: String,
    /// The receiver's answer, the error, or when the next attempt is due.
    pub outcome: String,
}
