//! `/etc/resolv.conf`, written from the DNS servers of every configured interface
//! (static ones from the manifest, DHCP ones from their leases), in interface order.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use super::NetError;

pub const PATH: &str = "/etc/resolv.conf";

/// The servers each interface contributes, and the list last written.
#[derive(Debug, Default)]
pub struct Servers {
    by_iface: BTreeMap<String, Vec<IpAddr>>,
    written: Vec<IpAddr>,
}

impl Servers {
    pub const fn new() -> Self {
        Servers {
            by_iface: BTreeMap::new(),
            written: Vec::new(),
        }
    }

    /// Records the servers of `iface`; returns the combined list when it differs
    /// from the one last written (and then counts it as written).
    pub fn update(&mut self, iface: &str, servers: &[IpAddr]) -> Option<Vec<IpAddr>> {
        if servers.is_empty() {
            self.by_iface.remove(iface);
        } else {
            self.by_iface.insert(iface.to_owned(), servers.to_vec());
        }
        let mut combined: Vec<IpAddr> = Vec::new();
        for server in self.by_iface.values().flatten() {
            if !combined.contains(server) {
                combined.push(*server);
            }
        }
        if combined == self.written {
            return None;
        }
        self.written.clone_from(&combined);
        Some(combined)
    }

    /// Forgets what was written, so the next update writes again.
    fn write_failed(&mut self) {
        self.written.clear();
    }
}

static SERVERS: Mutex<Servers> = Mutex::new(Servers::new());

/// Sets the DNS servers `iface` contributes and rewrites /etc/resolv.conf if the
/// combined list changed. An empty list withdraws the interface's servers.
pub fn set_servers(iface: &str, servers: &[IpAddr]) -> Result<(), NetError> {
    let mut registry = SERVERS.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(combined) = registry.update(iface, servers) else {
        return Ok(());
    };
    write(Path::new(PATH), &render(&combined)).map_err(|cause| {
        registry.write_failed();
        NetError::Resolv {
            path: PATH.into(),
            cause,
        }
    })
}

/// The file's text.
pub fn render(servers: &[IpAddr]) -> String {
    let mut text = String::from("# Written by cairn from the network configuration.\n");
    for server in servers {
        text.push_str(&format!("nameserver {server}\n"));
    }
    text
}

/// Writes `text` to `path`, creating its directory if needed. The file is
/// rewritten in place rather than replaced by a rename: an app's view of it may
/// be a bind mount, which follows the inode and would never see a new file.
pub fn write(path: &Path, text: &str) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut file = fs::File::create(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn renders_one_nameserver_line_per_server() {
        let text = render(&[ip("10.0.2.3"), ip("2001:db8::53")]);
        assert_eq!(
            text,
            "# Written by cairn from the network configuration.\n\
             nameserver 10.0.2.3\n\
             nameserver 2001:db8::53\n"
        );
    }

    #[test]
    fn combines_interfaces_in_order_without_duplicates() {
        let mut servers = Servers::new();
        assert_eq!(
            servers.update("eth1", &[ip("1.1.1.1")]),
            Some(vec![ip("1.1.1.1")])
        );
        assert_eq!(
            servers.update("eth0", &[ip("10.0.2.3"), ip("1.1.1.1")]),
            Some(vec![ip("10.0.2.3"), ip("1.1.1.1")])
        );
        // The same servers again: nothing to write.
        assert_eq!(
            servers.update("eth0", &[ip("10.0.2.3"), ip("1.1.1.1")]),
            None
        );
        // Withdrawing eth0 leaves eth1's.
        assert_eq!(servers.update("eth0", &[]), Some(vec![ip("1.1.1.1")]));
        assert_eq!(servers.update("eth1", &[]), Some(vec![]));
    }

    #[test]
    fn nothing_is_written_while_no_interface_has_servers() {
        let mut servers = Servers::new();
        assert_eq!(servers.update("eth0", &[]), None);
    }

    #[test]
    fn a_failed_write_is_retried_on_the_next_update() {
        let mut servers = Servers::new();
        assert!(servers.update("eth0", &[ip("10.0.2.3")]).is_some());
        servers.write_failed();
        assert_eq!(
            servers.update("eth0", &[ip("10.0.2.3")]),
            Some(vec![ip("10.0.2.3")])
        );
    }

    #[test]
    fn writes_the_file_creating_its_directory() {
        let root = std::env::temp_dir().join(format!("cairn-resolv-{}", std::process::id()));
        let path = root.join("etc").join("resolv.conf");
        write(&path, "nameserver 10.0.2.3\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "nameserver 10.0.2.3\n");
        let inode = fs::metadata(&path).unwrap().ino();
        write(&path, "nameserver 1.1.1.1\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "nameserver 1.1.1.1\n");
        assert_eq!(
            fs::metadata(&path).unwrap().ino(),
            inode,
            "same file, new text"
        );
        fs::remove_dir_all(&root).unwrap();
    }
}
