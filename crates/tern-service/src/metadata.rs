//! Key records as the API shows them.

use tern_core::key::{KeyRecord, KeyState};
use tern_proto::pb;

pub(crate) fn key_metadata(k: &KeyRecord) -> pb::KeyMetadata {
    pb::KeyMetadata {
        aws_account_id: k.account.to_string(),
        key_id: k.key_id.to_string(),
        arn: k.arn(),
        creation_date: k.created.as_epoch_seconds(),
        enabled: k.state == KeyState::Enabled,
        description: k.description.clone(),
        key_usage: k.key_usage.to_string(),
        key_state: k.state.to_string(),
        deletion_date: k.deletion_date.map(|d| d.as_epoch_seconds()),
        valid_to: k.import.as_ref().and_then(|i| i.valid_to).map(|v| v.as_epoch_seconds()),
        origin: k.origin.to_string(),
        key_manager: k.key_manager.to_string(),
        customer_master_key_spec: k.key_spec.customer_master_key_spec().to_string(),
        key_spec: k.key_spec.to_string(),
        encryption_algorithms: k
            .key_spec
            .encryption_algorithms(k.key_usage)
            .iter()
            .map(|a| a.to_string())
            .collect(),
        multi_region: k.key_id.is_multi_region(),
        pending_deletion_window_in_days: k.pending_window_days.map(|d| d as i32),
        // Symmetric encryption keys only: AWS shows no CurrentKeyMaterialId
        // for HMAC or asymmetric keys (imported or not).
        current_key_material_id: (k.key_spec == tern_core::key::KeySpec::SymmetricDefault)
            .then(|| k.current_material_id().map(|m| m.to_string()))
            .flatten(),
        expiration_model: k
            .import
            .as_ref()
            .and_then(|i| i.expiration_model)
            .map(|m| m.to_string()),
        signing_algorithms: k
            .key_spec
            .signing_algorithms(k.key_usage)
            .iter()
            .map(|a| a.to_string())
            .collect(),
        key_agreement_algorithms: k
            .key_spec
            .key_agreement_algorithms(k.key_usage)
            .iter()
            .map(|a| a.to_string())
            .collect(),
        mac_algorithms: k
            .key_spec
            .mac_algorithms(k.key_usage)
            .iter()
            .map(|a| a.to_string())
            .collect(),
        multi_region_configuration: k.multi_region.as_ref().map(|mr| {
            let key = |r: &tern_core::ids::Region| pb::MultiRegionKey {
                arn: tern_core::ids::key_arn(r, &k.account, &k.key_id),
                region: r.to_string(),
            };
            pb::MultiRegionConfiguration {
                multi_region_key_type: if mr.is_primary(&k.region) { "PRIMARY" } else { "REPLICA" }.to_string(),
                primary_key: Some(key(&mr.primary)),
                replica_keys: mr.replicas.iter().map(key).collect(),
            }
        }),
    }
}
