//! porter-model's public-API tests: the controller's assignments, the speaker's
//! announcements, and the lab's own manifests end to end.

// clippy.toml allows unwrap in tests, but not in the helpers of an integration-test crate.
#![allow(clippy::unwrap_used)]

mod announce;
mod assign;
mod coverage;
mod fixtures;
mod lab;
mod props;
