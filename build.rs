//! Turns the test opt-outs into cfgs, so the tests they skip are reported
//! as ignored rather than passed: `BOT_BOTTLE_SKIP_DOCKER=1` sets
//! `skip_docker`, `BOT_BOTTLE_SKIP_GVISOR=1` `skip_gvisor`,
//! `BOT_BOTTLE_SKIP_TMUX=1` `skip_tmux`. A test that needs one carries
//! `#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]`.

/// Each opt-out and the cfg it sets.
const OPT_OUTS: [(&str, &str); 3] = [
    ("BOT_BOTTLE_SKIP_DOCKER", "skip_docker"),
    ("BOT_BOTTLE_SKIP_GVISOR", "skip_gvisor"),
    ("BOT_BOTTLE_SKIP_TMUX", "skip_tmux"),
];

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    for (var, cfg) in OPT_OUTS {
        println!("cargo::rerun-if-env-changed={var}");
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if std::env::var(var).is_ok_and(|v| v == "1") {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
