//! `cairn-testapp writable-copy DIR FILE READONLY`: an app with writable
//! copies of a shipped directory DIR (holding `app.conf`) and a shipped
//! file FILE, and a read-only bundled directory READONLY.
//!
//! It prints one `testapp: fact K V` line per observation: what it finds
//! (the shipped content, or what an earlier start wrote), whether it can
//! write there and what it reads back, then `testapp: fact done`. It counts
//! its starts in `$STATE_DIR`: after an odd-numbered start it exits 0 (so an
//! app with `restart = "always"` is started again at once, and the next
//! start shows whether the copies began afresh); after an even-numbered
//! one it waits for SIGTERM.

use std::path::Path;
use std::process::ExitCode;

use super::{say, wait_for_sigterm};

fn fact(key: &str, value: &str) {
    say(&format!("testapp: fact {key} {value}"));
}

fn outcome(result: std::io::Result<()>) -> String {
    match result {
        Ok(()) => "ok".to_string(),
        Err(err) => format!("error:{}", err.raw_os_error().unwrap_or(0)),
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).map_or_else(|e| format!("error:{e}"), |t| t.trim().to_string())
}

/// This start's number, counted in `$STATE_DIR/starts`.
fn count_start() -> Result<u32, String> {
    let state = std::env::var("STATE_DIR").map_err(|_| "no STATE_DIR".to_string())?;
    let counter = Path::new(&state).join("starts");
    let count = std::fs::read_to_string(&counter)
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
        .unwrap_or(0)
        + 1;
    std::fs::write(&counter, count.to_string())
        .map_err(|e| format!("cannot write {}: {e}", counter.display()))?;
    Ok(count)
}

pub fn writable_copy(dir: &str, file: &str, readonly: &str) -> Result<ExitCode, String> {
    let count = count_start()?;
    let (dir, file) = (Path::new(dir), Path::new(file));
    let conf = dir.join("app.conf");
    let added = dir.join("added");
    fact("start", &count.to_string());
    fact("conf", &read(&conf));
    fact("earlier", &added.exists().to_string());
    fact("file", &read(file));
    let owner = std::os::unix::fs::MetadataExt::uid(
        &std::fs::metadata(dir).map_err(|e| format!("cannot stat {}: {e}", dir.display()))?,
    );
    fact("owner", &owner.to_string());
    fact("write_conf", &outcome(std::fs::write(&conf, "changed")));
    fact("write_added", &outcome(std::fs::write(&added, "x")));
    fact("conf_after", &read(&conf));
    fact("write_file", &outcome(std::fs::write(file, "changed")));
    fact("file_after", &read(file));
    let fixed = Path::new(readonly).join("app.conf");
    fact("write_readonly", &outcome(std::fs::write(fixed, "changed")));
    fact("done", "");
    if count % 2 == 1 {
        return Ok(ExitCode::SUCCESS);
    }
    wait_for_sigterm()
}
