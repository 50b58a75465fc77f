//! The official AWS SDK for Rust (`aws-sdk-kms`) against a tern node over
//! the AWS JSON 1.1 API, with nothing changed but the endpoint: it signs
//! with SigV4 at the real time, sends `TrentService.<Op>` requests, and
//! parses tern's answers and errors with its own code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use common::*;
use tern_service::FakeClock;

fn now() -> tern_core::time::UnixMillis {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    tern_core::time::UnixMillis(ms as i64)
}

fn sdk(endpoint: &str, region: &str, akid: &str, secret: &str) -> aws_sdk_kms::Client {
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(akid, secret, None, None, "tern-test"))
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

#[tokio::test]
async fn the_aws_sdk_for_rust_works_unchanged() {
    // The SDK signs with the real time: the node's clock must read it too.
    let node = TestNode::start_with_clock(REGION, Arc::new(FakeClock::new(now()))).await;
    let kms = sdk(&node.node.endpoint(), REGION, ADMIN_AKID, ADMIN_SECRET);

    let md = kms
        .create_key()
        .description("aws-sdk-kms")
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(md.aws_account_id(), Some(ADMIN_ACCOUNT));
    assert_eq!(md.key_state().map(|s| s.as_str()), Some("Enabled"));
    assert!(md
        .creation_date()
        .is_some_and(|d| (d.secs() - now().0 / 1000).abs() < 300));
    let key_id = md.key_id().to_string();

    kms.create_alias()
        .alias_name("alias/rust-sdk")
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap();
    let ct = kms
        .encrypt()
        .key_id("alias/rust-sdk")
        .plaintext(Blob::new(b"from the Rust SDK".to_vec()))
        .encryption_context("purpose", "test")
        .send()
        .await
        .unwrap();
    assert_eq!(ct.key_id(), Some(md.arn().unwrap()));
    let pt = kms
        .decrypt()
        .ciphertext_blob(ct.ciphertext_blob().unwrap().clone())
        .encryption_context("purpose", "test")
        .send()
        .await
        .unwrap();
    assert_eq!(pt.plaintext().unwrap().as_ref(), b"from the Rust SDK");

    let dk = kms
        .generate_data_key()
        .key_id(&key_id)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(dk.plaintext().unwrap().as_ref().len(), 32);

    // Operations without output answer an empty 200.
    kms.disable_key().key_id(&key_id).send().await.unwrap();
    kms.enable_key().key_id(&key_id).send().await.unwrap();

    // Pagination with Marker/Truncated.
    for _ in 0..3 {
        kms.create_key().send().await.unwrap();
    }
    let mut pages = kms.list_keys().limit(2).into_paginator().send();
    let mut ids = Vec::new();
    let mut n_pages = 0;
    while let Some(page) = pages.next().await {
        n_pages += 1;
        ids.extend(
            page.unwrap()
                .keys()
                .iter()
                .filter_map(|k| k.key_id().map(str::to_string)),
        );
    }
    assert_eq!(ids.len(), 4);
    assert!(n_pages >= 2);

    // Errors arrive as the SDK's own typed exceptions.
    let err = kms
        .describe_key()
        .key_id("alias/does-not-exist")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_not_found_exception(), "{err:?}");
    let err = kms
        .decrypt()
        .ciphertext_blob(ct.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_ciphertext_exception(), "{err:?}");

    // Wrong secret and unknown access key: SigV4 failures, typed by __type.
    let bad = sdk(
        &node.node.endpoint(),
        REGION,
        ADMIN_AKID,
        "not-the-secret-not-the-secret-not-the-se",
    );
    let err = bad.list_keys().send().await.unwrap_err();
    assert_eq!(
        aws_sdk_kms::error::ProvideErrorMetadata::code(&err),
        Some("InvalidSignatureException")
    );
    let unknown = sdk(&node.node.endpoint(), REGION, "AKIAUNKNOWNEXAMPLE00", ADMIN_SECRET);
    let err = unknown.list_keys().send().await.unwrap_err();
    assert_eq!(
        aws_sdk_kms::error::ProvideErrorMetadata::code(&err),
        Some("UnrecognizedClientException")
    );
    // The scope's region must be the node's.
    let elsewhere = sdk(&node.node.endpoint(), OTHER_REGION, ADMIN_AKID, ADMIN_SECRET);
    let err = elsewhere.list_keys().send().await.unwrap_err();
    assert_eq!(
        aws_sdk_kms::error::ProvideErrorMetadata::code(&err),
        Some("InvalidSignatureException")
    );
}
