//! Reading CSV (RFC 4180) for imports; writing is [`crate::export::write_csv_record`], and what
//! it writes reads back exactly: the `'` it puts before a field a spreadsheet would run is taken
//! off again here.

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

/// A field as it was before [`crate::export::write_csv_record`] defused it.
fn unguard(field: String) -> String {
    if crate::export::guarded_formula(&field) {
        field[1..].to_owned()
    } else {
        field
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::write_csv_record;

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
