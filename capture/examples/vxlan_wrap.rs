//! Rewraps every frame of a classic pcap file of Ethernet frames in
//! VXLAN, as AWS VPC Traffic Mirroring delivers them: outer Ethernet,
//! IPv4 (10.99.0.1 > 10.99.0.254), UDP to port 4789, the VXLAN header,
//! then the original frame; 50 bytes more per packet. Used by
//! `benches/capture_offline.sh` to time the import of tunnelled traffic
//! against the plain file it came from.
//!
//! ```text
//! cargo run --release -p shadowtap-capture --example vxlan_wrap -- IN.pcap OUT.pcap
//! ```

use std::io::{BufReader, BufWriter, Read, Write};
use std::process::ExitCode;

/// Bytes added in front of each frame.
const OUTER: usize = 14 + 20 + 8 + 8;
/// Records larger than this are refused (a corrupt length field).
const MAX_RECORD: usize = 1 << 24;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: vxlan_wrap IN.pcap OUT.pcap");
        return ExitCode::from(2);
    };
    match wrap_file(input, output) {
        Ok(n) => {
            eprintln!("vxlan_wrap: {n} packets wrapped into {output}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vxlan_wrap: {e}");
            ExitCode::FAILURE
        }
    }
}

fn wrap_file(input: &str, output: &str) -> Result<u64, String> {
    let mut r = BufReader::new(std::fs::File::open(input).map_err(|e| format!("{input}: {e}"))?);
    let mut w =
        BufWriter::new(std::fs::File::create(output).map_err(|e| format!("{output}: {e}"))?);
    let io = |e: std::io::Error| e.to_string();
    let mut header = [0u8; 24];
    r.read_exact(&mut header).map_err(io)?;
    let magic = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    // Microsecond or nanosecond magic, in either byte order.
    let little = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        _ => return Err(format!("{input}: not a classic pcap file")),
    };
    let u32_at = |b: &[u8], at: usize| {
        let x = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if little {
            u32::from_le_bytes(x)
        } else {
            u32::from_be_bytes(x)
        }
    };
    let put = |x: u32| {
        if little {
            x.to_le_bytes()
        } else {
            x.to_be_bytes()
        }
    };
    if u32_at(&header, 20) != 1 {
        return Err(format!("{input}: link type is not Ethernet"));
    }
    let snaplen = u32_at(&header, 16).saturating_add(OUTER as u32);
    header[16..20].copy_from_slice(&put(snaplen));
    w.write_all(&header).map_err(io)?;
    let mut n = 0u64;
    let mut frame = Vec::new();
    loop {
        let mut rec = [0u8; 16];
        match r.read_exact(&mut rec) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e.to_string()),
        }
        let incl = u32_at(&rec, 8) as usize;
        let orig = u32_at(&rec, 12);
        if incl > MAX_RECORD {
            return Err(format!("record {n}: length {incl}"));
        }
        frame.resize(incl, 0);
        r.read_exact(&mut frame).map_err(io)?;
        let outer = outer_headers(&frame, orig);
        rec[8..12].copy_from_slice(&put((incl + OUTER) as u32));
        rec[12..16].copy_from_slice(&put(orig.saturating_add(OUTER as u32)));
        w.write_all(&rec).map_err(io)?;
        w.write_all(&outer).map_err(io)?;
        w.write_all(&frame).map_err(io)?;
        n += 1;
    }
    w.flush().map_err(io)?;
    Ok(n)
}

/// Ethernet (02:00:00:00:00:bb > 02:00:00:00:00:aa, IPv4), IPv4 (no
/// options, DF, TTL 64, UDP), UDP (source port from the inner frame's
/// bytes as a VTEP hashes it, destination 4789, no checksum) and VXLAN
/// (I flag, VNI 1) in front of a frame of `orig` bytes on the wire.
fn outer_headers(frame: &[u8], orig: u32) -> [u8; OUTER] {
    let mut h = [0u8; OUTER];
    h[..12].copy_from_slice(&[2, 0, 0, 0, 0, 0xaa, 2, 0, 0, 0, 0, 0xbb]);
    h[12..14].copy_from_slice(&[0x08, 0x00]);
    let udp_len = (orig as usize + 16).min(usize::from(u16::MAX) - 20) as u16;
    let total = udp_len + 20;
    let ip = &mut h[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&[10, 99, 0, 1]);
    ip[16..20].copy_from_slice(&[10, 99, 0, 254]);
    let mut sum: u32 = ip
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    let hash = frame
        .iter()
        .skip(26)
        .take(12)
        .fold(0u16, |a, b| a.rotate_left(5) ^ u16::from(*b));
    let udp = &mut h[34..42];
    udp[0..2].copy_from_slice(&(0xc000 | (hash & 0x3fff)).to_be_bytes());
    udp[2..4].copy_from_slice(&4789u16.to_be_bytes());
    udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
    h[42] = 0x08;
    h[46..49].copy_from_slice(&[0, 0, 1]);
    h
}
