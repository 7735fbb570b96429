//! Diagnostics: what is wrong in a manifest, and where, as `file:line:column`.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

/// A position in the manifest's text. Both numbers are 1-based; the column
/// counts characters, not bytes, so it matches what an editor shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl Location {
    /// "No position": the problem concerns the file as a whole.
    pub const NONE: Location = Location { line: 0, column: 0 };

    pub fn is_none(&self) -> bool {
        self.line == 0
    }
}

/// One error, with the place it concerns and, where we can tell, what would be right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based; 0 when the error concerns the whole file.
    pub line: usize,
    /// 1-based, in characters; 0 when the error concerns the whole file.
    pub column: usize,
    pub message: String,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(
        file: impl Into<PathBuf>,
        at: Location,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Diagnostic {
        Diagnostic {
            file: file.into(),
            line: at.line,
            column: at.column,
            message: message.into(),
            help,
        }
    }

    pub fn location(&self) -> Location {
        Location {
            line: self.line,
            column: self.column,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: error: {}", self.file.display(), self.message)?;
        } else {
            write!(
                f,
                "{}:{}:{}: error: {}",
                self.file.display(),
                self.line,
                self.column,
                self.message
            )?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// Every error found in one manifest, in the order they appear in the file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// Orders by position; errors about the whole file come first.
    pub(crate) fn sort(&mut self) {
        self.0.sort_by_key(|d| (d.line, d.column));
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl From<Diagnostic> for Diagnostics {
    fn from(diagnostic: Diagnostic) -> Diagnostics {
        Diagnostics(vec![diagnostic])
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Turns byte offsets into line and column numbers.
#[derive(Debug)]
pub(crate) struct LineIndex<'t> {
    text: &'t str,
    /// Byte offset at which each line starts.
    starts: Vec<usize>,
}

impl<'t> LineIndex<'t> {
    pub(crate) fn new(text: &'t str) -> LineIndex<'t> {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { text, starts }
    }

    pub(crate) fn text(&self) -> &'t str {
        self.text
    }

    pub(crate) fn location(&self, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        let line = match self.starts.binary_search(&offset) {
            Ok(exact) => exact,
            Err(next) => next - 1,
        };
        let start = self.starts[line];
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |prefix| prefix.chars().count());
        Location {
            line: line + 1,
            column: column + 1,
        }
    }

    pub(crate) fn span_location(&self, span: Option<&Range<usize>>) -> Location {
        span.map_or(Location::NONE, |span| self.location(span.start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_one_based_lines_and_character_columns() {
        let index = LineIndex::new("ab\n# é\nxyz");
        assert_eq!(index.location(0), Location { line: 1, column: 1 });
        assert_eq!(index.location(3), Location { line: 2, column: 1 });
        // 'é' is two bytes but one column.
        let x = "ab\n# é\n".len();
        assert_eq!(index.location(x + 2), Location { line: 3, column: 3 });
        assert_eq!(
            index.location("ab\n# é".len()),
            Location { line: 2, column: 4 }
        );
    }

    #[test]
    fn display_matches_the_compiler_style() {
        let d = Diagnostic::new(
            "system.toml",
            Location {
                line: 12,
                column: 9,
            },
            "unknown key `ports_offset` in [system]",
            Some("did you mean `port_offset`?".into()),
        );
        assert_eq!(
            d.to_string(),
            "system.toml:12:9: error: unknown key `ports_offset` in [system]\n  help: did you mean `port_offset`?"
        );
        let whole = Diagnostic::new("m.toml", Location::NONE, "cannot read m.toml", None);
        assert_eq!(whole.to_string(), "m.toml: error: cannot read m.toml");
    }

    #[test]
    fn all_diagnostics_are_listed() {
        let a = Diagnostic::new("s", Location { line: 1, column: 1 }, "a", None);
        let b = Diagnostic::new("s", Location { line: 2, column: 1 }, "b", None);
        let all = Diagnostics(vec![a, b]);
        assert_eq!(all.to_string(), "s:1:1: error: a\ns:2:1: error: b");
    }
}
