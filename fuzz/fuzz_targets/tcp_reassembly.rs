#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = imcpm_fuzz::tcp_reassembly(data);
});
