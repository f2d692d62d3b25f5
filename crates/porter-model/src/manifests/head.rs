//! A document's `apiVersion` and `kind`, read from its text before it is parsed.
//!
//! Deserialising straight into a type needs the type first, and YAML gives no way to read two
//! keys of a mapping without parsing all of it. Manifests write them as top-level block keys
//! (`kind: Service` at column 0), which a line scan finds. It is only a guess: the typed parse
//! checks both values (k8s-openapi's types refuse another `apiVersion` or `kind`), and a
//! document the scan cannot read (flow style, JSON, quoting it does not know) is parsed into a
//! value instead, as any document is whose typed parse fails.

/// The top-level `apiVersion` and `kind` of a document, when a line scan finds them.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Head<'a> {
    api_version: Option<&'a str>,
    kind: Option<&'a str>,
}

impl<'a> Head<'a> {
    /// Scans `text`; a key seen twice makes its value unknown (the parse will say why).
    pub(super) fn of(text: &'a str) -> Self {
        let mut head = Head::default();
        let mut api_version_seen = false;
        let mut kind_seen = false;
        for line in text.lines() {
            if let Some(value) = line.strip_prefix("apiVersion:") {
                head.api_version = (!api_version_seen).then(|| plain(value)).flatten();
                api_version_seen = true;
            } else if let Some(value) = line.strip_prefix("kind:") {
                head.kind = (!kind_seen).then(|| plain(value)).flatten();
                kind_seen = true;
            }
        }
        head
    }

    /// Both values, when the scan found both.
    pub(super) fn kind(&self) -> Option<(&'a str, &'a str)> {
        Some((self.api_version?, self.kind?))
    }
}

/// The value after `key:` when it is a plain word, optionally quoted and followed by a comment.
fn plain(rest: &str) -> Option<&str> {
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    let rest = rest.trim_start_matches([' ', '\t']);
    let (word, after) = match rest.as_bytes().first() {
        Some(q @ (b'"' | b'\'')) => {
            let q = char::from(*q);
            let inner = &rest[1..];
            let end = inner.find(q)?;
            (&inner[..end], &inner[end + 1..])
        }
        _ => {
            let end = rest.find([' ', '\t', '\r']).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        }
    };
    let after = after.trim_start_matches([' ', '\t', '\r']);
    let word_ok = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '-' | '_'));
    (word_ok && (after.is_empty() || after.starts_with('#'))).then_some(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_top_level_block_keys_only() {
        let head = Head::of("apiVersion: v1\nkind: Service # a comment\nmetadata:\n  kind: Node\n");
        assert_eq!(head.kind(), Some(("v1", "Service")));
        let quoted = Head::of("kind: \"EndpointSlice\"\napiVersion: 'discovery.k8s.io/v1'\n");
        assert_eq!(
            quoted.kind(),
            Some(("discovery.k8s.io/v1", "EndpointSlice"))
        );
    }

    #[test]
    fn anything_unusual_is_left_to_the_parser() {
        for text in [
            "{apiVersion: v1, kind: Service}",
            "apiVersion: v1\nkind: Service\nkind: Node\n",
            "apiVersion: v1\nkind: &a Service\n",
            "apiVersion: v1\nkind: \"Serv\\x69ce\"\n",
            "apiVersion: v1\nkinds: Service\n",
            "apiVersion: v1\nkind: Service: x\n",
            "apiVersion: v1\nkind: \"Service\n",
        ] {
            assert_eq!(Head::of(text).kind(), None, "{text}");
        }
    }
}
