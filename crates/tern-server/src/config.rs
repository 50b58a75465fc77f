//! A region node's configuration file (`tern serve --config FILE`).
//!
//! ```toml
//! region = "us-east-1"
//! listen = "127.0.0.1:7070"
//! data_dir = "/var/lib/tern/us-east-1"
//! root_key_file = "/etc/tern/us-east-1.root-key"   # or TERN_ROOT_KEY (64 hex)
//! principals_file = "/etc/tern/principals.toml"
//! scheduler_interval_ms = 1000
//!
//! # Multi-Region cluster membership (written by `tern init`); absent: a
//! # standalone region without Multi-Region keys.
//! [cluster]
//! node_id = 1
//! peer_listen = "127.0.0.1:7170"
//! sealing_key_file = "/etc/tern/us-east-1.sealing-key"   # or TERN_SEALING_KEY
//! ca_cert_file = "/etc/tern/cluster-ca.pem"   # mutual TLS on the peer port
//! cert_file = "/etc/tern/us-east-1.peer.pem"
//! key_file = "/etc/tern/us-east-1.peer.key"   # mode 0600
//! max_rtt_ms = 10              # largest inter-region round trip; sets Raft timeouts
//! snapshot_every = 1000        # log entries between snapshots
//! [[cluster.members]]
//! node_id = 1
//! region = "us-east-1"
//! peer_addr = "127.0.0.1:7170"
//! sealing_public_key = "<64 hex>"
//! signing_public_key = "<64 hex>"   # command-signing key, derived from the sealing seed
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;
use tern_core::crypto::RootKey;
use tern_core::ids::Region;

/// Environment variable that may carry the root key (64 hex digits).
pub const ROOT_KEY_ENV: &str = "TERN_ROOT_KEY";
/// Environment variable that may carry the sealing key seed (64 hex digits).
pub const SEALING_KEY_ENV: &str = "TERN_SEALING_KEY";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("root key: {0}")]
    RootKey(String),
    #[error(
        "{path} has mode {mode:04o}: it holds secrets and must not be readable by group or others; \
         fix it with `chmod 600 {path}`"
    )]
    Mode { path: PathBuf, mode: u32 },
}

/// One region node's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub region: Region,
    pub listen: std::net::SocketAddr,
    pub data_dir: PathBuf,
    #[serde(default)]
    pub root_key_file: Option<PathBuf>,
    pub principals_file: PathBuf,
    #[serde(default = "default_scheduler_interval_ms")]
    pub scheduler_interval_ms: u64,
    /// Free space (MiB) the data directory's file system keeps for
    /// replication: below it, client requests fail closed with an error that
    /// says the disk is full. 0 turns the check off.
    #[serde(default = "default_min_free_mib")]
    pub min_free_mib: u64,
    /// TLS on the client port: this region's server certificate (PEM) and
    /// its private key (PEM, mode 0600). Both or neither; without them the
    /// client port is plaintext.
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
    #[serde(default)]
    pub cluster: Option<ClusterConfig>,
    /// Named limits (`[limits]`); every one has a default.
    #[serde(default)]
    pub limits: crate::Limits,
}

/// This region's place in the Multi-Region cluster.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    pub node_id: u64,
    pub peer_listen: std::net::SocketAddr,
    #[serde(default)]
    pub sealing_key_file: Option<PathBuf>,
    /// The cluster CA's certificate (PEM): peers must present a certificate
    /// it issued.
    pub ca_cert_file: PathBuf,
    /// This region's peer certificate (PEM), issued for
    /// `<region>.peer.tern.internal`.
    pub cert_file: PathBuf,
    /// Its private key (PEM, mode 0600).
    pub key_file: PathBuf,
    #[serde(default = "default_max_rtt_ms")]
    pub max_rtt_ms: u64,
    #[serde(default = "default_snapshot_every")]
    pub snapshot_every: u64,
    pub members: Vec<MemberConfig>,
}

/// One region of the cluster.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct MemberConfig {
    pub node_id: u64,
    pub region: Region,
    pub peer_addr: String,
    pub sealing_public_key: String,
    /// The region's command-signing public key (64 hex digits; `tern init`
    /// writes it). Without it the region's replicated commands are taken
    /// unsigned, as from a cluster formed before commands were signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_public_key: Option<String>,
}

fn default_max_rtt_ms() -> u64 {
    10
}

fn default_snapshot_every() -> u64 {
    1000
}

fn default_min_free_mib() -> u64 {
    tern_store::DEFAULT_MIN_FREE_BYTES >> 20
}

fn default_scheduler_interval_ms() -> u64 {
    1000
}

impl NodeConfig {
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        let mut cfg: NodeConfig = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.into(),
            message: e.to_string(),
        })?;
        // Relative paths are relative to the config file.
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.data_dir = base.join(&cfg.data_dir);
        cfg.principals_file = base.join(&cfg.principals_file);
        cfg.root_key_file = cfg.root_key_file.map(|p| base.join(p));
        cfg.tls_cert_file = cfg.tls_cert_file.map(|p| base.join(p));
        cfg.tls_key_file = cfg.tls_key_file.map(|p| base.join(p));
        if let Some(c) = cfg.cluster.as_mut() {
            c.sealing_key_file = c.sealing_key_file.take().map(|p| base.join(p));
            c.ca_cert_file = base.join(&c.ca_cert_file);
            c.cert_file = base.join(&c.cert_file);
            c.key_file = base.join(&c.key_file);
        }
        Ok(cfg)
    }

    /// The client port's TLS identity, when the config names one.
    pub fn client_tls(&self) -> Result<Option<crate::client_tls::ClientTls>, ConfigError> {
        match (&self.tls_cert_file, &self.tls_key_file) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => {
                let cert_pem = std::fs::read_to_string(cert).map_err(|source| ConfigError::Read {
                    path: cert.clone(),
                    source,
                })?;
                let key_pem = read_secret_file(key)?;
                Ok(Some(crate::client_tls::ClientTls { cert_pem, key_pem }))
            }
            _ => Err(ConfigError::Invalid {
                path: self
                    .tls_cert_file
                    .clone()
                    .or(self.tls_key_file.clone())
                    .unwrap_or_default(),
                message: "tls_cert_file and tls_key_file go together".into(),
            }),
        }
    }

    /// The root key: from `TERN_ROOT_KEY` if set, else the key file.
    pub fn root_key(&self) -> Result<RootKey, ConfigError> {
        if let Ok(v) = std::env::var(ROOT_KEY_ENV) {
            return RootKey::from_hex(&v)
                .ok_or_else(|| ConfigError::RootKey(format!("{ROOT_KEY_ENV} is not 64 hex digits")));
        }
        let path = self
            .root_key_file
            .as_ref()
            .ok_or_else(|| ConfigError::RootKey(format!("set root_key_file or {ROOT_KEY_ENV}")))?;
        read_root_key_file(path)
    }
}

impl ClusterConfig {
    /// The sealing key: from `TERN_SEALING_KEY` if set, else the key file.
    pub fn sealing_key(&self) -> Result<tern_core::seal::SealingKey, ConfigError> {
        if let Ok(v) = std::env::var(SEALING_KEY_ENV) {
            return tern_core::seal::SealingKey::from_hex(&v)
                .ok_or_else(|| ConfigError::RootKey(format!("{SEALING_KEY_ENV} is not 64 hex digits")));
        }
        let path = self
            .sealing_key_file
            .as_ref()
            .ok_or_else(|| ConfigError::RootKey(format!("set cluster.sealing_key_file or {SEALING_KEY_ENV}")))?;
        let text = read_secret_file(path)?;
        tern_core::seal::SealingKey::from_hex(&text)
            .ok_or_else(|| ConfigError::RootKey(format!("{} does not hold 64 hex digits", path.display())))
    }
}

impl ClusterConfig {
    /// The peer port's TLS material from `ca_cert_file`, `cert_file` and
    /// `key_file`.
    pub fn peer_tls(&self) -> Result<tern_replication::PeerTls, ConfigError> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.into(),
                source,
            })
        };
        let key = read_secret_file(&self.key_file)?;
        tern_replication::PeerTls::from_pem(read(&self.ca_cert_file)?, read(&self.cert_file)?, key).map_err(|e| {
            ConfigError::Invalid {
                path: self.cert_file.clone(),
                message: e.to_string(),
            }
        })
    }
}

/// Reads a root key file, refusing one that others may read.
pub fn read_root_key_file(path: &Path) -> Result<RootKey, ConfigError> {
    let text = read_secret_file(path)?;
    RootKey::from_hex(&text)
        .ok_or_else(|| ConfigError::RootKey(format!("{} does not hold 64 hex digits", path.display())))
}

/// Reads a secret file (root or sealing key), refusing one that others may read.
pub fn read_secret_file(path: &Path) -> Result<zeroize::Zeroizing<String>, ConfigError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(ConfigError::Mode {
                path: path.into(),
                mode,
            });
        }
    }
    Ok(zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(
        |source| ConfigError::Read {
            path: path.into(),
            source,
        },
    )?))
}

/// Writes `path` atomically and durably: a temporary file beside it,
/// fsync, rename, fsync of the directory. The file gets the umask's mode.
pub fn write_file_durably(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    write_via_temporary(path, contents, None)
}

/// Replaces `path` with `contents` atomically and durably, mode 0600 from
/// the first byte (the temporary file is created 0600).
pub fn replace_secret_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    write_via_temporary(path, contents, Some(0o600))
}

/// A temporary file beside `path` (created with `mode`, else the umask's),
/// fsync, rename over `path`, fsync of the directory.
fn write_via_temporary(path: &Path, contents: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("path has no file name"))?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts.open(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// fsyncs a directory, so a file created or renamed in it survives a crash.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Writes a fresh root key file with mode 0600 (refuses to overwrite).
pub fn write_root_key_file(path: &Path, key: &RootKey) -> Result<(), ConfigError> {
    write_secret_file(path, &key.to_hex())
}

/// Writes a fresh secret file (hex) with mode 0600 (refuses to overwrite).
pub fn write_secret_file(path: &Path, hex: &str) -> Result<(), ConfigError> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|source| ConfigError::Read {
        path: path.into(),
        source,
    })?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    f.write_all(hex.as_bytes())
        .and_then(|_| f.sync_all())
        .and_then(|_| sync_dir(dir))
        .map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })
}
