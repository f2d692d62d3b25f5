//! The BGP wire decoder on arbitrary bytes: `decode_all`, chunked framing, and every decoded
//! UPDATE parsed with 2-/4-octet AS and eBGP/iBGP contexts (RFC 7606). Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| porter_fuzz::check_decode(data));
