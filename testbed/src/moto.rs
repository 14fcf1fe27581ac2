//! moto_server for the real `aws` CLI: started on a free 127.0.0.1 port, killed when dropped
//! (and by the kernel if the test process dies first), with moto's request recorder on so tests
//! can count the mutating EC2 calls.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    child: Child,
    port: u16,
    recording: PathBuf,
}

impl Moto {
    /// Starts `moto_server` and waits until it answers (about half a second).
    pub fn start(base_env: &[(String, String)], dir: &Path) -> std::io::Result<Moto> {
        // The free port is found by binding and releasing it, so another bed can race for it;
        // the loser's moto_server exits, and it tries again on a new port.
        let mut last = None;
        for _ in 0..3 {
            match Moto::start_once(base_env, dir) {
                Ok(m) => return Ok(m),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("moto_server did not start")))
    }

    fn start_once(base_env: &[(String, String)], dir: &Path) -> std::io::Result<Moto> {
        let recording = dir.join("moto-recording.jsonl");
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut cmd = Command::new("moto_server");
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env_clear()
            .envs(base_env.iter().map(|(k, v)| (k, v)))
            .env("MOTO_ENABLE_RECORDING", "True")
            .env("MOTO_RECORDER_FILEPATH", &recording)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill the child when
        // this process dies, so no moto_server outlives a crashed test run.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        let mut moto = Moto {
            child,
            port,
            recording,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // A read, not a reset: if another bed won the port, its state must survive.
            if moto.request("GET", "/moto-api/data.json").is_ok() {
                // Answered: make sure it was our child, not another bed's server on this port.
                std::thread::sleep(Duration::from_millis(100));
                if let Ok(Some(status)) = moto.child.try_wait() {
                    return Err(std::io::Error::other(format!(
                        "moto_server exited: {status} (port taken)"
                    )));
                }
                return Ok(moto);
            }
            if let Ok(Some(status)) = moto.child.try_wait() {
                return Err(std::io::Error::other(format!(
                    "moto_server exited: {status}"
                )));
            }
            if Instant::now() > deadline {
                return Err(std::io::Error::other("moto_server did not start in 20 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// EC2 actions received so far, in order (e.g. "CreateVolume", "DescribeVolumes").
    pub fn actions(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.recording).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter_map(|entry| {
                let raw = entry["body"].as_str().unwrap_or_default();
                let body = if entry["body_encoded"].as_bool() == Some(true) {
                    base64::engine::general_purpose::STANDARD
                        .decode(raw)
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default()
                } else {
                    raw.to_string()
                };
                body.split('&')
                    .find_map(|kv| kv.strip_prefix("Action=").map(str::to_string))
            })
            .collect()
    }

    /// Actions that change state: everything but Describe*, List*, Get*.
    pub fn mutating_requests(&self) -> usize {
        self.actions()
            .iter()
            .filter(|a| !["Describe", "List", "Get"].iter().any(|p| a.starts_with(p)))
            .count()
    }

    /// A tiny HTTP/1.1 request to moto's own API (keeps reqwest out of the test bed).
    fn request(&self, method: &str, path: &str) -> std::io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        if !head.starts_with("HTTP/1.") || !head.contains(" 200 ") {
            return Err(std::io::Error::other(format!("moto answered {head}")));
        }
        Ok(body.to_string())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
