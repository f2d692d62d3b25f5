//! porter-member's integration tests: speakers on a virtual LAN and clock.

// clippy.toml allows unwrap in tests, but not in the helpers of an integration-test crate.
#![allow(clippy::unwrap_used)]
// The harness owns the virtual clock; it reads the real one once for an origin.
#![allow(clippy::disallowed_methods)]

mod props;
mod scenarios;
mod support;
