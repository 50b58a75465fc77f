//! Generated protobuf messages and tonic stubs for tern's client API
//! (`proto/tern/kms/v1/kms.proto`) and the peer API between regions
//! (`proto/tern/raft/v1/raft.proto`).
//!
//! This crate holds no logic. The service layer uses the messages as its
//! request and response types; only tern-server and tern-client touch the
//! tonic stubs. Every message also (de)serializes as the AWS JSON 1.1 member
//! layout: PascalCase names, base64 blobs, absent members omitted.
#![allow(missing_debug_implementations, clippy::all)]

pub mod kms {
    pub mod v1 {
        tonic::include_proto!("tern.kms.v1");
    }
}

pub mod raft {
    pub mod v1 {
        tonic::include_proto!("tern.raft.v1");
    }
}

pub use kms::v1 as pb;
/// The peer API between regions (`proto/tern/raft/v1/raft.proto`).
pub use raft::v1 as raft_pb;

/// Serde for blob members: standard base64 strings, as on the AWS wire.
pub mod b64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::pb;

    #[test]
    fn aws_json_member_names() {
        let r = pb::EncryptResponse {
            ciphertext_blob: vec![1, 2, 3],
            key_id: "k".into(),
            encryption_algorithm: "SYMMETRIC_DEFAULT".into(),
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["CiphertextBlob"], "AQID");
        assert_eq!(v["KeyId"], "k");
        let md = pb::KeyMetadata {
            aws_account_id: "111122223333".into(),
            ..Default::default()
        };
        let v = serde_json::to_value(&md).unwrap();
        assert_eq!(v["AWSAccountId"], "111122223333");
        assert!(v.get("DeletionDate").is_none(), "absent members are omitted");
        let req: pb::DecryptRequest =
            serde_json::from_str(r#"{"CiphertextBlob":"AQID","EncryptionContext":{"a":"b"}}"#).unwrap();
        assert_eq!(req.ciphertext_blob, vec![1, 2, 3]);
        assert_eq!(req.encryption_context.get("a").map(String::as_str), Some("b"));
        assert_eq!(req.key_id, None);
    }
}
