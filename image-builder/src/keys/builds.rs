//! Build numbers: `.cairn/builds` maps each content version a project has
//! built to its number, one `<build> <version>` a line.
//!
//! A content built before gets its number again (the same inputs give the
//! same image, byte for byte); a new content gets one above every number
//! so far, so numbers only grow and systemd-boot tries a newer build first.
//! The file is only ever appended to, under an exclusive lock, so two
//! builds at once cannot hand out one number twice. It belongs in version
//! control: everyone who builds the project then counts on from the same
//! numbers.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::KeysError;

/// The largest build number an entry name holds (ten digits).
pub const MAX_BUILD: u64 = 9_999_999_999;

const HEADER: &str =
    "# Build numbers of this project, \"<build> <version>\" a line. cairn build gives\n\
                      # the same content its number again and a new content the next one.\n\
                      # Keep this file in version control.\n";

/// The number a build gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildNumber {
    pub build: u64,
    /// Whether it was handed out now.
    pub new: bool,
    /// The highest number of the project so far (this one included).
    pub highest: u64,
}

/// The `builds` file of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Builds {
    path: PathBuf,
}

impl Builds {
    pub fn at(path: impl Into<PathBuf>) -> Builds {
        Builds { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The number of content `version`: `explicit` when given (and
    /// recorded), else the one it had, else the next.
    pub fn number_for(
        &self,
        version: &str,
        explicit: Option<u64>,
    ) -> Result<BuildNumber, KeysError> {
        let io = |what: &str| KeysError::io(format!("cannot {what} {}", self.path.display()));
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(io("open"))?;
        let mut file = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| io("lock")(std::io::Error::from(errno)))?;
        let mut text = String::new();
        file.seek(SeekFrom::Start(0)).map_err(io("read"))?;
        file.read_to_string(&mut text).map_err(io("read"))?;
        let known = self.parse(&text)?;
        let highest = known.iter().map(|(b, _)| *b).max().unwrap_or(0);
        let had = known
            .iter()
            .filter(|(_, v)| v == version)
            .map(|(b, _)| *b)
            .max();

        let build = match explicit {
            Some(n) if n == 0 || n > MAX_BUILD => {
                return Err(KeysError::Mismatch {
                    what: format!("--build {n} is outside 1..={MAX_BUILD}"),
                })
            }
            Some(n) => {
                if known.iter().any(|(b, v)| *b == n && v == version) {
                    return Ok(BuildNumber {
                        build: n,
                        new: false,
                        highest,
                    });
                }
                if let Some((_, other)) = known.iter().find(|(b, _)| *b == n) {
                    return Err(KeysError::Mismatch {
                        what: format!(
                            "build {n} is version {other} in {}; one number names one content \
                             (its entry and ESP directory are named by it): pick another --build",
                            self.path.display()
                        ),
                    });
                }
                n
            }
            None => match had {
                Some(build) => {
                    return Ok(BuildNumber {
                        build,
                        new: false,
                        highest,
                    })
                }
                None => highest + 1,
            },
        };
        if build > MAX_BUILD {
            return Err(KeysError::Mismatch {
                what: format!("{} has reached build {MAX_BUILD}", self.path.display()),
            });
        }
        let mut line = String::new();
        if text.is_empty() {
            line.push_str(HEADER);
        } else if !text.ends_with('\n') {
            line.push('\n');
        }
        line.push_str(&format!("{build} {version}\n"));
        file.write_all(line.as_bytes()).map_err(io("write"))?;
        file.sync_all().map_err(io("sync"))?;
        Ok(BuildNumber {
            build,
            new: true,
            highest: highest.max(build),
        })
    }

    fn parse(&self, text: &str) -> Result<Vec<(u64, String)>, KeysError> {
        let mut known = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parsed = line
                .split_once(' ')
                .and_then(|(b, v)| Some((b.parse::<u64>().ok()?, v.trim().to_owned())))
                .filter(|(b, v)| *b > 0 && !v.is_empty());
            match parsed {
                Some(entry) => known.push(entry),
                None => {
                    return Err(KeysError::Mismatch {
                        what: format!(
                            "{}:{}: {line:?} is not \"<build> <version>\"; fix or remove the line",
                            self.path.display(),
                            i + 1
                        ),
                    })
                }
            }
        }
        Ok(known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_content_same_number_new_content_next_number() {
        let dir = tempfile::tempdir().unwrap();
        let builds = Builds::at(dir.path().join("builds"));
        let a = builds.number_for("aaaaaaaaaaaa", None).unwrap();
        assert_eq!((a.build, a.new), (1, true));
        let b = builds.number_for("bbbbbbbbbbbb", None).unwrap();
        assert_eq!((b.build, b.new), (2, true));
        let again = builds.number_for("aaaaaaaaaaaa", None).unwrap();
        assert_eq!((again.build, again.new, again.highest), (1, false, 2));
        let text = std::fs::read_to_string(builds.path()).unwrap();
        assert!(text.starts_with("# Build numbers"), "{text}");
        assert!(text.ends_with("1 aaaaaaaaaaaa\n2 bbbbbbbbbbbb\n"), "{text}");
    }

    #[test]
    fn an_explicit_number_is_recorded_and_counted_on_from() {
        let dir = tempfile::tempdir().unwrap();
        let builds = Builds::at(dir.path().join("builds"));
        builds.number_for("aaaaaaaaaaaa", None).unwrap();
        let set = builds.number_for("bbbbbbbbbbbb", Some(40)).unwrap();
        assert_eq!((set.build, set.new), (40, true));
        assert_eq!(builds.number_for("cccccccccccc", None).unwrap().build, 41);
        // The content keeps its newest number.
        assert_eq!(builds.number_for("bbbbbbbbbbbb", None).unwrap().build, 40);
        let err = builds
            .number_for("dddddddddddd", Some(40))
            .unwrap_err()
            .to_string();
        assert!(err.contains("build 40 is version bbbbbbbbbbbb"), "{err}");
        assert!(builds.number_for("x", Some(0)).is_err());
    }

    #[test]
    fn a_damaged_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("builds");
        std::fs::write(&path, "1 aaa\nnonsense\n").unwrap();
        let err = Builds::at(&path)
            .number_for("aaa", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains(":2:"), "{err}");
    }
}
