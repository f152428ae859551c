use crate::both_backends;
use crate::common::{TestDb, at, two_workspaces};
use chrono::Duration;
use tac_core::records::{DirectoryGroup, DirectoryRole, DirectoryUser, GLOBAL_ADMINISTRATOR_TEMPLATE};
use tac_store::{NewMicrosoftUser, NewPortalUser, Role, StoreError, WorkspaceId};

both_backends!(
    microsoft_users_are_found_by_tenant_and_object_id_within_their_workspace,
    provisioning_creates_a_member_once_and_never_takes_over_an_email,
    an_explicit_link_keeps_the_role_and_one_account_links_to_one_user,
    profiles_follow_the_claims_unless_the_email_is_taken,
    sign_ins_under_way_are_used_once_bound_to_a_browser_and_expire,
    the_sign_in_group_is_a_workspace_setting_checked_against_synced_members,
    chosen_entra_roles_promote_their_holders_and_demote_only_admins_they_made,
    unlinking_keeps_a_password_account_and_takes_an_entra_admin_role_with_it,
);

const TID: &str = "9122040d-6c67-4c5b-b112-36a304b66dad";
const OID: &str = "00000000-0000-0000-66f3-3332eca7ea81";

fn microsoft(email: &str) -> NewMicrosoftUser {
    NewMicrosoftUser {
        tenant_id: TID.to_owned(),
        object_id: OID.to_owned(),
        email: email.to_owned(),
        display_name: "Abe Lincoln".to_owned(),
    }
}

async fn microsoft_users_are_found_by_tenant_and_object_id_within_their_workspace(db: TestDb) {
    let store = &db.store;
    let (ws, other) = two_workspaces(store).await;
    assert!(store.portal_user_by_microsoft_id(ws, TID, OID).await.unwrap().is_none());
    let user = store.provision_microsoft_user(ws, &microsoft("AbeLi@Contoso.com")).await.unwrap();
    assert_eq!(user.role, Role::Member);
    assert_eq!(user.email, "abeli@contoso.com");
    assert_eq!(user.display_name, "Abe Lincoln");
    assert!(user.password_hash.is_none(), "Microsoft-only users have no password");
    assert_eq!(user.oidc_tenant_id.as_deref(), Some(TID));
    assert_eq!(user.oidc_object_id.as_deref(), Some(OID));

    let found = store.portal_user_by_microsoft_id(ws, &TID.to_uppercase(), OID).await.unwrap().expect("found");
    assert_eq!(found.id, user.id, "ids are GUIDs, compared without case");
    // The same object id in another tenant is another person.
    assert!(
        store.portal_user_by_microsoft_id(ws, "11111111-1111-1111-1111-111111111111", OID).await.unwrap().is_none()
    );
    // Another workspace sees nothing.
    assert!(store.portal_user_by_microsoft_id(other, TID, OID).await.unwrap().is_none());
}

async fn provisioning_creates_a_member_once_and_never_takes_over_an_email(db: TestDb) {
    let store = &db.store;
    let (ws, other) = two_workspaces(store).await;
    let first = store.provision_microsoft_user(ws, &microsoft("abeli@contoso.com")).await.unwrap();
    let again = store.provision_microsoft_user(ws, &microsoft("abeli@contoso.com")).await.unwrap();
    assert_eq!(first.id, again.id, "the same person gets the same row");

    // A local account with the email of a new Microsoft user stays theirs.
    let local = NewPortalUser {
        email: "root@contoso.com".to_owned(),
        display_name: "Root".to_owned(),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
        role: Role::Admin,
    };
    let admin = store.create_portal_user(ws, &local).await.unwrap();
    let stranger = NewMicrosoftUser {
        object_id: "22222222-2222-2222-2222-222222222222".to_owned(),
        ..microsoft("Root@contoso.com")
    };
    let err = store.provision_microsoft_user(ws, &stranger).await.unwrap_err();
    assert!(matches!(&err, StoreError::UserExists { email } if email == "root@contoso.com"), "{err:?}");
    let admin_row = store.portal_user(ws, admin).await.unwrap().unwrap();
    assert!(admin_row.oidc_object_id.is_none(), "never linked by email");
    assert_eq!(admin_row.role, Role::Admin);

    // Another workspace provisions its own row.
    let elsewhere = store.provision_microsoft_user(other, &microsoft("abeli@contoso.com")).await.unwrap();
    assert_ne!(elsewhere.id, first.id);
    // Ids and email are required.
    let err = store
        .provision_microsoft_user(ws, &NewMicrosoftUser { object_id: " ".to_owned(), ..microsoft("x@contoso.com") })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err:?}");
    let err = store.provision_microsoft_user(ws, &microsoft("  ")).await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err:?}");
}

async fn an_explicit_link_keeps_the_role_and_one_account_links_to_one_user(db: TestDb) {
    let store = &db.store;
    let (ws, other) = two_workspaces(store).await;
    let local = NewPortalUser {
        email: "root@contoso.com".to_owned(),
        display_name: "Root".to_owned(),
        password_hash: None,
        role: Role::Admin,
    };
    let admin = store.create_portal_user(ws, &local).await.unwrap();
    store.link_microsoft_account(ws, admin, TID, OID).await.unwrap();
    let found = store.portal_user_by_microsoft_id(ws, TID, OID).await.unwrap().expect("linked");
    assert_eq!((found.id, found.role), (admin, Role::Admin));
    assert_eq!(store.provision_microsoft_user(ws, &microsoft("abeli@contoso.com")).await.unwrap().id, admin);

    let second = store
        .create_portal_user(ws, &NewPortalUser { email: "b@contoso.com".to_owned(), ..local.clone() })
        .await
        .unwrap();
    let err = store.link_microsoft_account(ws, second, TID, OID).await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err:?}");
    let err = store.link_microsoft_account(other, admin, TID, OID).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "another workspace's user: {err:?}");
}

async fn profiles_follow_the_claims_unless_the_email_is_taken(db: TestDb) {
    let store = &db.store;
    let (ws, other) = two_workspaces(store).await;
    let user = store.provision_microsoft_user(ws, &microsoft("abeli@contoso.com")).await.unwrap();
    store.update_microsoft_profile(ws, user.id, "Abraham@Contoso.com", "Abraham Lincoln").await.unwrap();
    let row = store.portal_user(ws, user.id).await.unwrap().unwrap();
    assert_eq!((row.email.as_str(), row.display_name.as_str()), ("abraham@contoso.com", "Abraham Lincoln"));

    let taken = NewPortalUser {
        email: "taken@contoso.com".to_owned(),
        display_name: String::new(),
        password_hash: None,
        role: Role::Member,
    };
    store.create_portal_user(ws, &taken).await.unwrap();
    let err = store.update_microsoft_profile(ws, user.id, "taken@contoso.com", "Abe").await.unwrap_err();
    assert!(matches!(err, StoreError::UserExists { .. }), "{err:?}");
    let err = store.update_microsoft_profile(other, user.id, "abe@contoso.com", "Abe").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

async fn sign_ins_under_way_are_used_once_bound_to_a_browser_and_expire(db: TestDb) {
    let store = &db.store;
    let (ws, other) = two_workspaces(store).await;
    let now = at(10, 9);
    let later = now + Duration::minutes(10);
    let admin = store
        .create_portal_user(
            ws,
            &NewPortalUser {
                email: "root@contoso.com".to_owned(),
                display_name: String::new(),
                password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
                role: Role::Admin,
            },
        )
        .await
        .unwrap();
    store
        .create_oidc_login(ws, "state-1", "browser-1", "nonce-1", "verifier-1", "/contacts", None, now, later)
        .await
        .unwrap();
    store
        .create_oidc_login(ws, "state-2", "browser-1", "nonce-2", "verifier-2", "/", Some(admin), now, later)
        .await
        .unwrap();

    assert!(store.take_oidc_login(other, "state-1", now).await.unwrap().is_none(), "another workspace's");
    let login = store.take_oidc_login(ws, "state-1", now + Duration::minutes(1)).await.unwrap().expect("taken");
    assert_eq!(login.browser_hash, tac_store::token_hash("browser-1"), "the browser's value is kept as a hash");
    assert_eq!(
        (login.nonce.as_str(), login.code_verifier.as_str(), login.next_path.as_str()),
        ("nonce-1", "verifier-1", "/contacts")
    );
    assert!(!format!("{login:?}").contains("verifier-1"), "Debug hides the verifier");
    assert_eq!(login.link_user_id, None, "a sign-in, not a link");
    assert!(store.take_oidc_login(ws, "state-1", now).await.unwrap().is_none(), "used once");
    let link = store.take_oidc_login(ws, "state-2", now).await.unwrap().expect("taken");
    assert_eq!(link.link_user_id, Some(admin), "a link remembers who started it");
    store.create_oidc_login(ws, "state-2", "browser-1", "nonce-2", "verifier-2", "/", None, now, later).await.unwrap();

    // An expired one is refused, and gone.
    assert!(store.take_oidc_login(ws, "state-2", later).await.unwrap().is_none());
    store.create_oidc_login(ws, "state-3", "b", "n", "v", "/", None, now, later).await.unwrap();
    assert_eq!(store.delete_expired_oidc_logins(now).await.unwrap(), 0);
    assert_eq!(store.delete_expired_oidc_logins(later).await.unwrap(), 1);
    assert!(store.take_oidc_login(ws, "state-3", now).await.unwrap().is_none());
}

async fn the_sign_in_group_is_a_workspace_setting_checked_against_synced_members(db: TestDb) {
    let store = &db.store;
    let (ws, other) = two_workspaces(store).await;
    assert_eq!(store.sign_in_group(ws).await.unwrap(), None, "everyone by default");
    store.set_sign_in_group(ws, Some("AAAAAAAA-0000-0000-0000-000000000001")).await.unwrap();
    assert_eq!(store.sign_in_group(ws).await.unwrap().as_deref(), Some("aaaaaaaa-0000-0000-0000-000000000001"));
    assert_eq!(store.sign_in_group(other).await.unwrap(), None);
    store.set_sign_in_group(ws, None).await.unwrap();
    assert_eq!(store.sign_in_group(ws).await.unwrap(), None);

    let user = |id: &str, enabled: bool| DirectoryUser {
        id: id.to_owned(),
        display_name: id.to_owned(),
        user_principal_name: format!("{id}@contoso.com"),
        mail: None,
        proxy_addresses: Vec::new(),
        account_enabled: enabled,
    };
    let group = DirectoryGroup { id: "g-sales".to_owned(), display_name: "Sales".to_owned(), mail: None };
    store
        .replace_directory(
            ws,
            &[user("u-ann", true), user("u-cy", false)],
            &[group],
            &[("g-sales".to_owned(), "u-ann".to_owned())],
            &[],
        )
        .await
        .unwrap();
    assert!(store.is_group_member(ws, "G-SALES", "u-ann").await.unwrap());
    assert!(!store.is_group_member(ws, "g-sales", "u-cy").await.unwrap());
    assert!(!store.is_group_member(other, "g-sales", "u-ann").await.unwrap());
    assert!(!store.directory_user(ws, "U-CY").await.unwrap().expect("found in any case").account_enabled);
    assert!(store.directory_user(other, "u-ann").await.unwrap().is_none());
}

const USER_ADMINISTRATOR: &str = "fe930be7-5e62-47db-91af-98c3a49a38b1";

fn role(id: &str, template: &str, name: &str) -> DirectoryRole {
    DirectoryRole {
        id: id.to_owned(),
        role_template_id: template.to_owned(),
        display_name: name.to_owned(),
        description: String::new(),
    }
}

/// A linked member whose Microsoft object id is `oid`.
async fn linked_member(db: &TestDb, ws: WorkspaceId, email: &str, oid: &str) -> tac_store::PortalUserId {
    let new = NewPortalUser {
        email: email.to_owned(),
        display_name: String::new(),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
        role: Role::Member,
    };
    let id = db.store.create_portal_user(ws, &new).await.unwrap();
    db.store.link_microsoft_account(ws, id, TID, oid).await.unwrap();
    id
}

async fn chosen_entra_roles_promote_their_holders_and_demote_only_admins_they_made(db: TestDb) {
    let store = &db.store;
    let (ws, other) = two_workspaces(store).await;
    let roles = [
        role("R-GA", &GLOBAL_ADMINISTRATOR_TEMPLATE.to_uppercase(), "Global Administrator"),
        role("r-ua", USER_ADMINISTRATOR, "User Administrator"),
    ];
    let holders = [("R-GA".to_owned(), OID.to_uppercase()), ("r-ua".to_owned(), "oid-ua".to_owned())];
    store.replace_directory_roles(ws, &roles, &holders).await.unwrap();
    let stored = store.directory_roles(ws).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].role_template_id, GLOBAL_ADMINISTRATOR_TEMPLATE, "kept lowercase");
    assert_eq!(store.role_holders(ws, GLOBAL_ADMINISTRATOR_TEMPLATE).await.unwrap(), [OID]);
    let mut counts = store.role_holder_counts(ws).await.unwrap();
    counts.sort();
    assert_eq!(counts, [(GLOBAL_ADMINISTRATOR_TEMPLATE.to_owned(), 1), (USER_ADMINISTRATOR.to_owned(), 1)]);
    assert!(store.directory_roles(other).await.unwrap().is_empty(), "another workspace sees none");

    let ga = linked_member(&db, ws, "ga@contoso.com", OID).await;
    let ua = linked_member(&db, ws, "ua@contoso.com", "oid-ua").await;
    let local_admin = store
        .create_portal_user(
            ws,
            &NewPortalUser {
                email: "root@contoso.com".to_owned(),
                display_name: String::new(),
                password_hash: None,
                role: Role::Admin,
            },
        )
        .await
        .unwrap();
    store.link_microsoft_account(ws, local_admin, TID, "oid-root").await.unwrap();

    // No role chosen: nobody's role changes, and holding a role means nothing.
    assert_eq!(store.sign_in_admin_roles(ws).await.unwrap(), Vec::<String>::new(), "none by default");
    assert!(!store.holds_admin_role(ws, OID).await.unwrap());
    assert_eq!(store.reconcile_entra_admins(ws).await.unwrap(), Default::default());

    // Global Administrator chosen: its holder becomes an admin from Entra.
    let changes =
        store.set_sign_in_admin_roles(ws, &[GLOBAL_ADMINISTRATOR_TEMPLATE.to_uppercase()], "root@contoso.com").await;
    assert_eq!(changes.unwrap().promoted, ["ga@contoso.com"]);
    assert_eq!(store.sign_in_admin_roles(ws).await.unwrap(), [GLOBAL_ADMINISTRATOR_TEMPLATE]);
    assert!(store.holds_admin_role(ws, &OID.to_uppercase()).await.unwrap());
    assert!(!store.holds_admin_role(ws, "oid-ua").await.unwrap());
    assert!(!store.holds_admin_role(other, OID).await.unwrap());
    let user = store.portal_user(ws, ga).await.unwrap().unwrap();
    assert_eq!((user.role, user.admin_from_entra), (Role::Admin, true));
    assert_eq!(store.portal_user(ws, ua).await.unwrap().unwrap().role, Role::Member);
    assert_eq!(store.reconcile_entra_admins(ws).await.unwrap(), Default::default(), "idempotent");

    // The role goes in Entra: the admin it made is a member again; the
    // admin made in TAC, who never held it, stays one.
    store.replace_directory_roles(ws, &roles, &holders[1..]).await.unwrap();
    let changes = store.reconcile_entra_admins(ws).await.unwrap();
    assert_eq!((changes.promoted.len(), changes.demoted.as_slice()), (0, ["ga@contoso.com".to_owned()].as_slice()));
    let user = store.portal_user(ws, ga).await.unwrap().unwrap();
    assert_eq!((user.role, user.admin_from_entra), (Role::Member, false));
    assert_eq!(store.portal_user(ws, local_admin).await.unwrap().unwrap().role, Role::Admin);

    // Choosing no role demotes every admin from Entra at once.
    store.replace_directory_roles(ws, &roles, &holders).await.unwrap();
    store.reconcile_entra_admins(ws).await.unwrap();
    assert_eq!(store.portal_user(ws, ga).await.unwrap().unwrap().role, Role::Admin);
    let changes = store.set_sign_in_admin_roles(ws, &[], "root@contoso.com").await.unwrap();
    assert_eq!(changes.demoted, ["ga@contoso.com"]);
    let audit = store.audit_log(ws, 20).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "portal_user.role_from_entra"), "{audit:?}");
    assert!(audit.iter().any(|a| a.action == "sign_in.admin_roles" && a.actor == "root@contoso.com"), "{audit:?}");
}

async fn unlinking_keeps_a_password_account_and_takes_an_entra_admin_role_with_it(db: TestDb) {
    let store = &db.store;
    let (ws, other) = two_workspaces(store).await;
    store
        .replace_directory_roles(
            ws,
            &[role("r-ga", GLOBAL_ADMINISTRATOR_TEMPLATE, "Global Administrator")],
            &[("r-ga".to_owned(), OID.to_owned())],
        )
        .await
        .unwrap();
    store.set_sign_in_admin_roles(ws, &[GLOBAL_ADMINISTRATOR_TEMPLATE.to_owned()], "root").await.unwrap();
    let id = linked_member(&db, ws, "ga@contoso.com", OID).await;
    store.reconcile_entra_admins(ws).await.unwrap();
    assert_eq!(store.portal_user(ws, id).await.unwrap().unwrap().role, Role::Admin);

    let err = store.unlink_microsoft_account(other, id).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "another workspace's user: {err:?}");
    store.unlink_microsoft_account(ws, id).await.unwrap();
    let user = store.portal_user(ws, id).await.unwrap().unwrap();
    assert_eq!((user.oidc_object_id, user.role, user.admin_from_entra), (None, Role::Member, false));
    assert!(store.portal_user_by_microsoft_id(ws, TID, OID).await.unwrap().is_none());

    // A Microsoft-only account keeps its link: without it nobody could sign in as it.
    let only = store.provision_microsoft_user(ws, &microsoft("abeli@contoso.com")).await.unwrap();
    let err = store.unlink_microsoft_account(ws, only.id).await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err:?}");
}
