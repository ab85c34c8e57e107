//! Test support: splitting the IP packet of a frame into fragments.
//!
//! IPv4 (RFC 791): each fragment repeats the 20-byte header with its own
//! total length, the "more fragments" flag (0x2000 of the flags/offset
//! word) and the offset in 8-byte units, checksum recomputed. IPv6
//! (RFC 8200): each fragment is the fixed header (payload length
//! adjusted, next header 44) then an 8-byte fragment header (next
//! header, reserved, offset << 3 | M, identification), then its bytes.

use super::encap::ip_of;

/// The fragments of `frame`'s IP payload in pieces of `size` bytes (a
/// multiple of 8), as whole Ethernet frames with `frame`'s link header,
/// in the order `order` gives (indices into the pieces; repeats allowed).
pub fn fragments(frame: &[u8], size: usize, id: u32, order: &[usize]) -> Vec<Vec<u8>> {
    assert_eq!(size % 8, 0);
    let (ip, v6) = ip_of(frame);
    let link = &frame[..frame.len() - ip.len()];
    let (hdr_len, payload) = if v6 { (40, &ip[40..]) } else { (20, &ip[20..]) };
    assert!(v6 || ip[0] == 0x45, "IPv4 options not supported here");
    let pieces: Vec<(usize, &[u8])> = payload
        .chunks(size)
        .enumerate()
        .map(|(i, c)| (i * size, c))
        .collect();
    let last = pieces.len() - 1;
    order
        .iter()
        .map(|&i| {
            let (off, bytes) = pieces[i];
            let more = i != last;
            let mut f = link.to_vec();
            if v6 {
                let mut h = ip[..40].to_vec();
                h[4..6].copy_from_slice(&u16::try_from(8 + bytes.len()).unwrap().to_be_bytes());
                let next = h[6];
                h[6] = 44;
                f.extend(h);
                f.extend([next, 0]);
                f.extend((u16::try_from(off).unwrap() | u16::from(more)).to_be_bytes());
                f.extend(id.to_be_bytes());
            } else {
                let mut h = ip[..hdr_len].to_vec();
                h[2..4].copy_from_slice(&u16::try_from(20 + bytes.len()).unwrap().to_be_bytes());
                h[4..6].copy_from_slice(&(id as u16).to_be_bytes());
                let word = (u16::try_from(off / 8).unwrap()) | if more { 0x2000 } else { 0 };
                h[6..8].copy_from_slice(&word.to_be_bytes());
                h[10..12].copy_from_slice(&[0, 0]);
                let sum = super::ipv4_checksum(&h);
                h[10..12].copy_from_slice(&sum.to_be_bytes());
                f.extend(h);
            }
            f.extend_from_slice(bytes);
            f
        })
        .collect()
}
