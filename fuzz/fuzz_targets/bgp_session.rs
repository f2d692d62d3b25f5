//! A `Session` driven by a fuzzer-chosen script of events (bytes, well-formed peer messages,
//! time, routes, TCP and admin events); every action stream is checked for invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|script: porter_fuzz::Script| {
    porter_fuzz::check_session(&script);
});
