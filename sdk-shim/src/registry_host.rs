//! Which registry a `host[:port]` means: one registry, every spelling.
//!
//! Image references keep the domain as written (see [`crate::reference`]), but allow, deny,
//! mirror and pull-secret rules must hold for every spelling of the registry the runtime
//! contacts:
//!
//! - host names compare without case, as DNS does;
//! - `docker.io`, `index.docker.io` and `registry-1.docker.io` are Docker Hub (containerd sends
//!   `docker.io` to `registry-1.docker.io`);
//! - IP hosts compare as addresses: `[0:0::0001]` is `[::1]`, and an IPv4-mapped IPv6 address
//!   (`[::ffff:a00:1]`) is the IPv4 address (`10.0.0.1`);
//! - `localhost`, `127.0.0.0/8`, `[::1]` and the unspecified addresses `0.0.0.0` and `[::]`
//!   (which Linux connects to the local host) are all the node's own loopback;
//! - ports compare as numbers (`05000` is `5000`); a reference without a port is contacted on
//!   443, the HTTPS port the runtime uses by default.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_ALIASES: [&str; 3] = [DOCKER_HUB, "index.docker.io", "registry-1.docker.io"];
/// The port a reference without one is pulled from.
pub const DEFAULT_PORT: &str = "443";

/// The registry host a reference or pattern names, in a form where every spelling is equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostId {
    /// The node itself, however written.
    Loopback,
    /// An IP address (IPv4-mapped IPv6 addresses folded to IPv4).
    Ip(IpAddr),
    /// A DNS name in lower case, Docker Hub's spellings folded to `docker.io`.
    Name(String),
}

impl HostId {
    /// Reads a host as written in a reference: a DNS name, an IPv4 address or a bracketed IPv6
    /// address.
    pub fn parse(host: &str) -> HostId {
        if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            if let Ok(v6) = inner.parse::<Ipv6Addr>() {
                return Self::from_ip(IpAddr::V6(v6));
            }
        }
        if let Ok(v4) = host.parse::<Ipv4Addr>() {
            return Self::from_ip(IpAddr::V4(v4));
        }
        let name = host.to_ascii_lowercase();
        if name == "localhost" {
            HostId::Loopback
        } else if DOCKER_HUB_ALIASES.contains(&name.as_str()) {
            HostId::Name(DOCKER_HUB.to_string())
        } else {
            HostId::Name(name)
        }
    }

    fn from_ip(ip: IpAddr) -> HostId {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if ip.is_loopback() || ip.is_unspecified() {
            HostId::Loopback
        } else {
            HostId::Ip(ip)
        }
    }

    pub fn is_docker_hub(&self) -> bool {
        matches!(self, HostId::Name(name) if name == DOCKER_HUB)
    }

    /// The spellings a wildcard host pattern is tried against: the canonical one, and for the
    /// loopback every usual one (so `127.0.0.*` and `local*` both cover it).
    pub fn spellings(&self) -> Vec<Cow<'static, str>> {
        match self {
            HostId::Loopback => vec!["localhost".into(), "127.0.0.1".into(), "[::1]".into()],
            HostId::Ip(IpAddr::V4(v4)) => vec![v4.to_string().into()],
            HostId::Ip(IpAddr::V6(v6)) => vec![format!("[{v6}]").into()],
            HostId::Name(name) => vec![name.clone().into()],
        }
    }
}

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostId::Loopback => f.write_str("localhost"),
            HostId::Ip(IpAddr::V4(v4)) => write!(f, "{v4}"),
            HostId::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]"),
            HostId::Name(name) => f.write_str(name),
        }
    }
}

/// A port as the runtime dials it: digits without leading zeros; `None` when none is written.
pub fn canonical_port(port: Option<&str>) -> Option<String> {
    port.map(|p| {
        let trimmed = p.trim_start_matches('0');
        if trimmed.is_empty() && !p.is_empty() {
            "0".to_string()
        } else {
            trimmed.to_string()
        }
    })
}

/// Splits `host[:port]`; a bracketed IPv6 host keeps its brackets.
pub fn split_host_port(registry: &str) -> Option<(&str, Option<&str>)> {
    if registry.starts_with('[') {
        let end = registry.find(']')?;
        let (host, rest) = registry.split_at(end + 1);
        match rest {
            "" => Some((host, None)),
            _ => rest.strip_prefix(':').map(|port| (host, Some(port))),
        }
    } else {
        match registry.split_once(':') {
            Some((host, port)) => Some((host, Some(port))),
            None => Some((registry, None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_host_is_one_host() {
        // (written, canonical as displayed)
        let cases = [
            ("docker.io", "docker.io"),
            ("Docker.IO", "docker.io"),
            ("index.docker.io", "docker.io"),
            ("REGISTRY-1.docker.io", "docker.io"),
            ("registry-2.docker.io", "registry-2.docker.io"),
            ("localhost", "localhost"),
            ("LocalHost", "localhost"),
            ("127.0.0.1", "localhost"),
            ("127.1.2.3", "localhost"),
            ("[::1]", "localhost"),
            ("[0:0:0:0:0:0:0:0001]", "localhost"),
            ("[::ffff:127.0.0.1]", "localhost"),
            ("0.0.0.0", "localhost"),
            ("[::]", "localhost"),
            ("10.0.0.1", "10.0.0.1"),
            ("[::ffff:a00:1]", "10.0.0.1"),
            ("[::ffff:10.0.0.1]", "10.0.0.1"),
            ("[2001:DB8:0:0::1]", "[2001:db8::1]"),
            ("[2001:0db8::0001]", "[2001:db8::1]"),
            // Not an IPv4 address (leading zeros are refused by the parser): a name.
            ("010.0.0.1", "010.0.0.1"),
            ("GHCR.io", "ghcr.io"),
        ];
        for (written, canonical) in cases {
            assert_eq!(HostId::parse(written).to_string(), canonical, "{written}");
        }
        assert_eq!(HostId::parse("[::ffff:a00:1]"), HostId::parse("10.0.0.1"));
        assert_ne!(HostId::parse("10.0.0.1"), HostId::parse("10.0.0.10"));
        assert!(HostId::parse("index.docker.io").is_docker_hub());
        assert!(!HostId::parse("docker.io.evil.com").is_docker_hub());
    }

    #[test]
    fn ports_compare_as_numbers() {
        assert_eq!(canonical_port(Some("05000")).as_deref(), Some("5000"));
        assert_eq!(canonical_port(Some("000")).as_deref(), Some("0"));
        assert_eq!(canonical_port(Some("443")).as_deref(), Some("443"));
        assert_eq!(canonical_port(None), None);
    }

    #[test]
    fn loopback_has_every_usual_spelling() {
        let spellings = HostId::Loopback.spellings();
        assert_eq!(spellings, vec!["localhost", "127.0.0.1", "[::1]"]);
        assert_eq!(
            HostId::parse("[2001:db8::1]").spellings(),
            vec!["[2001:db8::1]"]
        );
    }
}
