//! Public-API tests for porter-bgp: wire bytes, two-session scenarios on a virtual clock,
//! crafted bad input per state, and property tests.

// clippy.toml allows unwrap in tests, but not in the helpers of an integration-test crate.
#![allow(clippy::unwrap_used)]
// The harness owns the virtual clock; it reads the real one once for an origin.
#![allow(clippy::disallowed_methods)]

mod bad_input;
mod features;
mod incoming;
mod props;
mod props_routes;
mod scenarios;
mod support;
mod wire_bytes;
mod wire_exact;
