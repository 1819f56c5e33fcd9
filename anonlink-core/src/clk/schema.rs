//! Linkage schemas, versions 1, 2 and 3 (clkhash 0.18.3), converted to version 3 exactly as
//! the reference converts them, and checked with errors that name the feature at fault.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// How a field's value is read.
#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    /// Text in an encoding (`ascii`, `utf-8`, `utf-16`, `utf-32`).
    String {
        /// The encoding of each token.
        encoding: TextEncoding,
        /// Regular expression the whole value must match (validation only).
        pattern: Option<String>,
        /// `upper`, `lower` or `mixed` (validation only).
        case: Option<String>,
        /// Minimum length in code points (validation only).
        min_length: Option<usize>,
        /// Maximum length in code points (validation only).
        max_length: Option<usize>,
    },
    /// An integer, formatted canonically before hashing.
    Integer {
        /// Smallest valid value (validation only).
        minimum: Option<i128>,
        /// Largest valid value (validation only).
        maximum: Option<i128>,
    },
    /// A date in a `strptime` format, hashed as `YYYYMMDD`.
    Date {
        /// The `strptime` format.
        format: String,
    },
    /// One of given values.
    Enum {
        /// The values.
        values: Vec<String>,
    },
}

/// The text encodings a schema may name. UTF-16 and UTF-32 put a byte-order mark before
/// every token, as Python's codecs do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    /// 7-bit ASCII; other characters are an error.
    Ascii,
    /// UTF-8.
    Utf8,
    /// UTF-16, little-endian with a BOM per token.
    Utf16,
    /// UTF-32, little-endian with a BOM per token.
    Utf32,
}

/// How a value becomes tokens.
#[derive(Debug, Clone, PartialEq)]
pub enum Comparison {
    /// n-grams of code points, padded with `n − 1` spaces; optionally 1-based positions.
    Ngram {
        /// The n.
        n: usize,
        /// Whether tokens carry their position.
        positional: bool,
    },
    /// The whole value as one token.
    Exact,
    /// A number's neighbourhood on a grid.
    Numeric {
        /// Largest distance that still shares tokens.
        threshold_distance: f64,
        /// Tokens on each side of the value.
        resolution: u32,
        /// Decimal digits kept.
        fractional_precision: u32,
    },
}

/// How many bits each token sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Every token sets this many bits.
    BitsPerToken(u32),
    /// The feature sets this many bits in all, spread over its tokens.
    BitsPerFeature(u32),
}

/// Which hash places a token's bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKind {
    /// Keyed BLAKE2b, sliced into 16-bit indices (the default).
    Blake,
    /// HMAC-SHA1 and HMAC-MD5 double hashing; optionally avoiding a zero step.
    Double {
        /// Rehash when the step is zero (clkhash issue 33).
        prevent_singularity: bool,
    },
}

/// Missing values: the sentinel and what replaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingValue {
    /// The exact text that marks a missing value.
    pub sentinel: String,
    /// What is hashed instead (the sentinel itself by default).
    pub replace_with: String,
}

/// How a hashed field is encoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Hashing {
    /// Tokenisation.
    pub comparison: Comparison,
    /// Bits per token.
    pub strategy: Strategy,
    /// The hash.
    pub hash: HashKind,
    /// Missing values.
    pub missing: Option<MissingValue>,
}

/// One column of the records.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    /// Its name (the CSV header).
    pub identifier: String,
    /// `None` for ignored fields (they still take a key slot).
    pub spec: Option<(Format, Hashing)>,
}

/// Key derivation settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kdf {
    /// `true` for SHA-512, `false` for SHA-256.
    pub sha512: bool,
    /// Salt bytes, if any.
    pub salt: Option<Vec<u8>>,
    /// Info bytes, if any.
    pub info: Option<Vec<u8>>,
    /// Bytes per key.
    pub key_size: usize,
}

/// A linkage schema, in version-3 form.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// Length of the CLKs in bits.
    pub l: usize,
    /// XOR folds (read from `xor_folds`, as the reference does; see the module docs).
    pub xor_folds: u32,
    /// Key derivation.
    pub kdf: Kdf,
    /// The features, in column order.
    pub features: Vec<Feature>,
}

fn schema_err(feature: Option<(usize, &str)>, reason: impl Into<String>) -> Error {
    Error::Schema {
        feature: feature.map(|(i, id)| (i, id.to_string())),
        reason: reason.into(),
    }
}

/// Python's `round()` on a float: half to even.
fn py_round(x: f64) -> f64 {
    x.round_ties_even()
}

/// Converts a version 1 schema to version 2, as clkhash's `_convert_v1_to_v2`.
fn v1_to_v2(mut doc: Map<String, Value>) -> Result<Map<String, Value>> {
    let config = doc
        .get_mut("clkConfig")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| schema_err(None, "'clkConfig' is a required property"))?;
    let k = config
        .remove("k")
        .and_then(|k| k.as_f64())
        .ok_or_else(|| schema_err(None, "version 1 needs clkConfig.k"))?;
    let clk_hash = config
        .get("hash")
        .cloned()
        .ok_or_else(|| schema_err(None, "version 1 needs clkConfig.hash"))?;
    let new_config = serde_json::json!({
        "l": config.get("l").cloned().unwrap_or(Value::Null),
        "xor_folds": config.get("xor_folds").cloned().unwrap_or(Value::from(0)),
        "kdf": config.get("kdf").cloned().unwrap_or(Value::Null),
    });
    let features = doc
        .get("features")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut f| {
            if f.get("ignored").and_then(Value::as_bool) == Some(true) {
                return f;
            }
            let weight = f
                .get("hashing")
                .and_then(|h| h.get("weight"))
                .and_then(Value::as_f64)
                .unwrap_or(1.0);
            if weight == 0.0 {
                return serde_json::json!({"identifier": f.get("identifier").cloned().unwrap_or(Value::Null), "ignored": true});
            }
            if let Some(h) = f.get_mut("hashing").and_then(Value::as_object_mut) {
                h.remove("weight");
                h.insert(
                    "strategy".into(),
                    serde_json::json!({"k": py_round(weight * k) as i64}),
                );
                h.insert("hash".into(), clk_hash.clone());
            }
            f
        })
        .collect();
    let mut out = Map::new();
    out.insert("version".into(), Value::from(2));
    out.insert("clkConfig".into(), new_config);
    out.insert("features".into(), Value::Array(features));
    Ok(out)
}

/// Converts a version 2 schema to version 3, as clkhash's `_convert_v2_to_v3`.
fn v2_to_v3(mut doc: Map<String, Value>) -> Result<Map<String, Value>> {
    doc.insert("version".into(), Value::from(3));
    if let Some(features) = doc.get_mut("features").and_then(Value::as_array_mut) {
        for (i, f) in features.iter_mut().enumerate() {
            if f.get("ignored").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            let id = f
                .get("identifier")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let h = f
                .get_mut("hashing")
                .and_then(Value::as_object_mut)
                .ok_or_else(|| schema_err(Some((i, &id)), "'hashing' is a required property"))?;
            if let Some(strategy) = h.get_mut("strategy").and_then(Value::as_object_mut) {
                if let Some(k) = strategy.remove("k") {
                    strategy.insert("bitsPerToken".into(), k);
                } else if let Some(b) = strategy.remove("numBits") {
                    strategy.insert("bitsPerFeature".into(), b);
                }
            }
            let n = h
                .remove("ngram")
                .ok_or_else(|| schema_err(Some((i, &id)), "version 2 hashing needs 'ngram'"))?;
            let positional = h.remove("positional").unwrap_or(Value::Bool(false));
            h.insert(
                "comparison".into(),
                serde_json::json!({"type": "ngram", "n": n, "positional": positional}),
            );
        }
    }
    Ok(doc)
}

impl Schema {
    /// Parses a schema document of version 1, 2 or 3.
    ///
    /// # Errors
    /// [`Error::Schema`] naming the feature (index and identifier) and the problem.
    pub fn from_json(text: &str) -> Result<Schema> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| schema_err(None, format!("not valid JSON: {e}")))?;
        Schema::from_value(value)
    }

    /// Parses a schema already read as JSON.
    ///
    /// # Errors
    /// As [`Schema::from_json`].
    pub fn from_value(value: Value) -> Result<Schema> {
        let Value::Object(mut doc) = value else {
            return Err(schema_err(None, "a schema is a JSON object"));
        };
        let version = doc.get("version").and_then(Value::as_i64);
        match version {
            Some(1) => doc = v2_to_v3(v1_to_v2(doc)?)?,
            Some(2) => doc = v2_to_v3(doc)?,
            Some(3) => {}
            Some(v) => {
                return Err(schema_err(
                    None,
                    format!("schema version {v} is not supported (1, 2 or 3)"),
                ));
            }
            None => return Err(schema_err(None, "'version' is a required property")),
        }
        parse_v3(&doc)
    }

    /// Number of key slots: every feature, ignored or not.
    pub fn key_slots(&self) -> usize {
        self.features.len()
    }
}

fn parse_v3(doc: &Map<String, Value>) -> Result<Schema> {
    let config = doc
        .get("clkConfig")
        .and_then(Value::as_object)
        .ok_or_else(|| schema_err(None, "'clkConfig' is a required property"))?;
    let l = config
        .get("l")
        .and_then(Value::as_u64)
        .filter(|&l| l >= 1)
        .ok_or_else(|| schema_err(None, "clkConfig.l must be a positive integer"))?
        as usize;
    // The reference reads `xor_folds`; `xorFolds`, which its documentation names, is ignored.
    let xor_folds = config
        .get("xor_folds")
        .map(|v| {
            v.as_u64().ok_or_else(|| {
                schema_err(None, "clkConfig.xor_folds must be a non-negative integer")
            })
        })
        .transpose()?
        .unwrap_or(0) as u32;
    // Bounded so that a filter always fits in memory (clkhash has no bound).
    const MAX_BITS: usize = 1 << 26;
    if xor_folds > 26 || l > MAX_BITS || (l << xor_folds) > MAX_BITS {
        return Err(schema_err(
            None,
            format!("clkConfig.l · 2^xor_folds must be at most {MAX_BITS} bits"),
        ));
    }
    let kdf = config
        .get("kdf")
        .and_then(Value::as_object)
        .ok_or_else(|| schema_err(None, "clkConfig.kdf is a required property"))?;
    if kdf.get("type").and_then(Value::as_str) != Some("HKDF") {
        return Err(schema_err(None, "clkConfig.kdf.type must be \"HKDF\""));
    }
    let sha512 = match kdf.get("hash").and_then(Value::as_str).unwrap_or("SHA256") {
        "SHA256" => false,
        "SHA512" => true,
        other => {
            return Err(schema_err(
                None,
                format!("unsupported kdf hash {other:?} (SHA256 or SHA512)"),
            ));
        }
    };
    let b64 = |key: &str| -> Result<Option<Vec<u8>>> {
        kdf.get(key)
            .map(|v| {
                let s = v.as_str().ok_or_else(|| {
                    schema_err(None, format!("clkConfig.kdf.{key} must be base64 text"))
                })?;
                base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(|e| {
                        schema_err(None, format!("clkConfig.kdf.{key} is not base64: {e}"))
                    })
            })
            .transpose()
    };
    let key_size = kdf
        .get("keySize")
        .map(|v| {
            v.as_u64()
                .filter(|&k| k >= 1)
                .ok_or_else(|| schema_err(None, "clkConfig.kdf.keySize must be a positive integer"))
        })
        .transpose()?
        .unwrap_or(64) as usize;
    let kdf = Kdf {
        sha512,
        salt: b64("salt")?,
        info: b64("info")?,
        key_size,
    };
    let features = doc
        .get("features")
        .and_then(Value::as_array)
        .ok_or_else(|| schema_err(None, "'features' is a required property"))?
        .iter()
        .enumerate()
        .map(|(i, f)| parse_feature(i, f))
        .collect::<Result<Vec<_>>>()?;
    let schema = Schema {
        l,
        xor_folds,
        kdf,
        features,
    };
    let hash_l = schema.l << schema.xor_folds;
    for (i, f) in schema.features.iter().enumerate() {
        if let Some((_, h)) = &f.spec
            && h.hash == HashKind::Blake
            && schema.kdf.key_size > 64
        {
            return Err(schema_err(
                Some((i, &f.identifier)),
                format!(
                    "blakeHash keys are at most 64 bytes, but keySize is {}",
                    schema.kdf.key_size
                ),
            ));
        }
        if let Some((_, h)) = &f.spec
            && h.hash == HashKind::Blake
            && !hash_l.is_power_of_two()
        {
            return Err(schema_err(
                Some((i, &f.identifier)),
                format!("blakeHash needs a filter length that is a power of two, not {hash_l}"),
            ));
        }
    }
    let max_keys = if schema.kdf.sha512 {
        255 * 64
    } else {
        255 * 32
    };
    if 2 * schema.features.len() * schema.kdf.key_size > max_keys {
        return Err(schema_err(
            None,
            format!(
                "{} features need {} bytes of keys, more than HKDF can derive ({max_keys})",
                schema.features.len(),
                2 * schema.features.len() * schema.kdf.key_size
            ),
        ));
    }
    Ok(schema)
}

fn parse_feature(i: usize, f: &Value) -> Result<Feature> {
    let obj = f
        .as_object()
        .ok_or_else(|| schema_err(None, format!("feature {i} is not an object")))?;
    let identifier = obj
        .get("identifier")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            schema_err(
                None,
                format!("feature {i}: 'identifier' is a required property"),
            )
        })?
        .to_string();
    let at = Some((i, identifier.as_str()));
    if obj.get("ignored").and_then(Value::as_bool) == Some(true) {
        return Ok(Feature {
            identifier,
            spec: None,
        });
    }
    let format = obj
        .get("format")
        .and_then(Value::as_object)
        .ok_or_else(|| schema_err(at, "'format' is a required property"))?;
    let hashing = obj
        .get("hashing")
        .and_then(Value::as_object)
        .ok_or_else(|| schema_err(at, "'hashing' is a required property"))?;
    let uint = |m: &Map<String, Value>, key: &str| -> Result<Option<u64>> {
        m.get(key)
            .map(|v| {
                v.as_u64()
                    .ok_or_else(|| schema_err(at, format!("{key} must be a non-negative integer")))
            })
            .transpose()
    };
    let format = match format.get("type").and_then(Value::as_str) {
        Some("string") => Format::String {
            encoding: match format
                .get("encoding")
                .and_then(Value::as_str)
                .unwrap_or("utf-8")
            {
                "ascii" => TextEncoding::Ascii,
                "utf-8" => TextEncoding::Utf8,
                "utf-16" => TextEncoding::Utf16,
                "utf-32" => TextEncoding::Utf32,
                other => return Err(schema_err(at, format!("unsupported encoding {other:?}"))),
            },
            pattern: match format.get("pattern") {
                None => None,
                Some(Value::String(p)) => {
                    regex::Regex::new(p)
                        .map_err(|e| schema_err(at, format!("invalid pattern: {e}")))?;
                    Some(p.clone())
                }
                Some(_) => return Err(schema_err(at, "pattern must be text")),
            },
            case: match format.get("case").and_then(Value::as_str) {
                None => None,
                Some(c @ ("upper" | "lower" | "mixed")) => Some(c.to_string()),
                Some(other) => return Err(schema_err(at, format!("unknown case {other:?}"))),
            },
            min_length: uint(format, "minLength")?.map(|v| v as usize),
            max_length: uint(format, "maxLength")?.map(|v| v as usize),
        },
        Some("integer") => Format::Integer {
            minimum: format
                .get("minimum")
                .and_then(Value::as_i64)
                .map(i128::from),
            maximum: format
                .get("maximum")
                .and_then(Value::as_i64)
                .map(i128::from),
        },
        Some("date") => Format::Date {
            format: format
                .get("format")
                .and_then(Value::as_str)
                .ok_or_else(|| schema_err(at, "a date format needs 'format'"))?
                .to_string(),
        },
        Some("enum") => Format::Enum {
            values: format
                .get("values")
                .and_then(Value::as_array)
                .ok_or_else(|| schema_err(at, "an enum format needs 'values'"))?
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| schema_err(at, "enum values must be text"))
                })
                .collect::<Result<_>>()?,
        },
        Some(other) => return Err(schema_err(at, format!("unknown format type {other:?}"))),
        None => return Err(schema_err(at, "format needs a 'type'")),
    };
    let comparison = hashing
        .get("comparison")
        .and_then(Value::as_object)
        .ok_or_else(|| schema_err(at, "hashing needs a 'comparison'"))?;
    let comparison = match comparison.get("type").and_then(Value::as_str) {
        Some("ngram") => Comparison::Ngram {
            n: uint(comparison, "n")?
                .filter(|&n| n >= 1)
                .ok_or_else(|| schema_err(at, "ngram comparison needs n >= 1"))?
                as usize,
            positional: comparison
                .get("positional")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        },
        Some("exact") => Comparison::Exact,
        Some("numeric") => {
            let threshold_distance = comparison
                .get("thresholdDistance")
                .and_then(Value::as_f64)
                .filter(|d| *d > 0.0)
                .ok_or_else(|| schema_err(at, "numeric comparison needs thresholdDistance > 0"))?;
            let resolution = uint(comparison, "resolution")?
                .filter(|&r| r >= 1)
                .ok_or_else(|| schema_err(at, "numeric comparison needs resolution >= 1"))?
                as u32;
            let fractional_precision =
                uint(comparison, "fractional_precision")?.unwrap_or(0) as u32;
            let interval = py_round(threshold_distance * 10f64.powi(fractional_precision as i32));
            if interval == 0.0 {
                return Err(schema_err(
                    at,
                    "not enough fractional precision to encode threshold_distance",
                ));
            }
            Comparison::Numeric {
                threshold_distance,
                resolution,
                fractional_precision,
            }
        }
        Some(other) => return Err(schema_err(at, format!("unknown comparison type {other:?}"))),
        None => return Err(schema_err(at, "comparison needs a 'type'")),
    };
    let strategy = hashing
        .get("strategy")
        .and_then(Value::as_object)
        .ok_or_else(|| schema_err(at, "hashing needs a 'strategy'"))?;
    let strategy = if let Some(k) = strategy.get("bitsPerToken") {
        Strategy::BitsPerToken(
            k.as_u64()
                .ok_or_else(|| schema_err(at, "bitsPerToken must be a non-negative integer"))?
                as u32,
        )
    } else if let Some(b) = strategy.get("bitsPerFeature") {
        Strategy::BitsPerFeature(
            b.as_u64()
                .ok_or_else(|| schema_err(at, "bitsPerFeature must be a non-negative integer"))?
                as u32,
        )
    } else {
        return Err(schema_err(
            at,
            "unknown strategy (bitsPerToken or bitsPerFeature)",
        ));
    };
    let hash = match hashing.get("hash") {
        None => HashKind::Blake,
        Some(h) => match h.get("type").and_then(Value::as_str) {
            Some("blakeHash") => {
                if h.get("prevent_singularity").is_some() {
                    return Err(schema_err(
                        at,
                        "prevent_singularity only applies to doubleHash",
                    ));
                }
                HashKind::Blake
            }
            Some("doubleHash") => HashKind::Double {
                prevent_singularity: h
                    .get("prevent_singularity")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            },
            other => return Err(schema_err(at, format!("unknown hash type {other:?}"))),
        },
    };
    let missing = hashing
        .get("missingValue")
        .map(|m| {
            let sentinel = m
                .get("sentinel")
                .and_then(Value::as_str)
                .ok_or_else(|| schema_err(at, "missingValue needs a 'sentinel'"))?
                .to_string();
            let replace_with = m
                .get("replaceWith")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| sentinel.clone());
            Ok::<_, Error>(MissingValue {
                sentinel,
                replace_with,
            })
        })
        .transpose()?;
    Ok(Feature {
        identifier,
        spec: Some((
            format,
            Hashing {
                comparison,
                strategy,
                hash,
                missing,
            },
        )),
    })
}

/// The default schema `anonlink generate-default-schema` writes: version 3, 1024 bits,
/// blakeHash, for a CSV with `INDEX,NAME freetext,DOB YYYY/MM/DD,GENDER M or F`.
pub fn default_schema() -> Value {
    serde_json::json!({
        "version": 3,
        "clkConfig": {
            "l": 1024,
            "kdf": {
                "type": "HKDF",
                "hash": "SHA256",
                "info": "c2NoZW1hX2V4YW1wbGU=",
                "salt": "SCbL2zHNnmsckfzchsNkZY9XoHk96P/G5nUBrM7ybymlEFsMV6PAeDZCNp3rfNUPCtLDMOGQHG4pCQpfhiHCyA==",
                "keySize": 64
            }
        },
        "features": [
            {"identifier": "INDEX", "ignored": true},
            {"identifier": "NAME freetext",
             "format": {"type": "string", "encoding": "utf-8", "case": "mixed", "minLength": 3},
             "hashing": {"comparison": {"type": "ngram", "n": 2}, "strategy": {"bitsPerToken": 30}}},
            {"identifier": "DOB YYYY/MM/DD",
             "format": {"type": "date", "format": "%Y/%m/%d", "description": "Numbers separated by slashes, in the year, month, day order"},
             "hashing": {"comparison": {"type": "ngram", "n": 1, "positional": true}, "strategy": {"bitsPerToken": 30}}},
            {"identifier": "GENDER M or F",
             "format": {"type": "enum", "values": ["M", "F"]},
             "hashing": {"comparison": {"type": "ngram", "n": 1}, "strategy": {"bitsPerToken": 60}}}
        ]
    })
}
