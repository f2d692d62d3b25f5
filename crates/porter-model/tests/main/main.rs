//! porter-model's public-API tests: the controller's assignments, the speaker's
//! announcements, the lab's own manifests end to end, the validation of each object and how the CRDs' CEL
//! rules agree with it.

// clippy.toml allows unwrap in tests, but not in the helpers of an integration-test crate.
#![allow(clippy::unwrap_used)]

mod announce;
mod assign;
mod cel_rules;
mod coverage;
mod drain;
mod fields;
mod fixtures;
mod health;
mod lab;
mod layer2;
mod props;
mod status;
mod validation;
