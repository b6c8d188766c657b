use super::*;

const SSE: &str = "text/event-stream; charset=utf-8";
const JSON: &str = "application/json";

const ANTHROPIC_SSE: &str = concat!(
    "event: message_start\n",
    r#"data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":100,"cache_read_input_tokens":2000,"output_tokens":1}}}"#,
    "\n\n",
    "event: content_block_start\n",
    r#"data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
    "\n\n",
    "event: ping\ndata: {\"type\": \"ping\"}\n\n",
    "event: content_block_delta\n",
    r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Héllo \"usage\":{\"output_tokens\":999} ✓"}}"#,
    "\n\n",
    "event: message_delta\n",
    r#"data: {"type":"message_delta","delta":{"stop_reason":null},"usage":{"output_tokens":10}}"#,
    "\n\n",
    "event: message_delta\n",
    r#"data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}}"#,
    "\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);

const ANTHROPIC_JSON: &str = r#"{"id":"msg_2","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":7,"cache_creation_input_tokens":0,"cache_read_input_tokens":11,"output_tokens":3}}"#;

const CHAT_JSON: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,"prompt_tokens_details":{"cached_tokens":64,"audio_tokens":0}}}"#;

const CHAT_SSE: &str = concat!(
    r#"data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":""}}],"usage":null}"#,
    "\r\n\r\n",
    r#"data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hi"}}],"usage":null}"#,
    "\r\n\r\n",
    r#"data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}"#,
    "\r\n\r\n",
    "data: [DONE]\r\n\r\n",
);

const RESPONSES_JSON: &str = r#"{"id":"resp_1","object":"response","status":"completed","model":"gpt-5-2025-08-07","output":[{"type":"message","content":[{"type":"output_text","text":"hi"}]}],"usage":{"input_tokens":50,"input_tokens_details":{"cached_tokens":10},"output_tokens":5,"output_tokens_details":{"reasoning_tokens":2},"total_tokens":55}}"#;

const RESPONSES_SSE: &str = concat!(
    "event: response.created\n",
    r#"data: {"type":"response.created","sequence_number":0,"response":{"id":"r","model":"gpt-5","output":[],"usage":null}}"#,
    "\n\n",
    "event: response.output_text.delta\n",
    r#"data: {"type":"response.output_text.delta","sequence_number":1,"delta":"Hi"}"#,
    "\n\n",
    "event: response.completed\n",
    r#"data: {"type":"response.completed","sequence_number":2,"response":{"id":"r","model":"gpt-5","output":[{"type":"message","content":[{"type":"output_text","text":"Hi"}]}],"usage":{"input_tokens":30,"input_tokens_details":{"cached_tokens":0},"output_tokens":4,"total_tokens":34}}}"#,
    "\n\n",
);

fn usage(model: &str, input: u64, output: u64, cache_read: u64, cache_write: u64) -> Usage {
    Usage {
        model: model.into(),
        input,
        output,
        cache_read,
        cache_write,
    }
}

/// Meters `body` fed in the pieces `cuts` marks.
fn meter(path: &str, content_type: Option<&str>, body: &[u8], cuts: &[usize]) -> Option<Usage> {
    let mut m = Meter::new(path, content_type).expect("a metered path");
    let mut from = 0;
    for &at in cuts.iter().chain([&body.len()]) {
        m.feed(&body[from..at]);
        from = at;
    }
    m.finish()
}

/// Every way of feeding `body` gives `want`: whole, in two pieces split
/// at each byte, a byte at a time.
fn all_splits(path: &str, content_type: Option<&str>, body: &[u8], want: &Option<Usage>) {
    assert_eq!(&meter(path, content_type, body, &[]), want, "whole");
    for at in 0..=body.len() {
        assert_eq!(
            &meter(path, content_type, body, &[at]),
            want,
            "split at {at}"
        );
    }
    let bytes: Vec<usize> = (1..body.len()).collect();
    assert_eq!(&meter(path, content_type, body, &bytes), want, "bytewise");
}

#[test]
fn each_api_streamed_or_not_split_anywhere() {
    let cases: &[(&str, Option<&str>, &str, Option<Usage>)] = &[
        (
            "/v1/messages",
            Some(SSE),
            ANTHROPIC_SSE,
            Some(usage("claude-sonnet-4-5", 25, 15, 2000, 100)),
        ),
        (
            "/anthropic/v1/messages?beta=true",
            Some(JSON),
            ANTHROPIC_JSON,
            Some(usage("claude-haiku-4-5", 7, 3, 11, 0)),
        ),
        (
            "/v1/chat/completions",
            Some(JSON),
            CHAT_JSON,
            Some(usage("gpt-4o-2024-08-06", 36, 20, 64, 0)),
        ),
        (
            "/v1/chat/completions",
            Some(SSE),
            CHAT_SSE,
            Some(usage("gpt-4o-mini", 9, 2, 0, 0)),
        ),
        (
            "/v1/responses",
            Some("application/json; charset=utf-8"),
            RESPONSES_JSON,
            Some(usage("gpt-5-2025-08-07", 40, 5, 10, 0)),
        ),
        (
            "/openai/v1/responses/",
            Some(SSE),
            RESPONSES_SSE,
            Some(usage("gpt-5", 30, 4, 0, 0)),
        ),
        // No content type: the body tells.
        (
            "/v1/messages",
            None,
            ANTHROPIC_SSE,
            Some(usage("claude-sonnet-4-5", 25, 15, 2000, 100)),
        ),
        (
            "/v1/messages",
            None,
            ANTHROPIC_JSON,
            Some(usage("claude-haiku-4-5", 7, 3, 11, 0)),
        ),
    ];
    for (path, content_type, body, want) in cases {
        all_splits(path, *content_type, body.as_bytes(), want);
    }
}

#[test]
fn garbage_and_other_line_endings_are_read_over() {
    let noisy = format!(
        ": a comment\nretry: 1000\nid: 7\ngarbage without a colon\n\n\
         data: not json at all\n\n{}\
         event: x\ndata: {{\"type\":\"message_delta\",\"usage\":{{\"output_tokens\":\n\n\
         averyveryverylongfieldname: {{}}\n\n",
        ANTHROPIC_SSE
    );
    let want = Some(usage("claude-sonnet-4-5", 25, 15, 2000, 100));
    all_splits("/v1/messages", Some(SSE), noisy.as_bytes(), &want);
    let cr = ANTHROPIC_SSE.replace('\n', "\r");
    all_splits("/v1/messages", Some(SSE), cr.as_bytes(), &want);
    let crlf = ANTHROPIC_SSE.replace('\n', "\r\n");
    all_splits("/v1/messages", Some(SSE), crlf.as_bytes(), &want);
    // An event's data in several lines is one document.
    let lines = concat!(
        "event: message_start\n",
        "data: {\"type\":\"message_start\",\n",
        "data: \"message\":{\"model\":\"m\",\"usage\":{\"input_tokens\":4}}}\n",
        "\n",
    );
    all_splits(
        "/v1/messages",
        Some(SSE),
        lines.as_bytes(),
        &Some(usage("m", 4, 0, 0, 0)),
    );
    // No space after the colon.
    let tight = "data:{\"model\":\"g\",\"usage\":{\"prompt_tokens\":3}}\n\n";
    assert_eq!(
        meter("/v1/chat/completions", Some(SSE), tight.as_bytes(), &[]),
        Some(usage("g", 3, 0, 0, 0))
    );
}

#[test]
fn missing_fields_and_what_is_not_usage() {
    let cases: &[(&str, Option<&str>, &str, Option<Usage>)] = &[
        // No usage: nothing.
        (
            "/v1/messages",
            Some(JSON),
            r#"{"model":"claude","content":[]}"#,
            None,
        ),
        (
            "/v1/chat/completions",
            Some(SSE),
            "data: {\"model\":\"gpt\",\"usage\":null}\n\ndata: [DONE]\n\n",
            None,
        ),
        // No model: counted as unknown.
        (
            "/v1/responses",
            Some(JSON),
            r#"{"usage":{"input_tokens":3,"output_tokens":1}}"#,
            Some(usage(UNKNOWN_MODEL, 3, 1, 0, 0)),
        ),
        // A count that is not one is not counted.
        (
            "/v1/messages",
            Some(JSON),
            r#"{"model":"c","usage":{"input_tokens":"7","output_tokens":-2}}"#,
            None,
        ),
        // Not JSON, or JSON with a tail: nothing.
        (
            "/v1/messages",
            Some(JSON),
            "<html>502 Bad Gateway</html>",
            None,
        ),
        ("/v1/messages", Some(JSON), &const_format_tail(), None),
        ("/v1/messages", Some(SSE), ANTHROPIC_JSON, None),
        ("/v1/messages", Some(SSE), "", None),
        ("/v1/messages", None, "   ", None),
        // Responses events other than the response's own are not usage.
        (
            "/v1/responses",
            Some(SSE),
            "event: response.output_item.done\ndata: {\"type\":\"x\",\"item\":{\"usage\":{\"input_tokens\":9}}}\n\n",
            None,
        ),
    ];
    for (path, content_type, body, want) in cases {
        all_splits(path, *content_type, body.as_bytes(), want);
    }
    assert!(Meter::new("/v1/models", Some(JSON)).is_none());
    assert!(Meter::new("/v1/messages/count_tokens", Some(JSON)).is_none());
    assert!(Meter::new("/v1/responses/resp_1", Some(JSON)).is_none());
    assert!(Meter::new("/v1/messages", Some("text/html")).is_none());
}

fn const_format_tail() -> String {
    format!("{ANTHROPIC_JSON}{{}}")
}

#[test]
fn a_stream_cut_short_counts_what_it_reported() {
    let cut = ANTHROPIC_SSE.find("event: content_block_delta").unwrap();
    assert_eq!(
        meter(
            "/v1/messages",
            Some(SSE),
            &ANTHROPIC_SSE.as_bytes()[..cut],
            &[]
        ),
        Some(usage("claude-sonnet-4-5", 25, 1, 2000, 100))
    );
    // Cut inside the last event, with no blank line after it.
    let last = "data: {\"model\":\"g\",\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":5}}";
    assert_eq!(
        meter("/v1/chat/completions", Some(SSE), last.as_bytes(), &[]),
        Some(usage("g", 3, 5, 0, 0))
    );
    // A JSON answer cut before its usage: nothing.
    let half = &ANTHROPIC_JSON[..ANTHROPIC_JSON.find("\"usage\"").unwrap()];
    assert_eq!(
        meter("/v1/messages", Some(JSON), half.as_bytes(), &[]),
        None
    );
}

#[test]
fn huge_lines_and_events_cost_no_memory_and_still_count() {
    let text = "ab\\\"c".repeat(400_000);
    let mut body = String::from(": ");
    body.push_str(&"x".repeat(1 << 20));
    body.push_str("\n\n");
    body.push_str(&format!(
        "event: response.completed\ndata: {{\"type\":\"response.completed\",\"response\":{{\"model\":\"gpt-5\",\"output\":[{{\"text\":\"{text}\"}}],\"usage\":{{\"input_tokens\":8,\"output_tokens\":900000}}}}}}\n\n"
    ));
    let mut m = Meter::new("/v1/responses", Some(SSE)).unwrap();
    for piece in body.as_bytes().chunks(16 * 1024) {
        m.feed(piece);
    }
    assert_eq!(m.finish(), Some(usage("gpt-5", 8, 900_000, 0, 0)));

    let json = format!(
        "{{\"model\":\"claude\",\"content\":[{{\"text\":\"{}\"}}],\"usage\":{{\"input_tokens\":1,\"output_tokens\":2}}}}",
        "y".repeat(8 << 20)
    );
    let mut m = Meter::new("/v1/messages", Some(JSON)).unwrap();
    for piece in json.as_bytes().chunks(64 * 1024) {
        m.feed(piece);
    }
    assert_eq!(m.finish(), Some(usage("claude", 1, 2, 0, 0)));
}

#[test]
fn model_names_are_kept_safe() {
    let long = format!("{}é", "m".repeat(MODEL_NAME_LIMIT - 1));
    assert_eq!(model_name(&long), "m".repeat(MODEL_NAME_LIMIT - 1));
    assert_eq!(model_name("a\u{1b}[2Jb\n"), "a?[2Jb");
    assert_eq!(model_name("  "), UNKNOWN_MODEL);
    let body = format!(
        "{{\"model\":\"{}\",\"usage\":{{\"input_tokens\":1}}}}",
        "z".repeat(1000)
    );
    let got = meter("/v1/messages", Some(JSON), body.as_bytes(), &[]).unwrap();
    assert_eq!(got.model.len(), MODEL_NAME_LIMIT);
}

#[test]
fn a_spent_budget_is_refused_in_each_apis_shape_saying_which() {
    let five = price::Usd::from_dollars(5.0).unwrap();
    let spent = [
        (
            Spent::Tokens {
                used: 8726,
                budget: 5000,
            },
            "token budget is spent (8726 of 5000 tokens)",
        ),
        (
            Spent::Dollars {
                spent: 8.726,
                budget: five,
            },
            "spend budget is spent ($8.73 of $5.00, estimated at the operator's prices)",
        ),
    ];
    // (method, path, the error's type; None: not refused this way)
    let cases = [
        ("POST", "/v1/messages", Some("permission_error")),
        (
            "POST",
            "/proxy/v1/messages?beta=true",
            Some("permission_error"),
        ),
        ("POST", "/v1/chat/completions", Some("insufficient_quota")),
        ("POST", "/v1/responses/", Some("insufficient_quota")),
        ("GET", "/v1/messages", None),
        ("POST", "/v1/models", None),
    ];
    for (spent, says) in &spent {
        for (method, path, kind) in cases {
            let body = budget_refusal(method, path, spent);
            let Some(kind) = kind else {
                assert_eq!(body, None, "{method} {path}");
                continue;
            };
            let body: serde_json::Value = serde_json::from_str(&body.unwrap()).unwrap();
            assert_eq!(body["error"]["type"], kind, "{path}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains(says), "{message}");
        }
    }
}

#[test]
fn a_tally_costs_what_its_models_cost_and_unpriced_ones_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let tally = Tally::open(dir.path());
    let answer = |model: &str| Usage {
        model: model.into(),
        input: 1_000_000,
        output: 100_000,
        cache_read: 0,
        cache_write: 0,
    };
    tally.record(&answer("claude-sonnet-4-5"));
    tally.record(&answer("llama"));
    let prices = price::Prices {
        by_prefix: [(
            "claude-sonnet-4".to_owned(),
            price::Price {
                input: 3.0,
                output: 15.0,
                cache_read: 0.3,
                cache_write: 3.75,
            },
        )]
        .into(),
    };
    assert!((tally.cost(&prices) - 4.5).abs() < 1e-9);
    assert_eq!(tally.cost(&price::Prices::default()), 0.0);
}
