//! Reading a manifest's JSON objects: typed fields, and unknown keys
//! refused with the closest known one.

use serde_json::{Map, Value};

use crate::manifest::error::closest;
use crate::manifest::{ManifestError, Place};

/// What a value is, for "expected …, found …".
pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// An object being read, which rejects keys it does not know.
pub(super) struct Fields<'a> {
    map: Map<String, Value>,
    pub(super) place: &'a Place,
    pub(super) prefix: String,
}

impl<'a> Fields<'a> {
    pub(super) fn new(
        value: &Value,
        place: &'a Place,
        prefix: &str,
        allowed: &'static [&'static str],
    ) -> Result<Self, ManifestError> {
        let Value::Object(map) = value else {
            let key = prefix.trim_end_matches('.');
            let message = format!("expected an object, found {}", kind(value));
            return Err(ManifestError::Invalid {
                place: place.clone(),
                key: key.into(),
                message,
                hint: None,
            });
        };
        for key in map.keys() {
            if key == "runtime" {
                return Err(ManifestError::RuntimeKey {
                    place: place.clone(),
                    key: format!("{prefix}{key}"),
                });
            }
            if !allowed.contains(&key.as_str()) {
                return Err(ManifestError::UnknownKey {
                    place: place.clone(),
                    key: format!("{prefix}{key}"),
                    suggestion: closest(key, allowed.iter().copied())
                        .map(|s| format!("{prefix}{s}")),
                    valid: allowed.to_vec(),
                });
            }
        }
        Ok(Fields {
            map: map.clone(),
            place,
            prefix: prefix.to_owned(),
        })
    }

    pub(super) fn invalid(
        &self,
        key: &str,
        message: String,
        hint: Option<String>,
    ) -> ManifestError {
        ManifestError::Invalid {
            place: self.place.clone(),
            key: format!("{}{key}", self.prefix),
            message,
            hint,
        }
    }

    pub(super) fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub(super) fn string(&self, key: &str) -> Result<Option<String>, ManifestError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => {
                Err(self.invalid(key, format!("expected a string, found {}", kind(v)), None))
            }
        }
    }

    pub(super) fn boolean(&self, key: &str) -> Result<Option<bool>, ManifestError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.invalid(
                key,
                format!("expected true or false, found {}", kind(v)),
                None,
            )),
        }
    }

    pub(super) fn required_string(&self, key: &str) -> Result<String, ManifestError> {
        self.string(key)?
            .ok_or_else(|| self.invalid(key, "is missing".into(), None))
    }

    pub(super) fn array(&self, key: &str) -> Result<Vec<Value>, ManifestError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items.clone()),
            Some(v) => Err(self.invalid(key, format!("expected a list, found {}", kind(v)), None)),
        }
    }

    /// A list of strings.
    pub(super) fn list(&self, key: &str) -> Result<Vec<String>, ManifestError> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                v => Err(self.invalid(
                    &format!("{key}[{i}]"),
                    format!("expected a string, found {}", kind(v)),
                    None,
                )),
            })
            .collect()
    }

    /// One string, or a list of them.
    pub(super) fn string_or_list(&self, key: &str) -> Result<Vec<String>, ManifestError> {
        match self.get(key) {
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            _ => self.list(key),
        }
    }

    pub(super) fn entries(&self, key: &str) -> Result<Vec<(&String, &Value)>, ManifestError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Object(map)) => Ok(map.iter().collect()),
            Some(v) => {
                Err(self.invalid(key, format!("expected an object, found {}", kind(v)), None))
            }
        }
    }
}
