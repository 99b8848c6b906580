//! A second, real Docker engine beside the system one: Debian trixie's Docker 26 with the
//! containerd image store, listening on a unix socket and on 127.0.0.1 over TLS
//! (`--tlsverify`, with certificates the test makes). Its root filesystem is assembled offline
//! by the bases builder (`engine.yaml` beside this file), exported from the system engine, and
//! both daemons run `chroot`ed into it, inside a private mount namespace, with paths of their
//! own: nothing of the system engine is touched, and only the processes started here are ended,
//! by PID. ENGINE-NOTES.md, "A second, newer engine", has the facts this rests on.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{docker, xtask};

use super::certs::{self, Certs};

/// Every file of the engine lives here. Short on purpose: the daemons make unix sockets below
/// it, and a socket's path may not exceed 107 bytes.
const DIR: &str = "/tmp/webtest-e26";
/// The bridge its containers attach to, on a private /24 of its own.
const BRIDGE: &str = "we26br0";
const BRIDGE_ADDR: &str = "10.227.0.1/24";
/// The cgroup its containers go under.
const CGROUP: &str = "webtest-e26";
/// The image of its root filesystem, made by `cargo xtask bases` from engine.yaml.
const ROOTFS_IMAGE: &str = "webtest-it-engine26/docker:trixie";

/// What runs inside `unshare -m --propagation private`: the mounts the chroot needs (the root
/// must be a mount point, since moby's chrootarchive makes "/" a slave; the work folder at the
/// same path inside), then containerd and dockerd, each started by `chroot` (which execs, so the
/// PIDs written are the daemons'). The arguments are: root, folder, unix socket, tcp port.
const INNER: &str = r#"
set -e
R="$1"; D="$2"; SOCK="$3"; PORT="$4"; BR="$5"
mount --make-rprivate /
mount --bind "$R" "$R"
mkdir -p "$R$D"
mount --bind "$D" "$R$D"
mount -t proc proc "$R/proc"
mount --rbind /sys "$R/sys"
mount --rbind /dev "$R/dev"
mount -t tmpfs tmpfs "$R/run"
chroot "$R" /usr/bin/containerd --config "$D/containerd.toml" >"$D/logs/containerd.log" 2>&1 &
echo $! >"$D/containerd.pid"
i=0
while [ ! -S "$D/containerd.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
chroot "$R" /usr/sbin/dockerd --config-file "$D/daemon.json" --containerd="$D/containerd.sock" \
  --data-root "$D/data" --exec-root "$D/exec" --pidfile "$D/docker.pid" \
  -H "unix://$SOCK" -H "tcp://127.0.0.1:$PORT" \
  --tlsverify --tlscacert "$D/tls/server/ca.pem" \
  --tlscert "$D/tls/server/server-cert.pem" --tlskey "$D/tls/server/server-key.pem" \
  --bridge "$BR" --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
  >"$D/logs/dockerd.log" 2>&1 &
echo $! >"$D/dockerd.pid"
wait
"#;

/// The running engine; dropping it stops it and removes what it made but its root filesystem.
pub struct SecondEngine {
    pub socket: PathBuf,
    pub port: u16,
    pub certs: Certs,
    dir: PathBuf,
    /// The namespace's shell, reaped once its daemons have ended.
    inner: Option<Child>,
}

impl SecondEngine {
    /// `unix:///tmp/webtest-e26/docker.sock`.
    pub fn unix_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// `tcp://127.0.0.1:PORT`, served with TLS only.
    pub fn tcp_host(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    /// Runs the docker CLI against this engine through its socket.
    pub fn docker(&self, args: &[&str]) -> String {
        let host = self.unix_host();
        let mut all = vec!["-H", host.as_str()];
        all.extend_from_slice(args);
        docker(&all)
    }

    /// Starts the engine: root filesystem (made once), certificates, configuration, bridge,
    /// daemons; waits until it answers on both listeners.
    pub fn up() -> SecondEngine {
        // Mount namespaces, bind mounts, chroot and a bridge all need root: say so plainly
        // rather than fail in the middle of the start.
        let uid = Command::new("id").arg("-u").output().expect("run id");
        assert_eq!(
            String::from_utf8_lossy(&uid.stdout).trim(),
            "0",
            "the second engine needs root (unshare -m, mount, chroot, ip link): run the tests as root, as CI does"
        );
        for tool in ["unshare", "ip", "chroot", "tar"] {
            assert!(
                Command::new("sh")
                    .args(["-c", "command -v \"$1\"", "sh", tool])
                    .output()
                    .is_ok_and(|o| o.status.success()),
                "the second engine needs `{tool}` (util-linux, iproute2, coreutils, tar)"
            );
        }
        let dir = PathBuf::from(DIR);
        // A run that was killed may have left its daemons: they are ours, so stop them first.
        stop_daemons(&dir);
        for stale in ["data", "exec", "logs", "tls"] {
            let _ = std::fs::remove_dir_all(dir.join(stale));
        }
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        rootfs(&dir);
        let certs = certs::make(&dir.join("tls"));
        let port = free_port();
        configure(&dir);
        bridge_up();
        let mut engine = SecondEngine {
            socket: dir.join("docker.sock"),
            port,
            certs,
            dir: dir.clone(),
            inner: None,
        };
        let child = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", INNER, "sh"])
            .arg(dir.join("root"))
            .arg(&dir)
            .arg(&engine.socket)
            .arg(port.to_string())
            .arg(BRIDGE)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("logs/inner.log")).unwrap())
            .stderr(std::fs::File::create(dir.join("logs/inner.err")).unwrap())
            .spawn()
            .expect("run unshare");
        std::fs::write(dir.join("unshare.pid"), child.id().to_string()).unwrap();
        engine.inner = Some(child);
        let started = Instant::now();
        let host = engine.unix_host();
        while started.elapsed() < Duration::from_secs(60) {
            let ok = Command::new("docker")
                .args(["-H", &host, "version"])
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                eprintln!(
                    "--- second engine up in {} ms",
                    started.elapsed().as_millis()
                );
                return engine;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let log = std::fs::read_to_string(dir.join("logs/dockerd.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        drop(engine);
        panic!(
            "the second engine did not answer within 60 s; dockerd's log ends:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
}

impl Drop for SecondEngine {
    fn drop(&mut self) {
        // Containers first, so that their shims end with them.
        let host = self.unix_host();
        if let Ok(out) = Command::new("docker")
            .args(["-H", &host, "ps", "-q"])
            .output()
        {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("docker")
                    .args(["-H", &host, "rm", "-f", id])
                    .output();
            }
        }
        stop_daemons(&self.dir);
        if let Some(mut inner) = self.inner.take() {
            let _ = inner.wait();
        }
        let _ = Command::new("ip").args(["link", "del", BRIDGE]).output();
        for cgroup in cgroup_dirs() {
            let _ = std::fs::remove_dir(cgroup);
        }
        // The images and containers go with the data folder; the root filesystem stays for the
        // next run.
        for made in [
            "data",
            "exec",
            "containerd",
            "docker.sock",
            "containerd.sock",
            "containerd.sock.ttrpc",
        ] {
            let path = self.dir.join(made);
            let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
        }
    }
}

/// The root filesystem, exported from the bases builder's image into `DIR/root`, once per image.
fn rootfs(dir: &Path) {
    let out = xtask(&[
        "bases",
        "--manifest",
        "xtask/tests/it/second_engine/engine.yaml",
    ]);
    assert!(
        out.status.success(),
        "cargo xtask bases of the engine's root filesystem failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = docker(&["image", "inspect", "--format", "{{.Id}}", ROOTFS_IMAGE]);
    let id = id.trim();
    let stamp = dir.join("root.id");
    let root = dir.join("root");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == id)
        && root.join("usr/sbin/dockerd").exists()
    {
        return;
    }
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let container = docker(&["create", ROOTFS_IMAGE, "true"]);
    let container = container.trim();
    let mut export = Command::new("docker")
        .args(["export", container])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run docker export");
    let untar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(&root)
        .stdin(export.stdout.take().unwrap())
        .status()
        .expect("run tar");
    let exported = export.wait().unwrap();
    docker(&["rm", container]);
    assert!(
        exported.success() && untar.success(),
        "export the engine's root filesystem"
    );
    std::fs::write(&stamp, id).unwrap();
}

/// containerd's and dockerd's configuration: their own paths (CRI off); the containerd image
/// store, with no storage driver named (`overlay2` there would be taken as a snapshotter's name).
fn configure(dir: &Path) {
    let d = dir.display();
    std::fs::write(
        dir.join("containerd.toml"),
        format!(
            "version = 2\nroot = \"{d}/containerd/root\"\nstate = \"{d}/containerd/state\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{d}/containerd.sock\"\n\
             [ttrpc]\n  address = \"{d}/containerd.sock.ttrpc\"\n\
             [debug]\n  address = \"\"\n[metrics]\n  address = \"\"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("daemon.json"),
        format!(
            r#"{{"cgroup-parent":"/{CGROUP}","mtu":1400,"features":{{"containerd-snapshotter":true}}}}"#
        ),
    )
    .unwrap();
}

fn bridge_up() {
    let _ = Command::new("ip").args(["link", "del", BRIDGE]).output();
    for args in [
        vec!["link", "add", BRIDGE, "type", "bridge"],
        vec!["addr", "add", BRIDGE_ADDR, "dev", BRIDGE],
        vec!["link", "set", BRIDGE, "up"],
    ] {
        let out = Command::new("ip").args(&args).output().expect("run ip");
        assert!(
            out.status.success(),
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn cgroup_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![Path::new("/sys/fs/cgroup").join(CGROUP)];
    if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
        dirs.extend(entries.flatten().map(|e| e.path().join(CGROUP)));
    }
    dirs
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Ends the daemons this fixture started, by the PIDs it wrote: dockerd, containerd, whatever
/// still runs rooted in its root filesystem (shims), then the namespace's process.
fn stop_daemons(dir: &Path) {
    let pid_in = |file: &str| {
        std::fs::read_to_string(dir.join(file))
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
    };
    let root = dir.join("root");
    // Only a process whose root is our chroot is ours: a PID file left by an old run may name
    // a PID that the system has given to another program since.
    let ours = |pid: u32| {
        std::fs::read_link(format!("/proc/{pid}/root")).is_ok_and(|r| r.starts_with(&root))
    };
    for file in ["dockerd.pid", "containerd.pid"] {
        if let Some(pid) = pid_in(file).filter(|&p| ours(p)) {
            stop(pid);
        }
    }
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            if let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            {
                if pid > 1 && ours(pid) {
                    stop(pid);
                }
            }
        }
    }
    // The namespace's shell ends once its daemons have; it is ours if its command line says so.
    if let Some(pid) = pid_in("unshare.pid") {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(DIR) {
            stop(pid);
        }
    }
    for file in ["dockerd.pid", "containerd.pid", "unshare.pid", "docker.pid"] {
        let _ = std::fs::remove_file(dir.join(file));
    }
}

/// SIGTERM, then up to 30 s for the process to go, then SIGKILL.
fn stop(pid: u32) {
    let alive = || Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid);
    if !alive() {
        return;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .output();
    let started = Instant::now();
    while alive() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    if alive() {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .output();
    }
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(true)
}
