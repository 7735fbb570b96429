//! `cairn build`: turns a manifest and a board into a reproducible GPT disk image.
//!
//! The layout written here is the contract with PID 1 described in
//! `docs/architecture.md`. Every step is a small module; this file only
//! orders them and records what went in.

use std::path::{Path, PathBuf};
use std::time::Instant;

use cairn_layout::partition;

use crate::board::Board;
use crate::keys::{BuildNumber, DeviceIdentity, ProjectKeys};

mod apt;
mod bank;
mod bootloader;
mod bundle;
mod cache;
pub mod cpio;
mod data;
mod debugfs;
mod deploy_files;
mod disk;
mod elf;
mod error;
mod esp;
mod fsutil;
mod hash;
mod host;
mod identity;
mod initramfs;
mod inventory;
mod kernel;
mod logging_ca;
mod manifest_check;
mod modules;
mod paths;
mod progress;
mod record;
mod update_bundle;
mod version;

pub use error::BuildError;

use bootloader::Bootloader;
use hash::{sha256_file, sha256_hex, Guid};
use inventory::{BankInventory, FileRecord};
use kernel::Kernel;
use modules::ModuleFile;
use progress::Progress;

/// What `cairn build` needs to know.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The `system.toml` to build.
    pub manifest: PathBuf,
    /// Where `disk.img`, `inventory.json`, `system.toml` and `board.toml` go.
    pub out_dir: PathBuf,
    /// The board config; `None` means the workspace's default board.
    pub board: Option<PathBuf>,
    /// The PID 1 binary; `None` means `CAIRN_INIT`, then `cairn-init` beside this executable.
    pub init_binary: Option<PathBuf>,
    /// The in-image services' binary; `None` means `CAIRN_CONTROL`, then
    /// `cairn-control` beside this executable.
    pub control_binary: Option<PathBuf>,
    /// The project's keys; `None` means `.cairn/` beside the manifest, made
    /// there by the first build.
    pub keys_dir: Option<PathBuf>,
    /// The build number; `None` means the one `.cairn/builds` gives the
    /// content (its own if built before, else the next).
    pub build_number: Option<u64>,
    /// Download and unpack cache; `None` means `CAIRN_CACHE`, then the XDG cache dir.
    pub cache_dir: Option<PathBuf>,
    /// Show progress spinners (only when stderr is a terminal; otherwise one line per step).
    pub progress: bool,
}

/// What a successful build produced.
#[derive(Debug, Clone)]
pub struct BuildOutput {
    pub disk_image: PathBuf,
    pub inventory: PathBuf,
    /// `update.cairn`, the signed update bundle of this build.
    pub bundle: PathBuf,
    /// The content version (12 hex digits).
    pub version: String,
    pub build: u64,
    /// The boot entry's file name as built (with its `+3-0` counter).
    pub entry: String,
    pub board: Board,
    /// The project's key directory, and whether this build made it.
    pub keys_dir: PathBuf,
    pub keys_made: bool,
}

/// Builds the image described by `opts`.
pub fn build(opts: &BuildOptions) -> Result<BuildOutput, BuildError> {
    let progress = Progress::new(opts.progress);
    let work = opts.out_dir.join(".work");
    let result = build_in(opts, &work, &progress);
    // The scratch tree is only useful while building; drop it either way.
    let _ = std::fs::remove_dir_all(&work);
    result
}

/// Resolves a board config: an explicit path as given (relative to the
/// current directory); with `None`, `board-configs/qemu-x86_64.toml` relative
/// to the current directory, else relative to the workspace this executable
/// was built in.
pub fn find_workspace_board(name_or_path: Option<&Path>) -> Result<PathBuf, BuildError> {
    paths::find_board(name_or_path)
}

/// Stages every app's and job's tree at `<stage>/apps/<name>` and
/// `<stage>/jobs/<name>` exactly as bank A holds them (bundles, collected
/// runtimes of dynamic programs, shipped paths, mount points): what
/// `cairn dev` runs apps from.
pub fn stage_trees(
    stage: &Path,
    manifest: &cairn_manifest::Manifest,
    manifest_path: &Path,
) -> Result<(), BuildError> {
    bank::stage(stage, manifest, manifest_path).map(drop)
}

/// Writes a device identity into the ext4 at `target` (a file, or
/// `FILE?offset=BYTES` for a partition of a disk image): what
/// `cairn provision` does to a built image. `found` says which of the
/// identity's files (and its directory) are there to be replaced.
pub fn install_identity(
    target: &str,
    identity: &DeviceIdentity,
    scratch: &Path,
    found: IdentityFound,
) -> Result<(), BuildError> {
    let clock = source_date_epoch()?.max(1).to_string();
    identity::install(target, identity, scratch, &clock, found)
}

pub use update_bundle::FILE_NAME as BUNDLE_FILE;

pub use identity::{dir as identity_dir, Found as IdentityFound, CERT_NAME, KEY_NAME};

/// Partition sizes in bytes, from the board's `[disk]`.
#[derive(Debug, Clone, Copy)]
struct DiskSizes {
    esp: u64,
    bank: u64,
    data: u64,
    /// Each bank's kernel and initramfs slot on the ESP.
    slots: esp::Slots,
}

impl DiskSizes {
    fn from_board(board: &Board, board_path: &Path) -> Result<DiskSizes, BuildError> {
        let parse = |key: &str, text: &str| {
            cairn_manifest::parse_size(text).map_err(|e| {
                BuildError::Invalid(format!("{}: [disk] {key}: {e}", board_path.display()))
            })
        };
        let sizes = DiskSizes {
            esp: parse("esp_size", &board.disk.esp_size)?,
            bank: parse("bank_size", &board.disk.bank_size)?,
            data: parse("data_size", &board.disk.data_size)?,
            slots: esp::Slots {
                kernel: parse("kernel_slot", &board.disk.kernel_slot)?,
                initrd: parse("initrd_slot", &board.disk.initrd_slot)?,
            },
        };
        if sizes.esp < 34 << 20 {
            return Err(BuildError::Invalid(format!(
                "{}: [disk] esp_size must be at least 34MiB for FAT32",
                board_path.display()
            )));
        }
        if sizes.data < 8 << 20 {
            return Err(BuildError::Invalid(format!(
                "{}: [disk] data_size must be at least 8MiB",
                board_path.display()
            )));
        }
        Ok(sizes)
    }
}

/// `SOURCE_DATE_EPOCH` when set, else 0: the one timestamp every file gets.
fn source_date_epoch() -> Result<u64, BuildError> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) if !text.trim().is_empty() => text.trim().parse().map_err(|_| {
            BuildError::Invalid(format!(
                "SOURCE_DATE_EPOCH must be seconds since 1970, not `{text}`"
            ))
        }),
        _ => Ok(0),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, BuildError> {
    std::fs::read(path).map_err(BuildError::io(format!("cannot read {}", path.display())))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    std::fs::write(path, bytes).map_err(BuildError::io(format!("cannot write {}", path.display())))
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20))
}

/// The inputs, read and checked before anything slow happens.
struct Inputs {
    manifest: cairn_manifest::Manifest,
    /// The CA file of each `syslog+tls` remote.
    cas: Vec<logging_ca::CaFile>,
    manifest_bytes: Vec<u8>,
    board: Board,
    board_path: PathBuf,
    board_bytes: Vec<u8>,
    sizes: DiskSizes,
    init: PathBuf,
    control: PathBuf,
    keys: ProjectKeys,
    cache_root: PathBuf,
    epoch: u64,
}

fn inputs(opts: &BuildOptions) -> Result<Inputs, BuildError> {
    let (manifest, cas) = manifest_check::load(&opts.manifest)?;
    let manifest_bytes = read(&opts.manifest)?;
    let board_path = find_workspace_board(opts.board.as_deref())?;
    let board_bytes = read(&board_path)?;
    let board = Board::parse(&String::from_utf8_lossy(&board_bytes), &board_path)?;
    let sizes = DiskSizes::from_board(&board, &board_path)?;
    Ok(Inputs {
        manifest,
        cas,
        manifest_bytes,
        sizes,
        init: paths::find_init(opts.init_binary.as_deref())?,
        control: paths::find_control(opts.control_binary.as_deref())?,
        keys: match &opts.keys_dir {
            Some(dir) => ProjectKeys::at(dir),
            None => ProjectKeys::beside(&opts.manifest),
        },
        cache_root: cache::cache_dir(opts.cache_dir.as_deref())?,
        epoch: source_date_epoch()?,
        board,
        board_path,
        board_bytes,
    })
}

/// What boots: kernel, bootloader, and the initramfs with PID 1 and modules.
struct BootParts {
    kernel: Kernel,
    bootloader: Bootloader,
    bootloader_sha256: String,
    modules: Vec<ModuleFile>,
    initrd: Vec<u8>,
    initrd_sha256: String,
}

fn boot_parts(inputs: &Inputs, progress: &Progress) -> Result<BootParts, BuildError> {
    let kernel = kernel::prepare(
        &inputs.board,
        &inputs.board_path,
        &inputs.cache_root,
        progress,
    )?;
    let bootloader = bootloader::prepare(&inputs.cache_root, progress)?;
    let modules = match &kernel.modules_dir {
        Some(dir) => modules::resolve(
            &modules::ModuleIndex::scan(dir)?,
            &inputs.board.kernel.modules,
        )?,
        // A kernel built from source has everything built in.
        None => Vec::new(),
    };
    let step = progress.step("building the initramfs");
    let initrd = initramfs::gzip(&initramfs::archive(&initramfs::Contents {
        init: &inputs.init,
        kernel_release: &kernel.release,
        modules: &modules,
        board_toml: &inputs.board_bytes,
        mtime: u32::try_from(inputs.epoch).unwrap_or(u32::MAX),
    })?)?;
    step.done(&format!(
        "{} modules, {}",
        modules.len(),
        mib(initrd.len() as u64)
    ));
    Ok(BootParts {
        bootloader_sha256: sha256_file(&bootloader.efi)?,
        initrd_sha256: sha256_hex(&initrd),
        kernel,
        bootloader,
        modules,
        initrd,
    })
}

/// Bank A, squashed, and the version derived from it.
struct BankA {
    /// The full hash the version is cut from.
    content: String,
    version: String,
    build: BuildNumber,
    files: Vec<FileRecord>,
    squashfs: PathBuf,
    squashfs_size: u64,
}

fn bank_a(
    inputs: &Inputs,
    boot: &BootParts,
    opts: &BuildOptions,
    work: &Path,
    progress: &Progress,
) -> Result<BankA, BuildError> {
    let step = progress.step("staging bank a");
    let stage = work.join("bank-a");
    bank::stage(&stage, &inputs.manifest, &opts.manifest)?;
    logging_ca::stage(&stage, &inputs.cas)?;
    deploy_files::stage(&stage, &inputs.keys, &inputs.control, &inputs.board.name)?;
    manifest_check::check_exec(&inputs.manifest, &stage)?;
    let records = inventory::list_tree(&stage)?;
    let kernel_sha256 = &boot.kernel.vmlinuz_sha256;
    // The content version leaves the build number out: it is what the
    // number is looked up by.
    let content = version::content_hash(&records, kernel_sha256, &boot.initrd_sha256);
    let version = version::version(&content);
    let build = inputs
        .keys
        .builds()
        .number_for(&version, opts.build_number)?;
    deploy_files::seal(&stage, build.build)?;
    let bank_json = inventory::to_json(&BankInventory {
        version: &version,
        build: build.build,
        bank: "a",
        kernel_sha256,
        initramfs_sha256: &boot.initrd_sha256,
        files: &records,
    })?;
    bank::seal(&stage, &version, &bank_json)?;
    let files = inventory::list_tree(&stage)?;
    step.done(&format!(
        "version {version}, build {}, {} entries",
        build.build,
        files.len()
    ));

    let step = progress.step("squashing bank a");
    let squashfs = work.join(format!("{}.squashfs", partition::BANK_A));
    let squashfs_size = bank::squash(&stage, &squashfs, inputs.sizes.bank, inputs.epoch)?;
    step.done(&mib(squashfs_size));
    Ok(BankA {
        content,
        version,
        build,
        files,
        squashfs,
        squashfs_size,
    })
}

/// The ESP, the data partition and the disk around them.
struct Assembled {
    entry: cairn_update::entries::EntryName,
    layout: disk::Layout,
    esp_files: Vec<FileRecord>,
    data_uuid: Guid,
    disk_image: PathBuf,
}

fn assemble(
    inputs: &Inputs,
    boot: &BootParts,
    bank: &BankA,
    out_dir: &Path,
    work: &Path,
    progress: &Progress,
) -> Result<Assembled, BuildError> {
    // Everything random-looking on the disk derives from this seed.
    let seed = sha256_hex(
        format!(
            "{}\0{}\0{}",
            bank.content, boot.bootloader_sha256, bank.build.build
        )
        .as_bytes(),
    );
    let entry = esp::entry_name(bank.build.build, &bank.version)?;

    let step = progress.step("writing the ESP");
    let esp_image = work.join("esp.img");
    let volume_id = Guid::derive(&seed, "esp-volume-id").0;
    let volume_id = u32::from_be_bytes([volume_id[0], volume_id[1], volume_id[2], volume_id[3]]);
    let bootloader = read(&boot.bootloader.efi)?;
    let kernel = read(&boot.kernel.vmlinuz)?;
    let esp_inputs = esp::EspInputs {
        entry: &entry,
        bootloader: &bootloader,
        kernel: &kernel,
        initrd: &boot.initrd,
        board_cmdline: &inputs.board.kernel.cmdline,
        slots: inputs.sizes.slots,
    };
    esp::check_sizes(&esp_inputs, inputs.sizes.esp, &inputs.board_path)?;
    let esp_files = esp::build(
        &esp_image,
        inputs.sizes.esp,
        volume_id,
        inputs.epoch,
        &esp_inputs,
    )?;
    step.done("");

    let step = progress.step("making the ext4 data partition");
    let data_image = work.join("data.img");
    let data_uuid = Guid::derive(&seed, "cairn-data-fs");
    let hostname = &inputs.manifest.system.hostname;
    let (identity, made) = inputs.keys.device_identity(hostname)?;
    data::build(
        &data_image,
        inputs.sizes.data,
        data_uuid,
        inputs.epoch,
        &identity,
        work,
    )?;
    step.done(&format!(
        "identity of {hostname} {}",
        if made { "made now" } else { "as made before" }
    ));

    let step = progress.step("assembling disk.img");
    let linux_fs = Guid::parse(disk::LINUX_FS_TYPE).unwrap_or(Guid([0; 16]));
    let esp_type = Guid::parse(disk::ESP_TYPE).unwrap_or(Guid([0; 16]));
    let spec =
        |name: &str, type_guid: Guid, size: u64, image: Option<PathBuf>| disk::PartitionSpec {
            name: name.to_string(),
            type_guid,
            unique_guid: Guid::derive(&seed, name),
            size,
            image,
        };
    let sizes = inputs.sizes;
    let layout = disk::Layout::new(
        Guid::derive(&seed, "disk"),
        vec![
            spec(partition::ESP, esp_type, sizes.esp, Some(esp_image)),
            spec(
                partition::BANK_A,
                linux_fs,
                sizes.bank,
                Some(bank.squashfs.clone()),
            ),
            spec(partition::BANK_B, linux_fs, sizes.bank, None),
            spec(partition::DATA, linux_fs, sizes.data, Some(data_image)),
        ],
    );
    // Written aside and renamed, so disk.img is never half an image.
    let partial = work.join("disk.img");
    disk::write(&partial, &layout)?;
    let disk_image = out_dir.join("disk.img");
    std::fs::rename(&partial, &disk_image).map_err(BuildError::io(format!(
        "cannot move disk.img into {}",
        out_dir.display()
    )))?;
    step.done(&mib(layout.size_bytes()));
    Ok(Assembled {
        entry,
        layout,
        esp_files,
        data_uuid,
        disk_image,
    })
}

fn build_in(
    opts: &BuildOptions,
    work: &Path,
    progress: &Progress,
) -> Result<BuildOutput, BuildError> {
    let started = Instant::now();
    let inputs = inputs(opts)?;
    if work.exists() {
        std::fs::remove_dir_all(work)
            .map_err(BuildError::io(format!("cannot clear {}", work.display())))?;
    }
    fsutil::make_dirs(work)?;

    let keys_made = inputs.keys.ensure()?;
    if keys_made {
        progress.summary(&format!(
            "made the project's keys in {} (update signing key, CA, admin identity); \
             keep its *.key files private and backed up: devices trust only these",
            inputs.keys.dir().display()
        ));
    }

    let boot = boot_parts(&inputs, progress)?;
    let bank = bank_a(&inputs, &boot, opts, work, progress)?;
    let assembled = assemble(&inputs, &boot, &bank, &opts.out_dir, work, progress)?;

    let step = progress.step("signing update.cairn");
    let bundle = update_bundle::write(
        update_bundle::Contents {
            info: cairn_update::BundleInfo {
                board: inputs.board.name.clone(),
                version: bank.version.clone(),
                build: bank.build.build,
                kernel_options: inputs.board.kernel.cmdline.trim().to_owned(),
                verity_root_hash: None,
            },
            squashfs: &bank.squashfs,
            kernel: &boot.kernel.vmlinuz,
            initrd: &boot.initrd,
        },
        &inputs.keys.signing_keys()?,
        work,
        &opts.out_dir,
    )?;
    step.done("");

    let inventory = record::inventory(&inputs, &boot, &bank, &assembled)?;
    let inventory_path = opts.out_dir.join("inventory.json");
    write(&inventory_path, &inventory::to_json(&inventory)?)?;
    write(&opts.out_dir.join("system.toml"), &inputs.manifest_bytes)?;
    write(&opts.out_dir.join("board.toml"), &inputs.board_bytes)?;
    record::summary(progress, &inventory, &assembled, started.elapsed());
    progress.summary(&format!(
        "entry {}, bundle {}",
        assembled.entry.file_name(),
        bundle.display()
    ));
    if !bank.build.new && bank.build.build < bank.build.highest {
        progress.summary(&format!(
            "version {} keeps its build {} from an earlier build; a device running a later \
             build (up to {}) refuses it as older: roll back with `cairn rollback`, or give \
             it a new number with --build {}",
            bank.version,
            bank.build.build,
            bank.build.highest,
            bank.build.highest + 1
        ));
    }
    for ca in inputs.cas.iter().filter(|ca| ca.host_bundle) {
        progress.summary(&format!(
            "logging.remote[{}] (no `ca`) trusts the CA bundle of this host, {}, now in the image",
            ca.index,
            ca.source.display()
        ));
    }

    Ok(BuildOutput {
        disk_image: assembled.disk_image,
        inventory: inventory_path,
        bundle,
        version: bank.version,
        build: bank.build.build,
        entry: assembled.entry.file_name(),
        board: inputs.board,
        keys_dir: inputs.keys.dir().to_path_buf(),
        keys_made,
    })
}
