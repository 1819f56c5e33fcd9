//! The request validation of the reference's JSON endpoints (§1.5), in one extractor: the
//! content type first, then an object body, then each field with the reference's
//! jsonschema-style messages.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::{Map, Value};

use crate::ApiError;

/// A request's JSON object body, read field by field.
pub(crate) struct JsonFields(Map<String, Value>);

impl JsonFields {
    /// Checks the content type and parses `body` as a JSON object.
    pub(crate) fn parse(headers: &HeaderMap, body: &Bytes) -> Result<JsonFields, ApiError> {
        if body.is_empty() {
            return Err(ApiError::bad_request("None is not of type 'object'"));
        }
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if !(mime == "application/json" || mime.ends_with("+json")) {
            return Err(ApiError {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                title: Some("Unsupported Media Type"),
                detail: format!("Invalid Content-type ({content_type}), expected JSON data"),
            });
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(JsonFields(map)),
            Ok(other) => Err(ApiError::bad_request(format!(
                "{other} is not of type 'object'"
            ))),
            Err(e) => Err(ApiError::bad_request(format!(
                "Request body is not valid JSON: {e}"
            ))),
        }
    }

    /// The field `key`: `None` when absent.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// A required field: 400 `'key' is a required property` when absent.
    pub(crate) fn required(&self, key: &str) -> Result<&Value, ApiError> {
        self.get(key)
            .ok_or_else(|| ApiError::bad_request(format!("'{key}' is a required property")))
    }

    /// A string field, `default` when absent.
    pub(crate) fn string(&self, key: &str, default: &str) -> Result<String, ApiError> {
        match self.get(key) {
            None => Ok(default.to_string()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(not_of_type(other, "string")),
        }
    }

    /// A boolean field, `default` when absent.
    pub(crate) fn boolean(&self, key: &str, default: bool) -> Result<bool, ApiError> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(not_of_type(other, "boolean")),
        }
    }
}

/// 400 `<value> is not of type '<kind>'`.
pub(crate) fn not_of_type(value: &Value, kind: &str) -> ApiError {
    ApiError::bad_request(format!("{} is not of type '{kind}'", python_repr(value)))
}

/// How jsonschema messages print a value.
fn python_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}
