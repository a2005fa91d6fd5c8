#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    imcpm_fuzz::sip_parse(data);
});
