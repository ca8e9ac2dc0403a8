//! What `check` found, written as text (grouped by file, object and container), JSON, SARIF
//! 2.1.0 (for code scanning: the file and line of each offending `image:`) or JUnit XML.

use crate::check::{Checked, Evaluation};
use crate::fix::FileFix;
use crate::manifests::Manifests;
use anstyle::{AnsiColor, Style};
use sdk_shim::message::{parse_violation, split_message, Violation};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Everything one `check` run found.
pub struct Findings<'a> {
    pub manifests: &'a Manifests,
    pub checked: Vec<Checked>,
    /// By source index.
    pub fixes: BTreeMap<usize, FileFix>,
    /// `--fix` was given and the files were written.
    pub fixed_files: bool,
}

impl Findings<'_> {
    /// The violations of one verdict, located in the object's file.
    pub fn violations(&self, checked: &Checked, message: &str) -> Vec<Violation> {
        let object = &self.manifests.objects[checked.object];
        split_message(message)
            .iter()
            .map(|text| {
                let mut violation = parse_violation(text);
                if let Some(pointer) = &violation.pointer {
                    let place = self.manifests.image_place(object, pointer);
                    if let Some(place) = place {
                        violation.line = Some(place.value.start.line());
                        violation.column = Some(place.value.start.col() + 1);
                    }
                }
                violation
            })
            .collect()
    }

    fn object_line(&self, checked: &Checked) -> Option<usize> {
        let object = &self.manifests.objects[checked.object];
        self.manifests
            .place(object, "")
            .map(|p| p.value.start.line())
    }

    pub fn rejected(&self) -> bool {
        self.checked.iter().any(Checked::rejected)
    }

    fn counts(&self) -> (usize, usize, usize) {
        let rejected = self.checked.iter().filter(|c| c.rejected()).count();
        let mutated = self
            .checked
            .iter()
            .filter(|c| !c.rejected() && c.mutated.is_some())
            .count();
        (self.checked.len(), rejected, mutated)
    }

    pub fn summary(&self) -> String {
        let (objects, rejected, mutated) = self.counts();
        let applied: usize = self.checked.iter().map(|c| c.evaluations.len()).sum();
        format!(
            "{objects} objects checked ({applied} policy evaluations): {rejected} rejected, \
             {mutated} mutated, {} accepted as they are",
            objects - rejected - mutated
        )
    }

    /// The readable report.
    pub fn text(&self, colour: bool) -> String {
        let paint = |style: Style, text: &str| match colour {
            true => format!("{}{text}{}", style.render(), style.render_reset()),
            false => text.to_string(),
        };
        let red = Style::new().fg_color(Some(AnsiColor::Red.into())).bold();
        let yellow = Style::new().fg_color(Some(AnsiColor::Yellow.into()));
        let green = Style::new().fg_color(Some(AnsiColor::Green.into()));
        let cyan = Style::new().fg_color(Some(AnsiColor::Cyan.into()));
        let bold = Style::new().bold();
        let mut out = String::new();
        for (source_index, source) in self.manifests.sources.iter().enumerate() {
            let checked: Vec<&Checked> = self
                .checked
                .iter()
                .filter(|c| self.manifests.objects[c.object].source == source_index)
                .collect();
            if checked.iter().all(|c| c.evaluations.is_empty()) {
                continue;
            }
            let _ = writeln!(out, "{}", paint(bold, &source.name));
            for checked in checked.iter().filter(|c| !c.evaluations.is_empty()) {
                let object = &self.manifests.objects[checked.object];
                let verdict = match (checked.rejected(), checked.mutated.is_some()) {
                    (true, _) => paint(red, "rejected"),
                    (false, true) => paint(cyan, "mutated"),
                    (false, false) => paint(green, "accepted"),
                };
                let mut place = format!("document {}", object.document + 1);
                if let Some(line) = self.object_line(checked) {
                    let _ = write!(place, ", line {line}");
                }
                let namespace = checked
                    .namespace
                    .as_deref()
                    .map(|n| format!(" in {n}"))
                    .unwrap_or_default();
                let _ = writeln!(out, "  {}{namespace} ({place}): {verdict}", object.label());
                // Per container: every policy's reason about it; then what is about the object.
                let mut by_container: BTreeMap<(usize, String), Vec<String>> = BTreeMap::new();
                let mut general = Vec::new();
                for evaluation in &checked.evaluations {
                    self.collect(
                        checked,
                        evaluation,
                        &mut by_container,
                        &mut general,
                        &paint,
                        red,
                        yellow,
                    );
                }
                for ((_, header), lines) in &by_container {
                    let _ = writeln!(out, "    {header}");
                    for line in lines {
                        let _ = writeln!(out, "      {line}");
                    }
                }
                for line in general {
                    let _ = writeln!(out, "    {line}");
                }
            }
            if let Some(fix) = self.fixes.get(&source_index) {
                if !fix.diff.is_empty() {
                    let title = match (self.fixed_files, fix.fixed.is_some()) {
                        (true, true) => "fixed (written):",
                        _ => "the mutation, as a change to the file (--fix writes it):",
                    };
                    let _ = writeln!(out, "  {}", paint(cyan, title));
                    for line in fix.diff.lines() {
                        let styled = match line.chars().next() {
                            Some('+') if !line.starts_with("+++") => paint(green, line),
                            Some('-') if !line.starts_with("---") => paint(red, line),
                            _ => line.to_string(),
                        };
                        let _ = writeln!(out, "    {styled}");
                    }
                }
                for problem in &fix.problems {
                    let _ = writeln!(out, "  {} {problem}", paint(yellow, "cannot fix:"));
                }
            }
        }
        let _ = writeln!(out, "{}", self.summary());
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn collect(
        &self,
        checked: &Checked,
        evaluation: &Evaluation,
        by_container: &mut BTreeMap<(usize, String), Vec<String>>,
        general: &mut Vec<String>,
        paint: &dyn Fn(Style, &str) -> String,
        red: Style,
        yellow: Style,
    ) {
        let mark = match evaluation.monitor {
            true => paint(yellow, "! (monitor)"),
            false => paint(red, "✗"),
        };
        let policy = &evaluation.policy;
        let mut add = |violation: &Violation, who: &str, mark: &str| match &violation.subject {
            Some(subject) => {
                let line = violation
                    .line
                    .map(|l| format!(", line {l}"))
                    .unwrap_or_default();
                let header = format!(
                    "{subject} image '{}'{line}",
                    violation.image.as_deref().unwrap_or("")
                );
                by_container
                    .entry((violation.line.unwrap_or(usize::MAX), header))
                    .or_default()
                    .push(format!("{mark} {who}: {}", violation.reason));
            }
            None => general.push(format!("{mark} {who}: {}", violation.reason)),
        };
        if !evaluation.allowed {
            if evaluation.members.is_empty() {
                for violation in
                    self.violations(checked, evaluation.message.as_deref().unwrap_or(""))
                {
                    add(&violation, policy, &mark);
                }
            } else {
                let group = Violation {
                    reason: evaluation.message.clone().unwrap_or_default(),
                    ..Violation::default()
                };
                add(&group, &format!("group {policy}"), &mark);
            }
        }
        for (member, allowed, message) in &evaluation.members {
            if *allowed {
                continue;
            }
            let who = format!("{policy}/{member}");
            let mark = match evaluation.allowed {
                true => paint(yellow, "! (the group accepts)"),
                false => mark.clone(),
            };
            for violation in self.violations(checked, message.as_deref().unwrap_or("")) {
                add(&violation, &who, &mark);
            }
        }
        for warning in &evaluation.warnings {
            general.push(format!("{} {policy}: {warning}", paint(yellow, "warning")));
        }
        if evaluation.mutated {
            general.push(format!("~ {policy}: mutates the object"));
        }
    }

    /// Every result as JSON.
    pub fn json(&self) -> Value {
        let (objects, rejected, mutated) = self.counts();
        let results: Vec<Value> = self
            .checked
            .iter()
            .map(|checked| {
                let object = &self.manifests.objects[checked.object];
                let policies: Vec<Value> = checked
                    .evaluations
                    .iter()
                    .map(|e| {
                        let violations = match (e.allowed, &e.message) {
                            (false, Some(message)) if e.members.is_empty() => {
                                self.violations_json(checked, message)
                            }
                            _ => vec![],
                        };
                        json!({
                            "policy": e.policy,
                            "mode": if e.monitor { "monitor" } else { "protect" },
                            "allowed": e.allowed,
                            "message": e.message,
                            "violations": violations,
                            "warnings": e.warnings,
                            "mutated": e.mutated,
                            "members": e.members.iter().map(|(name, allowed, message)| json!({
                                "policy": name,
                                "allowed": allowed,
                                "message": message,
                                "violations": message.as_deref().filter(|_| !allowed)
                                    .map(|m| self.violations_json(checked, m)).unwrap_or_default(),
                            })).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                json!({
                    "file": self.manifests.sources[object.source].name,
                    "document": object.document + 1,
                    "pointer": object.prefix,
                    "line": self.object_line(checked),
                    "object": object.label(),
                    "namespace": checked.namespace,
                    "allowed": !checked.rejected(),
                    "mutatedObject": checked.mutated,
                    "policies": policies,
                })
            })
            .collect();
        let files: Vec<Value> = self
            .fixes
            .iter()
            .map(|(source, fix)| {
                json!({
                    "file": self.manifests.sources[*source].name,
                    "diff": fix.diff,
                    "fixed": self.fixed_files && fix.fixed.is_some(),
                    "problems": fix.problems,
                })
            })
            .collect();
        json!({
            "summary": {"objects": objects, "rejected": rejected, "mutated": mutated,
                        "accepted": objects - rejected - mutated},
            "results": results,
            "fixes": files,
            "skipped": self.manifests.skipped,
        })
    }

    fn violations_json(&self, checked: &Checked, message: &str) -> Vec<Value> {
        self.violations(checked, message)
            .into_iter()
            .map(|v| {
                json!({"container": v.subject, "pointer": v.pointer, "image": v.image,
                       "reason": v.reason, "line": v.line, "column": v.column})
            })
            .collect()
    }

    /// SARIF 2.1.0: one result per violation (and per warning), at the image's line.
    pub fn sarif(&self) -> Value {
        let mut rules = BTreeMap::new();
        let mut results = Vec::new();
        for checked in &self.checked {
            let object = &self.manifests.objects[checked.object];
            let uri = match self.manifests.sources[object.source].name.as_str() {
                "-" => "stdin".to_string(),
                name => sarif_uri(name),
            };
            let object_line = self.object_line(checked).unwrap_or(1);
            let mut push = |rule: &str,
                            level: &str,
                            text: String,
                            line: Option<usize>,
                            column: Option<usize>| {
                rules.entry(rule.to_string()).or_insert_with(|| {
                    json!({"id": rule, "shortDescription": {"text": format!("image policy {rule}")}})
                });
                let mut region = json!({"startLine": line.unwrap_or(object_line)});
                if let Some(column) = column {
                    region["startColumn"] = json!(column);
                }
                results.push(json!({
                    "ruleId": rule,
                    "level": level,
                    "message": {"text": format!("{}: {text}", object.label())},
                    "locations": [{"physicalLocation": {
                        "artifactLocation": {"uri": uri},
                        "region": region,
                    }}],
                }));
            };
            for evaluation in &checked.evaluations {
                let level = if evaluation.monitor {
                    "warning"
                } else {
                    "error"
                };
                let mut located = |rule: &str, level: &str, message: &str| {
                    for v in self.violations(checked, message) {
                        let text = match &v.subject {
                            Some(subject) => format!(
                                "{subject} image '{}': {}",
                                v.image.as_deref().unwrap_or(""),
                                v.reason
                            ),
                            None => v.reason.clone(),
                        };
                        push(rule, level, text, v.line, v.column);
                    }
                };
                if !evaluation.allowed {
                    match evaluation.members.is_empty() {
                        true => located(
                            &evaluation.policy,
                            level,
                            evaluation.message.as_deref().unwrap_or(""),
                        ),
                        false => {
                            for (member, allowed, message) in &evaluation.members {
                                if !allowed {
                                    let rule = format!("{}/{member}", evaluation.policy);
                                    located(&rule, level, message.as_deref().unwrap_or(""));
                                }
                            }
                        }
                    }
                }
                for warning in &evaluation.warnings {
                    located(&evaluation.policy, "warning", warning);
                }
            }
        }
        json!({
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": {"driver": {
                    "name": "image-policies",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": env!("CARGO_PKG_REPOSITORY"),
                    "rules": rules.into_values().collect::<Vec<_>>(),
                }},
                "results": results,
            }],
        })
    }

    /// JUnit XML: a test suite per file, a test case per object and policy.
    pub fn junit(&self) -> String {
        let mut suites = String::new();
        let (mut total, mut failed) = (0, 0);
        for (source_index, source) in self.manifests.sources.iter().enumerate() {
            let mut cases = String::new();
            let (mut tests, mut failures) = (0, 0);
            for checked in &self.checked {
                let object = &self.manifests.objects[checked.object];
                if object.source != source_index {
                    continue;
                }
                for evaluation in &checked.evaluations {
                    tests += 1;
                    let name = format!(
                        "{} (document {}): {}",
                        object.label(),
                        object.document + 1,
                        evaluation.policy
                    );
                    let _ = write!(
                        cases,
                        "    <testcase classname=\"{}\" name=\"{}\"",
                        xml(&source.name),
                        xml(&name)
                    );
                    if evaluation.rejects() {
                        failures += 1;
                        let message = evaluation.message.as_deref().unwrap_or("");
                        let mut body = String::new();
                        for (member, allowed, why) in &evaluation.members {
                            if !allowed {
                                let _ =
                                    writeln!(body, "{member}: {}", why.as_deref().unwrap_or(""));
                            }
                        }
                        for v in self.violations(checked, message) {
                            let line = v.line.map(|l| format!("line {l}: ")).unwrap_or_default();
                            let _ = writeln!(body, "{line}{}", v.reason);
                        }
                        let _ = write!(
                            cases,
                            ">\n      <failure message=\"{}\" type=\"rejected\">{}</failure>\n    </testcase>\n",
                            xml_attribute(message),
                            xml(&body)
                        );
                    } else {
                        let _ = writeln!(cases, "/>");
                    }
                }
            }
            if tests == 0 {
                continue;
            }
            total += tests;
            failed += failures;
            let _ = write!(
                suites,
                "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\">\n{cases}  </testsuite>\n",
                xml(&source.name)
            );
        }
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"image-policies\" tests=\"{total}\" failures=\"{failed}\">\n{suites}</testsuites>\n"
        )
    }
}

/// A path as a SARIF `artifactLocation.uri`: relative paths as relative references, absolute
/// ones as `file://` URIs, every byte outside RFC 3986's unreserved set and `/` percent-encoded.
pub fn sarif_uri(path: &str) -> String {
    let path = path.trim_start_matches("./");
    let mut uri = String::new();
    if path.starts_with('/') {
        uri.push_str("file://");
    }
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                uri.push(byte as char)
            }
            _ => uri.push_str(&format!("%{byte:02X}")),
        }
    }
    uri
}

/// Text as an XML attribute value: line breaks kept as character references (a parser turns
/// literal ones into spaces).
pub fn xml_attribute(text: &str) -> String {
    xml(text)
        .replace('\n', "&#10;")
        .replace('\r', "&#13;")
        .replace('\t', "&#9;")
}

/// Text as XML character data or attribute value; characters XML 1.0 cannot hold are dropped.
pub fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sarif_uris_are_encoded() {
        assert_eq!(sarif_uri("./k8s/app.yaml"), "k8s/app.yaml");
        assert_eq!(sarif_uri("my dir/100%.yaml"), "my%20dir/100%25.yaml");
        assert_eq!(sarif_uri("/abs/é.yml"), "file:///abs/%C3%A9.yml");
        assert_eq!(xml_attribute("a\nb\t"), "a&#10;b&#9;");
    }

    #[test]
    fn xml_text_is_escaped() {
        assert_eq!(
            xml("a<b & \"c\" 'd'>\u{1}"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"
        );
    }
}
