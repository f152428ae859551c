/*!
Contacts from a CSV file, as exported by Outlook, Google, Apple, a CRM or a
spreadsheet, checked line by line so that one bad row does not sink an
import of thousands.

The first row must name the columns. Names are matched without regard to
case, spaces, underscores or hyphens, so `E-mail Address`, `email_address`
and `EmailAddress` are one column. Columns TAC does not know are ignored.

- **Email** (at least one needed): `Email`, `E-mail`, `Email Address`,
  `Emails`, `Email 2`, `Email 3`, `Secondary Email`, `Work Email`, and the
  like (`E-mail 2 Address` from Outlook, `E-mail 1 - Value` from Google). A
  cell may hold several addresses separated by `;`, `,` or `:::`.
- **Name**: `Name`, `Full Name`, `Display Name`, or `First Name` (`Given
  Name`) with `Last Name` (`Surname`, `Family Name`).
- **Company**: `Company`, `Organization`, `Organisation`, `Account`.

Whatever goes wrong with a row becomes a [`LineError`] for that row: no
valid address, a bad address (named), a name too long or with control
characters, or a different number of fields than the header (usually an
unquoted comma). Blank rows are skipped. Only problems with the file as a
whole are a [`CsvError`]: empty, not UTF-8, no email column, or more than
[`MAX_DATA_LINES`] rows. Files separated by `;` or tabs (as some spreadsheet
locales save them) are recognised by their header row.

```
use tac_core::contact_csv::parse_contacts_csv;

let file = "First Name,Last Name,E-mail Address,Company\nAnn,Lee,Ann@Contoso.com,Contoso\n,,not-an-address,\n";
let rows = parse_contacts_csv(file.as_bytes()).unwrap();
let ann = rows[0].as_ref().unwrap();
assert_eq!((ann.line, ann.name.as_str(), ann.emails[0].as_str()), (2, "Ann Lee", "ann@contoso.com"));
assert_eq!(rows[1].as_ref().unwrap_err().line, 3);
```
*/

use crate::address::{NormalizedAddress, normalize};
use crate::contacts::validate_name;
use serde::{Deserialize, Serialize};

/// The most data rows one file may have.
pub const MAX_DATA_LINES: usize = 100_000;

/// Email column names, as listed in error messages.
const EMAIL_HEADERS_HELP: &str = "Email, E-mail, Email Address, Emails, Email 2, Email 3, Secondary Email, Work Email";

/// One contact read from the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactLine {
    /// The 1-based line of the file the row starts on; the header is line 1.
    pub line: usize,
    /// Trimmed and checked by [`validate_name`]; empty when the file has
    /// none (callers may guess one with [`crate::contacts::guess_name`]).
    pub name: String,
    /// At least one; normalised, each once, in file order.
    pub emails: Vec<NormalizedAddress>,
    /// Trimmed; `None` when absent or blank.
    pub company: Option<String>,
}

/// Why one row was not imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct LineError {
    /// The 1-based line of the file the row starts on.
    pub line: usize,
    /// What is wrong and what to change, without the line number.
    pub message: String,
}

/// Why the file as a whole cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CsvError {
    #[error("the file is empty: export your contacts as CSV with a header row and try again")]
    Empty,
    #[error("the file is UTF-16, not UTF-8: save it again as \"CSV UTF-8\" and try again")]
    Utf16,
    #[error(
        "line {line} is not valid UTF-8 text: save the file again as \"CSV UTF-8\" (in Excel: Save As → CSV UTF-8) and try again"
    )]
    NotUtf8 { line: usize },
    #[error(
        "the file has no email column: the first row must be a header naming the columns, with one of: {accepted} (found: {found})"
    )]
    NoEmailColumn { accepted: &'static str, found: String },
    #[error("the file has more than {max} contacts: split it into smaller files and import them one by one")]
    TooManyLines { max: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Email,
    Name,
    FirstName,
    MiddleName,
    LastName,
    Company,
    Ignored,
}

/// `E-mail Address` → `emailaddress`.
fn header_key(header: &str) -> String {
    header.trim().chars().filter(|c| !matches!(c, ' ' | '_' | '-')).flat_map(char::to_lowercase).collect()
}

fn classify_header(header: &str) -> Column {
    let key = header_key(header);
    match key.as_str() {
        "name" | "fullname" | "displayname" | "contactname" => Column::Name,
        "firstname" | "givenname" | "first" => Column::FirstName,
        "middlename" | "additionalname" => Column::MiddleName,
        "lastname" | "surname" | "familyname" | "last" => Column::LastName,
        "company" | "companyname" | "organization" | "organisation" | "organizationname" | "organisationname"
        | "organization1name" | "account" | "accountname" | "employer" => Column::Company,
        _ if is_email_header(&key) => Column::Email,
        _ => Column::Ignored,
    }
}

/// `[qualifier] email [n] [address|addresses|value|s] [n]`, for example
/// `workemail`, `email2address` (Outlook), `email1value` (Google),
/// `emailaddress2`, `emails`. Not `email1type` or `emailverified`.
fn is_email_header(key: &str) -> bool {
    const QUALIFIERS: &[&str] = &[
        "primary",
        "secondary",
        "work",
        "business",
        "home",
        "personal",
        "private",
        "other",
        "alternate",
        "alternative",
        "additional",
        "contact",
    ];
    let rest = QUALIFIERS.iter().find_map(|q| key.strip_prefix(q)).unwrap_or(key);
    let Some(rest) = rest.strip_prefix("email") else { return false };
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = ["addresses", "address", "value", "s"].iter().find_map(|s| rest.strip_prefix(s)).unwrap_or(rest);
    rest.chars().all(|c| c.is_ascii_digit())
}

/// Picks the delimiter from the header row: a comma unless the header has
/// none and has semicolons or tabs.
fn delimiter(text: &str) -> u8 {
    let header = text.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
    if header.contains(',') {
        b','
    } else if header.contains(';') {
        b';'
    } else if header.contains('\t') {
        b'\t'
    } else {
        b','
    }
}

/// Reads a contacts CSV file (see the module docs). The outer error is for
/// the file; each row is a contact or a [`LineError`], in file order.
pub fn parse_contacts_csv(input: &[u8]) -> Result<Vec<Result<ContactLine, LineError>>, CsvError> {
    if input.starts_with(&[0xFF, 0xFE]) || input.starts_with(&[0xFE, 0xFF]) {
        return Err(CsvError::Utf16);
    }
    let input = input.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(input);
    let text = std::str::from_utf8(input).map_err(|e| CsvError::NotUtf8 {
        line: 1 + input[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count(),
    })?;
    if text.trim().is_empty() {
        return Err(CsvError::Empty);
    }

    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter(text))
        .from_reader(text.as_bytes());
    let mut records = reader.records();

    let header = loop {
        match records.next() {
            None => return Err(CsvError::Empty),
            // The text is valid UTF-8 and in memory, so the reader cannot
            // fail; skip rather than trust that.
            Some(Err(_)) => continue,
            Some(Ok(record)) if is_blank(&record) => continue,
            Some(Ok(record)) => break record,
        }
    };
    let columns: Vec<Column> = header.iter().map(classify_header).collect();
    if !columns.contains(&Column::Email) {
        let mut found: Vec<String> = header.iter().take(10).map(|h| format!("`{}`", h.trim())).collect();
        if header.len() > 10 {
            found.push("…".into());
        }
        return Err(CsvError::NoEmailColumn { accepted: EMAIL_HEADERS_HELP, found: found.join(", ") });
    }
    let email_headers: Vec<&str> =
        header.iter().zip(&columns).filter(|(_, c)| **c == Column::Email).map(|(h, _)| h.trim()).collect();

    // A record's position is where the reader started looking for it, which
    // is before any blank lines it then skipped; so skip them here too and
    // count lines from the first byte of the record itself.
    let line_starts: Vec<usize> = std::iter::once(0).chain(text.match_indices('\n').map(|(at, _)| at + 1)).collect();
    let line_of = |position: Option<&csv::Position>, fallback: usize| {
        let Some(byte) = position.and_then(|p| usize::try_from(p.byte()).ok()) else { return fallback };
        let skipped = text
            .as_bytes()
            .get(byte..)
            .map_or(0, |rest| rest.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count());
        // The number of lines starting at or before the record.
        line_starts.partition_point(|&start| start <= byte + skipped)
    };
    let mut out = Vec::new();
    let mut last_line = 1;
    for result in records {
        let record = match result {
            Ok(record) => record,
            Err(e) => {
                let line = line_of(e.position(), last_line + 1);
                last_line = line;
                out.push(Err(LineError { line, message: format!("the row cannot be read as CSV: {e}") }));
                continue;
            }
        };
        let line = line_of(record.position(), last_line + 1);
        last_line = line;
        if is_blank(&record) {
            continue;
        }
        if out.len() == MAX_DATA_LINES {
            return Err(CsvError::TooManyLines { max: MAX_DATA_LINES });
        }
        out.push(parse_row(&record, &columns, &email_headers, line));
    }
    Ok(out)
}

fn is_blank(record: &csv::StringRecord) -> bool {
    record.iter().all(|f| f.trim().is_empty())
}

fn parse_row(
    record: &csv::StringRecord,
    columns: &[Column],
    email_headers: &[&str],
    line: usize,
) -> Result<ContactLine, LineError> {
    let fail = |message: String| LineError { line, message };
    if record.len() != columns.len() {
        return Err(fail(format!(
            "the row has {} fields but the header has {}: put any value that contains a comma in double quotes",
            record.len(),
            columns.len()
        )));
    }

    let mut emails: Vec<NormalizedAddress> = Vec::new();
    let mut name = "";
    let (mut first, mut middle, mut last) = ("", "", "");
    let mut company = "";
    for (value, column) in record.iter().zip(columns) {
        let value = value.trim();
        match column {
            Column::Email => {
                for raw in value.split(":::").flat_map(|part| part.split([';', ','])) {
                    let raw = raw.trim();
                    if raw.is_empty() {
                        continue;
                    }
                    let address = normalize(raw).map_err(|e| fail(e.to_string()))?;
                    if !emails.contains(&address) {
                        emails.push(address);
                    }
                }
            }
            Column::Name if name.is_empty() => name = value,
            Column::FirstName if first.is_empty() => first = value,
            Column::MiddleName if middle.is_empty() => middle = value,
            Column::LastName if last.is_empty() => last = value,
            Column::Company if company.is_empty() => company = value,
            _ => {}
        }
    }
    if emails.is_empty() {
        return Err(fail(format!(
            "the row has no email address: fill in the {} column",
            email_headers.iter().map(|h| format!("`{h}`")).collect::<Vec<_>>().join(" or ")
        )));
    }
    let name = if name.is_empty() {
        [first, middle, last].iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>().join(" ")
    } else {
        name.to_owned()
    };
    let name = validate_name(&name).map_err(|e| fail(e.to_string()))?;
    let company = if company.is_empty() {
        None
    } else {
        Some(validate_name(company).map_err(|e| fail(e.to_string().replacen("the name", "the company name", 1)))?)
    };
    Ok(ContactLine { line, name, emails, company })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contacts::MAX_NAME_LEN;
    use proptest::prelude::*;

    fn rows(text: &str) -> Vec<Result<ContactLine, LineError>> {
        parse_contacts_csv(text.as_bytes()).unwrap()
    }

    fn ok(row: &Result<ContactLine, LineError>) -> &ContactLine {
        row.as_ref().unwrap()
    }

    fn err(row: &Result<ContactLine, LineError>) -> &LineError {
        row.as_ref().unwrap_err()
    }

    fn emails(line: &ContactLine) -> Vec<&str> {
        line.emails.iter().map(NormalizedAddress::as_str).collect()
    }

    #[test]
    fn reads_a_simple_file() {
        let r = rows("Name,Email,Company\nAnn Lee,ann@contoso.com,Contoso\nBob,Bob@Fabrikam.com,\n");
        assert_eq!(
            r,
            vec![
                Ok(ContactLine {
                    line: 2,
                    name: "Ann Lee".into(),
                    emails: vec![normalize("ann@contoso.com").unwrap()],
                    company: Some("Contoso".into()),
                }),
                Ok(ContactLine {
                    line: 3,
                    name: "Bob".into(),
                    emails: vec![normalize("bob@fabrikam.com").unwrap()],
                    company: None
                }),
            ]
        );
    }

    #[test]
    fn headers_match_without_case_spaces_underscores_or_hyphens() {
        for header in [
            "EMAIL",
            " e-mail ",
            "Email Address",
            "email_address",
            "E-mail Address",
            "Emails",
            "Email 2",
            "Work Email",
            "Secondary Email",
            "E-mail 1 - Value",
            "E-mail 3 Address",
            "Primary Email",
        ] {
            let r = rows(&format!("{header}\nann@contoso.com\n"));
            assert_eq!(emails(ok(&r[0])), ["ann@contoso.com"], "{header:?}");
        }
        for not_email in ["E-mail 1 - Type", "Email Verified", "Mailing Address", "Phone"] {
            assert!(
                matches!(
                    parse_contacts_csv(format!("{not_email}\nann@contoso.com\n").as_bytes()),
                    Err(CsvError::NoEmailColumn { .. })
                ),
                "{not_email:?}"
            );
        }
    }

    #[test]
    fn every_email_column_and_list_cell_counts_and_duplicates_collapse() {
        let r = rows(
            "Email,Email 2,Emails\nann@contoso.com,ANN@contoso.com,\"a2@contoso.com; ann@contoso.com , a3@contoso.com\"\n",
        );
        assert_eq!(emails(ok(&r[0])), ["ann@contoso.com", "a2@contoso.com", "a3@contoso.com"]);
        let google = rows("Name,E-mail 1 - Value\nAnn,ann@contoso.com ::: ann@home.example\n");
        assert_eq!(emails(ok(&google[0])), ["ann@contoso.com", "ann@home.example"]);
    }

    #[test]
    fn name_comes_from_name_or_first_and_last() {
        let r =
            rows("First Name,Middle Name,Last Name,E-mail Address\n Ann ,,Lee,ann@contoso.com\n,,,bob@contoso.com\n");
        assert_eq!(ok(&r[0]).name, "Ann Lee");
        assert_eq!(ok(&r[1]).name, "", "no name is allowed; the importer guesses one");
        let both = rows(
            "Display Name,Given Name,Surname,Email\nDr Ann Lee,Ann,Lee,ann@contoso.com\n,Bob,Ray,bob@contoso.com\n",
        );
        assert_eq!(ok(&both[0]).name, "Dr Ann Lee");
        assert_eq!(ok(&both[1]).name, "Bob Ray");
    }

    #[test]
    fn company_comes_from_company_organisation_or_account() {
        for header in ["Company", "Organization", "Organisation", "account", "Organization 1 - Name"] {
            let r = rows(&format!("Email,{header}\nann@contoso.com, Contoso Ltd \n"));
            assert_eq!(ok(&r[0]).company.as_deref(), Some("Contoso Ltd"), "{header:?}");
        }
    }

    #[test]
    fn unknown_columns_are_ignored() {
        let r = rows("Phone,Email,Notes\n+44 1234,ann@contoso.com,\"likes, commas\"\n");
        assert_eq!(emails(ok(&r[0])), ["ann@contoso.com"]);
    }

    #[test]
    fn a_row_without_an_address_is_a_line_error_naming_the_column() {
        let r = rows("Name,Work Email\nAnn,\n");
        let e = err(&r[0]);
        assert_eq!(e.line, 2);
        assert_eq!(e.message, "the row has no email address: fill in the `Work Email` column");
        assert_eq!(e.to_string(), "line 2: the row has no email address: fill in the `Work Email` column");
    }

    #[test]
    fn a_bad_address_is_a_line_error_naming_the_value() {
        let r = rows("Name,Email\nAnn,ann@contoso.com\nBob,bob at fabrikam\nCy,\"Cy <cy@contoso.com>\"\n");
        assert!(r[0].is_ok());
        let e = err(&r[1]);
        assert_eq!(e.line, 3);
        assert!(e.message.starts_with("`bob at fabrikam` is not an email address"), "{}", e.message);
        assert!(err(&r[2]).message.to_lowercase().contains("`cy <cy@contoso.com>`"), "{}", err(&r[2]).message);
    }

    #[test]
    fn bad_names_are_line_errors() {
        let long = "x".repeat(MAX_NAME_LEN + 1);
        let r = rows(&format!("Name,Email,Company\n{long},ann@contoso.com,\nAnn,ann@contoso.com,{long}\n"));
        assert!(err(&r[0]).message.contains("shorten it"), "{}", err(&r[0]).message);
        assert!(err(&r[1]).message.starts_with("the company name is 201 characters long"), "{}", err(&r[1]).message);
        let control = rows("Name,Email\n\"Ann\u{7}\",ann@contoso.com\n");
        assert!(err(&control[0]).message.contains("control character"));
    }

    #[test]
    fn a_ragged_row_is_a_line_error_not_a_file_error() {
        let r = rows("Name,Email\nLee, Ann,ann@contoso.com\nBob,bob@contoso.com\nCy\n");
        assert_eq!(err(&r[0]).line, 2);
        assert!(err(&r[0]).message.contains("3 fields but the header has 2"), "{}", err(&r[0]).message);
        assert!(r[1].is_ok());
        assert_eq!(err(&r[2]).line, 4);
    }

    #[test]
    fn blank_rows_are_skipped_and_line_numbers_count_them() {
        let r = rows("Name,Email\n\nAnn,ann@contoso.com\n , \n\"Bob\nRay\",x\nCy,cy@contoso.com\r\n");
        assert_eq!(r.len(), 3);
        assert_eq!(ok(&r[0]).line, 3);
        assert_eq!(err(&r[1]).line, 5, "a quoted line break: the row starts on line 5");
        assert_eq!(ok(&r[2]).line, 7);
    }

    #[test]
    fn bom_is_stripped_and_other_delimiters_recognised() {
        let r = parse_contacts_csv(b"\xEF\xBB\xBFEmail,Name\nann@contoso.com,Ann\n").unwrap();
        assert_eq!(ok(&r[0]).name, "Ann");
        let semi = rows("Name;Email;Company\nAnn;ann@contoso.com;\"Contoso; Ltd\"\n");
        assert_eq!(ok(&semi[0]).company.as_deref(), Some("Contoso; Ltd"));
        let tabs = rows("Name\tEmail\nAnn\tann@contoso.com\n");
        assert_eq!(emails(ok(&tabs[0])), ["ann@contoso.com"]);
    }

    #[test]
    fn file_level_problems_are_csv_errors() {
        assert_eq!(parse_contacts_csv(b""), Err(CsvError::Empty));
        assert_eq!(parse_contacts_csv(b" \n\r\n"), Err(CsvError::Empty));
        assert_eq!(parse_contacts_csv(b"\xEF\xBB\xBF"), Err(CsvError::Empty));
        assert_eq!(parse_contacts_csv(b"\xFF\xFEE\0m\0"), Err(CsvError::Utf16));
        assert_eq!(
            parse_contacts_csv(b"Email\nann@contoso.com\nb\xE9a@contoso.com\n"),
            Err(CsvError::NotUtf8 { line: 3 })
        );
        let no_header = parse_contacts_csv(b"ann@contoso.com,Ann\n").unwrap_err();
        assert_eq!(
            no_header.to_string(),
            "the file has no email column: the first row must be a header naming the columns, with one of: \
             Email, E-mail, Email Address, Emails, Email 2, Email 3, Secondary Email, Work Email (found: `ann@contoso.com`, `Ann`)"
        );
    }

    #[test]
    fn header_only_file_has_no_rows() {
        assert_eq!(rows("Name,Email\n"), vec![]);
    }

    #[test]
    fn too_many_rows_tell_the_user_to_split_the_file() {
        let mut file = String::from("Email\n");
        for i in 0..MAX_DATA_LINES {
            file.push_str(&format!("a{i}@contoso.com\n"));
        }
        assert_eq!(parse_contacts_csv(file.as_bytes()).map(|r| r.len()), Ok(MAX_DATA_LINES));
        file.push_str("one.more@contoso.com\n");
        let e = parse_contacts_csv(file.as_bytes()).unwrap_err();
        assert_eq!(e, CsvError::TooManyLines { max: MAX_DATA_LINES });
        assert!(e.to_string().contains("split it"));
    }

    #[derive(Debug, Clone)]
    struct Row {
        name: String,
        emails: Vec<String>,
        company: Option<String>,
    }

    fn row() -> impl Strategy<Value = Row> {
        (
            "[A-Za-zé ,\"']{0,20}",
            prop::collection::vec("[A-Za-z0-9._]{1,8}@[a-z]{1,8}\\.(com|org|co\\.uk)", 1..4),
            prop::option::of("[A-Za-z &,\"]{0,15}"),
        )
            .prop_map(|(name, emails, company)| Row { name, emails, company })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_contacts_csv(&bytes);
        }

        #[test]
        fn arbitrary_text_after_a_header_never_panics(body in "[a-z@.,;\"\n\r\t :]{0,200}") {
            let _ = parse_contacts_csv(format!("Name,Email,Company\n{body}").as_bytes());
        }

        #[test]
        fn a_well_formed_file_round_trips(input in prop::collection::vec(row(), 0..20)) {
            let mut writer = csv::Writer::from_writer(Vec::new());
            writer.write_record(["Full Name", "E-mail Address", "Organisation"]).unwrap();
            for r in &input {
                writer.write_record([r.name.as_str(), &r.emails.join("; "), r.company.as_deref().unwrap_or("")]).unwrap();
            }
            let bytes = writer.into_inner().unwrap();
            let parsed = parse_contacts_csv(&bytes).unwrap();
            prop_assert_eq!(parsed.len(), input.len());
            for (i, (got, want)) in parsed.iter().zip(&input).enumerate() {
                let got = got.as_ref().unwrap();
                prop_assert_eq!(got.line, i + 2);
                prop_assert_eq!(&got.name, want.name.trim());
                let mut want_emails: Vec<NormalizedAddress> = Vec::new();
                for e in &want.emails {
                    let a = normalize(e).unwrap();
                    if !want_emails.contains(&a) {
                        want_emails.push(a);
                    }
                }
                prop_assert_eq!(&got.emails, &want_emails);
                let want_company = want.company.as_deref().map(str::trim).filter(|c| !c.is_empty());
                prop_assert_eq!(got.company.as_deref(), want_company);
            }
        }
    }
}
