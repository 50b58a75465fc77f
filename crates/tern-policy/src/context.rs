//! What a request brings to evaluation: the [`Request`] (action, caller,
//! resource) and its [`ConditionContext`] (condition key → values).

use std::collections::BTreeMap;

use crate::pattern::fold_char;

/// Condition key names tern's service fills in, already normalized
/// (lowercase). Use them with [`ConditionContext::set`] and friends.
pub mod keys {
    /// `aws:CurrentTime`, ISO 8601 (`2024-05-01T12:00:00Z`).
    pub const CURRENT_TIME: &str = "aws:currenttime";
    /// `aws:EpochTime`, epoch seconds.
    pub const EPOCH_TIME: &str = "aws:epochtime";
    /// `aws:SourceIp`, the caller's address.
    pub const SOURCE_IP: &str = "aws:sourceip";
    /// `aws:SecureTransport`, `true` / `false`.
    pub const SECURE_TRANSPORT: &str = "aws:securetransport";
    /// `aws:PrincipalArn`. Derived from [`crate::Request::principal_arn`] when
    /// not set; set it to the role ARN for assumed-role callers, as AWS does.
    pub const PRINCIPAL_ARN: &str = "aws:principalarn";
    /// `aws:PrincipalAccount`. Derived from the request when not set.
    pub const PRINCIPAL_ACCOUNT: &str = "aws:principalaccount";
    /// `aws:UserAgent`.
    pub const USER_AGENT: &str = "aws:useragent";
    /// Prefix of `aws:ResourceTag/<tag-key>`.
    pub const RESOURCE_TAG_PREFIX: &str = "aws:resourcetag/";
    /// Prefix of `aws:RequestTag/<tag-key>`.
    pub const REQUEST_TAG_PREFIX: &str = "aws:requesttag/";
    /// `aws:TagKeys` (multi-valued).
    pub const TAG_KEYS: &str = "aws:tagkeys";
    /// `kms:CallerAccount`. Derived from [`crate::Request::principal_account`]
    /// when not set.
    pub const CALLER_ACCOUNT: &str = "kms:calleraccount";
    /// Prefix of `kms:EncryptionContext:<context-key>`.
    pub const ENCRYPTION_CONTEXT_PREFIX: &str = "kms:encryptioncontext:";
    /// `kms:EncryptionContextKeys` (multi-valued, keys as sent).
    pub const ENCRYPTION_CONTEXT_KEYS: &str = "kms:encryptioncontextkeys";
    /// `kms:ViaService`.
    pub const VIA_SERVICE: &str = "kms:viaservice";
    /// `kms:GrantOperations` (multi-valued).
    pub const GRANT_OPERATIONS: &str = "kms:grantoperations";
    /// `kms:GrantIsForAWSResource`.
    pub const GRANT_IS_FOR_AWS_RESOURCE: &str = "kms:grantisforawsresource";
    /// `kms:KeySpec`.
    pub const KEY_SPEC: &str = "kms:keyspec";
    /// `kms:KeyUsage`.
    pub const KEY_USAGE: &str = "kms:keyusage";
    /// `kms:KeyOrigin`.
    pub const KEY_ORIGIN: &str = "kms:keyorigin";
    /// `kms:RequestAlias`.
    pub const REQUEST_ALIAS: &str = "kms:requestalias";
    /// `kms:ResourceAliases` (multi-valued).
    pub const RESOURCE_ALIASES: &str = "kms:resourcealiases";
    /// `kms:MultiRegion`, `true` / `false`.
    pub const MULTI_REGION: &str = "kms:multiregion";
    /// `kms:MultiRegionKeyType`, `PRIMARY` / `REPLICA`.
    pub const MULTI_REGION_KEY_TYPE: &str = "kms:multiregionkeytype";
    /// `kms:PrimaryRegion`.
    pub const PRIMARY_REGION: &str = "kms:primaryregion";
    /// `kms:ReplicaRegion`.
    pub const REPLICA_REGION: &str = "kms:replicaregion";
    /// `kms:EncryptionAlgorithm`.
    pub const ENCRYPTION_ALGORITHM: &str = "kms:encryptionalgorithm";
    /// `kms:BypassPolicyLockoutSafetyCheck`.
    pub const BYPASS_POLICY_LOCKOUT_SAFETY_CHECK: &str = "kms:bypasspolicylockoutsafetycheck";
    /// `aws:RequestedRegion`: the Region a request is made to.
    pub const REQUESTED_REGION: &str = "aws:requestedregion";
    /// `kms:GranteePrincipal` (CreateGrant).
    pub const GRANTEE_PRINCIPAL: &str = "kms:granteeprincipal";
    /// `kms:RetiringPrincipal` (CreateGrant).
    pub const RETIRING_PRINCIPAL: &str = "kms:retiringprincipal";
    /// `kms:GrantConstraintType`: `EncryptionContextEquals` /
    /// `EncryptionContextSubset` (CreateGrant).
    pub const GRANT_CONSTRAINT_TYPE: &str = "kms:grantconstrainttype";
    /// `kms:SigningAlgorithm` (Sign, Verify).
    pub const SIGNING_ALGORITHM: &str = "kms:signingalgorithm";
    /// `kms:MessageType`: `RAW` / `DIGEST` (Sign, Verify).
    pub const MESSAGE_TYPE: &str = "kms:messagetype";
    /// `kms:MacAlgorithm` (GenerateMac, VerifyMac).
    pub const MAC_ALGORITHM: &str = "kms:macalgorithm";
    /// `kms:KeyAgreementAlgorithm` (DeriveSharedSecret).
    pub const KEY_AGREEMENT_ALGORITHM: &str = "kms:keyagreementalgorithm";
    /// `kms:WrappingAlgorithm` (GetParametersForImport).
    pub const WRAPPING_ALGORITHM: &str = "kms:wrappingalgorithm";
    /// `kms:WrappingKeySpec` (GetParametersForImport).
    pub const WRAPPING_KEY_SPEC: &str = "kms:wrappingkeyspec";
    /// `kms:ExpirationModel` (ImportKeyMaterial).
    pub const EXPIRATION_MODEL: &str = "kms:expirationmodel";
    /// `kms:ValidTo`, epoch seconds (ImportKeyMaterial).
    pub const VALID_TO: &str = "kms:validto";
    /// `kms:DataKeyPairSpec` (GenerateDataKeyPair*).
    pub const DATA_KEY_PAIR_SPEC: &str = "kms:datakeypairspec";
    /// `kms:ScheduleKeyDeletionPendingWindowInDays`.
    pub const PENDING_WINDOW_IN_DAYS: &str = "kms:schedulekeydeletionpendingwindowindays";
    /// `kms:RotationPeriodInDays` (EnableKeyRotation).
    pub const ROTATION_PERIOD_IN_DAYS: &str = "kms:rotationperiodindays";
    /// `kms:ReEncryptOnSameKey` (ReEncrypt).
    pub const REENCRYPT_ON_SAME_KEY: &str = "kms:reencryptonsamekey";

    /// Every single key tern sets (or derives) for some request.
    pub const KNOWN: &[&str] = &[
        CURRENT_TIME,
        EPOCH_TIME,
        SOURCE_IP,
        SECURE_TRANSPORT,
        PRINCIPAL_ARN,
        PRINCIPAL_ACCOUNT,
        USER_AGENT,
        TAG_KEYS,
        CALLER_ACCOUNT,
        ENCRYPTION_CONTEXT_KEYS,
        GRANT_OPERATIONS,
        GRANT_IS_FOR_AWS_RESOURCE,
        KEY_SPEC,
        KEY_USAGE,
        KEY_ORIGIN,
        REQUEST_ALIAS,
        RESOURCE_ALIASES,
        MULTI_REGION,
        MULTI_REGION_KEY_TYPE,
        PRIMARY_REGION,
        REPLICA_REGION,
        ENCRYPTION_ALGORITHM,
        BYPASS_POLICY_LOCKOUT_SAFETY_CHECK,
        REQUESTED_REGION,
        GRANTEE_PRINCIPAL,
        RETIRING_PRINCIPAL,
        GRANT_CONSTRAINT_TYPE,
        SIGNING_ALGORITHM,
        MESSAGE_TYPE,
        MAC_ALGORITHM,
        KEY_AGREEMENT_ALGORITHM,
        WRAPPING_ALGORITHM,
        WRAPPING_KEY_SPEC,
        EXPIRATION_MODEL,
        VALID_TO,
        DATA_KEY_PAIR_SPEC,
        PENDING_WINDOW_IN_DAYS,
        ROTATION_PERIOD_IN_DAYS,
        REENCRYPT_ON_SAME_KEY,
    ];

    /// Prefixes of the families of keys tern sets.
    pub const KNOWN_PREFIXES: &[&str] = &[RESOURCE_TAG_PREFIX, REQUEST_TAG_PREFIX, ENCRYPTION_CONTEXT_PREFIX];

    /// Whether tern ever sets `key` (normalized, lowercase). A policy may
    /// name any key, as in AWS; a condition on a key tern never sets sees it
    /// absent, so the service warns about such keys once.
    pub fn is_known(key: &str) -> bool {
        KNOWN.contains(&key) || KNOWN_PREFIXES.iter().any(|p| key.starts_with(p))
    }
}

/// Condition keys are case-insensitive in full (see the crate docs), so they
/// are stored and looked up lowercase.
pub(crate) fn normalize_key(key: &str) -> String {
    key.chars().map(fold_char).collect()
}

/// The condition keys of one request and their values. Single-valued keys
/// hold one value, multi-valued keys any number; a key with no values is
/// absent. Keys are normalized to lowercase on the way in; values are kept
/// as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConditionContext {
    entries: BTreeMap<String, Vec<String>>,
}

impl ConditionContext {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a single-valued key, replacing what it held.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.entries.insert(normalize_key(key), vec![value.into()]);
        self
    }

    /// Sets a multi-valued key, replacing what it held. No values → absent.
    pub fn set_multi<I, S>(&mut self, key: &str, values: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let values: Vec<String> = values.into_iter().map(Into::into).collect();
        let key = normalize_key(key);
        if values.is_empty() {
            self.entries.remove(&key);
        } else {
            self.entries.insert(key, values);
        }
        self
    }

    /// Builder form of [`ConditionContext::set`].
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.set(key, value);
        self
    }

    /// Builder form of [`ConditionContext::set_multi`].
    pub fn with_multi<I, S>(mut self, key: &str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.set_multi(key, values);
        self
    }

    /// Removes a key.
    pub fn remove(&mut self, key: &str) -> &mut Self {
        self.entries.remove(&normalize_key(key));
        self
    }

    /// Sets `kms:EncryptionContext:<k>` for every pair and
    /// `kms:EncryptionContextKeys` to the keys as sent, replacing any earlier
    /// encryption context. Two keys that differ only in case (which AWS tells
    /// users to avoid) give `kms:EncryptionContext:<k>` both values.
    pub fn set_encryption_context<'c, I>(&mut self, pairs: I) -> &mut Self
    where
        I: IntoIterator<Item = (&'c str, &'c str)>,
    {
        self.set_prefixed(
            keys::ENCRYPTION_CONTEXT_PREFIX,
            Some(keys::ENCRYPTION_CONTEXT_KEYS),
            pairs,
        )
    }

    /// Sets `aws:ResourceTag/<k>` for every tag of the key, replacing earlier
    /// resource tags.
    pub fn set_resource_tags<'c, I>(&mut self, tags: I) -> &mut Self
    where
        I: IntoIterator<Item = (&'c str, &'c str)>,
    {
        self.set_prefixed(keys::RESOURCE_TAG_PREFIX, None, tags)
    }

    /// Sets `aws:RequestTag/<k>` for every tag in the request and
    /// `aws:TagKeys` to their keys, replacing earlier request tags.
    pub fn set_request_tags<'c, I>(&mut self, tags: I) -> &mut Self
    where
        I: IntoIterator<Item = (&'c str, &'c str)>,
    {
        self.set_prefixed(keys::REQUEST_TAG_PREFIX, Some(keys::TAG_KEYS), tags)
    }

    fn set_prefixed<'c, I>(&mut self, prefix: &str, keys_key: Option<&str>, pairs: I) -> &mut Self
    where
        I: IntoIterator<Item = (&'c str, &'c str)>,
    {
        debug_assert_eq!(prefix, normalize_key(prefix));
        self.entries.retain(|k, _| !k.starts_with(prefix));
        let mut names = Vec::new();
        for (k, v) in pairs {
            let mut key = String::with_capacity(prefix.len() + k.len());
            key.push_str(prefix);
            key.extend(k.chars().map(fold_char));
            self.entries.entry(key).or_default().push(v.to_owned());
            names.push(k.to_owned());
        }
        if let Some(keys_key) = keys_key {
            self.set_multi(keys_key, names);
        }
        self
    }

    /// The values of a key (any case), if present.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.get_normalized(&normalize_key(key))
    }

    fn get_normalized(&self, key: &str) -> Option<&[String]> {
        self.entries.get(key).map(Vec::as_slice).filter(|v| !v.is_empty())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// One authorization question: may `principal_arn` do `action` on
/// `resource_arn`, given `context`?
///
/// `aws:PrincipalArn`, `aws:PrincipalAccount` and `kms:CallerAccount` are
/// derived from the fields here when the context does not set them.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `kms:Decrypt`, matched case-insensitively.
    pub action: &'a str,
    /// `arn:aws:iam::111122223333:user/alice`, `…:root`, an assumed-role
    /// session ARN, or a service principal name.
    pub principal_arn: &'a str,
    /// The caller's 12-digit account id (empty for a service principal).
    pub principal_account: &'a str,
    /// The key ARN.
    pub resource_arn: &'a str,
    pub context: &'a ConditionContext,
}

/// The values of one condition key for one request, without copying.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Found<'a> {
    Many(&'a [String]),
    One(&'a str),
}

impl<'a> Found<'a> {
    pub(crate) fn iter(self) -> impl Iterator<Item = &'a str> {
        let (many, one) = match self {
            Found::Many(v) => (v, None),
            Found::One(s) => (&[][..], Some(s)),
        };
        many.iter().map(String::as_str).chain(one)
    }
}

impl<'a> Request<'a> {
    /// The values of a normalized key, or `None` when absent.
    pub(crate) fn lookup(&self, key: &str) -> Option<Found<'a>> {
        if let Some(v) = self.context.get_normalized(key) {
            return Some(Found::Many(v));
        }
        let derived = match key {
            keys::PRINCIPAL_ARN => self.principal_arn,
            keys::PRINCIPAL_ACCOUNT | keys::CALLER_ACCOUNT => self.principal_account,
            _ => return None,
        };
        (!derived.is_empty()).then_some(Found::One(derived))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive_values_are_not() {
        let mut ctx = ConditionContext::new();
        ctx.set("kms:ViaService", "S3.amazonaws.com")
            .set_encryption_context([("Department", "IT"), ("department", "HR")])
            .set_resource_tags([("Env", "Prod")]);
        assert_eq!(ctx.get("KMS:VIASERVICE").unwrap(), ["S3.amazonaws.com"]);
        assert_eq!(ctx.get("kms:EncryptionContext:DEPARTMENT").unwrap(), ["IT", "HR"]);
        assert_eq!(
            ctx.get("kms:EncryptionContextKeys").unwrap(),
            ["Department", "department"]
        );
        assert_eq!(ctx.get("aws:ResourceTag/env").unwrap(), ["Prod"]);

        ctx.set_encryption_context([("a", "1")]);
        assert!(ctx.get("kms:EncryptionContext:department").is_none());
        assert_eq!(ctx.get("kms:encryptioncontextkeys").unwrap(), ["a"]);
        ctx.set_encryption_context([]);
        assert!(ctx.get("kms:encryptioncontextkeys").is_none());
        ctx.set_multi("aws:TagKeys", Vec::<String>::new());
        assert!(ctx.get("aws:tagkeys").is_none());
    }

    #[test]
    fn derived_keys() {
        let ctx = ConditionContext::new().with("aws:PrincipalArn", "arn:aws:iam::111122223333:role/R");
        let req = Request {
            action: "kms:Decrypt",
            principal_arn: "arn:aws:sts::111122223333:assumed-role/R/s",
            principal_account: "111122223333",
            resource_arn: "arn:aws:kms:us-east-1:111122223333:key/k",
            context: &ctx,
        };
        let got: Vec<&str> = req.lookup(keys::PRINCIPAL_ARN).unwrap().iter().collect();
        assert_eq!(got, ["arn:aws:iam::111122223333:role/R"]);
        let got: Vec<&str> = req.lookup(keys::CALLER_ACCOUNT).unwrap().iter().collect();
        assert_eq!(got, ["111122223333"]);
        assert!(req.lookup("kms:viaservice").is_none());
    }
}
