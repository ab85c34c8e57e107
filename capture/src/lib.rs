//! Packet capture, TCP reassembly and HTTP/1.x exchange extraction.

pub mod decode;
