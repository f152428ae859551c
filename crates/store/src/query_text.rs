//! Turning a user's search box text into plain words, so that no query
//! language (FTS5's, tsquery's or `like`'s) ever sees syntax from the user.

/// The longest search text accepted, in characters: a search box holds a
/// few words, and a longer text only costs the database.
pub const MAX_SEARCH_CHARS: usize = 200;
/// The most words a search may have: every word is one more index lookup
/// intersected with the others.
pub const MAX_SEARCH_WORDS: usize = 8;
/// How long a search may run before the database stops it: searches take
/// milliseconds, so only one that would hold a core for long reaches it.
pub const SEARCH_TIME_BUDGET: std::time::Duration = std::time::Duration::from_secs(2);

/// Why a search text is refused, in words for the person who typed it.
pub(crate) fn refusal(query: &str) -> Option<String> {
    if query.chars().count() > MAX_SEARCH_CHARS {
        return Some(format!(
            "A search may be at most {MAX_SEARCH_CHARS} characters long: use a few distinctive words."
        ));
    }
    let count = query.split(|c: char| c.is_whitespace() || c.is_control()).filter(|w| !w.is_empty()).count();
    if count > MAX_SEARCH_WORDS {
        return Some(format!("A search may have at most {MAX_SEARCH_WORDS} words: keep the most distinctive ones."));
    }
    None
}

/// The query's words: split on whitespace, control characters (a NUL is
/// refused by PostgreSQL) treated as spaces, and words without a letter or
/// digit dropped, since no tokenizer indexes them.
pub(crate) fn words(query: &str) -> Vec<String> {
    query
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| word.chars().any(char::is_alphanumeric))
        .take(MAX_SEARCH_WORDS)
        .map(str::to_owned)
        .collect()
}

/// Each word as an FTS5 string, implicitly ANDed: `say "hi"` becomes
/// `"say" """hi"""`.
pub(crate) fn fts5_query(words: &[String]) -> String {
    words.iter().map(|word| format!("\"{}\"", word.replace('"', "\"\""))).collect::<Vec<_>>().join(" ")
}

/// Escapes `%`, `_` and `\` for a `like … escape '\'` pattern.
pub(crate) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_drop_punctuation_only_tokens_and_controls() {
        assert_eq!(words(" budget  Q3\tplan "), ["budget", "Q3", "plan"]);
        assert_eq!(words("\" * NEAR( ') OR 1=1 --"), ["NEAR(", "OR", "1=1"]);
        assert_eq!(words("a\0b"), ["a", "b"]);
        assert!(words("  \" ( * ").is_empty());
    }

    #[test]
    fn searches_longer_than_the_limits_are_refused_with_what_to_do() {
        assert_eq!(refusal("budget q3 plan"), None);
        assert_eq!(refusal(&"w ".repeat(MAX_SEARCH_WORDS)), None);
        assert!(refusal(&"w ".repeat(MAX_SEARCH_WORDS + 1)).is_some_and(|m| m.contains("at most 8 words")));
        assert!(refusal(&"x".repeat(MAX_SEARCH_CHARS + 1)).is_some_and(|m| m.contains("200 characters")));
        assert_eq!(refusal(&"é".repeat(MAX_SEARCH_CHARS)), None, "characters, not bytes");
    }

    #[test]
    fn like_patterns_escape_their_wildcards() {
        assert_eq!(like_escape(r"50%_off\x"), r"50\%\_off\\x");
    }

    #[test]
    fn fts5_strings_double_inner_quotes() {
        assert_eq!(fts5_query(&["say".into(), "\"hi\"".into()]), "\"say\" \"\"\"hi\"\"\"");
        assert_eq!(fts5_query(&["NEAR(".into()]), "\"NEAR(\"");
    }
}
