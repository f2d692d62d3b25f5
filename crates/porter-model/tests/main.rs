//! porter-model's public-API tests: the controller's assignments, the speaker's
//! announcements, and the lab's own manifests end to end.

// clippy.toml allows unwrap in tests, but not in the helpers of an integration-test crate.
#![allow(clippy::unwrap_used)]

#[path = "main/fixtures.rs"]
mod fixtures;

#[path = "main/assign.rs"]
mod assign;

#[path = "main/announce.rs"]
mod announce;

#[path = "main/coverage.rs"]
mod coverage;

#[path = "main/lab.rs"]
mod lab;

#[path = "main/props.rs"]
mod props;

#[path = "main/status.rs"]
mod status;
