//! The living mailboxes: the generated corpus plus every change made since
//! the emulator started, and the change sequence that delta rounds read.
//!
//! Changes (new, moved, updated and deleted items) are kept as an overlay on
//! top of the generated corpus. Every change takes the next sequence number;
//! a delta token remembers the sequence number its round started at, so the
//! next round reports exactly the overlay entries that changed after it. The
//! generated corpus never changes, so only the overlay costs memory.

use crate::config::OrgSize;
use crate::corpus::{Address, Attendee, Corpus, Event, EventKey, FolderKind, ItemKey, Message};
use crate::org::Organization;
use crate::tz::Zone;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, btree_map};
use std::ops::Bound;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Why a change to the world was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WorldError {
    #[error("no such user or mailbox")]
    NoMailbox,
    #[error("the item does not exist")]
    NoItem,
    #[error("the folder does not exist")]
    NoFolder,
    #[error("{0}")]
    Invalid(String),
}

/// One message's overlay entry: its current state, or `None` once deleted.
#[derive(Debug, Clone)]
struct MessageEntry {
    seq: u64,
    current: Option<Message>,
    moves: u16,
}

/// A message leaving a folder (moved away or deleted).
#[derive(Debug, Clone)]
struct Removal {
    seq: u64,
    key: ItemKey,
    folder: FolderKind,
    moves: u16,
}

#[derive(Debug, Clone)]
struct EventEntry {
    seq: u64,
    current: Option<Event>,
}

/// A folder made through the admin API.
#[derive(Debug, Clone)]
pub struct CustomFolder {
    pub kind: FolderKind,
    pub name: String,
    pub parent: FolderKind,
}

#[derive(Debug, Default)]
struct Overlay {
    messages: BTreeMap<ItemKey, MessageEntry>,
    removals: Vec<Removal>,
    events: BTreeMap<EventKey, EventEntry>,
    folders: Vec<CustomFolder>,
    added: u32,
    generation: u64,
}

#[derive(Debug, Default)]
struct State {
    seq: u64,
    generation: u64,
    overlays: HashMap<usize, Overlay>,
}

impl State {
    /// Takes the next sequence number for a change to `mailbox`, and the
    /// mailbox's overlay to record the change in.
    fn next_change(&mut self, mailbox: usize) -> (u64, &mut Overlay) {
        self.seq += 1;
        (self.seq, self.overlays.entry(mailbox).or_default())
    }
}

/// A message as a delta round reports it.
#[derive(Debug, Clone)]
pub enum Change<T, K> {
    /// Created or updated: the item as it is now, with its move count.
    Live(T, u16),
    /// Gone from the folder or window: its key and the move count of the id the client knew.
    Removed(K, u16),
}

/// A position inside a delta round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Cursor<K> {
    /// Initial round, generated items after this key.
    Base(Option<K>),
    /// Initial round, overlay items after this key.
    Overlay(Option<K>),
    /// Later round, changed items after this key.
    Changes(Option<K>),
}

/// One page of a delta round: its changes, and the cursor to continue from
/// (`None` when the round is complete).
pub type DeltaPage<T, K> = (Vec<Change<T, K>>, Option<Cursor<K>>);

/// What a mail delta round covers.
#[derive(Debug, Clone, Copy)]
pub struct MailRound {
    pub mailbox: usize,
    pub folder: FolderKind,
    pub since: Option<DateTime<Utc>>,
    /// The sequence number the previous round started at; `None` for an initial round.
    pub from: Option<u64>,
}

/// What a calendar delta round covers.
#[derive(Debug, Clone, Copy)]
pub struct CalendarRound {
    pub mailbox: usize,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub from: Option<u64>,
}

/// A new message for the admin API.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewMessage {
    pub subject: String,
    pub from: Address,
    #[serde(default)]
    pub to: Vec<Address>,
    #[serde(default)]
    pub cc: Vec<Address>,
    #[serde(default)]
    pub bcc: Vec<Address>,
    #[serde(default)]
    pub body: Option<String>,
    pub received_date_time: Option<DateTime<Utc>>,
    pub internet_message_id: Option<String>,
    pub conversation_id: Option<String>,
    #[serde(default)]
    pub is_read: bool,
    /// `normal` (the default), `personal`, `private` or `confidential`.
    #[serde(default)]
    pub sensitivity: Option<String>,
    /// Served verbatim in place of the rendered message, to test bad input.
    pub raw: Option<serde_json::Value>,
}

/// A new event for the admin API.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewEvent {
    pub subject: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    #[serde(default)]
    pub is_all_day: bool,
    #[serde(default)]
    pub attendees: Vec<Address>,
    pub sensitivity: Option<String>,
    pub time_zone: Option<String>,
    pub ical_uid: Option<String>,
    #[serde(default)]
    pub online: bool,
}

/// A partial update of a message or event through the admin API.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Patch {
    pub subject: Option<String>,
    pub is_read: Option<bool>,
    pub categories: Option<Vec<String>>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub body: Option<String>,
}

/// Replaces `field` with what a patch gives for it, if it gives anything.
pub fn patch_field<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}

/// The organisation and its mailboxes as they are now.
#[derive(Debug)]
pub struct World {
    pub org: Organization,
    pub size: OrgSize,
    pub anchor: DateTime<Utc>,
    state: RwLock<State>,
}

impl World {
    pub fn new(org: Organization, size: OrgSize, anchor: DateTime<Utc>) -> Self {
        World { org, size, anchor, state: RwLock::new(State::default()) }
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere mid-update; the data is
        // still the best we have, and the emulator must keep answering.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The generated content, without changes.
    pub fn corpus(&self) -> Corpus<'_> {
        Corpus { org: &self.org, size: &self.size, anchor: self.anchor }
    }

    /// The current change sequence number.
    pub fn seq(&self) -> u64 {
        self.read().seq
    }

    /// The delta-token generation of a mailbox: tokens from an older one are expired.
    pub fn generation(&self, mailbox: usize) -> u64 {
        let s = self.read();
        s.generation + s.overlays.get(&mailbox).map_or(0, |o| o.generation)
    }

    /// Expires every delta token of one mailbox, or of all when `None`.
    pub fn expire_delta_tokens(&self, mailbox: Option<usize>) {
        let mut s = self.write();
        match mailbox {
            Some(m) => s.overlays.entry(m).or_default().generation += 1,
            None => s.generation += 1,
        }
    }

    fn mailbox_ok(&self, mailbox: usize) -> Result<(), WorldError> {
        match self.org.users.get(mailbox) {
            Some(u) if u.has_mailbox => Ok(()),
            _ => Err(WorldError::NoMailbox),
        }
    }

    /// The folders of a mailbox: the standard ones plus those made since.
    pub fn folders(&self, mailbox: usize) -> Vec<(FolderKind, String, Option<FolderKind>)> {
        let mut out: Vec<_> = FolderKind::STANDARD.iter().map(|f| (*f, f.display_name(), f.parent())).collect();
        if let Some(o) = self.read().overlays.get(&mailbox) {
            out.extend(o.folders.iter().map(|f| (f.kind, f.name.clone(), Some(f.parent))));
        }
        out
    }

    /// Whether a folder exists in a mailbox.
    pub fn has_folder(&self, mailbox: usize, folder: FolderKind) -> bool {
        match folder {
            FolderKind::Custom(_) => self.folders(mailbox).iter().any(|(f, _, _)| *f == folder),
            _ => true,
        }
    }

    /// Makes a folder under `parent`.
    pub fn create_folder(&self, mailbox: usize, name: &str, parent: FolderKind) -> Result<FolderKind, WorldError> {
        self.mailbox_ok(mailbox)?;
        if !self.has_folder(mailbox, parent) {
            return Err(WorldError::NoFolder);
        }
        let mut s = self.write();
        let (_, o) = s.next_change(mailbox);
        let kind = FolderKind::Custom(o.folders.len() as u16 + 1);
        o.folders.push(CustomFolder { kind, name: name.to_string(), parent });
        Ok(kind)
    }

    /// A message as it is now, with its move count.
    pub fn message(&self, mailbox: usize, key: ItemKey) -> Option<(Message, u16)> {
        let s = self.read();
        if let Some(entry) = s.overlays.get(&mailbox).and_then(|o| o.messages.get(&key)) {
            return entry.current.clone().map(|m| (m, entry.moves));
        }
        drop(s);
        self.corpus().message(mailbox, key).map(|m| (m, 0))
    }

    /// Every message of a mailbox as it is now (ground truth), in key order.
    pub fn all_messages(&self, mailbox: usize) -> Vec<(Message, u16)> {
        let s = self.read();
        let overlay = s.overlays.get(&mailbox);
        let (base, _) = self.corpus().messages_after(mailbox, None, usize::MAX, &mut |m| {
            !overlay.is_some_and(|o| o.messages.contains_key(&m.key))
        });
        let mut out: Vec<_> = base.into_iter().map(|m| (m, 0)).collect();
        if let Some(o) = overlay {
            out.extend(o.messages.values().filter_map(|e| e.current.clone().map(|m| (m, e.moves))));
        }
        out.sort_by_key(|(m, _)| m.key);
        out
    }

    /// One page of a mail delta round: up to `limit` changes after `cursor`,
    /// and the cursor to continue from (`None` when the round is complete).
    pub fn mail_delta_page(
        &self,
        round: &MailRound,
        cursor: Cursor<ItemKey>,
        limit: usize,
    ) -> DeltaPage<Message, ItemKey> {
        let s = self.read();
        let empty = Overlay::default();
        let overlay = s.overlays.get(&round.mailbox).unwrap_or(&empty);
        let wanted = |m: &Message| m.folder == round.folder && round.since.is_none_or(|t| m.received >= t);
        let after = match cursor {
            Cursor::Changes(after) => after,
            initial => {
                return initial_round_page(initial, limit, &overlay.messages, wanted, |after, keep| {
                    self.corpus().messages_after(round.mailbox, after, limit, keep)
                });
            }
        };
        let mut out = Vec::new();
        let from = round.from.unwrap_or(0);
        // Keys touched since the previous round, in order.
        let mut keys: BTreeMap<ItemKey, Option<u16>> = BTreeMap::new();
        for (key, entry) in &overlay.messages {
            if entry.seq > from {
                keys.entry(*key).or_insert(None);
            }
        }
        for r in &overlay.removals {
            if r.seq > from && r.folder == round.folder {
                let slot = keys.entry(r.key).or_insert(None);
                // Report the id the client last saw: the earliest removal's.
                if slot.is_none() {
                    *slot = Some(r.moves);
                }
            }
        }
        for (key, removed_moves) in keys.range(after.unwrap_or(ItemKey::MIN)..) {
            if after == Some(*key) {
                continue;
            }
            if out.len() >= limit {
                let last = out.last().map(Change::key).or(after);
                return (out, Some(Cursor::Changes(last)));
            }
            let entry = overlay.messages.get(key);
            match entry.and_then(|e| e.current.as_ref().map(|m| (m, e.moves))) {
                Some((m, moves)) if wanted(m) => out.push(Change::Live(m.clone(), moves)),
                _ => {
                    if let Some(moves) = removed_moves {
                        out.push(Change::Removed(*key, *moves));
                    }
                }
            }
        }
        (out, None)
    }

    /// Adds a message to a folder.
    pub fn add_message(&self, mailbox: usize, folder: FolderKind, new: NewMessage) -> Result<ItemKey, WorldError> {
        self.mailbox_ok(mailbox)?;
        if !self.has_folder(mailbox, folder) || folder.is_search_folder() {
            return Err(WorldError::NoFolder);
        }
        let sensitivity = match new.sensitivity.as_deref() {
            None | Some("normal") => "normal",
            Some("personal") => "personal",
            Some("private") => "private",
            Some("confidential") => "confidential",
            Some(_) => {
                return Err(WorldError::Invalid("sensitivity is normal, personal, private or confidential".into()));
            }
        };
        let mut s = self.write();
        let (seq, o) = s.next_change(mailbox);
        o.added += 1;
        let key = ItemKey { owner: mailbox as u32, source: ItemKey::ADDED, index: o.added, part: 0 };
        let received = new.received_date_time.unwrap_or_else(Utc::now);
        let message = Message {
            key,
            mailbox,
            folder,
            subject: new.subject,
            body_html: new.body.unwrap_or_default(),
            from: new.from,
            to: new.to,
            cc: new.cc,
            bcc: new.bcc,
            sent: received,
            received,
            internet_message_id: new
                .internet_message_id
                .unwrap_or_else(|| format!("<added.{mailbox}.{}@emulator.invalid>", o.added)),
            conversation_id: new.conversation_id.unwrap_or_else(|| format!("AAQkADadded{mailbox}x{}", o.added)),
            is_read: new.is_read,
            is_draft: false,
            importance: "normal",
            sensitivity,
            has_attachments: false,
            inference: "focused",
            categories: vec![],
            meeting: None,
            version: seq,
            raw: new.raw,
        };
        o.messages.insert(key, MessageEntry { seq, current: Some(message), moves: 0 });
        Ok(key)
    }

    /// Takes a message into the overlay (if it is not there yet) and applies `change`.
    fn change_message(
        &self,
        mailbox: usize,
        key: ItemKey,
        change: impl FnOnce(&mut Message, &mut u16, u64, &mut Vec<Removal>) -> Result<bool, WorldError>,
    ) -> Result<(), WorldError> {
        self.mailbox_ok(mailbox)?;
        let generated = self.corpus().message(mailbox, key);
        let mut s = self.write();
        let (seq, o) = s.next_change(mailbox);
        let entry = overlay_entry(&mut o.messages, key, seq, generated)?;
        let Some(current) = entry.current.as_mut() else {
            return Err(WorldError::NoItem);
        };
        let keep = change(current, &mut entry.moves, seq, &mut o.removals)?;
        current.version = seq;
        entry.seq = seq;
        if !keep {
            entry.current = None;
        }
        Ok(())
    }

    /// Moves a message to another folder. Its regular id changes; its immutable id does not.
    pub fn move_message(&self, mailbox: usize, key: ItemKey, to: FolderKind) -> Result<(), WorldError> {
        if !self.has_folder(mailbox, to) || to.is_search_folder() {
            return Err(WorldError::NoFolder);
        }
        self.change_message(mailbox, key, |m, moves, seq, removals| {
            if m.folder != to {
                removals.push(Removal { seq, key, folder: m.folder, moves: *moves });
                *moves += 1;
                m.folder = to;
            }
            Ok(true)
        })
    }

    /// Changes a message's subject, read state or categories.
    pub fn update_message(&self, mailbox: usize, key: ItemKey, patch: Patch) -> Result<(), WorldError> {
        self.change_message(mailbox, key, |m, _, _, _| {
            patch_field(&mut m.subject, patch.subject);
            patch_field(&mut m.is_read, patch.is_read);
            patch_field(&mut m.categories, patch.categories);
            patch_field(&mut m.body_html, patch.body);
            Ok(true)
        })
    }

    /// Deletes a message for good (as a hard delete or an emptied Deleted Items).
    pub fn delete_message(&self, mailbox: usize, key: ItemKey) -> Result<(), WorldError> {
        self.change_message(mailbox, key, |m, moves, seq, removals| {
            removals.push(Removal { seq, key, folder: m.folder, moves: *moves });
            Ok(false)
        })
    }

    // --- calendars -------------------------------------------------------------

    /// A calendar item as it is now.
    pub fn event(&self, mailbox: usize, key: EventKey) -> Option<Event> {
        let s = self.read();
        if let Some(entry) = s.overlays.get(&mailbox).and_then(|o| o.events.get(&key)) {
            return entry.current.clone();
        }
        drop(s);
        self.corpus().event(mailbox, key)
    }

    /// Every calendar item of a mailbox overlapping `[start, end)` (ground truth).
    pub fn events_in(&self, mailbox: usize, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Event> {
        let round = CalendarRound { mailbox, start, end, from: None };
        let mut out = Vec::new();
        let mut cursor = Cursor::Base(None);
        loop {
            let (page, next) = self.calendar_delta_page(&round, cursor, 10_000);
            out.extend(page.into_iter().filter_map(|c| match c {
                Change::Live(e, _) => Some(e),
                Change::Removed(..) => None,
            }));
            match next {
                Some(c) => cursor = c,
                None => break,
            }
        }
        out
    }

    /// One page of a calendarView delta round.
    pub fn calendar_delta_page(
        &self,
        round: &CalendarRound,
        cursor: Cursor<EventKey>,
        limit: usize,
    ) -> DeltaPage<Event, EventKey> {
        let s = self.read();
        let empty = Overlay::default();
        let overlay = s.overlays.get(&round.mailbox).unwrap_or(&empty);
        let in_window = |e: &Event| e.start < round.end && e.end > round.start && e.kind != "seriesMaster";
        let after = match cursor {
            Cursor::Changes(after) => after,
            initial => {
                return initial_round_page(initial, limit, &overlay.events, in_window, |after, keep| {
                    self.corpus().events_after(round.mailbox, after, limit, keep)
                });
            }
        };
        let mut out = Vec::new();
        let from = round.from.unwrap_or(0);
        for (key, entry) in overlay.events.range(after.unwrap_or(EventKey::MIN)..) {
            if after == Some(*key) || entry.seq <= from {
                continue;
            }
            if out.len() >= limit {
                let last = out.last().map(Change::key).or(after);
                return (out, Some(Cursor::Changes(last)));
            }
            match &entry.current {
                Some(e) if in_window(e) => out.push(Change::Live(e.clone(), 0)),
                // Like Graph, removals are reported even for items outside the window.
                _ => out.push(Change::Removed(*key, 0)),
            }
        }
        (out, None)
    }

    fn change_event(
        &self,
        mailbox: usize,
        key: EventKey,
        change: impl FnOnce(&mut Event) -> bool,
    ) -> Result<(), WorldError> {
        self.mailbox_ok(mailbox)?;
        let generated = self.corpus().event(mailbox, key);
        let mut s = self.write();
        let (seq, o) = s.next_change(mailbox);
        let entry = overlay_entry(&mut o.events, key, seq, generated)?;
        let Some(current) = entry.current.as_mut() else {
            return Err(WorldError::NoItem);
        };
        let keep = change(current);
        current.version = seq;
        current.modified = Utc::now();
        entry.seq = seq;
        if !keep {
            entry.current = None;
        }
        Ok(())
    }

    /// Changes one calendar copy of an event.
    pub fn update_event(&self, mailbox: usize, key: EventKey, patch: Patch) -> Result<(), WorldError> {
        if let (Some(s), Some(e)) = (patch.start, patch.end)
            && e < s
        {
            return Err(WorldError::Invalid("end is before start".into()));
        }
        self.change_event(mailbox, key, |e| {
            patch_field(&mut e.subject, patch.subject);
            if let Some(s) = patch.start {
                e.start = s;
                if e.kind == "occurrence" {
                    e.kind = "exception";
                }
            }
            patch_field(&mut e.end, patch.end);
            patch_field(&mut e.body_html, patch.body);
            true
        })
    }

    /// Removes one calendar copy of an event.
    pub fn delete_event(&self, mailbox: usize, key: EventKey) -> Result<(), WorldError> {
        self.change_event(mailbox, key, |_| false)
    }

    /// Cancels a meeting (or one occurrence) for everyone: the organiser's copy
    /// disappears; attendees keep a "Canceled:" copy marked `isCancelled`.
    pub fn cancel_meeting(&self, mailbox: usize, key: EventKey) -> Result<usize, WorldError> {
        let mut changed = 0;
        for m in self.org.team_of(mailbox) {
            let Some(event) = self.event(m, key) else {
                continue;
            };
            if event.is_organizer {
                self.delete_event(m, key)?;
            } else {
                self.change_event(m, key, |e| {
                    e.is_cancelled = true;
                    if !e.subject.starts_with("Canceled: ") {
                        e.subject = format!("Canceled: {}", e.subject);
                    }
                    true
                })?;
            }
            changed += 1;
        }
        if changed == 0 { Err(WorldError::NoItem) } else { Ok(changed) }
    }

    /// Adds an event organised by `mailbox`; internal attendees get their own copy.
    pub fn add_event(&self, mailbox: usize, new: NewEvent) -> Result<EventKey, WorldError> {
        self.mailbox_ok(mailbox)?;
        if new.end < new.start {
            return Err(WorldError::Invalid("end is before start".into()));
        }
        let zone = match new.time_zone.as_deref() {
            Some(name) => {
                Zone::parse(name).ok_or_else(|| WorldError::Invalid(format!("unknown time zone {name:?}")))?
            }
            None => Zone::parse(self.org.users[mailbox].time_zone).unwrap_or(Zone::UTC),
        };
        let organizer_user = &self.org.users[mailbox];
        let organizer =
            Address { name: organizer_user.display_name.clone(), address: organizer_user.address().to_string() };
        let attendees: Vec<Attendee> = new
            .attendees
            .iter()
            .map(|a| Attendee {
                address: a.clone(),
                kind: "required",
                response: "none",
                internal: self
                    .org
                    .users
                    .iter()
                    .find(|u| u.smtp_addresses().any(|s| s.eq_ignore_ascii_case(&a.address)))
                    .map(|u| u.index),
            })
            .collect();
        let mut s = self.write();
        let (seq, index) = {
            let (seq, o) = s.next_change(mailbox);
            o.added += 1;
            (seq, o.added)
        };
        let key = EventKey { owner: mailbox as u32, source: ItemKey::ADDED, index, occurrence: 0 };
        let ical_uid = new.ical_uid.clone().unwrap_or_else(|| {
            format!(
                "040000008200E00074C5B7101A82E00800000000{:032X}",
                crate::rng::hash(self.org.seed, &[0xadd, mailbox as u64, index as u64]) as u128
            )
        });
        let now = Utc::now();
        let base = Event {
            key,
            mailbox,
            subject: new.subject.clone(),
            body_html: String::new(),
            start: new.start,
            end: new.end,
            is_all_day: new.is_all_day,
            original_zone: zone,
            location: String::new(),
            organizer,
            attendees: attendees.clone(),
            is_organizer: true,
            response: "organizer",
            sensitivity: match new.sensitivity.as_deref() {
                Some("private") => "private",
                Some("confidential") => "confidential",
                Some("personal") => "personal",
                _ => "normal",
            },
            show_as: "busy",
            is_cancelled: false,
            kind: "singleInstance",
            ical_uid,
            join_url: new
                .online
                .then(|| format!("https://teams.microsoft.com/l/meetup-join/19%3ameeting_added{index}%40thread.v2/0")),
            created: now,
            modified: now,
            recurrence: None,
            version: seq,
        };
        let mut copies = vec![(mailbox, base.clone())];
        for a in attendees.iter().filter_map(|a| a.internal) {
            if a != mailbox && self.org.users[a].has_mailbox {
                let mut copy = base.clone();
                copy.mailbox = a;
                copy.is_organizer = false;
                copy.response = "none";
                copies.push((a, copy));
            }
        }
        for (m, event) in copies {
            s.overlays.entry(m).or_default().events.insert(key, EventEntry { seq, current: Some(event) });
        }
        Ok(key)
    }
}

/// One page of an initial round, which lists what is there now, `wanted`
/// items only: first the generated items the overlay does not hold
/// (`Cursor::Base`, read through `generated`), then the overlay's live items
/// (`Cursor::Overlay`). A `Cursor::Changes` ends the round at once.
fn initial_round_page<T: Keyed + Clone, E: OverlayEntry<T>>(
    cursor: Cursor<T::Key>,
    limit: usize,
    overlay: &BTreeMap<T::Key, E>,
    wanted: impl Fn(&T) -> bool,
    generated: impl FnOnce(Option<T::Key>, &mut dyn FnMut(&T) -> bool) -> (Vec<T>, bool),
) -> DeltaPage<T, T::Key> {
    let mut out = Vec::new();
    let mut cursor = cursor;
    if let Cursor::Base(after) = cursor {
        let (page, done) = generated(after, &mut |item| wanted(item) && !overlay.contains_key(&item.key()));
        let last = page.last().map(Keyed::key).or(after);
        out.extend(page.into_iter().map(|item| Change::Live(item, 0)));
        if !done {
            return (out, Some(Cursor::Base(last)));
        }
        cursor = Cursor::Overlay(None);
    }
    let Cursor::Overlay(after) = cursor else {
        return (out, None);
    };
    let mut examined = after;
    let start = after.map_or(Bound::Unbounded, Bound::Excluded);
    for (key, entry) in overlay.range((start, Bound::Unbounded)) {
        if out.len() >= limit {
            return (out, Some(Cursor::Overlay(examined)));
        }
        examined = Some(*key);
        if let Some((item, moves)) = entry.live().filter(|(item, _)| wanted(item)) {
            out.push(Change::Live(item.clone(), moves));
        }
    }
    (out, None)
}

/// The overlay entry of `key`, made from the generated item on the item's
/// first change (at `seq`); `NoItem` when there is neither.
fn overlay_entry<K: Ord, T, E: OverlayEntry<T>>(
    entries: &mut BTreeMap<K, E>,
    key: K,
    seq: u64,
    generated: Option<T>,
) -> Result<&mut E, WorldError> {
    match entries.entry(key) {
        btree_map::Entry::Occupied(e) => Ok(e.into_mut()),
        btree_map::Entry::Vacant(v) => Ok(v.insert(E::first(seq, generated.ok_or(WorldError::NoItem)?))),
    }
}

/// An item's overlay entry: its state after its latest change.
trait OverlayEntry<T> {
    /// The entry of a generated item on its first change.
    fn first(seq: u64, item: T) -> Self;
    /// The item as it is now (`None` once deleted), with its move count.
    fn live(&self) -> Option<(&T, u16)>;
}

impl OverlayEntry<Message> for MessageEntry {
    fn first(seq: u64, item: Message) -> Self {
        MessageEntry { seq, current: Some(item), moves: 0 }
    }

    fn live(&self) -> Option<(&Message, u16)> {
        self.current.as_ref().map(|m| (m, self.moves))
    }
}

impl OverlayEntry<Event> for EventEntry {
    fn first(seq: u64, item: Event) -> Self {
        EventEntry { seq, current: Some(item) }
    }

    /// Calendar items never move, so their ids carry no move count.
    fn live(&self) -> Option<(&Event, u16)> {
        self.current.as_ref().map(|e| (e, 0))
    }
}

/// An item of a delta round, and the key rounds are ordered by.
pub trait Keyed {
    type Key: Copy + Ord;
    fn key(&self) -> Self::Key;
}

impl Keyed for Message {
    type Key = ItemKey;
    fn key(&self) -> ItemKey {
        self.key
    }
}

impl Keyed for Event {
    type Key = EventKey;
    fn key(&self) -> EventKey {
        self.key
    }
}

impl<T: Keyed> Change<T, T::Key> {
    /// The key a change is ordered by.
    pub fn key(&self) -> T::Key {
        match self {
            Change::Live(item, _) => item.key(),
            Change::Removed(k, _) => *k,
        }
    }
}
