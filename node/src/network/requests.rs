//! How the events of the request-response protocols reach the node.

use super::protocol::*;
use super::task::Emitter;
use super::NetworkEvent;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::PeerId;

/// How the events of one request-response protocol become [`NetworkEvent`]s; `Tag` is what
/// is kept of each request sent, to say what its answer answers.
pub(super) struct RequestKinds<Req, Resp, Tag> {
    request: fn(PeerId, Req, ResponseChannel<Resp>) -> NetworkEvent,
    response: fn(PeerId, Tag, Result<Resp, String>) -> NetworkEvent,
}

pub(super) const SYNC_EVENTS: RequestKinds<SyncRequest, SyncResponse, OutboundRequestId> =
    RequestKinds {
        request: |peer, request, channel| NetworkEvent::SyncRequest {
            peer,
            request,
            channel,
        },
        response: |peer, request, response| NetworkEvent::SyncResponse {
            peer,
            request,
            response,
        },
    };

pub(super) const CHUNK_EVENTS: RequestKinds<ChunkRequest, ChunkResponse, ChunkRequest> =
    RequestKinds {
        request: |peer, request, channel| NetworkEvent::ChunkRequest {
            peer,
            request,
            channel,
        },
        response: |peer, request, response| NetworkEvent::ChunkResponse {
            peer,
            request,
            response,
        },
    };

pub(super) const AVAILABLE_DATA_EVENTS: RequestKinds<
    AvailableDataRequest,
    AvailableDataResponse,
    AvailableDataRequest,
> = RequestKinds {
    request: |peer, request, channel| NetworkEvent::AvailableDataRequest {
        peer,
        request,
        channel,
    },
    response: |peer, request, response| NetworkEvent::AvailableDataResponse {
        peer,
        request,
        response,
    },
};

pub(super) const COLLATION_EVENTS: RequestKinds<
    crate::collation::DeclaredCollation,
    CollationResponse,
    tessera_runtime::Hash,
> = RequestKinds {
    request: |peer, collation, channel| NetworkEvent::Collation {
        peer,
        collation: Box::new(collation),
        channel,
    },
    response: |peer, candidate, response| NetworkEvent::CollationResponse {
        peer,
        candidate,
        response,
    },
};

pub(super) const PARA_BLOCK_EVENTS: RequestKinds<
    ParaBlocksRequest,
    ParaBlocksResponse,
    ParaBlocksRequest,
> = RequestKinds {
    request: |peer, request, channel| NetworkEvent::ParaBlocksRequest {
        peer,
        request,
        channel,
    },
    response: |peer, request, response| NetworkEvent::ParaBlocksResponse {
        peer,
        request,
        response,
    },
};

/// Passes on a request-response event of a protocol whose outbound requests are `pending`;
/// the peers that sent malformed bytes, to report.
pub(super) async fn request_event<Req, Resp, Tag>(
    event: request_response::Event<Req, Resp>,
    pending: &mut std::collections::HashMap<OutboundRequestId, Tag>,
    kinds: RequestKinds<Req, Resp, Tag>,
    events: &Emitter,
) -> Result<Vec<PeerId>, ()> {
    let malformed = |e: &std::io::Error| e.kind() == std::io::ErrorKind::InvalidData;
    let mut reports = Vec::new();
    match event {
        request_response::Event::Message { peer, message, .. } => match message {
            request_response::Message::Request {
                request, channel, ..
            } => {
                // Over the queued-bytes limit the request is dropped, which fails it.
                events.emit((kinds.request)(peer, request, channel)).await?;
            }
            request_response::Message::Response {
                request_id,
                response,
            } => {
                if let Some(request) = pending.remove(&request_id) {
                    events
                        .emit((kinds.response)(peer, request, Ok(response)))
                        .await?;
                }
            }
        },
        request_response::Event::OutboundFailure {
            peer,
            request_id,
            error,
            ..
        } => {
            if matches!(&error, request_response::OutboundFailure::Io(e) if malformed(e)) {
                reports.push(peer);
            }
            if let Some(request) = pending.remove(&request_id) {
                events
                    .emit((kinds.response)(peer, request, Err(error.to_string())))
                    .await?;
            }
        }
        request_response::Event::InboundFailure { peer, error, .. } => {
            if matches!(&error, request_response::InboundFailure::Io(e) if malformed(e)) {
                reports.push(peer);
            }
        }
        request_response::Event::ResponseSent { .. } => {}
    }
    Ok(reports)
}
