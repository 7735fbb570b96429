//! What a new volume holds: directories and files, each file with its data
//! and, if asked, a reserved size and a sector of its own for its directory
//! entries. Only collected here; [`crate::format()`] checks and lays it out.

/// The directories and files of a volume to format. Parent directories of
/// a file need not be listed.
#[derive(Debug, Default, Clone)]
pub struct Contents<'a> {
    pub(crate) dirs: Vec<String>,
    pub(crate) files: Vec<FileSpec<'a>>,
}

impl<'a> Contents<'a> {
    /// Nothing yet.
    pub fn new() -> Self {
        Contents::default()
    }

    /// A directory (and its parents), `/`-separated from the root.
    pub fn dir(&mut self, path: &str) -> &mut Self {
        self.dirs.push(path.to_string());
        self
    }

    /// A file holding `data`, nothing more.
    pub fn file(&mut self, path: &str, data: &'a [u8]) -> &mut Self {
        self.add(FileSpec::new(path, data))
    }

    /// A file described by `spec`.
    pub fn add(&mut self, spec: FileSpec<'a>) -> &mut Self {
        self.files.push(spec);
        self
    }
}

/// One file of a volume to format.
#[derive(Debug, Clone)]
pub struct FileSpec<'a> {
    pub(crate) path: String,
    pub(crate) data: &'a [u8],
    pub(crate) reserve: Option<u64>,
    pub(crate) alone_in_sector: bool,
}

impl<'a> FileSpec<'a> {
    /// A file at `path` (`/`-separated from the root) holding `data`.
    pub fn new(path: &str, data: &'a [u8]) -> Self {
        FileSpec {
            path: path.to_string(),
            data,
            reserve: None,
            alone_in_sector: false,
        }
    }

    /// Preallocates: the file is `size` bytes, its data followed by zeros,
    /// so that later [`crate::Volume::overwrite`]s can write up to that much
    /// without allocating. `size` must be at least the data's length.
    pub fn reserve(mut self, size: u64) -> Self {
        self.reserve = Some(size);
        self
    }

    /// Places the file's directory entries (LFN slots and 8.3 slot) alone in
    /// a 512-byte sector of its directory, the rest of it free slots, so a
    /// later [`crate::Volume::rename`] to any name of up to 195 characters
    /// is one sector write.
    pub fn alone_in_sector(mut self) -> Self {
        self.alone_in_sector = true;
        self
    }
}
