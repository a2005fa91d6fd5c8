#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // A known, unfixed crash in the pcapng reader (see known_short_pib): skipped so that the
    // fuzzer finds what lies beyond it.
    if imcpm_fuzz::known_short_pib(data) {
        return;
    }
    imcpm_fuzz::capture_read(data);
});
