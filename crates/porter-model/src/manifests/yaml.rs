//! The YAML crate, in one place: how Porter parses one document and words its errors.
//!
//! `serde-saphyr` (see `docs/architecture.md`, "Manifests", for why this crate): it
//! deserialises a document straight into a typed value with no tree in between, never panics on
//! malformed input, and bounds what a document may cost (nesting depth, events, nodes, alias
//! replays, scalar bytes) with its default budget, so an alias bomb or a deep nesting is an
//! error, not an exhausted machine; alias replays are bounded tighter still ([`options`]).

use serde::Deserialize;

/// A YAML problem, worded with the line and column in the file (not in the document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// The file's line of the problem, when the parser knows it.
    pub line: Option<usize>,
    /// What is wrong, ending with "at line L column C" when the position is known.
    pub message: String,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The crate's defaults, but alias replays bounded by the document's own size: a document may
/// at most double its work through aliases (Kubernetes manifests seldom use any). The default
/// bound (a million replayed events per document) let a 12 kB file of alias-laden documents
/// take seconds, found by the `manifests` fuzz target.
fn options(document_len: usize) -> serde_saphyr::Options {
    serde_saphyr::options! {
        // The message names the line; a snippet would quote the file (a Secret's data too).
        with_snippet: false,
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: document_len.max(256),
        },
    }
}

/// Parses one document (`text`, starting at line `first_line` of its file) into `T`.
pub fn parse<'a, T: Deserialize<'a>>(text: &'a str, first_line: usize) -> Result<T, YamlError> {
    serde_saphyr::from_str_with_options(text, options(text.len())).map_err(|e| {
        let offset = first_line.saturating_sub(1);
        let message = e.render_with_options(serde_saphyr::render_options! {
            snippets: serde_saphyr::SnippetMode::Off,
            line_offset: offset as u64,
        });
        let line = e
            .location()
            .and_then(|l| usize::try_from(l.line()).ok())
            .filter(|l| *l > 0)
            .map(|l| l + offset);
        YamlError { line, message }
    })
}
