//! IPv4/IPv6 CIDR blocks for `IpAddress` / `NotIpAddress`.

use std::net::IpAddr;

/// A parsed CIDR block; a bare address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cidr {
    V4 { net: u32, prefix_len: u8 },
    V6 { net: u128, prefix_len: u8 },
}

impl Cidr {
    pub(crate) fn parse(s: &str) -> Option<Cidr> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().ok()?;
        let len = match len {
            None => None,
            Some(l) if !l.is_empty() && l.len() <= 3 && l.bytes().all(|b| b.is_ascii_digit()) => Some(l.parse().ok()?),
            Some(_) => return None,
        };
        match addr {
            IpAddr::V4(a) => {
                let prefix_len = len.unwrap_or(32);
                (prefix_len <= 32).then(|| Cidr::V4 {
                    net: u32::from(a) & mask32(prefix_len),
                    prefix_len,
                })
            }
            IpAddr::V6(a) => {
                let prefix_len = len.unwrap_or(128);
                (prefix_len <= 128).then(|| Cidr::V6 {
                    net: u128::from(a) & mask128(prefix_len),
                    prefix_len,
                })
            }
        }
    }

    /// Whether a request address (bare; an IPv4-mapped IPv6 address counts as
    /// IPv4) lies in the block.
    pub(crate) fn contains(&self, addr: IpAddr) -> bool {
        let addr = match addr {
            IpAddr::V6(a) => a.to_ipv4_mapped().map_or(IpAddr::V6(a), IpAddr::V4),
            v4 => v4,
        };
        match (self, addr) {
            (Cidr::V4 { net, prefix_len }, IpAddr::V4(a)) => u32::from(a) & mask32(*prefix_len) == *net,
            (Cidr::V6 { net, prefix_len }, IpAddr::V6(a)) => u128::from(a) & mask128(*prefix_len) == *net,
            _ => false,
        }
    }
}

fn mask32(prefix_len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix_len)).unwrap_or(0)
}

fn mask128(prefix_len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix_len)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn table() {
        let cases: &[(&str, &str, bool)] = &[
            ("203.0.113.0/24", "203.0.113.7", true),
            ("203.0.113.0/24", "203.0.114.7", false),
            ("203.0.113.9/24", "203.0.113.200", true),
            ("0.0.0.0/0", "8.8.8.8", true),
            ("10.1.2.3", "10.1.2.3", true),
            ("10.1.2.3", "10.1.2.4", false),
            ("10.1.2.3/32", "10.1.2.3", true),
            ("2001:db8::/32", "2001:db8:1::1", true),
            ("2001:db8::/32", "2001:db9::1", false),
            ("::/0", "::1", true),
            ("::/0", "1.2.3.4", false),
            ("1.2.3.0/24", "::ffff:1.2.3.4", true),
            ("1.2.3.0/24", "2001:db8::1", false),
        ];
        for &(c, a, want) in cases {
            let cidr = Cidr::parse(c).unwrap_or_else(|| panic!("{c} should parse"));
            assert_eq!(cidr.contains(ip(a)), want, "{c} ∋ {a}");
        }
        for bad in [
            "",
            "1.2.3.4/33",
            "::/129",
            "1.2.3/24",
            "1.2.3.4/",
            "1.2.3.4/-1",
            "1.2.3.4/+8",
            "x",
            "1.2.3.4/0008",
        ] {
            assert!(Cidr::parse(bad).is_none(), "{bad:?}");
        }
    }
}
