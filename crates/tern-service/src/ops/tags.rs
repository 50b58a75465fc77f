//! Tags: TagResource, UntagResource, ListResourceTags.

use serde_json::json;
use tern_core::key::{KeyOp, MAX_TAGS_PER_KEY};
use tern_proto::pb;

use crate::audit::AuditEvent;
use crate::authz::{condition, Action, Conditions, RequestFacts, StateRule};
use crate::caller::RequestContext;
use crate::error::KmsResult;
use crate::kms::Kms;
use crate::resolve::IdForms;
use tern_policy::keys;

/// `aws:TagKeys` and `aws:RequestTag/<key>` of a request that sets tags.
pub(crate) fn request_tag_conditions<'a>(tags: impl Iterator<Item = (&'a str, &'a str)> + Clone) -> Conditions {
    let mut c: Conditions = vec![(
        keys::TAG_KEYS.to_string(),
        tags.clone().map(|(k, _)| k.to_string()).collect(),
    )];
    c.extend(tags.map(|(k, v)| condition(&format!("{}{k}", keys::REQUEST_TAG_PREFIX), v)));
    c
}
use crate::validate;

impl Kms {
    pub async fn tag_resource(
        &self,
        ctx: &RequestContext,
        req: pb::TagResourceRequest,
    ) -> KmsResult<pb::TagResourceResponse> {
        let params = json!({
            "keyId": req.key_id,
            "tags": req.tags.iter().map(|t| json!({"tagKey": t.tag_key, "tagValue": t.tag_value})).collect::<Vec<_>>(),
        });
        let tags = req.tags;
        let extra = request_tag_conditions(tags.iter().map(|t| (t.tag_key.as_str(), t.tag_value.as_str())));
        self.change_key_with(
            ctx,
            Action::TagResource,
            req.key_id,
            params,
            KeyOp::TagResource,
            extra,
            move |k, _| {
                validate::merge_tags(&mut k.tags, &tags)?;
                Ok(pb::TagResourceResponse {})
            },
        )
        .await
    }

    pub async fn untag_resource(
        &self,
        ctx: &RequestContext,
        req: pb::UntagResourceRequest,
    ) -> KmsResult<pb::UntagResourceResponse> {
        let params = json!({"keyId": req.key_id, "tagKeys": req.tag_keys});
        let keys = req.tag_keys;
        let extra = vec![(tern_policy::keys::TAG_KEYS.to_string(), keys.clone())];
        self.change_key_with(
            ctx,
            Action::UntagResource,
            req.key_id,
            params,
            KeyOp::UntagResource,
            extra,
            move |k, _| {
                validate::untag_keys(&keys)?;
                k.tags.retain(|(tk, _)| !keys.contains(tk));
                Ok(pb::UntagResourceResponse {})
            },
        )
        .await
    }

    pub async fn list_resource_tags(
        &self,
        ctx: &RequestContext,
        req: pb::ListResourceTagsRequest,
    ) -> KmsResult<pb::ListResourceTagsResponse> {
        let mut ev = AuditEvent::new(
            "ListResourceTags",
            true,
            json!({"keyId": req.key_id, "limit": req.limit, "marker": req.marker}),
        );
        let r = (|| {
            let limit = validate::int_in_range(req.limit, "limit", 1, MAX_TAGS_PER_KEY as i32, MAX_TAGS_PER_KEY as i32)?
                as usize;
            let k = self.read_key(
                ctx,
                &req.key_id,
                IdForms::KeysOnly,
                Action::ListResourceTags,
                StateRule::Op(KeyOp::ListResourceTags),
                RequestFacts::default(),
                &mut ev,
            )?;
            let mut items: Vec<(String, pb::Tag)> = k
                .tags
                .iter()
                .map(|(tk, tv)| {
                    (
                        tk.clone(),
                        pb::Tag {
                            tag_key: tk.clone(),
                            tag_value: tv.clone(),
                        },
                    )
                })
                .collect();
            items.sort_by(|a, b| a.0.cmp(&b.0));
            let (tags, next) = validate::page(items.into_iter(), req.marker.as_deref(), limit)?;
            Ok(pb::ListResourceTagsResponse {
                tags,
                truncated: next.is_some(),
                next_marker: next,
            })
        })();
        self.complete(ctx, ev, r).await
    }
}
