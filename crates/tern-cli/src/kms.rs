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

/// aws-cli's global options, taken before or after the operation.
#[derive(Debug, Default)]
struct Globals {
    endpoint_url: Option<String>,
    region: Option<String>,
    output: Option<String>,
    query: Option<String>,
    ca_bundle: Option<String>,
    /// A profile of the shared config and credentials files.
    profile: Option<String>,
    /// Print the request and the answer to stderr.
    debug: bool,
}

/// Global options that take a value.
const GLOBALS_WITH_VALUE: &[&str] = &["endpoint-url", "region", "output", "query", "ca-bundle", "profile"];
/// Global options without a value, accepted (and, but `--debug`, ignored)
/// as aws-cli accepts them.
const GLOBAL_FLAGS: &[&str] = &[
    "debug",
    "no-cli-pager",
    "no-paginate",
    "no-verify-ssl",
    "no-sign-request",
];

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

/// Splits `tern kms` arguments as aws-cli does: global options anywhere,
/// the operation (the first bare word), then its members.
fn parse_args(args: &[String]) -> Result<(Globals, Option<String>, Value)> {
    let mut g = Globals::default();
    let mut op = None;
    let mut members = Map::new();
    let mut i = 0;
    while i < args.len() {
        let Some(flag) = args[i].strip_prefix("--") else {
            if op.is_none() {
                op = Some(args[i].clone());
                i += 1;
                continue;
            }
            bail!("unexpected argument {:?}", args[i]);
        };
        i += 1;
        if GLOBALS_WITH_VALUE.contains(&flag) {
            let value = args
                .get(i)
                .filter(|v| !v.starts_with("--"))
                .ok_or_else(|| anyhow!("--{flag} takes one value"))?
                .clone();
            i += 1;
            match flag {
                "endpoint-url" => g.endpoint_url = Some(value),
                "region" => g.region = Some(value),
                "output" => g.output = Some(value),
                "query" => g.query = Some(value),
                "ca-bundle" => g.ca_bundle = Some(value),
                _ => g.profile = Some(value),
            }
            continue;
        }
        if GLOBAL_FLAGS.contains(&flag) {
            g.debug |= flag == "debug";
            continue;
        }
        let mut values = Vec::new();
        while i < args.len() && !args[i].starts_with("--") {
            values.push(args[i].clone());
            i += 1;
        }
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
    Ok((g, op, Value::Object(members)))
}

/// A value of `profile`'s section in an AWS shared config file
/// (`[default]`, `[profile NAME]`).
fn config_value(text: &str, profile: &str, key: &str) -> Option<String> {
    let want = if profile == "default" {
        "default".to_string()
    } else {
        format!("profile {profile}")
    };
    let mut in_section = false;
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_section = name.trim() == want;
            continue;
        }
        if in_section {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == key {
                    return Some(v.trim().to_string()).filter(|v| !v.is_empty());
                }
            }
        }
    }
    None
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

/// The profile: `--profile`, else `AWS_PROFILE`, else `default`.
fn profile(g: &Globals) -> String {
    g.profile
        .clone()
        .or_else(|| env("AWS_PROFILE"))
        .unwrap_or_else(|| "default".into())
}

/// `~/.aws/<name>`, or the file the environment variable names.
fn aws_file(var: &str, name: &str) -> Option<std::path::PathBuf> {
    env(var)
        .map(std::path::PathBuf::from)
        .or_else(|| env("HOME").map(|h| std::path::Path::new(&h).join(".aws").join(name)))
}

/// Credentials as aws-cli finds them: `--profile` names a profile of the
/// shared credentials file; else the environment, then `AWS_PROFILE`'s.
fn credentials(g: &Globals) -> Result<Credentials> {
    let Some(p) = &g.profile else {
        return Credentials::from_environment().map_err(|e| anyhow!(e));
    };
    let path = aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials")
        .ok_or_else(|| anyhow!("HOME is unknown: cannot find the shared credentials file"))?;
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Credentials::from_shared_credentials(&text, p)
        .ok_or_else(|| anyhow!("The config profile ({p}) could not be found in {}", path.display()))
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

/// `--region`, else `AWS_REGION`/`AWS_DEFAULT_REGION`, else the profile's
/// `region` in the shared config file, else us-east-1.
fn region(g: &Globals) -> String {
    g.region
        .clone()
        .filter(|r| !r.is_empty())
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or_else(|| {
            let text = std::fs::read_to_string(aws_file("AWS_CONFIG_FILE", "config")?).ok()?;
            config_value(&text, &profile(g), "region")
        })
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
                        Ok(resp) => {
                            // The members aws-cli would print: AWS's output shape.
                            let mut v = serde_json::to_value(resp.into_inner())?;
                            tern_server::aws_shape::shape_output(stringify!($name), &mut v);
                            Ok(Ok(v))
                        }
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

/// aws-cli's text output: scalars bare, a list of scalars tab-separated,
/// a list of lists or objects one line each.
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "None".to_string(),
        Value::Array(a) if a.iter().any(|x| x.is_array() || x.is_object()) => {
            a.iter().map(text_of).collect::<Vec<_>>().join("\n")
        }
        Value::Array(a) => a.iter().map(text_of).collect::<Vec<_>>().join("\t"),
        Value::Object(o) => o.values().map(text_of).collect::<Vec<_>>().join("\t"),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        other => other.to_string(),
    }
}

/// `--query`: a JMESPath expression over the answer, as aws-cli's.
fn query(expression: &str, v: &Value) -> Result<Value> {
    let expr = jmespath::compile(expression).map_err(|e| anyhow!("Bad value for --query {expression}: {e}"))?;
    let data = jmespath::Variable::from_serializable(v).map_err(|e| anyhow!("--query: {e}"))?;
    let found = expr.search(data).map_err(|e| anyhow!("--query {expression}: {e}"))?;
    Ok(serde_json::to_value(&*found)?)
}

fn render(g: &Globals, v: Value) -> Result<String> {
    let v = match &g.query {
        Some(q) => query(q, &v)?,
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

/// Runs one operation (`args`: aws-cli's global options, the operation and
/// its members, in any order aws-cli takes them); returns the exit code.
pub async fn run(args: &[String]) -> i32 {
    match run_inner(args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tern kms: {e:#}");
            EXIT_USAGE
        }
    }
}

async fn run_inner(args: &[String]) -> Result<i32> {
    let (g, op, members) = parse_args(args)?;
    let Some(op) = op else {
        bail!("no operation given; known: {}", operations());
    };
    let op = op.as_str();
    if !known_operation(op) {
        bail!("unknown operation {op:?}; known: {}", operations());
    }
    if let Some(q) = &g.query {
        jmespath::compile(q).map_err(|e| anyhow!("Bad value for --query {q}: {e}"))?;
    }
    let region = region(&g);
    let endpoint = endpoint(&g, &region)?;
    let creds = credentials(&g)?;
    if g.debug {
        eprintln!(
            "DEBUG - calling {} on {endpoint} (region {region}) with {members}",
            operation_name(op)
        );
    }
    let mut client = connect_tls(&endpoint, &region, creds, &ca_bundle(g.ca_bundle.as_deref())?)
        .await
        .map_err(|e| anyhow!("cannot connect to {endpoint}: {e}"))?;
    let answer = call(&mut client, op, members).await?;
    if g.debug {
        match &answer {
            Ok(v) => eprintln!("DEBUG - answer: {v}"),
            Err(e) => eprintln!("DEBUG - error answer: {} {}", e.kind, e.message),
        }
    }
    match answer {
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
        let (g, op, m) = parse_args(&args(&[
            "--region",
            "eu-west-1",
            "encrypt",
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
        assert_eq!(op.as_deref(), Some("encrypt"));
        assert_eq!(g.region.as_deref(), Some("eu-west-1"));
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
    fn global_options_go_before_or_after_the_operation() {
        for a in [
            &["--region", "eu-west-1", "--output", "text", "list-keys", "--limit", "2"][..],
            &["list-keys", "--limit", "2", "--output", "text", "--region", "eu-west-1"][..],
            &[
                "--profile",
                "p",
                "list-keys",
                "--debug",
                "--limit",
                "2",
                "--region",
                "eu-west-1",
                "--output",
                "text",
            ][..],
        ] {
            let (g, op, m) = parse_args(&args(a)).unwrap();
            assert_eq!(op.as_deref(), Some("list-keys"), "{a:?}");
            assert_eq!(g.region.as_deref(), Some("eu-west-1"));
            assert_eq!(g.output.as_deref(), Some("text"));
            assert_eq!(m, serde_json::json!({"Limit": 2}));
        }
        let (g, _, _) = parse_args(&args(&["--profile", "p", "--debug", "list-keys"])).unwrap();
        assert_eq!(g.profile.as_deref(), Some("p"));
        assert!(g.debug);
        assert!(parse_args(&args(&["list-keys", "extra"])).is_err());
        assert!(parse_args(&args(&["list-keys", "--region"])).is_err());
    }

    #[test]
    fn jmespath_queries() {
        let v = serde_json::json!({"Keys": [{"KeyId": "a", "KeyArn": "arn:a"}, {"KeyId": "b", "KeyArn": "arn:b"}], "Truncated": false});
        let g = |q: &str, o: &str| Globals {
            query: Some(q.into()),
            output: Some(o.into()),
            ..Default::default()
        };
        assert_eq!(render(&g("Keys[].KeyId", "text"), v.clone()).unwrap(), "a\tb");
        assert_eq!(render(&g("Keys[0].KeyArn", "text"), v.clone()).unwrap(), "arn:a");
        assert_eq!(render(&g("length(Keys)", "json"), v.clone()).unwrap(), "2");
        assert_eq!(
            render(&g("Keys[?KeyId=='b'].KeyArn | [0]", "text"), v.clone()).unwrap(),
            "arn:b"
        );
        assert_eq!(render(&g("Truncated", "text"), v.clone()).unwrap(), "False");
        assert_eq!(
            render(&g("Keys[].[KeyId, KeyArn]", "text"), v.clone()).unwrap(),
            "a\tarn:a\nb\tarn:b"
        );
        assert!(render(&g("Keys[", "json"), v).is_err());
    }

    #[test]
    fn profiles_of_the_shared_config_file() {
        let text = "[default]\nregion = us-east-1\n\n[profile eu]\nregion=eu-west-1\noutput = text\n";
        assert_eq!(config_value(text, "default", "region").as_deref(), Some("us-east-1"));
        assert_eq!(config_value(text, "eu", "region").as_deref(), Some("eu-west-1"));
        assert_eq!(config_value(text, "none", "region"), None);
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
