//! `tern kms <op>`: aws-cli style calls. Flags become the operation's AWS
//! members (`--key-id` → `KeyId`), are decoded into the request message via
//! its serde form, and the response prints with AWS member names and base64
//! blobs. `--output text --query Member` prints one member bare, so the
//! aws-cli pipelines of the seed notes work unchanged.

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use serde_json::{Map, Value};
use tern_client::{connect_tls, error_kind, Credentials, KmsClient};
use tern_proto::pb;

use crate::cluster::{DEFAULT_BASE_PORT, DEFAULT_REGIONS};

/// aws-cli's exit code for a service error.
const EXIT_SERVICE_ERROR: i32 = 254;
/// aws-cli's exit code for a usage error.
const EXIT_USAGE: i32 = 252;

#[derive(Debug, Default)]
struct Globals {
    endpoint_url: Option<String>,
    region: Option<String>,
    output: Option<String>,
    query: Option<String>,
    ca_bundle: Option<String>,
}

/// `key-id` → `KeyId`.
fn member_name(flag: &str) -> String {
    flag.split('-')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// `create-key` → `CreateKey`, as aws-cli names the operation in errors.
fn operation_name(op: &str) -> String {
    member_name(op)
}

fn read_file(path: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {path}"))
}

fn blob_value(raw: &str) -> Result<Value> {
    let bytes = match raw.strip_prefix("fileb://") {
        Some(p) => read_file(p)?,
        None => match raw.strip_prefix("file://") {
            Some(p) => read_file(p)?,
            None => raw.as_bytes().to_vec(),
        },
    };
    Ok(Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)))
}

fn text_value(raw: &str) -> Result<String> {
    match raw.strip_prefix("file://") {
        Some(p) => String::from_utf8(read_file(p)?).context("file is not UTF-8"),
        None => Ok(raw.to_string()),
    }
}

/// `k=v,k2=v2` or a JSON object.
fn map_value(raw: &str) -> Result<Value> {
    let raw = text_value(raw)?;
    if raw.trim_start().starts_with('{') {
        return serde_json::from_str(&raw).context("invalid JSON map");
    }
    let mut m = Map::new();
    for pair in raw.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| anyhow!("expected key=value, got {pair:?}"))?;
        m.insert(k.to_string(), Value::String(v.to_string()));
    }
    Ok(Value::Object(m))
}

/// aws-cli shorthand `TagKey=a,TagValue=b` (one per argument) or JSON.
fn tags_value(values: &[String]) -> Result<Value> {
    if values.len() == 1 && values[0].trim_start().starts_with('[') {
        return serde_json::from_str(&values[0]).context("invalid JSON tag list");
    }
    let mut out = Vec::new();
    for v in values {
        let mut tag = Map::new();
        for part in v.split(',') {
            let (k, val) = part
                .split_once('=')
                .ok_or_else(|| anyhow!("expected TagKey=..,TagValue=.., got {v:?}"))?;
            tag.insert(k.to_string(), Value::String(val.to_string()));
        }
        out.push(Value::Object(tag));
    }
    Ok(Value::Array(out))
}

fn member_value(member: &str, values: &[String]) -> Result<Value> {
    let one = || -> Result<&String> {
        match values {
            [v] => Ok(v),
            [] => bail!("--{} needs a value", member),
            _ => bail!("--{} takes one value", member),
        }
    };
    Ok(match member {
        "Plaintext"
        | "CiphertextBlob"
        | "Message"
        | "Signature"
        | "Mac"
        | "PublicKey"
        | "ImportToken"
        | "EncryptedKeyMaterial" => blob_value(one()?)?,
        "ValidTo" => Value::from(
            one()?
                .parse::<f64>()
                .with_context(|| format!("{member} must be seconds since the epoch"))?,
        ),
        "EncryptionContext" | "SourceEncryptionContext" | "DestinationEncryptionContext" => map_value(one()?)?,
        "Limit" | "NumberOfBytes" | "PendingWindowInDays" | "RotationPeriodInDays" => Value::from(
            one()?
                .parse::<i64>()
                .with_context(|| format!("{member} must be an integer"))?,
        ),
        "Tags" => tags_value(values)?,
        "TagKeys" | "GrantTokens" | "Operations" => Value::Array(values.iter().cloned().map(Value::String).collect()),
        "Constraints" => serde_json::from_str(&text_value(one()?)?).context("--constraints takes JSON")?,
        _ => Value::String(text_value(one()?)?),
    })
}

const BOOL_MEMBERS: &[&str] = &["MultiRegion", "BypassPolicyLockoutSafetyCheck", "DryRun"];

fn parse_args(args: &[String]) -> Result<(Globals, Value)> {
    let mut g = Globals::default();
    let mut members = Map::new();
    let mut i = 0;
    while i < args.len() {
        let flag = args[i]
            .strip_prefix("--")
            .ok_or_else(|| anyhow!("unexpected argument {:?}", args[i]))?;
        i += 1;
        let mut values = Vec::new();
        while i < args.len() && !args[i].starts_with("--") {
            values.push(args[i].clone());
            i += 1;
        }
        let single = |name: &str| -> Result<String> {
            values
                .first()
                .cloned()
                .filter(|_| values.len() == 1)
                .ok_or_else(|| anyhow!("--{name} takes one value"))
        };
        match flag {
            "endpoint-url" => g.endpoint_url = Some(single(flag)?),
            "region" => g.region = Some(single(flag)?),
            "output" => g.output = Some(single(flag)?),
            "query" => g.query = Some(single(flag)?),
            "ca-bundle" => g.ca_bundle = Some(single(flag)?),
            "no-cli-pager" | "no-paginate" => {}
            _ => {
                if let Some(neg) = flag.strip_prefix("no-") {
                    let m = member_name(neg);
                    if BOOL_MEMBERS.contains(&m.as_str()) {
                        members.insert(m, Value::Bool(false));
                        continue;
                    }
                }
                let m = member_name(flag);
                if BOOL_MEMBERS.contains(&m.as_str()) && values.is_empty() {
                    members.insert(m, Value::Bool(true));
                } else {
                    let v = member_value(&m, &values)?;
                    members.insert(m, v);
                }
            }
        }
    }
    Ok((g, Value::Object(members)))
}

/// The endpoint: `--endpoint-url`, else the `tern dev` port of the region.
fn endpoint(g: &Globals, region: &str) -> Result<String> {
    if let Some(e) = &g.endpoint_url {
        return Ok(e.clone());
    }
    match DEFAULT_REGIONS.split(',').position(|r| r == region) {
        Some(i) => Ok(format!("http://127.0.0.1:{}", DEFAULT_BASE_PORT + i as u16)),
        None => bail!("no default endpoint for region {region}; pass --endpoint-url"),
    }
}

/// aws-cli's `--ca-bundle`, else `AWS_CA_BUNDLE`: the CA that issued an
/// https endpoint's certificate (`tern init --client-tls` writes
/// `cluster-ca.pem`).
pub fn ca_bundle(flag: Option<&str>) -> Result<tern_client::Tls> {
    let path = flag
        .map(str::to_string)
        .or_else(|| std::env::var("AWS_CA_BUNDLE").ok())
        .filter(|p| !p.is_empty());
    let ca_pem = match path {
        Some(p) => Some(std::fs::read_to_string(&p).with_context(|| format!("reading the CA bundle {p}"))?),
        None => None,
    };
    Ok(tern_client::Tls { ca_pem, domain: None })
}

fn region(g: &Globals) -> String {
    g.region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "us-east-1".to_string())
}

/// An API failure, carrying the AWS exception name.
struct ApiError {
    kind: String,
    message: String,
}

/// `tern kms <operation>`: aws-cli's names, the method names in kebab case.
macro_rules! operations {
    ($($name:ident: $method:ident($req:ident) -> $resp:ident;)+) => {
        const METHODS: &[&str] = &[$(stringify!($method)),+];

        fn operations() -> String {
            METHODS.iter().map(|m| m.replace('_', "-")).collect::<Vec<_>>().join(", ")
        }

        fn known_operation(op: &str) -> bool {
            METHODS.contains(&op.replace('-', "_").as_str())
        }

        async fn call(client: &mut KmsClient, op: &str, members: Value) -> Result<std::result::Result<Value, ApiError>> {
            match op.replace('-', "_").as_str() {
                $(stringify!($method) => {
                    let req: pb::$req = serde_json::from_value(members).map_err(|e| anyhow!("invalid parameters: {e}"))?;
                    // One idempotency token across the retries: a retried
                    // Multi-Region write gets the first attempt's outcome.
                    let answer = tern_client::with_retries(&tern_client::Retry::default(), |token| {
                        let mut c = client.clone();
                        let req = req.clone();
                        async move { c.$method(tern_client::idempotent(req, &token)).await }
                    })
                    .await;
                    match answer {
                        Ok(resp) => Ok(Ok(serde_json::to_value(resp.into_inner())?)),
                        Err(status) => Ok(Err(ApiError {
                            kind: error_kind(&status).unwrap_or("KMSInternalException").to_string(),
                            message: status.message().to_string(),
                        })),
                    }
                })+
                _ => bail!("unknown operation {op:?}; known: {}", operations()),
            }
        }
    };
}

tern_server::for_each_operation!(operations);

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "None".to_string(),
        Value::Array(a) => a.iter().map(text_of).collect::<Vec<_>>().join("\t"),
        Value::Object(o) => o.values().map(text_of).collect::<Vec<_>>().join("\t"),
        other => other.to_string(),
    }
}

fn render(g: &Globals, v: Value) -> Result<String> {
    let v = match &g.query {
        // A dotted member path (`KeyMetadata.KeyId`): the subset of
        // aws-cli's JMESPath that scripts use most.
        Some(q) => q
            .split('.')
            .try_fold(&v, |v, member| v.get(member))
            .cloned()
            .unwrap_or(Value::Null),
        None => v,
    };
    match g.output.as_deref().unwrap_or("json") {
        "json" => {
            if v.as_object().is_some_and(|o| o.is_empty()) {
                return Ok(String::new());
            }
            Ok(serde_json::to_string_pretty(&v)?)
        }
        "text" => Ok(text_of(&v)),
        other => bail!("--output must be json or text, not {other:?}"),
    }
}

/// Runs one operation; returns the process exit code.
pub async fn run(op: &str, args: &[String]) -> i32 {
    match run_inner(op, args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tern kms: {e:#}");
            EXIT_USAGE
        }
    }
}

async fn run_inner(op: &str, args: &[String]) -> Result<i32> {
    if !known_operation(op) {
        bail!("unknown operation {op:?}; known: {}", operations());
    }
    let (g, members) = parse_args(args)?;
    let region = region(&g);
    let endpoint = endpoint(&g, &region)?;
    let creds = Credentials::from_environment().map_err(|e| anyhow::anyhow!(e))?;
    let mut client = connect_tls(&endpoint, &region, creds, &ca_bundle(g.ca_bundle.as_deref())?)
        .await
        .map_err(|e| anyhow!("cannot connect to {endpoint}: {e}"))?;
    match call(&mut client, op, members).await? {
        Ok(v) => {
            let out = render(&g, v)?;
            if !out.is_empty() {
                println!("{out}");
            }
            Ok(0)
        }
        Err(e) => {
            eprintln!(
                "\nAn error occurred ({}) when calling the {} operation: {}",
                e.kind,
                operation_name(op),
                e.message
            );
            Ok(EXIT_SERVICE_ERROR)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn flags_become_members() {
        let (g, m) = parse_args(&args(&[
            "--key-id",
            "alias/x",
            "--plaintext",
            "hi",
            "--encryption-context",
            "a=1,b=2",
            "--output",
            "text",
            "--query",
            "CiphertextBlob",
            "--dry-run",
            "--tags",
            "TagKey=k,TagValue=v",
            "--limit",
            "5",
        ]))
        .unwrap();
        assert_eq!(g.output.as_deref(), Some("text"));
        assert_eq!(g.query.as_deref(), Some("CiphertextBlob"));
        assert_eq!(m["KeyId"], "alias/x");
        assert_eq!(m["Plaintext"], "aGk=");
        assert_eq!(m["EncryptionContext"]["b"], "2");
        assert_eq!(m["DryRun"], true);
        assert_eq!(m["Tags"][0]["TagKey"], "k");
        assert_eq!(m["Limit"], 5);
        let req: pb::EncryptRequest = serde_json::from_value(m).unwrap();
        assert_eq!(req.plaintext, b"hi");
    }

    #[test]
    fn renders_a_dotted_query() {
        let g = Globals {
            output: Some("text".into()),
            query: Some("KeyMetadata.MultiRegionConfiguration.MultiRegionKeyType".into()),
            ..Default::default()
        };
        let v = serde_json::json!({"KeyMetadata": {"MultiRegionConfiguration": {"MultiRegionKeyType": "REPLICA"}}});
        assert_eq!(render(&g, v.clone()).unwrap(), "REPLICA");
        let g = Globals {
            query: Some("KeyMetadata.Nope".into()),
            ..g
        };
        assert_eq!(render(&g, v).unwrap(), "None");
    }

    #[test]
    fn renders_text_query() {
        let g = Globals {
            output: Some("text".into()),
            query: Some("Plaintext".into()),
            ..Default::default()
        };
        let v = serde_json::json!({"Plaintext": "aGk=", "KeyId": "k"});
        assert_eq!(render(&g, v).unwrap(), "aGk=");
        assert_eq!(operation_name("generate-data-key"), "GenerateDataKey");
    }
}
