//! Fuzzes `meterbook_core::properties::claim_rule` (see there for the properties checked).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        meterbook_core::properties::claim_rule(text);
    }
});
