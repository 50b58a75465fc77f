//! Principals named in `Principal` / `NotPrincipal`, and how a caller matches
//! them.

/// One principal named in a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PrincipalEntry {
    /// `"*"` or `{"AWS": "*"}`: everyone.
    Any,
    /// `"111122223333"` or `arn:aws:iam::111122223333:root`: every principal of
    /// the account (the root user directly, everyone else by delegation to the
    /// account's identity policies).
    Account(String),
    /// An IAM user ARN or an assumed-role session ARN, matched exactly.
    Arn(String),
    /// An IAM role ARN; it also matches the role's sessions.
    Role {
        arn: String,
        partition: String,
        account: String,
        name: String,
    },
    /// `{"Service": "logs.amazonaws.com"}`, matched exactly against the
    /// caller's principal.
    Service(String),
}

/// How a caller matched a principal entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PrincipalMatch {
    /// The entry names the caller itself (or everyone).
    Direct,
    /// The entry names the caller's account; the account's identity policies
    /// must allow the request too.
    ViaAccount,
}

impl PrincipalEntry {
    /// Parses one value of `{"AWS": …}`.
    pub(crate) fn parse_aws(s: &str) -> Result<PrincipalEntry, String> {
        if s == "*" {
            return Ok(PrincipalEntry::Any);
        }
        if is_account_id(s) {
            return Ok(PrincipalEntry::Account(s.to_owned()));
        }
        if s.contains(['*', '?']) {
            return Err(format!(
                "invalid principal {s:?}: wildcards are not allowed in principal ARNs (only \"*\" on its own)"
            ));
        }
        let bad = |why: &str| Err(format!("invalid principal {s:?}: {why}"));
        let mut fields = s.splitn(6, ':');
        let (Some("arn"), Some(partition), Some(service), Some(""), Some(account), Some(resource)) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return bad("expected a 12-digit account id, \"*\", or an arn:<partition>:iam::<account>:… ARN");
        };
        if partition.is_empty() || !partition.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
            return bad("unknown partition");
        }
        if !is_account_id(account) {
            return bad("the account must be 12 digits");
        }
        match service {
            "iam" if resource == "root" => Ok(PrincipalEntry::Account(account.to_owned())),
            "iam" => {
                if let Some(rest) = resource.strip_prefix("user/") {
                    if last_name(rest).is_empty() {
                        return bad("the user name is empty");
                    }
                    Ok(PrincipalEntry::Arn(s.to_owned()))
                } else if let Some(rest) = resource.strip_prefix("role/") {
                    let name = last_name(rest);
                    if name.is_empty() {
                        return bad("the role name is empty");
                    }
                    Ok(PrincipalEntry::Role {
                        arn: s.to_owned(),
                        partition: partition.to_owned(),
                        account: account.to_owned(),
                        name: name.to_owned(),
                    })
                } else {
                    bad("an IAM principal must be root, user/… or role/…")
                }
            }
            "sts" => match resource.strip_prefix("assumed-role/").and_then(|r| r.split_once('/')) {
                Some((role, session)) if !role.is_empty() && !session.is_empty() => {
                    Ok(PrincipalEntry::Arn(s.to_owned()))
                }
                _ => bad("an STS principal must be assumed-role/<role>/<session>"),
            },
            _ => bad("the service must be iam or sts"),
        }
    }

    /// Parses one value of `{"Service": …}`.
    pub(crate) fn parse_service(s: &str) -> Result<PrincipalEntry, String> {
        if s.is_empty() || s.contains(['*', '?']) || s.chars().any(char::is_whitespace) {
            return Err(format!("invalid service principal {s:?}"));
        }
        Ok(PrincipalEntry::Service(s.to_owned()))
    }

    pub(crate) fn matches(&self, principal_arn: &str, principal_account: &str) -> Option<PrincipalMatch> {
        match self {
            PrincipalEntry::Any => Some(PrincipalMatch::Direct),
            PrincipalEntry::Account(a) if a == principal_account => {
                if is_account_root(principal_arn, a) {
                    Some(PrincipalMatch::Direct)
                } else {
                    Some(PrincipalMatch::ViaAccount)
                }
            }
            PrincipalEntry::Account(_) => None,
            PrincipalEntry::Arn(a) | PrincipalEntry::Service(a) => {
                (a == principal_arn).then_some(PrincipalMatch::Direct)
            }
            PrincipalEntry::Role {
                arn,
                partition,
                account,
                name,
            } => (arn == principal_arn || is_session_of(principal_arn, partition, account, name))
                .then_some(PrincipalMatch::Direct),
        }
    }
}

/// `Principal`: the best match among the entries (a direct match beats one
/// through the account).
pub(crate) fn match_any(entries: &[PrincipalEntry], principal_arn: &str, account: &str) -> Option<PrincipalMatch> {
    let mut best = None;
    for e in entries {
        match e.matches(principal_arn, account) {
            Some(PrincipalMatch::Direct) => return Some(PrincipalMatch::Direct),
            Some(PrincipalMatch::ViaAccount) => best = Some(PrincipalMatch::ViaAccount),
            None => {}
        }
    }
    best
}

/// `NotPrincipal`: whether the caller is excluded. As AWS documents, a caller
/// is excluded only when every identity the request carries is listed: the
/// user or role (session) *and* its account. A root caller is its account; a
/// service principal is itself.
pub(crate) fn excluded(entries: &[PrincipalEntry], principal_arn: &str, account: &str) -> bool {
    let mut account_listed = false;
    let mut identity_listed = false;
    for e in entries {
        match e {
            PrincipalEntry::Any => return true,
            PrincipalEntry::Service(s) if s == principal_arn => return true,
            PrincipalEntry::Account(a) if a == account => account_listed = true,
            PrincipalEntry::Arn(_) | PrincipalEntry::Role { .. } => {
                identity_listed |= e.matches(principal_arn, account).is_some();
            }
            _ => {}
        }
    }
    account_listed && (identity_listed || is_account_root(principal_arn, account))
}

pub(crate) fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `arn` is `arn:<partition>:iam::<account>:root`.
pub(crate) fn is_account_root(arn: &str, account: &str) -> bool {
    let mut f = arn.splitn(6, ':');
    f.next() == Some("arn")
        && f.next().is_some_and(|p| !p.is_empty())
        && f.next() == Some("iam")
        && f.next() == Some("")
        && f.next() == Some(account)
        && f.next() == Some("root")
}

/// The account field of an ARN (`arn:aws:kms:us-east-1:<account>:key/…`).
pub(crate) fn arn_account(arn: &str) -> Option<&str> {
    let mut f = arn.splitn(6, ':');
    if f.next() != Some("arn") {
        return None;
    }
    f.nth(3).filter(|_| f.next().is_some())
}

/// The last `/`-separated part of a `path/name`.
fn last_name(path_and_name: &str) -> &str {
    path_and_name.rsplit('/').next().unwrap_or(path_and_name)
}

/// Whether `arn` is `arn:<partition>:sts::<account>:assumed-role/<name>/<session>`.
fn is_session_of(arn: &str, partition: &str, account: &str, name: &str) -> bool {
    let mut f = arn.splitn(6, ':');
    f.next() == Some("arn")
        && f.next() == Some(partition)
        && f.next() == Some("sts")
        && f.next() == Some("")
        && f.next() == Some(account)
        && f.next()
            .and_then(|r| r.strip_prefix("assumed-role/"))
            .and_then(|r| r.split_once('/'))
            .is_some_and(|(role, session)| role == name && !session.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
    const ROOT: &str = "arn:aws:iam::111122223333:root";
    const ACCT: &str = "111122223333";

    #[test]
    fn parse_table() {
        let ok: &[(&str, PrincipalEntry)] = &[
            ("*", PrincipalEntry::Any),
            (ACCT, PrincipalEntry::Account(ACCT.into())),
            (ROOT, PrincipalEntry::Account(ACCT.into())),
            (
                "arn:aws-cn:iam::111122223333:root",
                PrincipalEntry::Account(ACCT.into()),
            ),
            (ALICE, PrincipalEntry::Arn(ALICE.into())),
            (
                "arn:aws:iam::111122223333:user/division/alice",
                PrincipalEntry::Arn("arn:aws:iam::111122223333:user/division/alice".into()),
            ),
            (
                "arn:aws:sts::111122223333:assumed-role/Admin/sess",
                PrincipalEntry::Arn("arn:aws:sts::111122223333:assumed-role/Admin/sess".into()),
            ),
        ];
        for (s, want) in ok {
            assert_eq!(PrincipalEntry::parse_aws(s).as_ref(), Ok(want), "{s}");
        }
        match PrincipalEntry::parse_aws("arn:aws:iam::111122223333:role/app/Admin").unwrap() {
            PrincipalEntry::Role { name, account, .. } => {
                assert_eq!(name, "Admin");
                assert_eq!(account, ACCT);
            }
            other => panic!("{other:?}"),
        }
        let bad = [
            "",
            "11112222333",
            "1111222233334",
            "arn:aws:iam::*:root",
            "arn:aws:iam::111122223333:user/*",
            "arn:aws:iam::111122223333:group/devs",
            "arn:aws:iam::111122223333:user/",
            "arn:aws:iam::abc:root",
            "arn:aws:iam:us-east-1:111122223333:root",
            "arn:aws:s3::111122223333:root",
            "arn:aws:sts::111122223333:assumed-role/Admin",
            "arn::iam::111122223333:root",
            "alice",
        ];
        for s in bad {
            assert!(PrincipalEntry::parse_aws(s).is_err(), "{s:?} should be refused");
        }
    }

    #[test]
    fn matching() {
        let acct = PrincipalEntry::Account(ACCT.into());
        assert_eq!(acct.matches(ALICE, ACCT), Some(PrincipalMatch::ViaAccount));
        assert_eq!(acct.matches(ROOT, ACCT), Some(PrincipalMatch::Direct));
        assert_eq!(acct.matches("arn:aws:iam::444455556666:user/bob", "444455556666"), None);
        let role = PrincipalEntry::parse_aws("arn:aws:iam::111122223333:role/ops/Admin").unwrap();
        assert!(role.matches("arn:aws:iam::111122223333:role/ops/Admin", ACCT).is_some());
        assert!(role
            .matches("arn:aws:sts::111122223333:assumed-role/Admin/alice", ACCT)
            .is_some());
        assert!(role
            .matches("arn:aws:sts::444455556666:assumed-role/Admin/alice", "444455556666")
            .is_none());
        assert!(role
            .matches("arn:aws:sts::111122223333:assumed-role/Other/alice", ACCT)
            .is_none());
    }

    #[test]
    fn not_principal_needs_identity_and_account() {
        let user_only = [PrincipalEntry::Arn(ALICE.into())];
        let both = [PrincipalEntry::Arn(ALICE.into()), PrincipalEntry::Account(ACCT.into())];
        let account_only = [PrincipalEntry::Account(ACCT.into())];
        assert!(!excluded(&user_only, ALICE, ACCT));
        assert!(excluded(&both, ALICE, ACCT));
        assert!(!excluded(&account_only, ALICE, ACCT));
        assert!(excluded(&account_only, ROOT, ACCT));
        assert!(excluded(&[PrincipalEntry::Any], ALICE, ACCT));
    }

    #[test]
    fn arn_accounts() {
        assert_eq!(arn_account("arn:aws:kms:us-east-1:111122223333:key/x"), Some(ACCT));
        assert_eq!(arn_account("arn:aws:kms:us-east-1:111122223333"), None);
        assert_eq!(arn_account("nope"), None);
    }
}
