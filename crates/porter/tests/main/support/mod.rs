//! Helpers shared by the binary's integration tests.

pub mod cluster_lab;
pub mod lab_variants;

/// Says that `test` cannot run on this machine and why, so that the caller returns early.
///
/// On a developer's machine that is a skip with a message. Under CI (`CI` set) it is a failure:
/// CI runs as root on a machine `scripts/deps.sh` set up, so a test that cannot run there is a
/// broken setup, and passing it silently would hide that the lab never ran.
pub fn cannot_run(test: &str, why: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{test} must run under CI, but: {why} (CI runs scripts/test.sh as root after scripts/deps.sh)"
    );
    eprintln!("SKIPPED {test}: {why}");
}
