//! The manifest as a plain tree of values, each with the place it was written.
//!
//! Validation reads this tree, never the TOML library's types, so that a tree
//! can also be edited before validation (command-line overrides) by code that
//! knows nothing about TOML syntax. A node without a span was not written in
//! the file; errors about it point at its parent.

use std::ops::Range;

use toml_edit::{ImDocument, Item, Table, Value};

pub(crate) type Span = Option<Range<usize>>;

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) kind: Kind,
    /// Where the value starts; for a table, its `[header]`.
    pub(crate) span: Span,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Datetime,
    Array(Vec<Node>),
    /// Entries in the order they were written.
    Table(Vec<Entry>),
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) key_span: Span,
    pub(crate) value: Node,
}

impl Entry {
    /// The span to blame for the value, falling back to the key.
    pub(crate) fn value_span(&self) -> Span {
        self.value.span.clone().or_else(|| self.key_span.clone())
    }
}

impl Node {
    /// Parses TOML text into a tree. The error carries the parser's message
    /// and the byte span it points at.
    pub(crate) fn parse(text: &str) -> Result<Node, (String, Span)> {
        let document = ImDocument::parse(text).map_err(|e| (e.message().to_owned(), e.span()))?;
        Ok(from_item(document.as_item(), Some(0..0)))
    }

    pub(crate) fn entries(&self) -> Option<&[Entry]> {
        match &self.kind {
            Kind::Table(entries) => Some(entries),
            _ => None,
        }
    }

    /// What kind of value this is, for messages: "a string", "an integer", ...
    pub(crate) fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::String(_) => "a string",
            Kind::Integer(_) => "an integer",
            Kind::Float(_) => "a number with a fraction",
            Kind::Boolean(_) => "a boolean",
            Kind::Datetime => "a date-time",
            Kind::Array(_) => "an array",
            Kind::Table(_) => "a table",
        }
    }
}

/// `fallback` is used for tables that have no span of their own (implicit
/// tables like `apps` in `[apps.web]`): the span of their key.
fn from_item(item: &Item, fallback: Span) -> Node {
    match item {
        Item::Value(value) => from_value(value, fallback),
        Item::Table(table) => from_table(table, fallback),
        Item::ArrayOfTables(array) => Node {
            kind: Kind::Array(array.iter().map(|t| from_table(t, None)).collect()),
            span: array.span().or(fallback),
        },
        Item::None => Node {
            kind: Kind::Table(Vec::new()),
            span: fallback,
        },
    }
}

fn from_table(table: &Table, fallback: Span) -> Node {
    Node {
        kind: Kind::Table(
            table
                .iter()
                .map(|(key, child)| {
                    let key_span = table.key(key).and_then(|k| k.span());
                    entry(key, key_span, |span| from_item(child, span))
                })
                .collect(),
        ),
        span: table.span().or(fallback),
    }
}

fn from_value(value: &Value, fallback: Span) -> Node {
    let span = value.span().or(fallback);
    let kind = match value {
        Value::String(s) => Kind::String(s.value().clone()),
        Value::Integer(i) => Kind::Integer(*i.value()),
        Value::Float(f) => Kind::Float(*f.value()),
        Value::Boolean(b) => Kind::Boolean(*b.value()),
        Value::Datetime(_) => Kind::Datetime,
        Value::Array(array) => Kind::Array(array.iter().map(|v| from_value(v, None)).collect()),
        Value::InlineTable(table) => Kind::Table(
            table
                .iter()
                .map(|(key, child)| {
                    let key_span = table.key(key).and_then(|k| k.span());
                    entry(key, key_span, |span| from_value(child, span))
                })
                .collect(),
        ),
    };
    Node { kind, span }
}

fn entry(key: &str, key_span: Span, build: impl FnOnce(Span) -> Node) -> Entry {
    Entry {
        key: key.to_owned(),
        value: build(key_span.clone()),
        key_span,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(node: &Node) -> &[Entry] {
        node.entries().unwrap()
    }

    #[test]
    fn implicit_tables_borrow_their_key_span() {
        let text = "[apps.web]\nexec = [\"/bin/web\"]\n";
        let root = Node::parse(text).unwrap();
        let apps = &table(&root)[0];
        assert_eq!(apps.key, "apps");
        assert_eq!(apps.value.span, Some(1..5));
        let web = &table(&apps.value)[0];
        assert_eq!(web.key_span, Some(6..9));
        // The table itself starts at its header.
        assert_eq!(web.value.span.as_ref().map(|s| s.start), Some(0));
        let exec = &table(&web.value)[0];
        let Kind::Array(items) = &exec.value.kind else {
            panic!("exec is an array")
        };
        assert_eq!(items[0].span.as_ref().map(|s| s.start), Some(19));
    }

    #[test]
    fn dotted_keys_and_inline_tables_keep_key_spans() {
        let text = "env = { a.b = 1 }\n";
        let root = Node::parse(text).unwrap();
        let env = &table(&root)[0];
        let a = &table(&env.value)[0];
        assert_eq!(a.key_span, Some(8..9));
        assert_eq!(a.value_span(), Some(8..9));
    }

    #[test]
    fn syntax_errors_carry_a_span() {
        let (message, span) = Node::parse("a = 1\na = 2\n").unwrap_err();
        assert!(message.contains("duplicate key"), "{message}");
        assert_eq!(span, Some(6..7));
    }
}
