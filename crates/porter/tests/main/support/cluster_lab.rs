//! The pieces of a cluster-mode lab shared by `tests/main/cluster.rs` and
//! `examples/speaker_scale.rs`: child processes stopped on drop, a router namespace with gobgpd
//! reached over a veth pair, and a kubeconfig for the fake API server.
// The one file of the layout included elsewhere (the example, by `#[path]`), which uses only part
// of it: hence `dead_code`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The node's end of the veth pair (the speaker runs in the test's own namespace).
pub const NODE_IP: &str = "10.97.77.1";
/// The router's end, in the namespace [`RouterNs`] creates.
pub const ROUTER_IP: &str = "10.97.77.2";
pub const ROUTER_AS: u32 = 64512;
pub const NODE_AS: u32 = 64513;

/// A child process that gets SIGTERM (then SIGKILL) when dropped, with its output in a file.
pub struct Proc {
    pub name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    pub fn spawn(name: &'static str, dir: &Path, cmd: &mut Command) -> Self {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self { name, child, log }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then the exit status (SIGKILL after 10 s).
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.terminate();
        }
    }
}

/// The router's network namespace and the veth pair to it; both are gone when this is dropped.
pub struct RouterNs {
    name: String,
}

impl RouterNs {
    pub fn create() -> Self {
        let ns = Self {
            name: format!("porter-ct-{}", std::process::id()),
        };
        let host_end = format!("pct{}", std::process::id() % 100_000);
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().unwrap();
            assert!(
                out.status.success(),
                "ip {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        ip(&["netns", "add", &ns.name]);
        ip(&[
            "link", "add", &host_end, "type", "veth", "peer", "name", "eth0", "netns", &ns.name,
        ]);
        ip(&["addr", "add", &format!("{NODE_IP}/30"), "dev", &host_end]);
        ip(&["link", "set", &host_end, "up"]);
        ip(&[
            "-n",
            &ns.name,
            "addr",
            "add",
            &format!("{ROUTER_IP}/30"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &ns.name, "link", "set", "eth0", "up"]);
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    /// `program` to be run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }
}

impl Drop for RouterNs {
    fn drop(&mut self) {
        // Deleting the namespace deletes its veth end, and with it the host's.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// gobgpd in the router namespace on `ROUTER_IP`:179 (passive: Porter dials).
pub fn start_gobgpd(dir: &Path, ns: &RouterNs) -> Proc {
    let conf = dir.join("gobgpd.toml");
    std::fs::write(
        &conf,
        format!(
            r#"[global.config]
  as = {ROUTER_AS}
  router-id = "{ROUTER_IP}"
  local-address-list = ["{ROUTER_IP}"]

[[neighbors]]
  [neighbors.config]
    neighbor-address = "{NODE_IP}"
    peer-as = {NODE_AS}
  [neighbors.transport.config]
    passive-mode = true
"#
        ),
    )
    .unwrap();
    Proc::spawn(
        "gobgpd",
        dir,
        ns.command("gobgpd")
            .arg("-f")
            .arg(&conf)
            .args(["-p", "--pprof-disable"]),
    )
}

/// A kubeconfig in `dir` naming the API server at `url` (plain HTTP, no credentials), as
/// `kubectl` would use.
pub fn kubeconfig(dir: &Path, url: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    let yaml = format!(
        "apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: {url}
users:
- name: porter
  user: {{}}
contexts:
- name: fake
  context:
    cluster: fake
    user: porter
current-context: fake
"
    );
    std::fs::write(&path, yaml).unwrap();
    path
}
