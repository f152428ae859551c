//! The OpenAPI 3.1 document of the JSON API, hand-written in `openapi.json`
//! beside this file and served as is at `GET /api/v1/openapi.json` (no
//! session needed: it holds no data). Tests check that it lists exactly the
//! routes of [`super::ROUTES`], that it validates against the OpenAPI 3.1
//! schema (`tests/api_openapi.rs`), and that responses match its schemas.

use axum::http::header;
use axum::response::IntoResponse;

/// The document's text.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// `GET /api/v1/openapi.json`
pub(crate) async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::BTreeSet;

    const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

    #[test]
    fn the_document_lists_exactly_the_routes_of_the_router() {
        let doc: Value = serde_json::from_str(DOCUMENT).expect("openapi.json is JSON");
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in METHODS {
                if item.get(method).is_some() {
                    documented.insert((method.to_owned(), path.clone()));
                }
            }
        }
        let served: BTreeSet<(String, String)> =
            super::super::ROUTES.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
        let undocumented: Vec<_> = served.difference(&documented).collect();
        let unserved: Vec<_> = documented.difference(&served).collect();
        assert!(undocumented.is_empty(), "routes missing from openapi.json: {undocumented:?}");
        assert!(unserved.is_empty(), "openapi.json documents routes the router lacks: {unserved:?}");
    }

    #[test]
    fn every_operation_has_an_id_and_every_reference_resolves() {
        let doc: Value = serde_json::from_str(DOCUMENT).expect("openapi.json is JSON");
        let mut ids = BTreeSet::new();
        for item in doc["paths"].as_object().expect("paths").values() {
            for method in METHODS {
                if let Some(op) = item.get(method) {
                    let id = op["operationId"].as_str().expect("operationId");
                    assert!(ids.insert(id.to_owned()), "duplicate operationId {id}");
                }
            }
        }
        fn refs(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(map) => {
                    if let Some(Value::String(r)) = map.get("$ref") {
                        out.push(r.clone());
                    }
                    map.values().for_each(|v| refs(v, out));
                }
                Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        refs(&doc, &mut all);
        for r in all {
            let pointer = r.strip_prefix('#').expect("local reference");
            assert!(doc.pointer(pointer).is_some(), "unresolved {r}");
        }
    }

    /// Follows `$ref`s to the schema they name.
    fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => resolve(doc, doc.pointer(r.trim_start_matches('#')).expect("resolvable")),
            None => schema,
        }
    }

    /// Whether the schema, or every non-null branch of its `anyOf`, pins
    /// the string down with a `format` or `pattern` (or a `const`).
    fn is_pinned(doc: &Value, schema: &Value) -> bool {
        let schema = resolve(doc, schema);
        if let Some(branches) = schema.get("anyOf").and_then(Value::as_array) {
            return branches
                .iter()
                .filter(|b| resolve(doc, b).get("type") != Some(&Value::from("null")))
                .all(|b| is_pinned(doc, b));
        }
        ["format", "pattern", "const", "enum"].iter().any(|k| schema.get(*k).is_some())
    }

    #[test]
    fn cursors_times_addresses_and_ids_declare_their_real_format() {
        let doc: Value = serde_json::from_str(DOCUMENT).expect("openapi.json is JSON");
        let mut loose = Vec::new();
        // Every parameter that names a cursor, a time, an address or an id.
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for op in item.as_object().expect("path item").values() {
                for param in op.get("parameters").and_then(Value::as_array).into_iter().flatten() {
                    let param = resolve(&doc, param);
                    let name = param["name"].as_str().expect("a name");
                    let typed = ["cursor", "from", "to", "team_member", "id"].contains(&name);
                    if typed && !is_pinned(&doc, &param["schema"]) {
                        loose.push(format!("{path} parameter {name}"));
                    }
                }
            }
        }
        // Every property that holds one, in every schema.
        fn walk(doc: &Value, at: &str, schema: &Value, loose: &mut Vec<String>) {
            let Some(props) = schema.get("properties").and_then(Value::as_object) else { return };
            for (name, prop) in props {
                let typed = name.ends_with("_at")
                    || name.ends_with("_until")
                    || ["next_cursor", "address", "email", "id", "start", "end", "since"].contains(&name.as_str());
                let element = if name == "emails" || name == "mailboxes" { prop.get("items") } else { None };
                if (typed && !is_pinned(doc, prop)) || element.is_some_and(|e| !is_pinned(doc, e)) {
                    loose.push(format!("{at}.{name}"));
                }
            }
        }
        for (name, schema) in doc["components"]["schemas"].as_object().expect("schemas") {
            walk(&doc, name, schema, &mut loose);
            for branch in schema.get("oneOf").and_then(Value::as_array).into_iter().flatten() {
                walk(&doc, name, branch, &mut loose);
            }
        }
        assert!(loose.is_empty(), "declared as bare strings: {loose:#?}");
    }
}
