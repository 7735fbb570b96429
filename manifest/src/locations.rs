//! Where each key of a manifest was written, so that checks made later by
//! other parts of the system (the builder finding that a bundle does not
//! exist, say) can still report `file:line:column`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, LineIndex, Location};
use crate::tree::{Kind, Node};

/// The position of a key and of its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyLocation {
    pub key: Location,
    pub value: Location,
}

/// Positions of every key in a manifest, by dotted path.
///
/// A dotted path joins table keys with `.` exactly as written, without
/// quotes, and array elements by their 0-based index:
/// `"apps.web.bundle"`, `"apps.web.paths./etc/web"`, `"apps.web.exec.0"`,
/// `"logging.remote.0.url"`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Locations {
    file: PathBuf,
    entries: BTreeMap<String, KeyLocation>,
}

impl Locations {
    /// Records the position of every key and array element in the tree.
    pub(crate) fn record(root: &Node, lines: &LineIndex<'_>, file: &Path) -> Locations {
        let mut locations = Locations {
            file: file.to_path_buf(),
            entries: BTreeMap::new(),
        };
        locations.walk(root, &KeyPath::root(), lines);
        locations
    }

    fn walk(&mut self, node: &Node, path: &KeyPath, lines: &LineIndex<'_>) {
        match &node.kind {
            Kind::Table(entries) => {
                for entry in entries {
                    let child = path.key(&entry.key);
                    let key = lines.span_location(entry.key_span.as_ref());
                    let value = lines.span_location(entry.value_span().as_ref());
                    self.entries
                        .entry(child.dotted())
                        .or_insert(KeyLocation { key, value });
                    self.walk(&entry.value, &child, lines);
                }
            }
            Kind::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let child = path.index(i);
                    let at = lines.span_location(item.span.as_ref());
                    self.entries
                        .entry(child.dotted())
                        .or_insert(KeyLocation { key: at, value: at });
                    self.walk(item, &child, lines);
                }
            }
            _ => {}
        }
    }

    /// The manifest file these positions are in.
    pub fn file(&self) -> &Path {
        &self.file
    }

    pub fn get(&self, key_path: &str) -> Option<KeyLocation> {
        self.entries.get(key_path).copied()
    }

    /// Where the value of `key_path` starts, if the key was written.
    pub fn value(&self, key_path: &str) -> Option<Location> {
        self.get(key_path).map(|l| l.value)
    }

    /// Where the key `key_path` itself is written, if it was.
    pub fn key(&self, key_path: &str) -> Option<Location> {
        self.get(key_path).map(|l| l.key)
    }

    /// The value's position, or failing that the nearest enclosing key's
    /// (a default that was not written is blamed on its table), or
    /// [`Location::NONE`].
    pub fn nearest(&self, key_path: &str) -> Location {
        let mut path = key_path;
        loop {
            if let Some(found) = self.value(path) {
                return found;
            }
            match path.rfind('.') {
                Some(dot) => path = &path[..dot],
                None => return Location::NONE,
            }
        }
    }

    /// A diagnostic pointing at `key_path`'s value (see [`Locations::nearest`]).
    pub fn diagnostic_at(&self, key_path: &str, message: &str, help: Option<&str>) -> Diagnostic {
        Diagnostic::new(
            self.file.clone(),
            self.nearest(key_path),
            message,
            help.map(str::to_owned),
        )
    }
}

/// A path to a key, kept as segments so it can be shown in two ways.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(Vec<Segment>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

impl KeyPath {
    pub(crate) fn root() -> KeyPath {
        KeyPath(Vec::new())
    }

    pub(crate) fn key(&self, key: &str) -> KeyPath {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.to_owned()));
        KeyPath(segments)
    }

    pub(crate) fn index(&self, index: usize) -> KeyPath {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        KeyPath(segments)
    }

    pub(crate) fn parent(&self) -> KeyPath {
        let mut segments = self.0.clone();
        segments.pop();
        KeyPath(segments)
    }

    /// The form [`Locations`] is keyed by: `apps.web.paths./etc/web`, `logging.remote.0.url`.
    pub(crate) fn dotted(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|s| match s {
                Segment::Key(k) => k.clone(),
                Segment::Index(i) => i.to_string(),
            })
            .collect();
        parts.join(".")
    }

    /// The last segment as a user would write it: `port_offset`, `exec[1]`.
    pub(crate) fn leaf(&self) -> String {
        match self.0.as_slice() {
            [.., Segment::Key(k), Segment::Index(i)] => format!("{}[{i}]", quote_key(k)),
            [.., Segment::Key(k)] => quote_key(k),
            [.., Segment::Index(i)] => format!("[{i}]"),
            [] => String::new(),
        }
    }

    /// Names this path as a table: `[system]`, `[apps.web.paths."/etc/web"]`,
    /// `[[logging.remote]] #2`, or "the top level".
    pub(crate) fn table_name(&self) -> String {
        if self.0.is_empty() {
            return "the top level".to_owned();
        }
        if let Some(Segment::Index(i)) = self.0.last() {
            return format!("[[{}]] #{}", self.parent(), i + 1);
        }
        format!("[{self}]")
    }

    /// "`port_offset` in [system]": how messages name a key.
    pub(crate) fn describe(&self) -> String {
        let mut owner = self.parent();
        if matches!(self.0.last(), Some(Segment::Index(_))) {
            owner = owner.parent();
        }
        format!("`{}` {}", self.leaf(), owner.place())
    }

    /// "in [system]", or "at the top level".
    pub(crate) fn place(&self) -> String {
        if self.0.is_empty() {
            "at the top level".to_owned()
        } else {
            format!("in {}", self.table_name())
        }
    }
}

/// Shows the path as TOML would write it: `apps.web.paths."/etc/web"`, `logging.remote[0]`.
impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(k) if i == 0 => write!(f, "{}", quote_key(k))?,
                Segment::Key(k) => write!(f, ".{}", quote_key(k))?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

fn quote_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_show_as_written() {
        let p = KeyPath::root()
            .key("apps")
            .key("web")
            .key("paths")
            .key("/etc/web");
        assert_eq!(p.dotted(), "apps.web.paths./etc/web");
        assert_eq!(p.to_string(), "apps.web.paths.\"/etc/web\"");
        assert_eq!(p.table_name(), "[apps.web.paths.\"/etc/web\"]");
        let exec = KeyPath::root().key("apps").key("web").key("exec").index(1);
        assert_eq!(exec.describe(), "`exec[1]` in [apps.web]");
        let remote = KeyPath::root().key("logging").key("remote").index(0);
        assert_eq!(remote.table_name(), "[[logging.remote]] #1");
        assert_eq!(
            remote.key("url").describe(),
            "`url` in [[logging.remote]] #1"
        );
        assert_eq!(
            KeyPath::root().key("version").describe(),
            "`version` at the top level"
        );
    }

    #[test]
    fn every_key_and_element_is_located() {
        let text = "version = 1\n[apps.web]\nexec = [\"/bin/web\", \"-v\"]\n";
        let root = Node::parse(text).unwrap();
        let locations = Locations::record(&root, &LineIndex::new(text), Path::new("s.toml"));
        let web = locations.get("apps.web").unwrap();
        assert_eq!(web.key, Location { line: 2, column: 7 });
        assert_eq!(web.value, Location { line: 2, column: 1 });
        assert_eq!(
            locations.value("apps.web.exec.1"),
            Some(Location {
                line: 3,
                column: 21
            })
        );
        assert_eq!(
            locations.nearest("apps.web.instances"),
            Location { line: 2, column: 1 }
        );
        assert_eq!(locations.nearest("jobs.x"), Location::NONE);
        let d = locations.diagnostic_at("apps.web.exec.0", "no such file", Some("build it"));
        assert_eq!(
            d.to_string(),
            "s.toml:3:9: error: no such file\n  help: build it"
        );
    }
}
