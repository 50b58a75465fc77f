//! The gRPC API: each rpc takes the [`RequestContext`] the SigV4 layer
//! put in the request's extensions, calls the one service operation, and
//! maps errors in one place ([`crate::grpc_error`]).

use std::sync::Arc;

use tern_proto::pb;
use tern_proto::pb::key_management_service_server::KeyManagementService;
use tern_service::{Kms, RequestContext};
use tonic::{Request, Response, Status};

use crate::grpc_error::status_from_error;

/// The tonic service over one region's [`Kms`].
#[derive(Debug, Clone)]
pub struct GrpcApi {
    kms: Arc<Kms>,
}

impl GrpcApi {
    pub fn new(kms: Arc<Kms>) -> Self {
        GrpcApi { kms }
    }
}

#[allow(clippy::result_large_err)] // tonic::Status is what every handler returns anyway.
fn context<T>(req: &Request<T>) -> Result<RequestContext, Status> {
    // Built by the SigV4 layer (`auth::request_context`), the one place for
    // both protocols.
    req.extensions()
        .get::<RequestContext>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("request was not authenticated"))
}

macro_rules! grpc_api {
    ($($op:ident: $method:ident($req:ident) -> $resp:ident;)+) => {
        #[tonic::async_trait]
        impl KeyManagementService for GrpcApi {
            $(
                async fn $method(&self, request: Request<pb::$req>) -> Result<Response<pb::$resp>, Status> {
                    let ctx = context(&request)?;
                    self.kms
                        .$method(&ctx, request.into_inner())
                        .await
                        .map(Response::new)
                        .map_err(|e| status_from_error(&e))
                }
            )+
        }
    };
}

crate::operations::for_each_operation!(grpc_api);
