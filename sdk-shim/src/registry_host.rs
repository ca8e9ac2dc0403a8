//! Which registry a `host[:port]` means: one registry, every spelling.
//!
//! Image references keep the domain as written (see [`crate::reference`]), but allow, deny,
//! mirror and pull-secret rules must hold for every spelling of the registry the runtime
//! contacts:
//!
//! - host names compare without case, as DNS does;
//! - `docker.io`, `index.docker.io`, `registry-1.docker.io` and `registry.hub.docker.com` are
//!   Docker Hub (containerd sends `docker.io` to `registry-1.docker.io`);
//! - IP hosts compare as addresses: `[0:0::0001]` is `[::1]`, an IPv4-mapped IPv6 address
//!   (`[::ffff:a00:1]`) is the IPv4 address (`10.0.0.1`), and a name that C's `inet_aton` reads
//!   as an address (`10.5`, `0x7f.1`, `010.0.0.1`, `2130706433`), as a resolver built on it would,
//!   is that address;
//! - `localhost`, `127.0.0.0/8`, `[::1]` and the unspecified addresses `0.0.0.0` and `[::]`
//!   (which Linux connects to the local host) are all the node's own loopback;
//! - ports compare as numbers (`05000` is `5000`); a reference without a port is contacted on
//!   443 (HTTPS), or on 80 where the runtime falls back to plain HTTP (containerd does for
//!   `localhost`), so it counts as both.

use crate::reference::{find_byte, split_byte, split_once_byte};
use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_ALIASES: [&str; 4] = [
    DOCKER_HUB,
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
];
/// The ports a reference without one may be pulled from: HTTPS, and plain HTTP.
pub const DEFAULT_PORTS: [&str; 2] = ["443", "80"];

/// The registry host a reference or pattern names, in a form where every spelling is equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostId {
    /// The node itself, however written.
    Loopback,
    /// An IP address (IPv4-mapped IPv6 addresses folded to IPv4).
    Ip(IpAddr),
    /// A DNS name in lower case, Docker Hub's spellings folded to `docker.io` (borrowed: most
    /// images come from there, and their references are parsed on every request).
    Name(Cow<'static, str>),
}

impl HostId {
    /// Reads a host as written in a reference: a DNS name, an IPv4 address or a bracketed IPv6
    /// address.
    pub fn parse(host: &str) -> HostId {
        if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            if let Some(v6) = parse_ipv6(inner) {
                return Self::from_ip(IpAddr::V6(v6));
            }
        }
        // Every inet_aton spelling starts with a digit (`0x…` included).
        if host.starts_with(|c: char| c.is_ascii_digit()) {
            if let Some(v4) = inet_aton(host) {
                return Self::from_ip(IpAddr::V4(v4));
            }
        }
        if host.eq_ignore_ascii_case("localhost") {
            HostId::Loopback
        } else if DOCKER_HUB_ALIASES
            .iter()
            .any(|alias| host.eq_ignore_ascii_case(alias))
        {
            HostId::Name(Cow::Borrowed(DOCKER_HUB))
        } else {
            HostId::Name(Cow::Owned(host.to_ascii_lowercase()))
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

    /// The spellings a wildcard host pattern is tried against: the canonical one, and for Docker
    /// Hub and the loopback every usual one (so `*.docker.io`, `127.0.0.*` and `local*` cover them).
    pub fn spellings(&self) -> Vec<Cow<'static, str>> {
        let mut spellings = Vec::new();
        self.any_spelling(|spelling| {
            spellings.push(Cow::Owned(spelling.to_string()));
            false
        });
        spellings
    }

    /// Whether `matches` holds for one of [`Self::spellings`], tried in order without copying
    /// them (every image is matched against every wildcard pattern).
    pub fn any_spelling(&self, mut matches: impl FnMut(&str) -> bool) -> bool {
        match self {
            HostId::Loopback => ["localhost", "127.0.0.1", "[::1]", "0.0.0.0", "[::]"]
                .into_iter()
                .any(matches),
            id if id.is_docker_hub() => DOCKER_HUB_ALIASES.into_iter().any(matches),
            HostId::Ip(IpAddr::V4(v4)) => matches(&v4.to_string()),
            HostId::Ip(IpAddr::V6(v6)) => matches(&bracketed_ipv6(v6)),
            HostId::Name(name) => matches(name),
        }
    }
}

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostId::Loopback => f.write_str("localhost"),
            HostId::Ip(IpAddr::V4(v4)) => write!(f, "{v4}"),
            HostId::Ip(IpAddr::V6(v6)) => f.write_str(&bracketed_ipv6(v6)),
            HostId::Name(name) => f.write_str(name),
        }
    }
}

// IPv6 text is read and written here rather than by `std::net`, whose parser and `Display` cost
// 2.4 KB in every module; both follow std's exactly (the tests compare them).

/// An IPv6 address as Rust's `Ipv6Addr::from_str` reads it: up to eight groups of one to four
/// hex digits, at most one `::` standing for one or more zero groups, and an IPv4 address
/// (decimal octets without leading zeros) in place of the last two groups; no zone.
fn parse_ipv6(text: &str) -> Option<Ipv6Addr> {
    let mut cursor = Cursor {
        bytes: text.as_bytes(),
        at: 0,
    };
    let mut head = [0u16; 8];
    let (head_len, head_v4) = cursor.groups(&mut head);
    if head_len < 8 {
        // An IPv4 part ends the address; `::` must follow the groups otherwise.
        if head_v4 || !cursor.eat(b':') || !cursor.eat(b':') {
            return None;
        }
        let mut tail = [0u16; 7];
        let (tail_len, _) = cursor.groups(&mut tail[..7 - head_len]);
        head[8 - tail_len..].copy_from_slice(&tail[..tail_len]);
    }
    (cursor.at == text.len()).then(|| Ipv6Addr::from(head))
}

/// A reading position in an address. A group that is not there leaves it where it was
/// ([`Cursor::read_after`] puts it back); the reads inside a group do not.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn eat(&mut self, byte: u8) -> bool {
        let found = self.bytes.get(self.at) == Some(&byte);
        self.at += usize::from(found);
        found
    }

    /// Colon-separated groups into `slots`, the last two possibly written as an IPv4 address:
    /// how many slots were filled, and whether an IPv4 address ended them.
    fn groups(&mut self, slots: &mut [u16]) -> (usize, bool) {
        for i in 0..slots.len() {
            if i + 1 < slots.len() {
                if let Some([a, b, c, d]) = self.read_after(i, Self::read_ipv4) {
                    slots[i] = u16::from_be_bytes([a, b]);
                    slots[i + 1] = u16::from_be_bytes([c, d]);
                    return (i + 2, true);
                }
            }
            match self.read_after(i, |cursor| cursor.read_number(16, 4, true)) {
                Some(group) => slots[i] = group as u16,
                None => return (i, false),
            }
        }
        (slots.len(), false)
    }

    /// `read`, after a colon unless this is the first group.
    fn read_after<T>(
        &mut self,
        group: usize,
        read: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Option<T> {
        let start = self.at;
        let found = (group == 0 || self.eat(b':')).then(|| read(self)).flatten();
        if found.is_none() {
            self.at = start;
        }
        found
    }

    fn read_ipv4(&mut self) -> Option<[u8; 4]> {
        let mut octets = [0u8; 4];
        for (i, octet) in octets.iter_mut().enumerate() {
            match (i == 0 || self.eat(b'.')).then(|| self.read_number(10, 3, false)) {
                Some(Some(value)) if value <= 0xff => *octet = value as u8,
                _ => return None,
            }
        }
        Some(octets)
    }

    /// One to `max_digits` digits (more is no number); a leading zero only if `zero_prefix`.
    fn read_number(&mut self, radix: u32, max_digits: usize, zero_prefix: bool) -> Option<u32> {
        let start = self.at;
        let mut value = 0;
        while let Some(digit) = self
            .bytes
            .get(self.at)
            .and_then(|&b| char::from(b).to_digit(radix))
        {
            value = value * radix + digit;
            self.at += 1;
            if self.at - start > max_digits {
                break;
            }
        }
        let digits = self.at - start;
        let leading_zero = digits > 1 && self.bytes[start] == b'0' && !zero_prefix;
        (digits > 0 && digits <= max_digits && !leading_zero).then_some(value)
    }
}

/// `[address]` in RFC 5952's text, as `Ipv6Addr`'s `Display` writes it: lower-case groups
/// without leading zeros, the first longest run of two or more zero groups as `::`. (Its one
/// special form, an IPv4-mapped address in dotted form, never reaches here: [`HostId`] folds it.)
fn bracketed_ipv6(address: &Ipv6Addr) -> String {
    let groups = address.segments();
    let (mut run, mut longest) = ((0, 0), (0, 0));
    for (i, &group) in groups.iter().enumerate() {
        run = match group {
            0 if run.1 > 0 => (run.0, run.1 + 1),
            0 => (i, 1),
            _ => (0, 0),
        };
        if run.1 > longest.1 {
            longest = run;
        }
    }
    let hex = |groups: &[u16]| {
        let written: Vec<String> = groups.iter().map(|group| format!("{group:x}")).collect();
        written.join(":")
    };
    match longest {
        (start, len) if len > 1 => {
            format!(
                "[{}::{}]",
                hex(&groups[..start]),
                hex(&groups[start + len..])
            )
        }
        _ => format!("[{}]", hex(&groups)),
    }
}

/// An IPv4 address as C's `inet_aton` reads it: one to four parts, each decimal, octal (leading
/// `0`) or hexadecimal (`0x`), the last filling the remaining bytes (`10.5` is `10.0.0.5`).
fn inet_aton(host: &str) -> Option<Ipv4Addr> {
    // At most four parts, read without allocating: every image's host goes through here.
    let mut values = [0u64; 4];
    let mut count = 0;
    for part in split_byte(host, b'.') {
        let (digits, radix) = match part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            Some(hex) => (hex, 16),
            None if part.len() > 1 && part.starts_with('0') => (&part[1..], 8),
            None => (part, 10),
        };
        if count == values.len() || digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix))
        {
            return None;
        }
        values[count] = u64::from_str_radix(digits, radix).ok()?;
        count += 1;
    }
    let (last, leading) = values[..count].split_last()?;
    if leading.iter().any(|&v| v > 0xff) || *last >= 1 << (8 * (4 - leading.len())) {
        return None;
    }
    let address = leading
        .iter()
        .enumerate()
        .fold(*last, |address, (i, &byte)| address | byte << (8 * (3 - i)));
    Some(Ipv4Addr::from(address as u32))
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
        let end = find_byte(registry, b']')?;
        let (host, rest) = registry.split_at(end + 1);
        match rest {
            "" => Some((host, None)),
            _ => rest.strip_prefix(':').map(|port| (host, Some(port))),
        }
    } else {
        match split_once_byte(registry, b':') {
            Some((host, port)) => Some((host, Some(port))),
            None => Some((registry, None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reader accepts exactly what `Ipv6Addr::from_str` accepts, with the same address.
    #[test]
    fn ipv6_text_is_read_as_std_reads_it() {
        let table = [
            "::",
            "::1",
            "1::",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "1:2:3:4::5:6:7:8",
            "1:2:3:4:5:6:7:8:9",
            "1:2:3:4:5:6:7",
            ":1::",
            "1:::2",
            "::1::",
            "12345::",
            "0000::",
            "00000::",
            "FfFf::a",
            "g::",
            "::1.2.3.4",
            "::ffff:10.0.0.1",
            "1:2:3:4:5:6:1.2.3.4",
            "1:2:3:4:5:6:7:1.2.3.4",
            "1.2.3.4::",
            "::01.2.3.4",
            "::1.2.3.256",
            "::1.2.3",
            "::1.2.3.4.5",
            "::0.0.0.0",
            "1::2:3.4.5.6",
            "",
            ":",
            "[::1]",
            "::%1",
            " ::1",
            "::1 ",
            "::١",
        ];
        for text in table {
            assert_eq!(parse_ipv6(text), text.parse::<Ipv6Addr>().ok(), "{text:?}");
        }
        // Every string of up to seven of these pieces (deterministic, 200,000 of them).
        let pieces = [
            "0", "1", "ff", "abcd", "12345", "01", ":", "::", ".", "1.2", "255", "256",
        ];
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut accepted = 0;
        for _ in 0..200_000 {
            let mut text = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut bits = seed;
            for _ in 0..(bits % 8) {
                bits /= 8;
                text.push_str(pieces[(bits % 16) as usize % pieces.len()]);
            }
            let read = parse_ipv6(&text);
            assert_eq!(read, text.parse::<Ipv6Addr>().ok(), "{text:?}");
            accepted += usize::from(read.is_some());
        }
        assert!(
            accepted > 2_000,
            "only {accepted} addresses among the strings"
        );
    }

    /// Written as `Ipv6Addr`'s `Display` writes it, for every pattern of zero groups.
    #[test]
    fn ipv6_is_written_as_std_writes_it() {
        for zeros in 0u32..256 {
            let groups: Vec<u16> = (0..8)
                .map(|i| {
                    if zeros >> i & 1 == 1 {
                        0
                    } else {
                        0x0a0b + i as u16 * 0x1111
                    }
                })
                .collect();
            let address = Ipv6Addr::from(<[u16; 8]>::try_from(groups).unwrap());
            if address.to_ipv4_mapped().is_some() {
                continue;
            }
            assert_eq!(bracketed_ipv6(&address), format!("[{address}]"));
        }
        let address = "2001:db8:0:0:1:0:0:1".parse().unwrap();
        assert_eq!(bracketed_ipv6(&address), "[2001:db8::1:0:0:1]");
    }

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
            // inet_aton forms: octal, hexadecimal, short.
            ("010.0.0.1", "8.0.0.1"),
            ("10.5", "10.0.0.5"),
            ("0x7f.1", "localhost"),
            ("2130706433", "localhost"),
            ("10.0.0.0x1", "10.0.0.1"),
            ("1.2.3.4", "1.2.3.4"),
            ("10.1.5", "10.1.0.5"),
            ("255.255.255.254", "255.255.255.254"),
            ("255.1", "255.0.0.1"),
            ("10.65535", "10.0.255.255"),
            ("256.1", "256.1"),
            ("10.1.256", "10.1.1.0"),
            // Not addresses: names.
            ("10.0.0.256", "10.0.0.256"),
            ("10.0.0.08", "10.0.0.08"),
            ("1.2.3.4.5", "1.2.3.4.5"),
            ("0x", "0x"),
            // A sign is no digit (Rust's `from_str_radix` would take it; inet_aton does not).
            ("+1", "+1"),
            ("10.0.0.+1", "10.0.0.+1"),
            ("0x+1", "0x+1"),
            ("registry.hub.docker.com", "docker.io"),
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
        assert_eq!(
            spellings,
            vec!["localhost", "127.0.0.1", "[::1]", "0.0.0.0", "[::]"]
        );
        assert_eq!(
            HostId::parse("index.docker.io").spellings(),
            vec![
                "docker.io",
                "index.docker.io",
                "registry-1.docker.io",
                "registry.hub.docker.com"
            ]
        );
        assert_eq!(
            HostId::parse("[2001:db8::1]").spellings(),
            vec!["[2001:db8::1]"]
        );
    }

    #[test]
    fn an_ip_host_has_its_canonical_spelling() {
        // (written, spellings)
        let cases: [(&str, &[&str]); 3] = [
            ("010.0.0.1", &["8.0.0.1"]),
            ("[::ffff:a00:1]", &["10.0.0.1"]),
            ("GHCR.io", &["ghcr.io"]),
        ];
        for (written, spellings) in cases {
            assert_eq!(
                HostId::parse(written).spellings(),
                spellings.to_vec(),
                "{written}"
            );
        }
    }

    #[test]
    fn host_and_port_split() {
        // (registry, host, port); `None` when it cannot be split.
        let cases = [
            ("ghcr.io", Some(("ghcr.io", None))),
            ("localhost:5000", Some(("localhost", Some("5000")))),
            ("host:", Some(("host", Some("")))),
            ("[::1]", Some(("[::1]", None))),
            ("[::1]:5000", Some(("[::1]", Some("5000")))),
            ("[fe80::1]:", Some(("[fe80::1]", Some("")))),
            ("[::1]5000", None),
            ("[::1", None),
        ];
        for (registry, expected) in cases {
            assert_eq!(split_host_port(registry), expected, "{registry}");
        }
    }
}
