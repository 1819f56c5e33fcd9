//! Double Metaphone as the Python `metaphone` package 0.6 computes it (the package blocklib's
//! `metaphone` signature calls), quirks included: the input is NFD-normalised with
//! non-spacing marks dropped and upper-cased, padded with `--` and `------` so that look-ups
//! before and after the word read `-`; a character no rule handles repeats the previous
//! rule's output; `J` at the end of a word adds a space to the secondary code.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// `doublemetaphone(text)` joined, as blocklib uses it: the primary code followed by the
/// secondary code when it differs from the primary.
pub(crate) fn double_metaphone_joined(text: &str) -> String {
    let (primary, secondary) = double_metaphone(text);
    primary + &secondary
}

/// The primary and secondary codes (the secondary empty when equal to the primary).
pub(crate) fn double_metaphone(text: &str) -> (String, String) {
    Word::new(text).encode()
}

/// What a rule adds and how far it moves: the Python package's `next` tuple.
#[derive(Clone, Copy)]
enum Next {
    /// The same letters (if any) on both codes.
    Both(&'static str, isize),
    /// Different letters on the primary and the secondary code.
    Split(&'static str, &'static str, isize),
}

const VOWELS: [char; 6] = ['A', 'E', 'I', 'O', 'U', 'Y'];

fn is_vowel(c: char) -> bool {
    VOWELS.contains(&c)
}

struct Word {
    buffer: Vec<char>,
    start: isize,
    end: isize,
    slavo_germanic: bool,
}

impl Word {
    fn new(text: &str) -> Self {
        let replaced = text.replace(['\u{c7}', '\u{e7}'], "s");
        let normalized: String = replaced
            .nfd()
            .filter(|c| c.general_category() != GeneralCategory::NonspacingMark)
            .collect();
        let upper = normalized.to_uppercase();
        let length = upper.chars().count() as isize;
        let mut buffer: Vec<char> = "--".chars().collect();
        buffer.extend(upper.chars());
        buffer.extend("------".chars());
        let slavo_germanic = upper.contains('W')
            || upper.contains('K')
            || upper.contains("CZ")
            || upper.contains("WITZ");
        Word {
            buffer,
            start: 2,
            end: 2 + length - 1,
            slavo_germanic,
        }
    }

    /// `buffer[i]` with Python's negative indices; past the end (which the padding keeps
    /// the rules from reaching) reads as nothing.
    fn at(&self, i: isize) -> char {
        let len = self.buffer.len() as isize;
        let i = if i < 0 { i + len } else { i };
        if (0..len).contains(&i) {
            self.buffer[i as usize]
        } else {
            '\0'
        }
    }

    /// `buffer[a:b]` with Python's slice rules.
    fn slice(&self, a: isize, b: isize) -> String {
        let len = self.buffer.len() as isize;
        let norm = |i: isize| {
            if i < 0 { (i + len).max(0) } else { i.min(len) }
        };
        let (a, b) = (norm(a), norm(b));
        if a >= b {
            return String::new();
        }
        self.buffer[a as usize..b as usize].iter().collect()
    }

    fn is(&self, a: isize, b: isize, s: &str) -> bool {
        self.slice(a, b) == s
    }

    fn is_any(&self, a: isize, b: isize, options: &[&str]) -> bool {
        let s = self.slice(a, b);
        options.contains(&s.as_str())
    }

    fn at_any(&self, i: isize, options: &[char]) -> bool {
        options.contains(&self.at(i))
    }

    fn encode(&self) -> (String, String) {
        let mut primary = String::new();
        let mut secondary = String::new();
        let mut position = self.start;
        // check_word_start
        if ["GN", "KN", "PN", "WR", "PS"].contains(&self.slice(self.start, self.start + 2).as_str())
        {
            position += 1;
        }
        if self.at(self.start) == 'X' {
            primary.push('S');
            secondary.push('S');
            position += 1;
        }
        let mut next = Next::Both("", 1);
        while position <= self.end {
            let character = self.at(position);
            if is_vowel(character) {
                next = if position == self.start {
                    Next::Both("A", 1)
                } else {
                    Next::Both("", 1)
                };
            } else if character == ' ' {
                position += 1;
                continue;
            } else if let Some(rule) = self.rule(character, position) {
                next = rule;
            }
            match next {
                Next::Both(letters, step) => {
                    primary.push_str(letters);
                    secondary.push_str(letters);
                    position += step;
                }
                Next::Split(p, s, step) => {
                    primary.push_str(p);
                    secondary.push_str(s);
                    position += step;
                }
            }
        }
        if primary == secondary {
            secondary.clear();
        }
        (primary, secondary)
    }

    fn rule(&self, character: char, p: isize) -> Option<Next> {
        Some(match character {
            'B' => Next::Both("P", if self.at(p + 1) == 'B' { 2 } else { 1 }),
            'C' => self.c(p),
            'D' => {
                if self.is(p, p + 2, "DG") {
                    if self.at_any(p + 2, &['I', 'E', 'Y']) {
                        Next::Both("J", 3)
                    } else {
                        Next::Both("TK", 2)
                    }
                } else if self.is_any(p, p + 2, &["DT", "DD"]) {
                    Next::Both("T", 2)
                } else {
                    Next::Both("T", 1)
                }
            }
            'F' => Next::Both("F", if self.at(p + 1) == 'F' { 2 } else { 1 }),
            'G' => return self.g(p),
            'H' => {
                if (p == self.start || is_vowel(self.at(p - 1))) && is_vowel(self.at(p + 1)) {
                    Next::Both("H", 2)
                } else {
                    Next::Both("", 1)
                }
            }
            'J' => self.j(p),
            'K' => Next::Both("K", if self.at(p + 1) == 'K' { 2 } else { 1 }),
            'L' => self.l(p),
            'M' => {
                if (self.is(p + 1, p + 4, "UMB")
                    && (p + 1 == self.end || self.is(p + 2, p + 4, "ER")))
                    || self.at(p + 1) == 'M'
                {
                    Next::Both("M", 2)
                } else {
                    Next::Both("M", 1)
                }
            }
            'N' => Next::Both("N", if self.at(p + 1) == 'N' { 2 } else { 1 }),
            'P' => {
                if self.at(p + 1) == 'H' {
                    Next::Both("F", 2)
                } else if self.at_any(p + 1, &['P', 'B']) {
                    Next::Both("P", 2)
                } else {
                    Next::Both("P", 1)
                }
            }
            'Q' => Next::Both("K", if self.at(p + 1) == 'Q' { 2 } else { 1 }),
            'R' => {
                let step = if self.at(p + 1) == 'R' { 2 } else { 1 };
                if p == self.end
                    && !self.slavo_germanic
                    && self.is(p - 2, p, "IE")
                    && !self.is_any(p - 4, p - 2, &["ME", "MA"])
                {
                    Next::Split("", "R", step)
                } else {
                    Next::Both("R", step)
                }
            }
            'S' => self.s(p),
            'T' => self.t(p),
            'V' => Next::Both("F", if self.at(p + 1) == 'V' { 2 } else { 1 }),
            'W' => self.w(p),
            'X' => {
                let step = if self.at_any(p + 1, &['C', 'X']) {
                    2
                } else {
                    1
                };
                let silent = p == self.end
                    && (self.is_any(p - 3, p, &["IAU", "EAU"])
                        || self.is_any(p - 2, p, &["AU", "OU"]));
                Next::Both(if silent { "" } else { "KS" }, step)
            }
            'Z' => {
                let step = if self.at_any(p + 1, &['Z', 'H']) {
                    2
                } else {
                    1
                };
                if self.at(p + 1) == 'H' {
                    Next::Both("J", step)
                } else if self.is_any(p + 1, p + 3, &["ZO", "ZI", "ZA"])
                    || (self.slavo_germanic && p > self.start && self.at(p - 1) != 'T')
                {
                    Next::Split("S", "TS", step)
                } else {
                    Next::Both("S", step)
                }
            }
            _ => return None,
        })
    }

    // The branches mirror the Python package's one by one (some give the same output), so
    // that the port can be read against it.
    #[allow(clippy::if_same_then_else)]
    fn c(&self, p: isize) -> Next {
        let start = self.start;
        if p > start + 1
            && !is_vowel(self.at(p - 2))
            && self.is(p - 1, p + 2, "ACH")
            && self.at(p + 2) != 'I'
            && (self.at(p + 2) != 'E' || self.is_any(p - 2, p + 4, &["BACHER", "MACHER"]))
        {
            Next::Both("K", 2)
        } else if p == start && self.is(start, start + 6, "CAESAR") {
            Next::Both("S", 2)
        } else if self.is(p, p + 4, "CHIA") {
            Next::Both("K", 2)
        } else if self.is(p, p + 2, "CH") {
            if p > start && self.is(p, p + 4, "CHAE") {
                Next::Split("K", "X", 2)
            } else if p == start
                && (self.is_any(p + 1, p + 6, &["HARAC", "HARIS"])
                    || self.is_any(p + 1, p + 4, &["HOR", "HYM", "HIA", "HEM"]))
                && !self.is(start, start + 5, "CHORE")
            {
                Next::Both("K", 2)
            } else if self.is_any(start, start + 4, &["VAN ", "VON "])
                || self.is(start, start + 3, "SCH")
                || self.is_any(p - 2, p + 4, &["ORCHES", "ARCHIT", "ORCHID"])
                || self.at_any(p + 2, &['T', 'S'])
                || ((self.at_any(p - 1, &['A', 'O', 'U', 'E']) || p == start)
                    && self.at_any(p + 2, &['L', 'R', 'N', 'M', 'B', 'H', 'F', 'V', 'W']))
            {
                Next::Both("K", 2)
            } else if p > start {
                if self.is(start, start + 2, "MC") {
                    Next::Both("K", 2)
                } else {
                    Next::Split("X", "K", 2)
                }
            } else {
                Next::Both("X", 2)
            }
        } else if self.is(p, p + 2, "CZ") && !self.is(p - 2, p + 2, "WICZ") {
            Next::Split("S", "X", 2)
        } else if self.is(p + 1, p + 4, "CIA") {
            Next::Both("X", 3)
        } else if self.is(p, p + 2, "CC") && !(p == start + 1 && self.at(start) == 'M') {
            if self.at_any(p + 2, &['I', 'E', 'H']) && !self.is(p + 2, p + 4, "HU") {
                if (p == start + 1 && self.at(start) == 'A')
                    || self.is_any(p - 1, p + 4, &["UCCEE", "UCCES"])
                {
                    Next::Both("KS", 3)
                } else {
                    Next::Both("X", 3)
                }
            } else {
                Next::Both("K", 2)
            }
        } else if self.is_any(p, p + 2, &["CK", "CG", "CQ"]) {
            Next::Both("K", 2)
        } else if self.is_any(p, p + 2, &["CI", "CE", "CY"]) {
            if self.is_any(p, p + 3, &["CIO", "CIE", "CIA"]) {
                Next::Split("S", "X", 2)
            } else {
                Next::Both("S", 2)
            }
        } else if self.is_any(p + 1, p + 3, &[" C", " Q", " G"]) {
            Next::Both("K", 3)
        } else if self.at_any(p + 1, &['C', 'K', 'Q']) && !self.is_any(p + 1, p + 3, &["CE", "CI"])
        {
            Next::Both("K", 2)
        } else {
            Next::Both("K", 1)
        }
    }

    #[allow(clippy::if_same_then_else)]
    /// `None` where the Python package sets nothing, so that the previous rule's output
    /// stands.
    fn g(&self, p: isize) -> Option<Next> {
        let start = self.start;
        Some(if self.at(p + 1) == 'H' {
            if p > start && !is_vowel(self.at(p - 1)) {
                Next::Both("K", 2)
            } else if p < start + 3 {
                if p == start {
                    if self.at(p + 2) == 'I' {
                        Next::Both("J", 2)
                    } else {
                        Next::Both("K", 2)
                    }
                } else {
                    return None;
                }
            } else if (p > start + 1 && self.at_any(p - 2, &['B', 'H', 'D']))
                || (p > start + 2 && self.at_any(p - 3, &['B', 'H', 'D']))
                || (p > start + 3 && self.at_any(p - 4, &['B', 'H']))
            {
                Next::Both("", 2)
            } else if p > start + 2
                && self.at(p - 1) == 'U'
                && self.at_any(p - 3, &['C', 'G', 'L', 'R', 'T'])
            {
                Next::Both("F", 2)
            } else if p > start && self.at(p - 1) != 'I' {
                Next::Both("K", 2)
            } else {
                return None;
            }
        } else if self.at(p + 1) == 'N' {
            if p == start + 1 && is_vowel(self.at(start)) && !self.slavo_germanic {
                Next::Split("KN", "N", 2)
            } else if !self.is(p + 2, p + 4, "EY") && self.at(p + 1) != 'Y' && !self.slavo_germanic
            {
                Next::Split("N", "KN", 2)
            } else {
                Next::Both("KN", 2)
            }
        } else if self.is(p + 1, p + 3, "LI") && !self.slavo_germanic {
            Next::Split("KL", "L", 2)
        } else if p == start
            && (self.at(p + 1) == 'Y'
                || self.is_any(
                    p + 1,
                    p + 3,
                    &[
                        "ES", "EP", "EB", "EL", "EY", "IB", "IL", "IN", "IE", "EI", "ER",
                    ],
                ))
        {
            Next::Split("K", "J", 2)
        } else if (self.is(p + 1, p + 3, "ER") || self.at(p + 1) == 'Y')
            && !self.is_any(start, start + 6, &["DANGER", "RANGER", "MANGER"])
            && !self.at_any(p - 1, &['E', 'I'])
            && !self.is_any(p - 1, p + 2, &["RGY", "OGY"])
        {
            Next::Split("K", "J", 2)
        } else if self.at_any(p + 1, &['E', 'I', 'Y'])
            || self.is_any(p - 1, p + 3, &["AGGI", "OGGI"])
        {
            if self.is_any(start, start + 4, &["VON ", "VAN "])
                || self.is(start, start + 3, "SCH")
                || self.is(p + 1, p + 3, "ET")
            {
                Next::Both("K", 2)
            } else if self.is(p + 1, p + 5, "IER ") {
                Next::Both("J", 2)
            } else {
                Next::Split("J", "K", 2)
            }
        } else if self.at(p + 1) == 'G' {
            Next::Both("K", 2)
        } else {
            Next::Both("K", 1)
        })
    }

    fn j(&self, p: isize) -> Next {
        let start = self.start;
        let step = if self.at(p + 1) == 'J' { 2 } else { 1 };
        let (primary, secondary): (&'static str, Option<&'static str>) =
            if self.is(p, p + 4, "JOSE") || self.is(start, start + 4, "SAN ") {
                if (p == start && self.at(p + 4) == ' ') || self.is(start, start + 4, "SAN ") {
                    ("H", None)
                } else {
                    ("J", Some("H"))
                }
            } else if p == start && !self.is(p, p + 4, "JOSE") {
                ("J", Some("A"))
            } else if is_vowel(self.at(p - 1))
                && !self.slavo_germanic
                && self.at_any(p + 1, &['A', 'O'])
            {
                ("J", Some("H"))
            } else if p == self.end {
                ("J", Some(" "))
            } else if !self.at_any(p + 1, &['L', 'T', 'K', 'S', 'N', 'M', 'B', 'Z'])
                && !self.at_any(p - 1, &['S', 'K', 'L'])
            {
                ("J", None)
            } else {
                ("", None)
            };
        match secondary {
            None => Next::Both(primary, step),
            Some(secondary) => Next::Split(primary, secondary, step),
        }
    }

    fn l(&self, p: isize) -> Next {
        let end = self.end;
        if self.at(p + 1) == 'L' {
            if (p == end - 2 && self.is_any(p - 1, p + 3, &["ILLO", "ILLA", "ALLE"]))
                || ((self.is_any(end - 1, end + 1, &["AS", "OS"]) || self.at_any(end, &['A', 'O']))
                    && self.is(p - 1, p + 3, "ALLE"))
            {
                Next::Split("L", "", 2)
            } else {
                Next::Both("L", 2)
            }
        } else {
            Next::Both("L", 1)
        }
    }

    fn s(&self, p: isize) -> Next {
        let start = self.start;
        if self.is_any(p - 1, p + 2, &["ISL", "YSL"]) {
            Next::Both("", 1)
        } else if p == start && self.is(start, start + 5, "SUGAR") {
            Next::Split("X", "S", 1)
        } else if self.is(p, p + 2, "SH") {
            if self.is_any(p + 1, p + 5, &["HEIM", "HOEK", "HOLM", "HOLZ"]) {
                Next::Both("S", 2)
            } else {
                Next::Both("X", 2)
            }
        } else if self.is_any(p, p + 3, &["SIO", "SIA"]) || self.is(p, p + 4, "SIAN") {
            if !self.slavo_germanic {
                Next::Split("S", "X", 3)
            } else {
                Next::Both("S", 3)
            }
        } else if (p == start && self.at_any(p + 1, &['M', 'N', 'L', 'W'])) || self.at(p + 1) == 'Z'
        {
            Next::Split("S", "X", if self.at(p + 1) == 'Z' { 2 } else { 1 })
        } else if self.is(p, p + 2, "SC") {
            if self.at(p + 2) == 'H' {
                if self.is_any(p + 3, p + 5, &["OO", "ER", "EN", "UY", "ED", "EM"]) {
                    if self.is_any(p + 3, p + 5, &["ER", "EN"]) {
                        Next::Split("X", "SK", 3)
                    } else {
                        Next::Both("SK", 3)
                    }
                } else if p == start && !is_vowel(self.at(start + 3)) && self.at(start + 3) != 'W' {
                    Next::Split("X", "S", 3)
                } else {
                    Next::Both("X", 3)
                }
            } else if self.at_any(p + 2, &['I', 'E', 'Y']) {
                Next::Both("S", 3)
            } else {
                Next::Both("SK", 3)
            }
        } else if p == self.end && self.is_any(p - 2, p, &["AI", "OI"]) {
            Next::Split("", "S", 1)
        } else {
            Next::Both(
                "S",
                if self.at_any(p + 1, &['S', 'Z']) {
                    2
                } else {
                    1
                },
            )
        }
    }

    fn t(&self, p: isize) -> Next {
        let start = self.start;
        if self.is(p, p + 4, "TION") || self.is_any(p, p + 3, &["TIA", "TCH"]) {
            Next::Both("X", 3)
        } else if self.is(p, p + 2, "TH") || self.is(p, p + 3, "TTH") {
            if self.is_any(p + 2, p + 4, &["OM", "AM"])
                || self.is_any(start, start + 4, &["VON ", "VAN "])
                || self.is(start, start + 3, "SCH")
            {
                Next::Both("T", 2)
            } else {
                Next::Split("0", "T", 2)
            }
        } else if self.at_any(p + 1, &['T', 'D']) {
            Next::Both("T", 2)
        } else {
            Next::Both("T", 1)
        }
    }

    fn w(&self, p: isize) -> Next {
        let start = self.start;
        if self.is(p, p + 2, "WR") {
            Next::Both("R", 2)
        } else if p == start && (is_vowel(self.at(p + 1)) || self.is(p, p + 2, "WH")) {
            if is_vowel(self.at(p + 1)) {
                Next::Split("A", "F", 1)
            } else {
                Next::Both("A", 1)
            }
        } else if (p == self.end && is_vowel(self.at(p - 1)))
            || self.is_any(p - 1, p + 4, &["EWSKI", "EWSKY", "OWSKI", "OWSKY"])
            || self.is(start, start + 3, "SCH")
        {
            Next::Split("", "F", 1)
        } else if self.is_any(p, p + 4, &["WICZ", "WITZ"]) {
            Next::Split("TS", "FX", 4)
        } else {
            Next::Both("", 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::double_metaphone_joined;

    // Expected values printed by the Python `metaphone` package 0.6.
    #[test]
    fn matches_the_python_package() {
        for (word, code) in [
            ("Smith", "SM0XMT"),
            ("Schmidt", "XMTSMT"),
            ("José", "JSHS"),
            ("Müller", "MLR"),
            ("hugh", "HH"),
            ("Jj", "JA"),
            ("Xavier", "SFSFR"),
            ("B1", "PP"),
            ("caesar", "SSR"),
            ("wright", "RT"),
            ("ghislane", "JLN"),
            ("Ærø", "RR"),
            ("Straße", "STRS"),
            ("", ""),
        ] {
            assert_eq!(double_metaphone_joined(word), code, "{word}");
        }
    }
}
