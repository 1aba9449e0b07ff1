//! Fuzzes `meterbook_core::properties::continuation_token` (see there for the properties checked).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    meterbook_core::properties::continuation_token(data);
});
