//! Reading typed values out of the tree while collecting every error.
//!
//! Readers never stop at the first problem: a value that is wrong is
//! reported and skipped, and the caller goes on with a default, so one run
//! reports everything that is wrong with a manifest.

use std::path::Path;
use std::time::Duration;

use crate::diag::{Diagnostic, Diagnostics, LineIndex, Location};
use crate::locations::{KeyPath, Locations};
use crate::suggest;
use crate::tree::{Entry, Kind, Node, Span};
use crate::units::{parse_duration, parse_size};

/// Everything a validation pass needs: where to report, and the report.
#[derive(Debug)]
pub(crate) struct Ctx<'t> {
    lines: LineIndex<'t>,
    pub(crate) locations: Locations,
    diagnostics: Vec<Diagnostic>,
}

/// A table of the manifest, with the keys it may hold already checked.
#[derive(Debug, Clone)]
pub(crate) struct Section<'n> {
    pub(crate) path: KeyPath,
    pub(crate) entries: &'n [Entry],
    /// Where to blame a missing key: the table's own key (`web` in `[apps.web]`).
    pub(crate) key_span: Span,
}

/// A value read from the manifest, with what is needed to blame it.
#[derive(Debug, Clone)]
pub(crate) struct Field<'n, T> {
    pub(crate) value: T,
    pub(crate) node: &'n Node,
    pub(crate) path: KeyPath,
}

impl<T> Field<'_, T> {
    pub(crate) fn span(&self) -> &Span {
        &self.node.span
    }
}

impl<'t> Ctx<'t> {
    pub(crate) fn new(text: &'t str, root: &Node, file: &Path) -> Ctx<'t> {
        let lines = LineIndex::new(text);
        let locations = Locations::record(root, &lines, file);
        Ctx {
            lines,
            locations,
            diagnostics: Vec::new(),
        }
    }

    pub(crate) fn finish(self) -> (Locations, Diagnostics) {
        let mut diagnostics = Diagnostics(self.diagnostics);
        diagnostics.sort();
        (self.locations, diagnostics)
    }

    pub(crate) fn location(&self, span: &Span) -> Location {
        self.lines.span_location(span.as_ref())
    }

    pub(crate) fn error_at(
        &mut self,
        at: Location,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        let file = self.locations.file().to_path_buf();
        self.diagnostics
            .push(Diagnostic::new(file, at, message, help));
    }

    pub(crate) fn error(&mut self, span: &Span, message: impl Into<String>, help: Option<String>) {
        let at = self.location(span);
        self.error_at(at, message, help);
    }

    /// Blames the value at `path` (or the nearest key above it that was written).
    pub(crate) fn error_at_path(
        &mut self,
        path: &KeyPath,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        let at = self.locations.nearest(&path.dotted());
        self.error_at(at, message, help);
    }

    /// Blames the key at `path` itself, e.g. the name in `[apps.web]`.
    pub(crate) fn error_at_key(
        &mut self,
        path: &KeyPath,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        let dotted = path.dotted();
        let at = self
            .locations
            .key(&dotted)
            .unwrap_or_else(|| self.locations.nearest(&dotted));
        self.error_at(at, message, help);
    }

    /// The span of the character at byte `offset` inside a string value, when
    /// the string is written plainly (no escapes) so positions line up; else
    /// the whole value.
    pub(crate) fn span_in_string(&self, node: &Node, offset: usize) -> Span {
        let span = node.span.clone()?;
        let (Kind::String(value), Some(raw)) = (&node.kind, self.lines.text().get(span.clone()))
        else {
            return Some(span);
        };
        let plain = raw.len() == value.len() + 2
            && (raw.starts_with('"') || raw.starts_with('\''))
            && raw.get(1..raw.len() - 1) == Some(value.as_str());
        if plain && offset <= value.len() {
            Some(span.start + 1 + offset..span.start + 2 + offset)
        } else {
            Some(span)
        }
    }

    /// The root table, with its keys checked.
    pub(crate) fn root<'n>(&mut self, root: &'n Node, known: &[&str]) -> Section<'n> {
        let entries = root.entries().unwrap_or(&[]);
        let section = Section {
            path: KeyPath::root(),
            entries,
            key_span: Some(0..0),
        };
        self.check_keys(&section, known);
        section
    }

    /// Reports every key of `section` that is not in `known`.
    pub(crate) fn check_keys(&mut self, section: &Section<'_>, known: &[&str]) {
        for entry in section.entries {
            if known.contains(&entry.key.as_str()) {
                continue;
            }
            let help = suggest::did_you_mean(&entry.key, known.iter().copied()).or_else(|| {
                (!known.is_empty()).then(|| {
                    let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
                    format!("the keys allowed here are {}", list.join(", "))
                })
            });
            let message = format!("unknown key `{}` {}", entry.key, section.path.place());
            self.error(&entry.key_span, message, help);
        }
    }

    /// Reports a wrong type for the value at `path`.
    pub(crate) fn wrong_type(
        &mut self,
        node: &Node,
        path: &KeyPath,
        expected: &str,
        help: Option<String>,
    ) {
        let message = format!(
            "{} must be {expected}, not {}",
            path.describe(),
            node.type_name()
        );
        self.error(&node.span, message, help);
    }

    /// A sub-table that is a table of named tables, e.g. `[apps]`: each
    /// entry is checked to be a table, and returned with its name.
    pub(crate) fn named_tables<'n>(
        &mut self,
        section: &Section<'n>,
        key: &str,
        known: &[&str],
    ) -> Vec<(&'n str, Section<'n>)> {
        let Some(group) = self.table(section, key, &[]) else {
            return Vec::new();
        };
        group
            .entries
            .iter()
            .filter_map(|entry| {
                let path = group.path.key(&entry.key);
                let table = self.as_table(entry, path, known)?;
                Some((entry.key.as_str(), table))
            })
            .collect()
    }

    /// The sub-table at `key`, if present and a table, with its keys checked.
    pub(crate) fn table<'n>(
        &mut self,
        section: &Section<'n>,
        key: &str,
        known: &[&str],
    ) -> Option<Section<'n>> {
        let entry = find(section, key)?;
        let path = section.path.key(key);
        let table = self.as_table(entry, path, known)?;
        Some(table)
    }

    /// Checks `known` keys only if it is not empty.
    fn as_table<'n>(
        &mut self,
        entry: &'n Entry,
        path: KeyPath,
        known: &[&str],
    ) -> Option<Section<'n>> {
        let Some(entries) = entry.value.entries() else {
            self.wrong_type(&entry.value, &path, "a table", None);
            return None;
        };
        let section = Section {
            path,
            entries,
            key_span: entry.key_span.clone(),
        };
        if !known.is_empty() {
            self.check_keys(&section, known);
        }
        Some(section)
    }

    /// Reports that `key` is missing from `section`.
    pub(crate) fn missing(&mut self, section: &Section<'_>, key: &str, help: Option<String>) {
        let message = if section.path == KeyPath::root() {
            format!("`{key}` is missing {}", section.path.place())
        } else {
            format!("{} has no `{key}`", section.path.table_name())
        };
        self.error(&section.key_span, message, help);
    }

    pub(crate) fn string<'n>(
        &mut self,
        section: &Section<'n>,
        key: &str,
    ) -> Option<Field<'n, &'n str>> {
        let (node, path) = lookup(section, key)?;
        self.as_string(node, path, None)
    }

    pub(crate) fn as_string<'n>(
        &mut self,
        node: &'n Node,
        path: KeyPath,
        help: Option<String>,
    ) -> Option<Field<'n, &'n str>> {
        match &node.kind {
            Kind::String(s) => Some(Field {
                value: s.as_str(),
                node,
                path,
            }),
            _ => {
                self.wrong_type(node, &path, "a string", help);
                None
            }
        }
    }

    pub(crate) fn integer<'n>(
        &mut self,
        section: &Section<'n>,
        key: &str,
    ) -> Option<Field<'n, i64>> {
        let (node, path) = lookup(section, key)?;
        self.as_integer(node, path)
    }

    pub(crate) fn as_integer<'n>(
        &mut self,
        node: &'n Node,
        path: KeyPath,
    ) -> Option<Field<'n, i64>> {
        match &node.kind {
            Kind::Integer(i) => Some(Field {
                value: *i,
                node,
                path,
            }),
            Kind::String(s) if s.trim().parse::<i64>().is_ok() => {
                let help = format!("write it without quotes: {} = {}", path.leaf(), s.trim());
                self.wrong_type(node, &path, "an integer", Some(help));
                None
            }
            _ => {
                self.wrong_type(node, &path, "an integer", None);
                None
            }
        }
    }

    /// An integer in `range`, reported as `what` ("an integer from 1 to 64").
    pub(crate) fn integer_in<'n>(
        &mut self,
        section: &Section<'n>,
        key: &str,
        range: std::ops::RangeInclusive<i64>,
        help: &str,
    ) -> Option<Field<'n, i64>> {
        let field = self.integer(section, key)?;
        if range.contains(&field.value) {
            return Some(field);
        }
        let message = format!(
            "{} is {}, but must be from {} to {}",
            field.path.describe(),
            field.value,
            range.start(),
            range.end()
        );
        self.error(field.span(), message, Some(help.to_owned()));
        None
    }

    pub(crate) fn boolean<'n>(
        &mut self,
        section: &Section<'n>,
        key: &str,
    ) -> Option<Field<'n, bool>> {
        let (node, path) = lookup(section, key)?;
        match &node.kind {
            Kind::Boolean(b) => Some(Field {
                value: *b,
                node,
                path,
            }),
            _ => {
                let help = format!("write {} = true or {} = false", path.leaf(), path.leaf());
                self.wrong_type(node, &path, "true or false", Some(help));
                None
            }
        }
    }

    /// A number that may be written with or without a fraction.
    pub(crate) fn number<'n>(
        &mut self,
        section: &Section<'n>,
        key: &str,
    ) -> Option<Field<'n, f64>> {
        let (node, path) = lookup(section, key)?;
        match &node.kind {
            Kind::Float(f) => Some(Field {
                value: *f,
                node,
                path,
            }),
            Kind::Integer(i) => Some(Field {
                value: *i as f64,
                node,
                path,
            }),
            _ => {
                self.wrong_type(node, &path, "a number", None);
                None
            }
        }
    }

    /// An array of strings; the elements that are not strings are reported.
    pub(crate) fn strings<'n>(
        &mut self,
        section: &Section<'n>,
        key: &str,
    ) -> Option<Field<'n, Vec<Field<'n, &'n str>>>> {
        let (node, path) = lookup(section, key)?;
        self.as_strings(node, path)
    }

    pub(crate) fn as_strings<'n>(
        &mut self,
        node: &'n Node,
        path: KeyPath,
    ) -> Option<Field<'n, Vec<Field<'n, &'n str>>>> {
        let Kind::Array(items) = &node.kind else {
            let help = (matches!(node.kind, Kind::String(_)))
                .then(|| "put it in brackets: [\"...\"]".to_owned());
            self.wrong_type(node, &path, "an array of strings", help);
            return None;
        };
        let mut all_strings = true;
        let mut value = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match self.as_string(item, path.index(i), None) {
                Some(s) => value.push(s),
                None => all_strings = false,
            }
        }
        all_strings.then_some(Field { value, node, path })
    }

    /// A string that must be one of `options`.
    pub(crate) fn choice<'n, T: Copy>(
        &mut self,
        section: &Section<'n>,
        key: &str,
        options: &[(&str, T)],
    ) -> Option<Field<'n, T>> {
        let text = self.string(section, key)?;
        if let Some((_, value)) = options.iter().find(|(name, _)| *name == text.value) {
            return Some(Field {
                value: *value,
                node: text.node,
                path: text.path,
            });
        }
        let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
        let message = format!(
            "{} must be {}, not \"{}\"",
            text.path.describe(),
            suggest::one_of(&names),
            text.value
        );
        let help = suggest::closest(text.value, names.iter().copied())
            .map(|c| format!("did you mean \"{c}\"?"));
        self.error(text.span(), message, help);
        None
    }

    pub(crate) fn duration<'n>(
        &mut self,
        section: &Section<'n>,
        key: &str,
    ) -> Option<Field<'n, Duration>> {
        let (node, path) = lookup(section, key)?;
        let help = || Some("write a duration in quotes, like \"10s\"".to_owned());
        let text = self.as_string(node, path, help())?;
        match parse_duration(text.value) {
            Ok(value) => Some(Field {
                value,
                node,
                path: text.path,
            }),
            Err(problem) => {
                let message = format!("{} is not a valid duration", text.path.describe());
                self.error(&node.span, message, Some(problem));
                None
            }
        }
    }

    /// A duration that must not be zero.
    pub(crate) fn positive_duration<'n>(
        &mut self,
        section: &Section<'n>,
        key: &str,
    ) -> Option<Field<'n, Duration>> {
        let field = self.duration(section, key)?;
        if field.value.is_zero() {
            let message = format!("{} must be longer than zero", field.path.describe());
            self.error(field.span(), message, None);
            return None;
        }
        Some(field)
    }

    pub(crate) fn size<'n>(&mut self, section: &Section<'n>, key: &str) -> Option<Field<'n, u64>> {
        let (node, path) = lookup(section, key)?;
        let help = || Some("write a size in quotes, like \"64MiB\"".to_owned());
        let text = self.as_string(node, path, help())?;
        match parse_size(text.value) {
            Ok(value) => Some(Field {
                value,
                node,
                path: text.path,
            }),
            Err(problem) => {
                let message = format!("{} is not a valid size", text.path.describe());
                self.error(&node.span, message, Some(problem));
                None
            }
        }
    }
}

/// The entry for `key` in `section`, if written.
pub(crate) fn find<'n>(section: &Section<'n>, key: &str) -> Option<&'n Entry> {
    section.entries.iter().find(|e| e.key == key)
}

fn lookup<'n>(section: &Section<'n>, key: &str) -> Option<(&'n Node, KeyPath)> {
    find(section, key).map(|entry| (&entry.value, section.path.key(key)))
}
