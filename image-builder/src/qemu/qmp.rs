//! A small client for QMP, QEMU's JSON control protocol, over a unix socket:
//! one JSON object per line; commands are answered by `return` or `error`,
//! and asynchronous `event` objects may arrive in between.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long one command may take to be answered.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    #[error("cannot connect to qmp socket {path}: {source}")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("qmp i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("qmp: qemu closed the connection")]
    Closed,
    #[error("qmp: unexpected message {0}")]
    Protocol(String),
    #[error("qmp command {command} failed: {message}")]
    Command { command: String, message: String },
}

/// A connected QMP session, past the capabilities handshake.
#[derive(Debug)]
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    /// Events seen while waiting for answers, oldest first (e.g. `SHUTDOWN`, `RESET`).
    events: Vec<Value>,
}

impl Qmp {
    /// Connects to `path`, retrying until `timeout` while QEMU creates the
    /// socket, and negotiates capabilities.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Qmp, QmpError> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(stream) => break stream,
                Err(source) if Instant::now() >= deadline => {
                    return Err(QmpError::Connect {
                        path: path.display().to_string(),
                        source,
                    })
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        stream.set_read_timeout(Some(COMMAND_TIMEOUT))?;
        let writer = stream.try_clone()?;
        let mut qmp = Qmp {
            reader: BufReader::new(stream),
            writer,
            events: Vec::new(),
        };
        let greeting = qmp.read_message()?;
        if greeting.get("QMP").is_none() {
            return Err(QmpError::Protocol(greeting.to_string()));
        }
        qmp.execute("qmp_capabilities", None)?;
        Ok(qmp)
    }

    /// Runs one command and returns its `return` value.
    pub fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value, QmpError> {
        let request = match arguments {
            Some(arguments) => json!({ "execute": command, "arguments": arguments }),
            None => json!({ "execute": command }),
        };
        let mut line = request.to_string();
        line.push('\n');
        self.writer.write_all(line.as_bytes())?;
        loop {
            let message = self.read_message()?;
            if let Some(value) = message.get("return") {
                return Ok(value.clone());
            }
            if let Some(error) = message.get("error") {
                let message = error
                    .get("desc")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error")
                    .to_string();
                return Err(QmpError::Command {
                    command: command.to_string(),
                    message,
                });
            }
            if message.get("event").is_some() {
                self.events.push(message);
                continue;
            }
            return Err(QmpError::Protocol(message.to_string()));
        }
    }

    /// Asks the guest to power off, as a press of the ACPI power button does.
    pub fn system_powerdown(&mut self) -> Result<(), QmpError> {
        self.execute("system_powerdown", None).map(drop)
    }

    /// Presses Ctrl-Alt-Delete on the guest's keyboard.
    pub fn ctrl_alt_delete(&mut self) -> Result<(), QmpError> {
        self.execute("send-key", Some(ctrl_alt_delete_arguments()))
            .map(drop)
    }

    /// Stops QEMU at once, like pulling the plug. QEMU may close the socket
    /// before it answers; that counts as success.
    pub fn quit(&mut self) -> Result<(), QmpError> {
        match self.execute("quit", None) {
            Ok(_) | Err(QmpError::Closed) => Ok(()),
            Err(QmpError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            Err(QmpError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The events seen so far while waiting for answers.
    pub fn events(&self) -> &[Value] {
        &self.events
    }

    fn read_message(&mut self) -> Result<Value, QmpError> {
        let mut line = String::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(QmpError::Closed);
            }
            if !line.trim().is_empty() {
                break;
            }
        }
        serde_json::from_str(&line).map_err(|_| QmpError::Protocol(line.trim().to_string()))
    }
}

/// `send-key` arguments for Ctrl-Alt-Delete.
fn ctrl_alt_delete_arguments() -> Value {
    json!({
        "keys": [
            { "type": "qcode", "data": "ctrl" },
            { "type": "qcode", "data": "alt" },
            { "type": "qcode", "data": "delete" },
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::thread;

    /// A fake QEMU that greets, answers the handshake, then answers each
    /// command after emitting an event, recording what it was sent.
    fn fake_qemu(path: &Path, answers: Vec<&'static str>) -> thread::JoinHandle<Vec<Value>> {
        let listener = UnixListener::bind(path).unwrap();
        thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            writeln!(
                writer,
                r#"{{"QMP": {{"version": {{}}, "capabilities": []}}}}"#
            )
            .unwrap();
            let mut received = Vec::new();
            for answer in std::iter::once(r#"{"return": {}}"#).chain(answers) {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                received.push(serde_json::from_str(&line).unwrap());
                writeln!(writer, r#"{{"event": "RESET", "data": {{}}}}"#).unwrap();
                writeln!(writer, "{answer}").unwrap();
            }
            received
        })
    }

    #[test]
    fn handshake_commands_events_and_errors() {
        let dir = tempdir();
        let path = dir.join("qmp.sock");
        let server = fake_qemu(
            &path,
            vec![
                r#"{"return": {}}"#,
                r#"{"return": {}}"#,
                r#"{"error": {"class": "GenericError", "desc": "nope"}}"#,
            ],
        );
        let mut qmp = Qmp::connect(&path, Duration::from_secs(5)).unwrap();
        qmp.system_powerdown().unwrap();
        qmp.ctrl_alt_delete().unwrap();
        let err = qmp.execute("bogus", None).unwrap_err().to_string();
        assert_eq!(err, "qmp command bogus failed: nope");
        assert_eq!(qmp.events().len(), 4);
        let received = server.join().unwrap();
        assert_eq!(received[0], json!({"execute": "qmp_capabilities"}));
        assert_eq!(received[1], json!({"execute": "system_powerdown"}));
        assert_eq!(
            received[2],
            json!({"execute": "send-key", "arguments": {"keys": [
                {"type": "qcode", "data": "ctrl"},
                {"type": "qcode", "data": "alt"},
                {"type": "qcode", "data": "delete"}]}})
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn connect_gives_up_after_its_timeout() {
        let dir = tempdir();
        let err = Qmp::connect(&dir.join("absent.sock"), Duration::from_millis(200)).unwrap_err();
        assert!(matches!(err, QmpError::Connect { .. }), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempdir() -> std::path::PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "cairn-qmp-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
