//! A YAML stream cut into its documents before any of them is parsed.
//!
//! The YAML parser stops at a syntax error: its state after one is unknown, so no parser
//! resumes there. But where a document ends does not need a parser. A line starting with the
//! marker `---` or `...` (followed by a space, a tab or the end of the line) ends any content
//! it follows: YAML 1.2 §9.1.4 forbids such a line inside a scalar ("c-forbidden"), so it can
//! only be a document boundary, whatever precedes it. Cutting there first and parsing each
//! document alone lets a broken document cost one diagnostic while the ones after it are still
//! read, as kubectl's reader does. It also keeps one document in memory at a time when the
//! lines come from a file.
//!
//! No crate exposes this split: the YAML crates' multi-document readers end at the first
//! syntax error (see `docs/architecture.md`, "Manifests").

/// One document of a stream: its number and where it starts, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// 1 for the stream's first document.
    pub index: usize,
    /// The line of the stream where `text` starts (1-based).
    pub first_line: usize,
    /// The document's lines, its `---` marker line included.
    pub text: String,
}

/// Cuts a stream fed line by line into [`Document`]s.
///
/// Documents are numbered as YAML counts them: every `---` starts one (an empty one is a null
/// document); text before the first `---`, or after a `...`, is a document only if it holds
/// more than blank lines, comments and directives. Directives (`%YAML`) before a `---` stay
/// with the document they introduce.
#[derive(Debug, Default)]
pub struct Splitter {
    /// The document being collected.
    text: String,
    /// Its first line (1-based; 0 before any line).
    first_line: usize,
    /// The number of lines fed so far.
    lines: usize,
    /// Whether the document being collected started with `---`.
    explicit: bool,
    /// Whether it holds a line that is not blank, a comment or a directive.
    content: bool,
    /// Documents yielded so far.
    count: usize,
}

/// What a line is to the splitter.
#[derive(Debug, PartialEq, Eq)]
enum Marker {
    /// `---`: starts a document.
    Start,
    /// `...`: ends one.
    End,
    /// Anything else.
    None,
}

fn marker(line: &str) -> Marker {
    let after = |m: &str| {
        line.strip_prefix(m)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']))
    };
    if after("---") {
        Marker::Start
    } else if after("...") {
        Marker::End
    } else {
        Marker::None
    }
}

/// A line that is no content: blank, a comment, or (at column 0) a directive.
fn is_filler(line: &str) -> bool {
    let trimmed = line.trim_start_matches([' ', '\t', '\r', '\n', '\u{feff}']);
    trimmed.is_empty() || trimmed.starts_with('#') || line.starts_with('%')
}

impl Splitter {
    /// A splitter at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next line (with or without its line break). Returns the document this line
    /// ends, if it ends one.
    pub fn push_line(&mut self, line: &str) -> Option<Document> {
        self.lines += 1;
        let done = match marker(line) {
            Marker::Start => {
                // Directives or comments before `---` belong to the document it starts.
                let done = if self.explicit || self.content {
                    self.take()
                } else {
                    None
                };
                self.explicit = true;
                done
            }
            Marker::None => {
                self.content |= !is_filler(line);
                None
            }
            Marker::End => None,
        };
        if self.text.is_empty() {
            self.first_line = self.lines;
        }
        self.text.push_str(line);
        if !line.ends_with('\n') {
            self.text.push('\n');
        }
        if marker(line) == Marker::End {
            return self.take().or(done);
        }
        done
    }

    /// Ends the stream: returns its last document, if any.
    pub fn finish(&mut self) -> Option<Document> {
        self.take()
    }

    /// The document collected so far, if it is one; the splitter starts collecting the next.
    fn take(&mut self) -> Option<Document> {
        let is_document = self.explicit || self.content;
        let text = std::mem::take(&mut self.text);
        self.explicit = false;
        self.content = false;
        if !is_document {
            return None;
        }
        self.count += 1;
        Some(Document {
            index: self.count,
            first_line: self.first_line,
            text,
        })
    }
}

/// The documents of a whole stream held in memory.
pub fn documents(text: &str) -> impl Iterator<Item = Document> + '_ {
    let mut splitter = Splitter::new();
    let mut lines = text.split_inclusive('\n');
    let mut finished = false;
    std::iter::from_fn(move || {
        for line in lines.by_ref() {
            if let Some(document) = splitter.push_line(line) {
                return Some(document);
            }
        }
        if finished {
            return None;
        }
        finished = true;
        splitter.finish()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<(usize, usize, String)> {
        documents(text)
            .map(|d| (d.index, d.first_line, d.text))
            .collect()
    }

    #[test]
    fn documents_start_at_their_marker_and_keep_their_lines() {
        let docs = split("a: 1\n---\nb: 2\n--- # c\nc: 3");
        assert_eq!(
            docs,
            [
                (1, 1, "a: 1\n".to_owned()),
                (2, 2, "---\nb: 2\n".to_owned()),
                (3, 4, "--- # c\nc: 3\n".to_owned()),
            ]
        );
    }

    #[test]
    fn a_leading_marker_comments_and_directives_open_no_document_of_their_own() {
        let docs = split("# header\n%YAML 1.2\n---\na: 1\n");
        assert_eq!(
            docs,
            [(1, 1, "# header\n%YAML 1.2\n---\na: 1\n".to_owned())]
        );
        assert_eq!(split(""), []);
        assert_eq!(split("\n# only a comment\n"), []);
    }

    #[test]
    fn empty_explicit_documents_count_as_yaml_counts_them() {
        let docs = split("---\n---\na: 1\n");
        assert_eq!(docs.len(), 2);
        assert_eq!((docs[1].0, docs[1].1), (2, 2));
    }

    #[test]
    fn an_end_marker_ends_a_document_and_what_follows_may_be_another() {
        let docs = split("a: 1\n...\n# nothing\n---\nb: 2\n...\nc: 3\n");
        let indexes: Vec<_> = docs.iter().map(|d| (d.0, d.1)).collect();
        assert_eq!(indexes, [(1, 1), (2, 3), (3, 7)]);
        assert_eq!(docs[0].2, "a: 1\n...\n");
    }

    #[test]
    fn markers_need_column_zero_and_a_separator() {
        // Indented, or followed by other text: content, not a marker.
        let docs = split("a: |\n  ---\nb: ---x\n----\n");
        assert_eq!(docs.len(), 1);
    }
}
