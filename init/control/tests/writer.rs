//! The update writer against a file-backed bank and a directory ESP.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Cursor, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;

use cairn_control::config::EspAccess;
use cairn_control::protocol::{Problem, UpdateRequest, WriterEvent};
use cairn_control::writer::{self, Callers, Disk, Events, Outcome, Space, SystemDisk, Target};
use cairn_update::entries::{next_boot, render_entry, Bank, Entry, EntryName};
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

fn listed_entries(esp: &Path) -> Vec<Entry> {
    let mut entries = Vec::new();
    for item in fs::read_dir(esp.join("loader/entries")).unwrap() {
        let item = item.unwrap();
        let name = item.file_name().into_string().unwrap();
        let text = fs::read_to_string(item.path()).unwrap();
        if let Some(entry) = Entry::load(&name, &text) {
            entries.push(entry);
        }
    }
    entries
}

/// After a refusal or failure: no entry boots bank b, nothing of the new
/// version is left, and the running version is byte for byte as it was.
fn assert_nothing_new(device: &Device, before: &std::collections::BTreeMap<String, Vec<u8>>) {
    let after = snapshot(&device.esp());
    assert_eq!(running_part(&after), running_part(before));
    for (path, bytes) in &after {
        assert!(!path.contains("2.0.0"), "{path} left behind");
        if path.starts_with("loader/entries/") && !path.ends_with('/') {
            let text = String::from_utf8_lossy(bytes);
            assert!(
                !text.contains("cairn.bank=b") || before.get(path) == Some(bytes),
                "{path} boots bank b"
            );
        }
    }
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
    let dir = device.esp().join("cairn/0000000008-2.0.0");
    assert_eq!(fs::read(dir.join("linux")).unwrap(), payloads.linux);
    assert_eq!(fs::read(dir.join("initrd")).unwrap(), payloads.initrd);

    // The entry, the old bank b entry gone, and systemd-boot's choice.
    assert_eq!(device.entry_names(), ["cairn-0000000007-1.0.0.conf", entry]);
    assert!(!device.esp().join("cairn/0000000006-0.9.0").exists());
    let name = EntryName::parse(entry).unwrap();
    let text = fs::read_to_string(device.esp().join("loader/entries").join(entry)).unwrap();
    assert_eq!(
        text,
        render_entry(&name, Bank::B, "console=ttyS0 quiet").unwrap()
    );
    let entries = listed_entries(&device.esp());
    assert_eq!(next_boot(&entries).unwrap().file_name(), entry);

    // The running version is untouched.
    let after = snapshot(&device.esp());
    assert_eq!(running_part(&after), running_part(&before));
    assert!(
        !after.keys().any(|p| p.ends_with(".tmp")),
        "{:?}",
        after.keys()
    );

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
fn a_downgrade_the_loader_would_never_try_is_refused_even_when_asked_for() {
    let device = Device::new();
    let bytes = bundle::make(BOARD, "2.0.0", 5, &device.key, &Payloads::new(4));
    let before = snapshot(&device.esp());
    let request = UpdateRequest {
        allow_downgrade: true,
        length: None,
    };
    let (last, events) = run_with(&device, &system_disk(&device), &bytes, request);
    match &last {
        WriterEvent::Refused { problem, error } => {
            assert_eq!(*problem, Problem::Policy);
            assert!(error.contains("highest build"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    // Verified, then refused on the ESP's plan: still nothing written.
    assert!(
        matches!(events[..], [WriterEvent::Verified { .. }]),
        "{events:?}"
    );
    assert_eq!(snapshot(&device.esp()), before);
    assert_eq!(
        device.bank("b"),
        vec![0xee; common::device::BANK_SIZE as usize]
    );
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
        assert_nothing_new(&device, &before);
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
    assert_nothing_new(&device, &before);
}

/// A directory ESP that says it is nearly full.
struct Full(SystemDisk);

impl Disk for Full {
    fn open_bank(&self, bank: Bank) -> std::io::Result<fs::File> {
        self.0.open_bank(bank)
    }
    fn mount_esp(&self) -> std::io::Result<std::path::PathBuf> {
        self.0.mount_esp()
    }
    fn unmount_esp(&self) -> std::io::Result<()> {
        self.0.unmount_esp()
    }
    fn esp_space(&self, _root: &Path) -> std::io::Result<Space> {
        Ok(Space {
            free: 4096,
            block: 4096,
        })
    }
}

#[test]
fn not_enough_room_on_the_esp_is_refused_before_anything_is_written() {
    let device = Device::new();
    let bytes = bundle::make(BOARD, "2.0.0", 8, &device.key, &Payloads::new(7));
    let before = snapshot(&device.esp());
    let request = UpdateRequest {
        allow_downgrade: false,
        length: Some(bytes.len() as u64),
    };
    let disk = Full(system_disk(&device));
    let (last, _) = run_with(&device, &disk, &bytes, request);
    match last {
        WriterEvent::Refused { problem, error } => {
            assert_eq!(problem, Problem::Space);
            assert!(error.contains("not enough room"), "{error}");
        }
        other => panic!("{other:?}"),
    }
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
    assert_nothing_new(&device, &before);

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
    assert_nothing_new(&device, &before);
}

#[test]
fn start_up_removes_what_an_interrupted_update_left() {
    let device = Device::new();
    let esp = device.esp();
    let before = snapshot(&esp);
    fs::write(
        esp.join("loader/entries/cairn-0000000009-3.0.0+3-0.conf.tmp"),
        b"linux /x\n",
    )
    .unwrap();
    fs::create_dir_all(esp.join("cairn/0000000009-3.0.0")).unwrap();
    fs::write(esp.join("cairn/0000000009-3.0.0/linux.tmp"), b"half").unwrap();
    fs::write(esp.join("cairn/0000000009-3.0.0/linux"), b"whole").unwrap();
    fs::write(esp.join("cairn/0000000007-1.0.0/initrd.tmp"), b"half").unwrap();
    // Not the writer's: left alone.
    fs::write(esp.join("loader/entries/other.conf.tmp"), b"x").unwrap();

    let writer = writer::Writer::new(
        device.config.clone(),
        Box::new(SystemDisk::new(
            device.config.writer().unwrap().banks.clone(),
            EspAccess::Dir(esp.clone()),
        )),
        Callers::standard(),
    )
    .unwrap();
    let removed = writer.clean_up().unwrap();
    assert_eq!(removed.dirs, ["cairn/0000000009-3.0.0"]);
    assert_eq!(removed.files.len(), 2, "{removed:?}");

    let mut expected = before;
    expected.insert("loader/entries/other.conf.tmp".into(), b"x".to_vec());
    assert_eq!(snapshot(&esp), expected);
}
