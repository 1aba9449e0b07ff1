//! The properties every parser of outside input must keep, as functions of arbitrary input that
//! panic when one is broken: nothing panics, every refusal is a client error, and what is
//! accepted round-trips through what Meterbook writes. The bounded property tests below and the
//! long cargo-fuzz runs (`cargo xtask fuzz`, feature `fuzzing`) call the same functions.

use chrono::{DateTime, TimeZone, Utc};

use crate::explore::ExploreQuery;
use crate::odata::{parse_select, ODataFilter};
use crate::page::{query_fingerprint, Cursor, TokenSigner};
use crate::query::UsageQuery;
use crate::rating::format::{read_rate_card, write_rate_card, RateCardFormat};
use crate::rating::period::BillingPeriod;
use crate::rating::statement::GroupBy;
use crate::sign_in::{safe_next, SignInForm};
use crate::time::{parse_date_input, parse_time_input};
use crate::usage::{parse_batch, UsageRecord};

/// The moment queries are judged against: fixed, so a failure replays.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 30, 0)
        .single()
        .unwrap_or_default()
}

fn pairs(query: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(query).unwrap_or_default()
}

/// A usage query string: refused with a 4xx ARM error, or accepted with its window in order.
pub fn arm_query(query: &str) {
    match UsageQuery::parse(&pairs(query), now()) {
        Ok(q) => {
            assert!(
                q.aggregate.reported_start < q.aggregate.reported_end,
                "{query:?}"
            );
            assert!(q.aggregate.reported_end <= now(), "{query:?}");
        }
        Err(e) => assert!((400..500).contains(&e.code.http_status()), "{query:?}: {e}"),
    }
}

/// Continuation tokens: anything a client sends is refused or opens to a cursor that seals
/// again to the same cursor; a token never opens for another query.
pub fn continuation_token(input: &[u8]) {
    let signer = TokenSigner::new(b"properties");
    let text = String::from_utf8_lossy(input);
    let fingerprint = "operator|1|2|Daily|true|*";
    if let Ok(cursor) = signer.open(fingerprint, &text) {
        let again = signer.seal(fingerprint, &cursor);
        assert_eq!(signer.open(fingerprint, &again).ok(), Some(cursor));
    }
    // Any position a server could seal comes back whole, and only for its own query.
    let cursor = Cursor::Upstream(text.into_owned());
    let token = signer.seal(fingerprint, &cursor);
    assert_eq!(signer.open(fingerprint, &token).ok(), Some(cursor));
    assert!(signer.open("tenant:x|1|2|Daily|true|*", &token).is_err());
    if let Ok(q) = UsageQuery::parse(
        &pairs("api-version=2015-06-01-preview&reportedStartTime=2026-10-01T00:00:00Z&reportedEndTime=2026-11-01T00:00:00Z"),
        now(),
    ) {
        assert!(signer.open(&query_fingerprint("operator", &q), &token).is_err());
    }
}

/// An explorer query string: refused with a message, or accepted and written back to the same
/// query.
pub fn explore_query(query: &str) {
    let pairs = pairs(query);
    let Ok(q) = ExploreQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    else {
        return;
    };
    let written = q.to_pairs();
    let again = ExploreQuery::from_pairs(written.iter().map(|(k, v)| (*k, v.as_str())));
    assert_eq!(again.as_ref().ok(), Some(&q), "{query:?} wrote {written:?}");
    let (from, to) = q.period.window(now());
    assert!(from <= to, "{query:?}");
}

/// OData `$filter` and `$select`: refused with a message, or accepted with bounds in order.
pub fn odata(text: &str) {
    if let Ok(filter) = ODataFilter::parse(text) {
        if let (Some(from), Some(before)) = (filter.from, filter.before) {
            // A contradictory filter is allowed (it selects nothing); its bounds still exist.
            let _ = before.signed_duration_since(from);
        }
    }
    for set in ["UsageAggregates", "ChargebackLines"] {
        if let Ok(Some(selected)) = parse_select(Some(text), set) {
            assert!(!selected.is_empty(), "{text:?}");
        }
    }
}

/// An ingest body: refused whole, or read record by record, each accepted one surviving the trip
/// through the ingest JSON Meterbook writes.
pub fn ingest_body(body: &str) {
    let Ok(records) = parse_batch(body, 1_000) else {
        return;
    };
    assert!(records.len() <= 1_000);
    for record in records.into_iter().flatten() {
        let json = record.to_ingest_json();
        let again = UsageRecord::from_value(&json);
        assert_eq!(again.as_ref().ok(), Some(&record), "{json}");
        assert!(record.usage_start < record.usage_end);
        assert!(record.quantity.is_finite() && record.quantity >= 0.0);
    }
}

/// A rate card in either format: refused naming where, or accepted and written back (in both
/// formats) to the same card.
pub fn rate_card(text: &str) {
    for format in [RateCardFormat::Csv, RateCardFormat::Json] {
        let Ok(card) = read_rate_card(text, format) else {
            continue;
        };
        for out in [RateCardFormat::Csv, RateCardFormat::Json] {
            let written = write_rate_card(&card, out);
            let again = read_rate_card(&written, out);
            assert_eq!(again.as_ref().ok(), Some(&card), "{written}");
        }
    }
}

/// A tenant directory file in either format: refused naming where, or read into entries that
/// keep Azure's limits, whose CSV (as `meterbook subscriptions list --csv` writes it) reads back
/// to the same entries; the admin API's shape of each entry reads back to it too.
pub fn directory_file(text: &str) {
    use crate::directory::{
        draft_of_json, drafts_from_csv, drafts_from_json, tags_as_text, DIRECTORY_CSV_COLUMNS,
        MAX_DISPLAY_NAME,
    };
    let drafts = [drafts_from_csv(text), drafts_from_json(text)];
    let entries: Vec<_> = drafts
        .into_iter()
        .filter_map(Result::ok)
        .flatten()
        .filter_map(|(_, draft)| draft.into_entry(None).ok())
        .collect();
    for entry in entries {
        assert!((1..=MAX_DISPLAY_NAME).contains(&entry.display_name.chars().count()));
        let mut csv = String::new();
        crate::csv::write_csv_record(&mut csv, &DIRECTORY_CSV_COLUMNS);
        let plans: Vec<&str> = entry.plans.iter().map(|p| p.as_str()).collect();
        crate::csv::write_csv_record(
            &mut csv,
            &[
                entry.subscription_id.as_str(),
                &entry.display_name,
                &entry.owner,
                entry.state.as_str(),
                entry.offer.as_ref().map_or("", |o| o.as_str()),
                &plans.join(";"),
                entry.tenant_id.as_ref().map_or("", |t| t.as_str()),
                entry.delegated_provider.as_ref().map_or("", |p| p.as_str()),
                &tags_as_text(&entry.tags),
            ],
        );
        let again = drafts_from_csv(&csv).map(|d| d.into_iter().map(|(_, d)| d.into_entry(None)));
        // Tags with `;` or `=` in them do not survive the CSV's name=value list; all else must.
        let plain_tags = entry
            .tags
            .iter()
            .all(|(k, v)| !(k.contains([';', '=']) || v.contains(';')));
        if plain_tags {
            let again: Vec<_> = again.expect("its own CSV reads").collect();
            assert_eq!(again.len(), 1, "{csv}");
            assert_eq!(again[0].as_ref().ok(), Some(&entry), "{csv}");
        }
        let provider =
            crate::SubscriptionId::parse("00000000-0000-0000-0000-000000000000").expect("a GUID");
        let admin = serde_json::to_value(entry.to_admin(&provider)).expect("serializes");
        let back = draft_of_json(&admin).and_then(|d| d.into_entry(None));
        assert_eq!(back.as_ref().ok(), Some(&entry), "{admin}");
    }
}

/// A sign-in form: always a local path to go to next, and only names an account could have.
pub fn sign_in_form(body: &[u8]) {
    let (next, form) = SignInForm::parse(body);
    assert!(next.starts_with('/') && !next.starts_with("//"), "{next:?}");
    assert_eq!(safe_next(Some(&next)), next);
    if let Ok(form) = form {
        assert!(crate::sign_in::check_username(&form.username).is_ok());
        assert!(!form.password.is_empty());
    }
}

/// A claim rule as the API takes it (JSON, `draft`): refused, or a rule within its limits that
/// the API's own answer reads back to; and a token's claims (JSON, `claims`) it is tried against
/// beside a fixed tenant rule: a token is granted a role only when a rule matches it, and a tenant
/// only what its matching rules name.
pub fn claim_rule(draft: &str, claims: &str) {
    let text = draft;
    use crate::access::Role;
    use crate::identity::{
        access_from_claims, is_name, ClaimRule, Claims, RuleDraft, CLAIMS, MAX_RULE_SUBSCRIPTIONS,
        MAX_VALUE,
    };
    let rule = serde_json::from_str::<RuleDraft>(text)
        .map_err(|e| e.to_string())
        .and_then(ClaimRule::parse);
    if let Ok(rule) = &rule {
        assert!(is_name(&rule.issuer), "{text:?}");
        assert!(CLAIMS.contains(&rule.claim.as_str()), "{text:?}");
        assert!((1..=MAX_VALUE).contains(&rule.value.len()), "{text:?}");
        assert!(rule.value.trim() == rule.value, "{text:?}");
        assert_eq!(rule.role == Role::Tenant, !rule.subscriptions.is_empty());
        assert!(rule.subscriptions.len() <= MAX_RULE_SUBSCRIPTIONS);
        let answer = serde_json::to_string(rule).expect("serializes");
        let again = serde_json::from_str::<RuleDraft>(&answer)
            .map_err(|e| e.to_string())
            .and_then(ClaimRule::parse);
        assert_eq!(again.as_ref(), Ok(rule), "{answer}");
        let _ = rule.to_string();
    }
    let Ok(claims) = serde_json::from_str::<Claims>(claims) else {
        return;
    };
    let tenant = |value: &str| ClaimRule {
        issuer: "adfs".to_owned(),
        claim: "groups".to_owned(),
        value: value.to_owned(),
        role: Role::Tenant,
        subscriptions: vec![
            crate::SubscriptionId::parse("1f0a4a7b-1c2d-4e5f-8a9b-0c1d2e3f4a5b").expect("a GUID"),
        ],
    };
    let mut rules = vec![tenant("tenant-contoso")];
    rules.extend(rule);
    match access_from_claims(&rules, "adfs", &claims) {
        None => assert!(!rules.iter().any(|r| r.matches("adfs", &claims))),
        Some(access) => {
            let matching: Vec<_> = rules
                .iter()
                .filter(|r| r.matches("adfs", &claims))
                .collect();
            assert!(matching.iter().any(|r| r.role == access.role), "{text:?}");
            for sub in &access.subscriptions {
                assert!(matching.iter().any(|r| r.subscriptions.contains(sub)));
            }
        }
    }
    assert_eq!(access_from_claims(&rules, "another", &claims), None);
}

/// Dates, times, billing periods and groupings: refused, or accepted inside the years every input
/// is held to and written back to the same value.
pub fn dates(text: &str) {
    use chrono::Datelike;
    let years = crate::time::EARLIEST_YEAR..=crate::time::LATEST_YEAR;
    if let Ok(t) = parse_time_input(text) {
        assert!(years.contains(&t.to_utc().year()), "{text:?}");
        let again = parse_time_input(&t.to_rfc3339()).map(|t| t.to_utc());
        assert_eq!(again.ok(), Some(t.to_utc()), "{text:?}");
    }
    if let Ok(d) = parse_date_input(text) {
        assert_eq!(parse_date_input(&d.to_string()).ok(), Some(d), "{text:?}");
    }
    for zone in [chrono_tz::UTC, chrono_tz::Pacific::Kiritimati] {
        if let Ok(period) = BillingPeriod::parse(text, zone) {
            assert!(period.start < period.end, "{text:?}");
            let again = BillingPeriod::parse(&period.label, zone);
            assert_eq!(again.ok(), Some(period), "{text:?}");
        }
    }
    if let Ok(group) = GroupBy::parse(text) {
        assert_eq!(GroupBy::parse(&group.to_string()).ok(), Some(group));
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Words the parsers know, so random strings reach past the first check.
    const WORDS: &[&str] = &[
        "api-version=2015-06-01-preview",
        "reportedStartTime=",
        "reportedEndTime=",
        "aggregationGranularity=Hourly",
        "showDetails=false",
        "subscriberId=",
        "continuationToken=",
        "2026-10-01T00:00:00Z",
        "2026-11-01T00:00:00.0000000Z",
        "+00:00",
        "%2B262142-12-31",
        "-262143-01-01",
        "9999-12-31T23:00:00Z",
        "0001-01-01",
        "%0D%0A",
        "%00",
        "&",
        "=",
        "period=",
        "last-month",
        "custom",
        "from=",
        "to=",
        "2026-02-30",
        "by=",
        "tag:Department",
        "tag=",
        "granularity=monthly",
        "subscription=",
        "0f0a4a7b-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
        "sort=-time",
        "rows=100",
        "UsageDate",
        "ge",
        "lt",
        " eq ",
        " and ",
        "'2026-10'",
        "Period",
        "SubscriptionId",
        "$filter",
        ",",
        "quantity",
        "\"",
        "{",
        "}",
        "[",
        "]",
        ":",
        "1e12",
        "5e28",
        "-1",
        "NaN",
        "null",
        "\n",
        "\r\n",
        "kind,currency,effective_from,meter_id,included_quantity,tier_start,unit_price\n",
        "price,USD,2026-10-01,",
        "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5",
        ",0,0,0.10",
        "\u{2212}",
        "username=",
        "password=",
        "next=",
        "%2F%2Fevil",
        "/usage",
        "\\",
    ];

    fn outside_input() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                3 => prop::sample::select(WORDS).prop_map(str::to_owned),
                1 => any::<String>(),
                1 => "[0-9:TZ.+-]{1,12}",
            ],
            0..24,
        )
        .prop_map(|parts| parts.concat())
    }

    /// What real clients send, to mutate from.
    fn valid_ingest_record() -> String {
        serde_json::json!({
            "subscriptionId": "0f0a4a7b-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
            "meterId": "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5",
            "usageStartTime": "2026-10-01T00:00:00Z",
            "usageEndTime": "2026-10-01T01:00:00Z",
            "quantity": 1.5,
            "instanceData": "{\"Microsoft.Resources\":{\"resourceUri\":\"/r\",\"location\":\"local\",\"tags\":{\"a\":\"b\"}}}",
        })
        .to_string()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn arm_queries_are_refused_with_a_4xx_or_accepted_in_order(q in outside_input()) {
            arm_query(&q);
        }

        #[test]
        fn directory_files_are_refused_or_read_back(text in outside_input(), row in outside_input()) {
            directory_file(&text);
            directory_file(&format!(
                "subscription_id,display_name\n0f0a4a7b-1c2d-4e5f-8a9b-0c1d2e3f4a5b,{row}\n"
            ));
            directory_file(&format!(
                "[{{\"subscriptionId\": \"0f0a4a7b-1c2d-4e5f-8a9b-0c1d2e3f4a5b\", \"displayName\": {}}}]",
                serde_json::Value::String(row.clone())
            ));
        }

        #[test]
        fn continuation_tokens_open_only_for_their_own_query(t in outside_input(), bytes in any::<Vec<u8>>()) {
            continuation_token(t.as_bytes());
            continuation_token(&bytes);
        }

        #[test]
        fn explorer_queries_round_trip(q in outside_input()) {
            explore_query(&q);
        }

        #[test]
        fn odata_filters_never_panic(f in outside_input()) {
            odata(&f);
        }

        #[test]
        fn ingest_bodies_round_trip(body in outside_input(), cut in any::<prop::sample::Index>(), insert in outside_input()) {
            ingest_body(&body);
            // A real record with part of it replaced.
            let valid = valid_ingest_record();
            let at = cut.index(valid.len());
            let at = (0..=at).rev().find(|&i| valid.is_char_boundary(i)).unwrap_or(0);
            ingest_body(&format!("[{}{insert}{}]", &valid[..at], &valid[at..]));
            ingest_body(&format!("{valid}\n{insert}\n{valid}"));
        }

        #[test]
        fn rate_cards_round_trip(card in outside_input()) {
            rate_card(&card);
        }

        #[test]
        fn sign_in_forms_lead_only_to_local_paths(form in outside_input(), bytes in any::<Vec<u8>>()) {
            sign_in_form(form.as_bytes());
            sign_in_form(&bytes);
        }

        #[test]
        fn dates_and_periods_round_trip(text in outside_input()) {
            dates(&text);
        }

        #[test]
        fn claim_rules_are_refused_or_read_back_and_grant_only_what_matches(
            value in outside_input(),
            role in prop::sample::select(vec!["operator", "tenant", "provider", "reader", ""]),
            claim in prop::sample::select(vec!["groups", "roles", "appid", "Groups", "nbf", ""]),
            text in outside_input(),
            other in outside_input(),
        ) {
            claim_rule(&text, &other);
            let draft = serde_json::json!({
                "issuer": "adfs", "claim": claim, "value": value, "role": role,
                "subscriptions": if role == "tenant" {
                    vec!["0f0a4a7b-1c2d-4e5f-8a9b-0c1d2e3f4a5b"]
                } else {
                    vec![]
                },
            })
            .to_string();
            // Tokens holding the rule's value (alone, in a list with the fixed rule's, with
            // other claims beside), and one holding something else.
            for claims in [
                serde_json::json!({ claim: value.clone() }),
                serde_json::json!({ claim: [value.clone(), "x"], "groups": ["tenant-contoso"] }),
                serde_json::json!({ claim: value.trim(), "roles": 7, "appid": other.clone() }),
                serde_json::json!({ "groups": other.clone() }),
            ] {
                claim_rule(&draft, &claims.to_string());
            }
        }
    }

    #[test]
    fn the_inputs_the_black_box_fuzzer_found_keep_their_properties() {
        for q in [
            "api-version=2015-06-01-preview&reportedStartTime=2026-11-01T00:00:00.0000000001Z&reportedEndTime=2026-11-02T00:00:00Z",
            "api-version=2015-06-01-preview%0D%0A",
        ] {
            arm_query(q);
        }
        for t in [
            "+262142-12-31",
            "-262143-01-01",
            "2026-1",
            "26-11",
            "1-1",
            "02026-11",
            "tag:\u{0}",
        ] {
            dates(t);
        }
        odata("UsageDate eq +262142-12-31");
        odata("UsageDate lt -262143-01-01");
        rate_card("kind,currency,effective_from,meter_id,included_quantity,tier_start,unit_price\nprice,USD,+262142-12-31,FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5,0,0,1\n");
        ingest_body("[1,1,1]");
        // Found by cargo-fuzz: a meter ID a spreadsheet would run was defused on export and read
        // back with its `'`.
        rate_card("kind,currency,effective_from,meter_id,included_quantity,tier_start,unit_price\nprice,USD,2025-01-01,+++++++++FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5,0,0,0.088\n");
    }
}
