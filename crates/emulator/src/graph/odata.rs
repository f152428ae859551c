//! OData query options and `Prefer` headers, parsed once per request.
//!
//! Each endpoint declares which system query options it takes; anything else
//! starting with `$` is refused with a 400, as Graph does, so a client that
//! relies on an option the real service would reject fails here first.

use super::error::GraphError;
use crate::schema::{DerivedNames, Selection, UnknownName, schema};
use crate::tz::Zone;
use axum::http::{HeaderMap, StatusCode};

/// The Microsoft service behind a resource: each words a refused name its
/// own way (docs/graph-facts.md §8: Outlook's `RequestBroker--ParseUri`, the directory's
/// `Request_BadRequest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Outlook,
    Directory,
}

impl Service {
    /// The 400 for a name the resource's type lacks.
    pub fn unknown_name(self, e: &UnknownName) -> GraphError {
        let mut chars = e.on_type.chars();
        let type_name: String = chars.next().map(|c| c.to_ascii_uppercase()).into_iter().chain(chars).collect();
        let (code, service) = match self {
            Service::Outlook => ("RequestBroker--ParseUri", "OutlookServices"),
            Service::Directory => ("Request_BadRequest", "DirectoryServices"),
        };
        GraphError::new(
            StatusCode::BAD_REQUEST,
            code,
            format!("Could not find a property named '{}' on type 'Microsoft.{service}.{type_name}'.", e.name),
        )
    }
}

/// The query string, decoded.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: &str) -> Self {
        Query { pairs: form_urlencoded::parse(raw.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect() }
    }

    /// The value of an option, matching its name case-insensitively.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Refuses system query options outside `allowed`.
    pub fn allow_only(&self, allowed: &[&str]) -> Result<(), GraphError> {
        for (k, _) in &self.pairs {
            if k.starts_with('$') && !allowed.iter().any(|a| a.eq_ignore_ascii_case(k)) {
                return Err(GraphError::bad_request(format!("The query parameter '{k}' is not supported.")));
            }
        }
        Ok(())
    }

    /// `$select` as a list of property names.
    pub fn select(&self) -> Option<Vec<String>> {
        self.get("$select").map(|s| s.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect())
    }

    /// `$select` resolved against the entity type `ty` of the resource
    /// (Graph's metadata decides which names exist).
    pub fn selection(&self, service: Service, ty: &str, derived: DerivedNames) -> Result<Selection, GraphError> {
        match self.select() {
            None => Ok(Selection::default()),
            Some(names) => schema().select(ty, &names, derived).map_err(|e| service.unknown_name(&e)),
        }
    }

    /// Checks the property names of `$orderby` and `$expand` against `ty`:
    /// each `$orderby` item is a property path with an optional direction,
    /// each `$expand` item a navigation property with optional options in
    /// parentheses.
    pub fn check_names(&self, service: Service, ty: &str) -> Result<(), GraphError> {
        let unknown = |e: UnknownName| service.unknown_name(&e);
        if let Some(order) = self.get("$orderby") {
            let names = order.split(',').filter_map(|item| item.split_whitespace().next());
            schema().check_names(ty, names, false).map_err(unknown)?;
        }
        if let Some(expand) = self.get("$expand") {
            schema().check_names(ty, expand_names(expand), true).map_err(unknown)?;
        }
        Ok(())
    }

    /// `$top` checked against `1..=max`.
    pub fn top(&self, max: usize) -> Result<Option<usize>, GraphError> {
        match self.get("$top") {
            None => Ok(None),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(Some(n)),
                _ => Err(GraphError::bad_request(format!(
                    "Invalid page size specified: '{v}'. Must be between 1 and {max} inclusive."
                ))),
            },
        }
    }

    /// `$skip` as a number.
    pub fn skip(&self) -> Result<usize, GraphError> {
        match self.get("$skip") {
            None => Ok(0),
            Some(v) => v.parse().map_err(|_| GraphError::bad_request(format!("Invalid $skip value '{v}'."))),
        }
    }
}

/// The navigation properties an `$expand` names: its top-level items, each
/// without the options in parentheses.
fn expand_names(expand: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in expand.char_indices() {
        match c {
            '(' => {
                if depth == 0 {
                    names.push(expand[start..i].trim());
                }
                depth += 1;
            }
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                if !expand[start..i].trim().is_empty() && !expand[start..i].trim().ends_with(')') {
                    names.push(expand[start..i].trim());
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = expand[start..].trim();
    if depth == 0 && !last.is_empty() && !last.contains('(') {
        names.push(last);
    }
    names.into_iter().filter(|n| !n.is_empty()).collect()
}

/// The `Prefer` header's preferences that Graph honours here.
#[derive(Debug, Clone, Default)]
pub struct Prefer {
    pub max_page_size: Option<usize>,
    pub time_zone: Option<Zone>,
    pub text_body: bool,
    pub immutable_ids: bool,
    /// What to echo in `Preference-Applied`.
    pub applied: Vec<String>,
}

impl Prefer {
    /// Reads every `Prefer` header. An unknown time zone is an error, as in Graph.
    pub fn parse(headers: &HeaderMap) -> Result<Self, GraphError> {
        let mut p = Prefer::default();
        for value in headers.get_all("prefer") {
            let Ok(text) = value.to_str() else { continue };
            for item in text.split(',') {
                let item = item.trim();
                let Some((name, raw)) = item.split_once('=') else {
                    continue;
                };
                let name = name.trim();
                let value = raw.trim().trim_matches('"');
                if name.eq_ignore_ascii_case("odata.maxpagesize") {
                    if let Ok(n) = value.parse::<usize>()
                        && n > 0
                    {
                        p.max_page_size = Some(n);
                        p.applied.push(format!("odata.maxpagesize={n}"));
                    }
                } else if name.eq_ignore_ascii_case("outlook.timezone") {
                    let zone = Zone::parse(value).ok_or_else(|| {
                        GraphError::new(
                            axum::http::StatusCode::BAD_REQUEST,
                            "TimeZoneNotSupportedException",
                            format!("A valid TimeZone value must be specified. The following TimeZone value is not supported: '{value}'."),
                        )
                    })?;
                    p.time_zone = Some(zone);
                    p.applied.push(format!("outlook.timezone=\"{}\"", zone.name));
                } else if name.eq_ignore_ascii_case("outlook.body-content-type") {
                    p.text_body = value.eq_ignore_ascii_case("text");
                    p.applied
                        .push(format!("outlook.body-content-type=\"{}\"", if p.text_body { "text" } else { "html" }));
                } else if name.eq_ignore_ascii_case("IdType") {
                    p.immutable_ids = value.eq_ignore_ascii_case("ImmutableId");
                    p.applied.push(format!("IdType=\"{}\"", if p.immutable_ids { "ImmutableId" } else { "RestId" }));
                }
            }
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn prefer_reads_all_four_preferences() {
        let mut h = HeaderMap::new();
        h.append("prefer", HeaderValue::from_static("odata.maxpagesize=50, IdType=\"ImmutableId\""));
        h.append("prefer", HeaderValue::from_static("outlook.timezone=\"Pacific Standard Time\""));
        h.append("prefer", HeaderValue::from_static("outlook.body-content-type=\"text\""));
        let p = Prefer::parse(&h).unwrap();
        assert_eq!(p.max_page_size, Some(50));
        assert!(p.immutable_ids && p.text_body);
        assert_eq!(p.time_zone.map(|z| z.name), Some("Pacific Standard Time"));
        assert_eq!(p.applied.len(), 4);
    }

    #[test]
    fn an_unknown_time_zone_is_refused() {
        let mut h = HeaderMap::new();
        h.append("prefer", HeaderValue::from_static("outlook.timezone=\"Mars/Olympus\""));
        assert!(Prefer::parse(&h).is_err());
    }

    #[test]
    fn expand_names_are_the_top_level_items_without_options() {
        assert_eq!(expand_names("attachments"), ["attachments"]);
        assert_eq!(
            expand_names("singleValueExtendedProperties($filter=id eq 'Integer 0x0036'),attachments"),
            ["singleValueExtendedProperties", "attachments"]
        );
        assert_eq!(expand_names("a($select=x,y), b"), ["a", "b"]);
    }

    #[test]
    fn names_the_type_lacks_are_refused_in_the_service_s_words() {
        let q = Query::parse("$select=subject,meetingMessageType");
        let e = q.selection(Service::Outlook, "message", DerivedNames::Refuse).unwrap_err();
        assert_eq!(e.code, "RequestBroker--ParseUri");
        assert!(
            e.message.contains("'meetingMessageType' on type 'Microsoft.OutlookServices.Message'"),
            "{}",
            e.message
        );
        let e = Query::parse("$orderby=hireDay").check_names(Service::Directory, "user").unwrap_err();
        assert_eq!(e.code, "Request_BadRequest");
        assert!(Query::parse("$orderby=displayName desc").check_names(Service::Directory, "user").is_ok());
        assert!(Query::parse("$expand=subject").check_names(Service::Outlook, "message").is_err());
    }

    #[test]
    fn unknown_system_options_are_refused_and_top_is_bounded() {
        let q = Query::parse("$select=id&$foo=1");
        assert!(q.allow_only(&["$select"]).is_err());
        assert!(Query::parse("$top=1000").top(999).is_err());
        assert_eq!(Query::parse("$top=5").top(999).unwrap(), Some(5));
        assert!(Query::parse("$top=abc").top(999).is_err());
    }
}
