//! moto_server for the real `aws` CLI: started on a free 127.0.0.1 port, killed when dropped
//! (and by the kernel if the test process dies first), behind a forwarding proxy (proxy.rs)
//! that logs every EC2 action, so tests can count the mutating calls, and injects EC2 errors.
//!
//! moto itself refuses `DeleteVolume` of an attached volume with `VolumeInUse` (HTTP 400,
//! "Volume vol-… is currently attached to i-…"), so [`Moto::attach`] attaches for real.

mod proxy;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use proxy::AwsFault;

/// The region the helpers' own requests to moto are signed for (the bed's region).
const REGION: &str = crate::bed::AWS_REGION;

pub struct Moto {
    child: Child,
    port: u16,
    proxy: proxy::Proxy,
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
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut cmd = Command::new("moto_server");
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env_clear()
            .envs(base_env.iter().map(|(k, v)| (k, v)))
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
        let mut child = cmd.spawn()?;
        let proxy = match proxy::Proxy::start(port) {
            Ok(proxy) => proxy,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let mut moto = Moto { child, port, proxy };
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

    /// The value for `AWS_ENDPOINT_URL`: the proxy in front of moto.
    pub fn url(&self) -> String {
        self.proxy.url()
    }

    /// EC2 actions received so far, in order (e.g. "CreateVolume", "DescribeVolumes"), those
    /// answered by an injected fault included; not the helpers' own ([`Moto::attach`]).
    pub fn actions(&self) -> Vec<String> {
        self.proxy.actions()
    }

    /// Injects `fault` at once; the same as `inject_fault_after(0, fault)`.
    pub fn inject_fault(&self, fault: AwsFault) {
        self.inject_fault_after(0, fault);
    }

    /// Lets the first `skip` requests for `fault.action` through to moto, then answers the
    /// next `fault.times` of them with the fault's EC2 error (they never reach moto).
    pub fn inject_fault_after(&self, skip: usize, fault: AwsFault) {
        self.proxy.inject_fault_after(skip, fault);
    }

    /// Attaches the volume to a new instance in the volume's zone (RunInstances and
    /// AttachVolume sent straight to moto, so they are not among [`Moto::actions`]); moto then
    /// refuses DeleteVolume with `VolumeInUse` until [`Moto::detach`]. Returns the instance
    /// id.
    pub fn attach(&self, volume_id: &str) -> std::io::Result<String> {
        let volume = self.ec2(&format!("Action=DescribeVolumes&VolumeId.1={volume_id}"))?;
        let zone = xml_value(&volume, "availabilityZone")
            .ok_or_else(|| std::io::Error::other(format!("no zone for {volume_id}: {volume}")))?;
        let run = self.ec2(&format!(
            "Action=RunInstances&ImageId=ami-12c6146b&MinCount=1&MaxCount=1\
             &InstanceType=t3.micro&Placement.AvailabilityZone={zone}"
        ))?;
        let instance = xml_value(&run, "instanceId")
            .ok_or_else(|| std::io::Error::other(format!("no instance started: {run}")))?;
        self.ec2(&format!(
            "Action=AttachVolume&VolumeId={volume_id}&InstanceId={instance}&Device=/dev/sdf"
        ))?;
        Ok(instance)
    }

    /// Detaches the volume from its instance (sent straight to moto).
    pub fn detach(&self, volume_id: &str) -> std::io::Result<()> {
        let volume = self.ec2(&format!("Action=DescribeVolumes&VolumeId.1={volume_id}"))?;
        let instance = xml_value(&volume, "instanceId")
            .ok_or_else(|| std::io::Error::other(format!("{volume_id} is not attached")))?;
        self.ec2(&format!(
            "Action=DetachVolume&VolumeId={volume_id}&InstanceId={instance}&Device=/dev/sdf"
        ))
        .map(drop)
    }

    /// Grows a volume (ModifyVolume with a new Size, sent straight to moto, so it is not
    /// among [`Moto::actions`]): what the EBS CSI driver's `ControllerExpandVolume` does for
    /// the kube emulator's resizer.
    pub fn modify_volume_size(&self, volume_id: &str, size_gb: u64) -> std::io::Result<()> {
        self.ec2(&format!(
            "Action=ModifyVolume&VolumeId={volume_id}&Size={size_gb}"
        ))
        .map(drop)
    }

    /// Actions that change state: everything but Describe*, List*, Get*.
    pub fn mutating_requests(&self) -> usize {
        self.actions()
            .iter()
            .filter(|a| !["Describe", "List", "Get"].iter().any(|p| a.starts_with(p)))
            .count()
    }

    /// An EC2 query straight to moto (moto takes the region from the credential scope and
    /// does not check the signature).
    fn ec2(&self, form: &str) -> std::io::Result<String> {
        let auth = format!(
            "Authorization: AWS4-HMAC-SHA256 Credential=testing/20240101/{REGION}/ec2/aws4_request, \
             SignedHeaders=host, Signature=0\r\n\
             Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n"
        );
        let body = format!("{form}&Version=2016-11-15");
        self.send("POST", "/", &auth, &body)
    }

    /// A tiny HTTP/1.1 request to moto's own API (keeps reqwest out of the test bed).
    fn request(&self, method: &str, path: &str) -> std::io::Result<String> {
        self.send(method, path, "", "")
    }

    fn send(&self, method: &str, path: &str, headers: &str, body: &str) -> std::io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Content-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        if !head.starts_with("HTTP/1.") || !head.contains(" 200 ") {
            return Err(std::io::Error::other(format!(
                "moto answered {head}\n{body}"
            )));
        }
        Ok(body.to_string())
    }
}

/// The text of the first `<name>…</name>` in an XML answer.
fn xml_value(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(xml[start..end].to_string())
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
