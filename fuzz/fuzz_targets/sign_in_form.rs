//! Fuzzes `meterbook_core::properties::sign_in_form` (see there for the properties checked).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    meterbook_core::properties::sign_in_form(data);
});
