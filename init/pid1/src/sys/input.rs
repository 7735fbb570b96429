//! The ACPI power button, as an input device (the `button` and `evdev`
//! modules). PID 1 opens every /dev/input/event* whose name says "Power
//! Button" or that can send KEY_POWER, and reports a KEY_POWER press.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// `EV_KEY` and `KEY_POWER` from linux/input-event-codes.h.
const EV_KEY: u16 = 1;
pub const KEY_POWER: u16 = 116;
/// `struct input_event` on 64-bit Linux: a 16-byte timeval, type, code, value.
const INPUT_EVENT_SIZE: usize = 24;

/// True when a `capabilities/key` bitmap (hex words, most significant first,
/// each one `unsigned long` wide) has bit `code` set.
pub fn has_key(capabilities: &str, code: u16) -> bool {
    let bits = usize::BITS as usize;
    // The last word holds the lowest bits.
    let index = usize::from(code) / bits;
    let Some(word) = capabilities.split_whitespace().nth_back(index) else {
        return false;
    };
    usize::from_str_radix(word, 16).is_ok_and(|w| (w >> (usize::from(code) % bits)) & 1 == 1)
}

/// Whether an input device with this name and key bitmap is a power button.
pub fn is_power_button(name: &str, key_capabilities: &str) -> bool {
    name.to_ascii_lowercase().contains("power button") || has_key(key_capabilities, KEY_POWER)
}

/// True when `events` (whole `struct input_event` records) hold a KEY_POWER
/// press.
pub fn has_power_press(events: &[u8]) -> bool {
    events.chunks_exact(INPUT_EVENT_SIZE).any(|ev| {
        let kind = field(ev, 16).map(u16::from_ne_bytes);
        let code = field(ev, 18).map(u16::from_ne_bytes);
        let value = field(ev, 20).map(i32::from_ne_bytes);
        kind == Some(EV_KEY) && code == Some(KEY_POWER) && value == Some(1)
    })
}

/// The `N` bytes at offset `at` of one event.
fn field<const N: usize>(event: &[u8], at: usize) -> Option<[u8; N]> {
    event.get(at..at + N)?.try_into().ok()
}

/// The open power-button devices.
#[derive(Debug, Default)]
pub struct PowerButtons {
    devices: Vec<(String, File)>,
}

impl PowerButtons {
    /// Opens every power button listed under `class_input`
    /// (/sys/class/input) from `dev` (/dev).
    pub fn open(class_input: &Path, dev: &Path) -> PowerButtons {
        let mut devices = Vec::new();
        let Ok(entries) = std::fs::read_dir(class_input) else {
            return PowerButtons { devices };
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("event"))
            .collect();
        names.sort();
        for event in names {
            let device = class_input.join(&event).join("device");
            let name = std::fs::read_to_string(device.join("name")).unwrap_or_default();
            let keys = std::fs::read_to_string(device.join("capabilities/key")).unwrap_or_default();
            if !is_power_button(name.trim(), keys.trim()) {
                continue;
            }
            let node = dev.join("input").join(&event);
            match OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
                .open(&node)
            {
                Ok(file) => {
                    tracing::info!(
                        "watching {} ({}) for the power button",
                        node.display(),
                        name.trim()
                    );
                    devices.push((name.trim().to_string(), file));
                }
                Err(err) => tracing::warn!("cannot open {}: {err}", node.display()),
            }
        }
        PowerButtons { devices }
    }

    /// The descriptors to poll, in a stable order.
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.devices.iter().map(|(_, f)| f.as_fd()).collect()
    }

    /// Reads device `index` (poll said it is readable); true on a press.
    pub fn pressed(&mut self, index: usize) -> bool {
        let Some((_, file)) = self.devices.get_mut(index) else {
            return false;
        };
        let mut buf = [0u8; INPUT_EVENT_SIZE * 32];
        let mut pressed = false;
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => pressed |= buf.get(..n).is_some_and(has_power_press),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        pressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: u16, code: u16, value: i32) -> Vec<u8> {
        let mut ev = vec![0u8; 16];
        ev.extend_from_slice(&kind.to_ne_bytes());
        ev.extend_from_slice(&code.to_ne_bytes());
        ev.extend_from_slice(&value.to_ne_bytes());
        ev
    }

    #[test]
    fn reads_key_bitmaps() {
        // The ACPI power button: KEY_POWER (116) only.
        assert!(has_key("10000000000000 0", KEY_POWER));
        assert!(!has_key("10000000000000 0", 115));
        assert!(has_key("1 0", 64));
        assert!(!has_key("0", KEY_POWER));
        assert!(!has_key("", KEY_POWER));
        assert!(!has_key("zz 0", KEY_POWER));
    }

    #[test]
    fn recognizes_power_buttons_by_name_or_key() {
        assert!(is_power_button("Power Button", "0"));
        assert!(is_power_button("Some Device", "10000000000000 0"));
        assert!(!is_power_button("Sleep Button", "4000 0 0"));
    }

    #[test]
    fn only_a_key_power_press_counts() {
        let mut events = event(4, 4, 0x70); // EV_MSC
        events.extend(event(EV_KEY, KEY_POWER, 0)); // release
        events.extend(event(0, 0, 0)); // EV_SYN
        assert!(!has_power_press(&events));
        events.extend(event(EV_KEY, KEY_POWER, 1));
        assert!(has_power_press(&events));
        assert!(!has_power_press(&event(EV_KEY, 30, 1)));
        // A record cut short is no event.
        let mut cut = event(EV_KEY, KEY_POWER, 1);
        cut.pop();
        assert!(!has_power_press(&cut));
    }

    #[test]
    fn opens_power_buttons_from_sysfs() {
        let tmp = tempfile::tempdir().unwrap();
        let class = tmp.path().join("class/input");
        let dev = tmp.path().join("dev");
        std::fs::create_dir_all(dev.join("input")).unwrap();
        for (event, name, keys) in [
            ("event0", "Power Button", "10000000000000 0"),
            ("event1", "QEMU Tablet", "0"),
        ] {
            let device = class.join(event).join("device");
            std::fs::create_dir_all(device.join("capabilities")).unwrap();
            std::fs::write(device.join("name"), format!("{name}\n")).unwrap();
            std::fs::write(device.join("capabilities/key"), format!("{keys}\n")).unwrap();
            std::fs::write(dev.join("input").join(event), "").unwrap();
        }
        let buttons = PowerButtons::open(&class, &dev);
        assert_eq!(buttons.fds().len(), 1);
        assert_eq!(buttons.devices[0].0, "Power Button");
    }
}
