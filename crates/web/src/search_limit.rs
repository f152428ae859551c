//! How many searches run at once. A full-text search over a big mailbox
//! history is the costliest read the portal serves, so one person cannot
//! run many at a time ([`PER_USER`]; the next gets 429), and all searches
//! together share [`AT_ONCE`] slots (a search waits for one for up to
//! [`QUEUE_WAIT`], then gets 503), so the other pages keep answering
//! while someone pastes a novel into the search box. A search of one
//! contact's or company's timeline takes a slot too, waiting without
//! holding a database connection ([`reader_for`]); the store stops any
//! search that runs past `tac_store::SEARCH_TIME_BUDGET`.

use crate::{AppState, WebError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tac_store::PortalUserId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Searches one person may run at once.
pub const PER_USER: usize = 2;
/// Searches the portal runs at once, for everyone: one per core of the
/// project's machine.
pub const AT_ONCE: usize = 2;
/// How long a search waits for a free slot.
pub const QUEUE_WAIT: Duration = Duration::from_secs(5);

/// The slots, shared by every request.
pub(crate) struct SearchSlots {
    at_once: Arc<Semaphore>,
    per_user: Mutex<HashMap<PortalUserId, Arc<Semaphore>>>,
    wait: Duration,
}

impl Default for SearchSlots {
    fn default() -> Self {
        SearchSlots { at_once: Arc::new(Semaphore::new(AT_ONCE)), per_user: Mutex::default(), wait: QUEUE_WAIT }
    }
}

/// Held while a search runs; dropping it frees both slots.
pub(crate) struct SearchPermit {
    _user: OwnedSemaphorePermit,
    _shared: OwnedSemaphorePermit,
}

/// A slot for a search by `user`, or the refusal to send back.
pub(crate) async fn acquire(slots: &SearchSlots, user: PortalUserId) -> Result<SearchPermit, WebError> {
    let user_permit = user_slot(slots, user)?;
    let shared = tokio::time::timeout(slots.wait, Arc::clone(&slots.at_once).acquire_owned())
        .await
        .map_err(|_| WebError::Busy)?
        .map_err(|_| WebError::Busy)?;
    Ok(SearchPermit { _user: user_permit, _shared: shared })
}

/// For a request that read its session on `reader` (a profile page, a
/// timeline) and may search: when it does, the reader's connection goes
/// back to the pool while the search waits for a slot (one of the store's
/// few connections held by a waiting search is one every other page lacks),
/// and a fresh one is taken once the slot is free. Without search, the
/// reader is handed back as it is.
pub(crate) async fn reader_for(
    state: &AppState,
    user: PortalUserId,
    reader: tac_store::Reader,
    searching: bool,
) -> Result<(tac_store::Reader, Option<SearchPermit>), WebError> {
    if !searching {
        return Ok((reader, None));
    }
    drop(reader);
    let slot = acquire(state.search_slots(), user).await?;
    Ok((state.store().reader().await?, Some(slot)))
}

/// One of the person's own slots, or 429.
fn user_slot(slots: &SearchSlots, user: PortalUserId) -> Result<OwnedSemaphorePermit, WebError> {
    let mine = {
        let mut per_user = slots.per_user.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(per_user.entry(user).or_insert_with(|| Arc::new(Semaphore::new(PER_USER))))
    };
    mine.try_acquire_owned().map_err(|_| WebError::TooManySearches)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_person_runs_two_searches_at_once_and_everyone_shares_the_slots() {
        let slots = SearchSlots { wait: Duration::from_millis(20), ..SearchSlots::default() };
        let (ann, bob) = (PortalUserId(1), PortalUserId(2));
        let first = acquire(&slots, ann).await.expect("a slot");
        let second = acquire(&slots, ann).await.expect("a second slot");
        assert!(matches!(acquire(&slots, ann).await, Err(WebError::TooManySearches)), "a third is refused at once");
        // Ann holds every shared slot: Bob waits, then hears the portal is busy.
        assert!(matches!(acquire(&slots, bob).await, Err(WebError::Busy)));
        drop(first);
        let bobs = acquire(&slots, bob).await.expect("a freed slot");
        assert!(matches!(acquire(&slots, ann).await, Err(WebError::Busy)), "Ann has a slot of hers, none shared");
        drop((second, bobs));
        assert!(acquire(&slots, ann).await.is_ok());
    }
}
