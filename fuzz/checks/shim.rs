//! What the `reference` and `pattern` fuzz targets check. Shared, through `#[path]`, by the fuzz
//! targets and by `sdk-shim/tests/fuzz_regressions.rs`, which replays `fuzz/regressions/`.
#![allow(dead_code)]

use sdk_shim::pattern::{ImagePattern, RegistryPattern};
use sdk_shim::reference::ImageRef;

/// The byte that separates the parts of a `pattern` input: `pattern \n image [\n pattern]`.
pub const SEPARATOR: u8 = b'\n';

/// `ImageRef::parse` on any UTF-8. What parses must print as an image string that parses back
/// to the same reference, and its fully-qualified form must name the same image.
pub fn reference(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(image) = ImageRef::parse(text) else {
        return;
    };
    let printed = image.to_image_string();
    match ImageRef::parse(&printed) {
        Ok(again) => assert_eq!(
            again, image,
            "{text:?} printed as {printed:?}, which parses to another reference"
        ),
        Err(e) => panic!("{text:?} printed as {printed:?}, which does not parse: {e}"),
    }
    let qualified = image.fully_qualified();
    match ImageRef::parse(&qualified) {
        Ok(again) => assert!(
            again.name() == image.name()
                && again.digest() == image.digest()
                && again.effective_tag() == image.effective_tag(),
            "{text:?} fully qualified as {qualified:?}, which parses to {again:?}, not {image:?}"
        ),
        Err(e) => panic!("{text:?} fully qualified as {qualified:?}, which does not parse: {e}"),
    }
}

/// Registry and image patterns on any UTF-8 (`pattern \n image [\n pattern]`): parsing, and
/// matching an image that parses, must never panic.
pub fn pattern(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.split(SEPARATOR as char);
    let pattern = parts.next().unwrap_or_default();
    let image = parts.next().map(ImageRef::parse);
    let other = parts.next().and_then(|p| RegistryPattern::parse(p).ok());

    let registry_pattern = RegistryPattern::parse(pattern).ok();
    let image_pattern = ImagePattern::parse(pattern).ok();
    if let Some(p) = &registry_pattern {
        let _ = (
            p.segment_count(),
            p.has_wildcard(),
            p.registry(),
            p.repository_prefix(),
        );
        let _ = p.covers(p);
        if let Some(other) = &other {
            let _ = (p.covers(other), other.covers(p));
        }
    }
    let Some(Ok(image)) = image else {
        return;
    };
    if let Some(p) = &registry_pattern {
        let _ = p.matches(&image);
    }
    if let Some(p) = &image_pattern {
        let _ = p.matches(&image);
    }
    if let Some(other) = &other {
        let _ = other.matches(&image);
    }
}
