//! Crash reports: the exit status and last stderr lines of an instance that
//! died on a signal or with a non-zero exit.
//!
//! The report goes to the console as a block (a `cairn: ` header, then the
//! lines indented by four spaces) and, when the data partition is mounted,
//! to `/data/cairn/crashes/<app>.<instance>.<unix-time>.txt` (a second
//! report in the same second gets `.<n>` before `.txt`), where later tools
//! find it. At most [`KEEP_PER_APP`] reports are kept per app; the
//! oldest go first.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use cairn_sys::process::ExitStatus;

use super::Sink;

/// How many reports are kept per app.
pub const KEEP_PER_APP: usize = 20;

/// One crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrashReport {
    pub app: String,
    pub instance: u32,
    /// `web` or `web.1`, as on the console.
    pub label: String,
    pub status: ExitStatus,
    /// The limit that had a hand in it (`out of memory (memory = 32 MiB),
    /// oom-killed 2 processes`), if any.
    pub cause: Option<String>,
    /// Seconds since the epoch.
    pub unix_time: u64,
    pub stderr: Vec<String>,
}

impl CrashReport {
    /// The console block, line by line, without the `cairn: ` of the first.
    pub fn console_lines(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(self.stderr.len() + 1);
        if self.stderr.is_empty() {
            out.push(format!(
                "app {} crashed ({}); no stderr output",
                self.label, self.status
            ));
        } else {
            out.push(format!(
                "app {} crashed ({}); last stderr lines:",
                self.label, self.status
            ));
            out.extend(self.stderr.iter().map(|l| format!("    {l}")));
        }
        out
    }

    /// Logs the block: its header as a message, its lines to the console.
    pub fn log(&self, sink: &mut dyn Sink) {
        let mut lines = self.console_lines().into_iter();
        if let Some(header) = lines.next() {
            tracing::info!("{header}");
        }
        for line in lines {
            sink.console(&line);
        }
    }

    /// The file name: `<app>.<instance>.<unix-time>.txt`.
    pub fn file_name(&self) -> String {
        format!("{}.{}.{}.txt", self.app, self.instance, self.unix_time)
    }

    /// The file's text.
    pub fn text(&self) -> String {
        let mut text = format!(
            "app: {}\ninstance: {}\nstatus: {}\n",
            self.app, self.instance, self.status
        );
        if let Some(cause) = &self.cause {
            text.push_str(&format!("cause: {cause}\n"));
        }
        text.push_str(&format!("time: {}\nlast stderr lines:\n", self.unix_time));
        for line in &self.stderr {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Writes the report into `dir` (created if needed) and removes the
    /// app's oldest reports beyond `keep`. Returns the file written.
    pub fn persist(&self, dir: &Path, keep: usize) -> io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let mut path = dir.join(self.file_name());
        let mut n = 1;
        while path.exists() && n < 1000 {
            path = dir.join(format!(
                "{}.{}.{}.{n}.txt",
                self.app, self.instance, self.unix_time
            ));
            n += 1;
        }
        cairn_sys::fs::write_atomically(&path, self.text().as_bytes())?;
        prune(dir, &self.app, keep)?;
        Ok(path)
    }
}

/// The age of a report file of `app`, from its name: time, then the number
/// of a second report in the same second, then the instance.
fn report_time(name: &str, app: &str) -> Option<(u64, u32, u32)> {
    let rest = name
        .strip_prefix(app)?
        .strip_prefix('.')?
        .strip_suffix(".txt")?;
    let mut parts = rest.split('.');
    let instance = parts.next()?.parse().ok()?;
    let time = parts.next()?.parse().ok()?;
    let n = match parts.next() {
        Some(n) => n.parse().ok()?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    Some((time, n, instance))
}

/// Removes `app`'s oldest reports in `dir` until `keep` are left.
fn prune(dir: &Path, app: &str, keep: usize) -> io::Result<()> {
    let mut reports: Vec<((u64, u32, u32), PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            report_time(&name, app).map(|key| (key, entry.path()))
        })
        .collect();
    if reports.len() <= keep {
        return Ok(());
    }
    reports.sort();
    let excess = reports.len() - keep;
    for (_, path) in reports.into_iter().take(excess) {
        std::fs::remove_file(path)?;
    }
    Ok(())
}

/// True when `path` is the root of a mounted filesystem (its device differs
/// from its parent's), so reports land on the data partition and never in
/// the initramfs's memory.
pub fn is_mount_point(path: &Path) -> bool {
    let parent = path.parent().unwrap_or(Path::new("/"));
    match (std::fs::metadata(path), std::fs::metadata(parent)) {
        (Ok(here), Ok(up)) => here.dev() != up.dev() || here.ino() == up.ino(),
        _ => false,
    }
}

/// Seconds since the epoch, now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(time: u64, lines: &[&str]) -> CrashReport {
        CrashReport {
            app: "web".into(),
            instance: 1,
            label: "web.1".into(),
            status: ExitStatus::Code(3),
            cause: None,
            unix_time: time,
            stderr: lines.iter().map(|l| l.to_string()).collect(),
        }
    }

    #[test]
    fn the_console_block_and_the_file_say_what_happened() {
        let r = report(1700000000, &["Traceback:", "  boom"]);
        assert_eq!(
            r.console_lines(),
            [
                "app web.1 crashed (status 3); last stderr lines:",
                "    Traceback:",
                "      boom"
            ]
        );
        assert_eq!(r.file_name(), "web.1.1700000000.txt");
        assert_eq!(
            r.text(),
            "app: web\ninstance: 1\nstatus: status 3\ntime: 1700000000\n\
             last stderr lines:\nTraceback:\n  boom\n"
        );
        let mut hog = report(1700000000, &[]);
        hog.status = ExitStatus::Signal(9);
        hog.cause = Some("out of memory (memory = 32 MiB), oom-killed 2 processes".into());
        assert_eq!(
            hog.text(),
            "app: web\ninstance: 1\nstatus: signal SIGKILL\n\
             cause: out of memory (memory = 32 MiB), oom-killed 2 processes\n\
             time: 1700000000\nlast stderr lines:\n"
        );
        let mut quiet = report(1, &[]);
        quiet.status = ExitStatus::Signal(11);
        assert_eq!(
            quiet.console_lines(),
            ["app web.1 crashed (signal SIGSEGV); no stderr output"]
        );
    }

    #[test]
    fn keeps_the_newest_reports_per_app() {
        let dir = tempfile::tempdir().unwrap();
        // Another app's report, and a file that is no report, stay.
        std::fs::write(dir.path().join("webby.0.1.txt"), "").unwrap();
        std::fs::write(dir.path().join("notes"), "").unwrap();
        for t in [105, 101, 109, 103, 107] {
            report(t, &["x"]).persist(dir.path(), 4).unwrap();
        }
        // A second crash in the same second gets a file of its own, and
        // counts as newer.
        let second = report(109, &["y"]).persist(dir.path(), 4).unwrap();
        assert!(second.ends_with("web.1.109.1.txt"), "{second:?}");
        report(100, &["z"]).persist(dir.path(), 4).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "notes",
                "web.1.105.txt",
                "web.1.107.txt",
                "web.1.109.1.txt",
                "web.1.109.txt",
                "webby.0.1.txt"
            ]
        );
        let text = std::fs::read_to_string(dir.path().join("web.1.109.txt")).unwrap();
        assert!(text.ends_with("last stderr lines:\nx\n"), "{text}");
    }

    #[test]
    fn tells_a_mount_point_from_a_plain_directory() {
        assert!(is_mount_point(Path::new("/")));
        assert!(is_mount_point(Path::new("/proc")));
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_mount_point(dir.path()));
        assert!(!is_mount_point(&dir.path().join("missing")));
    }
}
