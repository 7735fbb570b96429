//! The update writer against a file-backed bank and a directory ESP.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Cursor, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::thread;

use cairn_control::protocol::{Problem, UpdateRequest, WriterEvent};
use cairn_control::writer::{self, Callers, Disk, Events, Outcome, SystemDisk, Target};
use cairn_layout::esp;
use cairn_update::entries::{generation_of, next_boot, render_entry, Bank, Entry, EntryName};
use cairn_update::record::Side;
use cairn_update::SigningKey;

use common::bundle::{self, Payloads};
use common::device::{running_part, snapshot, Device, BOARD};

#[derive(Default)]
struct Collect(Vec<WriterEvent>);

impl Events for Collect {
    fn send(&mut self, event: &WriterEvent) {
        self.0.push(event.clone());
    }
}

fn system_disk(device: &Device) -> SystemDisk {
    let writer = device.config.writer().unwrap();
    SystemDisk::new(writer.banks.clone(), writer.esp().unwrap())
}

fn run_with(
    device: &Device,
    disk: &dyn Disk,
    bytes: &[u8],
    request: UpdateRequest,
) -> (WriterEvent, Vec<WriterEvent>) {
    let target = Target {
        config: &device.config,
        writer: device.config.writer().unwrap(),
        disk,
    };
    let mut events = Collect::default();
    let mut input = Cursor::new(bytes);
    let last = writer::install(target, request, &mut input, &mut events);
    (last, events.0)
}

fn run(device: &Device, bytes: &[u8]) -> (WriterEvent, Vec<WriterEvent>) {
    let disk = system_disk(device);
    let request = UpdateRequest {
        allow_downgrade: false,
        length: Some(bytes.len() as u64),
    };
    run_with(device, &disk, bytes, request)
}

fn listed_entries(device: &Device) -> Vec<Entry> {
    device
        .entry_names()
        .iter()
        .filter_map(|name| Entry::load(name, &device.entry_text(name)))
        .collect()
}

/// After a failure once writing began: bank b's entry file is idle, so
/// nothing boots it, no record is pending, and the running version is byte
/// for byte as it was.
fn assert_nothing_boots_b(device: &Device, before: &std::collections::BTreeMap<String, Vec<u8>>) {
    let after = snapshot(&device.esp());
    assert_eq!(running_part(&after), running_part(before));
    assert_eq!(
        device.entry_names(),
        [
            esp::idle_entry('b'),
            "cairn-0000000007-1.0.0.conf".to_string()
        ]
    );
    assert!(device.pending().is_none());
}

#[test]
fn a_good_bundle_is_written_and_booted_next() {
    let device = Device::new();
    let payloads = Payloads::new(1);
    let bytes = bundle::make(BOARD, "2.0.0", 8, &device.key, &payloads);
    let before = snapshot(&device.esp());

    let (last, events) = run(&device, &bytes);
    let entry = "cairn-0000000008-2.0.0+3-0.conf";
    assert_eq!(
        last,
        WriterEvent::Done {
            version: "2.0.0".into(),
            build: 8,
            entry: entry.into()
        }
    );
    match &events[0] {
        WriterEvent::Verified {
            version,
            build,
            board,
            signed_by,
        } => {
            assert_eq!(
                (version.as_str(), *build, board.as_str()),
                ("2.0.0", 8, BOARD)
            );
            assert_eq!(signed_by, &[device.key.key_id().to_string()]);
        }
        other => panic!("first event {other:?}"),
    }
    assert!(events[1..]
        .iter()
        .all(|e| matches!(e, WriterEvent::Progress { .. })));
    assert!(events.iter().any(|e| matches!(
        e,
        WriterEvent::Progress { payload, written, total } if payload == "bank" && written == total
    )));

    // The bank, the kernel and the initramfs, byte for byte.
    let bank = device.bank("b");
    assert_eq!(&bank[..payloads.bank.len()], payloads.bank.as_slice());
    assert_eq!(
        device.bank("a"),
        vec![0xee; common::device::BANK_SIZE as usize]
    );
    // In bank b's slots, padded with zeros to their fixed sizes.
    let slot = |path: String, bytes: &[u8], size: u64| {
        let mut expected = bytes.to_vec();
        expected.resize(size as usize, 0);
        assert_eq!(
            fs::read(device.esp().join(&path)).unwrap(),
            expected,
            "{path}"
        );
    };
    slot(
        esp::kernel('b'),
        &payloads.linux,
        common::device::KERNEL_SLOT,
    );
    slot(
        esp::initrd('b'),
        &payloads.initrd,
        common::device::INITRD_SLOT,
    );

    // Bank b's entry file now holds the new entry, and systemd-boot tries
    // it next: its generation is one above the newest entry's (7).
    assert_eq!(device.entry_names(), ["cairn-0000000007-1.0.0.conf", entry]);
    let name = EntryName::parse(entry).unwrap();
    let text = device.entry_text(entry);
    assert_eq!(
        text,
        render_entry(&name, Bank::B, 8, "console=ttyS0 quiet")
            .unwrap()
            .trim_end()
    );
    assert_eq!(generation_of(&text), 8);
    let entries = listed_entries(&device);
    assert_eq!(next_boot(&entries).unwrap().file_name(), entry);

    // The running version is untouched, and no file changed its size.
    let after = snapshot(&device.esp());
    assert_eq!(running_part(&after), running_part(&before));
    for (path, bytes) in &before {
        if let Some(now) = after.get(path) {
            assert_eq!(now.len(), bytes.len(), "{path}");
        }
    }

    let pending = device.pending().unwrap();
    let side = |version: &str, build, bank: &str| Side {
        version: version.into(),
        build: Some(build),
        bank: bank.into(),
    };
    assert_eq!(pending.from, side("1.0.0", 7, "a"));
    assert_eq!(pending.to, side("2.0.0", 8, "b"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        pending.at <= now && pending.at + 600 > now,
        "{}",
        pending.at
    );
}

#[test]
fn refusals_leave_every_byte_of_the_esp_and_the_banks() {
    let device = Device::new();
    let payloads = Payloads::new(2);
    let other_key = SigningKey::generate().unwrap();
    let cases: Vec<(&str, Vec<u8>, Problem)> = vec![
        (
            "another key",
            bundle::make(BOARD, "2.0.0", 8, &other_key, &payloads),
            Problem::Bundle,
        ),
        (
            "another board",
            bundle::make("rpi4", "2.0.0", 8, &device.key, &payloads),
            Problem::Policy,
        ),
        (
            "an older build",
            bundle::make(BOARD, "2.0.0", 5, &device.key, &payloads),
            Problem::Policy,
        ),
        (
            "the running build",
            bundle::make(BOARD, "2.0.0", 7, &device.key, &payloads),
            Problem::Policy,
        ),
        (
            "a damaged header",
            {
                let mut b = bundle::make(BOARD, "2.0.0", 8, &device.key, &payloads);
                b[30] ^= 1;
                b
            },
            Problem::Bundle,
        ),
        (
            "not a bundle",
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            Problem::Bundle,
        ),
    ];
    for (what, bytes, problem) in cases {
        let esp_before = snapshot(&device.esp());
        let (last, events) = run(&device, &bytes);
        match &last {
            WriterEvent::Refused { problem: p, .. } => assert_eq!(*p, problem, "{what}: {last:?}"),
            other => panic!("{what}: {other:?}"),
        }
        assert!(events.is_empty(), "{what}: {events:?}");
        assert_eq!(snapshot(&device.esp()), esp_before, "{what}");
        assert_eq!(
            device.bank("b"),
            vec![0xee; common::device::BANK_SIZE as usize],
            "{what}"
        );
        assert!(device.pending().is_none());
    }
}

#[test]
fn a_length_that_differs_from_the_manifest_is_refused() {
    let device = Device::new();
    let bytes = bundle::make(BOARD, "2.0.0", 8, &device.key, &Payloads::new(3));
    let before = snapshot(&device.esp());
    let request = UpdateRequest {
        allow_downgrade: false,
        length: Some(bytes.len() as u64 + 1),
    };
    let (last, _) = run_with(&device, &system_disk(&device), &bytes, request);
    assert!(
        matches!(
            last,
            WriterEvent::Refused {
                problem: Problem::Bundle,
                ..
            }
        ),
        "{last:?}"
    );
    assert_eq!(snapshot(&device.esp()), before);
}

#[test]
fn an_allowed_downgrade_is_written_and_tried_next() {
    let device = Device::new();
    let bytes = bundle::make(BOARD, "0.8.0", 5, &device.key, &Payloads::new(4));
    let request = UpdateRequest {
        allow_downgrade: true,
        length: None,
    };
    let (last, _) = run_with(&device, &system_disk(&device), &bytes, request);
    let entry = "cairn-0000000005-0.8.0+3-0.conf";
    assert!(
        matches!(&last, WriterEvent::Done { build: 5, entry: e, .. } if e == entry),
        "{last:?}"
    );
    // Written last, so tried first, although its build is lower.
    let entries = listed_entries(&device);
    assert_eq!(next_boot(&entries).unwrap().file_name(), entry);
    assert_eq!(generation_of(&device.entry_text(entry)), 8);
}

#[test]
fn an_update_while_the_running_version_is_on_trial_is_refused() {
    let device = Device::new();
    let dir = device.esp().join(esp::ENTRIES_DIR);
    fs::rename(
        dir.join("cairn-0000000007-1.0.0.conf"),
        dir.join("cairn-0000000007-1.0.0+2-1.conf"),
    )
    .unwrap();
    let before = snapshot(&device.esp());
    let bytes = bundle::make(BOARD, "2.0.0", 8, &device.key, &Payloads::new(4));
    let (last, events) = run(&device, &bytes);
    match &last {
        WriterEvent::Refused { problem, error } => {
            assert_eq!(*problem, Problem::Busy);
            assert!(error.contains("still on trial"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(snapshot(&device.esp()), before);
}

#[test]
fn a_tampered_payload_byte_fails_and_leaves_no_entry_for_the_target() {
    for (what, at_end) in [("bank", false), ("initrd", true)] {
        let device = Device::new();
        let mut bytes = bundle::make(BOARD, "2.0.0", 8, &device.key, &Payloads::new(5));
        let at = if at_end { bytes.len() - 10 } else { 4096 + 100 };
        bytes[at] ^= 0x40;
        let before = snapshot(&device.esp());
        let (last, events) = run(&device, &bytes);
        match &last {
            WriterEvent::Failed { problem, error } => {
                assert_eq!(*problem, Problem::Bundle, "{what}");
                assert!(error.contains("sha256"), "{what}: {error}");
            }
            other => panic!("{what}: {other:?}"),
        }
        assert!(matches!(events[0], WriterEvent::Verified { .. }));
        assert_nothing_boots_b(&device, &before);
    }
}

#[test]
fn a_truncated_bundle_fails_and_leaves_no_entry_for_the_target() {
    let device = Device::new();
    let bytes = bundle::make(BOARD, "2.0.0", 8, &device.key, &Payloads::new(6));
    let before = snapshot(&device.esp());
    let cut = &bytes[..bytes.len() - 3000];
    let request = UpdateRequest {
        allow_downgrade: false,
        length: None,
    };
    let (last, _) = run_with(&device, &system_disk(&device), cut, request);
    assert!(
        matches!(
            last,
            WriterEvent::Failed {
                problem: Problem::Bundle,
                ..
            }
        ),
        "{last:?}"
    );
    assert_nothing_boots_b(&device, &before);
}

#[test]
fn a_kernel_larger_than_its_slot_is_refused_before_anything_is_written() {
    let device = Device::new();
    let mut payloads = Payloads::new(7);
    payloads.linux = vec![7; common::device::KERNEL_SLOT as usize + 1];
    let bytes = bundle::make(BOARD, "2.0.0", 8, &device.key, &payloads);
    let before = snapshot(&device.esp());
    let (last, events) = run(&device, &bytes);
    match last {
        WriterEvent::Refused { problem, error } => {
            assert_eq!(problem, Problem::Space);
            assert!(
                error.contains(
                    "the kernel is 8193 bytes; bank b's slot on this device's ESP holds 8192"
                ),
                "{error}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(snapshot(&device.esp()), before);
    assert_eq!(
        device.bank("b"),
        vec![0xee; common::device::BANK_SIZE as usize]
    );
}

fn serve_pair(device: &Device, busy: &Arc<Mutex<()>>) -> (UnixStream, thread::JoinHandle<Outcome>) {
    let (client, server) = UnixStream::pair().unwrap();
    let config = device.config.clone();
    let busy = Arc::clone(busy);
    let handle = thread::spawn(move || {
        let writer_config = config.writer().unwrap();
        let disk = SystemDisk::new(writer_config.banks.clone(), writer_config.esp().unwrap());
        let target = Target {
            config: &config,
            writer: writer_config,
            disk: &disk,
        };
        writer::handle(server, &Callers::standard(), &busy, target)
    });
    (client, handle)
}

fn read_events(stream: &UnixStream) -> Vec<WriterEvent> {
    BufReader::new(stream)
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect()
}

#[test]
fn over_the_socket_one_update_at_a_time_and_a_dropped_connection_fails_cleanly() {
    let device = Device::new();
    let bytes = bundle::make(BOARD, "2.0.0", 8, &device.key, &Payloads::new(8));
    let before = snapshot(&device.esp());
    let busy = Arc::new(Mutex::new(()));

    // The first client sends its request and half the bundle, then waits.
    let (mut first, first_done) = serve_pair(&device, &busy);
    first
        .write_all(format!("{{\"allow_downgrade\":false,\"length\":{}}}\n", bytes.len()).as_bytes())
        .unwrap();
    first.write_all(&bytes[..bytes.len() / 2]).unwrap();
    let mut reader = BufReader::new(first.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.contains("\"verified\""), "{line}");

    // A second one is told at once.
    let (second, second_done) = serve_pair(&device, &busy);
    assert!(matches!(second_done.join().unwrap(), Outcome::Busy));
    assert_eq!(
        read_events(&second),
        [WriterEvent::Refused {
            error: "an update is already running".into(),
            problem: Problem::Busy
        }]
    );

    // The first drops its connection mid-stream.
    drop(reader);
    drop(first);
    match first_done.join().unwrap() {
        Outcome::Finished(WriterEvent::Failed { .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_nothing_boots_b(&device, &before);

    // And the writer takes the next update whole.
    let (mut third, third_done) = serve_pair(&device, &busy);
    third
        .write_all(b"{\"allow_downgrade\":false,\"length\":null}\n")
        .unwrap();
    third.write_all(&bytes).unwrap();
    third.shutdown(std::net::Shutdown::Write).unwrap();
    let events = read_events(&third);
    assert!(
        matches!(events.last(), Some(WriterEvent::Done { build: 8, .. })),
        "{events:?}"
    );
    assert!(matches!(
        third_done.join().unwrap(),
        Outcome::Finished(WriterEvent::Done { .. })
    ));
}

#[test]
fn trailing_bytes_after_the_last_payload_fail_the_update() {
    let device = Device::new();
    let mut bytes = bundle::make(BOARD, "2.0.0", 8, &device.key, &Payloads::new(9));
    bytes.extend_from_slice(b"extra");
    let before = snapshot(&device.esp());
    let request = UpdateRequest {
        allow_downgrade: false,
        length: None,
    };
    let (last, _) = run_with(&device, &system_disk(&device), &bytes, request);
    assert!(
        matches!(
            last,
            WriterEvent::Failed {
                problem: Problem::Bundle,
                ..
            }
        ),
        "{last:?}"
    );
    assert_nothing_boots_b(&device, &before);
}

/// `fsck.fat -n` on an image: its report when it finds anything.
fn fsck(image: &std::path::Path) -> Result<(), String> {
    let output = std::process::Command::new("fsck.fat")
        .arg("-n")
        .arg(image)
        .output()
        .unwrap_or_else(|e| panic!("fsck.fat is needed (apt-get install dosfstools): {e}"));
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

#[test]
fn on_a_fat_esp_an_update_is_written_in_place_and_the_volume_stays_clean() {
    use cairn_update::esp::{Esp, EspFiles, FatFiles};
    let device = Device::with_fat_esp();
    fsck(&device.esp_image()).unwrap();
    let before = fs::metadata(device.esp_image()).unwrap().len();
    let payloads = Payloads::new(11);
    let bytes = bundle::make(BOARD, "2.0.0", 8, &device.key, &payloads);
    let (last, _) = run(&device, &bytes);
    assert!(
        matches!(last, WriterEvent::Done { build: 8, .. }),
        "{last:?}"
    );
    fsck(&device.esp_image()).unwrap();
    assert_eq!(fs::metadata(device.esp_image()).unwrap().len(), before);

    let mut files = FatFiles::open(&device.esp_image()).unwrap();
    assert!(!files.is_dirty().unwrap(), "never mounted, never dirty");
    let kernel = files.read(&esp::kernel('b'), 1 << 20).unwrap();
    assert_eq!(kernel.len() as u64, common::device::KERNEL_SLOT);
    assert!(kernel.starts_with(&payloads.linux));
    assert!(kernel[payloads.linux.len()..].iter().all(|&b| b == 0));
    let mut volume = Esp::new(files);
    let entries = volume.entries().unwrap();
    let listed: Vec<Entry> = entries.iter().filter_map(|e| e.entry.clone()).collect();
    assert_eq!(
        next_boot(&listed).unwrap().file_name(),
        "cairn-0000000008-2.0.0+3-0.conf"
    );

    // A failed update of the same bank leaves it idle, and the volume clean.
    let mut tampered = bundle::make(BOARD, "3.0.0", 9, &device.key, &Payloads::new(12));
    let at = tampered.len() - 10;
    tampered[at] ^= 1;
    let (last, _) = run(&device, &tampered);
    assert!(matches!(last, WriterEvent::Failed { .. }), "{last:?}");
    fsck(&device.esp_image()).unwrap();
    let entries = volume.entries().unwrap();
    assert!(Esp::<FatFiles>::bank_file(&entries, Bank::B)
        .unwrap()
        .is_idle());
}
