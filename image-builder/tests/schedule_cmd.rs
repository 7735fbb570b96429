//! `cairn schedule` as a user runs it: a manifest on disk, the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch directory under the target dir, unique per test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("schedule_cmd-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `system.toml` with the given jobs; bundles point at the manifest
/// itself, which exists.
fn manifest(dir: &Path, jobs: &str) -> PathBuf {
    let path = dir.join("system.toml");
    let text = format!("version = 1\n[system]\ntimezone = \"Europe/Berlin\"\n{jobs}");
    std::fs::write(&path, text).unwrap();
    path
}

fn cairn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const JOBS: &str = r#"
[jobs.backup]
schedule = "30 2 * * *"
bundle = "system.toml"
exec = ["/bin/backup"]

[jobs.hourly]
schedule = "@hourly"
timezone = "America/New_York"
bundle = "system.toml"
exec = ["/bin/tick"]

[jobs.warmup]
schedule = "@reboot"
bundle = "system.toml"
exec = ["/bin/warmup"]
"#;

#[test]
fn shows_the_next_fires_in_the_zone_and_in_utc() {
    let dir = scratch("gap");
    let path = manifest(&dir, JOBS);
    let out = cairn(&[
        "schedule",
        path.to_str().unwrap(),
        "--job",
        "backup",
        "--from",
        "2027-03-27T12:00:00Z",
        "--count",
        "3",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("job backup\n"), "{stdout}");
    assert!(stdout.contains("schedule  30 2 * * *"), "{stdout}");
    assert!(stdout.contains("zone      Europe/Berlin"), "{stdout}");
    // Berlin skips 02:00-03:00 on 2027-03-28: the 02:30 run happens at 03:00.
    assert!(stdout.contains("2027-03-28 03:00 +02:00 CEST"), "{stdout}");
    assert!(stdout.contains("2027-03-28 01:00 UTC"), "{stdout}");
    assert!(stdout.contains("02:30 does not exist"), "{stdout}");
    assert!(stdout.contains("2027-03-29 02:30 +02:00 CEST"), "{stdout}");
    let fire_lines = stdout
        .lines()
        .filter(|l| l.contains(" UTC") && l.starts_with("    "))
        .count();
    assert_eq!(fire_lines, 3, "{stdout}");
    assert!(
        !stdout.contains("job hourly"),
        "only the named job: {stdout}"
    );
}

#[test]
fn every_job_by_default_with_five_fires_and_reboot_in_words() {
    let dir = scratch("all");
    let path = manifest(&dir, JOBS);
    // A civil --from is read in each job's own zone.
    let out = cairn(&[
        "schedule",
        path.to_str().unwrap(),
        "--from",
        "2027-11-07T00:10",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for job in ["job backup", "job hourly", "job warmup"] {
        assert!(stdout.contains(job), "{stdout}");
    }
    assert!(stdout.contains("at every boot"), "{stdout}");
    // New York falls back on 2027-11-07: the hourly job runs in both 01:00s.
    assert!(stdout.contains("2027-11-07 01:00 -04:00 EDT"), "{stdout}");
    assert!(stdout.contains("2027-11-07 01:00 -05:00 EST"), "{stdout}");
    let hourly = stdout.split("job hourly").nth(1).unwrap();
    let hourly_fires = hourly
        .split("job warmup")
        .next()
        .unwrap()
        .lines()
        .filter(|l| l.contains(" UTC") && l.starts_with("    "))
        .count();
    assert_eq!(hourly_fires, 5, "{stdout}");
}

#[test]
fn errors_say_what_is_wrong_and_how_to_fix_it() {
    let dir = scratch("errors");
    let path = manifest(&dir, JOBS);
    let path = path.to_str().unwrap();

    let out = cairn(&["schedule", path, "--job", "bakup"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("has no job `bakup`; its jobs are: backup, hourly, warmup"),
        "{stderr}"
    );

    let out = cairn(&["schedule", path, "--from", "next tuesday"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("write RFC 3339"),
        "{}",
        text(&out.stderr)
    );

    let broken = manifest(
        &dir,
        "[jobs.x]\nschedule = \"0 0 30 2 *\"\nbundle = \"system.toml\"\nexec = [\"/bin/x\"]\n",
    );
    let out = cairn(&["schedule", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("never runs"), "{stderr}");
    assert!(stderr.contains("the manifest is not valid"), "{stderr}");
}
