//! Server-side tools, pure: on a route with `block_server_tools` (the model
//! APIs), a request body may not ask the API to reach out on the agent's
//! behalf, where the proxy cannot see or stop it.
//!
//! The rule defends the class rather than a list of today's tools:
//!
//! - every entry of a `tools` array, wherever it is (batches nest them),
//!   must be a client-side tool: no `type` or `custom`/`function` (the
//!   agent runs it), a client-executed built-in (Anthropic `bash_*`,
//!   `text_editor_*`, `computer_*`, `memory_*`; OpenAI `local_shell`,
//!   `apply_patch`, `computer_use_preview`, a local `shell`), or one of the
//!   few hosted tools that reach nothing outside the provider (tool search,
//!   OpenAI `namespace` groups and `image_generation`). Web search and
//!   fetch, MCP, code execution, hosted shells, file search and every type
//!   not known here are refused;
//! - `mcp_servers` (Anthropic's MCP connector), `web_search_options`
//!   (Chat Completions search) and stored `prompt`s (which may carry tools
//!   the proxy cannot see) are refused;
//! - any URL-valued field (`url`, `server_url`, `image_url`, `file_url`, …)
//!   whose value is not inline `data:` is refused: the API would fetch it.
//!
//! Echoes of earlier model output (tool-call inputs, citations,
//! server-tool results) and JSON Schemas are not searched: the API does
//! not act on them again, and schemas name fields like `url` freely.
//!
//! Bodies are parsed strictly (duplicate keys refused, since parsers
//! disagree on which one wins); a body that looks like JSON but does not
//! parse, or is UTF-16/32, is refused; JSON lines inside other bodies (a
//! batch file upload) are checked line by line.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// What was refused: the field (a JSON path) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) field: String,
    pub(crate) why: String,
}

fn refuse(field: &str, why: impl Into<String>) -> Refusal {
    Refusal {
        field: if field.is_empty() {
            "(body)".to_owned()
        } else {
            field.to_owned()
        },
        why: why.into(),
    }
}

/// Checks a decoded request body.
pub(crate) fn check_body(body: &[u8], content_type: Option<&str>) -> Result<(), Refusal> {
    let text = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let Some(first) = text.iter().find(|b| !b.is_ascii_whitespace()) else {
        return Ok(());
    };
    let json_type = content_type.is_some_and(|t| {
        let t = t.to_ascii_lowercase();
        let essence = t.split(';').next().unwrap_or("").trim().to_owned();
        essence == "application/json" || essence.ends_with("+json") || essence.ends_with("/jsonl")
    });
    if matches!(first, b'{' | b'[') || json_type {
        return match parse(text) {
            Ok(value) => check(&value),
            Err(e) => Err(refuse(
                "",
                format!("is not valid JSON ({e}), so it cannot be checked for server-side tools"),
            )),
        };
    }
    if text.iter().take(4).any(|&b| b == 0) {
        return Err(refuse(
            "",
            "looks like UTF-16 or UTF-32 text, which cannot be checked; send UTF-8",
        ));
    }
    // Not JSON: check each line that is (a JSON-lines upload, a part of
    // a multipart body).
    for (n, line) in text.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| matches!(b, b'{' | b'['))
            && let Ok(value) = parse(line)
        {
            walk(&value, &format!("line {}", n + 1))?;
        }
    }
    Ok(())
}

/// Parses JSON strictly: a duplicate key is an error.
pub(crate) fn parse(text: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice::<Strict>(text).map(|s| s.0)
}

/// Checks a parsed body.
pub(crate) fn check(body: &Value) -> Result<(), Refusal> {
    walk(body, "")
}

fn walk(value: &Value, at: &str) -> Result<(), Refusal> {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        Value::Object(map) => walk_object(map, at),
        _ => Ok(()),
    }
}

fn walk_object(map: &Map<String, Value>, at: &str) -> Result<(), Refusal> {
    let kind = map.get("type").and_then(Value::as_str).unwrap_or("");
    // Echoes of what the model or a server tool produced earlier.
    if kind.ends_with("_call") || (kind.ends_with("_tool_result") && kind != "tool_result") {
        return Ok(());
    }
    for (key, child) in map {
        let here = if at.is_empty() {
            key.clone()
        } else {
            format!("{at}.{key}")
        };
        match key.as_str() {
            "mcp_servers" if !is_empty(child) => {
                return Err(refuse(
                    &here,
                    "remote MCP servers: the API would connect to them",
                ));
            }
            "web_search_options" if !child.is_null() => {
                return Err(refuse(&here, "server-side web search"));
            }
            "prompt" if child.get("id").is_some_and(Value::is_string) => {
                return Err(refuse(
                    &here,
                    "a stored prompt, which may enable hosted tools the proxy cannot see",
                ));
            }
            "tools" if child.is_array() => check_tools(child, &here)?,
            _ => {}
        }
        if is_url_key(key)
            && let Some(url) = child.as_str()
            && !url.is_empty()
            && !url.trim_start().to_ascii_lowercase().starts_with("data:")
        {
            return Err(refuse(&here, "a URL the API would fetch"));
        }
        let opaque = matches!(
            key.as_str(),
            "input_schema"
                | "parameters"
                | "schema"
                | "output_schema"
                | "json_schema"
                | "arguments"
                | "citations"
                | "annotations"
        ) || (key == "input" && kind.ends_with("tool_use"));
        if !opaque {
            walk(child, &here)?;
        }
    }
    Ok(())
}

fn check_tools(tools: &Value, at: &str) -> Result<(), Refusal> {
    for (i, tool) in tools.as_array().into_iter().flatten().enumerate() {
        let here = format!("{at}[{i}]");
        let Some(entry) = tool.as_object() else {
            return Err(refuse(&here, "a tool entry that is not an object"));
        };
        match entry.get("type") {
            None | Some(Value::Null) => {}
            Some(Value::String(kind)) if client_side(kind, entry) => {}
            Some(Value::String(kind)) => {
                return Err(refuse(
                    &format!("{here}.type"),
                    format!("'{kind}' is a tool the API runs itself, not the agent"),
                ));
            }
            Some(_) => {
                return Err(refuse(
                    &format!("{here}.type"),
                    "a type that is not a string",
                ));
            }
        }
    }
    Ok(())
}

/// Whether a tool of this type runs on the agent's side, or reaches
/// nothing outside the provider.
fn client_side(kind: &str, entry: &Map<String, Value>) -> bool {
    match kind {
        "custom"
        | "function"
        | "local_shell"
        | "apply_patch"
        | "computer_use_preview"
        | "namespace"
        | "tool_search"
        | "image_generation" => true,
        "shell" => match entry.get("environment") {
            None | Some(Value::Null) => true,
            Some(env) => env.get("type").and_then(Value::as_str) == Some("local"),
        },
        _ => {
            ["bash", "text_editor", "computer", "memory"]
                .iter()
                .any(|name| versioned(kind, name))
                || ["tool_search_tool_regex", "tool_search_tool_bm25"]
                    .iter()
                    .any(|name| kind == *name || versioned(kind, name))
        }
    }
}

/// `NAME_YYYYMMDD`.
fn versioned(kind: &str, name: &str) -> bool {
    kind.strip_prefix(name)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|date| date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()))
}

fn is_url_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.ends_with("url") || key.ends_with("uri") || key == "href" || key == "endpoint"
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// A JSON value whose objects have no duplicate keys.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Strict, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Strict::deserialize(d).map(|s| s.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key \"{key}\"")));
            }
            let Strict(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(body: &str) -> Result<(), String> {
        check_body(body.as_bytes(), Some("application/json")).map_err(|r| r.field)
    }

    #[test]
    fn bodies() {
        // Bodies that pass.
        let allowed = [
            // Client-side tools, as Claude Code and Codex send them.
            r#"{"model":"claude","messages":[{"role":"user","content":"hi"}],"tools":[{"name":"Bash","description":"run","input_schema":{"type":"object","properties":{"url":{"type":"string","default":"https://x"}},"$schema":"http://json-schema.org/draft-07/schema#"}}]}"#,
            r#"{"tools":[{"type":"custom","name":"x","input_schema":{}},{"type":"bash_20250124","name":"bash"},{"type":"text_editor_20250728","name":"str_replace_based_edit_tool"},{"type":"computer_20250124","name":"computer"},{"type":"memory_20250818","name":"memory"},{"type":"tool_search_tool_regex_20251119","name":"tool_search_tool_regex"}]}"#,
            r#"{"model":"gpt-5","input":[],"tools":[{"type":"function","name":"shell","parameters":{"type":"object"}},{"type":"local_shell"},{"type":"custom","name":"apply_patch","format":{"type":"grammar"}},{"type":"apply_patch"},{"type":"namespace","name":"mcp__x__","tools":[{"type":"function","name":"a"}]},{"type":"tool_search","execution":"sync"},{"type":"shell"},{"type":"shell","environment":{"type":"local"}}]}"#,
            r#"{"model":"gpt-4o","messages":[],"tools":[{"type":"function","function":{"name":"f","parameters":{}}}]}"#,
            // Earlier tool calls echo URLs back; they are not fetched again.
            r#"{"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"WebFetch","input":{"url":"https://example.com"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"done"}]}]}"#,
            r#"{"input":[{"type":"function_call","name":"fetch","arguments":"{\"url\":\"https://x\"}"},{"type":"web_search_call","action":{"url":"https://x"}},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"x","annotations":[{"type":"url_citation","url":"https://x"}]}]}]}"#,
            r#"{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]}"#,
            r#"{"mcp_servers":[],"web_search_options":null,"tools":[]}"#,
            "",
            "   ",
        ];
        for body in allowed {
            assert_eq!(verdict(body), Ok(()), "{body}");
        }
        // Server-side tools, each refused by its type.
        let server_tools = [
            // Anthropic.
            r#"{"tools":[{"type":"web_search_20250305","name":"web_search"}]}"#,
            r#"{"tools":[{"type":"web_search_20260209","name":"web_search"}]}"#,
            r#"{"tools":[{"type":"code_execution_20250825","name":"code_execution"}]}"#,
            r#"{"tools":[{"type":"mcp_toolset","mcp_server_name":"x"}]}"#,
            r#"{"tools":[{"type":"advisor_20260301","name":"a"}]}"#,
            r#"{"tools":[{"type":"bash_2025","name":"bash"}]}"#,
            r#"{"tools":[{"type":"bash_20250124x","name":"bash"}]}"#,
            r#"{"tools":[{"type":"WEB_SEARCH","name":"x"}]}"#,
            r#"{"tools":[{"type":1}]}"#,
            // OpenAI.
            r#"{"tools":[{"type":"web_search"}]}"#,
            r#"{"tools":[{"type":"web_search","external_web_access":false}]}"#,
            r#"{"tools":[{"type":"web_search_preview_2025_03_11"}]}"#,
            r#"{"tools":[{"type":"mcp","server_label":"x","server_url":"https://mcp.evil"}]}"#,
            r#"{"tools":[{"type":"mcp","server_label":"g","connector_id":"connector_gmail"}]}"#,
            r#"{"tools":[{"type":"code_interpreter","container":{"type":"auto"}}]}"#,
            r#"{"tools":[{"type":"file_search","vector_store_ids":["v"]}]}"#,
            r#"{"tools":[{"type":"shell","environment":{"type":"container_auto"}}]}"#,
        ];
        for body in server_tools {
            assert_eq!(verdict(body), Err("tools[0].type".into()), "{body}");
        }
        // (body, the field refused)
        let refused = [
            // Server-side tools, Anthropic.
            (
                r#"{"tools":[{"name":"ok"},{"type":"web_fetch_20250910","name":"web_fetch"}]}"#,
                "tools[1].type",
            ),
            (r#"{"tools":["web_search"]}"#, "tools[0]"),
            (
                r#"{"mcp_servers":[{"type":"url","url":"https://mcp.evil","name":"x"}]}"#,
                "mcp_servers",
            ),
            // Server-side tools, OpenAI, refused elsewhere.
            (
                r#"{"model":"gpt-4o-search-preview","web_search_options":{}}"#,
                "web_search_options",
            ),
            (r#"{"prompt":{"id":"pmpt_123","version":"2"}}"#, "prompt"),
            // Nested: a namespace's tools, a batch's requests.
            (
                r#"{"tools":[{"type":"namespace","name":"n","tools":[{"type":"web_search"}]}]}"#,
                "tools[0].tools[0].type",
            ),
            (
                r#"{"requests":[{"custom_id":"a","params":{"tools":[{"type":"web_fetch_20250910","name":"f"}]}}]}"#,
                "requests[0].params.tools[0].type",
            ),
            // URL-valued fields anywhere the API reads them.
            (
                r#"{"tools":[{"type":"function","name":"f","server_url":"https://x"}]}"#,
                "tools[0].server_url",
            ),
            (
                r#"{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://evil/?d=secret"}}]}]}"#,
                "messages[0].content[0].source.url",
            ),
            (
                r#"{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"url","url":"http://evil/"}}]}]}"#,
                "messages[0].content[0].source.url",
            ),
            (
                r#"{"input":[{"role":"user","content":[{"type":"input_image","image_url":"https://evil/x.png"}]}]}"#,
                "input[0].content[0].image_url",
            ),
            (
                r#"{"input":[{"role":"user","content":[{"type":"input_file","file_url":"https://evil/x.pdf"}]}]}"#,
                "input[0].content[0].file_url",
            ),
            (
                r#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://evil/x.png"}}]}]}"#,
                "messages[0].content[0].image_url.url",
            ),
            (
                r#"{"input":[{"type":"function_call_output","call_id":"c","output":[{"type":"input_image","image_url":"https://evil/"}]}]}"#,
                "input[0].output[0].image_url",
            ),
            (
                r#"{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{"type":"url","url":"https://evil"}}]}]}]}"#,
                "messages[0].content[0].content[0].source.url",
            ),
            (r#"{"x":{"imageUrl":"https://evil"}}"#, "x.imageUrl"),
            // Parsers that disagree must not be played against each other.
            (r#"{"tools":[],"tools":[{"type":"web_search"}]}"#, "(body)"),
            (
                r#"{"tools":[{"type":"custom","type":"web_search"}]}"#,
                "(body)",
            ),
            (r#"{"tools":[{"type":"web_search"}] "#, "(body)"),
            (r#"{"tools":[{"type":"web_search"}]}garbage"#, "(body)"),
            (r#"{"a":NaN}"#, "(body)"),
            (r#"{"t\u006fols":[{"type":"web_search"}]}"#, "tools[0].type"),
        ];
        for (body, field) in refused {
            assert_eq!(verdict(body), Err(field.into()), "{body}");
        }
    }

    #[test]
    fn content_types_and_encodings() {
        let search = br#"{"tools":[{"type":"web_search"}]}"#;
        // JSON is checked whatever the Content-Type says.
        for ct in [None, Some("text/plain"), Some("application/octet-stream")] {
            assert!(check_body(search, ct).is_err(), "{ct:?}");
        }
        let with_bom = [b"\xEF\xBB\xBF".as_slice(), search].concat();
        assert!(check_body(&with_bom, None).is_err());
        // A JSON Content-Type on a body that is not JSON.
        assert!(check_body(b"tools=web_search", Some("application/json")).is_err());
        assert!(check_body(b"hello", Some("text/plain")).is_ok());
        // UTF-16 JSON, which some parsers accept.
        let utf16: Vec<u8> = String::from_utf8_lossy(search)
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        assert!(check_body(&utf16, None).is_err());
        // JSON lines inside another body (a batch file in a multipart upload).
        let multipart = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"batch.jsonl\"\r\n\r\n{\"custom_id\":\"1\",\"body\":{\"tools\":[{\"type\":\"web_search\"}]}}\r\n--b--\r\n";
        let refused = check_body(multipart, Some("multipart/form-data; boundary=b")).unwrap_err();
        assert_eq!(refused.field, "line 4.body.tools[0].type");
        let clean = b"--b\r\n\r\n{\"custom_id\":\"1\",\"body\":{\"tools\":[]}}\r\n--b--\r\n";
        assert!(check_body(clean, Some("multipart/form-data; boundary=b")).is_ok());
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(check_body(deep.as_bytes(), None).is_err());
    }
}
