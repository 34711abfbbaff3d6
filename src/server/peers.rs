//! Per-peer budgets: who a connection or a request comes from, and how much of a shared budget
//! each peer holds, so that one hostile address cannot take a budget that others need.
//!
//! - **The peer** of a connection is its TCP peer address ([`peer_key`]: an IPv4 address, or the
//!   /64 prefix of an IPv6 address, since one host is usually given a whole /64 and can rotate
//!   addresses inside it at will).
//! - **Behind a load balancer** every connection comes from the balancer. Its addresses are
//!   listed as trusted proxies (`serve --trusted-proxy`): connections from them are not held to
//!   the per-peer connection cap (the balancer carries everyone), and a request that comes
//!   through one is charged to the client named in `X-Forwarded-For` ([`client_key`]: the
//!   rightmost address that is not itself a trusted proxy — the entries to its right were
//!   written by proxies we trust, the ones to its left by whoever sent the request, so they
//!   can be forged and are never used). `X-Forwarded-For` from any other peer is ignored.
//!   Without `--trusted-proxy` the budgets are per TCP peer, which behind a balancer means
//!   one budget for all traffic through it (the per-peer request and body caps then bound
//!   the balancer as a whole: list it).
//! - [`Tally`] counts what each peer holds; a [`Slot`] gives its share back when dropped.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;

/// The key a peer's budget is kept under: IPv4 addresses (also IPv4-mapped IPv6 ones) as they
/// are, IPv6 addresses by their /64 prefix.
pub fn peer_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Whether `ip` is one of the `trusted` proxies (IPv4-mapped IPv6 compared as IPv4).
pub fn is_trusted(ip: IpAddr, trusted: &[IpAddr]) -> bool {
    let ip = ip.to_canonical();
    trusted.iter().any(|t| t.to_canonical() == ip)
}

/// The budget key of a request that arrived from the TCP peer `peer`: the peer itself, unless
/// the peer is a trusted proxy, in which case the rightmost `X-Forwarded-For` address that is
/// not a trusted proxy (see the module documentation). A header that is missing or unreadable
/// where it matters charges the proxy itself.
pub fn client_key(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !is_trusted(peer, trusted) {
        return peer_key(peer);
    }
    // Every X-Forwarded-For line, in order, as one comma-separated list.
    let mut hops: Vec<&str> = Vec::new();
    for v in headers.get_all("x-forwarded-for") {
        let Ok(v) = v.to_str() else {
            return peer_key(peer);
        };
        hops.extend(v.split(','));
    }
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            return peer_key(peer);
        };
        if !is_trusted(ip, trusted) {
            return peer_key(ip);
        }
    }
    peer_key(peer)
}

/// One `X-Forwarded-For` entry: an address, possibly `[v6]` or with a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Ok(sa) = hop.parse::<std::net::SocketAddr>() {
        return Some(sa.ip());
    }
    hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// How much of one budget each peer holds.
#[derive(Debug, Default)]
pub struct Tally {
    held: Mutex<HashMap<IpAddr, usize>>,
}

impl Tally {
    pub fn new() -> Arc<Tally> {
        Arc::new(Tally::default())
    }

    /// Take `n` for `key` if it then holds at most `max`.
    pub fn take(self: &Arc<Tally>, key: IpAddr, n: usize, max: usize) -> Option<Slot> {
        let mut slot = Slot {
            tally: self.clone(),
            key,
            n: 0,
        };
        slot.grow(n, max).then_some(slot)
    }

    /// What `key` holds now.
    pub fn held(&self, key: IpAddr) -> usize {
        self.lock().get(&key).copied().unwrap_or(0)
    }

    /// Peers holding anything.
    pub fn peers(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What one holder (a connection, a request) took for its peer; given back when dropped.
#[derive(Debug)]
pub struct Slot {
    tally: Arc<Tally>,
    key: IpAddr,
    n: usize,
}

impl Slot {
    /// Take `more` if the peer then holds at most `max` (all holders of the peer together).
    pub fn grow(&mut self, more: usize, max: usize) -> bool {
        if more == 0 {
            return true;
        }
        let mut held = self.tally.lock();
        let now = held.get(&self.key).copied().unwrap_or(0);
        if now.saturating_add(more) > max {
            return false;
        }
        held.insert(self.key, now + more);
        self.n += more;
        true
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.n == 0 {
            return;
        }
        let mut held = self.tally.lock();
        if let Some(v) = held.get_mut(&self.key) {
            *v = v.saturating_sub(self.n);
            if *v == 0 {
                held.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn ipv6_peers_are_kept_by_their_64_prefix() {
        assert_eq!(peer_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(peer_key(ip("2001:db8:1:2:bbbb::9")), ip("2001:db8:1:2::"));
        assert_ne!(peer_key(ip("2001:db8:1:3::1")), ip("2001:db8:1:2::"));
        assert_eq!(peer_key(ip("::ffff:10.0.0.7")), ip("10.0.0.7"));
        assert_eq!(peer_key(ip("10.0.0.7")), ip("10.0.0.7"));
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let lb = [ip("10.0.0.1"), ip("10.0.0.2")];
        // Not a trusted peer: the header is ignored, whatever it says.
        assert_eq!(
            client_key(ip("203.0.113.5"), &xff(&["198.51.100.1"]), &lb),
            ip("203.0.113.5")
        );
        // Through the balancer: the address it saw.
        assert_eq!(
            client_key(ip("10.0.0.1"), &xff(&["198.51.100.1"]), &lb),
            ip("198.51.100.1")
        );
        // A forged left part is skipped: the rightmost untrusted entry counts.
        assert_eq!(
            client_key(
                ip("10.0.0.1"),
                &xff(&["1.2.3.4, 198.51.100.1", "10.0.0.2"]),
                &lb
            ),
            ip("198.51.100.1")
        );
        // Ports and brackets as some proxies write them.
        assert_eq!(
            client_key(ip("10.0.0.1"), &xff(&["198.51.100.1:4711"]), &lb),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_key(ip("10.0.0.1"), &xff(&["[2001:db8::5]"]), &lb),
            ip("2001:db8::")
        );
        // Missing or garbage where it matters: charged to the proxy itself.
        assert_eq!(client_key(ip("10.0.0.1"), &xff(&[]), &lb), ip("10.0.0.1"));
        assert_eq!(
            client_key(ip("10.0.0.1"), &xff(&["198.51.100.1, garbage"]), &lb),
            ip("10.0.0.1")
        );
        // Only trusted proxies in the chain: the first of them.
        assert_eq!(
            client_key(ip("10.0.0.1"), &xff(&["10.0.0.2"]), &lb),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn a_tally_caps_each_peer_and_gives_back_on_drop() {
        let t = Tally::new();
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        let s1 = t.take(a, 2, 3).unwrap();
        assert!(t.take(a, 2, 3).is_none(), "over the peer's cap");
        let mut s2 = t.take(a, 1, 3).unwrap();
        assert!(!s2.grow(1, 3));
        // Another peer has its own share.
        let s3 = t.take(b, 3, 3).unwrap();
        assert_eq!((t.held(a), t.held(b)), (3, 3));
        drop(s1);
        assert!(s2.grow(2, 3));
        assert_eq!(t.held(a), 3);
        drop((s2, s3));
        assert_eq!(t.peers(), 0, "nothing left behind");
    }
}
