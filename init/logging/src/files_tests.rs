use std::cell::Cell;

use super::*;
use crate::record::Stream;

thread_local! {
    static FREE: Cell<u64> = const { Cell::new(u64::MAX / 2) };
}

fn fake_free(_: &Path) -> io::Result<u64> {
    Ok(FREE.with(Cell::get))
}

fn sink(dir: &Path, max_size: u64, keep: u32) -> FileSink {
    let space = Space {
        reserve: 1000,
        headroom: 500,
    };
    FileSink::new(dir.to_path_buf(), max_size, keep, space).with_free_probe(fake_free)
}

fn record(source: &str, line: &str) -> Record {
    Record::new(source, 0, Stream::Stdout, line.to_string())
}

fn files_of(dir: &Path) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn rotation_keeps_keep_files_of_at_most_max_size() {
    let tmp = tempfile::tempdir().unwrap();
    let mut sink = sink(tmp.path(), 1000, 2);
    let now = Instant::now();
    let mut all = Vec::new();
    for i in 0..200 {
        let line = format!("line {i:04} {}", "x".repeat(i % 40));
        sink.add(&record("web", &line));
        all.push(line);
        if i % 7 == 0 {
            assert!(sink.flush(now).0.is_empty());
        }
    }
    assert!(sink.flush(now).0.is_empty());
    let files = files_of(&tmp.path().join("web"));
    assert_eq!(files.len(), 3, "{files:?}");
    assert_eq!(files.last().unwrap().0, CURRENT);
    for (name, size) in &files {
        assert!(*size <= 1000, "{name} has {size} bytes");
    }
    // The files, oldest first, hold the newest lines in order, whole.
    let mut text = String::new();
    for (name, _) in &files {
        text.push_str(&fs::read_to_string(tmp.path().join("web").join(name)).unwrap());
    }
    let kept: Vec<&str> = text
        .lines()
        .map(|l| l.splitn(4, ' ').nth(3).unwrap())
        .collect();
    assert!(kept.len() > 20);
    assert_eq!(kept, all[all.len() - kept.len()..].to_vec());
    assert!(text.lines().all(|l| l.contains(" web stdout line ")));
}

#[test]
fn sources_get_their_own_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let mut sink = sink(tmp.path(), 1 << 20, 5);
    sink.add(&record("web", "a"));
    sink.add(&record("db", "b"));
    sink.flush(Instant::now());
    let web = fs::read_to_string(tmp.path().join("web/current")).unwrap();
    let db = fs::read_to_string(tmp.path().join("db/current")).unwrap();
    assert!(web.ends_with(" web stdout a\n"), "{web}");
    assert!(db.ends_with(" db stdout b\n"), "{db}");
}

#[test]
fn the_plan_deletes_oldest_first_until_the_target() {
    let space = Space {
        reserve: 100,
        headroom: 50,
    };
    let rotated: Vec<(PathBuf, u64)> = (0..4)
        .map(|i| (PathBuf::from(format!("{i}")), 40))
        .collect();
    let (delete, after) = space.plan(200, &rotated);
    assert!(delete.is_empty());
    assert_eq!(after, 200);
    let (delete, after) = space.plan(80, &rotated);
    assert_eq!(delete, [Path::new("0"), Path::new("1")]);
    assert_eq!(after, 160);
    let (delete, after) = space.plan(0, &rotated);
    assert_eq!(delete.len(), 4);
    assert_eq!(after, 160);
    let (_, after) = space.plan(0, &rotated[..1]);
    assert!(after < space.reserve);
}

#[test]
fn a_nearly_full_partition_deletes_old_logs_then_pauses_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut sink = sink(tmp.path(), 200, 10);
    let t0 = Instant::now();
    for i in 0..40 {
        sink.add(&record("web", &format!("filler {i:03}")));
    }
    sink.flush(t0);
    let before = files_of(&tmp.path().join("web")).len();
    assert!(before >= 5, "{before}");

    // Below reserve + headroom: the oldest rotated files go, writing goes on.
    FREE.with(|f| f.set(1200));
    sink.add(&record("web", "still written"));
    let notices = sink.flush(t0 + CHECK_EVERY);
    assert!(notices.0[0].1.contains("deleted the"), "{notices:?}");
    let after = files_of(&tmp.path().join("web"));
    assert!(after.len() < before);
    assert!(fs::read_to_string(tmp.path().join("web/current"))
        .unwrap()
        .contains("still written"));

    // Below the reserve with nothing left to delete: paused, and said once.
    let t1 = t0 + CHECK_EVERY * 2;
    for (name, _) in &after {
        if name != CURRENT {
            fs::remove_file(tmp.path().join("web").join(name)).unwrap();
        }
    }
    FREE.with(|f| f.set(10));
    sink.add(&record("web", "lost 1"));
    let notices = sink.flush(t1);
    assert_eq!(notices.0.len(), 1, "{notices:?}");
    assert!(
        notices.0[0].1.starts_with("log files paused"),
        "{notices:?}"
    );
    sink.add(&record("web", "lost 2"));
    assert!(sink.flush(t1 + CHECK_EVERY).0.is_empty(), "said once");
    let current = fs::read_to_string(tmp.path().join("web/current")).unwrap();
    assert!(!current.contains("lost"));

    // Room again: resumed, with the count.
    FREE.with(|f| f.set(1_000_000));
    sink.add(&record("web", "back"));
    let notices = sink.flush(t1 + CHECK_EVERY * 2);
    assert_eq!(
        notices.0,
        vec![(
            5,
            "log files resumed; 2 lines were not written while paused".to_string()
        )]
    );
    let current = fs::read_to_string(tmp.path().join("web/current")).unwrap();
    assert!(current.ends_with(" web stdout back\n"), "{current}");
}

#[test]
fn the_reserve_scales_with_the_partition() {
    assert_eq!(Space::for_partition(100 << 20, 1 << 20).reserve, 16 << 20);
    assert_eq!(Space::for_partition(10 << 30, 1 << 20).reserve, 512 << 20);
    assert_eq!(Space::for_partition(1 << 40, 1 << 20).reserve, 1 << 30);
}
