//! Time zones by IANA name, from the tz database compiled into this crate.

use jiff::tz::TimeZone;

/// A zone name that is not in the compiled-in tz database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone `{name}`")]
pub struct UnknownZone {
    pub name: String,
    /// The database's spelling when only the letter case differs.
    pub did_you_mean: Option<String>,
}

/// The zone named exactly `name` (`Europe/Berlin`, `UTC`). Abbreviations
/// such as `CEST` or `PST` are not zone names and are rejected, as are
/// names in the wrong letter case: a schedule never silently runs in a zone
/// other than the one written.
pub fn zone(name: &str) -> Result<TimeZone, UnknownZone> {
    let unknown = |did_you_mean| UnknownZone {
        name: name.to_owned(),
        did_you_mean,
    };
    let found = jiff::tz::db().get(name).map_err(|_| unknown(None))?;
    match found.iana_name() {
        Some(canonical) if canonical == name => Ok(found),
        Some(canonical) => Err(unknown(Some(canonical.to_owned()))),
        None => Err(unknown(None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_names_only() {
        assert!(zone("Europe/Berlin").is_ok());
        assert!(zone("UTC").is_ok());
        assert!(zone("Asia/Kolkata").is_ok());
        let wrong_case = zone("europe/berlin").unwrap_err();
        assert_eq!(wrong_case.did_you_mean.as_deref(), Some("Europe/Berlin"));
        for bad in ["CEST", "PDT", "Europe/Berln", "", "Mars/Olympus_Mons"] {
            assert!(zone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_zone_the_manifest_accepts_is_here() {
        let list = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifest/src/data/zones.txt"),
        )
        .unwrap();
        let missing: Vec<&str> = list.lines().filter(|name| zone(name).is_err()).collect();
        assert!(missing.is_empty(), "{missing:?}");
    }
}
