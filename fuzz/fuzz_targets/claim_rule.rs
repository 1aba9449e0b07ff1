//! Fuzzes `meterbook_core::properties::claim_rule` (see there for the properties checked): the
//! input's first line is the rule's JSON, the rest a token's claims.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let (draft, claims) = text.split_once('\n').unwrap_or((text, ""));
        meterbook_core::properties::claim_rule(draft, claims);
    }
});
