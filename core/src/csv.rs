//! CSV (RFC 4180) both ways, by the `csv` crates: writing for exports and statements, reading for
//! imports. What is written reads back exactly: the `'` put before a field a spreadsheet would run
//! is taken off again when read.

/// The records of `text`, read by the `csv` crate as RFC 4180 and spreadsheets have it: fields
/// split on commas, quoted fields may hold commas, quotes (doubled) and line breaks; CRLF and LF
/// both end a record; blank lines are skipped. Each record comes with its 1-based line number, for
/// errors that name the row.
///
/// A record with an odd number of quotes is refused: a quoted field that is never closed (a file
/// cut short) would otherwise swallow the records after it.
pub fn read_csv(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text); // spreadsheets' byte-order mark
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = Vec::new();
    let mut record = csv::StringRecord::new();
    // Lines are counted here: the reader's own count lags by one after a CRLF.
    let mut lines = LineCounter::new(text);
    loop {
        let before = reader.position().byte() as usize;
        let more = reader
            .read_record(&mut record)
            .map_err(|e| format!("line {}: {e}", lines.line_at(before)))?;
        if !more {
            return Ok(records);
        }
        let from = record.position().map_or(before, |p| p.byte() as usize);
        let to = reader.position().byte() as usize;
        let raw = text.get(from..to).unwrap_or_default();
        // The record starts past the line breaks before it (a CRLF's LF, blank lines).
        let line = lines.line_at(from + (raw.len() - raw.trim_start_matches(['\r', '\n']).len()));
        if raw.bytes().filter(|b| *b == b'"').count() % 2 == 1 {
            return Err(format!(
                "line {line}: a quoted field is never closed, or a quote stands inside an unquoted field"
            ));
        }
        if record.len() == 1 && record[0].is_empty() {
            continue;
        }
        records.push((line, record.iter().map(unguard).collect()));
    }
}

/// 1-based line numbers of byte offsets, asked in increasing order.
struct LineCounter<'a> {
    text: &'a str,
    counted: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            counted: 0,
            line: 1,
        }
    }

    fn line_at(&mut self, offset: usize) -> usize {
        let offset = offset.clamp(self.counted, self.text.len());
        self.line += self.text.as_bytes()[self.counted..offset]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        self.counted = offset;
        self.line
    }
}

/// A field as it was before [`write_csv_record`] defused it.
fn unguard(field: &str) -> String {
    if guarded_formula(field) {
        field[1..].to_owned()
    } else {
        field.to_owned()
    }
}

/// Whether a spreadsheet would read a text field as a formula: anything starting with `=`, `+`,
/// `-`, `@`, tab or CR that is not a plain number (`-2+3+cmd|...` is a formula, `-5` is not). Such
/// fields get a leading `'`, so opening an export cannot run anything a tenant put in a resource
/// name or tag.
fn looks_like_formula(f: &str) -> bool {
    f.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_plain_number(f)
}

/// Whether a field gets the defusing `'`: a formula, or a field that would read back as one once
/// [`read_csv`] took a `'` off it (`'+1` is written `''+1`), so that what Meterbook
/// writes reads back exactly.
fn needs_guard(f: &str) -> bool {
    looks_like_formula(f) || guarded_formula(f)
}

/// A field that, past its leading `'`s, is a formula: the reader takes one `'` off it.
fn guarded_formula(f: &str) -> bool {
    f.starts_with('\'') && looks_like_formula(f.trim_start_matches('\''))
}

/// Lets `step` write up to `room` bytes at the end of `bytes`; it returns how many it wrote. The
/// rooms given are what `csv-core` can write at most: a field at most doubles (every byte a
/// quote) and gains its quotes; a delimiter or terminator comes with the field's closing quote.
fn append(bytes: &mut Vec<u8>, room: usize, step: impl FnOnce(&mut [u8]) -> usize) {
    let at = bytes.len();
    bytes.resize(at + room, 0);
    let written = step(&mut bytes[at..]);
    bytes.truncate(at + written);
}

/// `-12`, `3.5`, `-0.25`, `1e-7`: an optional minus, digits with an optional fraction, an optional
/// exponent, and nothing else.
fn is_plain_number(f: &str) -> bool {
    fn digits(s: &str) -> (usize, &str) {
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        (n, &s[n..])
    }
    let (whole, rest) = digits(f.strip_prefix('-').unwrap_or(f));
    let (fraction, rest) = match rest.strip_prefix('.') {
        Some(r) => digits(r),
        None => (0, rest),
    };
    if whole + fraction == 0 {
        return false;
    }
    match rest.strip_prefix(['e', 'E']) {
        None => rest.is_empty(),
        Some(exp) => {
            let (n, rest) = digits(exp.strip_prefix(['-', '+']).unwrap_or(exp));
            n > 0 && rest.is_empty()
        }
    }
}

/// Appends one CSV record (RFC 4180: quoted when needed, quotes doubled, CRLF line end), written
/// by `csv-core`, which needs no buffer of its own, so exports write row after row for free.
pub fn write_csv_record<S: AsRef<str>>(out: &mut String, fields: &[S]) {
    let mut writer = csv_core::WriterBuilder::new()
        .terminator(csv_core::Terminator::CRLF)
        .build();
    let mut bytes = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            append(&mut bytes, 2, |o| writer.delimiter(o).1);
        }
        let guarded;
        let mut f = field.as_ref();
        if needs_guard(f) {
            guarded = format!("'{f}");
            f = &guarded;
        }
        append(&mut bytes, 2 + 2 * f.len(), |o| {
            writer.field(f.as_bytes(), o).2
        });
    }
    append(&mut bytes, 3, |o| writer.terminator(o).1);
    // Valid UTF-8 in, ASCII quotes and separators added: never lossy.
    out.push_str(&String::from_utf8_lossy(&bytes));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_a_spreadsheet_would_run_are_defused() {
        let mut out = String::new();
        write_csv_record(
            &mut out,
            &["=HYPERLINK(\"x\")", "+1", "@SUM", "-x", "-5", "vm-1", "1.5"],
        );
        assert_eq!(
            out,
            "\"'=HYPERLINK(\"\"x\"\")\",'+1,'@SUM,'-x,-5,vm-1,1.5\r\n"
        );
        let mut out = String::new();
        write_csv_record(&mut out, &["'+1", "''=x", "'abc", "'-5", "'"]);
        assert_eq!(out, "''+1,'''=x,'abc,'-5,'\r\n");
        let mut out = String::new();
        write_csv_record(
            &mut out,
            &[
                "-2+3+cmd|' /C calc'!A0",
                "-1.5e-3",
                "-1.",
                "-.5",
                "-1e",
                "\tx",
                "-",
            ],
        );
        assert_eq!(
            out,
            "'-2+3+cmd|' /C calc'!A0,-1.5e-3,-1.,-.5,'-1e,'\tx,'-\r\n"
        );
    }

    #[test]
    fn csv_fields_are_escaped() {
        let mut out = String::new();
        write_csv_record(&mut out, &["a", "b,c", "say \"hi\""]);
        assert_eq!(out, "a,\"b,c\",\"say \"\"hi\"\"\"\r\n");
    }

    #[test]
    fn quoted_fields_keep_commas_quotes_and_line_breaks() {
        let records = read_csv("a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\n\n\"two\nlines\",z").unwrap();
        assert_eq!(
            records,
            vec![
                (1, vec!["a".to_owned(), "b".to_owned()]),
                (2, vec!["x, y".to_owned(), "say \"hi\"".to_owned()]),
                (4, vec!["two\nlines".to_owned(), "z".to_owned()]),
            ]
        );
    }

    #[test]
    fn what_the_writer_writes_reads_back() {
        let mut out = String::new();
        let fields = [
            "plain",
            "with,comma",
            "with \"quote\"",
            "",
            "+++FAB6EB84",
            "=1+1",
            "'+1",
            "''@x",
            "'plain",
            "-5",
            "\tx,y",
        ];
        write_csv_record(&mut out, &fields);
        let records = read_csv(&out).unwrap();
        assert_eq!(records[0].1, fields);
    }

    #[test]
    fn malformed_quoting_is_refused_with_its_line() {
        assert!(read_csv("a,b\nc\"d,e").unwrap_err().contains("line 2"));
        assert!(read_csv("a\n\"open").unwrap_err().contains("line 2"));
        assert!(read_csv("a\nb\n\"cut,short\nc,d\n")
            .unwrap_err()
            .contains("line 3"));
    }

    #[test]
    fn a_byte_order_mark_and_blank_lines_are_skipped() {
        let records = read_csv("\u{feff}a,b\r\n\r\n\n\"\"\nc,\n").unwrap();
        assert_eq!(
            records,
            vec![
                (1, vec!["a".to_owned(), "b".to_owned()]),
                (5, vec!["c".to_owned(), String::new()]),
            ]
        );
    }

    #[test]
    fn long_and_multibyte_fields_are_written_whole() {
        let long = "\"é\u{1F600}".repeat(3_000);
        let mut out = String::new();
        write_csv_record(&mut out, &[long.as_str(), "x"]);
        assert_eq!(read_csv(&out).unwrap()[0].1, [long.as_str(), "x"]);
    }
}
