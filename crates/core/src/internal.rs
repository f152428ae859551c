//! The internal-or-external decision (docs/architecture.md §5): an address is internal when
//! it belongs to a directory user (any of their proxy addresses) or to one of
//! the tenant's verified domains, subdomains included. Contacts are external
//! people, and an item whose participants are all internal is on no timeline,
//! so sync, matching and contact creation all ask this one question here.
//! [`Internal::all_internal`] asks it of a whole item: such an item is
//! "internal-only", which the privacy rules treat on their own (see
//! `crate::privacy`).

use crate::address::normalize;
use crate::records::{DirectoryUser, TenantDomain};
use std::collections::HashSet;

/// The tenant's people and domains, indexed for the question.
#[derive(Debug, Clone, Default)]
pub struct Internal {
    addresses: HashSet<String>,
    domains: Vec<String>,
}

impl Internal {
    /// From the directory: every user's primary address, UPN and SMTP proxy
    /// addresses, and the verified domains.
    pub fn new(users: &[DirectoryUser], domains: &[TenantDomain]) -> Self {
        let mut addresses = HashSet::new();
        for u in users {
            let smtp = u.proxy_addresses.iter().filter_map(|p| {
                let (kind, rest) = p.split_once(':')?;
                kind.eq_ignore_ascii_case("smtp").then_some(rest)
            });
            for raw in u.mail.iter().map(String::as_str).chain([u.user_principal_name.as_str()]).chain(smtp) {
                if let Ok(a) = normalize(raw) {
                    addresses.insert(a.into_string());
                }
            }
        }
        let domains = domains.iter().map(|d| d.name.trim().to_ascii_lowercase()).filter(|d| !d.is_empty()).collect();
        Internal { addresses, domains }
    }

    /// Whether the address is one of ours. Unparsable input is not internal.
    pub fn is_internal(&self, address: &str) -> bool {
        let Ok(a) = normalize(address) else { return false };
        if self.addresses.contains(a.as_str()) {
            return true;
        }
        let domain = a.domain();
        self.domains.iter().any(|d| domain == d || domain.strip_suffix(d.as_str()).is_some_and(|p| p.ends_with('.')))
    }

    /// Whether every address is one of ours: the item is internal-only. An
    /// item with nobody on it counts as internal-only (the stricter answer).
    pub fn all_internal<'a>(&self, mut addresses: impl Iterator<Item = &'a str>) -> bool {
        addresses.all(|a| self.is_internal(a))
    }

    /// Everything the answer depends on, sorted: the addresses, then each
    /// domain written `@domain`. Equal lists give equal answers, so a store
    /// can tell from a digest of it whether stored items need classifying
    /// again.
    pub fn canonical(&self) -> Vec<String> {
        let mut addresses: Vec<String> = self.addresses.iter().cloned().collect();
        addresses.sort();
        let mut domains: Vec<String> = self.domains.iter().map(|d| format!("@{d}")).collect();
        domains.sort();
        domains.dedup();
        addresses.extend(domains);
        addresses
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(mail: &str, proxies: &[&str]) -> DirectoryUser {
        DirectoryUser {
            id: mail.into(),
            display_name: String::new(),
            user_principal_name: mail.into(),
            mail: Some(mail.into()),
            proxy_addresses: proxies.iter().map(|p| p.to_string()).collect(),
            account_enabled: true,
        }
    }

    fn domain(name: &str) -> TenantDomain {
        TenantDomain { name: name.into(), is_default: false, is_initial: false }
    }

    #[test]
    fn aliases_and_verified_domains_are_internal_in_any_case() {
        let internal = Internal::new(
            &[user("ann@contoso.com", &["SMTP:ann@contoso.com", "smtp:ann.lee@contoso-legacy.net", "X500:/o=x"])],
            &[domain("Contoso.com")],
        );
        assert!(internal.is_internal("ANN.LEE@contoso-legacy.net"));
        assert!(internal.is_internal("mailto:Bob@Contoso.com"));
        assert!(internal.is_internal("bob@eu.contoso.com"), "subdomains of a verified domain");
        assert!(!internal.is_internal("bob@notcontoso.com"));
        assert!(!internal.is_internal("bob@contoso-legacy.net"), "only the alias, not its domain");
        assert!(!internal.is_internal("not an address"));
        assert!(internal.all_internal(["ann.lee@contoso-legacy.net", "bob@eu.contoso.com"].into_iter()));
        assert!(!internal.all_internal(["bob@contoso.com", "zoe@fabrikam.com"].into_iter()));
        assert!(internal.all_internal(std::iter::empty()), "nobody on it: the stricter answer");
        assert_eq!(internal.canonical(), ["ann.lee@contoso-legacy.net", "ann@contoso.com", "@contoso.com"]);
    }
}
