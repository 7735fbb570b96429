//! The services' configuration, `/run/cairn/services.json`, written by PID 1
//! at boot. Every path the services touch comes from here, so host tests
//! run them against temporary directories.
//!
//! ```json
//! {
//!   "hostname": "edge-01", "board": "qemu-x86_64", "version": "1.4.0",
//!   "build": 7, "bank": "a",
//!   "control": {"port": 7443, "ca": "/bank/cairn/keys/ca.crt",
//!               "cert": "/data/cairn/identity/server.crt",
//!               "key": "/data/cairn/identity/server.key",
//!               "max_bundle_bytes": 268439552},
//!   "paths": {"status": "/run/cairn/status.json", "system": "/run/cairn/system.json",
//!             "logs": "/data/logs", "jobs": "/data/cairn/jobs",
//!             "cgroup_apps": "/sys/fs/cgroup/cairn/apps", "proc": "/proc",
//!             "pid1_socket": "/run/cairn/pid1.sock",
//!             "update_socket": "/run/cairn/update.sock"},
//!   "writer": {"update_keys": "/bank/cairn/keys/update",
//!              "banks": {"a": "/dev/vda2", "b": "/dev/vda3"},
//!              "bank_size": 268435456,
//!              "esp_device": "/dev/vda1",
//!              "update_dir": "/data/cairn/update"}
//! }
//! ```
//!
//! (`tests/services.example.json` holds the same example.)
//! `paths.proc` is optional (default `/proc`); `writer` is needed only by
//! the writer. The ESP is `esp_device`, a FAT volume changed in place and
//! never mounted, or `esp_dir`, a directory that holds the ESP's files
//! (tests).
//! Unknown members are refused: the file and its readers come from one build.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use cairn_update::entries::Bank;
use serde::{Deserialize, Deserializer};

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub hostname: String,
    pub board: String,
    pub version: String,
    pub build: u64,
    /// The bank this boot runs; the writer writes the other one.
    #[serde(deserialize_with = "bank_letter")]
    pub bank: Bank,
    pub control: Control,
    pub paths: Paths,
    #[serde(default)]
    pub writer: Option<Writer>,
}

/// The HTTPS listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// Above 1024: the API binds it without privileges.
    pub port: u16,
    /// The project's CA certificate (PEM): the only root client
    /// certificates may chain to.
    pub ca: PathBuf,
    /// The device's own certificate chain and private key (PEM).
    pub cert: PathBuf,
    pub key: PathBuf,
    /// A `POST /v1/update` whose length is above this is refused before a
    /// byte of it is read: the bank partition's size plus room for the
    /// kernel, the initramfs and the header.
    pub max_bundle_bytes: u64,
}

/// Where the API reads its facts and sends its requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paths {
    /// Every instance's state, written by PID 1.
    pub status: PathBuf,
    /// The system's facts, written by PID 1.
    pub system: PathBuf,
    /// `<logs>/<source>/current` and its rotated files.
    pub logs: PathBuf,
    /// `<jobs>/<job>/history.jsonl`.
    pub jobs: PathBuf,
    /// `<cgroup_apps>/<app>/<instance>/memory.current`, `cpu.stat`.
    pub cgroup_apps: PathBuf,
    /// Where instances' start times are read (`<proc>/<pid>/stat`).
    #[serde(default = "default_proc")]
    pub proc: PathBuf,
    pub pid1_socket: PathBuf,
    pub update_socket: PathBuf,
}

fn default_proc() -> PathBuf {
    PathBuf::from("/proc")
}

/// The update writer's targets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Writer {
    /// The `*.pub` keys of the running bank that a bundle must be signed by.
    pub update_keys: PathBuf,
    pub banks: Banks,
    /// Bytes of one bank partition: a larger bank payload is refused.
    pub bank_size: u64,
    #[serde(default)]
    pub esp_device: Option<PathBuf>,
    #[serde(default)]
    pub esp_dir: Option<PathBuf>,
    /// Where the `pending` record is written.
    pub update_dir: PathBuf,
}

/// The bank partitions' device paths, by letter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Banks {
    pub a: PathBuf,
    pub b: PathBuf,
}

impl Banks {
    pub fn device(&self, bank: Bank) -> &Path {
        match bank {
            Bank::A => &self.a,
            Bank::B => &self.b,
        }
    }
}

/// How the writer reaches the ESP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EspAccess {
    /// The FAT volume on this device (or image file), changed in place.
    Device(PathBuf),
    /// A directory that already holds the ESP's files.
    Dir(PathBuf),
}

impl Writer {
    pub fn esp(&self) -> Result<EspAccess, ConfigError> {
        match (&self.esp_device, &self.esp_dir) {
            (Some(device), None) => Ok(EspAccess::Device(device.clone())),
            (None, Some(dir)) => Ok(EspAccess::Dir(dir.clone())),
            _ => Err(ConfigError::Esp),
        }
    }
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is larger than {MAX_CONFIG_LEN} bytes", path.display())]
    TooLarge { path: PathBuf },
    #[error("{}: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("writer: give either esp_device or esp_dir")]
    Esp,
    #[error("the configuration has no writer member")]
    NoWriter,
    #[error("control.port {port} is not above 1024: the API binds it without privileges")]
    PrivilegedPort { port: u16 },
}

const MAX_CONFIG_LEN: u64 = 1 << 20;

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let read_error = |source| ConfigError::Read {
            path: path.to_owned(),
            source,
        };
        let file = fs::File::open(path).map_err(read_error)?;
        let mut text = Vec::new();
        file.take(MAX_CONFIG_LEN + 1)
            .read_to_end(&mut text)
            .map_err(read_error)?;
        if text.len() as u64 > MAX_CONFIG_LEN {
            return Err(ConfigError::TooLarge {
                path: path.to_owned(),
            });
        }
        Config::parse(&text).map_err(|source| ConfigError::Json {
            path: path.to_owned(),
            source,
        })
    }

    pub fn parse(text: &[u8]) -> Result<Config, serde_json::Error> {
        serde_json::from_slice(text)
    }

    /// The writer's member, which the writer cannot run without.
    pub fn writer(&self) -> Result<&Writer, ConfigError> {
        self.writer.as_ref().ok_or(ConfigError::NoWriter)
    }

    /// The bank an update is written to.
    pub fn target_bank(&self) -> Bank {
        self.bank.other()
    }
}

/// `"a"` or `"b"`.
pub fn bank_letter<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Bank, D::Error> {
    let letter = String::deserialize(deserializer)?;
    parse_bank(&letter).ok_or_else(|| {
        serde::de::Error::custom(format!("bank {letter:?} is neither \"a\" nor \"b\""))
    })
}

pub fn parse_bank(letter: &str) -> Option<Bank> {
    match letter {
        "a" => Some(Bank::A),
        "b" => Some(Bank::B),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{
      "hostname": "edge-01", "board": "qemu-x86_64", "version": "1.4.0",
      "build": 7, "bank": "a",
      "control": {"port": 7443, "ca": "/ca.crt", "cert": "/s.crt", "key": "/s.key",
                  "max_bundle_bytes": 1000},
      "paths": {"status": "/s", "system": "/y", "logs": "/l", "jobs": "/j",
                "cgroup_apps": "/c", "pid1_socket": "/p", "update_socket": "/u"},
      "writer": {"update_keys": "/k", "banks": {"a": "/dev/vda2", "b": "/dev/vda3"},
                 "bank_size": 100, "esp_device": "/dev/vda1", "update_dir": "/d"}
    }"#;

    #[test]
    fn reads_the_documented_example() {
        let config = Config::parse(EXAMPLE.as_bytes()).unwrap();
        assert_eq!(config.bank, Bank::A);
        assert_eq!(config.target_bank(), Bank::B);
        assert_eq!(config.paths.proc, Path::new("/proc"));
        let writer = config.writer().unwrap();
        assert_eq!(writer.banks.device(Bank::B), Path::new("/dev/vda3"));
        assert_eq!(writer.esp().unwrap(), EspAccess::Device("/dev/vda1".into()));
    }

    #[test]
    fn the_example_file_parses() {
        let config = Config::parse(include_bytes!("../tests/services.example.json")).unwrap();
        assert_eq!(config.control.port, 7443);
        assert!(config.writer().unwrap().esp().is_ok());
    }

    #[test]
    fn refuses_unknown_members_wrong_types_and_a_third_bank() {
        let typo = EXAMPLE.replace("\"hostname\"", "\"hostnam\"");
        assert!(Config::parse(typo.as_bytes()).is_err());
        let text = EXAMPLE.replace("\"build\": 7", "\"build\": \"7\"");
        assert!(Config::parse(text.as_bytes()).is_err());
        let text = EXAMPLE.replace("\"bank\": \"a\"", "\"bank\": \"c\"");
        assert!(Config::parse(text.as_bytes()).is_err());
    }

    #[test]
    fn the_esp_is_a_device_or_a_directory_not_both() {
        let both = EXAMPLE.replace("\"update_dir\"", "\"esp_dir\": \"/e\", \"update_dir\"");
        let config = Config::parse(both.as_bytes()).unwrap();
        assert!(matches!(
            config.writer().unwrap().esp(),
            Err(ConfigError::Esp)
        ));
    }
}
