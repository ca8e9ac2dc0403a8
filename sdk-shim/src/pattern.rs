//! Registry / repository patterns and image patterns, shared by every policy's settings.
//!
//! ```text
//! registry-pattern := host-pattern [ ":" port-pattern ] ( "/" segment-pattern )*
//! image-pattern    := registry-pattern [ ":" tag-glob ]      (a tag only after a path)
//! ```
//!
//! `*` matches any run of characters inside one DNS label, one path segment, the port or the tag,
//! never across `.` in a host nor across `/` in a path. Patterns are matched on label/segment
//! boundaries: `docker.io` never matches `docker.io.evil.com`, and `ghcr.io/acme` never matches
//! `ghcr.io/acme-evil/x`. A repository part is a prefix of whole segments: `docker.io/library`
//! matches `nginx` (= `docker.io/library/nginx`).
//!
//! One registry, every spelling (see [`crate::registry_host`]): hosts compare without case,
//! `docker.io`, `index.docker.io` and `registry-1.docker.io` are one registry (where a
//! one-component Docker Hub repository is `library/<name>` however the host is spelt), IP hosts
//! compare as addresses, and `localhost`, `127.0.0.0/8`, `[::1]`, `0.0.0.0` and `[::]` are all
//! the node's loopback. A pattern without a port matches its host on any port (`evil.com`
//! covers `evil.com:5000`); a pattern with a port matches only that port, and an image without
//! a port is pulled from 443 or 80. On Docker Hub a pattern whose repository part is one
//! component (`docker.io/busybox`) means both that namespace and the official image
//! `library/busybox`, as a reference `docker.io/busybox` does.
//!
//! The first component is always the registry host, so it must look like one (contain a `.` or a
//! `:`, or be `localhost`): `nginx` alone is refused with a hint to write `docker.io/library/nginx`.
//! A pattern that could never match a valid image (a path segment no repository can have, a
//! `:tag` in a registry pattern) is refused, naming it.

use crate::reference::{
    check_path_component, check_registry_with, check_tag, find_byte, has_space_or_control,
    rfind_byte, split_byte, split_once_byte, ImageRef,
};
use crate::registry_host::{canonical_port, split_host_port, HostId, DEFAULT_PORTS};
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::ops::Range;

/// A registry host (optional port), optionally followed by a repository prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryPattern {
    text: String,
    host: HostPattern,
    /// Digits without leading zeros, or a glob; `None` matches any port.
    port: Option<String>,
    /// Where the repository prefix lies in `text` (empty for a bare registry); its segments are
    /// read from there, so a pattern is one string whatever its depth.
    path: Range<usize>,
    /// On Docker Hub, for a one-component repository part `x`: the pattern also means
    /// `library/x`, the official image a reference `docker.io/x` names.
    official: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// A concrete host: matches every spelling of it.
    Exact(HostId),
    /// The host in lower case; each of its DNS labels a glob with `*`.
    Glob(String),
}

/// A registry pattern optionally followed by `:tag-glob`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePattern {
    text: String,
    repository: RegistryPattern,
    tag: Option<String>,
}

impl RegistryPattern {
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::parse_reason(text).map_err(|why| format!("pattern '{text}': {why}"))
    }

    /// Parses, returning only the reason on failure (the caller names the pattern).
    fn parse_reason(text: &str) -> Result<Self, String> {
        let bad = |why: &str| Err(why.to_string());
        if text.is_empty() {
            return bad("is empty");
        }
        // Byte by byte: `str::contains` sets up a substring searcher for every pattern.
        let bytes = text.as_bytes();
        let scheme =
            (0..bytes.len()).any(|i| bytes[i] == b':' && bytes[i + 1..].starts_with(b"//"));
        if scheme {
            return bad("write the registry host without a scheme, e.g. 'ghcr.io/acme'");
        }
        if has_space_or_control(text) || find_byte(text, b'@').is_some() {
            return bad("contains whitespace, a control character or '@'");
        }
        let (registry, path) = match split_once_byte(text, b'/') {
            Some((registry, path)) => {
                let start = registry.len() + 1;
                (registry, start..start + path.trim_end_matches('/').len())
            }
            None => (text, text.len()..text.len()),
        };
        let Some((host, port)) = split_host_port(registry) else {
            return bad("the registry part is not host[:port]");
        };
        let looks_like_host = find_byte(host, b'.').is_some()
            || host.starts_with('[')
            || port.is_some()
            || host.eq_ignore_ascii_case("localhost");
        if !looks_like_host {
            return Err(format!(
                "the first component must be a registry host such as 'docker.io' or 'ghcr.io' \
                 (for Docker Hub images write 'docker.io/library/{host}' or 'docker.io/{host}')"
            ));
        }
        if check_registry_with(registry, true).is_err() {
            return bad("the registry part is not a valid host[:port]");
        }
        let host = if find_byte(host, b'*').is_some() {
            HostPattern::Glob(host.to_ascii_lowercase())
        } else {
            HostPattern::Exact(HostId::parse(host))
        };
        let port = match port {
            Some(port) if find_byte(port, b'*').is_some() => Some(port.to_string()),
            port => canonical_port(port),
        };
        let mut segment_count = 0;
        for segment in segments_of(&text[path.clone()]) {
            segment_count += 1;
            if let Some((_, tag)) = split_once_byte(segment, b':') {
                return Err(format!(
                    "a registry pattern has no tag: remove ':{tag}' (tags are matched only by image patterns such as exemptImages)"
                ));
            }
            if !could_be_path_component(segment) {
                return bad(&format!(
                    "repository segment '{segment}' can never match: a path component is lowercase letters and digits separated by '.', '_', '__' or '-' ('*' for any run)"
                ));
            }
        }
        let official = matches!(&host, HostPattern::Exact(id) if id.is_docker_hub())
            && segment_count == 1
            && &text[path.clone()] != "library";
        Ok(RegistryPattern {
            text: text.to_string(),
            host,
            port,
            path,
            official,
        })
    }

    /// Whether the image's registry and repository fall under this pattern.
    pub fn matches(&self, image: &ImageRef) -> bool {
        self.matches_host(image.host_id(), image.port())
            && self.matches_repository(&image.canonical_repository(), false)
    }

    /// Whether the image's repository is exactly this pattern's (no nested repository).
    fn matches_exactly(&self, image: &ImageRef) -> bool {
        self.matches_host(image.host_id(), image.port())
            && self.matches_repository(&image.canonical_repository(), true)
    }

    /// Like [`Self::matches`], but a pattern without a port covers only the default ports: the
    /// images a mirror may treat as one registry (`localhost:5000` and `localhost:6000` are two).
    pub fn matches_registry_on_its_port(&self, image: &ImageRef) -> bool {
        let default_port = image
            .port()
            .is_none_or(|port| DEFAULT_PORTS.contains(&port));
        self.matches(image) && (self.port.is_some() || default_port)
    }

    fn matches_repository(&self, repository: &str, whole: bool) -> bool {
        globs_match(self.segments(), split_byte(repository, b'/'), whole)
            || (self.official
                && globs_match(
                    ["library", self.repository_prefix()].into_iter(),
                    split_byte(repository, b'/'),
                    whole,
                ))
    }

    /// The repository prefix's segments (none for a bare registry).
    fn segments(&self) -> impl Iterator<Item = &str> {
        segments_of(self.repository_prefix())
    }

    /// Whether the pattern names Docker Hub (however spelt).
    pub fn is_docker_hub(&self) -> bool {
        matches!(&self.host, HostPattern::Exact(id) if id.is_docker_hub())
    }

    /// Whether a host and port (`None`: none written, so 443) fall under this pattern.
    fn matches_host(&self, host: &HostId, port: Option<&str>) -> bool {
        let port_matches = match &self.port {
            None => true,
            Some(glob) => match port {
                Some(port) => glob_match(glob, port),
                None => DEFAULT_PORTS
                    .iter()
                    .any(|default| glob_match(glob, default)),
            },
        };
        port_matches
            && match &self.host {
                HostPattern::Exact(id) => id == host,
                HostPattern::Glob(glob) => host.any_spelling(|spelling| {
                    globs_match(split_byte(glob, b'.'), split_byte(spelling, b'.'), true)
                }),
            }
    }

    /// Whether every image under the concrete pattern `other` also falls under this one.
    pub fn covers(&self, other: &RegistryPattern) -> bool {
        let HostPattern::Exact(other_host) = &other.host else {
            return false;
        };
        let ports_covered = match (&self.port, &other.port) {
            (None, _) => true,
            (Some(mine), Some(theirs)) => glob_match(mine, theirs),
            // `other` covers every port, this pattern only some.
            (Some(_), None) => false,
        };
        ports_covered
            && self.matches_host(other_host, other.port.as_deref())
            && self.segment_count() <= other.segment_count()
            && globs_match(self.segments(), other.segments(), false)
    }

    /// Whether some image falls under both concrete patterns (one's repository prefix lies under
    /// the other's, on the same registry).
    pub fn overlaps(&self, other: &RegistryPattern) -> bool {
        let ports_meet = match (&self.port, &other.port) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        // Equal on the shorter one's segments (`zip` stops there).
        self.host == other.host
            && ports_meet
            && self.segments().zip(other.segments()).all(|(a, b)| a == b)
    }

    /// The number of repository segments this pattern fixes (used to rewrite the rest of a path).
    pub fn segment_count(&self) -> usize {
        self.segments().count()
    }

    /// Whether the pattern holds a `*` (a mirror target must be concrete).
    pub fn has_wildcard(&self) -> bool {
        find_byte(&self.text, b'*').is_some()
    }

    /// The registry part as written (`host[:port]`), for rewriting an image onto it.
    pub fn registry(&self) -> &str {
        split_once_byte(&self.text, b'/').map_or(&self.text, |(registry, _)| registry)
    }

    /// The repository prefix, `""` when the pattern is a bare registry.
    pub fn repository_prefix(&self) -> &str {
        &self.text[self.path.clone()]
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl ImagePattern {
    pub fn parse(text: &str) -> Result<Self, String> {
        let last_slash = rfind_byte(text, b'/');
        let (repository, tag) =
            match last_slash.and_then(|i| find_byte(&text[i..], b':').map(|j| i + j)) {
                Some(colon) => (&text[..colon], Some(&text[colon + 1..])),
                None => (text, None),
            };
        if let Some(tag) = tag {
            let ok = tag.len() <= 128
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-*".contains(&b))
                && could_be(tag, check_tag);
            if !ok {
                return Err(format!(
                    "pattern '{text}': tag glob '{tag}' can never match a tag (1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'; '*' for any run)"
                ));
            }
        }
        let repository = RegistryPattern::parse_reason(repository)
            .map_err(|why| format!("pattern '{text}': {why}"))?;
        Ok(ImagePattern {
            text: text.to_string(),
            repository,
            tag: tag.map(str::to_string),
        })
    }

    /// Whether the image falls under this pattern. With a tag glob the repository must be exactly
    /// the pattern's (`registry.k8s.io/pause:*` is not `registry.k8s.io/pause/evil`), and the glob
    /// is matched against the effective tag; a digest-only image has no tag and is matched only by
    /// the glob `*`. Without one, the pattern is a repository prefix like a registry pattern.
    pub fn matches(&self, image: &ImageRef) -> bool {
        let repository_matches = match self.tag {
            Some(_) => self.repository.matches_exactly(image),
            None => self.repository.matches(image),
        };
        if !repository_matches {
            return false;
        }
        match (&self.tag, image.effective_tag()) {
            (None, _) => true,
            (Some(glob), _) if glob == "*" => true,
            (Some(glob), Some(tag)) => glob_match(glob, tag),
            (Some(_), None) => false,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Whether some text matching `glob` passes `check`: every `*` stands for a run of letters, or for
/// nothing (the two choices that can make a separator-free glob valid).
fn could_be(glob: &str, check: impl Fn(&str) -> bool) -> bool {
    if !glob.contains('*') {
        return check(glob);
    }
    check(&glob.replace('*', "a")) || check(&glob.replace('*', ""))
}

fn could_be_path_component(segment: &str) -> bool {
    could_be(segment, |s| check_path_component(s).is_ok())
}

/// The '/'-separated segments of a path; none for an empty one.
fn segments_of(path: &str) -> impl Iterator<Item = &str> {
    (!path.is_empty())
        .then(|| split_byte(path, b'/'))
        .into_iter()
        .flatten()
}

/// Each glob matches the next part, in order; `whole` also wants no parts left over.
fn globs_match<'a, 'b>(
    globs: impl Iterator<Item = &'b str>,
    mut parts: impl Iterator<Item = &'a str>,
    whole: bool,
) -> bool {
    for glob in globs {
        match parts.next() {
            Some(part) if glob_match(glob, part) => {}
            _ => return false,
        }
    }
    !whole || parts.next().is_none()
}

/// `*` matches any run of characters (possibly empty); everything else matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((star, matched)) = backtrack {
            pi = star + 1;
            ti = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

impl fmt::Display for RegistryPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Display for ImagePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for RegistryPattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = deserializer.deserialize_str(PatternText)?;
        RegistryPattern::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for ImagePattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = deserializer.deserialize_str(PatternText)?;
        ImagePattern::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A pattern's text, borrowed from the settings where it can be (a pattern keeps its own copy).
struct PatternText;

impl<'de> serde::de::Visitor<'de> for PatternText {
    type Value = std::borrow::Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Borrowed(text))
    }

    fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Owned(text.to_string()))
    }
}

/// Whether any pattern in the list matches.
pub fn any_matches<'p>(
    patterns: &'p [RegistryPattern],
    image: &ImageRef,
) -> Option<&'p RegistryPattern> {
    patterns.iter().find(|p| p.matches(image))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap()
    }

    #[test]
    fn a_registry_pattern_names_what_is_wrong_with_it() {
        let refused = [
            ("@", "contains whitespace, a control character or '@'"),
            ("\t", "contains whitespace, a control character or '@'"),
            ("\u{a0}", "contains whitespace, a control character or '@'"),
            ("\u{85}", "contains whitespace, a control character or '@'"),
            (
                "ghcr.io/a@b",
                "contains whitespace, a control character or '@'",
            ),
            (
                "https://ghcr.io",
                "write the registry host without a scheme",
            ),
            // Not whitespace: the segment is what is wrong.
            ("ghcr.io/é", "repository segment 'é' can never match"),
        ];
        for (text, why) in refused {
            let error = RegistryPattern::parse(text).unwrap_err();
            assert!(error.contains(why), "{text:?}: {error}");
        }
        assert!(RegistryPattern::parse("ghcr.io/acme").is_ok());
    }

    #[test]
    fn registry_patterns_match_on_boundaries() {
        // (pattern, image, matches)
        let cases = [
            ("docker.io", "nginx", true),
            ("docker.io", "library/nginx", true),
            ("docker.io", "docker.io/library/nginx:1.25", true),
            ("docker.io", "index.docker.io/library/nginx", true),
            ("docker.io/library", "nginx", true),
            ("docker.io/library/nginx", "nginx:1.25", true),
            ("docker.io/library", "bitnami/redis", false),
            ("index.docker.io", "nginx", true),
            ("DOCKER.IO", "nginx", true),
            ("docker.io", "DOCKER.IO/library/nginx", true),
            ("docker.io", "docker.io.evil.com/library/nginx", false),
            ("docker.io", "evil-docker.io/x", false),
            ("docker.io", "evildocker.io/x", false),
            ("docker.io", "registry.docker.io/x", false),
            ("ghcr.io/acme", "ghcr.io/acme/app", true),
            ("ghcr.io/acme", "ghcr.io/acme/team/app:1", true),
            ("ghcr.io/acme", "ghcr.io/acme-evil/x", false),
            ("ghcr.io/acme", "ghcr.io/acmex", false),
            ("ghcr.io/acme", "ghcr.io/acme", true),
            ("ghcr.io/acme/", "ghcr.io/acme/app", true),
            ("ghcr.io/acme", "GHCR.io/acme/app", true),
            ("ghcr.io/acme", "ghcr.io.evil.com/acme/app", false),
            (
                "*.dkr.ecr.*.amazonaws.com",
                "123456789.dkr.ecr.us-east-1.amazonaws.com/team/app",
                true,
            ),
            (
                "*.dkr.ecr.*.amazonaws.com",
                "123456789.dkr.ecr.us-east-1.amazonaws.com.evil.com/app",
                false,
            ),
            (
                "*.dkr.ecr.*.amazonaws.com",
                "evil.com/123456789.dkr.ecr.us-east-1.amazonaws.com/app",
                false,
            ),
            (
                "*.dkr.ecr.*.amazonaws.com",
                "a.b.dkr.ecr.us-east-1.amazonaws.com/app",
                false,
            ),
            ("*.gcr.io", "eu.gcr.io/p/app", true),
            ("*.gcr.io", "gcr.io/p/app", false),
            (
                "us-docker.pkg.dev/my-project",
                "us-docker.pkg.dev/my-project/repo/img",
                true,
            ),
            (
                "us-docker.pkg.dev/my-project",
                "us-docker.pkg.dev/my-project-evil/repo/img",
                false,
            ),
            ("ghcr.io/acme-*", "ghcr.io/acme-web/app", true),
            ("ghcr.io/acme-*", "ghcr.io/acme/app", false),
            ("ghcr.io/*/app", "ghcr.io/anyone/app", true),
            ("ghcr.io/*/app", "ghcr.io/a/b/app", false),
            (
                "harbor.internal.example.com/dockerhub-cache",
                "harbor.internal.example.com/dockerhub-cache/library/nginx:1.25",
                true,
            ),
            (
                "harbor.internal.example.com/dockerhub-cache",
                "harbor.internal.example.com/other/nginx",
                false,
            ),
            ("localhost:5000", "localhost:5000/app", true),
            ("localhost:5000", "localhost:5001/app", false),
            ("localhost:5000", "localhost/app", false),
            // A pattern without a port covers every port of its host.
            ("localhost", "localhost:5000/app", true),
            ("evil.com", "evil.com:443/x", true),
            ("evil.com", "evil.com:5000/x", true),
            ("evil.com:5000", "evil.com:05000/x", true),
            ("evil.com:05000", "evil.com:5000/x", true),
            // A port glob is matched as written against the port without leading zeros.
            ("evil.com:0*", "evil.com:5000/x", false),
            ("evil.com:5*", "evil.com:05000/x", true),
            // A trailing '/' is no repository part.
            ("ghcr.io/", "ghcr.io/anything/x", true),
            // An image without a port is pulled from 443.
            ("registry.example.com:443", "registry.example.com/app", true),
            (
                "registry.example.com:443",
                "registry.example.com:8443/app",
                false,
            ),
            // Docker Hub, every spelling.
            ("docker.io", "registry-1.docker.io/nginx", true),
            ("docker.io/library/nginx", "Docker.IO/nginx", true),
            (
                "docker.io/library/nginx",
                "registry-1.docker.io/nginx:1",
                true,
            ),
            ("registry-1.docker.io/library", "nginx", true),
            ("index.docker.io/bitnami", "bitnami/redis", true),
            ("docker.io", "registry-2.docker.io/x", false),
            ("*.docker.io", "registry-1.docker.io/evil/x", true),
            ("*.docker.io", "nginx", true),
            ("registry-*.docker.io", "index.docker.io/evil/x", true),
            ("docker.io", "registry.hub.docker.com/evilorg/x", true),
            // A one-component Docker Hub repository part: the namespace and the official image.
            ("docker.io/busybox", "busybox", true),
            ("docker.io/busybox", "docker.io/busybox:1", true),
            ("docker.io/busybox", "busybox/tool", true),
            ("docker.io/busybox", "busyboxx", false),
            ("docker.io/bitnami", "bitnami/redis", true),
            ("docker.io/bitnami", "redis", false),
            ("ghcr.io/busybox", "ghcr.io/library/busybox", false),
            // An image without a port may be pulled over plain HTTP, on 80.
            ("localhost:80", "localhost/x", true),
            ("localhost:8080", "localhost/x", false),
            // inet_aton spellings are addresses.
            ("10.0.0.5", "10.5/x", true),
            ("localhost", "2130706433:5000/x", true),
            ("8.0.0.1", "010.0.0.1/x", true),
            // Loopback, every spelling.
            ("0.0.0.*", "0.0.0.0:5000/x", true),
            ("0.0.0.*", "[::]:5000/x", true),
            ("localhost", "127.0.0.1:5000/x", true),
            ("localhost", "127.9.9.9/x", true),
            ("localhost", "[::1]:5000/x", true),
            ("localhost", "[0:0::1]/x", true),
            ("localhost", "0.0.0.0:5000/x", true),
            ("localhost", "[::ffff:7f00:1]/x", true),
            ("127.0.0.1", "LOCALHOST/x", true),
            ("[::1]", "localhost/x", true),
            ("127.*.*.*", "localhost/x", true),
            ("local*:*", "[::1]/x", true),
            ("localhost", "localhost.evil.com/x", false),
            // IP addresses compare as addresses.
            ("10.0.0.1", "[::ffff:a00:1]/app", true),
            ("10.0.0.1", "[::ffff:a00:1]:5000/app", true),
            ("10.0.0.*", "[::ffff:a00:7]/app", true),
            ("[2001:db8::1]", "[2001:0db8:0:0::0001]/app", true),
            ("[2001:DB8::1]", "[2001:db8::1]/app", true),
            ("[2001:db8::1]", "[2001:db8::2]/app", false),
            ("localhost:*", "localhost:5000/app", true),
            ("localhost:5*", "localhost:5000/app", true),
            ("localhost:5*", "localhost:6000/app", false),
            ("[::1]:5000", "[::1]:5000/app", true),
            ("10.0.0.1:5000", "10.0.0.1:5000/app", true),
            ("10.0.0.1:5000", "10.0.0.10:5000/app", false),
        ];
        for (pattern, img, expected) in cases {
            let p = RegistryPattern::parse(pattern).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(p.matches(&image(img)), expected, "{pattern} vs {img}");
        }
    }

    #[test]
    fn covering_patterns() {
        let cases = [
            ("harbor.example.com", "harbor.example.com/cache", true),
            ("harbor.example.com/cache", "harbor.example.com/cache", true),
            (
                "harbor.example.com/cache",
                "harbor.example.com/cache/library",
                true,
            ),
            (
                "harbor.example.com/cache/library",
                "harbor.example.com/cache",
                false,
            ),
            ("harbor.example.com/cache", "harbor.example.com", false),
            ("*.example.com", "harbor.example.com", true),
            (
                "harbor.example.com/cache",
                "harbor.example.com/cache-evil",
                false,
            ),
            ("harbor.example.com", "HARBOR.example.com:5000/cache", true),
            ("harbor.example.com:5000", "harbor.example.com/cache", false),
            (
                "harbor.example.com:5*",
                "harbor.example.com:5000/cache",
                true,
            ),
            ("localhost", "127.0.0.1:5000", true),
            ("docker.io", "index.docker.io/cache", true),
        ];
        for (pattern, other, expected) in cases {
            let p = RegistryPattern::parse(pattern).unwrap();
            let o = RegistryPattern::parse(other).unwrap();
            assert_eq!(p.covers(&o), expected, "{pattern} covers {other}");
        }
    }

    #[test]
    fn a_mirror_source_without_a_port_is_one_registry() {
        let from = RegistryPattern::parse("localhost").unwrap();
        for (img, expected) in [
            ("localhost/app", true),
            ("127.0.0.1:443/app", true),
            ("[::1]:80/app", true),
            ("localhost:5000/app", false),
        ] {
            assert_eq!(
                from.matches_registry_on_its_port(&image(img)),
                expected,
                "{img}"
            );
        }
        let from = RegistryPattern::parse("localhost:5000").unwrap();
        assert!(from.matches_registry_on_its_port(&image("127.0.0.1:5000/app")));
        assert!(RegistryPattern::parse("registry-1.docker.io")
            .unwrap()
            .is_docker_hub());
        assert!(!RegistryPattern::parse("*.docker.io")
            .unwrap()
            .is_docker_hub());
    }

    #[test]
    fn the_parts_of_a_pattern() {
        // (pattern, registry as written, repository prefix, segment count, has a wildcard)
        let cases = [
            ("ghcr.io", "ghcr.io", "", 0, false),
            (
                "Harbor.example.com:5000/cache/library",
                "Harbor.example.com:5000",
                "cache/library",
                2,
                false,
            ),
            ("*.gcr.io/p", "*.gcr.io", "p", 1, true),
            ("ghcr.io/acme-*", "ghcr.io", "acme-*", 1, true),
            ("localhost:*", "localhost:*", "", 0, true),
        ];
        for (text, registry, prefix, count, wildcard) in cases {
            let pattern = RegistryPattern::parse(text).unwrap();
            assert_eq!(pattern.registry(), registry, "{text}");
            assert_eq!(pattern.repository_prefix(), prefix, "{text}");
            assert_eq!(pattern.segment_count(), count, "{text}");
            assert_eq!(pattern.has_wildcard(), wildcard, "{text}");
            assert_eq!(pattern.as_str(), text);
            assert_eq!(pattern.to_string(), text);
        }
        let image = ImagePattern::parse("registry.k8s.io/pause:3.*").unwrap();
        assert_eq!(image.as_str(), "registry.k8s.io/pause:3.*");
    }

    #[test]
    fn overlapping_patterns() {
        let cases = [
            (
                "harbor.example.com/cache",
                "harbor.example.com/cache/library",
                true,
            ),
            (
                "harbor.example.com/cache/library",
                "harbor.example.com/cache",
                true,
            ),
            ("harbor.example.com", "harbor.example.com/cache", true),
            (
                "harbor.example.com/cache",
                "harbor.example.com/cache2",
                false,
            ),
            ("harbor.example.com/cache", "other.example.com/cache", false),
            ("harbor.example.com:5000", "harbor.example.com", true),
            ("harbor.example.com:5000", "harbor.example.com:5001", false),
            ("localhost/a", "127.0.0.1/a/b", true),
        ];
        for (a, b, expected) in cases {
            let (pa, pb) = (
                RegistryPattern::parse(a).unwrap(),
                RegistryPattern::parse(b).unwrap(),
            );
            assert_eq!(pa.overlaps(&pb), expected, "{a} overlaps {b}");
            assert_eq!(pb.overlaps(&pa), expected, "{b} overlaps {a}");
        }
    }

    #[test]
    fn image_patterns_match_tags() {
        let cases = [
            ("registry.k8s.io/pause:*", "registry.k8s.io/pause:3.9", true),
            ("registry.k8s.io/pause:*", "registry.k8s.io/pause", true),
            (
                "registry.k8s.io/pause:3.*",
                "registry.k8s.io/pause:3.9",
                true,
            ),
            (
                "registry.k8s.io/pause:3.*",
                "registry.k8s.io/pause:4.0",
                false,
            ),
            (
                "registry.k8s.io/pause:3.*",
                "registry.k8s.io/pause-evil:3.9",
                false,
            ),
            ("registry.k8s.io/pause", "registry.k8s.io/pause:3.9", true),
            ("docker.io/library/busybox:latest", "busybox", true),
            ("docker.io/library/busybox:latest", "busybox:1.36", false),
            (
                "docker.io/library/busybox:1.*",
                "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                false,
            ),
            ("localhost:5000", "localhost:5000/app:1", true),
            ("localhost:5000/app:1", "localhost:5000/app:1", true),
            ("localhost:5000/app:1", "localhost:5000/app:2", false),
            // `*` as the whole tag glob also covers a digest-only image, which has no tag.
            (
                "ghcr.io/acme/app:*",
                "ghcr.io/acme/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                true,
            ),
            // A tag part pins the repository: nothing nested below it.
            (
                "registry.k8s.io/pause:*",
                "registry.k8s.io/pause/evil:3.9",
                false,
            ),
            (
                "registry.k8s.io/pause:*",
                "registry.k8s.io/pause-evil:3.9",
                false,
            ),
            ("docker.io/library/nginx:*", "Docker.IO/nginx:1", true),
            // Without a tag part it is a repository prefix.
            (
                "registry.k8s.io/pause",
                "registry.k8s.io/pause/evil:3.9",
                true,
            ),
        ];
        for (pattern, img, expected) in cases {
            let p = ImagePattern::parse(pattern).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(p.matches(&image(img)), expected, "{pattern} vs {img}");
        }
    }

    #[test]
    fn bad_patterns_are_refused_with_a_reason() {
        let cases = [
            ("", "is empty"),
            ("nginx", "must be a registry host"),
            ("library/nginx", "must be a registry host"),
            ("https://index.docker.io/v1/", "without a scheme"),
            ("ghcr.io/Acme", "lowercase"),
            ("ghcr.io//x", "repository segment ''"),
            ("bad..io", "not a valid host"),
            ("bad..io:*", "not a valid host"),
            ("bad.io:x", "not a valid host"),
            ("ghcr.io/a b", "whitespace"),
            ("ghcr.io/a@sha256:x", "'@'"),
            (
                "ghcr.io/app:1.0",
                "a registry pattern has no tag: remove ':1.0'",
            ),
            ("ghcr.io/-acme", "segment '-acme' can never match"),
            ("ghcr.io/a..b", "segment 'a..b' can never match"),
            ("ghcr.io/a___b", "segment 'a___b' can never match"),
            ("ghcr.io/*-", "segment '*-' can never match"),
            ("ghcr.io/_*", "segment '_*' can never match"),
        ];
        for (pattern, why) in cases {
            let err = RegistryPattern::parse(pattern).unwrap_err();
            assert!(err.contains(why), "{pattern}: {err}");
            assert!(err.contains(&format!("'{pattern}'")), "{pattern}: {err}");
        }
        for (pattern, tag) in [
            ("ghcr.io/app:a+b", "a+b"),
            ("ghcr.io/app:.x*", ".x*"),
            ("ghcr.io/app:", ""),
        ] {
            let err = ImagePattern::parse(pattern).unwrap_err();
            assert!(
                err.contains(&format!("tag glob '{tag}' can never match")),
                "{err}"
            );
        }
        // Globs that can match something are kept.
        for pattern in ["ghcr.io/a-*", "ghcr.io/*.x", "ghcr.io/a_*_b", "ghcr.io/*"] {
            RegistryPattern::parse(pattern).unwrap_or_else(|e| panic!("{e}"));
        }
        ImagePattern::parse("ghcr.io/app:*-rc.*").unwrap();
    }

    #[test]
    fn glob() {
        let cases = [
            ("*", "", true),
            ("*", "abc", true),
            ("a*c", "abbbc", true),
            ("a*c", "abbb", false),
            ("*-rc*", "1.0-rc1", true),
            ("v*", "latest", false),
            ("latest", "latest", true),
            ("latest", "Latest", false),
            ("**", "x", true),
            // Backtracking: the first candidate for `*` is not the right one.
            ("a*b*c", "aXbYbZc", true),
            ("*ab", "aab", true),
            ("a*ab", "aaab", true),
            ("a*ab", "aaba", false),
        ];
        for (p, t, expected) in cases {
            assert_eq!(glob_match(p, t), expected, "{p} vs {t}");
        }
    }

    #[test]
    fn patterns_display_as_written_and_the_first_match_is_named() {
        for text in ["docker.io/library/nginx:1.*", "Registry.k8s.io/pause"] {
            assert_eq!(ImagePattern::parse(text).unwrap().to_string(), text);
        }
        for text in ["ghcr.io/acme", "Harbor.example.com:5*"] {
            assert_eq!(RegistryPattern::parse(text).unwrap().to_string(), text);
        }
        let patterns: Vec<RegistryPattern> = ["quay.io", "ghcr.io/acme", "ghcr.io"]
            .iter()
            .map(|p| RegistryPattern::parse(p).unwrap())
            .collect();
        let first = |img: &str| any_matches(&patterns, &image(img)).map(RegistryPattern::as_str);
        assert_eq!(first("ghcr.io/acme/api:1"), Some("ghcr.io/acme"));
        assert_eq!(first("ghcr.io/other/api:1"), Some("ghcr.io"));
        assert_eq!(first("docker.io/nginx"), None);
    }
}
