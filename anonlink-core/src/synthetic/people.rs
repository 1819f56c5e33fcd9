//! Fake people, and linked datasets of them with the errors real registers have (typos,
//! swapped or missing fields, date slips), with the truth: evaluation sets of any size and
//! noise, to hash with the project's encoder (and its default schema).
//!
//! The columns are those of the seed tutorial's `clkutil generate`:
//! `INDEX,NAME freetext,DOB YYYY/MM/DD,GENDER M or F`.

use std::io::Write;
use std::str::FromStr;

use chrono::{Datelike, Duration, NaiveDate};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::names::{FEMALE, MALE, SURNAMES};
use crate::error::{Error, Result};

/// The header of a people file.
pub const HEADER: [&str; 4] = ["INDEX", "NAME freetext", "DOB YYYY/MM/DD", "GENDER M or F"];

/// The date written for an unknown date of birth.
pub const UNKNOWN_DATE: &str = "1900/01/01";

/// One record as written: a name part may be missing; an unknown date is
/// [`UNKNOWN_DATE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonRecord {
    /// Given name and surname, space-separated.
    pub name: String,
    /// Date of birth as `YYYY/MM/DD`.
    pub dob: String,
    /// `M` or `F`.
    pub gender: String,
}

/// The true person behind records.
#[derive(Debug, Clone)]
struct Person {
    given: &'static str,
    surname: &'static str,
    dob: NaiveDate,
    female: bool,
}

/// How noisy the copies of a person are: the chance that each field of a record is
/// corrupted (a typo in the name, a slip in the date), with rarer swaps, missing fields and
/// changed surnames in proportion. Parsed from a number in `[0, 1]` or a level: `clean`
/// (0), `low` (0.1), `medium` (0.25), `high` (0.4), `very-high` (0.6).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Corruption(f64);

impl Corruption {
    /// A corruption level in `[0, 1]`.
    ///
    /// # Errors
    /// [`Error::Usage`] outside `[0, 1]`.
    pub fn new(level: f64) -> Result<Corruption> {
        if (0.0..=1.0).contains(&level) {
            Ok(Corruption(level))
        } else {
            Err(Error::Usage {
                reason: format!("corruption {level} is outside [0, 1]"),
            })
        }
    }

    /// The level.
    pub fn level(self) -> f64 {
        self.0
    }
}

impl FromStr for Corruption {
    type Err = Error;
    fn from_str(s: &str) -> Result<Corruption> {
        let level = match s {
            "clean" => 0.0,
            "low" => 0.1,
            "medium" => 0.25,
            "high" => 0.4,
            "very-high" => 0.6,
            other => other.parse().map_err(|_| Error::Usage {
                reason: format!(
                    "corruption {other:?}: expected a number in [0, 1] or clean, low, medium, \
                     high, very-high"
                ),
            })?,
        };
        Corruption::new(level)
    }
}

/// What linked datasets to make.
#[derive(Debug, Clone)]
pub struct LinkedSpec {
    /// Records per party.
    pub records: usize,
    /// Number of parties (at least 2).
    pub parties: usize,
    /// `overlap × records` people are shared, each by 2 to `parties` parties (all of them
    /// for two parties); the rest of each party's records are its own people.
    pub overlap: f64,
    /// Noise of every record.
    pub corruption: Corruption,
    /// Seed: the same spec gives the same files.
    pub seed: u64,
}

/// Linked datasets and their truth.
#[derive(Debug, Clone)]
pub struct LinkedDatasets {
    /// Each party's records, in row order.
    pub parties: Vec<Vec<PersonRecord>>,
    /// The entity of each party's rows: equal numbers are one person.
    pub entities: Vec<Vec<u64>>,
}

/// `n` people, one record each, without errors (what `clkutil generate` writes).
pub fn people(n: usize, seed: u64) -> Vec<PersonRecord> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let draw = Draw::new();
    (0..n).map(|_| record_of(&draw.person(&mut rng))).collect()
}

/// Linked datasets of `spec`.
///
/// # Errors
/// [`Error::Usage`] for fewer than two parties or an overlap outside `[0, 1]`.
pub fn linked(spec: &LinkedSpec) -> Result<LinkedDatasets> {
    if spec.parties < 2 {
        return Err(Error::Usage {
            reason: format!(
                "linked datasets need at least 2 parties, not {}",
                spec.parties
            ),
        });
    }
    if !(0.0..=1.0).contains(&spec.overlap) {
        return Err(Error::Usage {
            reason: format!("overlap {} is outside [0, 1]", spec.overlap),
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let draw = Draw::new();
    let shared = (spec.overlap * spec.records as f64).round() as usize;
    let mut members: Vec<Vec<(u64, Person)>> = vec![Vec::new(); spec.parties];
    let mut next_entity = 0u64;
    for _ in 0..shared {
        let person = draw.person(&mut rng);
        let size = rng.random_range(2..=spec.parties);
        let mut order: Vec<usize> = (0..spec.parties).collect();
        order.shuffle(&mut rng);
        for &p in &order[..size] {
            if members[p].len() < spec.records {
                members[p].push((next_entity, person.clone()));
            }
        }
        next_entity += 1;
    }
    for party in &mut members {
        while party.len() < spec.records {
            party.push((next_entity, draw.person(&mut rng)));
            next_entity += 1;
        }
        party.shuffle(&mut rng);
    }
    let mut parties = Vec::with_capacity(spec.parties);
    let mut entities = Vec::with_capacity(spec.parties);
    for party in members {
        let (ids, records): (Vec<u64>, Vec<PersonRecord>) = party
            .into_iter()
            .map(|(id, person)| (id, corrupt(&person, spec.corruption.0, &draw, &mut rng)))
            .unzip();
        parties.push(records);
        entities.push(ids);
    }
    Ok(LinkedDatasets { parties, entities })
}

/// Writes records as a people file (header, then `INDEX` = row).
///
/// # Errors
/// [`Error::Io`] when writing fails.
pub fn write_people(records: &[PersonRecord], out: impl Write) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let csv_error = |e: csv::Error| Error::Io(std::io::Error::other(e));
    w.write_record(HEADER).map_err(csv_error)?;
    for (i, r) in records.iter().enumerate() {
        w.write_record([i.to_string().as_str(), &r.name, &r.dob, &r.gender])
            .map_err(csv_error)?;
    }
    w.flush()?;
    Ok(())
}

/// Writes the truth of linked datasets as CSV `party,row,entity`.
///
/// # Errors
/// [`Error::Io`] when writing fails.
pub fn write_truth(entities: &[Vec<u64>], out: impl Write) -> Result<()> {
    let mut out = std::io::BufWriter::new(out);
    writeln!(out, "party,row,entity")?;
    for (p, ids) in entities.iter().enumerate() {
        for (row, id) in ids.iter().enumerate() {
            writeln!(out, "{p},{row},{id}")?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Weighted draws from the name lists.
struct Draw {
    female: Zipf,
    male: Zipf,
    surname: Zipf,
}

impl Draw {
    fn new() -> Draw {
        Draw {
            female: Zipf::new(FEMALE.len()),
            male: Zipf::new(MALE.len()),
            surname: Zipf::new(SURNAMES.len()),
        }
    }

    fn person(&self, rng: &mut ChaCha8Rng) -> Person {
        let female = rng.random_bool(0.5);
        let given = if female {
            FEMALE[self.female.sample(rng)]
        } else {
            MALE[self.male.sample(rng)]
        };
        // Born 1930–2010.
        let first = NaiveDate::from_ymd_opt(1930, 1, 1).unwrap_or_default();
        let dob = first + Duration::days(rng.random_range(0..81 * 365));
        Person {
            given,
            surname: SURNAMES[self.surname.sample(rng)],
            dob,
            female,
        }
    }
}

/// Rank `i` drawn with weight `1 / (i + 1)^0.9`.
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize) -> Zipf {
        let mut total = 0.0;
        let cumulative = (0..n)
            .map(|i| {
                total += 1.0 / ((i + 1) as f64).powf(0.9);
                total
            })
            .collect();
        Zipf { cumulative }
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = rng.random_range(0.0..total);
        self.cumulative
            .partition_point(|&c| c <= x)
            .min(self.cumulative.len() - 1)
    }
}

fn record_of(p: &Person) -> PersonRecord {
    PersonRecord {
        name: format!("{} {}", p.given, p.surname),
        dob: p.dob.format("%Y/%m/%d").to_string(),
        gender: if p.female { "F" } else { "M" }.into(),
    }
}

/// A copy of `p` with the errors of corruption level `c`.
fn corrupt(p: &Person, c: f64, draw: &Draw, rng: &mut ChaCha8Rng) -> PersonRecord {
    let mut given = p.given.to_string();
    let mut surname = p.surname.to_string();
    // Typos: one with chance c, a second with chance c².
    for chance in [c, c * c] {
        if rng.random_bool(chance) {
            if rng.random_bool(0.5) {
                given = typo(&given, rng);
            } else {
                surname = typo(&surname, rng);
            }
        }
    }
    if p.female && rng.random_bool(c / 10.0) {
        surname = SURNAMES[draw.surname.sample(rng)].to_string();
    }
    let mut name = if rng.random_bool(c / 8.0) {
        format!("{surname} {given}")
    } else {
        format!("{given} {surname}")
    };
    if rng.random_bool(c / 10.0) {
        name = if rng.random_bool(0.5) { surname } else { given };
    }
    // Registers write an unknown date as a placeholder (the default schema, like
    // clkhash's, accepts no empty date).
    let dob = if rng.random_bool(c / 10.0) {
        UNKNOWN_DATE.to_string()
    } else if rng.random_bool(c / 2.0) {
        slip(p.dob, rng)
    } else {
        p.dob.format("%Y/%m/%d").to_string()
    };
    let gender = if rng.random_bool(c / 20.0) {
        if p.female { "M" } else { "F" }.into()
    } else if p.female {
        "F".into()
    } else {
        "M".into()
    };
    PersonRecord { name, dob, gender }
}

/// One typing error: a letter substituted, dropped, added or two swapped.
fn typo(word: &str, rng: &mut ChaCha8Rng) -> String {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
    let mut chars: Vec<char> = word.chars().collect();
    if chars.is_empty() {
        return word.to_string();
    }
    let at = rng.random_range(0..chars.len());
    let letter = LETTERS[rng.random_range(0..LETTERS.len())] as char;
    match rng.random_range(0..100) {
        0..40 => chars[at] = letter,
        40..65 if chars.len() > 2 => {
            chars.remove(at);
        }
        40..85 => chars.insert(at, letter),
        _ if chars.len() > 1 => {
            let next = (at + 1).min(chars.len() - 1);
            let at = next - 1;
            chars.swap(at, next);
        }
        _ => chars[at] = letter,
    }
    chars.into_iter().collect()
}

/// A date written wrong: off by a few days, day and month swapped, the year off by one,
/// or a digit of the year mistyped.
fn slip(dob: NaiveDate, rng: &mut ChaCha8Rng) -> String {
    let date = match rng.random_range(0..4) {
        0 => {
            dob + Duration::days(
                rng.random_range(1..=3) * if rng.random_bool(0.5) { 1 } else { -1 },
            )
        }
        1 if dob.day() <= 12 => {
            NaiveDate::from_ymd_opt(dob.year(), dob.day(), dob.month()).unwrap_or(dob)
        }
        2 | 1 => dob
            .with_year(dob.year() + if rng.random_bool(0.5) { 1 } else { -1 })
            .unwrap_or(dob),
        _ => {
            let year = dob.year() - dob.year() % 10 + rng.random_range(0..10);
            dob.with_year(year).unwrap_or(dob)
        }
    };
    date.format("%Y/%m/%d").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_look_like_clkutil_generate_and_repeat_for_a_seed() {
        let a = people(200, 1);
        assert_eq!(a, people(200, 1));
        assert_ne!(a, people(200, 2));
        for r in &a {
            assert_eq!(r.name.split(' ').count(), 2, "{r:?}");
            assert!(
                NaiveDate::parse_from_str(&r.dob, "%Y/%m/%d").is_ok(),
                "{r:?}"
            );
            assert!(r.gender == "M" || r.gender == "F");
        }
        let mut out = Vec::new();
        write_people(&a[..2], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("INDEX,NAME freetext,DOB YYYY/MM/DD,GENDER M or F\n0,"));
    }

    #[test]
    fn linked_sets_share_the_asked_overlap_with_noise() {
        let spec = LinkedSpec {
            records: 1_000,
            parties: 3,
            overlap: 0.5,
            corruption: "high".parse().unwrap(),
            seed: 4,
        };
        let sets = linked(&spec).unwrap();
        assert_eq!(sets.parties.len(), 3);
        let mut seen = std::collections::HashMap::<u64, usize>::new();
        for (party, ids) in sets.entities.iter().enumerate() {
            assert_eq!(ids.len(), 1_000);
            assert_eq!(sets.parties[party].len(), 1_000);
            for id in ids {
                *seen.entry(*id).or_default() += 1;
            }
        }
        let shared = seen.values().filter(|&&n| n > 1).count();
        assert!((400..=500).contains(&shared), "{shared} shared people");
        // Copies of one person differ at this noise, but not always.
        let first: std::collections::HashMap<u64, &PersonRecord> = sets.entities[0]
            .iter()
            .zip(&sets.parties[0])
            .map(|(id, r)| (*id, r))
            .collect();
        let (mut same, mut differ) = (0, 0);
        for (id, r) in sets.entities[1].iter().zip(&sets.parties[1]) {
            if let Some(other) = first.get(id) {
                if *other == r { same += 1 } else { differ += 1 }
            }
        }
        assert!(same > 10 && differ > 10, "{same} same, {differ} differ");
        assert!(
            linked(&LinkedSpec {
                parties: 1,
                ..spec.clone()
            })
            .is_err()
        );
        assert!("2".parse::<Corruption>().is_err() && "nope".parse::<Corruption>().is_err());
    }
}
