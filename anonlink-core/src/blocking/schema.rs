//! The blocking schema: the JSON document blocklib 0.1.11 and anonlink-client read
//! (`{"type": "p-sig" | "lambda-fold", "version": 1, "config": {...}}`), validated as
//! blocklib's pydantic models validate it — the same fields, aliases, defaults and
//! coercions (an integer field takes `"3"` or `3.0`, a flag takes `"yes"`), unknown fields
//! ignored — with an error naming the field and the value at fault.

use serde_json::{Map, Value};

use crate::{Error, Result};

/// A validated blocking schema.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockingSchema {
    /// The schema's `version` (blocklib requires it and ignores its value).
    pub version: i64,
    /// The method and its settings.
    pub method: Method,
}

/// One of blocklib's two blocking methods.
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    /// Probability signatures (`"type": "p-sig"`).
    PSig(PSigConfig),
    /// λ-fold locality-sensitive hashing (`"type": "lambda-fold"`).
    LambdaFold(LambdaFoldConfig),
}

/// A column of the records, by position or by header name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feature {
    /// Position of the column (0-based).
    Index(usize),
    /// Name of the column in the header.
    Name(String),
}

/// Settings both methods have.
#[derive(Debug, Clone, PartialEq)]
pub struct CommonConfig {
    /// `record-id-col`: the column whose values name the records; by default their row
    /// positions do.
    pub record_id_column: Option<usize>,
    /// `blocking-features`: all positions or all names.
    pub blocking_features: Vec<Feature>,
    /// `null-sentinel` (default `""`): the value that stands for a missing one. A non-text
    /// sentinel (`null`, a number) never equals a text value, as in blocklib.
    pub null_sentinel: Option<String>,
}

/// P-Sig's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PSigConfig {
    /// Settings both methods have.
    pub common: CommonConfig,
    /// Which signatures are kept, by how many records carry them.
    pub filter: SignatureFilter,
    /// `blocking-filter`: how a signature becomes a block id.
    pub bloom_filter: BlockBloomFilter,
    /// `signatureSpecs`: strategies, each a list of parts joined into one signature.
    pub strategies: Vec<Vec<SignatureSpec>>,
}

/// `filter`: the signatures kept are those of blocks within these bounds (inclusive).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SignatureFilter {
    /// `"type": "ratio"`: bounds as shares of the number of records.
    Ratio {
        /// `min` (default 0).
        min: f64,
        /// `max`.
        max: f64,
    },
    /// `"type": "count"`: bounds as numbers of records.
    Count {
        /// `min`.
        min: i64,
        /// `max`.
        max: i64,
    },
}

/// `blocking-filter` (`"type": "bloom filter"`): a signature's block id is the tuple of the
/// bit positions it sets in a Bloom filter of this length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockBloomFilter {
    /// `number-hash-functions`.
    pub hash_functions: u32,
    /// `bf-len`.
    pub length: u32,
    /// `compress-block-key` (only used when blocks of several parties are combined).
    pub compress_block_key: bool,
}

/// One part of a signature.
#[derive(Debug, Clone, PartialEq)]
pub struct SignatureSpec {
    /// The column it reads.
    pub feature: Feature,
    /// What it takes from the value.
    pub kind: SignatureKind,
}

/// The three signature parts blocklib 0.1.11 knows.
#[derive(Debug, Clone, PartialEq)]
pub enum SignatureKind {
    /// `characters-at`: characters at positions or ranges (`config.pos`).
    CharactersAt(Vec<Position>),
    /// `metaphone`: the double metaphone codes.
    Metaphone,
    /// `feature-value`: the value as it is.
    FeatureValue,
}

/// An item of `characters-at`'s `pos`: an index, or Python slice text (`":3"`, `"2:"`,
/// `"1:4"`, `"-1"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// One character (clamped to the last one).
    Index(i64),
    /// A range `start:end`, either side optional.
    Range(Option<i64>, Option<i64>),
}

/// λ-fold's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct LambdaFoldConfig {
    /// Settings both methods have.
    pub common: CommonConfig,
    /// `Lambda`: the number of tables (redundancy).
    pub lambda: u32,
    /// `bf-len`: the length of the bigram Bloom filters.
    pub bf_len: u32,
    /// `num-hash-funcs`: hash functions per bigram.
    pub hash_functions: u32,
    /// `K`: bits sampled per table.
    pub k: u32,
    /// `input-clks`: the records are CLKs (base64) rather than PII.
    pub input_clks: bool,
    /// `random_state`: the seed of Python's `random`.
    pub random_state: i64,
}

impl BlockingSchema {
    /// Parses and validates a schema document.
    pub fn from_json(text: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(text).map_err(|e| Error::BlockingSchema {
            field: String::new(),
            reason: format!("not a JSON document: {e}"),
        })?;
        Self::from_value(&value)
    }

    /// Validates a schema given as a JSON value.
    pub fn from_value(value: &Value) -> Result<Self> {
        let root = Object::new(value, "")?;
        let version = root.int("version")?;
        let kind = root.literal("type", &["p-sig", "lambda-fold"])?;
        let config = Object::new(root.required("config")?, "config")?;
        let method = match kind {
            "p-sig" => Method::PSig(psig(&config)?),
            _ => Method::LambdaFold(lambda_fold(&config)?),
        };
        Ok(BlockingSchema { version, method })
    }

    /// Settings both methods have.
    pub fn common(&self) -> &CommonConfig {
        match &self.method {
            Method::PSig(c) => &c.common,
            Method::LambdaFold(c) => &c.common,
        }
    }
}

fn common(config: &Object<'_>) -> Result<CommonConfig> {
    let record_id_column = match config.get("record-id-col") {
        None | Some(Value::Null) => None,
        Some(v) => Some(non_negative(config.path("record-id-col"), v)? as usize),
    };
    let features = config.required("blocking-features")?;
    let path = config.path("blocking-features");
    let items = features
        .as_array()
        .ok_or_else(|| invalid(&path, "value is not a valid list", features))?;
    if items.is_empty() {
        return Err(invalid(&path, "at least one feature is needed", features));
    }
    // pydantic tries `List[int]` first, then `List[str]`.
    let as_ints: Option<Vec<i64>> = items.iter().map(coerce_int).collect();
    let blocking_features = match as_ints {
        Some(ints) => ints
            .into_iter()
            .enumerate()
            .map(|(i, n)| {
                usize::try_from(n).map(Feature::Index).map_err(|_| {
                    invalid(
                        &format!("{path}.{i}"),
                        "a column index is 0 or more",
                        &Value::from(n),
                    )
                })
            })
            .collect::<Result<_>>()?,
        None => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                coerce_str(v).map(Feature::Name).ok_or_else(|| {
                    invalid(
                        &format!("{path}.{i}"),
                        "value is not a valid integer or string",
                        v,
                    )
                })
            })
            .collect::<Result<_>>()?,
    };
    let null_sentinel = match config.get("null-sentinel") {
        None => Some(String::new()),
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => None,
    };
    Ok(CommonConfig {
        record_id_column,
        blocking_features,
        null_sentinel,
    })
}

fn psig(config: &Object<'_>) -> Result<PSigConfig> {
    let common = common(config)?;
    let filter = Object::new(config.required("filter")?, &config.path("filter"))?;
    let filter = match filter.literal("type", &["ratio", "count"])? {
        "ratio" => {
            let unit = |name: &str, default: Option<f64>| -> Result<f64> {
                let value = match (filter.get(name), default) {
                    (Some(v), _) => v,
                    (None, Some(d)) => return Ok(d),
                    (None, None) => return Err(missing(&filter.path(name))),
                };
                let x = coerce_float(value).ok_or_else(|| {
                    invalid(&filter.path(name), "value is not a valid float", value)
                })?;
                if !(0.0..=1.0).contains(&x) {
                    return Err(invalid(
                        &filter.path(name),
                        "a ratio is between 0 and 1",
                        value,
                    ));
                }
                Ok(x)
            };
            SignatureFilter::Ratio {
                max: unit("max", None)?,
                min: unit("min", Some(0.0))?,
            }
        }
        _ => SignatureFilter::Count {
            max: non_negative(filter.path("max"), filter.required("max")?)?,
            min: non_negative(filter.path("min"), filter.required("min")?)?,
        },
    };
    let bloom = Object::new(
        config.required("blocking-filter")?,
        &config.path("blocking-filter"),
    )?;
    bloom.literal("type", &["bloom filter"])?;
    let hash_functions = positive_u32(&bloom, "number-hash-functions")?;
    let length = positive_u32(&bloom, "bf-len")?;
    let compress_block_key = bloom.flag("compress-block-key", Some(false))?;
    let specs_value = config.required("signatureSpecs")?;
    let specs_path = config.path("signatureSpecs");
    let strategies = specs_value
        .as_array()
        .ok_or_else(|| invalid(&specs_path, "value is not a valid list", specs_value))?;
    if strategies.is_empty() {
        return Err(invalid(
            &specs_path,
            "at least one signature strategy is needed",
            specs_value,
        ));
    }
    let strategies = strategies
        .iter()
        .enumerate()
        .map(|(i, strategy)| {
            let path = format!("{specs_path}.{i}");
            let parts = strategy
                .as_array()
                .ok_or_else(|| invalid(&path, "value is not a valid list", strategy))?;
            parts
                .iter()
                .enumerate()
                .map(|(j, part)| signature_spec(&Object::new(part, &format!("{path}.{j}"))?))
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(PSigConfig {
        common,
        filter,
        bloom_filter: BlockBloomFilter {
            hash_functions,
            length,
            compress_block_key,
        },
        strategies,
    })
}

fn signature_spec(spec: &Object<'_>) -> Result<SignatureSpec> {
    let kind = spec.literal("type", &["characters-at", "metaphone", "feature-value"])?;
    let feature_value = spec.required("feature")?;
    let feature = match coerce_int(feature_value) {
        Some(n) => Feature::Index(usize::try_from(n).map_err(|_| {
            invalid(
                &spec.path("feature"),
                "a column index is 0 or more",
                feature_value,
            )
        })?),
        None => Feature::Name(coerce_str(feature_value).ok_or_else(|| {
            invalid(
                &spec.path("feature"),
                "value is not a valid integer or string",
                feature_value,
            )
        })?),
    };
    let kind = match kind {
        "characters-at" => {
            let config = Object::new(spec.required("config")?, &spec.path("config"))?;
            let pos = config.required("pos")?;
            let path = config.path("pos");
            let items = pos
                .as_array()
                .ok_or_else(|| invalid(&path, "value is not a valid list", pos))?;
            SignatureKind::CharactersAt(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| position(&format!("{path}.{i}"), item))
                    .collect::<Result<_>>()?,
            )
        }
        "metaphone" => SignatureKind::Metaphone,
        _ => SignatureKind::FeatureValue,
    };
    Ok(SignatureSpec { feature, kind })
}

/// `Union[PositiveInt, str]`, then read as blocklib's `generate_by_char_at` reads it.
fn position(path: &str, value: &Value) -> Result<Position> {
    if let Some(n) = coerce_int(value).filter(|n| *n >= 0) {
        return Ok(Position::Index(n));
    }
    let text = coerce_str(value)
        .ok_or_else(|| invalid(path, "value is not a valid integer or string", value))?;
    let bad = |why: &str| invalid(path, why, value);
    match text.split_once(':') {
        None => python_int(&text)
            .map(Position::Index)
            .ok_or_else(|| bad("a position is an integer or a slice like \"1:3\"")),
        Some((start, end)) => {
            if end.contains(':') {
                return Err(bad("a slice has one ':'"));
            }
            let side = |s: &str| -> Result<Option<i64>> {
                if s.is_empty() {
                    Ok(None)
                } else {
                    python_int(s)
                        .map(Some)
                        .ok_or_else(|| bad("a slice's bounds are integers"))
                }
            };
            let (start, end) = (side(start)?, side(end)?);
            match (start, end) {
                (None, None) => Err(bad("a slice needs a start or an end")),
                (Some(s), Some(e)) if s >= e => Err(bad("a slice's start is less than its end")),
                _ => Ok(Position::Range(start, end)),
            }
        }
    }
}

fn lambda_fold(config: &Object<'_>) -> Result<LambdaFoldConfig> {
    let common = common(config)?;
    let lambda = positive_u32(config, "Lambda")?;
    let bf_len = positive_u32(config, "bf-len")?;
    let hash_functions = positive_u32(config, "num-hash-funcs")?;
    let k_value = config.required("K")?;
    let k = u32::try_from(non_negative(config.path("K"), k_value)?)
        .map_err(|_| invalid(&config.path("K"), "too large", k_value))?;
    let input_clks = config.flag("input-clks", None)?;
    let random_state = config.int("random_state")?;
    if !input_clks && k > bf_len {
        return Err(invalid(
            &config.path("K"),
            &format!("cannot sample more bits than the Bloom filter's {bf_len}"),
            k_value,
        ));
    }
    Ok(LambdaFoldConfig {
        common,
        lambda,
        bf_len,
        hash_functions,
        k,
        input_clks,
        random_state,
    })
}

/// A JSON object being validated, with its path for messages.
struct Object<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Object<'a> {
    fn new(value: &'a Value, path: &str) -> Result<Self> {
        let map = value.as_object().ok_or_else(|| {
            invalid(
                if path.is_empty() { "(document)" } else { path },
                "value is not a valid object",
                value,
            )
        })?;
        Ok(Object {
            map,
            path: path.to_string(),
        })
    }

    fn path(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name)
    }

    fn required(&self, name: &str) -> Result<&'a Value> {
        self.get(name).ok_or_else(|| missing(&self.path(name)))
    }

    /// A boolean field; `default` (when given) for a missing or null one.
    fn flag(&self, name: &str, default: Option<bool>) -> Result<bool> {
        let value = match (self.get(name), default) {
            (None | Some(Value::Null), Some(d)) => return Ok(d),
            (Some(v), _) => v,
            (None, None) => return Err(missing(&self.path(name))),
        };
        coerce_bool(value).ok_or_else(|| {
            invalid(
                &self.path(name),
                "value could not be parsed to a boolean",
                value,
            )
        })
    }

    fn int(&self, name: &str) -> Result<i64> {
        let value = self.required(name)?;
        coerce_int(value)
            .ok_or_else(|| invalid(&self.path(name), "value is not a valid integer", value))
    }

    fn literal(&self, name: &str, allowed: &[&'static str]) -> Result<&'static str> {
        let value = self.required(name)?;
        value
            .as_str()
            .and_then(|s| allowed.iter().find(|a| **a == s).copied())
            .ok_or_else(|| {
                let list = allowed
                    .iter()
                    .map(|a| format!("{a:?}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                invalid(&self.path(name), &format!("expected one of {list}"), value)
            })
    }
}

fn positive_u32(object: &Object<'_>, name: &str) -> Result<u32> {
    let value = object.required(name)?;
    let n = coerce_int(value)
        .ok_or_else(|| invalid(&object.path(name), "value is not a valid integer", value))?;
    match u32::try_from(n) {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(invalid(
            &object.path(name),
            "expected a whole number from 1 to 4294967295",
            value,
        )),
    }
}

fn non_negative(path: String, value: &Value) -> Result<i64> {
    let n =
        coerce_int(value).ok_or_else(|| invalid(&path, "value is not a valid integer", value))?;
    if n < 0 {
        return Err(invalid(
            &path,
            "ensure this value is greater than or equal to 0",
            value,
        ));
    }
    Ok(n)
}

fn missing(path: &str) -> Error {
    Error::BlockingSchema {
        field: path.to_string(),
        reason: "field required".into(),
    }
}

fn invalid(path: &str, why: &str, value: &Value) -> Error {
    let mut shown = value.to_string();
    if shown.len() > 80 {
        let mut cut = 77;
        while !shown.is_char_boundary(cut) {
            cut -= 1;
        }
        shown.truncate(cut);
        shown.push_str("...");
    }
    Error::BlockingSchema {
        field: path.to_string(),
        reason: format!("{why} (got {shown})"),
    }
}

/// pydantic v1's integer coercion: integers, floats (truncated), booleans, and text that
/// Python's `int()` reads.
fn coerce_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && f.abs() < 9.2e18)
                .map(|f| f.trunc() as i64)
        }),
        Value::Bool(b) => Some(i64::from(*b)),
        Value::String(s) => python_int(s),
        _ => None,
    }
}

/// Python's `int(text)`: surrounding whitespace, an optional sign, digits with single
/// underscores between them.
pub(crate) fn python_int(text: &str) -> Option<i64> {
    let t = text.trim();
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    let n: i64 = digits.replace('_', "").parse().ok()?;
    Some(if negative { -n } else { n })
}

fn coerce_float(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
}

/// pydantic v1's `str` coercion: text, or a number written as Python writes it.
fn coerce_str(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// pydantic v1's boolean coercion.
fn coerce_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_f64() {
            Some(0.0) => Some(false),
            Some(1.0) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.to_lowercase().as_str() {
            "0" | "off" | "f" | "false" | "n" | "no" => Some(false),
            "1" | "on" | "t" | "true" | "y" | "yes" => Some(true),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn psig_doc(filter: &str, specs: &str) -> String {
        format!(
            r#"{{"type": "p-sig", "version": 1, "config": {{"blocking-features": [1, 2],
            "filter": {filter}, "blocking-filter": {{"type": "bloom filter",
            "number-hash-functions": 4, "bf-len": 2048}}, "signatureSpecs": {specs}}}}}"#
        )
    }

    #[test]
    fn reads_a_psig_schema_with_blocklibs_coercions() {
        let schema = BlockingSchema::from_json(&psig_doc(
            r#"{"type": "ratio", "max": "0.02"}"#,
            r#"[[{"type": "characters-at", "feature": "1", "config": {"pos": [0, "-1", ":3", "2:"]}}],
                [{"type": "metaphone", "feature": "surname"}]]"#,
        ))
        .unwrap();
        let Method::PSig(config) = schema.method else {
            panic!()
        };
        assert_eq!(
            config.filter,
            SignatureFilter::Ratio {
                max: 0.02,
                min: 0.0
            }
        );
        assert_eq!(config.strategies[0][0].feature, Feature::Index(1));
        assert_eq!(
            config.strategies[0][0].kind,
            SignatureKind::CharactersAt(vec![
                Position::Index(0),
                Position::Index(-1),
                Position::Range(None, Some(3)),
                Position::Range(Some(2), None)
            ])
        );
        assert_eq!(
            config.strategies[1][0].feature,
            Feature::Name("surname".into())
        );
        assert_eq!(config.common.null_sentinel.as_deref(), Some(""));
    }

    #[test]
    fn names_the_field_at_fault() {
        let cases = [
            (psig_doc(r#"{"type": "ratio", "max": 1.5}"#, "[[]]"), "config.filter.max"),
            (psig_doc(r#"{"type": "share", "max": 1}"#, "[[]]"), "config.filter.type"),
            (psig_doc(r#"{"type": "count", "max": 10}"#, "[[]]"), "config.filter.min"),
            (
                psig_doc(r#"{"type": "count", "max": 10, "min": 1}"#, r#"[[{"type": "soundex", "feature": 1}]]"#),
                "config.signatureSpecs.0.0.type",
            ),
            (
                psig_doc(
                    r#"{"type": "count", "max": 10, "min": 1}"#,
                    r#"[[{"type": "characters-at", "feature": 1, "config": {"pos": ["3:1"]}}]]"#,
                ),
                "config.signatureSpecs.0.0.config.pos.0",
            ),
            (
                r#"{"type": "lambda-fold", "version": 1, "config": {"blocking-features": [1], "Lambda": 5,
                   "bf-len": 64, "num-hash-funcs": 2, "K": 65, "input-clks": false, "random_state": 0}}"#
                    .to_string(),
                "config.K",
            ),
            (
                r#"{"type": "lambda-fold", "version": 1, "config": {"blocking-features": [1], "Lambda": 5,
                   "bf-len": 64, "num-hash-funcs": 2, "K": 6, "input-clks": false, "random-state": 0}}"#
                    .to_string(),
                "config.random_state",
            ),
            (r#"{"type": "p-sig", "config": {}}"#.to_string(), "version"),
        ];
        for (doc, field) in cases {
            match BlockingSchema::from_json(&doc) {
                Err(Error::BlockingSchema { field: f, reason }) => assert_eq!(f, field, "{reason}"),
                other => panic!("{doc}: {other:?}"),
            }
        }
    }
}
