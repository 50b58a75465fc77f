//! Docker and docker-compose, driven through their command lines (the suite
//! must work with compose v1 `docker-compose` and v2 `docker compose`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Runs `docker ARGS`; returns stdout, or an error with stderr.
pub fn docker(args: &[&str]) -> Result<String> {
    run(Command::new("docker").args(args), &format!("docker {}", args.join(" ")))
}

fn run(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One compose project: the deploy file plus the scenario's override.
#[derive(Debug, Clone)]
pub struct Compose {
    v2: bool,
    project: String,
    files: Vec<PathBuf>,
    env: Vec<(String, String)>,
}

impl Compose {
    /// Uses `docker compose` (v2) when present, else `docker-compose` (v1).
    pub fn new(project: &str, files: Vec<PathBuf>, env: Vec<(String, String)>) -> Result<Compose> {
        let v2 = Command::new("docker")
            .args(["compose", "version"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !v2 {
            Command::new("docker-compose")
                .arg("version")
                .output()
                .context("neither `docker compose` nor `docker-compose` works")?;
        }
        Ok(Compose {
            v2,
            project: project.to_string(),
            files,
            env,
        })
    }

    fn command(&self, args: &[&str]) -> Result<String> {
        let mut cmd = if self.v2 {
            let mut c = Command::new("docker");
            c.arg("compose");
            c
        } else {
            Command::new("docker-compose")
        };
        cmd.arg("-p").arg(&self.project);
        for f in &self.files {
            cmd.arg("-f").arg(f);
        }
        cmd.args(args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        run(&mut cmd, &format!("compose {}", args.join(" ")))
    }

    pub fn up(&self) -> Result<()> {
        self.command(&["up", "-d"]).map(|_| ())
    }

    /// Stops and removes everything, volumes included.
    pub fn down(&self) -> Result<()> {
        self.command(&["down", "-v", "--remove-orphans", "-t", "5"]).map(|_| ())
    }
}

/// The addresses of a container on each of its networks.
pub fn addresses(container: &str) -> Result<BTreeMap<String, IpAddr>> {
    let out = docker(&["inspect", "-f", "{{json .NetworkSettings.Networks}}", container])?;
    let v: serde_json::Value = serde_json::from_str(out.trim()).context("docker inspect output")?;
    let mut map = BTreeMap::new();
    if let Some(nets) = v.as_object() {
        for (name, n) in nets {
            if let Some(ip) = n.get("IPAddress").and_then(|i| i.as_str()).and_then(|i| i.parse().ok()) {
                map.insert(name.clone(), ip);
            }
        }
    }
    Ok(map)
}

/// `docker logs` (stdout and stderr) of a container.
pub fn logs(container: &str) -> Result<String> {
    let out = Command::new("docker")
        .args(["logs", container])
        .output()
        .with_context(|| format!("docker logs {container}"))?;
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok(s)
}

/// A size-capped tmpfs mounted on the host, bind-mounted as a region's data
/// volume: the disk-full scenario fills it with a ballast file.
#[derive(Debug)]
pub struct SmallDisk {
    pub dir: PathBuf,
}

impl SmallDisk {
    pub fn mount(dir: &Path, mib: u64) -> Result<SmallDisk> {
        std::fs::create_dir_all(dir)?;
        let _ = Command::new("umount").arg(dir).output();
        run(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={mib}m,mode=0755"), "tmpfs"])
                .arg(dir),
            "mount -t tmpfs",
        )?;
        Ok(SmallDisk { dir: dir.to_path_buf() })
    }

    fn ballast(&self) -> PathBuf {
        self.dir.join("ballast")
    }

    /// Fills the file system until `leave` bytes are free.
    pub fn fill(&self, leave: u64) -> Result<()> {
        use std::io::Write;
        let free = free_bytes(&self.dir)?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.ballast())?;
        let chunk = vec![0u8; 1 << 20];
        let mut left = free.saturating_sub(leave);
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            if f.write_all(&chunk[..n]).is_err() {
                break;
            }
            left -= n as u64;
        }
        f.sync_all().ok();
        Ok(())
    }

    pub fn free(&self) -> Result<u64> {
        free_bytes(&self.dir)
    }

    /// Gives the space back.
    pub fn drain(&self) -> Result<()> {
        match std::fs::remove_file(self.ballast()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).output();
    }
}

fn free_bytes(dir: &Path) -> Result<u64> {
    let out = run(Command::new("df").args(["-B1", "--output=avail"]).arg(dir), "df")?;
    out.lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .context("df printed no free-space figure")
}
