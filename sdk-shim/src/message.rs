//! Reading a rejection message back into its violations: the inverse of how `verdict.rs`
//! writes it (`N problems: (1) …; (2) …`, each `container 'web' (/pointer) image 'nginx': why`),
//! for the tools that show violations one by one (the CLI, the playground).

/// One violation of a policy's message, as the shim writes it:
/// `container 'web' (/spec/containers/0) image 'nginx': <reason>`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Violation {
    /// `container 'web'`, `image volume 'data'`, …; none for a message about the whole object.
    pub subject: Option<String>,
    pub pointer: Option<String>,
    pub image: Option<String>,
    pub reason: String,
    /// Where the image is in the file (1-based).
    pub line: Option<usize>,
    pub column: Option<usize>,
}

/// A policy's message as its violations: `N problems: (1) a; (2) b` or one message.
pub fn split_message(message: &str) -> Vec<String> {
    let count = message
        .split_once(" problems: (1) ")
        .and_then(|(n, _)| n.parse::<usize>().ok());
    let Some(count) = count else {
        return vec![message.to_string()];
    };
    let mut rest = &message[message.find(" problems: (1) ").unwrap_or(0) + 15..];
    let mut pieces = Vec::new();
    for next in 2..=count {
        let marker = format!("; ({next}) ");
        match rest.find(&marker) {
            Some(at) => {
                pieces.push(rest[..at].to_string());
                rest = &rest[at + marker.len()..];
            }
            None => break,
        }
    }
    pieces.push(rest.to_string());
    pieces
}

/// Reads one violation's parts.
pub fn parse_violation(text: &str) -> Violation {
    let pointer = text
        .find(" (/")
        .and_then(|at| {
            let rest = &text[at + 2..];
            rest.find(')').map(|end| rest[..end].to_string())
        })
        .or_else(|| {
            let at = text.find(" at /")?;
            let rest = &text[at + 4..];
            Some(
                rest.split([' ', ':', ';'])
                    .next()
                    .unwrap_or(rest)
                    .to_string(),
            )
        });
    let Some(at) = text.find(" image '") else {
        return Violation {
            pointer,
            reason: text.to_string(),
            ..Violation::default()
        };
    };
    let subject = &text[..at];
    let rest = &text[at + 8..];
    let (image, reason) = rest.split_once("': ").unwrap_or((rest, ""));
    let subject = match subject.find(" (/") {
        Some(p) => &subject[..p],
        None => subject,
    };
    Violation {
        subject: Some(subject.to_string()),
        pointer,
        image: Some(image.to_string()),
        reason: reason.to_string(),
        line: None,
        column: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_split_into_their_violations() {
        assert_eq!(split_message("one thing"), vec!["one thing"]);
        assert_eq!(
            split_message("3 problems: (1) a; b; (2) c; (3) d (3) e"),
            vec!["a; b", "c", "d (3) e"]
        );
        assert_eq!(split_message("2 problems: (1) a"), vec!["a"]);
    }

    #[test]
    fn violations_are_read_into_their_parts() {
        let v = parse_violation(
            "init container 'setup' (/spec/template/spec/initContainers/0) image 'nginx:latest': tag 'latest': x",
        );
        assert_eq!(v.subject.as_deref(), Some("init container 'setup'"));
        assert_eq!(
            v.pointer.as_deref(),
            Some("/spec/template/spec/initContainers/0")
        );
        assert_eq!(v.image.as_deref(), Some("nginx:latest"));
        assert_eq!(v.reason, "tag 'latest': x");
        let v = parse_violation("image at /spec/image image 'a': bad");
        assert_eq!(v.pointer.as_deref(), Some("/spec/image"));
        assert_eq!(v.reason, "bad");
        let v = parse_violation("container 'none' (/spec/containers/1) has no image");
        assert_eq!(v.subject, None);
        assert_eq!(v.pointer.as_deref(), Some("/spec/containers/1"));
        assert_eq!(
            v.reason,
            "container 'none' (/spec/containers/1) has no image"
        );
    }
}
