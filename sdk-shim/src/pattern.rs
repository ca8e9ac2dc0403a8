//! Registry / repository patterns and image patterns, shared by every policy's settings.
//!
//! ```text
//! registry-pattern := host-pattern [ ":" port-pattern ] ( "/" segment-pattern )*
//! image-pattern    := registry-pattern [ ":" tag-glob ]      (a tag only after a path)
//! ```
//!
//! `*` matches any run of characters inside one DNS label, one path segment, the port or the tag,
//! never across `.` in a host nor across `/` in a path. Patterns are matched against the
//! *normalised* reference (see [`crate::reference`]), hosts without case, and always on
//! label/segment boundaries: `docker.io` never matches `docker.io.evil.com`, and `ghcr.io/acme`
//! never matches `ghcr.io/acme-evil/x`. A repository part is a prefix of whole segments:
//! `docker.io/library` matches `nginx` (= `docker.io/library/nginx`). A pattern without a port
//! matches only images without a port; write `:*` for any port.
//!
//! The first component is always the registry host, so it must look like one (contain a `.` or a
//! `:`, or be `localhost`): `nginx` alone is refused with a hint to write `docker.io/library/nginx`.

use crate::reference::{check_registry_with, split_host_port, ImageRef, DOCKER_HUB};
use serde::{Deserialize, Deserializer};
use std::fmt;

/// A registry host (optional port), optionally followed by a repository prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryPattern {
    text: String,
    host_labels: Vec<String>,
    port: Option<String>,
    segments: Vec<String>,
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
        if text.contains("://") {
            return bad("write the registry host without a scheme, e.g. 'ghcr.io/acme'");
        }
        if text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '@')
        {
            return bad("contains whitespace, a control character or '@'");
        }
        let (registry, path) = match text.split_once('/') {
            Some((registry, path)) => (registry, Some(path.trim_end_matches('/'))),
            None => (text, None),
        };
        let Some((host, port)) = split_host_port(registry) else {
            return bad("the registry part is not host[:port]");
        };
        let looks_like_host = host.contains('.')
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
        let host = host.to_ascii_lowercase();
        let host = if host == "index.docker.io" {
            DOCKER_HUB.to_string()
        } else {
            host
        };
        let host_labels = if host.starts_with('[') {
            vec![host]
        } else {
            host.split('.').map(str::to_string).collect()
        };
        let segments: Vec<String> = match path {
            Some(path) if !path.is_empty() => path.split('/').map(str::to_string).collect(),
            _ => Vec::new(),
        };
        for segment in &segments {
            let ok = !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-*".contains(&b));
            if !ok {
                return bad(&format!(
                    "repository segment '{segment}' may hold only lowercase letters, digits, '.', '_', '-' and '*'"
                ));
            }
        }
        Ok(RegistryPattern {
            text: text.to_string(),
            host_labels,
            port: port.map(str::to_string),
            segments,
        })
    }

    /// Whether the image's registry and repository fall under this pattern.
    pub fn matches(&self, image: &ImageRef) -> bool {
        self.matches_name(image.registry(), image.repository())
    }

    /// Like [`Self::matches`], on a normalised (lower-case) registry and repository.
    /// Runs for every container against every pattern, so it does not allocate.
    pub fn matches_name(&self, registry: &str, repository: &str) -> bool {
        let Some((host, port)) = split_host_port(registry) else {
            return false;
        };
        let port_matches = match (&self.port, port) {
            (None, None) => true,
            (Some(p), Some(port)) => glob_match(p, port),
            _ => false,
        };
        let labels_match = if host.starts_with('[') {
            self.host_labels.len() == 1 && self.host_labels[0] == host
        } else {
            globs_match(&self.host_labels, host.split('.'), true)
        };
        port_matches && labels_match && globs_match(&self.segments, repository.split('/'), false)
    }

    /// Whether every image under the concrete pattern `other` also falls under this one.
    pub fn covers(&self, other: &RegistryPattern) -> bool {
        let prefix = other.repository_prefix();
        if prefix.is_empty() {
            // A bare registry: only a pattern with no repository part covers all of it.
            return self.segments.is_empty() && self.matches_name(&other.registry(), "x");
        }
        self.matches_name(&other.registry(), &prefix)
    }

    /// The number of repository segments this pattern fixes (used to rewrite the rest of a path).
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Whether the pattern holds a `*` (a mirror target must be concrete).
    pub fn has_wildcard(&self) -> bool {
        self.text.contains('*')
    }

    /// The registry part, normalised (`index.docker.io` written as `docker.io`).
    pub fn registry(&self) -> String {
        let host = self.host_labels.join(".");
        match &self.port {
            Some(port) => format!("{host}:{port}"),
            None => host,
        }
    }

    /// The repository prefix, `""` when the pattern is a bare registry.
    pub fn repository_prefix(&self) -> String {
        self.segments.join("/")
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl ImagePattern {
    pub fn parse(text: &str) -> Result<Self, String> {
        let last_slash = text.rfind('/');
        let (repository, tag) = match last_slash.and_then(|i| text[i..].find(':').map(|j| i + j)) {
            Some(colon) => (&text[..colon], Some(&text[colon + 1..])),
            None => (text, None),
        };
        if let Some(tag) = tag {
            let ok = !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-*".contains(&b));
            if !ok {
                return Err(format!(
                    "pattern '{text}': tag glob '{tag}' may hold only [A-Za-z0-9_.-] and '*'"
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

    /// Whether the image falls under this pattern. A tag glob is matched against the effective tag;
    /// a digest-only image has no tag and is matched only by the glob `*`.
    pub fn matches(&self, image: &ImageRef) -> bool {
        if !self.repository.matches(image) {
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

/// Each glob matches the next part, in order; `whole` also wants no parts left over.
fn globs_match<'a>(
    globs: &[String],
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
        let text = String::deserialize(deserializer)?;
        RegistryPattern::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for ImagePattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ImagePattern::parse(&text).map_err(serde::de::Error::custom)
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
            ("localhost", "localhost:5000/app", false),
            ("localhost:*", "localhost:5000/app", true),
            ("localhost:5*", "localhost:5000/app", true),
            ("localhost:5*", "localhost:6000/app", false),
            (
                "registry.example.com",
                "registry.example.com:443/app",
                false,
            ),
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
        ];
        for (pattern, other, expected) in cases {
            let p = RegistryPattern::parse(pattern).unwrap();
            let o = RegistryPattern::parse(other).unwrap();
            assert_eq!(p.covers(&o), expected, "{pattern} covers {other}");
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
        ];
        for (pattern, why) in cases {
            let err = RegistryPattern::parse(pattern).unwrap_err();
            assert!(err.contains(why), "{pattern}: {err}");
            assert!(err.contains(&format!("'{pattern}'")), "{pattern}: {err}");
        }
        let err = ImagePattern::parse("ghcr.io/app:a+b").unwrap_err();
        assert!(err.contains("tag glob 'a+b'"), "{err}");
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
        ];
        for (p, t, expected) in cases {
            assert_eq!(glob_match(p, t), expected, "{p} vs {t}");
        }
    }
}
