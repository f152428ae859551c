//! The synthetic organisation: tenant, verified domains, users, groups, and the
//! outside world they talk to (customer companies, newsletters, no-reply senders).
//!
//! The directory is small enough to build eagerly even for a large tenant; the
//! mail and calendars hanging off it are generated lazily in `corpus`.

use crate::config::OrgSize;
use crate::rng::{Rng, guid, hash};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

const TENANT_NAMES: &[&str] =
    &["Contoso", "Fabrikam", "Northwind", "Tailspin", "Litware", "Adatum", "Woodgrove", "Proseware"];

const FIRST_NAMES: &[&str] = &[
    "Adele",
    "Alex",
    "Allan",
    "Diego",
    "Grady",
    "Henrietta",
    "Isaiah",
    "Johanna",
    "Joni",
    "Lee",
    "Lidia",
    "Lynne",
    "Megan",
    "Miriam",
    "Nestor",
    "Patti",
    "Pradeep",
    "Zoë",
    "Łukasz",
    "Søren",
    "Amara",
    "Hiroshi",
    "Priya",
    "Mateo",
    "Chloé",
    "Oluwaseun",
    "Ingrid",
    "Rafael",
    "Mei",
    "Yusuf",
];

const LAST_NAMES: &[&str] = &[
    "Vance",
    "Wilber",
    "Deyoung",
    "Soto",
    "Archie",
    "Cerrato",
    "Lambert",
    "Lauer",
    "Sherman",
    "Gu",
    "Holloway",
    "Robbins",
    "Bowen",
    "Hunter",
    "Wilke",
    "Fernandez",
    "Gupta",
    "Müller",
    "O'Brien",
    "Nakamura",
    "Okafor",
    "Dubois",
    "Kowalski",
    "Andersen",
    "García",
    "Chen",
];

const COMPANY_NAMES: &[&str] = &[
    "Blue Yonder Airlines",
    "Coho Winery",
    "Fourth Coffee",
    "Graphic Design Institute",
    "Humongous Insurance",
    "Lucerne Publishing",
    "Margie's Travel",
    "Trey Research",
    "Wide World Importers",
    "Wingtip Toys",
    "Alpine Ski House",
    "Bellows College",
    "City Power & Light",
    "Consolidated Messenger",
    "Relecloud",
    "VanArsdel",
    "Southridge Video",
    "The Phone Company",
    "Lamna Healthcare",
    "Munson's Pickles",
];

const TIME_ZONES: &[&str] = &[
    "Pacific Standard Time",
    "Eastern Standard Time",
    "GMT Standard Time",
    "W. Europe Standard Time",
    "India Standard Time",
    "AUS Eastern Standard Time",
    "Tokyo Standard Time",
    "Central Standard Time",
];

const DEPARTMENTS: &[&str] = &["Sales", "Support", "Engineering", "Marketing", "Finance", "Operations"];

const FREE_MAIL: &[&str] = &["gmail.com", "outlook.com", "yahoo.com"];

/// People per team. Colleagues copy each other on mail within a team, which is
/// what makes one message land in several mailboxes.
pub const TEAM_SIZE: usize = 5;

/// A verified domain of the tenant, as `/organization` lists it.
#[derive(Debug, Clone)]
pub struct Domain {
    pub name: String,
    pub is_default: bool,
    pub is_initial: bool,
}

/// A directory user.
#[derive(Debug, Clone)]
pub struct User {
    pub index: usize,
    pub id: String,
    pub display_name: String,
    pub given_name: String,
    pub surname: String,
    pub user_principal_name: String,
    /// `None` for accounts without an Exchange licence.
    pub mail: Option<String>,
    /// `SMTP:` (primary), `smtp:` (aliases) and `X500:` entries, as Entra stores them.
    pub proxy_addresses: Vec<String>,
    /// The Exchange legacyExchangeDN; internal mail is sometimes addressed with it.
    pub legacy_dn: String,
    pub has_mailbox: bool,
    pub account_enabled: bool,
    pub job_title: String,
    pub department: &'static str,
    pub office_location: String,
    /// The Windows time zone of the user's mailbox.
    pub time_zone: &'static str,
    pub team: usize,
}

impl User {
    /// The address the user sends from: `mail`, or the UPN for unlicensed users.
    pub fn address(&self) -> &str {
        self.mail.as_deref().unwrap_or(&self.user_principal_name)
    }

    /// Every SMTP address that reaches this user, primary first.
    pub fn smtp_addresses(&self) -> impl Iterator<Item = &str> {
        self.proxy_addresses.iter().filter_map(|p| p.strip_prefix("SMTP:").or_else(|| p.strip_prefix("smtp:")))
    }
}

/// A group with its member user indices.
#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub display_name: String,
    pub description: String,
    pub mail_nickname: String,
    pub mail: Option<String>,
    pub mail_enabled: bool,
    pub security_enabled: bool,
    pub unified: bool,
    pub members: Vec<usize>,
}

/// A built-in Entra role: template id (the same in every tenant), name and
/// description, as Microsoft lists them in "Microsoft Entra built-in roles".
pub struct RoleTemplate {
    pub template_id: &'static str,
    pub display_name: &'static str,
    pub description: &'static str,
}

/// The built-in roles the emulator knows. The first five are activated in
/// every tenant it builds; the others become activated when the admin API
/// assigns someone to them, as the Entra admin center does.
pub const ROLE_TEMPLATES: &[RoleTemplate] = &[
    RoleTemplate {
        template_id: "62e90394-69f5-4237-9190-012177145e10",
        display_name: "Global Administrator",
        description: "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra \
                      identities.",
    },
    RoleTemplate {
        template_id: "fe930be7-5e62-47db-91af-98c3a49a38b1",
        display_name: "User Administrator",
        description: "Can manage all aspects of users and groups, including resetting passwords for limited admins.",
    },
    RoleTemplate {
        template_id: "29232cdf-9323-42fd-ade2-1d097af3e4de",
        display_name: "Exchange Administrator",
        description: "Can manage all aspects of the Exchange product.",
    },
    RoleTemplate {
        template_id: "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
        display_name: "Global Reader",
        description: "Can read everything that a Global Administrator can, but not update anything.",
    },
    RoleTemplate {
        template_id: "88d8e3e3-8f55-4a1e-953a-9b9898b8876b",
        display_name: "Directory Readers",
        description: "Can read basic directory information. Commonly used to grant directory read access to \
                      applications and guests.",
    },
    RoleTemplate {
        template_id: "194ae4cb-b126-40b2-bd5b-6091b380977d",
        display_name: "Security Administrator",
        description: "Can read security information and reports, and manage configuration in Microsoft Entra ID \
                      and Office 365.",
    },
    RoleTemplate {
        template_id: "e8611ab8-c189-46e8-94e1-60213ab1f814",
        display_name: "Privileged Role Administrator",
        description: "Can manage role assignments in Microsoft Entra ID, and all aspects of Privileged Identity \
                      Management.",
    },
];

/// How many of [`ROLE_TEMPLATES`] a new tenant has activated.
const ACTIVATED_ROLES: usize = 5;

/// Who holds a directory role: a user (by index) or an app's service
/// principal. Graph lists both among a role's members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleMember {
    User(usize),
    /// A role-assignable group (by index in `groups`): its members hold the role.
    Group(usize),
    ServicePrincipal {
        id: String,
        app_id: String,
        display_name: String,
    },
}

/// An activated directory role (`/directoryRoles`): its own object id in
/// this tenant, the template it comes from, and its members.
#[derive(Debug, Clone)]
pub struct DirectoryRole {
    pub id: String,
    pub template: usize,
    pub members: Vec<RoleMember>,
}

impl DirectoryRole {
    pub fn template(&self) -> &'static RoleTemplate {
        &ROLE_TEMPLATES[self.template]
    }
}

/// A person outside the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub address: String,
}

/// A customer or partner company and its people.
#[derive(Debug, Clone)]
pub struct Company {
    pub name: String,
    pub domain: String,
    pub time_zone: &'static str,
    pub people: Vec<Person>,
}

/// The whole directory plus the outside world.
#[derive(Debug, Clone)]
pub struct Organization {
    pub seed: u64,
    pub tenant_id: String,
    pub display_name: String,
    pub domains: Vec<Domain>,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub companies: Vec<Company>,
    /// Senders of bulk mail (newsletters, marketing); some use subdomains.
    pub newsletters: Vec<Person>,
    /// Automated senders (`no-reply@…`, `notifications@…`).
    pub no_reply: Vec<Person>,
    /// Private people writing from free-mail domains.
    pub free_mail_people: Vec<Person>,
    /// The activated directory roles. The admin API changes who holds them.
    roles: Arc<RwLock<Vec<DirectoryRole>>>,
    /// How many of `users` are in the directory now. The rest are a team of
    /// future hires that the admin API brings in one by one, mailbox history
    /// and all, to test a sync meeting a new user.
    active: Arc<AtomicUsize>,
}

impl Organization {
    /// Builds the organisation for `seed` and `size`. Same inputs, same organisation.
    pub fn generate(seed: u64, size: &OrgSize) -> Self {
        let mut rng = Rng::new(seed, &[0x0e6]);
        let base = *rng.pick(TENANT_NAMES);
        let slug = base.to_lowercase();
        let tenant_id = guid(seed, &[0x7e1a]);
        let default_domain = format!("{slug}.com");
        let alias_domain = format!("{slug}-group.co.uk");
        let initial_domain = format!("{slug}{:04}.onmicrosoft.com", hash(seed, &[5]) % 10_000);
        let domains = vec![
            Domain { name: default_domain.clone(), is_default: true, is_initial: false },
            Domain { name: alias_domain.clone(), is_default: false, is_initial: false },
            Domain { name: initial_domain.clone(), is_default: false, is_initial: true },
        ];

        let user_count = size.users() + TEAM_SIZE;
        let mut users = Vec::with_capacity(user_count);
        let mut taken = std::collections::HashSet::new();
        for index in 0..user_count {
            let mut r = Rng::new(seed, &[0x05e2, index as u64]);
            let given = (*r.pick(FIRST_NAMES)).to_string();
            let surname = (*r.pick(LAST_NAMES)).to_string();
            let local_base = format!("{}.{}", ascii_fold(&given), ascii_fold(&surname));
            let mut local = local_base.clone();
            let mut n = 2;
            while !taken.insert(local.clone()) {
                local = format!("{local_base}{n}");
                n += 1;
            }
            let team = index / TEAM_SIZE;
            // Every 9th person (from the 4th) has no Exchange licence, and every
            // 13th (from the 6th) has left the company: disabled, mailbox kept.
            let has_mailbox = index % 9 != 3;
            let account_enabled = index % 13 != 5;
            let upn = format!("{local}@{default_domain}");
            let mail = has_mailbox.then(|| upn.clone());
            let legacy_dn = format!(
                "/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn={:032x}-{}",
                hash(seed, &[0x1e9, index as u64]) as u128 * 0x1_0000_0001,
                local.replace('.', "")
            );
            let mut proxy_addresses = Vec::new();
            if has_mailbox {
                proxy_addresses.push(format!("SMTP:{upn}"));
                proxy_addresses.push(format!("smtp:{local}@{alias_domain}"));
                if index % 4 == 0 {
                    // Someone who changed their name keeps the old address as an alias.
                    proxy_addresses.push(format!("smtp:{}@{default_domain}", ascii_fold(&given)));
                }
                proxy_addresses.push(format!("smtp:{local}@{initial_domain}"));
                proxy_addresses.push(format!("X500:{legacy_dn}"));
            }
            let department = DEPARTMENTS[team % DEPARTMENTS.len()];
            let job_title = match index % TEAM_SIZE {
                0 => format!("{department} Lead"),
                1 => format!("Senior {department} Specialist"),
                _ => format!("{department} Specialist"),
            };
            users.push(User {
                index,
                id: guid(seed, &[0x05e2, index as u64]),
                display_name: format!("{given} {surname}"),
                given_name: given,
                surname,
                user_principal_name: upn,
                mail,
                proxy_addresses,
                legacy_dn,
                has_mailbox,
                account_enabled,
                job_title,
                department,
                office_location: format!("{}/{}", 10 + team % 30, 1000 + index),
                // Colleagues sit in different offices, so meetings span time zones.
                time_zone: TIME_ZONES[(team + index % 3) % TIME_ZONES.len()],
                team,
            });
        }

        let mut groups = Vec::new();
        for (d, dept) in DEPARTMENTS.iter().enumerate() {
            let members: Vec<usize> =
                users.iter().filter(|u| u.team % DEPARTMENTS.len() == d).map(|u| u.index).collect();
            if members.is_empty() {
                continue;
            }
            let nick = dept.to_lowercase();
            groups.push(Group {
                id: guid(seed, &[0x6e0, d as u64]),
                display_name: (*dept).to_string(),
                description: format!("Everyone in {dept}"),
                mail: Some(format!("{nick}@{default_domain}")),
                mail_nickname: nick,
                mail_enabled: true,
                security_enabled: false,
                unified: true,
                members,
            });
        }
        groups.push(Group {
            id: guid(seed, &[0x6e0, 100]),
            display_name: "All Company".into(),
            description: "Everyone at the company".into(),
            mail_nickname: "allcompany".into(),
            mail: Some(format!("allcompany@{default_domain}")),
            mail_enabled: true,
            security_enabled: false,
            unified: true,
            members: users.iter().filter(|u| u.account_enabled).map(|u| u.index).collect(),
        });
        groups.push(Group {
            id: guid(seed, &[0x6e0, 101]),
            display_name: "Team Leads".into(),
            description: "Security group of team leads".into(),
            mail_nickname: "teamleads".into(),
            mail: None,
            mail_enabled: false,
            security_enabled: true,
            unified: false,
            members: users.iter().filter(|u| u.index % TEAM_SIZE == 0).map(|u| u.index).collect(),
        });

        let company_count = size.companies();
        let mut companies = Vec::with_capacity(company_count);
        for c in 0..company_count {
            let name = if c < COMPANY_NAMES.len() {
                COMPANY_NAMES[c].to_string()
            } else {
                format!("{} {}", COMPANY_NAMES[c % COMPANY_NAMES.len()], c / COMPANY_NAMES.len() + 1)
            };
            let stem: String = name.to_lowercase().chars().filter(|ch| ch.is_ascii_alphanumeric()).collect();
            // A few customers write from a regional subdomain.
            let domain = if c % 7 == 3 { format!("eu.{stem}.com") } else { format!("{stem}.com") };
            let mut r = Rng::new(seed, &[0xc0, c as u64]);
            let people = (0..4)
                .map(|p| {
                    let given = *r.pick(FIRST_NAMES);
                    let surname = *r.pick(LAST_NAMES);
                    let local = match p % 3 {
                        0 => format!("{}.{}", ascii_fold(given), ascii_fold(surname)),
                        1 => format!("{}{}", &ascii_fold(given)[..1], ascii_fold(surname)),
                        _ => ascii_fold(given),
                    };
                    Person { name: format!("{given} {surname}"), address: format!("{local}@{domain}") }
                })
                .collect();
            companies.push(Company {
                name,
                domain,
                time_zone: TIME_ZONES[r.below(TIME_ZONES.len() as u64) as usize],
                people,
            });
        }

        let newsletters = vec![
            Person { name: "Fabrikam Weekly".into(), address: "news@news.fabrikam-weekly.com".into() },
            Person { name: "Industry Digest".into(), address: "digest@mail.industrydigest.net".into() },
            Person { name: "Webinar Team".into(), address: "events@marketing.relecloud.com".into() },
        ];
        let no_reply = vec![
            Person { name: "Microsoft 365".into(), address: "no-reply@microsoft.com".into() },
            Person { name: "Expense Bot".into(), address: "noreply@expensify-demo.com".into() },
            Person { name: "Calendar Notifications".into(), address: "notifications@calendly-demo.com".into() },
            Person { name: "MAILER-DAEMON".into(), address: "postmaster@outlook.com".into() },
        ];
        let free_mail_people = (0..6)
            .map(|p| {
                let mut r = Rng::new(seed, &[0xf7ee, p]);
                let given = *r.pick(FIRST_NAMES);
                let surname = *r.pick(LAST_NAMES);
                Person {
                    name: format!("{given} {surname}"),
                    address: format!(
                        "{}.{}{}@{}",
                        ascii_fold(given),
                        ascii_fold(surname),
                        r.below(90) + 10,
                        FREE_MAIL[p as usize % FREE_MAIL.len()]
                    ),
                }
            })
            .collect();

        // The first user is the Global Administrator, the next two hold an
        // admin role each, Global Reader has nobody, and Directory Readers is
        // held by an app, not a person.
        let roles = (0..ACTIVATED_ROLES)
            .map(|t| DirectoryRole {
                id: guid(seed, &[0xd1e, t as u64]),
                template: t,
                members: match t {
                    0..=2 => vec![RoleMember::User(t)],
                    4 => vec![RoleMember::ServicePrincipal {
                        id: guid(seed, &[0x5e7, 1]),
                        app_id: guid(seed, &[0x5e7, 2]),
                        display_name: "Directory Audit Tool".into(),
                    }],
                    _ => Vec::new(),
                },
            })
            .collect();

        Organization {
            seed,
            tenant_id,
            display_name: format!("{base} Ltd"),
            domains,
            users,
            groups,
            companies,
            newsletters,
            no_reply,
            free_mail_people,
            roles: Arc::new(RwLock::new(roles)),
            active: Arc::new(AtomicUsize::new(size.users())),
        }
    }

    /// The users in the directory now (future hires excluded).
    pub fn active_users(&self) -> &[User] {
        &self.users[..self.active.load(Ordering::Acquire).min(self.users.len())]
    }

    /// Whether the user at `index` is in the directory now.
    pub fn is_active(&self, index: usize) -> bool {
        index < self.active.load(Ordering::Acquire)
    }

    /// Brings the next future hire into the directory.
    pub fn hire(&self) -> Option<&User> {
        let next = self
            .active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.users.len()).then_some(n + 1))
            .ok()?;
        self.users.get(next)
    }

    /// The activated directory roles, in activation order.
    pub fn roles(&self) -> RwLockReadGuard<'_, Vec<DirectoryRole>> {
        self.roles.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes `users` and `groups` the holders of the built-in role
    /// `template_id` (apps that hold it keep it), activating the role first
    /// if needed. `None` when the emulator does not know the template.
    pub fn assign_role(&self, template_id: &str, users: &[usize], groups: &[usize]) -> Option<DirectoryRole> {
        let template = ROLE_TEMPLATES.iter().position(|t| t.template_id.eq_ignore_ascii_case(template_id))?;
        let mut roles = self.roles.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let at = match roles.iter().position(|r| r.template == template) {
            Some(at) => at,
            None => {
                roles.push(DirectoryRole {
                    id: guid(self.seed, &[0xd1e, template as u64]),
                    template,
                    members: Vec::new(),
                });
                roles.len() - 1
            }
        };
        let role = &mut roles[at];
        role.members.retain(|m| matches!(m, RoleMember::ServicePrincipal { .. }));
        role.members.extend(users.iter().map(|&u| RoleMember::User(u)));
        role.members.extend(groups.iter().map(|&g| RoleMember::Group(g)));
        Some(role.clone())
    }

    /// The default verified domain (`contoso.com`).
    pub fn default_domain(&self) -> &str {
        &self.domains[0].name
    }

    /// Finds a user by object id or by UPN (case-insensitive), as Graph does.
    pub fn find_user(&self, id_or_upn: &str) -> Option<&User> {
        self.active_users()
            .iter()
            .find(|u| u.id.eq_ignore_ascii_case(id_or_upn) || u.user_principal_name.eq_ignore_ascii_case(id_or_upn))
    }

    /// Whether `tenant` (a GUID or a domain name) names this tenant.
    pub fn is_tenant(&self, tenant: &str) -> bool {
        self.tenant_id.eq_ignore_ascii_case(tenant) || self.domains.iter().any(|d| d.name.eq_ignore_ascii_case(tenant))
    }

    /// The colleagues of `user` (their team, including them), in index order.
    pub fn team_of(&self, user: usize) -> std::ops::Range<usize> {
        let start = (user / TEAM_SIZE) * TEAM_SIZE;
        start..(start + TEAM_SIZE).min(self.users.len())
    }
}

/// Lowercase ASCII for building mail addresses from names such as "Zoë Müller".
pub fn ascii_fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        let mapped = match ch {
            'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' => "a",
            'ç' => "c",
            'è' | 'é' | 'ê' | 'ë' => "e",
            'ì' | 'í' | 'î' | 'ï' => "i",
            'ñ' => "n",
            'ò' | 'ó' | 'ô' | 'ö' | 'õ' | 'ø' => "o",
            'ù' | 'ú' | 'û' | 'ü' => "u",
            'ł' | 'Ł' => "l",
            'ß' => "ss",
            c if c.is_ascii_alphanumeric() => {
                out.push(c.to_ascii_lowercase());
                continue;
            }
            _ => "",
        };
        out.push_str(mapped);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_builds_the_same_directory() {
        let a = Organization::generate(42, &OrgSize::Small);
        let b = Organization::generate(42, &OrgSize::Small);
        let ids = |o: &Organization| o.users.iter().map(|u| u.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b));
        assert_eq!(a.tenant_id, b.tenant_id);
        assert_ne!(a.tenant_id, Organization::generate(43, &OrgSize::Small).tenant_id);
    }

    #[test]
    fn the_small_organisation_has_the_awkward_cases() {
        let org = Organization::generate(42, &OrgSize::Small);
        assert_eq!(org.active_users().len(), 20);
        assert!(org.users.iter().filter(|u| !u.has_mailbox).count() >= 2);
        assert!(org.users.iter().any(|u| !u.account_enabled));
        assert!(org.groups.iter().any(|g| g.display_name == "Sales"));
        assert!(org.groups.iter().any(|g| g.display_name == "Support"));
        let upns: std::collections::HashSet<_> = org.users.iter().map(|u| u.user_principal_name.clone()).collect();
        assert_eq!(upns.len(), org.users.len(), "UPNs are unique");
        assert!(org.users.iter().all(|u| u.user_principal_name.is_ascii()));
    }

    #[test]
    fn future_hires_join_the_directory_one_by_one() {
        let org = Organization::generate(42, &OrgSize::Small);
        let first = org.users[20].user_principal_name.clone();
        assert!(org.find_user(&first).is_none());
        assert_eq!(org.hire().map(|u| u.user_principal_name.clone()), Some(first.clone()));
        assert!(org.find_user(&first).is_some());
        for _ in 1..TEAM_SIZE {
            assert!(org.hire().is_some());
        }
        assert!(org.hire().is_none(), "the team of future hires is finite");
    }

    #[test]
    fn ascii_fold_strips_accents_and_punctuation() {
        assert_eq!(ascii_fold("Zoë"), "zoe");
        assert_eq!(ascii_fold("Łukasz"), "lukasz");
        assert_eq!(ascii_fold("O'Brien"), "obrien");
        assert_eq!(ascii_fold("Müller"), "muller");
    }
}
