//! The QEMU library on its own, with no image: firmware output is captured,
//! QMP answers, `quit` stops QEMU, and dropping the handle kills it.

use std::time::Duration;

use cairn_boot_tests::serial;
use cairn_image_builder::board::Board;
use cairn_image_builder::qemu::{prepare_run_disk, qmp_socket_path, Qemu, QemuOptions};

#[test]
fn firmware_console_is_captured_and_qmp_quit_stops_qemu() {
    let _serial = serial();
    let board = Board::load(&cairn_boot_tests::workspace::default_board()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A blank disk: the firmware finds nothing to boot and says so.
    let blank = dir.path().join("blank.img");
    std::fs::File::create(&blank)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    let run_dir = dir.path().join("run");
    let run = prepare_run_disk(&blank, &run_dir, "32MiB", &board.qemu.firmware_vars)
        .unwrap_or_else(|e| panic!("{e} (run scripts/test to install qemu and ovmf)"));

    let opts = QemuOptions::for_board(&board.qemu, &run, qmp_socket_path(&run_dir));
    let mut qemu = Qemu::start(&opts).unwrap_or_else(|e| panic!("{e}"));
    let line = qemu
        .wait_for_line("BdsDxe", Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{e}\n{}", qemu.log().unwrap().render()));
    assert!(line.contains("BdsDxe"));
    assert!(qemu.try_wait().unwrap().is_none());
    qemu.quit().unwrap();
    let status = qemu.wait_exit(Duration::from_secs(20)).unwrap();
    assert!(status.success(), "{status}");

    // A second machine is simply dropped: QEMU must not outlive the handle.
    let mut qemu = Qemu::start(&opts).unwrap_or_else(|e| panic!("{e}"));
    let pid = qemu.pid();
    assert!(qemu.try_wait().unwrap().is_none());
    drop(qemu);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "qemu {pid} survived its handle"
    );
}
