use crate::both_backends;
use crate::common::TestDb;
use tac_core::records::{DirectoryGroup, DirectoryUser, TenantDomain};

both_backends!(directory_replace_is_idempotent, directories_of_workspaces_are_separate);

fn user(id: &str, name: &str, mail: Option<&str>) -> DirectoryUser {
    DirectoryUser {
        id: id.to_owned(),
        display_name: name.to_owned(),
        user_principal_name: format!("{id}@contoso.onmicrosoft.com"),
        mail: mail.map(str::to_owned),
        proxy_addresses: mail
            .map(|m| vec![format!("SMTP:{m}"), format!("X500:/o=ExchangeLabs/cn=Recipients/cn={id}")])
            .unwrap_or_default(),
        account_enabled: true,
    }
}

fn group(id: &str, name: &str) -> DirectoryGroup {
    DirectoryGroup { id: id.to_owned(), display_name: name.to_owned(), mail: Some(format!("{id}@contoso.com")) }
}

fn domain(name: &str, is_default: bool, is_initial: bool) -> TenantDomain {
    TenantDomain { name: name.to_owned(), is_default, is_initial }
}

fn pair(group: &str, user: &str) -> (String, String) {
    (group.to_owned(), user.to_owned())
}

async fn directory_replace_is_idempotent(db: TestDb) {
    let store = &db.store;
    let ws = store.ensure_workspace("default").await.unwrap();
    let users = vec![
        user("u-ann", "Ann Lee", Some("ann@contoso.com")),
        user("u-bob", "Bob Roe", Some("bob@contoso.com")),
        DirectoryUser { account_enabled: false, ..user("u-cy", "Cy Disabled", None) },
    ];
    let groups = vec![group("g-sales", "Sales"), group("g-exec", "Executives")];
    let members =
        vec![pair("g-sales", "u-ann"), pair("g-sales", "u-bob"), pair("g-exec", "u-ann"), pair("g-exec", "device-1")];
    let domains = vec![domain("contoso.com", true, false), domain("contoso.onmicrosoft.com", false, true)];

    for _ in 0..2 {
        store.replace_directory(ws, &users, &groups, &members, &domains).await.unwrap();
        let stored = store.directory_users(ws).await.unwrap();
        assert_eq!(stored, users, "users round-trip, ordered by display name");
        assert_eq!(store.directory_groups(ws).await.unwrap(), vec![groups[1].clone(), groups[0].clone()]);
        assert_eq!(store.tenant_domains(ws).await.unwrap(), domains);
        let sales: Vec<String> = store.group_members(ws, "g-sales").await.unwrap().into_iter().map(|u| u.id).collect();
        assert_eq!(sales, ["u-ann", "u-bob"]);
        let exec: Vec<String> = store.group_members(ws, "g-exec").await.unwrap().into_iter().map(|u| u.id).collect();
        assert_eq!(exec, ["u-ann"], "members that are not stored users are left out");
    }

    // A smaller directory replaces the larger one entirely.
    let users = vec![user("u-bob", "Robert Roe", Some("robert@contoso.com"))];
    store.replace_directory(ws, &users, &groups[..1], &[pair("g-sales", "u-bob")], &domains[..1]).await.unwrap();
    assert_eq!(store.directory_users(ws).await.unwrap(), users);
    assert_eq!(store.directory_groups(ws).await.unwrap(), groups[..1]);
    assert_eq!(store.tenant_domains(ws).await.unwrap(), domains[..1]);
    assert!(store.group_members(ws, "g-exec").await.unwrap().is_empty());
    assert_eq!(store.group_members(ws, "g-sales").await.unwrap(), users);
}

async fn directories_of_workspaces_are_separate(db: TestDb) {
    let store = &db.store;
    let one = store.ensure_workspace("one").await.unwrap();
    let two = store.ensure_workspace("two").await.unwrap();
    assert_ne!(one, two);
    assert_eq!(store.ensure_workspace("one").await.unwrap(), one, "ensure_workspace is idempotent");
    store.replace_directory(one, &[user("u-ann", "Ann", None)], &[], &[], &[]).await.unwrap();
    store.replace_directory(two, &[user("u-ann", "Ann Two", None)], &[], &[], &[]).await.unwrap();
    store.replace_directory(two, &[], &[], &[], &[]).await.unwrap();
    assert_eq!(store.directory_users(one).await.unwrap().len(), 1);
    assert!(store.directory_users(two).await.unwrap().is_empty());
}
