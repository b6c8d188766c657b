//! The tmux control-mode protocol, parsed: bytes in, events out.
