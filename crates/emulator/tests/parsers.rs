//! Property tests: every parser that reads client input takes any string
//! without panicking, and ids and tokens survive a round trip.

use proptest::prelude::*;
use tac_emulator::corpus::{EventKey, FolderKind, ItemKey};
use tac_emulator::graph::odata::Query;
use tac_emulator::graph::segments;
use tac_emulator::ids;
use tac_emulator::tz::{Zone, parse_query_datetime};

fn item_key() -> impl Strategy<Value = ItemKey> {
    (any::<u32>(), 0u8..3, any::<u32>(), any::<u16>()).prop_map(|(owner, source, index, part)| ItemKey {
        owner,
        source,
        index,
        part,
    })
}

proptest! {
    #[test]
    fn message_ids_round_trip(mailbox in 0usize..u32::MAX as usize, key in item_key(), moves in proptest::option::of(any::<u16>())) {
        let id = ids::message_id(mailbox, key, moves);
        let parsed = ids::parse_message_id(&id).expect("our own id parses");
        prop_assert_eq!((parsed.mailbox, parsed.key, parsed.moves), (mailbox, key, moves));
    }

    #[test]
    fn event_and_folder_ids_round_trip(mailbox in 0usize..u32::MAX as usize, key in item_key(), code in 0u16..200) {
        let event = EventKey { owner: key.owner, source: key.source, index: key.index, occurrence: key.part };
        prop_assert_eq!(ids::parse_event_id(&ids::event_id(mailbox, event)), Some((mailbox, event)));
        if let Some(folder) = FolderKind::from_code(code) {
            prop_assert_eq!(ids::parse_folder_id(&ids::folder_id(mailbox, folder)), Some((mailbox, folder)));
        }
    }

    #[test]
    fn id_and_token_parsers_take_any_text(s in ".{0,80}") {
        let _ = ids::parse_message_id(&s);
        let _ = ids::parse_event_id(&s);
        let _ = ids::parse_folder_id(&s);
        let _ = ids::decode_token::<serde_json::Value>(&s);
    }

    #[test]
    fn path_and_query_parsers_take_any_text(s in "[ -~]{0,120}") {
        let _ = segments(&s);
        let q = Query::parse(&s);
        let _ = q.select();
        let _ = q.top(999);
        let _ = q.skip();
        let _ = q.allow_only(&["$select"]);
    }

    #[test]
    fn time_parsers_take_any_text(s in ".{0,40}") {
        let _ = parse_query_datetime(&s);
        let _ = Zone::parse(&s);
    }

    #[test]
    fn odata_key_segments_decode_to_the_key(key in "[A-Za-z0-9=_-]{1,40}") {
        let segs = segments(&format!("/users('{key}')/messages"));
        prop_assert_eq!(segs, vec!["users".to_string(), key, "messages".to_string()]);
    }
}
