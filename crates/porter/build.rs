//! Stamps the commit the binary was built from into `porter --version`.
//!
//! The commit comes from `PORTER_COMMIT` when set (an image build whose context has no `.git`,
//! or a packager's build from a tarball), else from `git rev-parse` in the source tree, else it
//! is `unknown`: a binary must never claim a commit it was not built from.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PORTER_COMMIT");
    let commit = std::env::var("PORTER_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=PORTER_COMMIT={}", commit.trim());
}

/// The checked-out commit (12 hex digits), and the files whose change means a new commit.
fn git_commit() -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    // HEAD moves on checkout, the branch's ref (loose or packed) on commit.
    for path in ["HEAD", "packed-refs"] {
        if let Some(file) = git(&["rev-parse", "--git-path", path]) {
            rerun_if_changed(file);
        }
    }
    if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(file) = git(&["rev-parse", "--git-path", &head_ref])
    {
        rerun_if_changed(file);
    }
    Some(commit)
}

fn rerun_if_changed(path: String) {
    let path = PathBuf::from(path);
    // A path cargo cannot see would make it rerun the script on every build.
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
