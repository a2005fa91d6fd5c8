#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    imcpm_fuzz::capture_read(data);
});
