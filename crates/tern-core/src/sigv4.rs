//! AWS Signature Version 4: canonical request, string to sign, signing key,
//! and parsing of the `Authorization` header. Pure: the caller passes the
//! time and the body's SHA-256, so the client (signing) and the server
//! (verifying) share one implementation.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::time::UnixMillis;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far a request's `x-amz-date` may be from the server's clock.
pub const MAX_CLOCK_SKEW_MILLIS: i64 = 5 * 60 * 1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    #[error("Authorization header is missing")]
    Missing,
    #[error("Authorization header is malformed: unsupported algorithm")]
    UnsupportedAlgorithm,
    #[error("Authorization header is malformed: missing Credential")]
    MissingCredential,
    #[error("Authorization header is malformed: missing SignedHeaders")]
    MissingSignedHeaders,
    #[error("Authorization header is malformed: missing Signature")]
    MissingSignature,
    #[error("Authorization header is malformed: bad Credential scope")]
    BadCredentialScope,
    #[error("Authorization header is malformed: bad Signature")]
    BadSignature,
    #[error("Authorization header is malformed: bad SignedHeaders")]
    BadSignedHeaders,
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key_id: String,
    /// `YYYYMMDD` from the credential scope.
    pub date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

impl Authorization {
    pub fn scope(&self) -> String {
        format!("{}/{}/{}/aws4_request", self.date, self.region, self.service)
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so new_from_slice cannot fail.
    let mut m = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return [0; 32],
    };
    m.update(data);
    m.finalize().into_bytes().into()
}

/// URI-encodes one path segment or query component the SigV4 way
/// (unreserved characters kept, everything else `%XX` upper-case).
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') || (keep_slash && b == b'/');
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn canonical_query(query: &str) -> String {
    if query.is_empty() {
        return String::new();
    }
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k), false),
                uri_encode(&percent_decode(v), false),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            // Work on bytes: the path may hold multi-byte UTF-8 right after '%'.
            if let Some(&[h, l]) = b.get(i + 1..i + 3) {
                if let (Some(h), Some(l)) = ((h as char).to_digit(16), (l as char).to_digit(16)) {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The canonical request. `headers` are (name, value) pairs; names are
/// compared case-insensitively; only `signed_headers` are included.
pub fn canonical_request(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    signed_headers: &[String],
    payload_sha256_hex: &str,
) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(method);
    out.push('\n');
    let path = if path.is_empty() { "/" } else { path };
    out.push_str(&uri_encode(&percent_decode(path), true));
    out.push('\n');
    out.push_str(&canonical_query(query));
    out.push('\n');
    for name in signed_headers {
        let values: Vec<String> = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed_headers.join(";"));
    out.push('\n');
    out.push_str(payload_sha256_hex);
    out
}

/// The signing key for a scope.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// The hex signature of a canonical request.
pub fn signature(
    secret: &str,
    amz_date: &str,
    scope_date: &str,
    region: &str,
    service: &str,
    canonical: &str,
) -> String {
    let scope = format!("{scope_date}/{region}/{service}/aws4_request");
    let sts = format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", sha256_hex(canonical.as_bytes()));
    hex::encode(hmac(&signing_key(secret, scope_date, region, service), sts.as_bytes()))
}

/// Builds the `Authorization` header value.
pub fn authorization_header(access_key_id: &str, scope: &str, signed_headers: &[String], signature: &str) -> String {
    format!(
        "{ALGORITHM} Credential={access_key_id}/{scope}, SignedHeaders={}, Signature={signature}",
        signed_headers.join(";")
    )
}

/// Parses an `Authorization` header value.
pub fn parse_authorization(value: &str) -> Result<Authorization, SigError> {
    let rest = value
        .strip_prefix(ALGORITHM)
        .ok_or(SigError::UnsupportedAlgorithm)?
        .trim_start();
    let (mut credential, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            sig = Some(v);
        }
    }
    let credential = credential.ok_or(SigError::MissingCredential)?;
    let signed = signed.ok_or(SigError::MissingSignedHeaders)?;
    let sig = sig.ok_or(SigError::MissingSignature)?;
    let mut c = credential.split('/');
    let (Some(ak), Some(date), Some(region), Some(service), Some("aws4_request"), None) =
        (c.next(), c.next(), c.next(), c.next(), c.next(), c.next())
    else {
        return Err(SigError::BadCredentialScope);
    };
    if ak.is_empty() || date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SigError::BadCredentialScope);
    }
    if sig.len() != 64 || !sig.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SigError::BadSignature);
    }
    let signed_headers: Vec<String> = signed.split(';').map(|h| h.to_ascii_lowercase()).collect();
    if signed_headers.iter().any(|h| h.is_empty()) {
        return Err(SigError::BadSignedHeaders);
    }
    Ok(Authorization {
        access_key_id: ak.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers,
        signature: sig.to_ascii_lowercase(),
    })
}

/// `YYYYMMDDTHHMMSSZ` for a time.
pub fn format_amz_date(t: UnixMillis) -> String {
    let iso = t.to_rfc3339(); // 2015-08-30T12:36:00Z
    iso.chars().filter(|c| *c != '-' && *c != ':').collect()
}

/// Parses `YYYYMMDDTHHMMSSZ`.
pub fn parse_amz_date(s: &str) -> Option<UnixMillis> {
    let f = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let t = time::PrimitiveDateTime::parse(s, &f).ok()?;
    Some(UnixMillis(t.assume_utc().unix_timestamp().checked_mul(1000)?))
}

/// Compares two signatures in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of AWS's SigV4 documentation (IAM ListUsers).
    #[test]
    fn aws_documentation_example() {
        let headers = [
            ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
            ("Host", "iam.amazonaws.com"),
            ("X-Amz-Date", "20150830T123600Z"),
        ];
        let signed: Vec<String> = ["content-type", "host", "x-amz-date"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let canonical = canonical_request(
            "GET",
            "/",
            "Action=ListUsers&Version=2010-05-08",
            &headers,
            &signed,
            &sha256_hex(b""),
        );
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        let sig = signature(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830T123600Z",
            "20150830",
            "us-east-1",
            "iam",
            &canonical,
        );
        assert_eq!(sig, "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
    }

    #[test]
    fn authorization_round_trip() {
        let signed = vec!["host".to_string(), "x-amz-date".to_string()];
        let h = authorization_header("AKID", "20150830/us-east-1/kms/aws4_request", &signed, &"a".repeat(64));
        let a = parse_authorization(&h).unwrap();
        assert_eq!(a.access_key_id, "AKID");
        assert_eq!(a.region, "us-east-1");
        assert_eq!(a.service, "kms");
        assert_eq!(a.signed_headers, signed);
        assert!(parse_authorization("Basic abc").is_err());
        assert!(parse_authorization("AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=host, Signature=00").is_err());
    }

    #[test]
    fn percent_decoding_never_panics_and_decodes_the_last_escape() {
        assert_eq!(percent_decode("/a%20b%2F"), "/a b/");
        for s in ["/%a\u{e9}", "%", "%e", "%\u{e9}\u{e9}", "/%zz", "\u{1F600}%41"] {
            let _ = percent_decode(s);
            let _ = canonical_request("POST", s, s, &[], &[], "");
        }
    }

    #[test]
    fn amz_date_round_trip() {
        let t = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(format_amz_date(t), "20150830T123600Z");
        assert!(parse_amz_date("2015-08-30").is_none());
    }
}
