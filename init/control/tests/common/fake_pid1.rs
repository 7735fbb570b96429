//! A fake PID 1 on a unix socket: records every request line (without its
//! newline) and answers with the reply it is told to give.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;

#[derive(Clone)]
pub struct FakePid1 {
    pub requests: Arc<Mutex<Vec<String>>>,
    pub reply: Arc<Mutex<String>>,
}

impl FakePid1 {
    pub fn start(path: &Path) -> FakePid1 {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).unwrap();
        let fake = FakePid1 {
            requests: Arc::default(),
            reply: Arc::new(Mutex::new("ok".into())),
        };
        let served = fake.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut line = String::new();
                if BufReader::new(&stream).read_line(&mut line).is_err() {
                    continue;
                }
                served
                    .requests
                    .lock()
                    .unwrap()
                    .push(line.trim_end_matches('\n').to_string());
                let reply = served.reply.lock().unwrap().clone();
                let _ = stream.write_all(format!("{reply}\n").as_bytes());
            }
        });
        fake
    }

    pub fn answer(&self, reply: &str) {
        *self.reply.lock().unwrap() = reply.to_owned();
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}
