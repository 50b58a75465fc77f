//! Tags: TagResource, UntagResource, ListResourceTags.

use serde_json::json;
use tern_core::key::{KeyOp, MAX_TAGS_PER_KEY};
use tern_proto::pb;

use crate::audit::AuditEvent;
use crate::caller::RequestContext;
use crate::error::KmsResult;
use crate::kms::Kms;
use crate::resolve::{usable_key, IdForms};
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
        // aws:TagKeys and aws:RequestTag/<key> for the policy decision.
        let mut extra: Vec<(String, Vec<String>)> = vec![(
            "aws:tagkeys".to_string(),
            tags.iter().map(|t| t.tag_key.clone()).collect(),
        )];
        extra.extend(tags.iter().map(|t| {
            (
                format!("aws:requesttag/{}", t.tag_key.to_lowercase()),
                vec![t.tag_value.clone()],
            )
        }));
        self.change_key_with(
            ctx,
            "TagResource",
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
        let extra = vec![("aws:tagkeys".to_string(), keys.clone())];
        self.change_key_with(
            ctx,
            "UntagResource",
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
            validate::required(&req.key_id, "keyId")?;
            let limit = validate::int_in_range(req.limit, "limit", 1, MAX_TAGS_PER_KEY as i32, MAX_TAGS_PER_KEY as i32)?
                as usize;
            let k = usable_key(
                &*self.store.read(),
                &self.region,
                &self.access(ctx),
                &req.key_id,
                IdForms::KeysOnly,
                "ListResourceTags",
                KeyOp::ListResourceTags,
            )?;
            ev.resource = Some((k.arn(), k.account.clone()));
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
