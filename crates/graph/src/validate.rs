//! The shapes of the identifiers an admin types in: a Tenant ID is a GUID or
//! a verified domain; a Client ID is a GUID. Checked before anything is sent.

/// Whether `s` is a GUID (`8-4-4-4-12` hexadecimal).
pub fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12].iter().zip(&parts).all(|(n, p)| p.len() == *n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Checks a Tenant ID: the directory's GUID, or one of its domains.
pub fn tenant_id(s: &str) -> Result<String, String> {
    let t = s.trim();
    let domain = t.contains('.')
        && t.len() <= 253
        && t.split('.').all(|l| !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-'))
        && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if is_guid(t) || domain {
        Ok(t.to_ascii_lowercase())
    } else {
        Err(format!(
            "{t:?} is not a Tenant ID: paste the Directory (tenant) ID from the app's Overview page (a GUID), or a verified domain such as contoso.com"
        ))
    }
}

/// Checks a Client ID: the app's GUID.
pub fn client_id(s: &str) -> Result<String, String> {
    let c = s.trim();
    if is_guid(c) {
        Ok(c.to_ascii_lowercase())
    } else {
        Err(format!(
            "{c:?} is not a Client ID: paste the Application (client) ID from the app's Overview page (a GUID)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tenants_are_guids_or_domains() {
        assert_eq!(
            tenant_id(" 63122682-BD96-47fd-97ab-95a76ce699a6 ").unwrap(),
            "63122682-bd96-47fd-97ab-95a76ce699a6"
        );
        assert_eq!(tenant_id("Contoso.onmicrosoft.com").unwrap(), "contoso.onmicrosoft.com");
        for bad in ["", "contoso", "not a tenant", "-x.com", "a..b", "https://contoso.com"] {
            assert!(tenant_id(bad).is_err(), "{bad}");
        }
        assert!(client_id("contoso.com").is_err());
        assert!(client_id("1671f074-56e2-4c37-873b-b7b07a120b18").is_ok());
    }

    proptest! {
        #[test]
        fn validation_never_panics(s in ".{0,300}") {
            let _ = tenant_id(&s);
            let _ = client_id(&s);
        }
    }
}
