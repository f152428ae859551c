//! Where Microsoft lives: the login (Entra ID) and Graph base URLs.
//!
//! The public cloud is the default; national clouds are set per
//! integration. The URLs carry the client secret and bearer tokens, so a
//! deployment accepts only Microsoft's own clouds ([`CloudPolicy`]) unless
//! it opts in to others (the emulator, a test proxy): an admin cannot point
//! TAC at a host of their own and read the secret that way. Plain `http` is
//! accepted only for loopback hosts, so a typo can never send a secret over
//! the network unencrypted.

use crate::error::GraphError;
use url::Url;

/// The public cloud's login URL.
pub const PUBLIC_LOGIN_URL: &str = "https://login.microsoftonline.com";
/// The public cloud's Graph URL.
pub const PUBLIC_GRAPH_URL: &str = "https://graph.microsoft.com/v1.0";

/// Microsoft's clouds, as `(login host, Graph host)`: the public cloud, US
/// Government L4 and L5 (DoD), and China operated by 21Vianet ("National
/// cloud deployments" in Microsoft Graph's documentation).
pub const MICROSOFT_CLOUDS: &[(&str, &str)] = &[
    ("login.microsoftonline.com", "graph.microsoft.com"),
    ("login.microsoftonline.us", "graph.microsoft.us"),
    ("login.microsoftonline.us", "dod-graph.microsoft.us"),
    ("login.chinacloudapi.cn", "microsoftgraph.chinacloudapi.cn"),
];

/// Which login and Graph URLs a deployment accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CloudPolicy {
    /// Only Microsoft's clouds ([`MICROSOFT_CLOUDS`]), over https on the
    /// default port. The default.
    #[default]
    MicrosoftOnly,
    /// Any host (`TAC_ALLOW_CUSTOM_CLOUD`): for the emulator and tests.
    AnyHost,
}

impl CloudPolicy {
    /// `AnyHost` when `allow_custom` is set.
    pub fn from_opt_in(allow_custom: bool) -> Self {
        if allow_custom { CloudPolicy::AnyHost } else { CloudPolicy::MicrosoftOnly }
    }

    /// Checks a login URL and a Graph URL against the policy, each on its
    /// own so that a form can say which one is wrong.
    pub fn check_login_url(self, login_url: &str) -> Result<(), GraphError> {
        self.check(login_url, "login URL", |h| MICROSOFT_CLOUDS.iter().any(|(login, _)| *login == h))
    }

    pub fn check_graph_url(self, graph_url: &str) -> Result<(), GraphError> {
        self.check(graph_url, "Graph URL", |h| MICROSOFT_CLOUDS.iter().any(|(_, graph)| *graph == h))
    }

    /// Checks both URLs of `cloud`.
    pub fn check_cloud(self, cloud: &Cloud) -> Result<(), GraphError> {
        self.check_login_url(cloud.login.as_str())?;
        self.check_graph_url(cloud.graph.as_str())
    }

    fn check(self, raw: &str, what: &str, microsoft: impl Fn(&str) -> bool) -> Result<(), GraphError> {
        let url = checked(raw, what)?;
        if self == CloudPolicy::AnyHost {
            return Ok(());
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        if url.scheme() == "https" && url.port().is_none() && microsoft(&host) {
            return Ok(());
        }
        Err(GraphError::Config(format!(
            "the {what} {raw:?} is not one of Microsoft's clouds (public, US Government L4 and L5, China): \
             leave it empty for the public cloud. Another host needs TAC_ALLOW_CUSTOM_CLOUD=true on the server."
        )))
    }
}

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
    fn only_microsofts_clouds_are_accepted_unless_the_deployment_opts_in() {
        let strict = CloudPolicy::default();
        for (login, graph) in [
            (PUBLIC_LOGIN_URL, PUBLIC_GRAPH_URL),
            ("https://login.microsoftonline.us", "https://graph.microsoft.us/v1.0"),
            ("https://login.microsoftonline.us", "https://dod-graph.microsoft.us/v1.0"),
            ("https://LOGIN.chinacloudapi.cn/", "https://microsoftgraph.chinacloudapi.cn/v1.0"),
        ] {
            assert!(strict.check_cloud(&Cloud::new(login, graph).unwrap()).is_ok(), "{login} {graph}");
        }
        for bad in [
            "https://login.microsoftonline.com.evil.example",
            "https://evil.example",
            "https://login.microsoftonline.com:8443",
            "http://127.0.0.1:5880",
            "https://microsoftonline.com",
        ] {
            let err = strict.check_login_url(bad).unwrap_err();
            assert!(err.to_string().contains("TAC_ALLOW_CUSTOM_CLOUD"), "{bad}: {err}");
        }
        assert!(strict.check_graph_url("https://graph.microsoft.com.evil.example/v1.0").is_err());
        assert!(strict.check_graph_url(PUBLIC_LOGIN_URL).is_err(), "a login host is no Graph host");
        let open = CloudPolicy::from_opt_in(true);
        assert!(open.check_cloud(&Cloud::new("http://127.0.0.1:5880", "http://127.0.0.1:5880/v1.0").unwrap()).is_ok());
        assert!(open.check_login_url("http://evil.example").is_err(), "still https off loopback");
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
