//! The manifests reader (`porter_model::manifests`) on arbitrary text: documents cut at their
//! markers, each parsed alone, at most one error per document. Must never panic, loop or grow
//! (run with `-timeout=2 -rss_limit_mb=512`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| porter_fuzz::check_manifests(text));
