//! `IpRange::parse` on arbitrary strings: no panic; a parsed range is non-empty, contains its
//! bounds and its `Display` form parses back to the same range.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| porter_fuzz::check_range(s));
