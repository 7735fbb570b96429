//! IANA time zone names, compiled in so that validation needs no files.
//!
//! `data/zones.txt` holds every zone and link name of the tz database
//! (release 2025b; from `tzdata.zi`, the `Z` and `L` lines, without
//! `Factory`), one per line, in byte order.

use crate::suggest;

const ZONES: &str = include_str!("data/zones.txt");

fn zones() -> impl Iterator<Item = &'static str> {
    ZONES.lines()
}

/// True for a name of the tz database, spelled exactly (`Europe/Berlin`, `UTC`).
pub(crate) fn is_known_zone(name: &str) -> bool {
    zones().any(|zone| zone == name)
}

/// The zone a user most likely meant: the same name in other letter case,
/// a zone whose city is `name` (`Berlin` -> `Europe/Berlin`), or the closest
/// spelling.
pub(crate) fn closest_zone(name: &str) -> Option<&'static str> {
    let wanted = name.trim().replace(' ', "_").to_lowercase();
    if let Some(zone) = zones().find(|z| z.to_lowercase() == wanted) {
        return Some(zone);
    }
    if !wanted.contains('/') {
        let by_city = zones().find(|z| {
            z.rsplit('/')
                .next()
                .is_some_and(|city| city.to_lowercase() == wanted)
        });
        if by_city.is_some() {
            return by_city;
        }
    }
    suggest::closest(&wanted, zones())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_and_complete_enough() {
        let all: Vec<&str> = zones().collect();
        assert!(all.len() > 500, "{}", all.len());
        assert!(
            all.windows(2).all(|w| w[0] < w[1]),
            "zones.txt must be sorted and unique"
        );
        for zone in [
            "UTC",
            "Europe/Berlin",
            "America/New_York",
            "Asia/Kolkata",
            "Etc/GMT+5",
        ] {
            assert!(is_known_zone(zone), "{zone}");
        }
        assert!(!is_known_zone("Factory"));
        assert!(!is_known_zone("Europe/Berln"));
        assert!(!is_known_zone("europe/berlin"));
        assert!(!is_known_zone("PDT"));
    }

    #[test]
    fn suggestions() {
        assert_eq!(closest_zone("europe/berlin"), Some("Europe/Berlin"));
        assert_eq!(closest_zone("Berlin"), Some("Europe/Berlin"));
        assert_eq!(closest_zone("New York"), Some("America/New_York"));
        assert_eq!(closest_zone("Europe/Berln"), Some("Europe/Berlin"));
        assert_eq!(closest_zone("Mars/Olympus_Mons"), None);
    }
}
