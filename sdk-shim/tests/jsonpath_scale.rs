//! The JSONPath engine stays linear in the document size: large or deep custom resources are
//! evaluated without building a pointer for every node visited (only for the nodes selected).
//! These tests check counts, not times; at quadratic cost they would take minutes.

use sdk_shim::extract::select_pointers;
use serde_json::{json, Map, Value};

const IMAGES: usize = 100_000;

#[test]
fn a_hundred_thousand_image_strings() {
    let images: Vec<Value> = (0..IMAGES)
        .map(|i| Value::from(format!("registry.example/app:{i}")))
        .collect();
    let document = json!({"spec": {"images": images}});
    let pointers = select_pointers("$.spec.images[*]", &document).unwrap();
    assert_eq!(pointers.len(), IMAGES);
    assert_eq!(pointers[0], "/spec/images/0");
    assert_eq!(pointers[IMAGES - 1], format!("/spec/images/{}", IMAGES - 1));
    let reversed = select_pointers("$.spec.images[::-1]", &document).unwrap();
    assert_eq!(reversed.len(), IMAGES);
    assert_eq!(reversed[0], format!("/spec/images/{}", IMAGES - 1));
}

#[test]
fn a_hundred_thousand_containers_found_by_descendant_segment() {
    let containers: Vec<Value> = (0..IMAGES)
        .map(|i| json!({"name": format!("c{i}"), "image": format!("registry.example/app:{i}"), "env": [{"name": "A", "value": "1"}]}))
        .collect();
    let document = json!({"spec": {"groups": [{"containers": containers}], "image": "top"}});
    let pointers = select_pointers("$..image", &document).unwrap();
    assert_eq!(pointers.len(), IMAGES + 1);
    assert_eq!(pointers[0], "/spec/image");
    assert_eq!(pointers[1], "/spec/groups/0/containers/0/image");
    assert_eq!(
        select_pointers("$..containers[*].image", &document)
            .unwrap()
            .len(),
        IMAGES
    );
}

#[test]
fn a_deep_document() {
    const DEPTH: usize = 20_000;
    let mut document = json!({"image": "deepest"});
    for _ in 0..DEPTH {
        let mut map = Map::new();
        map.insert("a".to_string(), document);
        document = Value::Object(map);
    }
    // Visiting every level must not spell out a pointer per level (20,000 pointers of up to
    // 40,000 bytes), nor recurse once per level.
    let pointers = select_pointers("$..image", &document).unwrap();
    assert_eq!(pointers, vec![format!("{}/image", "/a".repeat(DEPTH))]);
    assert_eq!(select_pointers("$..b", &document).unwrap().len(), 0);
    // serde_json drops a Value recursively: do it on a thread with room for that.
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || drop(document))
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn nested_input_nodes_of_a_descendant_segment() {
    const DEPTH: usize = 20_000;
    let mut document = json!({"image": "deepest"});
    for _ in 0..DEPTH {
        let mut map = Map::new();
        map.insert("a".to_string(), document);
        document = Value::Object(map);
    }
    // `$..*` selects every level; `..b` then looks below each of them: each level must be walked
    // once, not once per level above it (200 million visits).
    assert_eq!(select_pointers("$..*..b", &document).unwrap().len(), 0);
    // Below every level sits the same image: RFC 9535 keeps the duplicates.
    let shallow = json!({"a": {"a": {"image": "x"}, "b": [{"image": "y"}]}});
    let pointers = select_pointers("$..*..image", &shallow).unwrap();
    assert_eq!(
        pointers,
        [
            "/a/a/image",
            "/a/b/0/image",
            "/a/a/image",
            "/a/b/0/image",
            "/a/b/0/image"
        ]
    );
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || drop(document))
        .unwrap()
        .join()
        .unwrap();
}
