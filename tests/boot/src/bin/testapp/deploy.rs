//! `deploy-probe TAG SECRET`: what an app sees across updates. Counts its
//! starts in `$STATE_DIR/starts` (state kept across versions), and tells
//! whether the secret file `SECRET` is there, with its mode, owner, length
//! and a checksum, never its bytes. Then stays up until SIGTERM.

use std::os::unix::fs::MetadataExt;
use std::process::ExitCode;

use super::{say, wait_for_sigterm};

/// 64-bit FNV-1a: enough to tell two values apart in a test.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

pub fn deploy_probe(tag: &str, secret: &str) -> Result<ExitCode, String> {
    let state = std::env::var("STATE_DIR").map_err(|_| "no STATE_DIR".to_string())?;
    let file = std::path::Path::new(&state).join("starts");
    let starts = std::fs::read_to_string(&file)
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
        .unwrap_or(0)
        + 1;
    std::fs::write(&file, format!("{starts}\n")).map_err(|e| format!("cannot count: {e}"))?;
    let seen = match (std::fs::metadata(secret), std::fs::read(secret)) {
        (Ok(meta), Ok(bytes)) => format!(
            "present mode={:o} uid={} len={} fnv={:016x}",
            meta.mode() & 0o7777,
            meta.uid(),
            bytes.len(),
            fnv(&bytes)
        ),
        (Err(e), _) | (_, Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            "absent".to_string()
        }
        (Err(e), _) | (_, Err(e)) => format!("unreadable ({:?})", e.kind()),
    };
    say(&format!(
        "testapp: deploy-probe tag={tag} starts={starts} secret={seen}"
    ));
    wait_for_sigterm()
}

#[cfg(test)]
mod tests {
    #[test]
    fn fnv_tells_values_apart() {
        assert_ne!(super::fnv(b"a"), super::fnv(b"b"));
        assert_eq!(super::fnv(b""), 0xcbf2_9ce4_8422_2325);
    }
}
