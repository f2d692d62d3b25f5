//! `porter --version` names the release and the commit the binary was built from, so an
//! operator can tell which build a running image is.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

/// The commit build.rs stamps: `PORTER_COMMIT` when the build had it, else the checkout's HEAD.
fn expected_commit() -> String {
    std::env::var("PORTER_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| {
            let out = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

#[test]
fn version_names_the_release_and_the_commit() {
    let out = Command::new(env!("CARGO_BIN_EXE_porter"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.trim(),
        format!(
            "porter {} (commit {})",
            env!("CARGO_PKG_VERSION"),
            expected_commit()
        )
    );
}
