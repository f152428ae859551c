//! Reading API input without ever answering a 500: query strings and JSON
//! bodies are checked field by field, every problem is collected as a
//! [`FieldIssue`], and all of them come back at once in a 422 problem
//! (`WebError::Invalid`). Axum's own extractors would answer in plain text
//! and stop at the first problem, so the API reads raw input here instead.

use crate::{FieldIssue, WebError};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The largest JSON body read; API bodies are a few fields.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Query parameters, each read once by name; what is left unread at
/// [`Params::finish`] is an unknown parameter (a typo is an error, not a
/// filter silently ignored).
pub(crate) struct Params {
    values: BTreeMap<String, String>,
    issues: Vec<FieldIssue>,
}

impl Params {
    pub fn parse(raw: Option<&str>) -> Params {
        let mut values = BTreeMap::new();
        let mut issues = Vec::new();
        for (name, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            if values.insert(name.to_string(), value.into_owned()).is_some() {
                issues.push(FieldIssue::new(name, "Give this parameter once."));
            }
        }
        Params { values, issues }
    }

    /// The parameter's text, trimmed; empty counts as absent.
    pub fn text(&mut self, name: &str) -> Option<String> {
        self.values.remove(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    /// The parameter parsed by `parse`, whose error message is recorded.
    pub fn parsed<T>(&mut self, name: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        let text = self.text(name)?;
        match parse(&text) {
            Ok(value) => Some(value),
            Err(message) => {
                self.issues.push(FieldIssue::new(name, message));
                None
            }
        }
    }

    /// A page size: `default` when absent, else 1 to `max`.
    pub fn limit(&mut self, default: u32, max: u32) -> u32 {
        self.parsed("limit", |text| {
            text.parse::<u32>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| format!("Give a whole number from 1 to {max}."))
        })
        .unwrap_or(default)
    }

    /// Records a problem found while checking parameters together.
    pub fn issue(&mut self, name: &str, message: impl Into<String>) {
        self.issues.push(FieldIssue::new(name, message));
    }

    /// Ends reading: unknown parameters and every recorded problem become
    /// one 422.
    pub fn finish(mut self) -> Result<(), WebError> {
        for name in std::mem::take(&mut self.values).into_keys() {
            self.issues.push(FieldIssue::new(name, "This parameter is not known here; see /api/v1/openapi.json."));
        }
        invalid_if_any(self.issues, "Some query parameters are not valid.")
    }
}

/// A JSON object body (`Content-Type: application/json`). Anything else is
/// 415, a body that is not JSON 400, and JSON that is not an object 422.
pub(crate) struct JsonObject(pub Fields);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = WebError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|t| t.trim().to_ascii_lowercase())
            .is_some_and(|t| t == "application/json" || (t.starts_with("application/") && t.ends_with("+json")));
        if !is_json {
            return Err(WebError::UnsupportedMediaType(
                "Send the body as JSON with `Content-Type: application/json`.".to_owned(),
            ));
        }
        let bytes = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES).await.map_err(|_| {
            WebError::BadRequest(format!("The body is larger than {} KiB or could not be read.", MAX_BODY_BYTES / 1024))
        })?;
        Self::from_bytes(&bytes)
    }
}

impl JsonObject {
    fn from_bytes(bytes: &Bytes) -> Result<Self, WebError> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| WebError::BadRequest(format!("The body is not valid JSON ({e}): send one JSON object.")))?;
        match value {
            Value::Object(map) => Ok(JsonObject(Fields { map, issues: Vec::new() })),
            _ => Err(WebError::Invalid {
                detail: "The body must be a JSON object.".to_owned(),
                errors: vec![FieldIssue::new(
                    "body",
                    "Send a JSON object, for example {\"email\": \"ann@fabrikam.com\"}.",
                )],
            }),
        }
    }
}

/// The members of a JSON object body, each read once by name; members left
/// unread at [`Fields::finish`] are unknown.
pub(crate) struct Fields {
    map: Map<String, Value>,
    issues: Vec<FieldIssue>,
}

/// A member that may be absent, `null`, or set (for PATCH).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Patch<T> {
    Absent,
    Null,
    Set(T),
}

impl Fields {
    /// A string member; absent or `null` is `None`. Another type is an issue.
    pub fn string(&mut self, name: &str) -> Option<String> {
        match self.patch_string(name) {
            Patch::Set(s) => Some(s),
            Patch::Absent | Patch::Null => None,
        }
    }

    /// A string member that may be absent, `null` or set.
    pub fn patch_string(&mut self, name: &str) -> Patch<String> {
        match self.map.remove(name) {
            None => Patch::Absent,
            Some(Value::Null) => Patch::Null,
            Some(Value::String(s)) => Patch::Set(s),
            Some(_) => {
                self.issue(name, "Give a string.");
                Patch::Absent
            }
        }
    }

    /// A list of strings with their positions; absent is `None`; an item
    /// that is not a string, or another type, is an issue.
    pub fn string_list(&mut self, name: &str) -> Option<Vec<(usize, String)>> {
        match self.map.remove(name) {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    match item {
                        Value::String(s) => out.push((i, s)),
                        _ => self.issue(&format!("{name}[{i}]"), "Give a string."),
                    }
                }
                Some(out)
            }
            Some(_) => {
                self.issue(name, "Give a list of strings.");
                None
            }
        }
    }

    pub fn issue(&mut self, name: &str, message: impl Into<String>) {
        self.issues.push(FieldIssue::new(name, message));
    }

    /// Ends reading: unknown members and every recorded problem become one 422.
    pub fn finish(mut self) -> Result<(), WebError> {
        for name in std::mem::take(&mut self.map).into_iter().map(|(k, _)| k) {
            self.issues.push(FieldIssue::new(name, "This member is not known here; see /api/v1/openapi.json."));
        }
        invalid_if_any(self.issues, "Some fields of the body are not valid.")
    }
}

/// A 422 listing `issues`, or `Ok` when there are none.
pub(crate) fn invalid_if_any(issues: Vec<FieldIssue>, detail: &str) -> Result<(), WebError> {
    if issues.is_empty() {
        return Ok(());
    }
    let detail = match issues.as_slice() {
        [one] => format!("`{}`: {}", one.field, one.message),
        _ => detail.to_owned(),
    };
    Err(WebError::Invalid { detail, errors: issues })
}

/// A 422 for one field.
pub(crate) fn invalid(field: &str, message: impl Into<String>) -> WebError {
    let issue = FieldIssue::new(field, message);
    WebError::Invalid { detail: format!("`{}`: {}", issue.field, issue.message), errors: vec![issue] }
}

/// A numeric id from a path (`42`), or with its kind's prefix (`email-42`).
/// Anything else names nothing: 404, as an unknown id.
pub(crate) fn path_id(raw: &str, prefix: &str, what: &str) -> Result<i64, WebError> {
    let digits = raw.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')).unwrap_or(raw);
    digits.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| not_found(what, raw))
}

/// The 404 for an id that names nothing in this workspace.
pub(crate) fn not_found(what: &str, id: &str) -> WebError {
    let id: String = id.chars().take(80).collect();
    WebError::Missing(format!("No {what} has the id `{id}` in this workspace."))
}

/// An email address, normalised, or the reason it is not one.
pub(crate) fn address(input: &str) -> Result<tac_core::NormalizedAddress, String> {
    tac_core::address::normalize(input.trim()).map_err(|e| format!("{e}: give an address like ann@fabrikam.com."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_repeated_query_parameters_are_listed() {
        let mut params = Params::parse(Some("limit=0&limit=3&colour=red&search=%20"));
        assert_eq!(params.text("search"), None, "blank is absent");
        let _ = params.limit(50, 500);
        let Err(WebError::Invalid { errors, .. }) = params.finish() else { panic!("invalid") };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["limit", "colour"]);
    }

    #[test]
    fn limits_are_whole_numbers_in_range() {
        for (raw, ok) in
            [("limit=1", true), ("limit=500", true), ("limit=0", false), ("limit=501", false), ("limit=x", false)]
        {
            let mut params = Params::parse(Some(raw));
            let _ = params.limit(50, 500);
            assert_eq!(params.finish().is_ok(), ok, "{raw}");
        }
    }

    #[test]
    fn bodies_must_be_json_objects() {
        assert!(matches!(JsonObject::from_bytes(&Bytes::from_static(b"{")), Err(WebError::BadRequest(_))));
        assert!(matches!(JsonObject::from_bytes(&Bytes::from_static(b"[1]")), Err(WebError::Invalid { .. })));
        let Ok(JsonObject(mut fields)) =
            JsonObject::from_bytes(&Bytes::from_static(br#"{"a": 1, "b": null, "c": "x"}"#))
        else {
            panic!("an object")
        };
        assert_eq!(fields.string("a"), None);
        assert_eq!(fields.patch_string("b"), Patch::Null);
        assert_eq!(fields.patch_string("c"), Patch::Set("x".to_owned()));
        assert_eq!(fields.patch_string("d"), Patch::Absent);
        let Err(WebError::Invalid { errors, .. }) = fields.finish() else { panic!("invalid") };
        assert_eq!(errors, [FieldIssue::new("a", "Give a string.")]);
    }

    #[test]
    fn path_ids_take_a_number_or_the_prefixed_form() {
        assert_eq!(path_id("42", "email", "email").ok(), Some(42));
        assert_eq!(path_id("email-42", "email", "email").ok(), Some(42));
        for bad in ["meeting-42", "-1", "0", "x", "email-", "99999999999999999999"] {
            assert!(matches!(path_id(bad, "email", "email"), Err(WebError::Missing(_))), "{bad}");
        }
    }
}
