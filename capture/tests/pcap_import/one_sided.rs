//! One-sided captures: only the client's packets reach the capture (a
//! filtered TAP, a mirror of one direction), with or without the
//! handshake. Requests are recorded, flagged as having no response.

use super::*;
use common::encap::{wrap_all, Wrap};

/// The client's packets of a conversation: two requests on one
/// connection, each answered by the server, whose packets are left out.
fn client_only(handshake: bool, ports: Vec<u16>, mirror: Option<Wrap>) -> Vec<Exchange> {
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    if handshake {
        c.handshake();
    }
    c.c(GET_A);
    c.s(RESP_OK);
    c.c(GET_B);
    c.s(RESP_404);
    c.c_fin();
    let from_client: Vec<Frame> = c
        .frames
        .iter()
        .filter(|f| f.data[26..30] == [10, 0, 0, 1])
        .cloned()
        .collect();
    let cfg = PipelineConfig {
        ports,
        ..PipelineConfig::default()
    };
    match mirror {
        Some(w) => import_dlt(w.linktype(), &wrap_all(w, 1, &from_client), cfg).0,
        None => import_frames(Link::Ethernet, &from_client, cfg).0,
    }
}

#[test]
fn client_packets_only_record_every_request_without_response() {
    for handshake in [true, false] {
        for (ports, mirror) in [
            (vec![80], None),
            (vec![], None),
            (vec![80], Some(Wrap::Vxlan)),
            (vec![], Some(Wrap::Erspan2)),
        ] {
            let got = client_only(handshake, ports.clone(), mirror);
            let what = format!("handshake {handshake}, ports {ports:?}, {mirror:?}");
            let reqs: Vec<&[u8]> = got.iter().map(|e| &e.request[..]).collect();
            assert_eq!(reqs, [GET_A, GET_B], "{what}");
            for e in &got {
                assert!(e.response.is_none(), "{what}");
                assert!(
                    e.flags.contains(Flags::RESP_MISSING),
                    "{what}: {:?}",
                    e.flags
                );
                assert_eq!(e.client.to_string(), "10.0.0.1:40000", "{what}");
                assert_eq!(e.server.to_string(), "10.0.0.2:80", "{what}");
            }
        }
    }
}
