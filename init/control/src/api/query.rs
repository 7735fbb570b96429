//! Query strings: `a=1&b=two`, values percent-decoded, each name at most
//! once, and only the names an endpoint knows.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("query parameter {0:?} is not known here")]
    Unknown(String),
    #[error("query parameter {0:?} is given twice")]
    Repeated(String),
    #[error("the query is not valid percent-encoded UTF-8")]
    Encoding,
}

/// The parameters of `query`, refusing any name not in `known`.
pub fn parse(query: Option<&str>, known: &[&str]) -> Result<BTreeMap<String, String>, QueryError> {
    let mut out = BTreeMap::new();
    let Some(query) = query else {
        return Ok(out);
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(name)?;
        if !known.contains(&name.as_str()) {
            return Err(QueryError::Unknown(crate::names::printable(&name, 32)));
        }
        let value = decode(value)?;
        if out.insert(name.clone(), value).is_some() {
            return Err(QueryError::Repeated(name));
        }
    }
    Ok(out)
}

fn decode(text: &str) -> Result<String, QueryError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or(QueryError::Encoding)?;
                let hex = std::str::from_utf8(hex).map_err(|_| QueryError::Encoding)?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| QueryError::Encoding)?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| QueryError::Encoding)
}

/// `true`/`false` (and `1`/`0`).
pub fn flag(value: Option<&String>, name: &str) -> Result<bool, String> {
    match value.map(String::as_str) {
        None => Ok(false),
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(_) => Err(format!("{name} must be true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let q = parse(
            Some("app=web&lines=5&follow=true"),
            &["app", "lines", "follow"],
        )
        .unwrap();
        assert_eq!(q["app"], "web");
        assert_eq!(q["lines"], "5");
        let q = parse(
            Some("reboot=2026-12-04T23%3A00%3A00%2B01%3A00"),
            &["reboot"],
        )
        .unwrap();
        assert_eq!(q["reboot"], "2026-12-04T23:00:00+01:00");
        assert_eq!(parse(None, &[]).unwrap().len(), 0);
        assert_eq!(
            parse(Some("x=1"), &["app"]),
            Err(QueryError::Unknown("x".into()))
        );
        assert_eq!(
            parse(Some("app=a&app=b"), &["app"]),
            Err(QueryError::Repeated("app".into()))
        );
        for bad in ["app=%ff", "app=%2", "app=%zz", "app=%e2%82"] {
            assert_eq!(
                parse(Some(bad), &["app"]),
                Err(QueryError::Encoding),
                "{bad}"
            );
        }
        assert_eq!(flag(Some(&"true".into()), "f"), Ok(true));
        assert!(flag(Some(&"yes".into()), "f").is_err());
    }
}
