//! "Did you mean ...?": the closest known word to a mistyped one.

/// Edit distance counting insertions, deletions, substitutions and swaps of
/// two neighbouring characters, each as one edit (optimal string alignment).
pub(crate) fn distance(a: &str, b: &str) -> usize {
    strsim::osa_distance(a, b)
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
/// Case is ignored when comparing.
pub(crate) fn closest<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let word_lower = word.to_lowercase();
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (distance(&word_lower, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// "did you mean `x`?" for the closest candidate, else None.
pub(crate) fn did_you_mean<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<String> {
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// Lists the allowed words for a help line: `"a", "b" or "c"`.
pub(crate) fn one_of(options: &[&str]) -> String {
    let quoted: Vec<String> = options.iter().map(|o| format!("\"{o}\"")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("ports_offset", "port_offset"), 1);
        assert_eq!(distance("on-falure", "on-failure"), 1);
        assert_eq!(distance("hostanme", "hostname"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn closest_ignores_far_words() {
        let keys = ["hostname", "timezone", "port_offset"];
        assert_eq!(closest("ports_offset", keys), Some("port_offset"));
        assert_eq!(closest("TimeZone", keys), Some("timezone"));
        assert_eq!(closest("color", keys), None);
    }

    #[test]
    fn options_read_as_a_sentence() {
        assert_eq!(one_of(&["a", "b", "c"]), "\"a\", \"b\" or \"c\"");
        assert_eq!(one_of(&["a"]), "\"a\"");
    }
}
