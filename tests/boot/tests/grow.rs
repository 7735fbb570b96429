//! First boot grows the data partition to the end of the (larger) run disk.

use cairn_boot_tests::{serial, TestSystem, BOOT_TIMEOUT};

const MANIFEST: &str = r#"
version = 1

[apps.hello]
bundle = "bin/hello"
exec = ["/bin/hello"]
ports.http = 8080
"#;

/// The run disk's size from the default board ("1GiB").
const RUN_DISK_BYTES: u64 = 1 << 30;

#[test]
fn first_boot_grows_the_data_partition_to_the_end_of_the_disk() {
    let _serial = serial();
    let system = TestSystem::build("grow", MANIFEST);
    let mut vm = system.boot(&[]);
    let grown = vm.wait_for_regex(
        0,
        r"cairn: data partition grown from \d+ MiB to \d+ MiB \(disk 1024 MiB\)",
        BOOT_TIMEOUT,
    );
    vm.wait_for_after(
        grown.index,
        "cairn: data filesystem grown from",
        BOOT_TIMEOUT,
    );
    vm.wait_for_after(
        grown.index,
        "cairn: data partition mounted (boot #1)",
        BOOT_TIMEOUT,
    );
    vm.wait_for("cairn: all apps ready");
    vm.power_off();
    drop(vm);

    let disk = system.snapshot_disk();
    assert_eq!(disk.size, RUN_DISK_BYTES);
    let data = disk.partition("cairn-data").unwrap();
    let last_sector = disk.size / 512 - 1;
    // The backup GPT takes the last 33 sectors; allow for 1 MiB alignment.
    let usable_end = last_sector - 33;
    assert!(
        data.last_lba <= usable_end && usable_end - data.last_lba < 2048,
        "data partition ends at LBA {} but the disk's last usable LBA is {usable_end}",
        data.last_lba
    );
    assert!(
        disk.backup_header_at_end,
        "the backup GPT header was not moved to the end of the grown disk"
    );
    let esp = disk.partition("esp").unwrap();
    assert_eq!(esp.first_lba, 2048, "the ESP moved: {:?}", disk.partitions);
}
