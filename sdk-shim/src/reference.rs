//! Image references, read the way the container runtime reads them.
//!
//! The grammar is the one of `distribution/reference` (used by containerd, CRI-O and Docker):
//!
//! ```text
//! reference      := name [ ":" tag ] [ "@" digest ]
//! name           := [ domain "/" ] path
//! domain         := host [ ":" port ]
//! host           := domain-name | IPv4 | "[" IPv6 "]"
//! domain-name    := label ( "." label )*        label := [A-Za-z0-9] ( [A-Za-z0-9-]* [A-Za-z0-9] )?
//! port           := [0-9]+
//! path           := component ( "/" component )*
//! component      := [a-z0-9]+ ( separator [a-z0-9]+ )*
//! separator      := "." | "_" | "__" | "-"+
//! tag            := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//! digest         := "sha256:" hex{64} | "sha384:" hex{96} | "sha512:" hex{128}   (lowercase hex)
//! ```
//!
//! Normalisation follows `ParseNormalizedNamed` of `distribution/reference` v0.6.0 (the version
//! containerd 2.x pins), whose `splitDockerDomain` decides what the first component is: a domain
//! when it contains `.` or `:`, is exactly `localhost`, or has upper-case letters; otherwise the
//! domain is `docker.io`. The domain is kept as written (Go does not lowercase it), except that
//! `index.docker.io` becomes `docker.io`; a Docker Hub name without `/` gets `library/` (`nginx` is
//! `docker.io/library/nginx`, but `Docker.IO/nginx` stays `Docker.IO/nginx`). The repository path
//! is at most 255 characters (the domain does not count), and a reference that is nothing but 64
//! hex characters is refused (it looks like an image ID). Which registry a domain *means* (case,
//! Docker Hub's other names, IP spellings, loopback) is decided by [`crate::registry_host`].

use std::fmt;

use crate::registry_host::{canonical_port, HostId};
pub use crate::registry_host::{split_host_port, DOCKER_HUB};
use std::borrow::Cow;

const LEGACY_DOCKER_HUB: &str = "index.docker.io";
const PATH_MAX_LEN: usize = 255;
const TAG_MAX_LEN: usize = 128;

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `registry/repository[:tag][@digest]`, normalised: one allocation for the parts below.
    text: String,
    /// `text[..registry_end]` is the registry.
    registry_end: usize,
    /// `text[registry_end + 1..repository_end]` is the repository path.
    repository_end: usize,
    /// `text[repository_end + 1..tag_end]` is the tag, when there is one (`tag_end >
    /// repository_end`); a digest, if any, follows after `@`.
    tag_end: usize,
    has_digest: bool,
    /// What `registry` names, worked out once: patterns compare every image with it.
    host: HostId,
    port: Option<String>,
}

/// Why a string is not a valid image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferenceError {
    Empty,
    /// Nothing before the `:tag` or `@digest`.
    MissingName,
    /// A registry host with no repository path after it (`[::1]:5000`).
    HostWithoutPath(String),
    /// Leading/trailing spaces or other characters no reference can hold.
    InvalidCharacters,
    InvalidRegistry(String),
    InvalidPathComponent(String),
    Uppercase,
    HexOnlyName,
    NameTooLong(usize),
    InvalidTag(String),
    InvalidDigest(String),
    UnsupportedDigestAlgorithm(String),
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "the image reference is empty"),
            Self::MissingName => write!(f, "the image name before the ':' or '@' is empty"),
            Self::HostWithoutPath(h) => write!(
                f,
                "'{h}' is a registry host without a repository path (write '{h}/<repository>')"
            ),
            Self::InvalidCharacters => write!(f, "the image reference contains whitespace or control characters"),
            Self::InvalidRegistry(r) => write!(f, "'{r}' is not a valid registry host[:port]"),
            Self::InvalidPathComponent(c) => write!(
                f,
                "repository path component '{c}' is invalid (lowercase letters and digits, separated by '.', '_', '__' or '-')"
            ),
            Self::Uppercase => write!(f, "repository name must be lowercase"),
            Self::HexOnlyName => write!(f, "a reference cannot be only a 64-character hex string, which names an image ID (did you mean name@sha256:…?)"),
            Self::NameTooLong(n) => write!(f, "repository path is {n} characters, the limit is {PATH_MAX_LEN}"),
            Self::InvalidTag(t) => write!(
                f,
                "tag '{t}' is invalid (1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-')"
            ),
            Self::InvalidDigest(d) => write!(
                f,
                "digest '{d}' is invalid (expected sha256:<64 hex>, sha384:<96 hex> or sha512:<128 hex>, lowercase)"
            ),
            Self::UnsupportedDigestAlgorithm(a) => write!(
                f,
                "digest algorithm '{a}' is not supported (sha256, sha384 or sha512)"
            ),
        }
    }
}

impl std::error::Error for ReferenceError {}

impl ImageRef {
    /// Parses and normalises `input`.
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        if input.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if has_space_or_control(input) {
            return Err(ReferenceError::InvalidCharacters);
        }
        // distribution/reference: anchoredIdentifierRegexp is checked against the whole input.
        if is_hex64(input) {
            return Err(ReferenceError::HexOnlyName);
        }
        let (rest, digest) = match split_once_byte(input, b'@') {
            Some((rest, digest)) => (rest, Some(check_digest(digest)?)),
            None => (input, None),
        };
        if rest.starts_with('[') && find_byte(rest, b'/').is_none() {
            return Err(ReferenceError::HostWithoutPath(rest.to_string()));
        }
        // A ':' after the last '/' starts the tag; one before it belongs to a registry port.
        let last_slash = rfind_byte(rest, b'/').map_or(0, |i| i + 1);
        let (name, tag) = match rfind_byte(&rest[last_slash..], b':') {
            Some(i) => {
                let (name, tag) = rest.split_at(last_slash + i);
                (name, Some(check_tag_of(&tag[1..])?))
            }
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(ReferenceError::MissingName);
        }
        let (registry, namespace, path) = check_name(name)?;
        Ok(ImageRef::new(registry, [namespace, path], tag, digest))
    }

    /// From its parts; the repository in pieces (`library/` and a Docker Hub name) so that it
    /// is written once, into the reference's text.
    fn new(registry: &str, repository: [&str; 2], tag: Option<&str>, digest: Option<&str>) -> Self {
        let (text, ends) = write_reference(registry, &repository, tag, digest);
        ImageRef::from_text(text, ends, digest.is_some())
    }

    /// From its normalised text and where its parts end in it (see [`write_reference`]).
    fn from_text(
        text: String,
        [registry_end, repository_end, tag_end]: [usize; 3],
        has_digest: bool,
    ) -> Self {
        let registry = &text[..registry_end];
        let (host, port) = split_host_port(registry).unwrap_or((registry, None));
        ImageRef {
            host: HostId::parse(host),
            port: canonical_port(port),
            text,
            registry_end,
            repository_end,
            tag_end,
            has_digest,
        }
    }

    /// Registry host with optional port as written (`index.docker.io` written as `docker.io`).
    pub fn registry(&self) -> &str {
        &self.text[..self.registry_end]
    }

    /// Which registry host this is, every spelling folded to one (see [`crate::registry_host`]).
    pub fn host_id(&self) -> &HostId {
        &self.host
    }

    /// The port as a number without leading zeros, `None` when none is written (443).
    pub fn port(&self) -> Option<&str> {
        self.port.as_deref()
    }

    /// The repository as the registry serves it: on Docker Hub (however spelt) a one-component
    /// path is an official image under `library/`.
    pub fn canonical_repository(&self) -> Cow<'_, str> {
        let repository = self.repository();
        if find_byte(repository, b'/').is_none() && self.host_id().is_docker_hub() {
            Cow::Owned(["library/", repository].concat())
        } else {
            Cow::Borrowed(repository)
        }
    }

    /// Repository path inside the registry (`library/nginx`).
    pub fn repository(&self) -> &str {
        &self.text[self.registry_end + 1..self.repository_end]
    }

    /// The tag as written, if any.
    pub fn tag(&self) -> Option<&str> {
        (self.tag_end > self.repository_end)
            .then(|| &self.text[self.repository_end + 1..self.tag_end])
    }

    /// The digest as written (`sha256:…`), if any.
    pub fn digest(&self) -> Option<&str> {
        self.has_digest.then(|| &self.text[self.tag_end + 1..])
    }

    /// The tag the runtime pulls: the tag as written, `latest` when neither tag nor digest is
    /// given, and none for a digest-only reference (which is not `latest`).
    pub fn effective_tag(&self) -> Option<&str> {
        match (self.tag(), self.has_digest) {
            (Some(tag), _) => Some(tag),
            (None, false) => Some("latest"),
            (None, true) => None,
        }
    }

    /// `registry/repository`, e.g. `docker.io/library/nginx`: Go's `Named.Name()`, the string the
    /// kubelet looks credentials up with.
    pub fn name(&self) -> String {
        self.text[..self.repository_end].to_string()
    }

    /// The fully-qualified form: `docker.io/library/nginx:latest`, `ghcr.io/a/b@sha256:…`.
    pub fn fully_qualified(&self) -> String {
        match (self.tag(), self.has_digest) {
            (None, false) => [&self.text, ":latest"].concat(),
            _ => self.text.clone(),
        }
    }

    /// This reference moved to `registry` and the repository written in `pieces` (joined as
    /// they are), keeping tag and digest as written. The new name is checked as [`Self::parse`]
    /// checks a name, with its errors; the tag and digest were checked when this one was parsed.
    /// When the name is not read with `registry` as its registry, or is Docker Hub's (which
    /// `parse` would normalise), the whole text is parsed. A `:` or `@` in `pieces` is an invalid
    /// path component here, where in a whole reference's text it would start a tag or digest.
    pub fn moved_to(&self, registry: &str, pieces: &[&str]) -> Result<ImageRef, ReferenceError> {
        let (text, ends) = write_reference(registry, pieces, self.tag(), self.digest());
        let name = &text[..ends[1]];
        let (checked_registry, namespace, _) = check_name(name)?;
        if checked_registry != registry || !namespace.is_empty() {
            return ImageRef::parse(&text);
        }
        Ok(ImageRef::from_text(text, ends, self.has_digest))
    }

    /// The reference as an image string, with only the tag and digest that were written.
    pub fn to_image_string(&self) -> String {
        self.text.clone()
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.fully_qualified())
    }
}

/// `registry/repository[:tag][@digest]`, the repository written piece after piece, and where
/// the registry, the repository and the tag end in it.
fn write_reference(
    registry: &str,
    repository: &[&str],
    tag: Option<&str>,
    digest: Option<&str>,
) -> (String, [usize; 3]) {
    let parts = [Some(registry), tag, digest];
    let length = parts
        .iter()
        .flatten()
        .chain(repository)
        .map(|p| p.len() + 1)
        .sum();
    let mut text = String::with_capacity(length);
    text.push_str(registry);
    let registry_end = text.len();
    text.push('/');
    for piece in repository {
        text.push_str(piece);
    }
    let repository_end = text.len();
    if let Some(tag) = tag {
        text.push(':');
        text.push_str(tag);
    }
    let tag_end = text.len();
    if let Some(digest) = digest {
        text.push('@');
        text.push_str(digest);
    }
    (text, [registry_end, repository_end, tag_end])
}

/// Checks a name (`[registry/]path`, without tag or digest) and splits it as
/// [`split_registry`] does: every path component valid, the path within its length.
fn check_name(name: &str) -> Result<(&str, &'static str, &str), ReferenceError> {
    let (registry, namespace, path) = split_registry(name)?;
    for component in split_byte(path, b'/') {
        check_path_component(component)?;
    }
    if namespace.len() + path.len() > PATH_MAX_LEN {
        return Err(ReferenceError::NameTooLong(namespace.len() + path.len()));
    }
    Ok((registry, namespace, path))
}

/// Splits a name into its registry, a namespace the repository path implies (`library/` for a
/// one-component Docker Hub name, else none) and the path: `splitDockerDomain` of
/// distribution/reference v0.6.0, then its check that the repository is lower case.
fn split_registry(name: &str) -> Result<(&str, &'static str, &str), ReferenceError> {
    let (registry, path) = match split_once_byte(name, b'/') {
        Some((first, rest))
            if first.bytes().any(|b| b == b'.' || b == b':')
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            check_registry(first)?;
            let registry = if first == LEGACY_DOCKER_HUB {
                DOCKER_HUB
            } else {
                first
            };
            (registry, rest)
        }
        _ => (DOCKER_HUB, name),
    };
    if path.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(ReferenceError::Uppercase);
    }
    let namespace = match registry == DOCKER_HUB && find_byte(path, b'/').is_none() {
        true => "library/",
        false => "",
    };
    Ok((registry, namespace, path))
}

/// Checks `host[:port]`, where host is a DNS name, an IPv4 address or a bracketed IPv6 address.
pub(crate) fn check_registry(registry: &str) -> Result<(), ReferenceError> {
    check_registry_with(registry, false)
}

/// Like [`check_registry`]; with `wildcard`, `*` may stand for any run of label or port characters
/// (registry patterns).
pub(crate) fn check_registry_with(registry: &str, wildcard: bool) -> Result<(), ReferenceError> {
    let invalid = || ReferenceError::InvalidRegistry(registry.to_string());
    let (host, port) = split_host_port(registry).ok_or_else(invalid)?;
    if let Some(port) = port {
        if port.is_empty()
            || !port
                .bytes()
                .all(|b| b.is_ascii_digit() || (wildcard && b == b'*'))
        {
            return Err(invalid());
        }
    }
    let valid_host = if let Some(inner) = host.strip_prefix('[') {
        inner.strip_suffix(']').is_some_and(|ip| {
            !ip.is_empty() && ip.bytes().all(|b| b.is_ascii_hexdigit() || b == b':')
        })
    } else {
        is_dns_name(host, wildcard)
    };
    if valid_host {
        Ok(())
    } else {
        Err(invalid())
    }
}

const ONES: u64 = u64::from_le_bytes([1; 8]);
const HIGH_BITS: u64 = ONES << 7;

/// The high bit of each byte of `word` that equals `byte`, and no other bit: exact, so that
/// the highest one can be taken as well as the lowest (no borrow or carry crosses a byte, since
/// `(x & 0x7f) + 0x7f` stays below 0x100).
#[inline]
fn bytes_equal(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    let low_bits = !HIGH_BITS;
    !(((x & low_bits) + low_bits) | x) & HIGH_BITS
}

/// Where `byte` (ASCII) first occurs in `text`, eight bytes at a time: references and patterns
/// are searched for `/ : @ .` several times each, and `str::find`'s memchr costs more to set up
/// than the search itself on strings this short.
pub(crate) fn find_byte(text: &str, byte: u8) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(Ok(chunk)) = bytes.get(i..i + 8).map(<[u8; 8]>::try_from) {
        let found = bytes_equal(u64::from_le_bytes(chunk), byte);
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    bytes[i..].iter().position(|&b| b == byte).map(|j| i + j)
}

/// Where `byte` (ASCII) last occurs in `text` (see [`find_byte`]).
pub(crate) fn rfind_byte(text: &str, byte: u8) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut end = bytes.len();
    while let Some(Ok(chunk)) = end
        .checked_sub(8)
        .and_then(|start| bytes.get(start..end))
        .map(<[u8; 8]>::try_from)
    {
        let found = bytes_equal(u64::from_le_bytes(chunk), byte);
        if found != 0 {
            return Some(end - 1 - (found.leading_zeros() / 8) as usize);
        }
        end -= 8;
    }
    bytes[..end].iter().rposition(|&b| b == byte)
}

/// `text.split(byte as char)` for an ASCII `byte`, searching with [`find_byte`].
pub(crate) fn split_byte(text: &str, byte: u8) -> SplitByte<'_> {
    SplitByte {
        rest: Some(text),
        byte,
    }
}

/// The pieces of [`split_byte`].
pub(crate) struct SplitByte<'a> {
    rest: Option<&'a str>,
    byte: u8,
}

impl<'a> Iterator for SplitByte<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match split_once_byte(rest, self.byte) {
            Some((piece, after)) => {
                self.rest = Some(after);
                Some(piece)
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

/// `text` around the first `byte` (ASCII), without it (see [`find_byte`]).
pub(crate) fn split_once_byte(text: &str, byte: u8) -> Option<(&str, &str)> {
    find_byte(text, byte).map(|i| (&text[..i], &text[i + 1..]))
}

/// Whether `text` holds whitespace or a control character (Unicode's). Both are all below '!'
/// or from DEL on: only then are the characters looked at one by one.
pub(crate) fn has_space_or_control(text: &str) -> bool {
    has_byte_outside_graphic_ascii(text.as_bytes())
        && text.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Whether a byte is below '!' or from DEL (0x7f) on, eight bytes at a time: every image
/// reference and pattern is checked, and most are 30 to 130 bytes of graphic ASCII.
fn has_byte_outside_graphic_ascii(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    for chunk in &mut words {
        let word = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).unwrap_or_default());
        // Below '!': `x - ONES * 0x21` borrows into the high bit of each byte below 0x21 (the
        // lowest such byte is always flagged, and one is enough). From DEL: a high bit, or low
        // seven bits of 0x7f, which `+ 1` carries into the high bit (never past it).
        let below = word.wrapping_sub(ONES * 0x21) & !word;
        let from_del = word | ((word & !HIGH_BITS) + ONES);
        if (below | from_del) & HIGH_BITS != 0 {
            return true;
        }
    }
    words.remainder().iter().any(|&b| b <= b' ' || b >= 0x7f)
}

/// Dot-separated labels, each of letters, digits and `-` (and `*` with `wildcard`), neither
/// starting nor ending with `-`: one pass over the bytes, each looked at beside the one before.
fn is_dns_name(host: &str, wildcard: bool) -> bool {
    let alnum = |b: u8| b.is_ascii_alphanumeric() || (wildcard && b == b'*');
    // A label starts after a dot, and the name starts with a label.
    let mut previous = b'.';
    for &byte in host.as_bytes() {
        let fits = match byte {
            // A label ends with a letter or digit (so it is not empty).
            b'.' => alnum(previous),
            b'-' => previous != b'.',
            _ => alnum(byte),
        };
        if !fits {
            return false;
        }
        previous = byte;
    }
    alnum(previous)
}

/// `[a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*`
pub(crate) fn check_path_component(component: &str) -> Result<(), ReferenceError> {
    let invalid = || ReferenceError::InvalidPathComponent(component.to_string());
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err(invalid());
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !ok {
            return Err(invalid());
        }
    }
    Ok(())
}

/// `[A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}`
pub(crate) fn check_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    !bytes.is_empty()
        && bytes.len() <= TAG_MAX_LEN
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-')
}

fn check_tag_of(tag: &str) -> Result<&str, ReferenceError> {
    if check_tag(tag) {
        Ok(tag)
    } else {
        Err(ReferenceError::InvalidTag(tag.to_string()))
    }
}

fn check_digest(digest: &str) -> Result<&str, ReferenceError> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(ReferenceError::InvalidDigest(digest.to_string()));
    };
    let expected_len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => {
            return Err(ReferenceError::UnsupportedDigestAlgorithm(
                algorithm.to_string(),
            ))
        }
    };
    if hex.len() == expected_len
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(digest)
    } else {
        Err(ReferenceError::InvalidDigest(digest.to_string()))
    }
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D256: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// Each part read back from the one string the reference keeps.
    fn dns_name_by_labels(host: &str, wildcard: bool) -> bool {
        let alnum = |b: u8| b.is_ascii_alphanumeric() || (wildcard && b == b'*');
        !host.is_empty()
            && host.split('.').all(|label| {
                let bytes = label.as_bytes();
                !bytes.is_empty()
                    && alnum(bytes[0])
                    && alnum(bytes[bytes.len() - 1])
                    && bytes.iter().all(|&b| alnum(b) || b == b'-')
            })
    }

    #[test]
    fn bytes_are_found_first_and_last_wherever_they_are() {
        // Every position of one or two needles in 0 to 19 bytes, among fillers next to the
        // needle's value (which a borrow or a carry between bytes would take for it).
        for needle in [b'/', b':', b'@', b'.', 0x7f, 0x01] {
            let fillers = [needle - 1, needle + 1, 0, 0x7f, b'a'];
            for filler in fillers.into_iter().filter(|&f| f != needle && f <= 0x7f) {
                for len in 0..20 {
                    let plain = vec![filler; len];
                    let text = std::str::from_utf8(&plain).unwrap();
                    assert_eq!(find_byte(text, needle), None);
                    assert_eq!(rfind_byte(text, needle), None);
                    for (i, j) in (0..len).flat_map(|i| (i..len).map(move |j| (i, j))) {
                        let mut bytes = plain.clone();
                        bytes[i] = needle;
                        bytes[j] = needle;
                        let text = std::str::from_utf8(&bytes).unwrap();
                        assert_eq!(find_byte(text, needle), Some(i), "{bytes:?}");
                        assert_eq!(rfind_byte(text, needle), Some(j), "{bytes:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn bytes_are_found_among_non_ascii_characters() {
        // Their bytes (0x80 and up) differ from an ASCII needle only in bits a carry could cross.
        for filler in ["é", "€", "\u{10ffff}", "a\u{7f}ÿ"] {
            for len in 0..12 {
                let before = filler.repeat(len);
                let text = format!("{before}/{}", filler.repeat(len));
                assert_eq!(find_byte(&text, b'/'), Some(before.len()), "{text}");
                assert_eq!(rfind_byte(&text, b'/'), Some(before.len()), "{text}");
                assert_eq!(find_byte(&before, b'/'), None, "{before}");
                assert_eq!(rfind_byte(&before, b'/'), None, "{before}");
            }
        }
    }

    #[test]
    fn split_byte_splits_as_str_split_does() {
        for text in [
            "",
            "/",
            "a",
            "a/b",
            "/a/",
            "library/nginx",
            "a//b/c/d/e/f/g/h/i",
            "ab/cdefghijklm/n",
        ] {
            let ours: Vec<&str> = split_byte(text, b'/').collect();
            let std: Vec<&str> = text.split('/').collect();
            assert_eq!(ours, std, "{text}");
        }
    }

    #[test]
    fn bytes_outside_graphic_ascii_are_found_wherever_they_are() {
        let naive = |bytes: &[u8]| bytes.iter().any(|&b| b <= b' ' || b >= 0x7f);
        // Every byte value at every position of words and a remainder, among neighbours at the
        // edges of the range (which a borrow or a carry between bytes would misjudge).
        for len in [1, 7, 8, 9, 16, 19] {
            for filler in [b'!', b'~', b'a', b'0'] {
                for at in 0..len {
                    for byte in 0..=255u8 {
                        let mut bytes = vec![filler; len];
                        bytes[at] = byte;
                        assert_eq!(
                            has_byte_outside_graphic_ascii(&bytes),
                            naive(&bytes),
                            "{bytes:?}"
                        );
                    }
                }
            }
        }
        assert!(!has_byte_outside_graphic_ascii(b""));
    }

    #[test]
    fn a_dns_name_is_read_in_one_pass_as_label_by_label() {
        // Every string of up to five of these characters, with and without wildcards.
        let alphabet = ["a", "Z", "0", "-", ".", "*", "_", "é"];
        let mut names = vec![String::new()];
        for _ in 0..5 {
            let longer: Vec<String> = names
                .iter()
                .filter(|name| name.chars().count() == names.last().unwrap().chars().count())
                .flat_map(|name| alphabet.iter().map(move |c| format!("{name}{c}")))
                .collect();
            names.extend(longer);
        }
        assert!(names.len() > 30_000);
        for name in &names {
            for wildcard in [false, true] {
                assert_eq!(
                    is_dns_name(name, wildcard),
                    dns_name_by_labels(name, wildcard),
                    "{name:?} wildcard {wildcard}"
                );
            }
        }
        assert!(is_dns_name("harbor.internal.example.com", false));
        assert!(is_dns_name("*.dkr.ecr.*.amazonaws.com", true));
        assert!(!is_dns_name("*.dkr.ecr.*.amazonaws.com", false));
    }

    #[test]
    fn parts_are_read_back() {
        let full = ImageRef::parse(&format!("localhost:5000/a/b:1@{D256}")).unwrap();
        assert_eq!(full.registry(), "localhost:5000");
        assert_eq!(full.repository(), "a/b");
        assert_eq!(full.tag(), Some("1"));
        assert_eq!(full.digest(), Some(D256));
        assert_eq!(full.name(), "localhost:5000/a/b");
        let digest_only = ImageRef::parse(&format!("nginx@{D256}")).unwrap();
        assert_eq!(digest_only.name(), "docker.io/library/nginx");
        assert_eq!(
            (digest_only.tag(), digest_only.digest()),
            (None, Some(D256))
        );
        let plain = ImageRef::parse("ghcr.io/acme/app").unwrap();
        assert_eq!((plain.tag(), plain.digest()), (None, None));
        assert_eq!(plain.name(), "ghcr.io/acme/app");
    }

    /// Whitespace and control characters anywhere, ASCII or not, and nothing else, are
    /// `InvalidCharacters` (the byte pre-check must not skip or add any).
    #[test]
    fn only_whitespace_and_control_characters_are_invalid_characters() {
        for input in [
            "\t",
            " ",
            "\u{2028}",
            "\u{85}",
            "nginx\u{a0}",
            "a b",
            "nginx\u{7f}",
        ] {
            assert_eq!(
                ImageRef::parse(input),
                Err(ReferenceError::InvalidCharacters),
                "{input:?}"
            );
        }
        assert_eq!(
            ImageRef::parse("ghcr.io/é"),
            Err(ReferenceError::InvalidPathComponent("é".to_string()))
        );
    }

    struct Case {
        input: &'static str,
        registry: &'static str,
        repository: &'static str,
        tag: Option<&'static str>,
        digest: bool,
        effective_tag: Option<&'static str>,
    }

    const fn ok(
        input: &'static str,
        registry: &'static str,
        repository: &'static str,
        tag: Option<&'static str>,
        digest: bool,
        effective_tag: Option<&'static str>,
    ) -> Case {
        Case {
            input,
            registry,
            repository,
            tag,
            digest,
            effective_tag,
        }
    }

    #[test]
    fn valid_references_normalise_like_the_runtime() {
        let cases = [
            ok("nginx", "docker.io", "library/nginx", None, false, Some("latest")),
            ok("nginx:1.25", "docker.io", "library/nginx", Some("1.25"), false, Some("1.25")),
            ok("library/nginx", "docker.io", "library/nginx", None, false, Some("latest")),
            ok("docker.io/nginx", "docker.io", "library/nginx", None, false, Some("latest")),
            ok("index.docker.io/nginx", "docker.io", "library/nginx", None, false, Some("latest")),
            // Go keeps the domain as written: only the exact `index.docker.io` becomes `docker.io`.
            ok("INDEX.DOCKER.IO/bitnami/redis:7", "INDEX.DOCKER.IO", "bitnami/redis", Some("7"), false, Some("7")),
            ok("index.docker.io/bitnami/redis:7", "docker.io", "bitnami/redis", Some("7"), false, Some("7")),
            ok("bitnami/redis", "docker.io", "bitnami/redis", None, false, Some("latest")),
            ok("Docker.IO/nginx", "Docker.IO", "nginx", None, false, Some("latest")),
            ok("registry-1.docker.io/nginx", "registry-1.docker.io", "nginx", None, false, Some("latest")),
            ok("LOCALHOST/app", "LOCALHOST", "app", None, false, Some("latest")),
            ok("localhost/app", "localhost", "app", None, false, Some("latest")),
            ok("localhost:5000/app:v1", "localhost:5000", "app", Some("v1"), false, Some("v1")),
            ok("localhost:5000", "docker.io", "library/localhost", Some("5000"), false, Some("5000")),
            ok("registry.example.com:5000/team/app", "registry.example.com:5000", "team/app", None, false, Some("latest")),
            ok("10.0.0.1:5000/app", "10.0.0.1:5000", "app", None, false, Some("latest")),
            ok("[::1]:5000/app:1", "[::1]:5000", "app", Some("1"), false, Some("1")),
            ok("[2001:db8::1]/app", "[2001:db8::1]", "app", None, false, Some("latest")),
            ok("123456789.dkr.ecr.us-east-1.amazonaws.com/team/app:2.0", "123456789.dkr.ecr.us-east-1.amazonaws.com", "team/app", Some("2.0"), false, Some("2.0")),
            ok("us-docker.pkg.dev/proj/repo/img", "us-docker.pkg.dev", "proj/repo/img", None, false, Some("latest")),
            ok("gcr.io/google-containers/pause:3.9", "gcr.io", "google-containers/pause", Some("3.9"), false, Some("3.9")),
            ok("harbor.internal.example.com/dockerhub-cache/library/nginx:1.25", "harbor.internal.example.com", "dockerhub-cache/library/nginx", Some("1.25"), false, Some("1.25")),
            ok("a/b__c/d-e/f--g/h.i/j_k", "docker.io", "a/b__c/d-e/f--g/h.i/j_k", None, false, Some("latest")),
            ok("nginx:_tag.With-Caps", "docker.io", "library/nginx", Some("_tag.With-Caps"), false, Some("_tag.With-Caps")),
            ok("nginx:1.25@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "docker.io", "library/nginx", Some("1.25"), true, Some("1.25")),
            ok("nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "docker.io", "library/nginx", None, true, None),
            ok("ghcr.io/a/b@sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "ghcr.io", "a/b", None, true, None),
            ok("ghcr.io/a/b@sha384:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "ghcr.io", "a/b", None, true, None),
            // Only a reference that is nothing but 64 hex characters is refused (Go's
            // anchoredIdentifierRegexp runs on the whole input).
            ok("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef:1", "docker.io", "library/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Some("1"), false, Some("1")),
            ok("library/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "docker.io", "library/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", None, false, Some("latest")),
            ok("ghcr.io/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "ghcr.io", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", None, false, Some("latest")),
            // Hex characters alone are a name unless there are exactly 64 of them.
            ok("cafe", "docker.io", "library/cafe", None, false, Some("latest")),
        ];
        for case in cases {
            let image =
                ImageRef::parse(case.input).unwrap_or_else(|e| panic!("{}: {e}", case.input));
            assert_eq!(image.registry(), case.registry, "{}", case.input);
            assert_eq!(image.repository(), case.repository, "{}", case.input);
            assert_eq!(image.tag(), case.tag, "{}", case.input);
            assert_eq!(image.digest().is_some(), case.digest, "{}", case.input);
            assert_eq!(image.effective_tag(), case.effective_tag, "{}", case.input);
        }
    }

    #[test]
    fn invalid_references_say_why() {
        let long_name = format!("ghcr.io/{}", "a".repeat(256));
        let long_tag = format!("nginx:{}", "t".repeat(129));
        let cases: Vec<(&str, ReferenceError)> = vec![
            ("", ReferenceError::Empty),
            (":latest", ReferenceError::MissingName),
            (
                "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                ReferenceError::MissingName,
            ),
            ("[::1]", ReferenceError::HostWithoutPath("[::1]".into())),
            (
                "[::1]:5000",
                ReferenceError::HostWithoutPath("[::1]:5000".into()),
            ),
            (" nginx", ReferenceError::InvalidCharacters),
            ("nginx\n", ReferenceError::InvalidCharacters),
            ("Nginx", ReferenceError::Uppercase),
            ("ghcr.io/Acme/app", ReferenceError::Uppercase),
            (
                "ghcr.io/acme//app",
                ReferenceError::InvalidPathComponent(String::new()),
            ),
            (
                "ghcr.io/-acme/app",
                ReferenceError::InvalidPathComponent("-acme".into()),
            ),
            (
                "ghcr.io/acme./app",
                ReferenceError::InvalidPathComponent("acme.".into()),
            ),
            (
                "ghcr.io/a...b",
                ReferenceError::InvalidPathComponent("a...b".into()),
            ),
            (
                "ghcr.io/a___b",
                ReferenceError::InvalidPathComponent("a___b".into()),
            ),
            (
                "ghcr.io/a_-b",
                ReferenceError::InvalidPathComponent("a_-b".into()),
            ),
            (
                "ghcr.io/",
                ReferenceError::InvalidPathComponent(String::new()),
            ),
            (
                "-bad.io/app",
                ReferenceError::InvalidRegistry("-bad.io".into()),
            ),
            (
                "bad-.io/app",
                ReferenceError::InvalidRegistry("bad-.io".into()),
            ),
            (
                "bad..io/app",
                ReferenceError::InvalidRegistry("bad..io".into()),
            ),
            (
                "bad.io:port/app",
                ReferenceError::InvalidRegistry("bad.io:port".into()),
            ),
            (
                "bad.io:/app",
                ReferenceError::InvalidRegistry("bad.io:".into()),
            ),
            ("[::1/app", ReferenceError::InvalidRegistry("[::1".into())),
            // `*` is a wildcard of registry patterns only, never of a reference.
            (
                "ghcr.io:5*/app",
                ReferenceError::InvalidRegistry("ghcr.io:5*".into()),
            ),
            (
                "gh*cr.io/app",
                ReferenceError::InvalidRegistry("gh*cr.io".into()),
            ),
            (
                "[zz::1]/app",
                ReferenceError::InvalidRegistry("[zz::1]".into()),
            ),
            ("nginx:", ReferenceError::InvalidTag(String::new())),
            ("nginx:-1", ReferenceError::InvalidTag("-1".into())),
            ("nginx:.1", ReferenceError::InvalidTag(".1".into())),
            ("nginx:a+b", ReferenceError::InvalidTag("a+b".into())),
            (
                long_tag.as_str(),
                ReferenceError::InvalidTag("t".repeat(129)),
            ),
            (
                "nginx@sha256:abc",
                ReferenceError::InvalidDigest("sha256:abc".into()),
            ),
            (
                "nginx@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
                ReferenceError::InvalidDigest(
                    "sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"
                        .into(),
                ),
            ),
            (
                "nginx@sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                ReferenceError::InvalidDigest(
                    "sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                        .into(),
                ),
            ),
            (
                "nginx@md5:0123456789abcdef0123456789abcdef",
                ReferenceError::UnsupportedDigestAlgorithm("md5".into()),
            ),
            (
                "nginx@0123456789abcdef",
                ReferenceError::InvalidDigest("0123456789abcdef".into()),
            ),
            (
                "nginx@sha256:",
                ReferenceError::InvalidDigest("sha256:".into()),
            ),
            (
                "nginx@sha256:aa@sha256:bb",
                ReferenceError::InvalidDigest("sha256:aa@sha256:bb".into()),
            ),
            (
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                ReferenceError::HexOnlyName,
            ),
            (long_name.as_str(), ReferenceError::NameTooLong(256)),
        ];
        for (input, expected) in cases {
            assert_eq!(ImageRef::parse(input), Err(expected), "{input:?}");
        }
    }

    #[test]
    fn the_length_limit_is_on_the_path_only() {
        // distribution/reference v0.6.0: RepositoryNameTotalLengthMax applies to the path.
        let domain = format!("{}.example.com", "r".repeat(60));
        let at_limit = format!("{domain}/{}", "a".repeat(255));
        let image = ImageRef::parse(&at_limit).unwrap();
        assert_eq!(image.repository().len(), 255);
        // `library/` counts: a 248-character official name is 256 characters of path.
        let official = "a".repeat(248);
        assert_eq!(
            ImageRef::parse(&official),
            Err(ReferenceError::NameTooLong(256))
        );
    }

    #[test]
    fn hosts_and_repositories_as_the_registry_sees_them() {
        // (reference, host id, port, canonical repository)
        let cases = [
            ("Docker.IO/nginx", "docker.io", None, "library/nginx"),
            (
                "registry-1.docker.io/nginx",
                "docker.io",
                None,
                "library/nginx",
            ),
            ("nginx", "docker.io", None, "library/nginx"),
            (
                "docker.io/bitnami/redis",
                "docker.io",
                None,
                "bitnami/redis",
            ),
            ("ghcr.io/app", "ghcr.io", None, "app"),
            ("127.0.0.1:05000/app", "localhost", Some("5000"), "app"),
            ("[::ffff:a00:1]:443/app", "10.0.0.1", Some("443"), "app"),
        ];
        for (reference, host, port, repository) in cases {
            let image = ImageRef::parse(reference).unwrap();
            assert_eq!(image.host_id().to_string(), host, "{reference}");
            assert_eq!(image.port(), port, "{reference}");
            assert_eq!(image.canonical_repository(), repository, "{reference}");
        }
    }

    #[test]
    fn printing_forms() {
        let image = ImageRef::parse("nginx").unwrap();
        assert_eq!(image.fully_qualified(), "docker.io/library/nginx:latest");
        assert_eq!(image.to_image_string(), "docker.io/library/nginx");
        assert_eq!(image.to_string(), "docker.io/library/nginx:latest");
        let pinned = ImageRef::parse(&format!("ghcr.io/a/b:1@{D256}")).unwrap();
        assert_eq!(pinned.fully_qualified(), format!("ghcr.io/a/b:1@{D256}"));
        let digest_only = ImageRef::parse(&format!("ghcr.io/a/b@{D256}")).unwrap();
        assert_eq!(digest_only.fully_qualified(), format!("ghcr.io/a/b@{D256}"));
    }

    /// A moved reference is the one `parse` reads from its text, errors included.
    #[test]
    fn a_moved_reference_is_its_text_parsed() {
        let images = [
            "nginx:1.25",
            &format!("ghcr.io/a/b:1@{D256}"),
            &format!("redis@{D256}"),
        ];
        // (registry, pieces)
        let targets: &[(&str, &[&str])] = &[
            ("harbor.example.com", &["cache", "/", "library/nginx"]),
            ("harbor.example.com", &["library/nginx"]),
            ("localhost:5000", &["a"]),
            ("LocalHost", &["a/b"]),
            ("[::1]:5000", &["x"]),
            ("Harbor.Example.COM", &["c"]),
            // Docker Hub, however spelt: normalised as parse does.
            ("docker.io", &["nginx"]),
            ("index.docker.io", &["library", "/", "nginx"]),
            // Errors: no path, a bad component, upper case, too long, not a registry.
            ("harbor.example.com", &[""]),
            ("harbor.example.com", &["cache", "/", ""]),
            ("harbor.example.com", &["Cache"]),
            ("harbor.example.com", &["-a"]),
            ("harbor.example.com", &[&"a".repeat(256)]),
            ("[abcd]", &["x"]),
            // Not a registry, read as a Docker Hub path (nine characters, as `docker.io`).
            ("abcdefghi", &["x"]),
            ("abc", &["x"]),
            ("harbor..example.com", &["x"]),
            ("harbor.example.com:", &["x"]),
        ];
        for image in images {
            let image = ImageRef::parse(image).unwrap();
            for (registry, pieces) in targets {
                let text = write_reference(registry, pieces, image.tag(), image.digest()).0;
                assert_eq!(
                    image.moved_to(registry, pieces),
                    ImageRef::parse(&text),
                    "{text}"
                );
            }
        }
        let moved = ImageRef::parse("nginx:1.25")
            .unwrap()
            .moved_to("harbor.example.com", &["cache", "/", "library/nginx"])
            .unwrap();
        assert_eq!(
            moved.to_image_string(),
            "harbor.example.com/cache/library/nginx:1.25"
        );
    }

    #[test]
    fn errors_read_well() {
        let err = ImageRef::parse("nginx@sha256:abc").unwrap_err();
        assert!(err.to_string().contains("sha256:<64 hex>"), "{err}");
        let err = ImageRef::parse("Nginx").unwrap_err();
        assert_eq!(err.to_string(), "repository name must be lowercase");
        let err = ImageRef::parse("[::1]").unwrap_err();
        assert!(
            err.to_string()
                .contains("registry host without a repository path"),
            "{err}"
        );
        let err = ImageRef::parse(
            "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        )
        .unwrap_err();
        assert!(err.to_string().contains("image name before"), "{err}");
    }
}
