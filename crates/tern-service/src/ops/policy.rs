//! Key policies: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies. Policies are
//! validated and stored; enforcement arrives with tern-policy.

use serde_json::json;
use tern_core::key::KeyOp;
use tern_proto::pb;

use crate::audit::AuditEvent;
use crate::authz::{condition, Access, Action, RequestFacts, StateRule};
use crate::caller::RequestContext;
use crate::error::KmsResult;
use crate::kms::Kms;
use crate::resolve::IdForms;
use crate::validate::{self, DEFAULT_POLICY_NAME};

impl Kms {
    pub async fn get_key_policy(
        &self,
        ctx: &RequestContext,
        req: pb::GetKeyPolicyRequest,
    ) -> KmsResult<pb::GetKeyPolicyResponse> {
        let mut ev = AuditEvent::new(
            "GetKeyPolicy",
            true,
            json!({"keyId": req.key_id, "policyName": req.policy_name}),
        );
        let r = (|| {
            validate::policy_name(req.policy_name.as_deref())?;
            let k = self.read_key(
                ctx,
                &req.key_id,
                IdForms::KeysOnly,
                Action::GetKeyPolicy,
                StateRule::Op(KeyOp::GetKeyPolicy),
                RequestFacts::default(),
                &mut ev,
            )?;
            Ok(pb::GetKeyPolicyResponse {
                policy: k.policy.clone(),
                policy_name: DEFAULT_POLICY_NAME.to_string(),
            })
        })();
        self.complete(ctx, ev, r).await
    }

    pub async fn put_key_policy(
        &self,
        ctx: &RequestContext,
        req: pb::PutKeyPolicyRequest,
    ) -> KmsResult<pb::PutKeyPolicyResponse> {
        let params = json!({
            "keyId": req.key_id,
            "policyName": req.policy_name,
            "policy": req.policy,
            "bypassPolicyLockoutSafetyCheck": req.bypass_policy_lockout_safety_check.unwrap_or(false),
        });
        let (policy, name) = (req.policy, req.policy_name);
        let bypass = req.bypass_policy_lockout_safety_check == Some(true);
        let (ctx2, policies) = (ctx.clone(), self.policies.clone());
        let conditions = vec![condition(
            tern_policy::keys::BYPASS_POLICY_LOCKOUT_SAFETY_CHECK,
            bypass.to_string(),
        )];
        self.change_key_with(
            ctx,
            Action::PutKeyPolicy,
            req.key_id,
            params,
            KeyOp::PutKeyPolicy,
            conditions,
            move |k, now| {
                validate::policy_name(name.as_deref())?;
                if policy.is_empty() {
                    validate::policy(&policy)?;
                }
                let compiled = tern_policy::Policy::parse_key_policy(&policy).map_err(crate::authz::policy_error)?;
                if !bypass {
                    Access {
                        policies: &policies,
                        ctx: &ctx2,
                        now,
                    }
                    .check_lockout(&compiled, &k.arn())?;
                }
                k.policy = policy;
                Ok(pb::PutKeyPolicyResponse {})
            },
        )
        .await
    }

    pub async fn list_key_policies(
        &self,
        ctx: &RequestContext,
        req: pb::ListKeyPoliciesRequest,
    ) -> KmsResult<pb::ListKeyPoliciesResponse> {
        let mut ev = AuditEvent::new(
            "ListKeyPolicies",
            true,
            json!({"keyId": req.key_id, "limit": req.limit, "marker": req.marker}),
        );
        let r = (|| {
            let limit = validate::int_in_range(req.limit, "limit", 1, 1000, 100)? as usize;
            self.read_key(
                ctx,
                &req.key_id,
                IdForms::KeysOnly,
                Action::ListKeyPolicies,
                StateRule::Op(KeyOp::ListKeyPolicies),
                RequestFacts::default(),
                &mut ev,
            )?;
            let items = std::iter::once((DEFAULT_POLICY_NAME.to_string(), DEFAULT_POLICY_NAME.to_string()));
            let (policy_names, next) = validate::page(items, req.marker.as_deref(), limit)?;
            Ok(pb::ListKeyPoliciesResponse {
                policy_names,
                truncated: next.is_some(),
                next_marker: next,
            })
        })();
        self.complete(ctx, ev, r).await
    }
}
