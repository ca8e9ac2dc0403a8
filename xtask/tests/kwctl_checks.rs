//! Every policy folder passes what `kwctl scaffold artifacthub` checks (re-done in
//! `xtask::kwctl_checks`), each kind of bad metadata is refused naming its field, and each
//! generated artifacthub-pkg.yml is what kwctl would write, but for the documented differences.

use serde_json::{json, Value};
use std::path::PathBuf;
use xtask::artifacthub::generate;
use xtask::kwctl_checks::{self as checks, parse_author, problems, Maintainer, Workspace};
use xtask::pipeline::{workspace_root, PUBLISHED_PREFIX};
use xtask::policy::PolicyCrate;
use yaml_serde::{Mapping, Value as Yaml};

fn policies() -> Vec<PolicyCrate> {
    let policies = PolicyCrate::all(&workspace_root()).unwrap();
    assert!(!policies.is_empty(), "no policy folders found");
    policies
}

fn workspace() -> Workspace {
    Workspace::read(&workspace_root()).unwrap()
}

fn questions(policy: &PolicyCrate) -> String {
    std::fs::read_to_string(policy.dir.join("questions-ui.yml")).unwrap()
}

#[test]
fn every_policy_folder_passes() {
    let workspace = workspace();
    for policy in policies() {
        checks::check(&policy).unwrap_or_else(|e| panic!("{e:#}"));
        // What makes it pass, spelled out against the sources of each value.
        assert_eq!(
            policy.annotation(checks::OCI_URL),
            Some(format!("{PUBLISHED_PREFIX}/{}", policy.name).as_str())
        );
        assert_eq!(
            policy.annotation(checks::AUTHOR),
            Some(workspace.authors.join(", ").as_str())
        );
        assert_eq!(
            policy.annotation(checks::VERSION),
            Some(policy.version.as_str())
        );
        // The build runs the same checks.
        policy.check().unwrap_or_else(|e| panic!("{e:#}"));
    }
}

#[test]
fn the_workspace_authors_are_name_email_entries() {
    let workspace = workspace();
    assert!(!workspace.authors.is_empty());
    let maintainers = parse_author(&workspace.author_annotation()).unwrap();
    assert_eq!(maintainers.len(), workspace.authors.len());
    for m in maintainers {
        assert!(!m.name.is_empty() && m.email.contains('@'), "{m:?}");
    }
}

/// Makes a policy's metadata bad, given the policy it belongs to.
type Mutation = fn(&mut Value, &PolicyCrate);

/// Only the major and minor parts of `version`: not semver.
fn major_minor(version: &str) -> String {
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

/// A version other than `version`: the next major one.
fn other_version(version: &str) -> String {
    let (major, rest) = version.split_once('.').unwrap();
    format!("{}.{rest}", major.parse::<u64>().unwrap() + 1)
}

fn annotations(metadata: &mut Value) -> &mut serde_json::Map<String, Value> {
    metadata["annotations"].as_object_mut().unwrap()
}

fn set(metadata: &mut Value, key: &str, value: &str) {
    annotations(metadata).insert(key.to_string(), json!(value));
}

fn remove(metadata: &mut Value, key: &str) {
    assert!(
        annotations(metadata).remove(key).is_some(),
        "{key} was absent"
    );
}

/// (what is wrong, how to make it so, the field the refusal must name)
const BAD: &[(&str, Mutation, &str)] = &[
    (
        "no ociUrl",
        |m, _| remove(m, checks::OCI_URL),
        "io.kubewarden.policy.ociUrl: missing",
    ),
    (
        "ociUrl with a tag",
        |m, p| {
            set(
                m,
                checks::OCI_URL,
                &format!("{PUBLISHED_PREFIX}/{}:v{}", p.name, p.version),
            )
        },
        "io.kubewarden.policy.ociUrl",
    ),
    (
        "ociUrl with a digest",
        |m, p| {
            set(
                m,
                checks::OCI_URL,
                &format!("{PUBLISHED_PREFIX}/{}@sha256:{}", p.name, "0".repeat(64)),
            )
        },
        "io.kubewarden.policy.ociUrl",
    ),
    (
        "ociUrl with a scheme",
        |m, p| {
            set(
                m,
                checks::OCI_URL,
                &format!("registry://{PUBLISHED_PREFIX}/{}", p.name),
            )
        },
        "io.kubewarden.policy.ociUrl",
    ),
    (
        "ociUrl of another repository",
        |m, p| {
            set(
                m,
                checks::OCI_URL,
                &format!("ghcr.io/someone-else/{}", p.name),
            )
        },
        "io.kubewarden.policy.ociUrl",
    ),
    (
        "ociUrl of another policy",
        |m, p| {
            set(
                m,
                checks::OCI_URL,
                &format!("{PUBLISHED_PREFIX}/{}-other", p.name),
            )
        },
        "io.kubewarden.policy.ociUrl",
    ),
    (
        "ociUrl with upper case",
        |m, p| {
            set(
                m,
                checks::OCI_URL,
                &format!("{PUBLISHED_PREFIX}/{}", p.name.to_uppercase()),
            )
        },
        "io.kubewarden.policy.ociUrl",
    ),
    (
        "empty ociUrl",
        |m, _| set(m, checks::OCI_URL, ""),
        "io.kubewarden.policy.ociUrl",
    ),
    (
        "no author",
        |m, _| remove(m, checks::AUTHOR),
        "io.kubewarden.policy.author: missing",
    ),
    (
        "author without email",
        |m, _| set(m, checks::AUTHOR, "image-policies maintainers"),
        "io.kubewarden.policy.author",
    ),
    (
        "author as a bare email",
        |m, _| set(m, checks::AUTHOR, "maintainers@image-policies.dev"),
        "io.kubewarden.policy.author",
    ),
    (
        "author with a bad email",
        |m, _| set(m, checks::AUTHOR, "Bar <#$%#$%>"),
        "io.kubewarden.policy.author",
    ),
    (
        "author with an email lacking its domain",
        |m, _| set(m, checks::AUTHOR, "Bar <bar@>"),
        "io.kubewarden.policy.author",
    ),
    (
        "author list with one entry lacking <>",
        |m, _| {
            set(
                m,
                checks::AUTHOR,
                "Foo missing@chevrons.com, Bar <bar@example.com>",
            )
        },
        "io.kubewarden.policy.author",
    ),
    (
        "author without name",
        |m, _| set(m, checks::AUTHOR, "<maintainers@image-policies.dev>"),
        "io.kubewarden.policy.author",
    ),
    (
        "empty author",
        |m, _| set(m, checks::AUTHOR, ""),
        "io.kubewarden.policy.author",
    ),
    (
        "author other than Cargo.toml's",
        |m, _| set(m, checks::AUTHOR, "Someone Else <someone@example.com>"),
        "io.kubewarden.policy.author",
    ),
    (
        "no version",
        |m, _| remove(m, checks::VERSION),
        "io.kubewarden.policy.version: missing",
    ),
    (
        "version not semver",
        |m, p| set(m, checks::VERSION, &major_minor(&p.version)),
        "io.kubewarden.policy.version",
    ),
    (
        "version other than the crate's",
        |m, p| set(m, checks::VERSION, &other_version(&p.version)),
        "io.kubewarden.policy.version",
    ),
    (
        "version as a YAML number",
        |m, _| {
            annotations(m).insert(checks::VERSION.into(), json!(1.5));
        },
        "io.kubewarden.policy.version",
    ),
    (
        "no title",
        |m, _| remove(m, checks::TITLE),
        "io.kubewarden.policy.title: missing",
    ),
    (
        "title other than the crate name",
        |m, _| set(m, checks::TITLE, "something-else"),
        "io.kubewarden.policy.title",
    ),
    (
        "no displayName",
        |m, _| remove(m, checks::DISPLAY_NAME),
        "io.artifacthub.displayName: missing",
    ),
    (
        "no description",
        |m, _| remove(m, checks::DESCRIPTION),
        "io.kubewarden.policy.description: missing",
    ),
    (
        "keywords with an empty entry",
        |m, _| set(m, checks::KEYWORDS, "image,,digest"),
        "io.artifacthub.keywords",
    ),
    (
        "empty keywords",
        |m, _| set(m, checks::KEYWORDS, ""),
        "io.artifacthub.keywords",
    ),
    (
        "url not a URL",
        |m, _| set(m, checks::URL, "not a url"),
        "io.kubewarden.policy.url",
    ),
    (
        "url elsewhere",
        |m, _| set(m, checks::URL, "https://example.com/elsewhere"),
        "io.kubewarden.policy.url",
    ),
    (
        "source elsewhere",
        |m, _| set(m, checks::SOURCE, "https://example.com/elsewhere"),
        "io.kubewarden.policy.source",
    ),
    (
        "no source",
        |m, _| remove(m, checks::SOURCE),
        "io.kubewarden.policy.source: missing",
    ),
    (
        "license other than Cargo.toml's",
        |m, _| set(m, checks::LICENSE, "MIT"),
        "io.kubewarden.policy.license",
    ),
    (
        "no resources",
        |m, _| remove(m, checks::RESOURCES),
        "io.artifacthub.resources: missing",
    ),
    (
        "no annotations",
        |m, _| {
            m.as_object_mut().unwrap().remove("annotations");
        },
        "annotations",
    ),
    (
        "empty annotations",
        |m, _| {
            m["annotations"] = json!({});
        },
        "annotations",
    ),
    (
        "a rule without operations",
        |m, _| {
            m["rules"][0].as_object_mut().unwrap().remove("operations");
        },
        "rules[0].operations",
    ),
    (
        "a rule with an unknown operation",
        |m, _| {
            m["rules"][0]["operations"] = json!(["PATCH"]);
        },
        "rules[0].operations",
    ),
    (
        "a rule without apiGroups",
        |m, _| {
            m["rules"][0].as_object_mut().unwrap().remove("apiGroups");
        },
        "rules[0].apiGroups",
    ),
    (
        "no rules",
        |m, _| {
            m.as_object_mut().unwrap().remove("rules");
        },
        "rules",
    ),
    (
        "no mutating",
        |m, _| {
            m.as_object_mut().unwrap().remove("mutating");
        },
        "mutating",
    ),
    (
        "mutating as a string",
        |m, _| {
            m["mutating"] = json!("yes");
        },
        "mutating",
    ),
    (
        "unknown executionMode",
        |m, _| {
            m["executionMode"] = json!("native");
        },
        "executionMode",
    ),
    (
        "contextAwareResources without apiVersion",
        |m, _| {
            m["contextAwareResources"] = json!([{ "kind": "Secret" }]);
        },
        "contextAwareResources",
    ),
];

#[test]
fn each_bad_metadata_is_refused_naming_its_field() {
    let workspace = workspace();
    for policy in policies() {
        let questions = questions(&policy);
        let good = problems(
            &workspace,
            &policy.name,
            &policy.version,
            &policy.metadata,
            Some(&questions),
        );
        assert!(good.is_empty(), "{}: {good:?}", policy.name);
        for (what, mutate, field) in BAD {
            let mut metadata = policy.metadata.clone();
            mutate(&mut metadata, &policy);
            let found = problems(
                &workspace,
                &policy.name,
                &policy.version,
                &metadata,
                Some(&questions),
            );
            assert!(
                found.iter().any(|p| p.starts_with(field)),
                "{}: {what}: no problem naming {field:?} in {found:?}",
                policy.name
            );
        }
    }
}

#[test]
fn an_empty_questions_ui_is_refused() {
    let workspace = workspace();
    for policy in policies() {
        let found = problems(
            &workspace,
            &policy.name,
            &policy.version,
            &policy.metadata,
            Some(""),
        );
        assert!(
            found.iter().any(|p| p.starts_with("questions-ui.yml")),
            "{found:?}"
        );
    }
}

#[test]
fn the_build_check_refuses_a_policy_kwctl_refuses() {
    for mut policy in policies() {
        annotations(&mut policy.metadata).remove(checks::OCI_URL);
        let error = format!("{:#}", policy.check().unwrap_err());
        assert!(
            error.contains("io.kubewarden.policy.ociUrl: missing"),
            "{error}"
        );
        assert!(error.contains(&policy.name), "{error}");
    }
}

#[test]
fn author_annotations_parse_as_kwctl_reads_them() {
    let m = |name: &str, email: &str| Maintainer {
        name: name.into(),
        email: email.into(),
    };
    let good: &[(&str, Vec<Maintainer>)] = &[
        (
            "Tux Tuxedo <tux@example.com>",
            vec![m("Tux Tuxedo", "tux@example.com")],
        ),
        (
            "Tux Tuxedo <tux@example.com>, Pidgin <pidgin@example.com>",
            vec![
                m("Tux Tuxedo", "tux@example.com"),
                m("Pidgin", "pidgin@example.com"),
            ],
        ),
        // kwctl's address-list parser skips empty entries.
        (
            "Foo <foo@example.com>,,Bar <bar@example.com>",
            vec![m("Foo", "foo@example.com"), m("Bar", "bar@example.com")],
        ),
        // A quoted name may hold a comma.
        (
            "\"Doe, Jane\" <jane@example.com>",
            vec![m("Doe, Jane", "jane@example.com")],
        ),
    ];
    for (annotation, expected) in good {
        assert_eq!(&parse_author(annotation).unwrap(), expected, "{annotation}");
    }
    for bad in [
        "",
        " , ",
        "Foo",
        "foo@example.com",
        "Foo missing@chevrons.com, Bar <bar@example.com>",
        "Bar <#$%#$%>",
        "Bar <bar@example.com",
        "Bar <bar@@example.com>",
        "Bar <bar@example..com>",
        "Bar <bar example@example.com>",
        "<bar@example.com>",
    ] {
        assert!(parse_author(bad).is_err(), "{bad:?} accepted");
    }
}

// --- What kwctl would write -----------------------------------------------------------------

fn text(s: impl Into<String>) -> Yaml {
    Yaml::String(s.into())
}

fn entries(pairs: Vec<(&str, Yaml)>) -> Yaml {
    let mut mapping = Mapping::new();
    for (key, value) in pairs {
        mapping.insert(text(key), value);
    }
    Yaml::Mapping(mapping)
}

fn strings(value: &Value) -> Yaml {
    Yaml::Sequence(
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|v| text(v.as_str().unwrap()))
            .collect(),
    )
}

/// The package `ArtifactHubPkg::from_metadata` builds (policy-evaluator v0.30.4), modelled
/// independently of xtask's generator from metadata.yml, with `createdAt` given.
fn kwctl_package(policy: &PolicyCrate, created_at: &str) -> Yaml {
    let a = |key: &str| policy.annotation(key).unwrap().to_string();
    let version = a(checks::VERSION);
    let image = format!("{}:v{version}", a(checks::OCI_URL));
    let source = a(checks::SOURCE);
    let install = format!(
        "The policy can be obtained using [`kwctl`](https://github.com/kubewarden/kwctl):\n```console\nkwctl pull {image}\n```\nThen, generate the policy manifest and tune it to your liking. For example:\n```console\nkwctl scaffold manifest -t ClusterAdmissionPolicy registry://{image}\n```\n"
    );
    let maintainers = a(checks::AUTHOR)
        .split(',')
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let (name, email) = e.trim().trim_end_matches('>').split_once('<').unwrap();
            entries(vec![("name", text(name.trim())), ("email", text(email))])
        })
        .collect();
    let rules: Vec<Yaml> = policy.metadata["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            entries(vec![
                ("apiGroups", strings(&r["apiGroups"])),
                ("apiVersions", strings(&r["apiVersions"])),
                ("resources", strings(&r["resources"])),
                ("operations", strings(&r["operations"])),
            ])
        })
        .collect();
    // A BTreeSet of {apiVersion, kind}, and a BTreeMap of annotations.
    let mut aware: Vec<(String, String)> = policy.metadata["contextAwareResources"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|r| {
                    (
                        r["apiVersion"].as_str().unwrap().to_string(),
                        r["kind"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    aware.sort();
    aware.dedup();
    let mut annotations = std::collections::BTreeMap::new();
    annotations.insert(
        "kubewarden/mutation",
        text(policy.metadata["mutating"].as_bool().unwrap().to_string()),
    );
    if !aware.is_empty() {
        let list = aware
            .iter()
            .map(|(v, k)| entries(vec![("apiVersion", text(v)), ("kind", text(k))]))
            .collect();
        annotations.insert(
            "kubewarden/contextAwareResources",
            text(yaml_serde::to_string(&Yaml::Sequence(list)).unwrap()),
        );
    }
    annotations.insert(
        "kubewarden/rules",
        text(yaml_serde::to_string(&Yaml::Sequence(rules)).unwrap()),
    );
    annotations.insert("kubewarden/questions-ui", text(questions(policy)));
    if let Some(hidden) = policy.annotation("io.kubewarden.hidden-ui") {
        annotations.insert("kubewarden/hidden-ui", text(hidden));
    }
    annotations.insert("kubewarden/resources", text(a(checks::RESOURCES)));

    let mut links = Vec::new();
    if source.starts_with("https://github.com/") {
        links.push(entries(vec![
            ("name", text("policy")),
            (
                "url",
                text(format!("{source}/releases/download/v{version}/policy.wasm")),
            ),
        ]));
    }
    links.push(entries(vec![
        ("name", text("source")),
        ("url", text(&source)),
    ]));

    entries(vec![
        ("version", text(&version)),
        ("name", text(a(checks::TITLE))),
        ("displayName", text(a(checks::DISPLAY_NAME))),
        ("createdAt", text(created_at)),
        ("description", text(a(checks::DESCRIPTION))),
        ("license", text(a(checks::LICENSE))),
        ("homeURL", text(a(checks::URL))),
        (
            "containersImages",
            Yaml::Sequence(vec![entries(vec![
                ("name", text("policy")),
                ("image", text(&image)),
            ])]),
        ),
        (
            "keywords",
            Yaml::Sequence(
                a(checks::KEYWORDS)
                    .split(',')
                    .map(|k| text(k.trim_matches(' ')))
                    .collect(),
            ),
        ),
        ("links", Yaml::Sequence(links)),
        ("install", text(install)),
        ("maintainers", Yaml::Sequence(maintainers)),
        ("provider", entries(vec![("name", text("kubewarden"))])),
        (
            "recommendations",
            Yaml::Sequence(vec![entries(vec![(
                "url",
                text("https://artifacthub.io/packages/helm/kubewarden/kubewarden-controller"),
            )])]),
        ),
        (
            "annotations",
            Yaml::Mapping(annotations.into_iter().map(|(k, v)| (text(k), v)).collect()),
        ),
    ])
}

/// Our generated package, text for text, is kwctl's with exactly the differences documented in
/// `xtask::artifacthub`: our header, the release date as `createdAt`, no `policy` link (no GitHub
/// release asset is published), and `readme` added.
#[test]
fn generated_packages_are_what_kwctl_scaffold_writes_but_for_the_documented_differences() {
    let files = generate(&workspace_root()).unwrap();
    for policy in policies() {
        let path = PathBuf::from("policies")
            .join(&policy.name)
            .join("artifacthub-pkg.yml");
        let (_, ours) = files.iter().find(|(p, _)| *p == path).unwrap();
        let body: String = ours
            .lines()
            .skip_while(|l| l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(body.len() < ours.len(), "ours starts with its own header");

        let mut expected = kwctl_package(&policy, &policy.release_date);
        let Yaml::Mapping(fields) = &mut expected else {
            unreachable!()
        };
        // The one link kwctl adds that we leave out, and why: it names a GitHub release asset.
        let Some(Yaml::Sequence(links)) = fields.get_mut("links") else {
            unreachable!()
        };
        let dropped = links.remove(0);
        assert_eq!(dropped["name"], "policy");
        assert!(dropped["url"].as_str().unwrap().ends_with(&format!(
            "/releases/download/v{}/policy.wasm",
            policy.version
        )));
        fields.insert(text("readme"), text(&policy.readme));

        let kwctl = yaml_serde::to_string(&expected).unwrap();
        if body != kwctl {
            let line = body
                .lines()
                .zip(kwctl.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| body.lines().count().min(kwctl.lines().count()));
            let around = |text: &str| -> Vec<String> {
                text.lines()
                    .skip(line.saturating_sub(3))
                    .take(7)
                    .map(str::to_string)
                    .collect()
            };
            panic!(
                "{}: generated package differs from kwctl's beyond the documented differences, \
                 from line {}:\nours:  {:#?}\nkwctl: {:#?}",
                policy.name,
                line + 1,
                around(&body),
                around(&kwctl)
            );
        }
    }
}
