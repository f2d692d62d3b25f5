//! `porter status`: what Porter assigned, read from the same objects the roles read.

use std::path::Path;

use porter_model::ObjectKey;
use porter_model::assign::{self, Outcome};

use crate::manifest_dir::ManifestDir;

/// Prints Services with their addresses and the Eip pools; with `ip_only`, just the
/// addresses of one Service (nothing when it has none yet), for scripts.
pub(crate) fn print(manifests: &Path, service: Option<&str>, ip_only: bool) -> anyhow::Result<()> {
    let dir = ManifestDir::new(manifests.to_path_buf());
    let (snapshot, diagnostics) = dir.load()?;
    let wanted = service.map(ObjectKey::parse);
    if ip_only {
        if let Some(svc) = wanted.as_ref().and_then(|k| snapshot.services.get(k)) {
            for ip in assign::ingress_ips(svc) {
                println!("{ip}");
            }
        }
        return Ok(());
    }
    for d in &diagnostics {
        eprintln!("warning: {d}");
    }
    // What the controller would decide now explains a Service without an address.
    let plan = assign::plan(&snapshot);
    println!("{:<32} {:<18} {:<16} NOTE", "SERVICE", "EIP", "POOL");
    for (key, svc) in &snapshot.services {
        if wanted.as_ref().is_some_and(|w| w != key) {
            continue;
        }
        let Some(planned) = plan.services.get(key) else {
            continue;
        };
        let ips: Vec<String> = assign::ingress_ips(svc)
            .iter()
            .map(ToString::to_string)
            .collect();
        let ip = if ips.is_empty() {
            "<pending>".to_owned()
        } else {
            ips.join(",")
        };
        let note = match &planned.outcome {
            Outcome::Failed(failure) => failure.message.clone(),
            Outcome::Orphaned(reason) => reason.clone(),
            Outcome::Released => "released".to_owned(),
            Outcome::Kept | Outcome::Assigned => String::new(),
        };
        println!(
            "{:<32} {:<18} {:<16} {}",
            key.to_string(),
            ip,
            planned.pool.as_deref().unwrap_or("-"),
            note
        );
    }
    if wanted.is_none() {
        print_sessions(&dir);
        println!();
        println!(
            "{:<20} {:<34} {:>6} {:>8}  PROBLEMS",
            "EIP", "ADDRESS", "USED", "TOTAL"
        );
        for (name, eip) in &snapshot.eips {
            let planned = &plan.eips[name];
            println!(
                "{:<20} {:<34} {:>6} {:>8}  {}",
                name,
                eip.spec.address,
                planned.status.usage.unwrap_or(0),
                planned.status.pool_size.unwrap_or(0),
                planned.errors.join("; ")
            );
        }
    }
    Ok(())
}

/// The speakers' BGP sessions, from the reports they write.
fn print_sessions(dir: &ManifestDir) {
    let reports = dir.speaker_reports();
    if reports.is_empty() {
        return;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    println!();
    println!(
        "{:<10} {:<12} {:<20} {:<12} {:>9} {:>5} {:>5} {:>5}  LAST ERROR",
        "NODE", "PEER", "ADDRESS", "STATE", "UP", "ADV", "RCV", "FLAPS"
    );
    for report in reports {
        // a speaker rewrites its report at least every minute
        let age = now.saturating_sub(report.written_at);
        let stale = if age > 90 {
            format!(" (report {age}s old: speaker down?)")
        } else {
            String::new()
        };
        for s in &report.sessions {
            let up = s
                .established_at
                .map(|t| format!("{}s", now.saturating_sub(t)))
                .unwrap_or_else(|| "-".into());
            println!(
                "{:<10} {:<12} {:<20} {:<12} {:>9} {:>5} {:>5} {:>5}  {}{}",
                report.node,
                s.peer,
                format!("{} AS{}", s.address, s.peer_as),
                s.state,
                up,
                s.advertised,
                s.received,
                s.flaps,
                s.last_error.as_deref().unwrap_or("-"),
                stale
            );
        }
    }
}
