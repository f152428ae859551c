//! Microsoft Graph v1.0's schema, read from Microsoft's published CSDL.
//!
//! The emulator must refuse what Graph refuses. Hand-kept lists of property
//! names drift from the service: a name TAC asks for that the real type
//! lacks passes here and fails on a real tenant. So the names a request may
//! use, and the fields a response may carry, come from
//! `metadata/graph-v1.0-cleanMetadata.xml`, Microsoft's CSDL for Graph v1.0,
//! parsed once per process. Only the `microsoft.graph` namespace is kept;
//! it holds every type the emulator serves.
//!
//! Three things use it:
//! - [`Schema::select`] resolves `$select` against a resource's entity type,
//!   inherited properties and derived-type casts
//!   (`microsoft.graph.eventMessage/meetingMessageType`) included;
//! - [`Schema::check_names`] checks the property names of `$filter`,
//!   `$orderby` and `$expand`;
//! - [`Schema::conformance`] lists every field of a response that the type
//!   lacks or whose JSON shape does not match its CSDL type (the fidelity
//!   tests walk every resource with it).

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::OnceLock;

const CSDL: &str = include_str!("../metadata/graph-v1.0-cleanMetadata.xml");
/// The namespace every type here lives in, and the alias the CSDL uses for it.
pub const NAMESPACE: &str = "microsoft.graph";
const ALIAS: &str = "graph";

/// The schema of Graph v1.0, parsed on first use.
pub fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| Schema::parse(CSDL).expect("BUG: the bundled Graph metadata is well-formed CSDL"))
}

/// An entity or complex type.
#[derive(Debug, Clone)]
pub struct TypeDef {
    /// The short name, e.g. `eventMessage`.
    pub name: String,
    pub entity: bool,
    /// The short name of the base type.
    pub base: Option<String>,
    /// Declared here, not inherited.
    pub properties: Vec<Property>,
}

/// A structural or navigation property.
#[derive(Debug, Clone)]
pub struct Property {
    pub name: String,
    pub kind: PropertyType,
    pub nullable: bool,
    pub navigation: bool,
}

/// A property's type, as JSON will carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertyType {
    /// `Edm.String`, `Edm.Guid`, dates, times, durations, binary: a JSON string.
    String(String),
    Boolean,
    /// The integer and floating-point `Edm` types: a JSON number.
    Number(String),
    /// An enum type (short name): a string among its members.
    Enum(String),
    /// A complex or entity type (short name): an object.
    Object(String),
    Collection(Box<PropertyType>),
    /// Anything else (`Edm.Stream`, untyped): not checked.
    Other(String),
}

/// Why a name was refused: it is not a property of the type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    pub name: String,
    /// The short name of the type it was looked up on.
    pub on_type: String,
}

/// One `$select` entry, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    /// The JSON key it selects.
    pub key: String,
    /// For a cast (`microsoft.graph.eventMessage/x`) or a derived type's
    /// property, the type (short name) an item must be of to carry it.
    pub only_on: Option<String>,
}

/// A resolved `$select`: `id` and annotations always come back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    /// `None`: no `$select`, every property.
    pub keys: Option<Vec<Selected>>,
}

/// How `$select` treats a name that only a derived type has, named without
/// its cast: `/messages` refuses it; message delta leaves it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DerivedNames {
    Refuse,
    LeaveOut,
}

impl Selection {
    /// Selects these properties of the resource's own type.
    pub fn only(keys: &[&str]) -> Selection {
        Selection { keys: Some(keys.iter().map(|k| Selected { key: k.to_string(), only_on: None }).collect()) }
    }

    /// Keeps `id`, annotations and what was selected, for an item of
    /// `item_type` (short name).
    pub fn apply(&self, mut full: Map<String, Value>, item_type: &str) -> Map<String, Value> {
        let Some(keys) = &self.keys else { return full };
        let schema = schema();
        full.retain(|k, _| {
            k == "id"
                || k.starts_with('@')
                || keys
                    .iter()
                    .any(|s| &s.key == k && s.only_on.as_deref().is_none_or(|t| schema.derives_from(item_type, t)))
        });
        full
    }
}

/// Graph v1.0's entity, complex and enum types.
#[derive(Debug, Default)]
pub struct Schema {
    types: HashMap<String, TypeDef>,
    /// Enum type (short name) → its members; flags enums take several.
    enums: HashMap<String, (bool, Vec<String>)>,
    /// Base type → its direct derived types.
    derived: HashMap<String, Vec<String>>,
}

/// Turns `graph.x` or `microsoft.graph.x` into `x`; other namespaces stay qualified.
fn short(qualified: &str) -> String {
    for prefix in [ALIAS, NAMESPACE] {
        if let Some(rest) = qualified.strip_prefix(prefix).and_then(|r| r.strip_prefix('.'))
            && !rest.contains('.')
        {
            return rest.to_string();
        }
    }
    qualified.to_string()
}

impl PropertyType {
    fn parse(raw: &str, enums: &HashMap<String, (bool, Vec<String>)>) -> PropertyType {
        if let Some(inner) = raw.strip_prefix("Collection(").and_then(|r| r.strip_suffix(')')) {
            return PropertyType::Collection(Box::new(PropertyType::parse(inner, enums)));
        }
        match raw {
            "Edm.String" | "Edm.Guid" | "Edm.DateTimeOffset" | "Edm.Date" | "Edm.TimeOfDay" | "Edm.Duration"
            | "Edm.Binary" => PropertyType::String(raw.to_string()),
            "Edm.Boolean" => PropertyType::Boolean,
            "Edm.Int16" | "Edm.Int32" | "Edm.Int64" | "Edm.Byte" | "Edm.SByte" | "Edm.Double" | "Edm.Single"
            | "Edm.Decimal" => PropertyType::Number(raw.to_string()),
            _ if raw.starts_with("Edm.") => PropertyType::Other(raw.to_string()),
            _ => {
                let name = short(raw);
                if enums.contains_key(&name) { PropertyType::Enum(name) } else { PropertyType::Object(name) }
            }
        }
    }
}

impl Schema {
    /// Parses a CSDL document, keeping the `microsoft.graph` namespace.
    pub fn parse(xml: &str) -> Result<Schema, String> {
        let doc = roxmltree::Document::parse(xml.trim_start_matches('\u{feff}')).map_err(|e| e.to_string())?;
        let ns = doc
            .descendants()
            .find(|n| n.has_tag_name("Schema") && n.attribute("Namespace") == Some(NAMESPACE))
            .ok_or("no microsoft.graph schema")?;
        let mut schema = Schema::default();
        for e in ns.children().filter(|n| n.has_tag_name("EnumType")) {
            let name = e.attribute("Name").ok_or("an enum type without a name")?;
            let members =
                e.children().filter(|m| m.has_tag_name("Member")).filter_map(|m| m.attribute("Name")).map(String::from);
            schema.enums.insert(name.to_string(), (e.attribute("IsFlags") == Some("true"), members.collect()));
        }
        for t in ns.children().filter(|n| n.has_tag_name("EntityType") || n.has_tag_name("ComplexType")) {
            let name = t.attribute("Name").ok_or("a type without a name")?.to_string();
            let mut properties = Vec::new();
            for p in t.children().filter(|p| p.has_tag_name("Property") || p.has_tag_name("NavigationProperty")) {
                let (Some(pname), Some(ty)) = (p.attribute("Name"), p.attribute("Type")) else {
                    return Err(format!("a property of {name} without a name or type"));
                };
                properties.push(Property {
                    name: pname.to_string(),
                    kind: PropertyType::parse(ty, &schema.enums),
                    nullable: p.attribute("Nullable") != Some("false"),
                    navigation: p.has_tag_name("NavigationProperty"),
                });
            }
            let base = t.attribute("BaseType").map(short);
            if let Some(b) = &base {
                schema.derived.entry(b.clone()).or_default().push(name.clone());
            }
            schema.types.insert(name.clone(), TypeDef { name, entity: t.has_tag_name("EntityType"), base, properties });
        }
        Ok(schema)
    }

    /// A type by short name (`message`) or qualified name (`microsoft.graph.message`).
    pub fn get(&self, name: &str) -> Option<&TypeDef> {
        self.types.get(&short(name.trim_start_matches('#')))
    }

    /// The members of an enum type.
    pub fn enum_members(&self, name: &str) -> Option<&[String]> {
        self.enums.get(name).map(|(_, m)| m.as_slice())
    }

    /// Whether `ty` is `base` or derives from it.
    pub fn derives_from(&self, ty: &str, base: &str) -> bool {
        let mut current = Some(ty.to_string());
        for _ in 0..32 {
            match current {
                Some(c) if c == base => return true,
                Some(c) => current = self.types.get(&c).and_then(|t| t.base.clone()),
                None => return false,
            }
        }
        false
    }

    /// A property of a type or of one of its base types.
    pub fn property(&self, ty: &str, name: &str) -> Option<&Property> {
        let mut current = self.types.get(ty);
        for _ in 0..32 {
            let t = current?;
            if let Some(p) = t.properties.iter().find(|p| p.name == name) {
                return Some(p);
            }
            current = t.base.as_ref().and_then(|b| self.types.get(b));
        }
        None
    }

    /// The types derived from `ty`, at any depth.
    fn descendants(&self, ty: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut stack = vec![ty];
        while let Some(t) = stack.pop() {
            for d in self.derived.get(t).into_iter().flatten() {
                out.push(d.as_str());
                stack.push(d.as_str());
            }
        }
        out
    }

    /// Resolves `$select` on a resource whose items are of `ty` (short name).
    /// A name must be a property of `ty` or its bases, or a cast
    /// `microsoft.graph.X/name` where X derives from `ty` and has `name`. A
    /// derived type's property named without the cast is refused or left
    /// out, as `derived` says.
    pub fn select(&self, ty: &str, names: &[String], derived: DerivedNames) -> Result<Selection, UnknownName> {
        let unknown = |name: &str| UnknownName { name: name.to_string(), on_type: ty.to_string() };
        let mut keys = Vec::new();
        for raw in names {
            let name = raw.as_str();
            if let Some((cast, prop)) = name.split_once('/') {
                let cast = short(cast);
                if !self.types.contains_key(&cast) || !self.derives_from(&cast, ty) {
                    return Err(unknown(name));
                }
                if self.property(&cast, prop).is_none() {
                    return Err(UnknownName { name: prop.to_string(), on_type: cast });
                }
                keys.push(Selected { key: prop.to_string(), only_on: Some(cast) });
            } else if self.property(ty, name).is_some() {
                keys.push(Selected { key: name.to_string(), only_on: None });
            } else if derived == DerivedNames::LeaveOut
                && self.descendants(ty).iter().any(|d| self.property(d, name).is_some())
            {
                // Left out of the response: nothing selects it.
            } else {
                return Err(unknown(name));
            }
        }
        Ok(Selection { keys: Some(keys) })
    }

    /// Checks names used by `$filter`, `$orderby` or `$expand`: each must be
    /// a property of `ty` (a path's first segment, `from/emailAddress/…`).
    /// `navigation` asks for navigation properties only (`$expand`).
    pub fn check_names<'a>(
        &self,
        ty: &str,
        names: impl IntoIterator<Item = &'a str>,
        navigation: bool,
    ) -> Result<(), UnknownName> {
        for name in names {
            let (head, prop) = match name.split_once('/') {
                Some((cast, rest)) if cast.contains('.') => {
                    let cast = short(cast);
                    if !self.derives_from(&cast, ty) {
                        return Err(UnknownName { name: name.to_string(), on_type: ty.to_string() });
                    }
                    (cast, rest.split('/').next().unwrap_or(rest))
                }
                Some((first, _)) => (ty.to_string(), first),
                None => (ty.to_string(), name),
            };
            match self.property(&head, prop) {
                Some(p) if !navigation || p.navigation => {}
                _ => return Err(UnknownName { name: prop.to_string(), on_type: head }),
            }
        }
        Ok(())
    }

    /// Every way `value` (an item of type `ty`) departs from the schema: a
    /// field the type lacks, or a JSON shape that does not match the
    /// property's type. An `@odata.type` annotation names the item's actual
    /// type, which must derive from `ty`. Annotations are not checked.
    pub fn conformance(&self, ty: &str, value: &Value) -> Vec<String> {
        let mut problems = Vec::new();
        self.check_object(ty, value, ty, &mut problems);
        problems
    }

    fn check_object(&self, ty: &str, value: &Value, path: &str, out: &mut Vec<String>) {
        let Value::Object(map) = value else {
            out.push(format!("{path}: expected an object of type {ty}, got {value}"));
            return;
        };
        let mut actual = ty.to_string();
        if let Some(t) = map.get("@odata.type").and_then(Value::as_str) {
            let named = short(t.trim_start_matches('#'));
            if !self.types.contains_key(&named) || !self.derives_from(&named, ty) {
                out.push(format!("{path}: @odata.type {t} is not {ty} or a type derived from it"));
                return;
            }
            actual = named;
        }
        for (key, v) in map {
            if key.starts_with('@') || key.contains("@odata.") {
                continue;
            }
            let field = format!("{path}.{key}");
            match self.property(&actual, key) {
                None => out.push(format!("{field}: type {actual} has no property '{key}'")),
                Some(p) => self.check_value(&p.kind, p.nullable, v, &field, out),
            }
        }
    }

    fn check_value(&self, kind: &PropertyType, nullable: bool, v: &Value, path: &str, out: &mut Vec<String>) {
        if v.is_null() {
            if !nullable {
                out.push(format!("{path}: null, but the property is not nullable"));
            }
            return;
        }
        match kind {
            PropertyType::String(_) if !v.is_string() => out.push(format!("{path}: expected a string, got {v}")),
            PropertyType::Boolean if !v.is_boolean() => out.push(format!("{path}: expected a boolean, got {v}")),
            PropertyType::Number(_) if !v.is_number() => out.push(format!("{path}: expected a number, got {v}")),
            PropertyType::Enum(name) => match v.as_str() {
                None => out.push(format!("{path}: expected a {name} value, got {v}")),
                Some(s) => {
                    let (flags, members) =
                        self.enums.get(name).map(|(f, m)| (*f, m.as_slice())).unwrap_or((false, &[]));
                    let ok = if flags {
                        s.split(',').all(|part| members.iter().any(|m| m == part.trim()))
                    } else {
                        members.iter().any(|m| m == s)
                    };
                    if !ok {
                        out.push(format!("{path}: '{s}' is not a member of {name}"));
                    }
                }
            },
            PropertyType::Object(name) => self.check_object(name, v, path, out),
            PropertyType::Collection(inner) => match v.as_array() {
                None => out.push(format!("{path}: expected a collection, got {v}")),
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.check_value(inner, false, item, &format!("{path}[{i}]"), out);
                    }
                }
            },
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn inherited_properties_are_found_and_derived_ones_are_not() {
        let s = schema();
        assert!(s.property("message", "subject").is_some());
        assert!(s.property("message", "changeKey").is_some(), "from outlookItem");
        assert!(s.property("message", "id").is_some(), "from entity");
        assert!(s.property("message", "meetingMessageType").is_none(), "eventMessage's, not message's");
        assert!(s.property("eventMessageRequest", "meetingMessageType").is_some());
        assert!(s.property("message", "sensitivity").is_none());
        assert!(s.property("user", "proxyAddresses").is_some());
        assert_eq!(
            s.property("event", "start").map(|p| &p.kind),
            Some(&PropertyType::Object("dateTimeTimeZone".into()))
        );
        assert!(
            s.enum_members("meetingMessageType").is_some_and(|m| m.iter().any(|v| v == "meetingTenativelyAccepted"))
        );
    }

    #[test]
    fn select_takes_casts_and_treats_bare_derived_names_as_asked() {
        let s = schema();
        let bare = names(&["subject", "meetingMessageType"]);
        assert_eq!(
            s.select("message", &bare, DerivedNames::Refuse),
            Err(UnknownName { name: "meetingMessageType".into(), on_type: "message".into() })
        );
        let left_out = s.select("message", &bare, DerivedNames::LeaveOut).unwrap();
        assert_eq!(left_out.keys.as_ref().map(Vec::len), Some(1));
        let cast = names(&["subject", "microsoft.graph.eventMessage/meetingMessageType"]);
        let sel = s.select("message", &cast, DerivedNames::Refuse).unwrap();
        let mut full = Map::new();
        for k in ["id", "subject", "meetingMessageType", "isRead", "@odata.type"] {
            full.insert(k.into(), Value::Bool(true));
        }
        let on_request: Vec<String> =
            sel.apply(full.clone(), "eventMessageRequest").into_iter().map(|(k, _)| k).collect();
        assert_eq!(on_request, ["id", "subject", "meetingMessageType", "@odata.type"]);
        let on_plain: Vec<String> = sel.apply(full, "message").into_iter().map(|(k, _)| k).collect();
        assert_eq!(on_plain, ["id", "subject", "@odata.type"]);
        assert!(s.select("message", &names(&["nope"]), DerivedNames::LeaveOut).is_err());
        assert!(s.select("message", &names(&["microsoft.graph.user/mail"]), DerivedNames::Refuse).is_err());
        assert!(s.select("message", &names(&["microsoft.graph.eventMessage/nope"]), DerivedNames::Refuse).is_err());
    }

    #[test]
    fn filter_orderby_and_expand_names_are_checked() {
        let s = schema();
        assert!(s.check_names("message", ["receivedDateTime", "from/emailAddress/address"], false).is_ok());
        assert!(s.check_names("message", ["receivedOn"], false).is_err());
        assert!(s.check_names("message", ["singleValueExtendedProperties", "attachments"], true).is_ok());
        assert!(s.check_names("message", ["subject"], true).is_err(), "not a navigation property");
        assert!(s.check_names("message", ["microsoft.graph.eventMessage/event"], true).is_ok());
    }

    #[test]
    fn conformance_names_unknown_fields_and_wrong_shapes() {
        let s = schema();
        let good = serde_json::json!({
            "@odata.type": "#microsoft.graph.eventMessageRequest",
            "id": "x", "subject": null, "isRead": true, "meetingMessageType": "meetingRequest",
            "toRecipients": [{"emailAddress": {"name": "A", "address": "a@b.c"}}],
            "startDateTime": {"dateTime": "2024-01-01T00:00:00.0000000", "timeZone": "UTC"},
        });
        assert_eq!(s.conformance("message", &good), Vec::<String>::new());
        let bad = serde_json::json!({
            "id": "x", "isRead": "yes", "meetingMessageType": "meetingRequest", "uid": "u",
            "toRecipients": {"emailAddress": {}}, "importance": "urgent",
        });
        let problems = s.conformance("message", &bad);
        assert_eq!(problems.len(), 5, "{problems:#?}");
    }
}
