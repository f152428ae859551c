/*!
Plain text from email HTML, for the full-text index.

This is not a sanitiser and not for display (the portal shows HTML through
ammonia in a sandboxed iframe). It only has to give the search index the
words a reader sees: tags dropped, `<script>`/`<style>`/`<head>` contents
dropped, common entities decoded, whitespace collapsed. It never fails:
malformed HTML just yields slightly noisier text.
*/

/// Extracts the readable words of an HTML body.
///
/// ```
/// let text = tac_core::text::html_to_text("<p>Q3&nbsp;plan <b>draft</b></p><style>p{}</style>");
/// assert_eq!(text, "Q3 plan draft");
/// ```
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        push_decoded(&mut out, &rest[..lt]);
        let tag = &rest[lt..];
        // As in browsers, `<` starts a tag only before a letter, `/` or `!`.
        if !tag[1..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '!') {
            out.push('<');
            rest = &tag[1..];
            continue;
        }
        let Some(gt) = tag.find('>') else {
            // An unclosed `<` is text, as browsers treat it.
            push_decoded(&mut out, tag);
            rest = "";
            break;
        };
        let name = tag_name(&tag[1..gt]);
        rest = &tag[gt + 1..];
        if tag.starts_with("<!--") {
            rest = tag.find("-->").map_or("", |end| &tag[end + 3..]);
        } else if matches!(name.as_str(), "script" | "style" | "head" | "title") {
            let close = format!("</{name}");
            rest = find_ascii_case_insensitive(rest, &close).map_or("", |at| {
                let after = &rest[at..];
                after.find('>').map_or("", |gt| &after[gt + 1..])
            });
        }
        // Block-level boundaries separate words; inline tags do not.
        out.push(' ');
    }
    push_decoded(&mut out, rest);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn tag_name(inner: &str) -> String {
    inner
        .trim_start_matches('/')
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

fn find_ascii_case_insensitive(haystack: &str, needle: &str) -> Option<usize> {
    let needle = needle.as_bytes();
    haystack.as_bytes().windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle))
}

fn push_decoded(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let entity = &rest[amp..];
        let decoded = entity.find(';').filter(|&semi| semi <= 10).and_then(|semi| {
            let c = decode_entity(&entity[1..semi])?;
            Some((c, semi + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &entity[len..];
            }
            None => {
                out.push('&');
                rest = &entity[1..];
            }
        }
    }
    out.push_str(rest);
}

fn decode_entity(name: &str) -> Option<char> {
    let c = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)?
        }
    };
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::html_to_text;
    use proptest::prelude::*;

    #[test]
    fn drops_tags_and_invisible_content() {
        let html = "<html><head><title>T</title><style>.x{color:red}</style></head>\
                    <body><p>Hello&nbsp;<b>Ann</b>,</p><!-- note --><div>see&#32;the &quot;Q3&quot; plan &amp; budget</div>\
                    <SCRIPT>alert(1)</SCRIPT>a &lt; b &unknown; 5 < 6</body></html>";
        assert_eq!(html_to_text(html), "Hello Ann , see the \"Q3\" plan & budget a < b &unknown; 5 < 6");
    }

    #[test]
    fn plain_text_passes_through() {
        assert_eq!(html_to_text("just  words\n here"), "just words here");
        assert_eq!(html_to_text(""), "");
    }

    proptest! {
        #[test]
        fn never_panics(s in any::<String>()) {
            let _ = html_to_text(&s);
        }
    }
}
