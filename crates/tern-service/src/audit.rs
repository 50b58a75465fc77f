//! CloudTrail-shaped audit records. Never carries plaintext or key material:
//! request parameters are built by each operation from non-secret fields only.

use serde::Serialize;
use serde_json::Value;
use tern_core::ids::{AccountId, Region};
use tern_core::time::UnixMillis;

use crate::caller::RequestContext;
use crate::error::{KmsError, KmsResult};

/// What an operation tells the audit log about itself.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub name: &'static str,
    pub read_only: bool,
    pub params: Value,
    /// The key the request touched (ARN, owning account), once known.
    pub resource: Option<(String, AccountId)>,
    pub response: Option<Value>,
}

impl AuditEvent {
    pub fn new(name: &'static str, read_only: bool, params: Value) -> Self {
        AuditEvent {
            name,
            read_only,
            params,
            resource: None,
            response: None,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    event_version: &'static str,
    user_identity: Value,
    event_time: String,
    event_source: &'static str,
    event_name: &'a str,
    aws_region: &'a str,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: &'a str,
    user_agent: &'a str,
    request_parameters: &'a Value,
    response_elements: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    #[serde(rename = "requestID")]
    request_id: String,
    #[serde(rename = "eventID")]
    event_id: String,
    read_only: bool,
    resources: Vec<Resource<'a>>,
    event_type: &'static str,
    management_event: bool,
    recipient_account_id: &'a str,
    event_category: &'static str,
}

#[derive(Serialize)]
struct Resource<'a> {
    #[serde(rename = "accountId")]
    account_id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "ARN")]
    arn: &'a str,
}

/// A random (v4) UUID from the thread-local CSPRNG (no syscall per id).
fn new_id() -> String {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid().to_string()
}

/// The JSON bytes of a record for a call made by a principal.
pub fn api_call_record(
    region: &Region,
    ctx: &RequestContext,
    ev: &AuditEvent,
    error: Option<&KmsError>,
    now: UnixMillis,
) -> KmsResult<Vec<u8>> {
    let c = &ctx.caller;
    let user_identity = serde_json::json!({
        "type": c.kind.as_str(),
        "principalId": c.principal_id,
        "arn": c.arn,
        "accountId": c.account.as_str(),
        "accessKeyId": c.access_key_id,
    });
    let resources = ev
        .resource
        .iter()
        .map(|(arn, acct)| Resource {
            account_id: acct.as_str(),
            kind: "AWS::KMS::Key",
            arn,
        })
        .collect();
    let recipient = ev.resource.as_ref().map(|(_, a)| a).unwrap_or(&c.account);
    let r = Record {
        event_version: "1.08",
        user_identity,
        event_time: now.to_rfc3339(),
        event_source: "kms.amazonaws.com",
        event_name: ev.name,
        aws_region: region.as_str(),
        source_ip_address: ctx.source_ip.as_deref().unwrap_or("unknown"),
        user_agent: ctx.user_agent.as_deref().unwrap_or("unknown"),
        request_parameters: &ev.params,
        response_elements: if error.is_some() { None } else { ev.response.as_ref() },
        error_code: error.map(|e| e.kind.as_str()),
        error_message: error.map(|e| e.message.as_str()).filter(|m| !m.is_empty()),
        request_id: new_id(),
        event_id: new_id(),
        read_only: ev.read_only,
        resources,
        event_type: "AwsApiCall",
        management_event: true,
        recipient_account_id: recipient.as_str(),
        event_category: "Management",
    };
    encode_record(&r)
}

/// A record's JSON bytes. Fails closed: a record that cannot be encoded
/// fails the request (never empty bytes in the audit chain).
fn encode_record<T: Serialize>(r: &T) -> KmsResult<Vec<u8>> {
    serde_json::to_vec(r).map_err(|e| KmsError::internal(format!("the audit record could not be encoded: {e}")))
}

/// Adds `record` to the transaction's audit records, or aborts the
/// transaction when the record could not be made: nothing is written
/// unaudited.
pub fn audit_or_abort(txn: &mut tern_store::Txn<'_>, record: KmsResult<Vec<u8>>) -> KmsResult<()> {
    match record {
        Ok(bytes) => {
            txn.audit(bytes);
            Ok(())
        }
        Err(e) => {
            txn.abort();
            tracing::error!(error = %e.message, "an audit record could not be encoded: the change was not made (a bug; report it)");
            Err(e)
        }
    }
}

/// The JSON bytes of a record for something the service did by itself
/// (automatic rotation, completed deletion).
pub fn service_event_record(
    region: &Region,
    name: &str,
    arn: &str,
    account: &AccountId,
    now: UnixMillis,
) -> KmsResult<Vec<u8>> {
    encode_record(&serde_json::json!({
        "eventVersion": "1.08",
        "userIdentity": { "accountId": account.as_str(), "invokedBy": "kms.amazonaws.com" },
        "eventTime": now.to_rfc3339(),
        "eventSource": "kms.amazonaws.com",
        "eventName": name,
        "awsRegion": region.as_str(),
        "sourceIPAddress": "kms.amazonaws.com",
        "userAgent": "kms.amazonaws.com",
        "requestParameters": null,
        "responseElements": null,
        "eventID": new_id(),
        "readOnly": false,
        "resources": [{ "accountId": account.as_str(), "type": "AWS::KMS::Key", "ARN": arn }],
        "eventType": "AwsServiceEvent",
        "managementEvent": true,
        "recipientAccountId": account.as_str(),
        "serviceEventDetails": { "keyId": arn },
        "eventCategory": "Management",
    }))
}
