//! docs/routers.md shows the FRR and BIRD 2 configurations, and the Porter objects, that the
//! end-to-end tests (`e2e_lab.rs`) run. This test keeps the doc true: every fenced block after a
//! `<!-- lab:NAME -->` marker must be exactly what lab/lib.sh writes for the lab variants listed
//! in [`BLOCKS`] (the same `LAB_*` knobs `e2e_lab.rs` uses, from `support/lab_variants.rs`).
//! Comments and blank lines do not count, nor, in a router configuration, how its words are
//! spread over lines (so the doc may lay a BIRD block out readably); every word and value does.
//! A marker this file does not know fails too: a block must never look checked and not be.
//!
//! It runs lab/lib.sh's config-printing functions (`lab_frr_bgpd_conf`, `lab_bird_conf`,
//! `lab_write_base_manifests`) in plain bash: no root, no namespace, no router needed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::lab_variants;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use lab_variants::{
    BFD, EBGP_COMMUNITY, GRACEFUL_RESTART, GRACEFUL_SHUTDOWN, IBGP_IPV6_MD5,
    IPV6_OVER_IPV4_PASSIVE, WEIGHTED_ECMP,
};

type Knobs = &'static [(&'static str, &'static str)];

/// What a marked block shows, which says how lab/lib.sh writes it and how it is compared.
#[derive(Clone, Copy, Debug)]
enum Shows {
    /// The router's `bgpd.conf` (`lab_frr_bgpd_conf`), compared word by word.
    Frr,
    /// The router's `bird.conf` (`lab_bird_conf`), compared word by word.
    Bird,
    /// The BgpConf and BgpPeer (`lab_write_base_manifests`: `secret.yaml` when there is one,
    /// `---`, then `bgp.yaml`), compared line by line: indentation is YAML's structure.
    PorterObjects,
    /// The weighted Service and its EndpointSlice (`lab_write_weighted_service` with one ready
    /// endpoint on node1 and three on node2, as the weighted ECMP tests begin), line by line.
    WeightedService,
}

/// One marked block of docs/routers.md and the lab variants it must equal, each of them.
struct Block {
    marker: &'static str,
    shows: Shows,
    variants: &'static [Knobs],
}

const BLOCKS: &[Block] = &[
    // The eBGP router configuration serves the graceful-restart test too: routers are helpers
    // by default, so nothing changes on their side. FRR's serves the graceful-shutdown test as
    // well: bgpd lowers a GRACEFUL_SHUTDOWN route to LOCAL_PREF 0 by itself.
    Block {
        marker: "frr-ebgp",
        shows: Shows::Frr,
        variants: &[EBGP_COMMUNITY, GRACEFUL_RESTART, GRACEFUL_SHUTDOWN],
    },
    Block {
        marker: "frr-ibgp-md5",
        shows: Shows::Frr,
        variants: &[IBGP_IPV6_MD5],
    },
    Block {
        marker: "frr-passive",
        shows: Shows::Frr,
        variants: &[IPV6_OVER_IPV4_PASSIVE],
    },
    Block {
        marker: "bird-ebgp",
        shows: Shows::Bird,
        variants: &[EBGP_COMMUNITY, GRACEFUL_RESTART, WEIGHTED_ECMP],
    },
    // Weighted ECMP needs no line in FRR (it weights by link bandwidth by default): the block
    // shows the whole configuration the weighted test runs.
    Block {
        marker: "frr-wecmp",
        shows: Shows::Frr,
        variants: &[WEIGHTED_ECMP],
    },
    Block {
        marker: "porter-wecmp",
        shows: Shows::WeightedService,
        variants: &[WEIGHTED_ECMP],
    },
    Block {
        marker: "bird-ibgp-md5",
        shows: Shows::Bird,
        variants: &[IBGP_IPV6_MD5],
    },
    Block {
        marker: "bird-passive",
        shows: Shows::Bird,
        variants: &[IPV6_OVER_IPV4_PASSIVE],
    },
    Block {
        marker: "bird-gshut",
        shows: Shows::Bird,
        variants: &[GRACEFUL_SHUTDOWN],
    },
    Block {
        marker: "porter-ebgp-gr",
        shows: Shows::PorterObjects,
        variants: &[GRACEFUL_RESTART],
    },
    Block {
        marker: "porter-ibgp-md5",
        shows: Shows::PorterObjects,
        variants: &[IBGP_IPV6_MD5],
    },
    Block {
        marker: "porter-passive",
        shows: Shows::PorterObjects,
        variants: &[IPV6_OVER_IPV4_PASSIVE],
    },
    Block {
        marker: "frr-bfd",
        shows: Shows::Frr,
        variants: &[BFD],
    },
    Block {
        marker: "bird-bfd",
        shows: Shows::Bird,
        variants: &[BFD],
    },
    Block {
        marker: "porter-bfd",
        shows: Shows::PorterObjects,
        variants: &[BFD],
    },
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

fn routers_doc() -> String {
    let path = repo().join("docs/routers.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

const MARKER_START: &str = "<!-- lab:";
const MARKER_END: &str = " -->";

/// The doc's marked blocks by marker name: the fenced block right after each
/// `<!-- lab:NAME -->` line (a blank line between them is allowed).
fn marked_blocks(doc: &str) -> Result<BTreeMap<String, String>, String> {
    let mut blocks = BTreeMap::new();
    let mut lines = doc.lines().enumerate().peekable();
    while let Some((n, line)) = lines.next() {
        let Some(rest) = line.trim().strip_prefix(MARKER_START) else {
            continue;
        };
        let name = rest
            .strip_suffix(MARKER_END)
            .ok_or_else(|| format!("line {}: a marker is `<!-- lab:NAME -->`", n + 1))?
            .trim()
            .to_owned();
        while lines.next_if(|(_, l)| l.trim().is_empty()).is_some() {}
        match lines.next() {
            Some((_, fence)) if fence.trim_start().starts_with("```") => {}
            _ => {
                return Err(format!(
                    "line {}: marker `{name}` is not followed by a fenced block",
                    n + 1
                ));
            }
        }
        let mut body = String::new();
        loop {
            match lines.next() {
                Some((_, l)) if l.trim_start().starts_with("```") => break,
                Some((_, l)) => {
                    body.push_str(l);
                    body.push('\n');
                }
                None => return Err(format!("the block of marker `{name}` is never closed")),
            }
        }
        if blocks.insert(name.clone(), body).is_some() {
            return Err(format!("marker `{name}` appears twice"));
        }
    }
    Ok(blocks)
}

/// A line without its comment: FRR's `!` and BIRD's and YAML's `#` lines, and a ` #` comment
/// at the end of a line.
fn without_comment(line: &str) -> &str {
    let trimmed = line.trim_start();
    if trimmed.starts_with('!') || trimmed.starts_with('#') {
        return "";
    }
    line.find(" #").map_or(line, |at| &line[..at])
}

/// What is compared: the words of a router configuration, the lines of YAML.
fn normalise(text: &str, shows: Shows) -> Vec<String> {
    let lines = text
        .lines()
        .map(without_comment)
        .filter(|l| !l.trim().is_empty());
    match shows {
        Shows::Frr | Shows::Bird => lines
            .flat_map(str::split_whitespace)
            .map(str::to_owned)
            .collect(),
        Shows::PorterObjects | Shows::WeightedService => {
            lines.map(|l| l.trim_end().to_owned()).collect()
        }
    }
}

/// Where two normalised texts first differ, with a little context; `None` if they are equal.
fn first_difference(doc: &[String], lab: &[String]) -> Option<String> {
    let at = doc
        .iter()
        .zip(lab)
        .position(|(d, l)| d != l)
        .unwrap_or(doc.len().min(lab.len()));
    if at == doc.len() && at == lab.len() {
        return None;
    }
    let around =
        |items: &[String]| items[at.saturating_sub(4)..(at + 4).min(items.len())].join(" ␤ ");
    let item = |items: &[String]| {
        items
            .get(at)
            .map_or("(the end)".to_owned(), |i| format!("`{i}`"))
    };
    Some(format!(
        "item {at}: the doc has {}, the lab {}\n  doc around it: {}\n  lab around it: {}",
        item(doc),
        item(lab),
        around(doc),
        around(lab)
    ))
}

/// What lab/lib.sh writes for `shows` with `knobs`: the same functions the lab runs, with
/// only the log-file line left out (it names a path of the lab's own folder).
fn lab_writes(shows: Shows, knobs: Knobs) -> String {
    static SCRATCH: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "porter-routers-doc-{}-{}",
        std::process::id(),
        SCRATCH.fetch_add(1, Ordering::Relaxed)
    ));
    let script = match shows {
        Shows::Frr => "lab_frr_bgpd_conf",
        Shows::Bird => "lab_bird_conf",
        Shows::PorterObjects => {
            r#"mkdir -p "$MANIFESTS" && lab_write_base_manifests &&
            if [ -f "$MANIFESTS/secret.yaml" ]; then cat "$MANIFESTS/secret.yaml"; echo ---; fi &&
            cat "$MANIFESTS/bgp.yaml""#
        }
        Shows::WeightedService => {
            r#"mkdir -p "$MANIFESTS" && lab_write_weighted_service "node1=1 node2=3" &&
            cat "$MANIFESTS/service-web.yaml""#
        }
    };
    // a clean environment: a LAB_* knob of the caller's shell must not leak into the variant
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(r#"set -uo pipefail; . "$0" && {script}"#))
        .arg(repo().join("lab/lib.sh"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LAB_DIR", &dir)
        .envs(knobs.iter().copied())
        .output()
        .expect("run bash");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "lab/lib.sh failed ({:?} with {knobs:?}): {}\n{}",
        shows,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 from lab/lib.sh")
}

fn knobs_text(knobs: Knobs) -> String {
    if knobs.is_empty() {
        return "no knobs".to_owned();
    }
    knobs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn the_docs_router_configs_are_what_the_e2e_tests_run() {
    let blocks = marked_blocks(&routers_doc()).unwrap_or_else(|e| panic!("docs/routers.md: {e}"));
    let mut failures = Vec::new();
    for block in BLOCKS {
        let Some(text) = blocks.get(block.marker) else {
            failures.push(format!(
                "docs/routers.md has no block `<!-- lab:{} -->`",
                block.marker
            ));
            continue;
        };
        let doc = normalise(text, block.shows);
        for knobs in block.variants {
            let written = lab_writes(block.shows, knobs);
            if let Some(difference) = first_difference(&doc, &normalise(&written, block.shows)) {
                failures.push(format!(
                    "block `lab:{}` is not what lab/lib.sh writes with {}: {difference}\n--- lab/lib.sh writes:\n{written}",
                    block.marker,
                    knobs_text(knobs)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_marked_block_of_the_doc_is_checked() {
    let blocks = marked_blocks(&routers_doc()).unwrap_or_else(|e| panic!("docs/routers.md: {e}"));
    let unknown: Vec<&String> = blocks
        .keys()
        .filter(|name| !BLOCKS.iter().any(|b| b.marker == name.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/routers.md marks blocks no test checks: {unknown:?} (add them to BLOCKS in {})",
        file!()
    );
}

#[test]
fn the_lab_prints_each_variant_differently() {
    // the comparison means something only if the knobs reach the printed config
    let ebgp = lab_writes(Shows::Frr, EBGP_COMMUNITY);
    let ibgp = lab_writes(Shows::Frr, IBGP_IPV6_MD5);
    assert!(ebgp.contains("remote-as 64513") && ibgp.contains("remote-as 64512"));
    assert!(ibgp.contains("password porter-md5-s3cret") && !ebgp.contains("password"));
    let passive = lab_writes(Shows::Bird, IPV6_OVER_IPV4_PASSIVE);
    assert!(passive.contains("neighbor 10.99.0.11 port 17900 as 64513"));
    let gr = lab_writes(Shows::PorterObjects, GRACEFUL_RESTART);
    assert!(gr.contains("gracefulRestart:") && gr.contains("listenPort: 17900"));
    let weighted = lab_writes(Shows::WeightedService, WEIGHTED_ECMP);
    assert!(weighted.contains("link-bandwidth-per-endpoint: \"1M\""));
    assert_eq!(weighted.matches("nodeName: node2").count(), 3);
    let equal = lab_writes(Shows::WeightedService, &[("LAB_WECMP_UNIT", "")]);
    assert!(!equal.contains("link-bandwidth") && equal.contains("externalTrafficPolicy: Local"));
}

#[test]
fn markers_are_parsed_strictly() {
    let doc = "text\n<!-- lab:a -->\n\n```text\nrouter bgp 1\n```\n<!-- lab:b -->\n```\nx\n```\n";
    let blocks = marked_blocks(doc).unwrap();
    assert_eq!(blocks["a"], "router bgp 1\n");
    assert_eq!(blocks["b"], "x\n");
    assert!(marked_blocks("<!-- lab:a -->\ntext\n```\nx\n```\n").is_err());
    assert!(marked_blocks("<!-- lab:a -->\n```\nx\n").is_err());
    assert!(marked_blocks("<!-- lab:a -->\n```\nx\n```\n<!-- lab:a -->\n```\nx\n```\n").is_err());
    assert!(marked_blocks("<!-- lab:a\n```\nx\n```\n").is_err());
}

#[test]
fn normalising_drops_layout_and_comments_but_no_word() {
    let lab = "protocol bgp n1 from nodes { neighbor 10.99.0.11 as 64513; }\n";
    let doc =
        "# one node\nprotocol bgp n1 from nodes {\n  neighbor 10.99.0.11 as 64513;  # node1\n}\n";
    assert_eq!(
        first_difference(&normalise(doc, Shows::Bird), &normalise(lab, Shows::Bird)),
        None
    );
    let changed = doc.replace("64513", "64514");
    let difference = first_difference(
        &normalise(&changed, Shows::Bird),
        &normalise(lab, Shows::Bird),
    );
    assert!(difference.is_some_and(|d| d.contains("`64514;`") && d.contains("`64513;`")));
    let shorter = "protocol bgp n1 from nodes {\n";
    assert!(
        first_difference(
            &normalise(shorter, Shows::Bird),
            &normalise(lab, Shows::Bird)
        )
        .is_some()
    );
    // FRR's `!` lines are comments
    let frr = "router bgp 64512\n!\n neighbor NODES peer-group\n";
    assert_eq!(
        normalise(frr, Shows::Frr),
        ["router", "bgp", "64512", "neighbor", "NODES", "peer-group"]
    );
    // in YAML, indentation is structure
    let yaml = "spec:\n  as: 64513\n";
    let flat = "spec:\nas: 64513\n";
    assert!(
        first_difference(
            &normalise(yaml, Shows::PorterObjects),
            &normalise(flat, Shows::PorterObjects)
        )
        .is_some()
    );
}
