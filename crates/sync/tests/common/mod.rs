//! What the end-to-end tests share: a fresh database of each kind to loop
//! over, and the emulator fixture ([`World`]).

#![allow(dead_code, reason = "each test crate uses a different part")]

use tac_store::Store;
use tac_test_support::TestDb;

/// A fresh database of each kind, removed (folder and PostgreSQL database)
/// when the loop over them ends, whether the test passed or not.
pub async fn stores() -> TestStores {
    let sqlite = TestDb::sqlite("sync-test").await;
    let postgres = TestDb::postgres("sync").await;
    TestStores { dbs: vec![("sqlite", sqlite), ("postgres", postgres)] }
}

/// The stores of [`stores`], to loop over.
pub struct TestStores {
    dbs: Vec<(&'static str, TestDb)>,
}

impl TestStores {
    /// The URL of the PostgreSQL store's database, for a test that needs
    /// its own connection beside the store's.
    pub fn postgres_url(&self) -> String {
        self.dbs
            .iter()
            .find(|(label, _)| *label == "postgres")
            .map(|(_, db)| db.url.clone())
            .expect("a PostgreSQL store")
    }
}

impl IntoIterator for TestStores {
    type Item = (&'static str, Store);
    type IntoIter = StoresIter;

    fn into_iter(self) -> StoresIter {
        let stores = self.dbs.iter().map(|(label, db)| (*label, db.store.clone())).collect::<Vec<_>>().into_iter();
        StoresIter { stores, _dbs: self.dbs }
    }
}

/// Yields the stores; dropped at the end of the loop, it removes them.
pub struct StoresIter {
    stores: std::vec::IntoIter<(&'static str, Store)>,
    _dbs: Vec<(&'static str, TestDb)>,
}

impl Iterator for StoresIter {
    type Item = (&'static str, Store);

    fn next(&mut self) -> Option<Self::Item> {
        self.stores.next()
    }
}

pub use tac_test_support::World;
