//! The node's edge limits, one test each: the limit is hit, the documented
//! close or error is observed, and the node serves a well-behaved client
//! after.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::cluster::eventually;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const WAIT: Duration = Duration::from_secs(10);

fn limits() -> tern_server::Limits {
    tern_server::Limits::default()
}

/// Whether the server closes `s` within `within` (EOF or reset).
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

async fn connect_from(local: &str, to: SocketAddr) -> TcpStream {
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind(format!("{local}:0").parse().unwrap()).unwrap();
    sock.connect(to).await.unwrap()
}

/// A well-behaved client's request succeeds.
async fn healthy(node: &TestNode) {
    let mut c = node.admin().await;
    create_key(&mut c).await;
}

async fn wait_open(node: &TestNode, n: usize) {
    eventually(WAIT, &format!("{n} open connections"), || {
        let open = node.node.edge().open_connections();
        async move { (open == n).then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn connections_over_the_node_limit_are_closed_at_once() {
    let node = TestNode::start_with_limits(
        REGION,
        tern_server::Limits {
            max_connections: 3,
            ..limits()
        },
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(node.node.addr()).await.unwrap());
    }
    wait_open(&node, 3).await;
    let mut over = TcpStream::connect(node.node.addr()).await.unwrap();
    assert!(
        closed_within(&mut over, Duration::from_secs(2)).await,
        "the 4th connection stays open"
    );
    assert!(
        node.node
            .edge()
            .counters
            .refused_node_cap
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
    drop(held);
    wait_open(&node, 0).await;
    healthy(&node).await;
}

#[tokio::test]
async fn connections_over_the_per_ip_limit_are_closed_and_other_ips_still_connect() {
    let node = TestNode::start_with_limits(
        REGION,
        tern_server::Limits {
            max_connections_per_ip: 2,
            ..limits()
        },
    )
    .await;
    let a = connect_from("127.0.0.1", node.node.addr()).await;
    let b = connect_from("127.0.0.1", node.node.addr()).await;
    wait_open(&node, 2).await;
    let mut over = connect_from("127.0.0.1", node.node.addr()).await;
    assert!(closed_within(&mut over, Duration::from_secs(2)).await);
    // Another source address has its own room.
    let mut other = connect_from("127.0.0.2", node.node.addr()).await;
    assert!(
        !closed_within(&mut other, Duration::from_millis(500)).await,
        "another IP was refused"
    );
    drop((a, b, other));
    wait_open(&node, 0).await;
    healthy(&node).await;
}

#[tokio::test]
async fn half_sent_http1_headers_are_closed_after_the_header_read_timeout() {
    let node = TestNode::start_with_limits(
        REGION,
        tern_server::Limits {
            header_read_timeout_ms: 300,
            ..limits()
        },
    )
    .await;
    let mut slow = TcpStream::connect(node.node.addr()).await.unwrap();
    slow.write_all(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Tar")
        .await
        .unwrap();
    let started = Instant::now();
    assert!(
        closed_within(&mut slow, Duration::from_secs(3)).await,
        "a stalled header stays open"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "closed before its timeout"
    );
    assert!(
        node.node
            .edge()
            .counters
            .header_timeouts
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
    healthy(&node).await;
}

#[tokio::test]
async fn connections_without_a_request_are_closed_after_the_idle_timeout() {
    let node = TestNode::start_with_limits(
        REGION,
        tern_server::Limits {
            idle_timeout_ms: 300,
            ..limits()
        },
    )
    .await;
    let mut idle = TcpStream::connect(node.node.addr()).await.unwrap();
    assert!(closed_within(&mut idle, Duration::from_secs(3)).await);
    healthy(&node).await;
}

#[tokio::test]
async fn tls_handshakes_that_never_finish_are_closed_after_their_timeout() {
    let (node, _ca) = TestNode::start_tls_with_limits(
        REGION,
        tern_server::Limits {
            tls_handshake_timeout_ms: 300,
            ..limits()
        },
    )
    .await;
    let mut stalled = TcpStream::connect(node.node.addr()).await.unwrap();
    // Half a ClientHello record, then nothing.
    stalled.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).await.unwrap();
    assert!(closed_within(&mut stalled, Duration::from_secs(3)).await);
    assert!(
        node.node
            .edge()
            .counters
            .handshake_timeouts
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
    wait_open(&node, 0).await;
}

#[tokio::test]
async fn http2_streams_per_connection_are_capped() {
    let node = TestNode::start_with_limits(
        REGION,
        tern_server::Limits {
            max_concurrent_streams: 4,
            ..limits()
        },
    )
    .await;
    let tcp = TcpStream::connect(node.node.addr()).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    // Stalled request bodies keep their streams open.
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut ready = client.clone().ready().await.unwrap();
        let req = http::Request::post(format!(
            "http://{}/tern.kms.v1.KeyManagementService/Decrypt",
            node.node.addr()
        ))
        .header("content-type", "application/grpc")
        .body(())
        .unwrap();
        let (resp, mut body) = ready.send_request(req, false).unwrap();
        body.send_data(bytes::Bytes::from_static(b"\0\0\0\0"), false).unwrap();
        held.push((resp, body));
    }
    // The server's settings have arrived by now: 4 streams at most.
    eventually(WAIT, "the server's stream limit", || {
        let max = client.current_max_send_streams();
        async move { (max == 4).then_some(()) }
    })
    .await;
    // A fifth, complete request is not answered while the four are open
    // (it waits for a stream); once they are reset it is.
    let req = http::Request::post(format!(
        "http://{}/tern.kms.v1.KeyManagementService/Decrypt",
        node.node.addr()
    ))
    .header("content-type", "application/grpc")
    .body(())
    .unwrap();
    let mut ready = client.clone().ready().await.unwrap();
    let (fifth, _) = ready.send_request(req, true).unwrap();
    let mut fifth = Box::pin(fifth);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut fifth)
            .await
            .is_err(),
        "a fifth concurrent stream was answered while four were open"
    );
    drop(held);
    let answer = tokio::time::timeout(WAIT, fifth)
        .await
        .expect("the fifth stream was never answered");
    assert!(answer.is_ok(), "{answer:?}");
    healthy(&node).await;
}

/// Sends a small complete gRPC request on `client`; the AWS error type of
/// its answer (`None` for an answer without one).
async fn small_request(client: &h2::client::SendRequest<bytes::Bytes>, addr: SocketAddr) -> Option<String> {
    let req = http::Request::post(format!("http://{addr}/tern.kms.v1.KeyManagementService/Decrypt"))
        .header("content-type", "application/grpc")
        .body(())
        .unwrap();
    let mut ready = client.clone().ready().await.unwrap();
    let (resp, mut body) = ready.send_request(req, false).unwrap();
    body.send_data(bytes::Bytes::from_static(b"\0\0\0\0\x01x"), true)
        .unwrap();
    let resp = tokio::time::timeout(WAIT, resp).await.unwrap().unwrap();
    resp.headers()
        .get("x-amzn-errortype")
        .map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test]
async fn one_connection_holds_at_most_its_share_of_the_unauthenticated_body_budget() {
    let node = TestNode::start_with_limits(
        REGION,
        tern_server::Limits {
            unauthenticated_body_bytes_per_connection: 1,
            body_read_timeout_ms: 1500,
            ..limits()
        },
    )
    .await;
    let addr = node.node.addr();
    let connect = || async move {
        let (client, conn) = h2::client::handshake(TcpStream::connect(addr).await.unwrap())
            .await
            .unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    };
    let client = connect().await;
    // A stalled stream holding (almost) a maximal body: the connection's
    // whole share (it is raised to one maximal body).
    let req = http::Request::post(format!("http://{addr}/tern.kms.v1.KeyManagementService/Decrypt"))
        .header("content-type", "application/grpc")
        .body(())
        .unwrap();
    let mut ready = client.clone().ready().await.unwrap();
    let (stalled, mut body) = ready.send_request(req, false).unwrap();
    body.send_data(bytes::Bytes::from(vec![0u8; 1 << 20]), false).unwrap();
    // Once its bytes arrived, another request on the same connection is
    // throttled at once...
    eventually(WAIT, "a request on the full connection to be throttled", || {
        let client = client.clone();
        async move { (small_request(&client, addr).await.as_deref() == Some("ThrottlingException")).then_some(()) }
    })
    .await;
    // ...while another connection is not.
    let other = connect().await;
    assert_ne!(
        small_request(&other, addr).await.as_deref(),
        Some("ThrottlingException")
    );
    // The stalled body times out and gives its share back.
    let stalled = tokio::time::timeout(WAIT, stalled).await.unwrap().unwrap();
    assert_eq!(stalled.headers()["x-amzn-errortype"], "ValidationException");
    assert_ne!(
        small_request(&client, addr).await.as_deref(),
        Some("ThrottlingException")
    );
    drop(body);
    healthy(&node).await;
}
