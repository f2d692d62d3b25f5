//! porter-l2's integration tests: crafted and captured frames, decisions, the announcement
//! schedule on a virtual clock, and properties over random input.

// clippy.toml allows unwrap in tests, but not in the helpers of an integration-test crate.
#![allow(clippy::unwrap_used)]
// The tests own the virtual clock; they read the real one once for an origin.
#![allow(clippy::disallowed_methods)]

mod captured;
mod frames;
mod props;
mod scenarios;
mod support;
