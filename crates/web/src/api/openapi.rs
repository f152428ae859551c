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
}
