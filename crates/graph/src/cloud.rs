//! Where Microsoft lives: the login (Entra ID) and Graph base URLs.
//!
//! The public cloud is the default; national clouds and the emulator are set
//! per integration. Plain `http` is accepted only for loopback hosts, so a
//! typo can never send a client secret or a bearer token over the network
//! unencrypted.

use crate::error::GraphError;
use url::Url;

/// The public cloud's login URL.
pub const PUBLIC_LOGIN_URL: &str = "https://login.microsoftonline.com";
/// The public cloud's Graph URL.
pub const PUBLIC_GRAPH_URL: &str = "https://graph.microsoft.com/v1.0";

/// A pair of base URLs: where tokens come from and where Graph answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cloud {
    login: Url,
    graph: Url,
}

impl Default for Cloud {
    fn default() -> Self {
        Cloud::new(PUBLIC_LOGIN_URL, PUBLIC_GRAPH_URL).expect("BUG: the public cloud URLs are valid")
    }
}

impl Cloud {
    /// Microsoft Graph for US Government L4.
    pub fn us_government() -> Self {
        Cloud::new("https://login.microsoftonline.us", "https://graph.microsoft.us/v1.0").expect("BUG: valid URLs")
    }

    /// Microsoft Graph operated by 21Vianet in China.
    pub fn china() -> Self {
        Cloud::new("https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn/v1.0")
            .expect("BUG: valid URLs")
    }

    /// Validates both URLs: absolute, `https` (or `http` on loopback), no query.
    pub fn new(login_url: &str, graph_url: &str) -> Result<Self, GraphError> {
        Ok(Cloud { login: checked(login_url, "login URL")?, graph: checked(graph_url, "Graph URL")? })
    }

    /// `https://login.microsoftonline.com` (no trailing slash).
    pub fn login_url(&self) -> &str {
        self.login.as_str().trim_end_matches('/')
    }

    /// `https://graph.microsoft.com/v1.0` (no trailing slash).
    pub fn graph_url(&self) -> &str {
        self.graph.as_str().trim_end_matches('/')
    }

    /// The token endpoint of a tenant.
    pub fn token_endpoint(&self, tenant: &str) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.login_url(), tenant)
    }

    /// The client-credentials scope: Graph's origin plus `/.default`.
    pub fn graph_scope(&self) -> String {
        format!("{}/.default", self.graph.origin().ascii_serialization())
    }

    /// Resolves a Graph path (`/users`) or takes an absolute link, refusing
    /// any link outside Graph's origin so the bearer token never leaves it.
    pub fn resolve(&self, path_or_link: &str) -> Result<Url, GraphError> {
        if path_or_link.starts_with('/') {
            let joined = format!("{}{}", self.graph_url(), path_or_link);
            return Url::parse(&joined)
                .map_err(|_| GraphError::Config(format!("cannot build a Graph URL from {joined}")));
        }
        let url = Url::parse(path_or_link).map_err(|_| GraphError::ForeignLink(path_or_link.to_string()))?;
        if url.origin() != self.graph.origin() || !url.path().starts_with(self.graph.path().trim_end_matches('/')) {
            return Err(GraphError::ForeignLink(path_or_link.to_string()));
        }
        Ok(url)
    }
}

fn checked(raw: &str, what: &str) -> Result<Url, GraphError> {
    let url =
        Url::parse(raw.trim()).map_err(|e| GraphError::Config(format!("the {what} {raw:?} is not a URL ({e})")))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(GraphError::Config(format!("the {what} {raw:?} must not have a query or fragment")));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(GraphError::Config(format!(
            "the {what} {raw:?} uses plain http: only https is allowed, except for loopback addresses"
        ))),
        other => Err(GraphError::Config(format!("the {what} {raw:?} has scheme {other}: use https"))),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_public_cloud() {
        let c = Cloud::default();
        assert_eq!(c.token_endpoint("contoso.com"), "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token");
        assert_eq!(c.graph_scope(), "https://graph.microsoft.com/.default");
        assert_eq!(Cloud::us_government().graph_scope(), "https://graph.microsoft.us/.default");
    }

    #[test]
    fn plain_http_is_only_for_loopback() {
        assert!(Cloud::new("http://127.0.0.1:5880", "http://127.0.0.1:5880/v1.0").is_ok());
        assert!(Cloud::new("http://localhost:1", "http://[::1]:2/v1.0").is_ok());
        assert!(Cloud::new("http://login.example.com", PUBLIC_GRAPH_URL).is_err());
        assert!(Cloud::new(PUBLIC_LOGIN_URL, "http://10.0.0.5/v1.0").is_err());
        assert!(Cloud::new("ftp://x", PUBLIC_GRAPH_URL).is_err());
        assert!(Cloud::new("not a url", PUBLIC_GRAPH_URL).is_err());
    }

    #[test]
    fn links_outside_graph_are_refused() {
        let c = Cloud::default();
        assert!(c.resolve("https://graph.microsoft.com/v1.0/users?$skiptoken=x").is_ok());
        assert!(c.resolve("/users").is_ok());
        for bad in [
            "https://evil.example/v1.0/users",
            "http://graph.microsoft.com/v1.0/users",
            "https://graph.microsoft.com:444/v1.0/users",
            "https://graph.microsoft.com/beta/users",
            "https://graph.microsoft.com.evil.example/v1.0/users",
            "javascript:alert(1)",
        ] {
            assert!(matches!(c.resolve(bad), Err(GraphError::ForeignLink(_))), "{bad}");
        }
    }
}
