//! `tern principals add|rotate|remove`: manage the access keys in a
//! region's principals file (mode 0600) without restarting it — a running
//! `tern serve` reloads the file on SIGHUP. Fresh credentials are printed
//! once, in the AWS shared-credentials format, and never written elsewhere.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rand::Rng;
use tern_server::auth::{AccountConfig, PrincipalRegistry, PrincipalsConfig, UserConfig};
use tern_server::config::{read_secret_file, replace_secret_file};
use zeroize::Zeroizing;

use crate::cluster::ALLOW_ALL_KMS;

/// Characters of an access key id after its `AKIA` prefix (AWS uses
/// base32's alphabet).
const ACCESS_KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Characters of a secret access key (AWS: 40 of base64's alphabet).
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const ACCESS_KEY_SUFFIX_CHARS: usize = 16;
const SECRET_CHARS: usize = 40;

/// A fresh access key pair from the OS random source: `AKIA` and 16
/// base32 characters (80 bits), and a 40-character secret (240 bits).
pub fn generate_credentials() -> (String, Zeroizing<String>) {
    let mut rng = rand::rngs::OsRng;
    let pick = |rng: &mut rand::rngs::OsRng, alphabet: &[u8]| alphabet[rng.gen_range(0..alphabet.len())] as char;
    let id: String = "AKIA"
        .chars()
        .chain((0..ACCESS_KEY_SUFFIX_CHARS).map(|_| pick(&mut rng, ACCESS_KEY_ALPHABET)))
        .collect();
    let secret: String = (0..SECRET_CHARS).map(|_| pick(&mut rng, SECRET_ALPHABET)).collect();
    (id, Zeroizing::new(secret))
}

/// The AWS shared-credentials file for one key pair (`[default]` profile).
pub fn shared_credentials(access_key_id: &str, secret: &str) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "[default]\naws_access_key_id = {access_key_id}\naws_secret_access_key = {secret}\n"
    ))
}

/// A principals file with one account and its administrator.
pub fn admin_only(account: &str, access_key_id: &str, secret: &str) -> Result<Zeroizing<String>> {
    let config = PrincipalsConfig {
        accounts: vec![AccountConfig {
            id: account.to_string(),
            users: vec![UserConfig {
                name: "admin".into(),
                access_key_id: access_key_id.to_string(),
                secret_access_key: secret.to_string(),
                policies: vec![ALLOW_ALL_KMS.to_string()],
            }],
        }],
    };
    render(&config)
}

fn render(config: &PrincipalsConfig) -> Result<Zeroizing<String>> {
    // Checked the way `tern serve` will check it.
    PrincipalRegistry::new(config).context("the principals would be refused")?;
    let body = toml::to_string(config).context("encoding the principals")?;
    Ok(Zeroizing::new(format!(
        "# Principals of this region: accounts, users, access keys (mode 0600).\n\
         # Manage with `tern principals add|rotate|remove`; `tern serve` reloads on SIGHUP.\n{body}"
    )))
}

#[derive(clap::Subcommand, Debug)]
pub enum PrincipalsCommand {
    /// Add a user with a fresh access key; prints the credentials.
    Add {
        #[command(flatten)]
        who: Who,
        /// An identity policy (JSON; repeatable). Default: allow kms:* on *.
        #[arg(long = "policy")]
        policies: Vec<String>,
        #[command(flatten)]
        given: Given,
    },
    /// Replace a user's access key with a fresh one; prints the credentials.
    /// The old key stops working when the node reloads.
    Rotate {
        #[command(flatten)]
        who: Who,
        #[command(flatten)]
        given: Given,
    },
    /// Remove a user and its access keys.
    Remove {
        #[command(flatten)]
        who: Who,
    },
}

#[derive(clap::Args, Debug)]
pub struct Who {
    /// The principals file (`principals_file` of the region's config).
    #[arg(long)]
    file: PathBuf,
    /// The account (12 digits).
    #[arg(long)]
    account: String,
    /// The IAM user name (`root` for the account root, `role/<name>` for a role).
    #[arg(long)]
    user: String,
}

/// Credentials made already (by the same command for another region's
/// file), so a user has one access key in every region. The secret comes
/// from the environment, never the command line.
#[derive(clap::Args, Debug)]
pub struct Given {
    /// Use this access key id instead of a fresh one; the secret is read
    /// from `TERN_SECRET_ACCESS_KEY`.
    #[arg(long)]
    access_key_id: Option<String>,
}

impl Given {
    fn credentials(&self) -> Result<(String, Zeroizing<String>)> {
        match &self.access_key_id {
            None => Ok(generate_credentials()),
            Some(id) => {
                let secret = std::env::var("TERN_SECRET_ACCESS_KEY")
                    .ok()
                    .filter(|s| !s.is_empty())
                    .context("--access-key-id needs the secret in TERN_SECRET_ACCESS_KEY")?;
                Ok((id.clone(), Zeroizing::new(secret)))
            }
        }
    }
}

fn load(path: &Path) -> Result<PrincipalsConfig> {
    let text = read_secret_file(path)?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

fn save(path: &Path, config: &PrincipalsConfig) -> Result<()> {
    let text = render(config)?;
    replace_secret_file(path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))
}

pub fn run(command: PrincipalsCommand) -> Result<()> {
    let (who, printed) = match command {
        PrincipalsCommand::Add { who, policies, given } => {
            let mut config = load(&who.file)?;
            if user_keys(&config, &who).next().is_some() {
                bail!(
                    "user {} of account {} already exists in {}: use `tern principals rotate`",
                    who.user,
                    who.account,
                    who.file.display()
                );
            }
            let (id, secret) = given.credentials()?;
            let policies = if policies.is_empty() {
                vec![ALLOW_ALL_KMS.to_string()]
            } else {
                policies
            };
            let user = UserConfig {
                name: who.user.clone(),
                access_key_id: id.clone(),
                secret_access_key: secret.to_string(),
                policies,
            };
            match config.accounts.iter_mut().find(|a| a.id == who.account) {
                Some(a) => a.users.push(user),
                None => config.accounts.push(AccountConfig {
                    id: who.account.clone(),
                    users: vec![user],
                }),
            }
            save(&who.file, &config)?;
            (who, Some((id, secret)))
        }
        PrincipalsCommand::Rotate { who, given } => {
            let mut config = load(&who.file)?;
            if user_keys(&config, &who).next().is_none() {
                return Err(no_such_user(&who));
            }
            let (id, secret) = given.credentials()?;
            for a in config.accounts.iter_mut().filter(|a| a.id == who.account) {
                // A user listed twice (two keys) keeps one, the fresh one.
                let mut kept = false;
                a.users.retain_mut(|u| {
                    if u.name != who.user {
                        return true;
                    }
                    if kept {
                        return false;
                    }
                    kept = true;
                    u.access_key_id = id.clone();
                    u.secret_access_key = secret.to_string();
                    true
                });
            }
            save(&who.file, &config)?;
            (who, Some((id, secret)))
        }
        PrincipalsCommand::Remove { who } => {
            let mut config = load(&who.file)?;
            if user_keys(&config, &who).next().is_none() {
                return Err(no_such_user(&who));
            }
            for a in config.accounts.iter_mut().filter(|a| a.id == who.account) {
                a.users.retain(|u| u.name != who.user);
            }
            save(&who.file, &config)?;
            (who, None)
        }
    };
    if let Some((id, secret)) = printed {
        print!("{}", shared_credentials(&id, &secret).as_str());
    }
    eprintln!(
        "tern: updated {} ({} of account {}); send SIGHUP to each `tern serve` that reads it \
         (e.g. `pkill -HUP -x tern`, `docker kill -s HUP <container>`) to apply it",
        who.file.display(),
        who.user,
        who.account
    );
    Ok(())
}

fn no_such_user(who: &Who) -> anyhow::Error {
    anyhow::anyhow!(
        "no user {} in account {} in {}",
        who.user,
        who.account,
        who.file.display()
    )
}

fn user_keys<'a>(config: &'a PrincipalsConfig, who: &'a Who) -> impl Iterator<Item = &'a UserConfig> {
    config
        .accounts
        .iter()
        .filter(|a| a.id == who.account)
        .flat_map(|a| a.users.iter())
        .filter(|u| u.name == who.user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_look_like_aws_and_differ() {
        let (a, s) = generate_credentials();
        let (b, t) = generate_credentials();
        assert_ne!(a, b);
        assert_ne!(*s, *t);
        assert!(a.starts_with("AKIA") && a.len() == 20, "{a}");
        assert!(a[4..].bytes().all(|c| ACCESS_KEY_ALPHABET.contains(&c)));
        assert_eq!(s.len(), SECRET_CHARS);
        let toml = admin_only("111122223333", &a, &s).unwrap();
        let reg = PrincipalRegistry::from_toml(&toml).unwrap();
        assert_eq!(reg.get(&a).unwrap().caller.arn, "arn:aws:iam::111122223333:user/admin");
    }
}
