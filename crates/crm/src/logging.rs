//! The log: one line per event on stderr, filtered by `RUST_LOG`.
//!
//! Log fields carry text from outside (Graph's error messages, item ids,
//! email addresses), and a `\n` there would forge a log line, an escape
//! sequence repaint a terminal. So every line passes through
//! [`EscapingWriter`], which writes each control character as `\n`, `\r`
//! or `\u{…}`, except the newline that ends the line; and colours are off,
//! since they are control characters too.

use std::io::{self, Write};

/// Sets up the global subscriber.
pub fn init() {
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(|| EscapingWriter(io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .init();
}

/// Writes formatted log lines with their control characters escaped. The
/// formatter hands over one whole line per write.
pub struct EscapingWriter<W>(pub W);

impl<W: Write> Write for EscapingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (line, end) = match text.strip_suffix('\n') {
            Some(line) => (line, "\n"),
            None => (text.as_ref(), ""),
        };
        let mut out = String::with_capacity(buf.len() + 8);
        for c in line.chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push('\t'),
                c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
                c => out.push(c),
            }
        }
        out.push_str(end);
        self.0.write_all(out.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(line: &str) -> String {
        let mut writer = EscapingWriter(Vec::new());
        writer.write_all(line.as_bytes()).unwrap();
        String::from_utf8(writer.0).unwrap()
    }

    #[test]
    fn control_characters_in_a_line_are_escaped_and_only_its_end_stays_a_newline() {
        let forged = "WARN item=\"a\nINFO admin signed in\" code=\u{1b}[31mred\r\u{9b}x\u{7f}\n";
        let out = escaped(forged);
        assert_eq!(out, "WARN item=\"a\\nINFO admin signed in\" code=\\u{1b}[31mred\\r\\u{9b}x\\u{7f}\n");
        assert_eq!(out.matches('\n').count(), 1);
        assert_eq!(escaped("plain\ttext ü\n"), "plain\ttext ü\n");
    }
}
