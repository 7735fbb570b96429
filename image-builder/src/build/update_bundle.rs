//! `update.cairn` beside `disk.img`: the bank, the kernel and the initramfs
//! of this build, signed with the project's update key (with both keys
//! during a key rotation), for `cairn deploy`.
//! The same image gives the same bundle: Ed25519 signatures are
//! deterministic and the layout has one valid form.

use std::fs::File;
use std::io::{BufWriter, Cursor, Write};
use std::path::{Path, PathBuf};

use cairn_update::{BundleInfo, BundleWriter, PayloadName, SigningKey};

use super::BuildError;

/// The bundle's file name in the output directory.
pub const FILE_NAME: &str = "update.cairn";

/// What goes into the bundle.
#[derive(Debug)]
pub struct Contents<'a> {
    pub info: BundleInfo,
    pub squashfs: &'a Path,
    pub kernel: &'a Path,
    pub initrd: &'a [u8],
}

/// Writes the bundle into `work` and moves it to `out_dir`.
pub fn write(
    contents: Contents<'_>,
    keys: &[SigningKey],
    work: &Path,
    out_dir: &Path,
) -> Result<PathBuf, BuildError> {
    let open = |path: &Path| {
        File::open(path).map_err(BuildError::io(format!("cannot open {}", path.display())))
    };
    let partial = work.join(FILE_NAME);
    let file = File::create(&partial).map_err(BuildError::io(format!(
        "cannot create {}",
        partial.display()
    )))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut writer = BundleWriter::new(contents.info)
        .payload(PayloadName::Bank, open(contents.squashfs)?)
        .payload(PayloadName::Linux, open(contents.kernel)?)
        .payload(PayloadName::Initrd, Cursor::new(contents.initrd));
    for key in keys {
        writer = writer.signed_by(key);
    }
    writer
        .write_to(&mut out)
        .map_err(|e| BuildError::Invalid(format!("cannot write the update bundle: {e}")))?;
    out.flush().map_err(BuildError::io(format!(
        "cannot write {}",
        partial.display()
    )))?;
    let bundle = out_dir.join(FILE_NAME);
    std::fs::rename(&partial, &bundle).map_err(BuildError::io(format!(
        "cannot move {FILE_NAME} into {}",
        out_dir.display()
    )))?;
    Ok(bundle)
}
