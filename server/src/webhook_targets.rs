//! Where webhooks may deliver: public addresses only, unless the operator names hosts or ranges.
//!
//! A webhook URL is chosen by whoever may add one, and the server POSTs to it from inside the
//! operator's network. Without this, `http://127.0.0.1:5432/` or `http://169.254.169.254/` would
//! turn the delivery log into a port scanner of that network. The check is made on the address
//! actually connected to, resolved at every attempt, so a name that resolves to a public address
//! when added and to an internal one later (DNS rebinding) is refused too.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

/// The hosts and ranges an operator allows beyond public addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Host names (lower case) allowed whatever they resolve to.
    hosts: Vec<String>,
    /// Address ranges allowed (`10.20.0.0/16`, `127.0.0.1/32`).
    ranges: Vec<IpNet>,
}

impl TargetPolicy {
    /// Parses `--webhook-allow`: host names and CIDR ranges (a bare address is one host's range),
    /// separated by spaces or commas.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut policy = Self::default();
        for item in text.split([' ', ',']).filter(|s| !s.is_empty()) {
            if let Ok(net) = item.parse::<IpNet>() {
                policy.ranges.push(net);
            } else if let Ok(ip) = item.parse::<IpAddr>() {
                policy.ranges.push(IpNet::from(ip));
            } else if is_host_name(item) {
                policy.hosts.push(item.to_ascii_lowercase());
            } else {
                return Err(format!(
                    "'{item}' is neither a host name nor an address range such as 10.20.0.0/16"
                ));
            }
        }
        Ok(policy)
    }

    /// Whether connecting to `ip`, for a URL naming `host`, is allowed.
    pub fn allows(&self, host: &str, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        !is_internal(ip)
            || self.ranges.iter().any(|net| net.contains(&ip))
            || self
                .hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(host.trim_end_matches('.')))
    }

    /// Checks a URL's host when it is an address: what may be refused before any lookup.
    pub fn check_literal(&self, host: &url::Host<&str>) -> Result<(), String> {
        let ip = match host {
            url::Host::Ipv4(v4) => IpAddr::V4(*v4),
            url::Host::Ipv6(v6) => IpAddr::V6(*v6),
            url::Host::Domain(_) => return Ok(()),
        };
        if self.allows("", ip) {
            Ok(())
        } else {
            Err(refusal(ip))
        }
    }
}

/// Why a delivery to `ip` is refused, in words an operator can act on.
pub fn refusal(ip: IpAddr) -> String {
    format!(
        "{ip} is an internal address (loopback, private, link-local or unique-local); webhooks \
         deliver to public addresses unless the operator allows the host or range with \
         --webhook-allow"
    )
}

fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// An IPv4 address written as IPv6 is the IPv4 address: mapped (`::ffff:a.b.c.d`), compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`, `64:ff9b:1::/48`, reaching the IPv4 network through a
/// gateway) and 6to4 (`2002:AABB:CCDD::`).
fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else {
        return ip;
    };
    let s = v6.segments();
    let low = |hi: u16, lo: u16| {
        IpAddr::V4(std::net::Ipv4Addr::from(
            (u32::from(hi) << 16) | u32::from(lo),
        ))
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        IpAddr::V4(v4)
    } else if (s[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified())
        || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
        || s[..3] == [0x64, 0xff9b, 1]
    {
        // Compatible and NAT64 addresses carry the IPv4 address in their last 32 bits.
        low(s[6], s[7])
    } else if s[0] == 0x2002 {
        low(s[1], s[2])
    } else {
        ip
    }
}

/// Loopback, private, link-local (cloud metadata lives there), unique-local, site-local, shared
/// (CGNAT), benchmarking, IETF protocol, reserved, unspecified, broadcast or multicast, also when
/// an IPv6 address embeds such an IPv4 one: anything that is not a public unicast address.
pub fn is_internal(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (18..20).contains(&b))
                || (a == 192 && b == 0 && c == 0)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
        }
    }
}

/// Resolves webhook hosts and keeps only the addresses the policy allows, so the connection can
/// only go where the check said it may.
pub struct CheckedResolver {
    pub policy: Arc<TargetPolicy>,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| policy.allows(&host, a.ip()))
                .collect();
            if allowed.is_empty() {
                let reason = match found.first() {
                    Some(a) => refusal(a.ip()),
                    None => format!("{host} resolves to no address"),
                };
                return Err(reason.into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_refused_and_public_ones_allowed() {
        let none = TargetPolicy::default();
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::a9fe:a9fe",
            "64:ff9b::a00:5",
            "64:ff9b:1::a00:5",
            "2002:a00:5::1",
            "2002:7f00:1::",
            "fec0::1",
            "198.18.0.1",
            "192.0.0.8",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!none.allows("x.example", ip(internal)), "{internal}");
        }
        for public in [
            "203.0.113.7",
            "8.8.8.8",
            "2001:db8::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2606:4700::1111",
        ] {
            assert!(none.allows("x.example", ip(public)), "{public}");
        }
    }

    #[test]
    fn operators_allow_named_hosts_and_ranges() {
        let policy = TargetPolicy::parse("billing.internal, 10.20.0.0/16 127.0.0.1").unwrap();
        assert!(policy.allows("billing.internal", ip("10.9.9.9")));
        assert!(policy.allows("BILLING.internal.", ip("192.168.0.1")));
        assert!(policy.allows("other.internal", ip("10.20.3.4")));
        assert!(policy.allows("other.internal", ip("127.0.0.1")));
        assert!(!policy.allows("other.internal", ip("127.0.0.2")));
        assert!(!policy.allows("other.internal", ip("10.21.0.1")));
        assert!(TargetPolicy::parse("not/a/range").is_err());
        assert!(TargetPolicy::parse("").unwrap() == TargetPolicy::default());
    }

    #[test]
    fn address_literals_are_checked_before_any_lookup() {
        let none = TargetPolicy::default();
        let host = |u: &str| reqwest::Url::parse(u).unwrap();
        let url = host("http://169.254.169.254/latest");
        assert!(none.check_literal(&url.host().unwrap()).is_err());
        let url = host("http://[::1]:8080/");
        assert!(none.check_literal(&url.host().unwrap()).is_err());
        let url = host("https://billing.example.com/");
        assert!(none.check_literal(&url.host().unwrap()).is_ok());
    }
}
