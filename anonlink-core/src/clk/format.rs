//! Value formats (API of clkhash's `FieldSpec` formats): how a value is validated, and the
//! canonical text that is hashed (`format_value` of the reference).

use super::schema::Format;
use super::text::encode_text;

/// `str(int(s, 10))` for ASCII digits: whitespace around, a sign, `_` between digits.
pub(super) fn python_int(s: &str) -> std::result::Result<String, String> {
    let bad = || format!("{s:?} is not an integer");
    let t = s.trim();
    let (negative, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return Err(bad());
    }
    let mut clean = String::with_capacity(digits.len());
    for c in digits.chars() {
        match c {
            '0'..='9' => clean.push(c),
            '_' => {}
            _ => return Err(bad()),
        }
    }
    let trimmed = clean.trim_start_matches('0');
    Ok(match (trimmed.is_empty(), negative) {
        (true, _) => "0".to_string(),
        (false, true) => format!("-{trimmed}"),
        (false, false) => trimmed.to_string(),
    })
}

pub(super) fn parse_date(
    value: &str,
    format: &str,
) -> std::result::Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(value, format)
        .map_err(|e| format!("{value:?} is not a date in the format {format:?}: {e}"))
}

/// The value as hashed (`format_value` of the reference).
pub(super) fn format_value(format: &Format, value: &str) -> std::result::Result<String, String> {
    match format {
        Format::Integer { .. } => python_int(value),
        Format::Date { format } => {
            use chrono::Datelike;
            let d = parse_date(value, format)?;
            // Python's strftime('%Y%m%d') does not pad years below 1000.
            Ok(format!("{}{:02}{:02}", d.year(), d.month(), d.day()))
        }
        Format::String { .. } | Format::Enum { .. } => Ok(value.to_string()),
    }
}

/// Checks `value` against its format (and the feature's compiled `pattern`, if any).
pub(super) fn validate_value(
    pattern: Option<&regex::Regex>,
    format: &Format,
    value: &str,
) -> std::result::Result<(), String> {
    match format {
        Format::String {
            encoding,
            case,
            min_length,
            max_length,
            ..
        } => {
            if let Some(re) = pattern
                && !re.is_match(value)
            {
                return Err(format!("{value:?} does not match the pattern"));
            }
            let len = value.chars().count();
            if min_length.is_some_and(|m| len < m) || max_length.is_some_and(|m| len > m) {
                return Err(format!("length {len} is outside the allowed range"));
            }
            match case.as_deref() {
                Some("upper") if value.to_uppercase() != value => {
                    return Err(format!("{value:?} is not upper case"));
                }
                Some("lower") if value.to_lowercase() != value => {
                    return Err(format!("{value:?} is not lower case"));
                }
                _ => {}
            }
            encode_text(value, *encoding).map(|_| ())
        }
        Format::Integer { minimum, maximum } => {
            let canonical = python_int(value)?;
            let n: i128 = canonical
                .parse()
                .map_err(|_| format!("{value:?} is out of range"))?;
            if minimum.is_some_and(|m| n < m) || maximum.is_some_and(|m| n > m) {
                return Err(format!("{n} is outside the allowed range"));
            }
            Ok(())
        }
        Format::Date { format } => parse_date(value, format).map(|_| ()),
        Format::Enum { values } => {
            if values.iter().any(|v| v == value) {
                Ok(())
            } else {
                Err(format!("{value:?} is not one of the allowed values"))
            }
        }
    }
}
