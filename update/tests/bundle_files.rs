//! The whole path through the public API, with files as the host tool and
//! the device use them: keys on disk, payload files in, bundle file out,
//! a keyring directory, and payloads streamed into target files.

use std::fs::{self, File};
use std::io::{BufReader, Write};

use cairn_update::entries::{render_entry, Bank, EntryName, DEFAULT_TRIES};
use cairn_update::{
    check_policy, write_key_pair, Bundle, BundleInfo, BundleWriter, Keyring, PayloadName,
    PayloadStream, Running,
};

#[test]
fn make_a_bundle_from_files_and_install_it_into_files() {
    let host = tempfile::tempdir().unwrap();
    let device = tempfile::tempdir().unwrap();

    // Host: a release key, three payload files, the bundle.
    let key = write_key_pair(host.path(), "release").unwrap();
    let contents = [
        (PayloadName::Bank, vec![0x11u8; 9000]),
        (PayloadName::Linux, vec![0x22u8; 5000]),
        (PayloadName::Initrd, vec![0x33u8; 70]),
    ];
    let mut writer = BundleWriter::new(BundleInfo {
        board: "qemu-x86_64".into(),
        version: "2.0.0".into(),
        build: 7,
        kernel_options: "console=ttyS0".into(),
        verity_root_hash: None,
    });
    for (name, data) in &contents {
        let path = host.path().join(name.as_str());
        fs::write(&path, data).unwrap();
        writer = writer.payload(*name, File::open(&path).unwrap());
    }
    let bundle_path = host.path().join("update.cairn");
    let mut out = File::create(&bundle_path).unwrap();
    writer.signed_by(&key).write_to(&mut out).unwrap();
    out.flush().unwrap();

    // The host tool checks what it made.
    let trusted = Keyring::load_dir(host.path()).unwrap();
    let checked =
        Bundle::verify(BufReader::new(File::open(&bundle_path).unwrap()), &trusted).unwrap();
    assert_eq!(checked.signed_by(), [key.key_id()]);

    // Device: its keyring directory holds the public key only.
    let keys_dir = device.path().join("keys");
    fs::create_dir(&keys_dir).unwrap();
    fs::copy(
        host.path().join("release.pub"),
        keys_dir.join("release.pub"),
    )
    .unwrap();
    let trusted = Keyring::load_dir(&keys_dir).unwrap();

    let mut body = File::open(&bundle_path).unwrap();
    let verified = Bundle::read_header(&mut body, &trusted).unwrap();
    verified
        .check_len(fs::metadata(&bundle_path).unwrap().len())
        .unwrap();
    let running = Running {
        board: "qemu-x86_64",
        build: 6,
    };
    check_policy(verified.manifest(), &running, false).unwrap();

    let manifest = verified.manifest().clone();
    let entry = EntryName::new(manifest.build, &manifest.version, DEFAULT_TRIES).unwrap();
    let mut stream = PayloadStream::new(&verified, &mut body);
    while let Some(payload) = stream.next_payload() {
        let mut target = File::create(device.path().join(payload.name.as_str())).unwrap();
        stream.copy_next(&mut target).unwrap();
        target.sync_all().unwrap();
    }
    stream.finish().unwrap();
    for (name, data) in &contents {
        assert_eq!(&fs::read(device.path().join(name.as_str())).unwrap(), data);
    }

    // Only then the entry, naming what was written.
    let text = render_entry(&entry, Bank::B, 1, &manifest.kernel_options).unwrap();
    assert_eq!(entry.file_name(), "cairn-0000000007-2.0.0+3-0.conf");
    assert!(
        text.contains(&format!("linux      /{}\n", cairn_layout::esp::kernel('b'))),
        "{text}"
    );
    let options = cairn_layout::cmdline::entry_options('b', "2.0.0");
    assert!(text.contains(&format!("{options} console=ttyS0")), "{text}");
}
