//! systemd's version comparison (`strverscmp_improved`, in
//! `src/fundamental/string-util-fundamental.c` of systemd 252), which
//! systemd-boot uses to order entries by id and by `version`.
//!
//! A string is a series of segments, each numeric (`[0-9]+`) or alphabetic
//! (`[A-Za-z]+`), optionally after one of the markers `~` (oldest: a
//! pre-release), `-` (version/release split), `^` (a patched release) or
//! `.`. Any other character only separates segments. Numeric segments
//! compare as numbers (leading zeros ignored) and are newer than alphabetic
//! ones; at the end, the string with more segments is newer (except after
//! `~`).
//!
//! Working on UTF-8 bytes is exact: every byte of a non-ASCII character is
//! ignored like the UTF-16 unit systemd-boot sees, and only ASCII bytes are
//! ever compared by value.

use std::cmp::Ordering;

/// `Less` when `a` is older than `b`.
pub fn strverscmp_improved(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        a = skip_separators(a);
        b = skip_separators(b);

        // A '~' segment is older than anything but another '~' segment.
        if head(a) == b'~' || head(b) == b'~' {
            let order = (head(a) != b'~').cmp(&(head(b) != b'~'));
            if order != Ordering::Equal {
                return order;
            }
            a = &a[1..];
            b = &b[1..];
        }

        // Past the '~' check: otherwise the string with more left is newer.
        if a.is_empty() || b.is_empty() {
            return head(a).cmp(&head(b));
        }

        // A string whose next segment carries the marker is older: '-'
        // before '^' before '.' before no marker at all.
        for marker in [b'-', b'^', b'.'] {
            if head(a) == marker || head(b) == marker {
                let order = (head(a) != marker).cmp(&(head(b) != marker));
                if order != Ordering::Equal {
                    return order;
                }
                a = &a[1..];
                b = &b[1..];
            }
        }

        let (a_len, b_len);
        if head(a).is_ascii_digit() || head(b).is_ascii_digit() {
            a_len = run(a, u8::is_ascii_digit);
            b_len = run(b, u8::is_ascii_digit);
            // A number is newer than no number (an alphabetic segment).
            let order = (a_len != 0).cmp(&(b_len != 0));
            if order != Ordering::Equal {
                return order;
            }
            let a_digits = strip_zeros(&a[..a_len]);
            let b_digits = strip_zeros(&b[..b_len]);
            // More digits is a bigger number; equal lengths compare as text.
            let order = a_digits
                .len()
                .cmp(&b_digits.len())
                .then_with(|| a_digits.cmp(b_digits));
            if order != Ordering::Equal {
                return order;
            }
        } else {
            a_len = run(a, u8::is_ascii_alphabetic);
            b_len = run(b, u8::is_ascii_alphabetic);
            let common = a_len.min(b_len);
            // Then the longer word is newer ("abc" < "abcde").
            let order = a[..common]
                .cmp(&b[..common])
                .then_with(|| a_len.cmp(&b_len));
            if order != Ordering::Equal {
                return order;
            }
        }
        a = &a[a_len..];
        b = &b[b_len..];
    }
}

/// The byte at the front, or 0 at the end (C's terminating NUL).
fn head(s: &[u8]) -> u8 {
    s.first().copied().unwrap_or(0)
}

fn is_version_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'~' | b'-' | b'^' | b'.')
}

fn skip_separators(s: &[u8]) -> &[u8] {
    let skip = s.iter().take_while(|&&b| !is_version_char(b)).count();
    &s[skip..]
}

fn run(s: &[u8], class: fn(&u8) -> bool) -> usize {
    s.iter().take_while(|b| class(b)).count()
}

fn strip_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&b| b == b'0').count();
    &digits[zeros..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The ordering systemd documents for this function, oldest first.
    const DOCUMENTED_ORDER: [&str; 12] = [
        "122.1",
        "123~rc1-1",
        "123",
        "123-a",
        "123-a.1",
        "123-1",
        "123-1.1",
        "123^post1",
        "123.a-1",
        "123.1-1",
        "123a-1",
        "124-1",
    ];

    #[test]
    fn follows_the_documented_order() {
        for (i, older) in DOCUMENTED_ORDER.iter().enumerate() {
            for newer in &DOCUMENTED_ORDER[i + 1..] {
                assert_eq!(
                    strverscmp_improved(older, newer),
                    Ordering::Less,
                    "{older} < {newer}"
                );
                assert_eq!(
                    strverscmp_improved(newer, older),
                    Ordering::Greater,
                    "{newer} > {older}"
                );
            }
            assert_eq!(strverscmp_improved(older, older), Ordering::Equal);
        }
    }

    #[test]
    fn numbers_compare_by_value_and_beat_words() {
        assert_eq!(strverscmp_improved("00123", "123"), Ordering::Equal);
        assert_eq!(strverscmp_improved("9", "10"), Ordering::Less);
        assert_eq!(
            strverscmp_improved("0000000002", "0000000010"),
            Ordering::Less
        );
        // Numeric beats alphabetic, even a number that is all zeros.
        assert_eq!(strverscmp_improved("a", "0"), Ordering::Less);
        assert_eq!(strverscmp_improved("ffff", "8"), Ordering::Less);
    }

    #[test]
    fn other_characters_only_separate() {
        assert_eq!(strverscmp_improved("123_a", "123a"), Ordering::Equal);
        assert_eq!(strverscmp_improved("1+2", "1_2"), Ordering::Equal);
        // But they do split: "a" then "b" is older than the longer word "ab".
        assert_eq!(strverscmp_improved("a+b", "ab"), Ordering::Less);
        assert_eq!(strverscmp_improved("1é2", "1_2"), Ordering::Equal);
    }

    #[test]
    fn more_segments_is_newer_except_after_tilde() {
        assert_eq!(strverscmp_improved("1.2", "1.2.1"), Ordering::Less);
        assert_eq!(strverscmp_improved("1.2~rc1", "1.2"), Ordering::Less);
        assert_eq!(strverscmp_improved("", "a"), Ordering::Less);
        assert_eq!(strverscmp_improved("", ""), Ordering::Equal);
    }

    proptest! {
        #[test]
        fn is_antisymmetric(a in "[0-9a-c~^._+-]{0,12}", b in "[0-9a-c~^._+-]{0,12}") {
            prop_assert_eq!(strverscmp_improved(&a, &b), strverscmp_improved(&b, &a).reverse());
        }
    }
}
