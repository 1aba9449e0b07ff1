//! CSV (RFC 4180) both ways: writing for exports and statements, reading for imports. What is
//! written reads back exactly: the `'` put before a field a spreadsheet would run is taken off
//! again when read.

/// The records of `text`: fields split on commas, quoted fields may hold commas, quotes (doubled)
/// and line breaks; CRLF and LF both end a record; blank lines are skipped. Each record comes with
/// its 1-based line number, for errors that name the row.
pub fn read_csv(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text); // spreadsheets' byte-order mark
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut line = 1;
    let mut record_line = 1;
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            '"' => return Err(format!("line {line}: a quote inside an unquoted field")),
            ',' => fields.push(unguard(std::mem::take(&mut field))),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(unguard(std::mem::take(&mut field)));
                if !(fields.len() == 1 && fields[0].is_empty()) {
                    records.push((record_line, std::mem::take(&mut fields)));
                }
                fields.clear();
                line += 1;
                record_line = line;
            }
            _ => field.push(c),
        }
    }
    if quoted {
        return Err(format!(
            "line {record_line}: a quoted field is never closed"
        ));
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(unguard(field));
        records.push((record_line, fields));
    }
    Ok(records)
}

/// A field as it was before [`write_csv_record`] defused it.
fn unguard(field: String) -> String {
    if guarded_formula(&field) {
        field[1..].to_owned()
    } else {
        field
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

/// Appends one CSV record (RFC 4180: quoted when needed, quotes doubled, CRLF line end).
pub fn write_csv_record<S: AsRef<str>>(out: &mut String, fields: &[S]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let guarded;
        let mut f = field.as_ref();
        if needs_guard(f) {
            guarded = format!("'{f}");
            f = &guarded;
        }
        if f.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&f.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(f);
        }
    }
    out.push_str("\r\n");
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
    }
}
